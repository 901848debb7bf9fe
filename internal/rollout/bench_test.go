package rollout

import "testing"

// benchInput is a mid-rollout Cell with two replicas per version and a
// newer version waiting, the busiest case for both entry points.
func benchInput() Input {
	return Input{
		Cell: newCell(threeStep, replicas(2), background(nil, "latency")),
		TargetGroups: groups(
			group("v1", "a", 3), group("v1", "b", 3),
			group("v2", "a", 3), group("v2", "b", 3),
			group("v3", "a", 0), group("v3", "b", 3),
		),
		Forward: sticky(fwd(w("v1-a", 40), w("v1-b", 40), w("v2-a", 10), w("v2-b", 10)), 60),
		Status:  rolling("v1", "v2", 2, fwd(w("v1-a", 50), w("v1-b", 50))),
		Blocked: []Block{blocked("v0", "old")},
		Now:     t0,
	}
}

func BenchmarkEvaluate(b *testing.B) {
	in := benchInput()
	in.Status = Status{StableVersion: "v1"}
	in.Forward = fwd(w("v1-a", 50), w("v1-b", 50))
	if d := Evaluate(in); d.Kind != DecisionStartRollout {
		b.Fatalf("benchmark input decides %s (%s), want StartRollout", d.Kind, d.Reason)
	}
	for b.Loop() {
		Evaluate(in)
	}
}

func BenchmarkNext(b *testing.B) {
	in := benchInput()
	if a := Next(in); a.Kind != ActionSetWeights {
		b.Fatalf("benchmark input decides %s (%s), want SetWeights", a.Kind, a.Reason)
	}
	for b.Loop() {
		Next(in)
	}
}
