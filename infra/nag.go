package main

import (
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Reasons for the cdk-nag AwsSolutions findings okra accepts. Every
// suppression names the rule, the exact findings (appliesTo) where the
// rule is granular, and why.
const (
	xrayWhy = "X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) support no resource-level permissions"
	// The state machine's role: CDK adds these for logging and tracing.
	stateMachineLogsWhy = "Step Functions log delivery (logs:CreateLogDelivery, PutResourcePolicy, Describe*...) and X-Ray support no resource-level permissions"
	streamWhy           = "dynamodb:ListStreams (added with the stream event source) supports no resource-level permissions; the stream itself is named"
	secretRotationWhy   = "the Datadog API and application keys are issued by Datadog and rotated there; Secrets Manager cannot rotate them"
	dlqWithoutDLQWhy    = "this queue is the dead-letter queue (on-failure destination) of the config-change stream mapping"
	asyncDestinationWhy = "this queue is the function's on-failure destination (asynchronous invocations), its dead-letter queue in all but name"
)

// addNagSuppressions records, on the constructs they concern, the
// AwsSolutions findings okra accepts, each with its reason.
func addNagSuppressions(s *OkraStack) {
	for _, f := range functions {
		// resource (as cdk-nag writes it) -> why it is a wildcard
		why := map[string][]string{"Resource::*": {xrayWhy}}
		for _, st := range s.wildcards[f.Name] {
			for _, r := range st.Resources {
				if strings.Contains(r, "*") || s.res.nagForm[r] != "" && strings.Contains(s.res.nagForm[r], "*") {
					key := s.res.nagResource(r)
					why[key] = appendUnique(why[key], st.Sid+": "+st.Wildcard)
				}
			}
		}
		if f.Trigger == byStream {
			why["Resource::*"] = appendUnique(why["Resource::*"], streamWhy)
		}
		var suppressions []*cdknag.NagPackSuppression
		for _, resource := range sortedKeys(why) {
			suppressions = append(suppressions, &cdknag.NagPackSuppression{
				Id:        jsii.String("AwsSolutions-IAM5"),
				Reason:    jsii.String(strings.Join(why[resource], "; ")),
				AppliesTo: &[]interface{}{resource},
			})
		}
		cdknag.NagSuppressions_AddResourceSuppressions(defaultPolicy(s.Roles[f.Name]), &suppressions, jsii.Bool(false))
	}
	cdknag.NagSuppressions_AddResourceSuppressions(defaultPolicy(s.StateMachine.Role()), &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String(stateMachineLogsWhy),
		AppliesTo: &[]interface{}{"Resource::*"},
	}}, jsii.Bool(false))
	if secret := s.Stack.Node().TryFindChild(jsii.String("DatadogKeys")); secret != nil {
		cdknag.NagSuppressions_AddResourceSuppressions(secret, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-SMG4"), Reason: jsii.String(secretRotationWhy),
		}}, jsii.Bool(true))
	}
	for _, name := range sortedKeys(s.DeadLetterQueues) {
		why := asyncDestinationWhy
		if name == "config-change" {
			why = dlqWithoutDLQWhy
		}
		cdknag.NagSuppressions_AddResourceSuppressions(s.DeadLetterQueues[name], &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-SQS3"), Reason: jsii.String(why),
		}}, jsii.Bool(true))
	}
}

// defaultPolicy is the policy CDK attaches to a role for the statements
// added to it, where the IAM5 findings are.
func defaultPolicy(role awsiam.IRole) constructs.IConstruct {
	p := role.Node().TryFindChild(jsii.String("DefaultPolicy"))
	if p == nil {
		panic("nag: role " + *role.Node().Path() + " has no DefaultPolicy")
	}
	return p
}

func appendUnique(xs []string, x string) []string {
	for _, v := range xs {
		if v == x {
			return xs
		}
	}
	xs = append(xs, x)
	sort.Strings(xs)
	return xs
}
