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
	"github.com/okrahq/okra/internal/safetynet"
	"github.com/okrahq/okra/internal/store"
)

const machine = "arn:aws:states:us-east-1:123456789012:stateMachine:okra-rollout"

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type fakeStore struct {
	status  rollout.Status
	events  []store.Event
	blocks  []rollout.Block
	unblock []string
	// claims are the gate claims by key, as store.ClaimGate keeps them.
	claims map[string]store.GateClaim
}

func (s *fakeStore) Block(_ context.Context, _ string, b rollout.Block) (bool, error) {
	s.blocks = append(s.blocks, b)
	return true, nil
}

func (s *fakeStore) ClaimGate(_ context.Context, cell string, c store.GateClaim, staleAfter time.Duration) (store.GateClaim, error) {
	if s.claims == nil {
		s.claims = map[string]store.GateClaim{}
	}
	if old, ok := s.claims[c.Key]; ok && (old.Done || c.At.Sub(old.At) < staleAfter) {
		return store.GateClaim{}, &store.GateClaimedError{Cell: cell, Claim: old}
	}
	c.Done = false
	s.claims[c.Key] = c
	return c, nil
}

func (s *fakeStore) CompleteGate(_ context.Context, _ string, c store.GateClaim) error {
	if old, ok := s.claims[c.Key]; ok && old.ID == c.ID {
		old.Done = true
		s.claims[c.Key] = old
	}
	return nil
}

func (s *fakeStore) ReleaseGate(_ context.Context, _ string, c store.GateClaim) error {
	if old, ok := s.claims[c.Key]; ok && old.ID == c.ID {
		delete(s.claims, c.Key)
	}
	return nil
}

func (s *fakeStore) LatestGate(_ context.Context, _ string, prefix string) (store.GateClaim, bool, error) {
	var latest store.GateClaim
	found := false
	for k, c := range s.claims {
		if strings.HasPrefix(k, prefix) && (!found || c.At.After(latest.At)) {
			latest, found = c, true
		}
	}
	return latest, found, nil
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
	startErr   error
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
	if f.startErr != nil {
		return nil, f.startErr
	}
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
	if !strings.Contains(res.Message, "step 2 of 3") { // StepIndex 1, shown 1-based
		t.Errorf("result %+v", res)
	}
}

func TestPromoteWithNothingWaiting(t *testing.T) {
	st := paused()
	st.TaskToken, st.Phase, st.Message = "", rollout.PhaseProgressing, "step 1: pause 10m0s"
	g, _, f := newGate(t, st)
	_, err := g.Promote(context.Background(), "web")
	var nw *gate.NotWaitingError
	if !errors.As(err, &nw) || !strings.Contains(err.Error(), "rollout web--v2--1 of v2 is Progressing at step 2 of 3: step 1: pause 10m0s") {
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

// TestGatesAreExclusive: a second promote that read the same approval
// loses to the first and is told who won and when; one Promoted event.
// A late one (after the token was cleared) is told too.
func TestGatesAreExclusive(t *testing.T) {
	g, s, f := newGate(t, paused())
	if _, err := g.Promote(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	s.status = paused() // a second caller that read the status before the first answered
	_, err := g.Promote(context.Background(), "web")
	var claimed *gate.ClaimedError
	if !errors.As(err, &claimed) || !strings.Contains(err.Error(), "was already promoted by alice at 2025-06-01T12:00:00Z") {
		t.Fatalf("second Promote: %v, want a ClaimedError naming alice and the time", err)
	}
	s.status.TaskToken = "" // a late caller
	_, err = g.Promote(context.Background(), "web")
	var nw *gate.NotWaitingError
	if !errors.As(err, &nw) || !strings.Contains(err.Error(), "promoted by alice at 2025-06-01T12:00:00Z") {
		t.Fatalf("late Promote: %v, want a NotWaitingError naming the last promote", err)
	}
	if len(f.successes) != 1 || len(s.events) != 1 {
		t.Errorf("SendTaskSuccess %d times, %d events; want 1 each", len(f.successes), len(s.events))
	}

	// Two aborts of one execution: one stops it.
	st := paused()
	st.TaskToken = ""
	g, s, f = newGate(t, st)
	if _, err := g.Abort(context.Background(), "web", "one"); err != nil {
		t.Fatal(err)
	}
	_, err = g.Abort(context.Background(), "web", "two")
	if !errors.As(err, &claimed) || !strings.Contains(err.Error(), "rollout web--v2--1 was already aborted by alice") {
		t.Fatalf("second Abort: %v, want a ClaimedError", err)
	}
	if len(f.stops) != 1 || len(s.events) != 1 {
		t.Errorf("%d stops, %d events; want 1 each", len(f.stops), len(s.events))
	}
}

// TestFailedGateCallIsRetryable: when Step Functions fails between the
// claim and the answer, the claim is released, nothing is recorded, and
// the next promote succeeds.
func TestFailedGateCallIsRetryable(t *testing.T) {
	g, s, f := newGate(t, paused())
	f.taskErr = errors.New("connection reset by peer")
	if _, err := g.Promote(context.Background(), "web"); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("Promote with a failing Step Functions: %v", err)
	}
	if len(s.claims) != 0 || len(s.events) != 0 || s.status.TaskToken != "tok" {
		t.Fatalf("after the failed call: claims %v, events %v, token %q; want nothing changed", s.claims, s.events, s.status.TaskToken)
	}
	f.taskErr = nil
	if _, err := g.Promote(context.Background(), "web"); err != nil {
		t.Fatalf("Promote after the failure: %v", err)
	}
	if len(f.successes) != 1 || len(s.events) != 1 {
		t.Errorf("%d answers, %d events", len(f.successes), len(s.events))
	}
}

// TestStaleClaimIsTakenOver: a claim whose claimer died before its Step
// Functions call keeps others out for a while, then is taken over.
func TestStaleClaimIsTakenOver(t *testing.T) {
	g, s, f := newGate(t, paused())
	key := ""
	s.claims = map[string]store.GateClaim{}
	// Claim once to learn the key, then make it a dead claimer's.
	if _, err := g.Promote(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	for k := range s.claims {
		key = k
	}
	s.status, f.successes, s.events = paused(), nil, nil
	s.claims[key] = store.GateClaim{Key: key, Action: "promote", Actor: "bob", ID: "dead", At: t0.Add(-30 * time.Second)}
	_, err := g.Promote(context.Background(), "web")
	if err == nil || !strings.Contains(err.Error(), "is being promoted by bob since 2025-06-01T11:59:30Z") {
		t.Fatalf("Promote during a fresh unconfirmed claim: %v", err)
	}
	s.claims[key] = store.GateClaim{Key: key, Action: "promote", Actor: "bob", ID: "dead", At: t0.Add(-3 * time.Minute)}
	if _, err := g.Promote(context.Background(), "web"); err != nil {
		t.Fatalf("Promote after the claim went stale: %v", err)
	}
	if c := s.claims[key]; c.Actor != "alice" || !c.Done || len(f.successes) != 1 {
		t.Errorf("claim %+v, answers %d; want alice's, done, one answer", c, len(f.successes))
	}
}

// TestRetryThatCannotStartPutsTheBlockBack: nothing is half done.
func TestRetryThatCannotStartPutsTheBlockBack(t *testing.T) {
	g, s, f := newGate(t, rollout.Status{Phase: rollout.PhaseRolledBack, StableVersion: "v1"})
	block := rollout.Block{Version: "v2", Reason: "error rate", At: t0}
	s.blocks = []rollout.Block{block}
	f.startErr = errors.New("throttled")
	if _, err := g.Retry(context.Background(), "web"); err == nil || !strings.Contains(err.Error(), "throttled") {
		t.Fatalf("Retry: %v", err)
	}
	if len(s.blocks) != 2 || s.blocks[1] != block || len(s.claims) != 0 || len(s.events) != 0 {
		t.Errorf("after the failed retry: blocks %v claims %v events %v; want the block back, no claim, no event", s.blocks, s.claims, s.events)
	}
}

// fakeOwners is the lease-owner check: dead holders are recovered by
// releasing the lease in the fake store.
type fakeOwners struct {
	s      *fakeStore
	status map[string]string
	calls  []string
}

func (o *fakeOwners) Check(_ context.Context, _ string, st rollout.Status, foundBy string) (safetynet.OwnerCheck, error) {
	o.calls = append(o.calls, foundBy)
	c := safetynet.OwnerCheck{Holder: st.ExecutionARN, Status: o.status[st.ExecutionARN]}
	if safetynet.Alive(c.Status) {
		return c, nil
	}
	o.s.status.ExecutionARN, o.s.status.Phase = "", rollout.PhaseRolledBack
	o.s.blocks = append(o.s.blocks, rollout.Block{Version: st.CanaryVersion, Reason: "ended " + c.Status, At: t0})
	c.Dead, c.Recovered = true, true
	return c, nil
}

// deadHolderGate is a gate over a Cell paused with no approval pending
// whose lease holder ended ABORTED without releasing it (its safety-net
// event was lost).
func deadHolderGate(t *testing.T) (*gate.Gate, *fakeStore, *fakeSFN, *fakeOwners) {
	t.Helper()
	st := paused()
	st.TaskToken = ""
	s := &fakeStore{status: st}
	f := &fakeSFN{executions: map[string]sfntypes.ExecutionStatus{holder: sfntypes.ExecutionStatusAborted}}
	owners := &fakeOwners{s: s, status: map[string]string{holder: "ABORTED"}}
	g, err := gate.New(gate.Deps{Store: s, SFN: f, StateMachineARN: machine, Actor: "alice", Owners: owners, Now: func() time.Time { return t0 }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return g, s, f, owners
}

// TestRetryRecoversADeadHolder: after an abort whose safety-net event
// was lost, retry recovers the Cell first, then retries the version.
func TestRetryRecoversADeadHolder(t *testing.T) {
	g, _, _, owners := deadHolderGate(t)
	res, err := g.Retry(context.Background(), "web")
	if err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if len(owners.calls) != 1 || !strings.Contains(owners.calls[0], "retry by alice") || res.Attempt != 2 || res.Version != "v2" {
		t.Errorf("owner checks %v, result %+v; want one check and attempt 2 of v2", owners.calls, res)
	}
}

// TestAbortOfADeadHolderRecoversIt: an abort that finds the holder
// already ended recovers the Cell instead of stopping anything.
func TestAbortOfADeadHolderRecoversIt(t *testing.T) {
	g, s, f, _ := deadHolderGate(t)
	res, err := g.Abort(context.Background(), "web", "late")
	if err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if !strings.Contains(res.Message, "had already ended ABORTED") || len(f.stops) != 0 || len(s.events) != 0 || s.status.Leased() {
		t.Errorf("Abort of a dead holder: %+v, stops %v, events %v, leased %t; want recovered, nothing stopped or recorded by the gate", res, f.stops, s.events, s.status.Leased())
	}
}
