package listener

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
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
// check. It costs one DescribeListeners, plus for a rule the pages of
// DescribeRules and, when the priority is taken, one DescribeTags.
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
