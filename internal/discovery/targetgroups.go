package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
)

// DefaultVersionLabel is the version tag key when a Cell leaves
// versionedBy.label empty.
const DefaultVersionLabel = "version"

// VersionLabel returns the tag key that carries c's version.
func VersionLabel(c *cell.Cell) string {
	if c != nil && c.Spec.VersionedBy.Label != "" {
		return c.Spec.VersionedBy.Label
	}
	return DefaultVersionLabel
}

// TargetGroups discovers the target groups of Cells.
type TargetGroups struct {
	elb  ELBv2API
	opts Options
	log  *slog.Logger
}

// NewTargetGroups returns a target-group discoverer over client.
func NewTargetGroups(client ELBv2API, opts Options) *TargetGroups {
	opts = opts.withDefaults()
	return &TargetGroups{elb: client, opts: opts, log: opts.Logger}
}

// CellTargetGroups is what discovery found for one Cell.
type CellTargetGroups struct {
	// TargetGroups carry every tag of the Cell's selector and its version
	// tag, sorted by name, with healthy-target counts.
	TargetGroups []inventory.TargetGroup
	// Unversioned carry the selector's tags but not the version tag. They
	// are excluded from TargetGroups (a rollout cannot place them) and
	// reported so that the Cell's status can name them. Their health is not
	// looked up.
	Unversioned []inventory.TargetGroup
}

// ForCell returns the target groups selected by c's
// ingress.targetGroupSelector.matchLabels (every label must match), each
// with its Version (the value of c's version tag; group them with
// inventory.ByVersion). Groups without the version tag are logged and
// returned apart, in Unversioned. It reads every DescribeTargetGroups page,
// fetches tags in DescribeTags batches of 20 ARNs, and calls
// DescribeTargetHealth only for the selected, versioned groups.
func (d *TargetGroups) ForCell(ctx context.Context, c *cell.Cell) (CellTargetGroups, error) {
	if c == nil {
		return CellTargetGroups{}, fmt.Errorf("discovering target groups: no cell given")
	}
	selector := c.Spec.Ingress.TargetGroupSelector.MatchLabels
	if len(selector) == 0 {
		// Matching every target group of the account is never intended.
		return CellTargetGroups{}, fmt.Errorf("discovering target groups of cell %q: spec.ingress.targetGroupSelector.matchLabels is empty", c.Metadata.Name)
	}
	label := VersionLabel(c)

	selected, scanned, err := Tagged(ctx, d.elb, selector, d.opts)
	if err != nil {
		return CellTargetGroups{}, err
	}

	var res CellTargetGroups
	for _, tg := range selected {
		tg.Version = tg.Tags[label]
		if tg.Version == "" {
			d.log.WarnContext(ctx, "target group matches the cell's selector but has no version tag; excluded",
				"cell", c.Metadata.Name, "targetGroup", tg.Name, "arn", tg.ARN, "versionTag", label)
			res.Unversioned = append(res.Unversioned, tg)
			continue
		}
		res.TargetGroups = append(res.TargetGroups, tg)
	}

	if err := d.health(ctx, res.TargetGroups); err != nil {
		return CellTargetGroups{}, err
	}
	// A group deleted while we looked is marked with an empty ARN.
	kept := res.TargetGroups[:0]
	for _, tg := range res.TargetGroups {
		if tg.ARN != "" {
			kept = append(kept, tg)
		}
	}
	res.TargetGroups = kept
	d.log.DebugContext(ctx, "discovered target groups", "cell", c.Metadata.Name,
		"count", len(res.TargetGroups), "unversioned", len(res.Unversioned), "scanned", scanned)
	return res, nil
}

// TaggedAPI is the part of the ELBv2 API that Tagged calls.
// *elasticloadbalancingv2.Client satisfies it.
type TaggedAPI interface {
	DescribeTargetGroups(ctx context.Context, params *elbv2.DescribeTargetGroupsInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error)
	DescribeTags(ctx context.Context, params *elbv2.DescribeTagsInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error)
}

// Tagged returns every target group of the account and region whose tags
// carry all of selector, sorted by name, with ARN, Name, Tags, Cluster and
// LoadBalancerARNs set (not Version, which depends on a Cell, nor health),
// and how many target groups it scanned. It reads every
// DescribeTargetGroups page (opts.TargetGroupsPageSize) and fetches tags in
// DescribeTags batches of MaxTagsARNs with opts.Concurrency calls at once.
// An empty selector is refused: it would select every group.
func Tagged(ctx context.Context, client TaggedAPI, selector map[string]string, opts Options) ([]inventory.TargetGroup, int, error) {
	if len(selector) == 0 {
		return nil, 0, fmt.Errorf("selecting target groups by tags: empty selector")
	}
	opts = opts.withDefaults()

	var groups []elbv2types.TargetGroup
	pages := elbv2.NewDescribeTargetGroupsPaginator(client, &elbv2.DescribeTargetGroupsInput{
		PageSize: aws.Int32(opts.TargetGroupsPageSize),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("describing target groups, %w", err)
		}
		groups = append(groups, page.TargetGroups...)
	}

	arns := make([]string, len(groups))
	for i, g := range groups {
		arns[i] = aws.ToString(g.TargetGroupArn)
	}
	batches := chunk(arns, MaxTagsARNs)
	results := make([][]elbv2types.TagDescription, len(batches))
	err := forEach(ctx, len(batches), opts.Concurrency, func(ctx context.Context, i int) error {
		descs, err := DescribeTags(ctx, client, batches[i])
		results[i] = descs
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	tags := make(map[string]map[string]string, len(arns))
	for _, descs := range results {
		for _, desc := range descs {
			tags[aws.ToString(desc.ResourceArn)] = TagMap(desc.Tags)
		}
	}

	var out []inventory.TargetGroup
	for _, g := range groups {
		arn := aws.ToString(g.TargetGroupArn)
		t, ok := tags[arn] // absent: deleted while we looked
		if !ok || !matches(t, selector) {
			continue
		}
		out = append(out, inventory.TargetGroup{
			ARN:              arn,
			Name:             aws.ToString(g.TargetGroupName),
			Tags:             t,
			Cluster:          t[inventory.TagCluster],
			LoadBalancerARNs: append([]string(nil), g.LoadBalancerArns...),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, len(groups), nil
}

// DescribeTags describes the tags of at most MaxTagsARNs resources in one
// call. When a resource of the batch no longer exists (AWS fails the whole
// call), it asks for each ARN alone and leaves the missing ones out.
func DescribeTags(ctx context.Context, client TaggedAPI, arns []string) ([]elbv2types.TagDescription, error) {
	if len(arns) == 0 {
		return nil, nil
	}
	if len(arns) > MaxTagsARNs {
		return nil, fmt.Errorf("describing tags of %d resources: at most %d per call", len(arns), MaxTagsARNs)
	}
	out, err := client.DescribeTags(ctx, &elbv2.DescribeTagsInput{ResourceArns: arns})
	switch {
	case err == nil:
		return out.TagDescriptions, nil
	case !awsapi.IsNotFound(err):
		return nil, fmt.Errorf("describing tags, %w", err)
	case len(arns) == 1:
		return nil, nil // that resource is gone
	}
	var descs []elbv2types.TagDescription
	for _, arn := range arns {
		one, err := DescribeTags(ctx, client, []string{arn})
		if err != nil {
			return nil, err
		}
		descs = append(descs, one...)
	}
	return descs, nil
}

// health fills HealthyTargets of each group. A group deleted meanwhile gets
// an empty ARN so the caller can drop it.
func (d *TargetGroups) health(ctx context.Context, tgs []inventory.TargetGroup) error {
	return forEach(ctx, len(tgs), d.opts.Concurrency, func(ctx context.Context, i int) error {
		out, err := d.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{
			TargetGroupArn: aws.String(tgs[i].ARN),
		})
		if err != nil {
			if awsapi.IsNotFound(err) {
				d.log.InfoContext(ctx, "target group disappeared during discovery", "targetGroup", tgs[i].Name)
				tgs[i].ARN = ""
				return nil
			}
			return fmt.Errorf("describing target health of %s, %w", tgs[i].Name, err)
		}
		tgs[i].HealthyTargets = CountHealthy(out.TargetHealthDescriptions)
		return nil
	})
}

// CountHealthy counts the targets whose state is healthy. Every other
// state (initial, unhealthy, unused, draining, unavailable, and
// unhealthy.draining) does not count.
func CountHealthy(descs []elbv2types.TargetHealthDescription) int {
	n := 0
	for _, d := range descs {
		if d.TargetHealth != nil && d.TargetHealth.State == elbv2types.TargetHealthStateEnumHealthy {
			n++
		}
	}
	return n
}

// TagMap turns an ELBv2 tag list into a map.
func TagMap(tags []elbv2types.Tag) map[string]string {
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

func chunk[T any](s []T, size int) [][]T {
	var out [][]T
	for len(s) > size {
		out = append(out, s[:size:size])
		s = s[size:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}
