// Package analysis owns canary analysis: it turns Argo Rollouts-compatible
// analysis templates into a Run, takes measurements through metric
// providers and judges them with Argo Rollouts' rules (conditions,
// failureLimit, inconclusiveLimit, consecutiveErrorLimit,
// consecutiveSuccessLimit, count, interval, initialDelay, dryRun).
//
// There is no long-running process. A Run is plain, JSON-serializable data
// that travels through the rollout's Step Functions execution (or is stored
// in DynamoDB); each invocation of the check Lambda calls Step once, which
// takes the measurements that are due and says when the next one is
// (Run.NextAt) so that the state machine's Wait state can sleep until then.
// Start and Step read no clock: the caller passes now.
//
// The package does not talk to AWS or Datadog itself; providers do
// (subpackages cloudwatch and datadog implement Provider). It does not write
// history, set weights or decide rollbacks: StepResult lists every new
// measurement for the caller to record, and the run's phase for the rollout
// to act on.
//
// Where okra departs from Argo Rollouts, it does so on purpose:
//   - "No data" (an empty provider result) is Inconclusive, never
//     Successful, even when a condition such as default(result, 0) < 1
//     would pass; only an explicit failureCondition that is true for a nil
//     result turns it into Failed.
//   - A metric with neither successCondition nor failureCondition is
//     refused by Start (Argo counts every measurement as Successful).
//   - After a measurement error the next attempt backs off exponentially
//     from Argo's 10s (10s, 20s, 40s, ... capped at ErrorRetryMax) and
//     never sooner than a provider's Retry-After.
//   - A run whose metric ends in Error ends Failed: an outage that outlasts
//     consecutiveErrorLimit stops the rollout just as a failure does.
//   - Arguments passed to Start that a template does not declare may still
//     be used as {{args.NAME}}, so okra's built-in arguments need no
//     declaration.
package analysis
