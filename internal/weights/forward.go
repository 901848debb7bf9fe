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

// ARNs returns the target groups of the action in its order.
func (f Forward) ARNs() []string {
	out := make([]string, 0, len(f.TargetGroups))
	for _, tg := range f.TargetGroups {
		out = append(out, tg.ARN)
	}
	return out
}

// Routed returns the target groups that carry weight (weight > 0), in the
// action's order.
func (f Forward) Routed() []string {
	var out []string
	for _, tg := range f.TargetGroups {
		if tg.Weight > 0 {
			out = append(out, tg.ARN)
		}
	}
	return out
}

// Clone returns a deep copy, so a caller can change it without changing f.
func (f Forward) Clone() Forward {
	out := Forward{}
	if f.TargetGroups != nil {
		out.TargetGroups = append([]TargetGroupWeight(nil), f.TargetGroups...)
	}
	if f.Stickiness != nil {
		s := *f.Stickiness
		out.Stickiness = &s
	}
	return out
}

// Equal reports whether a and b forward to the same target groups with the
// same weights and the same stickiness. The order of the target groups does
// not matter (ELBv2 does not keep it either). An action that lists a target
// group twice is invalid and equal to nothing.
func Equal(a, b Forward) bool {
	if len(a.TargetGroups) != len(b.TargetGroups) {
		return false
	}
	weightOf := make(map[string]int32, len(a.TargetGroups))
	for _, tg := range a.TargetGroups {
		weightOf[tg.ARN] = tg.Weight
	}
	if len(weightOf) != len(a.TargetGroups) {
		return false
	}
	for _, tg := range b.TargetGroups {
		w, ok := weightOf[tg.ARN]
		if !ok || w != tg.Weight {
			return false
		}
		delete(weightOf, tg.ARN)
	}
	return sameStickiness(a.Stickiness, b.Stickiness)
}

// sameStickiness treats a missing setting and a disabled one as the same,
// as ELBv2 does.
func sameStickiness(a, b *Stickiness) bool {
	enabled := func(s *Stickiness) bool { return s != nil && s.Enabled }
	if enabled(a) != enabled(b) {
		return false
	}
	return !enabled(a) || a.DurationSeconds == b.DurationSeconds
}
