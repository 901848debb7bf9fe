package store

import "fmt"

// NotFoundError says an item does not exist.
type NotFoundError struct {
	// Kind is KindCell, KindTemplate or KindCluster.
	Kind string
	Name string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s %q not found", kindText(e.Kind), e.Name)
}

// StaleRevisionError says a write was based on a revision that is no longer
// current: someone else wrote in between. Read again and retry.
type StaleRevisionError struct {
	// Kind is KindCell, KindTemplate, or "STATUS" for a Cell status.
	Kind     string
	Name     string
	Expected int64
	// Current is the stored revision, 0 when the item does not exist.
	Current int64
}

func (e *StaleRevisionError) Error() string {
	what := kindText(e.Kind)
	if e.Kind == SKStatus {
		what = "status of Cell"
	}
	switch {
	case e.Expected == 0:
		return fmt.Sprintf("%s %q already exists at revision %d (expected it not to exist)", what, e.Name, e.Current)
	case e.Current == 0:
		return fmt.Sprintf("%s %q does not exist (expected revision %d)", what, e.Name, e.Expected)
	}
	return fmt.Sprintf("%s %q is at revision %d, not %d: it changed since it was read", what, e.Name, e.Current, e.Expected)
}

// LeaseHeldError says another rollout execution, still running, holds the
// Cell's lease.
type LeaseHeldError struct {
	Cell   string
	Holder string
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("Cell %q is leased by execution %s, which is still running", e.Cell, e.Holder)
}

// NotHolderError says an execution tried to change the Cell's status or
// release its lease without holding it.
type NotHolderError struct {
	Cell      string
	Execution string
	// Holder is the execution holding the lease, empty when none does.
	Holder string
}

func (e *NotHolderError) Error() string {
	if e.Holder == "" {
		return fmt.Sprintf("execution %s does not hold the lease of Cell %q: no execution does", e.Execution, e.Cell)
	}
	if e.Execution == "" {
		return fmt.Sprintf("the lease of Cell %q is held by execution %s", e.Cell, e.Holder)
	}
	return fmt.Sprintf("execution %s does not hold the lease of Cell %q: %s does", e.Execution, e.Cell, e.Holder)
}
