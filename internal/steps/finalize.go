package steps

import (
	"context"
	"errors"
	"fmt"

	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/targetgroups"
	"github.com/okrahq/okra/internal/weights"
)

// Finalize is the rollout-finalize function's handler. After the rollback
// window it sets and verifies the action's forward action (the canary's
// target groups only: the old ones leave the action), records the canary
// as the stable version (phase Stable, canary cleared), appends a
// Finalized event, releases the lease and notifies. Then, best effort, it
// deletes the old version's target groups whose clusters are gone
// (targetgroups.Delete refuses the others; refusals are logged, never
// returned). Like Rollback it is idempotent once the lease is released.
func (h *Handlers) Finalize(ctx context.Context, in EndInput) (any, error) {
	if err := h.finalize(ctx, in); err != nil {
		h.log.WarnContext(ctx, "rollout-finalize failed", "cell", in.Cell, "execution", in.ExecutionARN, "error", err)
		return nil, Boundary(err)
	}
	return nil, nil
}

func (h *Handlers) finalize(ctx context.Context, in EndInput) error {
	a := in.Action
	if a.Kind != rollout.ActionFinalize || a.Forward == nil {
		return fmt.Errorf("Finalize: want a %s action with a forward action, got %s (forward set: %t)", rollout.ActionFinalize, a.Kind, a.Forward != nil)
	}
	rec, err := h.store.GetStatus(ctx, in.Cell)
	if err != nil {
		return err
	}
	st := rec.Status
	if st.ExecutionARN != in.ExecutionARN {
		done, err := h.recorded(ctx, in.Cell, in.ExecutionARN, store.EventFinalized)
		if err != nil {
			return err
		}
		if done {
			h.log.InfoContext(ctx, "already finalized", "cell", in.Cell, "execution", in.ExecutionARN)
			return nil
		}
		return lost(in.Cell, in.ExecutionARN, st)
	}
	now := h.now()
	if a.After != nil && now.Before(*a.After) {
		return fmt.Errorf("Finalize: the rollback window of Cell %q ends at %s; refusing to remove the old target groups before", in.Cell, a.After.UTC().Format("2006-01-02T15:04:05Z07:00"))
	}
	fwd := a.Forward.Clone()
	if err := listener.CheckLimits(fwd); err != nil {
		return err
	}
	c, _, err := h.loadCell(ctx, in.Cell, false)
	if err != nil {
		return err
	}
	ing := rolloutIngress(c, st)
	current, err := h.listener.Read(ctx, ing)
	if err != nil {
		return err
	}
	// The canary's groups keep the whole action: none may be missing or
	// unhealthy (the planner checked; this is the last look before AWS).
	routing, err := h.reroute(ctx, c, fwd)
	if nr, ok := noRoutable(err); ok {
		return &UnhealthyTargetsError{Cell: in.Cell, TargetGroups: []string{nr.Error()}, MinHealthy: nr.MinHealthy, CanaryWeight: 100}
	}
	if err != nil {
		return err
	}
	if routing.Substituted() {
		fwd = routing.Forward
	}
	log := h.log.With("cell", in.Cell, "execution", in.ExecutionARN)
	log.InfoContext(ctx, "setting weights", "finalize", true, "from", describeForward(current), "to", describeForward(fwd))
	if err := h.listener.Set(ctx, ing, fwd); err != nil {
		return fmt.Errorf("finalizing Cell %q, %w", in.Cell, err)
	}
	log.InfoContext(ctx, "set weights", "finalize", true, "weights", describeForward(fwd))
	if err := h.listener.Verify(ctx, ing, fwd); err != nil {
		return err
	}

	// The groups that left the action: what the listener held, and what
	// the rollout started from, minus what stays.
	var removed []string
	seen := map[string]bool{}
	for _, f := range []*weights.Forward{&current, st.Snapshot} {
		if f == nil {
			continue
		}
		for _, tg := range f.TargetGroups {
			if _, keep := fwd.Weight(tg.ARN); !keep && !seen[tg.ARN] {
				seen[tg.ARN] = true
				removed = append(removed, tg.ARN)
			}
		}
	}

	canary, previous := st.CanaryVersion, st.StableVersion
	if canary == "" {
		canary = a.CanaryVersion
	}
	message := fmt.Sprintf("%s is stable (rolled from %s)", canary, previous)
	if _, err := h.store.UpdateStatus(ctx, in.Cell, in.ExecutionARN, func(s *rollout.Status) error {
		s.Phase, s.Message = rollout.PhaseStable, message
		s.StableVersion, s.CanaryVersion = canary, ""
		s.Weights = fwd.Clone()
		s.StepIndex = s.StepCount
		s.TaskToken, s.PausedUntil, s.FinalizeAfter = "", nil, nil
		return nil
	}); err != nil {
		return err
	}
	if err := h.event(ctx, in.Cell, store.Event{
		Type: store.EventFinalized, Execution: in.ExecutionARN, Version: canary, Message: message, Weights: &fwd,
		Details: map[string]string{"previous": previous, "removedTargetGroups": fmt.Sprint(len(removed))},
	}); err != nil {
		return err
	}
	if err := h.store.ReleaseLease(ctx, in.Cell, in.ExecutionARN); err != nil {
		return err
	}
	log.InfoContext(ctx, "rollout finalized", "stable", canary, "previous", previous)
	h.notify(ctx, Notification{Cell: in.Cell, Event: store.EventFinalized, Version: canary, Stable: canary, Execution: in.ExecutionARN, Message: message})
	h.cleanup(ctx, in.Cell, removed)
	return nil
}

// cleanup deletes target groups that left the forward action, when
// targetgroups.Delete finds it safe; it logs what it kept and why.
func (h *Handlers) cleanup(ctx context.Context, cellName string, arns []string) {
	if h.tgs == nil {
		return
	}
	for _, arn := range arns {
		err := h.tgs.Delete(ctx, arn)
		var refused *targetgroups.DeleteRefusedError
		switch {
		case err == nil:
			h.log.InfoContext(ctx, "deleted old target group", "cell", cellName, "targetGroup", arn)
		case errors.As(err, &refused):
			h.log.InfoContext(ctx, "kept old target group", "cell", cellName, "targetGroup", arn, "reason", refused.Reason, "why", refused.Error())
		default:
			h.log.WarnContext(ctx, "deleting old target group failed; reconcile retries later", "cell", cellName, "targetGroup", arn, "error", err)
		}
	}
}
