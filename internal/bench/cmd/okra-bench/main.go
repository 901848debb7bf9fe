// Command okra-bench runs okra's benchmarks against the local emulator and
// writes the Markdown report (docs/benchmarks.md under `make bench`). It
// starts and stops every emulator it needs; it needs moto_server
// ($OKRA_MOTO_SERVER or .venv/bin/moto_server) and the go command.
//
//	go run ./internal/bench/cmd/okra-bench -out docs/benchmarks.md
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/okrahq/okra/internal/bench"
	"github.com/okrahq/okra/internal/testenv"
)

func main() {
	out := flag.String("out", "docs/benchmarks.md", "where to write the report (- for stdout)")
	sizes := flag.String("sizes", "10,100,1000", "cluster (= target group) counts for the reconcile benchmark")
	coldRuns := flag.Int("cold-runs", 5, "cold starts per function")
	skip := flag.String("skip", "", "parts to skip, comma-separated: "+strings.Join(parts, ", "))
	only := flag.String("only", "", "run only these parts, comma-separated (default: every part not skipped)")
	budgetSizes := flag.String("budget-sizes", "1000", "cluster counts for the reconcile under the ELBv2 budget (part budget)")
	budgetSpeed := flag.Float64("budget-speed", bench.DefaultBudgetSpeed, "simulated seconds per real second of the ELBv2 budget's clock (part budget)")
	budgetForeign := flag.Float64("budget-foreign", 0, "Describe* calls a second a foreign controller spends during the reconcile under the budget")
	verbose := flag.Bool("v", false, "log okra's handlers at info level to stderr")
	flag.Parse()
	selected, err := selectParts(*only, *skip)
	if err != nil {
		fmt.Fprintln(os.Stderr, "okra-bench:", err)
		os.Exit(2)
	}
	b := budgetFlags{sizes: *budgetSizes, speed: *budgetSpeed, foreign: *budgetForeign}
	if err := run(*out, *sizes, *coldRuns, selected, b, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "okra-bench:", err)
		os.Exit(1)
	}
}

// parts are the report's parts, as -only and -skip name them.
var parts = []string{"reconcile", "rollout", "functions", "go", "budget"}

// selectParts returns the parts to run: -only's (every part when empty)
// less -skip's.
func selectParts(only, skip string) (map[string]bool, error) {
	list := func(flagName, v string) ([]string, error) {
		var out []string
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if !slices.Contains(parts, s) {
				return nil, fmt.Errorf("-%s: unknown part %q: want %s", flagName, s, strings.Join(parts, ", "))
			}
			out = append(out, s)
		}
		return out, nil
	}
	o, err := list("only", only)
	if err != nil {
		return nil, err
	}
	if len(o) == 0 {
		o = parts
	}
	sk, err := list("skip", skip)
	if err != nil {
		return nil, err
	}
	selected := map[string]bool{}
	for _, p := range o {
		selected[p] = !slices.Contains(sk, p)
	}
	return selected, nil
}

// budgetFlags configure the budget part.
type budgetFlags struct {
	sizes   string
	speed   float64
	foreign float64
}

// counts parses a comma-separated list of positive counts.
func counts(flagName, v string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-%s: %q is not a positive count", flagName, s)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(out, sizes string, coldRuns int, selected map[string]bool, budget budgetFlags, verbose bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	level := slog.LevelError + 4 // quiet: okra's warnings are expected noise here
	if verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	root, err := testenv.ModuleRoot()
	if err != nil {
		return err
	}
	began := time.Now()
	r := &bench.Report{Date: began, GoVersion: runtime.Version(), Host: host(), ColdRuns: coldRuns}
	r.Commit, r.Dirty = commit(root)
	progress := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "okra-bench: "+format+"\n", a...) }

	if selected["reconcile"] {
		ns, err := counts("sizes", sizes)
		if err != nil {
			return err
		}
		for _, n := range ns {
			progress("reconcile with %d clusters", n)
			t := time.Now()
			res, err := bench.RunReconcile(ctx, n, log)
			if err != nil {
				r.Errors = append(r.Errors, fmt.Sprintf("reconcile of %d clusters: %v", n, err))
				progress("  failed: %v", err)
				continue
			}
			progress("  done in %s: first %d calls, second %d calls", time.Since(t).Round(time.Second), total(res.First), total(res.Second))
			r.Reconciles = append(r.Reconciles, res)
		}
	}
	if selected["rollout"] {
		progress("rollout end to end")
		res, err := bench.RunRollout(ctx, log)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("rollout: %v", err))
			progress("  failed: %v", err)
		} else {
			r.Rollout = &res
		}
	}
	if selected["functions"] {
		progress("function sizes and cold starts")
		res, err := bench.RunFunctions(ctx, coldRuns)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("function sizes and cold starts: %v", err))
			progress("  failed: %v", err)
		}
		r.Functions = res
	}
	if selected["go"] {
		progress("Go benchmarks")
		res, err := bench.RunGoBenchmarks(ctx, bench.GoBenchmarkPackages)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("Go benchmarks: %v", err))
			progress("  failed: %v", err)
		}
		r.GoBench = res
	}
	if selected["budget"] {
		ns, err := counts("budget-sizes", budget.sizes)
		if err != nil {
			return err
		}
		for _, n := range ns {
			progress("reconcile with %d clusters under the ELBv2 budget (clock %g× real time)", n, budget.speed)
			t := time.Now()
			res, err := bench.RunReconcileUnderBudget(ctx, n, budget.speed, budget.foreign, log)
			if err != nil {
				r.Errors = append(r.Errors, fmt.Sprintf("reconcile of %d clusters under the ELBv2 budget: %v", n, err))
				progress("  failed: %v", err)
				continue
			}
			progress("  done in %s: first %s simulated, steady %s simulated", time.Since(t).Round(time.Second), res.Budget.FirstSim.Round(time.Second), res.Budget.SecondSim.Round(time.Second))
			r.BudgetReconciles = append(r.BudgetReconciles, res)
		}
	}
	for _, f := range r.Functions {
		if over := f.OverBudget(); over != "" {
			r.Errors = append(r.Errors, over)
		}
	}
	r.Wall = time.Since(began)

	var buf bytes.Buffer
	r.Markdown(&buf)
	if out == "-" {
		_, err = os.Stdout.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	progress("wrote %s in %s", out, r.Wall.Round(time.Second))
	if len(r.Errors) > 0 {
		return fmt.Errorf("%d part(s) failed; the report says which", len(r.Errors))
	}
	return nil
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// commit returns HEAD and whether the working tree differs (read-only git
// calls).
func commit(root string) (string, bool) {
	cmd := exec.Command("git", "rev-parse", "HEAD")
	cmd.Dir = root
	b, err := cmd.Output()
	if err != nil {
		return "unknown", false
	}
	st := exec.Command("git", "status", "--porcelain", "--untracked-files=no")
	st.Dir = root
	s, _ := st.Output()
	return strings.TrimSpace(string(b)), len(bytes.TrimSpace(s)) > 0
}

func host() string {
	return fmt.Sprintf("%s/%s, %d CPUs (shared)", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
}
