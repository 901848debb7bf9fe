package main

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// Every function's role, action by action. This is a second, hand-kept
// copy of what infra/functions.go grants: a change to a role must change
// both, so no permission is added or dropped by accident.
var (
	baseActions  = []string{"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTelemetryRecords", "xray:PutTraceSegments"}
	storeActions = []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}
	elbRead      = []string{
		"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTags",
		"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth",
		// Discovery finds a Cell's target groups by their tags.
		"tag:GetResources",
	}
	weightActions = []string{"elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule"}
	ruleActions   = []string{"elasticloadbalancing:CreateRule", "elasticloadbalancing:AddTags"}
	tgActions     = []string{"elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"}
	nodeGroups    = []string{"eks:DescribeNodegroup", "eks:ListNodegroups", "autoscaling:DescribeLoadBalancerTargetGroups", "autoscaling:AttachLoadBalancerTargetGroups"}
	notifyActions = []string{"sns:Publish", "kms:Decrypt", "kms:GenerateDataKey"}
	// The on-failure destination (CDK grants send on the queue).
	asyncDLQ = []string{"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
	// With customerManagedKey, every role uses the data key (UseDataKey).
	dataKeyActions = []string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}
	onboarding     = join(storeActions, elbRead, weightActions, ruleActions, tgActions, nodeGroups, notifyActions,
		[]string{"eks:DescribeCluster", "states:StartExecution", "states:DescribeExecution"})
)

var wantActions = map[string][]string{
	"cluster-events": join(onboarding, asyncDLQ, []string{"elasticloadbalancing:DeleteTargetGroup", "dynamodb:DeleteItem"}),
	"reconcile":      join(onboarding, asyncDLQ, []string{"elasticloadbalancing:DeleteTargetGroup", "dynamodb:DeleteItem", "eks:ListClusters"}),
	"config-change": join(onboarding, []string{"eks:ListClusters"},
		// the stream and its on-failure queue (added by the event source)
		[]string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"},
		[]string{"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}),
	"rollout-plan":     join(storeActions, elbRead, weightActions, ruleActions, []string{"states:DescribeExecution"}),
	"rollout-weights":  join(storeActions, elbRead, weightActions),
	"rollout-approval": storeActions,
	"check-cloudwatch": join(storeActions, []string{"cloudwatch:GetMetricData"}),
	"check-datadog":    join(storeActions, []string{"secretsmanager:GetSecretValue"}),
	"rollout-rollback": join(storeActions, elbRead, weightActions, notifyActions, []string{"states:StartExecution", "states:DescribeExecution"}),
	"rollout-finalize": join(storeActions, elbRead, weightActions, notifyActions, []string{"elasticloadbalancing:DeleteTargetGroup", "eks:DescribeCluster"}),
	"safety-net":       join(storeActions, elbRead, weightActions, notifyActions, asyncDLQ, []string{"states:DescribeExecution"}),
}

func join(lists ...[]string) []string {
	set := map[string]bool{}
	for _, l := range lists {
		for _, x := range l {
			set[x] = true
		}
	}
	var out []string
	for x := range set {
		out = append(out, x)
	}
	sort.Strings(out)
	return out
}

func TestRoleActions(t *testing.T) {
	for _, c := range []struct {
		name string
		s    func(*testing.T) *synthesized
	}{{"main", mainStack}, {"alt", altStack}} {
		s := c.s(t)
		roles := map[string]string{}
		for _, f := range functions {
			t.Run(c.name+"/"+f.Name, func(t *testing.T) {
				want, ok := wantActions[f.Name]
				if !ok {
					t.Fatalf("no expected actions for %s: add it to wantActions", f.Name)
				}
				roleID := s.functionRoleID(t, f.Name)
				if other, shared := roles[roleID]; shared {
					t.Errorf("shares its role with %s; every function needs its own", other)
				}
				roles[roleID] = f.Name
				trust := statementsOf(s.resource(roleID).Properties["AssumeRolePolicyDocument"])
				if len(trust) != 1 || !jsonEqual(trust[0].Principal, map[string]any{"Service": "lambda.amazonaws.com"}) {
					t.Errorf("role trusts %s, want lambda.amazonaws.com only", mustJSON(trust))
				}
				if mp := s.resource(roleID).Properties["ManagedPolicyArns"]; mp != nil {
					t.Errorf("role has managed policies %s", mustJSON(mp))
				}
				got := actionSet(s.roleStatements(roleID))
				if s.props.CustomerManagedKey {
					want = join(want, dataKeyActions)
					if f.Trigger == byStream {
						// The stream of a table under the key.
						want = join(want, []string{"kms:DescribeKey"})
					}
				}
				extra, missing := diffSets(got, join(baseActions, want))
				if len(extra) > 0 {
					t.Errorf("actions not expected for %s: %v", f.Name, extra)
				}
				if len(missing) > 0 {
					t.Errorf("actions missing for %s: %v", f.Name, missing)
				}
				// The table in functions.go says the same.
				declared := join(baseActions, expectedActions(s.stack.res.functionStatements(f, len(s.props.ListenerArns) > 0)))
				if s.props.CustomerManagedKey {
					declared = join(declared, expectedActions([]statement{dataKeyStatement("key")}))
				}
				if extra, _ := diffSets(got, declared); len(extra) > 0 && !onlyAddedByCDK(extra) {
					t.Errorf("the template grants %v that infra/functions.go does not declare", extra)
				}
			})
		}
	}
}

// onlyAddedByCDK reports whether actions are the ones CDK adds for a
// dead-letter queue or the stream event source.
func onlyAddedByCDK(actions []string) bool {
	for _, a := range actions {
		if !strings.HasPrefix(a, "sqs:") && !containsString([]string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams", "kms:DescribeKey"}, a) {
			return false
		}
	}
	return true
}

// allIdentityStatements returns every statement of every identity policy
// in the template, with the logical ID of its policy.
func allIdentityStatements(s *synthesized) map[string][]policyStatement {
	out := map[string][]policyStatement{}
	for _, p := range s.resources("AWS::IAM::Policy") {
		out[p.ID] = statementsOf(p.Properties["PolicyDocument"])
	}
	for _, p := range s.resources("AWS::IAM::ManagedPolicy") {
		out[p.ID] = statementsOf(p.Properties["PolicyDocument"])
	}
	for _, r := range s.resources("AWS::IAM::Role") {
		for _, inline := range listOf(r.Properties["Policies"]) {
			out[r.ID] = append(out[r.ID], statementsOf(inline.(map[string]any)["PolicyDocument"])...)
		}
	}
	return out
}

// resourceStarAllowed are the actions AWS offers no resource-level
// permission for, the only ones allowed on Resource "*".
var resourceStarAllowed = []string{
	"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
	"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTags",
	"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth", "tag:GetResources",
	"autoscaling:DescribeLoadBalancerTargetGroups", "eks:ListClusters", "cloudwatch:GetMetricData", "dynamodb:ListStreams",
	// Step Functions' log delivery (CloudWatch Logs vended logs).
	"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
	"logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}

func TestIdentityPolicies(t *testing.T) {
	for _, c := range []struct {
		name string
		s    func(*testing.T) *synthesized
	}{{"main", mainStack}, {"alt", altStack}} {
		t.Run(c.name, func(t *testing.T) {
			s := c.s(t)
			for id, stmts := range allIdentityStatements(s) {
				for _, st := range stmts {
					if st.Effect != "Allow" {
						continue
					}
					for _, a := range st.Actions {
						svc, name, _ := strings.Cut(a, ":")
						if a == "*" || name == "*" || strings.Contains(name, "*") {
							t.Errorf("%s %s: wildcard action %q", id, st.Sid, a)
						}
						if svc == "iam" || svc == "sts" {
							t.Errorf("%s %s: %s (okra needs no IAM or STS permission: the EKS token is a presigned GetCallerIdentity)", id, st.Sid, a)
						}
					}
					for _, r := range st.Resources {
						if r == "*" {
							for _, a := range st.Actions {
								if !containsString(resourceStarAllowed, a) {
									t.Errorf(`%s %s: %s on Resource "*"`, id, st.Sid, a)
								}
							}
						}
					}
				}
			}
		})
	}
}

// TestTagConditions checks that every ELBv2 mutation of okra's own
// resources is limited to resources tagged okra:managed=true.
func TestTagConditions(t *testing.T) {
	s := mainStack(t)
	resourceTag := map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/okra:managed": "true"}}
	requestTag := map[string]any{"StringEquals": map[string]any{"aws:RequestTag/okra:managed": "true"}}
	seen := map[string]int{}
	for id, stmts := range allIdentityStatements(s) {
		for _, st := range stmts {
			for _, a := range st.Actions {
				seen[a]++
				cond := mustJSON(st.Condition)
				switch a {
				case "elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:ModifyRule":
					if !jsonEqual(st.Condition, resourceTag) {
						t.Errorf("%s %s: %s with condition %s, want only okra:managed=true resources", id, st.Sid, a, cond)
					}
				case "elasticloadbalancing:CreateRule":
					// On an opted-in listener, or on a named one (TestListenerMutationScope).
					if eq, _ := st.Condition["StringEquals"].(map[string]any); eq["aws:RequestTag/okra:managed"] != "true" {
						t.Errorf("%s %s: %s with condition %s, want tagged okra:managed=true on creation", id, st.Sid, a, cond)
					}
				case "elasticloadbalancing:CreateTargetGroup":
					if !jsonEqual(st.Condition, requestTag) {
						t.Errorf("%s %s: %s with condition %s, want tagged okra:managed=true on creation", id, st.Sid, a, cond)
					}
				case "elasticloadbalancing:AddTags":
					createAction, _ := st.Condition["StringEquals"].(map[string]any)["elasticloadbalancing:CreateAction"].(string)
					onCreate := createAction != "" && st.Condition["StringEquals"].(map[string]any)["aws:RequestTag/okra:managed"] == "true"
					onManaged := st.Condition["StringEquals"].(map[string]any)["aws:ResourceTag/okra:managed"] == "true" &&
						jsonEqual(st.Condition["StringEqualsIfExists"], map[string]any{"aws:RequestTag/okra:managed": "true"})
					if !onCreate && !onManaged {
						t.Errorf("%s %s: AddTags with condition %s, want tag-on-create or okra's resources only", id, st.Sid, cond)
					}
				case "elasticloadbalancing:RemoveTags":
					if !jsonEqual(st.Condition, map[string]any{
						"StringEquals":                 resourceTag["StringEquals"],
						"ForAllValues:StringNotEquals": map[string]any{"aws:TagKeys": "okra:managed"},
					}) {
						t.Errorf("%s %s: RemoveTags with condition %s", id, st.Sid, cond)
					}
				case "autoscaling:AttachLoadBalancerTargetGroups":
					if !jsonEqual(st.Condition["Null"], map[string]any{"autoscaling:ResourceTag/eks:nodegroup-name": "false", "autoscaling:TargetGroupARNs": "false"}) {
						t.Errorf("%s %s: %s with condition %s, want EKS node groups only", id, st.Sid, a, cond)
					}
				}
			}
		}
	}
	for _, a := range []string{"elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:ModifyRule"} {
		if seen[a] == 0 {
			t.Errorf("no statement grants %s: the check above checked nothing", a)
		}
	}
}

// TestScopedResources checks the ARNs the mutations are limited to.
func TestScopedResources(t *testing.T) {
	render := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	s := mainStack(t)
	for id, stmts := range allIdentityStatements(s) {
		for _, st := range stmts {
			for _, a := range st.Actions {
				var want []string
				switch a {
				case "elasticloadbalancing:ModifyListener":
					want = []string{`:listener/app/*/*/*"]]}`, `:listener/net/*/*/*"]]}`}
				case "elasticloadbalancing:ModifyRule":
					want = []string{`:listener-rule/app/*/*/*/*"]]}`}
				case "elasticloadbalancing:DeleteTargetGroup", "elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:RemoveTags":
					want = []string{`:targetgroup/*/*"]]}`}
				case "states:StartExecution":
					want = []string{`:stateMachine:okra-rollout"]]}`}
				case "states:DescribeExecution":
					want = []string{`:execution:okra-rollout:*"]]}`}
				case "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem":
					want = []string{`{"Fn::GetAtt":["Table`}
				default:
					continue
				}
				if len(st.Resources) != len(want) {
					t.Errorf("%s %s: %s on %s", id, st.Sid, a, render(st.Resources))
					continue
				}
				for i, r := range st.Resources {
					if got := render(r); !strings.Contains(got, want[i]) || !strings.Contains(got, `"arn:",{"Ref":"AWS::Partition"}`) && !strings.HasPrefix(want[i], `{"Fn::GetAtt"`) {
						t.Errorf("%s %s: %s on %s, want %s", id, st.Sid, a, got, want[i])
					}
				}
			}
		}
	}
	// Given listeners, those may change without the opt-in tag.
	alt := altStack(t)
	listeners := altProps(nil).ListenerArns
	for id, stmts := range allIdentityStatements(alt) {
		for _, st := range stmts {
			if st.Sid == "SetNamedListenerWeights" && !jsonEqual(st.Resources, []any{listeners[0], listeners[1]}) {
				t.Errorf("%s: ModifyListener on %s, want the given listeners", id, render(st.Resources))
			}
			if st.Sid == "CreateRulesOnNamedListeners" && !jsonEqual(st.Resources, []any{listeners[0]}) {
				t.Errorf("%s: CreateRule on %s, want the given ALB listener", id, render(st.Resources))
			}
			if containsString(st.Actions, "secretsmanager:GetSecretValue") && !jsonEqual(st.Resources, []any{alt.props.DatadogSecretArn}) {
				t.Errorf("%s: GetSecretValue on %s, want the given secret only", id, render(st.Resources))
			}
		}
	}
}

// TestStateMachineRole checks that the state machine may invoke exactly
// the functions its definition names.
func TestStateMachineRole(t *testing.T) {
	s := mainStack(t)
	sm := s.resources("AWS::StepFunctions::StateMachine")[0]
	roleID := getAttID(sm.Properties["RoleArn"], "Arn")
	var invoked []string
	for _, st := range s.roleStatements(roleID) {
		if containsString(st.Actions, "lambda:InvokeFunction") {
			for _, r := range st.Resources {
				id := getAttID(r, "Arn")
				if id == "" {
					t.Errorf("lambda:InvokeFunction on %s, want function ARNs only", mustJSON(r))
					continue
				}
				invoked = append(invoked, s.resource(id).Properties["FunctionName"].(string))
			}
		}
	}
	var want []string
	for _, f := range functions {
		if f.ASLArn != "" {
			want = append(want, f.deployedName())
		}
	}
	sort.Strings(invoked)
	sort.Strings(want)
	if strings.Join(invoked, ",") != strings.Join(want, ",") {
		t.Errorf("the state machine invokes %v, want %v", invoked, want)
	}
}
