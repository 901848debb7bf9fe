package checks

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/rollout"
)

// resourceOf returns the resource part of an Elastic Load Balancing ARN
// (arn:PARTITION:elasticloadbalancing:REGION:ACCOUNT:RESOURCE).
func resourceOf(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "elasticloadbalancing" || parts[5] == "" {
		return "", fmt.Errorf("%q is not an Elastic Load Balancing ARN", arn)
	}
	return parts[5], nil
}

// LoadBalancerDimension returns the CloudWatch LoadBalancer dimension value
// of the load balancer a listener (or listener rule) belongs to:
// arn:...:listener/app/NAME/ID/LID becomes "app/NAME/ID" (ALB) and
// arn:...:listener/net/NAME/ID/LID "net/NAME/ID" (NLB).
func LoadBalancerDimension(listenerARN string) (string, error) {
	res, err := resourceOf(listenerARN)
	if err != nil {
		return "", err
	}
	segs := strings.Split(res, "/")
	want := map[string]int{"listener": 5, "listener-rule": 6}[segs[0]]
	if want == 0 || len(segs) != want || (segs[1] != "app" && segs[1] != "net") || segs[2] == "" || segs[3] == "" {
		return "", fmt.Errorf("%q is not a listener ARN (want arn:...:listener/app|net/NAME/ID/LISTENER-ID)", listenerARN)
	}
	return strings.Join(segs[1:4], "/"), nil
}

// TargetGroupDimension returns the CloudWatch TargetGroup dimension value
// of a target group: arn:...:targetgroup/NAME/ID becomes
// "targetgroup/NAME/ID".
func TargetGroupDimension(targetGroupARN string) (string, error) {
	res, err := resourceOf(targetGroupARN)
	if err != nil {
		return "", err
	}
	segs := strings.Split(res, "/")
	if len(segs) != 3 || segs[0] != "targetgroup" || segs[1] == "" || segs[2] == "" {
		return "", fmt.Errorf("%q is not a target group ARN (want arn:...:targetgroup/NAME/ID)", targetGroupARN)
	}
	return res, nil
}

// builtinArgs computes okra's built-in analysis arguments (cell.Arg*) for
// a rollout of c from stable to canary. An argument okra cannot compute
// (no target group of a side found, a listener ARN it cannot parse) is
// left out, so a template that uses it fails to start with an error that
// names it, while templates that do not use it run.
func (s *Starter) builtinArgs(ctx context.Context, c *cell.Cell, stable, canary string, st rollout.Status) (map[string]string, error) {
	args := map[string]string{cell.ArgCell: c.Metadata.Name}
	if stable != "" {
		args[cell.ArgStableVersion] = stable
	}
	if canary != "" {
		args[cell.ArgCanaryVersion] = canary
	}
	if lb, err := LoadBalancerDimension(c.Spec.Ingress.ListenerARN); err == nil {
		args[cell.ArgLoadBalancer] = lb
	} else {
		s.log.WarnContext(ctx, "no load-balancer analysis argument", "cell", c.Metadata.Name, "reason", err.Error())
	}
	stableARNs, canaryARNs, err := s.targetGroupsOf(ctx, c, stable, canary, st)
	if err != nil {
		return nil, err
	}
	for _, side := range []struct {
		arns      []string
		one, many string
	}{
		{stableARNs, cell.ArgStableTargetGroup, cell.ArgStableTargetGroups},
		{canaryARNs, cell.ArgCanaryTargetGroup, cell.ArgCanaryTargetGroups},
	} {
		var dims []string
		for _, arn := range side.arns {
			d, err := TargetGroupDimension(arn)
			if err != nil {
				s.log.WarnContext(ctx, "target group left out of the analysis arguments", "cell", c.Metadata.Name, "reason", err.Error())
				continue
			}
			dims = append(dims, d)
		}
		if len(dims) > 0 {
			args[side.one] = dims[0]
			args[side.many] = strings.Join(dims, ",")
		}
	}
	return args, nil
}

// targetGroupsOf returns the ARNs of the stable and canary target groups:
// from discovery (the Cell's target groups by version tag) when a
// discoverer is configured, preferring those in the forward action; a side
// discovery finds nothing for is taken from the status instead (stable:
// the groups the pre-rollout snapshot routed to; canary: the groups of the
// forward action that the snapshot did not hold).
func (s *Starter) targetGroupsOf(ctx context.Context, c *cell.Cell, stable, canary string, st rollout.Status) (stableARNs, canaryARNs []string, err error) {
	inAction := append(st.Weights.ARNs(), snapshotARNs(st)...)
	if s.discovery != nil {
		found, err := s.discovery.ForCell(ctx, c)
		if err != nil {
			return nil, nil, fmt.Errorf("discovering the target groups of Cell %q for its analysis arguments, %w", c.Metadata.Name, err)
		}
		by := inventory.ByVersion(found.TargetGroups)
		pick := func(version string) []string {
			if version == "" {
				return nil
			}
			var all, routed []string
			for _, tg := range by[version] {
				all = append(all, tg.ARN)
				if slices.Contains(inAction, tg.ARN) {
					routed = append(routed, tg.ARN)
				}
			}
			if len(routed) > 0 {
				return routed
			}
			return all
		}
		stableARNs, canaryARNs = pick(stable), pick(canary)
	}
	if len(stableARNs) == 0 && st.Snapshot != nil {
		stableARNs = st.Snapshot.Routed()
	}
	if len(canaryARNs) == 0 && st.Snapshot != nil {
		before := snapshotARNs(st)
		for _, arn := range st.Weights.ARNs() {
			if !slices.Contains(before, arn) {
				canaryARNs = append(canaryARNs, arn)
			}
		}
	}
	return stableARNs, canaryARNs, nil
}

func snapshotARNs(st rollout.Status) []string {
	if st.Snapshot == nil {
		return nil
	}
	return st.Snapshot.ARNs()
}
