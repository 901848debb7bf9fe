package checks

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/store"
)

// Bounds on what one history item holds (DynamoDB items are at most
// 400 KB).
const (
	maxRecordedValues = 1000
	maxRecordedText   = 32 << 10
)

// measurementEvent is the history item of one measurement: the query as
// sent, the raw values, the result the conditions saw, the conditions and
// the one that decided, the verdict and any provider error.
func measurementEvent(r analysis.Record, executionARN, canary string, finished time.Time) store.Event {
	m := &store.Measurement{
		Metric:           r.Metric,
		Template:         r.Template,
		Provider:         string(r.Provider),
		Query:            truncate(r.Query, maxRecordedText),
		Values:           numbers(r.Raw, r.Value),
		Result:           truncate(string(r.Value), maxRecordedText),
		SuccessCondition: r.SuccessCondition,
		FailureCondition: r.FailureCondition,
		Verdict:          string(r.Phase),
		StartedAt:        r.At,
		FinishedAt:       finished,
	}
	if r.Phase == analysis.PhaseError {
		m.Error = r.Message
	} else {
		_, m.Condition = decidingCondition(r.SuccessCondition, r.FailureCondition, r.Phase)
	}
	details := map[string]string{
		"metricPhase": string(r.MetricPhase),
		"windowStart": r.Window.Start.UTC().Format(time.RFC3339),
		"windowEnd":   r.Window.End.UTC().Format(time.RFC3339),
	}
	if len(r.Raw) > 0 {
		details["raw"] = truncate(string(r.Raw), maxRecordedText)
	}
	if r.DryRun {
		details["dryRun"] = "true"
	}
	if r.Throttled {
		details["throttled"] = "true"
	}
	if r.RetryAfter != nil {
		details["retryAfter"] = r.RetryAfter.Duration.String()
	}
	return store.Event{
		Time:        r.At,
		Type:        store.EventAnalysisMeasurement,
		Execution:   executionARN,
		Version:     canary,
		Message:     measurementText(r),
		Measurement: m,
		Details:     details,
	}
}

// measurementText is one line about a measurement.
func measurementText(r analysis.Record) string {
	msg := fmt.Sprintf("metric %q (%s) measured %s", r.Metric, r.Provider, r.Phase)
	switch {
	case r.Phase == analysis.PhaseError:
		msg += ": " + r.Message
	case len(r.Value) > 0:
		msg += ": value " + valueText(r.Raw, r.Value)
		if field, cond := decidingCondition(r.SuccessCondition, r.FailureCondition, r.Phase); cond != "" {
			msg += fmt.Sprintf(" (%s %q)", field, cond)
		}
		if r.Message != "" {
			msg += "; " + r.Message
		}
	case r.Message != "":
		msg += ": " + r.Message
	}
	return truncate(msg, maxMessage)
}

// decidingCondition names the condition that decided a verdict, with
// Argo Rollouts' rules: a true failureCondition fails; else a true
// successCondition passes; with only one condition its opposite decides
// the other verdict. Inconclusive and Error have none.
func decidingCondition(success, failure string, phase analysis.Phase) (field, cond string) {
	switch phase {
	case analysis.PhaseSuccessful:
		if success != "" {
			return "successCondition", success
		}
		return "failureCondition (false)", failure
	case analysis.PhaseFailed:
		if failure != "" {
			return "failureCondition", failure
		}
		return "successCondition (false)", success
	}
	return "", ""
}

// verdict maps a completed run onto the state's phase and message. A run
// is Failed when a metric failed or errored: a background analysis says
// Error for the latter, a step's analysis Failed (the state machine treats
// both as failure, and the message names the Error).
func verdict(run *analysis.Run, background bool) (Phase, string) {
	decider := deciding(run)
	phase := Phase(run.Phase)
	if run.Phase == analysis.PhaseFailed && background && decider != nil && decider.Phase == analysis.PhaseError {
		phase = PhaseError
	}
	msg := "analysis " + string(run.Phase) + ": " + run.Message
	if decider != nil && run.Phase != analysis.PhaseSuccessful {
		msg += fmt.Sprintf(" (template %q, %s", decider.Template, decider.Provider)
		if last := lastMeasurement(*decider); last != "" {
			msg += "; " + last
		}
		msg += ")"
	}
	if run.Phase == analysis.PhaseSuccessful {
		var parts []string
		for _, m := range run.Metrics {
			if last := lastMeasurement(m); last != "" {
				parts = append(parts, fmt.Sprintf("%q: %s", m.Name, last))
			}
		}
		if len(parts) > 0 {
			msg += "; " + strings.Join(parts, "; ")
		}
	}
	return phase, truncate(msg, maxMessage)
}

// deciding returns the metric that decided a run that did not succeed: the
// first non-dry-run metric in the run's phase (Error counts as Failed).
func deciding(run *analysis.Run) *analysis.MetricRun {
	for i := range run.Metrics {
		m := &run.Metrics[i]
		if m.DryRun {
			continue
		}
		if m.Phase == run.Phase || (run.Phase == analysis.PhaseFailed && m.Phase == analysis.PhaseError) {
			return m
		}
	}
	return nil
}

// lastMeasurement describes a metric's latest measurement: its value and
// the condition that judged it.
func lastMeasurement(m analysis.MetricRun) string {
	n := len(m.Measurements)
	if n == 0 {
		return ""
	}
	meas := m.Measurements[n-1]
	var msg string
	switch {
	case meas.Phase == analysis.PhaseError:
		msg = "last measurement Error: " + meas.Message
	case len(meas.Value) > 0:
		msg = "last value " + valueText(nil, meas.Value)
		if field, cond := decidingCondition(m.Spec.SuccessCondition, m.Spec.FailureCondition, meas.Phase); cond != "" {
			msg += fmt.Sprintf(" → %s by %s %q", meas.Phase, field, cond)
		} else {
			msg += fmt.Sprintf(" → %s (successCondition %q, failureCondition %q)", meas.Phase, m.Spec.SuccessCondition, m.Spec.FailureCondition)
		}
	default:
		msg = "last measurement " + string(meas.Phase)
		if meas.Message != "" {
			msg += ": " + meas.Message
		}
	}
	return truncate(msg, 600)
}

// progress describes a run that is still measuring.
func progress(run *analysis.Run, records []analysis.Record, wait int64) string {
	done := 0
	for _, m := range run.Metrics {
		if m.Phase.Completed() {
			done++
		}
	}
	parts := []string{fmt.Sprintf("analysis Running: %d of %d metric(s) complete", done, len(run.Metrics))}
	for i, r := range records {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more measurement(s)", len(records)-i))
			break
		}
		parts = append(parts, measurementText(r))
	}
	parts = append(parts, fmt.Sprintf("next check in %ds", wait))
	return truncate(strings.Join(parts, "; "), maxMessage)
}

// valueText shows the numbers of a value when it has any (CloudWatch's
// results list many fields around them), else the value itself.
func valueText(raw, value json.RawMessage) string {
	if nums := numbers(nil, value); len(nums) > 0 {
		if len(nums) == 1 {
			return strconv.FormatFloat(nums[0], 'g', -1, 64)
		}
		text := make([]string, 0, min(len(nums), 20))
		for i, v := range nums {
			if i == 20 {
				text = append(text, fmt.Sprintf("… %d more", len(nums)-i))
				break
			}
			text = append(text, strconv.FormatFloat(v, 'g', -1, 64))
		}
		return "[" + strings.Join(text, " ") + "]"
	}
	return truncate(string(value), 300)
}

// numbers extracts the measured values from a provider's raw answer (the
// "values" of CloudWatch results and Datadog v2 answers, the second
// element of Datadog v1 "points"), else from the result itself (a number
// or a list of numbers). Only finite values are kept, at most
// maxRecordedValues.
func numbers(raw, value json.RawMessage) []float64 {
	var out []float64
	add := func(v any) {
		if f, ok := v.(float64); ok && !math.IsNaN(f) && !math.IsInf(f, 0) && len(out) < maxRecordedValues {
			out = append(out, f)
		}
	}
	var flatten, walk func(v any)
	flatten = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				flatten(e)
			}
		case map[string]any:
			walk(x)
		default:
			add(x)
		}
	}
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				switch strings.ToLower(k) {
				case "values":
					flatten(e)
				case "points":
					if pts, ok := e.([]any); ok {
						for _, p := range pts {
							if pair, ok := p.([]any); ok && len(pair) == 2 {
								add(pair[1])
							}
						}
					}
				default:
					walk(e)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var doc any
	if len(raw) > 0 && json.Unmarshal(raw, &doc) == nil {
		walk(doc)
		if len(out) > 0 {
			return out
		}
	}
	doc = nil
	if len(value) > 0 && json.Unmarshal(value, &doc) == nil {
		flatten(doc)
	}
	return out
}
