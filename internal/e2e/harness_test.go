// Package e2e holds okra's end-to-end tests: moto's Step Functions
// executes statemachines/rollout.asl.json against the real handlers,
// served in-process by the local gateway, and the handlers talk to moto's
// ELBv2, DynamoDB and Step Functions. Each test builds its own network,
// load balancer, target groups and Cell, so tests share one emulator.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/local"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/targetgroups"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/weights"
)

// shared is the one local stack (moto behind the gateway) with okra
// deployed, started by the first test that needs it.
var shared struct {
	once  sync.Once
	stack *local.Stack
	okra  *local.Okra
	err   error
	logs  syncBuffer
	moto  syncBuffer
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stack != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := shared.stack.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the local stack:", err)
		}
		cancel()
	}
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
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

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// deployed returns okra deployed into the shared local stack.
func deployed(t *testing.T) *local.Okra {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs the moto emulator (skipped with -short)")
	}
	shared.once.Do(func() {
		ctx := context.Background()
		log := slog.New(slog.NewJSONHandler(&shared.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		shared.stack, shared.err = local.Start(ctx, local.Options{
			Logger: log, MotoLog: &shared.moto, FunctionTimeout: time.Minute,
		})
		if shared.err != nil {
			return
		}
		shared.okra, shared.err = local.Deploy(ctx, shared.stack, local.OkraOptions{Logger: log})
	})
	if shared.err != nil {
		t.Fatalf("starting okra locally: %v\nmoto log: %s", shared.err, tail(shared.moto.String(), 3000))
	}
	return shared.okra
}

// fixture is one Cell behind its own load balancer: a listener forwarding
// to the stable version's target groups, and target groups for other
// versions, created by targetgroups.Ensure for clusters that exist only
// as tags (so Finalize finds their clusters gone).
type fixture struct {
	t        *testing.T
	ctx      context.Context
	okra     *local.Okra
	elb      *elbv2.Client
	sfn      *sfn.Client
	name     string
	vpc      string
	listener string
	spec     *cell.Cell
	tgs      *targetgroups.Manager
	groups   map[string]inventory.TargetGroup // by version (one replica)
	control  *listener.Client
	execs    *executions.Executions
	snapshot weights.Forward
}

// canary builds the steps of a Cell's canary strategy from a compact
// list: an int is setWeight, a time.Duration a timed pause, "pause" an
// indefinite one.
func canary(steps ...any) []cell.Step {
	var out []cell.Step
	for _, s := range steps {
		switch v := s.(type) {
		case int:
			w := int32(v)
			out = append(out, cell.Step{SetWeight: &w})
		case time.Duration:
			out = append(out, cell.Step{Pause: &cell.Pause{Duration: &cell.Duration{Duration: v}}})
		case string:
			out = append(out, cell.Step{Pause: &cell.Pause{}})
		}
	}
	return out
}

// newFixture builds a Cell with steps and rollbackWindow whose listener
// forwards 100% (sticky for 60s) to v1, with target groups for each of
// versions (v1 first) holding healthy targets when healthy says so.
func newFixture(t *testing.T, steps []cell.Step, rollbackWindow time.Duration, versions map[string]bool) *fixture {
	t.Helper()
	o := deployed(t)
	f, _ := newFixtureOn(t, o, o.AWS, steps, rollbackWindow, versions)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway and handler log (tail):\n%s", tail(shared.logs.String(), 6000))
		}
	})
	return f
}

func sortedVersions(m map[string]bool) []string {
	out := slices.Collect(maps.Keys(m))
	slices.Sort(out) // v1 < v2 < v3 as text, which is all the fixtures use
	return out
}

// registerTargets gives version v's target group two targets (moto
// reports every registered target healthy).
func (f *fixture) registerTargets(v string) {
	f.t.Helper()
	_, err := f.elb.RegisterTargets(f.ctx, &elbv2.RegisterTargetsInput{
		TargetGroupArn: aws.String(f.groups[v].ARN),
		Targets:        []elbv2types.TargetDescription{{Id: aws.String("10.0.0.10")}, {Id: aws.String("10.0.0.11")}},
	})
	if err != nil {
		f.t.Fatalf("RegisterTargets %s: %v", v, err)
	}
}

// deregisterTargets empties version v's target group: zero healthy.
func (f *fixture) deregisterTargets(v string) {
	f.t.Helper()
	_, err := f.elb.DeregisterTargets(f.ctx, &elbv2.DeregisterTargetsInput{
		TargetGroupArn: aws.String(f.groups[v].ARN),
		Targets:        []elbv2types.TargetDescription{{Id: aws.String("10.0.0.10")}, {Id: aws.String("10.0.0.11")}},
	})
	if err != nil {
		f.t.Fatalf("DeregisterTargets %s: %v", v, err)
	}
}

// forward reads the Cell's forward action.
func (f *fixture) forward() weights.Forward {
	f.t.Helper()
	fwd, err := f.control.Read(f.ctx, f.spec.Spec.Ingress)
	if err != nil {
		f.t.Fatalf("reading the listener: %v", err)
	}
	return fwd
}

// split returns the forward action giving v1 and v2 the weights given,
// sticky for 60s like the fixture's listener.
func (f *fixture) split(pairs ...any) weights.Forward {
	fwd := weights.Forward{Stickiness: &weights.Stickiness{Enabled: true, DurationSeconds: 60}}
	for i := 0; i < len(pairs); i += 2 {
		fwd.TargetGroups = append(fwd.TargetGroups, weights.TargetGroupWeight{ARN: f.groups[pairs[i].(string)].ARN, Weight: int32(pairs[i+1].(int))})
	}
	return fwd
}

func (f *fixture) describe(fwd weights.Forward) string {
	var parts []string
	for _, tg := range fwd.TargetGroups {
		name := tg.ARN
		for v, g := range f.groups {
			if g.ARN == tg.ARN {
				name = v
			}
		}
		parts = append(parts, fmt.Sprintf("%s=%d", name, tg.Weight))
	}
	s := strings.Join(parts, " ")
	if fwd.Stickiness != nil && fwd.Stickiness.Enabled {
		s += fmt.Sprintf(" sticky=%ds", fwd.Stickiness.DurationSeconds)
	}
	return "[" + s + "]"
}

// start starts the rollout of version (attempt) through executions.Start,
// as the reconciler does.
func (f *fixture) start(version string, attempt int) string {
	f.t.Helper()
	arn, started, err := f.execs.Start(f.ctx, executions.Input{Cell: f.name, TargetVersion: version, FromVersion: "v1", Attempt: attempt, Trigger: "e2e"})
	if err != nil {
		f.t.Fatalf("starting the rollout of %s: %v", version, err)
	}
	if !started {
		f.t.Fatalf("the rollout of %s (attempt %d) already existed", version, attempt)
	}
	return arn
}

// wait waits for the execution to end, failing with its history, the
// Cell status and history when it does not within timeout or ends in
// another status than want.
func (f *fixture) wait(arn string, want sfntypes.ExecutionStatus, timeout time.Duration) *sfn.DescribeExecutionOutput {
	f.t.Helper()
	out, err := testenv.WaitExecution(f.ctx, f.sfn, arn, timeout)
	if err != nil {
		f.t.Fatalf("%v\n%s", err, f.dump(arn))
	}
	if out.Status != want {
		f.t.Fatalf("execution %s ended %s (error %q, cause %q), want %s\n%s",
			aws.ToString(out.Name), out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), want, f.dump(arn))
	}
	return out
}

// dump renders the execution's history, the Cell's status and its
// history, for failure messages.
func (f *fixture) dump(arn string) string {
	var b strings.Builder
	hist, err := f.sfn.GetExecutionHistory(f.ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000})
	if err != nil {
		fmt.Fprintf(&b, "execution history: %v\n", err)
	} else {
		fmt.Fprintf(&b, "execution history of %s:\n", arn)
		for _, ev := range hist.Events {
			fmt.Fprintf(&b, "  %3d %s %s\n", ev.Id, ev.Type, historyDetail(ev))
		}
	}
	rec, err := f.okra.Store.GetStatus(f.ctx, f.name)
	if err != nil {
		fmt.Fprintf(&b, "status: %v\n", err)
	} else {
		js, _ := json.MarshalIndent(rec.Status, "  ", "  ")
		fmt.Fprintf(&b, "Cell status:\n  %s\n", js)
	}
	evs, err := f.okra.Store.ListEvents(f.ctx, f.name, 0, false)
	if err != nil {
		fmt.Fprintf(&b, "Cell history: %v\n", err)
	} else {
		fmt.Fprintf(&b, "Cell history:\n")
		for _, ev := range evs {
			w := ""
			if ev.Weights != nil {
				w = f.describe(*ev.Weights)
			}
			fmt.Fprintf(&b, "  %s %-16s %s %s %s\n", ev.Time.Format("15:04:05.000"), ev.Type, ev.Version, w, ev.Message)
		}
	}
	fmt.Fprintf(&b, "listener now: %s\n", f.describe(f.forward()))
	return b.String()
}

func historyDetail(ev sfntypes.HistoryEvent) string {
	switch {
	case ev.StateEnteredEventDetails != nil:
		return aws.ToString(ev.StateEnteredEventDetails.Name)
	case ev.TaskFailedEventDetails != nil:
		return aws.ToString(ev.TaskFailedEventDetails.Error) + ": " + tail(aws.ToString(ev.TaskFailedEventDetails.Cause), 400)
	case ev.LambdaFunctionFailedEventDetails != nil:
		return aws.ToString(ev.LambdaFunctionFailedEventDetails.Error) + ": " + tail(aws.ToString(ev.LambdaFunctionFailedEventDetails.Cause), 400)
	case ev.ExecutionFailedEventDetails != nil:
		return aws.ToString(ev.ExecutionFailedEventDetails.Error) + ": " + aws.ToString(ev.ExecutionFailedEventDetails.Cause)
	case ev.ExecutionAbortedEventDetails != nil:
		return aws.ToString(ev.ExecutionAbortedEventDetails.Error)
	}
	return ""
}

// states lists the states the execution entered, in order.
func (f *fixture) states(arn string) []string {
	f.t.Helper()
	hist, err := f.sfn.GetExecutionHistory(f.ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000})
	if err != nil {
		f.t.Fatalf("GetExecutionHistory: %v", err)
	}
	var out []string
	for _, ev := range hist.Events {
		if ev.StateEnteredEventDetails != nil {
			out = append(out, aws.ToString(ev.StateEnteredEventDetails.Name))
		}
	}
	return out
}

// status returns the Cell's status.
func (f *fixture) status() rollout.Status {
	f.t.Helper()
	rec, err := f.okra.Store.GetStatus(f.ctx, f.name)
	if err != nil {
		f.t.Fatalf("GetStatus: %v", err)
	}
	return rec.Status
}

// events returns the Cell's history, oldest first.
func (f *fixture) events() []store.Event {
	f.t.Helper()
	evs, err := f.okra.Store.ListEvents(f.ctx, f.name, 0, false)
	if err != nil {
		f.t.Fatalf("ListEvents: %v", err)
	}
	return evs
}

// waitFor polls cond every 50ms until it holds, failing after timeout
// with what cond last said and the execution's dump.
func (f *fixture) waitFor(arn, what string, timeout time.Duration, cond func() (bool, string)) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, why := cond()
		if ok {
			return
		}
		last = why
		time.Sleep(50 * time.Millisecond)
	}
	f.t.Fatalf("waiting %s for %s: %s\n%s", timeout, what, last, f.dump(arn))
}

// waitPaused waits until the rollout waits for approval with a task token.
func (f *fixture) waitPaused(arn string) rollout.Status {
	f.t.Helper()
	var st rollout.Status
	f.waitFor(arn, "the rollout to wait for approval", 60*time.Second, func() (bool, string) {
		st = f.status()
		return st.Phase == rollout.PhasePaused && st.TaskToken != "", fmt.Sprintf("status %s (%s), token set: %t", st.Phase, st.Message, st.TaskToken != "")
	})
	return st
}
