package listener

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
)

// Field paths of a Cell's ingress, as IngressError names them.
const (
	FieldListenerARN  = "spec.ingress.listenerARN"
	FieldIngressType  = "spec.ingress.type"
	FieldRulePriority = "spec.ingress.rule.priority"
)

// IngressError says why a Cell's ingress cannot be used as written: the
// field at fault and the reason, as AWS shows it.
type IngressError struct {
	Field  string
	Reason string
}

func (e *IngressError) Error() string { return e.Field + ": " + e.Reason }

// listenerKind is the load-balancer type a listener protocol belongs to.
func listenerKind(p types.ProtocolEnum) (cell.IngressType, bool) {
	switch p {
	case types.ProtocolEnumHttp, types.ProtocolEnumHttps:
		return cell.IngressALB, true
	case types.ProtocolEnumTcp, types.ProtocolEnumUdp, types.ProtocolEnumTls, types.ProtocolEnumTcpUdp:
		return cell.IngressNLB, true
	}
	return "", false
}

// CheckIngress checks a Cell's ingress against AWS before it is stored:
// the listener exists, its protocol belongs to the ingress type (HTTP or
// HTTPS for an ALB; TCP, UDP, TLS or TCP_UDP for an NLB), and a rule
// priority is free or held by this Cell's own rule (tagged okra:cell). A
// problem with the ingress is an *IngressError naming the field; any other
// error (throttling, no access) is returned wrapped, as a failure to
// check. When the deploy requires the opt-in tag (Options.OptIn), a
// listener it does not name must carry it. It costs one DescribeListeners,
// one DescribeTags of the listener when the opt-in tag is checked, plus
// for a rule the pages of DescribeRules and, when the priority is taken,
// one DescribeTags.
func (c *Client) CheckIngress(ctx context.Context, cellName string, ing cell.Ingress) error {
	if ing.ListenerARN == "" {
		return &IngressError{Field: FieldListenerARN, Reason: "is required"}
	}
	out, err := c.api.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{ing.ListenerARN}})
	if awsapi.IsNotFound(err) || (err == nil && len(out.Listeners) == 0) {
		return &IngressError{Field: FieldListenerARN, Reason: fmt.Sprintf("listener %s does not exist (check the ARN, the account and the Region)", ing.ListenerARN)}
	}
	if err != nil {
		return fmt.Errorf("describing listener %s, %w", ing.ListenerARN, err)
	}
	l := out.Listeners[0]
	kind, known := listenerKind(l.Protocol)
	switch {
	case !known:
		return &IngressError{Field: FieldListenerARN, Reason: fmt.Sprintf("listener %s speaks %s, which is neither an Application nor a Network Load Balancer listener", ing.ListenerARN, l.Protocol)}
	case kind != ing.Type:
		return &IngressError{Field: FieldIngressType, Reason: fmt.Sprintf("is %s but listener %s speaks %s, a %s listener", ing.Type, ing.ListenerARN, l.Protocol, kind)}
	}
	if err := c.checkOptIn(ctx, ing.ListenerARN); err != nil {
		return err
	}
	if ing.Rule == nil {
		return nil
	}
	rule, err := c.findRule(ctx, ing.ListenerARN, ing.Rule.Priority)
	if err != nil || rule == nil {
		return err
	}
	ruleARN := aws.ToString(rule.RuleArn)
	owner, managed, err := c.ruleOwner(ctx, ruleARN)
	if err != nil {
		return err
	}
	if managed && owner == cellName {
		return nil
	}
	taken := &ForeignRuleError{ListenerARN: ing.ListenerARN, Priority: ing.Rule.Priority, RuleARN: ruleARN, Owner: owner}
	return &IngressError{Field: FieldRulePriority, Reason: taken.Error()}
}

// checkOptIn returns an *IngressError when the deploy requires the opt-in
// tag and listenerARN neither carries it nor is named in the deploy: the
// deployed roles could not change it, and a rollout would fail at its
// first weight change.
func (c *Client) checkOptIn(ctx context.Context, listenerARN string) error {
	if !c.optIn.Required || slices.Contains(c.optIn.Listeners, listenerARN) {
		return nil
	}
	out, err := c.api.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{listenerARN}})
	if err != nil {
		return fmt.Errorf("describing tags of listener %s, %w", listenerARN, err)
	}
	for _, d := range out.TagDescriptions {
		if aws.ToString(d.ResourceArn) != listenerARN {
			continue
		}
		for _, t := range d.Tags {
			if aws.ToString(t.Key) == inventory.TagOptIn && aws.ToString(t.Value) == inventory.OptInValue {
				return nil
			}
		}
	}
	return &IngressError{Field: FieldListenerARN, Reason: OptInMissingReason(listenerARN)}
}

// OptInMissingReason says that listenerARN lacks okra's opt-in tag and
// how to add it.
func OptInMissingReason(listenerARN string) string {
	return fmt.Sprintf("listener %s does not carry okra's opt-in tag %s=%s, without which okra's roles may not change it; add it with "+
		"`aws elbv2 add-tags --resource-arns %s --tags Key=%s,Value=%s` (or name the listener in the stack's listenerArns context)",
		listenerARN, inventory.TagOptIn, inventory.OptInValue, listenerARN, inventory.TagOptIn, inventory.OptInValue)
}
