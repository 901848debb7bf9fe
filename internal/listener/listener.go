// Package listener owns okra's control of one weighted forward action on an
// ELBv2 listener: the listener's default action, or the forward action of
// the Cell's listener rule (ALB only). It reads the action as a
// weights.Forward, writes new weights while keeping stickiness and every
// other action and listener property intact, verifies the result by reading
// it back, and creates or updates the Cell's rule.
//
// It enforces the limits of a forward action (1..5 target groups, weights
// 0..999, no duplicates, a positive total, rule priorities 1..50000) before
// it calls AWS, because the local emulator does not. It does not decide
// weights (package weights and the rollout planner do), create target
// groups (package targetgroups) or touch rules okra did not create.
package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/weights"
)

// ELBv2API is the part of the Elastic Load Balancing v2 API this package
// calls; *elbv2.Client satisfies it.
type ELBv2API interface {
	DescribeListeners(ctx context.Context, params *elbv2.DescribeListenersInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeListenersOutput, error)
	DescribeRules(ctx context.Context, params *elbv2.DescribeRulesInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error)
	DescribeTags(ctx context.Context, params *elbv2.DescribeTagsInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error)
	ModifyListener(ctx context.Context, params *elbv2.ModifyListenerInput, optFns ...func(*elbv2.Options)) (*elbv2.ModifyListenerOutput, error)
	ModifyRule(ctx context.Context, params *elbv2.ModifyRuleInput, optFns ...func(*elbv2.Options)) (*elbv2.ModifyRuleOutput, error)
	CreateRule(ctx context.Context, params *elbv2.CreateRuleInput, optFns ...func(*elbv2.Options)) (*elbv2.CreateRuleOutput, error)
}

var _ ELBv2API = (*elbv2.Client)(nil)

// Controller is the port the rollout handlers use to move traffic of one
// Cell: read the forward action, set new weights, verify them, and make
// sure the Cell's listener rule exists.
type Controller interface {
	// Read returns the forward action where the Cell's traffic is routed.
	// A rule that does not exist yet reads as an empty Forward.
	Read(ctx context.Context, ing cell.Ingress) (weights.Forward, error)
	// Set writes fwd into the forward action. Stickiness is fwd's when
	// set, else the action's current one.
	Set(ctx context.Context, ing cell.Ingress, fwd weights.Forward) error
	// Verify reads the action back and returns a *DriftError unless every
	// target group and weight (and stickiness, when expected sets it)
	// matches.
	Verify(ctx context.Context, ing cell.Ingress, expected weights.Forward) error
	// EnsureRule creates the Cell's rule, or updates its conditions; a
	// no-op for a Cell routed by the listener's default action.
	EnsureRule(ctx context.Context, cellName string, ing cell.Ingress, initial weights.Forward) (RuleResult, error)
}

// Options configure a Client.
type Options struct {
	// Logger receives one line before and after every mutation. Nil means
	// slog.Default().
	Logger *slog.Logger
	// RulesPageSize is DescribeRules' PageSize; zero leaves AWS's default.
	RulesPageSize int32
	// OptIn is what the deployed roles require of a listener before okra
	// may change it; CheckIngress checks it.
	OptIn OptIn
}

// OptIn is the deploy's requirement on the listeners okra changes: with
// Required, the roles may modify a listener (and create and modify rules
// on it) only when it carries inventory.TagOptIn=inventory.OptInValue or
// is one of Listeners (the stack's listenerArns context).
type OptIn struct {
	Required  bool
	Listeners []string
}

// Client controls weighted forward actions through the ELBv2 API.
type Client struct {
	api   ELBv2API
	log   *slog.Logger
	page  int32
	optIn OptIn
}

var _ Controller = (*Client)(nil)

// New returns a Client calling api.
func New(api ELBv2API, o Options) *Client {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Client{api: api, log: log, page: o.RulesPageSize, optIn: o.OptIn}
}

// location is where a Cell's forward action lives, as last read.
type location struct {
	listenerARN string
	// rule is nil for the listener's default action.
	rule *types.Rule
	// ruleMissing: the Cell has a rule configured but none exists at its
	// priority.
	ruleMissing bool
	actions     []types.Action
}

// Where names the Cell's forward action in logs and errors.
func Where(ing cell.Ingress) string {
	if ing.Rule == nil {
		return "default action of listener " + ing.ListenerARN
	}
	return fmt.Sprintf("rule priority %d of listener %s", ing.Rule.Priority, ing.ListenerARN)
}

// checkIngress refuses an ingress the ELBv2 API cannot serve, before any call.
func checkIngress(ing cell.Ingress) error {
	if ing.ListenerARN == "" {
		return errors.New("ingress.listenerARN is empty")
	}
	if ing.Rule == nil {
		return nil
	}
	if ing.Type == cell.IngressNLB {
		return fmt.Errorf("ingress.rule is set but %s listeners have no rules: remove ingress.rule to use the default action", cell.IngressNLB)
	}
	return checkPriority(ing.Rule.Priority)
}

// locate reads the actions holding the Cell's forward action.
func (c *Client) locate(ctx context.Context, ing cell.Ingress) (location, error) {
	loc := location{listenerARN: ing.ListenerARN}
	if ing.Rule == nil {
		out, err := c.api.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{ing.ListenerARN}})
		if err != nil {
			return loc, fmt.Errorf("describing listener %s, %w", ing.ListenerARN, err)
		}
		if len(out.Listeners) != 1 {
			return loc, fmt.Errorf("describing listener %s: got %d listeners, want 1", ing.ListenerARN, len(out.Listeners))
		}
		loc.actions = out.Listeners[0].DefaultActions
		return loc, nil
	}
	rule, err := c.findRule(ctx, ing.ListenerARN, ing.Rule.Priority)
	if err != nil {
		return loc, err
	}
	if rule == nil {
		loc.ruleMissing = true
		return loc, nil
	}
	loc.rule = rule
	loc.actions = rule.Actions
	return loc, nil
}

// findRule returns the listener's rule with priority, reading every page
// of DescribeRules, or nil when there is none.
func (c *Client) findRule(ctx context.Context, listenerARN string, priority int32) (*types.Rule, error) {
	in := &elbv2.DescribeRulesInput{ListenerArn: aws.String(listenerARN)}
	if c.page > 0 {
		in.PageSize = aws.Int32(c.page)
	}
	want := strconv.Itoa(int(priority))
	pages := elbv2.NewDescribeRulesPaginator(c.api, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("describing rules of listener %s, %w", listenerARN, err)
		}
		for i := range out.Rules {
			r := out.Rules[i]
			if aws.ToBool(r.IsDefault) {
				continue
			}
			if aws.ToString(r.Priority) == want {
				return &r, nil
			}
		}
	}
	return nil, nil
}

// forwardIndex returns the index of the forward action among actions, or
// -1 with a *NotForwardError when the terminal action is something else,
// or -1 and nil when there are no actions at all.
func forwardIndex(actions []types.Action, at string) (int, error) {
	for i, a := range actions {
		if a.Type == types.ActionTypeEnumForward {
			return i, nil
		}
	}
	if len(actions) == 0 {
		return -1, nil
	}
	terminal := actions[0]
	for _, a := range actions[1:] {
		if aws.ToInt32(a.Order) > aws.ToInt32(terminal.Order) {
			terminal = a
		}
	}
	return -1, &NotForwardError{Location: at, ActionType: string(terminal.Type)}
}

// forwardOf converts a forward action, in either shape AWS returns it, to
// a weights.Forward.
func forwardOf(a types.Action) weights.Forward {
	var fwd weights.Forward
	if fc := a.ForwardConfig; fc != nil && len(fc.TargetGroups) > 0 {
		for _, tg := range fc.TargetGroups {
			w := int32(1) // AWS's default weight when none was given
			if tg.Weight != nil {
				w = *tg.Weight
			}
			fwd.TargetGroups = append(fwd.TargetGroups, weights.TargetGroupWeight{ARN: aws.ToString(tg.TargetGroupArn), Weight: w})
		}
		if s := fc.TargetGroupStickinessConfig; s != nil {
			fwd.Stickiness = &weights.Stickiness{Enabled: aws.ToBool(s.Enabled), DurationSeconds: aws.ToInt32(s.DurationSeconds)}
		}
		return fwd
	}
	if a.TargetGroupArn != nil {
		// The legacy shape: one target group takes all traffic.
		fwd.TargetGroups = []weights.TargetGroupWeight{{ARN: *a.TargetGroupArn, Weight: 1}}
	}
	return fwd
}

// Read returns the Cell's forward action.
func (c *Client) Read(ctx context.Context, ing cell.Ingress) (weights.Forward, error) {
	if err := checkIngress(ing); err != nil {
		return weights.Forward{}, err
	}
	loc, err := c.locate(ctx, ing)
	if err != nil {
		return weights.Forward{}, err
	}
	return readForward(loc, ing)
}

func readForward(loc location, ing cell.Ingress) (weights.Forward, error) {
	if loc.ruleMissing {
		return weights.Forward{}, nil
	}
	i, err := forwardIndex(loc.actions, Where(ing))
	if err != nil || i < 0 {
		return weights.Forward{}, err
	}
	return forwardOf(loc.actions[i]), nil
}

// Set writes fwd into the Cell's forward action. Limits are checked before
// any AWS call. Other actions of the listener or rule (authentication, for
// example) and their order are kept; only the forward action's target
// groups and stickiness change. The Cell's rule must exist (EnsureRule)
// and carry okra's okra:cell tag. Nothing is written when the action
// already matches.
func (c *Client) Set(ctx context.Context, ing cell.Ingress, fwd weights.Forward) error {
	if err := checkIngress(ing); err != nil {
		return err
	}
	if err := CheckLimits(fwd); err != nil {
		return err
	}
	loc, err := c.locate(ctx, ing)
	if err != nil {
		return err
	}
	at := Where(ing)
	if loc.ruleMissing {
		return &RuleNotFoundError{ListenerARN: ing.ListenerARN, Priority: ing.Rule.Priority}
	}
	if loc.rule != nil {
		owner, managed, err := c.ruleOwner(ctx, aws.ToString(loc.rule.RuleArn))
		if err != nil {
			return err
		}
		if !managed {
			return &ForeignRuleError{ListenerARN: ing.ListenerARN, Priority: ing.Rule.Priority, RuleARN: aws.ToString(loc.rule.RuleArn), Owner: owner}
		}
	}
	i, err := forwardIndex(loc.actions, at)
	if err != nil {
		return err
	}
	if i < 0 {
		return &NotForwardError{Location: at}
	}
	current := forwardOf(loc.actions[i])
	if fwd.Stickiness == nil {
		fwd.Stickiness = current.Stickiness
	}
	if sameForward(current, fwd) {
		c.log.InfoContext(ctx, "weights already set", "location", at, "weights", logWeights(fwd))
		return nil
	}
	actions := writableActions(loc.actions)
	actions[i] = forwardAction(fwd, loc.actions[i].Order)

	c.log.InfoContext(ctx, "setting weights", "location", at, "from", logWeights(current), "to", logWeights(fwd))
	if loc.rule == nil {
		_, err = c.api.ModifyListener(ctx, &elbv2.ModifyListenerInput{
			ListenerArn:    aws.String(ing.ListenerARN),
			DefaultActions: actions,
		})
		if err != nil {
			return fmt.Errorf("modifying listener %s, %w", ing.ListenerARN, err)
		}
	} else {
		_, err = c.api.ModifyRule(ctx, &elbv2.ModifyRuleInput{
			RuleArn: loc.rule.RuleArn,
			Actions: actions,
		})
		if err != nil {
			return fmt.Errorf("modifying rule %s, %w", aws.ToString(loc.rule.RuleArn), err)
		}
	}
	c.log.InfoContext(ctx, "set weights", "location", at, "weights", logWeights(fwd))
	return nil
}

// forwardAction builds the ForwardConfig shape of fwd.
func forwardAction(fwd weights.Forward, order *int32) types.Action {
	fc := &types.ForwardActionConfig{}
	for _, tg := range fwd.TargetGroups {
		fc.TargetGroups = append(fc.TargetGroups, types.TargetGroupTuple{
			TargetGroupArn: aws.String(tg.ARN),
			Weight:         aws.Int32(tg.Weight),
		})
	}
	if s := fwd.Stickiness; s != nil {
		fc.TargetGroupStickinessConfig = &types.TargetGroupStickinessConfig{Enabled: aws.Bool(s.Enabled)}
		if s.DurationSeconds > 0 {
			fc.TargetGroupStickinessConfig.DurationSeconds = aws.Int32(s.DurationSeconds)
		}
	}
	return types.Action{Type: types.ActionTypeEnumForward, Order: order, ForwardConfig: fc}
}

// writableActions copies actions as read so they can be sent back: AWS
// never returns an OIDC client secret, so an authenticate-oidc action must
// say to keep the existing one.
func writableActions(actions []types.Action) []types.Action {
	out := make([]types.Action, len(actions))
	copy(out, actions)
	for i := range out {
		if oidc := out[i].AuthenticateOidcConfig; oidc != nil && oidc.ClientSecret == nil {
			cp := *oidc
			cp.UseExistingClientSecret = aws.Bool(true)
			out[i].AuthenticateOidcConfig = &cp
		}
	}
	return out
}

// Verify reads the forward action back and compares every target group's
// weight, the set of target groups and, when expected sets it, stickiness.
func (c *Client) Verify(ctx context.Context, ing cell.Ingress, expected weights.Forward) error {
	actual, err := c.Read(ctx, ing)
	if err != nil {
		return fmt.Errorf("reading back weights, %w", err)
	}
	at := Where(ing)
	if d := diff(at, expected, actual); d != nil {
		c.log.WarnContext(ctx, "weights drifted", "location", at, "expected", logWeights(expected), "actual", logWeights(actual))
		return d
	}
	c.log.InfoContext(ctx, "verified weights", "location", at, "weights", logWeights(actual))
	return nil
}

// Compare returns a *DriftError naming every difference between what okra
// last set and verified (expected) and what the action at holds now
// (actual): a weight, a missing or an extra target group, or stickiness
// (which, unlike in Verify, is always compared; unset is disabled). It
// returns nil when they are the same. The rollout calls it at every step
// boundary, so that a change made behind okra's back is never overwritten
// silently.
func Compare(at string, expected, actual weights.Forward) *DriftError {
	d := diff(at, expected, actual)
	if !sameStickiness(expected.Stickiness, actual.Stickiness) {
		if d == nil {
			d = &DriftError{Location: at, Expected: expected, Actual: actual}
		}
		d.StickinessDrift = true
	}
	return d
}

// diff returns a *DriftError when actual differs from expected, else nil.
func diff(at string, expected, actual weights.Forward) *DriftError {
	var diffs []WeightDiff
	seen := map[string]bool{}
	for _, e := range expected.TargetGroups {
		seen[e.ARN] = true
		a, ok := actual.Weight(e.ARN)
		if !ok {
			diffs = append(diffs, WeightDiff{TargetGroup: e.ARN, Expected: e.Weight, Missing: true})
			continue
		}
		if a != e.Weight {
			diffs = append(diffs, WeightDiff{TargetGroup: e.ARN, Expected: e.Weight, Actual: a})
		}
	}
	for _, a := range actual.TargetGroups {
		if !seen[a.ARN] {
			diffs = append(diffs, WeightDiff{TargetGroup: a.ARN, Actual: a.Weight, Unexpected: true})
		}
	}
	stickiness := expected.Stickiness != nil && !sameStickiness(expected.Stickiness, actual.Stickiness)
	if len(diffs) == 0 && !stickiness {
		return nil
	}
	return &DriftError{Location: at, Expected: expected, Actual: actual, Diffs: diffs, StickinessDrift: stickiness}
}

func sameStickiness(a, b *weights.Stickiness) bool {
	enabled := func(s *weights.Stickiness) bool { return s != nil && s.Enabled }
	if enabled(a) != enabled(b) {
		return false
	}
	return !enabled(a) || a.DurationSeconds == b.DurationSeconds
}

// sameForward reports whether a and b hold the same target groups in the
// same order with the same weights and stickiness.
func sameForward(a, b weights.Forward) bool {
	if len(a.TargetGroups) != len(b.TargetGroups) {
		return false
	}
	for i := range a.TargetGroups {
		if a.TargetGroups[i] != b.TargetGroups[i] {
			return false
		}
	}
	if (a.Stickiness == nil) != (b.Stickiness == nil) {
		return false
	}
	return a.Stickiness == nil || *a.Stickiness == *b.Stickiness
}

// ruleOwner returns the rule's okra:cell tag and whether it carries one.
func (c *Client) ruleOwner(ctx context.Context, ruleARN string) (string, bool, error) {
	out, err := c.api.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{ruleARN}})
	if err != nil {
		return "", false, fmt.Errorf("describing tags of rule %s, %w", ruleARN, err)
	}
	for _, d := range out.TagDescriptions {
		if aws.ToString(d.ResourceArn) != ruleARN {
			continue
		}
		for _, t := range d.Tags {
			if aws.ToString(t.Key) == inventory.TagCell {
				return aws.ToString(t.Value), true, nil
			}
		}
	}
	return "", false, nil
}

// logWeights renders a forward action compactly for logs.
func logWeights(f weights.Forward) []string {
	out := make([]string, 0, len(f.TargetGroups))
	for _, tg := range f.TargetGroups {
		out = append(out, tg.ARN+"="+strconv.Itoa(int(tg.Weight)))
	}
	return out
}
