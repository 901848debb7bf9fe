package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/gate"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// Fixture ARNs of the status tests.
const (
	tgV1      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-1-v1/1111111111111111"
	tgV1b     = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-2-v1/1111111111111112"
	tgV2      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-1-v2/2222222222222222"
	tgV2b     = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-2-v2/2222222222222223"
	execution = "arn:aws:states:us-east-1:123456789012:execution:okra-rollout:web--v2--1"
)

func forward(pairs ...any) weights.Forward {
	var f weights.Forward
	for i := 0; i < len(pairs); i += 2 {
		f.TargetGroups = append(f.TargetGroups, weights.TargetGroupWeight{ARN: pairs[i].(string), Weight: int32(pairs[i+1].(int))})
	}
	return f
}

func at(d time.Duration) *time.Time {
	t := fixedNow.Add(d)
	return &t
}

func measurementEvent(ago time.Duration, metric string, values []float64, verdict, errText string) store.Event {
	t := fixedNow.Add(-ago)
	return store.Event{Time: t, Type: store.EventAnalysisMeasurement, Version: "v2", Measurement: &store.Measurement{
		Metric: metric, Template: "error-rate", Provider: "cloudWatch", Values: values, Verdict: verdict, Error: errText,
		StartedAt: t.Add(-time.Second), FinishedAt: t,
	}}
}

// statusFixtures are situations a rollout can be in, rendered by the pure
// renderer into testdata/status/NAME.txt.
func statusFixtures(t *testing.T) map[string]statusInput {
	c := mustDecodeCell(t, "testdata/status/web.yaml")
	groups := []inventory.TargetGroup{
		{ARN: tgV1, Name: "web-1-v1", Version: "v1", HealthyTargets: 3},
		{ARN: tgV1b, Name: "web-2-v1", Version: "v1", HealthyTargets: 3},
		{ARN: tgV2, Name: "web-1-v2", Version: "v2", HealthyTargets: 2},
		{ARN: tgV2b, Name: "web-2-v2", Version: "v2", HealthyTargets: 0},
	}
	running := func(phase rollout.Phase, step int) rollout.Status {
		return rollout.Status{
			Phase: phase, StableVersion: "v1", CanaryVersion: "v2", StepIndex: step, StepCount: 5,
			ExecutionARN: execution, LeaseAcquiredAt: fixedNow.Add(-20 * time.Minute),
			StartedAt: fixedNow.Add(-20 * time.Minute), UpdatedAt: fixedNow.Add(-2*time.Minute - 5*time.Second),
		}
	}
	measured := []store.Event{
		{Time: fixedNow.Add(-time.Minute), Type: store.EventWeightsVerified, Version: "v2"},
		measurementEvent(2*time.Minute, "5xx-ratio", []float64{0.0042}, "Successful", ""),
		measurementEvent(3*time.Minute, "5xx-ratio", nil, "Error", "CloudWatch: Throttling: Rate exceeded"),
		measurementEvent(4*time.Minute, "5xx-ratio", []float64{0.0031}, "Successful", ""),
	}
	fx := map[string]statusInput{}

	st := running(rollout.PhasePaused, 4)
	st.TaskToken = "token"
	st.Message = "step 5 waits for okra rollout promote"
	fx["awaiting-promote"] = statusInput{Name: "web", Cell: c, Status: st, HasStatus: true,
		Forward: forward(tgV1, 500, tgV2, 500), TargetGroups: groups[:3], Events: measured, Now: fixedNow}

	st = running(rollout.PhaseProgressing, 1)
	st.PausedUntil = at(3*time.Minute + 12*time.Second)
	fx["timed-pause"] = statusInput{Name: "web", Cell: c, Status: st, HasStatus: true,
		Forward: forward(tgV1, 400, tgV1b, 400, tgV2, 100, tgV2b, 100), TargetGroups: groups, Now: fixedNow}

	st = running(rollout.PhaseAnalyzing, 2)
	fx["analyzing"] = statusInput{Name: "web", Cell: c, Status: st, HasStatus: true,
		Forward: forward(tgV1, 800, tgV2, 200), TargetGroups: groups[:3], Events: measured, Now: fixedNow}

	st = running(rollout.PhasePaused, 2)
	st.TaskToken = "token"
	st.Message = "analysis error-rate was inconclusive; promote to go on, or abort"
	fx["inconclusive"] = statusInput{Name: "web", Cell: c, Status: st, HasStatus: true,
		Forward: forward(tgV1, 800, tgV2, 200), TargetGroups: groups[:3], Events: measured[:2], Now: fixedNow}

	st = running(rollout.PhaseFinalizing, 5)
	st.FinalizeAfter = at(9 * time.Minute)
	fx["finalizing"] = statusInput{Name: "web", Cell: c, Status: st, HasStatus: true,
		Forward: forward(tgV1, 0, tgV2, 999), TargetGroups: groups[:3], Now: fixedNow}

	st = running(rollout.PhaseProgressing, 3)
	st.Weights = forward(tgV1, 800, tgV2, 200)
	fx["listener-unreadable"] = statusInput{Name: "web", Cell: c, Status: st, HasStatus: true,
		ForwardErr:   "describing listeners, operation error Elastic Load Balancing v2: DescribeListeners, AccessDenied",
		TargetGroups: groups[:3], Now: fixedNow}

	fx["stable"] = statusInput{Name: "web", Cell: c, HasStatus: true,
		Status:  rollout.Status{Phase: rollout.PhaseStable, StableVersion: "v2", StepCount: 5, UpdatedAt: fixedNow.Add(-time.Hour)},
		Forward: forward(tgV2, 1), TargetGroups: groups[2:3], Now: fixedNow}

	fx["rolled-back"] = statusInput{Name: "web", Cell: c, HasStatus: true,
		Status: rollout.Status{Phase: rollout.PhaseRolledBack, StableVersion: "v1", StepCount: 5, UpdatedAt: fixedNow.Add(-30 * time.Second),
			Message: "analysis error-rate failed at step 3: 5xx-ratio 0.031 >= 0.01 (3 of 3 measurements failed); weights restored"},
		Forward:      forward(tgV1, 1, tgV2, 0),
		TargetGroups: groups[:3],
		Events:       []store.Event{measurementEvent(time.Minute, "5xx-ratio", []float64{0.031}, "Failed", "")},
		Blocked:      []rollout.Block{{Version: "v2", Reason: "analysis error-rate failed", At: fixedNow.Add(-30 * time.Second)}},
		Now:          fixedNow}

	fx["invalid"] = statusInput{Name: "web", Cell: c, HasStatus: true,
		Status: rollout.Status{Phase: rollout.PhaseInvalid, StableVersion: "v1", UpdatedAt: fixedNow.Add(-10 * time.Second),
			Message:          "the stored spec is invalid; nothing changes until it is fixed",
			ValidationErrors: []string{"spec.replicas: must be 1..2: during a rollout two versions share one forward action of at most 5 target groups, got 3"}},
		Forward: forward(tgV1, 1), TargetGroups: groups[:1], Now: fixedNow}

	st = running(rollout.PhaseProgressing, 3)
	st.PauseRequested, st.PauseReason = true, "background analysis error-rate was inconclusive"
	fx["pause-requested"] = statusInput{Name: "web", Cell: c, Status: st, HasStatus: true,
		Forward: forward(tgV1, 800, tgV2, 200), TargetGroups: groups[:3], Events: measured[1:2], Now: fixedNow}

	fx["never-evaluated"] = statusInput{Name: "web", Cell: c, Now: fixedNow}
	return fx
}

func TestRolloutStatusRenderingGolden(t *testing.T) {
	for name, in := range statusFixtures(t) {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			r := buildStatusReport(in, defaultMeasurements)
			if err := renderStatus(&b, r, in.Now); err != nil {
				t.Fatal(err)
			}
			golden(t, "status/"+name+".txt", b.String())
			// Rendering is pure: the same input gives the same screen.
			var again bytes.Buffer
			_ = renderStatus(&again, buildStatusReport(in, defaultMeasurements), in.Now)
			if again.String() != b.String() {
				t.Error("rendering the same input twice gave different screens")
			}
		})
	}
}

func TestStatusReportFields(t *testing.T) {
	fx := statusFixtures(t)
	r := buildStatusReport(fx["awaiting-promote"], 2)
	if !r.AwaitingPromote || r.Done || r.Step == nil || r.Step.Number != 5 || r.Step.Count != 5 || r.Step.Kind != stepPause {
		t.Errorf("awaiting promote: %+v %+v", r, r.Step)
	}
	if len(r.Measurements) != 2 || r.Measurements[0].Value != "0.0042" || r.Measurements[1].Verdict != "Error" {
		t.Errorf("measurements %+v, want the newest two", r.Measurements)
	}
	if g := r.Weights.TargetGroups; len(g) != 3 || g[0].Percent != 50 || g[1].Role != "canary" || g[2].InListener {
		t.Errorf("weights %+v", g)
	}
	data, err := json.Marshal(r)
	if err != nil || strings.Contains(string(data), "token") {
		t.Errorf("JSON report %s (err %v) must not carry the task token", data, err)
	}
	if r := buildStatusReport(fx["stable"], 5); !r.Done || r.Step != nil {
		t.Errorf("stable: done %v, step %+v", r.Done, r.Step)
	}
}

func TestBar(t *testing.T) {
	for _, tc := range []struct {
		pct  float64
		want string
	}{
		{0, "[░░░░░░░░░░░░░░░░░░░░]"},
		{2.4, "[░░░░░░░░░░░░░░░░░░░░]"},
		{2.5, "[█░░░░░░░░░░░░░░░░░░░]"},
		{50, "[██████████░░░░░░░░░░]"},
		{100, "[████████████████████]"},
		{140, "[████████████████████]"},
	} {
		if got := bar(tc.pct); got != tc.want {
			t.Errorf("bar(%v) = %s, want %s", tc.pct, got, tc.want)
		}
	}
}

// statusStore writes a rollout paused at its indefinite pause into the
// env's table, with a listener and target groups on moto to match.
// Its load balancer, target groups and selector are named after prefix,
// which must be unique in the package.
func statusStore(t *testing.T, e *awsEnv, prefix string) {
	t.Helper()
	runningExecution(t, e, executions.NameOf(execution))
	statusStoreHeldBy(t, e, prefix, execution)
}

// statusStoreHeldBy stores the Cell web with a rollout held by exec
// (which the caller makes exist in Step Functions, or not) and returns
// its two target groups.
func statusStoreHeldBy(t *testing.T, e *awsEnv, prefix, execution string) (v1, v2 string) {
	t.Helper()
	lb := e.newLoadBalancer(prefix + "-alb")
	role := prefix + "-web"
	v1 = lb.targetGroup(prefix+"-web-1-v1", 3, map[string]string{"role": role, "version": "v1"})
	v2 = lb.targetGroup(prefix+"-web-1-v2", 2, map[string]string{"role": role, "version": "v2"})
	listenerARN := lb.forwardListener(80, v1, 700, v2, 300)

	c := mustDecodeCell(t, "testdata/status/web.yaml")
	c.Spec.Ingress.ListenerARN = listenerARN
	c.Spec.Ingress.TargetGroupSelector.MatchLabels = map[string]string{"role": role}
	c.Spec.ClusterSelector.MatchTags = map[string]string{"role": role}
	if _, err := e.store.PutCell(e.ctx, c, 0); err != nil {
		t.Fatal(err)
	}
	lease, err := e.store.AcquireLease(e.ctx, "web", execution, func(context.Context, string) (bool, error) { return false, nil })
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.store.UpdateStatus(e.ctx, "web", execution, func(s *rollout.Status) error {
		s.Phase, s.StableVersion, s.CanaryVersion, s.StepIndex, s.StepCount = rollout.PhasePaused, "v1", "v2", 4, 5
		s.TaskToken, s.Message = "secret-token", "step 5 waits for okra rollout promote"
		s.Weights = forward(v1, 700, v2, 300)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = lease
	events := []store.Event{
		{Time: fixedNow.Add(-20 * time.Minute), Type: store.EventRolloutStarted, Version: "v2", Execution: execution, Message: "rolling web from v1 to v2"},
		{Time: fixedNow.Add(-19 * time.Minute), Type: store.EventWeightsSet, Version: "v2", Weights: ptr(forward(v1, 800, v2, 200))},
		{Time: fixedNow.Add(-19*time.Minute + time.Second), Type: store.EventWeightsVerified, Version: "v2", Weights: ptr(forward(v1, 800, v2, 200))},
		{Time: fixedNow.Add(-18 * time.Minute), Type: store.EventPaused, Version: "v2", Message: "pause 5m"},
		measurementEvent(12*time.Minute, "5xx-ratio", []float64{0.0031}, "Successful", ""),
		measurementEvent(11*time.Minute, "5xx-ratio", nil, "Error", "CloudWatch: Throttling: Rate exceeded"),
		measurementEvent(10*time.Minute, "5xx-ratio", []float64{0.0042}, "Successful", ""),
		{Time: fixedNow.Add(-9 * time.Minute), Type: store.EventAnalysisCompleted, Version: "v2", Message: "analysis error-rate succeeded"},
		{Time: fixedNow.Add(-8 * time.Minute), Type: store.EventWeightsSet, Version: "v2", Weights: ptr(forward(v1, 700, v2, 300))},
		{Time: fixedNow.Add(-8*time.Minute + time.Second), Type: store.EventWeightsVerified, Version: "v2", Weights: ptr(forward(v1, 700, v2, 300))},
		{Time: fixedNow.Add(-7 * time.Minute), Type: store.EventPaused, Version: "v2", Message: "waiting for okra rollout promote"},
	}
	for _, ev := range events {
		if _, err := e.store.AppendEvent(e.ctx, "web", ev); err != nil {
			t.Fatal(err)
		}
	}
	return v1, v2
}

func ptr[T any](v T) *T { return &v }

// status and history read store data and the listener, as a user runs
// them.
func TestRolloutStatusAndHistoryFromStoreGolden(t *testing.T) {
	e := newAWSEnv(t)
	statusStore(t, e, "st")

	r := e.mustRun("", "rollout", "status", "web")
	golden(t, "status/from-store.txt", r.stdout)
	if r.stderr != "" {
		t.Errorf("stderr: %s", r.stderr)
	}

	r = e.mustRun("", "rollout", "status", "web", "-o", "json")
	var rep statusReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	if rep.Weights.Source != "listener" || len(rep.Weights.TargetGroups) != 2 || rep.Weights.TargetGroups[1].Percent != 30 || !rep.AwaitingPromote {
		t.Errorf("status -o json: %+v", rep)
	}
	if strings.Contains(r.stdout, "secret-token") {
		t.Error("status -o json shows the task token")
	}

	r = e.mustRun("", "rollout", "history", "web", "--limit", "8")
	golden(t, "history/from-store.txt", r.stdout)
	r = e.mustRun("", "rollout", "history", "web", "-o", "json", "--limit", "3")
	var events []store.Event
	if err := json.Unmarshal([]byte(r.stdout), &events); err != nil || len(events) != 3 || events[0].Type != store.EventPaused {
		t.Errorf("history -o json: %v %+v", err, events)
	}
	r = e.run("", "rollout", "history", "nobody")
	if r.code != ExitOK || r.stdout != "" || !strings.Contains(r.stderr, `no history for cell "nobody"`) {
		t.Errorf("history of an unknown Cell: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	r = e.run("", "rollout", "history", "web", "--limit", "0")
	if r.code != ExitUsage {
		t.Errorf("--limit 0: exit %d", r.code)
	}
	r = e.run("", "rollout", "status", "nobody")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `cell "nobody" not found`) {
		t.Errorf("status of an unknown Cell: exit %d, %s", r.code, r.stderr)
	}
}

func TestRolloutStatusWatch(t *testing.T) {
	e := newAWSEnv(t)
	statusStore(t, e, "watch")

	// The rollout does not end: --timeout ends the watch with exit 1,
	// after several appended frames. The timeout leaves room for slow
	// frames on a loaded machine (each frame reads moto).
	r := e.run("", "rollout", "status", "web", "--watch", "--interval", "20ms", "--timeout", "4s")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "the rollout did not end within --timeout 4s") {
		t.Fatalf("watch with --timeout: exit %d\n%s", r.code, r.stderr)
	}
	if n := strings.Count(r.stdout, "--- 2025-03-01T12:10:00Z\n"); n < 2 {
		t.Errorf("%d frames appended, want several:\n%s", n, r.stdout)
	}
	if strings.Contains(r.stdout, "\x1b[") {
		t.Error("ANSI sequences written to a pipe")
	}

	// The rollout ends while watched: the watch ends with exit 0 after a
	// last frame saying so.
	var out, errOut syncBuffer
	app := NewApp(strings.NewReader(""), &out, &errOut)
	app.now = func() time.Time { return fixedNow }
	app.getenv = func(string) string { return "" }
	done := make(chan int, 1)
	go func() {
		done <- app.Execute(e.ctx, []string{"--endpoint-url", e.endpoint, "--table", e.table, "rollout", "status", "web", "-w", "--interval", "20ms"})
	}()
	waitFor(t, "the first frame", 10*time.Second, func() bool { return strings.Contains(out.String(), "awaiting promote") })
	if err := e.store.ReleaseLease(e.ctx, "web", execution); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("watch ended with exit %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not end after the rollout ended")
	}
	frames := strings.Split(out.String(), "--- ")
	if last := frames[len(frames)-1]; !strings.Contains(last, "no rollout in progress") {
		t.Errorf("last frame:\n%s", last)
	}
}

func TestWatchEndsWithExit1WhenRolledBack(t *testing.T) {
	e := newAWSEnv(t)
	statusStore(t, e, "rb")
	if err := e.store.ReleaseLease(e.ctx, "web", execution); err != nil {
		t.Fatal(err)
	}
	rec, err := e.store.GetStatus(e.ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	st := rec.Status
	st.Phase, st.Message = rollout.PhaseRolledBack, "analysis error-rate failed"
	if _, err := e.store.PutStatus(e.ctx, "web", st, rec.Revision); err != nil {
		t.Fatal(err)
	}
	r := e.run("", "rollout", "status", "web", "--watch")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "the rollout of cell web was rolled back: analysis error-rate failed") {
		t.Errorf("exit %d, stderr %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "Phase:      RolledBack") {
		t.Errorf("no final frame:\n%s", r.stdout)
	}
	// Without --watch, status only reports.
	if r := e.run("", "rollout", "status", "web"); r.code != ExitOK {
		t.Errorf("status of a rolled-back Cell: exit %d", r.code)
	}
}

// On a terminal, frames overwrite each other in place: the first clears
// the screen, each later one homes the cursor and clears what is left.
func TestDrawFrameOnATerminal(t *testing.T) {
	var out bytes.Buffer
	app := NewApp(strings.NewReader(""), &out, &bytes.Buffer{})
	app.Options.Output = OutputTable
	in := statusFixtures(t)["analyzing"]
	r := buildStatusReport(in, 5)
	if err := app.drawFrame(r, fixedNow, true, true); err != nil {
		t.Fatal(err)
	}
	first := out.String()
	if !strings.HasPrefix(first, ansiClearScreen+ansiHome+"Cell:       web"+ansiClearLine+"\n") || !strings.HasSuffix(first, ansiClearLine+"\n"+ansiClearBelow) {
		t.Errorf("first frame %q", first)
	}
	out.Reset()
	if err := app.drawFrame(r, fixedNow, true, false); err != nil {
		t.Fatal(err)
	}
	if second := out.String(); strings.Contains(second, ansiClearScreen) || !strings.HasPrefix(second, ansiHome) {
		t.Errorf("second frame clears the screen (flicker): %q", second[:40])
	}
}

type fakeGate struct {
	calls []string
	err   error
}

func (g *fakeGate) Promote(_ context.Context, cell string) (gate.Result, error) {
	g.calls = append(g.calls, "promote "+cell)
	return gate.Result{Message: fmt.Sprintf("promoted the rollout of cell %s: it goes on to step 5/5", cell), Execution: execution}, g.err
}

func (g *fakeGate) Abort(_ context.Context, cell, reason string) (gate.Result, error) {
	g.calls = append(g.calls, "abort "+cell+": "+reason)
	return gate.Result{Message: "aborted the rollout of cell " + cell}, g.err
}

func (g *fakeGate) Retry(_ context.Context, cell string) (gate.Result, error) {
	g.calls = append(g.calls, "retry "+cell)
	return gate.Result{Message: "retrying v2 on cell " + cell, Execution: execution}, g.err
}

func TestRolloutGateCommands(t *testing.T) {
	runGate := func(g *fakeGate, gotARN *string, args ...string) result {
		var out, errOut bytes.Buffer
		app := NewApp(strings.NewReader(""), &out, &errOut)
		app.getenv = func(k string) string {
			if k == "OKRA_STATE_MACHINE_ARN" {
				return "arn:aws:states:us-east-1:123456789012:stateMachine:from-env"
			}
			return ""
		}
		app.newGate = func(_ context.Context, arn string) (Gate, error) {
			*gotARN = arn
			return g, nil
		}
		code := app.Execute(context.Background(), args)
		return result{code: code, stdout: out.String(), stderr: errOut.String()}
	}
	g := &fakeGate{}
	var arn string
	if r := runGate(g, &arn, "rollout", "promote", "web"); r.code != ExitOK || r.stdout != "promoted the rollout of cell web: it goes on to step 5/5\n" {
		t.Errorf("promote: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if arn != "arn:aws:states:us-east-1:123456789012:stateMachine:from-env" {
		t.Errorf("state machine ARN %q, want OKRA_STATE_MACHINE_ARN's", arn)
	}
	if r := runGate(g, &arn, "rollout", "abort", "web", "--reason", "p99 doubled", "--state-machine-arn", "arn:aws:states:us-east-1:123456789012:stateMachine:flag"); r.code != ExitOK {
		t.Errorf("abort: exit %d, %s", r.code, r.stderr)
	}
	if arn != "arn:aws:states:us-east-1:123456789012:stateMachine:flag" {
		t.Errorf("state machine ARN %q, want the flag's", arn)
	}
	if r := runGate(g, &arn, "rollout", "abort", "web"); r.code != ExitOK {
		t.Errorf("abort without reason: exit %d", r.code)
	}
	r := runGate(g, &arn, "rollout", "retry", "web", "-o", "json")
	var res gate.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Execution != execution {
		t.Errorf("retry -o json: %v %q", err, r.stdout)
	}
	want := []string{"promote web", "abort web: p99 doubled", "abort web: ", "retry web"}
	if strings.Join(g.calls, "|") != strings.Join(want, "|") {
		t.Errorf("gate calls %q, want %q", g.calls, want)
	}

	g = &fakeGate{err: errors.New(`cell "web" is not waiting for approval: it is at step 2/5 (analysis error-rate)`)}
	if r := runGate(g, &arn, "rollout", "promote", "web"); r.code != ExitFailure || !strings.Contains(r.stderr, "is not waiting for approval") {
		t.Errorf("failed promote: exit %d, %s", r.code, r.stderr)
	}
	if r := runGate(g, &arn, "rollout", "promote"); r.code != ExitUsage || !strings.Contains(r.stderr, "missing CELL") {
		t.Errorf("promote without a Cell: exit %d, %s", r.code, r.stderr)
	}
}

// The commands reach internal/gate's Gate over the table and moto's Step
// Functions.
func TestRolloutGateAgainstTheStore(t *testing.T) {
	e := newAWSEnv(t)
	execution := runningExecution(t, e, "web--v2--gate")
	statusStoreHeldBy(t, e, "gate", execution)
	if _, err := e.store.UpdateStatus(e.ctx, "web", execution, func(s *rollout.Status) error {
		s.TaskToken, s.Phase = "", rollout.PhaseProgressing // a timed pause: abort stops the execution
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// abort: the execution is stopped; the abort is recorded in the
	// history.
	r := e.run("", "rollout", "abort", "web", "--reason", "latency regression")
	if r.code != ExitOK || !strings.Contains(r.stdout, "of v2") {
		t.Fatalf("abort: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	events, err := e.store.ListEvents(e.ctx, "web", 1, true)
	if err != nil || len(events) != 1 || events[0].Type != store.EventAborted || events[0].Message != "latency regression" {
		t.Errorf("history after abort: %+v, %v", events, err)
	}

	// promote with no rollout waiting names what the Cell is doing.
	if err := e.store.ReleaseLease(e.ctx, "web", execution); err != nil {
		t.Fatal(err)
	}
	r = e.run("", "rollout", "promote", "web")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `nothing in Cell "web" waits for promote`) {
		t.Errorf("promote with nothing waiting: exit %d, %s", r.code, r.stderr)
	}

	// retry needs the state machine.
	r = e.run("", "rollout", "retry", "web")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "no rollout state machine: pass --state-machine-arn or set OKRA_STATE_MACHINE_ARN") {
		t.Errorf("retry without a state machine: exit %d, %s", r.code, r.stderr)
	}
	r = e.run("", "rollout", "retry", "web", "--state-machine-arn", "arn:aws:states:us-east-1:123456789012:stateMachine:okra-rollout")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "no version is blocked: nothing to retry") {
		t.Errorf("retry with nothing blocked: exit %d, %s", r.code, r.stderr)
	}
}
