package analysis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/okrahq/okra/internal/cell"
)

// Kind names a metric provider as it is spelled in a template.
type Kind string

// Supported provider kinds.
const (
	KindCloudWatch Kind = "cloudWatch"
	KindDatadog    Kind = "datadog"
)

// Window is the time range a measurement looks at: [Start, End).
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Provider takes one measurement of a metric. The metric has its arguments
// substituted and its defaults filled in by Start. A provider returns an
// error when it could not measure (outage, throttling, bad response); the
// engine counts that as an Error, never as a Failed measurement.
//
// The window and the metric are all a provider gets, so a later provider
// that compares canary and baseline (both target groups of a Cell behind
// one load balancer, in the same window) fits the same interface: both
// sides arrive as arguments substituted into the metric.
type Provider interface {
	Measure(ctx context.Context, metric cell.Metric, window Window) (Value, error)
}

// Providers maps each provider kind to its implementation.
type Providers map[Kind]Provider

// Value is what a provider measured.
type Value struct {
	// Result is what conditions see as `result`, in Argo Rollouts' shape for
	// the provider: a float64 for one value, a []float64 for several, or a
	// slice of structs (CloudWatch's MetricDataResults).
	Result any
	// NoData reports that the provider returned nothing to judge. Such a
	// measurement is Inconclusive.
	NoData bool
	// Raw is what the provider returned, as JSON-serializable data, for the
	// Cell's history.
	Raw any
	// Message notes anything the provider wants recorded (dropped
	// incomplete buckets, warnings from the API).
	Message string
}

// ProviderError is a failed provider call: an outage, throttling, an
// authentication failure or an unusable response. It makes a measurement an
// Error, which counts toward consecutiveErrorLimit.
type ProviderError struct {
	// Provider is the provider kind.
	Provider Kind
	// Op is the API operation, e.g. "GetMetricData" or "QueryMetrics".
	Op string
	// StatusCode is the HTTP status, when there was a response.
	StatusCode int
	// Throttled reports rate limiting (HTTP 429, AWS throttling codes).
	Throttled bool
	// RetryAfter is how long the provider asked to wait, when it said.
	RetryAfter time.Duration
	// Err is the underlying error.
	Err error
}

func (e *ProviderError) Error() string {
	msg := fmt.Sprintf("%s %s", e.Provider, e.Op)
	if e.StatusCode != 0 {
		msg += fmt.Sprintf(": HTTP %d", e.StatusCode)
	}
	if e.Throttled {
		msg += ": throttled"
		if e.RetryAfter > 0 {
			msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
		}
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ProviderError) Unwrap() error { return e.Err }

// IsThrottled reports whether err is a throttled provider call.
func IsThrottled(err error) bool {
	var pe *ProviderError
	return errors.As(err, &pe) && pe.Throttled
}

// DefaultLookback is how far back a provider looks when the template's
// provider interval is unset (Argo Rollouts' default for both CloudWatch
// and Datadog).
const DefaultLookback = 5 * time.Minute

// Lookback is the length of the window a metric's provider queries: the
// provider's own interval (provider.cloudWatch.interval,
// provider.datadog.interval), else DefaultLookback. It is not the metric's
// interval, which is how often measurements are taken.
func Lookback(m cell.Metric) time.Duration {
	var d *cell.Duration
	switch {
	case m.Provider.CloudWatch != nil:
		d = m.Provider.CloudWatch.Interval
	case m.Provider.Datadog != nil:
		d = m.Provider.Datadog.Interval
	}
	if d == nil || d.Duration <= 0 {
		return DefaultLookback
	}
	return d.Duration
}

// ProviderKind says which provider measures m. Exactly one supported
// provider must be set.
func ProviderKind(m cell.Metric) (Kind, error) {
	p := m.Provider
	var kinds []Kind
	if p.CloudWatch != nil {
		kinds = append(kinds, KindCloudWatch)
	}
	if p.Datadog != nil {
		kinds = append(kinds, KindDatadog)
	}
	unsupported := []struct {
		name string
		set  bool
	}{
		{"prometheus", p.Prometheus != nil}, {"web", p.Web != nil}, {"job", p.Job != nil},
		{"kayenta", p.Kayenta != nil}, {"newRelic", p.NewRelic != nil}, {"wavefront", p.Wavefront != nil},
		{"graphite", p.Graphite != nil}, {"influxdb", p.Influxdb != nil}, {"skywalking", p.SkyWalking != nil},
		{"plugin", p.Plugin != nil},
	}
	for _, u := range unsupported {
		if u.set {
			return "", fmt.Errorf("provider %s is not supported by okra (supported: cloudWatch, datadog)", u.name)
		}
	}
	switch len(kinds) {
	case 0:
		return "", errors.New("no provider set (want cloudWatch or datadog)")
	case 1:
		return kinds[0], nil
	}
	return "", fmt.Errorf("more than one provider set (%s and %s); a metric has exactly one", kinds[0], kinds[1])
}

// DatadogAPIVersion is the Datadog API a metric uses: the template's
// apiVersion, else "v1" for a single query (Argo Rollouts' default) and
// "v2" for named queries (which only v2 supports). This is the rule Cell
// validation applies too.
func DatadogAPIVersion(d *cell.DatadogMetric) string {
	if d.APIVersion != "" {
		return d.APIVersion
	}
	if d.Query != "" {
		return "v1"
	}
	return "v2"
}

// DefaultDatadogAggregator is the v2 aggregator when the template sets none
// (as in Argo Rollouts).
const DefaultDatadogAggregator = "last"
