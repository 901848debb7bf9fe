package main

import (
	"fmt"
	"path"
	"strings"
	"testing"
)

// A small evaluator of the synthesized identity policies, enough for
// okra's statements: Allow only, actions without wildcards, resources and
// ArnLike values with * and ?, and the condition operators okra uses.
// TestPolicyScope asks it, statement by statement, what each role may
// do to resources inside and outside okra's scope.

const (
	testAccount = "123456789012"
	testRegion  = "eu-west-1"
)

// resolve renders a template value (Ref, Fn::Join) for testAccount and
// testRegion.
func resolve(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok {
			switch ref {
			case "AWS::Partition":
				return "aws"
			case "AWS::Region":
				return testRegion
			case "AWS::AccountId":
				return testAccount
			}
			return "<" + ref + ">"
		}
		if j, ok := v["Fn::Join"].([]any); ok {
			var b strings.Builder
			for _, part := range j[1].([]any) {
				b.WriteString(resolve(part))
			}
			return b.String()
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok {
			return fmt.Sprintf("<%v.%v>", ga[0], ga[1])
		}
	}
	return fmt.Sprint(v)
}

// like is IAM's wildcard match (* any run, ? one character).
func like(pattern, s string) bool {
	ok, err := path.Match(strings.ReplaceAll(pattern, "/", "\x00"), strings.ReplaceAll(s, "/", "\x00"))
	return err == nil && ok
}

func condValues(v any) []string {
	if l, ok := v.([]any); ok {
		var out []string
		for _, x := range l {
			out = append(out, resolve(x))
		}
		return out
	}
	return []string{resolve(v)}
}

// request is one API call as IAM sees it: the action, the resource and
// the context keys (multi-valued keys hold several values).
type request struct {
	action, resource string
	keys             map[string][]string
}

func (r request) conditionHolds(op string, kv map[string]any) bool {
	for key, want := range kv {
		wants := condValues(want)
		got, present := r.keys[key]
		anyOf := func(match func(w, g string) bool, g string) bool {
			for _, w := range wants {
				if match(w, g) {
					return true
				}
			}
			return false
		}
		eq := func(w, g string) bool { return w == g }
		switch op {
		case "StringEquals":
			if !present || !anyOf(eq, got[0]) {
				return false
			}
		case "StringEqualsIfExists":
			if present && !anyOf(eq, got[0]) {
				return false
			}
		case "Null":
			if (wants[0] == "true") != !present {
				return false
			}
		case "ForAllValues:ArnLike":
			for _, g := range got {
				if !anyOf(like, g) {
					return false
				}
			}
		case "ForAllValues:StringNotEquals":
			for _, g := range got {
				if anyOf(eq, g) {
					return false
				}
			}
		default:
			panic("policy_test: condition operator " + op + " is not evaluated; add it")
		}
	}
	return true
}

// allows reports whether a statement of stmts allows r.
func allows(stmts []policyStatement, r request) (bool, string) {
	for _, st := range stmts {
		if st.Effect != "Allow" || !containsString(st.Actions, r.action) {
			continue
		}
		onResource := false
		for _, res := range st.Resources {
			if like(resolve(res), r.resource) {
				onResource = true
			}
		}
		if !onResource {
			continue
		}
		holds := true
		for op, kv := range st.Condition {
			if !r.conditionHolds(op, kv.(map[string]any)) {
				holds = false
			}
		}
		if holds {
			return true, st.Sid
		}
	}
	return false, ""
}

func elbARN(resource string) string {
	return "arn:aws:elasticloadbalancing:" + testRegion + ":" + testAccount + ":" + resource
}

// TestPolicyScope: per statement, what a role may change and what not.
func TestPolicyScope(t *testing.T) {
	optedIn := map[string][]string{"aws:ResourceTag/okra:opt-in": {"true"}}
	named := altProps(nil).ListenerArns[0]
	other := elbARN("listener/app/other/0123456789abcdef/0123456789abcdef")
	nlb := elbARN("listener/net/tcp/0123456789abcdef/0123456789abcdef")
	rule := elbARN("listener-rule/app/other/0123456789abcdef/0123456789abcdef/00112233")
	asg := "arn:aws:autoscaling:" + testRegion + ":" + testAccount + ":autoScalingGroup:0f1e2d3c-aaaa-bbbb-cccc-0123456789ab:autoScalingGroupName/eks-ng-1-abc"
	okraTG := elbARN("targetgroup/web-web-1-v2-0a1b2c3d/0123456789abcdef")
	nodeGroup := map[string][]string{"autoscaling:ResourceTag/eks:nodegroup-name": {"ng-1"}}
	withTGs := func(tgs ...string) map[string][]string {
		m := map[string][]string{"autoscaling:TargetGroupARNs": tgs}
		for k, v := range nodeGroup {
			m[k] = v
		}
		return m
	}
	merge := func(ms ...map[string][]string) map[string][]string {
		out := map[string][]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	managedRule := map[string][]string{"aws:ResourceTag/okra:managed": {"true"}}
	createTagged := map[string][]string{"aws:RequestTag/okra:managed": {"true"}}

	for _, c := range []struct {
		stack, fn, sid string
		r              request
		allowed        bool
	}{
		// SetOptedInListenerWeights / SetNamedListenerWeights
		{"main", "rollout-weights", "SetOptedInListenerWeights", request{"elasticloadbalancing:ModifyListener", other, optedIn}, true},
		{"main", "rollout-weights", "SetOptedInListenerWeights", request{"elasticloadbalancing:ModifyListener", nlb, optedIn}, true},
		{"main", "rollout-weights", "", request{"elasticloadbalancing:ModifyListener", other, nil}, false},
		{"main", "rollout-weights", "", request{"elasticloadbalancing:ModifyListener", other, map[string][]string{"aws:ResourceTag/okra:opt-in": {"false"}}}, false},
		{"main", "rollout-weights", "", request{"elasticloadbalancing:ModifyListener", strings.Replace(other, testAccount, "210987654321", 1), optedIn}, false},
		{"alt", "rollout-weights", "SetNamedListenerWeights", request{"elasticloadbalancing:ModifyListener", named, nil}, true},
		{"alt", "rollout-weights", "SetOptedInListenerWeights", request{"elasticloadbalancing:ModifyListener", other, optedIn}, true},
		{"alt", "rollout-weights", "", request{"elasticloadbalancing:ModifyListener", other, nil}, false},
		// SetRuleWeights
		{"main", "rollout-weights", "SetRuleWeights", request{"elasticloadbalancing:ModifyRule", rule, managedRule}, true},
		{"main", "rollout-weights", "", request{"elasticloadbalancing:ModifyRule", rule, nil}, false},
		// CreateRulesOnOptedInListeners / CreateRulesOnNamedListeners
		{"main", "rollout-plan", "CreateRulesOnOptedInListeners", request{"elasticloadbalancing:CreateRule", other, merge(optedIn, createTagged)}, true},
		{"main", "rollout-plan", "", request{"elasticloadbalancing:CreateRule", other, createTagged}, false},
		{"main", "rollout-plan", "", request{"elasticloadbalancing:CreateRule", other, optedIn}, false},
		{"alt", "rollout-plan", "CreateRulesOnNamedListeners", request{"elasticloadbalancing:CreateRule", named, createTagged}, true},
		{"alt", "rollout-plan", "", request{"elasticloadbalancing:CreateRule", named, nil}, false},
		// CreateRulesTagged: the new rule itself, tagged on creation
		{"main", "rollout-plan", "CreateRulesTagged", request{"elasticloadbalancing:CreateRule", rule, createTagged}, true},
		{"main", "rollout-plan", "", request{"elasticloadbalancing:CreateRule", rule, nil}, false},
		// AttachNodeGroups
		{"main", "cluster-events", "AttachNodeGroups", request{"autoscaling:AttachLoadBalancerTargetGroups", asg, withTGs(okraTG)}, true},
		{"main", "cluster-events", "", request{"autoscaling:AttachLoadBalancerTargetGroups", asg, withTGs(okraTG, elbARN("targetgroup/payments/0123456789abcdef"))}, false},
		{"main", "cluster-events", "", request{"autoscaling:AttachLoadBalancerTargetGroups", asg, withTGs(strings.Replace(okraTG, testAccount, "210987654321", 1))}, false},
		{"main", "cluster-events", "", request{"autoscaling:AttachLoadBalancerTargetGroups", asg, nodeGroup}, false},
		{"main", "cluster-events", "", request{"autoscaling:AttachLoadBalancerTargetGroups", strings.Replace(asg, "eks-ng", "web-asg", 1), withTGs(okraTG)}, false},
		{"main", "cluster-events", "", request{"autoscaling:AttachLoadBalancerTargetGroups", asg, map[string][]string{"autoscaling:TargetGroupARNs": {okraTG}}}, false},
		// Functions without the access have none of it.
		{"main", "check-datadog", "", request{"elasticloadbalancing:ModifyListener", other, optedIn}, false},
		{"main", "rollout-weights", "", request{"elasticloadbalancing:CreateRule", other, merge(optedIn, createTagged)}, false},
	} {
		verdict := map[bool]string{true: "allowed", false: "denied"}[c.allowed]
		t.Run(fmt.Sprintf("%s/%s/%s %s %s", c.stack, c.fn, c.r.action, verdict, c.r.resource), func(t *testing.T) {
			s := mainStack(t)
			if c.stack == "alt" {
				s = altStack(t)
			}
			got, sid := allows(s.roleStatements(s.functionRoleID(t, c.fn)), c.r)
			if got != c.allowed || got && sid != c.sid {
				t.Errorf("%s by %q with %v: allowed=%v (by %q), want allowed=%v (by %q)", c.r.action, c.r.resource, c.r.keys, got, sid, c.allowed, c.sid)
			}
		})
	}
}
