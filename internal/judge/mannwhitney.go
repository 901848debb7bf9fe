package judge

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// MaxPoints is the most values one side of a comparison may hold. The
// Hodges-Lehmann estimate sorts every canary−stable difference, so the cost
// grows with the product of the two sides: 1,440 points (a day of one-minute
// periods) a side is about two million differences, 16 MiB.
const MaxPoints = 1440

// DefaultConfidence is the confidence level of the interval around the
// estimate, NetflixACAJudge's confLevel.
const DefaultConfidence = 0.98

// MannWhitneyResult is a two-sided Mann-Whitney U test of canary against
// stable, with the shift canary − stable it estimates.
type MannWhitneyResult struct {
	// U is the canary's U statistic: the number of (canary, stable) pairs in
	// which the canary value is the greater, ties counting one half
	// (scipy.stats.mannwhitneyu(canary, stable).statistic).
	U float64 `json:"u"`
	// PValue is the two-sided p-value of the normal approximation with tie
	// and continuity correction (scipy's method="asymptotic"): the chance of
	// a U at least this far from its mean if both sides came from one
	// distribution. 1 when every value is tied.
	PValue float64 `json:"pValue"`
	// Estimate is the Hodges-Lehmann estimate of the location shift: the
	// median of the differences canary − stable over all pairs. It is not the
	// difference of the medians.
	Estimate float64 `json:"estimate"`
	// Lower and Upper bound the confidence interval of the shift at
	// Confidence (kayenta-mannwhitney's asymptotic interval, see
	// confidenceBound).
	Lower      float64 `json:"lower"`
	Upper      float64 `json:"upper"`
	Confidence float64 `json:"confidence"`
	// CanaryCount and StableCount are the sample sizes the test used.
	CanaryCount int `json:"canaryCount"`
	StableCount int `json:"stableCount"`
}

// MannWhitney tests canary against stable at the given confidence level
// (0 < confidence < 1). Both sides must be non-empty, hold at most MaxPoints
// values and contain no NaN or infinity: the classifier applies the NaN
// strategy before it calls this.
func MannWhitney(canary, stable []float64, confidence float64) (MannWhitneyResult, error) {
	if err := checkSample("canary", canary); err != nil {
		return MannWhitneyResult{}, err
	}
	if err := checkSample("stable", stable); err != nil {
		return MannWhitneyResult{}, err
	}
	if !(confidence > 0 && confidence < 1) {
		return MannWhitneyResult{}, fmt.Errorf("confidence: must be between 0 and 1 exclusive, got %v", confidence)
	}
	r := MannWhitneyResult{Confidence: confidence, CanaryCount: len(canary), StableCount: len(stable)}
	r.U, r.PValue = uTest(canary, stable)

	diffs := pairwiseDifferences(canary, stable)
	r.Estimate = median(diffs)
	distinct := dedupe(diffs)
	if len(distinct) == 1 {
		// Each side is one value repeated: every difference is the same,
		// the shift is known exactly and the normal approximation has no
		// variance to work with (Kayenta adds Gaussian noise here; the
		// noise-free limit of its interval is this point).
		r.Lower, r.Upper = distinct[0], distinct[0]
		return r, nil
	}
	// Kayenta's findRoot(-zQuant) and findRoot(zQuant), zQuant = Φ⁻¹(α/2).
	z := distuv.UnitNormal.Quantile((1 - confidence) / 2)
	var err error
	stat := func(mu float64) (float64, error) { return wilcoxonZ(mu, canary, stable) }
	if r.Lower, err = confidenceBound(stat, distinct, -z); err != nil {
		return MannWhitneyResult{}, err
	}
	if r.Upper, err = confidenceBound(stat, distinct, z); err != nil {
		return MannWhitneyResult{}, err
	}
	return r, nil
}

func checkSample(side string, xs []float64) error {
	if len(xs) == 0 {
		return fmt.Errorf("%s: no values", side)
	}
	if len(xs) > MaxPoints {
		return fmt.Errorf("%s: %d values, more than the %d a side may hold", side, len(xs), MaxPoints)
	}
	for i, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%s[%d]: %v is not a finite number", side, i, x)
		}
	}
	return nil
}

// uTest returns the canary's U and the two-sided asymptotic p-value, as
// scipy.stats.mannwhitneyu(x, y, use_continuity=True,
// alternative="two-sided", method="asymptotic") computes them.
func uTest(x, y []float64) (u, p float64) {
	n1, n2 := float64(len(x)), float64(len(y))
	ranks, tieTerm := rank(append(append([]float64(nil), x...), y...))
	r1 := 0.0
	for _, r := range ranks[:len(x)] {
		r1 += r
	}
	u1 := r1 - n1*(n1+1)/2
	u2 := n1*n2 - u1
	n := n1 + n2
	s := math.Sqrt(n1 * n2 / 12 * ((n + 1) - tieTerm/(n*(n-1))))
	z := (math.Max(u1, u2) - n1*n2/2 - 0.5) / s
	if s == 0 || math.IsNaN(z) {
		// Every value tied: scipy's z is -inf (or NaN), its p clips to 1.
		return u1, 1
	}
	p = 2 * distuv.UnitNormal.Survival(z)
	return u1, math.Min(math.Max(p, 0), 1)
}

// rank returns the 1-based ranks of xs with ties given their average rank,
// and the tie term Σ(t³ − t) over the groups of t tied values.
func rank(xs []float64) (ranks []float64, tieTerm float64) {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return xs[idx[a]] < xs[idx[b]] })
	ranks = make([]float64, len(xs))
	for i := 0; i < len(idx); {
		j := i + 1
		for j < len(idx) && xs[idx[j]] == xs[idx[i]] {
			j++
		}
		avg := float64(i+1+j) / 2 // ranks i+1 … j averaged
		for k := i; k < j; k++ {
			ranks[idx[k]] = avg
		}
		t := float64(j - i)
		tieTerm += t*t*t - t
		i = j
	}
	return ranks, tieTerm
}

// errAllTied is returned when the statistic has no variance at a shift.
var errAllTied = errors.New("cannot compute a confidence interval: every observation is tied")

// wilcoxonZ is kayenta-mannwhitney's wilcoxonDiff with quantile 0 (R's
// wilcox.test): the continuity-corrected standardized rank-sum statistic of
// x shifted by −mu against y. It does not increase as mu grows, and changes
// value only where mu is one of the differences x[i] − y[j].
func wilcoxonZ(mu float64, x, y []float64) (float64, error) {
	nx, ny := float64(len(x)), float64(len(y))
	xy := make([]float64, 0, len(x)+len(y))
	for _, v := range x {
		xy = append(xy, v-mu)
	}
	xy = append(xy, y...)
	ranks, tieTerm := rank(xy)
	dz := 0.0
	for _, r := range ranks[:len(x)] {
		dz += r
	}
	dz -= nx*(nx+1)/2 + nx*ny/2
	correction := 0.0
	switch {
	case dz > 0:
		correction = 0.5
	case dz < 0:
		correction = -0.5
	}
	sigma := math.Sqrt(nx * ny / 12 * ((nx + ny + 1) - tieTerm/((nx+ny)*(nx+ny-1))))
	if sigma == 0 || math.IsNaN(sigma) {
		return 0, errAllTied
	}
	return (dz - correction) / sigma, nil
}

// confidenceBound returns the shift mu at which stat(mu) − q changes sign
// (stat is wilcoxonZ of the two samples, distinct their sorted distinct
// differences), as kayenta-mannwhitney's findRoot(q): the smallest difference when the
// function is already ≤ 0 there, the largest when it is still ≥ 0 there.
//
// Kayenta (like R's uniroot) searches for the root with Brent's method to an
// absolute tolerance of 1e-4, which is coarse for metrics that are small
// numbers (a 5xx ratio of 0.001, a latency of 0.02 s). The function is a step
// function that changes only at the sorted distinct differences, so this finds
// the step itself by bisection over them: the bound is one of the
// differences canary − stable, whatever the metric's scale, found with at most
// 2 + ⌈log₂(2·len(distinct))⌉ + 1 evaluations of stat.
func confidenceBound(stat func(mu float64) (float64, error), distinct []float64, q float64) (float64, error) {
	f := func(mu float64) (float64, error) {
		z, err := stat(mu)
		return z - q, err
	}
	last := len(distinct) - 1
	lo, err := f(distinct[0])
	if err != nil {
		return 0, err
	}
	if lo <= 0 {
		return distinct[0], nil
	}
	hi, err := f(distinct[last])
	if err != nil {
		return 0, err
	}
	if hi >= 0 {
		return distinct[last], nil
	}
	// Points in order: d0, (d0+d1)/2, d1, …, d_last; index 2i is d_i, 2i+1
	// the open step between d_i and d_i+1. Find the first point where f < 0.
	at := func(k int) float64 {
		if k%2 == 0 {
			return distinct[k/2]
		}
		return distinct[k/2]/2 + distinct[k/2+1]/2
	}
	var ferr error
	k := sort.Search(2*last+1, func(k int) bool {
		if ferr != nil {
			return true
		}
		v, err := f(at(k))
		if err != nil {
			ferr = err
			return true
		}
		if v == 0 && k%2 == 1 {
			// A whole step where the statistic equals q exactly: any point
			// of it is a root; keep its middle (searching no further).
			return true
		}
		return v < 0
	})
	if ferr != nil {
		return 0, ferr
	}
	if k%2 == 1 {
		if v, _ := f(at(k)); v == 0 {
			return at(k), nil
		}
		// f ≥ 0 at d_i and < 0 just after it: the step is at d_i.
		return distinct[k/2], nil
	}
	// f ≥ 0 just before d_i and < 0 at d_i.
	return distinct[k/2], nil
}

// pairwiseDifferences returns every x[i] − y[j], sorted.
func pairwiseDifferences(x, y []float64) []float64 {
	d := make([]float64, 0, len(x)*len(y))
	for _, a := range x {
		for _, b := range y {
			d = append(d, a-b)
		}
	}
	sort.Float64s(d)
	return d
}

// median of sorted, non-empty xs.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return sorted[n/2-1]/2 + sorted[n/2]/2
}

// dedupe returns the distinct values of sorted xs, in order.
func dedupe(sorted []float64) []float64 {
	out := make([]float64, 0, len(sorted))
	for i, v := range sorted {
		if i == 0 || v != sorted[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// normalQuantile is the standard normal's inverse CDF.
func normalQuantile(p float64) float64 { return distuv.UnitNormal.Quantile(p) }
