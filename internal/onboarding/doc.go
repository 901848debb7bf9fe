// Package onboarding holds the handlers of three Lambda functions that keep
// okra's view of EKS clusters and Cells in step with AWS:
//
//   - ClusterEvents (cluster-events): an EKS CreateCluster, TagResource,
//     UntagResource or DeleteCluster call recorded by CloudTrail. A created
//     cluster is awaited until ACTIVE (bounded); then, for every valid Cell
//     whose clusterSelector matches the cluster's tags, its target group is
//     ensured, the cluster is registered in ArgoCD with the target-group
//     ARNs per Cell and recorded in the store's cluster registry, and each
//     affected Cell is evaluated. A deleted cluster's target groups are
//     deleted once that is safe.
//   - Reconcile (reconcile): the EventBridge schedule. The same, for every
//     cluster and Cell from scratch, plus the clean-up of what deleted
//     clusters left behind. A run with nothing to change makes no mutating
//     call.
//   - ConfigChange (config-change): Cell spec items from the table's
//     DynamoDB stream. An invalid spec is recorded on the Cell's status; a
//     valid one reconciles that Cell.
//
// Evaluating a Cell means discovering its target groups, reading its
// listener, and acting on the rollout planner's decision: start the rollout
// execution (deterministically named, so duplicates are no-ops), set the
// weights at once for a first deployment, a pinned rollback or a re-split,
// or explain in the Cell's status why nothing happens.
//
// Every handler is idempotent: events arrive at least once and may arrive
// together, and a duplicate never creates a second target group, ArgoCD
// secret or rollout execution. Errors are typed at the Lambda boundary: a
// *TransientError (throttling, an AWS or Kubernetes outage, a lost write
// race) fails the invocation so it is retried; a created cluster that does
// not turn ACTIVE in time is a *ClusterNotActiveError; malformed or foreign
// events are logged with the reason and acknowledged, never retried.
//
// The package decides when to create, register, evaluate and clean up; it
// owns none of the mechanisms. Target groups are internal/targetgroups',
// weights internal/listener's, decisions internal/rollout's, ArgoCD secrets
// internal/argocd's, state internal/store's, executions
// internal/executions'. It reaches each through a narrow port so the
// handlers run against fakes in unit tests and against the emulator in
// integration tests.
package onboarding
