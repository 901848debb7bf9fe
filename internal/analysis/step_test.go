package analysis_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/cell"
)

// TestStepArgoSemantics drives runs through scripted measurements and
// checks Argo Rollouts' scheduling and assessment rules.
func TestStepArgoSemantics(t *testing.T) {
	type metricWant struct {
		phase analysis.Phase
		// at lists when measurements were taken, as offsets from t0.
		at       []time.Duration
		counters *analysis.Counters
		// phases lists the measurements' phases.
		phases []analysis.Phase
	}
	cases := []struct {
		name    string
		metrics []cell.Metric
		dryRun  []string
		script  map[string][]answer
		want    analysis.Phase
		// message, when set, must appear in the run's message.
		message string
		metric  map[string]metricWant
	}{
		{
			name:    "one measurement without interval or count",
			metrics: []cell.Metric{ddMetric("m")},
			script:  map[string][]answer{"m": {ok(0.5)}},
			want:    analysis.PhaseSuccessful,
			metric: map[string]metricWant{"m": {phase: analysis.PhaseSuccessful, at: []time.Duration{0},
				counters: &analysis.Counters{Count: 1, Successful: 1, ConsecutiveSuccess: 1}}},
		},
		{
			name:    "count and interval schedule measurements",
			metrics: []cell.Metric{ddMetric("m", count(3), interval(time.Minute))},
			script:  map[string][]answer{"m": {ok(0.1)}},
			want:    analysis.PhaseSuccessful,
			metric: map[string]metricWant{"m": {phase: analysis.PhaseSuccessful,
				at:       []time.Duration{0, time.Minute, 2 * time.Minute},
				counters: &analysis.Counters{Count: 3, Successful: 3, ConsecutiveSuccess: 3}}},
		},
		{
			name:    "initialDelay postpones the first measurement",
			metrics: []cell.Metric{ddMetric("m", count(2), interval(time.Minute), initialDelay(90*time.Second))},
			script:  map[string][]answer{"m": {ok(0.1)}},
			want:    analysis.PhaseSuccessful,
			metric: map[string]metricWant{"m": {phase: analysis.PhaseSuccessful,
				at: []time.Duration{90 * time.Second, 150 * time.Second}}},
		},
		{
			name:    "failureLimit 0 fails on the first failed measurement",
			metrics: []cell.Metric{ddMetric("m", count(3), interval(time.Minute))},
			script:  map[string][]answer{"m": {ok(5.0)}},
			want:    analysis.PhaseFailed,
			message: "failed (1) > failureLimit (0)",
			metric: map[string]metricWant{"m": {phase: analysis.PhaseFailed, at: []time.Duration{0},
				counters: &analysis.Counters{Count: 1, Failed: 1}}},
		},
		{
			name:    "failureLimit 1 tolerates one failure",
			metrics: []cell.Metric{ddMetric("m", count(3), interval(time.Minute), failureLimit(1))},
			script:  map[string][]answer{"m": {ok(5.0), ok(0.1), ok(0.2)}},
			want:    analysis.PhaseSuccessful,
			metric: map[string]metricWant{"m": {phase: analysis.PhaseSuccessful,
				phases:   []analysis.Phase{analysis.PhaseFailed, analysis.PhaseSuccessful, analysis.PhaseSuccessful},
				counters: &analysis.Counters{Count: 3, Successful: 2, Failed: 1, ConsecutiveSuccess: 2}}},
		},
		{
			name:    "failureLimit 1 fails on the second failure",
			metrics: []cell.Metric{ddMetric("m", count(5), interval(time.Minute), failureLimit(1))},
			script:  map[string][]answer{"m": {ok(5.0), ok(0.1), ok(7.0), ok(0.1)}},
			want:    analysis.PhaseFailed,
			message: "failed (2) > failureLimit (1)",
			metric: map[string]metricWant{"m": {phase: analysis.PhaseFailed,
				at: []time.Duration{0, time.Minute, 2 * time.Minute}}},
		},
		{
			name:    "inconclusive beyond inconclusiveLimit makes the run inconclusive",
			metrics: []cell.Metric{ddMetric("m", count(3), interval(time.Minute), conditions("result < 1", "result > 5"))},
			script:  map[string][]answer{"m": {ok(3.0)}},
			want:    analysis.PhaseInconclusive,
			message: "inconclusive (1) > inconclusiveLimit (0)",
			metric:  map[string]metricWant{"m": {phase: analysis.PhaseInconclusive, at: []time.Duration{0}}},
		},
		{
			name:    "inconclusiveLimit tolerates inconclusive measurements",
			metrics: []cell.Metric{ddMetric("m", count(3), interval(time.Minute), inconclusiveLimit(1), conditions("result < 1", "result > 5"))},
			script:  map[string][]answer{"m": {ok(3.0), ok(0.1), ok(0.1)}},
			want:    analysis.PhaseSuccessful,
			metric: map[string]metricWant{"m": {phase: analysis.PhaseSuccessful,
				counters: &analysis.Counters{Count: 3, Successful: 2, Inconclusive: 1, ConsecutiveSuccess: 2}}},
		},
		{
			name:    "errors beyond the default consecutiveErrorLimit fail the run, with backoff",
			metrics: []cell.Metric{ddMetric("m", count(2), interval(time.Minute))},
			script:  map[string][]answer{"m": {outage()}},
			want:    analysis.PhaseFailed,
			message: "consecutiveErrors (5) > consecutiveErrorLimit (4)",
			metric: map[string]metricWant{"m": {phase: analysis.PhaseError,
				at:       []time.Duration{0, 10 * time.Second, 30 * time.Second, 70 * time.Second, 150 * time.Second},
				counters: &analysis.Counters{Error: 5, ConsecutiveError: 5}}},
		},
		{
			name:    "errors within consecutiveErrorLimit are retried and reset by a success",
			metrics: []cell.Metric{ddMetric("m", count(2), interval(time.Minute))},
			script:  map[string][]answer{"m": {outage(), outage(), ok(0.1), outage(), ok(0.2)}},
			want:    analysis.PhaseSuccessful,
			metric: map[string]metricWant{"m": {phase: analysis.PhaseSuccessful,
				at: []time.Duration{0, 10 * time.Second, 30 * time.Second, 90 * time.Second, 100 * time.Second},
				phases: []analysis.Phase{analysis.PhaseError, analysis.PhaseError, analysis.PhaseSuccessful,
					analysis.PhaseError, analysis.PhaseSuccessful},
				counters: &analysis.Counters{Count: 2, Successful: 2, Error: 3, ConsecutiveSuccess: 1}}},
		},
		{
			name:    "consecutiveErrorLimit 0 fails on the first error",
			metrics: []cell.Metric{ddMetric("m", errorLimit(0))},
			script:  map[string][]answer{"m": {outage()}},
			want:    analysis.PhaseFailed,
			metric:  map[string]metricWant{"m": {phase: analysis.PhaseError, at: []time.Duration{0}}},
		},
		{
			name:    "throttling waits for Retry-After",
			metrics: []cell.Metric{ddMetric("m")},
			script:  map[string][]answer{"m": {throttled(90 * time.Second), ok(0.1)}},
			want:    analysis.PhaseSuccessful,
			metric: map[string]metricWant{"m": {phase: analysis.PhaseSuccessful,
				at: []time.Duration{0, 90 * time.Second}}},
		},
		{
			name:    "only successCondition: not successful is failed",
			metrics: []cell.Metric{ddMetric("m", conditions("result < 1", ""))},
			script:  map[string][]answer{"m": {ok(2.0)}},
			want:    analysis.PhaseFailed,
			metric:  map[string]metricWant{"m": {phases: []analysis.Phase{analysis.PhaseFailed}}},
		},
		{
			name:    "only failureCondition: not failed is successful",
			metrics: []cell.Metric{ddMetric("m", conditions("", "result > 5"))},
			script:  map[string][]answer{"m": {ok(2.0)}},
			want:    analysis.PhaseSuccessful,
			metric:  map[string]metricWant{"m": {phases: []analysis.Phase{analysis.PhaseSuccessful}}},
		},
		{
			name:    "only failureCondition: failed",
			metrics: []cell.Metric{ddMetric("m", conditions("", "result > 5"))},
			script:  map[string][]answer{"m": {ok(6.0)}},
			want:    analysis.PhaseFailed,
			metric:  map[string]metricWant{"m": {phases: []analysis.Phase{analysis.PhaseFailed}}},
		},
		{
			name:    "both conditions true: failure wins",
			metrics: []cell.Metric{ddMetric("m", conditions("result > 0", "result > 5"))},
			script:  map[string][]answer{"m": {ok(6.0)}},
			want:    analysis.PhaseFailed,
			metric:  map[string]metricWant{"m": {phases: []analysis.Phase{analysis.PhaseFailed}}},
		},
		{
			name:    "list results keep Argo's shape",
			metrics: []cell.Metric{ddMetric("m", conditions("all(result, {# < 1}) && result[0] < 0.5", ""))},
			script:  map[string][]answer{"m": {ok([]float64{0.2, 0.9})}},
			want:    analysis.PhaseSuccessful,
		},
		{
			name:    "a condition that cannot be evaluated is an error",
			metrics: []cell.Metric{ddMetric("m", conditions("result[3] < 1", ""), errorLimit(0))},
			script:  map[string][]answer{"m": {ok([]float64{0.2})}},
			want:    analysis.PhaseFailed,
			metric:  map[string]metricWant{"m": {phase: analysis.PhaseError, phases: []analysis.Phase{analysis.PhaseError}}},
		},
		{
			name:    "no data is inconclusive, not success",
			metrics: []cell.Metric{ddMetric("m", conditions("default(result, 0) < 1", ""))},
			script:  map[string][]answer{"m": {noData()}},
			want:    analysis.PhaseInconclusive,
			message: "no data",
			metric:  map[string]metricWant{"m": {phases: []analysis.Phase{analysis.PhaseInconclusive}}},
		},
		{
			name:    "no data with a failureCondition that holds without data fails",
			metrics: []cell.Metric{ddMetric("m", conditions("result < 1", "isNil(result) || result > 5"))},
			script:  map[string][]answer{"m": {noData()}},
			want:    analysis.PhaseFailed,
			metric:  map[string]metricWant{"m": {phases: []analysis.Phase{analysis.PhaseFailed}}},
		},
		{
			name:    "no data within inconclusiveLimit, then data",
			metrics: []cell.Metric{ddMetric("m", count(2), interval(time.Minute), inconclusiveLimit(1))},
			script:  map[string][]answer{"m": {noData(), ok(0.1)}},
			want:    analysis.PhaseSuccessful,
			metric: map[string]metricWant{"m": {phase: analysis.PhaseSuccessful,
				phases: []analysis.Phase{analysis.PhaseInconclusive, analysis.PhaseSuccessful}}},
		},
		{
			name:    "consecutiveSuccessLimit ends the metric early",
			metrics: []cell.Metric{ddMetric("m", count(5), interval(time.Minute), successLimit(2), failureLimit(-1))},
			script:  map[string][]answer{"m": {ok(5.0), ok(0.1), ok(0.1)}},
			want:    analysis.PhaseSuccessful,
			message: "",
			metric: map[string]metricWant{"m": {phase: analysis.PhaseSuccessful,
				at: []time.Duration{0, time.Minute, 2 * time.Minute}}},
		},
		{
			name:    "count reached without consecutiveSuccessLimit and within failureLimit is inconclusive",
			metrics: []cell.Metric{ddMetric("m", count(4), interval(time.Minute), successLimit(3), failureLimit(1))},
			script:  map[string][]answer{"m": {ok(0.1), ok(5.0), ok(0.1), ok(0.1)}},
			want:    analysis.PhaseInconclusive,
			metric:  map[string]metricWant{"m": {phase: analysis.PhaseInconclusive, at: []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute}}},
		},
		{
			name:    "count reached without consecutiveSuccessLimit when failureLimit is disabled fails",
			metrics: []cell.Metric{ddMetric("m", count(3), interval(time.Minute), successLimit(2), failureLimit(-1))},
			script:  map[string][]answer{"m": {ok(0.1), ok(5.0), ok(0.1)}},
			want:    analysis.PhaseFailed,
			metric:  map[string]metricWant{"m": {phase: analysis.PhaseFailed}},
		},
		{
			name:    "a failing dry-run metric does not decide the run",
			metrics: []cell.Metric{ddMetric("real", count(2), interval(time.Minute)), ddMetric("trial", count(2), interval(time.Minute))},
			dryRun:  []string{"trial"},
			script:  map[string][]answer{"real": {ok(0.1)}, "trial": {ok(9.0)}},
			want:    analysis.PhaseSuccessful,
			metric: map[string]metricWant{
				"real":  {phase: analysis.PhaseSuccessful, at: []time.Duration{0, time.Minute}},
				"trial": {phase: analysis.PhaseFailed, at: []time.Duration{0}},
			},
		},
		{
			name:    "a failed metric ends the run and stops the others",
			metrics: []cell.Metric{ddMetric("fast", count(5), interval(time.Minute)), ddMetric("slow", count(2), interval(2*time.Minute), failureLimit(1))},
			script:  map[string][]answer{"fast": {ok(0.1), ok(0.1), ok(9.0)}, "slow": {ok(0.1)}},
			want:    analysis.PhaseFailed,
			message: `metric "fast" assessed Failed`,
			metric: map[string]metricWant{
				"fast": {phase: analysis.PhaseFailed, at: []time.Duration{0, time.Minute, 2 * time.Minute}},
				// slow measured at 0 and 2m, reached its count at 2m: done.
				"slow": {phase: analysis.PhaseSuccessful, at: []time.Duration{0, 2 * time.Minute}},
			},
		},
		{
			name: "an inconclusive metric ends the run as inconclusive and stops the others",
			metrics: []cell.Metric{
				ddMetric("a", count(5), interval(time.Minute), conditions("result < 1", "result > 5")),
				ddMetric("b", count(5), interval(time.Minute)),
			},
			script: map[string][]answer{"a": {ok(0.1), ok(3.0)}, "b": {ok(0.1)}},
			want:   analysis.PhaseInconclusive,
			metric: map[string]metricWant{
				"a": {phase: analysis.PhaseInconclusive, at: []time.Duration{0, time.Minute}},
				"b": {phase: analysis.PhaseSuccessful, at: []time.Duration{0, time.Minute}},
			},
		},
		{
			name: "metrics with different intervals wake the run at the earliest",
			metrics: []cell.Metric{
				ddMetric("every-minute", count(3), interval(time.Minute)),
				ddMetric("delayed", count(1), initialDelay(90*time.Second)),
			},
			script: map[string][]answer{"every-minute": {ok(0.1)}, "delayed": {ok(0.1)}},
			want:   analysis.PhaseSuccessful,
			metric: map[string]metricWant{
				"every-minute": {at: []time.Duration{0, time.Minute, 2 * time.Minute}},
				"delayed":      {at: []time.Duration{90 * time.Second}},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := template("t", tc.metrics...)
			for _, d := range tc.dryRun {
				tmpl.Spec.DryRun = append(tmpl.Spec.DryRun, cell.DryRun{MetricName: "^" + d + "$"})
			}
			run, err := analysis.Start([]cell.AnalysisTemplate{tmpl}, nil, t0)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			fake := &fakeProvider{script: tc.script}
			run, records := drive(t, run, analysis.Providers{analysis.KindDatadog: fake}, 50)
			if run.Phase != tc.want {
				t.Fatalf("run phase %s (%s), want %s", run.Phase, run.Message, tc.want)
			}
			if tc.message != "" && !strings.Contains(run.Message, tc.message) {
				t.Errorf("run message %q lacks %q", run.Message, tc.message)
			}
			if run.CompletedAt == nil {
				t.Errorf("completed run has no CompletedAt")
			}
			for name, want := range tc.metric {
				m := metricRun(t, run, name)
				if want.phase != "" && m.Phase != want.phase {
					t.Errorf("metric %s phase %s (%s), want %s", name, m.Phase, m.Message, want.phase)
				}
				var at []time.Duration
				var phases []analysis.Phase
				for _, r := range records {
					if r.Metric == name {
						at = append(at, r.At.Sub(t0))
						phases = append(phases, r.Phase)
					}
				}
				if want.at != nil && !reflect.DeepEqual(at, want.at) {
					t.Errorf("metric %s measured at %v, want %v", name, at, want.at)
				}
				if want.phases != nil && !reflect.DeepEqual(phases, want.phases) {
					t.Errorf("metric %s measurement phases %v, want %v", name, phases, want.phases)
				}
				if want.counters != nil && m.Counters != *want.counters {
					t.Errorf("metric %s counters %+v, want %+v", name, m.Counters, *want.counters)
				}
				if calls := fake.callsFor(name); len(calls) != len(at) {
					t.Errorf("metric %s: provider called %d times, %d records", name, len(calls), len(at))
				}
			}
		})
	}
}

func TestStepRecordsWhatWasAsked(t *testing.T) {
	tmpl := template("error-rate", ddMetric("errors",
		conditions("result < {{args.threshold}}", ""),
		func(m *cell.Metric) {
			m.Provider.Datadog.Query = "sum:errors{tg:{{args.canary-target-group}}}"
			m.Provider.Datadog.Interval = &cell.Duration{Duration: 10 * time.Minute}
		}))
	tmpl.Spec.Args = []cell.TemplateArg{{Name: "threshold", Value: strp("0.5")}, {Name: cell.ArgCanaryTargetGroup}}
	run, err := analysis.Start([]cell.AnalysisTemplate{tmpl}, map[string]string{cell.ArgCanaryTargetGroup: "targetgroup/web-v2/abc"}, t0)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	fake := &fakeProvider{script: map[string][]answer{"errors": {{value: analysis.Value{Result: 0.25, Raw: map[string]any{"points": []float64{0.25}}, Message: "a note"}}}}}
	res, err := analysis.Step(context.Background(), run, analysis.Providers{analysis.KindDatadog: fake}, t0)
	if err != nil {
		t.Fatalf("Step: %v", err)
	}
	if len(res.Measurements) != 1 {
		t.Fatalf("%d measurements, want 1", len(res.Measurements))
	}
	r := res.Measurements[0]
	want := analysis.Window{Start: t0.Add(-10 * time.Minute), End: t0}
	checks := []struct {
		what      string
		got, want any
	}{
		{"metric", r.Metric, "errors"},
		{"template", r.Template, "error-rate"},
		{"provider", r.Provider, analysis.KindDatadog},
		{"query", r.Query, "sum:errors{tg:targetgroup/web-v2/abc}"},
		{"condition", r.SuccessCondition, "result < 0.5"},
		{"window", r.Window, want},
		{"value", string(r.Value), "0.25"},
		{"raw", string(r.Raw), `{"points":[0.25]}`},
		{"phase", r.Phase, analysis.PhaseSuccessful},
		{"metric phase", r.MetricPhase, analysis.PhaseSuccessful},
		{"message", r.Message, "a note"},
		{"run phase", res.Phase, analysis.PhaseSuccessful},
		{"provider query", fake.calls[0].metric.Provider.Datadog.Query, "sum:errors{tg:targetgroup/web-v2/abc}"},
		{"provider window", fake.calls[0].window, want},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestStepIsIdempotentBeforeDueAndAfterCompletion(t *testing.T) {
	run, err := analysis.Start([]cell.AnalysisTemplate{template("t", ddMetric("m", initialDelay(time.Minute)))}, nil, t0)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if run.NextAt == nil || !run.NextAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("NextAt %v, want %s", run.NextAt, t0.Add(time.Minute))
	}
	fake := &fakeProvider{script: map[string][]answer{"m": {ok(0.1)}}}
	providers := analysis.Providers{analysis.KindDatadog: fake}
	res, err := analysis.Step(context.Background(), run, providers, t0.Add(59*time.Second))
	if err != nil {
		t.Fatalf("Step: %v", err)
	}
	if len(res.Measurements) != 0 || res.Phase != analysis.PhaseRunning || len(fake.calls) != 0 {
		t.Fatalf("early Step measured %d (calls %d), phase %s", len(res.Measurements), len(fake.calls), res.Phase)
	}
	res, err = analysis.Step(context.Background(), run, providers, t0.Add(time.Minute))
	if err != nil || res.Phase != analysis.PhaseSuccessful || len(res.Measurements) != 1 {
		t.Fatalf("due Step: %v, phase %s, %d measurements", err, res.Phase, len(res.Measurements))
	}
	res, err = analysis.Step(context.Background(), run, providers, t0.Add(time.Hour))
	if err != nil || res.Phase != analysis.PhaseSuccessful || len(res.Measurements) != 0 || len(fake.calls) != 1 {
		t.Fatalf("Step after completion: %v, phase %s, %d measurements, %d calls", err, res.Phase, len(res.Measurements), len(fake.calls))
	}
}

func TestStepLeavesRunUnchangedWhenContextEnds(t *testing.T) {
	run, err := analysis.Start([]cell.AnalysisTemplate{template("t", ddMetric("m"))}, nil, t0)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	before, _ := json.Marshal(run)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fake := &fakeProvider{script: map[string][]answer{"m": {outage()}}}
	if _, err := analysis.Step(ctx, run, analysis.Providers{analysis.KindDatadog: fake}, t0); err == nil {
		t.Fatal("Step with an ended context succeeded")
	}
	after, _ := json.Marshal(run)
	if string(before) != string(after) {
		t.Fatalf("run changed:\nbefore %s\nafter  %s", before, after)
	}
}

func TestStepWithoutProviderIsAnError(t *testing.T) {
	run, err := analysis.Start([]cell.AnalysisTemplate{template("t", ddMetric("m", errorLimit(0)))}, nil, t0)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	res, err := analysis.Step(context.Background(), run, analysis.Providers{}, t0)
	if err != nil {
		t.Fatalf("Step: %v", err)
	}
	if res.Phase != analysis.PhaseFailed || len(res.Measurements) != 1 || res.Measurements[0].Phase != analysis.PhaseError ||
		!strings.Contains(res.Measurements[0].Message, "no datadog provider") {
		t.Fatalf("got %+v", res)
	}
}

func TestTerminate(t *testing.T) {
	cases := []struct {
		name   string
		script []answer
		steps  int
		want   analysis.Phase
	}{
		{"before any measurement", nil, 0, analysis.PhaseSuccessful},
		{"an indefinite metric that has passed so far", []answer{ok(0.1)}, 2, analysis.PhaseSuccessful},
		{"within failureLimit", []answer{ok(9.0), ok(0.1)}, 2, analysis.PhaseSuccessful},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := ddMetric("m", interval(time.Minute), failureLimit(1), initialDelay(time.Minute))
			run, err := analysis.Start([]cell.AnalysisTemplate{template("t", m)}, nil, t0)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			fake := &fakeProvider{script: map[string][]answer{"m": tc.script}}
			now := t0
			for i := 0; i < tc.steps; i++ {
				now = *run.NextAt
				if _, err := analysis.Step(context.Background(), run, analysis.Providers{analysis.KindDatadog: fake}, now); err != nil {
					t.Fatalf("Step: %v", err)
				}
				if run.Phase != analysis.PhaseRunning {
					t.Fatalf("indefinite metric ended %s", run.Phase)
				}
			}
			res := analysis.Terminate(run, now.Add(time.Second))
			if res.Phase != tc.want || run.Phase != tc.want || !run.Terminated || run.NextAt != nil {
				t.Fatalf("after Terminate: phase %s (%s), terminated %v, next %v", run.Phase, run.Message, run.Terminated, run.NextAt)
			}
			if res, err := analysis.Step(context.Background(), run, analysis.Providers{analysis.KindDatadog: fake}, now.Add(time.Hour)); err != nil || len(res.Measurements) != 0 {
				t.Fatalf("Step after Terminate measured: %v %+v", err, res)
			}
		})
	}
}

func TestRunKeepsRecentMeasurements(t *testing.T) {
	cases := []struct {
		name      string
		retention []cell.MeasurementRetention
		want      int
	}{
		{"default retention", nil, analysis.DefaultMeasurementRetention},
		{"measurementRetention", []cell.MeasurementRetention{{MetricName: "m", Limit: 3}}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := template("t", ddMetric("m", count(12), interval(time.Minute)))
			tmpl.Spec.MeasurementRetention = tc.retention
			run, err := analysis.Start([]cell.AnalysisTemplate{tmpl}, nil, t0)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			run, records := drive(t, run, analysis.Providers{analysis.KindDatadog: &fakeProvider{script: map[string][]answer{"m": {ok(0.1)}}}}, 20)
			m := metricRun(t, run, "m")
			if len(records) != 12 || m.Count != 12 {
				t.Fatalf("%d records, count %d, want 12", len(records), m.Count)
			}
			if len(m.Measurements) != tc.want {
				t.Fatalf("run keeps %d measurements, want %d", len(m.Measurements), tc.want)
			}
			if last := m.Measurements[len(m.Measurements)-1]; !last.At.Equal(t0.Add(11 * time.Minute)) {
				t.Fatalf("last kept measurement at %s, want the newest", last.At)
			}
		})
	}
}

func TestRunTruncatesLargeValues(t *testing.T) {
	big := make([]float64, 3000)
	for i := range big {
		big[i] = 0.5
	}
	run, err := analysis.Start([]cell.AnalysisTemplate{template("t", ddMetric("m", conditions("len(result) > 0", "")))}, nil, t0)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	res, err := analysis.Step(context.Background(), run, analysis.Providers{analysis.KindDatadog: &fakeProvider{script: map[string][]answer{"m": {ok(big)}}}}, t0)
	if err != nil {
		t.Fatalf("Step: %v", err)
	}
	if n := len(res.Measurements[0].Value); n <= analysis.MaxStoredValue {
		t.Fatalf("record value is %d bytes, want the whole value", n)
	}
	kept := run.Metrics[0].Measurements[0].Value
	if len(kept) > analysis.MaxStoredValue || !strings.Contains(string(kept), "truncated") {
		t.Fatalf("run keeps %d bytes: %.80s", len(kept), kept)
	}
}
