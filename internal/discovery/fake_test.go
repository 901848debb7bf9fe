package discovery_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
	"github.com/aws/smithy-go"
)

// fakeELB is an in-memory ELBv2, and the Resource Groups Tagging API over
// its target groups, that enforces AWS's page and batch limits (which the
// emulator does not) and counts calls.
type fakeELB struct {
	mu      sync.Mutex
	groups  []elbv2types.TargetGroup // sorted by name
	tags    map[string]map[string]string
	health  map[string][]elbv2types.TargetHealthStateEnum
	calls   map[string]int
	failOps map[string]error
	// vanish lists ARNs that DescribeTargetGroups still returns but that are
	// gone by the time DescribeTags or DescribeTargetHealth asks.
	vanish map[string]bool
}

func newFakeELB() *fakeELB {
	return &fakeELB{
		tags:    map[string]map[string]string{},
		health:  map[string][]elbv2types.TargetHealthStateEnum{},
		calls:   map[string]int{},
		failOps: map[string]error{},
		vanish:  map[string]bool{},
	}
}

func (f *fakeELB) add(name string, tags map[string]string, health ...elbv2types.TargetHealthStateEnum) string {
	arn := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/" + name + "/" + strconv.Itoa(len(f.groups))
	f.groups = append(f.groups, elbv2types.TargetGroup{
		TargetGroupArn:   aws.String(arn),
		TargetGroupName:  aws.String(name),
		LoadBalancerArns: []string{"arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/lb/1"},
	})
	sort.Slice(f.groups, func(i, j int) bool {
		return aws.ToString(f.groups[i].TargetGroupName) < aws.ToString(f.groups[j].TargetGroupName)
	})
	f.tags[arn] = tags
	f.health[arn] = health
	return arn
}

func (f *fakeELB) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeELB) begin(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	return f.failOps[op]
}

func apiError(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: code}
}

func (f *fakeELB) DescribeTargetGroups(_ context.Context, in *elbv2.DescribeTargetGroupsInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error) {
	if err := f.begin("DescribeTargetGroups"); err != nil {
		return nil, err
	}
	size := 400
	if in.PageSize != nil {
		size = int(*in.PageSize)
	}
	if size < 1 || size > 400 {
		return nil, apiError("ValidationError")
	}
	start := 0
	if in.Marker != nil {
		n, err := strconv.Atoi(*in.Marker)
		if err != nil {
			return nil, apiError("ValidationError")
		}
		start = n
	}
	end := min(start+size, len(f.groups))
	out := &elbv2.DescribeTargetGroupsOutput{TargetGroups: f.groups[start:end]}
	if end < len(f.groups) {
		out.NextMarker = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

func (f *fakeELB) DescribeTags(_ context.Context, in *elbv2.DescribeTagsInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error) {
	if err := f.begin("DescribeTags"); err != nil {
		return nil, err
	}
	if len(in.ResourceArns) == 0 || len(in.ResourceArns) > 20 {
		return nil, apiError("ValidationError")
	}
	out := &elbv2.DescribeTagsOutput{}
	for _, arn := range in.ResourceArns {
		tags, ok := f.tags[arn]
		if !ok || f.vanish[arn] {
			return nil, apiError("TargetGroupNotFound")
		}
		desc := elbv2types.TagDescription{ResourceArn: aws.String(arn)}
		for k, v := range tags {
			desc.Tags = append(desc.Tags, elbv2types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		out.TagDescriptions = append(out.TagDescriptions, desc)
	}
	return out, nil
}

// GetResources answers as the Resource Groups Tagging API does for target
// groups: ResourcesPerPage 1..100, TagsPerPage 100..500 (a resource's tags
// never split across pages), at most 50 TagFilters, every filter must
// match (a filter's Values are alternatives).
func (f *fakeELB) GetResources(_ context.Context, in *tagging.GetResourcesInput, _ ...func(*tagging.Options)) (*tagging.GetResourcesOutput, error) {
	if err := f.begin("GetResources"); err != nil {
		return nil, err
	}
	perPage, tagsPerPage := 100, 500
	if in.ResourcesPerPage != nil {
		perPage = int(*in.ResourcesPerPage)
	}
	if in.TagsPerPage != nil {
		tagsPerPage = int(*in.TagsPerPage)
	}
	if perPage < 1 || perPage > 100 || tagsPerPage < 100 || tagsPerPage > 500 || len(in.TagFilters) > 50 {
		return nil, apiError("InvalidParameterException")
	}
	typeOK := len(in.ResourceTypeFilters) == 0
	for _, t := range in.ResourceTypeFilters {
		typeOK = typeOK || t == "elasticloadbalancing:targetgroup" || t == "elasticloadbalancing"
	}
	start := 0
	if in.PaginationToken != nil && *in.PaginationToken != "" {
		n, err := strconv.Atoi(*in.PaginationToken)
		if err != nil {
			return nil, apiError("PaginationTokenExpiredException")
		}
		start = n
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &tagging.GetResourcesOutput{}
	if !typeOK {
		return out, nil
	}
	tags := 0
	for i := start; i < len(f.groups); i++ {
		arn := aws.ToString(f.groups[i].TargetGroupArn)
		t := f.tags[arn]
		if !filtersMatch(t, in.TagFilters) {
			continue
		}
		n := max(len(t), 1)
		if len(out.ResourceTagMappingList) == perPage || tags+n > tagsPerPage {
			out.PaginationToken = aws.String(strconv.Itoa(i))
			return out, nil
		}
		tags += n
		m := taggingtypes.ResourceTagMapping{ResourceARN: aws.String(arn)}
		for k, v := range t {
			m.Tags = append(m.Tags, taggingtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
		out.ResourceTagMappingList = append(out.ResourceTagMappingList, m)
	}
	out.PaginationToken = aws.String("")
	return out, nil
}

func filtersMatch(tags map[string]string, filters []taggingtypes.TagFilter) bool {
	for _, flt := range filters {
		v, ok := tags[aws.ToString(flt.Key)]
		if !ok {
			return false
		}
		if len(flt.Values) > 0 && !slices.Contains(flt.Values, v) {
			return false
		}
	}
	return true
}

func (f *fakeELB) DescribeTargetHealth(_ context.Context, in *elbv2.DescribeTargetHealthInput, _ ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error) {
	if err := f.begin("DescribeTargetHealth"); err != nil {
		return nil, err
	}
	arn := aws.ToString(in.TargetGroupArn)
	states, ok := f.health[arn]
	if !ok || f.vanish[arn] {
		return nil, apiError("TargetGroupNotFound")
	}
	out := &elbv2.DescribeTargetHealthOutput{}
	for i, s := range states {
		out.TargetHealthDescriptions = append(out.TargetHealthDescriptions, elbv2types.TargetHealthDescription{
			Target:       &elbv2types.TargetDescription{Id: aws.String(fmt.Sprintf("10.0.0.%d", i))},
			TargetHealth: &elbv2types.TargetHealth{State: s},
		})
	}
	return out, nil
}

// fakeEKS is an in-memory EKS that pages ListClusters by maxResults and
// records how many DescribeCluster calls ran at once.
type fakeEKS struct {
	mu       sync.Mutex
	clusters map[string]ekstypes.Cluster
	calls    map[string]int
	failOps  map[string]error
	// gone lists clusters ListClusters still returns but DescribeCluster
	// no longer finds.
	gone map[string]bool

	inFlight, maxInFlight atomic.Int32
}

func newFakeEKS(n int) *fakeEKS {
	f := &fakeEKS{clusters: map[string]ekstypes.Cluster{}, calls: map[string]int{}, failOps: map[string]error{}, gone: map[string]bool{}}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("c%03d", i)
		f.clusters[name] = ekstypes.Cluster{
			Name:                 aws.String(name),
			Arn:                  aws.String("arn:aws:eks:us-east-1:123456789012:cluster/" + name),
			Status:               ekstypes.ClusterStatusActive,
			Endpoint:             aws.String("https://" + name + ".eks.example"),
			CertificateAuthority: &ekstypes.Certificate{Data: aws.String("CA-" + name)},
			ResourcesVpcConfig:   &ekstypes.VpcConfigResponse{VpcId: aws.String("vpc-" + name)},
			Tags:                 map[string]string{"role": "web", "version": "v" + strconv.Itoa(i%2+1)},
		}
	}
	return f
}

func (f *fakeEKS) begin(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	return f.failOps[op]
}

func (f *fakeEKS) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeEKS) ListClusters(_ context.Context, in *eks.ListClustersInput, _ ...func(*eks.Options)) (*eks.ListClustersOutput, error) {
	if err := f.begin("ListClusters"); err != nil {
		return nil, err
	}
	size := 100
	if in.MaxResults != nil {
		size = int(*in.MaxResults)
	}
	if size < 1 || size > 100 {
		return nil, apiError("InvalidParameterException")
	}
	f.mu.Lock()
	names := make([]string, 0, len(f.clusters))
	for n := range f.clusters {
		names = append(names, n)
	}
	f.mu.Unlock()
	sort.Strings(names)
	start := 0
	if in.NextToken != nil {
		start = sort.SearchStrings(names, *in.NextToken)
	}
	end := min(start+size, len(names))
	out := &eks.ListClustersOutput{Clusters: names[start:end]}
	if end < len(names) {
		out.NextToken = aws.String(names[end])
	}
	return out, nil
}

func (f *fakeEKS) DescribeCluster(_ context.Context, in *eks.DescribeClusterInput, _ ...func(*eks.Options)) (*eks.DescribeClusterOutput, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(time.Millisecond) // let concurrent calls overlap
	if err := f.begin("DescribeCluster"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	cl, ok := f.clusters[aws.ToString(in.Name)]
	if !ok || f.gone[aws.ToString(in.Name)] {
		return nil, apiError("ResourceNotFoundException")
	}
	return &eks.DescribeClusterOutput{Cluster: &cl}, nil
}
