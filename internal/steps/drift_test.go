package steps_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// pausedAt20 runs a rollout of web to v2 up to its indefinite pause after
// 20%, as the state machine would, and returns the pause action.
func pausedAt20(t *testing.T, c *cell.Cell) (*env, string, rollout.Action) {
	t.Helper()
	e := newEnv(t, c)
	exec := execARN("web--v2--1")
	a := e.next(exec, e.acquire(exec))
	if err := e.set(exec, a); err != nil {
		t.Fatal(err)
	}
	if err := e.verify(exec, a); err != nil {
		t.Fatal(err)
	}
	p := e.next(exec, a)
	if p.Kind != rollout.ActionAwaitApproval || p.Drift {
		t.Fatalf("after 20%%: %+v, want the pause step", p)
	}
	e.store.mu.Lock()
	st := e.store.status["web"]
	st.TaskToken = "token-1"
	e.store.status["web"] = st
	e.store.mu.Unlock()
	return e, exec, p
}

func indefinite() cell.Step { return cell.Step{Pause: &cell.Pause{}} }

func eventOf(e *env, t store.EventType) *store.Event {
	evs, _ := e.store.ListEvents(context.Background(), "web", 0, false)
	for i := range evs {
		if evs[i].Type == t {
			return &evs[i]
		}
	}
	return nil
}

func TestDriftWaitsThenPromoteAdopts(t *testing.T) {
	e, exec, p := pausedAt20(t, webCell(setWeight(20), indefinite(), setWeight(50)))
	edited := fwd("web-v1-a", 60, "web-v2-a", 40)
	e.listener.fwd = edited.Clone()

	held := e.next(exec, p) // the promote that ends the pause
	if held.Kind != rollout.ActionAwaitApproval || !held.Drift || !strings.Contains(held.Reason, "expected weight 80, actual 60") {
		t.Fatalf("NextStep after a hand edit = %+v, want a drift wait naming the difference", held)
	}
	st := e.store.get("web")
	if st.Drift == nil || !weights.Equal(st.Drift.Actual, edited) || st.Phase != rollout.PhasePaused {
		t.Fatalf("status %s drift %+v, want Paused with the drift recorded", st.Phase, st.Drift)
	}
	ev := eventOf(e, store.EventWeightsDrifted)
	if ev == nil || ev.Details["expected"] != "web-v1-a=80, web-v2-a=20 (sticky 60s)" || ev.Details["actual"] != "web-v1-a=60, web-v2-a=40 (sticky 60s)" {
		t.Fatalf("WeightsDrifted event %+v, want expected and actual", ev)
	}
	if e.listener.sets != 1 {
		t.Errorf("the drift was overwritten: %d sets", e.listener.sets)
	}

	// promote answers the drift wait: adopted, and the next step runs from it.
	e.store.mu.Lock()
	s := e.store.status["web"]
	s.TaskToken = "token-2"
	e.store.status["web"] = s
	e.store.mu.Unlock()
	next := e.next(exec, held)
	if next.Kind != rollout.ActionSetWeights || next.CanaryWeight != 50 {
		t.Fatalf("NextStep after promoting the drift = %+v, want step 2's SetWeights", next)
	}
	st = e.store.get("web")
	if st.Drift != nil || !weights.Equal(st.Weights, edited) {
		t.Fatalf("after adoption the status has drift %+v and weights %s, want the edit as its own", st.Drift, describe(st.Weights))
	}
	if ev := eventOf(e, store.EventWeightsAdopted); ev == nil || ev.Details["choice"] != "promote" {
		t.Fatalf("WeightsAdopted event %+v", ev)
	}
	if err := e.set(exec, next); err != nil {
		t.Fatalf("SetWeights after adoption: %v", err)
	}
}

func TestDriftBeforeSetWeightsIsRefused(t *testing.T) {
	e := newEnv(t, webCell(setWeight(20), setWeight(50)))
	exec := execARN("web--v2--1")
	a := e.next(exec, e.acquire(exec))
	e.listener.fwd = fwd("web-v1-a", 90, "web-v2-a", 10)
	err := e.set(exec, a)
	if lambdaName(err) != "DriftError" {
		t.Fatalf("SetWeights over a hand edit: %v, want DriftError", err)
	}
	if e.listener.sets != 0 {
		t.Errorf("the edit was overwritten")
	}
}

func TestDriftWithOnDriftRollback(t *testing.T) {
	c := webCell(setWeight(20), indefinite(), setWeight(50))
	c.Spec.UpdateStrategy.Canary.OnDrift = cell.OnDriftRollback
	e, exec, p := pausedAt20(t, c)
	e.listener.fwd = fwd("web-v1-a", 50, "web-v2-a", 50)
	a := e.next(exec, p)
	if a.Kind != rollout.ActionRollback || !strings.Contains(a.Reason, "onDrift is Rollback") {
		t.Fatalf("NextStep with onDrift Rollback = %+v", a)
	}
	if err := e.rollback(exec, steps.EndAction{Action: a}); err != nil {
		t.Fatal(err)
	}
	if got := describe(e.listener.get()); got != "web-v1-a=100 sticky=true/60s" {
		t.Errorf("listener %s, want the snapshot", got)
	}
}

func TestRollbackReroutesAroundAnUnhealthyStableGroup(t *testing.T) {
	e := newEnv(t, webCell(setWeight(50), indefinite()))
	e.disc.groups = append(e.disc.groups, group("v1", "b", 2))
	e.listener.fwd = fwd("web-v1-a", 50, "web-v1-b", 50)
	exec := execARN("web--v2--1")
	a := e.next(exec, e.acquire(exec))
	if err := e.set(exec, a); err != nil {
		t.Fatal(err)
	}
	e.disc.setHealthy("web-v1-b", 0)
	if err := e.rollback(exec, steps.EndAction{Action: rollout.Action{Kind: rollout.ActionRollback, Reason: "aborted"}}); err != nil {
		t.Fatal(err)
	}
	if got := describe(e.listener.get()); got != "web-v1-a=100 web-v1-b=0 sticky=true/60s" {
		t.Errorf("listener %s, want the snapshot's 100 on the healthy stable group", got)
	}
	ev := eventOf(e, store.EventWeightsRerouted)
	if ev == nil || !strings.Contains(ev.Message, "web-v1-b") {
		t.Fatalf("WeightsRerouted event %+v", ev)
	}
	if st := e.store.get("web"); st.Phase != rollout.PhaseRolledBack || st.Leased() {
		t.Errorf("status %s leased %t", st.Phase, st.Leased())
	}
}

func TestRollbackWithNoHealthyStableGroupDegrades(t *testing.T) {
	e := newEnv(t, webCell(setWeight(50), indefinite()))
	exec := execARN("web--v2--1")
	a := e.next(exec, e.acquire(exec))
	if err := e.set(exec, a); err != nil {
		t.Fatal(err)
	}
	e.disc.setHealthy("web-v1-a", 0)
	if err := e.rollback(exec, steps.EndAction{Action: rollout.Action{Kind: rollout.ActionRollback, Reason: "aborted"}}); err != nil {
		t.Fatal(err)
	}
	if got := describe(e.listener.get()); got != "web-v1-a=50 web-v2-a=50 sticky=true/60s" {
		t.Errorf("listener %s, want the weights kept", got)
	}
	st := e.store.get("web")
	if st.Phase != rollout.PhaseDegraded || !strings.Contains(st.Message, "web-v1-a") || st.Leased() {
		t.Errorf("status %s %q leased %t, want Degraded naming the group, released", st.Phase, st.Message, st.Leased())
	}
	if eventOf(e, store.EventDegraded) == nil {
		t.Error("no Degraded event")
	}
	if len(e.notes.sent) != 1 || e.notes.sent[0].Event != store.EventDegraded {
		t.Errorf("notifications %+v, want one Degraded", e.notes.sent)
	}
}

func TestIngressChangeRollsBackAtTheSnapshotsLocation(t *testing.T) {
	e, exec, p := pausedAt20(t, webCell(setWeight(20), indefinite(), setWeight(50)))
	if at := e.store.get("web").SnapshotAt; at == nil || at.ListenerARN != listenerARN {
		t.Fatalf("SnapshotAt %+v, want the listener", at)
	}
	moved := webCell(setWeight(20), indefinite(), setWeight(50))
	moved.Spec.Ingress.ListenerARN = strings.Replace(listenerARN, "0123456789abcdef/0123456789abcdef", "0123456789abcdef/fedcba9876543210", 1)
	e.store.putCell(moved)
	a := e.next(exec, p)
	if a.Kind != rollout.ActionRollback || !strings.Contains(a.Reason, "ingress changed") {
		t.Fatalf("NextStep after the ingress moved = %+v, want Rollback", a)
	}
	e.listener.mu.Lock()
	e.listener.reads = nil
	e.listener.mu.Unlock()
	if err := e.rollback(exec, steps.EndAction{Action: a}); err != nil {
		t.Fatal(err)
	}
	e.listener.mu.Lock()
	defer e.listener.mu.Unlock()
	if len(e.listener.reads) == 0 || slices.ContainsFunc(e.listener.reads, func(arn string) bool { return arn != listenerARN }) {
		t.Errorf("Rollback read listeners %v, want only the snapshot's %s", e.listener.reads, listenerARN)
	}
}
