package listener

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/weights"
)

// RuleChange says what EnsureRule did.
type RuleChange string

// What EnsureRule can do.
const (
	// RuleNone: the Cell uses the listener's default action; no rule.
	RuleNone RuleChange = ""
	// RuleCreated: the rule did not exist and was created.
	RuleCreated RuleChange = "Created"
	// RuleUpdated: the rule's conditions were replaced by the Cell's.
	RuleUpdated RuleChange = "Updated"
	// RuleUnchanged: the rule already matched the Cell.
	RuleUnchanged RuleChange = "Unchanged"
)

// RuleResult is what EnsureRule found or made.
type RuleResult struct {
	RuleARN string
	Change  RuleChange
}

// EnsureRule makes the Cell's listener rule exist with the Cell's
// conditions. A missing rule is created with a forward action to initial
// (limits checked first) and tagged okra:cell=cellName and
// okra:managed=true. An existing rule of this Cell whose conditions differ
// gets the Cell's conditions (its actions are left alone: weights are
// Set's job). A rule at the priority that is not tagged for this Cell is
// refused with a *ForeignRuleError. For a Cell without ingress.rule it
// does nothing.
func (c *Client) EnsureRule(ctx context.Context, cellName string, ing cell.Ingress, initial weights.Forward) (RuleResult, error) {
	if ing.Rule == nil {
		return RuleResult{Change: RuleNone}, nil
	}
	if err := checkIngress(ing); err != nil {
		return RuleResult{}, err
	}
	if cellName == "" {
		return RuleResult{}, errors.New("ensuring rule: empty Cell name")
	}
	conditions := Conditions(*ing.Rule)
	if len(conditions) == 0 {
		return RuleResult{}, fmt.Errorf("ingress.rule (priority %d) has no conditions: set at least one of hosts, pathPatterns, headers, httpMethods, sourceIPs, queryStrings", ing.Rule.Priority)
	}
	rule, err := c.findRule(ctx, ing.ListenerARN, ing.Rule.Priority)
	if err != nil {
		return RuleResult{}, err
	}
	if rule == nil {
		created, err := c.createRule(ctx, cellName, ing, conditions, initial)
		if err == nil || awsapi.Code(err) != "PriorityInUse" {
			return created, err
		}
		// Another writer (a concurrent reconcile) created a rule at this
		// priority between our read and our write: inspect it below.
		if rule, err = c.findRule(ctx, ing.ListenerARN, ing.Rule.Priority); err != nil {
			return RuleResult{}, err
		}
		if rule == nil {
			return RuleResult{}, fmt.Errorf("creating rule priority %d of listener %s: priority in use, but no rule found there", ing.Rule.Priority, ing.ListenerARN)
		}
	}
	ruleARN := aws.ToString(rule.RuleArn)
	owner, managed, err := c.ruleOwner(ctx, ruleARN)
	if err != nil {
		return RuleResult{}, err
	}
	if !managed || owner != cellName {
		return RuleResult{}, &ForeignRuleError{ListenerARN: ing.ListenerARN, Priority: ing.Rule.Priority, RuleARN: ruleARN, Owner: owner}
	}
	if SameConditions(rule.Conditions, conditions) {
		return RuleResult{RuleARN: ruleARN, Change: RuleUnchanged}, nil
	}
	c.log.InfoContext(ctx, "updating rule conditions", "cell", cellName, "rule", ruleARN, "priority", ing.Rule.Priority)
	if _, err := c.api.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: rule.RuleArn, Conditions: conditions}); err != nil {
		return RuleResult{}, fmt.Errorf("modifying conditions of rule %s, %w", ruleARN, err)
	}
	c.log.InfoContext(ctx, "updated rule conditions", "cell", cellName, "rule", ruleARN, "priority", ing.Rule.Priority)
	return RuleResult{RuleARN: ruleARN, Change: RuleUpdated}, nil
}

func (c *Client) createRule(ctx context.Context, cellName string, ing cell.Ingress, conditions []types.RuleCondition, initial weights.Forward) (RuleResult, error) {
	if err := CheckLimits(initial); err != nil {
		return RuleResult{}, fmt.Errorf("creating rule priority %d: initial forward action, %w", ing.Rule.Priority, err)
	}
	c.log.InfoContext(ctx, "creating rule", "cell", cellName, "listener", ing.ListenerARN, "priority", ing.Rule.Priority, "weights", logWeights(initial))
	out, err := c.api.CreateRule(ctx, &elbv2.CreateRuleInput{
		ListenerArn: aws.String(ing.ListenerARN),
		Priority:    aws.Int32(ing.Rule.Priority),
		Conditions:  conditions,
		Actions:     []types.Action{forwardAction(initial, aws.Int32(1))},
		Tags: []types.Tag{
			{Key: aws.String(inventory.TagCell), Value: aws.String(cellName)},
			{Key: aws.String(inventory.TagManaged), Value: aws.String(inventory.ManagedValue)},
		},
	})
	if err != nil {
		return RuleResult{}, fmt.Errorf("creating rule priority %d of listener %s, %w", ing.Rule.Priority, ing.ListenerARN, err)
	}
	if len(out.Rules) != 1 {
		return RuleResult{}, fmt.Errorf("creating rule priority %d of listener %s: got %d rules back, want 1", ing.Rule.Priority, ing.ListenerARN, len(out.Rules))
	}
	arn := aws.ToString(out.Rules[0].RuleArn)
	c.log.InfoContext(ctx, "created rule", "cell", cellName, "rule", arn, "priority", ing.Rule.Priority)
	return RuleResult{RuleARN: arn, Change: RuleCreated}, nil
}

// Conditions turns a Cell's rule into ELBv2 rule conditions: one condition
// per non-empty field, and one http-header condition per header.
func Conditions(r cell.ListenerRule) []types.RuleCondition {
	var out []types.RuleCondition
	if len(r.Hosts) > 0 {
		out = append(out, types.RuleCondition{
			Field:            aws.String("host-header"),
			HostHeaderConfig: &types.HostHeaderConditionConfig{Values: r.Hosts},
		})
	}
	if len(r.PathPatterns) > 0 {
		out = append(out, types.RuleCondition{
			Field:             aws.String("path-pattern"),
			PathPatternConfig: &types.PathPatternConditionConfig{Values: r.PathPatterns},
		})
	}
	for _, h := range r.Headers {
		out = append(out, types.RuleCondition{
			Field:            aws.String("http-header"),
			HttpHeaderConfig: &types.HttpHeaderConditionConfig{HttpHeaderName: aws.String(h.Name), Values: h.Values},
		})
	}
	if len(r.HTTPMethods) > 0 {
		out = append(out, types.RuleCondition{
			Field:                   aws.String("http-request-method"),
			HttpRequestMethodConfig: &types.HttpRequestMethodConditionConfig{Values: r.HTTPMethods},
		})
	}
	if len(r.SourceIPs) > 0 {
		out = append(out, types.RuleCondition{
			Field:          aws.String("source-ip"),
			SourceIpConfig: &types.SourceIpConditionConfig{Values: r.SourceIPs},
		})
	}
	if len(r.QueryStrings) > 0 {
		pairs := make([]types.QueryStringKeyValuePair, 0, len(r.QueryStrings))
		for _, q := range r.QueryStrings {
			p := types.QueryStringKeyValuePair{Value: aws.String(q.Value)}
			if q.Key != "" {
				p.Key = aws.String(q.Key)
			}
			pairs = append(pairs, p)
		}
		out = append(out, types.RuleCondition{
			Field:             aws.String("query-string"),
			QueryStringConfig: &types.QueryStringConditionConfig{Values: pairs},
		})
	}
	return out
}

// SameConditions reports whether two condition lists match the same
// requests as written: the order of conditions and of the values inside
// one condition does not matter, and the legacy Values field counts like
// the host-header and path-pattern configs AWS also returns.
func SameConditions(a, b []types.RuleCondition) bool {
	ca, cb := canonicalConditions(a), canonicalConditions(b)
	if len(ca) != len(cb) {
		return false
	}
	for i := range ca {
		if ca[i] != cb[i] {
			return false
		}
	}
	return true
}

func canonicalConditions(cs []types.RuleCondition) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, canonicalCondition(c))
	}
	sort.Strings(out)
	return out
}

// canonicalCondition renders one condition as a comparable string.
func canonicalCondition(c types.RuleCondition) string {
	field := aws.ToString(c.Field)
	var values, regex []string
	extra := ""
	switch field {
	case "host-header":
		values = c.Values
		if h := c.HostHeaderConfig; h != nil {
			values, regex = union(values, h.Values), h.RegexValues
		}
	case "path-pattern":
		values = c.Values
		if p := c.PathPatternConfig; p != nil {
			values, regex = union(values, p.Values), p.RegexValues
		}
	case "http-header":
		if h := c.HttpHeaderConfig; h != nil {
			extra = strings.ToLower(aws.ToString(h.HttpHeaderName))
			values, regex = h.Values, h.RegexValues
		}
	case "http-request-method":
		if m := c.HttpRequestMethodConfig; m != nil {
			values = m.Values
		}
	case "source-ip":
		if s := c.SourceIpConfig; s != nil {
			values = s.Values
		}
	case "query-string":
		if q := c.QueryStringConfig; q != nil {
			for _, p := range q.Values {
				values = append(values, aws.ToString(p.Key)+"="+aws.ToString(p.Value))
			}
		}
	default:
		values = c.Values
	}
	regex = append(regex, c.RegexValues...)
	return strings.Join([]string{field, extra, sortedJoin(values), sortedJoin(regex)}, "\x00")
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range append(append([]string{}, a...), b...) {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func sortedJoin(vs []string) string {
	cp := append([]string(nil), vs...)
	sort.Strings(cp)
	return strings.Join(cp, "\x01")
}
