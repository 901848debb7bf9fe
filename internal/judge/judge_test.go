package judge

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	ok := Metric{Name: "p99"}
	for _, c := range []struct {
		name string
		cfg  Config
		want []string // substrings, each must appear
	}{
		{"no metrics", Config{}, []string{"metrics: at least one metric"}},
		{"unnamed", Config{Metrics: []Metric{{}}}, []string{"metrics[0].name: must not be empty"}},
		{"duplicate", Config{Metrics: []Metric{ok, ok}}, []string{`metrics[1].name: "p99" is also the name of metrics[0]`}},
		{"direction", Config{Metrics: []Metric{{Name: "a", Direction: "up"}}}, []string{`metrics[0].direction: must be increase, decrease or either, got "up"`}},
		{"nanStrategy", Config{Metrics: []Metric{{Name: "a", NaNStrategy: "drop"}}}, []string{`metrics[0].nanStrategy: must be remove or replace`}},
		{"measure", Config{Metrics: []Metric{{Name: "a", EffectSize: EffectSize{Measure: "cohen"}}}}, []string{`metrics[0].effectSize.measure`}},
		{"ratio ≤ 0", Config{Metrics: []Metric{{Name: "a", EffectSize: EffectSize{AllowedIncrease: ptr(0)}}}}, []string{"metrics[0].effectSize.allowedIncrease: a mean ratio must be greater than 0"}},
		{"cles > 1", Config{Metrics: []Metric{{Name: "a", EffectSize: EffectSize{Measure: CLES, CriticalIncrease: ptr(1.5)}}}}, []string{"metrics[0].effectSize.criticalIncrease: a CLES is a share"}},
		{"NaN threshold", Config{Metrics: []Metric{{Name: "a", EffectSize: EffectSize{AllowedDecrease: ptr(math.NaN())}}}}, []string{"metrics[0].effectSize.allowedDecrease: must be a finite number"}},
		{"empty group", Config{Metrics: []Metric{{Name: "a", Groups: []string{"x", ""}}}}, []string{"metrics[0].groups[1]: must not be empty"}},
		{"all muted", Config{Metrics: []Metric{{Name: "a", Muted: true}}}, []string{"every metric is muted"}},
		{"unknown group weight", Config{Metrics: []Metric{ok}, GroupWeights: map[string]float64{"latency": 50}}, []string{`groupWeights["latency"]: no metric is in group "latency"`}},
		{"negative weight", Config{Metrics: []Metric{{Name: "a", Groups: []string{"g"}}}, GroupWeights: map[string]float64{"g": -1}}, []string{`groupWeights["g"]: must be a number from 0 to 100`}},
		{"weights over 100", Config{Metrics: []Metric{{Name: "a", Groups: []string{"g"}}, {Name: "b", Groups: []string{"h"}}}, GroupWeights: map[string]float64{"g": 60, "h": 50}},
			[]string{"groupWeights: weights add up to 110, more than 100"}},
		{"weights under 100", Config{Metrics: []Metric{{Name: "a", Groups: []string{"g"}}, {Name: "b", Groups: []string{"h"}}}, GroupWeights: map[string]float64{"g": 40, "h": 50}},
			[]string{"groupWeights: every group has a weight but they add up to 90"}},
		{"tolerance", Config{Metrics: []Metric{ok}, Tolerance: ptr(-0.1)}, []string{"tolerance: must be a number ≥ 0"}},
		{"confidence", Config{Metrics: []Metric{ok}, Confidence: 1.2}, []string{"confidence: must be between 0 and 1"}},
		{"pass over 100", Config{Metrics: []Metric{ok}, Thresholds: Thresholds{Pass: ptr(101)}}, []string{"thresholds.pass: must be a score from 0 to 100"}},
		{"marginal over pass", Config{Metrics: []Metric{ok}, Thresholds: Thresholds{Pass: ptr(80), Marginal: ptr(90)}}, []string{"thresholds.marginal: 90 is above thresholds.pass 80"}},
		{"every problem at once", Config{Metrics: []Metric{{Name: "a", Direction: "up"}, {}}, Confidence: -1},
			[]string{"metrics[0].direction", "metrics[1].name", "confidence"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if err == nil {
				t.Fatal("valid, want an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	good := Config{
		Metrics:      []Metric{{Name: "a", Groups: []string{"g"}}, {Name: "b", Groups: []string{"h"}, Muted: true}, {Name: "c"}},
		GroupWeights: map[string]float64{"g": 70, "h": 30},
		Tolerance:    ptr(0), Confidence: 0.95, Thresholds: Thresholds{Pass: ptr(90), Marginal: ptr(90)},
	}
	if err := good.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestJudgeRejectsBadSeries(t *testing.T) {
	cfg := Config{Metrics: []Metric{{Name: "p99"}, {Name: "5xx"}}}
	ok := Series{Canary: []float64{1, 2}, Stable: []float64{1, 2}}
	for _, c := range []struct {
		name   string
		series map[string]Series
		want   string
	}{
		{"missing", map[string]Series{"p99": ok}, `series["5xx"]: missing`},
		{"unknown", map[string]Series{"p99": ok, "5xx": ok, "p50": ok}, `series["p50"]: no metric of that name`},
		{"infinity", map[string]Series{"p99": ok, "5xx": {Canary: []float64{1, math.Inf(-1)}, Stable: []float64{1}}}, `series["5xx"].canary[1]: -Inf is not a measurement`},
		{"too long", map[string]Series{"p99": {Canary: []float64{1}, Stable: make([]float64, MaxPoints+1)}, "5xx": ok}, `series["p99"].stable: 1441 values`},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := Judge(cfg, c.series)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
			if v.Outcome != "" || v.Metrics != nil {
				t.Errorf("a verdict with the error: %+v", v)
			}
		})
	}
	if _, err := Judge(Config{}, nil); err == nil || !strings.Contains(err.Error(), "metrics: at least one") {
		t.Errorf("invalid config: error %v", err)
	}
}

// TestClassifyScore follows ThresholdScoreClassifier.scala: Pass at or above
// pass, Marginal at or above marginal, else Fail.
func TestClassifyScore(t *testing.T) {
	for _, c := range []struct {
		score float64
		t     Thresholds
		want  Outcome
	}{
		{100, Thresholds{}, OutcomePass},
		{95, Thresholds{}, OutcomePass},
		{94.99, Thresholds{}, OutcomeMarginal},
		{75, Thresholds{}, OutcomeMarginal},
		{74.99, Thresholds{}, OutcomeFail},
		{0, Thresholds{}, OutcomeFail},
		{80, Thresholds{Pass: ptr(80), Marginal: ptr(50)}, OutcomePass},
		{50, Thresholds{Pass: ptr(80), Marginal: ptr(50)}, OutcomeMarginal},
		{60, Thresholds{Pass: ptr(70), Marginal: ptr(70)}, OutcomeFail},
	} {
		if got := ClassifyScore(c.score, c.t); got != c.want {
			t.Errorf("ClassifyScore(%v, %+v) = %s, want %s", c.score, c.t, got, c.want)
		}
	}
}

// albSeries simulates a minute of ALB metrics per period for one target
// group: the 5xx ratio (HTTPCode_Target_5XX_Count / RequestCount) and the p99
// of TargetResponseTime, with latency scaled by slow.
func albSeries(rng *rand.Rand, periods int, errRate, p99, slow float64) (ratio5xx, latency []float64) {
	for i := 0; i < periods; i++ {
		requests := 600 + rng.IntN(200)
		errs := 0
		for j := 0; j < requests; j++ {
			if rng.Float64() < errRate {
				errs++
			}
		}
		ratio5xx = append(ratio5xx, float64(errs)/float64(requests))
		latency = append(latency, p99*slow*math.Exp(0.1*rng.NormFloat64()))
	}
	return ratio5xx, latency
}

// TestJudgeSlowCanary is issue 16's slow-canary scenario on simulated
// per-period metrics: the canary's p99 latency is 1.6 × stable's, its 5xx
// rate the same. The 5xx metric passes, the latency metric is High, the
// score is 50 and the verdict Fail; a canary like stable passes with 100.
func TestJudgeSlowCanary(t *testing.T) {
	cfg := Config{Metrics: []Metric{
		{Name: "5xx-ratio", Groups: []string{"errors"}, Direction: Increase},
		{Name: "p99-latency", Groups: []string{"latency"}, Direction: Increase},
	}}
	rng := rand.New(rand.NewPCG(16, 1))
	for _, c := range []struct {
		name    string
		slow    float64
		want    Outcome
		score   float64
		latency Classification
	}{
		{"slow canary", 1.6, OutcomeFail, 50, High},
		{"healthy canary", 1, OutcomePass, 100, Pass},
	} {
		t.Run(c.name, func(t *testing.T) {
			c5, cl := albSeries(rng, 30, 0.01, 0.2, c.slow)
			s5, sl := albSeries(rng, 30, 0.01, 0.2, 1)
			v, err := Judge(cfg, map[string]Series{"5xx-ratio": {Canary: c5, Stable: s5}, "p99-latency": {Canary: cl, Stable: sl}})
			if err != nil {
				t.Fatal(err)
			}
			if v.Outcome != c.want || v.Score != c.score || v.Metrics[0].Classification != Pass || v.Metrics[1].Classification != c.latency {
				t.Errorf("got %s %v, 5xx %s, latency %s (%s); want %s %v, 5xx Pass, latency %s",
					v.Outcome, v.Score, v.Metrics[0].Classification, v.Metrics[1].Classification, v.Metrics[1].Reason, c.want, c.score, c.latency)
			}
			lat := v.Metrics[1]
			if lat.Test == nil || lat.Ratio == nil {
				t.Fatalf("latency result without test or ratio: %+v", lat)
			}
			if c.slow > 1 && (lat.Test.Lower <= 0 || *lat.Ratio < 1.4 || *lat.Ratio > 1.8) {
				t.Errorf("latency: interval [%v, %v], ratio %v; want above 0 and about 1.6", lat.Test.Lower, lat.Test.Upper, *lat.Ratio)
			}
			if _, err := json.Marshal(v); err != nil {
				t.Errorf("verdict does not marshal: %v", err)
			}
		})
	}
}

func TestJudgeNodataAndCritical(t *testing.T) {
	nan := math.NaN()
	same := Series{Canary: []float64{1, 2, 3, 4}, Stable: []float64{4, 3, 2, 1}}
	high := Series{Canary: []float64{20, 22, 21, 25, 30}, Stable: []float64{1, 2.2, 1.1, 2.5, 3}}
	none := Series{Canary: []float64{nan, nan}, Stable: []float64{1}}
	for _, c := range []struct {
		name    string
		metrics []Metric
		series  map[string]Series
		want    Outcome
		score   float64
		reason  string
	}{
		{"half the metrics without data", []Metric{{Name: "a"}, {Name: "b"}},
			map[string]Series{"a": same, "b": none}, OutcomeFail, 0, "1 of 2 metrics have no data"},
		{"a third without data", []Metric{{Name: "a"}, {Name: "b"}, {Name: "c"}},
			map[string]Series{"a": same, "b": same, "c": none}, OutcomePass, 100, ""},
		{"mustHaveData counts against the group", []Metric{{Name: "a"}, {Name: "b"}, {Name: "c", MustHaveData: true}},
			map[string]Series{"a": same, "b": same, "c": none}, OutcomeFail, 66.67, ""},
		{"critical metric High", []Metric{{Name: "a"}, {Name: "b"}, {Name: "c", Critical: true}},
			map[string]Series{"a": same, "b": same, "c": high}, OutcomeFail, 0, "critical metric c is High"},
		{"critical metric without data", []Metric{{Name: "a"}, {Name: "b"}, {Name: "c", Critical: true}},
			map[string]Series{"a": same, "b": same, "c": none}, OutcomeFail, 0, "critical metric c is Nodata"},
		{"muted High does not count", []Metric{{Name: "a"}, {Name: "c", Muted: true}},
			map[string]Series{"a": same, "c": high}, OutcomePass, 100, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := Judge(Config{Metrics: c.metrics}, c.series)
			if err != nil {
				t.Fatal(err)
			}
			if v.Outcome != c.want || v.Score != c.score || !strings.Contains(v.Reason, c.reason) {
				t.Errorf("got %s %v %q, want %s %v %q", v.Outcome, v.Score, v.Reason, c.want, c.score, c.reason)
			}
			if len(v.Metrics) != len(c.metrics) {
				t.Errorf("%d metric results, want %d (muted ones are reported too)", len(v.Metrics), len(c.metrics))
			}
		})
	}
}

func TestRound2(t *testing.T) {
	for _, c := range [][2]float64{{100.0 / 3, 33.33}, {200.0 / 3, 66.67}, {33.335, 33.34}, {0.125, 0.13}, {99.994999, 99.99}, {99.995, 100}, {75, 75}, {0, 0}} {
		if got := round2(c[0]); got != c[1] {
			t.Errorf("round2(%v) = %v, want %v", c[0], got, c[1])
		}
	}
}
