package checks_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

const (
	execARN     = "arn:aws:states:us-east-1:123456789012:execution:okra-rollout:web--v2--1"
	otherExec   = "arn:aws:states:us-east-1:123456789012:execution:okra-rollout:web--v3--1"
	listenerARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web-alb/0123456789abcdef/fedcba9876543210"
	stableTG    = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-1-v1/1111111111111111"
	canaryTG    = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-1-v2/2222222222222222"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeStore keeps one table in memory.
type fakeStore struct {
	mu        sync.Mutex
	cells     map[string]*cell.Cell
	templates map[string]*cell.AnalysisTemplate
	status    map[string]rollout.Status
	events    []store.Event

	statusErr error
	appendErr error
}

func newFakeStore() *fakeStore {
	return &fakeStore{cells: map[string]*cell.Cell{}, templates: map[string]*cell.AnalysisTemplate{}, status: map[string]rollout.Status{}}
}

func (f *fakeStore) GetCell(_ context.Context, name string) (store.CellRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cells[name]
	if !ok {
		return store.CellRecord{}, &store.NotFoundError{Kind: store.KindCell, Name: name}
	}
	// Hand out a copy, as decoding a stored item would.
	b, _ := json.Marshal(c)
	var out cell.Cell
	if err := json.Unmarshal(b, &out); err != nil {
		return store.CellRecord{}, err
	}
	return store.CellRecord{Name: name, Revision: 1, Spec: b, Cell: &out}, nil
}

func (f *fakeStore) GetTemplate(_ context.Context, name string) (store.TemplateRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.templates[name]
	if !ok {
		return store.TemplateRecord{}, &store.NotFoundError{Kind: store.KindTemplate, Name: name}
	}
	cp := *t
	return store.TemplateRecord{Name: name, Revision: 1, Template: &cp}, nil
}

func (f *fakeStore) GetStatus(_ context.Context, name string) (store.StatusRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statusErr != nil {
		return store.StatusRecord{}, f.statusErr
	}
	return store.StatusRecord{Status: f.status[name], Revision: 1}, nil
}

func (f *fakeStore) UpdateStatus(_ context.Context, name, executionARN string, update func(*rollout.Status) error) (store.StatusRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status[name]
	if st.ExecutionARN != executionARN {
		return store.StatusRecord{}, &store.NotHolderError{Cell: name, Execution: executionARN, Holder: st.ExecutionARN}
	}
	if err := update(&st); err != nil {
		return store.StatusRecord{}, err
	}
	f.status[name] = st
	return store.StatusRecord{Status: st, Revision: 2}, nil
}

func (f *fakeStore) AppendEvent(_ context.Context, name string, ev store.Event) (store.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.appendErr != nil {
		return store.Event{}, f.appendErr
	}
	f.events = append(f.events, ev)
	return ev, nil
}

func (f *fakeStore) setStatus(name string, mutate func(*rollout.Status)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status[name]
	mutate(&st)
	f.status[name] = st
}

func (f *fakeStore) getStatus(name string) rollout.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status[name]
}

func (f *fakeStore) eventsOf(t store.EventType) []store.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Event
	for _, ev := range f.events {
		if ev.Type == t {
			out = append(out, ev)
		}
	}
	return out
}

// fakeDiscovery returns fixed target groups.
type fakeDiscovery struct {
	groups []inventory.TargetGroup
	err    error
	calls  int
}

func (d *fakeDiscovery) ForCell(context.Context, *cell.Cell) (discovery.CellTargetGroups, error) {
	d.calls++
	return discovery.CellTargetGroups{TargetGroups: d.groups}, d.err
}

// reply is one scripted provider answer; the last one repeats.
type reply struct {
	value analysis.Value
	err   error
}

func value(v float64) reply {
	return reply{value: analysis.Value{Result: v, Raw: map[string]any{"values": []float64{v}}}}
}

func noData() reply {
	return reply{value: analysis.Value{NoData: true, Raw: map[string]any{"values": []float64{}}, Message: "no datapoints"}}
}

func failure(msg string) reply {
	return reply{err: &analysis.ProviderError{Provider: analysis.KindDatadog, Op: "QueryMetrics", StatusCode: 500, Err: errorString(msg)}}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// fakeProvider answers from a script and records each metric it measured.
type fakeProvider struct {
	mu      sync.Mutex
	replies []reply
	calls   []cell.Metric
}

func provider(replies ...reply) *fakeProvider { return &fakeProvider{replies: replies} }

func (p *fakeProvider) Measure(_ context.Context, m cell.Metric, _ analysis.Window) (analysis.Value, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, m)
	r := p.replies[0]
	if len(p.replies) > 1 {
		p.replies = p.replies[1:]
	}
	return r.value, r.err
}

func (p *fakeProvider) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// env is a Starter and both Checkers over fakes.
type env struct {
	t       *testing.T
	ctx     context.Context
	store   *fakeStore
	disc    *fakeDiscovery
	clock   *clock
	starter *checks.Starter
	cw, dd  *fakeProvider
	cwCheck *checks.Checker
	ddCheck *checks.Checker
}

type envOption func(*checks.Options)

func newEnv(t *testing.T, c *cell.Cell, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), store: newFakeStore(), clock: &clock{t: t0},
		disc: &fakeDiscovery{groups: []inventory.TargetGroup{
			{ARN: stableTG, Name: "web-1-v1", Version: "v1"},
			{ARN: canaryTG, Name: "web-1-v2", Version: "v2"},
		}},
		cw: provider(value(1)), dd: provider(value(1)),
	}
	e.store.cells[c.Metadata.Name] = c
	e.store.status[c.Metadata.Name] = rollout.Status{
		Phase: rollout.PhaseAnalyzing, StableVersion: "v1", CanaryVersion: "v2", StepIndex: 1, StepCount: len(c.Spec.UpdateStrategy.Canary.Steps),
		ExecutionARN: execARN,
		Weights:      weights.Forward{TargetGroups: []weights.TargetGroupWeight{{ARN: stableTG, Weight: 80}, {ARN: canaryTG, Weight: 20}}},
		Snapshot:     &weights.Forward{TargetGroups: []weights.TargetGroupWeight{{ARN: stableTG, Weight: 100}}},
	}
	o := checks.Options{Store: e.store, Discovery: e.disc, Now: e.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, opt := range opts {
		opt(&o)
	}
	var err error
	if e.starter, err = checks.NewStarter(o); err != nil {
		t.Fatal(err)
	}
	if e.cwCheck, err = checks.NewChecker(e.starter, analysis.KindCloudWatch, e.cw); err != nil {
		t.Fatal(err)
	}
	if e.ddCheck, err = checks.NewChecker(e.starter, analysis.KindDatadog, e.dd); err != nil {
		t.Fatal(err)
	}
	return e
}

func decode(t *testing.T, raw json.RawMessage) checks.State {
	t.Helper()
	var st checks.State
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("decoding state %s: %v", raw, err)
	}
	return st
}

// start runs StartAnalysis for the Cell's step at index.
func (e *env) start(name string, step int) checks.State {
	e.t.Helper()
	raw, err := e.starter.Start(e.ctx, name, execARN, analyzeAction(e.store.cells[name], step))
	if err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	return e.roundTrip(decode(e.t, raw))
}

func (e *env) startBackground(name string) checks.State {
	e.t.Helper()
	raw, err := e.starter.StartBackground(e.ctx, name, execARN)
	if err != nil {
		e.t.Fatalf("StartBackground: %v", err)
	}
	return e.roundTrip(decode(e.t, raw))
}

// roundTrip passes st through JSON, as Step Functions does between states.
func (e *env) roundTrip(st checks.State) checks.State {
	e.t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		e.t.Fatal(err)
	}
	return decode(e.t, b)
}

// round runs one measurement round as the state machine does: wait, then
// the check of each flagged provider.
func (e *env) round(name string, st checks.State) checks.State {
	e.t.Helper()
	e.clock.Advance(time.Duration(st.WaitSeconds) * time.Second)
	if st.Providers.CloudWatch {
		st = e.check(e.cwCheck, name, st)
	}
	if st.Providers.Datadog {
		st = e.check(e.ddCheck, name, st)
	}
	return st
}

func (e *env) check(c *checks.Checker, name string, st checks.State) checks.State {
	e.t.Helper()
	out, err := c.Handle(e.ctx, checks.CheckInput{Cell: name, ExecutionARN: execARN, Analysis: &st})
	if err != nil {
		e.t.Fatalf("check: %v", err)
	}
	return e.roundTrip(out)
}

// until runs rounds while the state machine would keep looping (Running),
// at most n.
func (e *env) until(name string, st checks.State, n int) checks.State {
	e.t.Helper()
	for i := 0; i < n && st.Phase == checks.PhaseRunning; i++ {
		st = e.round(name, st)
	}
	return st
}

func analyzeAction(c *cell.Cell, step int) rollout.Action {
	return rollout.Action{
		Kind: rollout.ActionAnalyze, StableVersion: "v1", CanaryVersion: "v2",
		StepIndex: step, NextStepIndex: step + 1, CanaryWeight: 20,
		Analysis: c.Spec.UpdateStrategy.Canary.Steps[step].Analysis,
	}
}

// Fixtures.

func ptr[T any](v T) *T { return &v }

func dur(d time.Duration) *cell.Duration { return &cell.Duration{Duration: d} }

type metricOption func(*cell.Metric)

func withInitialDelay(d time.Duration) metricOption {
	return func(m *cell.Metric) { m.InitialDelay = dur(d) }
}

func withCount(n int32, interval time.Duration) metricOption {
	return func(m *cell.Metric) { m.Count = cell.Int(n); m.Interval = dur(interval) }
}

func withLimits(failure, inconclusive, consecutiveErrors int32) metricOption {
	return func(m *cell.Metric) {
		m.FailureLimit, m.InconclusiveLimit, m.ConsecutiveErrorLimit = cell.Int(failure), cell.Int(inconclusive), cell.Int(consecutiveErrors)
	}
}

// cwMetric measures the canary's 5xx count, its target group and load
// balancer given by okra's built-in arguments.
func cwMetric(name string, opts ...metricOption) cell.Metric {
	ns := "AWS/ApplicationELB"
	m := cell.Metric{
		Name:             name,
		SuccessCondition: "result < {{args.max-errors}}",
		FailureCondition: "result >= 10 * {{args.max-errors}}",
		Provider: cell.MetricProvider{CloudWatch: &cell.CloudWatchMetric{MetricDataQueries: []cell.MetricDataQuery{{
			ID: "errors",
			MetricStat: &cell.MetricStat{
				Metric: cell.CloudWatchMetricName{Namespace: &ns, MetricName: "HTTPCode_Target_5XX_Count", Dimensions: []cell.MetricDimension{
					{Name: "TargetGroup", Value: "{{args.canary-target-group}}"},
					{Name: "LoadBalancer", Value: "{{args.load-balancer}}"},
				}},
				Period: cell.Int(60),
				Stat:   "Sum",
			},
		}}}},
	}
	for _, o := range opts {
		o(&m)
	}
	return m
}

func ddMetric(name string, opts ...metricOption) cell.Metric {
	m := cell.Metric{
		Name:             name,
		SuccessCondition: "result < {{args.max-errors}}",
		FailureCondition: "result >= 10 * {{args.max-errors}}",
		Provider:         cell.MetricProvider{Datadog: &cell.DatadogMetric{Query: "sum:trace.http.request.errors{service:{{args.cell}},version:{{args.canary-version}}}.as_count()"}},
	}
	for _, o := range opts {
		o(&m)
	}
	return m
}

func template(name string, metrics ...cell.Metric) cell.AnalysisTemplate {
	return cell.AnalysisTemplate{
		APIVersion: "argoproj.io/v1alpha1", Kind: cell.KindAnalysisTemplate,
		Metadata: cell.Metadata{Name: name},
		Spec: cell.AnalysisTemplateSpec{
			Args:    []cell.TemplateArg{{Name: "max-errors", Value: ptr("5")}, {Name: cell.ArgCanaryTargetGroup}},
			Metrics: metrics,
		},
	}
}

// webCell has steps setWeight 20, analysis (templates), pause, setWeight
// 60, and embeds the given templates.
func webCell(name string, analysisTemplates []string, embedded ...cell.AnalysisTemplate) *cell.Cell {
	refs := make([]cell.TemplateRef, len(analysisTemplates))
	for i, n := range analysisTemplates {
		refs[i] = cell.TemplateRef{TemplateName: n}
	}
	return &cell.Cell{
		APIVersion: cell.APIVersion, Kind: cell.Kind,
		Metadata: cell.Metadata{Name: name},
		Spec: cell.Spec{
			Ingress: cell.Ingress{Type: cell.IngressALB, ListenerARN: listenerARN,
				TargetGroupSelector: cell.TargetGroupSelector{MatchLabels: map[string]string{"okra:cell": name}}},
			ClusterSelector: cell.ClusterSelector{MatchTags: map[string]string{"role": name}},
			UpdateStrategy: cell.UpdateStrategy{Canary: &cell.Canary{Steps: []cell.Step{
				{SetWeight: ptr(int32(20))},
				{Analysis: &cell.Analysis{Templates: refs}},
				{Pause: &cell.Pause{Duration: dur(time.Second)}},
				{SetWeight: ptr(int32(60))},
			}}},
			AnalysisTemplates: embedded,
		},
	}
}

// withBackground gives c a background analysis from startingStep.
func withBackground(c *cell.Cell, startingStep *int32, templates ...string) *cell.Cell {
	refs := make([]cell.TemplateRef, len(templates))
	for i, n := range templates {
		refs[i] = cell.TemplateRef{TemplateName: n}
	}
	c.Spec.UpdateStrategy.Canary.Analysis = &cell.BackgroundAnalysis{Analysis: cell.Analysis{Templates: refs}, StartingStep: startingStep}
	return c
}
