package main

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// The template scanners `make test-infra` runs on the synthesized stack,
// besides cdk-nag (nag.go): checkov and cfn-lint with the
// cfn-lint-serverless rules. Every finding okra accepts is written into
// the resource's metadata with its reason, here and nowhere else:
//
//	Metadata.checkov.skip: [{id, comment}]
//	Metadata.cfn-lint.config.ignore_checks: [id]  (cfn-lint.reasons: {id: why})
//
// so the template says why, and a finding that is not listed fails
// TestScanners.
type scanner string

const (
	checkovTool scanner = "checkov"
	cfnLintTool scanner = "cfn-lint"
)

// accepted is one scanner finding okra accepts on one resource.
type accepted struct {
	tool scanner
	id   string
	why  string
}

// Reasons shared by several resources.
const (
	noVPCWhy        = "okra calls only AWS APIs, the EKS API endpoints and Datadog; it reaches no private resource, and a VPC would add NAT or interface endpoints for nothing"
	envWhy          = "the environment holds names and ARNs only (no secret: the Datadog keys stay in Secrets Manager), encrypted at rest by Lambda's AWS-managed key; deploy with -c customerManagedKey=true for a customer-managed key"
	logsWhy         = "log groups are encrypted by CloudWatch Logs' own keys; deploy with -c customerManagedKey=true to encrypt them with a customer-managed key"
	dependsOnWhy    = "CDK lists the role in DependsOn next to its default policy (so the policy exists before the first invocation); the GetAtt of the role implies the same dependency, harmlessly"
	sqsSSEWhy       = "encrypted at rest with SSE-SQS (SqsManagedSseEnabled); checkov counts only a KMS key; the messages are okra's own events"
	redriveWhy      = "this queue is a dead-letter queue (an on-failure destination); there is no further queue to redrive to, and its alarm calls for a person"
	emailRedriveWhy = "an e-mail subscription, which SNS retries on its own; a lost e-mail loses nothing: the Cell history holds every event"
)

// dlqWhy says why a function has no dead-letter queue of its own.
var dlqWhy = map[trigger]string{
	byStateMachine: "invoked synchronously by the rollout state machine, which retries and catches its errors; a dead-letter queue applies to asynchronous invocations only",
	byStream:       "invoked by the stream mapping, whose failed batches go to its on-failure queue okra-config-change-dlq; a dead-letter queue applies to asynchronous invocations only",
	byClusterRule:  "asynchronous failures go to the on-failure destination (EventInvokeConfig, queue okra-<function>-dlq), which records the error with the event",
	byStatusRule:   "asynchronous failures go to the on-failure destination (EventInvokeConfig, queue okra-<function>-dlq), which records the error with the event",
	bySchedule:     "asynchronous failures go to the on-failure destination (EventInvokeConfig, queue okra-<function>-dlq), which records the error with the event",
}

// unreservedWhy says why a function's concurrency is not reserved.
var unreservedWhy = map[trigger]string{
	byStateMachine: "invoked synchronously by rollout executions, at most one at a time per Cell (the lease); a reservation would only turn a busy account's rollout steps into throttling failures",
	byStream:       "fed by the table's stream with ParallelizationFactor 1: at most one invocation per stream shard at a time",
	bySchedule:     "reconcileReservedConcurrency=0 was set in context; the schedule starts one run per tick",
}

// scannerFindings returns what okra accepts on each resource, by its
// construct path.
func (s *OkraStack) scannerFindings() map[string][]accepted {
	out := map[string][]accepted{}
	add := func(c constructs.IConstruct, a ...accepted) {
		path := *c.Node().DefaultChild().Node().Path()
		out[path] = append(out[path], a...)
	}
	cmk := s.DataKey != nil
	for _, f := range functions {
		fn := s.Functions[f.Name]
		add(fn, accepted{checkovTool, "CKV_AWS_117", noVPCWhy}, accepted{checkovTool, "CKV_AWS_116", dlqWhy[f.Trigger]},
			accepted{cfnLintTool, "W3005", dependsOnWhy})
		if !cmk {
			add(fn, accepted{checkovTool, "CKV_AWS_173", envWhy})
			add(s.LogGroups[f.Name], accepted{checkovTool, "CKV_AWS_158", logsWhy})
		}
		if f.ReservedConcurrency(s.props) == 0 {
			add(fn, accepted{checkovTool, "CKV_AWS_115", unreservedWhy[f.Trigger]})
		}
		if q, ok := s.DeadLetterQueues[f.Name]; ok {
			add(q, accepted{checkovTool, "CKV_AWS_27", sqsSSEWhy}, accepted{cfnLintTool, "ES6000", redriveWhy})
		}
	}
	add(s.StateMachine, accepted{cfnLintTool, "W3005", dependsOnWhy})
	if !cmk {
		add(s.StateMachineLogs, accepted{checkovTool, "CKV_AWS_158", logsWhy})
		add(s.Table, accepted{checkovTool, "CKV_AWS_119", "encrypted with the AWS-managed key aws/dynamodb, with no key policy to keep in step with every reader; deploy with -c customerManagedKey=true for a customer-managed key"})
		if secret := s.Stack.Node().TryFindChild(jsii.String("DatadogKeys")); secret != nil {
			add(secret, accepted{checkovTool, "CKV_AWS_149", "encrypted with the AWS-managed key aws/secretsmanager; deploy with -c customerManagedKey=true for a customer-managed key"})
		}
	}
	for _, c := range *s.Stack.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		if r, ok := c.(awscdk.CfnResource); ok && *awscdk.CfnResource_IsCfnResource(c) && *r.CfnResourceType() == "AWS::SNS::Subscription" {
			out[*c.Node().Path()] = append(out[*c.Node().Path()], accepted{cfnLintTool, "ES7000", emailRedriveWhy})
		}
	}
	return out
}

// addScannerSuppressions writes scannerFindings into the metadata of the
// resources they concern.
func addScannerSuppressions(s *OkraStack) {
	found := s.scannerFindings()
	for _, c := range *s.Stack.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		list, ok := found[*c.Node().Path()]
		if !ok {
			continue
		}
		r, ok := c.(awscdk.CfnResource)
		if !ok {
			panic("scan: " + *c.Node().Path() + " is not a CloudFormation resource")
		}
		delete(found, *c.Node().Path())
		var skips []interface{}
		var ignore []string
		reasons := map[string]interface{}{}
		for _, a := range list {
			switch a.tool {
			case checkovTool:
				skips = append(skips, map[string]interface{}{"id": a.id, "comment": a.why})
			case cfnLintTool:
				ignore = append(ignore, a.id)
				reasons[a.id] = a.why
			}
		}
		if len(skips) > 0 {
			sort.Slice(skips, func(i, j int) bool {
				return skips[i].(map[string]interface{})["id"].(string) < skips[j].(map[string]interface{})["id"].(string)
			})
			r.AddMetadata(jsii.String("checkov"), map[string]interface{}{"skip": skips})
		}
		if len(ignore) > 0 {
			sort.Strings(ignore)
			r.AddMetadata(jsii.String("cfn-lint"), map[string]interface{}{
				"config":  map[string]interface{}{"ignore_checks": ignore},
				"reasons": reasons,
			})
		}
	}
	for path := range found {
		panic("scan: no resource at " + path)
	}
}
