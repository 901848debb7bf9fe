package judge

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestConfidenceBoundIsTheStep checks, on seeded continuous samples, that
// each bound is a difference canary − stable at which the statistic crosses
// its quantile: on the step just below the bound the statistic is at or
// above it, on the step just above it is below; and lower ≤ estimate ≤ upper.
func TestConfidenceBoundIsTheStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	q := -normalQuantile((1 - DefaultConfidence) / 2)
	interior := 0
	for i := 0; i < 300; i++ {
		x := normals(rng, 3+rng.IntN(40), rng.Float64()*2, 1)
		y := normals(rng, 3+rng.IntN(40), 0, 1)
		r, err := MannWhitney(x, y, DefaultConfidence)
		if err != nil {
			t.Fatal(err)
		}
		if !(r.Lower <= r.Estimate && r.Estimate <= r.Upper) {
			t.Fatalf("case %d: estimate %v outside [%v, %v]", i, r.Estimate, r.Lower, r.Upper)
		}
		d := dedupe(pairwiseDifferences(x, y))
		for _, b := range []struct {
			at float64
			q  float64
		}{{r.Lower, q}, {r.Upper, -q}} {
			k, found := slices.BinarySearch(d, b.at)
			if !found {
				t.Fatalf("case %d: bound %v is not a difference canary − stable", i, b.at)
			}
			if k == 0 || k == len(d)-1 {
				continue // clamped at the smallest or largest difference
			}
			interior++
			below, _ := wilcoxonZ(d[k-1]/2+d[k]/2, x, y)
			above, _ := wilcoxonZ(d[k]/2+d[k+1]/2, x, y)
			if !(below >= b.q && above < b.q) {
				t.Errorf("case %d: bound %v: statistic %v just below, %v just above, want it to cross %v", i, b.at, below, above, b.q)
			}
		}
	}
	if interior < 300 {
		t.Errorf("only %d bounds were interior; the test checks too little", interior)
	}
}

// TestIntervalCoverage draws seeded normal samples with a known shift and
// counts how often the 98% interval contains it: a wrong quantile, side or
// step would show as coverage far from 98%.
func TestIntervalCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(2026, 12))
	const trials, shift = 400, 0.7
	covered := 0
	for i := 0; i < trials; i++ {
		r, err := MannWhitney(normals(rng, 30, shift, 1), normals(rng, 30, 0, 1), DefaultConfidence)
		if err != nil {
			t.Fatal(err)
		}
		if r.Lower <= shift && shift <= r.Upper {
			covered++
		}
	}
	ratio := float64(covered) / trials
	t.Logf("98%% interval covered the true shift in %d of %d trials (%.3f)", covered, trials, ratio)
	if ratio < 0.96 || ratio > 0.995 {
		t.Errorf("coverage %.3f, want about 0.98", ratio)
	}
}

func TestMannWhitneyConstantSides(t *testing.T) {
	// Each side one value repeated: the shift is exact (Kayenta adds noise
	// here; see MannWhitney).
	r, err := MannWhitney([]float64{10, 10, 10}, []float64{1, 1, 1, 1}, DefaultConfidence)
	if err != nil {
		t.Fatal(err)
	}
	if r.Estimate != 9 || r.Lower != 9 || r.Upper != 9 || r.U != 12 {
		t.Errorf("got %+v, want estimate and bounds 9, U 12", r)
	}
	// All tied: p is 1, as scipy clips it.
	r, err = MannWhitney([]float64{2, 2}, []float64{2, 2, 2}, DefaultConfidence)
	if err != nil {
		t.Fatal(err)
	}
	if r.PValue != 1 || r.Estimate != 0 || r.Lower != 0 || r.Upper != 0 {
		t.Errorf("all tied: got %+v", r)
	}
}

func TestMannWhitneyRejectsBadInput(t *testing.T) {
	long := make([]float64, MaxPoints+1)
	for _, c := range []struct {
		name           string
		canary, stable []float64
		confidence     float64
		want           string
	}{
		{"empty canary", nil, []float64{1}, 0.98, "canary: no values"},
		{"empty stable", []float64{1}, []float64{}, 0.98, "stable: no values"},
		{"NaN", []float64{1, math.NaN()}, []float64{1}, 0.98, "canary[1]: NaN is not a finite number"},
		{"infinity", []float64{1}, []float64{2, 3, math.Inf(1)}, 0.98, "stable[2]: +Inf is not a finite number"},
		{"too many points", long, []float64{1}, 0.98, "canary: 1441 values, more than the 1440"},
		{"confidence 1", []float64{1}, []float64{2}, 1, "confidence: must be between 0 and 1"},
		{"confidence 0", []float64{1}, []float64{2}, 0, "confidence: must be between 0 and 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := MannWhitney(c.canary, c.stable, c.confidence)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func normals(rng *rand.Rand, n int, mean, sd float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = mean + sd*rng.NormFloat64()
	}
	return xs
}

// TestConfidenceBoundEvaluations counts the statistic's evaluations per bound
// on two 500-period sides (250,000 differences): bisection over the steps
// needs about log₂ of their number, where Kayenta's solver allows 1,000.
func TestConfidenceBoundEvaluations(t *testing.T) {
	rng := rand.New(rand.NewPCG(500, 500))
	x, y := normals(rng, 500, 0.2, 1), normals(rng, 500, 0, 1)
	distinct := dedupe(pairwiseDifferences(x, y))
	limit := 3 + int(math.Ceil(math.Log2(float64(2*len(distinct)))))
	for _, q := range []float64{-normalQuantile(0.01), normalQuantile(0.01)} {
		calls := 0
		stat := func(mu float64) (float64, error) { calls++; return wilcoxonZ(mu, x, y) }
		b, err := confidenceBound(stat, distinct, q)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("bound %v for quantile %.3f: %d evaluations over %d distinct differences", b, q, calls, len(distinct))
		if calls > limit {
			t.Errorf("%d evaluations, want at most %d", calls, limit)
		}
	}
}
