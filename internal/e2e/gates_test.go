package e2e

import (
	"errors"
	"strings"
	"testing"
	"time"

	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/gate"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// TestIndefinitePauseWaitsForPromote: a pause without a duration keeps
// the execution waiting (status Paused, task token kept) until
// gate.Promote answers it; then the rollout completes.
func TestIndefinitePauseWaitsForPromote(t *testing.T) {
	t.Parallel()
	f := newFixture(t, canary(50, "pause"), time.Second, map[string]bool{"v1": true, "v2": true})
	arn := f.start("v2", 1)
	st := f.waitPaused(arn)
	if st.StepIndex != 1 || !weights.Equal(f.forward(), f.split("v1", 50, "v2", 50)) {
		t.Fatalf("paused at step %d with the listener at %s, want step 1 at 50/50\n%s", st.StepIndex, f.describe(f.forward()), f.dump(arn))
	}
	if st.Message != "step 2 of 2: pause until promoted" {
		t.Errorf("status message %q", st.Message)
	}

	time.Sleep(2 * time.Second)
	if s, err := f.execs.Status(f.ctx, arn); err != nil || s != "RUNNING" {
		t.Fatalf("2s into the pause the execution is %q (%v), want RUNNING\n%s", s, err, f.dump(arn))
	}
	if again := f.status(); again.Phase != rollout.PhasePaused || again.TaskToken != st.TaskToken {
		t.Fatalf("2s into the pause the status is %s (token kept: %t), want Paused with the same token", again.Phase, again.TaskToken == st.TaskToken)
	}

	res, err := f.okra.Gate.Promote(f.ctx, f.name)
	if err != nil {
		t.Fatalf("Promote: %v\n%s", err, f.dump(arn))
	}
	if res.Execution != arn || res.Version != "v2" {
		t.Errorf("Promote = %+v", res)
	}
	f.wait(arn, sfntypes.ExecutionStatusSucceeded, 30*time.Second)
	final := f.status()
	if final.Phase != rollout.PhaseStable || final.StableVersion != "v2" || final.Leased() {
		t.Errorf("final status %s stable %s leased %t, want Stable at v2, released", final.Phase, final.StableVersion, final.Leased())
	}
	if !weights.Equal(f.forward(), f.split("v2", 100)) {
		t.Errorf("listener after the rollout: %s", f.describe(f.forward()))
	}
	var promoted bool
	for _, ev := range f.events() {
		promoted = promoted || (ev.Type == store.EventPromoted && ev.Execution == arn)
	}
	if !promoted {
		t.Errorf("no Promoted event in the history\n%s", f.dump(arn))
	}

	// Nothing waits any more: promote says what the Cell does instead.
	_, err = f.okra.Gate.Promote(f.ctx, f.name)
	var nw *gate.NotWaitingError
	if !errors.As(err, &nw) || !strings.Contains(err.Error(), "no rollout runs (phase Stable") {
		t.Errorf("Promote with nothing waiting: %v, want a NotWaitingError saying no rollout runs", err)
	}
}

// TestAbortDuringPause: gate.Abort fails the approval with AbortedError;
// the state machine rolls back to exactly the snapshot (weights and
// stickiness), blocks the version and records why.
func TestAbortDuringPause(t *testing.T) {
	t.Parallel()
	f := newFixture(t, canary(30, "pause", 60), time.Second, map[string]bool{"v1": true, "v2": true})
	arn := f.start("v2", 1)
	f.waitPaused(arn)
	if !weights.Equal(f.forward(), f.split("v1", 70, "v2", 30)) {
		t.Fatalf("paused with the listener at %s, want v1=70 v2=30", f.describe(f.forward()))
	}
	const reason = "error budget burned in eu-west-1"
	res, err := f.okra.Gate.Abort(f.ctx, f.name, reason)
	if err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if !strings.Contains(res.Message, "rolls back to v1") {
		t.Errorf("Abort = %+v", res)
	}
	out := f.wait(arn, sfntypes.ExecutionStatusFailed, 30*time.Second)
	if got := *out.Error; got != "RolledBack" {
		t.Errorf("execution error %q, want RolledBack", got)
	}

	got := f.forward()
	if len(got.TargetGroups) != 1 || got.TargetGroups[0] != f.snapshot.TargetGroups[0] ||
		got.Stickiness == nil || *got.Stickiness != *f.snapshot.Stickiness {
		t.Errorf("listener after the abort: %s, want exactly the snapshot %s", f.describe(got), f.describe(f.snapshot))
	}
	b, blocked, err := f.okra.Store.IsBlocked(f.ctx, f.name, "v2")
	if err != nil || !blocked || !strings.Contains(b.Reason, reason) {
		t.Errorf("block of v2: %+v blocked %t (%v), want blocked with %q", b, blocked, err, reason)
	}
	st := f.status()
	if st.Phase != rollout.PhaseRolledBack || !strings.Contains(st.Message, reason) || st.Leased() || st.StableVersion != "v1" {
		t.Errorf("status %s %q leased %t stable %s, want RolledBack naming %q, released, stable v1", st.Phase, st.Message, st.Leased(), st.StableVersion, reason)
	}
	var kinds []string
	for _, ev := range f.events() {
		switch ev.Type {
		case store.EventAborted, store.EventRolledBack, store.EventBlocked:
			kinds = append(kinds, string(ev.Type))
		}
	}
	if strings.Join(kinds, " ") != "Aborted RolledBack Blocked" {
		t.Errorf("history has %v, want Aborted RolledBack Blocked", kinds)
	}
	if states := strings.Join(f.states(arn), " "); !strings.Contains(states, "AwaitApproval RollbackOnError Rollback RolledBack") {
		t.Errorf("states: %s", states)
	}

	// Retry unblocks v2 and rolls to it again as attempt 2, which stops
	// at the same pause; abort it to end the test.
	retry, err := f.okra.Gate.Retry(f.ctx, f.name)
	if err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if retry.Attempt != 2 || retry.Version != "v2" || !strings.HasSuffix(retry.Execution, f.name+"--v2--2") {
		t.Errorf("Retry = %+v, want attempt 2 of v2", retry)
	}
	if _, blocked, _ := f.okra.Store.IsBlocked(f.ctx, f.name, "v2"); blocked {
		t.Errorf("v2 still blocked after Retry")
	}
	f.waitPaused(retry.Execution)
	if _, err := f.okra.Gate.Abort(f.ctx, f.name, "done testing"); err != nil {
		t.Fatalf("Abort of the retry: %v", err)
	}
	f.wait(retry.Execution, sfntypes.ExecutionStatusFailed, 30*time.Second)
}
