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
	skip := flag.String("skip", "", "parts to skip, comma-separated: reconcile, rollout, functions, go")
	verbose := flag.Bool("v", false, "log okra's handlers at info level to stderr")
	flag.Parse()
	if err := run(*out, *sizes, *coldRuns, *skip, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "okra-bench:", err)
		os.Exit(1)
	}
}

func run(out, sizes string, coldRuns int, skip string, verbose bool) error {
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
	skipped := map[string]bool{}
	for _, s := range strings.Split(skip, ",") {
		skipped[strings.TrimSpace(s)] = true
	}
	began := time.Now()
	r := &bench.Report{Date: began, GoVersion: runtime.Version(), Host: host(), ColdRuns: coldRuns}
	r.Commit, r.Dirty = commit(root)
	progress := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "okra-bench: "+format+"\n", a...) }

	if !skipped["reconcile"] {
		for _, s := range strings.Split(sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 {
				return fmt.Errorf("-sizes: %q is not a positive count", s)
			}
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
	if !skipped["rollout"] {
		progress("rollout end to end")
		res, err := bench.RunRollout(ctx, log)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("rollout: %v", err))
			progress("  failed: %v", err)
		} else {
			r.Rollout = &res
		}
	}
	if !skipped["functions"] {
		progress("function sizes and cold starts")
		res, err := bench.RunFunctions(ctx, coldRuns)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("function sizes and cold starts: %v", err))
			progress("  failed: %v", err)
		}
		r.Functions = res
	}
	if !skipped["go"] {
		progress("Go benchmarks")
		res, err := bench.RunGoBenchmarks(ctx, bench.GoBenchmarkPackages)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("Go benchmarks: %v", err))
			progress("  failed: %v", err)
		}
		r.GoBench = res
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
