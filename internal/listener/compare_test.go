package listener_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/weights"
)

func TestCompare(t *testing.T) {
	tg := func(arn string, w int32) weights.TargetGroupWeight {
		return weights.TargetGroupWeight{ARN: arn, Weight: w}
	}
	sticky := &weights.Stickiness{Enabled: true, DurationSeconds: 300}
	set := weights.Forward{TargetGroups: []weights.TargetGroupWeight{tg("a", 50), tg("b", 50)}}
	tests := []struct {
		name       string
		expected   weights.Forward
		actual     weights.Forward
		wantDiffs  []listener.WeightDiff
		stickiness bool
	}{
		{name: "same, in another order", expected: set, actual: weights.Forward{TargetGroups: []weights.TargetGroupWeight{tg("b", 50), tg("a", 50)}, Stickiness: &weights.Stickiness{}}},
		{name: "a weight", expected: set, actual: weights.Forward{TargetGroups: []weights.TargetGroupWeight{tg("a", 80), tg("b", 20)}},
			wantDiffs: []listener.WeightDiff{{TargetGroup: "a", Expected: 50, Actual: 80}, {TargetGroup: "b", Expected: 50, Actual: 20}}},
		{name: "a group removed", expected: set, actual: weights.Forward{TargetGroups: []weights.TargetGroupWeight{tg("a", 50)}},
			wantDiffs: []listener.WeightDiff{{TargetGroup: "b", Expected: 50, Missing: true}}},
		{name: "an extra group", expected: set, actual: weights.Forward{TargetGroups: []weights.TargetGroupWeight{tg("a", 50), tg("b", 50), tg("x", 0)}},
			wantDiffs: []listener.WeightDiff{{TargetGroup: "x", Unexpected: true}}},
		{name: "stickiness turned on where okra set none", expected: set, actual: weights.Forward{TargetGroups: set.TargetGroups, Stickiness: sticky}, stickiness: true},
		{name: "stickiness duration changed", expected: weights.Forward{TargetGroups: set.TargetGroups, Stickiness: sticky},
			actual: weights.Forward{TargetGroups: set.TargetGroups, Stickiness: &weights.Stickiness{Enabled: true, DurationSeconds: 60}}, stickiness: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := listener.Compare("rule priority 10 of listener L", tt.expected, tt.actual)
			if len(tt.wantDiffs) == 0 && !tt.stickiness {
				if d != nil {
					t.Fatalf("Compare = %v, want no drift", d)
				}
				return
			}
			if d == nil {
				t.Fatal("Compare found no drift")
			}
			if !reflect.DeepEqual(d.Diffs, tt.wantDiffs) || d.StickinessDrift != tt.stickiness {
				t.Errorf("Compare = diffs %+v stickiness %t, want %+v %t", d.Diffs, d.StickinessDrift, tt.wantDiffs, tt.stickiness)
			}
			if !strings.Contains(d.Error(), "rule priority 10 of listener L") {
				t.Errorf("Error() = %q does not say where", d.Error())
			}
		})
	}
}
