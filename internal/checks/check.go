package checks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
)

// CheckInput is what the state machine passes to a check function
// (CheckCloudWatch, CheckDatadog and their background twins).
type CheckInput struct {
	Cell         string `json:"cell"`
	ExecutionARN string `json:"executionArn"`
	Analysis     *State `json:"analysis"`
}

// Checker is the check function of one provider kind.
type Checker struct {
	s        *Starter
	kind     analysis.Kind
	provider analysis.Provider
}

// NewChecker returns the check function for kind, measuring with provider.
// It shares s's store, discovery, clock and limits (a background analysis
// may start, or restart, in a check).
func NewChecker(s *Starter, kind analysis.Kind, provider analysis.Provider) (*Checker, error) {
	switch {
	case s == nil:
		return nil, errors.New("checks: no starter")
	case kind != analysis.KindCloudWatch && kind != analysis.KindDatadog:
		return nil, fmt.Errorf("checks: provider kind %q is not %s or %s", kind, analysis.KindCloudWatch, analysis.KindDatadog)
	case provider == nil:
		return nil, fmt.Errorf("checks: no %s provider", kind)
	}
	return &Checker{s: s, kind: kind, provider: provider}, nil
}

// Handle is the Lambda handler: Check with its error turned into the
// typed error the state machine matches (Boundary).
func (c *Checker) Handle(ctx context.Context, in CheckInput) (State, error) {
	st, err := c.Check(ctx, in)
	if err != nil {
		err = Boundary(err)
		c.s.log.ErrorContext(ctx, "analysis check failed", "cell", in.Cell, "provider", string(c.kind), "error", err.Error())
		return State{}, err
	}
	return st, nil
}

// Check takes this provider's measurements that are due and returns the
// updated analysis state:
//   - Stopped when the execution no longer holds the Cell's lease, or when
//     a background analysis outlived the rollout's steps (its run is
//     terminated);
//   - unchanged when the analysis is already decided (by the other
//     provider's check in the same round);
//   - otherwise the run stepped with only this provider, every new
//     measurement written to the Cell's history, and the run's phase
//     mapped: Running (with waitSeconds), Successful, Failed, Inconclusive
//     (a step's), or for a background analysis Error when a provider
//     outlasted consecutiveErrorLimit. A background analysis that is
//     inconclusive requests a pause (rollout.Status.PauseRequested) and
//     restarts afresh, Running.
func (c *Checker) Check(ctx context.Context, in CheckInput) (State, error) {
	if in.Cell == "" || in.ExecutionARN == "" || in.Analysis == nil {
		return State{}, &UnexpectedError{Err: fmt.Errorf("input: cell (%q), executionArn (%q) and analysis are required", in.Cell, in.ExecutionARN)}
	}
	st := *in.Analysis
	rec, err := c.s.store.GetStatus(ctx, in.Cell)
	if err != nil {
		return State{}, fmt.Errorf("reading the status of Cell %q, %w", in.Cell, err)
	}
	status := rec.Status
	now := c.s.now()
	if status.ExecutionARN != in.ExecutionARN {
		return c.stop(ctx, in, st, status.CanaryVersion, now, leaseLost(in, status))
	}
	if st.Background && stepsOver(status.Phase) {
		return c.stop(ctx, in, st, status.CanaryVersion, now, fmt.Sprintf("background analysis stopped: the rollout's steps are over (Cell status %s)", status.Phase))
	}
	if st.Phase != PhaseRunning {
		if st.Background {
			// A background analysis that completed successfully has
			// nothing left to measure; its branch idles until the
			// rollout ends.
			st.WaitSeconds = c.s.pollSeconds()
		}
		return c.out(in.Cell, st)
	}
	if st.Run == nil {
		if !st.Background {
			return State{}, &UnexpectedError{Err: fmt.Errorf("the analysis state of Cell %q is Running without a run", in.Cell)}
		}
		cl, err := c.s.loadCell(ctx, in.Cell)
		if err != nil {
			return State{}, err
		}
		next, err := c.s.startBackground(ctx, in.Cell, in.ExecutionARN, cl, status, now)
		if err != nil {
			return State{}, err
		}
		if next.Run == nil {
			return c.out(in.Cell, next)
		}
		st = next
	}

	run := st.Run
	res, err := stepOnly(ctx, run, c.kind, c.provider, now)
	if err != nil {
		return State{}, err
	}
	measured := c.s.now()
	for _, r := range res.Measurements {
		if _, err := c.s.store.AppendEvent(ctx, in.Cell, measurementEvent(r, in.ExecutionARN, status.CanaryVersion, measured)); err != nil {
			return State{}, fmt.Errorf("recording measurement of metric %q in the history of Cell %q, %w", r.Metric, in.Cell, err)
		}
		c.s.log.InfoContext(ctx, "measured", "cell", in.Cell, "metric", r.Metric, "provider", string(r.Provider), "verdict", string(r.Phase), "metricPhase", string(r.MetricPhase))
	}

	switch run.Phase {
	case analysis.PhaseRunning:
		st.Phase = PhaseRunning
		var limit time.Duration
		if st.Background {
			limit = c.s.poll
		}
		st.WaitSeconds = waitSeconds(run.NextAt, measured, limit)
		st.Message = progress(run, res.Measurements, st.WaitSeconds)
		return c.out(in.Cell, st)
	case analysis.PhaseInconclusive:
		if st.Background {
			return c.pause(ctx, in, st, status, measured)
		}
	}
	st.Phase, st.Message = verdict(run, st.Background)
	st.WaitSeconds = 0
	if st.Background && st.Phase == PhaseSuccessful {
		st.WaitSeconds = c.s.pollSeconds()
	}
	if err := c.completed(ctx, in, st, status.CanaryVersion, measured); err != nil {
		return State{}, err
	}
	c.s.log.InfoContext(ctx, "analysis completed", "cell", in.Cell, "background", st.Background, "phase", string(st.Phase))
	return c.out(in.Cell, st)
}

func (c *Checker) out(cellName string, st State) (State, error) {
	if _, err := fit(cellName, &st, c.s.maxBytes); err != nil {
		return State{}, err
	}
	return st, nil
}

// stop ends the analysis: Stopped, with the reason. A background run is
// terminated (Argo Rollouts terminates a background AnalysisRun when its
// rollout ends).
func (c *Checker) stop(ctx context.Context, in CheckInput, st State, canary string, now time.Time, reason string) (State, error) {
	wasRunning := st.Phase == PhaseRunning && st.Run != nil
	if st.Background && st.Run != nil && !st.Run.Phase.Completed() {
		analysis.Terminate(st.Run, now)
	}
	st.Phase, st.Message, st.WaitSeconds = PhaseStopped, reason, 0
	if wasRunning {
		if err := c.completed(ctx, in, st, canary, now); err != nil {
			return State{}, err
		}
	}
	c.s.log.InfoContext(ctx, "analysis stopped", "cell", in.Cell, "background", st.Background, "reason", reason)
	return c.out(in.Cell, st)
}

// pause handles an inconclusive background analysis as Argo Rollouts does
// (the rollout pauses for a human): it asks the rollout to pause at its
// next step boundary and starts the background analysis afresh.
func (c *Checker) pause(ctx context.Context, in CheckInput, st State, status rollout.Status, now time.Time) (State, error) {
	_, msg := verdict(st.Run, true)
	reason := "background " + msg
	_, err := c.s.store.UpdateStatus(ctx, in.Cell, in.ExecutionARN, func(s *rollout.Status) error {
		s.PauseRequested = true
		s.PauseReason = truncate(reason, maxMessage)
		return nil
	})
	var notHolder *store.NotHolderError
	if errors.As(err, &notHolder) {
		return c.stop(ctx, in, st, status.CanaryVersion, now, leaseLost(in, rollout.Status{ExecutionARN: notHolder.Holder}))
	}
	if err != nil {
		return State{}, fmt.Errorf("requesting a pause of Cell %q, %w", in.Cell, err)
	}
	st.Phase, st.Message = PhaseInconclusive, reason
	if err := c.completed(ctx, in, st, status.CanaryVersion, now); err != nil {
		return State{}, err
	}
	ev := store.Event{Time: now, Type: EventPauseRequested, Execution: in.ExecutionARN, Version: status.CanaryVersion, Message: reason}
	if _, err := c.s.store.AppendEvent(ctx, in.Cell, ev); err != nil {
		return State{}, fmt.Errorf("recording the pause request in the history of Cell %q, %w", in.Cell, err)
	}
	c.s.log.InfoContext(ctx, "requested a pause", "cell", in.Cell, "reason", reason)
	cl, err := c.s.loadCell(ctx, in.Cell)
	if err != nil {
		return State{}, err
	}
	next, err := c.s.startBackground(ctx, in.Cell, in.ExecutionARN, cl, status, now)
	if err != nil {
		return State{}, err
	}
	next.Message = reason + "; the rollout waits for `okra rollout promote` at its next step boundary; " + next.Message
	return c.out(in.Cell, next)
}

// completed records the analysis' end in the Cell's history.
func (c *Checker) completed(ctx context.Context, in CheckInput, st State, canary string, now time.Time) error {
	details := map[string]string{
		"phase":      string(st.Phase),
		"background": strconv.FormatBool(st.Background),
		"stepIndex":  strconv.Itoa(st.StepIndex),
	}
	if st.Run != nil {
		details["runPhase"] = string(st.Run.Phase)
		details["templates"] = strings.Join(st.Run.Templates, ",")
	}
	ev := store.Event{Time: now, Type: store.EventAnalysisCompleted, Execution: in.ExecutionARN, Version: canary, Message: truncate(st.Message, maxMessage), Details: details}
	if _, err := c.s.store.AppendEvent(ctx, in.Cell, ev); err != nil {
		return fmt.Errorf("recording the analysis result in the history of Cell %q, %w", in.Cell, err)
	}
	return nil
}

func (s *Starter) pollSeconds() int64 { return max(1, int64(s.poll/time.Second)) }

func leaseLost(in CheckInput, status rollout.Status) string {
	holder := "no execution holds it"
	if status.ExecutionARN != "" {
		holder = "execution " + status.ExecutionARN + " holds it"
	}
	msg := fmt.Sprintf("analysis stopped: execution %s no longer holds the lease of Cell %q (%s", in.ExecutionARN, in.Cell, holder)
	if status.Phase != "" {
		msg += "; status " + string(status.Phase)
	}
	return msg + ")"
}

// stepsOver reports whether a Cell status phase means the rollout's steps
// have ended, so a background analysis has nothing left to watch. The
// lease check covers the rest: Finalize and Rollback release it.
func stepsOver(p rollout.Phase) bool {
	switch p {
	case rollout.PhaseStable, rollout.PhaseRollingBack, rollout.PhaseRolledBack, rollout.PhaseInvalid:
		return true
	}
	return false
}

// stepOnly steps run with one provider: the metrics of other providers are
// hidden from the engine (their next measurement time cleared for the
// call), so they are neither measured nor counted as errors here; their
// own check function measures them. Without this the engine would record
// "no provider configured" errors for them.
func stepOnly(ctx context.Context, run *analysis.Run, kind analysis.Kind, p analysis.Provider, now time.Time) (analysis.StepResult, error) {
	hidden := map[int]time.Time{}
	for i := range run.Metrics {
		m := &run.Metrics[i]
		if m.Provider != kind && m.NextAt != nil {
			hidden[i] = *m.NextAt
			m.NextAt = nil
		}
	}
	res, err := analysis.Step(ctx, run, analysis.Providers{kind: p}, now)
	for i, next := range hidden {
		if !run.Metrics[i].Phase.Completed() {
			t := next
			run.Metrics[i].NextAt = &t
		}
	}
	if err != nil {
		return analysis.StepResult{}, fmt.Errorf("measuring with %s, %w", kind, err)
	}
	if run.Phase == analysis.PhaseRunning {
		// The engine computed the run's next time without the hidden
		// metrics.
		run.NextAt = nil
		for _, m := range run.Metrics {
			if !m.Phase.Completed() && m.NextAt != nil && (run.NextAt == nil || m.NextAt.Before(*run.NextAt)) {
				t := *m.NextAt
				run.NextAt = &t
			}
		}
		res.NextAt = run.NextAt
	}
	return res, nil
}
