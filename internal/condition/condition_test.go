package condition

import "testing"

func TestEval(t *testing.T) {
	cases := []struct {
		name   string
		expr   string
		result any
		want   bool
	}{
		{"scalar below threshold", "result < 0.05", 0.01, true},
		{"scalar above threshold", "result < 0.05", 0.2, false},
		{"first of series", "result[0] >= 0.99", []float64{0.995, 0.5}, true},
		{"all of series", "all(result, {# < 1})", []float64{0.2, 0.5}, true},
		{"all of series fails", "all(result, {# < 1})", []float64{0.2, 1.5}, false},
		{"nil is nil", "isNil(result)", nil, true},
		{"default replaces nil", "default(result, 0) == 0", nil, true},
		{"NaN", "isNaN(result)", nan(), true},
		{"asFloat of text", "asFloat(result) > 1", "2.5", true},
		{"asInt of text", "asInt(result) == 3", "3", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compile(tc.expr)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := c.Eval(tc.result)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != tc.want {
				t.Fatalf("%s with %v = %v, want %v", tc.expr, tc.result, got, tc.want)
			}
		})
	}
}

func TestCompileRefusesBadExpressions(t *testing.T) {
	for _, src := range []string{"result <", "1 + 1", "unknownFn(result)", ""} {
		if _, err := Compile(src); err == nil {
			t.Errorf("Compile(%q) succeeded, want an error", src)
		}
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}
