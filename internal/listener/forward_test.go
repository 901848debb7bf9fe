package listener

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/weights"
)

func TestReadForwardShapes(t *testing.T) {
	fixed := types.Action{Type: types.ActionTypeEnumFixedResponse, Order: aws.Int32(1), FixedResponseConfig: &types.FixedResponseActionConfig{StatusCode: aws.String("404")}}
	oidc := types.Action{Type: types.ActionTypeEnumAuthenticateOidc, Order: aws.Int32(1)}
	tests := []struct {
		name    string
		actions []types.Action
		missing bool
		want    weights.Forward
		wantErr string
	}{
		{
			name: "forward config with weights and stickiness",
			actions: []types.Action{{Type: types.ActionTypeEnumForward, ForwardConfig: &types.ForwardActionConfig{
				TargetGroups: []types.TargetGroupTuple{
					{TargetGroupArn: aws.String("b"), Weight: aws.Int32(900)},
					{TargetGroupArn: aws.String("a"), Weight: aws.Int32(100)},
				},
				TargetGroupStickinessConfig: &types.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(300)},
			}}},
			want: weights.Forward{
				TargetGroups: []weights.TargetGroupWeight{{ARN: "b", Weight: 900}, {ARN: "a", Weight: 100}},
				Stickiness:   &weights.Stickiness{Enabled: true, DurationSeconds: 300},
			},
		},
		{
			name:    "legacy target group ARN",
			actions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String("a")}},
			want:    weights.Forward{TargetGroups: []weights.TargetGroupWeight{{ARN: "a", Weight: 1}}},
		},
		{
			name: "both shapes prefer the forward config",
			actions: []types.Action{{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String("a"), ForwardConfig: &types.ForwardActionConfig{
				TargetGroups: []types.TargetGroupTuple{{TargetGroupArn: aws.String("a"), Weight: aws.Int32(7)}},
			}}},
			want: weights.Forward{TargetGroups: []weights.TargetGroupWeight{{ARN: "a", Weight: 7}}},
		},
		{
			name: "forward after authentication",
			actions: []types.Action{oidc, {Type: types.ActionTypeEnumForward, Order: aws.Int32(2), ForwardConfig: &types.ForwardActionConfig{
				TargetGroups: []types.TargetGroupTuple{{TargetGroupArn: aws.String("a"), Weight: aws.Int32(3)}},
			}}},
			want: weights.Forward{TargetGroups: []weights.TargetGroupWeight{{ARN: "a", Weight: 3}}},
		},
		{name: "missing rule is empty", missing: true, want: weights.Forward{}},
		{name: "empty forward config is empty", actions: []types.Action{{Type: types.ActionTypeEnumForward, ForwardConfig: &types.ForwardActionConfig{}}}, want: weights.Forward{}},
		{name: "fixed response is refused", actions: []types.Action{fixed}, wantErr: "fixed-response"},
		{name: "authentication then fixed response is refused", actions: []types.Action{oidc, {Type: types.ActionTypeEnumFixedResponse, Order: aws.Int32(2)}}, wantErr: "fixed-response"},
	}
	ing := cell.Ingress{ListenerARN: "arn:l"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readForward(location{listenerARN: "arn:l", actions: tt.actions, ruleMissing: tt.missing}, ing)
			if tt.wantErr != "" {
				var nf *NotForwardError
				if !errors.As(err, &nf) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want *NotForwardError mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readForward: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("forward = %+v, want %+v", got, tt.want)
			}
			if got.Empty() != (len(tt.want.TargetGroups) == 0) {
				t.Errorf("Empty() = %v", got.Empty())
			}
		})
	}
}

func TestDiff(t *testing.T) {
	sticky := &weights.Stickiness{Enabled: true, DurationSeconds: 60}
	fw := func(s *weights.Stickiness, pairs ...any) weights.Forward {
		f := weights.Forward{Stickiness: s}
		for i := 0; i < len(pairs); i += 2 {
			f.TargetGroups = append(f.TargetGroups, weights.TargetGroupWeight{ARN: pairs[i].(string), Weight: int32(pairs[i+1].(int))})
		}
		return f
	}
	tests := []struct {
		name       string
		expected   weights.Forward
		actual     weights.Forward
		want       []WeightDiff
		stickiness bool
	}{
		{name: "equal in another order", expected: fw(nil, "a", 800, "b", 200), actual: fw(nil, "b", 200, "a", 800)},
		{name: "stable weight changed", expected: fw(nil, "a", 800, "b", 200), actual: fw(nil, "a", 900, "b", 200), want: []WeightDiff{{TargetGroup: "a", Expected: 800, Actual: 900}}},
		{name: "both changed", expected: fw(nil, "a", 800, "b", 200), actual: fw(nil, "a", 500, "b", 500), want: []WeightDiff{{TargetGroup: "a", Expected: 800, Actual: 500}, {TargetGroup: "b", Expected: 200, Actual: 500}}},
		{name: "group missing", expected: fw(nil, "a", 800, "b", 200), actual: fw(nil, "a", 800), want: []WeightDiff{{TargetGroup: "b", Expected: 200, Missing: true}}},
		{name: "group unexpected at weight 0", expected: fw(nil, "a", 1), actual: fw(nil, "a", 1, "c", 0), want: []WeightDiff{{TargetGroup: "c", Unexpected: true}}},
		{name: "stickiness ignored when not expected", expected: fw(nil, "a", 1), actual: fw(sticky, "a", 1)},
		{name: "stickiness drift", expected: fw(sticky, "a", 1), actual: fw(&weights.Stickiness{Enabled: true, DurationSeconds: 30}, "a", 1), stickiness: true},
		{name: "disabled equals absent", expected: fw(&weights.Stickiness{}, "a", 1), actual: fw(nil, "a", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := diff("here", tt.expected, tt.actual)
			if len(tt.want) == 0 && !tt.stickiness {
				if d != nil {
					t.Fatalf("diff = %v, want none", d)
				}
				return
			}
			if d == nil {
				t.Fatal("diff = nil, want drift")
			}
			if !reflect.DeepEqual(d.Diffs, tt.want) || d.StickinessDrift != tt.stickiness {
				t.Errorf("diffs = %+v stickiness %v, want %+v stickiness %v", d.Diffs, d.StickinessDrift, tt.want, tt.stickiness)
			}
		})
	}
}

func TestSameConditions(t *testing.T) {
	spec := cell.ListenerRule{
		Priority:     1,
		Hosts:        []string{"a.example.com", "b.example.com"},
		PathPatterns: []string{"/api/*"},
		Headers:      []cell.HeaderCondition{{Name: "X-Canary", Values: []string{"1"}}},
		HTTPMethods:  []string{"GET"},
		SourceIPs:    []string{"10.0.0.0/8"},
		QueryStrings: []cell.QueryStringCondition{{Key: "v", Value: "2"}, {Value: "beta"}},
	}
	tests := []struct {
		name  string
		other []types.RuleCondition
		same  bool
	}{
		{name: "identical", other: Conditions(spec), same: true},
		{name: "as AWS returns it: legacy values and reordered", same: true, other: func() []types.RuleCondition {
			cs := Conditions(spec)
			cs[0].Values = []string{"b.example.com", "a.example.com"}
			cs[0].HostHeaderConfig.Values = []string{"b.example.com", "a.example.com"}
			cs[2].HttpHeaderConfig.HttpHeaderName = aws.String("x-canary")
			cs[0], cs[5] = cs[5], cs[0]
			return cs
		}()},
		{name: "host changed", other: func() []types.RuleCondition {
			s := spec
			s.Hosts = []string{"a.example.com", "c.example.com"}
			return Conditions(s)
		}()},
		{name: "query key changed", other: func() []types.RuleCondition {
			s := spec
			s.QueryStrings = []cell.QueryStringCondition{{Key: "w", Value: "2"}, {Value: "beta"}}
			return Conditions(s)
		}()},
		{name: "a condition dropped", other: Conditions(spec)[1:]},
		{name: "regex added", other: func() []types.RuleCondition {
			cs := Conditions(spec)
			cs[1].PathPatternConfig = &types.PathPatternConditionConfig{Values: []string{"/api/*"}, RegexValues: []string{"^/x"}}
			return cs
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SameConditions(Conditions(spec), tt.other); got != tt.same {
				t.Errorf("SameConditions = %v, want %v", got, tt.same)
			}
		})
	}
}

func TestWritableActionsKeepOIDCSecret(t *testing.T) {
	in := []types.Action{
		{Type: types.ActionTypeEnumAuthenticateOidc, Order: aws.Int32(1), AuthenticateOidcConfig: &types.AuthenticateOidcActionConfig{ClientId: aws.String("id")}},
		{Type: types.ActionTypeEnumForward, Order: aws.Int32(2), TargetGroupArn: aws.String("a")},
	}
	out := writableActions(in)
	if !aws.ToBool(out[0].AuthenticateOidcConfig.UseExistingClientSecret) {
		t.Error("authenticate-oidc action does not keep the existing client secret")
	}
	if in[0].AuthenticateOidcConfig.UseExistingClientSecret != nil {
		t.Error("writableActions modified its input")
	}
}
