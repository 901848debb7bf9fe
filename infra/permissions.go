package main

import (
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/store"
)

// statement is one IAM statement of a function's role, as plain data so
// the table of what each access grants reads like the policy it becomes.
type statement struct {
	Sid       string
	Actions   []string
	Resources []string
	// Conditions: operator -> key -> values.
	Conditions map[string]map[string][]string
	// Wildcard says why a resource holds "*" (an AWS requirement or a
	// scope narrowed by a condition); cdk-nag's AwsSolutions-IAM5 finding
	// for it is suppressed with this reason. Required when a resource
	// holds "*".
	Wildcard string
}

func (s statement) policyStatement() awsiam.PolicyStatement {
	props := &awsiam.PolicyStatementProps{
		Sid:       jsii.String(s.Sid),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(s.Actions...),
		Resources: jsii.Strings(s.Resources...),
	}
	if len(s.Conditions) > 0 {
		cond := map[string]interface{}{}
		for op, kv := range s.Conditions {
			m := map[string]interface{}{}
			for k, vs := range kv {
				if len(vs) == 1 {
					m[k] = vs[0]
				} else {
					m[k] = vs
				}
			}
			cond[op] = m
		}
		props.Conditions = &cond
	}
	return awsiam.NewPolicyStatement(props)
}

// Tag okra puts on everything it creates, and the value that marks it.
var (
	managedTag        = inventory.TagManaged
	managedValue      = inventory.ManagedValue
	requestManagedTag = "aws:RequestTag/" + managedTag
	resourceManaged   = "aws:ResourceTag/" + managedTag
	// optInTag=optInValue on a listener lets okra change it.
	optInTag      = inventory.TagOptIn
	optInValue    = inventory.OptInValue
	resourceOptIn = "aws:ResourceTag/" + optInTag
)

// resources are the ARNs the statements name.
type resources struct {
	stack awscdk.Stack

	tableArn        string
	stateMachineArn string
	topicArn        string
	topicKeyArn     string
	datadogSecret   string
	// allListeners and allRules are every ALB/NLB listener and ALB rule
	// of the account and region, which the opt-in and managed tags
	// narrow; named are the props' listeners (listenerArns), changed
	// without the tag, and namedALB those of them on an ALB.
	allListeners []string
	allRules     []string
	named        []string
	namedALB     []string
	// nagForm maps each ARN arn() built (a token) to how cdk-nag writes
	// it in a finding, e.g. "arn:<AWS::Partition>:eks:<AWS::Region>:...".
	nagForm map[string]string
}

func (r resources) arn(service, resource, name string, format awscdk.ArnFormat) string {
	token := *r.stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String(service),
		Resource:     jsii.String(resource),
		ResourceName: jsii.String(name),
		ArnFormat:    format,
	})
	sep := "/"
	if format == awscdk.ArnFormat_COLON_RESOURCE_NAME {
		sep = ":"
	}
	r.nagForm[token] = "arn:<AWS::Partition>:" + service + ":<AWS::Region>:<AWS::AccountId>:" + resource + sep + name
	return token
}

// nagResource is how cdk-nag names resource in an IAM5 finding.
func (r resources) nagResource(resource string) string {
	if n, ok := r.nagForm[resource]; ok {
		return "Resource::" + n
	}
	return "Resource::" + resource
}

func (r resources) elb(resource, name string) string {
	return r.arn("elasticloadbalancing", resource, name, awscdk.ArnFormat_SLASH_RESOURCE_NAME)
}

// listenerScope sets the listener and rule ARNs the weight statements
// name.
func (r *resources) listenerScope(listenerArns []string) {
	r.allListeners = []string{r.elb("listener", "app/*/*/*"), r.elb("listener", "net/*/*/*")}
	r.allRules = []string{r.elb("listener-rule", "app/*/*/*/*")}
	r.named = append([]string{}, listenerArns...)
	for _, l := range listenerArns {
		if strings.Contains(l, ":listener/app/") {
			r.namedALB = append(r.namedALB, l)
		}
	}
}

// appListeners are the ALB listeners of allListeners (rules live on
// ALBs only).
func (r resources) appListeners() []string { return r.allListeners[:1] }

func managedCondition(key string) map[string]map[string][]string {
	return map[string]map[string][]string{"StringEquals": {key: {managedValue}}}
}

// statements returns what access a grants, in a fixed order.
func (r resources) statements(a access, listenerArnsGiven bool) []statement {
	targetGroups := r.elb("targetgroup", "*/*")
	optInWhy := "the Cells' listeners are not known when okra is deployed: only listeners of this account and region tagged " + optInTag + "=" + optInValue
	switch a {
	case readStore:
		return []statement{{
			Sid:       "ReadStore",
			Actions:   []string{"dynamodb:GetItem", "dynamodb:Query"},
			Resources: []string{r.tableArn, r.tableArn + "/index/" + store.IndexByKind},
		}}
	case writeStore:
		return []statement{{
			Sid:       "WriteStore",
			Actions:   []string{"dynamodb:PutItem", "dynamodb:UpdateItem"},
			Resources: []string{r.tableArn},
		}}
	case deleteStoreItems:
		return []statement{{
			Sid:       "DeleteStoreItems",
			Actions:   []string{"dynamodb:DeleteItem"},
			Resources: []string{r.tableArn},
		}}
	case readLoadBalancers:
		return []statement{{
			Sid: "ReadLoadBalancers",
			Actions: []string{
				"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules",
				"elasticloadbalancing:DescribeTags", "elasticloadbalancing:DescribeTargetGroups",
				"elasticloadbalancing:DescribeTargetHealth",
			},
			Resources: []string{"*"},
			Wildcard:  "ELBv2 Describe* actions support no resource-level permissions",
		}, {
			// Discovery finds a Cell's target groups by their tags.
			Sid:       "FindTargetGroupsByTags",
			Actions:   []string{"tag:GetResources"},
			Resources: []string{"*"},
			Wildcard:  "tag:GetResources supports no resource-level permissions",
		}}
	case setWeights:
		out := []statement{{
			Sid:        "SetOptedInListenerWeights",
			Actions:    []string{"elasticloadbalancing:ModifyListener"},
			Resources:  r.allListeners,
			Conditions: map[string]map[string][]string{"StringEquals": {resourceOptIn: {optInValue}}},
			Wildcard:   optInWhy,
		}}
		if len(r.named) > 0 {
			out = append(out, statement{
				Sid:       "SetNamedListenerWeights",
				Actions:   []string{"elasticloadbalancing:ModifyListener"},
				Resources: r.named,
			})
		}
		return append(out, statement{
			Sid:        "SetRuleWeights",
			Actions:    []string{"elasticloadbalancing:ModifyRule"},
			Resources:  r.allRules,
			Conditions: managedCondition(resourceManaged),
			Wildcard:   "rule ARNs end in an ID AWS assigns; only rules okra created (tagged okra:managed=true, which CreateRules allows only on opted-in or named listeners)",
		})
	case createRules:
		out := []statement{{
			Sid:     "CreateRulesOnOptedInListeners",
			Actions: []string{"elasticloadbalancing:CreateRule"},
			// The listener is the resource CreateRule is authorized on.
			Resources: r.appListeners(),
			Conditions: map[string]map[string][]string{"StringEquals": {
				resourceOptIn:     {optInValue},
				requestManagedTag: {managedValue},
			}},
			Wildcard: optInWhy + "; only rules tagged okra:managed=true on creation",
		}}
		if len(r.namedALB) > 0 {
			out = append(out, statement{
				Sid:        "CreateRulesOnNamedListeners",
				Actions:    []string{"elasticloadbalancing:CreateRule"},
				Resources:  r.namedALB,
				Conditions: managedCondition(requestManagedTag),
			})
		}
		return append(out, statement{
			// Should AWS authorize the new rule as a resource too, it is
			// one tagged okra:managed=true; the listener statements above
			// still decide where.
			Sid:        "CreateRulesTagged",
			Actions:    []string{"elasticloadbalancing:CreateRule"},
			Resources:  r.allRules,
			Conditions: managedCondition(requestManagedTag),
			Wildcard:   "a new rule's ARN ends in an ID AWS assigns; only rules tagged okra:managed=true on creation, on listeners the statements above allow",
		}, statement{
			Sid:       "TagRulesOnCreate",
			Actions:   []string{"elasticloadbalancing:AddTags"},
			Resources: r.allRules,
			Conditions: map[string]map[string][]string{"StringEquals": {
				"elasticloadbalancing:CreateAction": {"CreateRule"},
				requestManagedTag:                   {managedValue},
			}},
			Wildcard: "tags of a rule being created by CreateRule (tag-on-create needs AddTags)",
		})
	case manageTargetGroups:
		return []statement{{
			Sid:        "CreateTargetGroups",
			Actions:    []string{"elasticloadbalancing:CreateTargetGroup"},
			Resources:  []string{targetGroups},
			Conditions: managedCondition(requestManagedTag),
			Wildcard:   "a new target group's ARN is not known in advance; only groups tagged okra:managed=true on creation",
		}, {
			Sid:       "TagTargetGroupsOnCreate",
			Actions:   []string{"elasticloadbalancing:AddTags"},
			Resources: []string{targetGroups},
			Conditions: map[string]map[string][]string{"StringEquals": {
				"elasticloadbalancing:CreateAction": {"CreateTargetGroup"},
				requestManagedTag:                   {managedValue},
			}},
			Wildcard: "tags of a target group being created by CreateTargetGroup (tag-on-create needs AddTags)",
		}, {
			Sid:       "RetagOkraTargetGroups",
			Actions:   []string{"elasticloadbalancing:AddTags"},
			Resources: []string{targetGroups},
			Conditions: map[string]map[string][]string{
				"StringEquals":         {resourceManaged: {managedValue}},
				"StringEqualsIfExists": {requestManagedTag: {managedValue}},
			},
			Wildcard: "only target groups tagged okra:managed=true, which stay so",
		}, {
			Sid:       "UntagOkraTargetGroups",
			Actions:   []string{"elasticloadbalancing:RemoveTags"},
			Resources: []string{targetGroups},
			Conditions: map[string]map[string][]string{
				"StringEquals":                 {resourceManaged: {managedValue}},
				"ForAllValues:StringNotEquals": {"aws:TagKeys": {managedTag}},
			},
			Wildcard: "only target groups tagged okra:managed=true, never removing that tag",
		}}
	case deleteTargetGroups:
		return []statement{{
			Sid:        "DeleteOkraTargetGroups",
			Actions:    []string{"elasticloadbalancing:DeleteTargetGroup"},
			Resources:  []string{targetGroups},
			Conditions: managedCondition(resourceManaged),
			Wildcard:   "only target groups tagged okra:managed=true",
		}}
	case readClusters:
		return []statement{{
			Sid:       "DescribeClusters",
			Actions:   []string{"eks:DescribeCluster"},
			Resources: []string{r.arn("eks", "cluster", "*", awscdk.ArnFormat_SLASH_RESOURCE_NAME)},
			Wildcard:  "member clusters are created after okra is deployed: any cluster of this account and region",
		}}
	case listClusters:
		return []statement{{
			Sid:       "ListClusters",
			Actions:   []string{"eks:ListClusters"},
			Resources: []string{"*"},
			Wildcard:  "eks:ListClusters supports no resource-level permissions",
		}}
	case attachNodeGroups:
		return []statement{{
			Sid:     "ReadNodeGroups",
			Actions: []string{"eks:DescribeNodegroup", "eks:ListNodegroups"},
			Resources: []string{
				r.arn("eks", "cluster", "*", awscdk.ArnFormat_SLASH_RESOURCE_NAME),
				r.arn("eks", "nodegroup", "*/*/*", awscdk.ArnFormat_SLASH_RESOURCE_NAME),
			},
			Wildcard: "member clusters and their node groups are created after okra is deployed",
		}, {
			Sid:       "ReadNodeGroupAttachments",
			Actions:   []string{"autoscaling:DescribeLoadBalancerTargetGroups"},
			Resources: []string{"*"},
			Wildcard:  "Auto Scaling Describe* actions support no resource-level permissions",
		}, {
			Sid:       "AttachNodeGroups",
			Actions:   []string{"autoscaling:AttachLoadBalancerTargetGroups"},
			Resources: []string{r.arn("autoscaling", "autoScalingGroup", "*:autoScalingGroupName/eks-*", awscdk.ArnFormat_COLON_RESOURCE_NAME)},
			Conditions: map[string]map[string][]string{
				"Null": {"autoscaling:ResourceTag/eks:nodegroup-name": {"false"}, "autoscaling:TargetGroupARNs": {"false"}},
				// IAM cannot test a target group's tags for this action;
				// autoscaling:TargetGroupARNs limits it to target groups
				// of this account and region named as okra names them.
				"ForAllValues:ArnLike": {"autoscaling:TargetGroupARNs": {r.elb("targetgroup", okraTargetGroupNames+"/*")}},
			},
			Wildcard: "only the Auto Scaling groups of EKS managed node groups (named eks-*, tagged eks:nodegroup-name), and only target groups named as okra names them",
		}}
	case startRollouts:
		return []statement{{
			Sid:       "StartRollouts",
			Actions:   []string{"states:StartExecution"},
			Resources: []string{r.stateMachineArn},
		}}
	case describeRollouts:
		return []statement{{
			Sid:       "DescribeRollouts",
			Actions:   []string{"states:DescribeExecution"},
			Resources: []string{r.arn("states", "execution", stateMachineName+":*", awscdk.ArnFormat_COLON_RESOURCE_NAME)},
			Wildcard:  "the executions of okra's state machine; their names are made per rollout",
		}}
	case notify:
		return []statement{{
			Sid:       "Notify",
			Actions:   []string{"sns:Publish"},
			Resources: []string{r.topicArn},
		}, {
			Sid:       "NotifyEncrypted",
			Actions:   []string{"kms:Decrypt", "kms:GenerateDataKey"},
			Resources: []string{r.topicKeyArn},
		}}
	case readDatadogKeys:
		return []statement{{
			Sid:       "ReadDatadogKeys",
			Actions:   []string{"secretsmanager:GetSecretValue"},
			Resources: []string{r.datadogSecret},
		}}
	case readMetrics:
		return []statement{{
			Sid:       "ReadMetrics",
			Actions:   []string{"cloudwatch:GetMetricData"},
			Resources: []string{"*"},
			Wildcard:  "cloudwatch:GetMetricData supports no resource-level permissions",
		}}
	case registerInArgoCD:
		// The environment only: Kubernetes RBAC comes from the EKS access
		// entry; DescribeCluster of the control-plane cluster is in
		// readClusters; the EKS token is a presigned
		// sts:GetCallerIdentity, which needs no permission.
		return nil
	}
	panic("permissions: unknown access " + string(a))
}

// okraTargetGroupNames matches the names targetgroups.Name gives:
// "<cell>-<cluster>-" and 8 hex digits.
const okraTargetGroupNames = "*-????????"

// functionStatements returns every statement a function's accesses grant.
func (r resources) functionStatements(f function, listenerArnsGiven bool) []statement {
	var out []statement
	for _, a := range f.Access {
		out = append(out, r.statements(a, listenerArnsGiven)...)
	}
	return out
}

// expectedActions returns the sorted IAM actions of f's statements.
func expectedActions(stmts []statement) []string {
	set := map[string]bool{}
	for _, s := range stmts {
		for _, a := range s.Actions {
			set[a] = true
		}
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}
