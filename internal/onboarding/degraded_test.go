package onboarding_test

import (
	"strings"
	"testing"

	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
)

// TestDegradedIsClearedOnceTheGroupsCarryTraffic: a Degraded Cell whose
// listener routes to a group below minHealthyTargets stays Degraded (and
// nothing is written to the listener); once that group is healthy again
// and the listener needs no change (a Noop), the next reconcile takes the
// Cell back to Stable and records DegradedCleared, once.
func TestDegradedIsClearedOnceTheGroupsCarryTraffic(t *testing.T) {
	h := newHarness(t)
	arn := stableWeb(t, h, 1)
	h.w.tgs[arn] = withHealthy(h.w.tgs[arn], 0)
	h.s.setStatus("web", rollout.Status{Phase: rollout.PhaseDegraded, StableVersion: "v1", Message: "cannot restore the snapshot"})

	if _, err := h.o.Reconcile(bg, scheduleEvent(t)); err != nil {
		t.Fatal(err)
	}
	st := h.s.statusOf("web").Status
	if st.Phase != rollout.PhaseDegraded || !strings.Contains(st.Message, "the Cell is Degraded") {
		t.Errorf("with v1 unhealthy: status %s %q, want Degraded saying why", st.Phase, st.Message)
	}
	if n := len(h.s.eventsOf("web", store.EventDegradedCleared)); n != 0 {
		t.Errorf("%d DegradedCleared events while v1 is unhealthy", n)
	}

	h.w.tgs[arn] = withHealthy(h.w.tgs[arn], 1)
	before := len(h.w.Mutations())
	for range 2 {
		if _, err := h.o.Reconcile(bg, scheduleEvent(t)); err != nil {
			t.Fatal(err)
		}
	}
	st = h.s.statusOf("web").Status
	if st.Phase != rollout.PhaseStable || st.StableVersion != "v1" || !strings.HasPrefix(st.Message, "steady: v1 serves 100%") {
		t.Errorf("with v1 healthy: status %s %q, want Stable and steady", st.Phase, st.Message)
	}
	evs := h.s.eventsOf("web", store.EventDegradedCleared)
	if len(evs) != 1 || !strings.Contains(evs[0].Message, "no longer Degraded") || evs[0].Weights == nil {
		t.Errorf("DegradedCleared events %+v, want one with the weights", evs)
	}
	for _, m := range h.w.Mutations()[before:] {
		if strings.HasPrefix(m, "SetWeights") {
			t.Errorf("leaving Degraded wrote the listener: %s", m)
		}
	}
}
