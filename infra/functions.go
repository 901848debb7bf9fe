package main

import (
	"time"
)

// access names one thing a function may do in AWS. Each maps to IAM
// statements (permissions.go) and, for some, environment variables
// (stack.go). A function's role gets exactly the statements of its
// accesses, so this table is okra's IAM policy in one place; the tests
// check the synthesized roles against it and docs/deploy.md renders it.
type access string

const (
	// readStore: GetItem and Query on the table and its index.
	readStore access = "readStore"
	// writeStore: PutItem and UpdateItem on the table (status, history,
	// blocks, the cluster registry; every write is conditional).
	writeStore access = "writeStore"
	// deleteStoreItems: DeleteItem (cluster records of deleted clusters).
	deleteStoreItems access = "deleteStoreItems"
	// readLoadBalancers: the ELBv2 Describe* calls okra makes (listeners,
	// rules, tags, target groups, target health) and tag:GetResources,
	// with which discovery finds a Cell's target groups. Neither has
	// resource-level permissions.
	readLoadBalancers access = "readLoadBalancers"
	// setWeights: ModifyListener on the Cells' listeners and ModifyRule on
	// okra's rules (tagged okra:managed=true).
	setWeights access = "setWeights"
	// createRules: CreateRule on the Cells' listeners, tagged on creation.
	createRules access = "createRules"
	// manageTargetGroups: CreateTargetGroup tagged okra:managed=true, and
	// AddTags/RemoveTags on okra's target groups only.
	manageTargetGroups access = "manageTargetGroups"
	// deleteTargetGroups: DeleteTargetGroup on okra's target groups only.
	deleteTargetGroups access = "deleteTargetGroups"
	// readClusters: eks:DescribeCluster (member clusters and the ArgoCD
	// control-plane cluster) in the stack's account and region.
	readClusters access = "readClusters"
	// listClusters: eks:ListClusters (full discovery).
	listClusters access = "listClusters"
	// attachNodeGroups: attach okra's target groups to EKS managed node
	// groups' Auto Scaling groups (targetGroupTemplate.attachToNodeGroups).
	attachNodeGroups access = "attachNodeGroups"
	// registerInArgoCD: the ArgoCD settings in the environment. The
	// Kubernetes permission is an EKS access entry (docs/deploy.md); the
	// token is a presigned sts:GetCallerIdentity, which needs no IAM
	// permission.
	registerInArgoCD access = "registerInArgoCD"
	// startRollouts: states:StartExecution on the rollout state machine.
	startRollouts access = "startRollouts"
	// describeRollouts: states:DescribeExecution on its executions (the
	// lease belongs to an execution; idempotent starts; the safety net
	// reads an ended execution's input). Functions with either access get
	// the state machine's ARN in their environment.
	describeRollouts access = "describeRollouts"
	// notify: sns:Publish to the notification topic (and the KMS key that
	// encrypts it).
	notify access = "notify"
	// readDatadogKeys: secretsmanager:GetSecretValue on the Datadog secret.
	readDatadogKeys access = "readDatadogKeys"
	// readMetrics: cloudwatch:GetMetricData (no resource-level
	// permissions).
	readMetrics access = "readMetrics"
)

// trigger is what invokes a function.
type trigger string

const (
	byStateMachine trigger = "the rollout state machine"
	byClusterRule  trigger = "EventBridge: EKS API calls (CloudTrail)"
	bySchedule     trigger = "EventBridge schedule"
	byStream       trigger = "DynamoDB stream (SK = SPEC)"
	byStatusRule   trigger = "EventBridge: the state machine's FAILED, TIMED_OUT, ABORTED executions"
)

// function is one Lambda function: a main package under functions/<Name>,
// deployed as "okra-<Name>".
type function struct {
	Name        string
	Description string
	Trigger     trigger
	MemoryMB    int
	// Timeout is the function's timeout for the given props.
	Timeout func(p OkraStackProps) time.Duration
	// ReservedConcurrency for the given props; 0 leaves it unreserved.
	ReservedConcurrency func(p OkraStackProps) int
	// ASLArn is the ${...} placeholder of the function's ARN in
	// statemachines/rollout.asl.json; "" when the state machine does not
	// invoke it.
	ASLArn string
	Access []access
}

func fixed(d time.Duration) func(OkraStackProps) time.Duration {
	return func(OkraStackProps) time.Duration { return d }
}

func unreserved(OkraStackProps) int { return 0 }

func reserved(n int) func(OkraStackProps) int { return func(OkraStackProps) int { return n } }

// onboardingAccess is what a handler of internal/onboarding does: ensure
// target groups, register clusters in ArgoCD, record them, set the first
// weights (a first deployment, a pinned rollback, a re-split), start
// rollouts, and recover a Cell whose lease holder died (restore, notify).
var onboardingAccess = []access{
	readStore, writeStore, readLoadBalancers, setWeights, createRules, manageTargetGroups,
	readClusters, attachNodeGroups, registerInArgoCD, startRollouts, describeRollouts, notify,
}

// functions is every okra function. The order is the order of the
// template's resources and of docs/deploy.md.
var functions = []function{
	{
		Name:        "cluster-events",
		Description: "okra: EKS cluster created, tagged, untagged or deleted: target groups, ArgoCD registration, rollouts",
		Trigger:     byClusterRule,
		MemoryMB:    256,
		// It waits (bounded) for a created cluster to turn ACTIVE, then
		// onboards it; the wait stops a minute before the deadline.
		Timeout: func(p OkraStackProps) time.Duration { return p.ClusterActiveTimeout + 2*time.Minute },
		// A burst of cluster events (or a loop of them) must not take the
		// account's concurrency or flood ELBv2, EKS and ArgoCD: five at a
		// time; a throttled event is retried for up to its 6-hour age.
		ReservedConcurrency: reserved(5),
		// A deleted cluster's target groups and registry record go too.
		Access: append(append([]access{}, onboardingAccess...), deleteTargetGroups, deleteStoreItems),
	},
	{
		Name:        "reconcile",
		Description: "okra: periodic full discovery of clusters, target groups and Cells; catches what an event missed",
		Trigger:     bySchedule,
		// A full discovery holds every cluster, target group and Cell.
		MemoryMB: 512,
		Timeout:  fixed(5 * time.Minute),
		// One run at a time: overlapping full scans only race each other
		// and double the API calls; a skipped tick is caught by the next.
		ReservedConcurrency: func(p OkraStackProps) int { return p.ReconcileReservedConcurrency },
		Access:              append(append([]access{}, onboardingAccess...), listClusters, deleteTargetGroups, deleteStoreItems),
	},
	{
		Name:                "config-change",
		Description:         "okra: a Cell spec or analysis template changed (DynamoDB stream): validate, reconcile that Cell",
		Trigger:             byStream,
		MemoryMB:            256,
		Timeout:             fixed(2 * time.Minute),
		ReservedConcurrency: unreserved,
		// Discovery of the Cell's clusters goes through EKS (ListClusters).
		Access: append(append([]access{}, onboardingAccess...), listClusters),
	},
	{
		Name:                "rollout-plan",
		Description:         "okra rollout: AcquireLease, NextStep, StartAnalysis, StartBackgroundAnalysis",
		Trigger:             byStateMachine,
		MemoryMB:            256,
		Timeout:             fixed(time.Minute),
		ReservedConcurrency: unreserved,
		ASLArn:              "RolloutPlanFunctionArn",
		// AcquireLease creates the Cell's rule when missing and, taking
		// over from an execution that died, restores its snapshot.
		Access: []access{readStore, writeStore, readLoadBalancers, setWeights, createRules, describeRollouts},
	},
	{
		Name:                "rollout-weights",
		Description:         "okra rollout: set the planned weights (health-gated) and verify them by reading the listener back",
		Trigger:             byStateMachine,
		MemoryMB:            256,
		Timeout:             fixed(time.Minute),
		ReservedConcurrency: unreserved,
		ASLArn:              "RolloutWeightsFunctionArn",
		Access:              []access{readStore, writeStore, readLoadBalancers, setWeights},
	},
	{
		Name:                "rollout-approval",
		Description:         "okra rollout: keep the task token of a manual gate in the Cell status",
		Trigger:             byStateMachine,
		MemoryMB:            256,
		Timeout:             fixed(30 * time.Second),
		ReservedConcurrency: unreserved,
		ASLArn:              "RolloutApprovalFunctionArn",
		Access:              []access{readStore, writeStore},
	},
	{
		Name:                "check-cloudwatch",
		Description:         "okra rollout: one CloudWatch analysis measurement (GetMetricData)",
		Trigger:             byStateMachine,
		MemoryMB:            256,
		Timeout:             fixed(time.Minute),
		ReservedConcurrency: unreserved,
		ASLArn:              "CheckCloudWatchFunctionArn",
		Access:              []access{readStore, writeStore, readMetrics},
	},
	{
		Name:                "check-datadog",
		Description:         "okra rollout: one Datadog analysis measurement",
		Trigger:             byStateMachine,
		MemoryMB:            256,
		Timeout:             fixed(time.Minute),
		ReservedConcurrency: unreserved,
		ASLArn:              "CheckDatadogFunctionArn",
		Access:              []access{readStore, writeStore, readDatadogKeys},
	},
	{
		Name:                "rollout-rollback",
		Description:         "okra rollout: restore the pre-rollout forward action (Rollback) or hand over to a newer version (Supersede)",
		Trigger:             byStateMachine,
		MemoryMB:            256,
		Timeout:             fixed(2 * time.Minute),
		ReservedConcurrency: unreserved,
		ASLArn:              "RolloutRollbackFunctionArn",
		// Supersede starts the newer version's rollout.
		Access: []access{readStore, writeStore, readLoadBalancers, setWeights, startRollouts, describeRollouts, notify},
	},
	{
		Name:                "rollout-finalize",
		Description:         "okra rollout: after the rollback window, drop the old target groups from the forward action",
		Trigger:             byStateMachine,
		MemoryMB:            256,
		Timeout:             fixed(2 * time.Minute),
		ReservedConcurrency: unreserved,
		ASLArn:              "RolloutFinalizeFunctionArn",
		// Best effort afterwards: delete old target groups whose cluster
		// is gone (targetgroups.Delete checks EKS and every listener).
		Access: []access{readStore, writeStore, readLoadBalancers, setWeights, deleteTargetGroups, readClusters, notify},
	},
	{
		Name:        "safety-net",
		Description: "okra: a rollout execution failed, timed out or was aborted: restore the stable weights, release the lease",
		Trigger:     byStatusRule,
		MemoryMB:    256,
		Timeout:     fixed(2 * time.Minute),
		// A storm of failed executions restores Cells two at a time; a
		// throttled event is retried for up to its 6-hour age.
		ReservedConcurrency: reserved(2),
		Access:              []access{readStore, writeStore, readLoadBalancers, setWeights, describeRollouts, notify},
	},
}

// functionByName returns the function named name.
func functionByName(name string) (function, bool) {
	for _, f := range functions {
		if f.Name == name {
			return f, true
		}
	}
	return function{}, false
}

func (f function) has(a access) bool {
	for _, x := range f.Access {
		if x == a {
			return true
		}
	}
	return false
}

// deployedName is the function's name in AWS.
func (f function) deployedName() string { return "okra-" + f.Name }
