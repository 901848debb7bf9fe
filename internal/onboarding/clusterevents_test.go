package onboarding_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/onboarding"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/targetgroups"
	"github.com/okrahq/okra/internal/weights"
)

var (
	webV1 = map[string]string{"role": "web", "version": "v1"}
	webV2 = map[string]string{"role": "web", "version": "v2"}
)

// stableWeb sets up Cell web (replicas 1) served by v1 cluster web-1-v1
// through testListener at 100%.
func stableWeb(t *testing.T, h *harness, replicas int) string {
	t.Helper()
	h.s.putCell("web", cellDoc(t, "web", testListener, "web", replicas))
	h.w.addCluster("web-1-v1", webV1)
	arn := h.w.addTargetGroup("web", "web-1-v1", webV1, 1)
	h.w.forwards[testListener] = weights.Forward{TargetGroups: []weights.TargetGroupWeight{{ARN: arn, Weight: 100}}}
	h.s.clusters["web-1-v1"] = store.ClusterRecord{Cluster: h.w.clusters["web-1-v1"], TargetGroups: map[string]string{"web": arn}}
	h.w.secrets["web-1-v1"] = map[string]string{"web": arn}
	h.w.labels["web-1-v1"] = maps.Clone(webV1)
	return arn
}

func TestIgnoredAndMalformedEventsAreAcknowledged(t *testing.T) {
	noName := fixture(t, "eks-create-cluster.json")
	delete(path(noName, "detail", "requestParameters"), "name")
	delete(path(noName, "detail"), "responseElements")
	tests := []struct {
		name string
		raw  json.RawMessage
	}{
		{"failed CreateCluster call", encode(t, fixture(t, "eks-create-cluster-failed-call.json"))},
		{"node group tagged", encode(t, fixture(t, "eks-tag-resource-nodegroup.json"))},
		{"CreateNodegroup", encode(t, fixture(t, "eks-create-nodegroup.json"))},
		{"UpdateClusterConfig", encode(t, fixture(t, "eks-update-cluster-config.json"))},
		{"schedule sent to the wrong function", encode(t, fixture(t, "schedule.json"))},
		{"not JSON", json.RawMessage(`{"source": "aws.eks", `)},
		{"no detail-type", json.RawMessage(`{"source": "aws.eks", "detail": {}}`)},
		{"no cluster name anywhere", encode(t, noName)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.s.putCell("web", cellDoc(t, "web", testListener, "web", 1))
			h.w.addCluster("web-1-v2", webV2)
			if err := h.o.ClusterEvents(bg, tt.raw); err != nil {
				t.Fatalf("ClusterEvents = %v, want nil (acknowledged)", err)
			}
			if m := h.w.Mutations(); len(m) != 0 {
				t.Errorf("mutations %v, want none", m)
			}
			if w := h.s.Writes(); len(w) != 0 {
				t.Errorf("store writes %v, want none", w)
			}
			if n := h.w.describeCalls["web-1-v2"]; n != 0 {
				t.Errorf("described the cluster %d times for an event okra does not act on", n)
			}
		})
	}
}

func TestCreatedWaitsUntilActive(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	h.w.addCluster("web-1-v2", webV2)
	h.w.describeScript["web-1-v2"] = []string{"CREATING", "CREATING", "ACTIVE"}

	if err := h.o.ClusterEvents(bg, createEvent(t, "web-1-v2", webV2)); err != nil {
		t.Fatalf("ClusterEvents: %v", err)
	}
	if got, want := h.clock.sleeps, []time.Duration{5 * time.Second, 10 * time.Second}; !reflect.DeepEqual(got, want) {
		t.Errorf("slept %v, want %v (backing off)", got, want)
	}
	tg, ok := h.w.groupFor("web", "web-1-v2")
	if !ok {
		t.Fatal("no target group for web-1-v2 once it is ACTIVE")
	}
	if tg.Tags["version"] != "v2" || tg.Tags[inventory.TagManaged] != "true" || tg.Tags[inventory.TagCell] != "web" {
		t.Errorf("target group tags %v", tg.Tags)
	}
	if s, ok := h.w.secret("web-1-v2"); !ok || s["web"] != tg.ARN {
		t.Errorf("ArgoCD secret target groups %v (registered %v), want web=%s", s, ok, tg.ARN)
	}
	rec, ok := h.s.cluster("web-1-v2")
	if !ok || rec.TargetGroups["web"] != tg.ARN || rec.Cluster.Status != "ACTIVE" {
		t.Errorf("registry entry %+v (found %v)", rec, ok)
	}
	// v2 has its one replica, healthy: the rollout starts.
	if got := h.w.executionNames(); !reflect.DeepEqual(got, []string{"web--v2--1"}) {
		t.Errorf("executions %v, want [web--v2--1]", got)
	}
	if starts := h.w.starts; len(starts) != 1 || starts[0].FromVersion != "v1" || starts[0].Trigger != onboarding.TriggerClusterEvents {
		t.Errorf("execution input %+v", starts)
	}
	if evs := h.s.eventsOf("web", store.EventRolloutTriggered); len(evs) != 1 || evs[0].Version != "v2" {
		t.Errorf("RolloutStarted events %+v", evs)
	}
}

func TestCreatedGivesUp(t *testing.T) {
	tests := []struct {
		name       string
		script     []string
		timeout    time.Duration
		wantStatus string
		timedOut   bool
		wantSlept  time.Duration
		wantPolls  int
	}{
		{name: "FAILED", script: []string{"CREATING", "FAILED"}, timeout: 10 * time.Minute, wantStatus: "FAILED", wantSlept: 5 * time.Second, wantPolls: 2},
		{name: "DELETING", script: []string{"DELETING"}, timeout: 10 * time.Minute, wantStatus: "DELETING", wantPolls: 1},
		// 5+10+20+30+30 = 95s, then the last 25s to the bound.
		{name: "timeout", script: []string{"CREATING"}, timeout: 2 * time.Minute, wantStatus: "CREATING", timedOut: true, wantSlept: 2 * time.Minute, wantPolls: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(d *onboarding.Deps) { d.ActiveTimeout = tt.timeout })
			stableWeb(t, h, 1)
			h.w.addCluster("web-1-v2", webV2)
			h.w.describeScript["web-1-v2"] = tt.script

			err := h.o.ClusterEvents(bg, createEvent(t, "web-1-v2", webV2))
			na, ok := err.(*onboarding.ClusterNotActiveError) // the Lambda runtime reports the top-level type
			if !ok {
				t.Fatalf("ClusterEvents = %T %v, want *onboarding.ClusterNotActiveError", err, err)
			}
			if na.Status != tt.wantStatus || na.TimedOut != tt.timedOut || na.Cluster != "web-1-v2" {
				t.Errorf("error %+v", na)
			}
			if got := h.clock.slept(); got != tt.wantSlept {
				t.Errorf("slept %s, want %s", got, tt.wantSlept)
			}
			if got := h.w.describeCalls["web-1-v2"]; got != tt.wantPolls {
				t.Errorf("polled %d times, want %d", got, tt.wantPolls)
			}
			if m := h.w.Mutations(); len(m) != 0 {
				t.Errorf("mutations %v for a cluster that is not ACTIVE", m)
			}
		})
	}
}

func TestCreatedWaitStopsBeforeTheInvocationDeadline(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	h.w.addCluster("web-1-v2", webV2)
	h.w.describeScript["web-1-v2"] = []string{"CREATING"}
	ctx, cancel := contextWithTimeout(90 * time.Second) // Lambda deadline: 90s away, wait bound 10m
	defer cancel()
	err := h.o.ClusterEvents(ctx, createEvent(t, "web-1-v2", webV2))
	var na *onboarding.ClusterNotActiveError
	if !errors.As(err, &na) || !na.TimedOut {
		t.Fatalf("ClusterEvents = %v, want a timed-out *ClusterNotActiveError", err)
	}
	// A minute is kept for the work after the wait.
	if na.Waited > 30*time.Second || na.Waited < 25*time.Second {
		t.Errorf("waited %s, want about 30s (90s deadline minus the 1m margin)", na.Waited)
	}
}

func TestCreatedClusterAlreadyGone(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	if err := h.o.ClusterEvents(bg, createEvent(t, "web-1-v2", webV2)); err != nil {
		t.Fatalf("ClusterEvents = %v, want nil: a cluster deleted before it was ACTIVE needs nothing", err)
	}
	if m := h.w.Mutations(); len(m) != 0 {
		t.Errorf("mutations %v", m)
	}
}

func TestCreatedOnboardsIntoMatchingCellsOnly(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 2)
	h.s.putCell("api", cellDoc(t, "api", testListener2, "api", 1))
	// Invalid (replicas 3 is above the limit) but selecting the cluster:
	// skipped, never given a target group.
	h.s.putCell("broken", cellDoc(t, "broken", testListener2, "web", 3))
	h.w.addCluster("web-1-v2", webV2)

	if err := h.o.ClusterEvents(bg, createEvent(t, "web-1-v2", webV2)); err != nil {
		t.Fatalf("ClusterEvents: %v", err)
	}
	groups := h.w.groupsOf("web-1-v2")
	if len(groups) != 1 || groups[0].Tags[inventory.TagCell] != "web" {
		t.Fatalf("target groups of web-1-v2: %+v, want exactly one, in Cell web", groups)
	}
	if s, _ := h.w.secret("web-1-v2"); !reflect.DeepEqual(s, map[string]string{"web": groups[0].ARN}) {
		t.Errorf("ArgoCD target groups %v", s)
	}
	// replicas 2: one v2 cluster is not enough.
	if got := h.w.executionNames(); len(got) != 0 {
		t.Errorf("executions %v, want none with 1 of 2 v2 clusters", got)
	}
	st := h.s.statusOf("web").Status
	if !strings.Contains(st.Message, "v2 has 1 of 2 target groups") {
		t.Errorf("status message %q does not say why nothing happens", st.Message)
	}
	if _, ok := h.s.status["api"]; ok {
		t.Errorf("Cell api was evaluated though the cluster is not in it")
	}
}

func TestDuplicateCreatedEventsOnboardOnce(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	h.w.addCluster("web-1-v2", webV2)
	raw := createEvent(t, "web-1-v2", webV2)
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.o.ClusterEvents(bg, raw)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	if n := len(h.w.groupsOf("web-1-v2")); n != 1 {
		t.Errorf("%d target groups, want 1", n)
	}
	if n := len(h.w.secrets); n != 2 { // web-1-v1 and web-1-v2
		t.Errorf("%d ArgoCD secrets, want 2", n)
	}
	if got := h.w.executionNames(); len(got) != 1 {
		t.Errorf("executions %v, want one", got)
	}
	if evs := h.s.eventsOf("web", store.EventRolloutTriggered); len(evs) != 1 {
		t.Errorf("%d RolloutStarted events, want 1", len(evs))
	}
}

func TestTagsChangedMovesTheClusterBetweenCells(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 2) // replicas 2, so no rollout starts here
	h.s.putCell("api", cellDoc(t, "api", testListener2, "api", 2))
	h.w.addCluster("edge-1", map[string]string{"role": "web", "version": "v2"})
	if err := h.o.ClusterEvents(bg, createEvent(t, "edge-1", map[string]string{"role": "web", "version": "v2"})); err != nil {
		t.Fatal(err)
	}
	webTG, ok := h.w.groupFor("web", "edge-1")
	if !ok {
		t.Fatal("no web target group")
	}

	// Retag: the cluster moves to Cell api.
	h.w.setTags("edge-1", map[string]string{"role": "api", "version": "v2"})
	if err := h.o.ClusterEvents(bg, tagEvent(t, "edge-1", map[string]string{"role": "api"})); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	apiTG, ok := h.w.groupFor("api", "edge-1")
	if !ok {
		t.Fatal("no api target group after the cluster joined Cell api")
	}
	if _, still := h.w.tgs[webTG.ARN]; !still {
		t.Error("the web target group was deleted while its cluster exists; deletion must wait for the safe path")
	}
	rec, _ := h.s.cluster("edge-1")
	if want := map[string]string{"api": apiTG.ARN}; !reflect.DeepEqual(rec.TargetGroups, want) {
		t.Errorf("registry target groups %v, want %v", rec.TargetGroups, want)
	}
	if s, _ := h.w.secret("edge-1"); !reflect.DeepEqual(s, map[string]string{"api": apiTG.ARN}) {
		t.Errorf("ArgoCD annotations %v", s)
	}
	if got := h.w.labels["edge-1"]["role"]; got != "api" {
		t.Errorf("ArgoCD label role = %q, want api", got)
	}
	// The web Cell no longer counts the group of a cluster that left it.
	if msg := h.s.statusOf("web").Status.Message; !strings.Contains(msg, "no longer matches the Cell") || strings.Contains(msg, "v2 has 1 of 2") {
		t.Errorf("web status %q: edge-1 left the Cell and must not be counted", msg)
	}

	// Untag: the cluster leaves every Cell but stays registered.
	h.w.setTags("edge-1", map[string]string{"version": "v2"})
	if err := h.o.ClusterEvents(bg, untagEvent(t, "edge-1", "role")); err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	rec, ok = h.s.cluster("edge-1")
	if !ok || len(rec.TargetGroups) != 0 {
		t.Errorf("registry entry %+v (found %v), want kept with no target groups", rec, ok)
	}
	if s, ok := h.w.secret("edge-1"); !ok || len(s) != 0 {
		t.Errorf("ArgoCD secret %v (found %v), want kept without target groups", s, ok)
	}
	if n := len(h.w.groupsOf("edge-1")); n != 2 {
		t.Errorf("%d target groups left, want both kept while the cluster exists", n)
	}
	for _, m := range h.w.Mutations() {
		if strings.HasPrefix(m, "Delete") {
			t.Errorf("mutation %q while the cluster exists", m)
		}
	}
}

func TestTagsChangedOnAClusterNotActive(t *testing.T) {
	tests := []struct {
		name      string
		tags      map[string]string
		script    []string
		onboarded bool
		slept     time.Duration
	}{
		{name: "tagged into a Cell while CREATING: waits, then onboards", tags: webV2, script: []string{"CREATING", "CREATING", "ACTIVE"}, onboarded: true, slept: 5 * time.Second},
		{name: "CREATING, no Cell selects it", tags: map[string]string{"role": "batch", "version": "v2"}, script: []string{"CREATING"}},
		{name: "UPDATING: left to the reconcile", tags: webV2, script: []string{"UPDATING"}},
		{name: "DELETING", tags: webV2, script: []string{"DELETING"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			stableWeb(t, h, 1)
			h.w.addCluster("web-1-v2", tt.tags)
			h.w.describeScript["web-1-v2"] = tt.script
			if err := h.o.ClusterEvents(bg, tagEvent(t, "web-1-v2", tt.tags)); err != nil {
				t.Fatalf("ClusterEvents: %v", err)
			}
			if _, ok := h.w.groupFor("web", "web-1-v2"); ok != tt.onboarded {
				t.Errorf("onboarded = %v, want %v (mutations %v)", ok, tt.onboarded, h.w.Mutations())
			}
			if got := h.clock.slept(); got != tt.slept {
				t.Errorf("waited %s, want %s", got, tt.slept)
			}
		})
	}
}

func TestCreatedClusterNoCellSelectsIsNotAwaited(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	tags := map[string]string{"role": "argocd"}
	h.w.addCluster("control-plane", tags)
	h.w.describeScript["control-plane"] = []string{"CREATING"}
	if err := h.o.ClusterEvents(bg, createEvent(t, "control-plane", tags)); err != nil {
		t.Fatalf("ClusterEvents: %v", err)
	}
	if n := h.w.describeCalls["control-plane"]; n != 0 || h.clock.slept() != 0 {
		t.Errorf("described %d times and waited %s for a cluster no Cell selects", n, h.clock.slept())
	}
	if _, ok := h.s.cluster("control-plane"); ok {
		t.Error("registered a cluster no Cell selects")
	}
	if _, ok := h.w.secret("control-plane"); ok {
		t.Error("registered a cluster no Cell selects in ArgoCD")
	}
}

func TestDeletedClusterIsCleanedUpOnceSafe(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	h.w.addCluster("web-1-v2", webV2)
	if err := h.o.ClusterEvents(bg, createEvent(t, "web-1-v2", webV2)); err != nil {
		t.Fatal(err)
	}
	tg, _ := h.w.groupFor("web", "web-1-v2")

	// Deleted while a listener still routes to its group.
	h.w.removeCluster("web-1-v2")
	h.w.deleteRefusal[tg.ARN] = targetgroups.RefusedStillRouted
	if err := h.o.ClusterEvents(bg, deleteEvent(t, "web-1-v2")); err != nil {
		t.Fatalf("DeleteCluster: %v", err)
	}
	if _, ok := h.w.tgs[tg.ARN]; !ok {
		t.Fatal("target group deleted although it is still routed")
	}
	rec, ok := h.s.cluster("web-1-v2")
	if !ok || rec.Cluster.Status != "DELETING" || rec.TargetGroups["web"] != tg.ARN {
		t.Errorf("registry entry %+v (found %v), want kept, flagged DELETING, with its group", rec, ok)
	}
	if _, ok := h.w.secret("web-1-v2"); !ok {
		t.Error("ArgoCD secret deleted while the cluster's group is still routed")
	}

	// The rollout moves traffic off; the reconcile finishes the job.
	delete(h.w.deleteRefusal, tg.ARN)
	if _, err := h.o.Reconcile(bg, scheduleEvent(t)); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	if _, ok := h.w.tgs[tg.ARN]; ok {
		t.Error("target group not deleted once safe")
	}
	if _, ok := h.s.cluster("web-1-v2"); ok {
		t.Error("registry entry kept after clean-up")
	}
	if _, ok := h.w.secret("web-1-v2"); ok {
		t.Error("ArgoCD secret kept after clean-up")
	}

	// Nothing left to do: the next reconcile changes nothing.
	before, writes := len(h.w.Mutations()), len(h.s.Writes())
	if _, err := h.o.Reconcile(bg, scheduleEvent(t)); err != nil {
		t.Fatalf("second Reconcile: %v", err)
	}
	if m := h.w.Mutations()[before:]; len(m) != 0 {
		t.Errorf("second reconcile mutated %v", m)
	}
	if w := h.s.Writes()[writes:]; len(w) != 0 {
		t.Errorf("second reconcile wrote %v", w)
	}
}

func TestDeleteEventForAClusterThatExistsAgain(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	if err := h.o.ClusterEvents(bg, deleteEvent(t, "web-1-v1")); err != nil {
		t.Fatal(err)
	}
	if m := h.w.Mutations(); len(m) != 0 {
		t.Errorf("mutations %v for the stale DeleteCluster of an ACTIVE cluster", m)
	}
	if _, ok := h.s.cluster("web-1-v1"); !ok {
		t.Error("registry entry of an ACTIVE cluster removed")
	}
}

func throttled() error {
	return &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
}

func TestTransientFailuresFailTheInvocationTyped(t *testing.T) {
	t.Run("target group", func(t *testing.T) {
		h := newHarness(t)
		stableWeb(t, h, 1)
		h.s.putCell("web2", cellDoc(t, "web2", testListener2, "web", 1))
		h.w.addCluster("web-1-v2", webV2)
		h.w.ensureErr["web/web-1-v2"] = fmt.Errorf("creating target group, %w", throttled())
		err := h.o.ClusterEvents(bg, createEvent(t, "web-1-v2", webV2))
		te, ok := err.(*onboarding.TransientError)
		if !ok {
			t.Fatalf("ClusterEvents = %T %v, want *onboarding.TransientError", err, err)
		}
		var api smithy.APIError
		if !errors.As(te, &api) || api.ErrorCode() != "ThrottlingException" {
			t.Errorf("the cause is lost: %v", te)
		}
		// The other Cell was still served.
		if _, ok := h.w.groupFor("web2", "web-1-v2"); !ok {
			t.Error("Cell web2 was skipped because Cell web failed")
		}
		// The retry finishes the job.
		delete(h.w.ensureErr, "web/web-1-v2")
		if err := h.o.ClusterEvents(bg, createEvent(t, "web-1-v2", webV2)); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if rec, _ := h.s.cluster("web-1-v2"); len(rec.TargetGroups) != 2 {
			t.Errorf("registry after retry %v", rec.TargetGroups)
		}
	})
	t.Run("describe", func(t *testing.T) {
		h := newHarness(t)
		stableWeb(t, h, 1)
		h.w.describeErr = throttled()
		err := h.o.ClusterEvents(bg, tagEvent(t, "web-1-v1", webV1))
		if _, ok := err.(*onboarding.TransientError); !ok {
			t.Fatalf("ClusterEvents = %T %v, want *onboarding.TransientError", err, err)
		}
	})
	t.Run("missing version tag is permanent", func(t *testing.T) {
		h := newHarness(t)
		stableWeb(t, h, 1)
		h.w.addCluster("web-x", map[string]string{"role": "web"})
		if err := h.o.ClusterEvents(bg, createEvent(t, "web-x", map[string]string{"role": "web"})); err != nil {
			t.Fatalf("ClusterEvents = %v, want nil: retrying cannot add the tag", err)
		}
		if n := len(h.w.groupsOf("web-x")); n != 0 {
			t.Errorf("%d target groups for a cluster without a version tag", n)
		}
	})
}

func TestStartRolloutAttempts(t *testing.T) {
	t.Run("after a rollout that succeeded without sticking", func(t *testing.T) {
		h := newHarness(t)
		stableWeb(t, h, 1)
		h.w.execs["web--v2--1"] = "SUCCEEDED" // e.g. superseded, or rolled back by a pin since
		h.w.addCluster("web-1-v2", webV2)
		if err := h.o.ClusterEvents(bg, createEvent(t, "web-1-v2", webV2)); err != nil {
			t.Fatal(err)
		}
		if h.w.execs["web--v2--2"] != "RUNNING" {
			t.Errorf("executions %v, want attempt 2 started", h.w.execs)
		}
	})
	t.Run("after a failed rollout", func(t *testing.T) {
		h := newHarness(t)
		stableWeb(t, h, 1)
		h.w.execs["web--v2--1"] = "FAILED"
		h.w.addCluster("web-1-v2", webV2)
		if err := h.o.ClusterEvents(bg, createEvent(t, "web-1-v2", webV2)); err != nil {
			t.Fatal(err)
		}
		if len(h.w.starts) != 0 {
			t.Errorf("started %+v after a failed rollout", h.w.starts)
		}
		if msg := h.s.statusOf("web").Status.Message; !strings.Contains(msg, "okra rollout retry web") || !strings.Contains(msg, "FAILED") {
			t.Errorf("status message %q does not explain", msg)
		}
	})
}

func TestFirstDeploymentCreatesTheRuleAndSwaps(t *testing.T) {
	h := newHarness(t)
	h.s.putCell("web", cellDoc(t, "web", testListener, "web", 1, withRule(10, "/web/*")))
	h.w.addCluster("web-1-v1", webV1)
	h.w.healthyOnCreate = 0 // no app yet
	if err := h.o.ClusterEvents(bg, createEvent(t, "web-1-v1", webV1)); err != nil {
		t.Fatal(err)
	}
	key := testListener + "#10"
	if h.w.rules[key] {
		t.Fatal("rule created before any version was ready")
	}
	if msg := h.s.statusOf("web").Status.Message; !strings.Contains(msg, "no forward action yet") {
		t.Errorf("status message %q", msg)
	}

	// The app is up: the reconcile swaps v1 in at 100%.
	tg, _ := h.w.groupFor("web", "web-1-v1")
	h.w.tgs[tg.ARN] = withHealthy(tg, 2)
	report, err := h.o.Reconcile(bg, scheduleEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	if d := report.Decisions["web"]; d.Kind != rollout.DecisionSwap || d.To != "v1" {
		t.Errorf("decision %+v, want Swap to v1", d)
	}
	if !h.w.rules[key] {
		t.Fatal("rule not created")
	}
	if fwd := h.w.forwards[key]; len(fwd.Routed()) != 1 || fwd.Routed()[0] != tg.ARN {
		t.Errorf("rule forwards %+v", fwd)
	}
	st := h.s.statusOf("web").Status
	if st.Phase != rollout.PhaseStable || st.StableVersion != "v1" || len(st.Weights.TargetGroups) != 1 {
		t.Errorf("status %+v", st)
	}
	if evs := h.s.eventsOf("web", store.EventWeightsSet); len(evs) != 1 || evs[0].Weights == nil {
		t.Errorf("WeightsSet events %+v", evs)
	}

	before, writes := len(h.w.Mutations()), len(h.s.Writes())
	if _, err := h.o.Reconcile(bg, scheduleEvent(t)); err != nil {
		t.Fatal(err)
	}
	if m := h.w.Mutations()[before:]; len(m) != 0 {
		t.Errorf("second reconcile mutated %v", m)
	}
	if w := h.s.Writes()[writes:]; len(w) != 0 {
		t.Errorf("second reconcile wrote %v", w)
	}
}

func withHealthy(tg inventory.TargetGroup, n int) inventory.TargetGroup {
	tg.HealthyTargets = n
	return tg
}

func TestPinnedRollbackSwapsAtOnce(t *testing.T) {
	h := newHarness(t)
	h.s.putCell("web", cellDoc(t, "web", testListener, "web", 1, func(s map[string]any) { s["version"] = "v1" }))
	h.w.addCluster("web-1-v1", webV1)
	h.w.addCluster("web-1-v2", webV2)
	v1 := h.w.addTargetGroup("web", "web-1-v1", webV1, 1)
	v2 := h.w.addTargetGroup("web", "web-1-v2", webV2, 1)
	h.w.forwards[testListener] = weights.Forward{TargetGroups: []weights.TargetGroupWeight{{ARN: v1, Weight: 0}, {ARN: v2, Weight: 100}}}
	h.s.setStatus("web", rollout.Status{Phase: rollout.PhaseStable, StableVersion: "v2"})
	report, err := h.o.Reconcile(bg, scheduleEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	if d := report.Decisions["web"]; d.Kind != rollout.DecisionSwap || d.To != "v1" {
		t.Fatalf("decision %+v, want a Swap back to v1", d)
	}
	if fwd := h.w.forwards[testListener]; len(fwd.Routed()) != 1 || fwd.Routed()[0] != v1 {
		t.Errorf("listener forwards %+v, want v1 only", fwd)
	}
	if st := h.s.statusOf("web").Status; st.StableVersion != "v1" || st.Phase != rollout.PhaseStable {
		t.Errorf("status %+v", st)
	}
}

func TestNothingIsSetWhileARolloutHoldsTheLease(t *testing.T) {
	h := newHarness(t)
	h.s.putCell("web", cellDoc(t, "web", testListener, "web", 1, withRule(10, "/web/*")))
	h.w.addCluster("web-1-v1", webV1)
	h.w.addTargetGroup("web", "web-1-v1", webV1, 1)
	held := rollout.Status{Phase: rollout.PhaseProgressing, ExecutionARN: stateMachine + ":web--v1--1", Message: "step 1"}
	h.s.setStatus("web", held)
	if _, err := h.o.Reconcile(bg, scheduleEvent(t)); err != nil {
		t.Fatal(err)
	}
	for _, m := range h.w.Mutations() {
		if strings.HasPrefix(m, "CreateRule") || strings.HasPrefix(m, "SetWeights") || strings.HasPrefix(m, "StartExecution") {
			t.Errorf("mutation %q while leased", m)
		}
	}
	if st := h.s.statusOf("web").Status; st.Message != "step 1" {
		t.Errorf("status message overwritten while leased: %q", st.Message)
	}
}

func TestNoopMessageIsWrittenOnce(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	if _, err := h.o.Reconcile(bg, scheduleEvent(t)); err != nil {
		t.Fatal(err)
	}
	st := h.s.statusOf("web")
	if !strings.HasPrefix(st.Status.Message, "steady: v1 serves 100%") || st.Revision != 1 {
		t.Fatalf("status %+v", st)
	}
	if _, err := h.o.Reconcile(bg, scheduleEvent(t)); err != nil {
		t.Fatal(err)
	}
	if got := h.s.statusOf("web").Revision; got != 1 {
		t.Errorf("status rewritten (revision %d) though nothing changed", got)
	}
}

func TestReconcileIgnoresOtherEvents(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	report, err := h.o.Reconcile(bg, createEvent(t, "web-1-v1", webV1))
	if err != nil || report.Cells != 0 {
		t.Fatalf("Reconcile(CreateCluster event) = %+v, %v; want an acknowledged no-op", report, err)
	}
	if len(h.s.Writes()) != 0 || len(h.w.Mutations()) != 0 {
		t.Error("reconciled on a foreign event")
	}
	// A manual invoke with an empty payload reconciles.
	report, err = h.o.Reconcile(bg, json.RawMessage(`{}`))
	if err != nil || report.Cells != 1 || report.Clusters != 1 {
		t.Fatalf("Reconcile({}) = %+v, %v", report, err)
	}
}

func TestReconcileRecordsInvalidCellsOnce(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	h.s.putCell("bad", cellDoc(t, "bad", "not-an-arn", "bad", 9))
	report, err := h.o.Reconcile(bg, scheduleEvent(t))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(report.InvalidCells, []string{"bad"}) {
		t.Errorf("invalid Cells %v", report.InvalidCells)
	}
	st := h.s.statusOf("bad")
	if st.Status.Phase != rollout.PhaseInvalid || !contains(st.Status.ValidationErrors, "spec.replicas") || !contains(st.Status.ValidationErrors, "spec.ingress.listenerARN") {
		t.Errorf("status %+v", st.Status)
	}
	if _, err := h.o.Reconcile(bg, scheduleEvent(t)); err != nil {
		t.Fatal(err)
	}
	if got := h.s.statusOf("bad").Revision; got != st.Revision {
		t.Errorf("Invalid status rewritten (revision %d -> %d)", st.Revision, got)
	}
	if n := len(h.s.eventsOf("bad", store.EventSpecInvalid)); n != 1 {
		t.Errorf("%d SpecInvalid events, want 1", n)
	}
}

func TestNewClusterOfTheStableVersionIsResplitIn(t *testing.T) {
	h := newHarness(t)
	old := stableWeb(t, h, 2)
	h.w.addCluster("web-2-v1", webV1)
	if err := h.o.ClusterEvents(bg, createEvent(t, "web-2-v1", webV1)); err != nil {
		t.Fatal(err)
	}
	added, _ := h.w.groupFor("web", "web-2-v1")
	want, err := weights.Split([]string{old, added.ARN}, nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.w.forwards[testListener]; !weights.Equal(got, want) {
		t.Errorf("listener forwards %+v, want %+v (v1 over both clusters)", got, want)
	}
	evs := h.s.eventsOf("web", store.EventWeightsSet)
	if len(evs) != 1 || evs[0].Details["decision"] != string(rollout.DecisionResplit) {
		t.Errorf("WeightsSet events %+v", evs)
	}
	if len(h.w.starts) != 0 {
		t.Errorf("a new cluster of the stable version started a rollout: %+v", h.w.starts)
	}
}

func TestListenerThatDoesNotForwardIsExplained(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	h.w.notForward[testListener] = true
	report, err := h.o.Reconcile(bg, scheduleEvent(t))
	if err != nil {
		t.Fatalf("Reconcile = %v, want nil: retrying cannot change the listener", err)
	}
	if !contains(report.Problems, "fixed-response") {
		t.Errorf("problems %v do not report the listener", report.Problems)
	}
	if msg := h.s.statusOf("web").Status.Message; !strings.Contains(msg, "fixed-response") {
		t.Errorf("status message %q", msg)
	}
}
