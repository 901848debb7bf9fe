package listener

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/weights"
)

// recordingELB fails every call and records it, so a test can prove that
// no AWS call was made.
type recordingELB struct{ calls []string }

var errUnexpectedCall = errors.New("unexpected AWS call")

func (r *recordingELB) call(op string) error {
	r.calls = append(r.calls, op)
	return fmt.Errorf("%s: %w", op, errUnexpectedCall)
}

func (r *recordingELB) DescribeListeners(context.Context, *elbv2.DescribeListenersInput, ...func(*elbv2.Options)) (*elbv2.DescribeListenersOutput, error) {
	return nil, r.call("DescribeListeners")
}

func (r *recordingELB) DescribeRules(context.Context, *elbv2.DescribeRulesInput, ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error) {
	return nil, r.call("DescribeRules")
}

func (r *recordingELB) DescribeTags(context.Context, *elbv2.DescribeTagsInput, ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error) {
	return nil, r.call("DescribeTags")
}

func (r *recordingELB) ModifyListener(context.Context, *elbv2.ModifyListenerInput, ...func(*elbv2.Options)) (*elbv2.ModifyListenerOutput, error) {
	return nil, r.call("ModifyListener")
}

func (r *recordingELB) ModifyRule(context.Context, *elbv2.ModifyRuleInput, ...func(*elbv2.Options)) (*elbv2.ModifyRuleOutput, error) {
	return nil, r.call("ModifyRule")
}

func (r *recordingELB) CreateRule(context.Context, *elbv2.CreateRuleInput, ...func(*elbv2.Options)) (*elbv2.CreateRuleOutput, error) {
	return nil, r.call("CreateRule")
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func tgs(ws ...int32) []weights.TargetGroupWeight {
	out := make([]weights.TargetGroupWeight, len(ws))
	for i, w := range ws {
		out[i] = weights.TargetGroupWeight{ARN: fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg%d/%016d", i, i), Weight: w}
	}
	return out
}

func TestSetRefusesLimitsWithoutCallingAWS(t *testing.T) {
	dup := tgs(500, 500)
	dup[1].ARN = dup[0].ARN
	noARN := tgs(1, 1)
	noARN[1].ARN = ""

	tests := []struct {
		name      string
		fwd       weights.Forward
		limit     Limit
		value     int64
		offending string
	}{
		{name: "weight 1000", fwd: weights.Forward{TargetGroups: tgs(1000, 0)}, limit: LimitWeight, value: 1000, offending: tgs(1)[0].ARN},
		{name: "negative weight", fwd: weights.Forward{TargetGroups: tgs(10, -1)}, limit: LimitWeight, value: -1, offending: tgs(10, -1)[1].ARN},
		{name: "six target groups", fwd: weights.Forward{TargetGroups: tgs(1, 1, 1, 1, 1, 1)}, limit: LimitTargetGroups, value: 6},
		{name: "no target groups", fwd: weights.Forward{}, limit: LimitTargetGroups, value: 0},
		{name: "duplicate target group", fwd: weights.Forward{TargetGroups: dup}, limit: LimitDuplicate, value: 0, offending: dup[0].ARN},
		{name: "all weights zero", fwd: weights.Forward{TargetGroups: tgs(0, 0, 0)}, limit: LimitTotalWeight, value: 0},
		{name: "empty ARN", fwd: weights.Forward{TargetGroups: noARN}, limit: LimitTargetGroupARN, value: 1},
	}
	ingresses := map[string]cell.Ingress{
		"default action": {Type: cell.IngressALB, ListenerARN: "arn:listener"},
		"rule":           {Type: cell.IngressALB, ListenerARN: "arn:listener", Rule: &cell.ListenerRule{Priority: 10, Hosts: []string{"a.example.com"}}},
	}
	for _, tt := range tests {
		for ingName, ing := range ingresses {
			t.Run(tt.name+"/"+ingName, func(t *testing.T) {
				api := &recordingELB{}
				err := New(api, Options{Logger: quiet()}).Set(context.Background(), ing, tt.fwd)
				var le *LimitError
				if !errors.As(err, &le) {
					t.Fatalf("Set error = %v, want *LimitError", err)
				}
				if le.Limit != tt.limit || le.Value != tt.value || le.TargetGroup != tt.offending {
					t.Errorf("LimitError = %+v, want limit %q value %d target group %q", le, tt.limit, tt.value, tt.offending)
				}
				if le.Unwrap() == nil {
					t.Errorf("LimitError does not wrap the weights package's error")
				}
				if len(api.calls) != 0 {
					t.Errorf("AWS calls made despite the limit: %v", api.calls)
				}
			})
		}
	}
}

func TestCheckLimitsAcceptsTheEdges(t *testing.T) {
	tests := []struct {
		name string
		fwd  weights.Forward
	}{
		{name: "five target groups at 999", fwd: weights.Forward{TargetGroups: tgs(999, 999, 999, 999, 999)}},
		{name: "one target group", fwd: weights.Forward{TargetGroups: tgs(1)}},
		{name: "zero next to positive", fwd: weights.Forward{TargetGroups: tgs(0, 100)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckLimits(tt.fwd); err != nil {
				t.Fatalf("CheckLimits = %v, want nil", err)
			}
		})
	}
}

func TestIngressRefusedWithoutCallingAWS(t *testing.T) {
	good := weights.Forward{TargetGroups: tgs(1)}
	tests := []struct {
		name      string
		ing       cell.Ingress
		wantLimit bool
	}{
		{name: "priority 0", ing: cell.Ingress{Type: cell.IngressALB, ListenerARN: "arn:l", Rule: &cell.ListenerRule{Priority: 0, Hosts: []string{"a"}}}, wantLimit: true},
		{name: "priority 50001", ing: cell.Ingress{Type: cell.IngressALB, ListenerARN: "arn:l", Rule: &cell.ListenerRule{Priority: 50001, Hosts: []string{"a"}}}, wantLimit: true},
		{name: "rule on NLB", ing: cell.Ingress{Type: cell.IngressNLB, ListenerARN: "arn:l", Rule: &cell.ListenerRule{Priority: 1, Hosts: []string{"a"}}}},
		{name: "no listener", ing: cell.Ingress{Type: cell.IngressALB}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &recordingELB{}
			c := New(api, Options{Logger: quiet()})
			ctx := context.Background()
			errs := map[string]error{}
			_, errs["Read"] = c.Read(ctx, tt.ing)
			errs["Set"] = c.Set(ctx, tt.ing, good)
			errs["Verify"] = c.Verify(ctx, tt.ing, good)
			if tt.ing.Rule != nil {
				_, errs["EnsureRule"] = c.EnsureRule(ctx, "web", tt.ing, good)
			}
			for op, err := range errs {
				if err == nil || errors.Is(err, errUnexpectedCall) {
					t.Errorf("%s error = %v, want a refusal before any call", op, err)
				}
				var le *LimitError
				if tt.wantLimit && !errors.As(err, &le) {
					t.Errorf("%s error = %v, want *LimitError", op, err)
				}
			}
			if len(api.calls) != 0 {
				t.Errorf("AWS calls made: %v", api.calls)
			}
		})
	}
}

func TestEnsureRuleRefusesRuleWithoutConditions(t *testing.T) {
	api := &recordingELB{}
	ing := cell.Ingress{Type: cell.IngressALB, ListenerARN: "arn:l", Rule: &cell.ListenerRule{Priority: 5}}
	_, err := New(api, Options{Logger: quiet()}).EnsureRule(context.Background(), "web", ing, weights.Forward{TargetGroups: tgs(1)})
	if err == nil {
		t.Fatal("EnsureRule accepted a rule without conditions")
	}
	if len(api.calls) != 0 {
		t.Errorf("AWS calls made: %v", api.calls)
	}
}
