package judge_test

import (
	"fmt"
	"math"

	"github.com/okrahq/okra/internal/judge"
)

// A provider fetches, per metric, the canary's and stable's value per period
// over the same window and step (NaN where a period has none) and calls
// Judge with them.
func ExampleJudge() {
	cfg := judge.Config{Metrics: []judge.Metric{
		{Name: "5xx-ratio", Groups: []string{"errors"}, Direction: judge.Increase},
		{Name: "p99-latency", Groups: []string{"latency"}, Direction: judge.Increase},
	}}
	nan := math.NaN()
	series := map[string]judge.Series{
		"5xx-ratio": {
			Canary: []float64{0.010, 0.012, 0.009, 0.011, 0.010, 0.013, 0.008, 0.011},
			Stable: []float64{0.011, 0.010, 0.012, 0.009, 0.011, 0.010, 0.012, nan},
		},
		"p99-latency": {
			Canary: []float64{0.33, 0.31, 0.35, 0.30, 0.34, 0.32, 0.36, 0.33},
			Stable: []float64{0.20, 0.21, 0.19, 0.22, 0.20, 0.21, 0.18, 0.20},
		},
	}
	v, err := judge.Judge(cfg, series)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range v.Metrics {
		fmt.Printf("%s: %s", m.Name, m.Classification)
		if m.Test != nil {
			fmt.Printf(", estimate %.3f in [%.3f, %.3f]", m.Test.Estimate, m.Test.Lower, m.Test.Upper)
		}
		fmt.Println()
	}
	for _, g := range v.Groups {
		fmt.Printf("group %s: %g\n", g.Name, g.Score)
	}
	fmt.Printf("%s at %g (pass %g, marginal %g)\n", v.Outcome, v.Score, v.Thresholds.Pass, v.Thresholds.Marginal)
	// Output:
	// 5xx-ratio: Pass, estimate 0.000 in [-0.002, 0.002]
	// p99-latency: High, estimate 0.130 in [0.100, 0.150]
	// group errors: 100
	// group latency: 0
	// Fail at 50 (pass 95, marginal 75)
}
