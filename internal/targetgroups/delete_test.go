package targetgroups_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/targetgroups"
)

const (
	lbARN       = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/lb/1"
	listenerARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/lb/1/l1"
	ruleARN     = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/lb/1/l1/r1"
	otherARN    = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/other/9999"
)

func weighted(pairs ...any) []elbv2types.Action {
	fc := &elbv2types.ForwardActionConfig{}
	for i := 0; i < len(pairs); i += 2 {
		tg := elbv2types.TargetGroupTuple{TargetGroupArn: aws.String(pairs[i].(string))}
		if w, ok := pairs[i+1].(int); ok {
			tg.Weight = aws.Int32(int32(w))
		}
		fc.TargetGroups = append(fc.TargetGroups, tg)
	}
	return []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, ForwardConfig: fc}}
}

func TestDeleteChecks(t *testing.T) {
	ownedTags := map[string]string{inventory.TagCell: "web", inventory.TagCluster: "old", inventory.TagManaged: "true"}
	const self = "SELF" // replaced by the group's ARN
	tests := []struct {
		name          string
		tags          map[string]string
		clusterExists bool
		protocol      elbv2types.ProtocolEnum
		defaultAction []elbv2types.Action
		ruleActions   []elbv2types.Action
		wantReason    targetgroups.RefusalReason
		wantWeight    int32
		wantRule      bool
	}{
		{name: "not okra's", tags: map[string]string{"owner": "alice"}, wantReason: targetgroups.RefusedNotManaged},
		{name: "okra's without a cluster tag", tags: map[string]string{inventory.TagCell: "web", inventory.TagManaged: "true"}, wantReason: targetgroups.RefusedNotManaged},
		{name: "cluster still exists", tags: ownedTags, clusterExists: true, wantReason: targetgroups.RefusedClusterExists},
		{name: "weighted default action above 0", tags: ownedTags, defaultAction: weighted(self, 10, otherARN, 90), wantReason: targetgroups.RefusedStillRouted, wantWeight: 10},
		{name: "plain forward default action", tags: ownedTags, defaultAction: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, TargetGroupArn: aws.String(self)}}, wantReason: targetgroups.RefusedStillRouted, wantWeight: 1},
		{name: "weight not given counts as routed", tags: ownedTags, defaultAction: weighted(self, nil), wantReason: targetgroups.RefusedStillRouted, wantWeight: 1},
		{name: "rule above 0", tags: ownedTags, defaultAction: weighted(otherARN, 1), ruleActions: weighted(self, 999, otherARN, 0), wantReason: targetgroups.RefusedStillRouted, wantWeight: 999, wantRule: true},
		{name: "weight above 0 reported before weight 0", tags: ownedTags, defaultAction: weighted(self, 0, otherARN, 1), ruleActions: weighted(self, 5), wantReason: targetgroups.RefusedStillRouted, wantWeight: 5, wantRule: true},
		{name: "weight 0 still referenced", tags: ownedTags, defaultAction: weighted(self, 0, otherARN, 100), wantReason: targetgroups.RefusedStillReferenced, wantWeight: 0},
		{name: "NLB listener: default action only", tags: ownedTags, protocol: elbv2types.ProtocolEnumTcp, defaultAction: weighted(self, 3, otherARN, 1), wantReason: targetgroups.RefusedStillRouted, wantWeight: 3},
		{name: "absent from every action: deleted", tags: ownedTags, defaultAction: weighted(otherARN, 1), ruleActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumFixedResponse}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elb := newFakeELB()
			// AWS may list a load balancer more than once; it is read once.
			arn := elb.put("old-tg", tt.tags, lbARN, lbARN)
			fix := func(actions []elbv2types.Action) []elbv2types.Action {
				for i := range actions {
					if aws.ToString(actions[i].TargetGroupArn) == self {
						actions[i].TargetGroupArn = aws.String(arn)
					}
					if fc := actions[i].ForwardConfig; fc != nil {
						for j := range fc.TargetGroups {
							if aws.ToString(fc.TargetGroups[j].TargetGroupArn) == self {
								fc.TargetGroups[j].TargetGroupArn = aws.String(arn)
							}
						}
					}
				}
				return actions
			}
			protocol := tt.protocol
			if protocol == "" {
				protocol = elbv2types.ProtocolEnumHttp
			}
			elb.listeners[lbARN] = []elbv2types.Listener{{ListenerArn: aws.String(listenerARN), Protocol: protocol, DefaultActions: fix(tt.defaultAction)}}
			elb.rules[listenerARN] = []elbv2types.Rule{
				{RuleArn: aws.String(ruleARN + "-default"), IsDefault: aws.Bool(true), Actions: tt.defaultAction},
			}
			if tt.ruleActions != nil {
				elb.rules[listenerARN] = append(elb.rules[listenerARN], elbv2types.Rule{RuleArn: aws.String(ruleARN), Priority: aws.String("10"), Actions: fix(tt.ruleActions)})
			}
			eks := newFakeEKS()
			if tt.clusterExists {
				eks.clusters["old"] = true
			}
			m := newManager(t, elb, eks, nil)

			err := m.Delete(context.Background(), arn)
			if tt.wantReason == "" {
				if err != nil {
					t.Fatalf("Delete: %v", err)
				}
				if _, ok := elb.groups[arn]; ok {
					t.Fatalf("group not deleted")
				}
				if elb.calls["DescribeListeners"] != 1 || elb.calls["DescribeRules"] != 1 {
					t.Fatalf("calls = %v, want the listeners and rules read once", elb.calls)
				}
				return
			}
			var re *targetgroups.DeleteRefusedError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *DeleteRefusedError", err)
			}
			if re.Reason != tt.wantReason || re.Weight != tt.wantWeight || re.ARN != arn {
				t.Fatalf("refusal = %+v, want %s with weight %d", re, tt.wantReason, tt.wantWeight)
			}
			if (tt.wantReason == targetgroups.RefusedStillRouted || tt.wantReason == targetgroups.RefusedStillReferenced) && re.ListenerARN != listenerARN {
				t.Fatalf("refusal names listener %q, want %q", re.ListenerARN, listenerARN)
			}
			if tt.wantRule != (re.RuleARN == ruleARN) {
				t.Fatalf("refusal names rule %q, want rule: %v", re.RuleARN, tt.wantRule)
			}
			if elb.calls["DeleteTargetGroup"] != 0 {
				t.Fatalf("DeleteTargetGroup called despite the refusal")
			}
			if _, ok := elb.groups[arn]; !ok {
				t.Fatalf("group deleted despite the refusal")
			}
			if tt.protocol == elbv2types.ProtocolEnumTcp && elb.calls["DescribeRules"] != 0 {
				t.Fatalf("DescribeRules called for an NLB listener")
			}
		})
	}
}

func TestDeleteGoneIsNoError(t *testing.T) {
	elb := newFakeELB()
	m := newManager(t, elb, newFakeEKS(), nil)
	if err := m.Delete(context.Background(), "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/gone/1"); err != nil {
		t.Fatalf("Delete of a missing group: %v", err)
	}
}

func TestDeleteLoadBalancerGone(t *testing.T) {
	elb := newFakeELB()
	arn := elb.put("old-tg", map[string]string{inventory.TagCell: "web", inventory.TagCluster: "old", inventory.TagManaged: "true"}, lbARN)
	// No listeners registered for lbARN: DescribeListeners says not found.
	if err := newManager(t, elb, newFakeEKS(), nil).Delete(context.Background(), arn); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, ok := elb.groups[arn]; ok {
		t.Fatal("group not deleted")
	}
}

func TestDeleteErrors(t *testing.T) {
	tests := []struct {
		name    string
		elbOp   string
		eksOp   string
		noEKS   bool
		wantMsg string
	}{
		{name: "no EKS client", noEKS: true, wantMsg: "EKS client is required"},
		{name: "describe cluster fails", eksOp: "DescribeCluster", wantMsg: "describing EKS cluster old, "},
		{name: "describe listeners fails", elbOp: "DescribeListeners", wantMsg: "describing listeners of "},
		{name: "describe rules fails", elbOp: "DescribeRules", wantMsg: "describing rules of "},
		{name: "delete fails", elbOp: "DeleteTargetGroup", wantMsg: "deleting target group "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elb := newFakeELB()
			arn := elb.put("old-tg", map[string]string{inventory.TagCell: "web", inventory.TagCluster: "old", inventory.TagManaged: "true"}, lbARN)
			elb.listeners[lbARN] = []elbv2types.Listener{{ListenerArn: aws.String(listenerARN), Protocol: elbv2types.ProtocolEnumHttp, DefaultActions: weighted(otherARN, 1)}}
			if tt.elbOp != "" {
				elb.failOps[tt.elbOp] = apiError("AccessDenied")
			}
			var eks *fakeEKS
			if !tt.noEKS {
				eks = newFakeEKS()
				if tt.eksOp != "" {
					eks.failOps[tt.eksOp] = apiError("AccessDeniedException")
				}
			}
			err := newManager(t, elb, eks, nil).Delete(context.Background(), arn)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantMsg)
			}
			var re *targetgroups.DeleteRefusedError
			if errors.As(err, &re) {
				t.Fatalf("an AWS failure reported as a refusal: %v", err)
			}
		})
	}
}

func TestDeleteRaceInUse(t *testing.T) {
	elb := newFakeELB()
	arn := elb.put("old-tg", map[string]string{inventory.TagCell: "web", inventory.TagCluster: "old", inventory.TagManaged: "true"})
	elb.failOps["DeleteTargetGroup"] = apiError("ResourceInUse")
	err := newManager(t, elb, newFakeEKS(), nil).Delete(context.Background(), arn)
	var re *targetgroups.DeleteRefusedError
	if !errors.As(err, &re) || re.Reason != targetgroups.RefusedStillReferenced {
		t.Fatalf("err = %v, want a StillReferenced refusal", err)
	}
}
