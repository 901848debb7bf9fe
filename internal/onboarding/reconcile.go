package onboarding

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/events"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/targetgroups"
)

// TriggerReconcile names the reconcile function in execution inputs and
// logs.
const TriggerReconcile = "reconcile"

// ReconcileReport is what a reconcile did, returned to the invoker (and
// shown by a local invoke).
type ReconcileReport struct {
	// Clusters is how many EKS clusters exist.
	Clusters int `json:"clusters"`
	// Cells counts the stored Cells; InvalidCells names those whose spec
	// does not validate (their status says why).
	Cells        int      `json:"cells"`
	InvalidCells []string `json:"invalidCells,omitempty"`
	// Decisions are the planner's, per valid Cell.
	Decisions map[string]rollout.Decision `json:"decisions,omitempty"`
	// CleanedUp names deleted clusters whose target groups, ArgoCD secret
	// and registry entry are now gone.
	CleanedUp []string `json:"cleanedUp,omitempty"`
	// Problems are the failures retrying cannot fix (invalid input).
	Problems []string `json:"problems,omitempty"`
}

// Reconcile is the reconcile function's handler: the EventBridge rule's
// "Scheduled Event". An empty payload ({} or nothing, as a manual `aws
// lambda invoke` sends) reconciles too; any other event is logged and
// acknowledged.
func (o *Onboarder) Reconcile(ctx context.Context, raw json.RawMessage) (ReconcileReport, error) {
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && !bytes.Equal(trimmed, []byte("{}")) && !bytes.Equal(trimmed, []byte("null")) {
		ev, err := events.DecodeEnvelope(raw)
		if err != nil {
			o.log.ErrorContext(ctx, "malformed event; acknowledging it without reconciling", "error", err)
			return ReconcileReport{}, nil
		}
		if !events.IsScheduled(ev) {
			o.log.InfoContext(ctx, "ignoring event: reconcile runs on the schedule", "source", ev.Source, "detailType", ev.DetailType, "eventId", ev.ID)
			return ReconcileReport{}, nil
		}
	}
	return o.ReconcileAll(ctx)
}

// ReconcileAll brings every cluster and Cell in step from scratch, as the
// events would have: for every valid Cell, a target group for each
// matching ACTIVE cluster, the clusters' ArgoCD secrets and registry
// entries; Invalid status for Cells whose spec does not validate; the
// clean-up of deleted clusters (target groups that nothing routes to any
// more, then their ArgoCD secrets and registry entries); and an
// evaluation of every valid Cell. It writes only differences: a run with
// nothing to change makes no mutating AWS call.
func (o *Onboarder) ReconcileAll(ctx context.Context) (ReconcileReport, error) {
	const op = "reconciling"
	r := newRun(TriggerReconcile)
	cells, _, err := o.loadCells(ctx)
	if err != nil {
		return ReconcileReport{}, transient(op, err)
	}
	clusters, err := o.clusters.List(ctx)
	if err != nil {
		return ReconcileReport{}, transient(op, err)
	}
	recs, err := o.registry.ListClusters(ctx)
	if err != nil {
		return ReconcileReport{}, transient(op, err)
	}
	report := ReconcileReport{Clusters: len(clusters), Cells: len(cells)}

	for _, lc := range cells {
		if lc.err != nil {
			report.InvalidCells = append(report.InvalidCells, lc.name)
			o.recordInvalid(ctx, r, lc.name, lc.revision, lc.err, false)
		}
	}

	r.registry = map[string]store.ClusterRecord{}
	for _, rec := range recs {
		r.registry[rec.Cluster.Name] = rec
	}
	valid, known := validCells(cells), cellNames(cells)
	// okra's inventory, read once: the target groups to keep (EnsureAll
	// finds each pair's group in it) and those to clean up.
	managed, err := o.discovery.Tagged(ctx, map[string]string{inventory.TagManaged: inventory.ManagedValue})
	if err != nil {
		r.f.add("finding okra's target groups", err)
	} else {
		o.ensureAll(ctx, r, clusters, valid, managed)
	}
	existing := map[string]inventory.Cluster{}
	for _, cl := range clusters {
		existing[cl.Name] = cl
		if cl.Status == statusActive {
			o.syncCluster(ctx, r, cl, valid, known)
		}
	}

	// Clean up after clusters that are gone or being deleted: registered
	// ones, and any whose okra target groups of this table's Cells are
	// still around (another okra installation's groups are its own).
	gone := func(name string) bool {
		cl, ok := existing[name]
		return !ok || cl.Status == statusDeleting
	}
	byCluster := map[string][]inventory.TargetGroup{}
	for _, tg := range managed {
		if tg.Cluster != "" && known[tg.Tags[inventory.TagCell]] && gone(tg.Cluster) {
			byCluster[tg.Cluster] = append(byCluster[tg.Cluster], tg)
		}
	}
	for i := range recs {
		rec := &recs[i]
		name := rec.Cluster.Name
		if !gone(name) {
			continue
		}
		_, done := o.cleanupCluster(ctx, r, name, rec, byCluster[name])
		delete(byCluster, name)
		if done {
			report.CleanedUp = append(report.CleanedUp, name)
		} else {
			o.markDeleting(ctx, r, rec)
		}
	}
	for _, name := range sortedKeys(byCluster) {
		if _, done := o.cleanupCluster(ctx, r, name, nil, byCluster[name]); done {
			report.CleanedUp = append(report.CleanedUp, name)
		}
	}

	m := membershipFromClusters(clusters, cells)
	for _, lc := range valid {
		o.evaluate(ctx, r, lc, m)
	}
	report.Decisions = r.decisions
	report.Problems = r.f.problems
	o.logProblems(ctx, r, op)
	o.log.InfoContext(ctx, "reconciled", "clusters", len(clusters), "cells", len(cells), "invalidCells", report.InvalidCells, "cleanedUp", report.CleanedUp)
	return report, r.f.err(op)
}

// ensureAll ensures the target group of every (ACTIVE cluster, valid Cell
// selecting it) pair at once, from okra's inventory, and leaves the answers
// in r.ensured for syncCluster. A cluster whose VPC cannot be found is left
// to syncCluster, which reports it.
func (o *Onboarder) ensureAll(ctx context.Context, r *run, clusters []inventory.Cluster, valid []loadedCell, managed []inventory.TargetGroup) {
	var pairs []targetgroups.Pair
	for _, cl := range clusters {
		if cl.Status != statusActive {
			continue
		}
		cl, err := o.withVPC(ctx, r, cl)
		if err != nil {
			continue
		}
		for _, lc := range valid {
			if len(discovery.ClustersForCell(lc.cell, []inventory.Cluster{cl})) == 1 {
				pairs = append(pairs, targetgroups.Pair{Cell: lc.cell, Cluster: cl})
			}
		}
	}
	if len(pairs) == 0 {
		return
	}
	r.ensured = make(map[[2]string]targetgroups.Ensured, len(pairs))
	for i, e := range o.targetGroups.EnsureAll(ctx, managed, pairs) {
		r.ensured[ensuredKey(pairs[i].Cell.Metadata.Name, pairs[i].Cluster.Name)] = e
	}
}

// recordInvalid records that the Cell's stored spec (revision rev) does
// not validate: status phase Invalid with every problem, and a SpecInvalid
// event, written once per distinct result. Nothing else changes: the
// listener keeps its weights and no target group is created for the Cell
// until the spec is fixed. While a rollout holds the lease the status is
// the rollout's; then only the SpecInvalid event is recorded (once per
// revision), and only when withEventWhileLeased is set (the config-change
// handler, which sees each revision once; the reconcile would repeat it).
//
// The lease is checked first, as for a valid Cell: a spec edit that does
// not validate (or decode) must not let a dead holder keep the Cell, so
// its rollout is recovered from what the status records (Deps.Owners).
func (o *Onboarder) recordInvalid(ctx context.Context, r *run, name string, rev int64, verr error, withEventWhileLeased bool) {
	if rec, err := o.status.GetStatus(ctx, name); err != nil {
		r.f.add("Cell "+name+": reading its status", err)
	} else if _, err := o.checkOwner(ctx, r, name, rec); err != nil {
		r.f.add("Cell "+name+": checking its lease holder", err)
	}
	problems := problemList(verr)
	msg := fmt.Sprintf("spec revision %d is invalid (%d %s); nothing changes until it is fixed", rev, len(problems), plural(len(problems), "problem"))
	event := store.Event{
		Type: store.EventSpecInvalid, Message: msg,
		Details: map[string]string{"revision": strconv.FormatInt(rev, 10), "problems": strings.Join(problems, "\n")},
	}
	changed, err := o.updateStatus(ctx, name, func(st *rollout.Status) bool {
		if st.Phase == rollout.PhaseInvalid && st.Message == msg && slices.Equal(st.ValidationErrors, problems) {
			return false
		}
		st.Phase = rollout.PhaseInvalid
		st.ValidationErrors = problems
		st.Message = msg
		return true
	})
	log := o.log.With("cell", name, "revision", rev, "trigger", r.trigger)
	switch {
	case errors.Is(err, errLeased):
		log.WarnContext(ctx, "Cell spec is invalid while a rollout runs; the rollout keeps the spec it started with", "problems", problems)
		if withEventWhileLeased {
			o.appendSpecInvalidOnce(ctx, r, name, event)
		}
	case err != nil:
		r.f.add("Cell "+name+": recording that its spec is invalid", err)
	case changed:
		log.WarnContext(ctx, "Cell spec is invalid; recorded on its status", "problems", problems)
		if _, err := o.status.AppendEvent(ctx, name, event); err != nil {
			r.f.add("Cell "+name+": recording the SpecInvalid event", err)
		}
	}
}

// specInvalidLookback is how many recent history events are searched for
// an earlier SpecInvalid event of the same revision.
const specInvalidLookback = 50

// appendSpecInvalidOnce appends ev unless a recent SpecInvalid event names
// the same revision (a redelivered stream record).
func (o *Onboarder) appendSpecInvalidOnce(ctx context.Context, r *run, name string, ev store.Event) {
	recent, err := o.status.ListEvents(ctx, name, specInvalidLookback, true)
	if err != nil {
		r.f.add("Cell "+name+": reading its recent history", err)
		return
	}
	for _, e := range recent {
		if e.Type == store.EventSpecInvalid && e.Details["revision"] == ev.Details["revision"] {
			return
		}
	}
	if _, err := o.status.AppendEvent(ctx, name, ev); err != nil {
		r.f.add("Cell "+name+": recording the SpecInvalid event", err)
	}
}

func plural(n int, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}
