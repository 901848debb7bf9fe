package onboarding_test

import (
	"reflect"
	"strings"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
)

// modifyRecord is specRecord with the previous spec as the old image.
func modifyRecord(name string, rev int64, oldSpec, spec, seq string) lambdaevents.DynamoDBEventRecord {
	rec := specRecord(name, rev, spec, seq)
	old := map[string]lambdaevents.DynamoDBAttributeValue{}
	for k, v := range rec.Change.NewImage {
		old[k] = v
	}
	old[store.AttrSpec] = lambdaevents.NewStringAttribute(oldSpec)
	old[store.AttrRevision] = lambdaevents.NewNumberAttribute(itoa(rev - 1))
	rec.Change.OldImage = old
	return rec
}

// Every valid apply is one SpecApplied event with what changed, however
// often the stream delivers its record.
func TestConfigChangeRecordsEachApplyOnceWithItsDiff(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	old := cellDoc(t, "web", testListener, "web", 1)
	changed := cellDoc(t, "web", testListener, "web", 2)
	rev := h.s.putCell("web", changed)
	for range 2 {
		resp, err := h.o.ConfigChange(bg, batch(modifyRecord("web", rev, old, changed, "400")))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("ConfigChange = %+v, %v", resp, err)
		}
	}
	evs := h.s.eventsOf("web", store.EventSpecApplied)
	want := "revision 2: replicas 1→2"
	if len(evs) != 1 || evs[0].Message != want || evs[0].Details["revision"] != "2" {
		t.Fatalf("SpecApplied events %+v, want one %q", evs, want)
	}
}

// A console edit of the ingress while a rollout runs is recorded, naming
// the rollout, and changes nothing: no status write, no AWS call.
func TestConfigChangeHoldsAnIngressEditWhileLeased(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	held := rollout.Status{Phase: rollout.PhasePaused, StableVersion: "v1", CanaryVersion: "v2", StepIndex: 1, StepCount: 3,
		ExecutionARN: stateMachine + ":web--v2--1"}
	h.s.setStatus("web", held)
	before := h.s.statusOf("web")
	old := cellDoc(t, "web", testListener, "web", 1)
	moved := strings.Replace(old, testListener, testListener[:len(testListener)-4]+"beef", 1)
	if moved == old {
		t.Fatal("the edit changed nothing")
	}
	h.w.addCluster("web-1-v2", webV2) // would get a target group if the edit were reconciled
	rev := h.s.putCell("web", moved)
	for range 2 {
		resp, err := h.o.ConfigChange(bg, batch(modifyRecord("web", rev, old, moved, "500")))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("ConfigChange = %+v, %v", resp, err)
		}
	}
	evs := h.s.eventsOf("web", store.EventSpecIngressHeld)
	if len(evs) != 1 || !strings.Contains(evs[0].Message, "rollout web--v2--1 of v2 runs (step 2 of 3)") || evs[0].Execution != held.ExecutionARN {
		t.Errorf("SpecIngressHeld events %+v, want one naming rollout web--v2--1 at step 2 of 3", evs)
	}
	if applied := h.s.eventsOf("web", store.EventSpecApplied); len(applied) != 1 || !strings.Contains(applied[0].Message, "ingress.listenerARN") {
		t.Errorf("SpecApplied events %+v, want one naming ingress.listenerARN", applied)
	}
	if after := h.s.statusOf("web"); !reflect.DeepEqual(after, before) {
		t.Errorf("status changed:\n got %+v\nwant %+v", after, before)
	}
	if m := h.w.Mutations(); len(m) != 0 {
		t.Errorf("mutations %v for a held ingress edit", m)
	}
	if _, ok := h.w.groupFor("web", "web-1-v2"); ok {
		t.Error("a held ingress edit was reconciled: web-1-v2 got a target group")
	}
}
