package targetgroups

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/inventory"
)

// RefusalReason says why Delete kept a target group.
type RefusalReason string

// Reasons Delete refuses.
const (
	// RefusedNotManaged: the group lacks okra's ownership tags.
	RefusedNotManaged RefusalReason = "NotManaged"
	// RefusedClusterExists: the group's EKS cluster still exists (in any
	// status, DELETING included).
	RefusedClusterExists RefusalReason = "ClusterExists"
	// RefusedStillRouted: a listener or rule forwards to the group with a
	// weight above 0.
	RefusedStillRouted RefusalReason = "StillRouted"
	// RefusedStillReferenced: a forward action still lists the group, at
	// weight 0. It carries no traffic, but AWS refuses to delete a group
	// any action references (ResourceInUse); the rollout's Finalize removes
	// it from the action first.
	RefusedStillReferenced RefusalReason = "StillReferenced"
)

// DeleteRefusedError says why Delete did not delete a target group.
type DeleteRefusedError struct {
	ARN    string
	Reason RefusalReason
	// Cluster is the okra:cluster tag.
	Cluster string
	// ListenerARN, RuleARN (empty for a listener's default action) and
	// Weight say where the group is still routed or referenced.
	ListenerARN string
	RuleARN     string
	Weight      int32
}

func (e *DeleteRefusedError) Error() string {
	switch e.Reason {
	case RefusedNotManaged:
		return fmt.Sprintf("not deleting target group %s: it does not carry okra's ownership tags", e.ARN)
	case RefusedClusterExists:
		return fmt.Sprintf("not deleting target group %s: its EKS cluster %q still exists", e.ARN, e.Cluster)
	case RefusedStillRouted, RefusedStillReferenced:
		where := "the default action of listener " + e.ListenerARN
		if e.RuleARN != "" {
			where = "rule " + e.RuleARN + " of listener " + e.ListenerARN
		}
		if e.Reason == RefusedStillRouted {
			return fmt.Sprintf("not deleting target group %s: %s still routes to it with weight %d", e.ARN, where, e.Weight)
		}
		return fmt.Sprintf("not deleting target group %s: %s still lists it (weight 0); remove it from the action first", e.ARN, where)
	}
	return fmt.Sprintf("not deleting target group %s: %s", e.ARN, e.Reason)
}

// Delete deletes the target group arn, which okra created, only when it is
// safe: the group carries okra's ownership tags, its EKS cluster (the
// okra:cluster tag) is gone (DescribeCluster says not found), and no
// listener or rule of any load balancer the group is attached to forwards
// to it (read back with DescribeListeners and DescribeRules). Otherwise it
// returns a *DeleteRefusedError saying why and changes nothing. A group
// already gone is not an error.
func (m *Manager) Delete(ctx context.Context, arn string) error {
	if m.eks == nil {
		return errors.New("deleting target group: the EKS client is required to check that the cluster is gone")
	}
	g, err := m.describe(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}})
	if err != nil {
		return err
	}
	if g == nil {
		m.log.InfoContext(ctx, "target group already deleted", "arn", arn)
		return nil
	}
	tags, err := m.tagsOf(ctx, arn)
	if err != nil {
		return err
	}
	cluster := tags[inventory.TagCluster]
	if tags[inventory.TagManaged] != inventory.ManagedValue || cluster == "" || tags[inventory.TagCell] == "" {
		return &DeleteRefusedError{ARN: arn, Reason: RefusedNotManaged, Cluster: cluster}
	}

	_, err = m.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(cluster)})
	switch {
	case err == nil:
		return &DeleteRefusedError{ARN: arn, Reason: RefusedClusterExists, Cluster: cluster}
	case !awsapi.IsNotFound(err):
		return fmt.Errorf("describing EKS cluster %s, %w", cluster, err)
	}

	if refusal, err := m.routing(ctx, arn, g.LoadBalancerArns); err != nil {
		return err
	} else if refusal != nil {
		refusal.Cluster = cluster
		return refusal
	}

	log := m.log.With("arn", arn, "targetGroup", aws.ToString(g.TargetGroupName), "cluster", cluster, "cell", tags[inventory.TagCell])
	log.InfoContext(ctx, "deleting target group")
	if _, err := m.elb.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(arn)}); err != nil {
		switch {
		case awsapi.IsNotFound(err):
			log.InfoContext(ctx, "target group already deleted")
			return nil
		case awsapi.Code(err) == "ResourceInUse":
			// An action took the group between our check and the call.
			return &DeleteRefusedError{ARN: arn, Reason: RefusedStillReferenced, Cluster: cluster}
		}
		return fmt.Errorf("deleting target group %s, %w", arn, err)
	}
	log.InfoContext(ctx, "deleted target group")
	return nil
}

// routing reads every listener and rule of lbs and returns a refusal when
// one forwards to arn: StillRouted for a weight above 0 (reported first),
// else StillReferenced.
func (m *Manager) routing(ctx context.Context, arn string, lbs []string) (*DeleteRefusedError, error) {
	var referenced *DeleteRefusedError
	seen := map[string]bool{}
	for _, lb := range lbs {
		if seen[lb] {
			continue
		}
		seen[lb] = true
		listeners := elbv2.NewDescribeListenersPaginator(m.elb, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(lb)})
		for listeners.HasMorePages() {
			page, err := listeners.NextPage(ctx)
			if err != nil {
				if awsapi.IsNotFound(err) {
					break // the load balancer is gone
				}
				return nil, fmt.Errorf("describing listeners of %s, %w", lb, err)
			}
			for _, l := range page.Listeners {
				listenerARN := aws.ToString(l.ListenerArn)
				if w, ok := forwardWeight(l.DefaultActions, arn); ok {
					r := &DeleteRefusedError{ARN: arn, ListenerARN: listenerARN, Weight: w}
					if w > 0 {
						r.Reason = RefusedStillRouted
						return r, nil
					}
					r.Reason = RefusedStillReferenced
					if referenced == nil {
						referenced = r
					}
				}
				if !hasRules(l.Protocol) {
					continue
				}
				rules := elbv2.NewDescribeRulesPaginator(m.elb, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn})
				for rules.HasMorePages() {
					rp, err := rules.NextPage(ctx)
					if err != nil {
						if awsapi.IsNotFound(err) {
							break // the listener is gone
						}
						return nil, fmt.Errorf("describing rules of %s, %w", listenerARN, err)
					}
					for _, rule := range rp.Rules {
						if aws.ToBool(rule.IsDefault) {
							continue // the listener's default actions, checked above
						}
						w, ok := forwardWeight(rule.Actions, arn)
						if !ok {
							continue
						}
						r := &DeleteRefusedError{ARN: arn, ListenerARN: listenerARN, RuleARN: aws.ToString(rule.RuleArn), Weight: w}
						if w > 0 {
							r.Reason = RefusedStillRouted
							return r, nil
						}
						r.Reason = RefusedStillReferenced
						if referenced == nil {
							referenced = r
						}
					}
				}
			}
		}
	}
	return referenced, nil
}

// hasRules reports whether listeners of protocol have rules beyond the
// default action (Application Load Balancer listeners do; Network Load
// Balancer listeners do not).
func hasRules(p elbv2types.ProtocolEnum) bool {
	return p == elbv2types.ProtocolEnumHttp || p == elbv2types.ProtocolEnumHttps || p == ""
}

// forwardWeight returns the largest weight with which actions forward to
// arn, and whether they forward to it at all. A plain forward (one target
// group, no weights) and a weighted entry without a weight count as weight
// 1: both carry traffic.
func forwardWeight(actions []elbv2types.Action, arn string) (int32, bool) {
	var best int32
	found := false
	for _, a := range actions {
		if a.Type != elbv2types.ActionTypeEnumForward {
			continue
		}
		if a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) > 0 {
			for _, tg := range a.ForwardConfig.TargetGroups {
				if !strings.EqualFold(aws.ToString(tg.TargetGroupArn), arn) {
					continue
				}
				w := int32(1)
				if tg.Weight != nil {
					w = *tg.Weight
				}
				if !found || w > best {
					best = w
				}
				found = true
			}
			continue
		}
		if strings.EqualFold(aws.ToString(a.TargetGroupArn), arn) {
			if !found || best < 1 {
				best = 1
			}
			found = true
		}
	}
	return best, found
}
