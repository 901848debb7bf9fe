package steps

import (
	"errors"
	"fmt"
	"strings"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/lambdamain"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// The error types below are what the state machine's Retry and Catch match
// on: the Lambda runtime names an error by its Go type (without the
// pointer), so a handler returns them unwrapped. Each keeps the error it
// classifies in Err, so errors.As still reaches the cause.

// TransientError is a failure worth retrying: AWS throttling, a 5xx answer,
// a dropped connection. Every Task of the state machine retries it with
// backoff.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return "transient: " + e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// LeaseHeldError says another rollout execution, still running, holds the
// Cell's lease (AcquireLease); the execution ends as
// AnotherRolloutHoldsTheCell.
type LeaseHeldError struct {
	Cell   string
	Holder string
	Err    error
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("another rollout holds Cell %q: execution %s is still running", e.Cell, e.Holder)
}
func (e *LeaseHeldError) Unwrap() error { return e.Err }

// NothingToDoError says AcquireLease found no rollout to start to the
// execution's target version (blocked, not ready, not newer, superseded,
// already stable, or the Cell spec is missing or invalid). Reason says
// which.
type NothingToDoError struct {
	Cell    string
	Version string
	Reason  string
}

func (e *NothingToDoError) Error() string {
	return fmt.Sprintf("nothing to do for Cell %q at %s: %s", e.Cell, e.Version, e.Reason)
}

// UnhealthyTargetsError says SetWeights refused to raise the canary's
// weight because some of its target groups have fewer healthy targets than
// the Cell's minimum. The state machine waits and asks the planner again.
type UnhealthyTargetsError struct {
	Cell string
	// TargetGroups names each group and its healthy-target count.
	TargetGroups []string
	MinHealthy   int
	// CanaryWeight is the canary's share now, which is kept.
	CanaryWeight int
}

func (e *UnhealthyTargetsError) Error() string {
	return fmt.Sprintf("not raising the canary's weight of Cell %q (it stays at %d%%): target groups with fewer than %d healthy targets: %s",
		e.Cell, e.CanaryWeight, e.MinHealthy, strings.Join(e.TargetGroups, ", "))
}

// LimitError says a forward action breaks a limit okra enforces (at most 5
// target groups, weights 0..999, ...); nothing was sent to AWS.
type LimitError struct{ Err error }

func (e *LimitError) Error() string { return e.Err.Error() }
func (e *LimitError) Unwrap() error { return e.Err }

// DriftError says the forward action read back differs from what was set:
// another client changed it, or a write did not take.
type DriftError struct{ Err error }

func (e *DriftError) Error() string { return e.Err.Error() }
func (e *DriftError) Unwrap() error { return e.Err }

// LeaseLostError says the execution no longer holds the Cell's lease (the
// safety net or an operator ended its rollout); it must not touch the
// listener.
type LeaseLostError struct {
	Cell      string
	Execution string
	// Holder is the execution holding the lease now, empty when none.
	Holder string
	// Phase and Message are what the status says now.
	Phase   string
	Message string
}

func (e *LeaseLostError) Error() string {
	holder := "no execution holds it"
	if e.Holder != "" {
		holder = "execution " + e.Holder + " holds it"
	}
	msg := fmt.Sprintf("execution %s no longer holds the lease of Cell %q (%s; status %s", e.Execution, e.Cell, holder, e.Phase)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg + ")"
}

// AbortedError is the error name `okra rollout abort` sends with
// SendTaskFailure; the state machine catches it into Rollback. Handlers do
// not return it.
type AbortedError struct{ Reason string }

func (e *AbortedError) Error() string { return "aborted: " + e.Reason }

// AbortedErrorName is AbortedError's name as Step Functions sees it.
const AbortedErrorName = "AbortedError"

// UnexpectedError is a failure okra did not classify: not retried by the
// state machine, caught into Rollback (or CouldNotStart before any weight
// changed).
type UnexpectedError struct{ Err error }

func (e *UnexpectedError) Error() string { return e.Err.Error() }
func (e *UnexpectedError) Unwrap() error { return e.Err }

// Boundary turns err into the typed error a Lambda handler returns, so the
// state machine's Retry/Catch can match its name:
//   - an error that already is (or wraps) one of this package's types is
//     returned as that type;
//   - store.LeaseHeldError becomes LeaseHeldError, store.NotHolderError
//     LeaseLostError, listener.DriftError DriftError, listener.LimitError
//     and weights.LimitError LimitError;
//   - AWS throttling, 5xx answers, timeouts and dropped connections become
//     TransientError;
//   - an error whose own exported type already names it (not a plain fmt
//     or errors value) travels unchanged;
//   - anything else becomes UnexpectedError.
//
// nil stays nil.
func Boundary(err error) error {
	if err == nil {
		return nil
	}
	var (
		transient *TransientError
		held      *LeaseHeldError
		nothing   *NothingToDoError
		unhealthy *UnhealthyTargetsError
		limit     *LimitError
		drift     *DriftError
		lost      *LeaseLostError
		aborted   *AbortedError
		unexpect  *UnexpectedError
	)
	switch {
	case errors.As(err, &held):
		return held
	case errors.As(err, &nothing):
		return nothing
	case errors.As(err, &unhealthy):
		return unhealthy
	case errors.As(err, &lost):
		return lost
	case errors.As(err, &limit):
		return limit
	case errors.As(err, &drift):
		return drift
	case errors.As(err, &aborted):
		return aborted
	case errors.As(err, &transient):
		return transient
	case errors.As(err, &unexpect):
		return unexpect
	}
	var (
		storeHeld  *store.LeaseHeldError
		notHolder  *store.NotHolderError
		listDrift  *listener.DriftError
		listLimit  *listener.LimitError
		weightsLim *weights.LimitError
	)
	switch {
	case errors.As(err, &storeHeld):
		return &LeaseHeldError{Cell: storeHeld.Cell, Holder: storeHeld.Holder, Err: err}
	case errors.As(err, &notHolder):
		return &LeaseLostError{Cell: notHolder.Cell, Execution: notHolder.Execution, Holder: notHolder.Holder}
	case errors.As(err, &listDrift):
		return &DriftError{Err: err}
	case errors.As(err, &listLimit), errors.As(err, &weightsLim):
		return &LimitError{Err: err}
	case IsTransient(err):
		return &TransientError{Err: err}
	case !lambdamain.NamelessError(err):
		return err
	}
	return &UnexpectedError{Err: err}
}

// IsTransient reports whether err is worth retrying later: AWS throttling,
// a 5xx answer, a timeout or a dropped connection (awsapi.IsTransient).
func IsTransient(err error) bool { return awsapi.IsTransient(err) }
