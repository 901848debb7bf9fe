package steps_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
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
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/targetgroups"
	"github.com/okrahq/okra/internal/weights"
)

// fakeStore keeps one Cell's items in memory with the store's lease
// semantics (holder-only updates, takeover of an ended holder).
type fakeStore struct {
	mu      sync.Mutex
	cells   map[string]store.CellRecord
	status  map[string]rollout.Status
	events  map[string][]store.Event
	blocks  map[string]map[string]rollout.Block
	failGet error // returned by GetStatus when set
	leases  int
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		cells: map[string]store.CellRecord{}, status: map[string]rollout.Status{},
		events: map[string][]store.Event{}, blocks: map[string]map[string]rollout.Block{},
	}
}

func (s *fakeStore) putCell(c *cell.Cell) {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw, _ := json.Marshal(c)
	var decoded cell.Cell
	_ = json.Unmarshal(raw, &decoded)
	s.cells[c.Metadata.Name] = store.CellRecord{Name: c.Metadata.Name, Revision: s.cells[c.Metadata.Name].Revision + 1, Spec: raw, Cell: &decoded}
}

func (s *fakeStore) GetCell(_ context.Context, name string) (store.CellRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.cells[name]
	if !ok {
		return store.CellRecord{}, &store.NotFoundError{Kind: store.KindCell, Name: name}
	}
	// Hand out a copy: handlers default the spec in place. A spec that
	// does not decode is reported as the store does (DecodeErr, no Cell).
	var c cell.Cell
	if err := json.Unmarshal(rec.Spec, &c); err != nil {
		rec.Cell, rec.DecodeErr = nil, err
		return rec, nil
	}
	rec.Cell = &c
	return rec, nil
}

// putRawSpec stores spec as the Cell's document, as an edit in the
// DynamoDB console would, whether it decodes or not.
func (s *fakeStore) putRawSpec(name, spec string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cells[name] = store.CellRecord{Name: name, Revision: s.cells[name].Revision + 1, Spec: json.RawMessage(spec)}
}

func (s *fakeStore) ListTemplates(context.Context) ([]store.TemplateRecord, error) { return nil, nil }

func (s *fakeStore) GetStatus(_ context.Context, name string) (store.StatusRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failGet != nil {
		return store.StatusRecord{}, s.failGet
	}
	return store.StatusRecord{Status: s.status[name], Revision: 1}, nil
}

// GetCellAndStatus is GetCell and GetStatus, as the store's one Query.
func (s *fakeStore) GetCellAndStatus(ctx context.Context, name string) (store.CellRecord, store.StatusRecord, error) {
	st, err := s.GetStatus(ctx, name)
	if err != nil {
		return store.CellRecord{}, store.StatusRecord{}, err
	}
	rec, err := s.GetCell(ctx, name)
	return rec, st, err
}

func (s *fakeStore) get(name string) rollout.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status[name]
}

func (s *fakeStore) set(name string, st rollout.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[name] = st
}

func (s *fakeStore) AcquireLease(ctx context.Context, name, exec string, isRunning store.ExecutionRunning) (store.Lease, error) {
	s.mu.Lock()
	st := s.status[name]
	s.mu.Unlock()
	holder := st.ExecutionARN
	if holder == exec {
		return store.Lease{StatusRecord: store.StatusRecord{Status: st}, Reacquired: true}, nil
	}
	if holder != "" {
		running, err := isRunning(ctx, holder)
		if err != nil {
			return store.Lease{}, err
		}
		if running {
			return store.Lease{}, &store.LeaseHeldError{Cell: name, Holder: holder}
		}
	}
	s.mu.Lock()
	s.leases++
	st.ExecutionARN, st.LeaseAcquiredAt, st.TaskToken = exec, t0.Add(time.Duration(s.leases)*time.Millisecond), ""
	s.mu.Unlock()
	s.set(name, st)
	return store.Lease{StatusRecord: store.StatusRecord{Status: st}, TookOverFrom: holder}, nil
}

func (s *fakeStore) UpdateStatus(_ context.Context, name, exec string, update func(*rollout.Status) error) (store.StatusRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status[name]
	if st.ExecutionARN != exec {
		return store.StatusRecord{}, &store.NotHolderError{Cell: name, Execution: exec, Holder: st.ExecutionARN}
	}
	// Work on a deep copy, as the store does after a round trip.
	raw, _ := json.Marshal(st)
	var cp rollout.Status
	_ = json.Unmarshal(raw, &cp)
	if err := update(&cp); err != nil {
		return store.StatusRecord{}, err
	}
	s.status[name] = cp
	return store.StatusRecord{Status: cp}, nil
}

// UpdateStatusFrom is UpdateStatus: the fake keeps no revisions, so it
// always works on the current status, as the store does once a write
// from a stale read is refused.
func (s *fakeStore) UpdateStatusFrom(ctx context.Context, name, exec string, _ *store.StatusRecord, update func(*rollout.Status) error) (store.StatusRecord, error) {
	return s.UpdateStatus(ctx, name, exec, update)
}

func (s *fakeStore) ReleaseLease(_ context.Context, name, exec string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status[name]
	switch st.ExecutionARN {
	case "":
		return nil
	case exec:
		st.ExecutionARN, st.LeaseAcquiredAt, st.TaskToken = "", time.Time{}, ""
		s.status[name] = st
		return nil
	}
	return &store.NotHolderError{Cell: name, Execution: exec, Holder: st.ExecutionARN}
}

func (s *fakeStore) AppendEvent(_ context.Context, name string, ev store.Event) (store.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[name] = append(s.events[name], ev)
	return ev, nil
}

func (s *fakeStore) ListEvents(_ context.Context, name string, limit int, newestFirst bool) ([]store.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs := append([]store.Event(nil), s.events[name]...)
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

func (s *fakeStore) eventTypes(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, ev := range s.events[name] {
		out = append(out, string(ev.Type))
	}
	return out
}

func (s *fakeStore) Block(_ context.Context, name string, b rollout.Block) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocks[name] == nil {
		s.blocks[name] = map[string]rollout.Block{}
	}
	if _, ok := s.blocks[name][b.Version]; ok {
		return false, nil
	}
	s.blocks[name][b.Version] = b
	return true, nil
}

func (s *fakeStore) ListBlocked(_ context.Context, name string) ([]rollout.Block, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []rollout.Block
	for _, b := range s.blocks[name] {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// fakeListener holds one forward action; errors can be injected.
type fakeListener struct {
	mu      sync.Mutex
	fwd     weights.Forward
	sets    int
	readErr error
	setErr  error
	// drift, when set, is what Set writes instead of what it was given.
	drift *weights.Forward
	// reads lists the listener ARN of every Read and Set.
	reads []string
}

func (l *fakeListener) Read(_ context.Context, ing cell.Ingress) (weights.Forward, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads = append(l.reads, ing.ListenerARN)
	if l.readErr != nil {
		return weights.Forward{}, l.readErr
	}
	return l.fwd.Clone(), nil
}

func (l *fakeListener) Set(_ context.Context, ing cell.Ingress, fwd weights.Forward) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads = append(l.reads, ing.ListenerARN)
	if err := listener.CheckLimits(fwd); err != nil {
		return err
	}
	if l.setErr != nil {
		return l.setErr
	}
	l.sets++
	if fwd.Stickiness == nil {
		fwd.Stickiness = l.fwd.Stickiness
	}
	l.fwd = fwd.Clone()
	if l.drift != nil {
		l.fwd = l.drift.Clone()
	}
	return nil
}

func (l *fakeListener) Verify(ctx context.Context, ing cell.Ingress, expected weights.Forward) error {
	actual, err := l.Read(ctx, ing)
	if err != nil {
		return err
	}
	if !weights.Equal(actual, expected) && (expected.Stickiness != nil || !weights.Equal(actual, withStickiness(expected, actual.Stickiness))) {
		return &listener.DriftError{Location: "fake listener", Expected: expected, Actual: actual}
	}
	return nil
}

func withStickiness(f weights.Forward, s *weights.Stickiness) weights.Forward {
	f = f.Clone()
	f.Stickiness = s
	return f
}

func (l *fakeListener) EnsureRule(context.Context, string, cell.Ingress, weights.Forward) (listener.RuleResult, error) {
	return listener.RuleResult{}, nil
}

func (l *fakeListener) get() weights.Forward {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fwd.Clone()
}

// fakeDiscovery returns fixed target groups. Like the real discovery,
// ForCell reads no health (HealthyTargets 0): a handler sees a group's
// healthy targets only after asking Health or HealthForDecision for it.
type fakeDiscovery struct {
	mu     sync.Mutex
	groups []inventory.TargetGroup
	err    error
}

func (d *fakeDiscovery) ForCell(context.Context, *cell.Cell) (discovery.CellTargetGroups, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return discovery.CellTargetGroups{}, d.err
	}
	out := append([]inventory.TargetGroup(nil), d.groups...)
	for i := range out {
		out[i].HealthyTargets = 0
	}
	return discovery.CellTargetGroups{TargetGroups: out}, nil
}

// Health fills the healthy counts the fake's groups carry and leaves out
// a group the fake no longer has, as the real one does.
func (d *fakeDiscovery) Health(ctx context.Context, tgs []inventory.TargetGroup) ([]inventory.TargetGroup, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	known := map[string]inventory.TargetGroup{}
	for _, g := range d.groups {
		known[g.ARN] = g
	}
	var out []inventory.TargetGroup
	for _, tg := range tgs {
		if g, ok := known[tg.ARN]; ok {
			tg.HealthyTargets = g.HealthyTargets
			out = append(out, tg)
		}
	}
	return out, nil
}

// HealthForDecision fills every group's count (the real one reads fewer;
// which ones is discovery's own test).
func (d *fakeDiscovery) HealthForDecision(ctx context.Context, c *cell.Cell, tgs []inventory.TargetGroup, fwd weights.Forward) ([]inventory.TargetGroup, error) {
	return d.Health(ctx, tgs)
}

func (d *fakeDiscovery) setHealthy(name string, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.groups {
		if d.groups[i].Name == name {
			d.groups[i].HealthyTargets = n
		}
	}
}

// fakeExecutions knows execution statuses by ARN and records starts.
type fakeExecutions struct {
	mu      sync.Mutex
	status  map[string]string
	started []executions.Input
}

func (e *fakeExecutions) Start(_ context.Context, machine string, in executions.Input) (string, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	arn := executions.ARN(machine, executions.Name(in.Cell, in.TargetVersion, in.Attempt))
	if _, ok := e.status[arn]; ok {
		return arn, false, nil
	}
	e.status[arn] = "RUNNING"
	e.started = append(e.started, in)
	return arn, true, nil
}

func (e *fakeExecutions) Status(_ context.Context, arn string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status[arn], nil
}

// fakeDeleter records deletions; refuse lists ARNs it refuses.
type fakeDeleter struct {
	deleted []string
	refuse  map[string]bool
}

func (d *fakeDeleter) Delete(_ context.Context, arn string) error {
	if d.refuse[arn] {
		return &targetgroups.DeleteRefusedError{ARN: arn, Reason: targetgroups.RefusedClusterExists, Cluster: "still-there"}
	}
	d.deleted = append(d.deleted, arn)
	return nil
}

type fakeNotifier struct{ sent []steps.Notification }

func (n *fakeNotifier) Notify(_ context.Context, x steps.Notification) error {
	n.sent = append(n.sent, x)
	return nil
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	machine     = "arn:aws:states:us-east-1:123456789012:stateMachine:okra-rollout"
	listenerARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/0123456789abcdef/0123456789abcdef"
)

func execARN(name string) string { return executions.ARN(machine, name) }

func tgARN(name string) string {
	return "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/" + name + "/0123456789abcdef"
}

func group(version, suffix string, healthy int) inventory.TargetGroup {
	name := "web-" + version + "-" + suffix
	return inventory.TargetGroup{ARN: tgARN(name), Name: name, Version: version, HealthyTargets: healthy,
		Tags: map[string]string{"version": version, inventory.TagCell: "web"}}
}

func fwd(pairs ...any) weights.Forward {
	f := weights.Forward{Stickiness: &weights.Stickiness{Enabled: true, DurationSeconds: 60}}
	for i := 0; i < len(pairs); i += 2 {
		f.TargetGroups = append(f.TargetGroups, weights.TargetGroupWeight{ARN: tgARN(pairs[i].(string)), Weight: int32(pairs[i+1].(int))})
	}
	return f
}

func int32p(n int32) *int32 { return &n }

// webCell is a valid Cell named web with steps.
func webCell(steps ...cell.Step) *cell.Cell {
	return &cell.Cell{
		APIVersion: cell.APIVersion, Kind: cell.Kind,
		Metadata: cell.Metadata{Name: "web"},
		Spec: cell.Spec{
			Ingress: cell.Ingress{Type: cell.IngressALB, ListenerARN: listenerARN,
				TargetGroupSelector: cell.TargetGroupSelector{MatchLabels: map[string]string{inventory.TagCell: "web"}}},
			ClusterSelector: cell.ClusterSelector{MatchTags: map[string]string{"role": "web"}},
			RollbackWindow:  &cell.Duration{Duration: 5 * time.Minute},
			UpdateStrategy:  cell.UpdateStrategy{Canary: &cell.Canary{Steps: steps}},
		},
	}
}

func setWeight(w int32) cell.Step { return cell.Step{SetWeight: int32p(w)} }

func pause(d time.Duration) cell.Step {
	return cell.Step{Pause: &cell.Pause{Duration: &cell.Duration{Duration: d}}}
}

// env is a Handlers over fakes: Cell web, listener at v1-a=100 sticky,
// v1 and v2 target groups healthy.
type env struct {
	t        *testing.T
	h        *steps.Handlers
	store    *fakeStore
	listener *fakeListener
	disc     *fakeDiscovery
	execs    *fakeExecutions
	deleter  *fakeDeleter
	notes    *fakeNotifier
	now      time.Time
}

func newEnv(t *testing.T, c *cell.Cell) *env {
	t.Helper()
	e := &env{
		t: t, store: newFakeStore(), listener: &fakeListener{fwd: fwd("web-v1-a", 100)},
		disc:    &fakeDiscovery{groups: []inventory.TargetGroup{group("v1", "a", 2), group("v2", "a", 2)}},
		execs:   &fakeExecutions{status: map[string]string{}},
		deleter: &fakeDeleter{refuse: map[string]bool{}}, notes: &fakeNotifier{}, now: t0,
	}
	e.store.putCell(c)
	e.store.set("web", rollout.Status{Phase: rollout.PhaseStable, StableVersion: "v1"})
	h, err := steps.New(steps.Deps{
		Store: e.store, Listener: e.listener, Discovery: e.disc, Executions: e.execs,
		TargetGroups: e.deleter, Notifier: e.notes, Now: func() time.Time { return e.now },
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e
}

// acquire runs AcquireLease for exec to v2 and requires a Start.
func (e *env) acquire(exec string) rollout.Action {
	e.t.Helper()
	out, err := e.h.Plan(context.Background(), steps.PlanInput{Operation: steps.OpAcquireLease, Cell: "web", TargetVersion: "v2", ExecutionARN: exec})
	if err != nil {
		e.t.Fatalf("AcquireLease: %v", err)
	}
	a := out.(rollout.Action)
	if a.Kind != steps.ActionStart {
		e.t.Fatalf("AcquireLease = %+v, want Start", a)
	}
	e.execs.status[exec] = "RUNNING"
	return a
}

// next runs NextStep after prev and returns the action.
func (e *env) next(exec string, prev rollout.Action) rollout.Action {
	e.t.Helper()
	out, err := e.h.Plan(context.Background(), steps.PlanInput{Operation: steps.OpNextStep, Cell: "web", ExecutionARN: exec, Previous: &prev})
	if err != nil {
		e.t.Fatalf("NextStep after %s: %v", prev.Kind, err)
	}
	return out.(rollout.Action)
}

func (e *env) set(exec string, a rollout.Action) error {
	_, err := e.h.Weights(context.Background(), steps.WeightsInput{Operation: steps.OpSet, Cell: "web", ExecutionARN: exec, Action: a})
	return err
}

func (e *env) verify(exec string, a rollout.Action) error {
	_, err := e.h.Weights(context.Background(), steps.WeightsInput{Operation: steps.OpVerify, Cell: "web", ExecutionARN: exec, Action: a})
	return err
}

func describe(f weights.Forward) string {
	var parts []string
	for _, tg := range f.TargetGroups {
		name := strings.TrimSuffix(strings.TrimPrefix(tg.ARN, "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/"), "/0123456789abcdef")
		parts = append(parts, fmt.Sprintf("%s=%d", name, tg.Weight))
	}
	if f.Stickiness != nil {
		parts = append(parts, fmt.Sprintf("sticky=%t/%ds", f.Stickiness.Enabled, f.Stickiness.DurationSeconds))
	}
	return strings.Join(parts, " ")
}

// lambdaName is the error name the Lambda runtime reports for err, which
// the state machine's Retry and Catch match.
func lambdaName(err error) string {
	if err == nil {
		return "no error"
	}
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}
