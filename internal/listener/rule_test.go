package listener_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/listener"
)

// otherRule creates a rule okra did not make (tags may be nil).
func (e *lbEnv) otherRule(listenerARN string, priority int32, host string, tags map[string]string) string {
	e.t.Helper()
	in := &elbv2.CreateRuleInput{
		ListenerArn: aws.String(listenerARN),
		Priority:    aws.Int32(priority),
		Conditions:  []types.RuleCondition{{Field: aws.String("host-header"), HostHeaderConfig: &types.HostHeaderConditionConfig{Values: []string{host}}}},
		Actions:     []types.Action{fixedResponse()},
	}
	for k, v := range tags {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := e.elb.CreateRule(e.ctx, in)
	if err != nil {
		e.t.Fatalf("CreateRule: %v", err)
	}
	return aws.ToString(out.Rules[0].RuleArn)
}

func (e *lbEnv) rule(arn string) types.Rule {
	e.t.Helper()
	out, err := e.elb.DescribeRules(e.ctx, &elbv2.DescribeRulesInput{RuleArns: []string{arn}})
	if err != nil || len(out.Rules) != 1 {
		e.t.Fatalf("DescribeRules %s: %v (%d rules)", arn, err, len(out.Rules))
	}
	return out.Rules[0]
}

func TestRuleLifecycle(t *testing.T) {
	e := newLB(t, cell.IngressALB, 2)
	stable, canary := e.tgs[0], e.tgs[1]
	arn := e.listener(80, fixedResponse())
	// Other teams' rules fill the first pages, so finding the Cell's rule
	// needs every page of DescribeRules.
	for p := int32(1); p <= 5; p++ {
		e.otherRule(arn, p, "other.example.com", nil)
	}
	rule := &cell.ListenerRule{
		Priority:     40,
		Hosts:        []string{"web.example.com"},
		PathPatterns: []string{"/api/*"},
		Headers:      []cell.HeaderCondition{{Name: "X-Env", Values: []string{"prod"}}},
		HTTPMethods:  []string{"GET", "POST"},
		SourceIPs:    []string{"10.0.0.0/8"},
		QueryStrings: []cell.QueryStringCondition{{Key: "v", Value: "2"}},
	}
	ing := cell.Ingress{Type: cell.IngressALB, ListenerARN: arn, Rule: rule}
	c := e.controller(listener.Options{RulesPageSize: 2})

	// Before the rule exists: reads empty (after every page), refuses to set.
	e.counter.Reset()
	got, err := c.Read(e.ctx, ing)
	if err != nil || !got.Empty() {
		t.Fatalf("Read missing rule = %+v, %v; want empty", got, err)
	}
	if n := e.counter.Count("Elastic Load Balancing v2.DescribeRules"); n != 3 {
		t.Errorf("DescribeRules calls = %d, want 3 pages of 2 (5 rules and the default)", n)
	}
	var nf *listener.RuleNotFoundError
	if err := c.Set(e.ctx, ing, fwd(stable, 1)); !errors.As(err, &nf) {
		t.Fatalf("Set on missing rule = %v, want *RuleNotFoundError", err)
	}

	res, err := c.EnsureRule(e.ctx, "web", ing, fwd(stable, 1))
	if err != nil || res.Change != listener.RuleCreated || res.RuleARN == "" {
		t.Fatalf("EnsureRule = %+v, %v; want created", res, err)
	}
	created := e.rule(res.RuleARN)
	if aws.ToString(created.Priority) != "40" || !listener.SameConditions(created.Conditions, listener.Conditions(*rule)) {
		t.Errorf("created rule priority %s conditions %+v", aws.ToString(created.Priority), created.Conditions)
	}
	tags, err := e.elb.DescribeTags(e.ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{res.RuleARN}})
	if err != nil {
		t.Fatalf("DescribeTags: %v", err)
	}
	gotTags := map[string]string{}
	for _, tg := range tags.TagDescriptions[0].Tags {
		gotTags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if want := map[string]string{inventory.TagCell: "web", inventory.TagManaged: inventory.ManagedValue}; !reflect.DeepEqual(gotTags, want) {
		t.Errorf("rule tags = %v, want %v", gotTags, want)
	}
	if got, err := c.Read(e.ctx, ing); err != nil || !reflect.DeepEqual(got.TargetGroups, fwd(stable, 1).TargetGroups) {
		t.Fatalf("Read new rule = %+v, %v", got, err)
	}

	// Unchanged: no write.
	e.counter.Reset()
	if res, err := c.EnsureRule(e.ctx, "web", ing, fwd(stable, 1)); err != nil || res.Change != listener.RuleUnchanged {
		t.Fatalf("EnsureRule again = %+v, %v; want unchanged", res, err)
	}
	if n := e.counter.Count(opModifyRule) + e.counter.Count(opCreateRule); n != 0 {
		t.Errorf("unchanged EnsureRule wrote %d times", n)
	}

	// Set and verify weights on the rule.
	want := fwd(stable, 700, canary, 300)
	if err := c.Set(e.ctx, ing, want); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := c.Verify(e.ctx, ing, want); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	// New conditions: the rule is updated in place, the weights stay.
	changed := *rule
	changed.Hosts = []string{"web.example.com", "www.example.com"}
	changed.Headers = nil
	ing2 := ing
	ing2.Rule = &changed
	res2, err := c.EnsureRule(e.ctx, "web", ing2, fwd(stable, 1))
	if err != nil || res2.Change != listener.RuleUpdated || res2.RuleARN != res.RuleARN {
		t.Fatalf("EnsureRule with new conditions = %+v, %v; want updated %s", res2, err, res.RuleARN)
	}
	if updated := e.rule(res.RuleARN); !listener.SameConditions(updated.Conditions, listener.Conditions(changed)) {
		t.Errorf("conditions after update = %+v", updated.Conditions)
	}
	if err := c.Verify(e.ctx, ing2, want); err != nil {
		t.Errorf("weights after a conditions update: %v", err)
	}
	// The rule still has priority 40 and the others are untouched.
	if n := e.counter.Count(opCreateRule); n != 0 {
		t.Errorf("CreateRule calls = %d, want 0", n)
	}
}

func TestRuleOwnedByOthersIsLeftAlone(t *testing.T) {
	e := newLB(t, cell.IngressALB, 1)
	arn := e.listener(80, fixedResponse())
	untagged := e.otherRule(arn, 10, "a.example.com", nil)
	otherCell := e.otherRule(arn, 20, "b.example.com", map[string]string{inventory.TagCell: "api", inventory.TagManaged: "true"})

	tests := []struct {
		name      string
		priority  int32
		ruleARN   string
		owner     string
		setRefuse bool
	}{
		{name: "rule okra did not create", priority: 10, ruleARN: untagged, setRefuse: true},
		{name: "rule of another Cell", priority: 20, ruleARN: otherCell, owner: "api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.controller(listener.Options{})
			ing := cell.Ingress{Type: cell.IngressALB, ListenerARN: arn, Rule: &cell.ListenerRule{Priority: tt.priority, Hosts: []string{"web.example.com"}}}
			e.counter.Reset()
			_, err := c.EnsureRule(e.ctx, "web", ing, fwd(e.tgs[0], 1))
			var fe *listener.ForeignRuleError
			if !errors.As(err, &fe) || fe.RuleARN != tt.ruleARN || fe.Owner != tt.owner {
				t.Fatalf("EnsureRule = %v, want *ForeignRuleError for %s owned by %q", err, tt.ruleARN, tt.owner)
			}
			if tt.setRefuse {
				if err := c.Set(e.ctx, ing, fwd(e.tgs[0], 1)); !errors.As(err, &fe) {
					t.Fatalf("Set = %v, want *ForeignRuleError", err)
				}
			}
			if n := e.counter.Count(opModifyRule) + e.counter.Count(opCreateRule); n != 0 {
				t.Errorf("%d writes to a foreign rule", n)
			}
			if r := e.rule(tt.ruleARN); r.Actions[0].Type != types.ActionTypeEnumFixedResponse {
				t.Errorf("foreign rule's action changed to %s", r.Actions[0].Type)
			}
		})
	}
}

func TestRuleKeepsOtherActions(t *testing.T) {
	e := newLB(t, cell.IngressALB, 2)
	arn := e.listener(80, fixedResponse())
	ing := cell.Ingress{Type: cell.IngressALB, ListenerARN: arn, Rule: &cell.ListenerRule{Priority: 7, PathPatterns: []string{"/app/*"}}}
	c := e.controller(listener.Options{})
	res, err := c.EnsureRule(e.ctx, "web", ing, fwd(e.tgs[0], 1))
	if err != nil {
		t.Fatalf("EnsureRule: %v", err)
	}
	// An operator puts authentication in front of the forward action.
	oidc := types.Action{Type: types.ActionTypeEnumAuthenticateOidc, Order: aws.Int32(1), AuthenticateOidcConfig: &types.AuthenticateOidcActionConfig{
		AuthorizationEndpoint: aws.String("https://idp.example.com/auth"), ClientId: aws.String("okra"), ClientSecret: aws.String("s"),
		Issuer: aws.String("https://idp.example.com"), TokenEndpoint: aws.String("https://idp.example.com/token"), UserInfoEndpoint: aws.String("https://idp.example.com/userinfo"),
	}}
	forward := legacyForward(e.tgs[0])
	forward.Order = aws.Int32(2)
	if _, err := e.elb.ModifyRule(e.ctx, &elbv2.ModifyRuleInput{RuleArn: aws.String(res.RuleARN), Actions: []types.Action{oidc, forward}}); err != nil {
		t.Fatalf("ModifyRule: %v", err)
	}
	want := fwd(e.tgs[0], 600, e.tgs[1], 400)
	if err := c.Set(e.ctx, ing, want); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := c.Verify(e.ctx, ing, want); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	r := e.rule(res.RuleARN)
	if len(r.Actions) != 2 || r.Actions[0].Type != types.ActionTypeEnumAuthenticateOidc || aws.ToString(r.Actions[0].AuthenticateOidcConfig.ClientId) != "okra" {
		t.Errorf("actions after Set = %+v, want the OIDC action kept first", r.Actions)
	}
}
