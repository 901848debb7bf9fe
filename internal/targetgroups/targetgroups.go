// Package targetgroups owns the target groups okra creates: exactly one per
// (EKS cluster, Cell), with a deterministic name (Name), ownership tags
// (okra:cell, okra:cluster, okra:managed=true) plus the cluster's tags and
// version, built from the Cell's targetGroupTemplate in the cluster's VPC.
// Ensure creates or adopts the group and keeps its okra-managed tags in
// step, optionally attaching the cluster's managed node groups' Auto
// Scaling groups; Delete removes a group only once its cluster is gone and
// no listener forwards to it.
//
// It checks AWS's limits itself (names, tags) before calling AWS. It never
// changes listeners or weights (that is internal/listener), and it does
// not decide when a group is no longer needed (the reconciler does; Delete
// only refuses when that would be unsafe).
package targetgroups

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/okrahq/okra/internal/discovery"
)

// ELBv2API is the part of the Elastic Load Balancing v2 API this package
// calls. *elasticloadbalancingv2.Client satisfies it.
type ELBv2API interface {
	CreateTargetGroup(ctx context.Context, params *elbv2.CreateTargetGroupInput, optFns ...func(*elbv2.Options)) (*elbv2.CreateTargetGroupOutput, error)
	DescribeTargetGroups(ctx context.Context, params *elbv2.DescribeTargetGroupsInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error)
	DescribeTags(ctx context.Context, params *elbv2.DescribeTagsInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error)
	AddTags(ctx context.Context, params *elbv2.AddTagsInput, optFns ...func(*elbv2.Options)) (*elbv2.AddTagsOutput, error)
	RemoveTags(ctx context.Context, params *elbv2.RemoveTagsInput, optFns ...func(*elbv2.Options)) (*elbv2.RemoveTagsOutput, error)
	DeleteTargetGroup(ctx context.Context, params *elbv2.DeleteTargetGroupInput, optFns ...func(*elbv2.Options)) (*elbv2.DeleteTargetGroupOutput, error)
	DescribeListeners(ctx context.Context, params *elbv2.DescribeListenersInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeListenersOutput, error)
	DescribeRules(ctx context.Context, params *elbv2.DescribeRulesInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error)
}

// EKSAPI is the part of the EKS API this package calls. *eks.Client
// satisfies it.
type EKSAPI interface {
	DescribeCluster(ctx context.Context, params *eks.DescribeClusterInput, optFns ...func(*eks.Options)) (*eks.DescribeClusterOutput, error)
	ListNodegroups(ctx context.Context, params *eks.ListNodegroupsInput, optFns ...func(*eks.Options)) (*eks.ListNodegroupsOutput, error)
	DescribeNodegroup(ctx context.Context, params *eks.DescribeNodegroupInput, optFns ...func(*eks.Options)) (*eks.DescribeNodegroupOutput, error)
}

// AutoScalingAPI is the part of the Auto Scaling API this package calls.
// *autoscaling.Client satisfies it.
//
// It uses the load-balancer target-group calls rather than the newer
// AttachTrafficSources: both manage the same attachments, and the local
// emulator implements only these.
type AutoScalingAPI interface {
	DescribeLoadBalancerTargetGroups(ctx context.Context, params *autoscaling.DescribeLoadBalancerTargetGroupsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeLoadBalancerTargetGroupsOutput, error)
	AttachLoadBalancerTargetGroups(ctx context.Context, params *autoscaling.AttachLoadBalancerTargetGroupsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.AttachLoadBalancerTargetGroupsOutput, error)
}

// Deps are what a Manager needs.
type Deps struct {
	// ELBv2 is required.
	ELBv2 ELBv2API
	// EKS is required by Delete (to see whether the cluster is gone) and by
	// node-group attachment.
	EKS EKSAPI
	// AutoScaling is required only for Cells whose targetGroupTemplate sets
	// attachToNodeGroups.
	AutoScaling AutoScalingAPI
	// Tagging is required by Ensure when the group is not found by its
	// name (it looks the group up by its ownership tags).
	Tagging discovery.TaggingAPI
	// Logger receives the package's logs; nil means slog.Default().
	Logger *slog.Logger
	// Discovery tunes the lookup by tags Ensure runs before creating a
	// group (page size) and EnsureAll's concurrency. Its Logger is ignored.
	Discovery discovery.Options
}

// Manager creates, tags, attaches and deletes okra's target groups.
type Manager struct {
	elb     ELBv2API
	tagging discovery.TaggingAPI
	eks     EKSAPI
	asg     AutoScalingAPI
	log     *slog.Logger
	scan    discovery.Options
}

// New returns a Manager over deps.
func New(deps Deps) (*Manager, error) {
	if deps.ELBv2 == nil {
		return nil, errors.New("targetgroups: an ELBv2 client is required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.Default()
	}
	scan := deps.Discovery
	scan.Logger = log
	return &Manager{elb: deps.ELBv2, tagging: deps.Tagging, eks: deps.EKS, asg: deps.AutoScaling, log: log, scan: scan}, nil
}
