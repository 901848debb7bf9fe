package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// Operations of the rollout-plan function.
const (
	OpAcquireLease            = "AcquireLease"
	OpNextStep                = "NextStep"
	OpStartAnalysis           = "StartAnalysis"
	OpStartBackgroundAnalysis = "StartBackgroundAnalysis"
)

// PlanInput is the rollout-plan function's input (the Parameters of the
// AcquireLease, NextStep, Analyze and StartBackgroundAnalysis states).
type PlanInput struct {
	Operation     string `json:"operation"`
	Cell          string `json:"cell"`
	TargetVersion string `json:"targetVersion,omitempty"`
	ExecutionARN  string `json:"executionArn"`
	// Previous is the last action (NextStep).
	Previous *rollout.Action `json:"previous,omitempty"`
	// Action is the Analyze action (StartAnalysis).
	Action *rollout.Action `json:"action,omitempty"`
}

// Plan is the rollout-plan function's handler: it dispatches on
// in.Operation and returns a rollout.Action (AcquireLease, NextStep) or
// the analysis state (StartAnalysis, StartBackgroundAnalysis). Errors are
// typed (see Boundary).
func (h *Handlers) Plan(ctx context.Context, in PlanInput) (any, error) {
	var (
		out any
		err error
	)
	switch in.Operation {
	case OpAcquireLease:
		out, err = h.AcquireLease(ctx, in)
	case OpNextStep:
		out, err = h.NextStep(ctx, in)
	case OpStartAnalysis:
		out, err = h.StartAnalysis(ctx, in)
	case OpStartBackgroundAnalysis:
		out, err = h.StartBackgroundAnalysis(ctx, in)
	default:
		err = fmt.Errorf("rollout-plan: unknown operation %q (want %s, %s, %s or %s)",
			in.Operation, OpAcquireLease, OpNextStep, OpStartAnalysis, OpStartBackgroundAnalysis)
	}
	if err != nil {
		h.log.WarnContext(ctx, "rollout-plan failed", "operation", in.Operation, "cell", in.Cell, "execution", in.ExecutionARN, "error", err)
		return nil, Boundary(err)
	}
	return out, nil
}

// AcquireLease starts a rollout of in.Cell to in.TargetVersion for the
// execution in.ExecutionARN:
//
//  1. The Cell spec must exist and validate (else *NothingToDoError).
//  2. The lease is taken (*LeaseHeldError while another execution runs).
//     A holder that ended without releasing it is taken over; when its
//     rollout had moved weights, its snapshot is restored first (what the
//     safety net would have done, in case it did not run).
//  3. rollout.Evaluate, on the listener as read now (the Cell's rule is
//     kept in step with EnsureRule), must decide to start a rollout to
//     exactly in.TargetVersion; otherwise the lease is released and the
//     reason returned as a *NothingToDoError.
//  4. The status records the rollout (phase Progressing, stable and canary
//     versions, step 0 of N, startedAt) and the snapshot of the forward
//     action, exactly, for Rollback; a RolloutStarted event is appended.
//
// A retry by the same execution after step 4 returns the same Start
// action without touching the snapshot.
func (h *Handlers) AcquireLease(ctx context.Context, in PlanInput) (rollout.Action, error) {
	if in.Cell == "" || in.TargetVersion == "" || in.ExecutionARN == "" {
		return rollout.Action{}, fmt.Errorf("AcquireLease: cell (%q), targetVersion (%q) and executionArn (%q) are required", in.Cell, in.TargetVersion, in.ExecutionARN)
	}
	log := h.log.With("cell", in.Cell, "version", in.TargetVersion, "execution", in.ExecutionARN)
	c, revision, err := h.loadCell(ctx, in.Cell, true)
	var bad *specError
	if errors.As(err, &bad) {
		return rollout.Action{}, &NothingToDoError{Cell: in.Cell, Version: in.TargetVersion, Reason: bad.reason}
	}
	if err != nil {
		return rollout.Action{}, err
	}

	log.InfoContext(ctx, "acquiring lease")
	lease, err := h.store.AcquireLease(ctx, in.Cell, in.ExecutionARN, h.isRunning)
	if err != nil {
		return rollout.Action{}, err
	}
	st := lease.Status
	if lease.TookOverFrom == "" && started(st, in.TargetVersion) {
		log.InfoContext(ctx, "rollout already started by this execution", "stable", st.StableVersion)
		return startAction(st), nil
	}
	if lease.TookOverFrom != "" {
		if st, err = h.takeOver(ctx, c, in.ExecutionARN, lease.TookOverFrom, st); err != nil {
			return rollout.Action{}, err
		}
	}

	fwd, err := h.listener.Read(ctx, c.Spec.Ingress)
	if err != nil {
		return rollout.Action{}, h.giveUp(ctx, in, err)
	}
	var ruleARN string
	if c.Spec.Ingress.Rule != nil && !fwd.Empty() {
		rule, err := h.listener.EnsureRule(ctx, in.Cell, c.Spec.Ingress, fwd)
		if err != nil {
			return rollout.Action{}, h.giveUp(ctx, in, err)
		}
		ruleARN = rule.RuleARN
	}
	found, err := h.discover.ForCell(ctx, c)
	if err != nil {
		return rollout.Action{}, h.giveUp(ctx, in, err)
	}
	if found.TargetGroups, err = h.discover.HealthForDecision(ctx, c, found.TargetGroups, fwd); err != nil {
		return rollout.Action{}, h.giveUp(ctx, in, err)
	}
	blocks, err := h.store.ListBlocked(ctx, in.Cell)
	if err != nil {
		return rollout.Action{}, h.giveUp(ctx, in, err)
	}
	eval := st
	eval.ExecutionARN, eval.LeaseAcquiredAt, eval.TaskToken = "", time.Time{}, ""
	d := rollout.Evaluate(rollout.Input{Cell: c, TargetGroups: found.TargetGroups, Forward: fwd, Status: eval, Blocked: blocks, Now: h.now()})
	if d.Kind != rollout.DecisionStartRollout || d.To != in.TargetVersion {
		reason := nothingReason(d, in.TargetVersion)
		log.InfoContext(ctx, "no rollout to start", "decision", d.Kind, "reason", reason)
		if err := h.store.ReleaseLease(ctx, in.Cell, in.ExecutionARN); err != nil {
			return rollout.Action{}, err
		}
		return rollout.Action{}, &NothingToDoError{Cell: in.Cell, Version: in.TargetVersion, Reason: reason}
	}

	steps := stepCount(c)
	snapshot := fwd.Clone()
	var initialized bool
	rec, err := h.store.UpdateStatus(ctx, in.Cell, in.ExecutionARN, func(s *rollout.Status) error {
		initialized = false
		if started(*s, in.TargetVersion) {
			return nil // a concurrent retry got here first
		}
		initialized = true
		s.Phase = rollout.PhaseProgressing
		s.StableVersion, s.CanaryVersion = d.From, in.TargetVersion
		s.StepIndex, s.StepCount = 0, steps
		s.Snapshot = &snapshot
		s.SnapshotAt = rollout.LocationOf(c.Spec.Ingress, ruleARN)
		s.MinHealthyTargets = int32(minHealthyOf(c))
		s.Weights = snapshot.Clone()
		s.Drift = nil
		s.StartedAt = s.LeaseAcquiredAt
		s.TaskToken, s.PausedUntil, s.FinalizeAfter = "", nil, nil
		s.Message = d.Reason
		s.ValidationErrors = nil
		s.SpecRevision = revision
		return nil
	})
	if err != nil {
		return rollout.Action{}, err
	}
	if initialized {
		err := h.event(ctx, in.Cell, store.Event{
			Type: store.EventRolloutStarted, Execution: in.ExecutionARN, Version: in.TargetVersion,
			Message: d.Reason, Weights: &snapshot,
			Details: map[string]string{"from": d.From, "steps": fmt.Sprint(steps), "specRevision": fmt.Sprint(revision)},
		})
		if err != nil {
			return rollout.Action{}, err
		}
		log.InfoContext(ctx, "rollout started", "from", d.From, "steps", steps, "snapshot", describeForward(snapshot))
	}
	return startAction(rec.Status), nil
}

// giveUp releases the lease after a failure between taking it and
// recording the rollout, so that a retry (or the next trigger) starts
// clean. The original error is returned.
func (h *Handlers) giveUp(ctx context.Context, in PlanInput, cause error) error {
	if err := h.store.ReleaseLease(ctx, in.Cell, in.ExecutionARN); err != nil {
		h.log.WarnContext(ctx, "releasing the lease after a failed AcquireLease", "cell", in.Cell, "execution", in.ExecutionARN, "error", err)
	}
	return cause
}

func (h *Handlers) isRunning(ctx context.Context, arn string) (bool, error) {
	status, err := h.execs.Status(ctx, arn)
	if err != nil {
		return false, err
	}
	return status == "RUNNING" || status == "PENDING_REDRIVE", nil
}

// started reports whether st records a rollout to version begun under the
// lease it holds now (StartedAt is set to LeaseAcquiredAt when the rollout
// is recorded).
func started(st rollout.Status, version string) bool {
	return st.ExecutionARN != "" && st.CanaryVersion == version &&
		!st.LeaseAcquiredAt.IsZero() && st.StartedAt.Equal(st.LeaseAcquiredAt)
}

func startAction(st rollout.Status) rollout.Action {
	return rollout.Action{
		Kind: ActionStart, StableVersion: st.StableVersion, CanaryVersion: st.CanaryVersion,
		StepIndex: st.StepIndex, NextStepIndex: st.StepIndex, CanaryWeight: int32(canaryShare(st)),
		Reason: st.Message,
	}
}

// canaryShare is the canary's share of the status' weights, counting
// every group that is not in the snapshot as the canary's.
func canaryShare(st rollout.Status) int {
	if st.Snapshot == nil {
		return 0
	}
	var canary []string
	for _, tg := range st.Weights.TargetGroups {
		if _, ok := st.Snapshot.Weight(tg.ARN); !ok {
			canary = append(canary, tg.ARN)
		}
	}
	return weights.Share(st.Weights, canary)
}

func nothingReason(d rollout.Decision, target string) string {
	switch {
	case d.Kind == rollout.DecisionStartRollout:
		return fmt.Sprintf("the Cell should roll to %s, not %s (%s)", d.To, target, d.Reason)
	case d.Kind != rollout.DecisionNoop:
		return fmt.Sprintf("the Cell needs a %s to %s, not a rollout to %s (%s); reconcile does that", d.Kind, d.To, target, d.Reason)
	}
	return d.Reason
}

func stepCount(c *cell.Cell) int {
	if c.Spec.UpdateStrategy.Canary == nil {
		return 0
	}
	return len(c.Spec.UpdateStrategy.Canary.Steps)
}

// takeOver handles a lease taken from an execution that ended without
// releasing it. When that execution's rollout had begun, its snapshot is
// restored (and, if it ended unsuccessfully, its version blocked), as the
// safety net would have done; the status is written under the new
// holder's lease, which is kept.
func (h *Handlers) takeOver(ctx context.Context, c *cell.Cell, holder, previous string, st rollout.Status) (rollout.Status, error) {
	log := h.log.With("cell", c.Metadata.Name, "execution", holder, "previousHolder", previous)
	if !active(st.Phase) || st.Snapshot == nil {
		log.InfoContext(ctx, "took over the lease of an ended execution; its rollout had finished", "phase", st.Phase)
		return st, nil
	}
	status, err := h.execs.Status(ctx, previous)
	if err != nil {
		return st, err
	}
	if status == "" {
		status = "unknown"
	}
	why := fmt.Sprintf("execution %s ended %s without releasing the lease", executions.NameOf(previous), status)
	log.WarnContext(ctx, "took over the lease of an unfinished rollout: restoring its snapshot", "previousStatus", status)
	out, err := h.undo(ctx, c, st, undoing{
		holder: holder, execution: previous,
		phase: rollout.PhaseRolledBack, event: store.EventRolledBack,
		reason: why, block: status != "SUCCEEDED",
	})
	if err != nil {
		return st, err
	}
	return out, nil
}

// active reports whether a phase belongs to a rollout in progress.
func active(p rollout.Phase) bool {
	switch p {
	case rollout.PhaseProgressing, rollout.PhasePaused, rollout.PhaseAnalyzing, rollout.PhaseRollingBack, rollout.PhaseFinalizing:
		return true
	}
	return false
}

// NextStep records that in.Previous completed and returns the planner's
// next action.
//
// Completion moves the status' step index from previous.stepIndex to
// previous.nextStepIndex, only when the index is still previous.stepIndex,
// so a retried call moves it once; it also clears PausedUntil (a finished
// pause) and the task token (an answered approval). Start and
// WaitForHealthy complete nothing.
//
// The action comes from rollout.Next over a fresh discovery, listener
// read, status and blocks. Its bookkeeping is recorded as the planner asks:
// PausedUntil when a pause step begins, FinalizeAfter when the rollback
// window begins (Finalize is turned into the window's Pause until then),
// the phase (Paused for AwaitApproval, Analyzing for Analyze, Finalizing
// after the last step, RollingBack for Rollback, else Progressing) and the
// reason as the status message. A Done action releases the lease.
//
// A pause request in the status (an inconclusive background analysis)
// turns an action that would move the rollout on into an AwaitApproval
// holding the current step; the approval clears the request. Rollback and
// Supersede are never held.
func (h *Handlers) NextStep(ctx context.Context, in PlanInput) (rollout.Action, error) {
	l, err := h.hold(ctx, in.Cell, in.ExecutionARN)
	if err != nil {
		return rollout.Action{}, err
	}
	st := l.status.Status
	log := h.log.With("cell", in.Cell, "execution", in.ExecutionARN)
	prev := rollout.Action{Kind: ActionStart}
	if in.Previous != nil {
		prev = *in.Previous
	}
	// The completion is planned on and written with the next action's
	// bookkeeping, in one write; complete only changes what it must, so
	// the write may apply it again to a status read anew.
	advance := st.StepIndex == prev.StepIndex && prev.NextStepIndex > prev.StepIndex
	approved := prev.Kind == rollout.ActionAwaitApproval && (st.TaskToken != "" || st.PauseRequested)
	completed := completes(prev.Kind) && (advance || approved)
	complete := func(s *rollout.Status) {
		if !completed {
			return
		}
		if s.StepIndex == prev.StepIndex && prev.NextStepIndex > prev.StepIndex {
			s.StepIndex = prev.NextStepIndex
			s.PausedUntil = nil
		}
		if prev.Kind == rollout.ActionAwaitApproval {
			s.TaskToken = ""
			s.PauseRequested, s.PauseReason = false, "" // a human looked
		}
	}
	complete(&st)
	if completed {
		log.InfoContext(ctx, "step completed", "kind", prev.Kind, "step", prev.StepIndex, "nextStep", st.StepIndex)
	}

	a, finalizeAfter, steps, err := h.plan(ctx, in.Cell, in.ExecutionARN, st, prev, l)
	if err != nil {
		return rollout.Action{}, err
	}
	if st.PauseRequested && moves(a.Kind) {
		a, finalizeAfter = holdFor(st, a), nil
	}
	rec, err := h.store.UpdateStatusFrom(ctx, in.Cell, in.ExecutionARN, &l.status, func(s *rollout.Status) error {
		complete(s)
		s.StepCount = steps
		s.Phase, s.Message = phaseOf(a, steps), a.Reason
		if a.Kind == rollout.ActionPause && a.StepIndex < steps && s.PausedUntil == nil && a.Until != nil {
			u := *a.Until
			s.PausedUntil = &u
		}
		if finalizeAfter != nil && s.FinalizeAfter == nil {
			f := *finalizeAfter
			s.FinalizeAfter = &f
		}
		return nil
	})
	if err != nil {
		return rollout.Action{}, err
	}
	log.InfoContext(ctx, "next action", "kind", a.Kind, "step", a.StepIndex, "of", steps, "canaryWeight", a.CanaryWeight, "reason", a.Reason)
	if a.Kind == rollout.ActionDone {
		if err := h.finishDone(ctx, in, rec.Status, a); err != nil {
			return rollout.Action{}, err
		}
	}
	return a, nil
}

// moves reports whether an action of kind k carries the rollout forward
// (as opposed to ending it or already waiting for a human).
func moves(k rollout.ActionKind) bool {
	switch k {
	case rollout.ActionSetWeights, rollout.ActionPause, rollout.ActionAnalyze, rollout.ActionFinalize, rollout.ActionWaitForHealthy:
		return true
	}
	return false
}

// holdFor is the AwaitApproval that honours a pause request
// (status.PauseRequested, set by an inconclusive background analysis, as
// Argo Rollouts pauses): it holds the step the planner would run, which
// runs after `okra rollout promote`. A rollback or supersede is never held.
func holdFor(st rollout.Status, planned rollout.Action) rollout.Action {
	reason := st.PauseReason
	if reason == "" {
		reason = "a pause was requested"
	}
	return rollout.Action{
		Kind: rollout.ActionAwaitApproval, Indefinite: true,
		StableVersion: planned.StableVersion, CanaryVersion: planned.CanaryVersion,
		StepIndex: st.StepIndex, NextStepIndex: st.StepIndex, CanaryWeight: int32(canaryShare(st)),
		BackgroundAnalysis: planned.BackgroundAnalysis,
		Reason:             reason + "; `okra rollout promote` continues with: " + planned.Reason,
	}
}

// completes reports whether reaching NextStep after an action of kind k
// means that action's step is done.
func completes(k rollout.ActionKind) bool {
	switch k {
	case rollout.ActionSetWeights, rollout.ActionPause, rollout.ActionAwaitApproval, rollout.ActionAnalyze:
		return true
	}
	return false
}

// plan asks rollout.Next for the action after st. When Next wants to
// finalize after a rollback window that has not begun, it returns the
// window's Pause and the time to record as FinalizeAfter.
//
// Before the planner, two checks hold the rollout: a Cell whose ingress
// no longer names where the rollout's snapshot was taken rolls back there
// (ingressChanged), and a listener that no longer holds what the rollout
// last set waits for a human, or rolls back (checkDrift).
func (h *Handlers) plan(ctx context.Context, cellName, executionARN string, st rollout.Status, prev rollout.Action, l held) (rollout.Action, *time.Time, int, error) {
	c, err := h.cellOf(ctx, cellName, l, true)
	var bad *specError
	if errors.As(err, &bad) {
		return rollout.Action{
			Kind: rollout.ActionAwaitApproval, Indefinite: true,
			StableVersion: st.StableVersion, CanaryVersion: st.CanaryVersion,
			StepIndex: st.StepIndex, NextStepIndex: st.StepIndex, CanaryWeight: int32(canaryShare(st)),
			Reason: bad.reason + "; fix it and run `okra rollout promote`, or `okra rollout abort`",
		}, nil, st.StepCount, nil
	}
	if err != nil {
		return rollout.Action{}, nil, 0, err
	}
	steps := stepCount(c)
	if why := ingressChanged(c, st); why != "" {
		return rollout.Action{
			Kind: rollout.ActionRollback, StableVersion: st.StableVersion, CanaryVersion: st.CanaryVersion,
			StepIndex: st.StepIndex, NextStepIndex: st.StepIndex, CanaryWeight: int32(canaryShare(st)),
			Forward: st.Snapshot, Reason: why,
		}, nil, steps, nil
	}
	found, err := h.discover.ForCell(ctx, c)
	if err != nil {
		return rollout.Action{}, nil, 0, err
	}
	fwd, err := h.listener.Read(ctx, rolloutIngress(c, st))
	if err != nil {
		return rollout.Action{}, nil, 0, err
	}
	held, st, err := h.checkDrift(ctx, c, executionARN, st, prev, fwd)
	if err != nil {
		return rollout.Action{}, nil, 0, err
	}
	if held != nil {
		return *held, nil, steps, nil
	}
	if found.TargetGroups, err = h.discover.HealthForDecision(ctx, c, found.TargetGroups, fwd); err != nil {
		return rollout.Action{}, nil, 0, err
	}
	blocks, err := h.store.ListBlocked(ctx, cellName)
	if err != nil {
		return rollout.Action{}, nil, 0, err
	}
	st.StepCount = steps
	in := rollout.Input{Cell: c, TargetGroups: found.TargetGroups, Forward: fwd, Status: st, Blocked: blocks, Now: h.now()}
	a := rollout.Next(in)
	if a.Kind == rollout.ActionFinalize && a.After != nil && in.Now.Before(*a.After) && st.FinalizeAfter == nil {
		after := *a.After
		in.Status.FinalizeAfter = &after
		return rollout.Next(in), &after, steps, nil
	}
	return a, nil, steps, nil
}

func phaseOf(a rollout.Action, steps int) rollout.Phase {
	switch a.Kind {
	case rollout.ActionAwaitApproval:
		return rollout.PhasePaused
	case rollout.ActionAnalyze:
		return rollout.PhaseAnalyzing
	case rollout.ActionFinalize:
		return rollout.PhaseFinalizing
	case rollout.ActionPause:
		if a.StepIndex >= steps {
			return rollout.PhaseFinalizing
		}
	case rollout.ActionRollback:
		return rollout.PhaseRollingBack
	case rollout.ActionDone:
		return rollout.PhaseStable
	}
	return rollout.PhaseProgressing
}

// finishDone ends a rollout the planner finds nothing left for (the
// canary is already the stable version): the lease is released so the
// Cell is free.
func (h *Handlers) finishDone(ctx context.Context, in PlanInput, st rollout.Status, a rollout.Action) error {
	if _, err := h.store.UpdateStatus(ctx, in.Cell, in.ExecutionARN, func(s *rollout.Status) error {
		s.Phase, s.Message = rollout.PhaseStable, a.Reason
		if a.StableVersion != "" {
			s.StableVersion = a.StableVersion
		}
		s.CanaryVersion, s.TaskToken, s.PausedUntil, s.FinalizeAfter = "", "", nil, nil
		return nil
	}); err != nil {
		return err
	}
	return h.store.ReleaseLease(ctx, in.Cell, in.ExecutionARN)
}

// StartAnalysis turns the Analyze action into the analysis state through
// the AnalysisStarter.
func (h *Handlers) StartAnalysis(ctx context.Context, in PlanInput) (json.RawMessage, error) {
	if _, err := h.holding(ctx, in.Cell, in.ExecutionARN); err != nil {
		return nil, err
	}
	if in.Action == nil || in.Action.Kind != rollout.ActionAnalyze {
		return nil, fmt.Errorf("StartAnalysis: want an action of kind %s, got %v", rollout.ActionAnalyze, kindOf(in.Action))
	}
	if h.analysis == nil {
		return nil, errors.New("StartAnalysis: this deployment has no analysis engine (steps.Deps.Analysis is nil)")
	}
	out, err := h.analysis.Start(ctx, in.Cell, in.ExecutionARN, *in.Action)
	if err != nil {
		return nil, fmt.Errorf("starting the analysis of step %d, %w", in.Action.StepIndex, err)
	}
	return out, nil
}

// StartBackgroundAnalysis returns the Cell's background analysis state, or
// phase Stopped when it has none.
func (h *Handlers) StartBackgroundAnalysis(ctx context.Context, in PlanInput) (json.RawMessage, error) {
	if _, err := h.holding(ctx, in.Cell, in.ExecutionARN); err != nil {
		return nil, err
	}
	if h.analysis != nil {
		out, err := h.analysis.StartBackground(ctx, in.Cell, in.ExecutionARN)
		if err != nil {
			return nil, fmt.Errorf("starting the background analysis, %w", err)
		}
		return out, nil
	}
	c, _, err := h.loadCell(ctx, in.Cell, false)
	if err != nil {
		return nil, err
	}
	if canary := c.Spec.UpdateStrategy.Canary; canary != nil && canary.Analysis != nil {
		return nil, errors.New("StartBackgroundAnalysis: the Cell has a background analysis but this deployment has no analysis engine (steps.Deps.Analysis is nil)")
	}
	return StoppedAnalysis(fmt.Sprintf("Cell %s has no background analysis", in.Cell))
}

// StoppedAnalysis is the analysis state of a background analysis that is
// not running: the state machine's background branch ends on it.
func StoppedAnalysis(message string) (json.RawMessage, error) {
	return json.Marshal(map[string]any{
		"background": true, "stepIndex": 0,
		"providers": map[string]bool{"cloudWatch": false, "datadog": false},
		"phase":     "Stopped", "message": message, "waitSeconds": 0, "run": nil,
	})
}

func kindOf(a *rollout.Action) any {
	if a == nil {
		return "no action"
	}
	return a.Kind
}

// describeForward renders a forward action for logs and messages.
func describeForward(f weights.Forward) string {
	parts := make([]string, 0, len(f.TargetGroups))
	for _, tg := range f.TargetGroups {
		parts = append(parts, fmt.Sprintf("%s=%d", shortARN(tg.ARN), tg.Weight))
	}
	out := strings.Join(parts, ", ")
	if f.Stickiness != nil && f.Stickiness.Enabled {
		out += fmt.Sprintf(" (sticky %ds)", f.Stickiness.DurationSeconds)
	}
	return out
}

// shortARN returns a target group's name from its ARN
// (...:targetgroup/NAME/ID), or the ARN.
func shortARN(arn string) string {
	_, rest, ok := strings.Cut(arn, ":targetgroup/")
	if !ok {
		return arn
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// groupsByARN indexes discovered target groups.
func groupsByARN(tgs []inventory.TargetGroup) map[string]inventory.TargetGroup {
	out := make(map[string]inventory.TargetGroup, len(tgs))
	for _, tg := range tgs {
		out[tg.ARN] = tg
	}
	return out
}
