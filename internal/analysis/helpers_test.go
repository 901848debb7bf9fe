package analysis_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/cell"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// answer is one scripted provider reply.
type answer struct {
	value analysis.Value
	err   error
}

func ok(v any) answer        { return answer{value: analysis.Value{Result: v, Raw: v}} }
func noData() answer         { return answer{value: analysis.Value{NoData: true}} }
func fails(err error) answer { return answer{err: err} }
func outage() answer {
	return fails(&analysis.ProviderError{Provider: analysis.KindDatadog, Op: "QueryMetrics", StatusCode: 500, Err: errors.New("boom")})
}
func throttled(d time.Duration) answer {
	return fails(&analysis.ProviderError{Provider: analysis.KindDatadog, Op: "QueryMetrics", StatusCode: 429, Throttled: true, RetryAfter: d})
}

type call struct {
	metric cell.Metric
	window analysis.Window
}

// fakeProvider replies from a script per metric name; the last answer
// repeats.
type fakeProvider struct {
	mu     sync.Mutex
	script map[string][]answer
	calls  []call
}

func (f *fakeProvider) Measure(_ context.Context, m cell.Metric, w analysis.Window) (analysis.Value, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{metric: m, window: w})
	s := f.script[m.Name]
	if len(s) == 0 {
		return analysis.Value{}, errors.New("no scripted answer for " + m.Name)
	}
	a := s[0]
	if len(s) > 1 {
		f.script[m.Name] = s[1:]
	}
	return a.value, a.err
}

func (f *fakeProvider) callsFor(name string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.calls {
		if c.metric.Name == name {
			out = append(out, c)
		}
	}
	return out
}

type metricOpt func(*cell.Metric)

func ddMetric(name string, opts ...metricOpt) cell.Metric {
	m := cell.Metric{
		Name:             name,
		SuccessCondition: "result < 1",
		Provider:         cell.MetricProvider{Datadog: &cell.DatadogMetric{Query: "avg:errors{service:web}"}},
	}
	for _, o := range opts {
		o(&m)
	}
	return m
}

func count(n int32) metricOpt { return func(m *cell.Metric) { m.Count = cell.Int(n) } }
func interval(d time.Duration) metricOpt {
	return func(m *cell.Metric) { m.Interval = &cell.Duration{Duration: d} }
}
func initialDelay(d time.Duration) metricOpt {
	return func(m *cell.Metric) { m.InitialDelay = &cell.Duration{Duration: d} }
}
func failureLimit(n int32) metricOpt { return func(m *cell.Metric) { m.FailureLimit = cell.Int(n) } }
func inconclusiveLimit(n int32) metricOpt {
	return func(m *cell.Metric) { m.InconclusiveLimit = cell.Int(n) }
}
func errorLimit(n int32) metricOpt {
	return func(m *cell.Metric) { m.ConsecutiveErrorLimit = cell.Int(n) }
}
func successLimit(n int32) metricOpt {
	return func(m *cell.Metric) { m.ConsecutiveSuccessLimit = cell.Int(n) }
}
func conditions(success, failure string) metricOpt {
	return func(m *cell.Metric) { m.SuccessCondition, m.FailureCondition = success, failure }
}

func template(name string, metrics ...cell.Metric) cell.AnalysisTemplate {
	return cell.AnalysisTemplate{
		APIVersion: "argoproj.io/v1alpha1",
		Kind:       cell.KindAnalysisTemplate,
		Metadata:   cell.Metadata{Name: name},
		Spec:       cell.AnalysisTemplateSpec{Metrics: metrics},
	}
}

func strp(s string) *string { return &s }

// drive calls Step until the run completes (or maxSteps), waking at NextAt
// like the state machine's Wait state, and round-trips the run through
// JSON between Steps as Step Functions does.
func drive(t *testing.T, run *analysis.Run, providers analysis.Providers, maxSteps int) (*analysis.Run, []analysis.Record) {
	t.Helper()
	var records []analysis.Record
	now := t0
	if run.NextAt != nil {
		now = *run.NextAt
	}
	for i := 0; i < maxSteps; i++ {
		res, err := analysis.Step(context.Background(), run, providers, now)
		if err != nil {
			t.Fatalf("Step at %s: %v", now, err)
		}
		records = append(records, res.Measurements...)
		run = roundTrip(t, run)
		if res.Phase != run.Phase {
			t.Fatalf("StepResult phase %s, run phase %s", res.Phase, run.Phase)
		}
		if run.Phase.Completed() {
			if res.NextAt != nil || run.NextAt != nil {
				t.Fatalf("completed run still has NextAt %v", run.NextAt)
			}
			return run, records
		}
		if res.NextAt == nil {
			t.Fatalf("running run without NextAt after step %d: %+v", i, run)
		}
		if !res.NextAt.After(now) {
			t.Fatalf("NextAt %s is not after now %s", res.NextAt, now)
		}
		now = *res.NextAt
	}
	t.Fatalf("run still %s after %d steps", run.Phase, maxSteps)
	return run, records
}

func roundTrip(t *testing.T, run *analysis.Run) *analysis.Run {
	t.Helper()
	b, err := json.Marshal(run)
	if err != nil {
		t.Fatalf("marshal run: %v", err)
	}
	var out analysis.Run
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal run: %v", err)
	}
	return &out
}

func metricRun(t *testing.T, run *analysis.Run, name string) analysis.MetricRun {
	t.Helper()
	for _, m := range run.Metrics {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("run has no metric %q", name)
	return analysis.MetricRun{}
}
