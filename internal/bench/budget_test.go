package bench_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/okrahq/okra/internal/bench"
	"github.com/okrahq/okra/internal/local"
)

// TestReconcileUnderBudgetSlice is a short slice of `make bench`'s
// budget section: 20 clusters under the ELBv2 budget with a foreign
// controller spending 5 Describe* calls a second. Every ELBv2 attempt okra
// made is one the budget saw, the reconciles decide as without a budget,
// and the section renders.
func TestReconcileUnderBudgetSlice(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs the moto emulator (skipped with -short)")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	run, err := bench.RunReconcileUnderBudget(context.Background(), 20, bench.DefaultBudgetSpeed, 5, log)
	if err != nil {
		t.Fatal(err)
	}
	if run.Budget == nil || run.Budget.FirstSim <= 0 || run.Budget.SecondSim <= 0 {
		t.Fatalf("no simulated times recorded: %+v", run.Budget)
	}
	if len(run.Problems) > 0 {
		t.Fatalf("problems: %v", run.Problems)
	}
	if run.FirstDecision == "(none)" || run.SecondDecision == "(none)" {
		t.Fatalf("the planner decided nothing for the Cell: %s, %s", run.FirstDecision, run.SecondDecision)
	}
	for _, c := range []struct {
		name  string
		calls map[string]int
		stats []local.SpendStats
	}{{"first", run.First, run.Budget.First}, {"steady", run.Second, run.Budget.Second}} {
		counted := 0
		for op, n := range c.calls {
			if strings.HasPrefix(op, "Elastic Load Balancing v2.") {
				counted += n
			}
		}
		seen := 0
		for _, s := range c.stats {
			if s.Spender == local.SpenderOkra {
				seen += s.Admitted + s.Throttled
			}
		}
		if counted == 0 || seen != counted {
			t.Errorf("%s reconcile: okra's counter saw %d ELBv2 attempts, the budget %d; want the same, non-zero", c.name, counted, seen)
		}
		foreign := 0
		for _, s := range c.stats {
			if s.Spender == local.SpenderForeign {
				foreign += s.Admitted + s.Throttled
			}
		}
		if foreign == 0 {
			t.Errorf("%s reconcile: the foreign controller spent nothing", c.name)
		}
	}
	var md strings.Builder
	(&bench.Report{BudgetReconciles: []bench.ReconcileRun{run}}).Markdown(&md)
	if !strings.Contains(md.String(), "## 7. Reconcile under the account's ELBv2 API budget") || !strings.Contains(md.String(), "| 20 | steady |") {
		t.Fatalf("the report lacks the budget section:\n%s", md.String())
	}
	t.Logf("first: %s simulated, steady: %s simulated; first decision %s", run.Budget.FirstSim, run.Budget.SecondSim, run.FirstDecision)
}

func TestFunctionSizeBudgets(t *testing.T) {
	for _, c := range []struct {
		name  string
		bytes int64
		over  bool
	}{
		{"reconcile", 29 << 20, false},
		{"reconcile", 31 << 20, true},
		{"cluster-events", 30 << 20, false},
		{"rollout-plan", 18 << 20, false},
		{"rollout-plan", 19 << 20, true},
		{"check-datadog", 0, false}, // not built
	} {
		got := bench.FunctionRun{Name: c.name, Bytes: c.bytes}.OverBudget()
		if (got != "") != c.over {
			t.Errorf("%s at %d bytes: OverBudget() = %q, want over=%v", c.name, c.bytes, got, c.over)
		}
	}
}
