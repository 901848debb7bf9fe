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
)

// resources are the ARNs the statements name.
type resources struct {
	stack awscdk.Stack

	tableArn        string
	stateMachineArn string
	topicArn        string
	topicKeyArn     string
	datadogSecret   string
	// listeners and rules scope the weight changes: the props'
	// listeners, or every ALB/NLB listener of the account and region.
	listeners []string
	rules     []string
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

// listenerScope returns the listener and rule ARNs okra may change.
func (r resources) listenerScope(listenerArns []string) (listeners, rules []string) {
	if len(listenerArns) == 0 {
		return []string{r.elb("listener", "app/*/*/*"), r.elb("listener", "net/*/*/*")},
			[]string{r.elb("listener-rule", "app/*/*/*/*")}
	}
	for _, l := range listenerArns {
		listeners = append(listeners, l)
		if strings.Contains(l, ":listener/app/") {
			rules = append(rules, strings.Replace(l, ":listener/", ":listener-rule/", 1)+"/*")
		}
	}
	return listeners, rules
}

func managedCondition(key string) map[string]map[string][]string {
	return map[string]map[string][]string{"StringEquals": {key: {managedValue}}}
}

// statements returns what access a grants, in a fixed order.
func (r resources) statements(a access, listenerArnsGiven bool) []statement {
	targetGroups := r.elb("targetgroup", "*/*")
	listenerWhy := "the Cells' listeners are not known when okra is deployed: every ALB/NLB listener of this account and region (set context listenerArns to list them)"
	if listenerArnsGiven {
		listenerWhy = "the rules of the listeners given in context listenerArns"
	}
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
			Sid:       "SetListenerWeights",
			Actions:   []string{"elasticloadbalancing:ModifyListener"},
			Resources: r.listeners,
			Wildcard:  listenerWhy,
		}}
		if len(r.rules) > 0 {
			out = append(out, statement{
				Sid:        "SetRuleWeights",
				Actions:    []string{"elasticloadbalancing:ModifyRule"},
				Resources:  r.rules,
				Conditions: managedCondition(resourceManaged),
				Wildcard:   "rule ARNs end in an ID AWS assigns; only rules okra created (tagged okra:managed=true)",
			})
		}
		return out
	case createRules:
		if len(r.rules) == 0 {
			return nil // NLB listeners only: no rules.
		}
		return []statement{{
			Sid:        "CreateRules",
			Actions:    []string{"elasticloadbalancing:CreateRule"},
			Resources:  append(append([]string{}, r.listeners...), r.rules...),
			Conditions: managedCondition(requestManagedTag),
			Wildcard:   listenerWhy + "; only rules tagged okra:managed=true on creation",
		}, {
			Sid:       "TagRulesOnCreate",
			Actions:   []string{"elasticloadbalancing:AddTags"},
			Resources: r.rules,
			Conditions: map[string]map[string][]string{"StringEquals": {
				"elasticloadbalancing:CreateAction": {"CreateRule"},
				requestManagedTag:                   {managedValue},
			}},
			Wildcard: "tags of a rule being created by CreateRule (tag-on-create needs AddTags)",
		}}
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
			Sid:        "AttachNodeGroups",
			Actions:    []string{"autoscaling:AttachLoadBalancerTargetGroups"},
			Resources:  []string{r.arn("autoscaling", "autoScalingGroup", "*:autoScalingGroupName/eks-*", awscdk.ArnFormat_COLON_RESOURCE_NAME)},
			Conditions: map[string]map[string][]string{"Null": {"autoscaling:ResourceTag/eks:nodegroup-name": {"false"}}},
			Wildcard:   "only the Auto Scaling groups of EKS managed node groups (named eks-*, tagged eks:nodegroup-name)",
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
