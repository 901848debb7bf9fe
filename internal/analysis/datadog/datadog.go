// Package datadog measures analysis metrics with Datadog's official Go
// client, as Argo Rollouts' Datadog provider does:
//
//   - apiVersion v1: GET /api/v1/query (MetricsApi.QueryMetrics) over
//     [now - provider interval, now] in seconds. `result` is the last
//     complete point of the first series, a float64.
//   - apiVersion v2: POST /api/v2/query/scalar (MetricsApi.QueryScalarData)
//     with the named queries, the formula and the aggregator (default
//     "last") over the same window in milliseconds. `result` is the first
//     number column: a float64 when the query is not grouped, a []float64
//     (one value per group) when it is grouped with `by {tag}`.
//
// No series, no points, or only null values is "no data" (Inconclusive).
//
// Incomplete last bucket (v1): Datadog returns the bucket that is still
// filling at the end of the window, and judging it would judge a partial
// rollup. The last point is dropped when its bucket has not closed by the
// end of the window, that is when timestamp + rollup > to, where rollup is
// the series' interval (Datadog documents milliseconds but answers
// seconds; a value that would be longer than the window as seconds is read
// as milliseconds), else the smallest spacing between points. v2 scalar
// queries are aggregated by Datadog over the whole window and are not
// adjusted.
//
// The client's own retries are off: one measurement is one HTTP call, so
// the engine's consecutiveErrorLimit counts what actually happened. HTTP
// 429 is a throttled ProviderError with RetryAfter from Retry-After or
// X-RateLimit-Reset; other non-2xx answers are ProviderErrors too. Keys
// come from a KeySource (Secrets Manager in production) and are never
// logged or recorded.
package datadog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	dd "github.com/DataDog/datadog-api-client-go/v2/api/datadog"
	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV1"
	"github.com/DataDog/datadog-api-client-go/v2/api/datadogV2"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/cell"
)

// MetricsV1API is the Datadog v1 call the provider makes;
// *datadogV1.MetricsApi satisfies it.
type MetricsV1API interface {
	QueryMetrics(ctx context.Context, from int64, to int64, query string) (datadogV1.MetricsQueryResponse, *http.Response, error)
}

// MetricsV2API is the Datadog v2 call the provider makes;
// *datadogV2.MetricsApi satisfies it.
type MetricsV2API interface {
	QueryScalarData(ctx context.Context, body datadogV2.ScalarFormulaQueryRequest) (datadogV2.ScalarFormulaQueryResponse, *http.Response, error)
}

// Defaults.
const (
	// DefaultSite is Datadog's US1 site.
	DefaultSite = "datadoghq.com"
	// DefaultTimeout bounds one API call when the metric sets no
	// requestTimeout (Argo Rollouts' default).
	DefaultTimeout = 10 * time.Second
	// maxErrorBody bounds how much of an error response is kept.
	maxErrorBody = 512
)

// Options configure the provider.
type Options struct {
	// Site is the Datadog site, e.g. datadoghq.eu or us5.datadoghq.com
	// (default datadoghq.com); the API is at https://api.<site>.
	Site string
	// URL, when set, replaces the site with a base URL such as
	// http://127.0.0.1:8080 (tests, proxies).
	URL string
	// Keys provides the API and application keys (required).
	Keys KeySource
	// HTTPClient is used for every call; nil means a new http.Client.
	HTTPClient *http.Client
	// Timeout bounds one API call when the metric sets no requestTimeout
	// (default DefaultTimeout).
	Timeout time.Duration
}

// Provider measures metrics with Datadog.
type Provider struct {
	v1      MetricsV1API
	v2      MetricsV2API
	keys    KeySource
	timeout time.Duration
}

var _ analysis.Provider = (*Provider)(nil)

// New builds the official client once (call it at cold start) with its
// retries disabled and its server set to the site or URL.
func New(o Options) (*Provider, error) {
	if o.Keys == nil {
		return nil, errors.New("datadog provider: no key source")
	}
	base, err := baseURL(o.Site, o.URL)
	if err != nil {
		return nil, err
	}
	cfg := dd.NewConfiguration()
	cfg.Servers = dd.ServerConfigurations{{URL: base, Description: "okra"}}
	// One measurement is one call: the analysis engine counts errors and
	// backs off itself (consecutiveErrorLimit), so the client must not.
	cfg.RetryConfiguration.EnableRetry = false
	cfg.UserAgent = "okra " + cfg.UserAgent
	cfg.HTTPClient = o.HTTPClient
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	client := dd.NewAPIClient(cfg)
	return NewFromAPIs(datadogV1.NewMetricsApi(client), datadogV2.NewMetricsApi(client), o.Keys, o.Timeout), nil
}

// NewFromAPIs builds a provider over already-built APIs (fakes in tests).
func NewFromAPIs(v1 MetricsV1API, v2 MetricsV2API, keys KeySource, timeout time.Duration) *Provider {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Provider{v1: v1, v2: v2, keys: keys, timeout: timeout}
}

func baseURL(site, override string) (string, error) {
	if override != "" {
		u, err := url.Parse(override)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("datadog URL %q must be an absolute http(s) URL", override)
		}
		return strings.TrimSuffix(override, "/"), nil
	}
	if site == "" {
		site = DefaultSite
	}
	if strings.ContainsAny(site, "/:@ ") {
		return "", fmt.Errorf("datadog site %q must be a host name such as datadoghq.eu", site)
	}
	return "https://api." + site, nil
}

// Measure queries Datadog for the metric over window.
func (p *Provider) Measure(ctx context.Context, metric cell.Metric, window analysis.Window) (analysis.Value, error) {
	spec := metric.Provider.Datadog
	if spec == nil {
		return analysis.Value{}, fmt.Errorf("metric %q has no datadog provider", metric.Name)
	}
	keys, err := p.keys.Keys(ctx)
	if err != nil {
		return analysis.Value{}, fmt.Errorf("loading Datadog keys, %w", err)
	}
	ctx = context.WithValue(ctx, dd.ContextAPIKeys, map[string]dd.APIKey{
		"apiKeyAuth": {Key: keys.APIKey},
		"appKeyAuth": {Key: keys.AppKey},
	})
	timeout := p.timeout
	if spec.RequestTimeout != nil && spec.RequestTimeout.Duration > 0 {
		timeout = spec.RequestTimeout.Duration
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var v analysis.Value
	switch version := analysis.DatadogAPIVersion(spec); version {
	case "v1":
		v, err = p.measureV1(ctx, spec, window)
	case "v2":
		v, err = p.measureV2(ctx, spec, window)
	default:
		return analysis.Value{}, fmt.Errorf("datadog apiVersion %q is not supported", version)
	}
	var pe *analysis.ProviderError
	if errors.As(err, &pe) && (pe.StatusCode == http.StatusUnauthorized || pe.StatusCode == http.StatusForbidden) {
		// The keys may have been rotated: read them again next time.
		if inv, ok := p.keys.(interface{ Invalidate() }); ok {
			inv.Invalidate()
		}
	}
	return v, err
}

// v1Raw is what the history keeps of a v1 answer.
type v1Raw struct {
	Series     int          `json:"series"`
	Scope      string       `json:"scope,omitempty"`
	Expression string       `json:"expression,omitempty"`
	RollupMs   int64        `json:"rollupMs,omitempty"`
	Points     [][2]float64 `json:"points"`
	// Dropped is the timestamp (ms) of an incomplete last bucket that was
	// not judged.
	Dropped *int64 `json:"dropped,omitempty"`
}

type point struct {
	ts    int64 // milliseconds
	value float64
}

func (p *Provider) measureV1(ctx context.Context, spec *cell.DatadogMetric, window analysis.Window) (analysis.Value, error) {
	const op = "QueryMetrics"
	from, to := window.Start.Unix(), window.End.Unix()
	resp, httpResp, err := p.v1.QueryMetrics(ctx, from, to, spec.Query)
	if err != nil {
		return analysis.Value{}, providerError(op, httpResp, err, window.End)
	}
	if msg := queryError(resp.Status, resp.Error); msg != "" {
		return analysis.Value{}, &analysis.ProviderError{Provider: analysis.KindDatadog, Op: op, Err: errors.New(msg)}
	}
	raw := v1Raw{Series: len(resp.Series), Points: [][2]float64{}}
	if len(resp.Series) == 0 {
		return analysis.Value{NoData: true, Raw: raw, Message: "Datadog returned no series"}, nil
	}
	series := resp.Series[0]
	raw.Scope, raw.Expression = deref(series.Scope), deref(series.Expression)
	var points []point
	for _, pt := range series.Pointlist {
		if len(pt) < 2 || pt[0] == nil || pt[1] == nil || math.IsNaN(*pt[1]) {
			continue
		}
		points = append(points, point{ts: int64(*pt[0]), value: *pt[1]})
		raw.Points = append(raw.Points, [2]float64{*pt[0], *pt[1]})
	}
	var notes []string
	if len(resp.Series) > 1 {
		notes = append(notes, fmt.Sprintf("%d series returned; judging the first (%s), as Argo Rollouts does", len(resp.Series), raw.Scope))
	}
	raw.RollupMs = rollupMs(series.Interval, points, window)
	if n := len(points); n > 0 && raw.RollupMs > 0 && points[n-1].ts+raw.RollupMs > window.End.UnixMilli() {
		dropped := points[n-1].ts
		raw.Dropped = &dropped
		points = points[:n-1]
		notes = append(notes, fmt.Sprintf("dropped the incomplete bucket at %s", time.UnixMilli(dropped).UTC().Format(time.RFC3339)))
	}
	if len(points) == 0 {
		notes = append([]string{"no complete datapoints in the window"}, notes...)
		return analysis.Value{NoData: true, Raw: raw, Message: strings.Join(notes, "; ")}, nil
	}
	return analysis.Value{Result: points[len(points)-1].value, Raw: raw, Message: strings.Join(notes, "; ")}, nil
}

// rollupMs is the length of one bucket in milliseconds: the series'
// interval, else the smallest spacing between points, else 0 (unknown: no
// bucket is dropped).
func rollupMs(interval *int64, points []point, window analysis.Window) int64 {
	if interval != nil && *interval > 0 {
		iv := *interval
		// Seconds, unless that would be longer than the whole window.
		if time.Duration(iv)*time.Second <= window.End.Sub(window.Start) {
			return iv * 1000
		}
		return iv
	}
	var spacing int64
	for i := 1; i < len(points); i++ {
		if d := points[i].ts - points[i-1].ts; d > 0 && (spacing == 0 || d < spacing) {
			spacing = d
		}
	}
	return spacing
}

// v2Raw is what the history keeps of a v2 answer.
type v2Raw struct {
	Column string       `json:"column,omitempty"`
	Values []float64    `json:"values"`
	Groups []groupValue `json:"groups,omitempty"`
}

type groupValue struct {
	Group string  `json:"group"`
	Value float64 `json:"value"`
}

func (p *Provider) measureV2(ctx context.Context, spec *cell.DatadogMetric, window analysis.Window) (analysis.Value, error) {
	const op = "QueryScalarData"
	body, err := ScalarRequest(spec, window)
	if err != nil {
		return analysis.Value{}, err
	}
	resp, httpResp, err := p.v2.QueryScalarData(ctx, body)
	if err != nil {
		return analysis.Value{}, providerError(op, httpResp, err, window.End)
	}
	if resp.Errors != nil && *resp.Errors != "" {
		return analysis.Value{}, &analysis.ProviderError{Provider: analysis.KindDatadog, Op: op, Err: fmt.Errorf("query error: %s", *resp.Errors)}
	}
	var columns []datadogV2.ScalarColumn
	if resp.Data != nil && resp.Data.Attributes != nil {
		columns = resp.Data.Attributes.Columns
	}
	col, err := readColumns(columns)
	if err != nil {
		return analysis.Value{}, &analysis.ProviderError{Provider: analysis.KindDatadog, Op: op, Err: err}
	}
	raw := v2Raw{Column: col.name, Values: col.values, Groups: col.groups}
	if raw.Values == nil {
		raw.Values = []float64{}
	}
	if len(col.values) == 0 {
		return analysis.Value{NoData: true, Raw: raw, Message: "Datadog returned no values"}, nil
	}
	if !col.grouped {
		return analysis.Value{Result: col.values[0], Raw: raw}, nil
	}
	return analysis.Value{Result: col.values, Raw: raw}, nil
}

// ScalarRequest builds the v2 scalar request for a metric: its named
// queries (a lone query is named "query"), sorted by name, each with the
// aggregator; the formula when there is one.
func ScalarRequest(spec *cell.DatadogMetric, window analysis.Window) (datadogV2.ScalarFormulaQueryRequest, error) {
	aggregator := spec.Aggregator
	if aggregator == "" {
		aggregator = analysis.DefaultDatadogAggregator
	}
	agg, err := datadogV2.NewMetricsAggregatorFromValue(aggregator)
	if err != nil {
		return datadogV2.ScalarFormulaQueryRequest{}, fmt.Errorf("datadog aggregator, %w", err)
	}
	named := analysis.DatadogQueries(spec)
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	queries := make([]datadogV2.ScalarQuery, 0, len(names))
	for _, n := range names {
		queries = append(queries, datadogV2.ScalarQuery{MetricsScalarQuery: &datadogV2.MetricsScalarQuery{
			Aggregator: *agg,
			DataSource: datadogV2.METRICSDATASOURCE_METRICS,
			Name:       dd.PtrString(n),
			Query:      named[n],
		}})
	}
	attrs := datadogV2.ScalarFormulaRequestAttributes{
		From:    window.Start.UnixMilli(),
		To:      window.End.UnixMilli(),
		Queries: queries,
	}
	if spec.Formula != "" {
		attrs.Formulas = []datadogV2.QueryFormula{{Formula: spec.Formula}}
	}
	return datadogV2.ScalarFormulaQueryRequest{Data: datadogV2.ScalarFormulaRequest{
		Attributes: attrs,
		Type:       datadogV2.SCALARFORMULAREQUESTTYPE_SCALAR_REQUEST,
	}}, nil
}

type column struct {
	name    string
	values  []float64
	groups  []groupValue
	grouped bool
}

// genericColumn reads a column the client could not classify (for example
// one without a type, or with no values).
type genericColumn struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"`
	Values []json.RawMessage `json:"values"`
}

// readColumns picks the first number column (as Argo Rollouts does) and
// labels its values with the group columns, skipping null values.
func readColumns(columns []datadogV2.ScalarColumn) (column, error) {
	var nums []*float64
	var name string
	found := false
	var groups [][][]string
	for i, c := range columns {
		switch {
		case c.DataScalarColumn != nil:
			if !found {
				found, name, nums = true, deref(c.DataScalarColumn.Name), c.DataScalarColumn.Values
			}
		case c.GroupScalarColumn != nil:
			groups = append(groups, c.GroupScalarColumn.Values)
		case c.UnparsedObject != nil:
			b, err := json.Marshal(c.UnparsedObject)
			if err != nil {
				return column{}, fmt.Errorf("reading column %d, %w", i, err)
			}
			var g genericColumn
			if err := json.Unmarshal(b, &g); err != nil {
				return column{}, fmt.Errorf("reading column %d, %w", i, err)
			}
			switch g.Type {
			case "", "number":
				if found {
					continue
				}
				found, name = true, g.Name
				for _, r := range g.Values {
					if strings.TrimSpace(string(r)) == "null" {
						nums = append(nums, nil)
						continue
					}
					var f float64
					if err := json.Unmarshal(r, &f); err != nil {
						return column{}, fmt.Errorf("column %q holds a non-numeric value %s", g.Name, r)
					}
					nums = append(nums, &f)
				}
			case "group":
				var vals [][]string
				for _, r := range g.Values {
					var tags []string
					if err := json.Unmarshal(r, &tags); err != nil {
						return column{}, fmt.Errorf("group column %q holds %s, want a list of tags", g.Name, r)
					}
					vals = append(vals, tags)
				}
				groups = append(groups, vals)
			}
		}
	}
	out := column{name: name, grouped: len(groups) > 0}
	for i, v := range nums {
		if v == nil || math.IsNaN(*v) {
			continue
		}
		out.values = append(out.values, *v)
		if out.grouped {
			var label []string
			for _, g := range groups {
				if i >= len(g) || len(g[i]) == 0 {
					return column{}, fmt.Errorf("group label missing for value %d", i)
				}
				label = append(label, g[i]...)
			}
			out.groups = append(out.groups, groupValue{Group: strings.Join(label, ","), Value: *v})
		}
	}
	return out, nil
}

// providerError classifies a failed call: throttling (429, with how long to
// wait), other HTTP errors, and transport errors.
func providerError(op string, resp *http.Response, err error, now time.Time) error {
	pe := &analysis.ProviderError{Provider: analysis.KindDatadog, Op: op, Err: err}
	if resp == nil {
		return pe
	}
	pe.StatusCode = resp.StatusCode
	var apiErr dd.GenericOpenAPIError
	if errors.As(err, &apiErr) {
		body := strings.TrimSpace(string(apiErr.Body()))
		if len(body) > maxErrorBody {
			body = body[:maxErrorBody] + "..."
		}
		if body != "" {
			pe.Err = fmt.Errorf("%s: %s", apiErr.Error(), body)
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		pe.Throttled = true
		pe.RetryAfter = retryAfter(resp.Header, now)
	}
	return pe
}

// retryAfter reads Retry-After (seconds or an HTTP date) or Datadog's
// X-RateLimit-Reset (seconds until the limit resets).
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			ref := now
			if d, err := http.ParseTime(h.Get("Date")); err == nil {
				ref = d
			}
			if t.After(ref) {
				return t.Sub(ref)
			}
			return 0
		}
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
	}
	return 0
}

func queryError(status, msg *string) string {
	if m := deref(msg); m != "" {
		return "query error: " + m
	}
	if deref(status) == "error" {
		return "query error (status \"error\")"
	}
	return ""
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
