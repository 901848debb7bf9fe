package gate_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/gate"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
)

const machine = "arn:aws:states:us-east-1:123456789012:stateMachine:okra-rollout"

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type fakeStore struct {
	status  rollout.Status
	events  []store.Event
	blocks  []rollout.Block
	unblock []string
}

func (s *fakeStore) GetStatus(context.Context, string) (store.StatusRecord, error) {
	return store.StatusRecord{Status: s.status, Revision: 1}, nil
}

func (s *fakeStore) UpdateStatus(_ context.Context, cell, exec string, update func(*rollout.Status) error) (store.StatusRecord, error) {
	if s.status.ExecutionARN != exec {
		return store.StatusRecord{}, &store.NotHolderError{Cell: cell, Execution: exec, Holder: s.status.ExecutionARN}
	}
	st := s.status
	if err := update(&st); err != nil {
		return store.StatusRecord{}, err
	}
	s.status = st
	return store.StatusRecord{Status: st}, nil
}

func (s *fakeStore) AppendEvent(_ context.Context, _ string, ev store.Event) (store.Event, error) {
	s.events = append(s.events, ev)
	return ev, nil
}

func (s *fakeStore) ListBlocked(context.Context, string) ([]rollout.Block, error) {
	return s.blocks, nil
}

func (s *fakeStore) Unblock(_ context.Context, _ string, v string) (bool, error) {
	s.unblock = append(s.unblock, v)
	return true, nil
}

// fakeSFN records calls; executions maps ARN to status.
type fakeSFN struct {
	successes  []string
	failures   []sfn.SendTaskFailureInput
	stops      []string
	starts     []string
	executions map[string]sfntypes.ExecutionStatus
	taskErr    error
}

func (f *fakeSFN) SendTaskSuccess(_ context.Context, in *sfn.SendTaskSuccessInput, _ ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error) {
	if f.taskErr != nil {
		return nil, f.taskErr
	}
	f.successes = append(f.successes, aws.ToString(in.TaskToken))
	return &sfn.SendTaskSuccessOutput{}, nil
}

func (f *fakeSFN) SendTaskFailure(_ context.Context, in *sfn.SendTaskFailureInput, _ ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error) {
	if f.taskErr != nil {
		return nil, f.taskErr
	}
	f.failures = append(f.failures, *in)
	return &sfn.SendTaskFailureOutput{}, nil
}

func (f *fakeSFN) StopExecution(_ context.Context, in *sfn.StopExecutionInput, _ ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error) {
	f.stops = append(f.stops, aws.ToString(in.ExecutionArn))
	return &sfn.StopExecutionOutput{}, nil
}

func (f *fakeSFN) DescribeExecution(_ context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	s, ok := f.executions[aws.ToString(in.ExecutionArn)]
	if !ok {
		return nil, &sfntypes.ExecutionDoesNotExist{Message: aws.String("no")}
	}
	return &sfn.DescribeExecutionOutput{Status: s}, nil
}

func (f *fakeSFN) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	arn := executions.ARN(aws.ToString(in.StateMachineArn), aws.ToString(in.Name))
	f.starts = append(f.starts, aws.ToString(in.Name))
	f.executions[arn] = sfntypes.ExecutionStatusRunning
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String(arn)}, nil
}

func newGate(t *testing.T, st rollout.Status) (*gate.Gate, *fakeStore, *fakeSFN) {
	t.Helper()
	s := &fakeStore{status: st}
	f := &fakeSFN{executions: map[string]sfntypes.ExecutionStatus{}}
	g, err := gate.New(gate.Deps{Store: s, SFN: f, StateMachineARN: machine, Actor: "alice", Now: func() time.Time { return t0 }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return g, s, f
}

var holder = executions.ARN(machine, "web--v2--1")

func paused() rollout.Status {
	return rollout.Status{Phase: rollout.PhasePaused, ExecutionARN: holder, TaskToken: "tok", StableVersion: "v1", CanaryVersion: "v2",
		StepIndex: 1, StepCount: 3, Message: "step 1: pause until promoted"}
}

func TestPromote(t *testing.T) {
	g, s, f := newGate(t, paused())
	res, err := g.Promote(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.successes, ",") != "tok" {
		t.Errorf("SendTaskSuccess calls %v", f.successes)
	}
	if s.status.TaskToken != "" || s.status.Phase != rollout.PhaseProgressing {
		t.Errorf("status after promote %+v", s.status)
	}
	if len(s.events) != 1 || s.events[0].Type != store.EventPromoted || !strings.Contains(s.events[0].Message, "alice") {
		t.Errorf("events %+v", s.events)
	}
	if !strings.Contains(res.Message, "step 1 of 3") {
		t.Errorf("result %+v", res)
	}
}

func TestPromoteWithNothingWaiting(t *testing.T) {
	st := paused()
	st.TaskToken, st.Phase, st.Message = "", rollout.PhaseProgressing, "step 1: pause 10m0s"
	g, _, f := newGate(t, st)
	_, err := g.Promote(context.Background(), "web")
	var nw *gate.NotWaitingError
	if !errors.As(err, &nw) || !strings.Contains(err.Error(), "rollout web--v2--1 of v2 is Progressing at step 1 of 3: step 1: pause 10m0s") {
		t.Fatalf("Promote: %v, want NotWaitingError saying what the rollout does", err)
	}
	if len(f.successes) != 0 {
		t.Errorf("SendTaskSuccess called")
	}
}

func TestPromoteOfAnExpiredToken(t *testing.T) {
	g, s, f := newGate(t, paused())
	f.taskErr = &sfntypes.TaskTimedOut{Message: aws.String("gone")}
	_, err := g.Promote(context.Background(), "web")
	var nw *gate.NotWaitingError
	if !errors.As(err, &nw) || !strings.Contains(err.Error(), "no longer waits (TaskTimedOut)") {
		t.Fatalf("Promote of an expired token: %v", err)
	}
	if s.status.TaskToken != "" {
		t.Errorf("the dead token stayed in the status")
	}
}

func TestAbort(t *testing.T) {
	t.Run("waiting for approval: fails the task", func(t *testing.T) {
		g, s, f := newGate(t, paused())
		if _, err := g.Abort(context.Background(), "web", "p99 too high"); err != nil {
			t.Fatal(err)
		}
		if len(f.failures) != 1 || aws.ToString(f.failures[0].Error) != "AbortedError" || aws.ToString(f.failures[0].Cause) != "p99 too high" {
			t.Errorf("SendTaskFailure calls %+v", f.failures)
		}
		if len(f.stops) != 0 {
			t.Errorf("stopped the execution too")
		}
		if len(s.events) != 1 || s.events[0].Type != store.EventAborted || s.events[0].Execution != holder || s.events[0].Message != "p99 too high" {
			t.Errorf("events %+v", s.events)
		}
	})
	t.Run("not waiting: stops the execution", func(t *testing.T) {
		st := paused()
		st.TaskToken = ""
		g, _, f := newGate(t, st)
		res, err := g.Abort(context.Background(), "web", "")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(f.stops, ",") != holder || len(f.failures) != 0 {
			t.Errorf("stops %v failures %v", f.stops, f.failures)
		}
		if !strings.Contains(res.Message, "safety net") {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("no rollout", func(t *testing.T) {
		g, _, _ := newGate(t, rollout.Status{Phase: rollout.PhaseStable, StableVersion: "v1"})
		_, err := g.Abort(context.Background(), "web", "x")
		var nr *gate.NoRolloutError
		if !errors.As(err, &nr) || !strings.Contains(err.Error(), "nothing to abort: no rollout runs (phase Stable)") {
			t.Fatalf("Abort with no rollout: %v", err)
		}
	})
}

func TestRetry(t *testing.T) {
	g, s, f := newGate(t, rollout.Status{Phase: rollout.PhaseRolledBack, StableVersion: "v1", Message: "rolled back v3"})
	s.blocks = []rollout.Block{{Version: "v2", Reason: "old", At: t0.Add(-time.Hour)}, {Version: "v3", Reason: "error rate", At: t0}}
	f.executions[executions.ARN(machine, "web--v3--1")] = sfntypes.ExecutionStatusFailed
	res, err := g.Retry(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(s.unblock, ",") != "v3" {
		t.Errorf("unblocked %v, want the last blocked version v3", s.unblock)
	}
	if strings.Join(f.starts, ",") != "web--v3--2" || res.Attempt != 2 || res.Version != "v3" {
		t.Errorf("started %v (result %+v), want web--v3--2", f.starts, res)
	}

	// While a rollout runs, retry refuses.
	g, _, f = newGate(t, paused())
	f.executions[holder] = sfntypes.ExecutionStatusRunning
	if _, err := g.Retry(context.Background(), "web"); err == nil || !strings.Contains(err.Error(), "abort it first") {
		t.Errorf("Retry during a rollout: %v", err)
	}
}
