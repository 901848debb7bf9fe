package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/condition"
)

// Step takes every measurement that is due at now (in parallel, one per
// metric), judges each with Argo Rollouts' rules and updates run in place.
// Calling it before anything is due, or after the run completed, changes
// nothing, so a retried invocation is harmless.
//
// Provider failures are recorded as Error measurements, not returned. Step
// returns an error only when ctx ends while measuring; run is then left
// unchanged so the invocation can be retried.
func Step(ctx context.Context, run *Run, providers Providers, now time.Time) (StepResult, error) {
	if run == nil {
		return StepResult{}, errors.New("analysis step: no run")
	}
	if run.Phase.Completed() {
		return run.result(nil), nil
	}
	var due []int
	if !run.terminating() {
		for i := range run.Metrics {
			m := &run.Metrics[i]
			if !m.Phase.Completed() && m.NextAt != nil && !now.Before(*m.NextAt) {
				due = append(due, i)
			}
		}
	}
	taken := make([]takenMeasurement, len(due))
	var wg sync.WaitGroup
	for j, i := range due {
		wg.Add(1)
		go func() {
			defer wg.Done()
			taken[j] = measure(ctx, run.Metrics[i], providers, now)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return StepResult{}, fmt.Errorf("taking analysis measurements, %w", err)
	}
	for j, i := range due {
		run.Metrics[i].record(taken[j].Measurement)
	}
	run.assess(now)
	records := make([]Record, 0, len(due))
	for j, i := range due {
		m := run.Metrics[i]
		records = append(records, Record{
			Metric:           m.Name,
			Template:         m.Template,
			Provider:         m.Provider,
			DryRun:           m.DryRun,
			SuccessCondition: m.Spec.SuccessCondition,
			FailureCondition: m.Spec.FailureCondition,
			Measurement:      taken[j].Measurement,
			Raw:              taken[j].raw,
			MetricPhase:      m.Phase,
		})
	}
	return run.result(records), nil
}

// Terminate ends a run early, as Argo Rollouts terminates an AnalysisRun
// (for example a background analysis when its rollout finishes): metrics
// still measuring are assessed on what they have, and those that have
// measured nothing count as Successful.
func Terminate(run *Run, now time.Time) StepResult {
	if run == nil || run.Phase.Completed() {
		if run == nil {
			return StepResult{}
		}
		return run.result(nil)
	}
	run.Terminated = true
	run.assess(now)
	return run.result(nil)
}

func (r *Run) result(records []Record) StepResult {
	return StepResult{Measurements: records, Phase: r.Phase, Message: r.Message, NextAt: r.NextAt}
}

type takenMeasurement struct {
	Measurement
	raw json.RawMessage
}

// measure asks the metric's provider and judges the answer.
func measure(ctx context.Context, m MetricRun, providers Providers, now time.Time) takenMeasurement {
	window := Window{Start: now.Add(-Lookback(m.Spec)), End: now}
	t := takenMeasurement{Measurement: Measurement{At: now, Window: window, Query: m.Query}}
	p := providers[m.Provider]
	if p == nil {
		t.Phase = PhaseError
		t.Message = fmt.Sprintf("no %s provider is configured", m.Provider)
		return t
	}
	v, err := p.Measure(ctx, m.Spec, window)
	if err != nil {
		t.Phase = PhaseError
		t.Message = err.Error()
		var pe *ProviderError
		if errors.As(err, &pe) && pe.Throttled {
			t.Throttled = true
			if pe.RetryAfter > 0 {
				t.RetryAfter = &cell.Duration{Duration: pe.RetryAfter}
			}
		}
		return t
	}
	t.raw = encode(v.Raw)
	var notes []string
	if v.NoData {
		var note string
		t.Phase, note = judgeNoData(m.Spec)
		notes = append(notes, note)
	} else {
		t.Value = encode(v.Result)
		phase, err := evaluate(m.Spec, v.Result)
		t.Phase = phase
		if err != nil {
			notes = append(notes, err.Error())
		}
	}
	if v.Message != "" {
		notes = append(notes, v.Message)
	}
	t.Message = strings.Join(notes, "; ")
	return t
}

// evaluate applies Argo Rollouts' rule (utils/evaluate.EvaluateResult):
// with only a successCondition, not successful means Failed; with only a
// failureCondition, not failed means Successful; with both, neither true
// means Inconclusive and a true failureCondition wins. An evaluation error
// (such as indexing past the end of a result) is an Error.
func evaluate(m cell.Metric, result any) (Phase, error) {
	eval := func(field, src string) (bool, error) {
		c, err := condition.Compile(src)
		if err != nil {
			return false, fmt.Errorf("%s: %w", field, err)
		}
		ok, err := c.Eval(result)
		if err != nil {
			return false, fmt.Errorf("%s: %w", field, err)
		}
		return ok, nil
	}
	var success, failure bool
	var err error
	if m.SuccessCondition != "" {
		if success, err = eval("successCondition", m.SuccessCondition); err != nil {
			return PhaseError, err
		}
	}
	if m.FailureCondition != "" {
		if failure, err = eval("failureCondition", m.FailureCondition); err != nil {
			return PhaseError, err
		}
	}
	switch {
	case m.SuccessCondition == "" && m.FailureCondition == "":
		return PhaseError, errors.New("the metric has no successCondition or failureCondition")
	case m.SuccessCondition != "" && m.FailureCondition == "":
		failure = !success
	case m.SuccessCondition == "" && m.FailureCondition != "":
		success = !failure
	}
	switch {
	case failure:
		return PhaseFailed, nil
	case success:
		return PhaseSuccessful, nil
	}
	return PhaseInconclusive, nil
}

// judgeNoData: no data is Inconclusive, never Successful; only a
// failureCondition that is true for a nil result (e.g. isNil(result)) makes
// it Failed.
func judgeNoData(m cell.Metric) (Phase, string) {
	if m.FailureCondition != "" {
		if c, err := condition.Compile(m.FailureCondition); err == nil {
			if failed, err := c.Eval(nil); err == nil && failed {
				return PhaseFailed, "no data, and failureCondition is true without data"
			}
		}
	}
	return PhaseInconclusive, "no data: the provider returned no datapoints"
}

// encode renders v as JSON for the run and the history; values JSON cannot
// hold (NaN, infinities) are kept as text.
func encode(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(fmt.Sprintf("%v", v))
	}
	return b
}

// record counts a measurement as Argo Rollouts does and schedules the next.
func (m *MetricRun) record(meas Measurement) {
	c := &m.Counters
	switch meas.Phase {
	case PhaseSuccessful:
		c.Successful++
		c.Count++
		c.ConsecutiveError = 0
		c.ConsecutiveSuccess++
	case PhaseFailed:
		c.Failed++
		c.Count++
		c.ConsecutiveError = 0
		c.ConsecutiveSuccess = 0
	case PhaseInconclusive:
		c.Inconclusive++
		c.Count++
		c.ConsecutiveError = 0
		c.ConsecutiveSuccess = 0
	case PhaseError:
		c.Error++
		c.ConsecutiveError++
		c.ConsecutiveSuccess = 0
	}
	if len(meas.Value) > MaxStoredValue {
		meas.Value = encode(map[string]any{"truncated": true, "bytes": len(meas.Value)})
	}
	m.Measurements = append(m.Measurements, meas)
	if keep := m.Limits.Retention; keep > 0 && len(m.Measurements) > keep {
		m.Measurements = append([]Measurement(nil), m.Measurements[len(m.Measurements)-keep:]...)
	}
	at := meas.At
	m.LastMeasuredAt = &at
	if m.Phase == PhasePending {
		m.Phase = PhaseRunning
	}
	m.NextAt = m.nextAfter(meas)
}

// nextAfter is when the measurement after meas is due: after an error, a
// backoff (at least the provider's Retry-After); else the metric's
// interval; nil when the count is reached.
func (m *MetricRun) nextAfter(meas Measurement) *time.Time {
	var wait time.Duration
	switch {
	case meas.Phase == PhaseError:
		wait = errorBackoff(m.ConsecutiveError)
		if meas.RetryAfter != nil && meas.RetryAfter.Duration > wait {
			wait = min(meas.RetryAfter.Duration, MaxRetryAfter)
		}
	case m.Limits.Count != nil && m.Count >= *m.Limits.Count:
		return nil
	case m.Spec.Interval != nil:
		wait = m.Spec.Interval.Duration
	default:
		// Start refuses count > 1 without an interval, so this is not
		// reached; retry rather than stall if it ever is.
		wait = ErrorRetryBase
	}
	t := meas.At.Add(wait)
	return &t
}

// errorBackoff doubles ErrorRetryBase for each consecutive error after the
// first, up to ErrorRetryMax.
func errorBackoff(consecutive int) time.Duration {
	d := ErrorRetryBase
	for i := 1; i < consecutive && d < ErrorRetryMax; i++ {
		d *= 2
	}
	return min(d, ErrorRetryMax)
}

// terminating is Argo Rollouts' IsTerminating: the run was terminated, or a
// metric that is not a dry run ended Failed, Error or Inconclusive, so no
// further measurements are taken.
func (r *Run) terminating() bool {
	if r.Terminated {
		return true
	}
	for _, m := range r.Metrics {
		if m.DryRun {
			continue
		}
		switch m.Phase {
		case PhaseFailed, PhaseError, PhaseInconclusive:
			return true
		}
	}
	return false
}

// assess updates metric phases and the run's phase (Argo Rollouts'
// assessRunStatus). Argo reaches a terminating run's final phase one
// reconciliation later; here it is reached in the same call, so a Step that
// fails one metric also completes the run.
func (r *Run) assess(now time.Time) {
	if r.Phase.Completed() {
		return
	}
	for i := range r.Metrics {
		r.Metrics[i].assess(false)
	}
	terminating := r.terminating()
	if terminating {
		for i := range r.Metrics {
			r.Metrics[i].assess(true)
		}
	}
	var worst Phase
	var message string
	everything := true
	for _, m := range r.Metrics {
		if !m.Phase.Completed() {
			everything = false
			continue
		}
		if m.DryRun {
			if worst == "" {
				worst = PhaseSuccessful
			}
			continue
		}
		if worst == "" || worse(worst, m.Phase) {
			worst = m.Phase
			if m.Phase != PhaseSuccessful {
				message = fmt.Sprintf("metric %q assessed %s: %s", m.Name, m.Phase, m.Message)
			}
		}
	}
	switch {
	case terminating && worst == "":
		worst = PhaseSuccessful
	case terminating:
	case !everything || worst == "":
		r.NextAt = nil
		for _, m := range r.Metrics {
			if !m.Phase.Completed() && m.NextAt != nil && (r.NextAt == nil || m.NextAt.Before(*r.NextAt)) {
				next := *m.NextAt
				r.NextAt = &next
			}
		}
		return
	}
	if worst == PhaseError {
		// An outage that outlasts consecutiveErrorLimit stops the rollout
		// like a failure; the message keeps the metric's Error.
		worst = PhaseFailed
	}
	if worst == PhaseSuccessful && message == "" {
		message = fmt.Sprintf("%d metric(s) assessed Successful", len(r.Metrics))
		if r.Terminated {
			message += " (run terminated)"
		}
	}
	r.Phase = worst
	r.Message = message
	done := now
	r.CompletedAt = &done
	r.NextAt = nil
}

// assess applies Argo Rollouts' assessMetricStatus to one metric.
func (m *MetricRun) assess(terminating bool) {
	if m.Phase.Completed() {
		return
	}
	phase, reason := m.status(terminating)
	if !phase.Completed() {
		m.Phase = phase
		return
	}
	m.Phase = phase
	m.NextAt = nil
	m.Message = reason
	if n := len(m.Measurements); n > 0 && phase != PhaseSuccessful && m.Measurements[n-1].Message != "" {
		m.Message += ": last measurement: " + m.Measurements[n-1].Message
	}
}

func (m *MetricRun) status(terminating bool) (Phase, string) {
	if m.LastMeasuredAt == nil {
		if terminating {
			return PhaseSuccessful, "run terminated before the first measurement"
		}
		return PhasePending, ""
	}
	if phase, reason := m.limitExceeded(); phase != "" {
		return phase, reason
	}
	l := m.Limits
	if l.ConsecutiveSuccessLimit > 0 && m.ConsecutiveSuccess >= l.ConsecutiveSuccessLimit {
		return PhaseSuccessful, fmt.Sprintf("consecutiveSuccessLimit (%d) reached", l.ConsecutiveSuccessLimit)
	}
	if l.Count != nil && m.Count >= *l.Count {
		failureApplies := l.FailureLimit >= 0
		successApplies := l.ConsecutiveSuccessLimit > 0
		switch {
		case failureApplies && successApplies:
			return PhaseInconclusive, fmt.Sprintf("count (%d) reached without consecutiveSuccessLimit (%d) and within failureLimit (%d)", *l.Count, l.ConsecutiveSuccessLimit, l.FailureLimit)
		case successApplies:
			return PhaseFailed, fmt.Sprintf("count (%d) reached without consecutiveSuccessLimit (%d)", *l.Count, l.ConsecutiveSuccessLimit)
		}
		return PhaseSuccessful, fmt.Sprintf("count (%d) reached", *l.Count)
	}
	if terminating {
		return PhaseSuccessful, "run terminated"
	}
	return PhaseRunning, ""
}

// limitExceeded is Argo Rollouts' assessMetricFailureInconclusiveOrError.
// A later check wins, so errors outrank failures; Argo lets Inconclusive
// outrank Failed, which cannot happen here because each Step adds at most
// one measurement per metric and a metric stops at its first exceeded
// limit.
func (m *MetricRun) limitExceeded() (Phase, string) {
	var phase Phase
	var reason string
	l := m.Limits
	if m.Inconclusive > l.InconclusiveLimit {
		phase, reason = PhaseInconclusive, fmt.Sprintf("inconclusive (%d) > inconclusiveLimit (%d)", m.Inconclusive, l.InconclusiveLimit)
	}
	if l.FailureLimit >= 0 && m.Failed > l.FailureLimit {
		phase, reason = PhaseFailed, fmt.Sprintf("failed (%d) > failureLimit (%d)", m.Failed, l.FailureLimit)
	}
	if m.ConsecutiveError > l.ConsecutiveErrorLimit {
		phase, reason = PhaseError, fmt.Sprintf("consecutiveErrors (%d) > consecutiveErrorLimit (%d)", m.ConsecutiveError, l.ConsecutiveErrorLimit)
	}
	return phase, reason
}
