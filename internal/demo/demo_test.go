package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/cli"
	"github.com/okrahq/okra/internal/demo"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// syncBuffer is a bytes.Buffer safe for the demo's concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func run(t *testing.T, scenario string) (demo.Result, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end demo: needs the moto emulator (skipped with -short)")
	}
	var out, moto syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	res, err := demo.Run(ctx, demo.Options{
		Scenario: scenario, Out: &out, NewStatusView: cli.StatusView, MotoLog: &moto, Timeout: 80 * time.Second,
	})
	t.Logf("scenario %s took %s", scenario, time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("demo.Run(%s): %v\noutput:\n%s\nmoto (tail): %s", scenario, err, out.String(), tail(moto.String(), 2000))
	}
	return res, out.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// canaryShare is v2's share (percent, rounded down) of a forward
// action; -1 when it forwards nothing.
func canaryShare(res demo.Result, f weights.Forward) int {
	total, v2 := int32(0), int32(0)
	for _, tg := range f.TargetGroups {
		total += tg.Weight
		if tg.ARN == res.TargetGroups["web-1-v2"] || tg.ARN == res.TargetGroups["web-2-v2"] {
			v2 += tg.Weight
		}
	}
	if total == 0 {
		return -1
	}
	return int(100 * v2 / total)
}

func TestDefaultScenarioRollsV2Out(t *testing.T) {
	res, out := run(t, demo.ScenarioDefault)
	v2 := []string{res.TargetGroups["web-1-v2"], res.TargetGroups["web-2-v2"]}
	if len(res.Final.TargetGroups) != 2 {
		t.Errorf("final listener %+v, want only the two v2 target groups", res.Final)
	}
	for _, tg := range res.Final.TargetGroups {
		if !slices.Contains(v2, tg.ARN) || tg.Weight == 0 {
			t.Errorf("final listener forwards %d to %s, want only v2's groups %v", tg.Weight, tg.ARN, v2)
		}
	}
	if canaryShare(res, res.Final) != 100 {
		t.Errorf("v2's share at the end: %d%%", canaryShare(res, res.Final))
	}
	if res.Status.Phase != rollout.PhaseStable || res.Status.StableVersion != "v2" || res.ExecutionStatus != "SUCCEEDED" {
		t.Errorf("final status %s stable %q, execution %s; want Stable at v2, SUCCEEDED", res.Status.Phase, res.Status.StableVersion, res.ExecutionStatus)
	}
	if len(res.Blocked) != 0 {
		t.Errorf("blocked versions %+v", res.Blocked)
	}

	var set, verified []int
	var got []string
	for _, ev := range res.History {
		got = append(got, string(ev.Type))
		if ev.Version != "v2" || ev.Weights == nil {
			continue
		}
		switch ev.Type {
		case store.EventWeightsSet:
			set = append(set, canaryShare(res, *ev.Weights))
		case store.EventWeightsVerified:
			verified = append(verified, canaryShare(res, *ev.Weights))
		}
	}
	for _, typ := range []store.EventType{store.EventRolloutStarted, store.EventFinalized} {
		if !slices.Contains(got, string(typ)) {
			t.Errorf("history lacks %s: %v", typ, got)
		}
	}
	if want := []int{20, 60, 100}; !slices.Equal(set, want) || !slices.Equal(verified, want) {
		t.Errorf("v2's share in WeightsSet %v and WeightsVerified %v, want %v each", set, verified, want)
	}
	if m := verdicts(res.History); !slices.Equal(m, []string{"Successful", "Successful"}) {
		t.Errorf("analysis measurements %v, want two Successful", m)
	}
	if last := res.History[len(res.History)-1]; last.Type != store.EventFinalized {
		t.Errorf("newest event %s, want Finalized last", last.Type)
	}
	if res.TrafficTicks < 3 || res.TrafficFailures != 0 {
		t.Errorf("traffic: %d intervals, %d failed", res.TrafficTicks, res.TrafficFailures)
	}

	// What the user sees: the status screen of `okra rollout status`, the
	// ArgoCD secrets and the history.
	for _, s := range []string{
		"Phase:      Analyzing", "Step:       2 of 6  analysis canary-5xx-rate", "v2 (canary)", "[████",
		"listener now:    web-1-v2 50%, web-2-v2 50%",
		"argocd.argoproj.io/secret-type: cluster", "okra.dev/target-group.web: arn:aws:elasticloadbalancing:", "caData",
		"…", "History of Cell web (newest last)", "Done in",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	if len(res.Secrets) != 4 {
		t.Errorf("%d ArgoCD secrets, want one per cluster (4)", len(res.Secrets))
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("non-interactive output contains ANSI sequences")
	}
}

func TestBadCanaryIsRolledBack(t *testing.T) {
	res, out := run(t, demo.ScenarioBadCanary)
	if res.Status.Phase != rollout.PhaseRolledBack || res.Status.StableVersion != "v1" {
		t.Errorf("final status %s stable %q, want RolledBack with v1 stable", res.Status.Phase, res.Status.StableVersion)
	}
	if !weights.Equal(res.Final, res.Before) || len(res.Before.TargetGroups) != 2 {
		t.Errorf("listener after the rollback %+v, want exactly the pre-rollout %+v", res.Final, res.Before)
	}
	if !slices.ContainsFunc(res.Blocked, func(b rollout.Block) bool { return b.Version == "v2" }) {
		t.Errorf("blocked %+v, want v2", res.Blocked)
	}
	if m := verdicts(res.History); !slices.Contains(m, "Failed") {
		t.Errorf("measurements %v, want a Failed one", m)
	}
	var types []string
	for _, ev := range res.History {
		types = append(types, string(ev.Type))
	}
	if !slices.Contains(types, string(store.EventRolledBack)) || slices.Contains(types, string(store.EventFinalized)) {
		t.Errorf("history %v, want RolledBack and no Finalized", types)
	}
	for _, s := range []string{"Phase:      RolledBack", "v2 is blocked", "Failed", "the bad canary was caught"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

func verdicts(history []store.Event) []string {
	var out []string
	for _, ev := range history {
		if ev.Type == store.EventAnalysisMeasurement && ev.Measurement != nil {
			out = append(out, string(ev.Measurement.Verdict))
		}
	}
	return out
}

// TestCancelStopsEverything cancels the demo once moto runs: Run returns,
// and neither moto's process nor the gateway is left behind.
func TestCancelStopsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the moto emulator (skipped with -short)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var env demo.Env
	var before []string
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		_, err := demo.Run(ctx, demo.Options{Out: &out, Started: func(e demo.Env) {
			env = e
			before = motoProcesses(t, e.MotoPort)
			cancel() // Ctrl-C, as soon as okra is deployed
		}})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("Run returned no error after its context was cancelled\n%s", out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("Run did not return within 60s of being cancelled\n%s", out.String())
	}
	if env.MotoPort == 0 {
		t.Fatalf("Started was never called\n%s", out.String())
	}
	if len(before) != 1 {
		t.Fatalf("while the demo ran, %d moto processes were found on port %d, want 1: the check below would prove nothing", len(before), env.MotoPort)
	}
	if pids := motoProcesses(t, env.MotoPort); len(pids) > 0 {
		t.Errorf("moto processes left on port %d: %v", env.MotoPort, pids)
	}
	for _, addr := range []string{env.Endpoint[len("http://"):], "127.0.0.1:" + strconv.Itoa(env.MotoPort)} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the demo was cancelled", addr)
		}
	}
	if !strings.Contains(out.String(), "stopped moto and the gateway") {
		t.Errorf("output does not say everything was stopped:\n%s", out.String())
	}
}

// motoProcesses lists the processes running moto_server on port.
func motoProcesses(t *testing.T, port int) []string {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the process ended meanwhile
		}
		args := strings.Split(string(b), "\x00")
		if slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, "moto_server") }) &&
			slices.Contains(args, strconv.Itoa(port)) {
			pids = append(pids, fmt.Sprintf("%s %q", filepath.Base(filepath.Dir(f)), strings.Join(args, " ")))
		}
	}
	return pids
}
