package testenv_test

import (
	"context"
	"reflect"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/testenv"
)

// weightsOf returns target-group ARN -> weight from a listener's default
// forward action, failing the test when the action is not a weighted
// forward.
func weightsOf(t *testing.T, l elbv2types.Listener) (map[string]int32, *elbv2types.TargetGroupStickinessConfig) {
	t.Helper()
	if len(l.DefaultActions) != 1 {
		t.Fatalf("listener has %d default actions, want 1", len(l.DefaultActions))
	}
	a := l.DefaultActions[0]
	if a.Type != elbv2types.ActionTypeEnumForward || a.ForwardConfig == nil {
		t.Fatalf("default action = %+v, want a forward with ForwardConfig", a)
	}
	got := map[string]int32{}
	for _, tg := range a.ForwardConfig.TargetGroups {
		got[aws.ToString(tg.TargetGroupArn)] = aws.ToInt32(tg.Weight)
	}
	return got, a.ForwardConfig.TargetGroupStickinessConfig
}

func forward(weights map[string]int32, sticky *elbv2types.TargetGroupStickinessConfig) []elbv2types.Action {
	arns := make([]string, 0, len(weights))
	for arn := range weights {
		arns = append(arns, arn)
	}
	sort.Strings(arns)
	fc := &elbv2types.ForwardActionConfig{TargetGroupStickinessConfig: sticky}
	for _, arn := range arns {
		fc.TargetGroups = append(fc.TargetGroups, elbv2types.TargetGroupTuple{TargetGroupArn: aws.String(arn), Weight: aws.Int32(weights[arn])})
	}
	return []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, ForwardConfig: fc}}
}

func describeListener(t *testing.T, c *elbv2.Client, arn string) elbv2types.Listener {
	t.Helper()
	out, err := c.DescribeListeners(context.Background(), &elbv2.DescribeListenersInput{ListenerArns: []string{arn}})
	if err != nil {
		t.Fatalf("DescribeListeners: %v", err)
	}
	if len(out.Listeners) != 1 {
		t.Fatalf("DescribeListeners returned %d listeners, want 1", len(out.Listeners))
	}
	return out.Listeners[0]
}

func createTargetGroup(t *testing.T, c *elbv2.Client, vpcID string, protocol elbv2types.ProtocolEnum, port int32, tags map[string]string) string {
	t.Helper()
	in := &elbv2.CreateTargetGroupInput{
		Name:       aws.String(testenv.UniqueName("tg")),
		Protocol:   protocol,
		Port:       aws.Int32(port),
		VpcId:      aws.String(vpcID),
		TargetType: elbv2types.TargetTypeEnumIp,
	}
	for k, v := range tags {
		in.Tags = append(in.Tags, elbv2types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := c.CreateTargetGroup(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateTargetGroup: %v", err)
	}
	return aws.ToString(out.TargetGroups[0].TargetGroupArn)
}

func TestELBv2WeightedForwardOnALB(t *testing.T) {
	cfg, counter := testenv.AWS(t)
	ctx := context.Background()
	c := cfg.ELBv2()
	network := testenv.NewNetwork(t, cfg.EC2())

	lb, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name:    aws.String(testenv.UniqueName("alb")),
		Type:    elbv2types.LoadBalancerTypeEnumApplication,
		Subnets: network.SubnetIDs,
	})
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	lbARN := aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)

	blue := createTargetGroup(t, c, network.VPCID, elbv2types.ProtocolEnumHttp, 80, map[string]string{"okra:cell": "web", "version": "v1", "okra:managed": "true"})
	green := createTargetGroup(t, c, network.VPCID, elbv2types.ProtocolEnumHttp, 80, map[string]string{"okra:cell": "web", "version": "v2", "okra:managed": "true"})

	// Tags come back as written: okra discovers target groups by them.
	tags, err := c.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{blue, green}})
	if err != nil {
		t.Fatalf("DescribeTags: %v", err)
	}
	gotVersions := map[string]string{}
	for _, td := range tags.TagDescriptions {
		for _, tag := range td.Tags {
			if aws.ToString(tag.Key) == "version" {
				gotVersions[aws.ToString(td.ResourceArn)] = aws.ToString(tag.Value)
			}
		}
	}
	if want := map[string]string{blue: "v1", green: "v2"}; !reflect.DeepEqual(gotVersions, want) {
		t.Fatalf("version tags = %v, want %v", gotVersions, want)
	}

	sticky := &elbv2types.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(300)}
	l, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: aws.String(lbARN),
		Protocol:        elbv2types.ProtocolEnumHttp,
		Port:            aws.Int32(80),
		DefaultActions:  forward(map[string]int32{blue: 90, green: 10}, sticky),
	})
	if err != nil {
		t.Fatalf("CreateListener: %v", err)
	}
	listenerARN := aws.ToString(l.Listeners[0].ListenerArn)

	weights, gotSticky := weightsOf(t, describeListener(t, c, listenerARN))
	if want := map[string]int32{blue: 90, green: 10}; !reflect.DeepEqual(weights, want) {
		t.Fatalf("weights after CreateListener = %v, want %v", weights, want)
	}
	if gotSticky == nil || !aws.ToBool(gotSticky.Enabled) || aws.ToInt32(gotSticky.DurationSeconds) != 300 {
		t.Fatalf("stickiness after CreateListener = %+v, want enabled for 300s", gotSticky)
	}

	// Shift weight, as a rollout step does, and read it back.
	if _, err := c.ModifyListener(ctx, &elbv2.ModifyListenerInput{
		ListenerArn:    aws.String(listenerARN),
		DefaultActions: forward(map[string]int32{blue: 25, green: 75}, sticky),
	}); err != nil {
		t.Fatalf("ModifyListener: %v", err)
	}
	weights, gotSticky = weightsOf(t, describeListener(t, c, listenerARN))
	if want := map[string]int32{blue: 25, green: 75}; !reflect.DeepEqual(weights, want) {
		t.Fatalf("weights after ModifyListener = %v, want %v", weights, want)
	}
	if gotSticky == nil || !aws.ToBool(gotSticky.Enabled) || aws.ToInt32(gotSticky.DurationSeconds) != 300 {
		t.Fatalf("stickiness after ModifyListener = %+v, want it kept", gotSticky)
	}

	// Finish the shift with stickiness off; the old group stays at weight 0.
	if _, err := c.ModifyListener(ctx, &elbv2.ModifyListenerInput{
		ListenerArn:    aws.String(listenerARN),
		DefaultActions: forward(map[string]int32{blue: 0, green: 100}, &elbv2types.TargetGroupStickinessConfig{Enabled: aws.Bool(false)}),
	}); err != nil {
		t.Fatalf("ModifyListener to 100%%: %v", err)
	}
	weights, gotSticky = weightsOf(t, describeListener(t, c, listenerARN))
	if want := map[string]int32{blue: 0, green: 100}; !reflect.DeepEqual(weights, want) {
		t.Fatalf("weights after the last ModifyListener = %v, want %v", weights, want)
	}
	if gotSticky == nil || aws.ToBool(gotSticky.Enabled) {
		t.Fatalf("stickiness = %+v, want disabled", gotSticky)
	}

	// The listener is also found through its load balancer.
	byLB, err := c.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN)})
	if err != nil {
		t.Fatalf("DescribeListeners by load balancer: %v", err)
	}
	if len(byLB.Listeners) != 1 || aws.ToString(byLB.Listeners[0].ListenerArn) != listenerARN {
		t.Fatalf("DescribeListeners by load balancer = %+v", byLB.Listeners)
	}

	// An unknown listener is classified as not found.
	_, err = c.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{listenerARN + "0"}})
	if !awsapi.IsNotFound(err) {
		t.Fatalf("DescribeListeners(unknown) error = %v (code %q), want a not-found error", err, awsapi.Code(err))
	}

	if n := counter.Count("Elastic Load Balancing v2.ModifyListener"); n != 2 {
		t.Fatalf("counted %d ModifyListener calls, want 2 (counts: %v)", n, counter.Snapshot())
	}
}

func TestELBv2WeightedForwardOnNLB(t *testing.T) {
	cfg, _ := testenv.AWS(t)
	ctx := context.Background()
	c := cfg.ELBv2()
	network := testenv.NewNetwork(t, cfg.EC2())

	lb, err := c.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name:    aws.String(testenv.UniqueName("nlb")),
		Type:    elbv2types.LoadBalancerTypeEnumNetwork,
		Scheme:  elbv2types.LoadBalancerSchemeEnumInternal,
		Subnets: network.SubnetIDs,
	})
	if err != nil {
		t.Fatalf("CreateLoadBalancer(network): %v", err)
	}
	if got := lb.LoadBalancers[0].Type; got != elbv2types.LoadBalancerTypeEnumNetwork {
		t.Fatalf("load balancer type = %q, want network", got)
	}
	blue := createTargetGroup(t, c, network.VPCID, elbv2types.ProtocolEnumTcp, 443, map[string]string{"version": "v1"})
	green := createTargetGroup(t, c, network.VPCID, elbv2types.ProtocolEnumTcp, 443, map[string]string{"version": "v2"})

	l, err := c.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn,
		Protocol:        elbv2types.ProtocolEnumTcp,
		Port:            aws.Int32(443),
		DefaultActions:  forward(map[string]int32{blue: 100, green: 0}, nil),
	})
	if err != nil {
		t.Fatalf("CreateListener(TCP): %v", err)
	}
	listenerARN := aws.ToString(l.Listeners[0].ListenerArn)
	weights, _ := weightsOf(t, describeListener(t, c, listenerARN))
	if want := map[string]int32{blue: 100, green: 0}; !reflect.DeepEqual(weights, want) {
		t.Fatalf("NLB weights after CreateListener = %v, want %v", weights, want)
	}

	if _, err := c.ModifyListener(ctx, &elbv2.ModifyListenerInput{
		ListenerArn:    aws.String(listenerARN),
		DefaultActions: forward(map[string]int32{blue: 50, green: 50}, nil),
	}); err != nil {
		t.Fatalf("ModifyListener(TCP): %v", err)
	}
	weights, _ = weightsOf(t, describeListener(t, c, listenerARN))
	if want := map[string]int32{blue: 50, green: 50}; !reflect.DeepEqual(weights, want) {
		t.Fatalf("NLB weights after ModifyListener = %v, want %v", weights, want)
	}
}
