package cell

import (
	"fmt"
	"time"
)

// Analysis defaults, as Argo Rollouts defines them.
const (
	// DefaultConsecutiveErrorLimit is how many provider errors in a row
	// end a metric as Error when consecutiveErrorLimit is unset.
	DefaultConsecutiveErrorLimit int32 = 4
	// DefaultQueryWindow is how far back CloudWatch and Datadog queries
	// look when the provider's interval is unset.
	DefaultQueryWindow = 5 * time.Minute

	DatadogAPIVersionV1 = "v1"
	DatadogAPIVersionV2 = "v2"
	// DefaultDatadogAggregator reduces a v2 series to one value when the
	// template names no aggregator.
	DefaultDatadogAggregator = "last"
)

// The Effective* methods resolve a metric's defaults without mutating the
// template. Limits written as "{{args.x}}" must be substituted first; until
// then these methods return an error naming the unresolved text.

// EffectiveCount returns how many measurements the metric takes. As in Argo
// Rollouts, an unset (or zero) count means one measurement when no interval
// is set, and measuring until stopped (unbounded) when an interval is set.
func (m Metric) EffectiveCount() (count int32, unbounded bool, err error) {
	if m.Count != nil {
		n, err := m.Count.Resolve()
		if err != nil {
			return 0, false, fmt.Errorf("count: %w", err)
		}
		if n > 0 {
			return n, false, nil
		}
	}
	if m.Interval == nil {
		return 1, false, nil
	}
	return 0, true, nil
}

// EffectiveFailureLimit returns failureLimit, default 0 (no failure
// tolerated). -1 disables the limit (Argo Rollouts v1.8), which is valid
// only together with a consecutiveSuccessLimit.
func (m Metric) EffectiveFailureLimit() (int32, error) {
	return resolveOr(m.FailureLimit, 0, "failureLimit")
}

// EffectiveInconclusiveLimit returns inconclusiveLimit, default 0.
func (m Metric) EffectiveInconclusiveLimit() (int32, error) {
	return resolveOr(m.InconclusiveLimit, 0, "inconclusiveLimit")
}

// EffectiveConsecutiveErrorLimit returns consecutiveErrorLimit, default 4.
func (m Metric) EffectiveConsecutiveErrorLimit() (int32, error) {
	return resolveOr(m.ConsecutiveErrorLimit, DefaultConsecutiveErrorLimit, "consecutiveErrorLimit")
}

// EffectiveConsecutiveSuccessLimit returns consecutiveSuccessLimit, default
// 0, which disables it.
func (m Metric) EffectiveConsecutiveSuccessLimit() (int32, error) {
	return resolveOr(m.ConsecutiveSuccessLimit, 0, "consecutiveSuccessLimit")
}

func resolveOr(v *IntOrString, def int32, field string) (int32, error) {
	if v == nil {
		return def, nil
	}
	n, err := v.Resolve()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", field, err)
	}
	return n, nil
}

// EffectiveAPIVersion returns the Datadog API version: as written, else v1
// for a single query and v2 for named queries.
func (d DatadogMetric) EffectiveAPIVersion() string {
	if d.APIVersion != "" {
		return d.APIVersion
	}
	if d.Query != "" {
		return DatadogAPIVersionV1
	}
	return DatadogAPIVersionV2
}

// EffectiveAggregator returns the v2 aggregator, default "last"; v1 has
// none.
func (d DatadogMetric) EffectiveAggregator() string {
	if d.EffectiveAPIVersion() == DatadogAPIVersionV1 {
		return ""
	}
	if d.Aggregator == "" {
		return DefaultDatadogAggregator
	}
	return d.Aggregator
}

// EffectiveInterval returns the query window, default 5m.
func (d DatadogMetric) EffectiveInterval() time.Duration {
	return durationOr(d.Interval, DefaultQueryWindow)
}

// EffectiveInterval returns the query window, default 5m.
func (c CloudWatchMetric) EffectiveInterval() time.Duration {
	return durationOr(c.Interval, DefaultQueryWindow)
}

func durationOr(d *Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}
