package weights

import (
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"testing"
)

func tgw(arn string, w int32) TargetGroupWeight { return TargetGroupWeight{ARN: arn, Weight: w} }

func TestSplit(t *testing.T) {
	sticky := &Stickiness{Enabled: true, DurationSeconds: 3600}
	tests := []struct {
		name       string
		stable     []string
		canary     []string
		percent    int32
		stickiness *Stickiness
		want       Forward
	}{
		{
			name:    "first deployment: one canary group gets everything",
			canary:  []string{"c1"},
			percent: 100,
			want:    Forward{TargetGroups: []TargetGroupWeight{tgw("c1", 100)}},
		},
		{
			name:    "steady state two stable groups",
			stable:  []string{"s2", "s1"},
			percent: 0,
			want:    Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 50), tgw("s2", 50)}},
		},
		{
			name:    "zero keeps canary groups at weight 0",
			stable:  []string{"s1"},
			canary:  []string{"c1", "c2"},
			percent: 0,
			want:    Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 100), tgw("c1", 0), tgw("c2", 0)}},
		},
		{
			name:    "hundred keeps stable groups at weight 0",
			stable:  []string{"s1", "s2"},
			canary:  []string{"c1"},
			percent: 100,
			want:    Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 0), tgw("s2", 0), tgw("c1", 100)}},
		},
		{
			name:    "odd shares: remainder to first ARNs of each side",
			stable:  []string{"s2", "s1"},
			canary:  []string{"c2", "c1"},
			percent: 25,
			want:    Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 38), tgw("s2", 37), tgw("c1", 13), tgw("c2", 12)}},
		},
		{
			name:    "three groups share 100",
			stable:  []string{"s3", "s1", "s2"},
			percent: 0,
			want:    Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 34), tgw("s2", 33), tgw("s3", 33)}},
		},
		{
			name:    "five groups, the action limit",
			stable:  []string{"s1", "s2", "s3"},
			canary:  []string{"c1", "c2"},
			percent: 1,
			want:    Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 33), tgw("s2", 33), tgw("s3", 33), tgw("c1", 1), tgw("c2", 0)}},
		},
		{
			name:       "stickiness copied",
			stable:     []string{"s1"},
			canary:     []string{"c1"},
			percent:    20,
			stickiness: sticky,
			want:       Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 80), tgw("c1", 20)}, Stickiness: &Stickiness{Enabled: true, DurationSeconds: 3600}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Split(tt.stable, tt.canary, tt.percent, tt.stickiness)
			if err != nil {
				t.Fatalf("Split: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Split(%q, %q, %d) =\n %+v\nwant\n %+v", tt.stable, tt.canary, tt.percent, got, tt.want)
			}
			if tt.stickiness != nil && got.Stickiness == tt.stickiness {
				t.Errorf("Split shares the caller's *Stickiness; want a copy")
			}
		})
	}
}

func TestSplitRefuses(t *testing.T) {
	tests := []struct {
		name    string
		stable  []string
		canary  []string
		percent int32
		check   func(t *testing.T, err error)
	}{
		{
			name: "percent above 100", stable: []string{"s1"}, canary: []string{"c1"}, percent: 101,
			check: wantLimit(LimitPercent, 101),
		},
		{
			name: "negative percent", stable: []string{"s1"}, canary: []string{"c1"}, percent: -1,
			check: wantLimit(LimitPercent, -1),
		},
		{
			name: "six groups", stable: []string{"s1", "s2", "s3"}, canary: []string{"c1", "c2", "c3"}, percent: 50,
			check: wantLimit(LimitTargetGroups, 6),
		},
		{
			name: "no groups", percent: 0,
			check: wantLimit(LimitTargetGroups, 0),
		},
		{
			name: "same group on both sides", stable: []string{"a"}, canary: []string{"a"}, percent: 50,
			check: wantDuplicate("a"),
		},
		{
			name: "same group twice on one side", stable: []string{"s1", "s1"}, percent: 0,
			check: wantDuplicate("s1"),
		},
		{
			name: "empty ARN", stable: []string{"s1"}, canary: []string{""}, percent: 50,
			check: func(t *testing.T, err error) {
				var e *EmptyARNError
				if !errors.As(err, &e) || e.Index != 1 {
					t.Fatalf("error = %v, want *EmptyARNError at index 1", err)
				}
			},
		},
		{
			name: "canary share without canary groups", stable: []string{"s1"}, percent: 10,
			check: wantNoGroups("canary", 10),
		},
		{
			name: "stable share without stable groups", canary: []string{"c1"}, percent: 90,
			check: wantNoGroups("stable", 10),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Split(tt.stable, tt.canary, tt.percent, nil)
			if err == nil {
				t.Fatalf("Split(%q, %q, %d) = %+v, want an error", tt.stable, tt.canary, tt.percent, f)
			}
			tt.check(t, err)
		})
	}
}

func wantLimit(limit Limit, value int64) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e *LimitError
		if !errors.As(err, &e) || e.Limit != limit || e.Value != value {
			t.Fatalf("error = %v, want *LimitError{%s, value %d}", err, limit, value)
		}
	}
}

func wantDuplicate(arn string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e *DuplicateTargetGroupError
		if !errors.As(err, &e) || e.ARN != arn {
			t.Fatalf("error = %v, want *DuplicateTargetGroupError{%s}", err, arn)
		}
	}
}

func wantNoGroups(side string, percent int32) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var e *NoTargetGroupsError
		if !errors.As(err, &e) || e.Side != side || e.Percent != percent {
			t.Fatalf("error = %v, want *NoTargetGroupsError{%s, %d}", err, side, percent)
		}
	}
}

func TestValidate(t *testing.T) {
	five := Forward{TargetGroups: []TargetGroupWeight{tgw("a", 1), tgw("b", 1), tgw("c", 1), tgw("d", 1), tgw("e", 1)}}
	tests := []struct {
		name  string
		f     Forward
		check func(t *testing.T, err error) // nil: want no error
	}{
		{name: "one group", f: Forward{TargetGroups: []TargetGroupWeight{tgw("a", 1)}}},
		{name: "five groups", f: five},
		{name: "max weight", f: Forward{TargetGroups: []TargetGroupWeight{tgw("a", 999), tgw("b", 0)}}},
		{name: "no groups", f: Forward{}, check: wantLimit(LimitTargetGroups, 0)},
		{
			name:  "six groups",
			f:     Forward{TargetGroups: append(slices.Clone(five.TargetGroups), tgw("f", 1))},
			check: wantLimit(LimitTargetGroups, 6),
		},
		{
			name: "weight above 999",
			f:    Forward{TargetGroups: []TargetGroupWeight{tgw("a", 1), tgw("b", 1000)}},
			check: func(t *testing.T, err error) {
				var e *LimitError
				if !errors.As(err, &e) || e.Limit != LimitWeight || e.ARN != "b" || e.Value != 1000 || e.Max != MaxWeight {
					t.Fatalf("error = %v, want *LimitError{weight, b, 1000, max 999}", err)
				}
			},
		},
		{name: "negative weight", f: Forward{TargetGroups: []TargetGroupWeight{tgw("a", -1), tgw("b", 5)}}, check: wantLimit(LimitWeight, -1)},
		{name: "duplicate ARN", f: Forward{TargetGroups: []TargetGroupWeight{tgw("a", 1), tgw("a", 1)}}, check: wantDuplicate("a")},
		{
			name: "empty ARN",
			f:    Forward{TargetGroups: []TargetGroupWeight{tgw("a", 1), tgw("", 1)}},
			check: func(t *testing.T, err error) {
				var e *EmptyARNError
				if !errors.As(err, &e) || e.Index != 1 {
					t.Fatalf("error = %v, want *EmptyARNError at 1", err)
				}
			},
		},
		{
			name: "all zero",
			f:    Forward{TargetGroups: []TargetGroupWeight{tgw("a", 0), tgw("b", 0)}},
			check: func(t *testing.T, err error) {
				var e *NoTrafficError
				if !errors.As(err, &e) || e.TargetGroups != 2 {
					t.Fatalf("error = %v, want *NoTrafficError for 2 groups", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.f)
			if tt.check == nil {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", tt.f, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want an error", tt.f)
			}
			tt.check(t, err)
		})
	}
}

func TestLimitErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *LimitError
		want string
	}{
		{
			name: "count",
			err:  &LimitError{Limit: LimitTargetGroups, Value: 6, Min: 1, Max: 5},
			want: "target groups per forward action is 6, allowed 1 to 5",
		},
		{
			name: "weight names the group",
			err:  &LimitError{Limit: LimitWeight, ARN: "arn:tg/b", Value: 1000, Min: 0, Max: 999},
			want: "target group weight of arn:tg/b is 1000, allowed 0 to 999",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestShare(t *testing.T) {
	f := Forward{TargetGroups: []TargetGroupWeight{tgw("s1", 40), tgw("s2", 40), tgw("c1", 20)}}
	tests := []struct {
		name string
		f    Forward
		arns []string
		want int
	}{
		{name: "one group", f: f, arns: []string{"c1"}, want: 20},
		{name: "two groups", f: f, arns: []string{"s1", "s2"}, want: 80},
		{name: "everything", f: f, arns: []string{"s1", "s2", "c1"}, want: 100},
		{name: "unknown group counts 0", f: f, arns: []string{"zz"}, want: 0},
		{name: "duplicate ARN counted once", f: f, arns: []string{"c1", "c1"}, want: 20},
		{name: "empty action", f: Forward{}, arns: []string{"a"}, want: 0},
		{name: "non-percentage weights", f: Forward{TargetGroups: []TargetGroupWeight{tgw("a", 1), tgw("b", 3)}}, arns: []string{"b"}, want: 75},
		{name: "tiny share never rounds to 0", f: Forward{TargetGroups: []TargetGroupWeight{tgw("a", 1), tgw("b", 999)}}, arns: []string{"a"}, want: 1},
		{name: "almost all never rounds to 100", f: Forward{TargetGroups: []TargetGroupWeight{tgw("a", 1), tgw("b", 999)}}, arns: []string{"b"}, want: 99},
		{name: "half rounds up", f: Forward{TargetGroups: []TargetGroupWeight{tgw("a", 1), tgw("b", 199)}}, arns: []string{"a"}, want: 1},
		{name: "zero-weight group", f: Forward{TargetGroups: []TargetGroupWeight{tgw("a", 0), tgw("b", 7)}}, arns: []string{"a"}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Share(tt.f, tt.arns); got != tt.want {
				t.Errorf("Share(%+v, %q) = %d, want %d", tt.f, tt.arns, got, tt.want)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	base := Forward{TargetGroups: []TargetGroupWeight{tgw("a", 60), tgw("b", 40)}}
	tests := []struct {
		name string
		a, b Forward
		want bool
	}{
		{name: "same", a: base, b: base, want: true},
		{name: "order ignored", a: base, b: Forward{TargetGroups: []TargetGroupWeight{tgw("b", 40), tgw("a", 60)}}, want: true},
		{name: "weight differs", a: base, b: Forward{TargetGroups: []TargetGroupWeight{tgw("a", 50), tgw("b", 50)}}, want: false},
		{name: "group differs", a: base, b: Forward{TargetGroups: []TargetGroupWeight{tgw("a", 60), tgw("c", 40)}}, want: false},
		{name: "extra group at weight 0", a: base, b: Forward{TargetGroups: []TargetGroupWeight{tgw("a", 60), tgw("b", 40), tgw("c", 0)}}, want: false},
		{name: "disabled stickiness equals none", a: base, b: Forward{TargetGroups: base.TargetGroups, Stickiness: &Stickiness{}}, want: true},
		{name: "stickiness differs", a: base, b: Forward{TargetGroups: base.TargetGroups, Stickiness: &Stickiness{Enabled: true, DurationSeconds: 60}}, want: false},
		{
			name: "stickiness duration differs",
			a:    Forward{TargetGroups: base.TargetGroups, Stickiness: &Stickiness{Enabled: true, DurationSeconds: 30}},
			b:    Forward{TargetGroups: base.TargetGroups, Stickiness: &Stickiness{Enabled: true, DurationSeconds: 60}},
			want: false,
		},
		{
			name: "duplicates are equal to nothing",
			a:    Forward{TargetGroups: []TargetGroupWeight{tgw("a", 1), tgw("a", 1)}},
			b:    Forward{TargetGroups: []TargetGroupWeight{tgw("a", 1), tgw("b", 1)}},
			want: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal(tt.a, tt.b); got != tt.want {
				t.Errorf("Equal(%+v, %+v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
			if got := Equal(tt.b, tt.a); got != tt.want {
				t.Errorf("Equal is not symmetric: Equal(%+v, %+v) = %v", tt.b, tt.a, got)
			}
		})
	}
}

func TestForwardHelpers(t *testing.T) {
	f := Forward{
		TargetGroups: []TargetGroupWeight{tgw("b", 0), tgw("a", 100)},
		Stickiness:   &Stickiness{Enabled: true, DurationSeconds: 10},
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{name: "ARNs keep order", got: f.ARNs(), want: []string{"b", "a"}},
		{name: "Routed skips weight 0", got: f.Routed(), want: []string{"a"}},
		{name: "Routed of empty action", got: Forward{}.Routed(), want: []string(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
	t.Run("Clone is deep", func(t *testing.T) {
		c := f.Clone()
		c.TargetGroups[0].Weight = 7
		c.Stickiness.DurationSeconds = 99
		if f.TargetGroups[0].Weight != 0 || f.Stickiness.DurationSeconds != 10 {
			t.Errorf("changing the clone changed the original: %+v", f)
		}
	})
}

// TestSplitProperties checks Split over many random inputs: valid inputs
// produce actions that pass Validate, sum to exactly 100, give the canary
// exactly the asked share, split each side evenly (weights differ by at
// most 1) and do not depend on input order; invalid inputs are refused.
func TestSplitProperties(t *testing.T) {
	r := rand.New(rand.NewSource(42))
	const cases = 20000
	var valid int
	for i := 0; i < cases; i++ {
		nStable := r.Intn(MaxTargetGroupsPerAction + 1)
		nCanary := r.Intn(MaxTargetGroupsPerAction + 1 - nStable)
		percent := int32(r.Intn(101))
		switch {
		case r.Intn(20) == 0:
			// sometimes anything, mostly invalid: too many groups, a
			// share for a missing side, a percent out of range
			nCanary = r.Intn(MaxTargetGroupsPerAction + 1)
			percent = int32(r.Intn(400) - 150)
		case nStable == 0:
			percent = 100
		case nCanary == 0:
			percent = 0
		}
		stable := randomARNs(r, "stable", nStable)
		canary := randomARNs(r, "canary", nCanary)
		f, err := Split(stable, canary, percent, nil)

		total := len(stable) + len(canary)
		wantErr := percent < 0 || percent > 100 || total < 1 || total > MaxTargetGroupsPerAction ||
			(percent > 0 && len(canary) == 0) || (percent < 100 && len(stable) == 0)
		if wantErr {
			if err == nil {
				t.Fatalf("Split(%q, %q, %d) = %+v, want an error", stable, canary, percent, f)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Split(%q, %q, %d): %v", stable, canary, percent, err)
		}
		valid++
		if err := Validate(f); err != nil {
			t.Fatalf("Split(%q, %q, %d) = %+v fails Validate: %v", stable, canary, percent, f, err)
		}
		if len(f.TargetGroups) != total || total > MaxTargetGroupsPerAction {
			t.Fatalf("Split(%q, %q, %d) has %d groups, want %d (<= %d)", stable, canary, percent, len(f.TargetGroups), total, MaxTargetGroupsPerAction)
		}
		if f.Total() != 100 {
			t.Fatalf("Split(%q, %q, %d) sums to %d, want 100", stable, canary, percent, f.Total())
		}
		if got := sumOf(f, canary); got != percent {
			t.Fatalf("Split(%q, %q, %d) gives the canary %d", stable, canary, percent, got)
		}
		if got := Share(f, canary); got != int(percent) {
			t.Fatalf("Share of canary = %d, want %d", got, percent)
		}
		for _, side := range [][]string{stable, canary} {
			if spread := spreadOf(f, side); spread > 1 {
				t.Fatalf("Split(%q, %q, %d) = %+v: weights of one side differ by %d", stable, canary, percent, f, spread)
			}
		}
		for _, tg := range f.TargetGroups {
			if tg.Weight < 0 || tg.Weight > MaxWeight {
				t.Fatalf("weight %d out of range in %+v", tg.Weight, f)
			}
		}
		shuffledStable, shuffledCanary := slices.Clone(stable), slices.Clone(canary)
		r.Shuffle(len(shuffledStable), func(i, j int) { shuffledStable[i], shuffledStable[j] = shuffledStable[j], shuffledStable[i] })
		r.Shuffle(len(shuffledCanary), func(i, j int) { shuffledCanary[i], shuffledCanary[j] = shuffledCanary[j], shuffledCanary[i] })
		again, err := Split(shuffledStable, shuffledCanary, percent, nil)
		if err != nil || !reflect.DeepEqual(again, f) {
			t.Fatalf("Split depends on input order: %+v then %+v (err %v)", f, again, err)
		}
	}
	if valid < cases*3/4 || valid == cases {
		t.Fatalf("%d of %d random cases were valid splits; want most but not all", valid, cases)
	}
}

func randomARNs(r *rand.Rand, prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/%s-%d-%d/abc", prefix, i, r.Intn(1000))
	}
	return out
}

func sumOf(f Forward, arns []string) int32 {
	var sum int32
	for _, arn := range arns {
		w, _ := f.Weight(arn)
		sum += w
	}
	return sum
}

func spreadOf(f Forward, arns []string) int32 {
	if len(arns) == 0 {
		return 0
	}
	lo, hi := int32(MaxWeight+1), int32(-1)
	for _, arn := range arns {
		w, _ := f.Weight(arn)
		lo, hi = min(lo, w), max(hi, w)
	}
	return hi - lo
}

func BenchmarkSplit(b *testing.B) {
	stable := []string{"arn:tg/stable-b", "arn:tg/stable-a"}
	canary := []string{"arn:tg/canary-b", "arn:tg/canary-a"}
	sticky := &Stickiness{Enabled: true, DurationSeconds: 300}
	for b.Loop() {
		if _, err := Split(stable, canary, 33, sticky); err != nil {
			b.Fatal(err)
		}
	}
}
