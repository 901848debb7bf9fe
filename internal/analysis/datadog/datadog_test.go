package datadog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/analysis/datadog"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	apiKey = "0123456789abcdef0123456789abcdef"
	appKey = "0123456789abcdef0123456789abcdef01234567"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// reply is one scripted HTTP answer; the last one repeats.
type reply struct {
	status  int
	body    string
	headers map[string]string
}

type request struct {
	method string
	path   string
	query  map[string]string
	body   []byte
}

// server is a Datadog API stand-in that checks the keys and records every
// request.
type server struct {
	t       *testing.T
	apiKey  string
	appKey  string
	mu      sync.Mutex
	replies []reply
	reqs    []request
}

func newServer(t *testing.T, replies ...reply) (*server, *httptest.Server) {
	s := &server{t: t, apiKey: apiKey, appKey: appKey, replies: replies}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	q := map[string]string{}
	for k, v := range r.URL.Query() {
		q[k] = v[0]
	}
	s.reqs = append(s.reqs, request{method: r.Method, path: r.URL.Path, query: q, body: body})
	if r.Header.Get("DD-API-KEY") != s.apiKey || r.Header.Get("DD-APPLICATION-KEY") != s.appKey {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"errors":["Forbidden"]}`)
		return
	}
	rep := s.replies[0]
	if len(s.replies) > 1 {
		s.replies = s.replies[1:]
	}
	w.Header().Set("Content-Type", "application/json")
	for k, v := range rep.headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	fmt.Fprint(w, rep.body)
}

func (s *server) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

func ms(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

func v1Body(interval int, points ...[2]float64) string {
	b, _ := json.Marshal(map[string]any{
		"status": "ok", "res_type": "time_series", "query": "q",
		"series": []map[string]any{{"scope": "service:web", "interval": interval, "pointlist": points, "expression": "q"}},
	})
	return string(b)
}

func ok(body string) reply { return reply{status: 200, body: body} }

// template builds a one-metric template for the Datadog provider with the
// service as an argument.
func template(dd cell.DatadogMetric, success, failure string, opts ...func(*cell.Metric)) cell.AnalysisTemplate {
	m := cell.Metric{Name: "errors", SuccessCondition: success, FailureCondition: failure, Provider: cell.MetricProvider{Datadog: &dd}}
	for _, o := range opts {
		o(&m)
	}
	return cell.AnalysisTemplate{
		Metadata: cell.Metadata{Name: "datadog"},
		Spec: cell.AnalysisTemplateSpec{
			Args:    []cell.TemplateArg{{Name: "service"}, {Name: cell.ArgCanaryVersion}},
			Metrics: []cell.Metric{m},
		},
	}
}

var args = map[string]string{"service": "web", cell.ArgCanaryVersion: "v2"}

// drive runs the analysis with the provider until it completes, checking
// that every request covered the measurement's window.
func drive(t *testing.T, tmpl cell.AnalysisTemplate, p analysis.Provider, srv *server, maxSteps int) (*analysis.Run, []analysis.Record) {
	t.Helper()
	run, err := analysis.Start([]cell.AnalysisTemplate{tmpl}, args, t0)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	var records []analysis.Record
	now := t0
	for i := 0; i < maxSteps && !run.Phase.Completed(); i++ {
		res, err := analysis.Step(context.Background(), run, analysis.Providers{analysis.KindDatadog: p}, now)
		if err != nil {
			t.Fatalf("Step: %v", err)
		}
		records = append(records, res.Measurements...)
		reqs := srv.requests()
		if len(reqs) != len(records) {
			t.Fatalf("%d requests for %d measurements: the client must not retry", len(reqs), len(records))
		}
		for _, r := range res.Measurements {
			checkWindow(t, reqs[len(reqs)-1], r.Window)
		}
		if res.NextAt != nil {
			now = *res.NextAt
		}
	}
	if !run.Phase.Completed() {
		t.Fatalf("run still %s after %d steps", run.Phase, maxSteps)
	}
	return run, records
}

func checkWindow(t *testing.T, r request, w analysis.Window) {
	t.Helper()
	switch r.path {
	case "/api/v1/query":
		if r.method != http.MethodGet || r.query["from"] != strconv.FormatInt(w.Start.Unix(), 10) || r.query["to"] != strconv.FormatInt(w.End.Unix(), 10) {
			t.Errorf("v1 %s from=%s to=%s, want GET from=%d to=%d", r.method, r.query["from"], r.query["to"], w.Start.Unix(), w.End.Unix())
		}
	case "/api/v2/query/scalar":
		var body struct {
			Data struct {
				Attributes struct {
					From int64 `json:"from"`
					To   int64 `json:"to"`
				} `json:"attributes"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("v2 body %s: %v", r.body, err)
		}
		if r.method != http.MethodPost || body.Data.Attributes.From != w.Start.UnixMilli() || body.Data.Attributes.To != w.End.UnixMilli() {
			t.Errorf("v2 %s from=%d to=%d, want POST from=%d to=%d", r.method, body.Data.Attributes.From, body.Data.Attributes.To, w.Start.UnixMilli(), w.End.UnixMilli())
		}
	default:
		t.Errorf("unexpected request to %s", r.path)
	}
}

func newProvider(t *testing.T, url string, keys datadog.KeySource) *datadog.Provider {
	t.Helper()
	p, err := datadog.New(datadog.Options{URL: url, Keys: keys})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

var staticKeys = datadog.StaticKeys{APIKey: apiKey, AppKey: appKey}

func TestDatadog(t *testing.T) {
	v1 := cell.DatadogMetric{Query: "sum:trace.http.request.errors{service:{{args.service}},version:{{args.canary-version}}}.as_rate()"}
	v2 := cell.DatadogMetric{
		APIVersion: "v2",
		Queries: map[string]string{
			"errors":   "sum:trace.http.request.errors{service:{{args.service}}}.as_count()",
			"requests": "sum:trace.http.request.hits{service:{{args.service}}}.as_count()",
		},
		Formula:    "errors / requests",
		Aggregator: "avg",
	}
	v2single := cell.DatadogMetric{APIVersion: "v2", Query: "avg:latency{service:{{args.service}}}", Interval: &cell.Duration{Duration: 10 * time.Minute}}
	repeat := func(o func(*cell.Metric)) []func(*cell.Metric) { return []func(*cell.Metric){o} }
	countInterval := repeat(func(m *cell.Metric) { m.Count = cell.Int(2); m.Interval = &cell.Duration{Duration: time.Minute} })
	cases := []struct {
		name     string
		tmpl     cell.AnalysisTemplate
		replies  []reply
		want     analysis.Phase
		requests int
		// phases lists the measurements' phases.
		phases []analysis.Phase
		// first checks the first request.
		first func(t *testing.T, r request)
		// last checks the last record.
		last func(t *testing.T, r analysis.Record)
	}{
		{
			name:     "v1 success",
			tmpl:     template(v1, "result < 0.05", ""),
			replies:  []reply{ok(v1Body(60, [2]float64{float64(ms(-2 * time.Minute)), 0.01}, [2]float64{float64(ms(-time.Minute)), 0.02}))},
			want:     analysis.PhaseSuccessful,
			requests: 1,
			first: func(t *testing.T, r request) {
				if want := "sum:trace.http.request.errors{service:web,version:v2}.as_rate()"; r.query["query"] != want {
					t.Errorf("query %q, want %q", r.query["query"], want)
				}
				if r.query["from"] != strconv.FormatInt(t0.Add(-5*time.Minute).Unix(), 10) {
					t.Errorf("from %s, want now - 5m", r.query["from"])
				}
			},
			last: func(t *testing.T, r analysis.Record) {
				if string(r.Value) != "0.02" {
					t.Errorf("value %s, want the last point 0.02", r.Value)
				}
			},
		},
		{
			name: "v1 incomplete last bucket is not judged",
			tmpl: template(v1, "result < 0.05", ""),
			replies: []reply{ok(v1Body(60,
				[2]float64{float64(ms(-2 * time.Minute)), 0.01},
				[2]float64{float64(ms(-time.Minute)), 0.02},
				[2]float64{float64(ms(-30 * time.Second)), 0.9}))},
			want:     analysis.PhaseSuccessful,
			requests: 1,
			last: func(t *testing.T, r analysis.Record) {
				if string(r.Value) != "0.02" || !strings.Contains(r.Message, "dropped the incomplete bucket") || !strings.Contains(string(r.Raw), `"dropped"`) {
					t.Errorf("value %s, message %q, raw %s", r.Value, r.Message, r.Raw)
				}
			},
		},
		{
			name: "v1 rollup interval given in milliseconds",
			tmpl: template(v1, "result < 0.05", ""),
			replies: []reply{ok(v1Body(60000,
				[2]float64{float64(ms(-2 * time.Minute)), 0.01},
				[2]float64{float64(ms(-20 * time.Second)), 0.9}))},
			want:     analysis.PhaseSuccessful,
			requests: 1,
		},
		{
			name: "v1 rollup from point spacing when the series has no interval",
			tmpl: template(v1, "result < 0.05", ""),
			replies: []reply{ok(fmt.Sprintf(`{"status":"ok","series":[{"pointlist":[[%d,0.01],[%d,0.02],[%d,0.9]]}]}`,
				ms(-150*time.Second), ms(-90*time.Second), ms(-30*time.Second)))},
			want:     analysis.PhaseSuccessful,
			requests: 1,
			last: func(t *testing.T, r analysis.Record) {
				if string(r.Value) != "0.02" {
					t.Errorf("value %s, want 0.02", r.Value)
				}
			},
		},
		{
			name:     "v1 only an incomplete bucket is inconclusive",
			tmpl:     template(v1, "result < 0.05", ""),
			replies:  []reply{ok(v1Body(60, [2]float64{float64(ms(-10 * time.Second)), 0.01}))},
			want:     analysis.PhaseInconclusive,
			requests: 1,
		},
		{
			name:     "v1 failure",
			tmpl:     template(v1, "result < 0.05", ""),
			replies:  []reply{ok(v1Body(60, [2]float64{float64(ms(-time.Minute)), 0.2}))},
			want:     analysis.PhaseFailed,
			requests: 1,
		},
		{
			name:     "v1 no series is inconclusive",
			tmpl:     template(v1, "default(result, 0) < 0.05", ""),
			replies:  []reply{ok(`{"status":"ok","series":[]}`)},
			want:     analysis.PhaseInconclusive,
			requests: 1,
		},
		{
			name:     "v1 only null points is inconclusive",
			tmpl:     template(v1, "result < 0.05", ""),
			replies:  []reply{ok(fmt.Sprintf(`{"status":"ok","series":[{"interval":60,"pointlist":[[%d,null]]}]}`, ms(-2*time.Minute)))},
			want:     analysis.PhaseInconclusive,
			requests: 1,
		},
		{
			name:     "v1 query error is an error",
			tmpl:     template(v1, "result < 0.05", "", repeat(func(m *cell.Metric) { m.ConsecutiveErrorLimit = cell.Int(0) })...),
			replies:  []reply{ok(`{"status":"error","error":"Error parsing query"}`)},
			want:     analysis.PhaseFailed,
			requests: 1,
			phases:   []analysis.Phase{analysis.PhaseError},
		},
		{
			name:     "v2 queries and formula",
			tmpl:     template(v2, "result < 0.05", "result >= 0.05"),
			replies:  []reply{ok(`{"data":{"type":"scalar_response","attributes":{"columns":[{"name":"errors / requests","type":"number","values":[0.0125]}]}}}`)},
			want:     analysis.PhaseSuccessful,
			requests: 1,
			first: func(t *testing.T, r request) {
				if r.path != "/api/v2/query/scalar" {
					t.Fatalf("path %s", r.path)
				}
				var got map[string]any
				if err := json.Unmarshal(r.body, &got); err != nil {
					t.Fatalf("body: %v", err)
				}
				want := map[string]any{"data": map[string]any{
					"type": "scalar_request",
					"attributes": map[string]any{
						"from": float64(ms(-5 * time.Minute)),
						"to":   float64(ms(0)),
						"queries": []any{
							map[string]any{"aggregator": "avg", "data_source": "metrics", "name": "errors", "query": "sum:trace.http.request.errors{service:web}.as_count()"},
							map[string]any{"aggregator": "avg", "data_source": "metrics", "name": "requests", "query": "sum:trace.http.request.hits{service:web}.as_count()"},
						},
						"formulas": []any{map[string]any{"formula": "errors / requests"}},
					},
				}}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("body\n got %v\nwant %v", got, want)
				}
			},
			last: func(t *testing.T, r analysis.Record) {
				if string(r.Value) != "0.0125" {
					t.Errorf("value %s", r.Value)
				}
			},
		},
		{
			name:     "v2 single query uses the default aggregator",
			tmpl:     template(v2single, "result < 300", ""),
			replies:  []reply{ok(`{"data":{"attributes":{"columns":[{"name":"query","values":[250.5]}]}}}`)},
			want:     analysis.PhaseSuccessful,
			requests: 1,
			first: func(t *testing.T, r request) {
				var body struct {
					Data struct {
						Attributes struct {
							From    int64               `json:"from"`
							Queries []map[string]string `json:"queries"`
						} `json:"attributes"`
					} `json:"data"`
				}
				if err := json.Unmarshal(r.body, &body); err != nil {
					t.Fatal(err)
				}
				q := body.Data.Attributes.Queries
				if len(q) != 1 || q[0]["name"] != "query" || q[0]["aggregator"] != "last" || q[0]["query"] != "avg:latency{service:web}" {
					t.Errorf("queries %v", q)
				}
				if body.Data.Attributes.From != ms(-10*time.Minute) {
					t.Errorf("from %d, want now - 10m", body.Data.Attributes.From)
				}
			},
		},
		{
			name: "v2 grouped query gives a list",
			tmpl: template(v2, "all(result, {# < 0.05})", ""),
			replies: []reply{ok(`{"data":{"attributes":{"columns":[
				{"name":"host","type":"group","values":[["a"],["b"],["c"]]},
				{"name":"errors / requests","type":"number","values":[0.01,null,0.2]}]}}}`)},
			want:     analysis.PhaseFailed,
			requests: 1,
			last: func(t *testing.T, r analysis.Record) {
				if string(r.Value) != "[0.01,0.2]" || !strings.Contains(string(r.Raw), `{"group":"c","value":0.2}`) {
					t.Errorf("value %s, raw %s", r.Value, r.Raw)
				}
			},
		},
		{
			name:     "v2 no values is inconclusive",
			tmpl:     template(v2, "result < 0.05", ""),
			replies:  []reply{ok(`{"data":{"attributes":{"columns":[{"name":"errors / requests","type":"number","values":[]}]}}}`)},
			want:     analysis.PhaseInconclusive,
			requests: 1,
		},
		{
			name:     "v2 untyped empty column is inconclusive",
			tmpl:     template(v2, "result < 0.05", ""),
			replies:  []reply{ok(`{"data":{"attributes":{"columns":[{"values":[]}]}}}`)},
			want:     analysis.PhaseInconclusive,
			requests: 1,
		},
		{
			name:     "v2 errors in the answer are an error",
			tmpl:     template(v2, "result < 0.05", "", repeat(func(m *cell.Metric) { m.ConsecutiveErrorLimit = cell.Int(0) })...),
			replies:  []reply{ok(`{"errors":"unknown metric"}`)},
			want:     analysis.PhaseFailed,
			requests: 1,
			phases:   []analysis.Phase{analysis.PhaseError},
		},
		{
			name:     "500s beyond consecutiveErrorLimit fail the run",
			tmpl:     template(v1, "result < 0.05", ""),
			replies:  []reply{{status: 500, body: `{"errors":["Internal Server Error"]}`}},
			want:     analysis.PhaseFailed,
			requests: 5,
			phases:   []analysis.Phase{analysis.PhaseError, analysis.PhaseError, analysis.PhaseError, analysis.PhaseError, analysis.PhaseError},
			last: func(t *testing.T, r analysis.Record) {
				if r.MetricPhase != analysis.PhaseError || !strings.Contains(r.Message, "HTTP 500") {
					t.Errorf("metric phase %s, message %q", r.MetricPhase, r.Message)
				}
			},
		},
		{
			name: "two 500s then good data succeed",
			tmpl: template(v1, "result < 0.05", "", countInterval...),
			replies: []reply{
				{status: 500, body: `{"errors":["Internal Server Error"]}`},
				{status: 503, body: `upstream unavailable`},
				ok(v1Body(60, [2]float64{float64(ms(-time.Minute)), 0.01})),
			},
			want:     analysis.PhaseSuccessful,
			requests: 4,
			phases:   []analysis.Phase{analysis.PhaseError, analysis.PhaseError, analysis.PhaseSuccessful, analysis.PhaseSuccessful},
		},
		{
			name: "429 waits for Retry-After",
			tmpl: template(v1, "result < 0.05", ""),
			replies: []reply{
				{status: 429, body: `{"errors":["Too many requests"]}`, headers: map[string]string{"Retry-After": "37"}},
				ok(v1Body(60, [2]float64{float64(ms(-time.Minute)), 0.01})),
			},
			want:     analysis.PhaseSuccessful,
			requests: 2,
			phases:   []analysis.Phase{analysis.PhaseError, analysis.PhaseSuccessful},
			last: func(t *testing.T, r analysis.Record) {
				if !r.At.Equal(t0.Add(37 * time.Second)) {
					t.Errorf("retried at %s, want 37s after the 429", r.At.Sub(t0))
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, ts := newServer(t, tc.replies...)
			run, records := drive(t, tc.tmpl, newProvider(t, ts.URL, staticKeys), srv, 20)
			if run.Phase != tc.want {
				t.Fatalf("run %s (%s), want %s", run.Phase, run.Message, tc.want)
			}
			reqs := srv.requests()
			if len(reqs) != tc.requests {
				t.Fatalf("%d requests, want %d", len(reqs), tc.requests)
			}
			if tc.phases != nil {
				var got []analysis.Phase
				for _, r := range records {
					got = append(got, r.Phase)
				}
				if !reflect.DeepEqual(got, tc.phases) {
					t.Errorf("measurement phases %v, want %v", got, tc.phases)
				}
			}
			if tc.first != nil {
				tc.first(t, reqs[0])
			}
			if tc.last != nil {
				tc.last(t, records[len(records)-1])
			}
		})
	}
}

func TestThrottlingIsAProviderError(t *testing.T) {
	cases := []struct {
		name    string
		headers map[string]string
		want    time.Duration
	}{
		{"Retry-After seconds", map[string]string{"Retry-After": "30"}, 30 * time.Second},
		{"Retry-After date", map[string]string{"Retry-After": t0.Add(time.Minute).Format(http.TimeFormat), "Date": t0.Format(http.TimeFormat)}, time.Minute},
		{"X-RateLimit-Reset", map[string]string{"X-RateLimit-Reset": "12", "X-RateLimit-Limit": "100"}, 12 * time.Second},
		{"no hint", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ts := newServer(t, reply{status: 429, body: `{"errors":["Too many requests"]}`, headers: tc.headers})
			m := cell.Metric{Name: "m", Provider: cell.MetricProvider{Datadog: &cell.DatadogMetric{Query: "avg:x{*}"}}}
			_, err := newProvider(t, ts.URL, staticKeys).Measure(context.Background(), m, analysis.Window{Start: t0.Add(-5 * time.Minute), End: t0})
			var pe *analysis.ProviderError
			if !asProviderError(err, &pe) {
				t.Fatalf("error %v is not a *ProviderError", err)
			}
			if !pe.Throttled || pe.StatusCode != 429 || pe.RetryAfter != tc.want || pe.Provider != analysis.KindDatadog {
				t.Fatalf("got %+v, want throttled 429 retry after %s", pe, tc.want)
			}
		})
	}
}

// countingKeys counts lookups and invalidations.
type countingKeys struct {
	mu          sync.Mutex
	keys        datadog.Keys
	lookups     int
	invalidated int
}

func (c *countingKeys) Keys(context.Context) (datadog.Keys, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lookups++
	return c.keys, nil
}

func (c *countingKeys) Invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalidated++
}

func TestRefusedKeysAreReadAgain(t *testing.T) {
	srv, ts := newServer(t, ok(v1Body(60, [2]float64{float64(ms(-time.Minute)), 0.01})))
	keys := &countingKeys{keys: datadog.Keys{APIKey: "old", AppKey: "old"}}
	p := newProvider(t, ts.URL, keys)
	m := cell.Metric{Name: "m", Provider: cell.MetricProvider{Datadog: &cell.DatadogMetric{Query: "avg:x{*}"}}}
	w := analysis.Window{Start: t0.Add(-5 * time.Minute), End: t0}
	_, err := p.Measure(context.Background(), m, w)
	var pe *analysis.ProviderError
	if !asProviderError(err, &pe) || pe.StatusCode != http.StatusForbidden || pe.Throttled {
		t.Fatalf("with wrong keys: %v", err)
	}
	if keys.invalidated != 1 {
		t.Fatalf("invalidated %d times, want 1", keys.invalidated)
	}
	if strings.Contains(err.Error(), apiKey) || strings.Contains(err.Error(), "old") {
		t.Fatalf("error mentions a key: %v", err)
	}
	keys.keys = datadog.Keys{APIKey: apiKey, AppKey: appKey}
	if v, err := p.Measure(context.Background(), m, w); err != nil || v.Result != 0.01 {
		t.Fatalf("with rotated keys: %v, %v", v.Result, err)
	}
	if len(srv.requests()) != 2 {
		t.Fatalf("%d requests", len(srv.requests()))
	}
}

func TestRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer ts.Close()
	defer close(release)
	m := cell.Metric{Name: "m", Provider: cell.MetricProvider{Datadog: &cell.DatadogMetric{Query: "avg:x{*}", RequestTimeout: &cell.Duration{Duration: 50 * time.Millisecond}}}}
	start := time.Now()
	_, err := newProvider(t, ts.URL, staticKeys).Measure(context.Background(), m, analysis.Window{Start: t0.Add(-5 * time.Minute), End: t0})
	var pe *analysis.ProviderError
	if !asProviderError(err, &pe) {
		t.Fatalf("error %v is not a *ProviderError", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("took %s despite requestTimeout 50ms", elapsed)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	cases := []struct {
		name string
		o    datadog.Options
	}{
		{"no keys", datadog.Options{}},
		{"relative URL", datadog.Options{Keys: staticKeys, URL: "localhost:8080"}},
		{"site with a scheme", datadog.Options{Keys: staticKeys, Site: "https://datadoghq.eu"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := datadog.New(tc.o); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
	if _, err := datadog.New(datadog.Options{Keys: staticKeys, Site: "datadoghq.eu"}); err != nil {
		t.Fatalf("New with a site: %v", err)
	}
}

func asProviderError(err error, target **analysis.ProviderError) bool {
	return errors.As(err, target)
}
