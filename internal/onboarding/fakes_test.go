package onboarding_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/onboarding"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/targetgroups"
	"github.com/okrahq/okra/internal/weights"
)

// quiet discards logs; set OKRA_TEST_LOGS=1 style debugging by swapping it.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const (
	testListener   = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
	testListener2  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/api/6d0ecf831eec9f09/8b3a2c1d4e5f6a7b"
	stateMachine   = "arn:aws:states:us-east-1:123456789012:stateMachine:okra-rollout"
	testVPC        = "vpc-0abc1234def567890"
	testEndpoint   = "https://4F9A2C7E1B3D5F60A8C2E4B6D8F0A1C3.gr7.us-east-1.eks.amazonaws.com"
	testCAData     = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
	clusterARNBase = "arn:aws:eks:us-east-1:123456789012:cluster/"
)

// world fakes every AWS- and Kubernetes-facing port: EKS clusters, target
// groups (create, tag, discover, delete), listeners, ArgoCD secrets and
// rollout executions. Every mutation is logged in mutations, so a test can
// assert that nothing changed.
type world struct {
	mu sync.Mutex

	clusters map[string]inventory.Cluster
	// describeScript, per cluster, is the status each Describe reports in
	// turn (the last one repeats).
	describeScript map[string][]string
	describeCalls  map[string]int
	describeErr    error
	listErr        error

	tgs           map[string]inventory.TargetGroup // by ARN
	nextTG        int
	ensureErr     map[string]error // by "cell/cluster"
	deleteRefusal map[string]targetgroups.RefusalReason
	// healthyOnCreate is how many healthy targets a new group gets (what
	// ArgoCD and the TargetGroupBinding would register).
	healthyOnCreate int

	forwards   map[string]weights.Forward // by listener ARN or "ARN#priority"
	rules      map[string]bool            // rules that exist
	notForward map[string]bool            // listeners whose default action is not a forward

	secrets map[string]map[string]string // ArgoCD: cluster -> target groups
	labels  map[string]map[string]string // ArgoCD: cluster -> tags
	applies int

	execs  map[string]string // execution name -> status
	starts []executions.Input

	mutations []string
}

func newWorld() *world {
	return &world{
		clusters: map[string]inventory.Cluster{}, describeScript: map[string][]string{}, describeCalls: map[string]int{},
		tgs: map[string]inventory.TargetGroup{}, ensureErr: map[string]error{}, deleteRefusal: map[string]targetgroups.RefusalReason{},
		healthyOnCreate: 1,
		forwards:        map[string]weights.Forward{}, rules: map[string]bool{}, notForward: map[string]bool{},
		secrets: map[string]map[string]string{}, labels: map[string]map[string]string{},
		execs: map[string]string{},
	}
}

func (w *world) mutate(format string, args ...any) {
	w.mutations = append(w.mutations, fmt.Sprintf(format, args...))
}

// Mutations returns the mutations so far.
func (w *world) Mutations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.mutations...)
}

// addCluster adds an ACTIVE cluster.
func (w *world) addCluster(name string, tags map[string]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.clusters[name] = inventory.Cluster{
		Name: name, ARN: clusterARNBase + name, Status: "ACTIVE", Endpoint: testEndpoint,
		CertificateAuthority: testCAData, VPCID: testVPC, Tags: maps.Clone(tags),
	}
}

func (w *world) setTags(name string, tags map[string]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cl := w.clusters[name]
	cl.Tags = maps.Clone(tags)
	w.clusters[name] = cl
}

func (w *world) removeCluster(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.clusters, name)
}

// ClusterReader

func (w *world) List(ctx context.Context) ([]inventory.Cluster, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.listErr != nil {
		return nil, w.listErr
	}
	var out []inventory.Cluster
	for _, name := range sortedNames(w.clusters) {
		out = append(out, w.clusters[name])
	}
	return out, nil
}

func (w *world) Describe(ctx context.Context, name string) (inventory.Cluster, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.describeErr != nil {
		return inventory.Cluster{}, w.describeErr
	}
	cl, ok := w.clusters[name]
	if !ok {
		return inventory.Cluster{}, &discovery.ClusterNotFoundError{Name: name}
	}
	if script := w.describeScript[name]; len(script) > 0 {
		i := min(w.describeCalls[name], len(script)-1)
		cl.Status = script[i]
	}
	w.describeCalls[name]++
	return cl, nil
}

// TargetGroupManager

func (w *world) Ensure(ctx context.Context, c *cell.Cell, cl inventory.Cluster) (inventory.TargetGroup, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.ensureErr[c.Metadata.Name+"/"+cl.Name]; err != nil {
		return inventory.TargetGroup{}, err
	}
	desired, err := targetgroups.DesiredTags(ctx, quiet, c, cl)
	if err != nil {
		return inventory.TargetGroup{}, err
	}
	if cl.VPCID == "" {
		return inventory.TargetGroup{}, &targetgroups.TemplateError{Field: "cluster.vpcId", Reason: "empty"}
	}
	label := discovery.VersionLabel(c)
	for arn, tg := range w.tgs {
		if tg.Tags[inventory.TagCell] == c.Metadata.Name && tg.Tags[inventory.TagCluster] == cl.Name {
			changed := false
			for k, v := range desired {
				if tg.Tags[k] != v {
					tg.Tags[k] = v
					changed = true
				}
			}
			if changed {
				w.mutate("AddTags %s", tg.Name)
			}
			tg.Version = tg.Tags[label]
			w.tgs[arn] = tg
			return tg, nil
		}
	}
	w.nextTG++
	name := targetgroups.Name(c.Metadata.Name, cl.Name)
	arn := fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/%s/%016x", name, w.nextTG)
	tg := inventory.TargetGroup{ARN: arn, Name: name, Tags: desired, Version: desired[label], Cluster: cl.Name, HealthyTargets: w.healthyOnCreate}
	w.tgs[arn] = tg
	w.mutate("CreateTargetGroup %s", name)
	return tg, nil
}

// EnsureAll ensures each pair as Ensure does (the fake holds its inventory
// itself; managed is not needed).
func (w *world) EnsureAll(ctx context.Context, managed []inventory.TargetGroup, pairs []targetgroups.Pair) []targetgroups.Ensured {
	out := make([]targetgroups.Ensured, len(pairs))
	for i, p := range pairs {
		out[i].Group, out[i].Err = w.Ensure(ctx, p.Cell, p.Cluster)
	}
	return out
}

func (w *world) Delete(ctx context.Context, arn string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	tg, ok := w.tgs[arn]
	if !ok {
		return nil
	}
	if reason, refused := w.deleteRefusal[arn]; refused {
		return &targetgroups.DeleteRefusedError{ARN: arn, Reason: reason, Cluster: tg.Cluster}
	}
	if _, exists := w.clusters[tg.Cluster]; exists {
		return &targetgroups.DeleteRefusedError{ARN: arn, Reason: targetgroups.RefusedClusterExists, Cluster: tg.Cluster}
	}
	for key, fwd := range w.forwards {
		if _, listed := fwd.Weight(arn); listed {
			return &targetgroups.DeleteRefusedError{ARN: arn, Reason: targetgroups.RefusedStillReferenced, ListenerARN: key}
		}
	}
	delete(w.tgs, arn)
	w.mutate("DeleteTargetGroup %s", tg.Name)
	return nil
}

// addTargetGroup adds a group as if okra had made it for (cell, cluster).
func (w *world) addTargetGroup(cellName, cluster string, tags map[string]string, healthy int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.nextTG++
	name := targetgroups.Name(cellName, cluster)
	arn := fmt.Sprintf("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/%s/%016x", name, w.nextTG)
	t := maps.Clone(tags)
	t[inventory.TagCell], t[inventory.TagCluster], t[inventory.TagManaged] = cellName, cluster, inventory.ManagedValue
	w.tgs[arn] = inventory.TargetGroup{ARN: arn, Name: name, Tags: t, Cluster: cluster, HealthyTargets: healthy}
	return arn
}

func (w *world) groupsOf(cluster string) []inventory.TargetGroup {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []inventory.TargetGroup
	for _, arn := range sortedNames(w.tgs) {
		if w.tgs[arn].Cluster == cluster {
			out = append(out, w.tgs[arn])
		}
	}
	return out
}

func (w *world) groupFor(cellName, cluster string) (inventory.TargetGroup, bool) {
	for _, tg := range w.groupsOf(cluster) {
		if tg.Tags[inventory.TagCell] == cellName {
			return tg, true
		}
	}
	return inventory.TargetGroup{}, false
}

// TargetGroupFinder

func (w *world) ForCell(ctx context.Context, c *cell.Cell) (discovery.CellTargetGroups, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out discovery.CellTargetGroups
	label := discovery.VersionLabel(c)
	for _, arn := range sortedNames(w.tgs) {
		tg := w.tgs[arn]
		if !hasTags(tg.Tags, c.Spec.Ingress.TargetGroupSelector.MatchLabels) {
			continue
		}
		tg.Version = tg.Tags[label]
		if tg.Version == "" {
			out.Unversioned = append(out.Unversioned, tg)
			continue
		}
		out.TargetGroups = append(out.TargetGroups, tg)
	}
	return out, nil
}

func (w *world) Tagged(ctx context.Context, selector map[string]string) ([]inventory.TargetGroup, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []inventory.TargetGroup
	for _, arn := range sortedNames(w.tgs) {
		if hasTags(w.tgs[arn].Tags, selector) {
			out = append(out, w.tgs[arn])
		}
	}
	return out, nil
}

// HealthForDecision keeps the counts the fake's groups carry.
func (w *world) HealthForDecision(ctx context.Context, c *cell.Cell, tgs []inventory.TargetGroup, fwd weights.Forward) ([]inventory.TargetGroup, error) {
	return tgs, nil
}

func hasTags(tags, selector map[string]string) bool {
	for k, v := range selector {
		if tags[k] != v {
			return false
		}
	}
	return true
}

// listener.Controller

func forwardKey(ing cell.Ingress) string {
	if ing.Rule == nil {
		return ing.ListenerARN
	}
	return fmt.Sprintf("%s#%d", ing.ListenerARN, ing.Rule.Priority)
}

func (w *world) Read(ctx context.Context, ing cell.Ingress) (weights.Forward, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ing.Rule == nil && w.notForward[ing.ListenerARN] {
		return weights.Forward{}, &listener.NotForwardError{Location: ing.ListenerARN, ActionType: "fixed-response"}
	}
	return w.forwards[forwardKey(ing)].Clone(), nil
}

func (w *world) Set(ctx context.Context, ing cell.Ingress, fwd weights.Forward) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := listener.CheckLimits(fwd); err != nil {
		return err
	}
	key := forwardKey(ing)
	if ing.Rule != nil && !w.rules[key] {
		return &listener.RuleNotFoundError{ListenerARN: ing.ListenerARN, Priority: ing.Rule.Priority}
	}
	if weights.Equal(w.forwards[key], fwd) {
		return nil
	}
	w.forwards[key] = fwd.Clone()
	w.mutate("SetWeights %s", key)
	return nil
}

func (w *world) Verify(ctx context.Context, ing cell.Ingress, expected weights.Forward) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if actual := w.forwards[forwardKey(ing)]; !weights.Equal(actual, expected) {
		return &listener.DriftError{Location: forwardKey(ing), Expected: expected, Actual: actual}
	}
	return nil
}

func (w *world) EnsureRule(ctx context.Context, cellName string, ing cell.Ingress, initial weights.Forward) (listener.RuleResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ing.Rule == nil {
		return listener.RuleResult{Change: listener.RuleNone}, nil
	}
	key := forwardKey(ing)
	if w.rules[key] {
		return listener.RuleResult{RuleARN: key, Change: listener.RuleUnchanged}, nil
	}
	if err := listener.CheckLimits(initial); err != nil {
		return listener.RuleResult{}, err
	}
	w.rules[key] = true
	w.forwards[key] = initial.Clone()
	w.mutate("CreateRule %s", key)
	return listener.RuleResult{RuleARN: key, Change: listener.RuleCreated}, nil
}

// ClusterRegistry (ArgoCD)

type fakeArgo struct{ w *world }

func (a fakeArgo) Apply(ctx context.Context, cl inventory.Cluster, tgs map[string]string) error {
	a.w.mu.Lock()
	defer a.w.mu.Unlock()
	a.w.applies++
	if maps.Equal(a.w.secrets[cl.Name], tgs) && maps.Equal(a.w.labels[cl.Name], cl.Tags) && a.w.secrets[cl.Name] != nil {
		return nil // server-side apply of the same content changes nothing
	}
	a.w.secrets[cl.Name] = maps.Clone(tgs)
	if a.w.secrets[cl.Name] == nil {
		a.w.secrets[cl.Name] = map[string]string{}
	}
	a.w.labels[cl.Name] = maps.Clone(cl.Tags)
	a.w.mutate("ApplySecret %s", cl.Name)
	return nil
}

func (a fakeArgo) Delete(ctx context.Context, name string) error {
	a.w.mu.Lock()
	defer a.w.mu.Unlock()
	if _, ok := a.w.secrets[name]; ok {
		delete(a.w.secrets, name)
		delete(a.w.labels, name)
		a.w.mutate("DeleteSecret %s", name)
	}
	return nil
}

func (w *world) secret(name string) (map[string]string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.secrets[name]
	return maps.Clone(s), ok
}

// Rollouts

type fakeRollouts struct{ w *world }

func (f fakeRollouts) StateMachineARN() string { return stateMachine }

func (f fakeRollouts) Start(ctx context.Context, in executions.Input) (string, bool, error) {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	name := executions.Name(in.Cell, in.TargetVersion, in.Attempt)
	arn := executions.ARN(stateMachine, name)
	if _, ok := f.w.execs[name]; ok {
		return arn, false, nil
	}
	f.w.execs[name] = "RUNNING"
	f.w.starts = append(f.w.starts, in)
	f.w.mutate("StartExecution %s", name)
	return arn, true, nil
}

func (f fakeRollouts) Status(ctx context.Context, arn string) (string, error) {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	return f.w.execs[arn[strings.LastIndex(arn, ":")+1:]], nil
}

func (w *world) executionNames() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return sortedNames(w.execs)
}

// memStore is the store in memory, with the same revision and lease rules.
type memStore struct {
	mu        sync.Mutex
	cells     map[string]store.CellRecord
	templates []store.TemplateRecord
	status    map[string]store.StatusRecord
	events    map[string][]store.Event
	blocks    map[string][]rollout.Block
	clusters  map[string]store.ClusterRecord
	writes    []string
	getErr    error
}

func newMemStore() *memStore {
	return &memStore{
		cells: map[string]store.CellRecord{}, status: map[string]store.StatusRecord{},
		events: map[string][]store.Event{}, blocks: map[string][]rollout.Block{}, clusters: map[string]store.ClusterRecord{},
	}
}

func (s *memStore) write(format string, args ...any) {
	s.writes = append(s.writes, fmt.Sprintf(format, args...))
}

// Writes returns the writes so far.
func (s *memStore) Writes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes...)
}

// putCell stores spec (JSON or YAML) as the Cell's next revision.
func (s *memStore) putCell(name string, spec string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	rev := s.cells[name].Revision + 1
	s.cells[name] = store.CellRecord{Name: name, Revision: rev, Spec: json.RawMessage(spec)}
	return rev
}

func (s *memStore) ListCells(ctx context.Context) ([]store.CellRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.CellRecord
	for _, name := range sortedNames(s.cells) {
		out = append(out, s.cells[name])
	}
	return out, nil
}

func (s *memStore) GetCell(ctx context.Context, name string) (store.CellRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return store.CellRecord{}, s.getErr
	}
	rec, ok := s.cells[name]
	if !ok {
		return store.CellRecord{}, &store.NotFoundError{Kind: store.KindCell, Name: name}
	}
	return rec, nil
}

func (s *memStore) ListTemplates(ctx context.Context) ([]store.TemplateRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]store.TemplateRecord(nil), s.templates...), nil
}

func (s *memStore) GetStatus(ctx context.Context, cellName string) (store.StatusRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status[cellName], nil
}

func (s *memStore) PutStatus(ctx context.Context, cellName string, st rollout.Status, expected int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.status[cellName]
	if cur.Revision != expected {
		return 0, &store.StaleRevisionError{Kind: store.SKStatus, Name: cellName, Expected: expected, Current: cur.Revision}
	}
	if cur.Status.ExecutionARN != st.ExecutionARN {
		return 0, &store.NotHolderError{Cell: cellName, Execution: st.ExecutionARN, Holder: cur.Status.ExecutionARN}
	}
	s.status[cellName] = store.StatusRecord{Status: st, Revision: expected + 1}
	s.write("PutStatus %s %s", cellName, st.Phase)
	return expected + 1, nil
}

// setStatus stores st directly, as a rollout would.
func (s *memStore) setStatus(cellName string, st rollout.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.status[cellName]
	s.status[cellName] = store.StatusRecord{Status: st, Revision: cur.Revision + 1}
}

func (s *memStore) statusOf(cellName string) store.StatusRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status[cellName]
}

func (s *memStore) AppendEvent(ctx context.Context, cellName string, ev store.Event) (store.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev.Time = time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)
	ev.Seq = len(s.events[cellName])
	s.events[cellName] = append(s.events[cellName], ev)
	s.write("AppendEvent %s %s", cellName, ev.Type)
	return ev, nil
}

func (s *memStore) ListEvents(ctx context.Context, cellName string, limit int, newestFirst bool) ([]store.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs := append([]store.Event(nil), s.events[cellName]...)
	if newestFirst {
		for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
			evs[i], evs[j] = evs[j], evs[i]
		}
	}
	if limit > 0 && len(evs) > limit {
		evs = evs[:limit]
	}
	return evs, nil
}

func (s *memStore) eventsOf(cellName string, typ store.EventType) []store.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Event
	for _, ev := range s.events[cellName] {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

func (s *memStore) ListBlocked(ctx context.Context, cellName string) ([]rollout.Block, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rollout.Block(nil), s.blocks[cellName]...), nil
}

func (s *memStore) GetCluster(ctx context.Context, name string) (store.ClusterRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.clusters[name]
	if !ok {
		return store.ClusterRecord{}, &store.NotFoundError{Kind: store.KindCluster, Name: name}
	}
	rec.TargetGroups = maps.Clone(rec.TargetGroups)
	return rec, nil
}

func (s *memStore) ListClusters(ctx context.Context) ([]store.ClusterRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.ClusterRecord
	for _, name := range sortedNames(s.clusters) {
		rec := s.clusters[name]
		rec.TargetGroups = maps.Clone(rec.TargetGroups)
		out = append(out, rec)
	}
	return out, nil
}

func (s *memStore) PutCluster(ctx context.Context, rec store.ClusterRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.clusters[rec.Cluster.Name]
	tgs := maps.Clone(rec.TargetGroups)
	if tgs == nil {
		tgs = cur.TargetGroups
		if !ok || tgs == nil {
			tgs = map[string]string{}
		}
	}
	s.clusters[rec.Cluster.Name] = store.ClusterRecord{Cluster: rec.Cluster, TargetGroups: tgs}
	s.write("PutCluster %s", rec.Cluster.Name)
	return nil
}

func (s *memStore) SetClusterTargetGroup(ctx context.Context, clusterName, cellName, arn string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.clusters[clusterName]
	if !ok {
		return &store.NotFoundError{Kind: store.KindCluster, Name: clusterName}
	}
	rec.TargetGroups[cellName] = arn
	s.write("SetClusterTargetGroup %s %s", clusterName, cellName)
	return nil
}

func (s *memStore) RemoveClusterTargetGroup(ctx context.Context, clusterName, cellName string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.clusters[clusterName]; ok {
		delete(rec.TargetGroups, cellName)
		s.write("RemoveClusterTargetGroup %s %s", clusterName, cellName)
	}
	return nil
}

func (s *memStore) DeleteCluster(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clusters, name)
	s.write("DeleteCluster %s", name)
	return nil
}

func (s *memStore) cluster(name string) (store.ClusterRecord, bool) {
	rec, err := s.GetCluster(context.Background(), name)
	return rec, err == nil
}

// fakeClock advances only when slept on.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 14, 9, 12, 44, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func (c *fakeClock) slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var total time.Duration
	for _, d := range c.sleeps {
		total += d
	}
	return total
}

// harness is an Onboarder over a world, a memStore and a fake clock.
type harness struct {
	t     *testing.T
	w     *world
	s     *memStore
	clock *fakeClock
	o     *onboarding.Onboarder
}

func newHarness(t *testing.T, tweak ...func(*onboarding.Deps)) *harness {
	t.Helper()
	h := &harness{t: t, w: newWorld(), s: newMemStore(), clock: newFakeClock()}
	deps := onboarding.Deps{
		Clusters: h.w, TargetGroups: h.w, Discovery: h.w, Listener: h.w,
		Cells: h.s, Status: h.s, Registry: h.s, Rollouts: fakeRollouts{h.w}, ArgoCD: fakeArgo{h.w},
		ActiveTimeout: 10 * time.Minute, Clock: h.clock, Logger: quiet,
	}
	for _, f := range tweak {
		f(&deps)
	}
	o, err := onboarding.New(deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.o = o
	return h
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
