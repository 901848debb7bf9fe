package judge

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// NodataThreshold is the share of metrics, in percent, at or above which
// Nodata results fail the judgement (Kayenta's NODATA_THRESHOLD).
const NodataThreshold = 50

// GroupScore is one group's score: Pass / (Pass + High + Low + NodataFail) ×
// 100 over the group's unmuted metrics. NoData: none of them counted (all
// Nodata); such a group scores 0 but weighs in the summary as 100, as
// Kayenta's does.
type GroupScore struct {
	Name    string                 `json:"name"`
	Score   float64                `json:"score"`
	NoData  bool                   `json:"noData,omitempty"`
	Counts  map[Classification]int `json:"counts"`
	Metrics int                    `json:"metrics"`
}

// Scores is Kayenta's WeightedSumScorer's result.
type Scores struct {
	// Summary is the weighted sum of the group scores, 0 to 100, rounded to
	// two decimals; 0 when Reason says why the judgement failed outright.
	Summary float64      `json:"summary"`
	Groups  []GroupScore `json:"groups"`
	// Reason is set when a critical metric failed or too many metrics had
	// no data.
	Reason string `json:"reason,omitempty"`
}

// Score weighs the unmuted results' group scores as Kayenta's
// WeightedSumScorer does. weights gives a group its share of 100; groups
// without one share what the weights leave. The summary is 0 when a critical
// metric failed (a result with Critical set, not Pass) or NodataThreshold percent or
// more of the results are Nodata.
func Score(results []MetricResult, weights map[string]float64) Scores {
	var scored []MetricResult
	for _, r := range results {
		if !r.Muted {
			scored = append(scored, r)
		}
	}
	s := Scores{Groups: groupScores(scored)}
	nodata := 0
	for _, r := range scored {
		if r.Critical && r.Classification != Pass && s.Reason == "" {
			s.Reason = fmt.Sprintf("critical metric %s is %s: %s", r.Name, r.Classification, r.Reason)
		}
		if r.Classification == Nodata {
			nodata++
		}
	}
	if s.Reason != "" {
		return s
	}
	if len(scored) == 0 || float64(nodata)/float64(len(scored))*100 >= NodataThreshold {
		s.Reason = fmt.Sprintf("%d of %d metrics have no data (%d%% or more fails the judgement)", nodata, len(scored), NodataThreshold)
		return s
	}
	given := 0.0
	unweighted := 0
	for _, g := range s.Groups {
		if w, ok := weights[g.Name]; ok {
			given += w
		} else {
			unweighted++
		}
	}
	share := 0.0
	if unweighted > 0 {
		share = (100 - given) / float64(unweighted)
	}
	sum := 0.0
	for _, g := range s.Groups {
		w, ok := weights[g.Name]
		if !ok {
			w = share
		}
		effective := g.Score
		if g.NoData {
			effective = 100
		}
		sum += effective * w / 100
	}
	s.Summary = round2(sum)
	return s
}

// round2 rounds a non-negative x to two decimals, half up on its shortest
// decimal form, as Kayenta's Precision.round(x, 2) does (33.335 is 33.34,
// though the double nearest 33.335 is below it).
func round2(x float64) float64 {
	s := strconv.FormatFloat(x, 'f', -1, 64)
	dot := strings.IndexByte(s, '.')
	if dot < 0 || len(s)-dot-1 <= 2 {
		return x
	}
	v, _ := strconv.ParseFloat(s[:dot+3], 64)
	if s[dot+3] >= '5' {
		v, _ = strconv.ParseFloat(strconv.FormatFloat(v+0.01, 'f', 2, 64), 64)
	}
	return v
}

func groupScores(results []MetricResult) []GroupScore {
	byName := map[string]*GroupScore{}
	for _, r := range results {
		for _, name := range r.Groups {
			g := byName[name]
			if g == nil {
				g = &GroupScore{Name: name, Counts: map[Classification]int{}}
				byName[name] = g
			}
			g.Counts[r.Classification]++
			g.Metrics++
		}
	}
	out := make([]GroupScore, 0, len(byName))
	for _, g := range byName {
		counted := g.Counts[Pass] + g.Counts[High] + g.Counts[Low] + g.Counts[NodataFail]
		if counted == 0 {
			g.NoData = true
		} else {
			g.Score = float64(g.Counts[Pass]) / float64(counted) * 100
		}
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b GroupScore) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Outcome is a judgement's verdict.
type Outcome string

const (
	// OutcomePass: the canary may proceed.
	OutcomePass Outcome = "Pass"
	// OutcomeMarginal: neither clearly good nor bad; issue 16 has a human
	// decide (not wired yet).
	OutcomeMarginal Outcome = "Marginal"
	// OutcomeFail: the canary should be rolled back.
	OutcomeFail Outcome = "Fail"
)

// Default score thresholds (Kayenta's scoreThresholds).
const (
	DefaultPassScore     = 95
	DefaultMarginalScore = 75
)

// Thresholds are the summary scores a verdict needs: Pass at or above Pass,
// Marginal at or above Marginal, else Fail. Nil means the default.
type Thresholds struct {
	Pass     *float64 `json:"pass,omitempty"`
	Marginal *float64 `json:"marginal,omitempty"`
}

func (t Thresholds) values() (pass, marginal float64) {
	pass, marginal = DefaultPassScore, DefaultMarginalScore
	if t.Pass != nil {
		pass = *t.Pass
	}
	if t.Marginal != nil {
		marginal = *t.Marginal
	}
	return pass, marginal
}

// ClassifyScore is Kayenta's ThresholdScoreClassifier.
func ClassifyScore(score float64, t Thresholds) Outcome {
	pass, marginal := t.values()
	switch {
	case score >= pass:
		return OutcomePass
	case score >= marginal:
		return OutcomeMarginal
	default:
		return OutcomeFail
	}
}
