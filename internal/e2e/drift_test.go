package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// Drift (issue 11, invariant 2): weights edited by hand while a rollout
// waits are found at the next step boundary, recorded with expected and
// actual, and wait for a human: promote adopts them, abort restores the
// snapshot; with onDrift Rollback the rollout rolls back by itself.

// handEdit sets the Cell's forward action as a person would (telling the
// monitor it is the test's own change).
func (f *fixture) handEdit(m *monitor, fwd weights.Forward) {
	f.t.Helper()
	m.Edited(fwd)
	if err := f.control.Set(f.ctx, f.spec.Spec.Ingress, fwd); err != nil {
		f.t.Fatalf("editing the listener by hand: %v", err)
	}
}

// waitDrift waits until the rollout waits for a human on a drift, with a
// task token other than previous.
func (f *fixture) waitDrift(arn, previous string) rollout.Status {
	f.t.Helper()
	var st rollout.Status
	f.waitFor(arn, "the rollout to wait on the drift", 30*time.Second, func() (bool, string) {
		st = f.status()
		return st.Phase == rollout.PhasePaused && st.Drift != nil && st.TaskToken != "" && st.TaskToken != previous,
			fmt.Sprintf("status %s (%s), drift %t", st.Phase, st.Message, st.Drift != nil)
	})
	return st
}

// event returns the Cell's first event of type t by arn.
func (f *fixture) event(arn string, t store.EventType) *store.Event {
	for _, ev := range f.events() {
		if ev.Type == t && ev.Execution == arn {
			return &ev
		}
	}
	return nil
}

// driftUnderPause runs a rollout to its indefinite pause at 20%, edits the
// weights by hand to 60/40 and promotes: the rollout must stop on the
// drift with the diff in the history and the edit untouched.
func driftUnderPause(t *testing.T, onDrift cell.OnDrift) (*fixture, *monitor, string, weights.Forward) {
	t.Helper()
	f := newFixture(t, canary(20, "pause", 50), time.Second, map[string]bool{"v1": true, "v2": true})
	if onDrift != "" {
		f.spec.Spec.UpdateStrategy.Canary.OnDrift = onDrift
		rec, err := f.okra.Store.GetCell(f.ctx, f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.okra.Store.PutCell(f.ctx, f.spec, rec.Revision); err != nil {
			t.Fatalf("PutCell: %v", err)
		}
	}
	m := f.monitor(pollEvery(40 * time.Millisecond))
	arn := f.start("v2", 1)
	st := f.waitPaused(arn)
	if !weights.Equal(f.forward(), f.split("v1", 80, "v2", 20)) {
		t.Fatalf("paused with the listener at %s, want 80/20", f.describe(f.forward()))
	}
	edited := f.split("v1", 60, "v2", 40)
	f.handEdit(m, edited)
	if _, err := f.okra.Gate.Promote(f.ctx, f.name); err != nil {
		t.Fatalf("Promote: %v\n%s", err, f.dump(arn))
	}
	if onDrift == cell.OnDriftRollback {
		return f, m, arn, edited
	}
	f.waitDrift(arn, st.TaskToken)
	if !weights.Equal(f.forward(), edited) {
		t.Fatalf("the hand edit was overwritten: listener %s", f.describe(f.forward()))
	}
	ev := f.event(arn, store.EventWeightsDrifted)
	if ev == nil || ev.Weights == nil || !weights.Equal(*ev.Weights, edited) ||
		!strings.Contains(ev.Details["expected"], "=80") || !strings.Contains(ev.Details["actual"], "=60") {
		t.Fatalf("WeightsDrifted event %+v, want expected (80/20) and actual (60/40)\n%s", ev, f.dump(arn))
	}
	return f, m, arn, edited
}

func TestDriftDuringPausePromoteAdopts(t *testing.T) {
	t.Parallel()
	f, m, arn, _ := driftUnderPause(t, "")
	defer m.assertClean()
	if _, err := f.okra.Gate.Promote(f.ctx, f.name); err != nil {
		t.Fatalf("Promote of the drift: %v\n%s", err, f.dump(arn))
	}
	f.wait(arn, sfntypes.ExecutionStatusSucceeded, 60*time.Second)
	if ev := f.event(arn, store.EventWeightsAdopted); ev == nil || ev.Details["choice"] != "promote" {
		t.Errorf("WeightsAdopted event %+v, want the promote recorded\n%s", ev, f.dump(arn))
	}
	final := f.status()
	if final.Phase != rollout.PhaseStable || final.StableVersion != "v2" || final.Drift != nil {
		t.Errorf("final status %s stable %s drift %v", final.Phase, final.StableVersion, final.Drift)
	}
	if !weights.Equal(f.forward(), f.split("v2", 100)) {
		t.Errorf("listener after the rollout: %s", f.describe(f.forward()))
	}
}

func TestDriftDuringPauseAbortRestores(t *testing.T) {
	t.Parallel()
	f, m, arn, _ := driftUnderPause(t, "")
	defer m.assertClean()
	if _, err := f.okra.Gate.Abort(f.ctx, f.name, "the hand edit was a mistake"); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	f.wait(arn, sfntypes.ExecutionStatusFailed, 30*time.Second)
	if !weights.Equal(f.forward(), f.snapshot) {
		t.Errorf("listener after abort %s, want the snapshot %s", f.describe(f.forward()), f.describe(f.snapshot))
	}
	if st := f.status(); st.Phase != rollout.PhaseRolledBack || st.Leased() {
		t.Errorf("status %s leased %t, want RolledBack, released", st.Phase, st.Leased())
	}
	var choice bool
	for _, ev := range f.events() {
		choice = choice || (ev.Type == store.EventWeightsDrifted && ev.Details["choice"] == "abort")
	}
	if !choice || f.event(arn, store.EventAborted) == nil || f.event(arn, store.EventRolledBack) == nil {
		t.Errorf("history lacks the abort choice over the drift\n%s", f.dump(arn))
	}
}

func TestDriftWithOnDriftRollbackRollsBack(t *testing.T) {
	t.Parallel()
	f, m, arn, _ := driftUnderPause(t, cell.OnDriftRollback)
	defer m.assertClean()
	f.wait(arn, sfntypes.ExecutionStatusFailed, 30*time.Second)
	if !weights.Equal(f.forward(), f.snapshot) {
		t.Errorf("listener %s, want the snapshot", f.describe(f.forward()))
	}
	st := f.status()
	if st.Phase != rollout.PhaseRolledBack || !strings.Contains(st.Message, "onDrift is Rollback") {
		t.Errorf("status %s %q, want RolledBack by onDrift", st.Phase, st.Message)
	}
	if ev := f.event(arn, store.EventWeightsDrifted); ev == nil || ev.Details["onDrift"] != "Rollback" {
		t.Errorf("WeightsDrifted event %+v\n%s", ev, f.dump(arn))
	}
}

// TestIngressChangedMidRollout: the Cell's ingress is rewritten in the
// store mid-rollout (bypassing the CLI) to another listener that exists,
// or to a well-formed ARN of none: the next boundary rolls back, and the
// rollback restores the snapshot where it was taken.
func TestIngressChangedMidRollout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		other func(f *fixture) string
	}{
		{"to another listener", func(f *fixture) string {
			lbs, err := f.elb.DescribeListeners(f.ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{f.listener}})
			if err != nil {
				t.Fatal(err)
			}
			out, err := f.elb.CreateListener(f.ctx, &elbv2.CreateListenerInput{
				LoadBalancerArn: lbs.Listeners[0].LoadBalancerArn, Port: aws.Int32(81), Protocol: "HTTP",
				DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, ForwardConfig: &elbv2types.ForwardActionConfig{
					TargetGroups: []elbv2types.TargetGroupTuple{{TargetGroupArn: aws.String(f.groups["v1"].ARN), Weight: aws.Int32(100)}},
				}}},
			})
			if err != nil {
				t.Fatalf("CreateListener: %v", err)
			}
			return aws.ToString(out.Listeners[0].ListenerArn)
		}},
		{"to a listener that does not exist", func(f *fixture) string {
			return f.listener[:strings.LastIndex(f.listener, "/")+1] + "0123456789abcdef"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, canary(50, "pause"), time.Second, map[string]bool{"v1": true, "v2": true})
			m := f.monitor(pollEvery(40 * time.Millisecond))
			defer m.assertClean()
			arn := f.start("v2", 1)
			f.waitPaused(arn)
			other := tc.other(f)
			moved := *f.spec
			moved.Spec.Ingress.ListenerARN = other
			rec, err := f.okra.Store.GetCell(f.ctx, f.name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.okra.Store.PutCell(f.ctx, &moved, rec.Revision); err != nil {
				t.Fatalf("PutCell: %v", err)
			}
			if _, err := f.okra.Gate.Promote(f.ctx, f.name); err != nil {
				t.Fatalf("Promote: %v", err)
			}
			f.wait(arn, sfntypes.ExecutionStatusFailed, 30*time.Second)
			if !weights.Equal(f.forward(), f.snapshot) {
				t.Errorf("the snapshot's listener %s, want the snapshot %s", f.describe(f.forward()), f.describe(f.snapshot))
			}
			st := f.status()
			if st.Phase != rollout.PhaseRolledBack || !strings.Contains(st.Message, "ingress changed") || st.Leased() {
				t.Errorf("status %s %q leased %t, want RolledBack for the ingress change", st.Phase, st.Message, st.Leased())
			}
			if st.SnapshotAt == nil || st.SnapshotAt.ListenerARN != f.listener {
				t.Errorf("SnapshotAt %+v, want %s", st.SnapshotAt, f.listener)
			}
			if tc.name == "to another listener" {
				out, err := f.elb.DescribeListeners(f.ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{other}})
				if err != nil {
					t.Fatal(err)
				}
				fc := out.Listeners[0].DefaultActions[0].ForwardConfig
				if len(fc.TargetGroups) != 1 || aws.ToString(fc.TargetGroups[0].TargetGroupArn) != f.groups["v1"].ARN {
					t.Errorf("the other listener was changed: %+v", fc.TargetGroups)
				}
			}
		})
	}
}
