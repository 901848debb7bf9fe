package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
)

// ClusterNotFoundError says an EKS cluster does not exist (any more).
type ClusterNotFoundError struct {
	Name string
	Err  error
}

func (e *ClusterNotFoundError) Error() string {
	return fmt.Sprintf("EKS cluster %q not found", e.Name)
}

func (e *ClusterNotFoundError) Unwrap() error { return e.Err }

// Clusters discovers EKS clusters.
type Clusters struct {
	eks  EKSAPI
	opts Options
	log  *slog.Logger
}

// NewClusters returns a cluster discoverer over client.
func NewClusters(client EKSAPI, opts Options) *Clusters {
	opts = opts.withDefaults()
	return &Clusters{eks: client, opts: opts, log: opts.Logger}
}

// List returns every EKS cluster of the account and region, sorted by
// name. It reads every page of ListClusters and describes the clusters
// with bounded concurrency. A cluster deleted between the two calls is left
// out.
func (c *Clusters) List(ctx context.Context) ([]inventory.Cluster, error) {
	var names []string
	pages := eks.NewListClustersPaginator(c.eks, &eks.ListClustersInput{
		MaxResults: aws.Int32(c.opts.ListClustersPageSize),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing EKS clusters, %w", err)
		}
		names = append(names, page.Clusters...)
	}

	found := make([]*inventory.Cluster, len(names))
	err := forEach(ctx, len(names), c.opts.Concurrency, func(ctx context.Context, i int) error {
		cl, err := c.Describe(ctx, names[i])
		var nf *ClusterNotFoundError
		switch {
		case err == nil:
			found[i] = &cl
		case errors.As(err, &nf):
			c.log.InfoContext(ctx, "EKS cluster disappeared while listing", "cluster", names[i])
		default:
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]inventory.Cluster, 0, len(found))
	for _, cl := range found {
		if cl != nil {
			out = append(out, *cl)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	c.log.DebugContext(ctx, "discovered EKS clusters", "count", len(out))
	return out, nil
}

// Describe returns one EKS cluster, or a *ClusterNotFoundError when it does
// not exist.
func (c *Clusters) Describe(ctx context.Context, name string) (inventory.Cluster, error) {
	out, err := c.eks.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
	if err != nil {
		if awsapi.IsNotFound(err) {
			return inventory.Cluster{}, &ClusterNotFoundError{Name: name, Err: err}
		}
		return inventory.Cluster{}, fmt.Errorf("describing EKS cluster %s, %w", name, err)
	}
	if out.Cluster == nil {
		return inventory.Cluster{}, fmt.Errorf("describing EKS cluster %s: empty answer", name)
	}
	return clusterFrom(out.Cluster), nil
}

func clusterFrom(cl *ekstypes.Cluster) inventory.Cluster {
	out := inventory.Cluster{
		Name:     aws.ToString(cl.Name),
		ARN:      aws.ToString(cl.Arn),
		Status:   string(cl.Status),
		Endpoint: aws.ToString(cl.Endpoint),
	}
	if cl.CertificateAuthority != nil {
		out.CertificateAuthority = aws.ToString(cl.CertificateAuthority.Data)
	}
	if cl.ResourcesVpcConfig != nil {
		out.VPCID = aws.ToString(cl.ResourcesVpcConfig.VpcId)
		out.SubnetIDs = slices.Clone(cl.ResourcesVpcConfig.SubnetIds)
	}
	if len(cl.Tags) > 0 {
		out.Tags = maps.Clone(cl.Tags)
	}
	return out
}

// ClustersForCell returns the clusters whose tags carry every tag of the
// Cell's clusterSelector.matchTags, in the order given. A Cell with an
// empty selector selects no cluster: matching every cluster of the account
// is never what a user means.
func ClustersForCell(c *cell.Cell, clusters []inventory.Cluster) []inventory.Cluster {
	if c == nil || len(c.Spec.ClusterSelector.MatchTags) == 0 {
		return nil
	}
	var out []inventory.Cluster
	for _, cl := range clusters {
		if matches(cl.Tags, c.Spec.ClusterSelector.MatchTags) {
			out = append(out, cl)
		}
	}
	return out
}

// matches reports whether tags carries every key/value of selector.
func matches(tags, selector map[string]string) bool {
	for k, want := range selector {
		got, ok := tags[k]
		if !ok || got != want {
			return false
		}
	}
	return true
}
