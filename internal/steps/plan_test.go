package steps_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/store"
)

func TestAcquireLeaseStartsAndSnapshots(t *testing.T) {
	e := newEnv(t, webCell(setWeight(20), pause(time.Minute)))
	exec := execARN("web--v2--1")
	a := e.acquire(exec)
	if a.StableVersion != "v1" || a.CanaryVersion != "v2" || a.StepIndex != 0 || a.NextStepIndex != 0 {
		t.Errorf("Start action %+v", a)
	}
	st := e.store.get("web")
	if st.Phase != rollout.PhaseProgressing || st.ExecutionARN != exec || st.StableVersion != "v1" || st.CanaryVersion != "v2" ||
		st.StepIndex != 0 || st.StepCount != 2 || st.StartedAt.IsZero() {
		t.Errorf("status after AcquireLease: %+v", st)
	}
	if st.Snapshot == nil || describe(*st.Snapshot) != "web-v1-a=100 sticky=true/60s" {
		t.Fatalf("snapshot %v, want web-v1-a=100 sticky 60s exactly", st.Snapshot)
	}
	if got := e.store.eventTypes("web"); strings.Join(got, " ") != "RolloutStarted" {
		t.Errorf("events %v", got)
	}

	// The rollout moves weights; a retried AcquireLease by the same
	// execution must not take the moved weights as its snapshot.
	e.listener.fwd = fwd("web-v1-a", 80, "web-v2-a", 20)
	again := e.acquire(exec)
	if again.Kind != steps.ActionStart || again.CanaryVersion != "v2" {
		t.Errorf("retried AcquireLease = %+v", again)
	}
	if st := e.store.get("web"); describe(*st.Snapshot) != "web-v1-a=100 sticky=true/60s" {
		t.Errorf("a retried AcquireLease overwrote the snapshot with %s", describe(*st.Snapshot))
	}
	if got := e.store.eventTypes("web"); len(got) != 1 {
		t.Errorf("a retried AcquireLease appended events: %v", got)
	}
}

func TestAcquireLeaseRefusals(t *testing.T) {
	ctx := context.Background()
	acquire := func(e *env, exec string) error {
		_, err := e.h.Plan(ctx, steps.PlanInput{Operation: steps.OpAcquireLease, Cell: "web", TargetVersion: "v2", ExecutionARN: exec})
		return err
	}

	t.Run("another running execution holds the lease", func(t *testing.T) {
		e := newEnv(t, webCell(setWeight(20)))
		first := execARN("web--v2--1")
		e.acquire(first)
		err := acquire(e, execARN("web--v2--2"))
		var held *steps.LeaseHeldError
		if !errors.As(err, &held) || lambdaName(err) != "LeaseHeldError" || held.Holder != first {
			t.Fatalf("second AcquireLease: %v (%T), want LeaseHeldError naming %s", err, err, first)
		}
		if st := e.store.get("web"); st.ExecutionARN != first {
			t.Errorf("lease now held by %s", st.ExecutionARN)
		}
	})

	t.Run("blocked version", func(t *testing.T) {
		e := newEnv(t, webCell(setWeight(20)))
		_, _ = e.store.Block(ctx, "web", rollout.Block{Version: "v2", Reason: "error rate 5%"})
		err := acquire(e, execARN("web--v2--1"))
		if lambdaName(err) != "NothingToDoError" || !strings.Contains(err.Error(), "v2 is blocked (error rate 5%)") {
			t.Fatalf("AcquireLease of a blocked version: %v, want NothingToDoError naming the block", err)
		}
		if st := e.store.get("web"); st.Leased() {
			t.Errorf("the lease stayed with %s", st.ExecutionARN)
		}
	})

	t.Run("a newer version is ready", func(t *testing.T) {
		e := newEnv(t, webCell(setWeight(20)))
		e.disc.groups = append(e.disc.groups, group("v3", "a", 1))
		err := acquire(e, execARN("web--v2--1"))
		if lambdaName(err) != "NothingToDoError" || !strings.Contains(err.Error(), "should roll to v3, not v2") {
			t.Fatalf("AcquireLease of v2 with v3 ready: %v", err)
		}
	})

	t.Run("already stable", func(t *testing.T) {
		e := newEnv(t, webCell(setWeight(20)))
		e.listener.fwd = fwd("web-v2-a", 100)
		e.store.set("web", rollout.Status{Phase: rollout.PhaseStable, StableVersion: "v2"})
		err := acquire(e, execARN("web--v2--1"))
		if lambdaName(err) != "NothingToDoError" || !strings.Contains(err.Error(), "steady: v2 serves 100%") {
			t.Fatalf("AcquireLease of the stable version: %v", err)
		}
	})

	t.Run("invalid spec", func(t *testing.T) {
		c := webCell(setWeight(120))
		e := newEnv(t, c)
		err := acquire(e, execARN("web--v2--1"))
		if lambdaName(err) != "NothingToDoError" || !strings.Contains(err.Error(), "spec.updateStrategy.canary.steps[0].setWeight") {
			t.Fatalf("AcquireLease with an invalid spec: %v, want NothingToDoError naming the field", err)
		}
		if st := e.store.get("web"); st.Leased() {
			t.Errorf("an invalid spec took the lease")
		}
	})

	t.Run("throttled listener read is transient and frees the lease", func(t *testing.T) {
		e := newEnv(t, webCell(setWeight(20)))
		e.listener.readErr = awsErr("Throttling")
		err := acquire(e, execARN("web--v2--1"))
		if lambdaName(err) != "TransientError" {
			t.Fatalf("AcquireLease with ELBv2 throttling: %v (%T), want TransientError", err, err)
		}
		if st := e.store.get("web"); st.Leased() {
			t.Errorf("the lease stayed taken after a failed AcquireLease")
		}
	})
}

func TestAcquireLeaseTakesOverAnUnfinishedRollout(t *testing.T) {
	e := newEnv(t, webCell(setWeight(20)))
	crashed := execARN("web--v2--1")
	e.acquire(crashed)
	e.listener.fwd = fwd("web-v1-a", 80, "web-v2-a", 20) // it had moved weights
	e.execs.status[crashed] = "FAILED"                   // and died; the safety net never ran

	_, err := e.h.Plan(context.Background(), steps.PlanInput{Operation: steps.OpAcquireLease, Cell: "web", TargetVersion: "v2", ExecutionARN: execARN("web--v2--2")})
	if lambdaName(err) != "NothingToDoError" || !strings.Contains(err.Error(), "blocked") {
		t.Fatalf("AcquireLease after a crashed rollout of the same version: %v, want NothingToDoError (v2 blocked)", err)
	}
	if got := describe(e.listener.get()); got != "web-v1-a=100 sticky=true/60s" {
		t.Errorf("listener %s, want the crashed rollout's snapshot restored", got)
	}
	b, _ := e.store.ListBlocked(context.Background(), "web")
	if len(b) != 1 || !strings.Contains(b[0].Reason, "web--v2--1 ended FAILED without releasing the lease") {
		t.Errorf("blocks %+v", b)
	}
	st := e.store.get("web")
	if st.Leased() || st.Phase != rollout.PhaseRolledBack {
		t.Errorf("status %s leased by %q, want RolledBack and free", st.Phase, st.ExecutionARN)
	}
}

func TestNextStepWalksTheSteps(t *testing.T) {
	e := newEnv(t, webCell(setWeight(20), pause(time.Minute), setWeight(60)))
	exec := execARN("web--v2--1")
	start := e.acquire(exec)

	a := e.next(exec, start)
	if a.Kind != rollout.ActionSetWeights || a.StepIndex != 0 || a.NextStepIndex != 1 || describe(*a.Forward) != "web-v1-a=80 web-v2-a=20 sticky=true/60s" {
		t.Fatalf("first action %+v", a)
	}
	if err := e.set(exec, a); err != nil {
		t.Fatal(err)
	}
	if err := e.verify(exec, a); err != nil {
		t.Fatal(err)
	}
	pauseAction := e.next(exec, a)
	if pauseAction.Kind != rollout.ActionPause || pauseAction.StepIndex != 1 || pauseAction.WaitSeconds != 60 {
		t.Fatalf("after 20%%: %+v, want the 60s pause", pauseAction)
	}
	st := e.store.get("web")
	if st.StepIndex != 1 || st.PausedUntil == nil || !st.PausedUntil.Equal(t0.Add(time.Minute)) || st.Phase != rollout.PhaseProgressing {
		t.Fatalf("status during the pause: step %d pausedUntil %v phase %s", st.StepIndex, st.PausedUntil, st.Phase)
	}

	// A retried NextStep after the SetWeights does not advance twice and
	// keeps the pause's end.
	e.now = t0.Add(20 * time.Second)
	retry := e.next(exec, a)
	if retry.Kind != rollout.ActionPause || retry.WaitSeconds != 40 || e.store.get("web").StepIndex != 1 {
		t.Fatalf("retried NextStep: %+v at step %d, want the same pause with 40s left", retry, e.store.get("web").StepIndex)
	}

	e.now = t0.Add(time.Minute)
	sixty := e.next(exec, pauseAction)
	if sixty.Kind != rollout.ActionSetWeights || sixty.CanaryWeight != 60 {
		t.Fatalf("after the pause: %+v", sixty)
	}
	if st := e.store.get("web"); st.StepIndex != 2 || st.PausedUntil != nil {
		t.Errorf("after the pause: step %d pausedUntil %v, want step 2 and the pause cleared", st.StepIndex, st.PausedUntil)
	}
	if err := e.set(exec, sixty); err != nil {
		t.Fatal(err)
	}
	hundred := e.next(exec, sixty)
	if hundred.Kind != rollout.ActionSetWeights || hundred.CanaryWeight != 100 || describe(*hundred.Forward) != "web-v1-a=0 web-v2-a=100 sticky=true/60s" {
		t.Fatalf("after the last step: %+v", hundred)
	}
	if err := e.set(exec, hundred); err != nil {
		t.Fatal(err)
	}

	// At 100%: the rollback window begins; Finalize waits for its end.
	window := e.next(exec, hundred)
	if window.Kind != rollout.ActionPause || window.WaitSeconds != 300 {
		t.Fatalf("at 100%%: %+v, want the 5m rollback window as a Pause", window)
	}
	st = e.store.get("web")
	if st.FinalizeAfter == nil || !st.FinalizeAfter.Equal(e.now.Add(5*time.Minute)) || st.Phase != rollout.PhaseFinalizing {
		t.Fatalf("status in the rollback window: finalizeAfter %v phase %s", st.FinalizeAfter, st.Phase)
	}
	e.now = e.now.Add(5 * time.Minute)
	fin := e.next(exec, window)
	if fin.Kind != rollout.ActionFinalize || describe(*fin.Forward) != "web-v2-a=100 sticky=true/60s" {
		t.Fatalf("after the window: %+v, want Finalize to v2 alone", fin)
	}
}

func TestNextStepApproval(t *testing.T) {
	e := newEnv(t, webCell(setWeight(50), cell.Step{Pause: &cell.Pause{}}))
	exec := execARN("web--v2--1")
	a := e.next(exec, e.acquire(exec))
	if err := e.set(exec, a); err != nil {
		t.Fatal(err)
	}
	wait := e.next(exec, a)
	if wait.Kind != rollout.ActionAwaitApproval || !wait.Indefinite {
		t.Fatalf("%+v, want AwaitApproval", wait)
	}
	if st := e.store.get("web"); st.Phase != rollout.PhasePaused {
		t.Errorf("phase %s, want Paused", st.Phase)
	}
	if _, err := e.h.AwaitApproval(context.Background(), steps.ApprovalInput{Cell: "web", ExecutionARN: exec, TaskToken: "tok-1", Action: wait}); err != nil {
		t.Fatal(err)
	}
	st := e.store.get("web")
	if st.TaskToken != "tok-1" || st.Phase != rollout.PhasePaused || st.Message != "step 2 of 2: pause until promoted" {
		t.Errorf("status while waiting: %+v", st)
	}
	// Promoted: the step completes and the token goes.
	after := e.next(exec, wait)
	if st := e.store.get("web"); st.StepIndex != 2 || st.TaskToken != "" {
		t.Errorf("after approval: step %d token %q", st.StepIndex, st.TaskToken)
	}
	if after.Kind != rollout.ActionSetWeights || after.CanaryWeight != 100 {
		t.Errorf("after approval: %+v", after)
	}
}

func TestHandlersRefuseWithoutTheLease(t *testing.T) {
	e := newEnv(t, webCell(setWeight(20)))
	exec := execARN("web--v2--1")
	a := e.next(exec, e.acquire(exec))
	intruder := execARN("web--v2--9")
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"NextStep": func() error {
			_, err := e.h.Plan(ctx, steps.PlanInput{Operation: steps.OpNextStep, Cell: "web", ExecutionARN: intruder, Previous: &a})
			return err
		},
		"Set":    func() error { return e.set(intruder, a) },
		"Verify": func() error { return e.verify(intruder, a) },
		"AwaitApproval": func() error {
			_, err := e.h.AwaitApproval(ctx, steps.ApprovalInput{Cell: "web", ExecutionARN: intruder, TaskToken: "t", Action: a})
			return err
		},
		"Rollback": func() error {
			_, err := e.h.RollbackHandler(ctx, steps.EndInput{Operation: steps.OpRollback, Cell: "web", ExecutionARN: intruder, Action: steps.EndAction{Action: rollout.Action{Kind: rollout.ActionRollback}}})
			return err
		},
		"Finalize": func() error {
			f := fwd("web-v2-a", 100)
			_, err := e.h.Finalize(ctx, steps.EndInput{Cell: "web", ExecutionARN: intruder, Action: steps.EndAction{Action: rollout.Action{Kind: rollout.ActionFinalize, Forward: &f}}})
			return err
		},
	} {
		err := call()
		var lost *steps.LeaseLostError
		if !errors.As(err, &lost) || lambdaName(err) != "LeaseLostError" || lost.Holder != exec {
			t.Errorf("%s by a non-holder: %v (%T), want LeaseLostError naming the holder", name, err, err)
		}
	}
	if e.listener.sets != 0 {
		t.Errorf("a non-holder changed the listener %d times", e.listener.sets)
	}
}

func TestSetWeightsChecks(t *testing.T) {
	exec := execARN("web--v2--1")
	prepare := func(t *testing.T) (*env, rollout.Action) {
		e := newEnv(t, webCell(setWeight(20), setWeight(10)))
		return e, e.next(exec, e.acquire(exec))
	}

	t.Run("health gate refuses to raise the canary", func(t *testing.T) {
		e, a := prepare(t)
		e.disc.setHealthy("web-v2-a", 0)
		err := e.set(exec, a)
		var unhealthy *steps.UnhealthyTargetsError
		if !errors.As(err, &unhealthy) || lambdaName(err) != "UnhealthyTargetsError" || !strings.Contains(err.Error(), "web-v2-a (0 healthy)") {
			t.Fatalf("Set onto an unhealthy canary: %v (%T)", err, err)
		}
		if e.listener.sets != 0 {
			t.Errorf("the refused Set reached the listener")
		}
	})

	t.Run("a canary group missing from discovery counts as unhealthy", func(t *testing.T) {
		e, a := prepare(t)
		e.disc.groups = e.disc.groups[:1]
		if err := e.set(exec, a); lambdaName(err) != "UnhealthyTargetsError" || !strings.Contains(err.Error(), "web-v2-a (not found") {
			t.Fatalf("Set onto a vanished canary group: %v", err)
		}
	})

	t.Run("lowering the canary while none of its groups is healthy gives its share to stable", func(t *testing.T) {
		e, a := prepare(t)
		if err := e.set(exec, a); err != nil {
			t.Fatal(err)
		}
		lower := e.next(exec, a)
		e.disc.setHealthy("web-v2-a", 0)
		if err := e.set(exec, lower); err != nil {
			t.Fatalf("lowering the canary to %d%%: %v", lower.CanaryWeight, err)
		}
		if got := describe(e.listener.get()); got != "web-v1-a=100 web-v2-a=0 sticky=true/60s" {
			t.Errorf("listener %s", got)
		}
	})

	t.Run("limits are checked before any call", func(t *testing.T) {
		e, a := prepare(t)
		six := fwd("a", 1, "b", 1, "c", 1, "d", 1, "e", 1, "f", 1)
		a.Forward = &six
		err := e.set(exec, a)
		if lambdaName(err) != "LimitError" || !strings.Contains(err.Error(), "6 target groups") {
			t.Fatalf("Set with 6 target groups: %v (%T), want LimitError", err, err)
		}
		heavy := fwd("web-v1-a", 1000, "web-v2-a", 1)
		a.Forward = &heavy
		if err := e.set(exec, a); lambdaName(err) != "LimitError" {
			t.Fatalf("Set with weight 1000: %v, want LimitError", err)
		}
		if e.listener.sets != 0 {
			t.Errorf("a Set over the limits reached the listener")
		}
	})

	t.Run("a deleted Cell spec is unexpected", func(t *testing.T) {
		e, a := prepare(t)
		delete(e.store.cells, "web")
		if err := e.set(exec, a); lambdaName(err) != "UnexpectedError" || !strings.Contains(err.Error(), `Cell "web" has no stored spec`) {
			t.Fatalf("Set without a spec: %v (%T), want UnexpectedError", err, err)
		}
	})

	t.Run("throttling is transient", func(t *testing.T) {
		e, a := prepare(t)
		e.listener.setErr = awsErr("Throttling")
		if err := e.set(exec, a); lambdaName(err) != "TransientError" {
			t.Fatalf("Set with ELBv2 throttling: %v (%T), want TransientError", err, err)
		}
	})

	t.Run("records weights and history", func(t *testing.T) {
		e, a := prepare(t)
		if err := e.set(exec, a); err != nil {
			t.Fatal(err)
		}
		if err := e.verify(exec, a); err != nil {
			t.Fatal(err)
		}
		if st := e.store.get("web"); describe(st.Weights) != "web-v1-a=80 web-v2-a=20 sticky=true/60s" {
			t.Errorf("status weights %s", describe(st.Weights))
		}
		if got := strings.Join(e.store.eventTypes("web"), " "); got != "RolloutStarted WeightsSet WeightsVerified" {
			t.Errorf("events %s", got)
		}
	})
}

func TestVerifyWeightsDrift(t *testing.T) {
	e := newEnv(t, webCell(setWeight(20)))
	exec := execARN("web--v2--1")
	a := e.next(exec, e.acquire(exec))
	other := fwd("web-v1-a", 100)
	e.listener.drift = &other // someone else keeps writing v1=100
	if err := e.set(exec, a); err != nil {
		t.Fatal(err)
	}
	err := e.verify(exec, a)
	if lambdaName(err) != "DriftError" || !strings.Contains(err.Error(), "weights drifted") {
		t.Fatalf("Verify after drift: %v (%T), want DriftError", err, err)
	}
	if got := e.store.eventTypes("web"); got[len(got)-1] != string(store.EventWeightsDrifted) {
		t.Errorf("events %v, want WeightsDrifted last", got)
	}
}

func TestTransientDiscovery(t *testing.T) {
	e := newEnv(t, webCell(setWeight(20)))
	exec := execARN("web--v2--1")
	start := e.acquire(exec)
	e.disc.err = httpErr(503, "ServiceUnavailable")
	_, err := e.h.Plan(context.Background(), steps.PlanInput{Operation: steps.OpNextStep, Cell: "web", ExecutionARN: exec, Previous: &start})
	if lambdaName(err) != "TransientError" {
		t.Fatalf("NextStep with discovery answering 503: %v (%T), want TransientError", err, err)
	}
}

func TestStartBackgroundAnalysisWithoutEngine(t *testing.T) {
	e := newEnv(t, webCell(setWeight(20)))
	exec := execARN("web--v2--1")
	e.acquire(exec)
	out, err := e.h.Plan(context.Background(), steps.PlanInput{Operation: steps.OpStartBackgroundAnalysis, Cell: "web", ExecutionARN: exec})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out.(json.RawMessage)), `"phase":"Stopped"`) {
		t.Errorf("background analysis state %s, want phase Stopped", out)
	}
	an := rollout.Action{Kind: rollout.ActionAnalyze}
	if _, err := e.h.Plan(context.Background(), steps.PlanInput{Operation: steps.OpStartAnalysis, Cell: "web", ExecutionARN: exec, Action: &an}); err == nil || !strings.Contains(err.Error(), "no analysis engine") {
		t.Errorf("StartAnalysis without an engine: %v", err)
	}
}

func TestNextStepHonoursAPauseRequest(t *testing.T) {
	e := newEnv(t, webCell(setWeight(20), pause(time.Minute), setWeight(60)))
	exec := execARN("web--v2--1")
	a := e.next(exec, e.acquire(exec))
	if err := e.set(exec, a); err != nil {
		t.Fatal(err)
	}
	// The background analysis came back inconclusive meanwhile.
	st := e.store.get("web")
	st.PauseRequested, st.PauseReason = true, "background analysis inconclusive: no datapoints"
	e.store.set("web", st)

	hold := e.next(exec, a)
	if hold.Kind != rollout.ActionAwaitApproval || !hold.Indefinite || hold.StepIndex != 1 || hold.NextStepIndex != 1 || hold.CanaryWeight != 20 ||
		!strings.Contains(hold.Reason, "no datapoints") || !strings.Contains(hold.Reason, "continues with: step 2 of 3: pause") {
		t.Fatalf("NextStep with a pause request = %+v, want AwaitApproval holding step 1", hold)
	}
	if st := e.store.get("web"); st.Phase != rollout.PhasePaused || st.StepIndex != 1 {
		t.Errorf("status %s at step %d", st.Phase, st.StepIndex)
	}
	_, _ = e.h.AwaitApproval(context.Background(), steps.ApprovalInput{Cell: "web", ExecutionARN: exec, TaskToken: "tok", Action: hold})
	// Promoted: the request is cleared and the held step runs.
	after := e.next(exec, hold)
	if after.Kind != rollout.ActionPause || after.StepIndex != 1 {
		t.Fatalf("after the approval: %+v, want step 1's pause", after)
	}
	if st := e.store.get("web"); st.PauseRequested || st.PauseReason != "" || st.TaskToken != "" {
		t.Errorf("after the approval the status still has request %t %q token %q", st.PauseRequested, st.PauseReason, st.TaskToken)
	}

	// A rollback is not held.
	st = e.store.get("web")
	st.PauseRequested = true
	e.store.set("web", st)
	_, _ = e.store.Block(context.Background(), "web", rollout.Block{Version: "v2", Reason: "bad"})
	if rb := e.next(exec, after); rb.Kind != rollout.ActionRollback {
		t.Errorf("with v2 blocked and a pause requested: %+v, want Rollback", rb)
	}
}
