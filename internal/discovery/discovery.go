// Package discovery reads what exists in AWS and turns it into inventory
// values: every EKS cluster of the account and region (ListClusters, every
// page, then DescribeCluster for each), and the target groups that belong
// to a Cell: selected by the Cell's ingress.targetGroupSelector through the
// Resource Groups Tagging API (GetResources, so the cost follows the Cell,
// not the account) and grouped by its version tag, with healthy-target
// counts from DescribeTargetHealth only for the groups a decision reads.
//
// It only reads: it never creates, tags or deletes anything (that is
// internal/targetgroups), and it makes no rollout decisions (that is the
// planner, which reads the inventory this package fills).
package discovery

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/eks"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"golang.org/x/sync/errgroup"
)

// AWS limits the discovery respects.
const (
	// MaxTagsARNs is how many resource ARNs one DescribeTags call accepts.
	MaxTagsARNs = 20
	// MaxResourcesPerPage is the largest GetResources ResourcesPerPage.
	MaxResourcesPerPage = 100
	// MaxTagsPerPage is the largest GetResources TagsPerPage (the smallest
	// is 100).
	MaxTagsPerPage = 500
	// MaxTagFilters is how many TagFilters one GetResources call accepts.
	MaxTagFilters = 50
	// ResourceTypeTargetGroup is the Resource Groups Tagging API's type of
	// an ELBv2 target group.
	ResourceTypeTargetGroup = "elasticloadbalancing:targetgroup"
	// MaxListClustersResults is the largest ListClusters page.
	MaxListClustersResults = 100
	// DefaultConcurrency bounds parallel Describe calls.
	DefaultConcurrency = 8
)

// EKSAPI is the part of the EKS API discovery calls. *eks.Client satisfies
// it.
type EKSAPI interface {
	ListClusters(ctx context.Context, params *eks.ListClustersInput, optFns ...func(*eks.Options)) (*eks.ListClustersOutput, error)
	DescribeCluster(ctx context.Context, params *eks.DescribeClusterInput, optFns ...func(*eks.Options)) (*eks.DescribeClusterOutput, error)
}

// ELBv2API is the part of the Elastic Load Balancing v2 API discovery
// calls: only DescribeTargetHealth, for the groups a decision reads.
// *elasticloadbalancingv2.Client satisfies it.
type ELBv2API interface {
	DescribeTargetHealth(ctx context.Context, params *elbv2.DescribeTargetHealthInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error)
}

// Options tune discovery. The zero value is ready to use.
type Options struct {
	// Logger receives discovery's logs; nil means slog.Default().
	Logger *slog.Logger
	// Concurrency bounds parallel DescribeCluster and DescribeTargetHealth
	// calls (default DefaultConcurrency).
	Concurrency int
	// ListClustersPageSize is ListClusters' maxResults, 1..100 (default
	// 100). Tests lower it to exercise pagination.
	ListClustersPageSize int32
	// ResourcesPerPage is GetResources' ResourcesPerPage, 1..100 (default
	// 100). Tests lower it to exercise pagination.
	ResourcesPerPage int32
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.ListClustersPageSize <= 0 || o.ListClustersPageSize > MaxListClustersResults {
		o.ListClustersPageSize = MaxListClustersResults
	}
	if o.ResourcesPerPage <= 0 || o.ResourcesPerPage > MaxResourcesPerPage {
		o.ResourcesPerPage = MaxResourcesPerPage
	}
	return o
}

// forEach runs fn(i) for i in [0, n) with at most limit calls at once and
// returns the first error; once one call fails the context given to the
// others is cancelled and no further calls start.
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := 0; i < n && gctx.Err() == nil; i++ {
		g.Go(func() error { return fn(gctx, i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}
