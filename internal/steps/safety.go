package steps

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// This file holds the operational safety rules every weight change of a
// rollout goes through: where the rollout's forward action is (where its
// snapshot was taken, whatever the spec says now), never routing to a
// target group that is missing or unhealthy (weights.Reroute), and never
// overwriting a change made behind okra's back (drift).

// rolloutIngress is where the rollout of st moves traffic: where its
// snapshot was taken, else (a status from before locations were
// recorded, or no rollout) the spec's ingress.
func rolloutIngress(c *cell.Cell, st rollout.Status) cell.Ingress {
	if st.SnapshotAt != nil && st.SnapshotAt.ListenerARN != "" {
		return st.SnapshotAt.Ingress(c.Spec.Ingress)
	}
	return c.Spec.Ingress
}

// ingressChanged says why the spec's ingress is no longer where the
// rollout runs, or "" when it is.
func ingressChanged(c *cell.Cell, st rollout.Status) string {
	if st.SnapshotAt == nil || st.SnapshotAt.Same(c.Spec.Ingress) {
		return ""
	}
	return fmt.Sprintf("the Cell's ingress changed during the rollout (%s, now %s): restoring the snapshot where it was taken",
		listener.Where(st.SnapshotAt.Ingress(c.Spec.Ingress)), listener.Where(c.Spec.Ingress))
}

// minHealthyOf is the Cell's minimum of healthy targets per group.
func minHealthyOf(c *cell.Cell) int {
	if m := c.Spec.MinHealthyTargets; m != nil {
		return int(*m)
	}
	return int(cell.DefaultMinHealthyTargets)
}

// discoverFor finds c's target groups and reads the health of the ones
// that any of fwds lists: the groups a weight change or a restore can give
// weight to. The others keep HealthyTargets unread (0); a listed group that
// is gone is left out, so it counts as missing.
//
// A Cell without a selector is cellFromStatus's (a recovery whose spec
// cannot be read): then the listed groups themselves are looked up by
// ARN, and one that is gone counts as missing.
func (h *Handlers) discoverFor(ctx context.Context, c *cell.Cell, fwds ...weights.Forward) (discovery.CellTargetGroups, error) {
	if len(c.Spec.Ingress.TargetGroupSelector.MatchLabels) == 0 {
		return h.listedGroups(ctx, fwds...)
	}
	found, err := h.discover.ForCell(ctx, c)
	if err != nil {
		return found, err
	}
	listed := map[string]bool{}
	for _, f := range fwds {
		for _, tg := range f.TargetGroups {
			listed[tg.ARN] = true
		}
	}
	var read, rest []inventory.TargetGroup
	for _, g := range found.TargetGroups {
		if listed[g.ARN] {
			read = append(read, g)
		} else {
			rest = append(rest, g)
		}
	}
	withHealth, err := h.discover.Health(ctx, read)
	if err != nil {
		return found, err
	}
	found.TargetGroups = append(withHealth, rest...)
	sort.Slice(found.TargetGroups, func(i, j int) bool { return found.TargetGroups[i].Name < found.TargetGroups[j].Name })
	return found, nil
}

// listedGroups reads the health of every group fwds list, by ARN (the
// name is unknown without discovery, so the ARN stands for it).
func (h *Handlers) listedGroups(ctx context.Context, fwds ...weights.Forward) (discovery.CellTargetGroups, error) {
	seen := map[string]bool{}
	var listed []inventory.TargetGroup
	for _, f := range fwds {
		for _, tg := range f.TargetGroups {
			if !seen[tg.ARN] {
				seen[tg.ARN] = true
				listed = append(listed, inventory.TargetGroup{ARN: tg.ARN, Name: tg.ARN})
			}
		}
	}
	withHealth, err := h.discover.Health(ctx, listed)
	return discovery.CellTargetGroups{TargetGroups: withHealth}, err
}

// reroute applies weights.Reroute to intended with the Cell's target
// groups as discovered now, every group on one side.
func (h *Handlers) reroute(ctx context.Context, c *cell.Cell, intended weights.Forward) (weights.Routing, error) {
	found, err := h.discoverFor(ctx, c, intended)
	if err != nil {
		return weights.Routing{}, err
	}
	return weights.Reroute(intended, rollout.HealthOf(found.TargetGroups), minHealthyOf(c), nil)
}

// driftOf compares what the rollout last set and verified (st.Weights)
// with the listener's action now; nil when they are the same or when the
// status records nothing yet.
func driftOf(ing cell.Ingress, st rollout.Status, current weights.Forward) *listener.DriftError {
	if st.Weights.Empty() {
		return nil
	}
	return listener.Compare(listener.Where(ing), st.Weights, current)
}

// driftDetails is how a drift is written in the history.
func driftDetails(d *listener.DriftError) map[string]string {
	return map[string]string{
		"location": d.Location,
		"expected": describeForward(d.Expected),
		"actual":   describeForward(d.Actual),
		"diff":     d.Error(),
	}
}

// checkDrift runs at every step boundary (NextStep), after the listener
// was read (current). A promote answering a drift wait (prev.Drift) adopts
// what the listener holds when it is still what was found: status.Weights
// becomes it, and a WeightsAdopted event says so. Any other difference
// between status.Weights and current is recorded (status.Drift, a
// WeightsDrifted event with expected and actual) and returned as the
// action to take instead of the planner's: a drift wait (AwaitApproval
// with Drift), or, with spec.updateStrategy.canary.onDrift Rollback, a
// rollback. It returns nil and the status to plan with when there is no
// drift.
func (h *Handlers) checkDrift(ctx context.Context, c *cell.Cell, executionARN string, st rollout.Status, prev rollout.Action, current weights.Forward) (*rollout.Action, rollout.Status, error) {
	name := c.Metadata.Name
	ing := rolloutIngress(c, st)
	if st.Drift != nil && prev.Drift && prev.Kind == rollout.ActionAwaitApproval && weights.Equal(st.Drift.Actual, current) {
		d := driftOf(ing, st, current)
		rec, err := h.store.UpdateStatus(ctx, name, executionARN, func(s *rollout.Status) error {
			s.Weights = current.Clone()
			s.Drift = nil
			return nil
		})
		if err != nil {
			return nil, st, err
		}
		adopted := current.Clone()
		details := map[string]string{"choice": "promote"}
		if d != nil {
			details = driftDetails(d)
			details["choice"] = "promote"
		}
		if err := h.event(ctx, name, store.Event{
			Type: store.EventWeightsAdopted, Execution: executionARN, Version: st.CanaryVersion, Weights: &adopted,
			Message: fmt.Sprintf("promoted: the weights found on %s (%s) are the rollout's own now; it carries on from them", listener.Where(ing), describeForward(current)),
			Details: details,
		}); err != nil {
			return nil, st, err
		}
		h.log.InfoContext(ctx, "adopted drifted weights", "cell", name, "execution", executionARN, "weights", describeForward(current))
		return nil, rec.Status, nil
	}
	d := driftOf(ing, st, current)
	if d == nil {
		if st.Drift != nil { // put back by hand: nothing to wait for
			rec, err := h.store.UpdateStatus(ctx, name, executionARN, func(s *rollout.Status) error { s.Drift = nil; return nil })
			if err != nil {
				return nil, st, err
			}
			st = rec.Status
		}
		return nil, st, nil
	}
	rollback := c.Spec.UpdateStrategy.Canary != nil && c.Spec.UpdateStrategy.Canary.OnDrift == cell.OnDriftRollback
	known := st.Drift != nil && weights.Equal(st.Drift.Actual, current)
	if !known {
		rec, err := h.store.UpdateStatus(ctx, name, executionARN, func(s *rollout.Status) error {
			s.Drift = &rollout.Drift{Expected: d.Expected.Clone(), Actual: d.Actual.Clone(), Diff: d.Error(), DetectedAt: h.now()}
			return nil
		})
		if err != nil {
			return nil, st, err
		}
		st = rec.Status
		actual := d.Actual.Clone()
		details := driftDetails(d)
		details["onDrift"] = string(cell.OnDriftPause)
		if rollback {
			details["onDrift"] = string(cell.OnDriftRollback)
		}
		if err := h.event(ctx, name, store.Event{
			Type: store.EventWeightsDrifted, Execution: executionARN, Version: st.CanaryVersion,
			Message: d.Error() + " (changed outside okra since it last set them)", Weights: &actual, Details: details,
		}); err != nil {
			return nil, st, err
		}
		h.log.WarnContext(ctx, "weights drifted", "cell", name, "execution", executionARN, "expected", describeForward(d.Expected), "actual", describeForward(d.Actual))
	}
	a := rollout.Action{
		StableVersion: st.StableVersion, CanaryVersion: st.CanaryVersion,
		StepIndex: st.StepIndex, NextStepIndex: st.StepIndex, CanaryWeight: int32(canaryShare(rollout.Status{Weights: current, Snapshot: st.Snapshot})),
	}
	if rollback {
		a.Kind = rollout.ActionRollback
		a.Reason = d.Error() + "; spec.updateStrategy.canary.onDrift is Rollback"
		if st.Snapshot != nil {
			f := st.Snapshot.Clone()
			a.Forward = &f
		}
		return &a, st, nil
	}
	a.Kind, a.Indefinite, a.Drift = rollout.ActionAwaitApproval, true, true
	a.Reason = d.Error() + ": `okra rollout promote` adopts these weights and carries on, `okra rollout abort` restores the snapshot"
	return &a, st, nil
}

// restoreTarget is what undo writes for target (the snapshot): target
// itself when every group that carries weight in it can take traffic,
// else the snapshot's intent moved onto its healthy groups
// (weights.Reroute). A *weights.NoRoutableGroupError means no group of the
// snapshot can carry traffic.
func (h *Handlers) restoreTarget(ctx context.Context, c *cell.Cell, target weights.Forward) (weights.Routing, error) {
	r, err := h.reroute(ctx, c, target)
	if err != nil {
		return r, err
	}
	if r.Forward.Stickiness == nil {
		r.Forward.Stickiness = target.Stickiness
	}
	return r, nil
}

// degrade ends a restore that found nowhere safe to route the snapshot's
// traffic: the listener keeps current, the status says Degraded and why,
// the canary is blocked when u asks, and a Degraded event is recorded.
func (h *Handlers) degrade(ctx context.Context, c *cell.Cell, st rollout.Status, u undoing, current weights.Forward, why *weights.NoRoutableGroupError) (rollout.Status, error) {
	name := c.Metadata.Name
	message := fmt.Sprintf("cannot restore the snapshot of the rollout to %s (%s): %v; the listener keeps %s until a human acts",
		st.CanaryVersion, u.reason, why, describeForward(current))
	blockIt := u.block && st.CanaryVersion != "" && st.CanaryVersion != st.StableVersion
	if blockIt {
		if _, err := h.store.Block(ctx, name, rollout.Block{Version: st.CanaryVersion, Reason: u.reason, At: h.now()}); err != nil {
			return st, err
		}
	}
	repeat := st.Phase == rollout.PhaseDegraded && st.Message == message
	rec, err := h.store.UpdateStatus(ctx, name, u.holder, func(s *rollout.Status) error {
		s.Phase, s.Message = rollout.PhaseDegraded, message
		s.Weights = current.Clone()
		s.TaskToken, s.PausedUntil, s.FinalizeAfter, s.Drift = "", nil, nil, nil
		return nil
	})
	if err != nil {
		return st, err
	}
	if repeat {
		return rec.Status, nil
	}
	unusable := make([]string, 0, len(why.Unusable))
	for _, g := range why.Unusable {
		unusable = append(unusable, g.String())
	}
	kept := current.Clone()
	if err := h.event(ctx, name, store.Event{
		Type: store.EventDegraded, Execution: u.execution, Version: st.CanaryVersion, Message: message, Weights: &kept,
		Details: map[string]string{"outcome": string(u.event), "unusable": strings.Join(unusable, "; "), "snapshot": describeSnapshot(st)},
	}); err != nil {
		return st, err
	}
	h.log.ErrorContext(ctx, "rollout degraded", "cell", name, "execution", u.execution, "message", message)
	return rec.Status, nil
}

func describeSnapshot(st rollout.Status) string {
	if st.Snapshot == nil {
		return "none"
	}
	return describeForward(*st.Snapshot)
}

// noRoutable unwraps a *weights.NoRoutableGroupError.
func noRoutable(err error) (*weights.NoRoutableGroupError, bool) {
	var nr *weights.NoRoutableGroupError
	ok := errors.As(err, &nr)
	return nr, ok
}

// endEvent is the notification event of a rollout that ended in st.
func endEvent(st rollout.Status, otherwise store.EventType) store.EventType {
	if st.Phase == rollout.PhaseDegraded {
		return store.EventDegraded
	}
	return otherwise
}
