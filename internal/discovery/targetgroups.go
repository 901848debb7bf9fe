package discovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/weights"
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
	elb     ELBv2API
	tagging TaggingAPI
	opts    Options
	log     *slog.Logger
}

// NewTargetGroups returns a target-group discoverer that selects groups
// through tagging (the Resource Groups Tagging API) and reads their health
// through elb.
func NewTargetGroups(elb ELBv2API, tagging TaggingAPI, opts Options) *TargetGroups {
	opts = opts.withDefaults()
	return &TargetGroups{elb: elb, tagging: tagging, opts: opts, log: opts.Logger}
}

// CellTargetGroups is what discovery found for one Cell.
type CellTargetGroups struct {
	// TargetGroups carry every tag of the Cell's selector and its version
	// tag, sorted by name. Their HealthyTargets are 0 until Health (or
	// HealthForDecision) fills them.
	TargetGroups []inventory.TargetGroup
	// Unversioned carry the selector's tags but not the version tag. They
	// are excluded from TargetGroups (a rollout cannot place them) and
	// reported so that the Cell's status can name them.
	Unversioned []inventory.TargetGroup
}

// ForCell returns the target groups selected by c's
// ingress.targetGroupSelector.matchLabels (every label must match), each
// with its Version (the value of c's version tag; group them with
// inventory.ByVersion). Groups without the version tag are logged and
// returned apart, in Unversioned. It makes no ELBv2 call: one GetResources
// per page of the Cell's own groups (see Tagged), so its cost follows the
// Cell, not the account. It reads no health: call Health for the groups a
// decision needs.
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

	selected, err := Tagged(ctx, d.tagging, selector, d.opts)
	if err != nil {
		return CellTargetGroups{}, fmt.Errorf("discovering target groups of cell %q, %w", c.Metadata.Name, err)
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
	d.log.DebugContext(ctx, "discovered target groups", "cell", c.Metadata.Name,
		"count", len(res.TargetGroups), "unversioned", len(res.Unversioned))
	return res, nil
}

// TaggingAPI is the part of the Resource Groups Tagging API discovery
// calls. *resourcegroupstaggingapi.Client satisfies it.
type TaggingAPI interface {
	GetResources(ctx context.Context, params *tagging.GetResourcesInput, optFns ...func(*tagging.Options)) (*tagging.GetResourcesOutput, error)
}

// Tagged returns every target group of the account and region whose tags
// carry all of selector, sorted by name, with ARN, Name, Tags and Cluster
// set (not Version, which depends on a Cell, nor health, nor
// LoadBalancerARNs, which GetResources does not report). It asks the
// Resource Groups Tagging API for exactly those groups (GetResources with
// ResourceTypeFilters elasticloadbalancing:targetgroup and one TagFilter per
// selector entry) and reads every page, so it costs one call per
// MaxResourcesPerPage selected groups however many groups the account
// holds, and no ELBv2 call. An empty selector is refused: it would select
// every group.
//
// GetResources is eventually consistent: a group created or tagged moments
// ago may be missing, and one deleted moments ago may still be listed
// (Health drops those).
func Tagged(ctx context.Context, client TaggingAPI, selector map[string]string, opts Options) ([]inventory.TargetGroup, error) {
	if len(selector) == 0 {
		return nil, fmt.Errorf("selecting target groups by tags: empty selector")
	}
	if len(selector) > MaxTagFilters {
		return nil, fmt.Errorf("selecting target groups by tags: %d tags, at most %d per GetResources call", len(selector), MaxTagFilters)
	}
	opts = opts.withDefaults()

	filters := make([]taggingtypes.TagFilter, 0, len(selector))
	for _, k := range sortedKeys(selector) {
		filters = append(filters, taggingtypes.TagFilter{Key: aws.String(k), Values: []string{selector[k]}})
	}
	pages := tagging.NewGetResourcesPaginator(client, &tagging.GetResourcesInput{
		ResourceTypeFilters: []string{ResourceTypeTargetGroup},
		TagFilters:          filters,
		ResourcesPerPage:    aws.Int32(opts.ResourcesPerPage),
		TagsPerPage:         aws.Int32(MaxTagsPerPage),
	})
	var out []inventory.TargetGroup
	seen := map[string]bool{}
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing tagged target groups, %w", err)
		}
		for _, m := range page.ResourceTagMappingList {
			arn := aws.ToString(m.ResourceARN)
			t := taggingTagMap(m.Tags)
			// The filters already matched; checking again guards against
			// a service (or emulator) that matches loosely.
			if arn == "" || seen[arn] || !matches(t, selector) {
				continue
			}
			seen[arn] = true
			out = append(out, inventory.TargetGroup{
				ARN:     arn,
				Name:    NameFromARN(arn),
				Tags:    t,
				Cluster: t[inventory.TagCluster],
			})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// NameFromARN returns the name part of a target group ARN
// (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID), or the
// ARN itself when it has no such part.
func NameFromARN(arn string) string {
	_, rest, ok := strings.Cut(arn, ":targetgroup/")
	if !ok {
		return arn
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

func taggingTagMap(tags []taggingtypes.Tag) map[string]string {
	return tagMap(tags, func(t taggingtypes.Tag) (*string, *string) { return t.Key, t.Value })
}

// DescribeTags describes the tags of at most MaxTagsARNs resources in one
// call. When a resource of the batch no longer exists (AWS fails the whole
// call), it asks for each ARN alone and leaves the missing ones out.
func DescribeTags(ctx context.Context, client TagsAPI, arns []string) ([]elbv2types.TagDescription, error) {
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

// TagsAPI is the ELBv2 call DescribeTags makes.
// *elasticloadbalancingv2.Client satisfies it.
type TagsAPI interface {
	DescribeTags(ctx context.Context, params *elbv2.DescribeTagsInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeTagsOutput, error)
}

// Health returns tgs with HealthyTargets filled by one DescribeTargetHealth
// per group (opts.Concurrency at once), in the order given. A group that no
// longer exists is left out. Call it only for the groups a decision reads:
// the canary's at the health gate, the stable ones before a rollback or a
// re-split.
func (d *TargetGroups) Health(ctx context.Context, tgs []inventory.TargetGroup) ([]inventory.TargetGroup, error) {
	out := slices.Clone(tgs)
	gone := make([]bool, len(out))
	err := forEach(ctx, len(out), d.opts.Concurrency, func(ctx context.Context, i int) error {
		n, err := d.healthOf(ctx, out[i])
		if errors.Is(err, errGone) {
			gone[i] = true
			return nil
		}
		out[i].HealthyTargets = n
		return err
	})
	if err != nil {
		return nil, err
	}
	kept := out[:0]
	for i, tg := range out {
		if !gone[i] {
			kept = append(kept, tg)
		}
	}
	return kept, nil
}

// HealthForDecision fills HealthyTargets where the rollout planner's
// decision for c reads them, and only there: every group the forward
// action fwd lists, then, per version, the other groups in name order
// until spec.replicas of that version's groups have at least
// spec.minHealthyTargets healthy targets. The planner prefers healthy groups, then listed ones, then
// names, so it chooses the same groups as with every count known; the
// counts of the groups not looked up stay 0. In the steady state (the
// stable version's groups listed and healthy) that is one
// DescribeTargetHealth per listed group, however many groups the Cell
// holds. Groups that no longer exist are left out.
func (d *TargetGroups) HealthForDecision(ctx context.Context, c *cell.Cell, tgs []inventory.TargetGroup, fwd weights.Forward) ([]inventory.TargetGroup, error) {
	replicas, minHealthy := int(cell.DefaultReplicas), int(cell.DefaultMinHealthyTargets)
	if c != nil && c.Spec.Replicas != nil {
		replicas = int(*c.Spec.Replicas)
	}
	if c != nil && c.Spec.MinHealthyTargets != nil {
		minHealthy = int(*c.Spec.MinHealthyTargets)
	}
	replicas, minHealthy = max(replicas, 1), max(minHealthy, 0)
	listed := make(map[string]bool, len(fwd.TargetGroups))
	for _, tg := range fwd.TargetGroups {
		listed[tg.ARN] = true
	}
	out := slices.Clone(tgs)
	gone := make([]bool, len(out))
	// lookUp fills the counts of out[idx...] concurrently.
	lookUp := func(idx []int) error {
		return forEach(ctx, len(idx), d.opts.Concurrency, func(ctx context.Context, k int) error {
			i := idx[k]
			n, err := d.healthOf(ctx, out[i])
			if errors.Is(err, errGone) {
				gone[i] = true
				return nil
			}
			out[i].HealthyTargets = n
			return err
		})
	}
	var first []int
	rest := map[string][]int{} // version -> unlisted groups, by name
	for i, tg := range out {
		if listed[tg.ARN] {
			first = append(first, i)
		} else {
			rest[tg.Version] = append(rest[tg.Version], i)
		}
	}
	if err := lookUp(first); err != nil {
		return nil, err
	}
	healthy := map[string]int{}
	for _, i := range first {
		if !gone[i] && out[i].HealthyTargets >= minHealthy {
			healthy[out[i].Version]++
		}
	}
	for _, v := range sortedKeys(rest) {
		idx := rest[v]
		sort.SliceStable(idx, func(a, b int) bool {
			return cmp.Or(strings.Compare(out[idx[a]].Name, out[idx[b]].Name), strings.Compare(out[idx[a]].ARN, out[idx[b]].ARN)) < 0
		})
		for len(idx) > 0 && healthy[v] < replicas {
			batch := idx[:min(len(idx), replicas-healthy[v])]
			idx = idx[len(batch):]
			if err := lookUp(batch); err != nil {
				return nil, err
			}
			for _, i := range batch {
				if !gone[i] && out[i].HealthyTargets >= minHealthy {
					healthy[v]++
				}
			}
		}
	}
	kept := out[:0]
	for i, tg := range out {
		if !gone[i] {
			kept = append(kept, tg)
		}
	}
	return kept, nil
}

// errGone says a target group no longer exists.
var errGone = errors.New("target group no longer exists")

// healthOf counts the healthy targets of one group; errGone when the group
// no longer exists.
func (d *TargetGroups) healthOf(ctx context.Context, tg inventory.TargetGroup) (int, error) {
	out, err := d.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(tg.ARN)})
	if err != nil {
		if awsapi.IsNotFound(err) {
			d.log.InfoContext(ctx, "target group disappeared during discovery", "targetGroup", tg.Name)
			return 0, errGone
		}
		return 0, fmt.Errorf("describing target health of %s, %w", tg.Name, err)
	}
	return CountHealthy(out.TargetHealthDescriptions), nil
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
	return tagMap(tags, func(t elbv2types.Tag) (*string, *string) { return t.Key, t.Value })
}

// tagMap turns a tag list of either API (ELBv2, Resource Groups Tagging)
// into a map; kv gives a tag's key and value.
func tagMap[T any](tags []T, kv func(T) (*string, *string)) map[string]string {
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		k, v := kv(t)
		out[aws.ToString(k)] = aws.ToString(v)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
