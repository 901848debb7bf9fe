package weights

import (
	"errors"
	"reflect"
	"testing"
)

func TestReroute(t *testing.T) {
	ok := Health{Found: true, Healthy: 2}
	empty := Health{Found: true, Healthy: 0}
	sticky := &Stickiness{Enabled: true, DurationSeconds: 60}
	bySide := func(arn string) string {
		if arn[0] == 'c' {
			return "canary"
		}
		return "stable"
	}
	tests := []struct {
		name       string
		intended   Forward
		health     map[string]Health
		side       func(string) string
		want       Forward
		wantMoved  []Rerouted
		wantInto   []string
		wantErrors bool
	}{
		{
			name:     "every weighted group healthy: the intent as it is",
			intended: Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 50), tgw("s2", 50)}, Stickiness: sticky},
			health:   map[string]Health{"s1": ok, "s2": ok},
			want:     Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 50), tgw("s2", 50)}, Stickiness: sticky},
		},
		{
			name:      "an unhealthy stable group: its share goes to the healthy one, it stays at 0",
			intended:  Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 50), tgw("s2", 50)}, Stickiness: sticky},
			health:    map[string]Health{"s1": ok, "s2": empty},
			want:      Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 100), tgw("s2", 0)}, Stickiness: sticky},
			wantMoved: []Rerouted{{ARN: "s2", Weight: 50}},
			wantInto:  []string{"s1"},
		},
		{
			name:      "a missing group leaves the action",
			intended:  Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 1), tgw("s2", 1), tgw("s3", 1)}},
			health:    map[string]Health{"s1": ok, "s3": ok},
			want:      Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 2), tgw("s3", 1)}},
			wantMoved: []Rerouted{{ARN: "s2", Weight: 1, Missing: true}},
			wantInto:  []string{"s1", "s3"},
		},
		{
			name:      "a missing group at weight 0 leaves too; nothing to move",
			intended:  Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 100), tgw("old", 0)}},
			health:    map[string]Health{"s1": ok},
			want:      Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 100)}},
			wantMoved: []Rerouted{{ARN: "old", Missing: true}},
		},
		{
			name:       "a healthy group at weight 0 is never given weight",
			intended:   Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 100), tgw("s2", 0), tgw("s3", 0)}},
			health:     map[string]Health{"s1": empty, "s2": ok, "s3": ok},
			wantErrors: true,
		},
		{
			name:       "no healthy stable group: nowhere to route",
			intended:   Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 50), tgw("s2", 50)}},
			health:     map[string]Health{"s1": empty},
			wantErrors: true,
		},
		{
			name:      "sides keep their totals: the stable share stays on stable",
			intended:  Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 40), tgw("s2", 40), tgw("c1", 10), tgw("c2", 10)}},
			health:    map[string]Health{"s1": ok, "s2": empty, "c1": ok, "c2": ok},
			side:      bySide,
			want:      Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 80), tgw("s2", 0), tgw("c1", 10), tgw("c2", 10)}},
			wantMoved: []Rerouted{{ARN: "s2", Weight: 40}},
			wantInto:  []string{"s1"},
		},
		{
			name:       "one side with nowhere to go fails the whole routing",
			intended:   Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 50), tgw("c1", 50)}},
			health:     map[string]Health{"s1": ok},
			side:       bySide,
			wantErrors: true,
		},
		{
			name:      "a spread above the weight limit is capped (equal weights route the same)",
			intended:  Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 999), tgw("s2", 999)}},
			health:    map[string]Health{"s1": ok, "s2": {Found: true, Healthy: 1}},
			want:      Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 999), tgw("s2", 0)}},
			wantMoved: []Rerouted{{ARN: "s2", Weight: 999, Healthy: 1}},
			wantInto:  []string{"s1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Reroute(tt.intended, tt.health, 2, tt.side)
			if tt.wantErrors {
				var nr *NoRoutableGroupError
				if !errors.As(err, &nr) {
					t.Fatalf("Reroute = %+v, %v; want a *NoRoutableGroupError", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Reroute: %v", err)
			}
			if !reflect.DeepEqual(got.Forward, tt.want) {
				t.Errorf("Forward = %+v, want %+v", got.Forward, tt.want)
			}
			if !reflect.DeepEqual(got.Moved, tt.wantMoved) {
				t.Errorf("Moved = %+v, want %+v", got.Moved, tt.wantMoved)
			}
			if !reflect.DeepEqual(got.Into, tt.wantInto) {
				t.Errorf("Into = %v, want %v", got.Into, tt.wantInto)
			}
			if got.Substituted() != (len(tt.wantMoved) > 0) || (got.Substituted() && got.Reason() == "") {
				t.Errorf("Substituted = %t, Reason %q", got.Substituted(), got.Reason())
			}
			if err := Validate(got.Forward); err != nil {
				t.Errorf("the routing is not a valid action: %v", err)
			}
			for _, tg := range got.Forward.TargetGroups {
				if h := tt.health[tg.ARN]; tg.Weight > 0 && (!h.Found || h.Healthy < 2) {
					t.Errorf("%s gets weight %d with health %+v", tg.ARN, tg.Weight, h)
				}
			}
		})
	}
}
