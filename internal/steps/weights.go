package steps

import (
	"context"
	"errors"
	"fmt"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// Operations of the rollout-weights function.
const (
	OpSet    = "Set"
	OpVerify = "Verify"
)

// WeightsInput is the rollout-weights function's input (the SetWeights and
// VerifyWeights states).
type WeightsInput struct {
	Operation    string         `json:"operation"`
	Cell         string         `json:"cell"`
	ExecutionARN string         `json:"executionArn"`
	Action       rollout.Action `json:"action"`
}

// Weights is the rollout-weights function's handler: Set or Verify. It
// returns nothing; errors are typed (see Boundary).
func (h *Handlers) Weights(ctx context.Context, in WeightsInput) (any, error) {
	var err error
	switch in.Operation {
	case OpSet:
		err = h.SetWeights(ctx, in)
	case OpVerify:
		err = h.VerifyWeights(ctx, in)
	default:
		err = fmt.Errorf("rollout-weights: unknown operation %q (want %s or %s)", in.Operation, OpSet, OpVerify)
	}
	if err != nil {
		h.log.WarnContext(ctx, "rollout-weights failed", "operation", in.Operation, "cell", in.Cell, "execution", in.ExecutionARN, "error", err)
		return nil, Boundary(err)
	}
	return nil, nil
}

// SetWeights writes the SetWeights action's forward action to the Cell's
// listener, after checking, again, what the planner checked: the health
// gate (*UnhealthyTargetsError when the canary's weight would rise, or
// one of its groups gain weight, while a canary group has fewer healthy
// targets than the Cell's minimum) and the limits of a forward action
// (*LimitError). It records status.Weights and a WeightsSet event.
func (h *Handlers) SetWeights(ctx context.Context, in WeightsInput) error {
	l, err := h.hold(ctx, in.Cell, in.ExecutionARN)
	if err != nil {
		return err
	}
	st := l.status.Status
	a := in.Action
	if a.Kind != rollout.ActionSetWeights || a.Forward == nil {
		return fmt.Errorf("Set: want a %s action with a forward action, got %s (forward set: %t)", rollout.ActionSetWeights, a.Kind, a.Forward != nil)
	}
	fwd := a.Forward.Clone()
	if err := listener.CheckLimits(fwd); err != nil {
		return err
	}
	c, err := h.cellOf(ctx, in.Cell, l, false)
	if err != nil {
		return err
	}
	ing := rolloutIngress(c, st)
	current, err := h.listener.Read(ctx, ing)
	if err != nil {
		return err
	}
	if fwd.Stickiness == nil {
		fwd.Stickiness = current.Stickiness // what listener.Set keeps
	}
	if d := driftOf(ing, st, current); d != nil && !weights.Equal(current, fwd) {
		// Changed behind okra's back since NextStep looked (not by a
		// retry of this very Set): the state machine goes back to
		// NextStep, which records it and waits.
		return d
	}
	canary := st.CanaryVersion
	if canary == "" {
		canary = a.CanaryVersion
	}
	found, err := h.discoverFor(ctx, c, current, fwd)
	if err != nil {
		return err
	}
	if err := h.healthGate(c, found, canary, current, fwd); err != nil {
		return err
	}
	// Never route to nothing, on either side: a stable (or canary) group
	// that is missing or unhealthy passes its share to its side's healthy
	// groups, or the step waits.
	byARN := groupsByARN(found.TargetGroups)
	health := rollout.HealthOf(found.TargetGroups)
	routing, err := weights.Reroute(fwd, health, minHealthyOf(c), func(arn string) string {
		if g, ok := byARN[arn]; ok && g.Version != canary {
			return "stable"
		}
		return "canary"
	})
	if nr, ok := noRoutable(err); ok && nr.Side == "canary" && weights.Share(fwd, canaryARNsOf(byARN, canary, fwd)) <= weights.Share(current, canaryARNsOf(byARN, canary, current)) {
		// Lowering the canary while none of its groups can take traffic:
		// its share goes to stable (lowering is always allowed).
		routing, err = weights.Reroute(fwd, health, minHealthyOf(c), nil)
	}
	if nr, ok := noRoutable(err); ok {
		var bad []string
		for _, g := range nr.Unusable {
			state := fmt.Sprintf("%d healthy", g.Healthy)
			if g.Missing {
				state = "missing"
			}
			bad = append(bad, fmt.Sprintf("%s (%s)", shortARN(g.ARN), state))
		}
		return &UnhealthyTargetsError{Cell: in.Cell, TargetGroups: bad, MinHealthy: nr.MinHealthy, CanaryWeight: weights.Share(current, canaryARNsOf(byARN, canary, fwd))}
	}
	if err != nil {
		return err
	}
	details := map[string]string{"canaryWeight": fmt.Sprint(a.CanaryWeight), "stepIndex": fmt.Sprint(a.StepIndex)}
	if routing.Substituted() {
		details["rerouted"] = routing.Reason()
		fwd = routing.Forward
	}
	log := h.log.With("cell", in.Cell, "execution", in.ExecutionARN, "step", a.StepIndex)
	log.InfoContext(ctx, "setting weights", "canary", canary, "canaryWeight", a.CanaryWeight, "from", describeForward(current), "to", describeForward(fwd))
	if err := h.listener.Set(ctx, ing, fwd); err != nil {
		return fmt.Errorf("setting weights of Cell %q, %w", in.Cell, err)
	}
	log.InfoContext(ctx, "set weights", "canary", canary, "canaryWeight", a.CanaryWeight)
	if _, err := h.store.UpdateStatusFrom(ctx, in.Cell, in.ExecutionARN, &l.status, func(s *rollout.Status) error {
		s.Weights = fwd.Clone()
		return nil
	}); err != nil {
		return err
	}
	return h.event(ctx, in.Cell, store.Event{
		Type: store.EventWeightsSet, Execution: in.ExecutionARN, Version: canary,
		Message: fmt.Sprintf("%s: %s", rollout.StepText(a.StepIndex, st.StepCount), a.Reason), Weights: &fwd, Details: details,
	})
}

// canaryARNsOf is fwd's groups that are the canary's (or unknown).
func canaryARNsOf(byARN map[string]inventory.TargetGroup, canary string, fwd weights.Forward) []string {
	var out []string
	for _, tg := range fwd.TargetGroups {
		if g, ok := byARN[tg.ARN]; !ok || g.Version == canary {
			out = append(out, tg.ARN)
		}
	}
	return out
}

// healthGate refuses next when it raises the canary's share, or gives a
// canary target group more weight, while one of the canary's groups in
// next has fewer healthy targets than the Cell's minimum. A group in next
// that discovery no longer finds counts as a canary group with no healthy
// targets. Lowering the canary's weight is always allowed.
func (h *Handlers) healthGate(c *cell.Cell, found discovery.CellTargetGroups, canary string, current, next weights.Forward) error {
	byARN := groupsByARN(found.TargetGroups)
	canaryARNs := canaryARNsOf(byARN, canary, next)
	minHealthy := minHealthyOf(c)
	nowShare, nextShare := weights.Share(current, canaryARNs), weights.Share(next, canaryARNs)
	var bad []string
	for _, arn := range canaryARNs {
		g, ok := byARN[arn]
		if ok && g.HealthyTargets >= minHealthy {
			continue
		}
		before, _ := current.Weight(arn)
		after, _ := next.Weight(arn)
		if after > before || (nextShare > nowShare && after > 0) {
			if ok {
				bad = append(bad, fmt.Sprintf("%s (%d healthy)", g.Name, g.HealthyTargets))
			} else {
				bad = append(bad, fmt.Sprintf("%s (not found among the Cell's target groups)", shortARN(arn)))
			}
		}
	}
	if len(bad) > 0 {
		return &UnhealthyTargetsError{Cell: c.Metadata.Name, TargetGroups: bad, MinHealthy: minHealthy, CanaryWeight: nowShare}
	}
	return nil
}

// VerifyWeights reads the listener back and compares it with the action's
// forward action: a *DriftError (and a WeightsDrifted event) when they
// differ, else a WeightsVerified event.
func (h *Handlers) VerifyWeights(ctx context.Context, in WeightsInput) error {
	l, err := h.hold(ctx, in.Cell, in.ExecutionARN)
	if err != nil {
		return err
	}
	st := l.status.Status
	a := in.Action
	if a.Forward == nil {
		return fmt.Errorf("Verify: the %s action has no forward action", a.Kind)
	}
	c, err := h.cellOf(ctx, in.Cell, l, false)
	if err != nil {
		return err
	}
	// What SetWeights wrote: the action's forward action, or its intent
	// moved off groups that could not carry traffic.
	expected := *a.Forward
	if !st.Weights.Empty() {
		expected = st.Weights
	}
	err = h.listener.Verify(ctx, rolloutIngress(c, st), expected)
	var drift *listener.DriftError
	if errors.As(err, &drift) {
		actual := drift.Actual
		if evErr := h.event(ctx, in.Cell, store.Event{
			Type: store.EventWeightsDrifted, Execution: in.ExecutionARN, Version: a.CanaryVersion,
			Message: drift.Error(), Weights: &actual,
		}); evErr != nil {
			h.log.WarnContext(ctx, "recording drift", "cell", in.Cell, "error", evErr)
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("verifying weights of Cell %q, %w", in.Cell, err)
	}
	fwd := expected.Clone()
	return h.event(ctx, in.Cell, store.Event{
		Type: store.EventWeightsVerified, Execution: in.ExecutionARN, Version: a.CanaryVersion,
		Message: fmt.Sprintf("%s: %s", rollout.StepText(a.StepIndex, st.StepCount), a.Reason), Weights: &fwd,
		Details: map[string]string{"canaryWeight": fmt.Sprint(a.CanaryWeight), "stepIndex": fmt.Sprint(a.StepIndex)},
	})
}
