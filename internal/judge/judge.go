package judge

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Series is one metric's two sides over the same window and step: one value
// per period, NaN for a period without one.
type Series struct {
	Canary []float64 `json:"canary"`
	Stable []float64 `json:"stable"`
}

// Config is a judgement's configuration (Kayenta's canary config with the
// NetflixACAJudge's parameters). Zero values are the defaults.
type Config struct {
	Metrics []Metric `json:"metrics"`
	// GroupWeights gives groups their share of the summary score, in
	// percent; groups without a weight share what is left.
	GroupWeights map[string]float64 `json:"groupWeights,omitempty"`
	// Tolerance is the band's width as a fraction of |estimate|; nil is
	// DefaultTolerance.
	Tolerance *float64 `json:"tolerance,omitempty"`
	// Confidence of each metric's interval; 0 is DefaultConfidence.
	Confidence float64    `json:"confidence,omitempty"`
	Thresholds Thresholds `json:"thresholds,omitempty"`
}

// Validate reports every problem in c, each naming its field path
// (metrics[1].direction, groupWeights["latency"], thresholds.marginal).
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{path}, args...)...))
	}
	if len(c.Metrics) == 0 {
		bad("metrics", "at least one metric is required")
	}
	names := map[string]int{}
	groups := map[string]bool{}
	unmuted := 0
	for i, m := range c.Metrics {
		p := fmt.Sprintf("metrics[%d]", i)
		if m.Name == "" {
			bad(p+".name", "must not be empty")
		} else if j, dup := names[m.Name]; dup {
			bad(p+".name", "%q is also the name of metrics[%d]", m.Name, j)
		} else {
			names[m.Name] = i
		}
		if !m.Muted {
			unmuted++
		}
		for j, g := range m.Groups {
			if g == "" {
				bad(fmt.Sprintf("%s.groups[%d]", p, j), "must not be empty")
			}
		}
		for _, g := range groupsOf(m) {
			groups[g] = true
		}
		switch m.Direction {
		case "", Increase, Decrease, Either:
		default:
			bad(p+".direction", "must be increase, decrease or either, got %q", m.Direction)
		}
		switch m.NaNStrategy {
		case "", Remove, Replace:
		default:
			bad(p+".nanStrategy", "must be remove or replace, got %q", m.NaNStrategy)
		}
		measure := m.EffectSize.Measure
		switch measure {
		case "", MeanRatio, CLES:
		default:
			bad(p+".effectSize.measure", "must be meanRatio or cles, got %q", measure)
		}
		for _, f := range []struct {
			name string
			v    *float64
		}{
			{"allowedIncrease", m.EffectSize.AllowedIncrease}, {"allowedDecrease", m.EffectSize.AllowedDecrease},
			{"criticalIncrease", m.EffectSize.CriticalIncrease}, {"criticalDecrease", m.EffectSize.CriticalDecrease},
		} {
			if f.v == nil {
				continue
			}
			v := *f.v
			switch {
			case math.IsNaN(v) || math.IsInf(v, 0):
				bad(p+".effectSize."+f.name, "must be a finite number, got %v", v)
			case measure == CLES && (v < 0 || v > 1):
				bad(p+".effectSize."+f.name, "a CLES is a share of pairs, between 0 and 1; got %v", v)
			case measure != CLES && v <= 0:
				bad(p+".effectSize."+f.name, "a mean ratio must be greater than 0, got %v", v)
			}
		}
	}
	if len(c.Metrics) > 0 && unmuted == 0 {
		bad("metrics", "every metric is muted: nothing would be scored")
	}
	sum, weighted := 0.0, 0
	for _, g := range sortedKeys(c.GroupWeights) {
		w := c.GroupWeights[g]
		p := fmt.Sprintf("groupWeights[%q]", g)
		switch {
		case !groups[g]:
			bad(p, "no metric is in group %q", g)
		case math.IsNaN(w) || math.IsInf(w, 0) || w < 0:
			bad(p, "must be a number from 0 to 100, got %v", w)
		default:
			sum += w
			weighted++
		}
	}
	if sum > 100+1e-9 {
		bad("groupWeights", "weights add up to %v, more than 100", sum)
	} else if weighted == len(groups) && weighted > 0 && math.Abs(sum-100) > 1e-9 {
		bad("groupWeights", "every group has a weight but they add up to %v, not 100: no canary could score 100", sum)
	}
	if c.Tolerance != nil && (math.IsNaN(*c.Tolerance) || math.IsInf(*c.Tolerance, 0) || *c.Tolerance < 0) {
		bad("tolerance", "must be a number ≥ 0, got %v", *c.Tolerance)
	}
	if c.Confidence != 0 && !(c.Confidence > 0 && c.Confidence < 1) {
		bad("confidence", "must be between 0 and 1 exclusive, got %v", c.Confidence)
	}
	pass, marginal := c.Thresholds.values()
	for _, f := range []struct {
		name string
		v    float64
	}{{"thresholds.pass", pass}, {"thresholds.marginal", marginal}} {
		if math.IsNaN(f.v) || f.v < 0 || f.v > 100 {
			bad(f.name, "must be a score from 0 to 100, got %v", f.v)
		}
	}
	if marginal > pass {
		bad("thresholds.marginal", "%v is above thresholds.pass %v", marginal, pass)
	}
	return errors.Join(errs...)
}

// Options returns the classifier's options with the defaults filled in.
func (c Config) Options() ClassifierOptions {
	o := DefaultClassifierOptions()
	if c.Tolerance != nil {
		o.Tolerance = *c.Tolerance
	}
	if c.Confidence != 0 {
		o.Confidence = c.Confidence
	}
	return o
}

// Verdict is a judgement: the outcome, its score and every metric's result.
type Verdict struct {
	Outcome Outcome `json:"outcome"`
	// Score is the summary score, 0 to 100.
	Score float64 `json:"score"`
	// Reason is set when the score was forced to 0 (a critical metric
	// failed, or too many metrics had no data).
	Reason string `json:"reason,omitempty"`
	// Thresholds are the pass and marginal scores the outcome used.
	Thresholds ScoreThresholds `json:"thresholds"`
	Groups     []GroupScore    `json:"groups"`
	Metrics    []MetricResult  `json:"metrics"`
}

// ScoreThresholds are the resolved Thresholds.
type ScoreThresholds struct {
	Pass     float64 `json:"pass"`
	Marginal float64 `json:"marginal"`
}

// Judge classifies every metric of c from its series, scores the results
// and classifies the score. series must hold exactly the metrics of c, each
// side at most MaxPoints values and no infinity; it returns an error naming
// the field otherwise, and judges nothing.
func Judge(c Config, series map[string]Series) (Verdict, error) {
	if err := c.Validate(); err != nil {
		return Verdict{}, err
	}
	if err := checkSeries(c, series); err != nil {
		return Verdict{}, err
	}
	opts := c.Options()
	v := Verdict{Metrics: make([]MetricResult, 0, len(c.Metrics))}
	for _, m := range c.Metrics {
		r, err := ClassifyMetric(m, opts, series[m.Name])
		if err != nil {
			return Verdict{}, err
		}
		v.Metrics = append(v.Metrics, r)
	}
	s := Score(v.Metrics, c.GroupWeights)
	v.Score, v.Reason, v.Groups = s.Summary, s.Reason, s.Groups
	v.Outcome = ClassifyScore(v.Score, c.Thresholds)
	v.Thresholds.Pass, v.Thresholds.Marginal = c.Thresholds.values()
	return v, nil
}

func checkSeries(c Config, series map[string]Series) error {
	var errs []error
	known := map[string]bool{}
	for _, m := range c.Metrics {
		known[m.Name] = true
		s, ok := series[m.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("series[%q]: missing: every metric needs its series, empty when there was no data", m.Name))
			continue
		}
		for _, side := range []struct {
			name string
			xs   []float64
		}{{"canary", s.Canary}, {"stable", s.Stable}} {
			p := fmt.Sprintf("series[%q].%s", m.Name, side.name)
			if len(side.xs) > MaxPoints {
				errs = append(errs, fmt.Errorf("%s: %d values, more than the %d a side may hold", p, len(side.xs), MaxPoints))
			}
			if i := slices.IndexFunc(side.xs, func(x float64) bool { return math.IsInf(x, 0) }); i >= 0 {
				errs = append(errs, fmt.Errorf("%s[%d]: %v is not a measurement (NaN marks a period without one)", p, i, side.xs[i]))
			}
		}
	}
	for _, name := range sortedKeys(series) {
		if !known[name] {
			errs = append(errs, fmt.Errorf("series[%q]: no metric of that name in the config", name))
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
