package targetgroups_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	autoscalingtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/targetgroups"
	"github.com/okrahq/okra/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Every test below uses its own cell and cluster names, so the tests can
// share the package's moto without resetting it.

type motoEnv struct {
	cfg     awsapi.Config
	counter *awsapi.CallCounter
	vpc     string
	subnets []string
	m       *targetgroups.Manager
}

func newMotoEnv(t *testing.T) *motoEnv {
	t.Helper()
	cfg, counter := testenv.AWS(t)
	ctx := context.Background()
	vpc, err := cfg.EC2().CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatalf("CreateVpc: %v", err)
	}
	env := &motoEnv{cfg: cfg, counter: counter, vpc: aws.ToString(vpc.Vpc.VpcId)}
	for i, az := range []string{"us-east-1a", "us-east-1b"} {
		sn, err := cfg.EC2().CreateSubnet(ctx, &ec2.CreateSubnetInput{
			VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String([]string{"10.0.1.0/24", "10.0.2.0/24"}[i]), AvailabilityZone: aws.String(az),
		})
		if err != nil {
			t.Fatalf("CreateSubnet: %v", err)
		}
		env.subnets = append(env.subnets, aws.ToString(sn.Subnet.SubnetId))
	}
	env.m, err = targetgroups.New(targetgroups.Deps{
		ELBv2: cfg.ELBv2(), Tagging: cfg.Tagging(), EKS: cfg.EKS(), AutoScaling: cfg.AutoScaling(), Logger: quiet,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return env
}

func (e *motoEnv) tags(t *testing.T, arn string) map[string]string {
	t.Helper()
	out, err := e.cfg.ELBv2().DescribeTags(context.Background(), &elbv2.DescribeTagsInput{ResourceArns: []string{arn}})
	if err != nil {
		t.Fatalf("DescribeTags: %v", err)
	}
	return discovery.TagMap(out.TagDescriptions[0].Tags)
}

func (e *motoEnv) createEKSCluster(t *testing.T, name string) {
	t.Helper()
	_, err := e.cfg.EKS().CreateCluster(context.Background(), &eks.CreateClusterInput{
		Name:               aws.String(name),
		RoleArn:            aws.String("arn:aws:iam::123456789012:role/eks"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: e.subnets},
		Tags:               map[string]string{"role": "web", "version": "v1"},
	})
	if err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
}

func elbCount(c *awsapi.CallCounter, op string) int { return c.Count(elbv2.ServiceID + "." + op) }

func TestEnsureMotoIdempotent(t *testing.T) {
	env := newMotoEnv(t)
	ctx := context.Background()
	c, cl := webCell("idem"), webCluster("idem-1", "v1", env.vpc)

	env.counter.Reset()
	first, err := env.m.Ensure(ctx, c, cl)
	if err != nil {
		t.Fatalf("first Ensure: %v", err)
	}
	t.Logf("first Ensure (creates): %v", env.counter.Snapshot())
	env.counter.Reset()
	second, err := env.m.Ensure(ctx, c, cl)
	if err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	t.Logf("second Ensure (no change): %v", env.counter.Snapshot())

	if first.ARN != second.ARN || first.Name != targetgroups.Name("idem", "idem-1") {
		t.Fatalf("first %+v, second %+v", first, second)
	}
	if n := elbCount(env.counter, "CreateTargetGroup") + elbCount(env.counter, "AddTags") + elbCount(env.counter, "RemoveTags"); n != 0 {
		t.Fatalf("second Ensure changed something: %v", env.counter.Snapshot())
	}
	if got := env.counter.Total(); got != 2 {
		t.Fatalf("second Ensure made %d calls (%v), want 2", got, env.counter.Snapshot())
	}

	out, err := env.cfg.ELBv2().DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{first.ARN}})
	if err != nil {
		t.Fatalf("DescribeTargetGroups: %v", err)
	}
	g := out.TargetGroups[0]
	if aws.ToInt32(g.Port) != 8080 || g.Protocol != elbv2types.ProtocolEnumHttp || g.TargetType != elbv2types.TargetTypeEnumIp || aws.ToString(g.VpcId) != env.vpc {
		t.Fatalf("created group %+v", g)
	}
	tags := env.tags(t, first.ARN)
	for k, v := range map[string]string{"role": "web", "version": "v1", "team": "shop", inventory.TagCell: "idem", inventory.TagCluster: "idem-1", inventory.TagManaged: "true"} {
		if tags[k] != v {
			t.Errorf("tag %s = %q, want %q (tags %v)", k, tags[k], v, tags)
		}
	}
}

func TestEnsureMotoCreatesOnceOverTwoCalls(t *testing.T) {
	env := newMotoEnv(t)
	ctx := context.Background()
	c, cl := webCell("twice"), webCluster("twice-1", "v1", env.vpc)
	env.counter.Reset()
	for i := 0; i < 2; i++ {
		if _, err := env.m.Ensure(ctx, c, cl); err != nil {
			t.Fatalf("Ensure %d: %v", i, err)
		}
	}
	if n := elbCount(env.counter, "CreateTargetGroup"); n != 1 {
		t.Fatalf("CreateTargetGroup calls = %d over two Ensure calls, want 1", n)
	}
}

func TestEnsureMotoTagDrift(t *testing.T) {
	env := newMotoEnv(t)
	ctx := context.Background()
	c := webCell("drift")
	tg, err := env.m.Ensure(ctx, c, webCluster("drift-1", "v1", env.vpc))
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	_, err = env.cfg.ELBv2().AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{tg.ARN}, Tags: []elbv2types.Tag{
		{Key: aws.String("okra:stale"), Value: aws.String("x")},
		{Key: aws.String("owner"), Value: aws.String("alice")},
	}})
	if err != nil {
		t.Fatalf("AddTags: %v", err)
	}

	env.counter.Reset()
	got, err := env.m.Ensure(ctx, c, webCluster("drift-1", "v2", env.vpc))
	if err != nil {
		t.Fatalf("Ensure after the version changed: %v", err)
	}
	if got.ARN != tg.ARN || got.Version != "v2" {
		t.Fatalf("Ensure = %+v, want the same group at v2", got)
	}
	if elbCount(env.counter, "AddTags") != 1 || elbCount(env.counter, "RemoveTags") != 1 || elbCount(env.counter, "CreateTargetGroup") != 0 {
		t.Fatalf("calls = %v, want one AddTags and one RemoveTags", env.counter.Snapshot())
	}
	tags := env.tags(t, tg.ARN)
	if tags["version"] != "v2" || tags["owner"] != "alice" {
		t.Fatalf("tags = %v, want version v2 and owner kept", tags)
	}
	if _, ok := tags["okra:stale"]; ok {
		t.Fatalf("okra:stale kept: %v", tags)
	}
}

func TestEnsureMotoConcurrent(t *testing.T) {
	env := newMotoEnv(t)
	ctx := context.Background()
	c, cl := webCell("race"), webCluster("race-1", "v1", env.vpc)
	const n = 4
	arns := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tg, err := env.m.Ensure(ctx, c, cl)
			arns[i], errs[i] = tg.ARN, err
		}()
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("Ensure %d: %v", i, errs[i])
		}
		if arns[i] != arns[0] {
			t.Fatalf("Ensure %d returned %s, Ensure 0 %s", i, arns[i], arns[0])
		}
	}
	t.Logf("%d concurrent Ensure calls made %d CreateTargetGroup calls", n, elbCount(env.counter, "CreateTargetGroup"))
	owned, err := discovery.Tagged(ctx, env.cfg.Tagging(), map[string]string{inventory.TagCell: "race", inventory.TagCluster: "race-1"}, discovery.Options{})
	if err != nil {
		t.Fatalf("Tagged: %v", err)
	}
	if len(owned) != 1 {
		t.Fatalf("%d groups for the pair, want 1", len(owned))
	}
}

func TestEnsureMotoNameConflict(t *testing.T) {
	env := newMotoEnv(t)
	ctx := context.Background()
	name := targetgroups.Name("taken", "taken-1")
	out, err := env.cfg.ELBv2().CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), Port: aws.Int32(80), Protocol: elbv2types.ProtocolEnumHttp, VpcId: aws.String(env.vpc), TargetType: elbv2types.TargetTypeEnumIp,
		Tags: []elbv2types.Tag{{Key: aws.String("owner"), Value: aws.String("alice")}},
	})
	if err != nil {
		t.Fatalf("CreateTargetGroup: %v", err)
	}
	_, err = env.m.Ensure(ctx, webCell("taken"), webCluster("taken-1", "v1", env.vpc))
	var ce *targetgroups.ConflictError
	if !errors.As(err, &ce) || ce.ARNs[0] != aws.ToString(out.TargetGroups[0].TargetGroupArn) {
		t.Fatalf("err = %v, want *ConflictError naming alice's group", err)
	}
	if tags := env.tags(t, ce.ARNs[0]); tags[inventory.TagManaged] != "" {
		t.Fatalf("someone else's group was tagged: %v", tags)
	}
}

func TestEnsureMotoAttachesNodeGroups(t *testing.T) {
	env := newMotoEnv(t)
	ctx := context.Background()
	const clusterName = "nodes-1"
	env.createEKSCluster(t, clusterName)
	ng, err := env.cfg.EKS().CreateNodegroup(ctx, &eks.CreateNodegroupInput{
		ClusterName: aws.String(clusterName), NodegroupName: aws.String("ng-1"),
		NodeRole: aws.String("arn:aws:iam::123456789012:role/node"), Subnets: env.subnets,
	})
	if err != nil {
		t.Fatalf("CreateNodegroup: %v", err)
	}
	// moto names the node group's Auto Scaling group but does not create
	// it; create it under that name.
	asgName := aws.ToString(ng.Nodegroup.Resources.AutoScalingGroups[0].Name)
	lt, err := env.cfg.EC2().CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("nodes-1-lt"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-12c6146b"), InstanceType: ec2types.InstanceTypeT3Micro},
	})
	if err != nil {
		t.Fatalf("CreateLaunchTemplate: %v", err)
	}
	_, err = env.cfg.AutoScaling().CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(asgName), MinSize: aws.Int32(0), MaxSize: aws.Int32(1), DesiredCapacity: aws.Int32(0),
		VPCZoneIdentifier: aws.String(env.subnets[0]),
		LaunchTemplate:    &autoscalingtypes.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId},
	})
	if err != nil {
		t.Fatalf("CreateAutoScalingGroup: %v", err)
	}

	c := webCell("nodes")
	c.Spec.TargetGroupTemplate.TargetType = "instance"
	c.Spec.TargetGroupTemplate.AttachToNodeGroups = true
	cl := webCluster(clusterName, "v1", env.vpc)
	env.counter.Reset()
	tg, err := env.m.Ensure(ctx, c, cl)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if _, err := env.m.Ensure(ctx, c, cl); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	t.Logf("two Ensure calls with node groups: %v", env.counter.Snapshot())
	if n := env.counter.Count(autoscaling.ServiceID + ".AttachLoadBalancerTargetGroups"); n != 1 {
		t.Fatalf("AttachLoadBalancerTargetGroups calls = %d over two Ensure calls, want 1", n)
	}
	att, err := env.cfg.AutoScaling().DescribeLoadBalancerTargetGroups(ctx, &autoscaling.DescribeLoadBalancerTargetGroupsInput{AutoScalingGroupName: aws.String(asgName)})
	if err != nil {
		t.Fatalf("DescribeLoadBalancerTargetGroups: %v", err)
	}
	if len(att.LoadBalancerTargetGroups) != 1 || aws.ToString(att.LoadBalancerTargetGroups[0].LoadBalancerTargetGroupARN) != tg.ARN {
		t.Fatalf("attached = %+v, want %s", att.LoadBalancerTargetGroups, tg.ARN)
	}
}

func TestDeleteMoto(t *testing.T) {
	env := newMotoEnv(t)
	ctx := context.Background()
	elb := env.cfg.ELBv2()
	const oldCluster, newCluster = "del-old", "del-new"
	env.createEKSCluster(t, oldCluster)
	c := webCell("del")
	oldTG, err := env.m.Ensure(ctx, c, webCluster(oldCluster, "v1", env.vpc))
	if err != nil {
		t.Fatalf("Ensure old: %v", err)
	}
	newTG, err := env.m.Ensure(ctx, c, webCluster(newCluster, "v2", env.vpc))
	if err != nil {
		t.Fatalf("Ensure new: %v", err)
	}
	lb, err := elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("del-lb"), Subnets: env.subnets})
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	// forward weights the old and new groups; a negative oldW leaves the
	// old group out of the action.
	forward := func(oldW, newW int32) []elbv2types.Action {
		fc := &elbv2types.ForwardActionConfig{}
		if oldW >= 0 {
			fc.TargetGroups = append(fc.TargetGroups, elbv2types.TargetGroupTuple{TargetGroupArn: aws.String(oldTG.ARN), Weight: aws.Int32(oldW)})
		}
		fc.TargetGroups = append(fc.TargetGroups, elbv2types.TargetGroupTuple{TargetGroupArn: aws.String(newTG.ARN), Weight: aws.Int32(newW)})
		return []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, ForwardConfig: fc}}
	}
	l, err := elb.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Port: aws.Int32(80), Protocol: elbv2types.ProtocolEnumHttp,
		DefaultActions: forward(100, 0),
	})
	if err != nil {
		t.Fatalf("CreateListener: %v", err)
	}
	listener := l.Listeners[0].ListenerArn
	setWeights := func(oldW, newW int32) {
		t.Helper()
		if _, err := elb.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: listener, DefaultActions: forward(oldW, newW)}); err != nil {
			t.Fatalf("ModifyListener: %v", err)
		}
	}
	refused := func(step string, want targetgroups.RefusalReason, wantWeight int32) {
		t.Helper()
		env.counter.Reset()
		err := env.m.Delete(ctx, oldTG.ARN)
		t.Logf("%s: %v (calls %v)", step, err, env.counter.Snapshot())
		var re *targetgroups.DeleteRefusedError
		if !errors.As(err, &re) || re.Reason != want || re.Weight != wantWeight {
			t.Fatalf("%s: err = %v, want a %s refusal at weight %d", step, err, want, wantWeight)
		}
		if want == targetgroups.RefusedStillRouted && re.ListenerARN != aws.ToString(listener) {
			t.Fatalf("%s: refusal names listener %q", step, re.ListenerARN)
		}
		if elbCount(env.counter, "DeleteTargetGroup") != 0 {
			t.Fatalf("%s: DeleteTargetGroup called", step)
		}
	}

	// The cluster exists and the group carries all the traffic.
	refused("cluster exists", targetgroups.RefusedClusterExists, 0)
	// Traffic moved away, but the cluster still exists.
	setWeights(0, 100)
	refused("cluster exists at weight 0", targetgroups.RefusedClusterExists, 0)

	if _, err := env.cfg.EKS().DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String(oldCluster)}); err != nil {
		t.Fatalf("DeleteCluster: %v", err)
	}
	// The cluster is gone, but the group still carries weight.
	setWeights(40, 60)
	refused("still routed", targetgroups.RefusedStillRouted, 40)
	// A listener rule carrying weight refuses too.
	setWeights(0, 100)
	rule, err := elb.CreateRule(ctx, &elbv2.CreateRuleInput{
		ListenerArn: listener, Priority: aws.Int32(10), Actions: forward(7, 993),
		Conditions: []elbv2types.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &elbv2types.PathPatternConditionConfig{Values: []string{"/api/*"}}}},
	})
	if err != nil {
		t.Fatalf("CreateRule: %v", err)
	}
	refused("still routed by a rule", targetgroups.RefusedStillRouted, 7)
	if _, err := elb.DeleteRule(ctx, &elbv2.DeleteRuleInput{RuleArn: rule.Rules[0].RuleArn}); err != nil {
		t.Fatalf("DeleteRule: %v", err)
	}
	// Weight 0 and cluster gone: no traffic, but AWS (and moto) refuse to
	// delete a group an action lists, so okra says so without trying.
	refused("weight 0, still listed", targetgroups.RefusedStillReferenced, 0)

	// Finalize removed it from the action: deleted.
	setWeights(-1, 100)
	env.counter.Reset()
	if err := env.m.Delete(ctx, oldTG.ARN); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	t.Logf("deleting: calls %v", env.counter.Snapshot())
	if n := elbCount(env.counter, "DeleteTargetGroup"); n != 1 {
		t.Fatalf("DeleteTargetGroup calls = %d, want 1", n)
	}
	if _, err := elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{oldTG.ARN}}); !awsapi.IsNotFound(err) {
		t.Fatalf("group still there: %v", err)
	}
	// Again: already gone, no error.
	if err := env.m.Delete(ctx, oldTG.ARN); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	// The new group's cluster never existed in EKS here, but it carries the
	// traffic: refused.
	var re *targetgroups.DeleteRefusedError
	if err := env.m.Delete(ctx, newTG.ARN); !errors.As(err, &re) || re.Reason != targetgroups.RefusedStillRouted || re.Weight != 100 {
		t.Fatalf("Delete of the routed group: %v", err)
	}
}

func TestDeleteMotoRefusesUnmanaged(t *testing.T) {
	env := newMotoEnv(t)
	ctx := context.Background()
	out, err := env.cfg.ELBv2().CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String("hand-made"), Port: aws.Int32(80), Protocol: elbv2types.ProtocolEnumHttp, VpcId: aws.String(env.vpc), TargetType: elbv2types.TargetTypeEnumIp,
	})
	if err != nil {
		t.Fatalf("CreateTargetGroup: %v", err)
	}
	err = env.m.Delete(ctx, aws.ToString(out.TargetGroups[0].TargetGroupArn))
	var re *targetgroups.DeleteRefusedError
	if !errors.As(err, &re) || re.Reason != targetgroups.RefusedNotManaged {
		t.Fatalf("err = %v, want a NotManaged refusal", err)
	}
}
