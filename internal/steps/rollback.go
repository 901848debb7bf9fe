package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// Operations of the rollout-rollback function.
const (
	OpRollback  = "Rollback"
	OpSupersede = "Supersede"
)

// EndAction is a rollout.Action plus the error name the RollbackOnError
// Pass state adds ({kind: Rollback, reason: $.error.Cause, error:
// $.error.Error}).
type EndAction struct {
	rollout.Action
	Error string `json:"error,omitempty"`
}

// EndInput is the input of rollout-rollback (Rollback, Supersede) and
// rollout-finalize.
type EndInput struct {
	Operation    string    `json:"operation,omitempty"`
	Cell         string    `json:"cell"`
	ExecutionARN string    `json:"executionArn"`
	Action       EndAction `json:"action"`
}

// RollbackHandler is the rollout-rollback function's handler: Rollback or
// Supersede. It returns nothing; errors are typed (see Boundary).
func (h *Handlers) RollbackHandler(ctx context.Context, in EndInput) (any, error) {
	var err error
	switch in.Operation {
	case OpRollback:
		err = h.Rollback(ctx, in)
	case OpSupersede:
		err = h.Supersede(ctx, in)
	default:
		err = fmt.Errorf("rollout-rollback: unknown operation %q (want %s or %s)", in.Operation, OpRollback, OpSupersede)
	}
	if err != nil {
		h.log.WarnContext(ctx, "rollout-rollback failed", "operation", in.Operation, "cell", in.Cell, "execution", in.ExecutionARN, "error", err)
		return nil, Boundary(err)
	}
	return nil, nil
}

// Rollback restores the forward action saved when the rollout took the
// lease (status.Snapshot) exactly, verifies it, blocks the canary version
// with the reason, records the status RolledBack with a message naming
// why, appends RolledBack and Blocked events, releases the lease and
// notifies. It is idempotent: once this execution has rolled back and
// released the lease, a retry succeeds without doing anything; an
// execution that lost the lease otherwise gets a *LeaseLostError.
func (h *Handlers) Rollback(ctx context.Context, in EndInput) error {
	rec, err := h.store.GetStatus(ctx, in.Cell)
	if err != nil {
		return err
	}
	st := rec.Status
	if st.ExecutionARN != in.ExecutionARN {
		done, err := h.recorded(ctx, in.Cell, in.ExecutionARN, store.EventRolledBack)
		if err != nil {
			return err
		}
		if done {
			h.log.InfoContext(ctx, "already rolled back", "cell", in.Cell, "execution", in.ExecutionARN, "phase", st.Phase)
			return nil
		}
		return lost(in.Cell, in.ExecutionARN, st)
	}
	c, _, err := h.loadCell(ctx, in.Cell, false)
	if err != nil {
		return err
	}
	reason, err := h.rollbackReason(ctx, in)
	if err != nil {
		return err
	}
	end, err := h.undo(ctx, c, st, undoing{
		holder: in.ExecutionARN, execution: in.ExecutionARN,
		phase: rollout.PhaseRolledBack, event: store.EventRolledBack,
		reason: reason, errName: in.Action.Error, block: true, fallback: in.Action.Forward,
	})
	if err != nil {
		return err
	}
	if err := h.store.ReleaseLease(ctx, in.Cell, in.ExecutionARN); err != nil {
		return err
	}
	h.notify(ctx, Notification{Cell: in.Cell, Event: endEvent(end, store.EventRolledBack), Version: st.CanaryVersion, Stable: st.StableVersion, Execution: in.ExecutionARN, Message: end.Message})
	return nil
}

// rollbackReason says why the rollout rolls back: the action's reason (for
// a caught error, the Lambda error's message rather than its JSON), else,
// for an abort whose cause the service dropped, the reason `okra rollout
// abort` recorded, else the error's name.
func (h *Handlers) rollbackReason(ctx context.Context, in EndInput) (string, error) {
	reason := causeText(in.Action.Reason)
	if reason == "" && in.Action.Error == AbortedErrorName {
		evs, err := h.store.ListEvents(ctx, in.Cell, recentEvents, true)
		if err != nil {
			return "", fmt.Errorf("reading the history of Cell %q, %w", in.Cell, err)
		}
		for _, ev := range evs {
			if ev.Type == store.EventAborted && ev.Execution == in.ExecutionARN {
				reason = ev.Message
				break
			}
		}
	}
	switch {
	case reason == "" && in.Action.Error != "":
		return in.Action.Error, nil
	case reason == "":
		return "rollback requested", nil
	case in.Action.Error != "" && !strings.Contains(reason, in.Action.Error):
		return in.Action.Error + ": " + reason, nil
	}
	return reason, nil
}

// causeText turns a Step Functions error cause into text: a Lambda error's
// cause is its JSON ({"errorType", "errorMessage"}); other causes are
// text already.
func causeText(cause string) string {
	cause = strings.TrimSpace(cause)
	var lambdaErr struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if strings.HasPrefix(cause, "{") && json.Unmarshal([]byte(cause), &lambdaErr) == nil && lambdaErr.ErrorMessage != "" {
		return lambdaErr.ErrorMessage
	}
	return cause
}

// Supersede ends the rollout because a newer version is ready: the
// snapshot is restored (weight back to stable) and verified, nothing is
// blocked, the status returns to Stable, the lease is released, a
// Superseded event is appended, and the newer version's rollout is started
// (attempt 1 unless that execution already ended, trigger "supersede").
// A retry after the lease was released only makes sure the newer rollout
// was started.
func (h *Handlers) Supersede(ctx context.Context, in EndInput) error {
	a := in.Action
	if a.NewVersion == "" {
		return fmt.Errorf("Supersede: the action names no newer version")
	}
	rec, err := h.store.GetStatus(ctx, in.Cell)
	if err != nil {
		return err
	}
	st := rec.Status
	stable := st.StableVersion
	if stable == "" {
		stable = a.StableVersion
	}
	if st.ExecutionARN != in.ExecutionARN {
		done, err := h.recorded(ctx, in.Cell, in.ExecutionARN, store.EventSuperseded)
		if err != nil {
			return err
		}
		if !done {
			return lost(in.Cell, in.ExecutionARN, st)
		}
		h.log.InfoContext(ctx, "already superseded", "cell", in.Cell, "execution", in.ExecutionARN)
	} else {
		c, _, err := h.loadCell(ctx, in.Cell, false)
		if err != nil {
			return err
		}
		reason := a.Reason
		if reason == "" {
			reason = fmt.Sprintf("%s is ready and newer than %s", a.NewVersion, st.CanaryVersion)
		}
		end, err := h.undo(ctx, c, st, undoing{
			holder: in.ExecutionARN, execution: in.ExecutionARN,
			phase: rollout.PhaseStable, event: store.EventSuperseded,
			reason: reason, fallback: a.Forward, newVersion: a.NewVersion,
		})
		if err != nil {
			return err
		}
		if err := h.store.ReleaseLease(ctx, in.Cell, in.ExecutionARN); err != nil {
			return err
		}
		h.notify(ctx, Notification{Cell: in.Cell, Event: endEvent(end, store.EventSuperseded), Version: st.CanaryVersion, Stable: stable, Execution: in.ExecutionARN, Message: end.Message})
		if end.Phase == rollout.PhaseDegraded {
			// The listener kept mid-rollout weights: a newer rollout would
			// snapshot them as its starting point.
			h.log.WarnContext(ctx, "not starting the newer rollout: the Cell is degraded", "cell", in.Cell, "version", a.NewVersion)
			return nil
		}
	}
	r, err := EnsureRollout(ctx, h.execs, StateMachineOf(in.ExecutionARN), executions.Input{
		Cell: in.Cell, TargetVersion: a.NewVersion, FromVersion: stable, Attempt: 1, Trigger: "supersede",
	})
	if err != nil {
		return fmt.Errorf("starting the rollout of %s, %w", a.NewVersion, err)
	}
	h.log.InfoContext(ctx, "newer rollout", "cell", in.Cell, "version", a.NewVersion, "execution", r.ARN, "attempt", r.Attempt, "started", r.Started)
	return nil
}

// undoing says how undo ends a rollout.
type undoing struct {
	// holder is the execution whose lease the status is written under.
	holder string
	// execution is the rollout being ended (named in the events).
	execution string
	phase     rollout.Phase
	event     store.EventType
	reason    string
	errName   string
	// block blocks the canary version with reason.
	block bool
	// fallback is restored when the status has no snapshot.
	fallback *weights.Forward
	// newVersion names the superseding version (Supersede).
	newVersion string
}

// undo puts the Cell's forward action back to the rollout's snapshot
// (exactly: every target group, weight and stickiness), verifies it,
// blocks the canary when asked, records the outcome in the status and the
// history, and returns the status written. It leaves the lease to the
// caller. When the status already records this outcome (a retry), the
// events are not appended again.
func (h *Handlers) undo(ctx context.Context, c *cell.Cell, st rollout.Status, u undoing) (rollout.Status, error) {
	name := c.Metadata.Name
	log := h.log.With("cell", name, "execution", u.execution)
	var target weights.Forward
	switch {
	case st.Snapshot != nil:
		target = st.Snapshot.Clone()
	case u.fallback != nil:
		log.WarnContext(ctx, "the status has no snapshot; restoring the planner's forward action")
		target = u.fallback.Clone()
	default:
		return st, fmt.Errorf("ending the rollout of Cell %q: no snapshot of the forward action to restore", name)
	}
	if target.Stickiness == nil {
		// The snapshot had no stickiness: say so explicitly, so that a
		// stickiness set since is turned off too.
		target.Stickiness = &weights.Stickiness{Enabled: false}
	}
	// Where the snapshot was taken, whatever the spec says now.
	ing := rolloutIngress(c, st)
	current, err := h.listener.Read(ctx, ing)
	if err != nil {
		return st, err
	}
	if d := driftOf(ing, st, current); d != nil && active(st.Phase) {
		// Not silent: the history shows what is overwritten, and why.
		actual := d.Actual.Clone()
		details := driftDetails(d)
		details["choice"] = string(u.event)
		if st.Drift != nil {
			details["choice"] = "abort"
		}
		if err := h.event(ctx, name, store.Event{
			Type: store.EventWeightsDrifted, Execution: u.execution, Version: st.CanaryVersion, Weights: &actual, Details: details,
			Message: fmt.Sprintf("%s; restoring the snapshot over them (%s)", d.Error(), u.reason),
		}); err != nil {
			return st, err
		}
	}
	routing, err := h.restoreTarget(ctx, c, target)
	if nr, ok := noRoutable(err); ok {
		return h.degrade(ctx, c, st, u, current, nr)
	}
	if err != nil {
		return st, err
	}
	if routing.Substituted() {
		log.WarnContext(ctx, "restoring the snapshot's intent over its healthy target groups", "snapshot", describeForward(target), "restoring", describeForward(routing.Forward), "why", routing.Reason())
		target = routing.Forward
	}
	if !weights.Equal(current, target) {
		log.InfoContext(ctx, "setting weights", "restore", true, "from", describeForward(current), "to", describeForward(target))
		if err := h.listener.Set(ctx, ing, target); err != nil {
			return st, fmt.Errorf("restoring the snapshot of Cell %q, %w", name, err)
		}
		log.InfoContext(ctx, "set weights", "restore", true, "weights", describeForward(target))
	}
	if err := h.listener.Verify(ctx, ing, target); err != nil {
		return st, err
	}

	canary, stable := st.CanaryVersion, st.StableVersion
	var message string
	switch u.phase {
	case rollout.PhaseStable:
		message = fmt.Sprintf("rollout to %s superseded: %s; weight is back on %s", canary, u.reason, stable)
	default:
		message = fmt.Sprintf("rolled back %s to %s: %s", canary, stable, u.reason)
	}
	blockIt := u.block && canary != "" && canary != stable
	if blockIt {
		if _, err := h.store.Block(ctx, name, rollout.Block{Version: canary, Reason: u.reason, At: h.now()}); err != nil {
			return st, err
		}
	}
	repeat := st.Phase == u.phase && st.Message == message
	rec, err := h.store.UpdateStatus(ctx, name, u.holder, func(s *rollout.Status) error {
		s.Phase, s.Message = u.phase, message
		s.Weights = target.Clone()
		s.TaskToken, s.PausedUntil, s.FinalizeAfter, s.Drift = "", nil, nil, nil
		if u.phase == rollout.PhaseStable {
			s.CanaryVersion = ""
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	if repeat {
		return rec.Status, nil
	}
	details := map[string]string{"stable": stable}
	if u.errName != "" {
		details["error"] = u.errName
	}
	if u.newVersion != "" {
		details["newVersion"] = u.newVersion
	}
	if routing.Substituted() {
		details["rerouted"] = routing.Reason()
		if err := h.event(ctx, name, store.Event{
			Type: store.EventWeightsRerouted, Execution: u.execution, Version: canary, Weights: &target,
			Message: "restored the snapshot's intent, not the snapshot: target groups " + routing.Reason(),
			Details: map[string]string{"snapshot": describeSnapshot(st), "restored": describeForward(target), "outcome": string(u.event)},
		}); err != nil {
			return st, err
		}
	}
	if err := h.event(ctx, name, store.Event{Type: u.event, Execution: u.execution, Version: canary, Message: message, Weights: &target, Details: details}); err != nil {
		return st, err
	}
	if blockIt {
		if err := h.event(ctx, name, store.Event{Type: store.EventBlocked, Execution: u.execution, Version: canary, Message: u.reason}); err != nil {
			return st, err
		}
	}
	log.InfoContext(ctx, "rollout ended", "outcome", u.event, "message", message)
	return rec.Status, nil
}

// Recover ends the rollout of executionARN, which stopped (failed, timed
// out, was aborted) without releasing the Cell's lease: the snapshot is
// restored when the listener differs, the canary version blocked with why,
// the status set RolledBack, the lease released, events appended and
// people notified. A rollout whose status says it already ended (Stable
// after Finalize or Supersede, RolledBack) only has its lease released. It does nothing, and reports false, when executionARN
// does not hold the lease (its rollout ended normally, or was already
// recovered). The safety net calls it; it is idempotent.
func (h *Handlers) Recover(ctx context.Context, cellName, executionARN, why string) (bool, error) {
	rec, err := h.store.GetStatus(ctx, cellName)
	if err != nil {
		return false, Boundary(err)
	}
	st := rec.Status
	if st.ExecutionARN != executionARN {
		holder := st.ExecutionARN
		if holder == "" {
			holder = "none"
		}
		h.log.InfoContext(ctx, "nothing to recover: the execution does not hold the lease", "cell", cellName, "execution", executionARN, "holder", holder, "phase", st.Phase)
		return false, nil
	}
	if !active(st.Phase) {
		// The rollout had ended (finalized, superseded, rolled back) or
		// never began, but the execution died before releasing the lease:
		// restoring the snapshot now would undo a finished rollout.
		h.log.WarnContext(ctx, "the ended execution's rollout is not in progress; only releasing its lease", "cell", cellName, "execution", executionARN, "phase", st.Phase)
		if err := h.store.ReleaseLease(ctx, cellName, executionARN); err != nil {
			return false, Boundary(err)
		}
		return true, nil
	}
	c, _, err := h.loadCell(ctx, cellName, false)
	var unreadable *specError
	if errors.As(err, &unreadable) {
		// An edit made the stored spec unreadable (or deleted it): the
		// dead holder must not keep the Cell, so recover from what the
		// status records.
		return h.recoverFromStatus(ctx, cellName, executionARN, st, why, unreadable)
	}
	if err != nil {
		return false, Boundary(err)
	}
	end := st
	if st.Snapshot != nil || st.CanaryVersion != "" {
		if end, err = h.undoDeadHolder(ctx, c, st, executionARN, why); err != nil {
			return false, Boundary(err)
		}
	}
	return h.releaseDeadHolder(ctx, cellName, executionARN, st, end)
}

// undoDeadHolder rolls a dead holder's rollout back to its snapshot and
// blocks the version it was rolling out.
func (h *Handlers) undoDeadHolder(ctx context.Context, c *cell.Cell, st rollout.Status, executionARN, why string) (rollout.Status, error) {
	return h.undo(ctx, c, st, undoing{
		holder: executionARN, execution: executionARN,
		phase: rollout.PhaseRolledBack, event: store.EventRolledBack,
		reason: why, block: true,
	})
}

// releaseDeadHolder ends a recovery: the dead holder's lease is released
// and the end of its rollout (end) is notified.
func (h *Handlers) releaseDeadHolder(ctx context.Context, cellName, executionARN string, st, end rollout.Status) (bool, error) {
	if err := h.store.ReleaseLease(ctx, cellName, executionARN); err != nil {
		return false, Boundary(err)
	}
	h.notify(ctx, Notification{Cell: cellName, Event: endEvent(end, store.EventRolledBack), Version: st.CanaryVersion, Stable: st.StableVersion, Execution: executionARN, Message: end.Message})
	return true, nil
}

// recoverFromStatus is Recover for a Cell whose stored spec cannot be
// loaded (spec says why). The status records all a restore needs: the
// snapshot, where it was taken (status.snapshotAt) and the minimum of
// healthy targets the rollout routed under. The snapshot is restored
// there under the never-route-to-nothing rule, reading the health of the
// snapshot's own groups by ARN (without a spec there is no selector to
// discover by), or, when none of them can carry traffic, the Cell is
// marked Degraded with the listener kept. Either way the lease is
// released and the history says the spec was unreadable. A status that
// records no location leaves the listener alone: the Cell is Degraded,
// released, and says so.
func (h *Handlers) recoverFromStatus(ctx context.Context, cellName, executionARN string, st rollout.Status, why string, spec *specError) (bool, error) {
	h.log.WarnContext(ctx, "the stored spec cannot be loaded; recovering the dead holder's rollout from its status", "cell", cellName, "execution", executionARN, "spec", spec.reason)
	why = fmt.Sprintf("%s; recovered from the rollout's status (%s)", why, spec.reason)
	c := cellFromStatus(cellName, st)
	end := st
	switch {
	case st.SnapshotAt == nil || st.SnapshotAt.ListenerARN == "" || st.Snapshot == nil:
		message := fmt.Sprintf("cannot restore the snapshot of the rollout to %s (%s): the status records no snapshot or where it was taken; the listener is left as it is until a human acts", st.CanaryVersion, why)
		rec, err := h.store.UpdateStatus(ctx, cellName, executionARN, func(s *rollout.Status) error {
			s.Phase, s.Message = rollout.PhaseDegraded, message
			s.TaskToken, s.PausedUntil, s.FinalizeAfter, s.Drift = "", nil, nil, nil
			return nil
		})
		if err != nil {
			return false, Boundary(err)
		}
		if err := h.event(ctx, cellName, store.Event{Type: store.EventDegraded, Execution: executionARN, Version: st.CanaryVersion, Message: message}); err != nil {
			return false, Boundary(err)
		}
		end = rec.Status
	default:
		var err error
		if end, err = h.undoDeadHolder(ctx, c, st, executionARN, why); err != nil {
			return false, Boundary(err)
		}
	}
	return h.releaseDeadHolder(ctx, cellName, executionARN, st, end)
}

// cellFromStatus is as much of a Cell as its rollout's status records:
// the name, the ingress where the snapshot was taken and the minimum of
// healthy targets. It has no target group selector, which discoverFor
// reads as "use the listed groups themselves" (a stored spec always has
// one: validation refuses an empty selector).
func cellFromStatus(name string, st rollout.Status) *cell.Cell {
	c := &cell.Cell{}
	c.Metadata.Name = name
	if st.SnapshotAt != nil {
		c.Spec.Ingress = st.SnapshotAt.Ingress(cell.Ingress{})
	}
	minHealthy := st.MinHealthyTargets
	if minHealthy <= 0 {
		minHealthy = cell.DefaultMinHealthyTargets
	}
	c.Spec.MinHealthyTargets = &minHealthy
	return c
}

// StateMachineOf returns the state machine ARN of an execution ARN
// (arn:...:execution:MACHINE:NAME → arn:...:stateMachine:MACHINE), so the
// handlers need no state machine ARN in their environment (which would
// make the stack's state machine and functions depend on each other).
func StateMachineOf(executionARN string) string {
	parts := strings.Split(executionARN, ":")
	if len(parts) != 8 || parts[5] != "execution" {
		return ""
	}
	return strings.Join(append(parts[:5:5], "stateMachine", parts[6]), ":")
}

// maxAttempts bounds EnsureRollout's search for an unused attempt.
const maxAttempts = 50

// Rollout is the rollout execution EnsureRollout found or started.
type Rollout struct {
	ARN     string
	Attempt int
	// Started is false when the execution was already running.
	Started bool
}

// EnsureRollout makes sure a rollout of in.Cell to in.TargetVersion runs:
// starting from in.Attempt (at least 1) it returns the execution of the
// first attempt that is running, or starts the first attempt whose
// execution does not exist. Attempts whose execution already ended
// (succeeded as a no-op, failed, rolled back) are skipped, so a retry
// after attempt n gets attempt n+1. Step Functions' execution names
// (unique per state machine for 90 days) are the record of attempts: no
// counter is stored.
func EnsureRollout(ctx context.Context, execs Executions, stateMachineARN string, in executions.Input) (Rollout, error) {
	if stateMachineARN == "" {
		return Rollout{}, errors.New("starting a rollout: no state machine ARN")
	}
	first := max(in.Attempt, 1)
	for attempt := first; attempt < first+maxAttempts; attempt++ {
		in.Attempt = attempt
		arn, started, err := execs.Start(ctx, stateMachineARN, in)
		if err != nil {
			return Rollout{}, err
		}
		if started {
			return Rollout{ARN: arn, Attempt: attempt, Started: true}, nil
		}
		status, err := execs.Status(ctx, arn)
		if err != nil {
			return Rollout{}, err
		}
		if status == "RUNNING" || status == "PENDING_REDRIVE" {
			return Rollout{ARN: arn, Attempt: attempt}, nil
		}
	}
	return Rollout{}, fmt.Errorf("starting a rollout of Cell %q to %s: attempts %d to %d all exist and ended", in.Cell, in.TargetVersion, first, first+maxAttempts-1)
}
