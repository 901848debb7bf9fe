package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// TestCanaryRollout runs a v1→v2 canary without analysis through the
// whole state machine: 20%, a timed pause, 60%, a timed pause, the
// implicit 100% with v1 kept at weight 0 for the rollback window, then
// Finalize leaves v2 alone in the forward action.
func TestCanaryRollout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, canary(20, time.Second, 60, time.Second), 2*time.Second, map[string]bool{"v1": true, "v2": true})
	m := f.monitor(pollEvery(40 * time.Millisecond))
	defer m.assertClean()
	began := time.Now()
	arn := f.start("v2", 1)
	f.wait(arn, sfntypes.ExecutionStatusSucceeded, 60*time.Second)
	took := time.Since(began)
	seen := m.Seen()

	plan := []weights.Forward{
		f.snapshot,
		f.split("v1", 80, "v2", 20),
		f.split("v1", 40, "v2", 60),
		f.split("v1", 0, "v2", 100),
		f.split("v2", 100),
	}
	var got []string
	for _, s := range seen {
		got = append(got, f.describe(s))
	}
	var want []string
	for _, p := range plan {
		want = append(want, f.describe(p))
	}
	if strings.Join(got, " → ") != strings.Join(want, " → ") {
		t.Errorf("the listener showed\n  %s\nwant, in order,\n  %s\n%s", strings.Join(got, " → "), strings.Join(want, " → "), f.dump(arn))
	}
	if took < 4*time.Second {
		t.Errorf("the rollout took %s; the two 1s pauses and the 2s rollback window alone take 4s", took)
	}
	t.Logf("rollout took %s", took)

	// History: every weight change set, then verified, in order.
	var changes []string
	for _, ev := range f.events() {
		if ev.Execution != arn {
			t.Errorf("event %s by %s, want only the rollout's", ev.Type, ev.Execution)
		}
		switch ev.Type {
		case store.EventWeightsSet, store.EventWeightsVerified:
			changes = append(changes, fmt.Sprintf("%s%s", ev.Type, ev.Details["canaryWeight"]))
		case store.EventRolloutStarted, store.EventFinalized:
			changes = append(changes, string(ev.Type))
		}
	}
	wantChanges := "RolloutStarted WeightsSet20 WeightsVerified20 WeightsSet60 WeightsVerified60 WeightsSet100 WeightsVerified100 Finalized"
	if strings.Join(changes, " ") != wantChanges {
		t.Errorf("history:\n  %s\nwant\n  %s", strings.Join(changes, " "), wantChanges)
	}

	st := f.status()
	if st.Phase != rollout.PhaseStable || st.StableVersion != "v2" || st.CanaryVersion != "" || st.Leased() || st.TaskToken != "" {
		t.Errorf("final status %+v: want Stable at v2, no canary, lease released", st)
	}
	if !weights.Equal(st.Weights, f.split("v2", 100)) {
		t.Errorf("status weights %s, want %s", f.describe(st.Weights), f.describe(f.split("v2", 100)))
	}

	// v1's cluster never existed in EKS, so Finalize deleted its target
	// group once it left the forward action.
	_, err := f.elb.DescribeTargetGroups(f.ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{f.groups["v1"].ARN}})
	if !awsapi.IsNotFound(err) {
		t.Errorf("v1's target group after Finalize: DescribeTargetGroups error %v, want TargetGroupNotFound", err)
	}

	states := strings.Join(f.states(arn), " ")
	for _, s := range []string{"AcquireLease", "NextStep", "SetWeights", "VerifyWeights", "Pause", "Finalize", "Done", "StartBackgroundAnalysis", "BackgroundDone", "RolloutDone"} {
		if !strings.Contains(states, s) {
			t.Errorf("the execution never entered %s: %s", s, states)
		}
	}
}
