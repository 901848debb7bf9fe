package cli

import (
	"testing"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/rollout"
)

// Steps are shown 1-based everywhere ("step 2 of 5"), whatever the status'
// 0-based index.
func TestStepText(t *testing.T) {
	for _, tc := range []struct {
		index, count int
		want         string
	}{
		{0, 5, "step 1 of 5"},
		{1, 5, "step 2 of 5"},
		{4, 5, "step 5 of 5"},
		{5, 5, "all 5 steps done"},
		{-1, 3, "step 1 of 3"},
		{2, 0, "step 3"},
	} {
		if got := rollout.StepText(tc.index, tc.count); got != tc.want {
			t.Errorf("rollout.StepText(%d, %d) = %q, want %q", tc.index, tc.count, got, tc.want)
		}
	}
}

// The status' step line and the planner's reason name the same step.
func TestStatusStepAgreesWithThePlannersReason(t *testing.T) {
	w := int32(20)
	c := &cell.Cell{Spec: cell.Spec{UpdateStrategy: cell.UpdateStrategy{Canary: &cell.Canary{Steps: []cell.Step{
		{SetWeight: &w}, {Pause: &cell.Pause{}}, {SetWeight: &w}, {SetWeight: &w}, {SetWeight: &w},
	}}}}}
	st := rollout.Status{StepIndex: 1, StepCount: 5, CanaryVersion: "v2", ExecutionARN: "arn:x"}
	s := describeStep("web", c, st, false, fixedNow)
	if s.Number != 2 || s.Count != 5 || s.Kind != stepPause {
		t.Fatalf("describeStep = %+v, want step 2 of 5, a pause", s)
	}
	if got, want := rollout.StepText(st.StepIndex, st.StepCount), "step 2 of 5"; got != want {
		t.Errorf("stepText = %q, want %q", got, want)
	}
}
