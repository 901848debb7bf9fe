package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/rollout"
)

// planFixture stores the Cell "web" of testdata/status/web.yaml over a
// listener on moto that routes everything to v1, with v2 ready beside it.
func planFixture(t *testing.T, e *awsEnv, prefix string) (v1, v2 string) {
	t.Helper()
	lb := e.newLoadBalancer(prefix + "-alb")
	role := prefix + "-web"
	v1 = lb.targetGroup(prefix+"-web-1-v1", 2, map[string]string{"role": role, "version": "v1"})
	v2 = lb.targetGroup(prefix+"-web-1-v2", 1, map[string]string{"role": role, "version": "v2"})
	lb.targetGroup(prefix+"-web-1-v3", 0, map[string]string{"role": role, "version": "v3"})
	lb.targetGroup(prefix+"-web-untagged", 1, map[string]string{"role": role})
	listenerARN := lb.forwardListener(80, v1, 100)

	c := mustDecodeCell(t, "testdata/status/web.yaml")
	c.Spec.Ingress.ListenerARN = listenerARN
	c.Spec.Ingress.TargetGroupSelector.MatchLabels = map[string]string{"role": role}
	c.Spec.ClusterSelector.MatchTags = map[string]string{"role": role}
	if _, err := e.store.PutCell(e.ctx, c, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.PutStatus(e.ctx, "web", rollout.Status{Phase: rollout.PhaseStable, StableVersion: "v1"}, 0); err != nil {
		t.Fatal(err)
	}
	return v1, v2
}

func TestPlanGolden(t *testing.T) {
	e := newAWSEnv(t)
	planFixture(t, e, "plan")

	r := e.mustRun("", "plan", "web")
	golden(t, "plan/start-rollout.txt", r.stdout)
	if strings.Contains(r.stderr, "level=ERROR") {
		t.Errorf("stderr: %s", r.stderr)
	}

	r = e.mustRun("", "plan", "web", "-o", "json")
	var p planReport
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("plan -o json: %v\n%s", err, r.stdout)
	}
	if p.Decision == nil || p.Decision.Kind != rollout.DecisionStartRollout || p.Decision.From != "v1" || p.Decision.To != "v2" {
		t.Errorf("decision %+v, want StartRollout v1 → v2", p.Decision)
	}
	if p.FirstStep == nil || p.FirstStep.Kind != rollout.ActionSetWeights || p.FirstStep.CanaryWeight != 20 {
		t.Errorf("first step %+v, want SetWeights 20", p.FirstStep)
	}

	// Blocking v2 changes the decision: nothing to do, and why.
	if _, err := e.store.Block(e.ctx, "web", rollout.Block{Version: "v2", Reason: "analysis error-rate failed", At: fixedNow.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r = e.mustRun("", "plan", "web")
	golden(t, "plan/blocked.txt", r.stdout)

	// Nothing was written by plan.
	rec, err := e.store.GetStatus(e.ctx, "web")
	if err != nil || rec.Revision != 1 || rec.Status.Leased() {
		t.Errorf("plan changed the status: %+v, %v", rec, err)
	}
}

func TestPlanWhileARolloutRuns(t *testing.T) {
	e := newAWSEnv(t)
	planFixture(t, e, "planrun")
	runningExecution(t, e, executions.NameOf(execution))
	if _, err := e.store.AcquireLease(e.ctx, "web", execution, func(context.Context, string) (bool, error) { return false, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateStatus(e.ctx, "web", execution, func(s *rollout.Status) error {
		s.Phase, s.StableVersion, s.CanaryVersion, s.StepIndex, s.StepCount = rollout.PhaseProgressing, "v1", "v2", 0, 5
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := e.mustRun("", "plan", "web")
	for _, want := range []string{
		"Decision:   Noop",
		"holds the lease (v1 to v2)",
		"Running rollout's next action: SetWeights (canary 20%) (step 1 of 5)",
		"Nothing was changed.",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestPlanOfAnInvalidSpec(t *testing.T) {
	e := newAWSEnv(t)
	planFixture(t, e, "planbad")
	// The stored spec names a shared template that does not exist (as
	// after a console edit).
	c := mustDecodeCell(t, "testdata/status/web.yaml")
	rec, err := e.store.GetCell(e.ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	c = rec.Cell
	c.Spec.AnalysisTemplates = nil
	if _, err := e.store.PutCell(e.ctx, c, rec.Revision); err != nil {
		t.Fatal(err)
	}
	r := e.mustRun("", "plan", "web")
	for _, want := range []string{
		"Decision:   Noop",
		"the stored spec is invalid",
		`analysis template "error-rate" not found`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := e.run("", "plan", "nope"); r.code != ExitFailure || !strings.Contains(r.stderr, `Cell "nope" not found`) {
		t.Errorf("plan of a missing Cell: exit %d, %s", r.code, r.stderr)
	}

	// A Cell whose listener does not exist.
	e.mustRun("", "cell", "apply", "-f", examples+"/nlb.yaml")
	if r := e.run("", "plan", "tcp-echo"); r.code != ExitFailure || !strings.Contains(r.stderr, `the listener of cell "tcp-echo" does not exist: check spec.ingress.listenerARN`) {
		t.Errorf("plan of a Cell without its listener: exit %d, %s", r.code, r.stderr)
	}
}
