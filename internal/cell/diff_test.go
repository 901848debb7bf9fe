package cell

import (
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	base := func() *Cell {
		c, err := Decode([]byte(minimalCellYAML))
		if err != nil {
			t.Fatal(err)
		}
		c.Default()
		return c
	}
	w := func(v int32) *int32 { return &v }
	for _, tc := range []struct {
		name     string
		edit     func(c *Cell)
		summary  string
		nChanges int
		ingress  bool
	}{
		{name: "identical", edit: func(*Cell) {}, summary: "no change"},
		{
			name:     "a step's weight and the replicas",
			edit:     func(c *Cell) { c.Spec.UpdateStrategy.Canary.Steps[0].SetWeight = w(30); c.Spec.Replicas = w(2) },
			summary:  "replicas 1→2, steps[0].setWeight 20→30",
			nChanges: 2,
		},
		{
			name: "a step added",
			edit: func(c *Cell) {
				c.Spec.UpdateStrategy.Canary.Steps = append(c.Spec.UpdateStrategy.Canary.Steps, Step{SetWeight: w(50)})
			},
			summary:  `steps[2] (none)→{"setWeight":50}`,
			nChanges: 1,
		},
		{
			name:     "a step removed",
			edit:     func(c *Cell) { c.Spec.UpdateStrategy.Canary.Steps = c.Spec.UpdateStrategy.Canary.Steps[:1] },
			summary:  `steps[1] {"pause":{"duration":"1m30s"}}→(none)`,
			nChanges: 1,
		},
		{
			name:     "the listener",
			edit:     func(c *Cell) { c.Spec.Ingress.ListenerARN = "arn:other" },
			summary:  "ingress.listenerARN arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web-alb/50dc6c495c0c9188/f2f7dc8efc522ab2→arn:other",
			nChanges: 1, ingress: true,
		},
		{
			name:     "a selector label with a dotted key",
			edit:     func(c *Cell) { c.Spec.Ingress.TargetGroupSelector.MatchLabels["app.kubernetes.io/name"] = "web" },
			summary:  `ingress.targetGroupSelector.matchLabels["app.kubernetes.io/name"] (none)→web`,
			nChanges: 1, ingress: true,
		},
		{
			name:     "a text with spaces is quoted",
			edit:     func(c *Cell) { c.Spec.Version = "v 2" },
			summary:  `version (none)→"v 2"`,
			nChanges: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, new := base(), base()
			tc.edit(new)
			changes, err := Diff(old, new)
			if err != nil {
				t.Fatal(err)
			}
			if len(changes) != tc.nChanges {
				t.Fatalf("got %d changes %v, want %d", len(changes), changes, tc.nChanges)
			}
			if got := Summary(changes); got != tc.summary {
				t.Errorf("Summary = %q, want %q", got, tc.summary)
			}
			if got := TouchesIngress(changes); got != tc.ingress {
				t.Errorf("TouchesIngress = %t, want %t", got, tc.ingress)
			}
		})
	}
}

func TestDiffFromNothingAndSummaryBound(t *testing.T) {
	c, err := Decode([]byte(minimalCellYAML))
	if err != nil {
		t.Fatal(err)
	}
	changes, err := Diff(nil, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Field != "" || changes[0].Old != "" {
		t.Fatalf("Diff(nil, c) = %v, want the whole document as one addition", changes)
	}
	var many []Change
	for i := range 9 {
		many = append(many, Change{Field: index("spec.updateStrategy.canary.steps", i) + ".setWeight", Old: "1", New: "2"})
	}
	got := Summary(many)
	if !strings.HasSuffix(got, ", and 3 more") || strings.Count(got, "→") != 6 {
		t.Errorf("Summary of 9 changes = %q, want 6 spelled out and \"and 3 more\"", got)
	}
}
