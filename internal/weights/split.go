package weights

import (
	"fmt"
	"slices"
)

// Limit names a limit on a forward action that okra enforces.
type Limit string

// Limits reported by LimitError.
const (
	// LimitTargetGroups: 1..MaxTargetGroupsPerAction target groups.
	LimitTargetGroups Limit = "target groups per forward action"
	// LimitWeight: each weight 0..MaxWeight.
	LimitWeight Limit = "target group weight"
	// LimitPercent: a version's share 0..100.
	LimitPercent Limit = "canary percent"
)

// LimitError says a value is outside the range a limit allows. Callers
// (the listener adapter) refuse the action before calling AWS.
type LimitError struct {
	Limit Limit
	// ARN names the target group for LimitWeight; empty otherwise.
	ARN      string
	Value    int64
	Min, Max int64
}

func (e *LimitError) Error() string {
	if e.ARN != "" {
		return fmt.Sprintf("%s of %s is %d, allowed %d to %d", e.Limit, e.ARN, e.Value, e.Min, e.Max)
	}
	return fmt.Sprintf("%s is %d, allowed %d to %d", e.Limit, e.Value, e.Min, e.Max)
}

// DuplicateTargetGroupError says a target group appears twice in one
// action (or on both sides of a split).
type DuplicateTargetGroupError struct {
	ARN string
}

func (e *DuplicateTargetGroupError) Error() string {
	return fmt.Sprintf("target group %s appears more than once in the forward action", e.ARN)
}

// EmptyARNError says a target group of the action has no ARN.
type EmptyARNError struct {
	// Index is the position in the action (for Split: in stable, then
	// canary, order).
	Index int
}

func (e *EmptyARNError) Error() string {
	return fmt.Sprintf("target group %d of the forward action has an empty ARN", e.Index)
}

// NoTrafficError says every weight of the action is 0: it would forward
// nowhere, which ELBv2 refuses.
type NoTrafficError struct {
	TargetGroups int
}

func (e *NoTrafficError) Error() string {
	return fmt.Sprintf("all %d target groups of the forward action have weight 0; at least one must carry traffic", e.TargetGroups)
}

// NoTargetGroupsError says Split was asked to give a share of traffic to a
// side (stable or canary) that has no target groups.
type NoTargetGroupsError struct {
	Side    string
	Percent int32
}

func (e *NoTargetGroupsError) Error() string {
	return fmt.Sprintf("the %s side would get %d%% of the traffic but has no target groups", e.Side, e.Percent)
}

// Split builds the forward action that gives the canary target groups
// canaryPercent of the Cell's traffic and the stable target groups the rest.
//
// Weights are percentages: when both sides are present they sum to exactly
// 100. This keeps the console readable (a weight is the share in percent)
// and stays far below MaxWeight (one group at 100% carries 100). Each
// side's share is split evenly across its target groups in integers; the
// remainder goes, one point each, to the side's first groups in ARN order,
// so the weights of one side differ by at most 1 and the result depends
// only on the sets of ARNs, not their order.
//
// canaryPercent 0 keeps the canary groups in the action at weight 0, and
// 100 keeps the stable groups at weight 0 (the rollback window). The action
// lists the stable groups, then the canary groups, each sorted by ARN.
// Stickiness is copied as it is. The result always passes Validate.
func Split(stable, canary []string, canaryPercent int32, stickiness *Stickiness) (Forward, error) {
	if canaryPercent < 0 || canaryPercent > 100 {
		return Forward{}, &LimitError{Limit: LimitPercent, Value: int64(canaryPercent), Min: 0, Max: 100}
	}
	if n := len(stable) + len(canary); n < 1 || n > MaxTargetGroupsPerAction {
		return Forward{}, &LimitError{Limit: LimitTargetGroups, Value: int64(n), Min: 1, Max: MaxTargetGroupsPerAction}
	}
	seen := make(map[string]bool, len(stable)+len(canary))
	for i, arn := range slices.Concat(stable, canary) {
		if arn == "" {
			return Forward{}, &EmptyARNError{Index: i}
		}
		if seen[arn] {
			return Forward{}, &DuplicateTargetGroupError{ARN: arn}
		}
		seen[arn] = true
	}
	if canaryPercent > 0 && len(canary) == 0 {
		return Forward{}, &NoTargetGroupsError{Side: "canary", Percent: canaryPercent}
	}
	if canaryPercent < 100 && len(stable) == 0 {
		return Forward{}, &NoTargetGroupsError{Side: "stable", Percent: 100 - canaryPercent}
	}

	f := Forward{TargetGroups: make([]TargetGroupWeight, 0, len(stable)+len(canary))}
	f.TargetGroups = appendEven(f.TargetGroups, stable, 100-canaryPercent)
	f.TargetGroups = appendEven(f.TargetGroups, canary, canaryPercent)
	if stickiness != nil {
		s := *stickiness
		f.Stickiness = &s
	}
	if err := Validate(f); err != nil {
		return Forward{}, fmt.Errorf("splitting %d%% to the canary, %w", canaryPercent, err)
	}
	return f, nil
}

// appendEven appends arns, sorted, sharing total evenly; the first
// total%len(arns) of them get one more.
func appendEven(dst []TargetGroupWeight, arns []string, total int32) []TargetGroupWeight {
	if len(arns) == 0 {
		return dst
	}
	sorted := slices.Clone(arns)
	slices.Sort(sorted)
	n := int32(len(sorted))
	each, extra := total/n, total%n
	for i, arn := range sorted {
		w := each
		if int32(i) < extra {
			w++
		}
		dst = append(dst, TargetGroupWeight{ARN: arn, Weight: w})
	}
	return dst
}

// Validate checks the limits of one ELBv2 forward action: 1 to
// MaxTargetGroupsPerAction target groups, each with a non-empty ARN that
// appears once and a weight 0 to MaxWeight, and at least one weight above
// 0. It returns the first problem, in that order, as a typed error
// (*LimitError, *EmptyARNError, *DuplicateTargetGroupError,
// *NoTrafficError).
func Validate(f Forward) error {
	if n := len(f.TargetGroups); n < 1 || n > MaxTargetGroupsPerAction {
		return &LimitError{Limit: LimitTargetGroups, Value: int64(n), Min: 1, Max: MaxTargetGroupsPerAction}
	}
	seen := make(map[string]bool, len(f.TargetGroups))
	var total int64
	for i, tg := range f.TargetGroups {
		if tg.ARN == "" {
			return &EmptyARNError{Index: i}
		}
		if seen[tg.ARN] {
			return &DuplicateTargetGroupError{ARN: tg.ARN}
		}
		seen[tg.ARN] = true
		if tg.Weight < 0 || tg.Weight > MaxWeight {
			return &LimitError{Limit: LimitWeight, ARN: tg.ARN, Value: int64(tg.Weight), Min: 0, Max: MaxWeight}
		}
		total += int64(tg.Weight)
	}
	if total == 0 {
		return &NoTrafficError{TargetGroups: len(f.TargetGroups)}
	}
	return nil
}

// Share returns the percentage (0..100) of the action's traffic that the
// target groups arns receive together, rounded to the nearest integer but
// never to 0 when they receive some traffic and never to 100 when others
// do, so 0 and 100 are exact. ARNs not in the action count as weight 0; an
// action without weight gives everyone 0.
func Share(f Forward, arns []string) int {
	var total, part int64
	for _, tg := range f.TargetGroups {
		if tg.Weight > 0 {
			total += int64(tg.Weight)
		}
	}
	if total == 0 {
		return 0
	}
	counted := make(map[string]bool, len(arns))
	for _, arn := range arns {
		if counted[arn] {
			continue
		}
		counted[arn] = true
		if w, ok := f.Weight(arn); ok && w > 0 {
			part += int64(w)
		}
	}
	pct := int((part*200 + total) / (2 * total)) // round half up
	switch {
	case pct == 0 && part > 0:
		return 1
	case pct == 100 && part < total:
		return 99
	}
	return pct
}
