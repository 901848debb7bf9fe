package judge

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"sync"
	"testing"
)

// Kayenta's own test cases, ported. testdata/kayenta.json holds the arrays of
// spinnaker/kayenta's Scala suites, extracted verbatim (suite path → test
// name → variable → values); each case below names the suite and test it
// came from, and keeps Kayenta's parameters and expectations unless its
// comment says why not.

const (
	mannWhitneySuite = "kayenta-mannwhitney/src/test/scala/com/netflix/kayenta/mannwhitney/MannWhitneySuite.scala"
	classifierSuite  = "kayenta-judge/src/test/scala/com/netflix/kayenta/judge/ClassifierSuite.scala"
)

var kayentaData = sync.OnceValues(func() (map[string]map[string]map[string][]float64, error) {
	b, err := os.ReadFile("testdata/kayenta.json")
	if err != nil {
		return nil, err
	}
	var f struct {
		Suites map[string]map[string]map[string][]float64 `json:"suites"`
	}
	err = json.Unmarshal(b, &f)
	return f.Suites, err
})

// kayentaArray returns variable name of Kayenta test test in suite.
func kayentaArray(t *testing.T, suite, test, name string) []float64 {
	t.Helper()
	data, err := kayentaData()
	if err != nil {
		t.Fatalf("reading testdata/kayenta.json: %v", err)
	}
	v, ok := data[suite][test][name]
	if !ok {
		t.Fatalf("testdata/kayenta.json has no %s / %q / %s", suite, test, name)
	}
	return v
}

// TestKayentaMannWhitneySuite ports MannWhitneySuite.scala.
func TestKayentaMannWhitneySuite(t *testing.T) {
	const e = 1e-6 // the suite's E
	t.Run("Wilcoxon Diff Function", func(t *testing.T) {
		x := kayentaArray(t, mannWhitneySuite, "Wilcoxon Diff Function", "x")
		y := kayentaArray(t, mannWhitneySuite, "Wilcoxon Diff Function", "y")
		for _, c := range []struct{ mu, want float64 }{{0, -1.229416}, {5, -35.80606}} {
			got, err := wilcoxonZ(c.mu, x, y)
			if err != nil || math.Abs(got-c.want) > e {
				t.Errorf("wilcoxonDiff(%v, 0, x, y) = %v, %v; want %v", c.mu, got, err, c.want)
			}
		}
	})
	t.Run("Test zQuant", func(t *testing.T) {
		// distuv stands in for commons-math's NormalDistribution.
		if got := normalQuantile(0.02 / 2); math.Abs(got-(-2.326348)) > e {
			t.Errorf("zQuant = %v, want -2.326348", got)
		}
	})
	// Kayenta finds each bound and the estimate with its BrentSolver, which
	// stops within TOLERANCE = 1e-4 of the step of the statistic; MannWhitney
	// finds the step exactly (confidenceBound). So a value Kayenta's suite
	// expects from the solver is met within that tolerance, and the exact
	// value we find instead is asserted too: on these data it is a round
	// number (the data are full of ties) that Kayenta's answer only
	// approximates.
	const brent = 1e-4
	cases := []struct {
		test, canary, stable string
		confidence           float64
		// Kayenta's expectations and the tolerance its suite allows.
		lower, upper, est float64
		ciTol, estTol     float64
		// exact: our lower, upper and estimate.
		exact [3]float64
	}{
		{test: "Mann-Whitney Confidence Interval & Estimate", canary: "experimentData", stable: "controlData",
			confidence: 0.95, lower: 6, upper: 39, est: 22.5, ciTol: e, estTol: e, exact: [3]float64{6, 39, 22.5}},
		{test: "Mann-Whitney Confidence Interval & Estimate: Problem Case", canary: "experiment", stable: "control",
			confidence: 0.98, lower: -1.4808028936386108e-5, upper: 1.808255910873413e-5, est: 1.808255910873413e-5, ciTol: brent, estTol: brent,
			// Kayenta's estimate equals its upper bound: the solver's
			// tolerance is wider than the data's spread (values ≈ 0.0333).
			exact: [3]float64{-7.450580596923828e-08, 1.7384688064114862e-09, -1.7384688064114862e-09}},
		{test: "Mann-Whitney Confidence Interval & Estimate: Tie out with R Version", canary: "experiment", stable: "control",
			confidence: 0.95, lower: -0.500002521696696, upper: -3.486287505871302e-5, est: -0.4999393907180323, ciTol: brent, estTol: brent,
			exact: [3]float64{-0.5, 0, -0.5}},
		{test: "Mann-Whitney Confidence Interval & Estimate: Tie out with R Version (Large)", canary: "experiment", stable: "control",
			confidence: 0.98, lower: -0.4999173250549087, upper: -6.912685789769486e-6, est: -3.45044082729315e-5, ciTol: brent, estTol: brent,
			exact: [3]float64{-0.5, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.test, func(t *testing.T) {
			x := kayentaArray(t, mannWhitneySuite, c.test, c.canary)
			y := kayentaArray(t, mannWhitneySuite, c.test, c.stable)
			r, err := MannWhitney(x, y, c.confidence)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(r.Lower-c.lower) > c.ciTol || math.Abs(r.Upper-c.upper) > c.ciTol || math.Abs(r.Estimate-c.est) > c.estTol {
				t.Errorf("got [%v, %v] estimate %v; Kayenta expects [%v, %v] estimate %v (±%v, ±%v)",
					r.Lower, r.Upper, r.Estimate, c.lower, c.upper, c.est, c.ciTol, c.estTol)
			}
			if got := [3]float64{r.Lower, r.Upper, r.Estimate}; got != c.exact {
				t.Errorf("got [lower upper estimate] %v, want exactly %v", got, c.exact)
			}
		})
	}
	t.Run("Mann-Whitney Intermediate Values / Variables", func(t *testing.T) {
		x := kayentaArray(t, mannWhitneySuite, "Mann-Whitney Intermediate Values / Variables", "x")
		y := kayentaArray(t, mannWhitneySuite, "Mann-Whitney Intermediate Values / Variables", "y")
		diffs := pairwiseDifferences(x, y)
		muMin, muMax := diffs[0], diffs[len(diffs)-1]
		zq := -normalQuantile(0.05 / 2)
		f := func(mu, q float64) float64 {
			z, err := wilcoxonZ(mu, x, y)
			if err != nil {
				t.Fatal(err)
			}
			return z - q
		}
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"rMumin", muMin, -3.124999999999986},
			{"rMumax", muMax, 5.555555555555557},
			{"rZqLower", zq, 1.9599639845400536},
			{"rFlower1", f(muMin, zq), 17.090968923762254},
			{"rFupper1", f(muMax, zq), -20.997687930433106},
			{"rFlower2", f(muMin, -zq), 21.01089689284236},
			{"rFupper2", f(muMax, -zq), -17.077759961353},
		} {
			if math.Abs(c.got-c.want) > e {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		}
		r, err := MannWhitney(x, y, 0.95)
		if err != nil {
			t.Fatal(err)
		}
		// Kayenta's solver answers lower 3.52e-5 > upper 2.02e-5, an
		// inverted interval, each within its tolerance of the true step at 0.
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"rCil", r.Lower, 3.521755377702165e-5}, {"rCiu", r.Upper, 2.02456461662334e-5}, {"rEst", r.Estimate, 2.6279243045155653e-5}} {
			if math.Abs(c.got-c.want) > brent || c.got != 0 {
				t.Errorf("%s = %v, want 0 (Kayenta's solver: %v ± %v)", c.name, c.got, c.want, brent)
			}
		}
	})
}

func ptr(v float64) *float64 { return &v }

// TestKayentaClassifierSuite ports ClassifierSuite.scala's Mann-Whitney
// cases, each case named as its Kayenta test. Its three "Mean Inequality
// Classifier" tests are not ported: that classifier is not part of
// NetflixACAJudge.
func TestKayentaClassifierSuite(t *testing.T) {
	type want struct {
		class    Classification
		critical bool
		// ratio: "nil" for Kayenta's NaN deviation, "1" for 1.0, "" unchecked.
		ratio string
	}
	mw := func(tol, conf float64) ClassifierOptions { return ClassifierOptions{Tolerance: tol, Confidence: conf} }
	cases := []struct {
		test   string
		opts   ClassifierOptions
		metric Metric
		want   want
		// deviation says where okra departs from Kayenta on purpose.
		deviation string
	}{
		{test: "Mann-Whitney Classifier Test: Pass Metric", opts: mw(0.10, 0.95), want: want{class: Pass}},
		{test: "Mann-Whitney Classifier Test: High Metric", opts: mw(0.10, 0.95), want: want{class: High}},
		{test: "Mann-Whitney Classifier Test: Low Metric", opts: mw(0.10, 0.95), want: want{class: Low}},
		{test: "Mann-Whitney Classifier Directional Test: Increase", opts: mw(0.10, 0.95), metric: Metric{Direction: Increase}, want: want{class: Pass}},
		{test: "Mann-Whitney Classifier Directional Test: Decrease", opts: mw(0.10, 0.95), metric: Metric{Direction: Decrease}, want: want{class: Pass}},
		{test: "Mann-Whitney Classifier Directional Test: High Metric", opts: mw(0.10, 0.95), metric: Metric{Direction: Increase}, want: want{class: High}},
		{test: "Mann-Whitney Classifier Directional Test: Low Metric", opts: mw(0.10, 0.95), metric: Metric{Direction: Decrease}, want: want{class: Low}},
		{test: "Mann-Whitney Classifier Test: High Metric (Large Input)", opts: mw(0.10, 0.95), want: want{class: High}},
		{test: "Mann-Whitney Classifier Test - Mean Ratio Effect Size: High", opts: mw(0.10, 0.95),
			metric: Metric{EffectSize: EffectSize{AllowedDecrease: ptr(0.8), AllowedIncrease: ptr(1.2)}}, want: want{class: High}},
		{test: "Mann-Whitney Classifier Test - Mean Ratio Effect Size: Low", opts: mw(0.10, 0.95),
			metric: Metric{Direction: Decrease, EffectSize: EffectSize{AllowedDecrease: ptr(0.8), AllowedIncrease: ptr(1.2)}}, want: want{class: Low}},
		{test: "Mann-Whitney Classifier Test - Mean Ratio Effect Size: Pass", opts: mw(0.10, 0.95),
			metric: Metric{NaNStrategy: Remove, EffectSize: EffectSize{AllowedDecrease: ptr(0.5), AllowedIncrease: ptr(1.0)}}, want: want{class: Pass}},
		{test: "Mann-Whitney Classifier Test - Mean Ratio Effect Size: Pass (Large Input)", opts: mw(0.10, 0.95),
			metric: Metric{EffectSize: EffectSize{AllowedDecrease: ptr(1.0), AllowedIncrease: ptr(5.0)}}, want: want{class: Pass}},
		{test: "Mann-Whitney Classifier Test - CLES Effect Size: Pass", opts: mw(0.20, 0.98),
			metric: Metric{EffectSize: EffectSize{Measure: CLES, AllowedDecrease: ptr(0.5), AllowedIncrease: ptr(0.8)}}, want: want{class: Pass}},
		{test: "Mann-Whitney Classifier Test - CLES Effect Size: High", opts: mw(0.20, 0.98),
			metric: Metric{EffectSize: EffectSize{Measure: CLES, AllowedDecrease: ptr(0.2), AllowedIncrease: ptr(0.8)}}, want: want{class: High}},
		{test: "Mann-Whitney Classifier Test - CLES Effect Size: Low", opts: mw(0.20, 0.98),
			metric: Metric{EffectSize: EffectSize{Measure: CLES, AllowedDecrease: ptr(0.2), AllowedIncrease: ptr(0.8)}}, want: want{class: Low}},
		{test: "Mann-Whitney Classifier Test - Critical Effect Size: Critical High", opts: mw(0.10, 0.95),
			metric: Metric{Critical: true, EffectSize: EffectSize{CriticalDecrease: ptr(1.0), CriticalIncrease: ptr(1.2)}}, want: want{class: High, critical: true}},
		{test: "Mann-Whitney Classifier Test - Critical Effect Size: Critical Low", opts: mw(0.10, 0.95),
			metric: Metric{Critical: true, EffectSize: EffectSize{CriticalDecrease: ptr(1.2), CriticalIncrease: ptr(1.0)}}, want: want{class: Low, critical: true}},
		{test: "Mann-Whitney Classifier Test - Critical Effect Size: High", opts: mw(0.10, 0.95),
			metric: Metric{Critical: true, EffectSize: EffectSize{AllowedDecrease: ptr(1.0), AllowedIncrease: ptr(5.0), CriticalDecrease: ptr(1.0), CriticalIncrease: ptr(13.0)}},
			want:   want{class: High}},
		{test: "Mann-Whitney Classifier Test - Critical Effect Size: Pass", opts: mw(0.10, 0.95),
			metric: Metric{Critical: true, EffectSize: EffectSize{AllowedDecrease: ptr(1.0), AllowedIncrease: ptr(13.0), CriticalDecrease: ptr(1.0), CriticalIncrease: ptr(15.0)}},
			want:   want{class: Pass}},
		{test: "Mann-Whitney Classifier Test - Critical Effect Size: Critical High (Default Thresholds)", opts: mw(0.10, 0.95),
			metric: Metric{Critical: true}, want: want{class: High, critical: true}},
		{test: "Mann-Whitney Tied Observations", opts: mw(0.10, 0.95), metric: Metric{Direction: Decrease}, want: want{class: Pass}},
		{test: "Mann-Whitney Identical Populations", opts: mw(0.10, 0.95), metric: Metric{Direction: Decrease}, want: want{class: Pass}},
		{test: "Mann-Whitney Leading Zero Identical Population", opts: mw(0.10, 0.95), metric: Metric{Direction: Decrease}, want: want{class: Pass}},
		{test: "Mann-Whitney Missing Experiment Data", opts: mw(0.10, 0.95), metric: Metric{Direction: Decrease}, want: want{class: Nodata, ratio: "nil"}},
		{test: "Mann-Whitney Missing Experiment Data: Critical Metric", opts: mw(0.10, 0.95),
			metric: Metric{Direction: Decrease, Critical: true}, want: want{class: Nodata, critical: true}},
		{test: "Mann-Whitney Missing Experiment Data with NaN Replacement", opts: mw(0.10, 0.95),
			metric: Metric{Direction: Decrease, NaNStrategy: Replace}, want: want{class: Nodata},
			deviation: "Kayenta expects Pass: with nanStrategy replace it passes a side with no data at all; issue 16 wants no data to give Nodata, never Pass"},
		{test: "Mann-Whitney Missing Data: Reason String", opts: mw(0.10, 0.95),
			metric: Metric{Direction: Decrease, Critical: true}, want: want{class: Nodata, critical: true}},
		{test: "Mann-Whitney Majority Tied Observations", opts: mw(0.10, 0.95), want: want{class: Pass}},
		{test: "Mann-Whitney Tied Ranks", opts: mw(0.10, 0.95), want: want{class: High}},
		{test: "Mann-Whitney Tied Ranks With Zeros", opts: mw(0.10, 0.95), want: want{class: High}},
		{test: "Mann-Whitney Zero Mean: High Metric with Effect Size", opts: mw(0.10, 0.95),
			metric: Metric{EffectSize: EffectSize{AllowedDecrease: ptr(0.8), AllowedIncrease: ptr(1.2)}}, want: want{class: High, ratio: "nil"}},
		{test: "Mann-Whitney Zero Mean: Low Metric with Effect Size", opts: mw(0.10, 0.95),
			metric: Metric{EffectSize: EffectSize{AllowedDecrease: ptr(0.8), AllowedIncrease: ptr(1.2)}}, want: want{class: Low, ratio: "nil"}},
		{test: "Mann-Whitney Zero Mean: Critical Metric", opts: mw(0.10, 0.95),
			metric: Metric{NaNStrategy: Replace, Critical: true, EffectSize: EffectSize{CriticalDecrease: ptr(0.8), CriticalIncrease: ptr(1.2)}},
			want:   want{class: High, critical: true}},
		{test: "Mann-Whitney Zero Mean: Pass Metric", opts: mw(0.10, 0.95),
			metric: Metric{EffectSize: EffectSize{AllowedDecrease: ptr(0.8), AllowedIncrease: ptr(1.2)}}, want: want{class: Pass, ratio: "1"}},
	}
	for _, c := range cases {
		t.Run(c.test, func(t *testing.T) {
			if c.deviation != "" {
				t.Log("deviation from Kayenta: " + c.deviation)
			}
			m := c.metric
			m.Name = "metric"
			s := Series{
				Canary: kayentaArray(t, classifierSuite, c.test, "experimentData"),
				Stable: kayentaArray(t, classifierSuite, c.test, "controlData"),
			}
			got, err := ClassifyMetric(m, c.opts, s)
			if err != nil {
				t.Fatal(err)
			}
			if got.Classification != c.want.class || got.Critical != c.want.critical {
				t.Errorf("got %s (critical %v), want %s (critical %v); reason %q, test %+v",
					got.Classification, got.Critical, c.want.class, c.want.critical, got.Reason, got.Test)
			}
			if got.Classification != Pass && got.Reason == "" {
				t.Errorf("%s without a reason", got.Classification)
			}
			switch c.want.ratio {
			case "nil":
				if got.Ratio != nil {
					t.Errorf("ratio %v, want none (Kayenta's NaN)", *got.Ratio)
				}
			case "1":
				if got.Ratio == nil || *got.Ratio != 1 {
					t.Errorf("ratio %v, want 1", got.Ratio)
				}
			}
		})
	}
}

const statisticSuite = "kayenta-judge/src/test/scala/com/netflix/kayenta/judge/StatisticSuite.scala"

// TestKayentaStatisticSuite ports StatisticSuite.scala's effect-size tests
// (mean ratio and CLES; Cohen's d and the summary statistics are not part of
// the judge).
func TestKayentaStatisticSuite(t *testing.T) {
	for _, c := range []struct {
		test    string
		measure EffectSizeMeasure
		want    float64 // NaN: undefined
		tol     float64
	}{
		{"Effect Size: Mean Ratio (No Effect)", MeanRatio, 1, 0},
		{"Effect Size: Mean Ratio (Summary Stats)", MeanRatio, 1, 0},
		{"Effect Size: Mean Ratio (High)", MeanRatio, 10, 0},
		{"Effect Size: Mean Ratio (Low)", MeanRatio, 0.1, 0},
		{"Effect Size: Mean Ratio (Zero Mean)", MeanRatio, math.NaN(), 0},
		{"CLES Effect Size: Identical", CLES, 0.5, 0},
		{"CLES Effect Size: Different (No Overlap)", CLES, 0, 0},
		{"CLES Effect Size: High Metric", CLES, 0.771, 0.001},
		{"CLES Effect Size: Low Metric", CLES, 0.12, 1e-12},
	} {
		t.Run(c.test, func(t *testing.T) {
			x := kayentaArray(t, statisticSuite, c.test, "experimentData")
			y := kayentaArray(t, statisticSuite, c.test, "controlData")
			var got float64
			if c.measure == MeanRatio {
				got = meanRatio(x, y)
			} else {
				r, err := MannWhitney(x, y, DefaultConfidence)
				if err != nil {
					t.Fatal(err)
				}
				got = cles(r)
			}
			if math.IsNaN(c.want) != math.IsNaN(got) || math.Abs(got-c.want) > c.tol {
				t.Errorf("%s = %v, want %v ± %v", c.measure, got, c.want, c.tol)
			}
		})
	}
}

// TestKayentaTransformSuite ports TransformSuite.scala's NaN tests (the
// outlier and noise transforms are not part of the judge).
func TestKayentaTransformSuite(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		test     string
		strategy NaNStrategy
		in, want []float64
	}{
		{"Remove Single NaN", Remove, []float64{0, 1, nan, 1, 0}, []float64{0, 1, 1, 0}},
		{"Remove Multiple NaN", Remove, []float64{nan, nan, nan}, []float64{}},
		{"Replace NANs", Replace, []float64{nan, 10.10, 20.20, 30.30, nan, 40.40}, []float64{0, 10.10, 20.20, 30.30, 0, 40.40}},
	} {
		t.Run(c.test, func(t *testing.T) {
			if got := applyNaNStrategy(c.strategy, c.in); !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

// TestKayentaScorerSuite ports ScorerSuite.scala, every test: metrics given
// as (name, classification, critical, groups), Kayenta's group weights and
// the summary score it expects.
func TestKayentaScorerSuite(t *testing.T) {
	type m struct {
		name     string
		class    Classification
		critical bool
		group    string
	}
	for _, c := range []struct {
		test    string
		weights map[string]float64
		metrics []m
		want    float64
		// groups: the group scores Kayenta's test checks, sorted; nil unchecked.
		groups []float64
	}{
		{test: "Weighted Sum Group Scorer: Single Metric Pass", metrics: []m{{"test-metric-pass", Pass, false, "test-group"}}, want: 100},
		{test: "Weighted Sum Group Scorer: Single Metric Fail", metrics: []m{{"test-metric-high", High, false, "test-group"}}, want: 0},
		{test: "Weighted Sum Group Scorer: Single group Nodata", metrics: []m{{"test-metric-nodata", Nodata, false, "test-group-nodata"}},
			want: 0, groups: []float64{0}},
		{test: "Weighted Sum Group Scorer: Two Groups, one Pass, one Nodata", metrics: []m{
			{"test-metric-pass1a", Pass, false, "test-group-pass"}, {"test-metric-pass1b", Pass, false, "test-group-pass"},
			{"test-metric-nodata", Nodata, false, "test-group-nodata"}}, want: 100, groups: []float64{0, 100}},
		{test: "Weighted Sum Group Scorer: One Group, Two Metrics", metrics: []m{
			{"test-metric-pass", Pass, false, "test-group"}, {"test-metric-high", High, false, "test-group"}}, want: 50},
		{test: "Weighted Sum Group Scorer: One Group, Three Metrics", metrics: []m{
			{"test-metric-pass", Pass, false, "test-group"}, {"test-metric-high", High, false, "test-group"},
			{"test-metric-low", Low, false, "test-group"}}, want: 33.33},
		{test: "Weighted Sum Group Scorer: Two Groups, Three Metrics", weights: map[string]float64{"group-1": 75, "group-2": 25}, metrics: []m{
			{"test-metric-pass-1", Pass, false, "group-1"}, {"test-metric-pass-2", Pass, false, "group-1"},
			{"test-metric-fail", High, false, "group-2"}}, want: 75},
		{test: "Weighted Sum Group Scorer: Two Groups, Three Metrics (Equal Weight)", weights: map[string]float64{"group-1": 50, "group-2": 50}, metrics: []m{
			{"test-metric-pass", Pass, false, "group-1"}, {"test-metric-fail-1", High, false, "group-1"},
			{"test-metric-fail-2", High, false, "group-2"}}, want: 25},
		{test: "Weighted Sum Group Scorer: Two Groups, Three Metrics (Equal Weight), one NoData", weights: map[string]float64{"group-1": 50, "group-2": 50}, metrics: []m{
			{"test-metric-pass", Pass, false, "group-1"}, {"test-metric-nodata", Nodata, false, "group-1"},
			{"test-metric-fail", High, false, "group-2"}}, want: 50},
		{test: "Weighted Sum Group Scorer: Two Metrics, one good (normal), one fail (critical)", metrics: []m{
			{"test-metric-pass", Pass, false, "test-group"}, {"test-metric-high", High, true, "test-group"}}, want: 0},
		{test: "Weighted Sum Group Scorer: Two Metrics, one low (normal), one good (critical)", metrics: []m{
			{"test-metric-low", Low, false, "test-group"}, {"test-metric-pass2", Pass, true, "test-group"}}, want: 50},
		{test: "Weighted Sum Group Scorer: Two Metrics, one good (normal), one nodata (critical)", metrics: []m{
			{"test-metric-pass", Pass, false, "test-group"}, {"test-metric-nodata", Nodata, true, "test-group"}}, want: 0},
		{test: "Weighted Sum Group Scorer: Two Groups (Unequal Weight), Four Metrics", weights: map[string]float64{"group1": 15, "group2": 85}, metrics: []m{
			{"test-metric-high", High, false, "group1"}, {"test-metric-low", Low, false, "group1"},
			{"test-metric-pass", Pass, false, "group1"}, {"test-metric-pass2", High, false, "group2"}}, want: 5},
	} {
		t.Run(c.test, func(t *testing.T) {
			var results []MetricResult
			for _, r := range c.metrics {
				results = append(results, MetricResult{Name: r.name, Classification: r.class, Critical: r.critical, Groups: []string{r.group}})
			}
			s := Score(results, c.weights)
			if s.Summary != c.want {
				t.Errorf("summary %v, want %v (groups %+v, reason %q)", s.Summary, c.want, s.Groups, s.Reason)
			}
			if c.groups != nil {
				var got []float64
				for _, g := range s.Groups {
					got = append(got, g.Score)
				}
				slices.Sort(got)
				if !slices.Equal(got, c.groups) {
					t.Errorf("group scores %v, want %v", got, c.groups)
				}
			}
		})
	}
}
