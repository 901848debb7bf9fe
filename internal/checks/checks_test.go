package checks_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/weights"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestStartResolvesEmbeddedTemplatesBeforeSharedOnes(t *testing.T) {
	c := webCell("web", []string{"errors", "latency"},
		template("errors", cwMetric("cw-5xx", withInitialDelay(90*time.Second))))
	e := newEnv(t, c)
	// A shared template of the same name is hidden by the embedded one.
	shadow := template("errors", ddMetric("shadowed"))
	e.store.templates["errors"] = &shadow
	latency := template("latency", ddMetric("dd-errors", withInitialDelay(30*time.Second)))
	e.store.templates["latency"] = &latency

	st := e.start("web", 1)

	if st.Phase != checks.PhaseRunning || st.Background || st.StepIndex != 1 {
		t.Fatalf("phase %s background %v step %d, want Running, false, 1", st.Phase, st.Background, st.StepIndex)
	}
	if st.Providers != (checks.ProviderFlags{CloudWatch: true, Datadog: true}) {
		t.Errorf("providers = %+v, want both", st.Providers)
	}
	if st.WaitSeconds != 30 {
		t.Errorf("waitSeconds = %d, want 30 (the earliest initialDelay)", st.WaitSeconds)
	}
	if st.Run == nil || !reflect.DeepEqual(st.Run.Templates, []string{"errors", "latency"}) {
		t.Fatalf("run templates = %v", st.Run)
	}
	var names []string
	for _, m := range st.Run.Metrics {
		names = append(names, fmt.Sprintf("%s/%s", m.Name, m.Provider))
	}
	if want := []string{"cw-5xx/cloudWatch", "dd-errors/datadog"}; !reflect.DeepEqual(names, want) {
		t.Errorf("metrics = %v, want %v", names, want)
	}
	started := e.store.eventsOf(checks.EventAnalysisStarted)
	if len(started) != 1 || started[0].Execution != execARN || started[0].Version != "v2" || started[0].Details["templates"] != "errors,latency" {
		t.Errorf("AnalysisStarted events = %+v", started)
	}
}

func TestStartRefusesWhatCannotRun(t *testing.T) {
	cases := []struct {
		name     string
		cell     *cell.Cell
		shared   []cell.AnalysisTemplate
		action   func(*cell.Cell) rollout.Action
		contains []string
	}{
		{
			name:     "missing template",
			cell:     webCell("web", []string{"nope"}),
			contains: []string{`"nope"`, "neither embedded", `Cell "web"`},
		},
		{
			name: "argument without a value",
			cell: webCell("web", []string{"t"}, func() cell.AnalysisTemplate {
				tmpl := template("t", cwMetric("m"))
				tmpl.Spec.Args = append(tmpl.Spec.Args, cell.TemplateArg{Name: "service"})
				return tmpl
			}()),
			contains: []string{`template "t"`, "args.service", "no value"},
		},
		{
			name: "unsupported provider",
			cell: webCell("web", []string{"prom"}),
			shared: []cell.AnalysisTemplate{func() cell.AnalysisTemplate {
				m := cell.Metric{Name: "p", SuccessCondition: "result < 1"}
				raw := json.RawMessage(`{"address":"http://prometheus"}`)
				m.Provider.Prometheus = &raw
				return template("prom", m)
			}()},
			contains: []string{"prometheus", "not supported"},
		},
		{
			name: "not an Analyze action",
			cell: webCell("web", []string{"t"}, template("t", cwMetric("m"))),
			action: func(c *cell.Cell) rollout.Action {
				return rollout.Action{Kind: rollout.ActionPause, StepIndex: 2}
			},
			contains: []string{"Analyze", `"Pause"`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cell)
			for i := range tc.shared {
				e.store.templates[tc.shared[i].Metadata.Name] = &tc.shared[i]
			}
			action := analyzeAction(tc.cell, 1)
			if tc.action != nil {
				action = tc.action(tc.cell)
			}
			_, err := e.starter.Start(e.ctx, "web", execARN, action)
			var invalid *checks.InvalidAnalysisError
			if !errors.As(err, &invalid) {
				t.Fatalf("err = %v (%T), want *InvalidAnalysisError", err, err)
			}
			for _, s := range tc.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if evs := e.store.eventsOf(checks.EventAnalysisStarted); len(evs) != 0 {
				t.Errorf("recorded %d AnalysisStarted events for an analysis that did not start", len(evs))
			}
		})
	}
}

func TestStartNeedsTheLease(t *testing.T) {
	c := webCell("web", []string{"t"}, template("t", cwMetric("m")))
	e := newEnv(t, c)
	e.store.setStatus("web", func(s *rollout.Status) { s.ExecutionARN = otherExec })
	_, err := e.starter.Start(e.ctx, "web", execARN, analyzeAction(c, 1))
	var notHolder *store.NotHolderError
	if !errors.As(err, &notHolder) || notHolder.Holder != otherExec {
		t.Fatalf("err = %v, want *store.NotHolderError naming %s", err, otherExec)
	}
	_, err = e.starter.StartBackground(e.ctx, "web", execARN)
	if !errors.As(err, &notHolder) {
		t.Fatalf("StartBackground err = %v, want *store.NotHolderError", err)
	}
}

func jsonSize(v any) (int, error) {
	b, err := json.Marshal(v)
	return len(b), err
}

func TestDimensions(t *testing.T) {
	lbs := []struct {
		arn, want string
		ok        bool
	}{
		{listenerARN, "app/web-alb/0123456789abcdef", true},
		{"arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/net/edge/0123456789abcdef/0000000000000001", "net/edge/0123456789abcdef", true},
		{"arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:listener/app/x/0123456789abcdef/0000000000000001", "app/x/0123456789abcdef", true},
		{"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/0123456789abcdef/fedcba9876543210/0000000000000009", "app/web/0123456789abcdef", true},
		{stableTG, "", false},
		{"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/gwy/x/0123456789abcdef/0000000000000001", "", false},
		{"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web", "", false},
		{"arn:aws:ec2:us-east-1:123456789012:listener/app/web/0123456789abcdef/fedcba9876543210", "", false},
		{"", "", false},
	}
	for _, tc := range lbs {
		got, err := checks.LoadBalancerDimension(tc.arn)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("LoadBalancerDimension(%q) = %q, %v; want %q (ok %v)", tc.arn, got, err, tc.want, tc.ok)
		}
	}
	tgs := []struct {
		arn, want string
		ok        bool
	}{
		{stableTG, "targetgroup/web-1-v1/1111111111111111", true},
		{"arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:targetgroup/a/0123456789abcdef", "targetgroup/a/0123456789abcdef", true},
		{listenerARN, "", false},
		{"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/a", "", false},
		{"targetgroup/a/0123456789abcdef", "", false},
	}
	for _, tc := range tgs {
		got, err := checks.TargetGroupDimension(tc.arn)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("TargetGroupDimension(%q) = %q, %v; want %q (ok %v)", tc.arn, got, err, tc.want, tc.ok)
		}
	}
}

func TestBuiltinArgs(t *testing.T) {
	const (
		stableB  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-2-v1/3333333333333333"
		canaryB  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-2-v2/4444444444444444"
		outsider = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-3-v1/5555555555555555"
	)
	base := map[string]string{
		cell.ArgCell: "web", cell.ArgStableVersion: "v1", cell.ArgCanaryVersion: "v2",
		cell.ArgLoadBalancer: "app/web-alb/0123456789abcdef",
	}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{"max-errors": "5"}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	cases := []struct {
		name      string
		discovery []inventory.TargetGroup
		noDisc    bool
		status    func(*rollout.Status)
		want      map[string]string
	}{
		{
			name: "discovered by version, routed groups first",
			discovery: []inventory.TargetGroup{
				{ARN: stableTG, Version: "v1"}, {ARN: stableB, Version: "v1"}, {ARN: outsider, Version: "v1"},
				{ARN: canaryTG, Version: "v2"}, {ARN: canaryB, Version: "v2"},
			},
			status: func(s *rollout.Status) {
				s.Weights = weights.Forward{TargetGroups: []weights.TargetGroupWeight{{ARN: stableTG, Weight: 40}, {ARN: stableB, Weight: 40}, {ARN: canaryTG, Weight: 10}, {ARN: canaryB, Weight: 10}}}
			},
			want: with(map[string]string{
				cell.ArgStableTargetGroup: "targetgroup/web-1-v1/1111111111111111", cell.ArgStableTargetGroups: "targetgroup/web-1-v1/1111111111111111,targetgroup/web-2-v1/3333333333333333",
				cell.ArgCanaryTargetGroup: "targetgroup/web-1-v2/2222222222222222", cell.ArgCanaryTargetGroups: "targetgroup/web-1-v2/2222222222222222,targetgroup/web-2-v2/4444444444444444",
			}),
		},
		{
			name:      "discovered groups, none in the action yet",
			discovery: []inventory.TargetGroup{{ARN: stableTG, Version: "v1"}, {ARN: canaryTG, Version: "v2"}},
			status:    func(s *rollout.Status) { s.Weights = weights.Forward{}; s.Snapshot = nil },
			want: with(map[string]string{
				cell.ArgStableTargetGroup: "targetgroup/web-1-v1/1111111111111111", cell.ArgStableTargetGroups: "targetgroup/web-1-v1/1111111111111111",
				cell.ArgCanaryTargetGroup: "targetgroup/web-1-v2/2222222222222222", cell.ArgCanaryTargetGroups: "targetgroup/web-1-v2/2222222222222222",
			}),
		},
		{
			name:   "no discovery: from the status' forward action and snapshot",
			noDisc: true,
			want: with(map[string]string{
				cell.ArgStableTargetGroup: "targetgroup/web-1-v1/1111111111111111", cell.ArgStableTargetGroups: "targetgroup/web-1-v1/1111111111111111",
				cell.ArgCanaryTargetGroup: "targetgroup/web-1-v2/2222222222222222", cell.ArgCanaryTargetGroups: "targetgroup/web-1-v2/2222222222222222",
			}),
		},
		{
			name:      "discovery finds no canary group: the status fills in",
			discovery: []inventory.TargetGroup{{ARN: stableTG, Version: "v1"}},
			want: with(map[string]string{
				cell.ArgStableTargetGroup: "targetgroup/web-1-v1/1111111111111111", cell.ArgStableTargetGroups: "targetgroup/web-1-v1/1111111111111111",
				cell.ArgCanaryTargetGroup: "targetgroup/web-1-v2/2222222222222222", cell.ArgCanaryTargetGroups: "targetgroup/web-1-v2/2222222222222222",
			}),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A template that uses no target group, so that every case
			// starts and shows its arguments.
			m := ddMetric("m")
			tmpl := template("t", m)
			tmpl.Spec.Args = tmpl.Spec.Args[:1]
			c := webCell("web", []string{"t"}, tmpl)
			var opts []envOption
			if tc.noDisc {
				opts = append(opts, func(o *checks.Options) { o.Discovery = nil })
			}
			e := newEnv(t, c, opts...)
			e.disc.groups = tc.discovery
			if tc.status != nil {
				e.store.setStatus("web", tc.status)
			}
			st := e.start("web", 1)
			if !reflect.DeepEqual(st.Run.Args, tc.want) {
				t.Errorf("args:\n got %v\nwant %v", st.Run.Args, tc.want)
			}
			if tc.noDisc == (e.disc.calls > 0) {
				t.Errorf("discovery called %d times", e.disc.calls)
			}
		})
	}

	t.Run("a discovery failure is an error, transient when AWS throttles", func(t *testing.T) {
		e := newEnv(t, webCell("web", []string{"t"}, template("t", cwMetric("m"))))
		e.disc.err = &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
		_, err := e.starter.Start(e.ctx, "web", execARN, analyzeAction(e.store.cells["web"], 1))
		var transient *checks.TransientError
		if !errors.As(checks.Boundary(err), &transient) {
			t.Fatalf("Boundary(%v) is not a *TransientError", err)
		}
	})

	t.Run("the substituted query names the canary's dimensions", func(t *testing.T) {
		e := newEnv(t, webCell("web", []string{"t"}, template("t", cwMetric("m"))))
		st := e.start("web", 1)
		q := st.Run.Metrics[0].Query
		for _, want := range []string{`"value":"targetgroup/web-1-v2/2222222222222222"`, `"value":"app/web-alb/0123456789abcdef"`} {
			if !strings.Contains(q, want) {
				t.Errorf("query %s lacks %s", q, want)
			}
		}
	})
}

func TestPhaseMapping(t *testing.T) {
	cases := []struct {
		name       string
		background bool
		metric     cell.Metric
		replies    []reply
		rounds     int
		want       checks.Phase
		wait       int64
		message    []string
	}{
		{name: "step: passes", metric: cwMetric("m"), replies: []reply{value(1)}, rounds: 1,
			want: checks.PhaseSuccessful, message: []string{"analysis Successful", `"m": last value 1`}},
		{name: "step: fails", metric: func() cell.Metric { m := cwMetric("m"); m.FailureCondition = ""; return m }(), replies: []reply{value(7)}, rounds: 1,
			want: checks.PhaseFailed, message: []string{`metric "m" assessed Failed`, "last value 7", `successCondition (false) "result < 5"`}},
		{name: "step: neither condition holds", metric: cwMetric("m"), replies: []reply{value(7)}, rounds: 1,
			want: checks.PhaseInconclusive, message: []string{"last value 7", `successCondition "result < 5", failureCondition "result >= 10 * 5"`}},
		{name: "step: failureCondition decides", metric: cwMetric("m", withLimits(0, 1, 4)), replies: []reply{value(60)}, rounds: 1,
			want: checks.PhaseFailed, message: []string{"last value 60", `failureCondition "result >= 10 * 5"`}},
		{name: "step: still measuring", metric: cwMetric("m", withCount(3, 45*time.Second)), replies: []reply{value(1)}, rounds: 1,
			want: checks.PhaseRunning, wait: 45, message: []string{"0 of 1", `metric "m" (cloudWatch) measured Successful: value 1`, "next check in 45s"}},
		{name: "step: no data is inconclusive", metric: cwMetric("m"), replies: []reply{noData()}, rounds: 1,
			want: checks.PhaseInconclusive, message: []string{"Inconclusive", "no datapoints"}},
		{name: "step: a provider outage beyond consecutiveErrorLimit fails", metric: cwMetric("m", withLimits(0, 0, 1)), replies: []reply{failure("boom")}, rounds: 3,
			want: checks.PhaseFailed, message: []string{"assessed Error", "consecutiveErrorLimit (1)", "boom"}},
		{name: "background: a provider outage is Error", background: true, metric: cwMetric("m", withLimits(0, 0, 1)), replies: []reply{failure("boom")}, rounds: 3,
			want: checks.PhaseError, message: []string{"assessed Error", "boom"}},
		{name: "background: fails", background: true, metric: cwMetric("m", withCount(5, time.Minute)), replies: []reply{value(1), value(70)}, rounds: 3,
			want: checks.PhaseFailed, message: []string{"last value 70"}},
		{name: "background: waits at most the poll interval", background: true, metric: cwMetric("m", withCount(5, 5*time.Minute)), replies: []reply{value(1)}, rounds: 1,
			want: checks.PhaseRunning, wait: 30},
		{name: "background: success idles until the rollout ends", background: true, metric: cwMetric("m"), replies: []reply{value(1)}, rounds: 1,
			want: checks.PhaseSuccessful, wait: 30},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := webCell("web", []string{"t"}, template("t", tc.metric))
			if tc.background {
				withBackground(c, nil, "t")
			}
			e := newEnv(t, c)
			e.cw.replies = tc.replies
			var st checks.State
			if tc.background {
				st = e.startBackground("web")
			} else {
				st = e.start("web", 1)
			}
			for i := 0; i < tc.rounds && st.Phase == checks.PhaseRunning; i++ {
				st = e.round("web", st)
			}
			if st.Phase != tc.want {
				t.Fatalf("phase = %s (%s), want %s", st.Phase, st.Message, tc.want)
			}
			if st.WaitSeconds != tc.wait {
				t.Errorf("waitSeconds = %d, want %d", st.WaitSeconds, tc.wait)
			}
			for _, s := range tc.message {
				if !strings.Contains(st.Message, s) {
					t.Errorf("message %q lacks %q", st.Message, s)
				}
			}
			if st.Phase != checks.PhaseRunning && st.Phase != checks.PhaseSuccessful || tc.want == checks.PhaseSuccessful {
				if done := e.store.eventsOf(store.EventAnalysisCompleted); len(done) != 1 || done[0].Details["phase"] != string(tc.want) {
					t.Errorf("AnalysisCompleted events = %+v", done)
				}
			}
			// A decided state does not change in the other provider's
			// check or a later round.
			if st.Phase != checks.PhaseRunning {
				calls := e.cw.count()
				again := e.check(e.cwCheck, "web", st)
				if again.Phase != st.Phase || again.Message != st.Message || e.cw.count() != calls {
					t.Errorf("a decided analysis changed: %s → %s (%d → %d calls)", st.Phase, again.Phase, calls, e.cw.count())
				}
			}
		})
	}
}

func TestLeaseLostStops(t *testing.T) {
	for _, background := range []bool{false, true} {
		t.Run(fmt.Sprintf("background=%v", background), func(t *testing.T) {
			c := webCell("web", []string{"t"}, template("t", cwMetric("m", withCount(3, time.Minute))))
			withBackground(c, nil, "t")
			e := newEnv(t, c)
			var st checks.State
			if background {
				st = e.startBackground("web")
			} else {
				st = e.start("web", 1)
			}
			st = e.round("web", st)
			if st.Phase != checks.PhaseRunning {
				t.Fatalf("phase %s, want Running before the lease is lost", st.Phase)
			}
			e.store.setStatus("web", func(s *rollout.Status) { s.ExecutionARN = otherExec; s.Phase = rollout.PhaseProgressing })
			calls := e.cw.count()
			st = e.round("web", st)
			if st.Phase != checks.PhaseStopped || st.WaitSeconds != 0 {
				t.Fatalf("phase %s wait %d, want Stopped 0", st.Phase, st.WaitSeconds)
			}
			if !strings.Contains(st.Message, "no longer holds the lease") || !strings.Contains(st.Message, otherExec) {
				t.Errorf("message %q does not say the lease moved to %s", st.Message, otherExec)
			}
			if e.cw.count() != calls {
				t.Errorf("measured after losing the lease")
			}
			if background != st.Run.Terminated {
				t.Errorf("run terminated = %v, want %v (Terminate for background only)", st.Run.Terminated, background)
			}
			if done := e.store.eventsOf(store.EventAnalysisCompleted); len(done) != 1 || done[0].Details["phase"] != "Stopped" {
				t.Errorf("AnalysisCompleted events = %+v", done)
			}
		})
	}
}

func TestBackgroundStopsWhenTheStepsAreOver(t *testing.T) {
	for _, phase := range []rollout.Phase{rollout.PhaseRolledBack, rollout.PhaseRollingBack, rollout.PhaseStable} {
		t.Run(string(phase), func(t *testing.T) {
			c := withBackground(webCell("web", []string{"t"}, template("t", cwMetric("m", withCount(3, time.Minute)))), nil, "t")
			e := newEnv(t, c)
			st := e.round("web", e.startBackground("web"))
			e.store.setStatus("web", func(s *rollout.Status) { s.Phase = phase })
			st = e.round("web", st)
			if st.Phase != checks.PhaseStopped || !st.Run.Terminated || !strings.Contains(st.Message, string(phase)) {
				t.Fatalf("phase %s terminated %v message %q", st.Phase, st.Run.Terminated, st.Message)
			}
		})
	}
	t.Run("Paused and Finalizing keep it running", func(t *testing.T) {
		c := withBackground(webCell("web", []string{"t"}, template("t", cwMetric("m", withCount(5, 30*time.Second)))), nil, "t")
		e := newEnv(t, c)
		st := e.startBackground("web")
		for _, phase := range []rollout.Phase{rollout.PhasePaused, rollout.PhaseFinalizing, rollout.PhaseProgressing} {
			e.store.setStatus("web", func(s *rollout.Status) { s.Phase = phase })
			if st = e.round("web", st); st.Phase != checks.PhaseRunning {
				t.Fatalf("status %s: phase %s (%s)", phase, st.Phase, st.Message)
			}
		}
		if n := e.cw.count(); n != 3 {
			t.Errorf("%d measurements, want 3", n)
		}
	})
}

func TestBackgroundWithoutAnalysisIsStopped(t *testing.T) {
	e := newEnv(t, webCell("web", []string{"t"}, template("t", cwMetric("m"))))
	st := e.startBackground("web")
	if st.Phase != checks.PhaseStopped || !st.Background || st.Run != nil || st.Providers != (checks.ProviderFlags{}) {
		t.Fatalf("state = %+v, want Stopped background without run or providers", st)
	}
	if !strings.Contains(st.Message, "no background analysis") {
		t.Errorf("message %q", st.Message)
	}
}

func TestBackgroundStartsAtItsStartingStep(t *testing.T) {
	c := withBackground(webCell("web", []string{"t"}, template("t", ddMetric("dd", withCount(10, time.Minute)))), ptr(int32(2)), "t")
	e := newEnv(t, c)
	e.store.setStatus("web", func(s *rollout.Status) { s.StepIndex = 0 })

	st := e.startBackground("web")
	if st.Phase != checks.PhaseRunning || st.Run != nil || st.WaitSeconds != 30 {
		t.Fatalf("before startingStep: phase %s run %v wait %d, want Running, no run, 30", st.Phase, st.Run != nil, st.WaitSeconds)
	}
	if st.Providers != (checks.ProviderFlags{Datadog: true}) {
		t.Fatalf("providers = %+v: the check that starts the run must be called", st.Providers)
	}
	if !strings.Contains(st.Message, "starts at step 2") {
		t.Errorf("message %q", st.Message)
	}

	e.store.setStatus("web", func(s *rollout.Status) { s.StepIndex = 1 })
	if st = e.round("web", st); st.Run != nil || st.Phase != checks.PhaseRunning || e.dd.count() != 0 {
		t.Fatalf("at step 1: run %v phase %s, %d measurements", st.Run != nil, st.Phase, e.dd.count())
	}

	e.store.setStatus("web", func(s *rollout.Status) { s.StepIndex = 2 })
	st = e.round("web", st)
	if st.Run == nil || st.Phase != checks.PhaseRunning || st.StepIndex != 2 || e.dd.count() != 1 {
		t.Fatalf("at step 2: run %v phase %s step %d, %d measurements; want a run measured once", st.Run != nil, st.Phase, st.StepIndex, e.dd.count())
	}
	if n := len(e.store.eventsOf(checks.EventAnalysisStarted)); n != 1 {
		t.Errorf("%d AnalysisStarted events, want 1", n)
	}
}

func TestBackgroundInconclusivePausesTheRolloutAndRestarts(t *testing.T) {
	c := withBackground(webCell("web", []string{"t"}, template("t", cwMetric("bg-5xx", withCount(4, 30*time.Second)))), nil, "t")
	e := newEnv(t, c)
	e.cw.replies = []reply{value(1), noData(), value(1)}
	st := e.startBackground("web")
	first := st.Run.StartedAt
	st = e.round("web", st) // Successful measurement
	st = e.round("web", st) // no data: inconclusive (> inconclusiveLimit 0)

	if st.Phase != checks.PhaseRunning || !st.Background {
		t.Fatalf("phase %s, want Running (restarted)", st.Phase)
	}
	if st.Run == nil || !st.Run.StartedAt.After(first) || st.Run.Metrics[0].Count != 0 || st.Run.Phase != analysis.PhaseRunning {
		t.Fatalf("run not restarted afresh: %+v", st.Run)
	}
	status := e.store.getStatus("web")
	if !status.PauseRequested || !strings.Contains(status.PauseReason, `"bg-5xx"`) || !strings.Contains(status.PauseReason, "Inconclusive") {
		t.Fatalf("status pauseRequested %v reason %q", status.PauseRequested, status.PauseReason)
	}
	if !strings.Contains(st.Message, "okra rollout promote") {
		t.Errorf("message %q does not say what happens next", st.Message)
	}
	if evs := e.store.eventsOf(checks.EventPauseRequested); len(evs) != 1 || evs[0].Message != status.PauseReason {
		t.Errorf("PauseRequested events = %+v", evs)
	}
	if done := e.store.eventsOf(store.EventAnalysisCompleted); len(done) != 1 || done[0].Details["phase"] != "Inconclusive" {
		t.Errorf("AnalysisCompleted events = %+v", done)
	}
	if n := len(e.store.eventsOf(checks.EventAnalysisStarted)); n != 2 {
		t.Errorf("%d AnalysisStarted events, want 2 (start and restart)", n)
	}
	// The restarted run measures again.
	if st = e.round("web", st); st.Phase != checks.PhaseRunning || st.Run.Metrics[0].Successful != 1 {
		t.Errorf("after restart: phase %s counters %+v", st.Phase, st.Run.Metrics[0].Counters)
	}
}

func TestMeasurementsAreRecorded(t *testing.T) {
	c := webCell("web", []string{"t"}, template("t", cwMetric("m", withCount(2, time.Minute), withLimits(0, 0, 3))))
	e := newEnv(t, c)
	e.cw.replies = []reply{
		failure("HTTP 503 from the API"),
		{value: analysis.Value{Result: 2.5, Raw: []map[string]any{{"id": "errors", "timestamps": []string{"2025-03-01T11:59:00Z", "2025-03-01T11:58:00Z"}, "values": []float64{2.5, 1}}}}},
		value(4),
	}
	st := e.until("web", e.start("web", 1), 5)
	if st.Phase != checks.PhaseSuccessful {
		t.Fatalf("phase %s (%s)", st.Phase, st.Message)
	}
	evs := e.store.eventsOf(store.EventAnalysisMeasurement)
	if len(evs) != 3 {
		t.Fatalf("%d measurement events, want 3 (error, two values)", len(evs))
	}
	errEv, ok := evs[0], evs[1]
	if m := errEv.Measurement; m == nil || m.Verdict != "Error" || !strings.Contains(m.Error, "HTTP 503") || m.Condition != "" {
		t.Errorf("error measurement = %+v", errEv.Measurement)
	}
	m := ok.Measurement
	if m == nil {
		t.Fatal("no measurement in the event")
	}
	checksOut := []struct {
		field string
		ok    bool
	}{
		{"metric", m.Metric == "m" && m.Template == "t" && m.Provider == "cloudWatch"},
		{"query as sent", strings.Contains(m.Query, "targetgroup/web-1-v2/2222222222222222") && !strings.Contains(m.Query, "{{")},
		{"raw values", reflect.DeepEqual(m.Values, []float64{2.5, 1})},
		{"result", m.Result == "2.5"},
		{"conditions", m.SuccessCondition == "result < 5" && m.FailureCondition == "result >= 10 * 5"},
		{"deciding condition", m.Condition == "result < 5"},
		{"verdict", m.Verdict == "Successful" && m.Error == ""},
		{"times", m.StartedAt.Equal(ok.Time) && !m.FinishedAt.Before(m.StartedAt)},
		{"event", ok.Execution == execARN && ok.Version == "v2" && strings.Contains(ok.Message, "value 2.5 (successCondition")},
		{"raw detail", strings.Contains(ok.Details["raw"], `"timestamps"`)},
	}
	for _, c := range checksOut {
		if !c.ok {
			t.Errorf("%s wrong: %+v (event %+v)", c.field, m, ok)
		}
	}
	if evs[2].Measurement.Values[0] != 4 {
		t.Errorf("third measurement values = %v", evs[2].Measurement.Values)
	}
}

func TestEachCheckMeasuresOnlyItsProvider(t *testing.T) {
	c := webCell("web", []string{"cw", "dd"},
		template("cw", cwMetric("cw-5xx", withCount(2, time.Minute))),
		template("dd", ddMetric("dd-errors", withCount(2, time.Minute), withLimits(0, 0, 0))))
	e := newEnv(t, c)
	st := e.start("web", 1)
	e.clock.Advance(time.Second)
	st = e.check(e.cwCheck, "web", st)
	if e.cw.count() != 1 || e.dd.count() != 0 {
		t.Fatalf("the CloudWatch check measured cw %d, dd %d times", e.cw.count(), e.dd.count())
	}
	dd := st.Run.Metrics[1]
	if dd.Error != 0 || len(dd.Measurements) != 0 || dd.NextAt == nil || st.Phase != checks.PhaseRunning {
		t.Fatalf("the Datadog metric was touched by the CloudWatch check: %+v (phase %s: %s)", dd, st.Phase, st.Message)
	}
	if st.WaitSeconds != 1 {
		t.Errorf("waitSeconds = %d, want 1: the Datadog metric is still due", st.WaitSeconds)
	}
	st = e.check(e.ddCheck, "web", st)
	if e.dd.count() != 1 || e.cw.count() != 1 || st.WaitSeconds != 60 {
		t.Fatalf("after the Datadog check: cw %d dd %d calls, wait %d", e.cw.count(), e.dd.count(), st.WaitSeconds)
	}
	st = e.until("web", st, 3)
	if st.Phase != checks.PhaseSuccessful || e.cw.count() != 2 || e.dd.count() != 2 {
		t.Fatalf("phase %s, cw %d dd %d calls", st.Phase, e.cw.count(), e.dd.count())
	}
}

func TestStateSizeGuard(t *testing.T) {
	var metrics []cell.Metric
	for i := 0; i < 120; i++ {
		m := ddMetric(fmt.Sprintf("m%03d", i))
		m.Provider.Datadog.Query = "sum:" + strings.Repeat("x", 1000) + "{service:{{args.cell}}}"
		metrics = append(metrics, m)
	}
	e := newEnv(t, webCell("web", []string{"big"}, template("big", metrics...)))
	_, err := e.starter.Start(e.ctx, "web", execARN, analyzeAction(e.store.cells["web"], 1))
	var tooLarge *checks.StateTooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Limit != checks.DefaultMaxStateBytes || tooLarge.Metrics != 120 {
		t.Fatalf("err = %v, want *StateTooLargeError at the default limit", err)
	}
	if !strings.Contains(err.Error(), "256 KiB") || !strings.Contains(err.Error(), "120 metric(s)") {
		t.Errorf("error %q does not explain itself", err)
	}

	t.Run("retained measurements are cut before giving up", func(t *testing.T) {
		c := webCell("web", []string{"t"}, template("t", cwMetric("m", withCount(20, time.Second))))
		var st checks.State
		var limit int
		{
			e := newEnv(t, c)
			st = e.until("web", e.start("web", 1), 8)
			full, _ := jsonSize(st)
			one := st
			run := *st.Run
			run.Metrics = append([]analysis.MetricRun(nil), st.Run.Metrics...)
			run.Metrics[0].Measurements = run.Metrics[0].Measurements[len(run.Metrics[0].Measurements)-1:]
			one.Run = &run
			cut, _ := jsonSize(one)
			limit = (full + cut) / 2
		}
		e := newEnv(t, c, func(o *checks.Options) { o.MaxStateBytes = limit })
		st = e.start("web", 1)
		for i := 0; i < 8; i++ {
			st = e.round("web", st)
			if n, _ := jsonSize(st); n > limit {
				t.Fatalf("round %d: state is %d bytes, over the limit %d", i, n, limit)
			}
		}
		if n := len(st.Run.Metrics[0].Measurements); n >= 8 || st.Run.Metrics[0].Count != 8 {
			t.Fatalf("kept %d measurements (count %d), want fewer than 8 of 8", n, st.Run.Metrics[0].Count)
		}
	})
}

func TestBoundary(t *testing.T) {
	c := webCell("web", []string{"t"}, template("t", cwMetric("m")))
	cases := []struct {
		name     string
		prepare  func(*env)
		in       func(checks.State) checks.CheckInput
		wantType string
	}{
		{"DynamoDB throttling is transient", func(e *env) {
			e.store.statusErr = &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException"}
		}, nil, "TransientError"},
		{"a history write that fails unclassified is unexpected", func(e *env) {
			e.store.appendErr = errors.New("disk on fire")
		}, nil, "UnexpectedError"},
		{"missing input", nil, func(checks.State) checks.CheckInput { return checks.CheckInput{Cell: "web"} }, "UnexpectedError"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, c)
			st := e.start("web", 1)
			if tc.prepare != nil {
				tc.prepare(e)
			}
			in := checks.CheckInput{Cell: "web", ExecutionARN: execARN, Analysis: &st}
			if tc.in != nil {
				in = tc.in(st)
			}
			_, err := e.cwCheck.Handle(e.ctx, in)
			if err == nil {
				t.Fatal("no error")
			}
			if got := reflect.TypeOf(err).Elem().Name(); got != tc.wantType {
				t.Errorf("error type %s (%v), want %s", got, err, tc.wantType)
			}
		})
	}
}
