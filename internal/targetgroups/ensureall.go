package targetgroups

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"golang.org/x/sync/errgroup"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/inventory"
)

// MaxDescribeARNs is how many target group ARNs one DescribeTargetGroups
// call accepts.
const MaxDescribeARNs = 400

// Pair is one (Cell, EKS cluster) whose target group EnsureAll ensures.
type Pair struct {
	Cell    *cell.Cell
	Cluster inventory.Cluster
}

// Ensured is EnsureAll's answer for one Pair: the group, or why there is
// none (the errors Ensure returns).
type Ensured struct {
	Group inventory.TargetGroup
	Err   error
}

// EnsureAll does what Ensure does for every pair, for a caller that already
// holds okra's inventory: managed is every target group tagged
// okra:managed=true, as discovery.Tagged returns them (the reconcile reads
// it once for its clean-up anyway). Instead of looking each pair up by name
// and tags, it finds the pair's group in managed and makes only these
// calls:
//
//   - DescribeTargetGroups by ARN, MaxDescribeARNs at a time, for the
//     groups found (their settings, to warn about drift, and to confirm
//     they still exist);
//   - CreateTargetGroup for each pair that has none, then DescribeTags in
//     batches of discovery.MaxTagsARNs over the created groups, to confirm
//     okra owns them (CreateTargetGroup answers with an existing group of
//     the same name and settings, whoever owns it);
//   - AddTags/RemoveTags and node-group attachment only where something
//     changes.
//
// In the steady state that is ⌈groups/400⌉ calls for the whole run. The
// answers come back in the order of pairs.
func (m *Manager) EnsureAll(ctx context.Context, managed []inventory.TargetGroup, pairs []Pair) []Ensured {
	out := make([]Ensured, len(pairs))
	type planned struct {
		name    string
		desired map[string]string
		input   *elbv2.CreateTargetGroupInput
		found   *existing
	}
	plans := make([]planned, len(pairs))
	byPair := map[[2]string][]inventory.TargetGroup{}
	for _, tg := range managed {
		k := [2]string{tg.Tags[inventory.TagCell], tg.Tags[inventory.TagCluster]}
		if owned(tg.Tags, k[0], k[1]) {
			byPair[k] = append(byPair[k], tg)
		}
	}

	// Validate every pair and pick its group from the inventory.
	var lookup []string
	for i, p := range pairs {
		name, desired, input, err := m.prepare(ctx, p.Cell, p.Cluster)
		if err != nil {
			out[i].Err = err
			continue
		}
		plans[i] = planned{name: name, desired: desired, input: input}
		switch cands := byPair[[2]string{p.Cell.Metadata.Name, p.Cluster.Name}]; len(cands) {
		case 0:
		case 1:
			lookup = append(lookup, cands[0].ARN)
		default:
			arns := make([]string, len(cands))
			for j, tg := range cands {
				arns[j] = tg.ARN
			}
			out[i].Err = &ConflictError{Cell: p.Cell.Metadata.Name, Cluster: p.Cluster.Name, Name: name, ARNs: arns,
				Reason: "several target groups carry this cluster's and cell's okra tags; delete all but one"}
		}
	}
	settings, err := m.describeARNs(ctx, lookup)
	if err != nil {
		for i := range out {
			if out[i].Err == nil {
				out[i].Err = err
			}
		}
		return out
	}

	// Create what is missing, concurrently.
	var creates []int
	for i, p := range pairs {
		if out[i].Err != nil {
			continue
		}
		cands := byPair[[2]string{p.Cell.Metadata.Name, p.Cluster.Name}]
		if len(cands) == 1 {
			if g, ok := settings[cands[0].ARN]; ok {
				plans[i].found = &existing{group: g, tags: maps.Clone(cands[0].Tags)}
				continue
			}
			// Listed by the tagging API but deleted since: create anew.
		}
		creates = append(creates, i)
	}
	var mu sync.Mutex
	var verify []int // indexes whose created group's tags must be read
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.concurrency())
	for _, i := range creates {
		g.Go(func() error {
			p := pairs[i]
			log := m.log.With("cell", p.Cell.Metadata.Name, "cluster", p.Cluster.Name, "targetGroup", plans[i].name)
			grp, raced, err := m.createGroup(gctx, log, plans[i].input)
			var ex *existing
			if err == nil && raced {
				// The name was taken: read its owner now, as Ensure does.
				ex, err = m.confirmOwner(gctx, log, grp, p.Cell.Metadata.Name, p.Cluster.Name, true)
			}
			switch {
			case err != nil:
				out[i].Err = err
			case raced:
				plans[i].found = ex
			default:
				plans[i].found = &existing{group: *grp}
				mu.Lock()
				verify = append(verify, i)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()

	// Confirm okra owns what CreateTargetGroup answered, 20 at a time.
	if err := m.confirmCreated(ctx, pairs, verify, func(i int) *existing { return plans[i].found }, out); err != nil {
		for _, i := range verify {
			if out[i].Err == nil {
				out[i].Err = err
			}
		}
	}

	for i, p := range pairs {
		if out[i].Err != nil || plans[i].found == nil {
			continue
		}
		log := m.log.With("cell", p.Cell.Metadata.Name, "cluster", p.Cluster.Name, "targetGroup", plans[i].name)
		found := plans[i].found
		warnImmutableDrift(ctx, log, found.group, plans[i].input)
		out[i].Group, out[i].Err = m.finish(ctx, log, p.Cell, p.Cluster, found, plans[i].desired)
	}
	return out
}

// confirmCreated reads the tags of the groups CreateTargetGroup answered
// for pairs[verify...] in batches of discovery.MaxTagsARNs and files a
// *ConflictError for each that okra does not own for its pair.
func (m *Manager) confirmCreated(ctx context.Context, pairs []Pair, verify []int, found func(int) *existing, out []Ensured) error {
	byARN := map[string]int{}
	arns := make([]string, 0, len(verify))
	for _, i := range verify {
		arn := aws.ToString(found(i).group.TargetGroupArn)
		byARN[arn] = i
		arns = append(arns, arn)
	}
	batches := chunk(arns, discovery.MaxTagsARNs)
	tags := make([]map[string]map[string]string, len(batches))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(m.concurrency())
	for b := range batches {
		g.Go(func() error {
			descs, err := discovery.DescribeTags(gctx, m.elb, batches[b])
			if err != nil {
				return err
			}
			tags[b] = map[string]map[string]string{}
			for _, d := range descs {
				tags[b][aws.ToString(d.ResourceArn)] = discovery.TagMap(d.Tags)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for b, batch := range batches {
		for _, arn := range batch {
			i := byARN[arn]
			p := pairs[i]
			t, ok := tags[b][arn]
			switch {
			case !ok:
				out[i].Err = fmt.Errorf("creating target group %s: it was deleted right after; retry", arn)
			case !owned(t, p.Cell.Metadata.Name, p.Cluster.Name):
				out[i].Err = &ConflictError{Cell: p.Cell.Metadata.Name, Cluster: p.Cluster.Name, Name: aws.ToString(found(i).group.TargetGroupName),
					ARNs: []string{arn}, Reason: "the name is taken by a target group okra does not own for this cluster and cell"}
			default:
				found(i).tags = t
				m.log.InfoContext(ctx, "created target group", "cell", p.Cell.Metadata.Name, "cluster", p.Cluster.Name, "arn", arn)
			}
		}
	}
	return nil
}

// describeARNs returns the settings of the groups arns, MaxDescribeARNs
// per call, by ARN. Groups that no longer exist are left out (AWS fails a
// whole call for one missing ARN; that batch is then asked one by one).
func (m *Manager) describeARNs(ctx context.Context, arns []string) (map[string]elbv2types.TargetGroup, error) {
	out := map[string]elbv2types.TargetGroup{}
	for _, batch := range chunk(arns, MaxDescribeARNs) {
		res, err := m.elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: batch})
		switch {
		case err == nil:
			for _, g := range res.TargetGroups {
				out[aws.ToString(g.TargetGroupArn)] = g
			}
		case awsapi.IsNotFound(err) && len(batch) > 1:
			for _, arn := range batch {
				g, err := m.describe(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}})
				if err != nil {
					return nil, err
				}
				if g != nil {
					out[arn] = *g
				}
			}
		case awsapi.IsNotFound(err):
		default:
			return nil, fmt.Errorf("describing %d target groups, %w", len(batch), err)
		}
	}
	return out, nil
}

func (m *Manager) concurrency() int {
	if m.scan.Concurrency > 0 {
		return m.scan.Concurrency
	}
	return discovery.DefaultConcurrency
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
