package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// Never route to nothing on a restore (issue 11, invariant 1): a snapshot
// naming a stable group that lost its targets is restored as its intent
// over the healthy stable groups; with none healthy the weights are kept
// and the Cell is Degraded; a deleted canary group gets no weight.

// secondStableGroup gives v1 a second target group ("v1b", healthy) and
// splits the listener 50/50 over both v1 groups: the snapshot a rollout
// will take.
func (f *fixture) secondStableGroup() {
	f.t.Helper()
	defaulted := *f.spec
	defaulted.Default()
	tg, err := f.tgs.Ensure(f.ctx, &defaulted, inventory.Cluster{
		Name: f.name + "-v1b", Status: "ACTIVE", VPCID: f.vpc,
		Tags: map[string]string{"okra-e2e": f.name, "version": "v1"},
	})
	if err != nil {
		f.t.Fatalf("Ensure the second v1 group: %v", err)
	}
	f.groups["v1b"] = tg
	f.registerTargets("v1b")
	both := f.split("v1", 50, "v1b", 50)
	if err := f.control.Set(f.ctx, f.spec.Spec.Ingress, both); err != nil {
		f.t.Fatal(err)
	}
	f.snapshot = f.forward()
}

func TestAbortRestoresIntentOverHealthyStableGroups(t *testing.T) {
	t.Parallel()
	f := newFixture(t, canary(50, "pause"), time.Second, map[string]bool{"v1": true, "v2": true})
	f.secondStableGroup()
	m := f.monitor(pollEvery(40 * time.Millisecond))
	defer m.assertClean()
	arn := f.start("v2", 1)
	f.waitPaused(arn)
	m.Unhealthy("v1b", 25)
	f.deregisterTargets("v1b")
	if _, err := f.okra.Gate.Abort(f.ctx, f.name, "stable cluster v1b deleted"); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	f.wait(arn, sfntypes.ExecutionStatusFailed, 30*time.Second)
	want := f.split("v1", 100, "v1b", 0)
	if !weights.Equal(f.forward(), want) {
		t.Errorf("listener %s, want %s (the snapshot's 100 on the healthy stable group)", f.describe(f.forward()), f.describe(want))
	}
	if st := f.status(); st.Phase != rollout.PhaseRolledBack || st.Leased() {
		t.Errorf("status %s leased %t", st.Phase, st.Leased())
	}
	ev := f.event(arn, store.EventWeightsRerouted)
	if ev == nil || !strings.Contains(ev.Message, f.groups["v1b"].ARN) || ev.Details["snapshot"] == "" {
		t.Errorf("WeightsRerouted event %+v, want the substitution and why\n%s", ev, f.dump(arn))
	}
}

func TestAbortWithNoHealthyStableGroupDegrades(t *testing.T) {
	t.Parallel()
	f := newFixture(t, canary(50, "pause"), time.Second, map[string]bool{"v1": true, "v2": true})
	m := f.monitor(pollEvery(40 * time.Millisecond))
	defer m.assertClean()
	arn := f.start("v2", 1)
	f.waitPaused(arn)
	held := f.forward()
	m.Unhealthy("v1", 50)
	f.deregisterTargets("v1")
	if _, err := f.okra.Gate.Abort(f.ctx, f.name, "stable cluster deleted"); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	f.wait(arn, sfntypes.ExecutionStatusFailed, 30*time.Second)
	if !weights.Equal(f.forward(), held) {
		t.Errorf("listener %s, want the weights kept %s", f.describe(f.forward()), f.describe(held))
	}
	st := f.status()
	if st.Phase != rollout.PhaseDegraded || !strings.Contains(st.Message, f.groups["v1"].ARN) || st.Leased() {
		t.Errorf("status %s %q leased %t, want Degraded naming v1's group, released", st.Phase, st.Message, st.Leased())
	}
	if f.event(arn, store.EventDegraded) == nil {
		t.Errorf("no Degraded event\n%s", f.dump(arn))
	}
	if logs := shared.logs.String(); !strings.Contains(logs, `"event":"Degraded"`) || !strings.Contains(logs, f.name) {
		t.Errorf("no Degraded notification in the log")
	}
}

// TestCanaryGroupDeletedRollsBack: ELBv2 refuses to delete a target
// group a listener forwards to, so the canary's group is deleted while
// the rollout waits before its first weight (the group is in no action
// yet); the next boundary rolls back and no weight ever goes to it.
func TestCanaryGroupDeletedRollsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t, canary("pause", 50), time.Second, map[string]bool{"v1": true, "v2": true})
	m := f.monitor(pollEvery(40 * time.Millisecond))
	defer m.assertClean()
	arn := f.start("v2", 1)
	f.waitPaused(arn)
	m.Unhealthy("v2", 0)
	if _, err := f.elb.DeleteTargetGroup(f.ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(f.groups["v2"].ARN)}); err != nil {
		t.Fatalf("DeleteTargetGroup: %v", err)
	}
	if _, err := f.okra.Gate.Promote(f.ctx, f.name); err != nil {
		t.Fatalf("Promote: %v", err)
	}
	f.wait(arn, sfntypes.ExecutionStatusFailed, 30*time.Second)
	if !weights.Equal(f.forward(), f.snapshot) {
		t.Errorf("listener %s, want the snapshot", f.describe(f.forward()))
	}
	if _, ok := f.forward().Weight(f.groups["v2"].ARN); ok {
		t.Errorf("the deleted group is in the action")
	}
	for _, fwd := range m.Seen() {
		if w, ok := fwd.Weight(f.groups["v2"].ARN); ok && w > 0 {
			t.Errorf("the listener gave the deleted group weight %d: %s", w, f.describe(fwd))
		}
	}
	st := f.status()
	if st.Phase != rollout.PhaseRolledBack || !strings.Contains(st.Message, "fewer than the 1 replicas") {
		t.Errorf("status %s %q, want RolledBack for the missing group", st.Phase, st.Message)
	}
}

// TestDegradedCellLeavesDegradedOnTheNextReconcile: a Cell left Degraded
// (an abort found no healthy stable group and kept the weights) stays
// Degraded through reconciles while v1 has no healthy target, and leaves
// it on the first reconcile after v1's targets are back: the phase returns
// to Stable, a DegradedCleared event records it, and the same reconcile
// re-splits the listener onto v1 (v2 is blocked by the abort).
func TestDegradedCellLeavesDegradedOnTheNextReconcile(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: needs the moto emulator (skipped with -short)")
	}
	t.Parallel()
	f, onb := newReconcileFixture(t, canary(50, "pause"))
	m := f.monitor(pollEvery(40 * time.Millisecond))
	defer m.assertClean()
	arn := f.start("v2", 1)
	f.waitPaused(arn)
	held := f.forward()
	m.Unhealthy("v1", 50)
	f.deregisterTargets("v1")
	if _, err := f.okra.Gate.Abort(f.ctx, f.name, "stable cluster deleted"); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	f.wait(arn, sfntypes.ExecutionStatusFailed, 30*time.Second)
	if st := f.status(); st.Phase != rollout.PhaseDegraded || st.Leased() {
		t.Fatalf("status %s leased %t, want Degraded and released\n%s", st.Phase, st.Leased(), f.dump(arn))
	}
	cleared := func() int {
		n := 0
		for _, ev := range f.events() {
			if ev.Type == store.EventDegradedCleared {
				n++
			}
		}
		return n
	}

	// v1 still has no healthy target: the reconcile keeps everything.
	if _, err := onb.ReconcileAll(f.ctx); err != nil {
		t.Fatalf("ReconcileAll: %v", err)
	}
	if st := f.status(); st.Phase != rollout.PhaseDegraded || !strings.Contains(st.Message, "Degraded") || cleared() != 0 {
		t.Errorf("while v1 is unhealthy: status %s %q, %d DegradedCleared events; want Degraded kept", st.Phase, st.Message, cleared())
	}
	if !weights.Equal(f.forward(), held) {
		t.Errorf("while v1 is unhealthy the reconcile moved the listener to %s", f.describe(f.forward()))
	}

	// A human brings v1's targets back; the next reconcile clears Degraded.
	f.registerTargets("v1")
	m.Healthy("v1")
	if _, err := onb.ReconcileAll(f.ctx); err != nil {
		t.Fatalf("ReconcileAll: %v", err)
	}
	st := f.status()
	if st.Phase != rollout.PhaseStable || st.StableVersion != "v1" || st.Leased() {
		t.Errorf("after v1 recovered: status %s %q stable %s, want Stable at v1", st.Phase, st.Message, st.StableVersion)
	}
	if n := cleared(); n != 1 {
		t.Errorf("%d DegradedCleared events, want 1\n%s", n, f.dump(arn))
	}
	if want := f.split("v1", 100); !weights.Equal(f.forward(), want) {
		t.Errorf("listener %s, want %s (v2 is blocked)", f.describe(f.forward()), f.describe(want))
	}
	// Nothing more to clear.
	if _, err := onb.ReconcileAll(f.ctx); err != nil {
		t.Fatalf("ReconcileAll: %v", err)
	}
	if n := cleared(); n != 1 {
		t.Errorf("%d DegradedCleared events after a third reconcile, want still 1", n)
	}
}
