// Package weights owns the arithmetic of weighted forwarding: turning "the
// new version gets P% of the Cell" into per-target-group integer weights
// for one forward action, and checking the limits AWS puts on such an
// action. It is pure: no AWS calls, no clock.
package weights

// Limits of one ELBv2 forward action that okra enforces itself (the local
// emulator does not).
const (
	// MaxWeight is the largest weight a target group may carry.
	MaxWeight = 999
	// MaxTargetGroupsPerAction is how many target groups one forward
	// action may hold.
	MaxTargetGroupsPerAction = 5
)

// TargetGroupWeight is one target group of a forward action and its weight.
type TargetGroupWeight struct {
	ARN    string `json:"arn" dynamodbav:"arn"`
	Weight int32  `json:"weight" dynamodbav:"weight"`
}

// Stickiness is the forward action's target-group stickiness.
type Stickiness struct {
	Enabled         bool  `json:"enabled" dynamodbav:"enabled"`
	DurationSeconds int32 `json:"durationSeconds,omitempty" dynamodbav:"durationSeconds,omitempty"`
}

// Forward is a weighted forward action: the target groups in the order the
// listener lists them, and the stickiness setting to keep.
type Forward struct {
	TargetGroups []TargetGroupWeight `json:"targetGroups" dynamodbav:"targetGroups"`
	Stickiness   *Stickiness         `json:"stickiness,omitempty" dynamodbav:"stickiness,omitempty"`
}

// Empty reports whether the action forwards nowhere (no forward config yet).
func (f Forward) Empty() bool { return len(f.TargetGroups) == 0 }

// Weight returns the weight of arn, and whether arn is in the action.
func (f Forward) Weight(arn string) (int32, bool) {
	for _, tg := range f.TargetGroups {
		if tg.ARN == arn {
			return tg.Weight, true
		}
	}
	return 0, false
}

// Total returns the sum of all weights.
func (f Forward) Total() int32 {
	var sum int32
	for _, tg := range f.TargetGroups {
		sum += tg.Weight
	}
	return sum
}
