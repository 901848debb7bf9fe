package checks

import (
	"errors"
	"fmt"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/lambdamain"
)

// The state machine matches a Lambda error by its Go type name (without
// the pointer): these types are returned unwrapped at the handler boundary
// (Boundary). The names match package steps' where they mean the same, so
// the definition's Retry and Catch treat both alike.

// TransientError is a failure worth retrying: DynamoDB or ELB throttling,
// a 5xx answer, a timeout, a dropped connection. Every check Task retries
// it with backoff.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return "transient: " + e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// InvalidAnalysisError says the analysis cannot start: a template the step
// names does not exist, an argument has no value, a metric is malformed or
// uses a provider okra does not support. Retrying cannot help; the
// rollout rolls back with Reason as the cause.
type InvalidAnalysisError struct {
	Cell   string
	Reason string
	Err    error
}

func (e *InvalidAnalysisError) Error() string {
	return fmt.Sprintf("analysis of Cell %q cannot run: %s", e.Cell, e.Reason)
}
func (e *InvalidAnalysisError) Unwrap() error { return e.Err }

// UnexpectedError is a failure okra did not classify (malformed input
// from the state machine, an unreadable status item). It is not retried.
type UnexpectedError struct{ Err error }

func (e *UnexpectedError) Error() string { return e.Err.Error() }
func (e *UnexpectedError) Unwrap() error { return e.Err }

// Boundary turns err into the typed error a check handler returns: this
// package's types (and *StateTooLargeError) travel as they are, transient
// AWS failures become *TransientError, anything else *UnexpectedError.
// nil stays nil.
func Boundary(err error) error {
	if err == nil {
		return nil
	}
	var (
		transient *TransientError
		invalid   *InvalidAnalysisError
		tooLarge  *StateTooLargeError
		unexpect  *UnexpectedError
	)
	switch {
	case errors.As(err, &invalid):
		return invalid
	case errors.As(err, &tooLarge):
		return tooLarge
	case errors.As(err, &transient):
		return transient
	case errors.As(err, &unexpect):
		return unexpect
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
