// Package judge owns the canary judge's statistics: it compares, metric by
// metric, a canary's series with the stable side's series taken over the
// same window and step, and turns the comparisons into a score and a
// verdict, as Spinnaker Kayenta's NetflixACAJudge does.
//
// Three layers, each usable on its own:
//
//   - MannWhitney: the two-sided Mann-Whitney U test of canary against
//     stable (normal approximation with tie and continuity correction, as
//     scipy.stats.mannwhitneyu's method="asymptotic"), the Hodges-Lehmann
//     estimate of the shift canary − stable, and its confidence interval
//     (kayenta-mannwhitney's asymptotic interval);
//   - ClassifyMetric: one metric's classification (Pass, High, Low, Nodata,
//     NodataFail) from the interval, a tolerance band around the estimate,
//     the metric's direction and effect-size thresholds (Kayenta's
//     MannWhitneyClassifier);
//   - Score and ClassifyScore: the weighted group score (Kayenta's
//     WeightedSumScorer) and the Pass/Marginal/Fail verdict
//     (ThresholdScoreClassifier).
//
// Judge runs the three over a Config and one pair of series per metric;
// that is the entry point a metrics provider calls.
//
// The package is pure computation: it fetches no metrics, reads no clock and
// holds no state; it must not call AWS or Datadog, nor decide what a verdict
// does to a rollout. Series values are whatever the provider measured per
// period (a 5xx ratio, a latency percentile); NaN marks a period without a
// value and is handled by the metric's NaN strategy.
package judge
