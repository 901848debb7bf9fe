package judge

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Classification is one metric's outcome, Kayenta's
// MetricClassificationLabel.
type Classification string

const (
	// Pass: the canary is not detectably worse than stable in the metric's
	// direction (or the difference is within the tolerance band or below
	// the effect-size threshold).
	Pass Classification = "Pass"
	// High: the canary's values are higher than stable's.
	High Classification = "High"
	// Low: the canary's values are lower than stable's.
	Low Classification = "Low"
	// Nodata: one side had no values; it does not count in its group's
	// score, but half or more Nodata metrics fail the whole judgement, and a
	// critical metric with no data fails it outright.
	Nodata Classification = "Nodata"
	// NodataFail: a mustHaveData metric (not critical) had no values; it
	// counts against its group's score like High or Low (Kayenta's
	// NodataFailMetric).
	NodataFail Classification = "NodataFail"
)

// Direction says which change of a metric is bad.
type Direction string

const (
	// Increase: only a canary higher than stable fails (latency, errors).
	Increase Direction = "increase"
	// Decrease: only a canary lower than stable fails (throughput).
	Decrease Direction = "decrease"
	// Either: both fail; the default.
	Either Direction = "either"
)

// NaNStrategy says what happens to periods without a value.
type NaNStrategy string

const (
	// Remove drops them; the default.
	Remove NaNStrategy = "remove"
	// Replace counts them as 0 (for counters that report nothing when
	// nothing happened). A side with no periods at all is still Nodata.
	Replace NaNStrategy = "replace"
)

// EffectSizeMeasure is how the size of a difference is measured against the
// effect-size thresholds.
type EffectSizeMeasure string

const (
	// MeanRatio is the canary's mean over stable's; the default. Undefined
	// (and then not checked) when either mean is 0.
	MeanRatio EffectSizeMeasure = "meanRatio"
	// CLES is the common-language effect size: the share of (canary,
	// stable) pairs in which the canary value is the greater, ties counting
	// one half (U / (n·m)); 0.5 means no effect.
	CLES EffectSizeMeasure = "cles"
)

// EffectSize holds a metric's effect-size thresholds (Kayenta's
// canary.effectSize). A difference the test finds is High only if the effect
// is at least AllowedIncrease, Low only if at most AllowedDecrease; a critical
// metric's High or Low fails the judgement outright only if the effect is at
// least CriticalIncrease or at most CriticalDecrease. Unset thresholds
// default to no effect: 1 for MeanRatio, 0.5 for CLES.
type EffectSize struct {
	Measure          EffectSizeMeasure `json:"measure,omitempty"`
	AllowedIncrease  *float64          `json:"allowedIncrease,omitempty"`
	AllowedDecrease  *float64          `json:"allowedDecrease,omitempty"`
	CriticalIncrease *float64          `json:"criticalIncrease,omitempty"`
	CriticalDecrease *float64          `json:"criticalDecrease,omitempty"`
}

// Metric is one metric's judging configuration (Kayenta's per-metric
// analysisConfigurations.canary). Zero values are the defaults.
type Metric struct {
	Name string `json:"name"`
	// Groups the metric is scored in; none means the group "default".
	Groups      []string    `json:"groups,omitempty"`
	Direction   Direction   `json:"direction,omitempty"`
	NaNStrategy NaNStrategy `json:"nanStrategy,omitempty"`
	// Critical: a High or Low beyond the critical effect size, or Nodata,
	// scores the whole judgement 0.
	Critical bool `json:"critical,omitempty"`
	// MustHaveData: no data is NodataFail (counted against the group)
	// rather than Nodata.
	MustHaveData bool `json:"mustHaveData,omitempty"`
	// Muted: classified and reported, but left out of the score.
	Muted      bool       `json:"muted,omitempty"`
	EffectSize EffectSize `json:"effectSize,omitempty"`
}

// DefaultTolerance is the tolerance band's width as a fraction of the
// estimate's magnitude (NetflixACAJudge's tolerance).
const DefaultTolerance = 0.25

// ClassifierOptions are the test's parameters, shared by every metric.
type ClassifierOptions struct {
	// Tolerance: a difference is High only if the interval's lower bound
	// exceeds Tolerance × |estimate|, Low only if its upper bound is below
	// −Tolerance × |estimate|.
	Tolerance float64
	// Confidence of the interval, 0 < Confidence < 1.
	Confidence float64
}

// DefaultClassifierOptions are NetflixACAJudge's: tolerance 0.25, confidence
// 0.98.
func DefaultClassifierOptions() ClassifierOptions {
	return ClassifierOptions{Tolerance: DefaultTolerance, Confidence: DefaultConfidence}
}

// MetricResult is one metric's judgement: what a verdict shows per metric.
type MetricResult struct {
	Name           string         `json:"name"`
	Groups         []string       `json:"groups"`
	Classification Classification `json:"classification"`
	// Reason says why, for anything but a plain Pass.
	Reason string `json:"reason,omitempty"`
	// Critical: this result fails the whole judgement (a critical metric
	// High or Low beyond its critical effect size, or with no data).
	Critical bool `json:"critical,omitempty"`
	Muted    bool `json:"muted,omitempty"`
	// Test is the Mann-Whitney test, nil when none ran (no data, or both
	// sides identical or a single value).
	Test *MannWhitneyResult `json:"test,omitempty"`
	// Band is the tolerance band's half-width, Tolerance × |estimate|.
	Band float64 `json:"band,omitempty"`
	// Ratio is the canary's mean over stable's (Kayenta's deviation), nil
	// when either mean is 0 or a side has no data; 1 when no test ran
	// because the sides are identical.
	Ratio *float64 `json:"ratio,omitempty"`
	// EffectSize is the measure the thresholds were checked against, nil
	// when undefined.
	EffectSize *float64 `json:"effectSize,omitempty"`
	// CanaryCount and StableCount are the values judged, after the NaN
	// strategy.
	CanaryCount int `json:"canaryCount"`
	StableCount int `json:"stableCount"`
}

// ClassifyMetric judges one metric's canary series against its stable series
// as Kayenta's MannWhitneyClassifier does. m and opts must be valid (Config's
// Validate checks them); the series may hold NaN, not infinities.
func ClassifyMetric(m Metric, opts ClassifierOptions, s Series) (MetricResult, error) {
	canary, stable := applyNaNStrategy(m.NaNStrategy, s.Canary), applyNaNStrategy(m.NaNStrategy, s.Stable)
	res := MetricResult{Name: m.Name, Groups: groupsOf(m), Muted: m.Muted, CanaryCount: len(canary), StableCount: len(stable)}

	if len(canary) == 0 || len(stable) == 0 {
		res.Reason = "no data for " + missingSides(canary, stable)
		if m.MustHaveData && !m.Critical {
			res.Classification = NodataFail
			res.Reason += " (the metric must have data)"
			return res, nil
		}
		res.Classification, res.Critical = Nodata, m.Critical
		return res, nil
	}
	one := 1.0
	if sortedEqual(canary, stable) {
		res.Classification, res.Reason, res.Ratio = Pass, "the canary and stable data are identical", &one
		return res, nil
	}
	if singleValue(canary, stable) {
		res.Classification, res.Reason, res.Ratio = Pass, "every value is the same", &one
		return res, nil
	}

	test, err := MannWhitney(canary, stable, opts.Confidence)
	if err != nil {
		return MetricResult{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	res.Test = &test
	res.Band = opts.Tolerance * math.Abs(test.Estimate)
	ratio := meanRatio(canary, stable)
	res.Ratio = finite(ratio)
	effect := ratio
	if measureOf(m) == CLES {
		effect = cles(test)
	}
	res.EffectSize = finite(effect)
	up, down := m.Direction != Decrease, m.Direction != Increase // "" is Either
	above, below, edge, err := beyondBand(canary, stable, test, res.Band)
	if err != nil {
		return MetricResult{}, fmt.Errorf("metric %s: %w", m.Name, err)
	}
	thr := thresholdsOf(m)
	switch {
	case up && above && (math.IsNaN(effect) || effect >= thr.allowedIncrease):
		res.Classification = High
		res.Reason = "the canary is higher: " + intervalReason(test, res.Band, edge, "above")
		res.Critical = m.Critical && (math.IsNaN(effect) || effect >= thr.criticalIncrease)
	case down && below && (math.IsNaN(effect) || effect <= thr.allowedDecrease):
		res.Classification = Low
		res.Reason = "the canary is lower: " + intervalReason(test, res.Band, edge, "below")
		res.Critical = m.Critical && (math.IsNaN(effect) || effect <= thr.criticalDecrease)
	default:
		res.Classification = Pass
		res.Reason = passReason(m, above, below, effect, thr)
	}
	if res.Critical {
		res.Reason += " (critical)"
	}
	return res, nil
}

// beyondBand reports whether the interval lies above the tolerance band
// (lower bound > band) or below it (upper bound < −band), Kayenta's isHigh and
// isLow tests of the interval.
//
// A bound can sit exactly on the band's edge when both lie on a step where
// many differences are equal: two counters that are mostly 0 give an estimate
// of 0, a band of 0 and bounds of 0 however many more errors the canary has.
// There the statistic crosses its quantile just past the step (the statistic
// at the step itself is still beyond it), which is where Kayenta's solver
// lands, a hair above or below; so such a bound counts as beyond the band.
//
// edge is the statistic at the band's edge when that decided, else NaN.
func beyondBand(canary, stable []float64, t MannWhitneyResult, band float64) (above, below bool, edge float64, err error) {
	q := -normalQuantile((1 - t.Confidence) / 2)
	above, below, edge = t.Lower > band, t.Upper < -band, math.NaN()
	// Every value tied at the step (each side one value, and the band as
	// wide as the shift): the shift is exactly the band's edge, not beyond.
	if t.Lower == band {
		z, err := wilcoxonZ(t.Lower, canary, stable)
		if err != nil && !errors.Is(err, errAllTied) {
			return false, false, 0, err
		}
		if above = err == nil && z >= q; above {
			edge = z
		}
	}
	if t.Upper == -band {
		z, err := wilcoxonZ(t.Upper, canary, stable)
		if err != nil && !errors.Is(err, errAllTied) {
			return false, false, 0, err
		}
		if below = err == nil && z <= -q; below {
			edge = z
		}
	}
	return above, below, edge, nil
}

// passReason says why a shift the interval shows is still a Pass; "" when
// the interval shows none.
func passReason(m Metric, above, below bool, effect float64, thr effectThresholds) string {
	switch {
	case above && m.Direction == Decrease:
		return "the canary is higher, which direction decrease allows"
	case below && m.Direction == Increase:
		return "the canary is lower, which direction increase allows"
	case above:
		return fmt.Sprintf("the canary is higher, but its effect size %.4g is below effectSize.allowedIncrease %g", effect, thr.allowedIncrease)
	case below:
		return fmt.Sprintf("the canary is lower, but its effect size %.4g is above effectSize.allowedDecrease %g", effect, thr.allowedDecrease)
	}
	return ""
}

func intervalReason(t MannWhitneyResult, band, edge float64, side string) string {
	s := fmt.Sprintf("the %g%% interval of canary − stable [%g, %g] lies %s the tolerance band ±%g",
		t.Confidence*100, t.Lower, t.Upper, side, band)
	if !math.IsNaN(edge) {
		s += fmt.Sprintf(" (it ends on the band's edge, a step of tied values, where the statistic is still %.3g)", edge)
	}
	return s
}

func applyNaNStrategy(s NaNStrategy, xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		switch {
		case !math.IsNaN(x):
			out = append(out, x)
		case s == Replace:
			out = append(out, 0)
		}
	}
	return out
}

func missingSides(canary, stable []float64) string {
	switch {
	case len(canary) == 0 && len(stable) == 0:
		return "the canary and stable"
	case len(canary) == 0:
		return "the canary"
	default:
		return "stable"
	}
}

func groupsOf(m Metric) []string {
	if len(m.Groups) == 0 {
		return []string{"default"}
	}
	return slices.Clone(m.Groups)
}

func measureOf(m Metric) EffectSizeMeasure {
	if m.EffectSize.Measure == "" {
		return MeanRatio
	}
	return m.EffectSize.Measure
}

type effectThresholds struct {
	allowedIncrease, allowedDecrease, criticalIncrease, criticalDecrease float64
}

func thresholdsOf(m Metric) effectThresholds {
	def := 1.0
	if measureOf(m) == CLES {
		def = 0.5
	}
	or := func(p *float64) float64 {
		if p == nil {
			return def
		}
		return *p
	}
	e := m.EffectSize
	return effectThresholds{or(e.AllowedIncrease), or(e.AllowedDecrease), or(e.CriticalIncrease), or(e.CriticalDecrease)}
}

// cles is Kayenta's EffectSizes.cles: U / (n·m).
func cles(t MannWhitneyResult) float64 {
	return t.U / float64(t.CanaryCount*t.StableCount)
}

// meanRatio is Kayenta's EffectSizes.meanRatio: the canary's mean over
// stable's, NaN when either mean is 0.
func meanRatio(canary, stable []float64) float64 {
	c, s := mean(canary), mean(stable)
	if c == 0 || s == 0 {
		return math.NaN()
	}
	return c / s
}

func mean(xs []float64) float64 {
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func sortedEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func singleValue(a, b []float64) bool {
	for _, x := range append(slices.Clone(a), b...) {
		if x != a[0] {
			return false
		}
	}
	return true
}
