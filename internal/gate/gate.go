// Package gate owns the operations people use on a running rollout:
// `okra rollout promote` (answer the approval the rollout waits for),
// `okra rollout abort` (fail the approval, or stop the execution, so the
// rollout rolls back) and `okra rollout retry` (unblock the last blocked
// version and roll to it again under a new attempt).
//
// It talks to the Cell status (where the rollout keeps its task token),
// the history and Step Functions. It never changes weights itself: an
// abort ends in the state machine's Rollback or, for a stopped execution,
// in the safety net.
package gate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/store"
)

// Store is the part of the store the gate uses; *store.Store satisfies it.
type Store interface {
	GetStatus(ctx context.Context, cellName string) (store.StatusRecord, error)
	UpdateStatus(ctx context.Context, cellName, executionARN string, update func(*rollout.Status) error) (store.StatusRecord, error)
	AppendEvent(ctx context.Context, cellName string, ev store.Event) (store.Event, error)
	ListBlocked(ctx context.Context, cellName string) ([]rollout.Block, error)
	Unblock(ctx context.Context, cellName, version string) (bool, error)
}

var _ Store = (*store.Store)(nil)

// StepFunctions is the part of Step Functions the gate calls; *sfn.Client
// satisfies it.
type StepFunctions interface {
	SendTaskSuccess(ctx context.Context, params *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, params *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
	StopExecution(ctx context.Context, params *sfn.StopExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error)
	DescribeExecution(ctx context.Context, params *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	StartExecution(ctx context.Context, params *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

var _ StepFunctions = (*sfn.Client)(nil)

// Deps are what a Gate needs.
type Deps struct {
	Store Store
	SFN   StepFunctions
	// StateMachineARN is the rollout state machine (Retry starts
	// executions of it).
	StateMachineARN string
	// Actor names who acts (recorded in the history), e.g. the CLI user.
	Actor string
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Gate answers and stops rollouts.
type Gate struct {
	store   Store
	sfn     StepFunctions
	execs   steps.Executions
	machine string
	actor   string
	now     func() time.Time
	log     *slog.Logger
}

// New returns a Gate.
func New(d Deps) (*Gate, error) {
	if d.Store == nil || d.SFN == nil {
		return nil, errors.New("gate: Store and SFN are required")
	}
	g := &Gate{store: d.Store, sfn: d.SFN, machine: d.StateMachineARN, actor: d.Actor, now: d.Now, log: d.Logger}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.actor == "" {
		g.actor = "okra"
	}
	g.execs = steps.SFNExecutions{API: d.SFN, Logger: g.log}
	return g, nil
}

// NotWaitingError says promote found nothing waiting for it; Doing says
// what the Cell's rollout does instead.
type NotWaitingError struct {
	Cell  string
	Doing string
}

func (e *NotWaitingError) Error() string {
	return fmt.Sprintf("nothing in Cell %q waits for promote: %s", e.Cell, e.Doing)
}

// NoRolloutError says no rollout runs in the Cell (abort), or that retry
// has nothing to retry.
type NoRolloutError struct {
	Cell   string
	Reason string
}

func (e *NoRolloutError) Error() string { return fmt.Sprintf("Cell %q: %s", e.Cell, e.Reason) }

// Result says what an operation did.
type Result struct {
	Cell      string `json:"cell"`
	Execution string `json:"executionArn,omitempty"`
	Version   string `json:"version,omitempty"`
	// Attempt is the attempt Retry started (or found running).
	Attempt int    `json:"attempt,omitempty"`
	Message string `json:"message"`
}

// doing describes a status for messages.
func doing(st rollout.Status) string {
	if !st.Leased() {
		msg := fmt.Sprintf("no rollout runs (phase %s", orNone(string(st.Phase)))
		if st.Message != "" {
			msg += ": " + st.Message
		}
		return msg + ")"
	}
	msg := fmt.Sprintf("rollout %s of %s is %s", executionName(st.ExecutionARN), st.CanaryVersion, st.Phase)
	if st.StepCount > 0 {
		msg += fmt.Sprintf(" at step %d of %d", st.StepIndex, st.StepCount)
	}
	if st.Message != "" {
		msg += ": " + st.Message
	}
	return msg
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// taskGone reports whether Step Functions no longer accepts the token.
func taskGone(err error) bool {
	switch awsapi.Code(err) {
	case "TaskTimedOut", "InvalidToken", "TaskDoesNotExist":
		return true
	}
	return false
}

// Promote answers the approval the Cell's rollout waits for (an indefinite
// pause, or an inconclusive analysis) with SendTaskSuccess, clears the
// token from the status and records a Promoted event. When nothing waits
// it returns a *NotWaitingError saying what the rollout does instead.
func (g *Gate) Promote(ctx context.Context, cellName string) (Result, error) {
	rec, err := g.store.GetStatus(ctx, cellName)
	if err != nil {
		return Result{}, err
	}
	st := rec.Status
	token := st.TaskToken
	if !st.Leased() || token == "" {
		return Result{}, &NotWaitingError{Cell: cellName, Doing: doing(st)}
	}
	output, err := json.Marshal(map[string]string{"promotedBy": g.actor, "at": g.now().UTC().Format(time.RFC3339)})
	if err != nil {
		return Result{}, fmt.Errorf("encoding the approval, %w", err)
	}
	g.log.InfoContext(ctx, "promoting rollout", "cell", cellName, "execution", st.ExecutionARN, "step", st.StepIndex)
	_, err = g.sfn.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(output))})
	if err != nil && !taskGone(err) {
		return Result{}, fmt.Errorf("answering the approval of rollout %s, %w", st.ExecutionARN, err)
	}
	g.clearToken(ctx, cellName, st.ExecutionARN, token, fmt.Sprintf("promoted by %s", g.actor))
	if err != nil {
		return Result{}, &NotWaitingError{Cell: cellName, Doing: fmt.Sprintf("the approval of rollout %s no longer waits (%s)", executionName(st.ExecutionARN), awsapi.Code(err))}
	}
	g.log.InfoContext(ctx, "promoted rollout", "cell", cellName, "execution", st.ExecutionARN)
	if _, err := g.store.AppendEvent(ctx, cellName, store.Event{
		Type: store.EventPromoted, Execution: st.ExecutionARN, Version: st.CanaryVersion,
		Message: fmt.Sprintf("promoted by %s at step %d", g.actor, st.StepIndex), Details: map[string]string{"actor": g.actor},
	}); err != nil {
		return Result{}, fmt.Errorf("recording the promotion, %w", err)
	}
	return Result{Cell: cellName, Execution: st.ExecutionARN, Version: st.CanaryVersion,
		Message: fmt.Sprintf("promoted rollout %s of %s at step %d of %d", executionName(st.ExecutionARN), st.CanaryVersion, st.StepIndex, st.StepCount)}, nil
}

// clearToken removes token from the status if it is still there. The
// rollout may have moved on (its NextStep clears the token too, and may
// already wait on a new one), so a status without that token, or a lease
// that changed hands, is left alone.
func (g *Gate) clearToken(ctx context.Context, cellName, holder, token, message string) {
	_, err := g.store.UpdateStatus(ctx, cellName, holder, func(s *rollout.Status) error {
		if s.TaskToken != token {
			return nil
		}
		s.TaskToken = ""
		s.Phase, s.Message = rollout.PhaseProgressing, message
		return nil
	})
	var notHolder *store.NotHolderError
	if err != nil && !errors.As(err, &notHolder) {
		g.log.WarnContext(ctx, "clearing the task token", "cell", cellName, "error", err)
	}
}

// Abort stops the Cell's rollout so that it rolls back: when it waits for
// approval, SendTaskFailure with AbortedError (the state machine catches
// it into Rollback); otherwise StopExecution of the lease holder (the
// safety net restores the snapshot when the execution is ABORTED). The
// reason is recorded first in an Aborted event, which Rollback reads when
// the service drops the failure's cause.
func (g *Gate) Abort(ctx context.Context, cellName, reason string) (Result, error) {
	if reason == "" {
		reason = "aborted by " + g.actor
	}
	rec, err := g.store.GetStatus(ctx, cellName)
	if err != nil {
		return Result{}, err
	}
	st := rec.Status
	if !st.Leased() {
		return Result{}, &NoRolloutError{Cell: cellName, Reason: "nothing to abort: " + doing(st)}
	}
	holder := st.ExecutionARN
	if _, err := g.store.AppendEvent(ctx, cellName, store.Event{
		Type: store.EventAborted, Execution: holder, Version: st.CanaryVersion, Message: reason,
		Details: map[string]string{"actor": g.actor},
	}); err != nil {
		return Result{}, fmt.Errorf("recording the abort, %w", err)
	}
	if token := st.TaskToken; token != "" {
		g.log.InfoContext(ctx, "aborting rollout waiting for approval", "cell", cellName, "execution", holder, "reason", reason)
		_, err := g.sfn.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{
			TaskToken: aws.String(token), Error: aws.String(steps.AbortedErrorName), Cause: aws.String(reason),
		})
		switch {
		case err == nil:
			g.clearToken(ctx, cellName, holder, token, "aborting: "+reason)
			g.log.InfoContext(ctx, "aborted rollout", "cell", cellName, "execution", holder)
			return Result{Cell: cellName, Execution: holder, Version: st.CanaryVersion,
				Message: fmt.Sprintf("aborted rollout %s of %s: it rolls back to %s", executionName(holder), st.CanaryVersion, st.StableVersion)}, nil
		case !taskGone(err):
			return Result{}, fmt.Errorf("failing the approval of rollout %s, %w", holder, err)
		}
		g.log.InfoContext(ctx, "the approval no longer waits; stopping the execution instead", "cell", cellName, "execution", holder)
	}
	g.log.InfoContext(ctx, "stopping rollout execution", "cell", cellName, "execution", holder, "reason", reason)
	if _, err := g.sfn.StopExecution(ctx, &sfn.StopExecutionInput{
		ExecutionArn: aws.String(holder), Error: aws.String(steps.AbortedErrorName), Cause: aws.String(reason),
	}); err != nil && !awsapi.IsNotFound(err) {
		return Result{}, fmt.Errorf("stopping rollout %s, %w", holder, err)
	}
	g.log.InfoContext(ctx, "stopped rollout execution", "cell", cellName, "execution", holder)
	return Result{Cell: cellName, Execution: holder, Version: st.CanaryVersion,
		Message: fmt.Sprintf("stopped rollout %s of %s: the safety net restores %s's weights", executionName(holder), st.CanaryVersion, st.StableVersion)}, nil
}

// Retry unblocks the Cell's most recently blocked version and rolls to it
// again: the first attempt whose execution name is unused (attempt n+1
// after attempt n; see steps.EnsureRollout), trigger "retry". It refuses
// while another rollout runs.
func (g *Gate) Retry(ctx context.Context, cellName string) (Result, error) {
	if g.machine == "" {
		return Result{}, errors.New("retry: the rollout state machine's ARN is not configured")
	}
	rec, err := g.store.GetStatus(ctx, cellName)
	if err != nil {
		return Result{}, err
	}
	st := rec.Status
	if st.Leased() {
		status, err := g.execs.Status(ctx, st.ExecutionARN)
		if err != nil {
			return Result{}, err
		}
		if status == "RUNNING" || status == "PENDING_REDRIVE" {
			return Result{}, &NoRolloutError{Cell: cellName, Reason: "cannot retry while " + doing(st) + "; abort it first"}
		}
	}
	blocks, err := g.store.ListBlocked(ctx, cellName)
	if err != nil {
		return Result{}, err
	}
	if len(blocks) == 0 {
		return Result{}, &NoRolloutError{Cell: cellName, Reason: "no version is blocked: nothing to retry"}
	}
	last := blocks[0]
	for _, b := range blocks[1:] {
		if b.At.After(last.At) {
			last = b
		}
	}
	g.log.InfoContext(ctx, "retrying blocked version", "cell", cellName, "version", last.Version, "blockedBecause", last.Reason)
	if _, err := g.store.Unblock(ctx, cellName, last.Version); err != nil {
		return Result{}, err
	}
	if _, err := g.store.AppendEvent(ctx, cellName, store.Event{
		Type: store.EventUnblocked, Version: last.Version,
		Message: fmt.Sprintf("unblocked by %s to retry (was blocked: %s)", g.actor, last.Reason),
		Details: map[string]string{"actor": g.actor},
	}); err != nil {
		return Result{}, fmt.Errorf("recording the unblock, %w", err)
	}
	r, err := steps.EnsureRollout(ctx, g.execs, g.machine, executions.Input{
		Cell: cellName, TargetVersion: last.Version, FromVersion: st.StableVersion, Attempt: 1, Trigger: "retry",
	})
	if err != nil {
		return Result{}, fmt.Errorf("starting the retry of %s, %w", last.Version, err)
	}
	verb := "started"
	if !r.Started {
		verb = "found running"
	}
	g.log.InfoContext(ctx, "retry "+verb, "cell", cellName, "version", last.Version, "execution", r.ARN, "attempt", r.Attempt)
	return Result{Cell: cellName, Execution: r.ARN, Version: last.Version, Attempt: r.Attempt,
		Message: fmt.Sprintf("unblocked %s and %s rollout attempt %d (%s)", last.Version, verb, r.Attempt, executionName(r.ARN))}, nil
}

func executionName(arn string) string {
	for i := len(arn) - 1; i >= 0; i-- {
		if arn[i] == ':' {
			return arn[i+1:]
		}
	}
	return arn
}
