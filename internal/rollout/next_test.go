package rollout

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/weights"
)

func TestNext(t *testing.T) {
	healthy := groups(group("v1", "a", 2), group("v2", "a", 2))
	snapshot := fwd(w("v1-a", 100))
	withPausedUntil := func(s Status, until *time.Time) Status { s.PausedUntil = until; return s }
	withFinalizeAfter := func(s Status, after *time.Time) Status { s.FinalizeAfter = after; return s }
	withoutSnapshot := func(s Status) Status { s.Snapshot = nil; return s }
	base := func(kind ActionKind, step, next int, canaryWeight int32) Action {
		return Action{Kind: kind, StableVersion: "v1", CanaryVersion: "v2", StepIndex: step, NextStepIndex: next, CanaryWeight: canaryWeight}
	}
	with := func(a Action, change func(*Action)) Action { change(&a); return a }

	tests := []struct {
		name   string
		in     Input
		want   Action
		reason []string
	}{
		{
			name: "step 0 sets the canary to 20%",
			in:   Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: fwd(w("v1-a", 100)), Status: rolling("v1", "v2", 0, snapshot)},
			want: with(base(ActionSetWeights, 0, 1, 20), func(a *Action) {
				a.Forward = fwdPtr(w("v1-a", 80), w("v2-a", 20))
			}),
			reason: []string{"v2 gets 20%"},
		},
		{
			name: "timed pause waits its duration",
			in:   Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: fwd(w("v1-a", 80), w("v2-a", 20)), Status: rolling("v1", "v2", 1, snapshot)},
			want: with(base(ActionPause, 1, 2, 20), func(a *Action) {
				a.WaitSeconds, a.Until = 600, at(10*time.Minute)
			}),
			reason: []string{"step 2 of 5: pause 10m0s"},
		},
		{
			name: "timed pause after a restart waits only what is left",
			in: Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: fwd(w("v1-a", 80), w("v2-a", 20)),
				Status: withPausedUntil(rolling("v1", "v2", 1, snapshot), at(4*time.Minute+500*time.Millisecond))},
			want: with(base(ActionPause, 1, 2, 20), func(a *Action) {
				a.WaitSeconds, a.Until = 241, at(4*time.Minute+500*time.Millisecond)
			}),
		},
		{
			name: "timed pause already over waits 0 seconds",
			in: Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: fwd(w("v1-a", 80), w("v2-a", 20)),
				Status: withPausedUntil(rolling("v1", "v2", 1, snapshot), at(-time.Minute))},
			want: with(base(ActionPause, 1, 2, 20), func(a *Action) { a.Until = at(-time.Minute) }),
		},
		{
			name: "step 2 raises the canary to 60% (total share, not increment)",
			in:   Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: fwd(w("v1-a", 80), w("v2-a", 20)), Status: rolling("v1", "v2", 2, snapshot)},
			want: with(base(ActionSetWeights, 2, 3, 60), func(a *Action) {
				a.Forward = fwdPtr(w("v1-a", 40), w("v2-a", 60))
			}),
		},
		{
			name:   "analysis step runs its templates",
			in:     Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: fwd(w("v1-a", 40), w("v2-a", 60)), Status: rolling("v1", "v2", 3, snapshot)},
			want:   with(base(ActionAnalyze, 3, 4, 60), func(a *Action) { a.Analysis = analysisOf("error-rate") }),
			reason: []string{"step 4 of 5: analysis error-rate"},
		},
		{
			name: "last step sets 100%, keeping stable groups at weight 0",
			in:   Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: fwd(w("v1-a", 40), w("v2-a", 60)), Status: rolling("v1", "v2", 4, snapshot)},
			want: with(base(ActionSetWeights, 4, 5, 100), func(a *Action) {
				a.Forward = fwdPtr(w("v1-a", 0), w("v2-a", 100))
			}),
		},
		{
			name: "pause without duration awaits approval",
			in: Input{Cell: newCell(steps(setWeight(50), pauseUntilPromoted())), TargetGroups: healthy,
				Forward: fwd(w("v1-a", 50), w("v2-a", 50)), Status: rolling("v1", "v2", 1, snapshot)},
			want:   with(base(ActionAwaitApproval, 1, 2, 50), func(a *Action) { a.Indefinite = true }),
			reason: []string{"pause until promoted"},
		},
		{
			name: "no steps: straight to 100%",
			in:   Input{Cell: newCell(), TargetGroups: healthy, Forward: fwd(w("v1-a", 100)), Status: rolling("v1", "v2", 0, snapshot)},
			want: with(base(ActionSetWeights, 0, 0, 100), func(a *Action) {
				a.Forward = fwdPtr(w("v1-a", 0), w("v2-a", 100))
			}),
		},
		{
			name: "implicit 100% after the last step",
			in: Input{Cell: newCell(steps(setWeight(50))), TargetGroups: healthy,
				Forward: fwd(w("v1-a", 50), w("v2-a", 50)), Status: rolling("v1", "v2", 1, snapshot)},
			want: with(base(ActionSetWeights, 1, 1, 100), func(a *Action) {
				a.Forward = fwdPtr(w("v1-a", 0), w("v2-a", 100))
			}),
		},
		{
			name: "at 100% after the last step: finalize after the default 15m rollback window",
			in:   Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: fwd(w("v1-a", 0), w("v2-a", 100)), Status: rolling("v1", "v2", 5, snapshot)},
			want: with(base(ActionFinalize, 5, 5, 100), func(a *Action) {
				a.Forward, a.After = fwdPtr(w("v2-a", 100)), at(15*time.Minute)
			}),
			reason: []string{"v2 has 100%", "2025-06-01T12:15:00Z"},
		},
		{
			name: "rollback window not over: pause for the remaining time",
			in: Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: fwd(w("v1-a", 0), w("v2-a", 100)),
				Status: withFinalizeAfter(rolling("v1", "v2", 5, snapshot), at(6*time.Minute))},
			want: with(base(ActionPause, 5, 5, 100), func(a *Action) {
				a.WaitSeconds, a.Until = 360, at(6*time.Minute)
			}),
			reason: []string{"rollback window"},
		},
		{
			name: "rollback window over: finalize now",
			in: Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: fwd(w("v1-a", 0), w("v2-a", 100)),
				Status: withFinalizeAfter(rolling("v1", "v2", 5, snapshot), at(-time.Second))},
			want: with(base(ActionFinalize, 5, 5, 100), func(a *Action) {
				a.Forward, a.After = fwdPtr(w("v2-a", 100)), at(-time.Second)
			}),
		},
		{
			name: "custom rollback window",
			in: Input{Cell: newCell(threeStep, rollbackWindow(5*time.Minute)), TargetGroups: healthy,
				Forward: fwd(w("v1-a", 0), w("v2-a", 100)), Status: rolling("v1", "v2", 5, snapshot)},
			want: with(base(ActionFinalize, 5, 5, 100), func(a *Action) {
				a.Forward, a.After = fwdPtr(w("v2-a", 100)), at(5*time.Minute)
			}),
		},
		{
			name: "supersede: v3 ready mid-rollout returns weight to stable",
			in: Input{Cell: newCell(threeStep), TargetGroups: append(groups(group("v3", "a", 1)), healthy...),
				Forward: fwd(w("v1-a", 80), w("v2-a", 20)), Status: rolling("v1", "v2", 2, snapshot)},
			want: with(base(ActionSupersede, 2, 2, 20), func(a *Action) {
				a.NewVersion, a.Forward = "v3", fwdPtr(w("v1-a", 100))
			}),
			reason: []string{"v3 is ready and newer than v2", "returning weight to v1"},
		},
		{
			name: "supersede ignores a blocked newer version",
			in: Input{Cell: newCell(threeStep), TargetGroups: append(groups(group("v3", "a", 1)), healthy...),
				Forward: fwd(w("v1-a", 80), w("v2-a", 20)), Status: rolling("v1", "v2", 2, snapshot),
				Blocked: []Block{blocked("v3", "failed before")}},
			want: with(base(ActionSetWeights, 2, 3, 60), func(a *Action) {
				a.Forward = fwdPtr(w("v1-a", 40), w("v2-a", 60))
			}),
		},
		{
			name: "no supersede once promoted: the rollback window finishes first",
			in: Input{Cell: newCell(threeStep), TargetGroups: append(groups(group("v3", "a", 1)), healthy...),
				Forward: fwd(w("v1-a", 0), w("v2-a", 100)), Status: rolling("v1", "v2", 5, snapshot)},
			want: with(base(ActionFinalize, 5, 5, 100), func(a *Action) {
				a.Forward, a.After = fwdPtr(w("v2-a", 100)), at(15*time.Minute)
			}),
		},
		{
			name: "canary target groups vanished: roll back to the snapshot",
			in: Input{Cell: newCell(threeStep), TargetGroups: groups(group("v1", "a", 1)),
				Forward: fwd(w("v1-a", 80), w("v2-a", 20)), Status: rolling("v1", "v2", 2, sticky(snapshot, 60))},
			want: with(base(ActionRollback, 2, 2, 0), func(a *Action) {
				a.Forward = ptr(sticky(fwd(w("v1-a", 100)), 60))
			}),
			reason: []string{"v2 has 0 target groups, fewer than the 1 replicas"},
		},
		{
			name: "canary down to 1 of 2 replicas: roll back",
			in: Input{Cell: newCell(threeStep, replicas(2)),
				TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 1), group("v2", "a", 1)),
				Forward:      fwd(w("v1-a", 40), w("v1-b", 40), w("v2-a", 10)),
				Status:       rolling("v1", "v2", 2, fwd(w("v1-a", 50), w("v1-b", 50)))},
			want: with(base(ActionRollback, 2, 2, 11), func(a *Action) {
				a.Forward = fwdPtr(w("v1-a", 50), w("v1-b", 50))
			}),
			reason: []string{"v2 has 1 target group, fewer than the 2 replicas"},
		},
		{
			name: "canary blocked mid-rollout: roll back",
			in: Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: fwd(w("v1-a", 80), w("v2-a", 20)),
				Status: rolling("v1", "v2", 1, snapshot), Blocked: []Block{blocked("v2", "background analysis failed")}},
			want: with(base(ActionRollback, 1, 1, 20), func(a *Action) {
				a.Forward = fwdPtr(w("v1-a", 100))
			}),
			reason: []string{"v2 was blocked (background analysis failed)"},
		},
		{
			name: "rollback without a snapshot puts stable's groups back to 100%",
			in: Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: sticky(fwd(w("v1-a", 80), w("v2-a", 20)), 90),
				Status: withoutSnapshot(rolling("v1", "v2", 1, snapshot)), Blocked: []Block{blocked("v2", "aborted")}},
			want: with(base(ActionRollback, 1, 1, 20), func(a *Action) {
				a.Forward = ptr(sticky(fwd(w("v1-a", 100)), 90))
			}),
		},
		{
			name: "health gate: weight does not rise onto a group without healthy targets",
			in: Input{Cell: newCell(threeStep), TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 0)),
				Forward: fwd(w("v1-a", 100)), Status: rolling("v1", "v2", 0, snapshot)},
			want: with(base(ActionWaitForHealthy, 0, 0, 20), func(a *Action) {
				a.TargetGroups, a.WaitSeconds, a.Until = []string{arn("v2-a")}, 30, at(30*time.Second)
			}),
			reason: []string{"stays at 0% until each of its target groups has at least 1 healthy target"},
		},
		{
			name: "health gate: lowering the canary's weight is allowed",
			in: Input{Cell: newCell(steps(setWeight(50), setWeight(10))), TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 0)),
				Forward: fwd(w("v1-a", 50), w("v2-a", 50)), Status: rolling("v1", "v2", 1, snapshot)},
			want: with(base(ActionSetWeights, 1, 2, 10), func(a *Action) {
				a.Forward = fwdPtr(w("v1-a", 90), w("v2-a", 10))
			}),
		},
		{
			name: "health gate applies to the implicit 100%",
			in: Input{Cell: newCell(steps(setWeight(50))), TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 0)),
				Forward: fwd(w("v1-a", 50), w("v2-a", 50)), Status: rolling("v1", "v2", 1, snapshot)},
			want: with(base(ActionWaitForHealthy, 1, 1, 100), func(a *Action) {
				a.TargetGroups, a.WaitSeconds, a.Until = []string{arn("v2-a")}, 30, at(30*time.Second)
			}),
		},
		{
			name: "health gate: an unhealthy group gains no weight even when the canary's share stays",
			in: Input{Cell: newCell(steps(setWeight(20), setWeight(20)), replicas(2)),
				TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 1), group("v2", "a", 1), group("v2", "b", 0)),
				Forward:      fwd(w("v1-a", 40), w("v1-b", 40), w("v2-a", 20)),
				Status:       rolling("v1", "v2", 1, fwd(w("v1-a", 50), w("v1-b", 50)))},
			want: with(base(ActionWaitForHealthy, 1, 1, 20), func(a *Action) {
				a.TargetGroups, a.WaitSeconds, a.Until = []string{arn("v2-b")}, 30, at(30*time.Second)
			}),
		},
		{
			name: "of two unhealthy canary groups the one carrying weight is kept",
			in: Input{Cell: newCell(steps(setWeight(20), setWeight(20))),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 0), group("v2", "b", 0)),
				Forward:      fwd(w("v1-a", 80), w("v2-a", 0), w("v2-b", 20)),
				Status:       rolling("v1", "v2", 1, snapshot)},
			want: with(base(ActionSetWeights, 1, 2, 20), func(a *Action) {
				a.Forward = fwdPtr(w("v1-a", 80), w("v2-b", 20))
			}),
		},
		{
			name: "health gate at finalize: replicas raised in the rollback window onto an unhealthy group",
			in: Input{Cell: newCell(threeStep, replicas(2)),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1), group("v2", "b", 0)),
				Forward:      fwd(w("v1-a", 0), w("v2-a", 100)),
				Status:       withFinalizeAfter(rolling("v1", "v2", 5, snapshot), at(-time.Minute))},
			want: with(base(ActionWaitForHealthy, 5, 5, 100), func(a *Action) {
				a.TargetGroups, a.WaitSeconds, a.Until = []string{arn("v2-b")}, 30, at(30*time.Second)
			}),
		},
		{
			name: "replicas 2: two stable and two canary groups, 4 of the 5 allowed",
			in: Input{Cell: newCell(threeStep, replicas(2)),
				TargetGroups: groups(group("v1", "b", 1), group("v1", "a", 1), group("v2", "b", 1), group("v2", "a", 1)),
				Forward:      fwd(w("v1-b", 50), w("v1-a", 50)), Status: rolling("v1", "v2", 0, fwd(w("v1-a", 50), w("v1-b", 50)))},
			want: with(base(ActionSetWeights, 0, 1, 20), func(a *Action) {
				a.Forward = fwdPtr(w("v1-a", 40), w("v1-b", 40), w("v2-a", 10), w("v2-b", 10))
			}),
		},
		{
			name: "a canary group without healthy targets is replaced by a healthy spare",
			in: Input{Cell: newCell(threeStep, replicas(2)),
				TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 1), group("v2", "a", 1), group("v2", "b", 0), group("v2", "c", 3)),
				Forward:      fwd(w("v1-a", 50), w("v1-b", 50), w("v2-a", 0), w("v2-b", 0)),
				Status:       rolling("v1", "v2", 0, fwd(w("v1-a", 50), w("v1-b", 50)))},
			want: with(base(ActionSetWeights, 0, 1, 20), func(a *Action) {
				a.Forward = fwdPtr(w("v1-a", 40), w("v1-b", 40), w("v2-a", 10), w("v2-c", 10))
			}),
		},
		{
			name: "stickiness is kept in the weights set",
			in: Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: sticky(fwd(w("v1-a", 100)), 3600),
				Status: rolling("v1", "v2", 0, sticky(snapshot, 3600))},
			want: with(base(ActionSetWeights, 0, 1, 20), func(a *Action) {
				a.Forward = ptr(sticky(fwd(w("v1-a", 80), w("v2-a", 20)), 3600))
			}),
		},
		{
			name: "foreign target group mid-rollout: hold for a human, touch nothing",
			in: Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: fwd(w("v1-a", 70), w("v2-a", 20), w("intruder", 10)),
				Status: rolling("v1", "v2", 2, snapshot)},
			want:   with(base(ActionAwaitApproval, 2, 2, 20), func(a *Action) { a.Indefinite = true }),
			reason: []string{"not the Cell's", arn("intruder")},
		},
		{
			name: "pin moved back to stable mid-rollout: roll back",
			in: Input{Cell: newCell(threeStep, pin("v1")), TargetGroups: healthy, Forward: fwd(w("v1-a", 80), w("v2-a", 20)),
				Status: rolling("v1", "v2", 2, snapshot)},
			want:   with(base(ActionRollback, 2, 2, 20), func(a *Action) { a.Forward = fwdPtr(w("v1-a", 100)) }),
			reason: []string{"spec.version pins v1: stopping the rollout to v2"},
		},
		{
			name: "pin moved to a newer ready version mid-rollout: supersede",
			in: Input{Cell: newCell(threeStep, pin("v3")), TargetGroups: append(groups(group("v3", "a", 1)), healthy...),
				Forward: fwd(w("v1-a", 80), w("v2-a", 20)), Status: rolling("v1", "v2", 2, snapshot)},
			want: with(base(ActionSupersede, 2, 2, 20), func(a *Action) {
				a.NewVersion, a.Forward = "v3", fwdPtr(w("v1-a", 100))
			}),
			reason: []string{"spec.version pins v3"},
		},
		{
			name: "pin on the canary itself: carry on",
			in: Input{Cell: newCell(threeStep, pin("v2")), TargetGroups: append(groups(group("v3", "a", 1)), healthy...),
				Forward: fwd(w("v1-a", 80), w("v2-a", 20)), Status: rolling("v1", "v2", 2, snapshot)},
			want: with(base(ActionSetWeights, 2, 3, 60), func(a *Action) {
				a.Forward = fwdPtr(w("v1-a", 40), w("v2-a", 60))
			}),
		},
		{
			name: "pin moved to a newer version during the rollback window: finish first",
			in: Input{Cell: newCell(threeStep, pin("v3")), TargetGroups: append(groups(group("v3", "a", 1)), healthy...),
				Forward: fwd(w("v1-a", 0), w("v2-a", 100)), Status: rolling("v1", "v2", 5, snapshot)},
			want: with(base(ActionFinalize, 5, 5, 100), func(a *Action) {
				a.Forward, a.After = fwdPtr(w("v2-a", 100)), at(15*time.Minute)
			}),
		},
		{
			name: "background analysis runs from its starting step",
			in: Input{Cell: newCell(threeStep, background(ptr(int32(2)), "latency")), TargetGroups: healthy,
				Forward: fwd(w("v1-a", 80), w("v2-a", 20)), Status: rolling("v1", "v2", 2, snapshot)},
			want: with(base(ActionSetWeights, 2, 3, 60), func(a *Action) {
				a.Forward, a.BackgroundAnalysis = fwdPtr(w("v1-a", 40), w("v2-a", 60)), analysisOf("latency")
			}),
		},
		{
			name: "background analysis not yet before its starting step",
			in: Input{Cell: newCell(threeStep, background(ptr(int32(2)), "latency")), TargetGroups: healthy,
				Forward: fwd(w("v1-a", 80), w("v2-a", 20)), Status: rolling("v1", "v2", 1, snapshot)},
			want: with(base(ActionPause, 1, 2, 20), func(a *Action) {
				a.WaitSeconds, a.Until = 600, at(10*time.Minute)
			}),
		},
		{
			name: "background analysis stops at finalize",
			in: Input{Cell: newCell(threeStep, background(nil, "latency")), TargetGroups: healthy,
				Forward: fwd(w("v1-a", 0), w("v2-a", 100)), Status: rolling("v1", "v2", 5, snapshot)},
			want: with(base(ActionFinalize, 5, 5, 100), func(a *Action) {
				a.Forward, a.After = fwdPtr(w("v2-a", 100)), at(15*time.Minute)
			}),
		},
		{
			name: "the canary keeps the target group already carrying its weight",
			in: Input{Cell: newCell(threeStep), TargetGroups: append(groups(group("v2", "b", 1)), healthy...),
				Forward: fwd(w("v1-a", 80), w("v2-b", 20)), Status: rolling("v1", "v2", 2, snapshot)},
			want: with(base(ActionSetWeights, 2, 3, 60), func(a *Action) {
				a.Forward = fwdPtr(w("v1-a", 40), w("v2-b", 60))
			}),
		},
		{
			name: "a step with nothing in it awaits approval",
			in: Input{Cell: newCell(steps(cell.Step{})), TargetGroups: healthy, Forward: fwd(w("v1-a", 100)),
				Status: rolling("v1", "v2", 0, snapshot)},
			want:   with(base(ActionAwaitApproval, 0, 1, 0), func(a *Action) { a.Indefinite = true }),
			reason: []string{"step 1 of 1 sets none of setWeight, pause or analysis"},
		},
		{
			name: "an impossible weight awaits approval instead of calling AWS",
			in: Input{Cell: newCell(steps(setWeight(150))), TargetGroups: healthy, Forward: fwd(w("v1-a", 100)),
				Status: rolling("v1", "v2", 0, snapshot)},
			want:   with(base(ActionAwaitApproval, 0, 0, 0), func(a *Action) { a.Indefinite = true }),
			reason: []string{"cannot set the canary to 150%", "canary percent is 150, allowed 0 to 100"},
		},
		{
			name:   "no rollout in progress",
			in:     Input{Cell: newCell(threeStep), TargetGroups: healthy, Forward: fwd(w("v1-a", 100)), Status: Status{StableVersion: "v1"}},
			want:   Action{Kind: ActionDone},
			reason: []string{"no rollout in progress"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now = t0
			got := Next(tt.in)
			reason := got.Reason
			got.Reason = ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Next =\n %s\nwant\n %s\n(reason: %s)", dump(got), dump(tt.want), reason)
			}
			for _, r := range tt.reason {
				if !strings.Contains(reason, r) {
					t.Errorf("reason %q does not say %q", reason, r)
				}
			}
			if reason == "" {
				t.Errorf("action has no reason")
			}
			if got.Forward != nil {
				if err := weights.Validate(*got.Forward); err != nil {
					t.Errorf("action's forward is invalid: %v", err)
				}
			}
		})
	}
}

// TestNextRunsAWholeRollout plays the state machine's part: it executes
// each action against a simulated listener and clock, and checks the
// sequence of actions and canary weights from v1 to v2.
func TestNextRunsAWholeRollout(t *testing.T) {
	c := newCell(steps(setWeight(20), pauseFor(10*time.Minute), setWeight(60), analyze("error-rate")), rollbackWindow(15*time.Minute))
	tgs := groups(group("v1", "a", 1), group("v2", "a", 1))
	listener := sticky(fwd(w("v1-a", 100)), 60)
	status := rolling("v1", "v2", 0, listener.Clone())
	now := t0

	type seen struct {
		kind   ActionKind
		canary int
	}
	var got []seen
	for i := 0; i < 20; i++ {
		a := Next(Input{Cell: c, TargetGroups: tgs, Forward: listener, Status: status, Now: now})
		if a.Forward != nil && a.Kind != ActionFinalize {
			listener = a.Forward.Clone()
		}
		got = append(got, seen{a.Kind, weights.Share(listener, []string{arn("v2-a")})})
		switch a.Kind {
		case ActionPause:
			now = now.Add(time.Duration(a.WaitSeconds) * time.Second)
		case ActionFinalize:
			if status.FinalizeAfter == nil {
				status.FinalizeAfter = a.After
				now = *a.After
				continue // the state machine waits, then asks again
			}
			listener = a.Forward.Clone()
			status = Status{Phase: PhaseStable, StableVersion: status.CanaryVersion}
		case ActionDone:
			i = 20
			continue
		case ActionSetWeights, ActionAnalyze:
		default:
			t.Fatalf("unexpected action %s: %s", a.Kind, a.Reason)
		}
		status.StepIndex = a.NextStepIndex
	}
	want := []seen{
		{ActionSetWeights, 20},
		{ActionPause, 20},
		{ActionSetWeights, 60},
		{ActionAnalyze, 60},
		{ActionSetWeights, 100}, // implicit 100% after the last step
		{ActionFinalize, 100},   // schedules the end of the rollback window
		{ActionFinalize, 100},   // the window is over: old groups leave
		{ActionDone, 100},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("actions = %+v\nwant      %+v", got, want)
	}
	if !weights.Equal(listener, sticky(fwd(w("v2-a", 100)), 60)) {
		t.Errorf("final listener = %s, want v2-a at 100 with stickiness kept", dump(listener))
	}
	if now != t0.Add(25*time.Minute) {
		t.Errorf("the rollout took until %s, want 10m pause + 15m window", now)
	}
}

func TestBackgroundAnalysisAt(t *testing.T) {
	tests := []struct {
		name string
		cell *cell.Cell
		step int
		want *cell.Analysis
	}{
		{name: "no canary strategy", cell: newCell(), step: 0, want: nil},
		{name: "no background analysis", cell: newCell(threeStep), step: 3, want: nil},
		{name: "default starting step 0", cell: newCell(threeStep, background(nil, "latency")), step: 0, want: analysisOf("latency")},
		{name: "before starting step", cell: newCell(threeStep, background(ptr(int32(2)), "latency")), step: 1, want: nil},
		{name: "at starting step", cell: newCell(threeStep, background(ptr(int32(2)), "latency")), step: 2, want: analysisOf("latency")},
		{name: "after the last step (rollback window)", cell: newCell(threeStep, background(ptr(int32(2)), "latency")), step: 5, want: analysisOf("latency")},
		{name: "nil cell", cell: nil, step: 0, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := BackgroundAnalysisAt(tt.cell, tt.step); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("BackgroundAnalysisAt(step %d) = %s, want %s", tt.step, dump(got), dump(tt.want))
			}
		})
	}
}

func TestActionJSON(t *testing.T) {
	tests := []struct {
		name string
		a    Action
		want string
	}{
		{
			name: "await approval",
			a:    Action{Kind: ActionAwaitApproval, Reason: "r", StableVersion: "v1", CanaryVersion: "v2", StepIndex: 1, NextStepIndex: 2, CanaryWeight: 20, Indefinite: true},
			want: `{"kind":"AwaitApproval","reason":"r","stableVersion":"v1","canaryVersion":"v2","stepIndex":1,"nextStepIndex":2,"canaryWeight":20,"waitSeconds":0,"indefinite":true}`,
		},
		{
			name: "pause has the fields a Wait state reads",
			a:    Action{Kind: ActionPause, StepIndex: 1, NextStepIndex: 2, WaitSeconds: 600, Until: at(10 * time.Minute)},
			want: `{"kind":"Pause","stepIndex":1,"nextStepIndex":2,"canaryWeight":0,"waitSeconds":600,"until":"2025-06-01T12:10:00Z"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("json = %s\nwant   %s", b, tt.want)
			}
			var back Action
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tt.a) {
				t.Errorf("round trip = %+v, want %+v", back, tt.a)
			}
		})
	}
}
