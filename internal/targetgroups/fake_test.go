package targetgroups_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	autoscalingtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
	"github.com/aws/smithy-go"
)

func apiError(code string) error { return &smithy.GenericAPIError{Code: code, Message: code} }

// fakeELB is a small in-memory ELBv2 with AWS's name and tag limits.
type fakeELB struct {
	mu        sync.Mutex
	groups    map[string]*elbv2types.TargetGroup // by ARN
	tags      map[string]map[string]string
	listeners map[string][]elbv2types.Listener // by load balancer ARN
	rules     map[string][]elbv2types.Rule     // by listener ARN
	calls     map[string]int
	failOps   map[string]error
	seq       int
	// beforeCreate runs (unlocked) at the start of CreateTargetGroup, to
	// simulate a concurrent creator.
	beforeCreate func()
	lastCreate   *elbv2.CreateTargetGroupInput
}

func newFakeELB() *fakeELB {
	return &fakeELB{
		groups:    map[string]*elbv2types.TargetGroup{},
		tags:      map[string]map[string]string{},
		listeners: map[string][]elbv2types.Listener{},
		rules:     map[string][]elbv2types.Rule{},
		calls:     map[string]int{},
		failOps:   map[string]error{},
	}
}

func (f *fakeELB) begin(op string) error {
	f.calls[op]++
	return f.failOps[op]
}

func (f *fakeELB) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeELB) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, v := range f.calls {
		n += v
	}
	return n
}

// put adds a group directly (as if someone created it).
func (f *fakeELB) put(name string, tags map[string]string, lbs ...string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.putLocked(name, tags, 8080, lbs...)
}

func (f *fakeELB) putLocked(name string, tags map[string]string, port int32, lbs ...string) string {
	f.seq++
	arn := fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/%s/%04d", name, f.seq)
	f.groups[arn] = &elbv2types.TargetGroup{
		TargetGroupArn:   aws.String(arn),
		TargetGroupName:  aws.String(name),
		Port:             aws.Int32(port),
		Protocol:         elbv2types.ProtocolEnumHttp,
		TargetType:       elbv2types.TargetTypeEnumIp,
		VpcId:            aws.String("vpc-1"),
		LoadBalancerArns: lbs,
	}
	t := map[string]string{}
	for k, v := range tags {
		t[k] = v
	}
	f.tags[arn] = t
	return arn
}

func (f *fakeELB) byName(name string) *elbv2types.TargetGroup {
	for _, g := range f.groups {
		if aws.ToString(g.TargetGroupName) == name {
			return g
		}
	}
	return nil
}

func (f *fakeELB) CreateTargetGroup(_ context.Context, in *elbv2.CreateTargetGroupInput, _ ...func(*elbv2.Options)) (*elbv2.CreateTargetGroupOutput, error) {
	if f.beforeCreate != nil {
		f.beforeCreate()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("CreateTargetGroup"); err != nil {
		return nil, err
	}
	f.lastCreate = in
	name := aws.ToString(in.Name)
	if len(name) > 32 || len(in.Tags) > 50 {
		return nil, apiError("ValidationError")
	}
	if g := f.byName(name); g != nil {
		return nil, apiError("DuplicateTargetGroupName")
	}
	tags := map[string]string{}
	for _, t := range in.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	arn := f.putLocked(name, tags, aws.ToInt32(in.Port))
	g := f.groups[arn]
	g.Protocol, g.TargetType, g.VpcId = in.Protocol, in.TargetType, in.VpcId
	return &elbv2.CreateTargetGroupOutput{TargetGroups: []elbv2types.TargetGroup{*g}}, nil
}

func (f *fakeELB) DescribeTargetGroups(_ context.Context, in *elbv2.DescribeTargetGroupsInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("DescribeTargetGroups"); err != nil {
		return nil, err
	}
	if aws.ToInt32(in.PageSize) > 400 {
		return nil, apiError("ValidationError")
	}
	var out []elbv2types.TargetGroup
	switch {
	case len(in.Names) > 0:
		for _, n := range in.Names {
			g := f.byName(n)
			if g == nil {
				return nil, apiError("TargetGroupNotFound")
			}
			out = append(out, *g)
		}
	case len(in.TargetGroupArns) > 0:
		for _, a := range in.TargetGroupArns {
			g, ok := f.groups[a]
			if !ok {
				return nil, apiError("TargetGroupNotFound")
			}
			out = append(out, *g)
		}
	default:
		for _, g := range f.groups {
			out = append(out, *g)
		}
		sort.Slice(out, func(i, j int) bool {
			return aws.ToString(out[i].TargetGroupName) < aws.ToString(out[j].TargetGroupName)
		})
	}
	return &elbv2.DescribeTargetGroupsOutput{TargetGroups: out}, nil
}

// GetResources answers the Resource Groups Tagging API over the fake's
// target groups: every TagFilter must match, ResourcesPerPage 1..100.
func (f *fakeELB) GetResources(_ context.Context, in *tagging.GetResourcesInput, _ ...func(*tagging.Options)) (*tagging.GetResourcesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("GetResources"); err != nil {
		return nil, err
	}
	if in.ResourcesPerPage != nil && (*in.ResourcesPerPage < 1 || *in.ResourcesPerPage > 100) {
		return nil, apiError("InvalidParameterException")
	}
	out := &tagging.GetResourcesOutput{}
	arns := make([]string, 0, len(f.groups))
	for arn := range f.groups {
		arns = append(arns, arn)
	}
	sort.Strings(arns)
	for _, arn := range arns {
		tags := f.tags[arn]
		match := true
		for _, flt := range in.TagFilters {
			v, ok := tags[aws.ToString(flt.Key)]
			if !ok || (len(flt.Values) > 0 && !slices.Contains(flt.Values, v)) {
				match = false
			}
		}
		if !match {
			continue
		}
		m := taggingtypes.ResourceTagMapping{ResourceARN: aws.String(arn)}
		for k, v := range tags {
			m.Tags = append(m.Tags, taggingtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		out.ResourceTagMappingList = append(out.ResourceTagMappingList, m)
	}
	return out, nil
}

func (f *fakeELB) DescribeTags(_ context.Context, in *elbv2.DescribeTagsInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("DescribeTags"); err != nil {
		return nil, err
	}
	if len(in.ResourceArns) > 20 {
		return nil, apiError("ValidationError")
	}
	out := &elbv2.DescribeTagsOutput{}
	for _, arn := range in.ResourceArns {
		tags, ok := f.tags[arn]
		if !ok {
			return nil, apiError("TargetGroupNotFound")
		}
		d := elbv2types.TagDescription{ResourceArn: aws.String(arn)}
		for k, v := range tags {
			d.Tags = append(d.Tags, elbv2types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		out.TagDescriptions = append(out.TagDescriptions, d)
	}
	return out, nil
}

func (f *fakeELB) AddTags(_ context.Context, in *elbv2.AddTagsInput, _ ...func(*elbv2.Options)) (*elbv2.AddTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("AddTags"); err != nil {
		return nil, err
	}
	for _, arn := range in.ResourceArns {
		tags, ok := f.tags[arn]
		if !ok {
			return nil, apiError("TargetGroupNotFound")
		}
		for _, t := range in.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		if len(tags) > 50 {
			return nil, apiError("TooManyTags")
		}
	}
	return &elbv2.AddTagsOutput{}, nil
}

func (f *fakeELB) RemoveTags(_ context.Context, in *elbv2.RemoveTagsInput, _ ...func(*elbv2.Options)) (*elbv2.RemoveTagsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("RemoveTags"); err != nil {
		return nil, err
	}
	for _, arn := range in.ResourceArns {
		for _, k := range in.TagKeys {
			delete(f.tags[arn], k)
		}
	}
	return &elbv2.RemoveTagsOutput{}, nil
}

func (f *fakeELB) DeleteTargetGroup(_ context.Context, in *elbv2.DeleteTargetGroupInput, _ ...func(*elbv2.Options)) (*elbv2.DeleteTargetGroupOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("DeleteTargetGroup"); err != nil {
		return nil, err
	}
	arn := aws.ToString(in.TargetGroupArn)
	if _, ok := f.groups[arn]; !ok {
		return nil, apiError("TargetGroupNotFound")
	}
	delete(f.groups, arn)
	delete(f.tags, arn)
	return &elbv2.DeleteTargetGroupOutput{}, nil
}

func (f *fakeELB) DescribeListeners(_ context.Context, in *elbv2.DescribeListenersInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeListenersOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("DescribeListeners"); err != nil {
		return nil, err
	}
	ls, ok := f.listeners[aws.ToString(in.LoadBalancerArn)]
	if !ok {
		return nil, apiError("LoadBalancerNotFound")
	}
	return &elbv2.DescribeListenersOutput{Listeners: ls}, nil
}

func (f *fakeELB) DescribeRules(_ context.Context, in *elbv2.DescribeRulesInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("DescribeRules"); err != nil {
		return nil, err
	}
	return &elbv2.DescribeRulesOutput{Rules: f.rules[aws.ToString(in.ListenerArn)]}, nil
}

// fakeEKS answers DescribeCluster from a set of names and node groups from
// a map of cluster to node group to Auto Scaling group names.
type fakeEKS struct {
	mu         sync.Mutex
	clusters   map[string]bool
	nodegroups map[string]map[string][]string
	calls      map[string]int
	failOps    map[string]error
}

func newFakeEKS(clusters ...string) *fakeEKS {
	f := &fakeEKS{clusters: map[string]bool{}, nodegroups: map[string]map[string][]string{}, calls: map[string]int{}, failOps: map[string]error{}}
	for _, c := range clusters {
		f.clusters[c] = true
	}
	return f
}

func (f *fakeEKS) begin(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	return f.failOps[op]
}

func (f *fakeEKS) DescribeCluster(_ context.Context, in *eks.DescribeClusterInput, _ ...func(*eks.Options)) (*eks.DescribeClusterOutput, error) {
	if err := f.begin("DescribeCluster"); err != nil {
		return nil, err
	}
	if !f.clusters[aws.ToString(in.Name)] {
		return nil, apiError("ResourceNotFoundException")
	}
	return &eks.DescribeClusterOutput{Cluster: &ekstypes.Cluster{Name: in.Name, Status: ekstypes.ClusterStatusActive}}, nil
}

func (f *fakeEKS) ListNodegroups(_ context.Context, in *eks.ListNodegroupsInput, _ ...func(*eks.Options)) (*eks.ListNodegroupsOutput, error) {
	if err := f.begin("ListNodegroups"); err != nil {
		return nil, err
	}
	var names []string
	for n := range f.nodegroups[aws.ToString(in.ClusterName)] {
		names = append(names, n)
	}
	sort.Strings(names)
	return &eks.ListNodegroupsOutput{Nodegroups: names}, nil
}

func (f *fakeEKS) DescribeNodegroup(_ context.Context, in *eks.DescribeNodegroupInput, _ ...func(*eks.Options)) (*eks.DescribeNodegroupOutput, error) {
	if err := f.begin("DescribeNodegroup"); err != nil {
		return nil, err
	}
	asgs, ok := f.nodegroups[aws.ToString(in.ClusterName)][aws.ToString(in.NodegroupName)]
	if !ok {
		return nil, apiError("ResourceNotFoundException")
	}
	ng := &ekstypes.Nodegroup{NodegroupName: in.NodegroupName, Resources: &ekstypes.NodegroupResources{}}
	for _, a := range asgs {
		ng.Resources.AutoScalingGroups = append(ng.Resources.AutoScalingGroups, ekstypes.AutoScalingGroup{Name: aws.String(a)})
	}
	return &eks.DescribeNodegroupOutput{Nodegroup: ng}, nil
}

// fakeASG records target-group attachments per Auto Scaling group.
type fakeASG struct {
	mu       sync.Mutex
	attached map[string][]string
	calls    map[string]int
}

func newFakeASG() *fakeASG {
	return &fakeASG{attached: map[string][]string{}, calls: map[string]int{}}
}

func (f *fakeASG) DescribeLoadBalancerTargetGroups(_ context.Context, in *autoscaling.DescribeLoadBalancerTargetGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.DescribeLoadBalancerTargetGroupsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["DescribeLoadBalancerTargetGroups"]++
	out := &autoscaling.DescribeLoadBalancerTargetGroupsOutput{}
	for _, arn := range f.attached[aws.ToString(in.AutoScalingGroupName)] {
		out.LoadBalancerTargetGroups = append(out.LoadBalancerTargetGroups, autoscalingtypes.LoadBalancerTargetGroupState{
			LoadBalancerTargetGroupARN: aws.String(arn), State: aws.String("InService"),
		})
	}
	return out, nil
}

func (f *fakeASG) AttachLoadBalancerTargetGroups(_ context.Context, in *autoscaling.AttachLoadBalancerTargetGroupsInput, _ ...func(*autoscaling.Options)) (*autoscaling.AttachLoadBalancerTargetGroupsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["AttachLoadBalancerTargetGroups"]++
	name := aws.ToString(in.AutoScalingGroupName)
	f.attached[name] = append(f.attached[name], in.TargetGroupARNs...)
	return &autoscaling.AttachLoadBalancerTargetGroupsOutput{}, nil
}
