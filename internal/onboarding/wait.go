package onboarding

import (
	"context"
	"errors"
	"time"

	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/inventory"
)

// Poll schedule of the wait for a created cluster to turn ACTIVE: EKS
// takes about ten minutes, so polling starts slowly and backs off.
const (
	activeFirstPoll = 5 * time.Second
	activeMaxPoll   = 30 * time.Second
	// deadlineMargin is kept free before the invocation's deadline for the
	// onboarding that follows the wait, so the handler returns its typed
	// error instead of being cut off.
	deadlineMargin = time.Minute
)

// waitActive polls DescribeCluster until the cluster is ACTIVE, backing off
// from 5 to 30 seconds, for at most the active timeout (less when the
// invocation's deadline is nearer). found is false when the cluster no
// longer exists: it was deleted, and the DeleteCluster event cleans up. A
// cluster that turns FAILED or DELETING, or is still not ACTIVE when the
// time is up, is a *ClusterNotActiveError.
func (o *Onboarder) waitActive(ctx context.Context, name string) (cl inventory.Cluster, found bool, err error) {
	budget := o.activeTimeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl) - deadlineMargin; left < budget {
			budget = max(left, 0)
		}
	}
	log := o.log.With("cluster", name)
	start := o.clock.Now()
	delay := activeFirstPoll
	for {
		cl, err := o.clusters.Describe(ctx, name)
		var nf *discovery.ClusterNotFoundError
		switch {
		case errors.As(err, &nf):
			log.InfoContext(ctx, "created cluster no longer exists; nothing to onboard")
			return inventory.Cluster{}, false, nil
		case err != nil:
			return inventory.Cluster{}, false, err
		}
		waited := o.clock.Now().Sub(start)
		switch cl.Status {
		case statusActive:
			if waited > 0 {
				log.InfoContext(ctx, "cluster is ACTIVE", "waited", waited.String())
			}
			return cl, true, nil
		case statusFailed, statusDeleting:
			return inventory.Cluster{}, false, &ClusterNotActiveError{Cluster: name, Status: cl.Status, Waited: waited}
		}
		if waited >= budget {
			return inventory.Cluster{}, false, &ClusterNotActiveError{Cluster: name, Status: cl.Status, Waited: waited, TimedOut: true}
		}
		pause := min(delay, budget-waited)
		log.InfoContext(ctx, "waiting for the cluster to turn ACTIVE", "status", cl.Status, "waited", waited.String(), "next", pause.String())
		if err := o.clock.Sleep(ctx, pause); err != nil {
			return inventory.Cluster{}, false, err
		}
		delay = min(2*delay, activeMaxPoll)
	}
}
