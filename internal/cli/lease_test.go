package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/gate"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/weights"
)

// rolloutMachine is the state machine the tests' lease holders run in:
// one state waiting a day, so an execution stays RUNNING until stopped.
const rolloutMachine = "arn:aws:states:us-east-1:123456789012:stateMachine:okra-rollout"

// runningExecution makes sure the execution name of rolloutMachine runs
// in the shared moto, and returns its ARN.
func runningExecution(t *testing.T, e *awsEnv, name string) string {
	t.Helper()
	api := e.cfg.SFN()
	_, err := api.CreateStateMachine(e.ctx, &sfn.CreateStateMachineInput{
		Name: aws.String("okra-rollout"), RoleArn: aws.String(testenv.RoleARN),
		Definition: aws.String(`{"StartAt":"Hold","States":{"Hold":{"Type":"Wait","Seconds":86400,"End":true}}}`),
	})
	var exists *sfntypes.StateMachineAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	arn := strings.Replace(rolloutMachine, ":stateMachine:", ":execution:", 1) + ":" + name
	if out, err := api.DescribeExecution(e.ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)}); err == nil {
		if out.Status != sfntypes.ExecutionStatusRunning {
			t.Fatalf("execution %s is %s, want RUNNING", name, out.Status)
		}
		return arn
	}
	_, err = api.StartExecution(e.ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(rolloutMachine), Name: aws.String(name), Input: aws.String("{}")})
	var started *sfntypes.ExecutionAlreadyExists
	if err != nil && !errors.As(err, &started) {
		t.Fatalf("StartExecution %s: %v", name, err)
	}
	return arn
}

// TestReadersRecoverADeadHolder: the rollout's execution was stopped and
// the safety-net event never came; `okra rollout status` and `okra plan`
// find the ABORTED lease holder, restore the snapshot, release the lease,
// record who found it, and say so.
func TestReadersRecoverADeadHolder(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		args         []string
		foundBy      string
		stdout       string
	}{
		{"status", "deadst", []string{"rollout", "status", "web"}, "found by okra rollout status (by alice)", "RolledBack"},
		{"plan", "deadpl", []string{"plan", "web"}, "found by okra plan (by alice)", "Recovered:  the lease holder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAWSEnv(t)
			holder := runningExecution(t, e, "web--v2--"+tc.prefix)
			v1, _ := statusStoreHeldBy(t, e, tc.prefix, holder)
			snapshot := forward(v1, 100)
			if _, err := e.store.UpdateStatus(e.ctx, "web", holder, func(s *rollout.Status) error {
				s.TaskToken, s.Phase, s.PausedUntil = "", rollout.PhasePaused, ptr(fixedNow.Add(time.Hour))
				s.Snapshot = &snapshot
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.cfg.SFN().StopExecution(e.ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(holder)}); err != nil {
				t.Fatal(err)
			}
			r := e.runApp(func(a *App) {
				a.getenv = func(k string) string {
					if k == "USER" {
						return "alice"
					}
					return ""
				}
			}, "", tc.args...)
			if r.code != ExitOK || !strings.Contains(r.stderr, "had ended ABORTED without releasing the cell; recovered it") || !strings.Contains(r.stdout, tc.stdout) {
				t.Fatalf("okra %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(tc.args, " "), r.code, r.stdout, r.stderr)
			}
			rec, err := e.store.GetStatus(e.ctx, "web")
			if err != nil {
				t.Fatal(err)
			}
			if rec.Status.Leased() || rec.Status.Phase != rollout.PhaseRolledBack || !strings.Contains(rec.Status.Message, tc.foundBy) {
				t.Errorf("status after %s: %s %q leased %t; want RolledBack, released, naming %q", tc.name, rec.Status.Phase, rec.Status.Message, rec.Status.Leased(), tc.foundBy)
			}
			fwd := readForward(t, e, rec.Status)
			if !weights.Equal(fwd, snapshot) {
				t.Errorf("listener after %s: %+v, want the snapshot %+v", tc.name, fwd, snapshot)
			}
			events, err := e.store.ListEvents(e.ctx, "web", 0, false)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, ev := range events {
				if ev.Type == store.EventRolledBack && ev.Execution == holder && strings.Contains(ev.Message, tc.foundBy) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%d RolledBack events naming %q, want 1: %+v", n, tc.foundBy, events)
			}
			// Reading again changes nothing more.
			again := e.run("", tc.args...)
			if again.code != ExitOK || strings.Contains(again.stderr, "recovered it") {
				t.Errorf("second %s: exit %d, stderr %s", tc.name, again.code, again.stderr)
			}
		})
	}
}

// readForward reads the listener of the stored Cell web.
func readForward(t *testing.T, e *awsEnv, _ rollout.Status) weights.Forward {
	t.Helper()
	rec, err := e.store.GetCell(e.ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	app := NewApp(strings.NewReader(""), &out, &out)
	app.Options.EndpointURL, app.Options.Table = e.endpoint, e.table
	app.getenv = func(string) string { return "" }
	src, err := app.statusSource(e.ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := src.lis.Read(e.ctx, rec.Cell.Spec.Ingress)
	if err != nil {
		t.Fatal(err)
	}
	return fwd
}

// TestLosingGateCallerExitsOne: a promote, abort or retry that lost the
// race exits 1 naming who won and when.
func TestLosingGateCallerExitsOne(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 8, 3, 0, time.UTC)
	for _, tc := range []struct {
		args   []string
		claim  store.GateClaim
		winner string
	}{
		{[]string{"rollout", "promote", "web"}, store.GateClaim{Action: "promote", Actor: "bob (okra CLI)", Execution: execution, At: at, Done: true},
			`Cell "web": rollout web--v2--1 was already promoted by bob (okra CLI) at 2025-03-01T12:08:03Z`},
		{[]string{"rollout", "abort", "web"}, store.GateClaim{Action: "abort", Actor: "carol", Execution: execution, At: at, Done: true},
			`rollout web--v2--1 was already aborted by carol at 2025-03-01T12:08:03Z`},
		{[]string{"rollout", "retry", "web", "--state-machine-arn", rolloutMachine}, store.GateClaim{Action: "retry", Actor: "dan", Version: "v2", At: at, Done: true},
			`the retry of v2 was already retried by dan at 2025-03-01T12:08:03Z`},
	} {
		var out, errOut bytes.Buffer
		app := NewApp(strings.NewReader(""), &out, &errOut)
		app.getenv = func(string) string { return "" }
		g := &fakeGate{err: &gate.ClaimedError{Cell: "web", Claim: tc.claim}}
		app.newGate = func(context.Context, string) (Gate, error) { return g, nil }
		code := app.Execute(context.Background(), tc.args)
		if code != ExitFailure || !strings.Contains(errOut.String(), tc.winner) {
			t.Errorf("okra %s losing the race: exit %d, stderr %q; want 1 naming %q", strings.Join(tc.args, " "), code, errOut.String(), tc.winner)
		}
	}
}
