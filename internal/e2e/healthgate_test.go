package e2e

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/weights"
)

// TestHealthGate drives the handlers directly against moto (a state
// machine would wait HealthPollInterval, 30s, between checks): with every
// target of v2 deregistered (moto then reports zero healthy), NextStep
// plans WaitForHealthy and SetWeights refuses to raise v2's weight with
// UnhealthyTargetsError, leaving the listener alone; lowering it stays
// allowed (and, with no healthy canary group, gives its whole share to
// stable); once targets are back the same SetWeights goes through.
func TestHealthGate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, canary(20, 60), time.Second, map[string]bool{"v1": true, "v2": true})
	h := f.okra.Handlers
	exec := executions.ARN(f.okra.StateMachineARN, executions.Name(f.name, "v2", 1)) // never started
	out, err := h.Plan(f.ctx, steps.PlanInput{Operation: steps.OpAcquireLease, Cell: f.name, TargetVersion: "v2", ExecutionARN: exec})
	if err != nil {
		t.Fatalf("AcquireLease: %v", err)
	}
	if a := out.(rollout.Action); a.Kind != steps.ActionStart || a.StableVersion != "v1" || a.CanaryVersion != "v2" {
		t.Fatalf("AcquireLease = %+v", a)
	}

	f.deregisterTargets("v2")
	next, err := h.Plan(f.ctx, steps.PlanInput{Operation: steps.OpNextStep, Cell: f.name, ExecutionARN: exec, Previous: &rollout.Action{Kind: steps.ActionStart}})
	if err != nil {
		t.Fatalf("NextStep: %v", err)
	}
	if a := next.(rollout.Action); a.Kind != rollout.ActionWaitForHealthy || len(a.TargetGroups) != 1 || a.TargetGroups[0] != f.groups["v2"].ARN {
		t.Fatalf("NextStep with v2 unhealthy = %+v, want WaitForHealthy naming v2's group", a)
	}

	raise := rollout.Action{Kind: rollout.ActionSetWeights, StableVersion: "v1", CanaryVersion: "v2", StepIndex: 0, NextStepIndex: 1, CanaryWeight: 20}
	up := f.split("v1", 80, "v2", 20)
	raise.Forward = &up
	_, err = h.Weights(f.ctx, steps.WeightsInput{Operation: steps.OpSet, Cell: f.name, ExecutionARN: exec, Action: raise})
	var unhealthy *steps.UnhealthyTargetsError
	if !errors.As(err, &unhealthy) || !strings.Contains(err.Error(), f.groups["v2"].Name+" (0 healthy)") {
		t.Fatalf("SetWeights raising an unhealthy canary: %v, want UnhealthyTargetsError naming %s", err, f.groups["v2"].Name)
	}
	if _, isType := err.(*steps.UnhealthyTargetsError); !isType {
		t.Errorf("the error at the boundary is a %T, want *steps.UnhealthyTargetsError unwrapped", err)
	}
	if !weights.Equal(f.forward(), f.snapshot) {
		t.Fatalf("the refused SetWeights changed the listener to %s", f.describe(f.forward()))
	}

	f.registerTargets("v2")
	if _, err := h.Weights(f.ctx, steps.WeightsInput{Operation: steps.OpSet, Cell: f.name, ExecutionARN: exec, Action: raise}); err != nil {
		t.Fatalf("SetWeights with v2 healthy again: %v", err)
	}
	if !weights.Equal(f.forward(), up) {
		t.Fatalf("listener %s, want %s", f.describe(f.forward()), f.describe(up))
	}

	f.deregisterTargets("v2")
	lower := raise
	down := f.split("v1", 90, "v2", 10)
	lower.Forward, lower.CanaryWeight = &down, 10
	if _, err := h.Weights(f.ctx, steps.WeightsInput{Operation: steps.OpSet, Cell: f.name, ExecutionARN: exec, Action: lower}); err != nil {
		t.Fatalf("lowering an unhealthy canary's weight: %v, want allowed", err)
	}
	// Never route to nothing: v2 has no healthy target, so the share the
	// step would leave it goes to stable.
	if want := f.split("v1", 100, "v2", 0); !weights.Equal(f.forward(), want) {
		t.Fatalf("listener %s, want %s", f.describe(f.forward()), f.describe(want))
	}

	// End the probe's rollout the way the state machine would.
	if _, err := h.RollbackHandler(f.ctx, steps.EndInput{Operation: steps.OpRollback, Cell: f.name, ExecutionARN: exec,
		Action: steps.EndAction{Action: rollout.Action{Kind: rollout.ActionRollback, Reason: "canary unhealthy"}}}); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if !weights.Equal(f.forward(), f.snapshot) {
		t.Errorf("listener after Rollback %s, want the snapshot", f.describe(f.forward()))
	}
}
