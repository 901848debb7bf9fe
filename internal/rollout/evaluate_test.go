package rollout

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/inventory"
)

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want Decision
		// reason lists texts the reason must contain.
		reason []string
	}{
		{
			name: "first deployment: no forward action, newest complete version gets 100% at once",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v1", "a", 3)),
			},
			want:   Decision{Kind: DecisionSwap, To: "v1", Forward: fwdPtr(w("v1-a", 100))},
			reason: []string{"no forward action yet", "v1 gets 100%"},
		},
		{
			name: "first deployment with two complete versions takes the newest",
			in: Input{
				Cell:         newCell(replicas(2)),
				TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 1), group("v2", "b", 1), group("v2", "a", 1)),
			},
			want: Decision{Kind: DecisionSwap, To: "v2", Forward: fwdPtr(w("v2-a", 50), w("v2-b", 50))},
		},
		{
			name: "first deployment waits for a complete version",
			in: Input{
				Cell:         newCell(replicas(2)),
				TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 0)),
			},
			want:   Decision{Kind: DecisionNoop},
			reason: []string{"no version has 2 target groups with at least 1 healthy target"},
		},
		{
			name: "first deployment skips a blocked newest version",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1)),
				Blocked:      []Block{blocked("v2", "error-rate failed")},
			},
			want:   Decision{Kind: DecisionSwap, To: "v1", Forward: fwdPtr(w("v1-a", 100))},
			reason: []string{"v2 is blocked (error-rate failed)"},
		},
		{
			name: "lost forward action restores the recorded stable version, not a newer one",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1)),
				Status:       Status{Phase: PhaseStable, StableVersion: "v1"},
			},
			want: Decision{Kind: DecisionSwap, From: "v1", To: "v1", Forward: fwdPtr(w("v1-a", 100))},
		},
		{
			name: "first deployment follows a pin",
			in: Input{
				Cell:         newCell(pin("v1")),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1)),
			},
			want: Decision{Kind: DecisionSwap, To: "v1", Forward: fwdPtr(w("v1-a", 100))},
		},
		{
			name: "first deployment keeps the listener's stickiness",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v1", "a", 1)),
				Forward:      sticky(fwd(), 600),
			},
			want: Decision{Kind: DecisionSwap, To: "v1", Forward: ptr(sticky(fwd(w("v1-a", 100)), 600))},
		},
		{
			name: "v1 to v2: a complete newer version starts a rollout",
			in: Input{
				Cell:         newCell(threeStep),
				TargetGroups: groups(group("v1", "a", 2), group("v2", "a", 2)),
				Forward:      fwd(w("v1-a", 100)),
				Status:       Status{Phase: PhaseStable, StableVersion: "v1"},
			},
			want:   Decision{Kind: DecisionStartRollout, From: "v1", To: "v2"},
			reason: []string{"v2 is ready: rolling from v1"},
		},
		{
			name: "replicas gate: one of two clusters ready is not enough",
			in: Input{
				Cell:         newCell(replicas(2)),
				TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 1), group("v2", "a", 4)),
				Forward:      fwd(w("v1-a", 50), w("v1-b", 50)),
			},
			want:   Decision{Kind: DecisionNoop},
			reason: []string{"steady: v1 serves 100% through 2 target groups", "v2 has 1 of 2 target groups with at least 1 healthy target"},
		},
		{
			name: "unhealthy targets gate: a group without healthy targets does not count",
			in: Input{
				Cell:         newCell(replicas(2)),
				TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 1), group("v2", "a", 4), group("v2", "b", 0)),
				Forward:      fwd(w("v1-a", 50), w("v1-b", 50)),
			},
			want:   Decision{Kind: DecisionNoop},
			reason: []string{"v2 has 1 of 2 target groups"},
		},
		{
			name: "minHealthyTargets raises the bar",
			in: Input{
				Cell:         newCell(minHealthy(3)),
				TargetGroups: groups(group("v1", "a", 5), group("v2", "a", 2)),
				Forward:      fwd(w("v1-a", 100)),
			},
			want:   Decision{Kind: DecisionNoop},
			reason: []string{"v2 has 0 of 1 target groups with at least 3 healthy targets"},
		},
		{
			name: "blocked newest version skipped for an older one newer than stable",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1), group("v3", "a", 1)),
				Forward:      fwd(w("v1-a", 100)),
				Blocked:      []Block{blocked("v3", "analysis error-rate failed")},
			},
			want:   Decision{Kind: DecisionStartRollout, From: "v1", To: "v2"},
			reason: []string{"v3 is blocked (analysis error-rate failed)"},
		},
		{
			name: "only newer version blocked: noop says so",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1)),
				Forward:      fwd(w("v1-a", 100)),
				Blocked:      []Block{blocked("v2", "rolled back")},
			},
			want:   Decision{Kind: DecisionNoop},
			reason: []string{"v2 is blocked (rolled back)"},
		},
		{
			name: "pin lower than stable swaps at once (rollback)",
			in: Input{
				Cell:         newCell(pin("v1"), threeStep),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1)),
				Forward:      sticky(fwd(w("v2-a", 100)), 30),
				Status:       Status{StableVersion: "v2"},
			},
			want:   Decision{Kind: DecisionSwap, From: "v2", To: "v1", Forward: ptr(sticky(fwd(w("v1-a", 100)), 30))},
			reason: []string{"older than stable v2: rolling back at once"},
		},
		{
			name: "pin lower than stable but not ready: noop",
			in: Input{
				Cell:         newCell(pin("v1")),
				TargetGroups: groups(group("v1", "a", 0), group("v2", "a", 1)),
				Forward:      fwd(w("v2-a", 100)),
			},
			want:   Decision{Kind: DecisionNoop},
			reason: []string{"spec.version pins v1, which is not ready", "0 of 1"},
		},
		{
			name: "pinned blocked version is refused",
			in: Input{
				Cell:         newCell(pin("v3")),
				TargetGroups: groups(group("v2", "a", 1), group("v3", "a", 1)),
				Forward:      fwd(w("v2-a", 100)),
				Blocked:      []Block{blocked("v3", "5xx rate")},
			},
			want:   Decision{Kind: DecisionNoop},
			reason: []string{"spec.version pins v3, which is blocked (5xx rate)"},
		},
		{
			name: "pin higher than stable rolls to the pin, not to the newest",
			in: Input{
				Cell:         newCell(pin("v2")),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1), group("v3", "a", 1)),
				Forward:      fwd(w("v1-a", 100)),
			},
			want:   Decision{Kind: DecisionStartRollout, From: "v1", To: "v2"},
			reason: []string{"spec.version pins v2"},
		},
		{
			name: "pin equal to stable is steady state even with newer versions",
			in: Input{
				Cell:         newCell(pin("v1")),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1)),
				Forward:      fwd(w("v1-a", 100)),
			},
			want:   Decision{Kind: DecisionNoop},
			reason: []string{"steady", "spec.version pins v1, the stable version"},
		},
		{
			name: "semver: v10 is newer than v2",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v2", "a", 1), group("v10", "a", 1), group("v9", "a", 1)),
				Forward:      fwd(w("v2-a", 100)),
			},
			want: Decision{Kind: DecisionStartRollout, From: "v2", To: "v10"},
		},
		{
			name: "semver: v2 is not newer than v10",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v10", "a", 1), group("v2", "a", 1)),
				Forward:      fwd(w("v10-a", 100)),
			},
			want:   Decision{Kind: DecisionNoop},
			reason: []string{"steady: v10"},
		},
		{
			name: "prerelease: the release is newer than its release candidate",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v2.0.0-rc.1", "a", 1), group("v2.0.0", "a", 1)),
				Forward:      fwd(w("v2.0.0-rc.1-a", 100)),
			},
			want: Decision{Kind: DecisionStartRollout, From: "v2.0.0-rc.1", To: "v2.0.0"},
		},
		{
			name: "prerelease: a release candidate of the stable release is older",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v2.0.0", "a", 1), group("v2.0.0-rc.2", "a", 1)),
				Forward:      fwd(w("v2.0.0-a", 100)),
			},
			want: Decision{Kind: DecisionNoop},
		},
		{
			name: "lease held: no second rollout starts",
			in: Input{
				Cell:         newCell(threeStep),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1)),
				Forward:      fwd(w("v1-a", 80), w("v2-a", 20)),
				Status:       rolling("v1", "v2", 1, fwd(w("v1-a", 100))),
			},
			want:   Decision{Kind: DecisionNoop},
			reason: []string{"holds the lease (v1 to v2)"},
		},
		{
			name: "lease held: a newer complete version is reported as superseding",
			in: Input{
				Cell:         newCell(threeStep),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1), group("v3", "a", 1)),
				Forward:      fwd(w("v1-a", 80), w("v2-a", 20)),
				Status:       rolling("v1", "v2", 1, fwd(w("v1-a", 100))),
			},
			want:   Decision{Kind: DecisionNoop, Supersede: "v3"},
			reason: []string{"v3 will supersede it at its next step boundary"},
		},
		{
			name: "lease held in the rollback window: nothing supersedes a promoted rollout",
			in: Input{
				Cell:         newCell(threeStep),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1), group("v3", "a", 1)),
				Forward:      fwd(w("v1-a", 0), w("v2-a", 100)),
				Status:       rolling("v1", "v2", 5, fwd(w("v1-a", 100))),
			},
			want: Decision{Kind: DecisionNoop},
		},
		{
			name: "foreign target group in the listener: never touched",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1)),
				Forward:      fwd(w("v1-a", 90), w("someone-elses", 10)),
			},
			want:   Decision{Kind: DecisionNoop},
			reason: []string{"not the Cell's", arn("someone-elses")},
		},
		{
			name: "replicas raised at 100%: stable re-splits over the new group",
			in: Input{
				Cell:         newCell(replicas(2)),
				TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 1)),
				Forward:      sticky(fwd(w("v1-a", 100)), 120),
			},
			want:   Decision{Kind: DecisionResplit, From: "v1", To: "v1", Forward: ptr(sticky(fwd(w("v1-a", 50), w("v1-b", 50)), 120))},
			reason: []string{"re-splitting v1 evenly over 2 target groups"},
		},
		{
			name: "replicas lowered at 100%: the groups already listed are kept",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 1)),
				Forward:      fwd(w("v1-a", 50), w("v1-b", 50)),
			},
			want: Decision{Kind: DecisionResplit, From: "v1", To: "v1", Forward: fwdPtr(w("v1-a", 100))},
		},
		{
			name: "a stable group lost its targets: re-split over a healthy one",
			in: Input{
				Cell:         newCell(replicas(2)),
				TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 0), group("v1", "c", 2)),
				Forward:      fwd(w("v1-a", 50), w("v1-b", 50)),
			},
			want: Decision{Kind: DecisionResplit, From: "v1", To: "v1", Forward: fwdPtr(w("v1-a", 50), w("v1-c", 50))},
		},
		{
			name: "leftover weight-0 groups after a rollback are removed",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1)),
				Forward:      fwd(w("v1-a", 100), w("v2-a", 0)),
				Blocked:      []Block{blocked("v2", "failed")},
			},
			want: Decision{Kind: DecisionResplit, From: "v1", To: "v1", Forward: fwdPtr(w("v1-a", 100))},
		},
		{
			name: "steady state with nothing to change",
			in: Input{
				Cell:         newCell(replicas(2)),
				TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 1)),
				Forward:      fwd(w("v1-b", 50), w("v1-a", 50)),
			},
			want:   Decision{Kind: DecisionNoop},
			reason: []string{"steady: v1 serves 100% through 2 target groups"},
		},
		{
			name: "steady state keeps the listed group even when another sorts first",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 1)),
				Forward:      fwd(w("v1-b", 100)),
			},
			want:   Decision{Kind: DecisionNoop},
			reason: []string{"steady: v1 serves 100% through 1 target group"},
		},
		{
			name: "5-group limit: replicas 2 beside 2 stable groups fits (4 groups)",
			in: Input{
				Cell:         newCell(replicas(2)),
				TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 1), group("v2", "a", 1), group("v2", "b", 1)),
				Forward:      fwd(w("v1-a", 50), w("v1-b", 50)),
			},
			want: Decision{Kind: DecisionStartRollout, From: "v1", To: "v2"},
		},
		{
			name: "5-group limit: replicas 3 beside 3 stable groups is refused",
			in: Input{
				Cell: newCell(replicas(3)),
				TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 1), group("v1", "c", 1),
					group("v2", "a", 1), group("v2", "b", 1), group("v2", "c", 1)),
				Forward: fwd(w("v1-a", 34), w("v1-b", 33), w("v1-c", 33)),
			},
			want:   Decision{Kind: DecisionNoop},
			reason: []string{"3 stable and 3 canary target groups", "target groups per forward action is 6, allowed 1 to 5"},
		},
		{
			name: "stable comes from the listener's weights, not the stored status",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1), group("v3", "a", 1)),
				Forward:      fwd(w("v2-a", 100)),
				Status:       Status{StableVersion: "v1"},
			},
			want: Decision{Kind: DecisionStartRollout, From: "v2", To: "v3"},
		},
		{
			name: "traffic split with no rollout running: stored stable wins and takes 100% back",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v1", "a", 1), group("v2", "a", 1)),
				Forward:      fwd(w("v1-a", 40), w("v2-a", 60)),
				Status:       Status{StableVersion: "v1"},
				Blocked:      []Block{blocked("v2", "aborted")},
			},
			want: Decision{Kind: DecisionResplit, From: "v1", To: "v1", Forward: fwdPtr(w("v1-a", 100))},
		},
		{
			name: "target groups with an invalid version tag are ignored with a warning",
			in: Input{
				Cell:         newCell(),
				TargetGroups: groups(group("v1", "a", 1), group("latest", "a", 1)),
				Forward:      fwd(w("v1-a", 100)),
			},
			want: Decision{Kind: DecisionNoop, Warnings: []string{`target group latest-a is ignored: invalid version "latest": "latest" is not a decimal number (want major[.minor[.patch]])`}},
		},
		{
			name: "version read from the versionedBy tag when discovery left Version empty",
			in: Input{
				Cell: newCell(versionLabel("release")),
				TargetGroups: groups(group("v1", "a", 1), func() inventory.TargetGroup {
					g := group("v2", "a", 1)
					g.Version, g.Tags = "", map[string]string{"release": "v2"}
					return g
				}()),
				Forward: fwd(w("v1-a", 100)),
			},
			want: Decision{Kind: DecisionStartRollout, From: "v1", To: "v2"},
		},
		{
			name: "no Cell spec",
			in:   Input{},
			want: Decision{Kind: DecisionNoop}, reason: []string{"no Cell spec"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now = t0
			got := Evaluate(tt.in)
			reason := got.Reason
			got.Reason = ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Evaluate =\n %s\nwant\n %s\n(reason: %s)", dump(got), dump(tt.want), reason)
			}
			for _, r := range tt.reason {
				if !strings.Contains(reason, r) {
					t.Errorf("reason %q does not say %q", reason, r)
				}
			}
			if reason == "" {
				t.Errorf("decision has no reason")
			}
		})
	}
}

func TestDecisionJSON(t *testing.T) {
	d := Decision{Kind: DecisionSwap, Reason: "r", To: "v1", Forward: fwdPtr(w("v1-a", 100))}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"Swap","reason":"r","to":"v1","forward":{"targetGroups":[{"arn":"` + arn("v1-a") + `","weight":100}]}}`
	if string(b) != want {
		t.Errorf("json = %s\nwant   %s", b, want)
	}
}

func TestEvaluateIgnoresNowAndIsRepeatable(t *testing.T) {
	in := Input{
		Cell:         newCell(replicas(2)),
		TargetGroups: groups(group("v1", "a", 1), group("v1", "b", 1), group("v2", "b", 1), group("v2", "a", 1)),
		Forward:      fwd(w("v1-a", 100)),
	}
	first := Evaluate(in)
	in.Now = t0.Add(72 * time.Hour)
	for i := 0; i < 3; i++ {
		if got := Evaluate(in); !reflect.DeepEqual(got, first) {
			t.Fatalf("Evaluate changed: %s then %s", dump(first), dump(got))
		}
	}
}

func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func TestEvaluateDegradedStartsNothingWhileTheListenerRoutesToNothing(t *testing.T) {
	degraded := func(v1Healthy int) Input {
		return Input{
			Cell:         newCell(),
			TargetGroups: groups(group("v1", "a", v1Healthy), group("v2", "a", 1)),
			Forward:      fwd(w("v1-a", 50), w("v2-a", 50)),
			Status:       Status{Phase: PhaseDegraded, StableVersion: "v1"},
		}
	}
	if d := Evaluate(degraded(0)); d.Kind != DecisionNoop || !d.Degraded || !strings.Contains(d.Reason, "Degraded") {
		t.Fatalf("Evaluate of a Degraded Cell = %+v, want a no-op saying Degraded", d)
	}
	if d := Evaluate(degraded(1)); d.Degraded || strings.Contains(d.Reason, "Degraded") {
		t.Fatalf("Evaluate of a Degraded Cell whose listener routes to healthy groups = %+v, want it to go on", d)
	}
}
