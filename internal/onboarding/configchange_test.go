package onboarding_test

import (
	"reflect"
	"strings"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
)

func batch(records ...lambdaevents.DynamoDBEventRecord) lambdaevents.DynamoDBEvent {
	return lambdaevents.DynamoDBEvent{Records: records}
}

func failedSequences(resp lambdaevents.DynamoDBEventResponse) []string {
	var out []string
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

func TestConfigChangeInvalidSpecIsRecordedAndChangesNothing(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	h.w.addCluster("web-1-v2", webV2) // would start a rollout if the spec were applied
	bad := cellDoc(t, "web", "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/1/2/3", "web", 7)
	rev := h.s.putCell("web", bad)

	for range 2 { // a redelivered record changes nothing more
		resp, err := h.o.ConfigChange(bg, batch(specRecord("web", rev, bad, "100")))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("ConfigChange = %+v, %v; want the record acknowledged", resp, err)
		}
	}
	st := h.s.statusOf("web")
	if st.Status.Phase != rollout.PhaseInvalid {
		t.Fatalf("phase %q, want Invalid", st.Status.Phase)
	}
	for _, field := range []string{"spec.replicas", "spec.ingress.listenerARN"} {
		if !contains(st.Status.ValidationErrors, field) {
			t.Errorf("validation errors %q do not name %s", st.Status.ValidationErrors, field)
		}
	}
	if st.Revision != 1 {
		t.Errorf("status written %d times, want once", st.Revision)
	}
	if evs := h.s.eventsOf("web", store.EventSpecInvalid); len(evs) != 1 || !strings.Contains(evs[0].Details["problems"], "spec.replicas") {
		t.Errorf("SpecInvalid events %+v", evs)
	}
	if m := h.w.Mutations(); len(m) != 0 {
		t.Errorf("mutations %v for an invalid spec", m)
	}
	if len(h.w.describeCalls) != 0 {
		t.Errorf("looked at clusters for an invalid spec: %v", h.w.describeCalls)
	}
	if _, ok := h.s.cluster("web-1-v2"); ok {
		t.Error("registered a cluster for an invalid spec")
	}
}

func TestConfigChangeInvalidSpecWhileLeased(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	held := rollout.Status{Phase: rollout.PhasePaused, StableVersion: "v1", CanaryVersion: "v2", StepIndex: 1,
		ExecutionARN: stateMachine + ":web--v2--1", Message: "paused at step 2"}
	h.s.setStatus("web", held)
	before := h.s.statusOf("web")
	bad := cellDoc(t, "web", testListener, "web", 0)
	rev := h.s.putCell("web", bad)

	for range 2 {
		resp, err := h.o.ConfigChange(bg, batch(specRecord("web", rev, bad, "200")))
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("ConfigChange = %+v, %v", resp, err)
		}
	}
	if after := h.s.statusOf("web"); !reflect.DeepEqual(after, before) {
		t.Errorf("status changed while a rollout holds the lease:\n got %+v\nwant %+v", after, before)
	}
	evs := h.s.eventsOf("web", store.EventSpecInvalid)
	if len(evs) != 1 || evs[0].Details["revision"] != itoa(rev) {
		t.Errorf("SpecInvalid events %+v, want one for revision %d", evs, rev)
	}
	if m := h.w.Mutations(); len(m) != 0 {
		t.Errorf("mutations %v", m)
	}
}

func TestConfigChangeValidSpecReconcilesTheCell(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 2)
	h.s.setStatus("web", rollout.Status{Phase: rollout.PhaseInvalid, StableVersion: "v1", ValidationErrors: []string{"spec.replicas: bad"}, Message: "spec revision 1 is invalid"})
	h.w.addCluster("web-1-v2", webV2)
	h.w.addCluster("web-2-v2", webV2)
	h.w.addCluster("api-1-v1", map[string]string{"role": "api", "version": "v1"})
	good := cellDoc(t, "web", testListener, "web", 2)
	rev := h.s.putCell("web", good)

	resp, err := h.o.ConfigChange(bg, batch(specRecord("web", rev, good, "300")))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("ConfigChange = %+v, %v", resp, err)
	}
	for _, cl := range []string{"web-1-v2", "web-2-v2"} {
		if _, ok := h.w.groupFor("web", cl); !ok {
			t.Errorf("no target group for %s", cl)
		}
		if _, ok := h.w.secret(cl); !ok {
			t.Errorf("%s not registered in ArgoCD", cl)
		}
	}
	if n := len(h.w.groupsOf("api-1-v1")); n != 0 {
		t.Errorf("the api cluster got %d target groups from Cell web", n)
	}
	if got := h.w.executionNames(); !reflect.DeepEqual(got, []string{"web--v2--1"}) {
		t.Errorf("executions %v", got)
	}
	if st := h.s.statusOf("web").Status; st.Phase != rollout.PhaseStable || len(st.ValidationErrors) != 0 {
		t.Errorf("status %+v: a valid spec must clear Invalid", st)
	}
	if h.w.starts[0].Trigger != "config-change" {
		t.Errorf("trigger %q", h.w.starts[0].Trigger)
	}
}

func TestConfigChangeBatch(t *testing.T) {
	h := newHarness(t)
	stableWeb(t, h, 1)
	good := cellDoc(t, "web", testListener, "web", 1)
	stale := cellDoc(t, "web", testListener, "web", 7) // invalid, but an older revision
	h.s.putCell("web", stale)
	rev := h.s.putCell("web", good)
	apiSpec := cellDoc(t, "api", testListener2, "api", 1)
	apiRev := h.s.putCell("api", apiSpec)

	malformed := specRecord("web", rev, good, "401")
	malformed.EventSource = "aws:kinesis"
	staleRec := specRecord("web", rev-1, stale, "402")
	removed := specRecord("gone", 3, "", "403")
	removed.EventName, removed.Change.NewImage = "REMOVE", nil
	apiRec := specRecord("api", apiRev, apiSpec, "404")

	h.w.listErr = throttled() // the api Cell cannot be reconciled now
	resp, err := h.o.ConfigChange(bg, batch(malformed, staleRec, removed, apiRec))
	if err != nil {
		t.Fatal(err)
	}
	if got := failedSequences(resp); !reflect.DeepEqual(got, []string{"404"}) {
		t.Errorf("batch item failures %v, want only the transient one (404)", got)
	}
	if st := h.s.statusOf("web").Status; st.Phase == rollout.PhaseInvalid {
		t.Error("a stale record marked the Cell Invalid though a newer, valid spec is stored")
	}

	// Two records of one Cell in a batch: only the latest is applied.
	h.w.listErr = nil
	resp, err = h.o.ConfigChange(bg, batch(specRecord("api", apiRev, cellDoc(t, "api", testListener2, "api", 9), "501"), specRecord("api", apiRev, apiSpec, "502")))
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("ConfigChange = %+v, %v", resp, err)
	}
	if st := h.s.statusOf("api").Status; st.Phase == rollout.PhaseInvalid {
		t.Errorf("the superseded record was applied: %+v", st)
	}
}

func TestConfigChangeNameMismatchIsInvalid(t *testing.T) {
	h := newHarness(t)
	spec := cellDoc(t, "other", testListener, "web", 1)
	rev := h.s.putCell("web", spec)
	if _, err := h.o.ConfigChange(bg, batch(specRecord("web", rev, spec, "600"))); err != nil {
		t.Fatal(err)
	}
	st := h.s.statusOf("web").Status
	if st.Phase != rollout.PhaseInvalid || !contains(st.ValidationErrors, "metadata.name") {
		t.Errorf("status %+v", st)
	}
}
