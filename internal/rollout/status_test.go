package rollout

import (
	"testing"

	"github.com/okrahq/okra/internal/cell"
)

func TestLocationSame(t *testing.T) {
	rule := &cell.ListenerRule{Priority: 10, Hosts: []string{"web.example.com"}}
	at := LocationOf(cell.Ingress{Type: cell.IngressALB, ListenerARN: "L1", Rule: rule}, "R1")
	if at.RuleARN != "R1" || at.Rule == rule {
		t.Fatalf("LocationOf = %+v: want the rule ARN and a copy of the rule", at)
	}
	tests := []struct {
		name string
		ing  cell.Ingress
		want bool
	}{
		{"same listener and rule", cell.Ingress{ListenerARN: "L1", Rule: &cell.ListenerRule{Priority: 10, Hosts: []string{"web.example.com"}, PathPatterns: []string{}}}, true},
		{"another listener", cell.Ingress{ListenerARN: "L2", Rule: rule}, false},
		{"another priority", cell.Ingress{ListenerARN: "L1", Rule: &cell.ListenerRule{Priority: 11, Hosts: []string{"web.example.com"}}}, false},
		{"other conditions", cell.Ingress{ListenerARN: "L1", Rule: &cell.ListenerRule{Priority: 10, Hosts: []string{"api.example.com"}}}, false},
		{"the default action now", cell.Ingress{ListenerARN: "L1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := at.Same(tt.ing); got != tt.want {
				t.Errorf("Same(%+v) = %t, want %t", tt.ing, got, tt.want)
			}
		})
	}
	back := at.Ingress(cell.Ingress{ListenerARN: "L2", TargetGroupSelector: cell.TargetGroupSelector{MatchLabels: map[string]string{"a": "b"}}})
	if back.ListenerARN != "L1" || back.Rule.Priority != 10 || back.TargetGroupSelector.MatchLabels["a"] != "b" {
		t.Errorf("Ingress = %+v, want the snapshot's listener and rule with the spec's selector", back)
	}
}
