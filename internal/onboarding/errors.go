package onboarding

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/okrahq/okra/internal/argocd"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/events"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/targetgroups"
	"github.com/okrahq/okra/internal/weights"
)

// TransientError says an invocation failed for a reason that may pass: AWS
// throttling or an outage, the Kubernetes API unreachable, a write that
// lost a race. Returning it fails the invocation, so EventBridge (through
// Lambda's asynchronous retries) delivers the event again, and a DynamoDB
// stream record is reported as a batch item failure. The handlers are
// idempotent, so a retry redoes only what is missing.
type TransientError struct {
	// Op says what the handler was doing, e.g. "onboarding cluster web-1-v2".
	Op string
	// Err holds every failure of the invocation (errors.Join).
	Err error
}

func (e *TransientError) Error() string { return e.Op + ": " + e.Err.Error() }

func (e *TransientError) Unwrap() error { return e.Err }

// ClusterNotActiveError says a created cluster did not become ACTIVE: it
// turned FAILED or DELETING, or was still creating when the wait ran out.
//
// The invocation fails with it on purpose. Lambda retries a failed
// asynchronous invocation (twice, minutes apart), each retry waits again,
// and what still fails lands in the function's dead-letter destination,
// where an operator sees which cluster never came up. Whatever happens to
// the event, the scheduled reconcile onboards the cluster once it is
// ACTIVE, so nothing depends on the retries.
type ClusterNotActiveError struct {
	Cluster string
	// Status is the last status EKS reported.
	Status string
	// Waited is how long the handler polled.
	Waited time.Duration
	// TimedOut: the cluster was still not ACTIVE when the wait ran out
	// (rather than FAILED or DELETING).
	TimedOut bool
}

func (e *ClusterNotActiveError) Error() string {
	if e.TimedOut {
		return fmt.Sprintf("EKS cluster %q is still %s after waiting %s for ACTIVE; the scheduled reconcile onboards it once it is ACTIVE",
			e.Cluster, e.Status, e.Waited.Round(time.Second))
	}
	return fmt.Sprintf("EKS cluster %q is %s, not ACTIVE: okra does not onboard it", e.Cluster, e.Status)
}

// permanent reports whether retrying cannot help: the input (a Cell spec,
// a cluster's tags, the listener's configuration, an event) is what is
// wrong. Such errors are logged and reported on the Cell, and the rest of
// the work goes on; every other error is transient.
func permanent(err error) bool {
	var (
		validation *cell.ValidationError
		template   *targetgroups.TemplateError
		tagLimit   *targetgroups.TagLimitError
		name       *targetgroups.NameError
		version    *targetgroups.MissingVersionTagError
		conflict   *targetgroups.ConflictError
		limit      *listener.LimitError
		foreign    *listener.ForeignRuleError
		notForward *listener.NotForwardError
		wLimit     *weights.LimitError
		malformed  *events.MalformedError
	)
	switch {
	case errors.As(err, &validation), errors.As(err, &template), errors.As(err, &tagLimit),
		errors.As(err, &name), errors.As(err, &version), errors.As(err, &conflict),
		errors.As(err, &limit), errors.As(err, &foreign), errors.As(err, &notForward),
		errors.As(err, &wLimit), errors.As(err, &malformed):
		return true
	case errors.Is(err, argocd.ErrNotManaged):
		return true
	}
	return false
}

// failures collects what went wrong in one invocation: permanent problems
// are reported and skipped, transient ones fail the invocation at the end.
type failures struct {
	transient []error
	problems  []string
}

// add files err under what ("Cell web, cluster web-1-v2") and reports
// whether it was permanent.
func (f *failures) add(what string, err error) bool {
	if permanent(err) {
		f.problems = append(f.problems, what+": "+err.Error())
		return true
	}
	f.transient = append(f.transient, fmt.Errorf("%s: %w", what, err))
	return false
}

// err returns a *TransientError holding every transient failure, or nil.
func (f *failures) err(op string) error {
	if len(f.transient) == 0 {
		return nil
	}
	return &TransientError{Op: op, Err: errors.Join(f.transient...)}
}

// transient wraps err for the Lambda boundary unless it is already typed.
func transient(op string, err error) error {
	if err == nil {
		return nil
	}
	var te *TransientError
	var ne *ClusterNotActiveError
	if errors.As(err, &te) || errors.As(err, &ne) {
		return err
	}
	return &TransientError{Op: op, Err: err}
}

// Clock is the time source; tests replace it to run the ACTIVE wait
// without waiting.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or returns ctx's error when ctx ends first.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits d or until ctx is done.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
