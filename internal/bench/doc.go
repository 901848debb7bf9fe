// Package bench measures okra against the local emulator and renders the
// report in docs/benchmarks.md: AWS API calls per reconcile next to the
// lower bound the APIs allow, the Step Functions state transitions,
// Lambda invocations and AWS calls of a rollout (and what they cost at
// list prices), okra's own overhead from a new cluster to the first
// weight change, each function's binary size and cold start, and the Go
// micro-benchmarks of the planner and weights.
//
// Its figures are counts and ratios from one run. Wall-clock figures are
// reported too, labelled as noisy: nothing here fails on timing. It is
// run by cmd/okra-bench (`make bench`); it starts and stops every emulator
// it needs and is never part of a deployed Lambda.
package bench
