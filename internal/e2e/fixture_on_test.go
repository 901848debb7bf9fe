package e2e

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/local"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/targetgroups"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/weights"
)

// newFixtureOn builds a fixture on any deployment o, with every call the
// test itself makes (setup, listener reads, status reads, starting the
// execution) going through direct: for the fault tests that is a client
// of moto itself, so only okra's handlers meet the injected faults;
// newFixture passes the shared deployment's own configuration. It also
// returns the fixture's network, for tests that create EKS clusters in it.
func newFixtureOn(t *testing.T, o *local.Okra, direct awsapi.Config, steps []cell.Step, rollbackWindow time.Duration, versions map[string]bool) (*fixture, testenv.Network) {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	view := *o
	view.AWS = direct
	view.Store = store.New(direct.DynamoDB(), o.TableName, store.Options{Logger: quiet})
	f := &fixture{
		t: t, ctx: ctx, okra: &view, elb: direct.ELBv2(), sfn: direct.SFN(),
		name: testenv.UniqueName("web"), groups: map[string]inventory.TargetGroup{},
		control: listener.New(direct.ELBv2(), listener.Options{Logger: quiet}),
		execs:   executions.New(direct.SFN(), o.StateMachineARN, quiet),
	}
	network := testenv.NewNetwork(t, direct.EC2())
	f.vpc = network.VPCID
	lb, err := f.elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String(testenv.UniqueName("alb")), Subnets: network.SubnetIDs, Type: elbv2types.LoadBalancerTypeEnumApplication,
	})
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	f.spec = &cell.Cell{
		APIVersion: cell.APIVersion, Kind: cell.Kind,
		Metadata: cell.Metadata{Name: f.name},
		Spec: cell.Spec{
			Ingress: cell.Ingress{
				Type:                cell.IngressALB,
				TargetGroupSelector: cell.TargetGroupSelector{MatchLabels: map[string]string{inventory.TagCell: f.name}},
			},
			ClusterSelector:     cell.ClusterSelector{MatchTags: map[string]string{"okra-e2e": f.name}},
			TargetGroupTemplate: cell.TargetGroupTemplate{Port: aws.Int32(8080)},
			RollbackWindow:      &cell.Duration{Duration: rollbackWindow},
			UpdateStrategy:      cell.UpdateStrategy{Canary: &cell.Canary{Steps: steps}},
		},
	}
	f.tgs, err = targetgroups.New(targetgroups.Deps{ELBv2: f.elb, Tagging: direct.Tagging(), EKS: direct.EKS(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defaulted := *f.spec
	defaulted.Default()
	for _, v := range sortedVersions(versions) {
		tg, err := f.tgs.Ensure(ctx, &defaulted, inventory.Cluster{
			Name: f.name + "-" + v, Status: "ACTIVE", VPCID: f.vpc,
			Tags: map[string]string{"okra-e2e": f.name, "version": v},
		})
		if err != nil {
			t.Fatalf("Ensure target group for %s: %v", v, err)
		}
		f.groups[v] = tg
		if versions[v] {
			f.registerTargets(v)
		}
	}
	out, err := f.elb.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Port: aws.Int32(80), Protocol: elbv2types.ProtocolEnumHttp,
		DefaultActions: []elbv2types.Action{{
			Type: elbv2types.ActionTypeEnumForward,
			ForwardConfig: &elbv2types.ForwardActionConfig{
				TargetGroups:                []elbv2types.TargetGroupTuple{{TargetGroupArn: aws.String(f.groups["v1"].ARN), Weight: aws.Int32(100)}},
				TargetGroupStickinessConfig: &elbv2types.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(60)},
			},
		}},
	})
	if err != nil {
		t.Fatalf("CreateListener: %v", err)
	}
	f.listener = aws.ToString(out.Listeners[0].ListenerArn)
	f.spec.Spec.Ingress.ListenerARN = f.listener
	if err := cell.Validate(f.spec, nil); err != nil {
		t.Fatalf("the fixture's Cell is invalid: %v", err)
	}
	if _, err := f.okra.Store.PutCell(ctx, f.spec, 0); err != nil {
		t.Fatalf("PutCell: %v", err)
	}
	f.snapshot = f.forward()
	want := weights.Forward{TargetGroups: []weights.TargetGroupWeight{{ARN: f.groups["v1"].ARN, Weight: 100}}, Stickiness: &weights.Stickiness{Enabled: true, DurationSeconds: 60}}
	if !weights.Equal(f.snapshot, want) {
		t.Fatalf("the fixture's listener forwards %+v, want %+v", f.snapshot, want)
	}
	return f, network
}
