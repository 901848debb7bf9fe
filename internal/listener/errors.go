package listener

import (
	"fmt"
	"strings"

	"github.com/okrahq/okra/internal/weights"
)

// Limit names a limit of a forward action or listener rule that okra
// enforces before calling AWS.
type Limit string

// The limits.
const (
	// LimitTargetGroups: 1..MaxTargetGroupsPerAction target groups.
	LimitTargetGroups Limit = "target groups per forward action"
	// LimitWeight: each weight within 0..MaxWeight.
	LimitWeight Limit = "target group weight"
	// LimitDuplicate: a target group appears at most once.
	LimitDuplicate Limit = "duplicate target group"
	// LimitTotalWeight: the weights must not all be zero.
	LimitTotalWeight Limit = "total weight"
	// LimitTargetGroupARN: every target group has an ARN.
	LimitTargetGroupARN Limit = "target group ARN"
	// LimitRulePriority: rule priorities are 1..MaxRulePriority.
	LimitRulePriority Limit = "rule priority"
)

// LimitError says a forward action or rule breaks a limit; nothing was
// sent to AWS.
type LimitError struct {
	Limit Limit
	// TargetGroup is the offending target group, when one is.
	TargetGroup string
	// Value is the offending value: the count, weight, total or priority.
	Value int64
	// Min and Max bound the allowed values, when the limit is a range.
	Min, Max int64
	// Err is the weights package's error for the same problem, if any.
	Err error
}

// Unwrap returns the weights package's error, so errors.As matches it too.
func (e *LimitError) Unwrap() error { return e.Err }

func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitTargetGroups:
		return fmt.Sprintf("forward action has %d target groups; the limit is %d..%d", e.Value, e.Min, e.Max)
	case LimitWeight:
		return fmt.Sprintf("target group %s has weight %d; weights must be %d..%d", e.TargetGroup, e.Value, e.Min, e.Max)
	case LimitDuplicate:
		return fmt.Sprintf("target group %s appears more than once in the forward action", e.TargetGroup)
	case LimitTotalWeight:
		return fmt.Sprintf("forward action's total weight is %d; at least one target group must have a weight above 0", e.Value)
	case LimitTargetGroupARN:
		return fmt.Sprintf("target group %d of the forward action has an empty ARN", e.Value+1)
	case LimitRulePriority:
		return fmt.Sprintf("rule priority %d; priorities must be %d..%d", e.Value, e.Min, e.Max)
	}
	return fmt.Sprintf("limit %q broken by value %d", e.Limit, e.Value)
}

// DriftError says the forward action read back differs from what okra
// expects: another client changed it, or a write did not take.
type DriftError struct {
	// Location names the listener default action or rule.
	Location string
	Expected weights.Forward
	Actual   weights.Forward
	// Diffs lists every target group whose weight or presence differs.
	Diffs []WeightDiff
	// StickinessDrift: the expected stickiness is not what is set.
	StickinessDrift bool
}

// WeightDiff is one target group whose weight differs.
type WeightDiff struct {
	TargetGroup string
	Expected    int32
	Actual      int32
	// Missing: expected but absent from the action.
	Missing bool
	// Unexpected: in the action but not expected.
	Unexpected bool
}

func (d WeightDiff) String() string {
	switch {
	case d.Missing:
		return fmt.Sprintf("%s: expected weight %d, absent", d.TargetGroup, d.Expected)
	case d.Unexpected:
		return fmt.Sprintf("%s: not expected, has weight %d", d.TargetGroup, d.Actual)
	}
	return fmt.Sprintf("%s: expected weight %d, actual %d", d.TargetGroup, d.Expected, d.Actual)
}

func (e *DriftError) Error() string {
	parts := make([]string, 0, len(e.Diffs)+1)
	for _, d := range e.Diffs {
		parts = append(parts, d.String())
	}
	if e.StickinessDrift {
		parts = append(parts, fmt.Sprintf("stickiness: expected %s, actual %s", stickinessText(e.Expected.Stickiness), stickinessText(e.Actual.Stickiness)))
	}
	return fmt.Sprintf("weights drifted on %s: %s", e.Location, strings.Join(parts, "; "))
}

func stickinessText(s *weights.Stickiness) string {
	if s == nil || !s.Enabled {
		return "disabled"
	}
	return fmt.Sprintf("enabled for %ds", s.DurationSeconds)
}

// NotForwardError says the action where the Cell's traffic should be
// weighted is not a forward action (for example a fixed response); okra
// does not replace it.
type NotForwardError struct {
	Location   string
	ActionType string
}

func (e *NotForwardError) Error() string {
	if e.ActionType == "" {
		return fmt.Sprintf("%s has no forward action", e.Location)
	}
	return fmt.Sprintf("%s is a %s action, not forward: okra only weights forward actions", e.Location, e.ActionType)
}

// RuleNotFoundError says the Cell's rule does not exist; EnsureRule
// creates it.
type RuleNotFoundError struct {
	ListenerARN string
	Priority    int32
}

func (e *RuleNotFoundError) Error() string {
	return fmt.Sprintf("listener %s has no rule with priority %d", e.ListenerARN, e.Priority)
}

// ForeignRuleError says a rule okra did not create for this Cell holds the
// Cell's priority; okra leaves it alone.
type ForeignRuleError struct {
	ListenerARN string
	Priority    int32
	RuleARN     string
	// Owner is the rule's okra:cell tag, empty when okra did not create it.
	Owner string
}

func (e *ForeignRuleError) Error() string {
	if e.Owner == "" {
		return fmt.Sprintf("priority %d of listener %s is taken by rule %s, which okra did not create (no okra:cell tag): choose another priority or remove that rule", e.Priority, e.ListenerARN, e.RuleARN)
	}
	return fmt.Sprintf("priority %d of listener %s is taken by rule %s of Cell %q: choose another priority", e.Priority, e.ListenerARN, e.RuleARN, e.Owner)
}
