package e2e

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/onboarding"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/weights"
)

// TestAbortWithoutSafetyNetEventIsRecoveredByReconcile: `okra rollout
// abort` during a timed pause stops the execution; the safety-net event
// never arrives (EventBridge is best effort; the test never hands it
// over). The next reconcile finds the ABORTED lease holder, restores the
// snapshot, releases the lease and records who found it; `okra rollout
// retry` then works without the event too, and a second abort of the
// retry is recovered the same way. The listener is watched throughout.
func TestAbortWithoutSafetyNetEventIsRecoveredByReconcile(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: needs the moto emulator (skipped with -short)")
	}
	t.Parallel()
	f, onb := newReconcileFixture(t, canary(40, time.Minute, 80, "pause"))
	o, ctx := f.okra, f.ctx

	m := f.monitor()
	defer m.assertClean()

	abortInPause := func(arn string) {
		t.Helper()
		f.waitFor(arn, "the 40% step and its timed pause", 30*time.Second, func() (bool, string) {
			st := f.status()
			return st.ExecutionARN == arn && st.StepIndex == 1 && st.PausedUntil != nil, string(st.Phase) + ": " + st.Message
		})
		if !weights.Equal(f.forward(), f.split("v1", 60, "v2", 40)) {
			t.Fatalf("listener %s, want v1=60 v2=40", f.describe(f.forward()))
		}
		res, err := o.Gate.Abort(ctx, f.name, "latency regression")
		if err != nil || !strings.Contains(res.Message, "stopped rollout") {
			t.Fatalf("Abort: %+v, %v", res, err)
		}
		f.wait(arn, sfntypes.ExecutionStatusAborted, 15*time.Second)
		if st := f.status(); st.ExecutionARN != arn {
			t.Fatalf("without the safety net the lease is held by %q, want the stopped execution", st.ExecutionARN)
		}
		if !weights.Equal(f.forward(), f.split("v1", 60, "v2", 40)) {
			t.Fatalf("before the reconcile the listener moved to %s", f.describe(f.forward()))
		}
	}
	reconcileRecovers := func(arn string) {
		t.Helper()
		start := time.Now()
		m.Reconciling("the reconcile", func() {
			if _, err := onb.ReconcileAll(ctx); err != nil {
				t.Errorf("ReconcileAll: %v\n%s", err, f.dump(arn))
			}
		})
		t.Logf("the reconcile recovered the Cell in %s", time.Since(start).Round(time.Millisecond))
		if got := f.forward(); !weights.Equal(got, f.snapshot) || got.Stickiness == nil || *got.Stickiness != *f.snapshot.Stickiness {
			t.Errorf("listener after the reconcile: %s, want the snapshot %s", f.describe(got), f.describe(f.snapshot))
		}
		st := f.status()
		// The same reconcile goes on to evaluate the recovered Cell, so the
		// phase may already be Stable again (v1, with v2 blocked).
		if st.Leased() || st.StableVersion != "v1" || (st.Phase != rollout.PhaseRolledBack && st.Phase != rollout.PhaseStable) ||
			!strings.Contains(st.Message, "found by reconcile") || !strings.Contains(st.Message, "ended ABORTED") {
			t.Errorf("status after the reconcile: %s %q stable %s leased by %q; want released at v1, saying the reconcile found the ABORTED holder", st.Phase, st.Message, st.StableVersion, st.ExecutionARN)
		}
		var recorded int
		for _, ev := range f.events() {
			if ev.Type == store.EventRolledBack && ev.Execution == arn && strings.Contains(ev.Message, "found by reconcile") {
				recorded++
			}
		}
		if recorded != 1 {
			t.Errorf("%d RolledBack events of %s naming the reconcile, want 1\n%s", recorded, arn, f.dump(arn))
		}
		if _, blocked, err := o.Store.IsBlocked(ctx, f.name, "v2"); err != nil || !blocked {
			t.Errorf("v2 blocked after the recovery: %t (%v), want blocked", blocked, err)
		}
	}

	first := f.start("v2", 1)
	abortInPause(first)
	reconcileRecovers(first)

	// A second reconcile finds nothing more to do.
	before := len(f.events())
	if _, err := onb.ReconcileAll(ctx); err != nil {
		t.Fatalf("second ReconcileAll: %v", err)
	}
	for _, ev := range f.events()[before:] {
		if ev.Type == store.EventRolledBack || ev.Type == store.EventWeightsSet {
			t.Errorf("the second reconcile recorded %s: %s", ev.Type, ev.Message)
		}
	}

	// Retry works without the safety-net event, and its abort is
	// recovered the same way.
	retry, err := o.Gate.Retry(ctx, f.name)
	if err != nil {
		t.Fatalf("Retry after the recovered abort: %v\n%s", err, f.dump(first))
	}
	if retry.Attempt != 2 || retry.Version != "v2" {
		t.Fatalf("Retry = %+v, want attempt 2 of v2", retry)
	}
	abortInPause(retry.Execution)
	reconcileRecovers(retry.Execution)
}

// newReconcileFixture is a fixture (v1 and v2 healthy) on a table of its
// own, so a reconcile sees only its Cell (faults stay off), with the EKS
// clusters behind its target groups (the reconcile keeps their groups)
// and an onboarder to reconcile with.
func newReconcileFixture(t *testing.T, steps []cell.Step) (*fixture, *onboarding.Onboarder) {
	t.Helper()
	env := startFaultEnv(t)
	o := env.okra
	f, network := newFixtureOn(t, o, env.direct, steps, time.Second, map[string]bool{"v1": true, "v2": true})
	for _, v := range []string{"v1", "v2"} {
		if _, err := env.direct.EKS().CreateCluster(f.ctx, &eks.CreateClusterInput{
			Name: aws.String(f.name + "-" + v), RoleArn: aws.String(testenv.RoleARN),
			ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: network.SubnetIDs},
			Tags:               map[string]string{"okra-e2e": f.name, "version": v},
		}); err != nil {
			t.Fatalf("CreateCluster %s: %v", v, err)
		}
	}
	deps, err := onboarding.DepsFromAWS(f.ctx, options.Options{
		Region: testenv.Region, TableName: o.TableName, StateMachineARN: o.StateMachineARN, ClusterActiveTimeout: 30 * time.Second,
	}, o.AWS, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("DepsFromAWS: %v", err)
	}
	onb, err := onboarding.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	return f, onb
}

// TestRetryRecoversADeadHolderItself: with the safety-net event lost and
// no reconcile yet, `okra rollout retry` finds the ABORTED holder,
// recovers the Cell (recording that retry found it) and rolls to the
// version again.
func TestRetryRecoversADeadHolderItself(t *testing.T) {
	t.Parallel()
	f := newFixture(t, canary(40, time.Minute, 80, "pause"), time.Second, map[string]bool{"v1": true, "v2": true})
	m := f.monitor()
	defer m.assertClean()
	arn := f.start("v2", 1)
	f.waitFor(arn, "the timed pause", 30*time.Second, func() (bool, string) {
		st := f.status()
		return st.StepIndex == 1 && st.PausedUntil != nil, string(st.Phase) + ": " + st.Message
	})
	if _, err := f.okra.Gate.Abort(f.ctx, f.name, "operator"); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	f.wait(arn, sfntypes.ExecutionStatusAborted, 15*time.Second)

	retry, err := f.okra.Gate.Retry(f.ctx, f.name)
	if err != nil {
		t.Fatalf("Retry with a dead holder: %v\n%s", err, f.dump(arn))
	}
	if retry.Attempt != 2 {
		t.Errorf("Retry = %+v, want attempt 2", retry)
	}
	var found bool
	for _, ev := range f.events() {
		found = found || (ev.Type == store.EventRolledBack && ev.Execution == arn && strings.Contains(ev.Message, "found by okra rollout retry"))
	}
	if !found {
		t.Errorf("no RolledBack event saying retry found the dead holder\n%s", f.dump(arn))
	}
	// The retry rolls from the restored snapshot: its first step is 40%.
	f.waitFor(retry.Execution, "the retry's timed pause", 30*time.Second, func() (bool, string) {
		st := f.status()
		return st.ExecutionARN == retry.Execution && st.StepIndex == 1 && st.PausedUntil != nil, string(st.Phase) + ": " + st.Message
	})
	if !weights.Equal(f.forward(), f.split("v1", 60, "v2", 40)) {
		t.Errorf("the retry's first step: %s, want v1=60 v2=40", f.describe(f.forward()))
	}
	if _, err := f.okra.Gate.Abort(f.ctx, f.name, "done testing"); err != nil {
		t.Fatalf("Abort of the retry: %v", err)
	}
	out := f.wait(retry.Execution, sfntypes.ExecutionStatusAborted, 15*time.Second)
	if _, err := f.okra.SafetyNet.Handle(f.ctx, f.statusChange("sfn-execution-aborted.json", out)); err != nil {
		t.Fatalf("safety net: %v", err)
	}
	if !weights.Equal(f.forward(), f.snapshot) {
		t.Errorf("listener at the end: %s, want the snapshot", f.describe(f.forward()))
	}
}
