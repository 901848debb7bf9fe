package listener

import (
	"errors"

	"github.com/okrahq/okra/internal/weights"
)

// Rule priority bounds of an ALB listener.
const (
	MinRulePriority = 1
	MaxRulePriority = 50000
)

// CheckLimits returns a *LimitError when fwd cannot be written to a
// forward action: 1..5 target groups, each with an ARN and at most once,
// weights 0..999, and a total weight above 0. The rules are
// weights.Validate's; the *LimitError wraps its typed error, so callers
// can match either.
func CheckLimits(fwd weights.Forward) error {
	err := weights.Validate(fwd)
	if err == nil {
		return nil
	}
	var (
		limit *weights.LimitError
		dup   *weights.DuplicateTargetGroupError
		empty *weights.EmptyARNError
		none  *weights.NoTrafficError
	)
	switch {
	case errors.As(err, &limit) && limit.Limit == weights.LimitTargetGroups:
		return &LimitError{Limit: LimitTargetGroups, Value: limit.Value, Min: limit.Min, Max: limit.Max, Err: err}
	case errors.As(err, &limit) && limit.Limit == weights.LimitWeight:
		return &LimitError{Limit: LimitWeight, TargetGroup: limit.ARN, Value: limit.Value, Min: limit.Min, Max: limit.Max, Err: err}
	case errors.As(err, &dup):
		return &LimitError{Limit: LimitDuplicate, TargetGroup: dup.ARN, Err: err}
	case errors.As(err, &empty):
		return &LimitError{Limit: LimitTargetGroupARN, Value: int64(empty.Index), Err: err}
	case errors.As(err, &none):
		return &LimitError{Limit: LimitTotalWeight, Value: 0, Err: err}
	}
	return err
}

func checkPriority(p int32) error {
	if p < MinRulePriority || p > MaxRulePriority {
		return &LimitError{Limit: LimitRulePriority, Value: int64(p), Min: MinRulePriority, Max: MaxRulePriority}
	}
	return nil
}
