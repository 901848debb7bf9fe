package listener_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/listener"
)

// TestCheckIngress runs CheckIngress against moto: each bad ingress is an
// *IngressError naming the field; a good one, and a priority held by the
// Cell's own rule, pass.
func TestCheckIngress(t *testing.T) {
	nlb := newLB(t, cell.IngressNLB, 1)
	tcp := nlb.listener(7000, legacyForward(nlb.targetGroup()))
	alb := newLB(t, cell.IngressALB, 1)
	tg := alb.targetGroup()
	http := alb.listener(80, legacyForward(tg))
	rule := func(cellTag string) {
		in := &elbv2.CreateRuleInput{
			ListenerArn: aws.String(http), Priority: aws.Int32(10),
			Conditions: []types.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/x/*"}}},
			Actions:    []types.Action{legacyForward(tg)},
		}
		if cellTag != "" {
			in.Tags = []types.Tag{{Key: aws.String(inventory.TagCell), Value: aws.String(cellTag)}}
		}
		if _, err := alb.elb.CreateRule(alb.ctx, in); err != nil {
			t.Fatalf("CreateRule: %v", err)
		}
	}
	rule("web")
	c := alb.controller(listener.Options{})
	missing := http[:strings.LastIndex(http, "/")+1] + "0123456789abcdef"

	for _, tc := range []struct {
		name, cell string
		ing        cell.Ingress
		field      string // "" when the ingress is fine
		reason     string
	}{
		{"a listener that exists", "web", cell.Ingress{Type: cell.IngressALB, ListenerARN: http}, "", ""},
		{"no such listener", "web", cell.Ingress{Type: cell.IngressALB, ListenerARN: missing}, listener.FieldListenerARN, "does not exist"},
		{"a TCP listener for an ALB Cell", "web", cell.Ingress{Type: cell.IngressALB, ListenerARN: tcp}, listener.FieldIngressType, "speaks TCP, a AWSNetworkLoadBalancer listener"},
		{"an HTTP listener for an NLB Cell", "web", cell.Ingress{Type: cell.IngressNLB, ListenerARN: http}, listener.FieldIngressType, "speaks HTTP, a AWSApplicationLoadBalancer listener"},
		{"a free priority", "web", cell.Ingress{Type: cell.IngressALB, ListenerARN: http, Rule: &cell.ListenerRule{Priority: 11}}, "", ""},
		{"the Cell's own rule", "web", cell.Ingress{Type: cell.IngressALB, ListenerARN: http, Rule: &cell.ListenerRule{Priority: 10}}, "", ""},
		{"another Cell's rule", "api", cell.Ingress{Type: cell.IngressALB, ListenerARN: http, Rule: &cell.ListenerRule{Priority: 10}}, listener.FieldRulePriority, `of Cell "web"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.CheckIngress(alb.ctx, tc.cell, tc.ing)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("CheckIngress: %v, want nil", err)
				}
				return
			}
			var bad *listener.IngressError
			if !errors.As(err, &bad) || bad.Field != tc.field || !strings.Contains(bad.Reason, tc.reason) {
				t.Fatalf("CheckIngress = %v, want an IngressError on %s saying %q", err, tc.field, tc.reason)
			}
		})
	}
}

// TestCheckIngressOptIn: when the deploy requires okra's opt-in tag, a
// listener without it is refused on spec.ingress.listenerARN with the
// add-tags command that fixes it; a tagged listener, or one the deploy
// names, passes; without the requirement the tag is not read.
func TestCheckIngressOptIn(t *testing.T) {
	alb := newLB(t, cell.IngressALB, 1)
	tg := alb.targetGroup()
	untagged := alb.listener(80, legacyForward(tg))
	tagged := alb.listener(81, legacyForward(tg))
	if _, err := alb.elb.AddTags(alb.ctx, &elbv2.AddTagsInput{
		ResourceArns: []string{tagged},
		Tags:         []types.Tag{{Key: aws.String(inventory.TagOptIn), Value: aws.String(inventory.OptInValue)}},
	}); err != nil {
		t.Fatalf("AddTags: %v", err)
	}
	wrongValue := alb.listener(82, legacyForward(tg))
	if _, err := alb.elb.AddTags(alb.ctx, &elbv2.AddTagsInput{
		ResourceArns: []string{wrongValue},
		Tags:         []types.Tag{{Key: aws.String(inventory.TagOptIn), Value: aws.String("false")}},
	}); err != nil {
		t.Fatalf("AddTags: %v", err)
	}
	required := alb.controller(listener.Options{OptIn: listener.OptIn{Required: true, Listeners: []string{wrongValue}}})
	notRequired := alb.controller(listener.Options{})
	ing := func(arn string) cell.Ingress { return cell.Ingress{Type: cell.IngressALB, ListenerARN: arn} }

	if err := notRequired.CheckIngress(alb.ctx, "web", ing(untagged)); err != nil {
		t.Errorf("without the requirement, an untagged listener: %v, want nil", err)
	}
	if err := required.CheckIngress(alb.ctx, "web", ing(tagged)); err != nil {
		t.Errorf("a listener tagged %s=%s: %v, want nil", inventory.TagOptIn, inventory.OptInValue, err)
	}
	if err := required.CheckIngress(alb.ctx, "web", ing(wrongValue)); err != nil {
		t.Errorf("a listener named in the deploy: %v, want nil", err)
	}
	err := required.CheckIngress(alb.ctx, "web", ing(untagged))
	var bad *listener.IngressError
	wantCmd := "aws elbv2 add-tags --resource-arns " + untagged + " --tags Key=okra:opt-in,Value=true"
	if !errors.As(err, &bad) || bad.Field != listener.FieldListenerARN || !strings.Contains(bad.Reason, wantCmd) {
		t.Fatalf("an untagged listener: %v, want an IngressError on %s with %q", err, listener.FieldListenerARN, wantCmd)
	}
	// The command it prints is the one that fixes it.
	if _, err := alb.elb.AddTags(alb.ctx, &elbv2.AddTagsInput{
		ResourceArns: []string{untagged},
		Tags:         []types.Tag{{Key: aws.String("okra:opt-in"), Value: aws.String("true")}},
	}); err != nil {
		t.Fatalf("AddTags: %v", err)
	}
	if err := required.CheckIngress(alb.ctx, "web", ing(untagged)); err != nil {
		t.Errorf("after the printed add-tags: %v, want nil", err)
	}
}
