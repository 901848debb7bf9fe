package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// The invariant monitor: one goroutine per fixture polls the Cell's
// forward action, the health of the target groups it weights, the Cell
// status and the execution holding its lease, and records every breach
// of the operational invariants of DESIGN.md:
//
//  1. never route to nothing: when the forward action changes and the
//     change is not the test's own (declared with Edited), every group
//     with weight > 0 exists and has at least the Cell's
//     minHealthyTargets healthy targets; the weights sum to more than 0;
//  2. drift is never overwritten silently: after a test edit, okra's next
//     change to the forward action is preceded by a WeightsDrifted event;
//  3. no dead execution holds the Cell past one recovery opportunity: an
//     execution DescribeExecution reports not RUNNING that holds the lease
//     when a reconcile begins (Reconciling) is released when it ends, and
//     none holds it when the monitor stops;
//  4. the forward action is within AWS's limits (1..5 groups, weights
//     0..999, only the Cell's groups) and the listener is always readable.
//
// moto reports every registered target healthy, so "unhealthy" in these
// tests is a group with its targets deregistered, or a deleted group.
//
// Usage: m := f.monitor(); defer m.assertClean() — or m.stop() and
// m.violations() where the test decides itself (the soak does).

// monitorOption configures a monitor.
type monitorOption func(*monitor)

// pollEvery sets how often the monitor reads the listener (default
// 100ms); the status and the lease holder are read at most every 200ms.
func pollEvery(d time.Duration) monitorOption { return func(m *monitor) { m.every = d } }

// onlyPlanned adds invariant "nothing half-applied": every forward action
// the listener shows is the fixture's snapshot or one of plan exactly.
func onlyPlanned(plan ...weights.Forward) monitorOption {
	return func(m *monitor) { m.planned = append([]weights.Forward{m.f.snapshot}, plan...) }
}

// minReads sets how many listener reads the monitor must have made by
// assertClean for the check to count (default 10).
func minReads(n int) monitorOption { return func(m *monitor) { m.minReads = n } }

// groupHealth is one target group as the monitor last saw it.
type groupHealth struct {
	exists  bool
	healthy int
	err     error // neither found nor not-found
}

func (g groupHealth) String() string {
	switch {
	case g.err != nil:
		return "unreadable: " + g.err.Error()
	case !g.exists:
		return "missing"
	}
	return fmt.Sprintf("%d healthy", g.healthy)
}

// edit is a change the test declared it makes to the forward action.
type edit struct {
	fwd      weights.Forward
	at       time.Time
	observed bool
}

type monitor struct {
	f          *fixture
	every      time.Duration
	minReads   int
	minHealthy int
	planned    []weights.Forward

	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}

	mu        sync.Mutex
	reads     int
	seen      []weights.Forward // distinct consecutive forward actions
	readErrs  []error
	problems  []string
	health    map[string]groupHealth // by ARN, as of the last poll
	edits     []edit                 // pending test edits
	caps      map[string]int32       // by ARN: most weight while unhealthy
	dead      map[string]bool        // executions known not RUNNING
	lastState time.Time
	holder    string // the last execution the status named as the lease holder
}

// monitor starts the invariant monitor on the fixture's Cell.
func (f *fixture) monitor(opts ...monitorOption) *monitor {
	m := &monitor{
		f: f, every: 100 * time.Millisecond, minReads: 10, minHealthy: int(cell.DefaultMinHealthyTargets),
		stopCh: make(chan struct{}), done: make(chan struct{}),
		health: map[string]groupHealth{}, caps: map[string]int32{}, dead: map[string]bool{},
	}
	if mh := f.spec.Spec.MinHealthyTargets; mh != nil {
		m.minHealthy = int(*mh)
	}
	for _, o := range opts {
		o(m)
	}
	go m.run()
	return m
}

func (m *monitor) run() {
	defer close(m.done)
	tick := time.NewTicker(m.every)
	defer tick.Stop()
	for {
		m.poll()
		select {
		case <-m.stopCh:
			return
		case <-tick.C:
		}
	}
}

func (m *monitor) ctx() context.Context { return m.f.ctx }

// poll reads everything once and checks the invariants.
func (m *monitor) poll() {
	f := m.f
	m.mu.Lock()
	caps := maps.Clone(m.caps) // before the read: a cap is lifted only once the group is healthy again
	m.mu.Unlock()
	fwd, err := f.control.Read(m.ctx(), f.spec.Spec.Ingress)
	var now map[string]groupHealth
	if err == nil {
		now = m.readHealth(fwd)
	}
	m.mu.Lock()
	m.reads++
	if err != nil {
		m.readErrs = append(m.readErrs, err)
		m.mu.Unlock()
		return
	}
	var prev *weights.Forward
	if n := len(m.seen); n > 0 {
		prev = &m.seen[n-1]
	}
	changed := prev == nil || !weights.Equal(*prev, fwd)
	if changed {
		m.seen = append(m.seen, fwd)
	}
	m.problems = append(m.problems, m.checkLimits(fwd)...)
	for arn, c := range caps {
		if w, ok := fwd.Weight(arn); ok && w > c {
			m.problems = append(m.problems, fmt.Sprintf("%s: %s gained weight (above %d) while its targets were unhealthy", f.describe(fwd), m.name(arn), c))
		}
	}
	if changed && prev != nil {
		m.judgeChange(*prev, fwd, m.health, now)
	}
	m.health = now
	needHolder := time.Since(m.lastState) >= 200*time.Millisecond
	if needHolder {
		m.lastState = time.Now()
	}
	m.mu.Unlock()
	if needHolder {
		m.pollHolder()
	}
}

// judgeChange checks one observed change of the forward action from prev
// to fwd; before is the health seen at the previous poll, now at this one.
// Called with m.mu held.
func (m *monitor) judgeChange(prev, fwd weights.Forward, before, now map[string]groupHealth) {
	f := m.f
	for i, e := range m.edits {
		if !e.observed && weights.Equal(e.fwd, fwd) {
			m.edits[i].observed = true
			return // the test's own edit
		}
	}
	// Invariant 2: okra changes the action after a test edit.
	if len(m.edits) > 0 {
		since := m.edits[0].at
		m.edits = nil
		if !m.driftRecordedSince(since) {
			m.problems = append(m.problems, fmt.Sprintf("drift overwritten silently: the test set the listener at %s, then it changed %s → %s with no %s event in the history",
				since.Format("15:04:05.000"), f.describe(prev), f.describe(fwd), store.EventWeightsDrifted))
		}
	}
	// Invariant 1: okra gave weight to a missing or unhealthy group. A
	// group counts as unhealthy only if it was so at both polls around the
	// change (a test deregistering targets right after okra's change is
	// not okra's fault); a group with no earlier reading is judged now.
	for _, tg := range fwd.TargetGroups {
		if tg.Weight <= 0 {
			continue
		}
		h := now[tg.ARN]
		if h.err != nil || (h.exists && h.healthy >= m.minHealthy) {
			continue
		}
		if b, ok := before[tg.ARN]; ok && b.err == nil && b.exists && b.healthy >= m.minHealthy {
			continue
		}
		m.problems = append(m.problems, fmt.Sprintf("routed to nothing: the listener changed %s → %s with %s (weight %d) %s (minimum %d healthy)",
			f.describe(prev), f.describe(fwd), m.name(tg.ARN), tg.Weight, h, m.minHealthy))
	}
}

// driftRecordedSince reports whether the Cell's history holds a
// WeightsDrifted event at or after t. Called with m.mu held.
func (m *monitor) driftRecordedSince(t time.Time) bool {
	evs, err := m.f.okra.Store.ListEvents(m.ctx(), m.f.name, 0, false)
	if err != nil {
		m.problems = append(m.problems, fmt.Sprintf("Cell history unreadable: %v", err))
		return true
	}
	return slices.ContainsFunc(evs, func(ev store.Event) bool {
		return ev.Type == store.EventWeightsDrifted && !ev.Time.Before(t.Add(-time.Millisecond))
	})
}

// checkLimits is invariant 4 and the "something to route to" half of 1.
// Called with m.mu held.
func (m *monitor) checkLimits(fwd weights.Forward) []string {
	f := m.f
	var out []string
	desc := f.describe(fwd)
	if n := len(fwd.TargetGroups); n == 0 || n > 5 {
		out = append(out, fmt.Sprintf("%s: %d target groups, want 1..5", desc, n))
	}
	var sum int32
	for _, tg := range fwd.TargetGroups {
		owned := false
		for _, g := range f.groups {
			owned = owned || g.ARN == tg.ARN
		}
		if !owned {
			out = append(out, fmt.Sprintf("%s: forwards to %s, not one of the Cell's target groups", desc, tg.ARN))
		}
		if tg.Weight < 0 || tg.Weight > 999 {
			out = append(out, fmt.Sprintf("%s: weight %d outside 0..999", desc, tg.Weight))
		}
		sum += tg.Weight
	}
	if sum <= 0 {
		out = append(out, fmt.Sprintf("%s: weights sum to %d", desc, sum))
	}
	if m.planned != nil && !slices.ContainsFunc(m.planned, func(a weights.Forward) bool { return weights.Equal(a, fwd) }) {
		out = append(out, fmt.Sprintf("%s: half-applied: neither the snapshot nor a planned step", desc))
	}
	return out
}

// readHealth reads the health of every group fwd names.
func (m *monitor) readHealth(fwd weights.Forward) map[string]groupHealth {
	out := map[string]groupHealth{}
	for _, tg := range fwd.TargetGroups {
		out[tg.ARN] = m.groupHealth(tg.ARN)
	}
	return out
}

func (m *monitor) groupHealth(arn string) groupHealth {
	out, err := m.f.elb.DescribeTargetHealth(m.ctx(), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)})
	var nf *elbv2types.TargetGroupNotFoundException
	switch {
	case errors.As(err, &nf) || awsapi.IsNotFound(err):
		return groupHealth{}
	case err != nil:
		return groupHealth{exists: true, err: err}
	}
	h := groupHealth{exists: true}
	for _, d := range out.TargetHealthDescriptions {
		if d.TargetHealth != nil && d.TargetHealth.State == elbv2types.TargetHealthStateEnumHealthy {
			h.healthy++
		}
	}
	return h
}

// pollHolder reads which execution holds the Cell and whether it runs.
func (m *monitor) pollHolder() {
	holder, dead, err := m.holderNow()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.problems = append(m.problems, err.Error())
		return
	}
	if holder != "" {
		m.holder = holder
	}
	if dead {
		m.dead[holder] = true
	}
}

// holderNow returns the execution the Cell status names as the lease
// holder ("" when none) and whether it has ended.
func (m *monitor) holderNow() (string, bool, error) {
	rec, err := m.f.okra.Store.GetStatus(m.ctx(), m.f.name)
	if err != nil {
		return "", false, fmt.Errorf("Cell status unreadable: %w", err)
	}
	arn := rec.Status.ExecutionARN
	if arn == "" {
		return "", false, nil
	}
	m.mu.Lock()
	known := m.dead[arn]
	m.mu.Unlock()
	if known {
		return arn, true, nil
	}
	out, err := m.f.sfn.DescribeExecution(m.ctx(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		return "", false, fmt.Errorf("describing the lease holder %s: %w", arn, err)
	}
	return arn, out.Status != sfntypes.ExecutionStatusRunning, nil
}

// Edited tells the monitor that the test itself is about to set the
// forward action to fwd (call it just before the edit): the monitor does
// not judge that change as okra's, and okra's next change must be
// preceded by a WeightsDrifted event.
func (m *monitor) Edited(fwd weights.Forward) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.edits = append(m.edits, edit{fwd: fwd.Clone(), at: time.Now()})
}

// Unhealthy tells the monitor that the test made version v's group
// unhealthy while it had weight w: until Healthy, v must not gain weight
// above w (stricter than invariant 1, which judges only changes).
func (m *monitor) Unhealthy(v string, w int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.caps[m.f.groups[v].ARN] = w
}

// Healthy lifts Unhealthy's cap on v.
func (m *monitor) Healthy(v string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.caps, m.f.groups[v].ARN)
}

// Reconciling runs reconcile (one recovery opportunity the test gives
// okra: a reconcile, a safety-net delivery) and checks invariant 3: an
// execution that had ended and held the Cell before it does not hold it
// after.
func (m *monitor) Reconciling(what string, reconcile func()) {
	holder, dead, err := m.holderNow()
	if err == nil && dead {
		m.mu.Lock()
		m.dead[holder] = true
		m.mu.Unlock()
	}
	reconcile()
	if err != nil || !dead {
		return
	}
	after, _, err := m.holderNow()
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case err != nil:
		m.problems = append(m.problems, err.Error())
	case after == holder:
		m.problems = append(m.problems, fmt.Sprintf("dead execution holds the Cell: %s had ended and still holds the lease after %s", holder, what))
	}
}

// record adds a violation the test detected itself (an invariant the
// monitor cannot see by polling, such as gates racing).
func (m *monitor) record(violation string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.problems = append(m.problems, violation)
}

// stop ends the monitor and checks the lease one last time: an execution
// that has ended must not hold the Cell when the test is done.
func (m *monitor) stop() {
	m.stopOnce.Do(func() {
		close(m.stopCh)
		<-m.done
		holder, dead, err := m.holderNow()
		m.mu.Lock()
		defer m.mu.Unlock()
		switch {
		case err != nil:
			m.problems = append(m.problems, err.Error())
		case dead:
			m.problems = append(m.problems, fmt.Sprintf("dead execution holds the Cell: %s had ended and still holds the lease at the end", holder))
		}
	})
}

// violations stops the monitor and returns every breach recorded, the
// unreadable listener (each failed read) included.
func (m *monitor) violations() []string {
	m.stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.problems)
	for _, err := range m.readErrs {
		out = append(out, "listener unreadable: "+err.Error())
	}
	return out
}

// Seen stops the monitor and returns the distinct forward actions the
// listener showed, in order.
func (m *monitor) Seen() []weights.Forward {
	m.stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.seen)
}

// Reads returns how many times the monitor has read the listener.
func (m *monitor) Reads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads
}

// assertClean stops the monitor and fails the test on any violation, or
// when it read the listener too few times to have checked anything.
func (m *monitor) assertClean() {
	m.f.t.Helper()
	v := m.violations()
	m.mu.Lock()
	reads, readErrs := m.reads, len(m.readErrs)
	m.mu.Unlock()
	if readErrs > 0 {
		m.f.t.Errorf("%d of %d listener reads failed", readErrs, reads)
	}
	if len(v) > 0 {
		m.f.t.Errorf("%d invariant violations, first ones:\n  %s\n%s", len(v), strings.Join(v[:min(8, len(v))], "\n  "), m.f.dump(m.holderOrLast()))
	}
	if reads < m.minReads {
		m.f.t.Errorf("only %d listener reads: the invariants were hardly checked", reads)
	}
}

// holderOrLast names an execution for dump: the last lease holder seen.
func (m *monitor) holderOrLast() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.holder
}

// name is the version whose group has arn, or the ARN.
func (m *monitor) name(arn string) string {
	for v, g := range m.f.groups {
		if g.ARN == arn {
			return v
		}
	}
	return arn
}

// checkHistory checks the weights every WeightsSet and WeightsVerified
// event recorded against the plan (onlyPlanned): a step okra set is a
// planned one.
func (m *monitor) checkHistory() {
	m.f.t.Helper()
	for _, ev := range m.f.events() {
		if (ev.Type == store.EventWeightsSet || ev.Type == store.EventWeightsVerified) && ev.Weights != nil {
			if !slices.ContainsFunc(m.planned, func(a weights.Forward) bool { return weights.Equal(a, *ev.Weights) }) {
				m.f.t.Errorf("history event %s recorded %s, not a planned step", ev.Type, m.f.describe(*ev.Weights))
			}
		}
	}
}
