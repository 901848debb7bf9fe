package onboarding

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// maxAutoAttempts bounds how many rollout executions okra starts on its
// own for one (Cell, version) when earlier ones succeeded without leaving
// the version stable (superseded, nothing to do, or undone later by a
// pinned rollback).
const maxAutoAttempts = 10

// errLeased says a rollout execution holds the Cell's lease: the status is
// the rollout's to write.
var errLeased = errors.New("a rollout execution holds the Cell's lease")

// evaluate runs the planner for one valid Cell and carries out its
// decision:
//   - StartRollout starts the rollout execution (deterministic name; a
//     duplicate finds the one already there);
//   - Swap and Resplit, when no rollout holds the lease, set the weights at
//     once (creating the Cell's listener rule with them when it is
//     missing), verify them by reading the listener back, record a
//     WeightsSet event and mark the Cell Stable at the new version: the
//     first deployment, a pinned rollback, a re-split over the stable
//     version's healthy groups;
//   - Noop writes its reason into the status message when it changed, so
//     `okra rollout status` says why nothing happens.
//
// Failures are filed in r.
func (o *Onboarder) evaluate(ctx context.Context, r *run, lc loadedCell, m membership) {
	c := lc.cell
	ing := c.Spec.Ingress
	log := o.log.With("cell", lc.name, "trigger", r.trigger)

	fwd, err := o.listener.Read(ctx, ing)
	if err != nil {
		if r.f.add("Cell "+lc.name+": reading its forward action", err) {
			o.explain(ctx, r, lc, "cannot use the Cell's forward action: "+err.Error())
		}
		return
	}
	// A Cell's rule reads as an empty action until it exists; it is then
	// created with the first weights, when the planner has some.
	ruleMissing := ing.Rule != nil && fwd.Empty()
	if ing.Rule != nil && !ruleMissing {
		if _, err := o.listener.EnsureRule(ctx, lc.name, ing, fwd); err != nil {
			if r.f.add("Cell "+lc.name+": keeping its listener rule in step", err) {
				o.explain(ctx, r, lc, "cannot use the Cell's listener rule: "+err.Error())
			}
			return
		}
	}
	found, err := o.discovery.ForCell(ctx, c)
	if err != nil {
		r.f.add("Cell "+lc.name+": discovering its target groups", err)
		return
	}
	groups, dropped := m.filter(lc.name, found.TargetGroups, fwd)
	if len(dropped) > 0 {
		log.InfoContext(ctx, "not counting target groups whose clusters left the Cell", "targetGroups", dropped)
	}
	if groups, err = o.discovery.HealthForDecision(ctx, c, groups, fwd); err != nil {
		r.f.add("Cell "+lc.name+": reading its target groups' health", err)
		return
	}
	rec, err := o.status.GetStatus(ctx, lc.name)
	if err != nil {
		r.f.add("Cell "+lc.name+": reading its status", err)
		return
	}
	if rec, err = o.checkOwner(ctx, r, lc.name, rec); err != nil {
		r.f.add("Cell "+lc.name+": checking its lease holder", err)
		return
	}
	blocked, err := o.status.ListBlocked(ctx, lc.name)
	if err != nil {
		r.f.add("Cell "+lc.name+": reading its blocked versions", err)
		return
	}
	in := rollout.Input{Cell: c, TargetGroups: groups, Forward: fwd, Status: rec.Status, Blocked: blocked, Now: o.clock.Now()}
	d := rollout.Evaluate(in)
	r.decisions[lc.name] = d
	if rec.Status.Phase == rollout.PhaseDegraded && !rec.Status.Leased() && !d.Degraded {
		o.leaveDegraded(ctx, r, lc, fwd, d)
	}
	note := ""
	if len(dropped) > 0 {
		note = "; not counting " + strings.Join(dropped, ", ")
	}
	for _, w := range d.Warnings {
		log.WarnContext(ctx, "planner ignored a target group", "warning", w)
	}

	switch d.Kind {
	case rollout.DecisionStartRollout:
		log.InfoContext(ctx, "planner decided to start a rollout", "from", d.From, "to", d.To, "reason", d.Reason)
		o.startRollout(ctx, r, lc, d)
	case rollout.DecisionSwap, rollout.DecisionResplit:
		log.InfoContext(ctx, "planner decided to set weights at once", "decision", string(d.Kind), "from", d.From, "to", d.To, "reason", d.Reason)
		o.setWeights(ctx, r, lc, in, d, ruleMissing, note)
	default:
		log.DebugContext(ctx, "nothing to do", "reason", d.Reason)
		if rec.Status.Leased() {
			return // the rollout writes the status
		}
		o.explain(ctx, r, lc, d.Reason+note)
	}
}

// leaveDegraded takes a Degraded Cell out of that phase once the planner
// no longer finds it degraded (every target group the listener fwd gives
// weight to carries traffic again, after a human fixed the groups or the
// weights): the phase returns to Stable (or none, without a stable
// version) and a DegradedCleared event records it with the weights. The
// decision d is then carried out as usual.
func (o *Onboarder) leaveDegraded(ctx context.Context, r *run, lc loadedCell, fwd weights.Forward, d rollout.Decision) {
	msg := "no longer Degraded: every target group the listener gives weight to can carry traffic again"
	changed, err := o.updateStatus(ctx, lc.name, func(st *rollout.Status) bool {
		if st.Phase != rollout.PhaseDegraded {
			return false
		}
		st.Phase = ""
		if st.StableVersion != "" {
			st.Phase = rollout.PhaseStable
		}
		st.Message = msg
		return true
	})
	if errors.Is(err, errLeased) || (err == nil && !changed) {
		return // a rollout took the Cell, or another reconcile got here first
	}
	if err != nil {
		r.f.add("Cell "+lc.name+": leaving Degraded", err)
		return
	}
	o.log.InfoContext(ctx, "the Cell is no longer degraded", "cell", lc.name, "trigger", r.trigger, "next", string(d.Kind))
	kept := fwd.Clone()
	if _, err := o.status.AppendEvent(ctx, lc.name, store.Event{
		Type: store.EventDegradedCleared, Weights: &kept,
		Message: msg + "; next: " + d.Reason,
		Details: map[string]string{"trigger": r.trigger, "decision": string(d.Kind)},
	}); err != nil {
		r.f.add("Cell "+lc.name+": recording that it left Degraded", err)
	}
}

// checkOwner makes sure a lease in rec belongs to a running execution:
// one that ended gets the safety net's recovery now (Deps.Owners), and
// the status is read again. Without Owners, rec is returned as read.
func (o *Onboarder) checkOwner(ctx context.Context, r *run, cellName string, rec store.StatusRecord) (store.StatusRecord, error) {
	if o.owners == nil || !rec.Status.Leased() {
		return rec, nil
	}
	check, err := o.owners.Check(ctx, cellName, rec.Status, r.trigger)
	if err != nil {
		return rec, err
	}
	if !check.Dead {
		return rec, nil
	}
	o.log.InfoContext(ctx, "recovered the rollout of a lease holder that no longer ran", "cell", cellName, "trigger", r.trigger,
		"execution", check.Holder, "status", check.Status, "recoveredHere", check.Recovered)
	return o.status.GetStatus(ctx, cellName)
}

// explain writes msg into the Cell's status message, when it differs and
// no rollout holds the lease. A Cell marked Invalid whose spec now
// validates leaves that phase.
func (o *Onboarder) explain(ctx context.Context, r *run, lc loadedCell, msg string) {
	_, err := o.updateStatus(ctx, lc.name, func(st *rollout.Status) bool {
		if st.Message == msg && st.Phase != rollout.PhaseInvalid {
			return false
		}
		st.Message = msg
		clearInvalid(st)
		return true
	})
	if err != nil && !errors.Is(err, errLeased) {
		r.f.add("Cell "+lc.name+": writing its status message", err)
	}
}

// clearInvalid takes a Cell out of the Invalid phase once its spec
// validates again.
func clearInvalid(st *rollout.Status) {
	if st.Phase != rollout.PhaseInvalid {
		return
	}
	st.ValidationErrors = nil
	st.Phase = ""
	if st.StableVersion != "" {
		st.Phase = rollout.PhaseStable
	}
}

// updateStatus applies change to the Cell's status and writes it with
// optimistic concurrency, re-reading on a lost race. It returns errLeased,
// writing nothing, when a rollout execution holds the lease, and false
// when change changed nothing.
func (o *Onboarder) updateStatus(ctx context.Context, cellName string, change func(*rollout.Status) bool) (bool, error) {
	for attempt := 1; attempt <= 3; attempt++ {
		rec, err := o.status.GetStatus(ctx, cellName)
		if err != nil {
			return false, err
		}
		if rec.Status.Leased() {
			return false, errLeased
		}
		st := rec.Status
		if !change(&st) {
			return false, nil
		}
		_, err = o.status.PutStatus(ctx, cellName, st, rec.Revision)
		var stale *store.StaleRevisionError
		var notHolder *store.NotHolderError
		switch {
		case err == nil:
			return true, nil
		case errors.As(err, &stale):
			continue
		case errors.As(err, &notHolder):
			return false, errLeased
		default:
			return false, err
		}
	}
	return false, fmt.Errorf("writing the status of Cell %q: it kept changing", cellName)
}

// startRollout starts the rollout execution the planner asked for.
//
// The execution name is <cell>--<version>--<attempt>, so duplicate
// triggers find the execution already there. The attempt is the first
// whose execution does not exist yet or still runs. An execution that
// SUCCEEDED without leaving the version stable (it found nothing to do,
// was superseded, or a pinned rollback undid it later) lets the next
// attempt start. One that FAILED, TIMED_OUT or was ABORTED does not: okra
// never retries a failed rollout on its own; the status message says so
// and `okra rollout retry` starts the next attempt.
func (o *Onboarder) startRollout(ctx context.Context, r *run, lc loadedCell, d rollout.Decision) {
	log := o.log.With("cell", lc.name, "trigger", r.trigger, "version", d.To)
	attempt, why, err := o.nextAttempt(ctx, lc.name, d.To)
	if err != nil {
		r.f.add("Cell "+lc.name+": looking up earlier rollouts to "+d.To, err)
		return
	}
	if attempt == 0 {
		log.InfoContext(ctx, "not starting a rollout", "reason", why)
		o.explain(ctx, r, lc, d.Reason+"; "+why)
		return
	}
	arn, started, err := o.rollouts.Start(ctx, executions.Input{
		Cell: lc.name, TargetVersion: d.To, FromVersion: d.From, Attempt: attempt, Trigger: r.trigger,
	})
	if err != nil {
		r.f.add("Cell "+lc.name+": starting the rollout to "+d.To, err)
		return
	}
	if !started {
		log.DebugContext(ctx, "rollout execution already started", "execution", arn)
		return
	}
	if _, err := o.status.AppendEvent(ctx, lc.name, store.Event{
		Type: store.EventRolloutTriggered, Execution: arn, Version: d.To, Message: d.Reason,
		Details: map[string]string{"from": d.From, "attempt": strconv.Itoa(attempt), "trigger": r.trigger},
	}); err != nil {
		r.f.add("Cell "+lc.name+": recording the rollout start", err)
	}
	o.explain(ctx, r, lc, fmt.Sprintf("%s; rollout execution %s started", d.Reason, executions.Name(lc.name, d.To, attempt)))
}

// nextAttempt returns the attempt to start (or find running) for a rollout
// of cellName to version, or 0 and why none may start.
func (o *Onboarder) nextAttempt(ctx context.Context, cellName, version string) (int, string, error) {
	sm := o.rollouts.StateMachineARN()
	for attempt := 1; attempt <= maxAutoAttempts; attempt++ {
		name := executions.Name(cellName, version, attempt)
		status, err := o.rollouts.Status(ctx, executions.ARN(sm, name))
		if err != nil {
			return 0, "", err
		}
		switch sfntypes.ExecutionStatus(status) {
		case "", sfntypes.ExecutionStatusRunning, sfntypes.ExecutionStatusPendingRedrive:
			return attempt, "", nil
		case sfntypes.ExecutionStatusSucceeded:
			continue
		default:
			return 0, fmt.Sprintf("the rollout to %s (execution %s) ended %s and is not retried automatically; once the cause is fixed, `okra rollout retry %s` starts attempt %d",
				version, name, status, cellName, attempt+1), nil
		}
	}
	return 0, fmt.Sprintf("%d rollouts to %s ended without leaving it stable; okra starts no more on its own", maxAutoAttempts, version), nil
}

// setWeights carries out a Swap or Resplit: the forward action is written
// at once and read back, then recorded. The decision's reason goes into
// the WeightsSet event; the status message says what the planner says of
// the new state (normally "steady: ..."), so the next evaluation finds it
// current and writes nothing.
func (o *Onboarder) setWeights(ctx context.Context, r *run, lc loadedCell, in rollout.Input, d rollout.Decision, ruleMissing bool, note string) {
	log := o.log.With("cell", lc.name, "trigger", r.trigger)
	if d.Forward == nil {
		r.f.add("Cell "+lc.name, fmt.Errorf("planner decided %s without a forward action", d.Kind))
		return
	}
	fwd := d.Forward.Clone()
	// Never route to nothing: a group that is missing or unhealthy passes
	// its share to the healthy ones, or nothing is written.
	minHealthy := int(cell.DefaultMinHealthyTargets)
	if m := lc.cell.Spec.MinHealthyTargets; m != nil {
		minHealthy = int(*m)
	}
	routing, err := weights.Reroute(fwd, rollout.HealthOf(in.TargetGroups), minHealthy, nil)
	if err != nil {
		r.f.add("Cell "+lc.name+": choosing where to route", err)
		return
	}
	fwd = routing.Forward
	ing := lc.cell.Spec.Ingress
	// A rollout may have taken the lease since the status was read; the
	// window left between this read and the write is closed by the
	// rollout's own read-back (it sees the drift and retries).
	rec, err := o.status.GetStatus(ctx, lc.name)
	if err != nil {
		r.f.add("Cell "+lc.name+": reading its status", err)
		return
	}
	if rec.Status.Leased() {
		log.InfoContext(ctx, "a rollout took the lease; leaving the weights to it", "execution", rec.Status.ExecutionARN)
		return
	}

	set := true
	if ruleMissing {
		res, err := o.listener.EnsureRule(ctx, lc.name, ing, fwd)
		if err != nil {
			if r.f.add("Cell "+lc.name+": creating its listener rule", err) {
				o.explain(ctx, r, lc, "cannot create the Cell's listener rule: "+err.Error())
			}
			return
		}
		set = res.Change != listener.RuleCreated
	}
	if set {
		if err := o.listener.Set(ctx, ing, fwd); err != nil {
			if r.f.add("Cell "+lc.name+": setting weights", err) {
				o.explain(ctx, r, lc, "cannot set the weights: "+err.Error())
			}
			return
		}
	}
	if err := o.listener.Verify(ctx, ing, fwd); err != nil {
		r.f.add("Cell "+lc.name+": verifying weights", err)
		return
	}
	if _, err := o.status.AppendEvent(ctx, lc.name, store.Event{
		Type: store.EventWeightsSet, Version: d.To, Weights: &fwd, Message: d.Reason,
		Details: map[string]string{"decision": string(d.Kind), "from": d.From, "trigger": r.trigger, "verified": "true"},
	}); err != nil {
		r.f.add("Cell "+lc.name+": recording the weights", err)
	}
	msg := d.Reason
	after := in
	after.Forward, after.Status.StableVersion = fwd.Clone(), d.To
	if next := rollout.Evaluate(after); next.Kind == rollout.DecisionNoop {
		msg = next.Reason + note
	}
	_, err = o.updateStatus(ctx, lc.name, func(st *rollout.Status) bool {
		st.Phase = rollout.PhaseStable
		st.StableVersion = d.To
		st.CanaryVersion = ""
		st.Weights = fwd.Clone()
		st.Message = msg
		st.ValidationErrors = nil
		st.PausedUntil = nil
		st.FinalizeAfter = nil
		st.SpecRevision = lc.revision
		return true
	})
	switch {
	case errors.Is(err, errLeased):
		log.WarnContext(ctx, "weights set, but a rollout took the lease before the status was written; the rollout owns the status now")
	case err != nil:
		r.f.add("Cell "+lc.name+": recording the stable version", err)
	default:
		log.InfoContext(ctx, "weights set and verified", "stableVersion", d.To, "weights", logForward(fwd))
	}
}

func logForward(f weights.Forward) []string {
	out := make([]string, 0, len(f.TargetGroups))
	for _, tg := range f.TargetGroups {
		out = append(out, tg.ARN+"="+strconv.Itoa(int(tg.Weight)))
	}
	return out
}
