package rollout

import (
	"math/rand"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/weights"
)

// randomInput builds a random but plausible planner input: a few versions
// with a few target groups of random health, a listener forwarding to some
// of them (sometimes to a foreign group), sometimes a running rollout,
// blocks and a pin.
func randomInput(r *rand.Rand) Input {
	versions := []string{"v1", "v2", "v10", "v2.0.0-rc.1", "v3"}
	var tgs []inventory.TargetGroup
	for _, v := range versions {
		for _, cluster := range []string{"a", "b", "c"}[:r.Intn(4)] {
			tgs = append(tgs, group(v, cluster, r.Intn(3)))
		}
	}
	var opts []cellOption
	opts = append(opts, replicas(int32(1+r.Intn(2))))
	if r.Intn(2) == 0 {
		opts = append(opts, minHealthy(int32(r.Intn(3))))
	}
	if r.Intn(2) == 0 {
		opts = append(opts, threeStep)
	}
	if r.Intn(4) == 0 {
		opts = append(opts, pin(versions[r.Intn(len(versions))]))
	}
	in := Input{Cell: newCell(opts...), TargetGroups: tgs, Now: t0}

	if len(tgs) > 0 && r.Intn(5) != 0 {
		picked := r.Perm(len(tgs))[:1+r.Intn(min(len(tgs), weights.MaxTargetGroupsPerAction))]
		for _, i := range picked {
			in.Forward.TargetGroups = append(in.Forward.TargetGroups, weights.TargetGroupWeight{ARN: tgs[i].ARN, Weight: int32(r.Intn(101))})
		}
		if in.Forward.Total() == 0 {
			in.Forward.TargetGroups[0].Weight = 100
		}
		if r.Intn(20) == 0 {
			in.Forward.TargetGroups = append(in.Forward.TargetGroups, w("foreign-1", 1), w("foreign-2", 0))
		}
		if r.Intn(3) == 0 {
			in.Forward.Stickiness = &weights.Stickiness{Enabled: true, DurationSeconds: 60}
		}
	}
	if r.Intn(2) == 0 {
		stable, canary := versions[r.Intn(len(versions))], versions[r.Intn(len(versions))]
		snapshot := in.Forward.Clone()
		if snapshot.Empty() || weights.Validate(snapshot) != nil {
			snapshot = fwd()
		}
		in.Status = rolling(stable, canary, r.Intn(7), snapshot)
		if r.Intn(4) == 0 {
			in.Status.FinalizeAfter = at(time.Duration(r.Intn(30)-15) * time.Minute)
		}
	}
	for _, v := range versions {
		if r.Intn(6) == 0 {
			in.Blocked = append(in.Blocked, blocked(v, "failed"))
		}
	}
	return in
}

// shuffled returns in with its target groups and forward action reordered.
func shuffled(r *rand.Rand, in Input) Input {
	out := in
	out.TargetGroups = slices.Clone(in.TargetGroups)
	r.Shuffle(len(out.TargetGroups), func(i, j int) { out.TargetGroups[i], out.TargetGroups[j] = out.TargetGroups[j], out.TargetGroups[i] })
	out.Forward = in.Forward.Clone()
	tg := out.Forward.TargetGroups
	r.Shuffle(len(tg), func(i, j int) { tg[i], tg[j] = tg[j], tg[i] })
	return out
}

func cellARNs(in Input) map[string]inventory.TargetGroup {
	out := map[string]inventory.TargetGroup{}
	for _, tg := range in.TargetGroups {
		out[tg.ARN] = tg
	}
	return out
}

func isBlocked(in Input, v string) bool {
	for _, b := range in.Blocked {
		if b.Version == v {
			return true
		}
	}
	return false
}

func TestEvaluateInvariants(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	kinds := map[DecisionKind]int{}
	for i := 0; i < 10000; i++ {
		in := randomInput(r)
		d := Evaluate(in)
		kinds[d.Kind]++
		own := cellARNs(in)
		if d.Reason == "" {
			t.Fatalf("case %d: decision without a reason: %s", i, dump(d))
		}
		if d.Kind != DecisionNoop && in.Status.Leased() {
			t.Fatalf("case %d: %s while leased", i, d.Kind)
		}
		for _, tg := range in.Forward.TargetGroups {
			if _, ok := own[tg.ARN]; !ok && d.Kind != DecisionNoop {
				t.Fatalf("case %d: %s with a foreign group in the listener", i, d.Kind)
			}
		}
		if d.Kind == DecisionStartRollout || d.Kind == DecisionSwap {
			if isBlocked(in, d.To) {
				t.Fatalf("case %d: %s to blocked %s", i, d.Kind, d.To)
			}
		}
		if d.Forward != nil {
			if err := weights.Validate(*d.Forward); err != nil {
				t.Fatalf("case %d: invalid forward %s: %v", i, dump(d.Forward), err)
			}
			for _, tg := range d.Forward.TargetGroups {
				g, ok := own[tg.ARN]
				if !ok {
					t.Fatalf("case %d: forward names a group that is not the Cell's: %s", i, tg.ARN)
				}
				if g.Version != d.To {
					t.Fatalf("case %d: %s forward routes to %s of version %s, want only %s", i, d.Kind, tg.ARN, g.Version, d.To)
				}
			}
			if !reflect.DeepEqual(d.Forward.Stickiness, in.Forward.Stickiness) {
				t.Fatalf("case %d: stickiness %+v not kept (was %+v)", i, d.Forward.Stickiness, in.Forward.Stickiness)
			}
		}
		if again := Evaluate(shuffled(r, in)); !reflect.DeepEqual(again, d) {
			t.Fatalf("case %d: Evaluate depends on input order:\n %s\n %s", i, dump(d), dump(again))
		}
	}
	for _, k := range []DecisionKind{DecisionNoop, DecisionStartRollout, DecisionSwap, DecisionResplit} {
		if kinds[k] == 0 {
			t.Errorf("no random case produced %s; the generator is too weak (%v)", k, kinds)
		}
	}
}

func TestNextInvariants(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	kinds := map[ActionKind]int{}
	for i := 0; i < 10000; i++ {
		in := randomInput(r)
		a := Next(in)
		kinds[a.Kind]++
		own := cellARNs(in)
		if a.Reason == "" {
			t.Fatalf("case %d: action without a reason: %s", i, dump(a))
		}
		canary := in.Status.CanaryVersion
		if a.Kind == ActionSetWeights || a.Kind == ActionAnalyze || a.Kind == ActionPause || a.Kind == ActionFinalize {
			if isBlocked(in, canary) {
				t.Fatalf("case %d: %s for blocked canary %s", i, a.Kind, canary)
			}
		}
		if a.Forward != nil {
			if err := weights.Validate(*a.Forward); err != nil {
				t.Fatalf("case %d: invalid forward %s: %v", i, dump(a.Forward), err)
			}
		}
		if a.Kind == ActionSetWeights || a.Kind == ActionFinalize {
			var canaryARNs []string
			for _, tg := range a.Forward.TargetGroups {
				g, ok := own[tg.ARN]
				if !ok {
					t.Fatalf("case %d: %s names a group that is not the Cell's: %s", i, a.Kind, tg.ARN)
				}
				if g.Version == canary {
					canaryARNs = append(canaryARNs, tg.ARN)
				}
			}
			if got := weights.Share(*a.Forward, canaryARNs); got != int(a.CanaryWeight) {
				t.Fatalf("case %d: %s gives the canary %d%%, CanaryWeight says %d", i, a.Kind, got, a.CanaryWeight)
			}
			before := weights.Share(in.Forward, canaryARNs)
			for _, arn := range canaryARNs {
				if w, _ := a.Forward.Weight(arn); int(a.CanaryWeight) > before && w > 0 && own[arn].HealthyTargets < minHealthyOf(in.Cell) {
					t.Fatalf("case %d: canary weight rises from %d to %d onto unhealthy %s", i, before, a.CanaryWeight, arn)
				}
			}
			if !reflect.DeepEqual(a.Forward.Stickiness, in.Forward.Stickiness) {
				t.Fatalf("case %d: stickiness %+v not kept (was %+v)", i, a.Forward.Stickiness, in.Forward.Stickiness)
			}
		}
		if again := Next(shuffled(r, in)); !reflect.DeepEqual(again, a) {
			t.Fatalf("case %d: Next depends on input order:\n %s\n %s", i, dump(a), dump(again))
		}
	}
	for _, k := range []ActionKind{ActionSetWeights, ActionPause, ActionAnalyze, ActionWaitForHealthy, ActionFinalize, ActionRollback, ActionSupersede, ActionDone, ActionAwaitApproval} {
		if kinds[k] == 0 {
			t.Errorf("no random case produced %s; the generator is too weak (%v)", k, kinds)
		}
	}
}
