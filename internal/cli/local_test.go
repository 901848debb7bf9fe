package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/store"
)

// echoEvent is what the fake handlers take.
type echoEvent struct {
	Cell string `json:"cell"`
}

// CellMissingError is a typed error as okra's handlers return them.
type CellMissingError struct{ Cell string }

func (e *CellMissingError) Error() string { return fmt.Sprintf("cell %q is not stored", e.Cell) }

// fakeFunctions are handlers built from deps like okra's: one reads the
// table, one fails with a typed error, one panics.
func fakeFunctions() []localFunction {
	return []localFunction{
		{Name: "cell-reader", Purpose: "test", Build: func(_ context.Context, deps functionDeps) (any, error) {
			st := store.New(deps.AWS.DynamoDB(), deps.Options.TableName, store.Options{Logger: deps.Logger})
			return func(ctx context.Context, ev echoEvent) (map[string]any, error) {
				rec, err := st.GetCell(ctx, ev.Cell)
				if err != nil {
					return nil, &CellMissingError{Cell: ev.Cell}
				}
				return map[string]any{"cell": rec.Name, "revision": rec.Revision, "table": deps.Options.TableName}, nil
			}, nil
		}},
		{Name: "panicker", Purpose: "test", Build: func(context.Context, functionDeps) (any, error) {
			return func(context.Context, echoEvent) (string, error) { panic("boom") }, nil
		}},
		{Name: "pending", Purpose: "test", Pending: "internal/whatever is still being written"},
	}
}

func TestLocalInvoke(t *testing.T) {
	e := newAWSEnv(t)
	e.mustRun("", "cell", "apply", "-f", examples+"/nlb.yaml")
	withFakes := func(a *App) { a.functions = fakeFunctions() }

	r := e.runApp(withFakes, `{"cell":"tcp-echo"}`, "local", "invoke", "cell-reader", "--event", "-")
	if r.code != ExitOK {
		t.Fatalf("invoke: exit %d\n%s", r.code, r.stderr)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out["cell"] != "tcp-echo" || out["revision"] != 1.0 || out["table"] != e.table {
		t.Errorf("invoke printed %q (%v)", r.stdout, err)
	}

	// A typed error comes back under its type name, as Step Functions sees it.
	r = e.runApp(withFakes, `{"cell":"nope"}`, "local", "invoke", "cell-reader", "--event", "-")
	if r.code != ExitFailure || strings.TrimSpace(r.stderr) != `okra: cell-reader failed: CellMissingError: cell "nope" is not stored` {
		t.Errorf("typed error: exit %d, stderr %q", r.code, r.stderr)
	}
	r = e.runApp(withFakes, `{"cell":"nope"}`, "local", "invoke", "cell-reader", "--event", "-", "-o", "json")
	var fe invocationError
	if err := json.Unmarshal([]byte(r.stdout), &fe); r.code != ExitFailure || err != nil || fe.ErrorType != "CellMissingError" {
		t.Errorf("typed error as JSON: exit %d, %q", r.code, r.stdout)
	}

	r = e.runApp(withFakes, `{}`, "local", "invoke", "panicker", "--event", "-")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "panicker failed: string: boom") {
		t.Errorf("panic: exit %d, %q", r.code, r.stderr)
	}

	cases := []struct {
		name, stdin string
		args        []string
		code        int
		stderr      string
	}{
		{name: "not built yet", stdin: "{}", args: []string{"pending", "--event", "-"}, code: ExitFailure,
			stderr: "function pending is not available in this build yet: internal/whatever is still being written"},
		{name: "unknown function", stdin: "{}", args: []string{"nope", "--event", "-"}, code: ExitUsage,
			stderr: `unknown function "nope": okra's functions are cell-reader, panicker, pending`},
		{name: "no event", args: []string{"cell-reader"}, code: ExitUsage, stderr: "no event: give the event's JSON with --event FILE"},
		{name: "event not JSON", stdin: "cell: web", args: []string{"cell-reader", "--event", "-"}, code: ExitFailure, stderr: "the event in <stdin> is not JSON"},
		{name: "event file missing", args: []string{"cell-reader", "--event", "testdata/none.json"}, code: ExitUsage, stderr: "reading testdata/none.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.runApp(withFakes, tc.stdin, append([]string{"local", "invoke"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d (want %d), stderr %q, want it to contain %q", r.code, tc.code, r.stderr, tc.stderr)
			}
		})
	}
}

// okra's own handlers run against the env's table, built as their
// functions build them.
func TestLocalInvokeOkraFunctions(t *testing.T) {
	e := newAWSEnv(t)
	sm := "arn:aws:states:us-east-1:123456789012:stateMachine:okra-rollout"

	r := e.run("", "local", "invoke", "reconcile", "--event", "../../events/schedule.json", "--state-machine-arn", sm)
	if r.code != ExitOK {
		t.Fatalf("reconcile: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var report map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("reconcile printed %q: %v", r.stdout, err)
	}
	if _, ok := report["clusters"]; !ok {
		t.Errorf("reconcile report %v has no clusters count", report)
	}

	// A Cell whose listener does not exist: the handler's typed error.
	e.mustRun("", "cell", "apply", "-f", examples+"/nlb.yaml")
	r = e.run("", "local", "invoke", "reconcile", "--event", "../../events/schedule.json", "--state-machine-arn", sm)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "okra: reconcile failed: TransientError: ") || !strings.Contains(r.stderr, "ListenerNotFound") {
		t.Errorf("reconcile of a Cell without its listener: exit %d, %s", r.code, r.stderr)
	}

	// The okra- prefix of the deployed names is accepted too.
	r = e.run("{}", "local", "invoke", "okra-rollout-plan", "--event", "-", "-o", "json")
	if r.code != ExitFailure {
		t.Errorf("rollout-plan with an empty event: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	var fe invocationError
	if err := json.Unmarshal([]byte(r.stdout), &fe); err != nil || fe.ErrorType == "" {
		t.Errorf("rollout-plan failure %q: want a typed error as JSON (%v)", r.stdout, err)
	}

	cases := []struct {
		name   string
		args   []string
		stderr string
	}{
		{name: "cluster handlers need the state machine", args: []string{"cluster-events", "--event", "../../events/eks-create-cluster.json"},
			stderr: "building the cluster-events handler, invalid function settings: OKRA_STATE_MACHINE_ARN: required"},
		{name: "datadog needs its secret", args: []string{"check-datadog", "--event", "../../events/schedule.json"},
			stderr: "OKRA_DATADOG_SECRET_ARN: required (the Datadog API and application keys are read from that secret)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run("", append([]string{"local", "invoke"}, tc.args...)...)
			if r.code != ExitFailure || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q, want it to contain %q", r.code, r.stderr, tc.stderr)
			}
		})
	}

	names := map[string]bool{}
	for _, f := range defaultFunctions() {
		if names[f.Name] {
			t.Errorf("function %s listed twice", f.Name)
		}
		names[f.Name] = true
		if f.Build == nil && f.Pending == "" {
			t.Errorf("function %s has neither a handler nor a reason", f.Name)
		}
	}
	for _, want := range []string{"cluster-events", "reconcile", "config-change", "safety-net", "rollout-plan", "rollout-weights", "rollout-approval", "rollout-rollback", "rollout-finalize", "check-cloudwatch", "check-datadog"} {
		if !names[want] {
			t.Errorf("function %s is missing", want)
		}
	}
}

func TestLocalUp(t *testing.T) {
	newAWSEnv(t) // parallel, and skipped with -short; its table is not used
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	app := NewApp(strings.NewReader(""), &out, &errOut)
	app.getenv = func(string) string { return "" }
	done := make(chan int, 1)
	start := time.Now()
	go func() { done <- app.Execute(ctx, []string{"local", "up", "--port", "0", "--table", "okra-local"}) }()

	endpoint := regexp.MustCompile(`endpoint:\s+(http://127\.0\.0\.1:\d+)`)
	waitFor(t, "okra local up to print its endpoint", 90*time.Second, func() bool {
		select {
		case code := <-done:
			t.Fatalf("local up ended early with exit %d: %s", code, errOut.String())
		default:
		}
		return endpoint.MatchString(out.String())
	})
	for _, want := range []string{
		"table:          okra-local",
		"state machine:  arn:aws:states:us-east-1:123456789012:stateMachine:okra-rollout",
		"okra-rollout-plan", "okra-cluster-events", "okra-check-cloudwatch",
		"missing:        okra-check-datadog",
		"Press Ctrl-C to stop.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("local up output lacks %q:\n%s", want, out.String())
		}
	}
	url := endpoint.FindStringSubmatch(out.String())[1]
	t.Logf("local up printed its endpoint after %s", time.Since(start))

	// The endpoint serves okra's table and the load balancers: apply reads
	// the table, then finds that the example's listener does not exist
	// there, and stores nothing.
	r := run(t, "", "--endpoint-url", url, "--table", "okra-local", "cell", "apply", "-f", examples+"/alb-basic.yaml")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "spec.ingress.listenerARN: listener arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web-alb/50dc6c495c0c9188/f2f7dc8efc522ab2 does not exist") {
		t.Errorf("apply against local up: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if r := run(t, "", "--endpoint-url", url, "--table", "okra-local", "cell", "list"); r.code != ExitOK || !strings.HasPrefix(r.stdout, "NAME") {
		t.Errorf("cell list against local up: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}

	cancel()
	stopping := time.Now()
	defer func() { t.Logf("local up stopped in %s", time.Since(stopping)) }()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("local up ended with exit %d: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("local up did not stop after Ctrl-C")
	}
	if r := run(t, "", "--endpoint-url", url, "--table", "okra-local", "cell", "list"); r.code == ExitOK {
		t.Error("the endpoint still answers after local up stopped")
	}
}
