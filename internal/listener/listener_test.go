package listener_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/weights"
)

const (
	opModifyListener = "Elastic Load Balancing v2.ModifyListener"
	opModifyRule     = "Elastic Load Balancing v2.ModifyRule"
	opCreateRule     = "Elastic Load Balancing v2.CreateRule"
)

func TestDefaultActionReadSetVerify(t *testing.T) {
	for _, kind := range []cell.IngressType{cell.IngressALB, cell.IngressNLB} {
		t.Run(string(kind), func(t *testing.T) {
			e := newLB(t, kind, 3)
			stable, canary, other := e.tgs[0], e.tgs[1], e.tgs[2]
			arn := e.listener(8080, legacyForward(stable))
			ing := cell.Ingress{Type: kind, ListenerARN: arn}
			c := e.controller(listener.Options{})

			got, err := c.Read(e.ctx, ing)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if want := fwd(stable, 1); !reflect.DeepEqual(got, want) {
				t.Fatalf("Read legacy action = %+v, want %+v", got, want)
			}

			steps := []weights.Forward{
				fwd(stable, 900, canary, 100),
				fwd(stable, 500, canary, 500),
				fwd(stable, 0, canary, 999, other, 1),
				fwd(canary, 1),
			}
			for _, want := range steps {
				if err := c.Set(e.ctx, ing, want); err != nil {
					t.Fatalf("Set %v: %v", want, err)
				}
				if err := c.Verify(e.ctx, ing, want); err != nil {
					t.Fatalf("Verify %v: %v", want, err)
				}
				got, err := c.Read(e.ctx, ing)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if !reflect.DeepEqual(got.TargetGroups, want.TargetGroups) {
					t.Fatalf("Read = %+v, want target groups %+v in order", got, want.TargetGroups)
				}
			}
			if n := e.counter.Count(opModifyListener); n != len(steps) {
				t.Errorf("ModifyListener calls = %d, want %d", n, len(steps))
			}

			// Setting what is already there writes nothing.
			e.counter.Reset()
			if err := c.Set(e.ctx, ing, steps[len(steps)-1]); err != nil {
				t.Fatalf("Set again: %v", err)
			}
			if n := e.counter.Count(opModifyListener); n != 0 {
				t.Errorf("repeated Set made %d ModifyListener calls, want 0", n)
			}

			// The listener's other properties are intact.
			out, err := e.elb.DescribeListeners(e.ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{arn}})
			if err != nil {
				t.Fatalf("DescribeListeners: %v", err)
			}
			l := out.Listeners[0]
			if aws.ToInt32(l.Port) != 8080 || l.Protocol != e.protocol() || len(l.DefaultActions) != 1 {
				t.Errorf("listener changed: port %d protocol %s actions %d", aws.ToInt32(l.Port), l.Protocol, len(l.DefaultActions))
			}
		})
	}
}

func TestStickinessIsKept(t *testing.T) {
	e := newLB(t, cell.IngressALB, 2)
	stable, canary := e.tgs[0], e.tgs[1]
	arn := e.listener(80, weightedForward(
		&types.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(3600)},
		weights.TargetGroupWeight{ARN: stable, Weight: 1}))
	ing := cell.Ingress{Type: cell.IngressALB, ListenerARN: arn}
	c := e.controller(listener.Options{})
	sticky := &weights.Stickiness{Enabled: true, DurationSeconds: 3600}

	tests := []struct {
		name string
		set  weights.Forward
		want *weights.Stickiness
	}{
		{name: "not given keeps what is set", set: fwd(stable, 800, canary, 200), want: sticky},
		{name: "given replaces it", set: weights.Forward{TargetGroups: fwd(stable, 500, canary, 500).TargetGroups, Stickiness: &weights.Stickiness{Enabled: true, DurationSeconds: 60}}, want: &weights.Stickiness{Enabled: true, DurationSeconds: 60}},
		{name: "not given again keeps the new one", set: fwd(stable, 100, canary, 900), want: &weights.Stickiness{Enabled: true, DurationSeconds: 60}},
		{name: "disabled when asked", set: weights.Forward{TargetGroups: fwd(canary, 1).TargetGroups, Stickiness: &weights.Stickiness{}}, want: &weights.Stickiness{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Set(e.ctx, ing, tt.set); err != nil {
				t.Fatalf("Set: %v", err)
			}
			got, err := c.Read(e.ctx, ing)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !reflect.DeepEqual(got.Stickiness, tt.want) {
				t.Errorf("stickiness = %+v, want %+v", got.Stickiness, tt.want)
			}
			if err := c.Verify(e.ctx, ing, weights.Forward{TargetGroups: tt.set.TargetGroups, Stickiness: tt.want}); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestVerifyDetectsChangesBehindOkrasBack(t *testing.T) {
	e := newLB(t, cell.IngressALB, 3)
	stable, canary, other := e.tgs[0], e.tgs[1], e.tgs[2]
	set := fwd(stable, 800, canary, 200)
	tests := []struct {
		name  string
		other types.Action
		want  []listener.WeightDiff
	}{
		{
			name:  "only the stable weight changed",
			other: weightedForward(nil, fwd(stable, 900, canary, 200).TargetGroups...),
			want:  []listener.WeightDiff{{TargetGroup: stable, Expected: 800, Actual: 900}},
		},
		{
			name:  "canary removed",
			other: weightedForward(nil, fwd(stable, 800).TargetGroups...),
			want:  []listener.WeightDiff{{TargetGroup: canary, Expected: 200, Missing: true}},
		},
		{
			name:  "a group added at weight 0",
			other: weightedForward(nil, fwd(stable, 800, canary, 200, other, 0).TargetGroups...),
			want:  []listener.WeightDiff{{TargetGroup: other, Unexpected: true}},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arn := e.listener(int32(9000+i), legacyForward(stable))
			ing := cell.Ingress{Type: cell.IngressALB, ListenerARN: arn}
			c := e.controller(listener.Options{})
			if err := c.Set(e.ctx, ing, set); err != nil {
				t.Fatalf("Set: %v", err)
			}
			if err := c.Verify(e.ctx, ing, set); err != nil {
				t.Fatalf("Verify before the change: %v", err)
			}
			// Another client rewrites the listener.
			if _, err := e.elb.ModifyListener(e.ctx, &elbv2.ModifyListenerInput{ListenerArn: aws.String(arn), DefaultActions: []types.Action{tt.other}}); err != nil {
				t.Fatalf("ModifyListener by another client: %v", err)
			}
			err := c.Verify(e.ctx, ing, set)
			var drift *listener.DriftError
			if !errors.As(err, &drift) {
				t.Fatalf("Verify = %v, want *DriftError", err)
			}
			if !reflect.DeepEqual(drift.Diffs, tt.want) {
				t.Errorf("diffs = %+v, want %+v", drift.Diffs, tt.want)
			}
		})
	}
}

func TestNotForwardAction(t *testing.T) {
	e := newLB(t, cell.IngressALB, 1)
	arn := e.listener(80, fixedResponse())
	ing := cell.Ingress{Type: cell.IngressALB, ListenerARN: arn}
	c := e.controller(listener.Options{})
	var nf *listener.NotForwardError
	if _, err := c.Read(e.ctx, ing); !errors.As(err, &nf) || nf.ActionType != "fixed-response" {
		t.Fatalf("Read = %v, want *NotForwardError for fixed-response", err)
	}
	if err := c.Set(e.ctx, ing, fwd(e.tgs[0], 1)); !errors.As(err, &nf) {
		t.Fatalf("Set = %v, want *NotForwardError", err)
	}
	if n := e.counter.Count(opModifyListener); n != 0 {
		t.Errorf("ModifyListener calls = %d, want 0", n)
	}
}

func TestUnknownListener(t *testing.T) {
	e := newLB(t, cell.IngressALB, 1)
	arn := e.listener(80, legacyForward(e.tgs[0])) + "0"
	c := e.controller(listener.Options{})
	for _, ing := range []cell.Ingress{
		{Type: cell.IngressALB, ListenerARN: arn},
		{Type: cell.IngressALB, ListenerARN: arn, Rule: &cell.ListenerRule{Priority: 1, Hosts: []string{"a"}}},
	} {
		if _, err := c.Read(e.ctx, ing); err == nil {
			t.Errorf("Read of an unknown listener (rule %v) succeeded", ing.Rule != nil)
		}
	}
}
