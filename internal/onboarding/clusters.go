package onboarding

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"

	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/targetgroups"
	"github.com/okrahq/okra/internal/weights"
)

// EKS cluster statuses okra acts on.
const (
	statusActive   = "ACTIVE"
	statusCreating = "CREATING"
	statusDeleting = "DELETING"
	statusFailed   = "FAILED"
)

// run is one invocation's scratch state.
type run struct {
	// trigger names the function, for execution inputs and logs.
	trigger string
	f       failures
	// vpcs caches clusters' VPCs for the invocation, and subnetVPCs the
	// VPC of each first subnet resolved, so clusters sharing subnets cost
	// one lookup.
	vpcs, subnetVPCs map[string]string
	// ensured, when set, holds the reconcile's target groups ensured at
	// once (EnsureAll), by ensuredKey; syncCluster uses them instead of
	// calling Ensure.
	ensured map[[2]string]targetgroups.Ensured
	// decisions are the Cells evaluated, by name.
	decisions map[string]rollout.Decision
	// registry, when set, holds every registry entry, read once.
	registry map[string]store.ClusterRecord
}

func newRun(trigger string) *run {
	return &run{trigger: trigger, vpcs: map[string]string{}, subnetVPCs: map[string]string{}, decisions: map[string]rollout.Decision{}}
}

// membership says which Cells each cluster belongs to, so the planner does
// not count a target group whose cluster left the Cell or is being
// deleted. Such a group is not deleted (targetgroups.Delete waits until its
// cluster is gone) and keeps the Cell's tags, so discovery still finds it.
type membership struct {
	clusters map[string]memberState
	// complete: the map holds every existing cluster, so a cluster absent
	// from it is gone.
	complete bool
}

type memberState struct {
	gone  bool
	cells map[string]bool
}

// membershipFromClusters derives membership from a full EKS listing and
// the Cells' selectors.
func membershipFromClusters(clusters []inventory.Cluster, cells []loadedCell) membership {
	m := membership{clusters: map[string]memberState{}, complete: true}
	for _, cl := range clusters {
		st := memberState{gone: cl.Status == statusDeleting || cl.Status == statusFailed, cells: map[string]bool{}}
		for _, lc := range cells {
			if lc.cell != nil && len(discovery.ClustersForCell(lc.cell, []inventory.Cluster{cl})) == 1 {
				st.cells[lc.name] = true
			}
		}
		m.clusters[cl.Name] = st
	}
	return m
}

// membershipFromRegistry derives membership from the store's cluster
// registry: a registered cluster belongs to the Cells it has a target
// group in. Clusters the registry does not know are not judged.
func membershipFromRegistry(recs []store.ClusterRecord) membership {
	m := membership{clusters: map[string]memberState{}}
	for _, rec := range recs {
		m.set(rec)
	}
	return m
}

func (m membership) set(rec store.ClusterRecord) {
	st := memberState{gone: rec.Cluster.Status == statusDeleting || rec.Cluster.Status == statusFailed, cells: map[string]bool{}}
	for c := range rec.TargetGroups {
		st.cells[c] = true
	}
	m.clusters[rec.Cluster.Name] = st
}

// filter drops the Cell's target groups whose okra cluster left the Cell
// or is gone, unless the forward action lists them: those must stay in the
// planner's view, or it would refuse to touch an action holding groups it
// does not know. Groups okra did not create (no okra:cluster tag) stay.
func (m membership) filter(cellName string, tgs []inventory.TargetGroup, fwd weights.Forward) (kept []inventory.TargetGroup, dropped []string) {
	for _, tg := range tgs {
		if _, listed := fwd.Weight(tg.ARN); listed || tg.Cluster == "" {
			kept = append(kept, tg)
			continue
		}
		st, known := m.clusters[tg.Cluster]
		switch {
		case !known && m.complete:
			dropped = append(dropped, tg.Name+" (its cluster "+tg.Cluster+" is gone)")
		case known && st.gone:
			dropped = append(dropped, tg.Name+" (its cluster "+tg.Cluster+" is being deleted)")
		case known && !st.cells[cellName]:
			dropped = append(dropped, tg.Name+" (its cluster "+tg.Cluster+" no longer matches the Cell)")
		default:
			kept = append(kept, tg)
		}
	}
	return kept, dropped
}

// withVPC fills cl.VPCID from the VPC resolver when DescribeCluster left
// it empty. Within a run each cluster, and each first subnet, is resolved
// once.
func (o *Onboarder) withVPC(ctx context.Context, r *run, cl inventory.Cluster) (inventory.Cluster, error) {
	if cl.VPCID != "" || o.vpcs == nil {
		return cl, nil
	}
	if vpc, ok := r.vpcs[cl.Name]; ok {
		cl.VPCID = vpc
		return cl, nil
	}
	subnet := ""
	if len(cl.SubnetIDs) > 0 {
		subnet = cl.SubnetIDs[0]
	}
	vpc, ok := r.subnetVPCs[subnet]
	if !ok || subnet == "" {
		var err error
		if vpc, err = o.vpcs.ClusterVPC(ctx, cl); err != nil {
			return cl, err
		}
		if subnet != "" {
			r.subnetVPCs[subnet] = vpc
		}
	}
	r.vpcs[cl.Name] = vpc
	cl.VPCID = vpc
	return cl, nil
}

func ensuredKey(cellName, cluster string) [2]string { return [2]string{cellName, cluster} }

// syncResult is what syncCluster did for one cluster.
type syncResult struct {
	// affected are the Cells the cluster is in, or just left.
	affected []string
	// record is the cluster's registry entry after the sync; nil when the
	// cluster is not registered (it belongs to no Cell).
	record *store.ClusterRecord
}

// syncCluster brings one ACTIVE cluster's Cell membership in step: for
// each Cell of scope whose clusterSelector matches the cluster's tags it
// ensures the cluster's target group; for a Cell it no longer matches it
// forgets the group in the registry (the group itself is left to the safe
// deletion path). Then it applies the cluster's ArgoCD secret (labels from
// the tags, one annotation per Cell's target group) and records the
// cluster in the store's registry, writing only what changed. When known
// is set, scope holds every valid Cell and known names every stored Cell:
// registry entries of Cells that no longer exist are dropped, while those
// of Cells that are only invalid right now are kept.
//
// A cluster that belongs to no Cell and was never registered is not
// registered: okra only brings clusters its Cells select into ArgoCD. One
// that leaves every Cell stays registered (its ArgoCD secret keeps the
// labels of its tags) until it is deleted, so its apps are not torn down
// while its target groups may still carry traffic.
//
// Failures are filed in r; the work for other Cells goes on.
func (o *Onboarder) syncCluster(ctx context.Context, r *run, cl inventory.Cluster, scope []loadedCell, known map[string]bool) syncResult {
	log := o.log.With("cluster", cl.Name, "trigger", r.trigger)
	rec, registered, err := o.registeredCluster(ctx, r, cl.Name)
	if err != nil {
		r.f.add("reading cluster "+cl.Name+" from the registry", err)
		return syncResult{}
	}
	if cl, err = o.withVPC(ctx, r, cl); err != nil {
		r.f.add("finding the VPC of cluster "+cl.Name, err)
		return syncResult{}
	}

	before := maps.Clone(rec.TargetGroups)
	if before == nil {
		before = map[string]string{}
	}
	desired := maps.Clone(before)
	var affected []string
	for _, lc := range scope {
		c := lc.cell
		if len(discovery.ClustersForCell(c, []inventory.Cluster{cl})) == 1 {
			affected = append(affected, lc.name)
			var tg inventory.TargetGroup
			if e, ok := r.ensured[ensuredKey(lc.name, cl.Name)]; ok {
				tg, err = e.Group, e.Err
			} else {
				tg, err = o.targetGroups.Ensure(ctx, c, cl)
			}
			if err != nil {
				what := fmt.Sprintf("Cell %s: target group for cluster %s", lc.name, cl.Name)
				if r.f.add(what, err) {
					log.WarnContext(ctx, "cannot give the cluster a target group in the Cell", "cell", lc.name, "error", err)
				} else {
					log.ErrorContext(ctx, "ensuring target group failed", "cell", lc.name, "error", err)
				}
				continue
			}
			desired[lc.name] = tg.ARN
			continue
		}
		if arn, had := desired[lc.name]; had {
			log.InfoContext(ctx, "cluster no longer matches the Cell; its target group stays until it is safe to delete",
				"cell", lc.name, "targetGroup", arn)
			delete(desired, lc.name)
			affected = append(affected, lc.name)
		}
	}
	if known != nil {
		for name := range desired {
			if !known[name] {
				log.InfoContext(ctx, "forgetting the target group of a Cell that no longer exists", "cell", name, "targetGroup", desired[name])
				delete(desired, name)
			}
		}
	}
	if !registered && len(desired) == 0 {
		log.DebugContext(ctx, "cluster belongs to no Cell; not registering it")
		return syncResult{affected: affected}
	}

	if o.argocd != nil {
		if err := o.argocd.Apply(ctx, cl, desired); err != nil {
			what := "registering cluster " + cl.Name + " in ArgoCD"
			if r.f.add(what, err) {
				log.WarnContext(ctx, "cannot register the cluster in ArgoCD", "error", err)
			} else {
				log.ErrorContext(ctx, "registering the cluster in ArgoCD failed", "error", err)
			}
		}
	}

	if err := o.writeRegistry(ctx, cl, registered, rec, before, desired); err != nil {
		r.f.add("recording cluster "+cl.Name+" in the registry", err)
	}
	out := store.ClusterRecord{Cluster: cl, TargetGroups: desired}
	return syncResult{affected: affected, record: &out}
}

// registeredCluster returns the cluster's registry entry: from the
// listing the run read (the reconcile reads every entry once), else from
// the store.
func (o *Onboarder) registeredCluster(ctx context.Context, r *run, name string) (store.ClusterRecord, bool, error) {
	if r.registry != nil {
		rec, ok := r.registry[name]
		return rec, ok, nil
	}
	rec, err := o.registry.GetCluster(ctx, name)
	var notFound *store.NotFoundError
	switch {
	case errors.As(err, &notFound):
		return store.ClusterRecord{}, false, nil
	case err != nil:
		return store.ClusterRecord{}, false, err
	}
	return rec, true, nil
}

// writeRegistry records cl and its target groups, writing only what
// differs from the entry read: one item write for a new or changed cluster,
// then one update per Cell whose group changed, so concurrent handlers
// working on other Cells of the same cluster do not undo each other.
func (o *Onboarder) writeRegistry(ctx context.Context, cl inventory.Cluster, registered bool, rec store.ClusterRecord, before, desired map[string]string) error {
	if !registered {
		return o.registry.PutCluster(ctx, store.ClusterRecord{Cluster: cl, TargetGroups: desired})
	}
	if !sameCluster(rec.Cluster, cl) {
		if err := o.registry.PutCluster(ctx, store.ClusterRecord{Cluster: cl}); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(desired) {
		if before[name] != desired[name] {
			if err := o.registry.SetClusterTargetGroup(ctx, cl.Name, name, desired[name]); err != nil {
				return err
			}
		}
	}
	for _, name := range sortedKeys(before) {
		if _, ok := desired[name]; !ok {
			if err := o.registry.RemoveClusterTargetGroup(ctx, cl.Name, name); err != nil {
				return err
			}
		}
	}
	return nil
}

func sameCluster(a, b inventory.Cluster) bool {
	return a.Name == b.Name && a.ARN == b.ARN && a.Status == b.Status && a.Endpoint == b.Endpoint &&
		a.CertificateAuthority == b.CertificateAuthority && a.VPCID == b.VPCID && maps.Equal(a.Tags, b.Tags)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// cleanupCluster removes what a deleted cluster left behind, as far as it
// is safe. Each of its target groups (from its registry entry and from the
// groups tagged with its name) goes through targetgroups.Delete, which
// refuses while the cluster still exists (EKS reports DELETING for several
// minutes) or while a listener still lists the group; a refusal is logged
// and left for the next reconcile. Once every group is gone, nothing can
// route to the cluster: its ArgoCD secret is deleted, then its registry
// entry. Until then the entry stays, flagged with status DELETING, so the
// next reconcile finds it again. It returns the Cells the cluster had
// groups in and whether the clean-up finished.
func (o *Onboarder) cleanupCluster(ctx context.Context, r *run, name string, rec *store.ClusterRecord, tagged []inventory.TargetGroup) ([]string, bool) {
	log := o.log.With("cluster", name, "trigger", r.trigger)
	groups := map[string]string{} // ARN -> Cell
	if rec != nil {
		for c, arn := range rec.TargetGroups {
			groups[arn] = c
		}
	}
	for _, tg := range tagged {
		if _, ok := groups[tg.ARN]; !ok {
			groups[tg.ARN] = tg.Tags[inventory.TagCell]
		}
	}
	cells := map[string]bool{}
	remaining, failed := 0, false
	for _, arn := range sortedKeys(groups) {
		cellName := groups[arn]
		cells[cellName] = true
		err := o.targetGroups.Delete(ctx, arn)
		var refused *targetgroups.DeleteRefusedError
		switch {
		case err == nil:
			if rec != nil && rec.TargetGroups[cellName] == arn {
				if err := o.registry.RemoveClusterTargetGroup(ctx, name, cellName); err != nil {
					r.f.add("forgetting deleted target group "+arn, err)
					failed = true
				}
			}
		case errors.As(err, &refused) && refused.Reason == targetgroups.RefusedNotManaged:
			// Not okra's to delete: forget it rather than wait forever.
			log.WarnContext(ctx, "target group recorded for the cluster does not carry okra's ownership tags; forgetting it", "targetGroup", arn, "cell", cellName)
			if rec != nil && rec.TargetGroups[cellName] == arn {
				if err := o.registry.RemoveClusterTargetGroup(ctx, name, cellName); err != nil {
					r.f.add("forgetting target group "+arn, err)
					failed = true
				}
			}
		case errors.As(err, &refused):
			remaining++
			level := "not deleting the deleted cluster's target group yet"
			if refused.Reason == targetgroups.RefusedStillRouted {
				log.WarnContext(ctx, level+": a listener still routes to it", "targetGroup", arn, "cell", cellName,
					"listener", refused.ListenerARN, "rule", refused.RuleARN, "weight", refused.Weight)
			} else {
				log.InfoContext(ctx, level, "targetGroup", arn, "cell", cellName, "reason", string(refused.Reason))
			}
		default:
			remaining++
			failed = true
			r.f.add("deleting target group "+arn+" of cluster "+name, err)
		}
	}
	affected := sortedKeys(cells)
	if remaining > 0 || failed {
		return affected, false
	}
	if o.argocd != nil {
		if err := o.argocd.Delete(ctx, name); err != nil {
			r.f.add("deleting the ArgoCD secret of cluster "+name, err)
			return affected, false
		}
	}
	if rec != nil {
		if err := o.registry.DeleteCluster(ctx, name); err != nil {
			r.f.add("deleting cluster "+name+" from the registry", err)
			return affected, false
		}
	}
	log.InfoContext(ctx, "cleaned up after deleted cluster", "targetGroups", len(groups))
	return affected, true
}

// markDeleting flags a registry entry whose cluster is being deleted or
// gone, once.
func (o *Onboarder) markDeleting(ctx context.Context, r *run, rec *store.ClusterRecord) {
	if rec == nil || rec.Cluster.Status == statusDeleting {
		return
	}
	cl := rec.Cluster
	cl.Status = statusDeleting
	if err := o.registry.PutCluster(ctx, store.ClusterRecord{Cluster: cl}); err != nil {
		r.f.add("flagging cluster "+cl.Name+" as deleting", err)
		return
	}
	rec.Cluster = cl
}
