package steps_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// midRollout returns an env whose rollout of v2 (exec) set 20% and, as
// an operator might, turned stickiness off meanwhile.
func midRollout(t *testing.T) (*env, string) {
	e := newEnv(t, webCell(setWeight(20), pause(time.Minute)))
	exec := execARN("web--v2--1")
	a := e.next(exec, e.acquire(exec))
	if err := e.set(exec, a); err != nil {
		t.Fatal(err)
	}
	e.listener.fwd.Stickiness = nil
	return e, exec
}

func (e *env) rollback(exec string, a steps.EndAction) error {
	_, err := e.h.RollbackHandler(context.Background(), steps.EndInput{Operation: steps.OpRollback, Cell: "web", ExecutionARN: exec, Action: a})
	return err
}

func TestRollbackRestoresTheSnapshotExactly(t *testing.T) {
	e, exec := midRollout(t)
	cause := `{"errorType":"DriftError","errorMessage":"weights drifted on listener x"}`
	if err := e.rollback(exec, steps.EndAction{Action: rollout.Action{Kind: rollout.ActionRollback, Reason: cause}, Error: "DriftError"}); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if got := describe(e.listener.get()); got != "web-v1-a=100 sticky=true/60s" {
		t.Errorf("listener %s, want the snapshot, stickiness included", got)
	}
	st := e.store.get("web")
	want := "rolled back v2 to v1: DriftError: weights drifted on listener x"
	if st.Phase != rollout.PhaseRolledBack || st.Message != want || st.Leased() {
		t.Errorf("status %s %q leased %t, want RolledBack %q, released", st.Phase, st.Message, st.Leased(), want)
	}
	blocks, _ := e.store.ListBlocked(context.Background(), "web")
	if len(blocks) != 1 || blocks[0].Version != "v2" || blocks[0].Reason != "DriftError: weights drifted on listener x" {
		t.Errorf("blocks %+v", blocks)
	}
	if got := strings.Join(e.store.eventTypes("web"), " "); !strings.HasSuffix(got, "RolledBack Blocked") {
		t.Errorf("events %s", got)
	}
	if len(e.notes.sent) != 1 || e.notes.sent[0].Event != store.EventRolledBack || e.notes.sent[0].Message != want {
		t.Errorf("notifications %+v", e.notes.sent)
	}

	// A retry after the lease was released does nothing.
	sets, events := e.listener.sets, len(e.store.eventTypes("web"))
	if err := e.rollback(exec, steps.EndAction{Action: rollout.Action{Kind: rollout.ActionRollback, Reason: cause}}); err != nil {
		t.Fatalf("retried Rollback: %v", err)
	}
	if e.listener.sets != sets || len(e.store.eventTypes("web")) != events || len(e.notes.sent) != 1 {
		t.Errorf("the retried Rollback acted again")
	}
}

func TestRollbackReasonOfAnAbort(t *testing.T) {
	e, exec := midRollout(t)
	// The service dropped SendTaskFailure's cause; `okra rollout abort`
	// recorded the reason in the history first.
	_, _ = e.store.AppendEvent(context.Background(), "web", store.Event{Type: store.EventAborted, Execution: exec, Message: "latency SLO burned"})
	if err := e.rollback(exec, steps.EndAction{Action: rollout.Action{Kind: rollout.ActionRollback}, Error: steps.AbortedErrorName}); err != nil {
		t.Fatal(err)
	}
	if st := e.store.get("web"); st.Message != "rolled back v2 to v1: AbortedError: latency SLO burned" {
		t.Errorf("message %q", st.Message)
	}
}

func TestRollbackThrottledIsTransient(t *testing.T) {
	e, exec := midRollout(t)
	e.listener.setErr = awsErr("Throttling")
	err := e.rollback(exec, steps.EndAction{Action: rollout.Action{Kind: rollout.ActionRollback, Reason: "x"}})
	if lambdaName(err) != "TransientError" {
		t.Fatalf("Rollback with throttling: %v (%T)", err, err)
	}
	if st := e.store.get("web"); st.ExecutionARN != exec {
		t.Errorf("a failed Rollback released the lease")
	}
	e.listener.setErr = nil
	if err := e.rollback(exec, steps.EndAction{Action: rollout.Action{Kind: rollout.ActionRollback, Reason: "x"}}); err != nil {
		t.Fatalf("retried Rollback: %v", err)
	}
}

func TestSupersede(t *testing.T) {
	e, exec := midRollout(t)
	e.disc.groups = append(e.disc.groups, group("v3", "a", 1))
	// A trigger already ran attempt 1 of v3 while v2 held the lease.
	e.execs.status[executions.ARN(machine, executions.Name("web", "v3", 1))] = "SUCCEEDED"
	e.listener.fwd.Stickiness = &weights.Stickiness{Enabled: true, DurationSeconds: 60} // no drift
	prev := rollout.Action{Kind: rollout.ActionPause, StepIndex: 1, NextStepIndex: 1}
	a := e.next(exec, prev)
	if a.Kind != rollout.ActionSupersede || a.NewVersion != "v3" {
		t.Fatalf("NextStep with v3 ready: %+v", a)
	}
	in := steps.EndInput{Operation: steps.OpSupersede, Cell: "web", ExecutionARN: exec, Action: steps.EndAction{Action: a}}
	if _, err := e.h.RollbackHandler(context.Background(), in); err != nil {
		t.Fatalf("Supersede: %v", err)
	}
	if got := describe(e.listener.get()); got != "web-v1-a=100 sticky=true/60s" {
		t.Errorf("listener %s", got)
	}
	st := e.store.get("web")
	if st.Leased() || st.Phase != rollout.PhaseStable || st.CanaryVersion != "" || st.StableVersion != "v1" {
		t.Errorf("status %+v", st)
	}
	if b, _ := e.store.ListBlocked(context.Background(), "web"); len(b) != 0 {
		t.Errorf("Supersede blocked %+v", b)
	}
	if len(e.execs.started) != 1 || e.execs.started[0].TargetVersion != "v3" || e.execs.started[0].Attempt != 2 || e.execs.started[0].Trigger != "supersede" {
		t.Fatalf("started %+v, want v3 attempt 2 (attempt 1 already ended)", e.execs.started)
	}
	// A retry only makes sure v3's rollout runs.
	if _, err := e.h.RollbackHandler(context.Background(), in); err != nil {
		t.Fatalf("retried Supersede: %v", err)
	}
	if len(e.execs.started) != 1 {
		t.Errorf("the retried Supersede started %d rollouts", len(e.execs.started))
	}
}

func TestFinalize(t *testing.T) {
	e := newEnv(t, webCell(setWeight(50)))
	exec := execARN("web--v2--1")
	a := e.next(exec, e.acquire(exec))
	_ = e.set(exec, a)
	hundred := e.next(exec, a)
	_ = e.set(exec, hundred)
	window := e.next(exec, hundred)
	fin := window
	fin.Kind = rollout.ActionFinalize
	f := fwd("web-v2-a", 100)
	fin.Forward = &f
	after := e.now.Add(5 * time.Minute)
	fin.After = &after
	call := func() error {
		_, err := e.h.Finalize(context.Background(), steps.EndInput{Cell: "web", ExecutionARN: exec, Action: steps.EndAction{Action: fin}})
		return err
	}
	if err := call(); err == nil || !strings.Contains(err.Error(), "rollback window") {
		t.Fatalf("Finalize before the window ends: %v, want a refusal", err)
	}
	e.now = after
	e.deleter.refuse[tgARN("web-v1-b")] = true
	e.store.mu.Lock()
	st := e.store.status["web"]
	snap := fwd("web-v1-a", 50, "web-v1-b", 50)
	st.Snapshot = &snap
	e.store.status["web"] = st
	e.store.mu.Unlock()
	if err := call(); err != nil {
		t.Fatalf("Finalize: %v", err)
	}
	if got := describe(e.listener.get()); got != "web-v2-a=100 sticky=true/60s" {
		t.Errorf("listener %s", got)
	}
	st = e.store.get("web")
	if st.Phase != rollout.PhaseStable || st.StableVersion != "v2" || st.CanaryVersion != "" || st.Leased() || st.FinalizeAfter != nil {
		t.Errorf("status %+v", st)
	}
	if strings.Join(e.deleter.deleted, " ") != tgARN("web-v1-a") {
		t.Errorf("deleted %v, want web-v1-a only (web-v1-b refused, which must not fail Finalize)", e.deleter.deleted)
	}
	if n := e.notes.sent; len(n) != 1 || n[0].Event != store.EventFinalized {
		t.Errorf("notifications %+v", n)
	}
	if err := call(); err != nil {
		t.Errorf("retried Finalize: %v", err)
	}
}

func TestRecover(t *testing.T) {
	e, exec := midRollout(t)
	ctx := context.Background()
	if ok, err := e.h.Recover(ctx, "web", execARN("web--v2--7"), "x"); ok || err != nil {
		t.Fatalf("Recover of a non-holder = %t, %v; want false, nil", ok, err)
	}
	if e.listener.sets != 1 {
		t.Fatalf("recovering a non-holder touched the listener")
	}
	ok, err := e.h.Recover(ctx, "web", exec, "execution web--v2--1 ended ABORTED")
	if !ok || err != nil {
		t.Fatalf("Recover = %t, %v", ok, err)
	}
	if !weights.Equal(e.listener.get(), fwd("web-v1-a", 100)) {
		t.Errorf("listener %s", describe(e.listener.get()))
	}
	st := e.store.get("web")
	if st.Leased() || st.Phase != rollout.PhaseRolledBack || !strings.Contains(st.Message, "ended ABORTED") {
		t.Errorf("status %+v", st)
	}
	if ok, err := e.h.Recover(ctx, "web", exec, "again"); ok || err != nil {
		t.Errorf("second Recover = %t, %v; want a no-op", ok, err)
	}
}

func TestEnsureRollout(t *testing.T) {
	ex := &fakeExecutions{status: map[string]string{
		executions.ARN(machine, "web--v2--1"): "FAILED",
		executions.ARN(machine, "web--v2--2"): "RUNNING",
	}}
	r, err := steps.EnsureRollout(context.Background(), ex, machine, executions.Input{Cell: "web", TargetVersion: "v2"})
	if err != nil || r.Started || r.Attempt != 2 {
		t.Fatalf("EnsureRollout = %+v, %v; want attempt 2 found running", r, err)
	}
	ex.status[executions.ARN(machine, "web--v2--2")] = "ABORTED"
	r, err = steps.EnsureRollout(context.Background(), ex, machine, executions.Input{Cell: "web", TargetVersion: "v2"})
	if err != nil || !r.Started || r.Attempt != 3 {
		t.Fatalf("EnsureRollout = %+v, %v; want attempt 3 started", r, err)
	}
}

func TestRecoverAfterAFinishedRolloutOnlyReleases(t *testing.T) {
	e, exec := midRollout(t)
	// Finalize recorded the new stable version, then the execution died
	// before it released the lease.
	e.listener.fwd = fwd("web-v2-a", 100)
	st := e.store.get("web")
	st.Phase, st.StableVersion, st.CanaryVersion = rollout.PhaseStable, "v2", ""
	e.store.set("web", st)
	sets := e.listener.sets
	ok, err := e.h.Recover(context.Background(), "web", exec, "execution web--v2--1 ended FAILED")
	if !ok || err != nil {
		t.Fatalf("Recover = %t, %v", ok, err)
	}
	if e.listener.sets != sets || describe(e.listener.get()) != "web-v2-a=100 sticky=true/60s" {
		t.Errorf("Recover undid a finished rollout: listener %s", describe(e.listener.get()))
	}
	if b, _ := e.store.ListBlocked(context.Background(), "web"); len(b) != 0 {
		t.Errorf("Recover blocked %+v", b)
	}
	if st := e.store.get("web"); st.Leased() || st.Phase != rollout.PhaseStable {
		t.Errorf("status %s leased %t, want Stable and released", st.Phase, st.Leased())
	}
	if len(e.notes.sent) != 0 {
		t.Errorf("notified %+v", e.notes.sent)
	}
}

// TestRecoverWithAnUnreadableSpec: an edit leaves a stored spec that does
// not decode while the holder is dead; Recover restores the snapshot from
// what the status records (where it was taken, the minimum of healthy
// targets), releases the lease and says why.
func TestRecoverWithAnUnreadableSpec(t *testing.T) {
	e, exec := midRollout(t)
	ctx := context.Background()
	at := e.store.get("web").SnapshotAt
	if at == nil || at.ListenerARN == "" || e.store.get("web").MinHealthyTargets != 1 {
		t.Fatalf("AcquireLease recorded snapshotAt %+v, minHealthyTargets %d; want both", at, e.store.get("web").MinHealthyTargets)
	}
	e.store.putRawSpec("web", `{"apiVersion": "okra/v1", "spec": {"ingress": 42`)
	e.listener.reads = nil
	ok, err := e.h.Recover(ctx, "web", exec, "execution web--v2--1 ended ABORTED")
	if !ok || err != nil {
		t.Fatalf("Recover = %t, %v; want the rollout recovered", ok, err)
	}
	if got := describe(e.listener.get()); got != "web-v1-a=100 sticky=true/60s" {
		t.Errorf("listener %s, want the snapshot", got)
	}
	for _, l := range e.listener.reads {
		if l != at.ListenerARN {
			t.Errorf("Recover used listener %s, want %s (status.snapshotAt)", l, at.ListenerARN)
		}
	}
	st := e.store.get("web")
	if st.Leased() || st.Phase != rollout.PhaseRolledBack || !strings.Contains(st.Message, "ended ABORTED") ||
		!strings.Contains(st.Message, "recovered from the rollout's status") || !strings.Contains(st.Message, "cannot be decoded") {
		t.Errorf("status %s %q leased %t, want RolledBack, released, naming the unreadable spec", st.Phase, st.Message, st.Leased())
	}
	if b, _ := e.store.ListBlocked(ctx, "web"); len(b) != 1 || b[0].Version != "v2" {
		t.Errorf("blocked %+v, want v2", b)
	}
	if types := strings.Join(e.store.eventTypes("web"), " "); !strings.HasSuffix(types, "RolledBack Blocked") {
		t.Errorf("history %s, want RolledBack and Blocked last", types)
	}
	if ok, err := e.h.Recover(ctx, "web", exec, "again"); ok || err != nil {
		t.Errorf("second Recover = %t, %v; want a no-op", ok, err)
	}
}

// TestRecoverWithAnUnreadableSpecKeepsTheMinimum: without a readable spec
// the minimum of healthy targets is the one the rollout recorded, not the
// default: a stable group below it gets no weight (Degraded, listener
// kept, lease released).
func TestRecoverWithAnUnreadableSpecKeepsTheMinimum(t *testing.T) {
	e, exec := midRollout(t)
	ctx := context.Background()
	st := e.store.get("web")
	st.MinHealthyTargets = 3 // web-v1-a has 2 healthy targets
	e.store.set("web", st)
	e.store.putRawSpec("web", `not json`)
	before := describe(e.listener.get())
	sets := e.listener.sets
	ok, err := e.h.Recover(ctx, "web", exec, "execution web--v2--1 ended FAILED")
	if !ok || err != nil {
		t.Fatalf("Recover = %t, %v", ok, err)
	}
	if e.listener.sets != sets || describe(e.listener.get()) != before {
		t.Errorf("listener %s (%d writes), want %s kept", describe(e.listener.get()), e.listener.sets-sets, before)
	}
	st = e.store.get("web")
	if st.Leased() || st.Phase != rollout.PhaseDegraded || !strings.Contains(st.Message, "at least 3 healthy targets") {
		t.Errorf("status %s %q leased %t, want Degraded naming the minimum 3, released", st.Phase, st.Message, st.Leased())
	}
}

// TestRecoverWithAnUnreadableSpecAndNoLocation: a status that records no
// snapshot location (a rollout from before snapshotAt) cannot be restored
// without the spec; the dead holder still lets go and the Cell says why.
func TestRecoverWithAnUnreadableSpecAndNoLocation(t *testing.T) {
	e, exec := midRollout(t)
	st := e.store.get("web")
	st.SnapshotAt = nil
	e.store.set("web", st)
	e.store.putRawSpec("web", `{`)
	sets := e.listener.sets
	ok, err := e.h.Recover(context.Background(), "web", exec, "execution web--v2--1 ended TIMED_OUT")
	if !ok || err != nil {
		t.Fatalf("Recover = %t, %v", ok, err)
	}
	if e.listener.sets != sets {
		t.Errorf("Recover wrote the listener without knowing where the snapshot was taken")
	}
	st = e.store.get("web")
	if st.Leased() || st.Phase != rollout.PhaseDegraded || !strings.Contains(st.Message, "records no snapshot or where it was taken") {
		t.Errorf("status %s %q leased %t", st.Phase, st.Message, st.Leased())
	}
	if types := e.store.eventTypes("web"); types[len(types)-1] != string(store.EventDegraded) {
		t.Errorf("history %v, want Degraded last", types)
	}
}
