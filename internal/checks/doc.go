// Package checks owns the rollout's canary analysis at the Lambda
// boundary: it turns an analysis step (or the Cell's background analysis)
// into the analysis state the rollout state machine carries at $.analysis,
// and implements the check-cloudwatch and check-datadog functions, which
// advance that state by one measurement round each.
//
// The analysis state is plain JSON:
//
//	{"background": false, "stepIndex": 2,
//	 "providers": {"cloudWatch": true, "datadog": false},
//	 "phase": "Running|Successful|Failed|Error|Inconclusive|Stopped",
//	 "message": "...", "waitSeconds": 30, "run": <analysis.Run>}
//
// The state machine waits waitSeconds, calls the check function of every
// provider flagged in providers, then branches on phase (AnalysisVerdict,
// BackgroundVerdict). Each check function measures only its own provider's
// metrics: the other provider's metrics are neither measured nor counted as
// errors there, and its own function measures them in the same round.
//
// What the package does:
//   - Starter resolves the step's template references (embedded
//     spec.analysisTemplates first, then shared templates from the store),
//     computes okra's built-in arguments (cell.Arg*: the Cell, the stable
//     and canary versions, the load balancer and the target groups of each
//     side as CloudWatch dimension values), merges the step's arguments and
//     starts an analysis.Run. It implements steps.AnalysisStarter.
//   - Checker reads the Cell status: it stops when the execution no
//     longer holds the Cell's lease (or, for a background analysis, when
//     the rollout's steps are over), otherwise it steps the
//     run with its one provider, writes every new measurement to the Cell's
//     history (query as sent, raw values, result, conditions, verdict,
//     error) and maps the run's phase onto the state. A background analysis
//     that turns out inconclusive asks the rollout to pause
//     (rollout.Status.PauseRequested) and starts afresh. A background
//     analysis whose startingStep is ahead starts in the first check after
//     the rollout reaches it; without a Discovery its target-group
//     arguments come from the status (the forward action and the
//     pre-rollout snapshot).
//
// Provider outages and throttling are never handler errors: the engine
// records them as Error measurements counted against
// consecutiveErrorLimit. Handler errors are DynamoDB or discovery failures
// (*TransientError when worth retrying), spec problems
// (*InvalidAnalysisError) and a state too large for a Step Functions
// payload (*StateTooLargeError).
//
// The package judges nothing itself (package analysis does), makes no
// rollout decisions (the state machine and package rollout do: Failed rolls
// back, Inconclusive waits for a human) and never logs or records Datadog
// keys.
package checks
