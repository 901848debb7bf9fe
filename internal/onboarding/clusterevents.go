package onboarding

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/events"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/store"
)

// TriggerClusterEvents names the cluster-events function in execution
// inputs and logs.
const TriggerClusterEvents = "cluster-events"

// ClusterEvents is the cluster-events function's handler: one EventBridge
// event as Lambda delivers it. A malformed event, or one okra does not act
// on (another source or call, a failed call, a node group's tags), is
// logged with the reason and acknowledged.
func (o *Onboarder) ClusterEvents(ctx context.Context, raw json.RawMessage) error {
	ev, err := events.DecodeEnvelope(raw)
	if err != nil {
		o.log.ErrorContext(ctx, "malformed event; acknowledging it without acting", "error", err)
		return nil
	}
	return o.HandleClusterEvent(ctx, ev)
}

// HandleClusterEvent acts on one decoded EKS API call:
//   - Created: when a valid Cell selects the requested tags, waits until
//     the cluster is ACTIVE (see waitActive), then onboards it into every
//     valid Cell that selects it (target group, ArgoCD secret, registry
//     entry) and evaluates those Cells;
//   - TagsChanged: re-reads the cluster's tags and does the same (waiting
//     first when the cluster is still CREATING), leaving Cells it no
//     longer matches: their target group is forgotten in the registry and
//     the ArgoCD annotations, and deleted only once that is safe;
//   - Deleted: deletes the cluster's target groups where that is safe, and
//     once none is left its ArgoCD secret and registry entry.
//
// It returns a *TransientError when something may succeed on a retry, a
// *ClusterNotActiveError when a created cluster does not turn ACTIVE.
func (o *Onboarder) HandleClusterEvent(ctx context.Context, ev lambdaevents.CloudWatchEvent) error {
	ce, err := events.ParseClusterEvent(ev)
	switch {
	case events.IsIgnored(err):
		o.log.InfoContext(ctx, "ignoring event", "reason", err.Error(), "eventId", ev.ID, "source", ev.Source, "detailType", ev.DetailType)
		return nil
	case err != nil:
		o.log.ErrorContext(ctx, "malformed cluster event; acknowledging it without acting", "error", err, "eventId", ev.ID)
		return nil
	}
	o.log.InfoContext(ctx, "cluster event", "cluster", ce.ClusterName, "kind", string(ce.Kind), "call", ce.EventName,
		"eventId", ce.EventID, "cloudTrailEventId", ce.CloudTrailEventID)
	r := newRun(TriggerClusterEvents)
	switch ce.Kind {
	case events.ClusterCreated:
		return o.onCreated(ctx, r, ce.ClusterName, ce.Tags)
	case events.ClusterTagsChanged:
		cl, err := o.clusters.Describe(ctx, ce.ClusterName)
		var nf *discovery.ClusterNotFoundError
		switch {
		case errors.As(err, &nf):
			o.log.InfoContext(ctx, "cluster whose tags changed no longer exists; nothing to do", "cluster", ce.ClusterName)
			return nil
		case err != nil:
			return transient("describing cluster "+ce.ClusterName, err)
		case cl.Status == statusActive:
			return o.onboard(ctx, r, cl)
		case cl.Status == statusCreating:
			// Tagged while being created: wait for it as a creation would.
			return o.onCreated(ctx, r, ce.ClusterName, cl.Tags)
		}
		// DELETING: the Deleted event cleans up. FAILED, UPDATING and the
		// like: the scheduled reconcile syncs it once it is ACTIVE again.
		o.log.InfoContext(ctx, "cluster is not ACTIVE; leaving its tags to the scheduled reconcile", "cluster", ce.ClusterName, "status", cl.Status)
		return nil
	case events.ClusterDeleted:
		return o.offboard(ctx, r, ce.ClusterName)
	}
	o.log.ErrorContext(ctx, "unknown cluster event kind; acknowledging it", "kind", string(ce.Kind))
	return nil
}

// onCreated waits for a new cluster to turn ACTIVE and onboards it, unless
// no valid Cell selects its tags: then there is nothing to wait for (a
// later TagResource brings it in), and okra does not hold an invocation
// for ten minutes over a cluster it does not manage.
func (o *Onboarder) onCreated(ctx context.Context, r *run, name string, tags map[string]string) error {
	cells, _, err := o.loadCells(ctx)
	if err != nil {
		return transient("onboarding cluster "+name, err)
	}
	probe := []inventory.Cluster{{Name: name, Tags: tags}}
	selected := false
	for _, lc := range validCells(cells) {
		if len(discovery.ClustersForCell(lc.cell, probe)) == 1 {
			selected = true
			break
		}
	}
	if !selected {
		o.log.InfoContext(ctx, "no Cell selects the new cluster's tags; not onboarding it", "cluster", name, "tags", tags)
		return nil
	}
	cl, found, err := o.waitActive(ctx, name)
	if err != nil {
		o.log.ErrorContext(ctx, "created cluster did not turn ACTIVE", "cluster", name, "error", err)
		return transient("waiting for cluster "+name, err)
	}
	if !found {
		return nil
	}
	return o.onboard(ctx, r, cl)
}

// onboard syncs one ACTIVE cluster with every valid Cell and evaluates the
// Cells it is in or left.
func (o *Onboarder) onboard(ctx context.Context, r *run, cl inventory.Cluster) error {
	op := "onboarding cluster " + cl.Name
	cells, _, err := o.loadCells(ctx)
	if err != nil {
		return transient(op, err)
	}
	valid := validCells(cells)
	res := o.syncCluster(ctx, r, cl, valid, cellNames(cells))
	if len(res.affected) > 0 {
		m := o.registryMembership(ctx, r)
		if res.record != nil {
			m.set(*res.record)
		}
		for _, lc := range valid {
			if slices.Contains(res.affected, lc.name) {
				o.evaluate(ctx, r, lc, m)
			}
		}
	}
	o.logProblems(ctx, r, op)
	return r.f.err(op)
}

// offboard cleans up after a deleted cluster and evaluates the Cells it
// was in.
func (o *Onboarder) offboard(ctx context.Context, r *run, name string) error {
	op := "cleaning up after cluster " + name
	cl, err := o.clusters.Describe(ctx, name)
	var nf *discovery.ClusterNotFoundError
	switch {
	case errors.As(err, &nf):
	case err != nil:
		return transient(op, err)
	case cl.Status != statusDeleting:
		o.log.InfoContext(ctx, "a cluster of that name exists again; ignoring the old DeleteCluster event", "cluster", name, "status", cl.Status)
		return nil
	}
	var rec *store.ClusterRecord
	got, err := o.registry.GetCluster(ctx, name)
	var notFound *store.NotFoundError
	switch {
	case errors.As(err, &notFound):
	case err != nil:
		return transient(op, err)
	default:
		rec = &got
	}
	tagged, err := o.discovery.Tagged(ctx, map[string]string{inventory.TagManaged: inventory.ManagedValue, inventory.TagCluster: name})
	if err != nil {
		r.f.add("finding the target groups of cluster "+name, err)
	}
	affected, done := o.cleanupCluster(ctx, r, name, rec, tagged)
	if !done {
		o.markDeleting(ctx, r, rec)
	}
	if len(affected) > 0 {
		cells, _, err := o.loadCells(ctx)
		if err != nil {
			r.f.add("listing Cells", err)
		} else {
			m := o.registryMembership(ctx, r)
			m.clusters[name] = memberState{gone: true}
			for _, lc := range validCells(cells) {
				if slices.Contains(affected, lc.name) {
					o.evaluate(ctx, r, lc, m)
				}
			}
		}
	}
	o.logProblems(ctx, r, op)
	return r.f.err(op)
}

// registryMembership reads membership from the store's registry; when it
// cannot, the planner counts every target group (the failure is filed).
func (o *Onboarder) registryMembership(ctx context.Context, r *run) membership {
	recs, err := o.registry.ListClusters(ctx)
	if err != nil {
		r.f.add("listing registered clusters", err)
		return membership{clusters: map[string]memberState{}}
	}
	return membershipFromRegistry(recs)
}

// logProblems logs the permanent problems of a run once, together.
func (o *Onboarder) logProblems(ctx context.Context, r *run, op string) {
	if len(r.f.problems) > 0 {
		o.log.WarnContext(ctx, "finished with problems retrying cannot fix", "op", op, "problems", r.f.problems)
	}
}
