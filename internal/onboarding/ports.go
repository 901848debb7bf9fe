package onboarding

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"github.com/okrahq/okra/internal/argocd"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/safetynet"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/targetgroups"
	"github.com/okrahq/okra/internal/weights"
)

// ClusterReader reads EKS clusters. *discovery.Clusters satisfies it;
// Describe returns a *discovery.ClusterNotFoundError for a cluster that
// does not exist.
type ClusterReader interface {
	List(ctx context.Context) ([]inventory.Cluster, error)
	Describe(ctx context.Context, name string) (inventory.Cluster, error)
}

// VPCResolver finds the VPC of a cluster whose description lacks one (the
// emulator leaves resourcesVpcConfig.vpcId empty; AWS always sets it).
type VPCResolver interface {
	ClusterVPC(ctx context.Context, cl inventory.Cluster) (string, error)
}

// TargetGroupManager creates and deletes okra's target groups.
// *targetgroups.Manager satisfies it.
type TargetGroupManager interface {
	Ensure(ctx context.Context, c *cell.Cell, cl inventory.Cluster) (inventory.TargetGroup, error)
	// EnsureAll ensures many pairs' groups given okra's inventory (every
	// group tagged okra:managed=true), as the reconcile holds it.
	EnsureAll(ctx context.Context, managed []inventory.TargetGroup, pairs []targetgroups.Pair) []targetgroups.Ensured
	// Delete returns a *targetgroups.DeleteRefusedError when deleting is
	// not safe yet.
	Delete(ctx context.Context, arn string) error
}

// TargetGroupFinder discovers target groups. NewTargetGroupFinder adapts
// the discovery package.
type TargetGroupFinder interface {
	ForCell(ctx context.Context, c *cell.Cell) (discovery.CellTargetGroups, error)
	// Tagged returns every target group carrying all of selector.
	Tagged(ctx context.Context, selector map[string]string) ([]inventory.TargetGroup, error)
	// HealthForDecision fills the healthy-target counts the planner's
	// decision reads (discovery.TargetGroups.HealthForDecision).
	HealthForDecision(ctx context.Context, c *cell.Cell, tgs []inventory.TargetGroup, fwd weights.Forward) ([]inventory.TargetGroup, error)
}

// ClusterRegistry registers clusters in ArgoCD. Apply must be idempotent
// (the same cluster and target groups twice changes nothing); Delete of a
// cluster that is not registered succeeds. NewArgoCDRegistry adapts
// *argocd.Registry.
type ClusterRegistry interface {
	Apply(ctx context.Context, cl inventory.Cluster, targetGroups map[string]string) error
	Delete(ctx context.Context, clusterName string) error
}

// CellStore reads Cell specs and shared analysis templates. *store.Store
// satisfies it.
type CellStore interface {
	ListCells(ctx context.Context) ([]store.CellRecord, error)
	GetCell(ctx context.Context, name string) (store.CellRecord, error)
	ListTemplates(ctx context.Context) ([]store.TemplateRecord, error)
}

// StatusStore reads and writes what a Cell's status and history show.
// *store.Store satisfies it.
type StatusStore interface {
	GetStatus(ctx context.Context, cellName string) (store.StatusRecord, error)
	PutStatus(ctx context.Context, cellName string, st rollout.Status, expectedRevision int64) (int64, error)
	AppendEvent(ctx context.Context, cellName string, ev store.Event) (store.Event, error)
	ListEvents(ctx context.Context, cellName string, limit int, newestFirst bool) ([]store.Event, error)
	ListBlocked(ctx context.Context, cellName string) ([]rollout.Block, error)
}

// ClusterStore is the store's cluster registry. *store.Store satisfies it.
type ClusterStore interface {
	GetCluster(ctx context.Context, name string) (store.ClusterRecord, error)
	ListClusters(ctx context.Context) ([]store.ClusterRecord, error)
	PutCluster(ctx context.Context, rec store.ClusterRecord) error
	SetClusterTargetGroup(ctx context.Context, clusterName, cellName, targetGroupARN string) error
	RemoveClusterTargetGroup(ctx context.Context, clusterName, cellName string) error
	DeleteCluster(ctx context.Context, name string) error
}

// Rollouts starts rollout executions. *executions.Executions satisfies it.
type Rollouts interface {
	// Start starts the execution in.Cell/in.TargetVersion/in.Attempt, or
	// finds it already there (started false).
	Start(ctx context.Context, in executions.Input) (arn string, started bool, err error)
	// Status is the execution's status, "" when it does not exist.
	Status(ctx context.Context, arn string) (string, error)
	StateMachineARN() string
}

// LeaseOwners checks the execution holding a Cell's lease and gives the
// rollout of one that no longer runs the safety net's recovery at once.
// *safetynet.Owners satisfies it.
type LeaseOwners interface {
	Check(ctx context.Context, cellName string, st rollout.Status, foundBy string) (safetynet.OwnerCheck, error)
}

var (
	_ LeaseOwners        = (*safetynet.Owners)(nil)
	_ ClusterReader      = (*discovery.Clusters)(nil)
	_ TargetGroupManager = (*targetgroups.Manager)(nil)
	_ CellStore          = (*store.Store)(nil)
	_ StatusStore        = (*store.Store)(nil)
	_ ClusterStore       = (*store.Store)(nil)
	_ Rollouts           = (*executions.Executions)(nil)
)

// Deps are what the handlers need. Everything but ArgoCD, VPCs, Clock and
// Logger is required.
type Deps struct {
	Clusters     ClusterReader
	TargetGroups TargetGroupManager
	Discovery    TargetGroupFinder
	Listener     listener.Controller
	Cells        CellStore
	Status       StatusStore
	Registry     ClusterStore
	Rollouts     Rollouts
	// ArgoCD, when nil, means okra runs without ArgoCD: clusters are
	// recorded in the store's registry only.
	ArgoCD ClusterRegistry
	// VPCs, when set, finds a cluster's VPC when DescribeCluster has none.
	VPCs VPCResolver
	// Owners checks every lease the evaluation reads (DepsFromAWS sets
	// it); nil trusts a recorded lease as it is (unit tests with fakes).
	Owners LeaseOwners
	// ActiveTimeout bounds the wait for a created cluster to turn ACTIVE
	// (options.ClusterActiveTimeout; default 10 minutes). The
	// cluster-events function's timeout must exceed it; the wait also
	// stops a minute before the invocation's deadline.
	ActiveTimeout time.Duration
	Clock         Clock
	Logger        *slog.Logger
}

// DefaultActiveTimeout is Deps.ActiveTimeout's default.
const DefaultActiveTimeout = 10 * time.Minute

// Onboarder runs the three handlers over its dependencies.
type Onboarder struct {
	clusters      ClusterReader
	targetGroups  TargetGroupManager
	discovery     TargetGroupFinder
	listener      listener.Controller
	cells         CellStore
	status        StatusStore
	registry      ClusterStore
	rollouts      Rollouts
	argocd        ClusterRegistry
	vpcs          VPCResolver
	owners        LeaseOwners
	activeTimeout time.Duration
	clock         Clock
	log           *slog.Logger
}

// New returns an Onboarder over deps.
func New(deps Deps) (*Onboarder, error) {
	var missing []string
	for name, nilness := range map[string]bool{
		"Clusters": deps.Clusters == nil, "TargetGroups": deps.TargetGroups == nil, "Discovery": deps.Discovery == nil,
		"Listener": deps.Listener == nil, "Cells": deps.Cells == nil, "Status": deps.Status == nil,
		"Registry": deps.Registry == nil, "Rollouts": deps.Rollouts == nil,
	} {
		if nilness {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("onboarding: missing dependencies %v", sortStrings(missing))
	}
	o := &Onboarder{
		clusters: deps.Clusters, targetGroups: deps.TargetGroups, discovery: deps.Discovery,
		listener: deps.Listener, cells: deps.Cells, status: deps.Status, registry: deps.Registry,
		rollouts: deps.Rollouts, argocd: deps.ArgoCD, vpcs: deps.VPCs, owners: deps.Owners,
		activeTimeout: deps.ActiveTimeout, clock: deps.Clock, log: deps.Logger,
	}
	if o.activeTimeout <= 0 {
		o.activeTimeout = DefaultActiveTimeout
	}
	if o.clock == nil {
		o.clock = SystemClock{}
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	return o, nil
}

// argoRegistry adapts *argocd.Registry to ClusterRegistry.
type argoRegistry struct{ r *argocd.Registry }

// NewArgoCDRegistry adapts an ArgoCD registry to ClusterRegistry.
func NewArgoCDRegistry(r *argocd.Registry) ClusterRegistry { return argoRegistry{r: r} }

func (a argoRegistry) Apply(ctx context.Context, cl inventory.Cluster, targetGroups map[string]string) error {
	_, err := a.r.Apply(ctx, cl, targetGroups)
	return err
}

func (a argoRegistry) Delete(ctx context.Context, clusterName string) error {
	return a.r.Delete(ctx, clusterName)
}

// targetGroupFinder adapts the discovery package to TargetGroupFinder.
type targetGroupFinder struct {
	*discovery.TargetGroups
	tagging discovery.TaggingAPI
	opts    discovery.Options
}

// NewTargetGroupFinder discovers target groups through the Resource Groups
// Tagging API and reads their health through elb.
func NewTargetGroupFinder(elb discovery.ELBv2API, tagging discovery.TaggingAPI, opts discovery.Options) TargetGroupFinder {
	return targetGroupFinder{TargetGroups: discovery.NewTargetGroups(elb, tagging, opts), tagging: tagging, opts: opts}
}

func (f targetGroupFinder) Tagged(ctx context.Context, selector map[string]string) ([]inventory.TargetGroup, error) {
	return discovery.Tagged(ctx, f.tagging, selector, f.opts)
}

// EKSDescribeAPI and EC2SubnetsAPI are what SubnetVPCs calls.
type (
	EKSDescribeAPI interface {
		DescribeCluster(ctx context.Context, params *eks.DescribeClusterInput, optFns ...func(*eks.Options)) (*eks.DescribeClusterOutput, error)
	}
	EC2SubnetsAPI interface {
		DescribeSubnets(ctx context.Context, params *ec2.DescribeSubnetsInput, optFns ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error)
	}
)

// SubnetVPCs finds a cluster's VPC from its first subnet. AWS reports
// resourcesVpcConfig.vpcId itself; the emulator does not, and a target
// group must be created in the cluster's VPC.
type SubnetVPCs struct {
	EKS EKSDescribeAPI
	EC2 EC2SubnetsAPI
}

// ClusterVPC returns the VPC of the cluster's first subnet: of
// cl.SubnetIDs as discovery read them, or, when cl has none, of a fresh
// DescribeCluster.
func (s SubnetVPCs) ClusterVPC(ctx context.Context, cl inventory.Cluster) (string, error) {
	subnets := cl.SubnetIDs
	if len(subnets) == 0 {
		out, err := s.EKS.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(cl.Name)})
		if err != nil {
			return "", fmt.Errorf("describing EKS cluster %s for its VPC, %w", cl.Name, err)
		}
		if out.Cluster == nil || out.Cluster.ResourcesVpcConfig == nil {
			return "", fmt.Errorf("EKS cluster %s has no VPC configuration", cl.Name)
		}
		if vpc := aws.ToString(out.Cluster.ResourcesVpcConfig.VpcId); vpc != "" {
			return vpc, nil
		}
		subnets = out.Cluster.ResourcesVpcConfig.SubnetIds
	}
	if len(subnets) == 0 {
		return "", fmt.Errorf("EKS cluster %s reports neither a VPC nor subnets", cl.Name)
	}
	sn, err := s.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: subnets[:1]})
	if err != nil {
		return "", fmt.Errorf("describing subnet %s of EKS cluster %s, %w", subnets[0], cl.Name, err)
	}
	if len(sn.Subnets) == 0 || aws.ToString(sn.Subnets[0].VpcId) == "" {
		return "", errors.New("subnet " + subnets[0] + " of EKS cluster " + cl.Name + " has no VPC")
	}
	return aws.ToString(sn.Subnets[0].VpcId), nil
}
