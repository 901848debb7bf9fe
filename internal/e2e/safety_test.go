package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/safetynet"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/weights"
)

// statusChange builds the EventBridge event Step Functions sends when an
// execution ends, from the fixture in events/ (moto does not deliver
// EventBridge events to Lambda targets, so the test hands it to the
// safety net itself).
func (f *fixture) statusChange(fixture string, out *sfn.DescribeExecutionOutput) json.RawMessage {
	f.t.Helper()
	root, err := testenv.ModuleRoot()
	if err != nil {
		f.t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "events", fixture))
	if err != nil {
		f.t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		f.t.Fatal(err)
	}
	detail := ev["detail"].(map[string]any)
	detail["executionArn"] = aws.ToString(out.ExecutionArn)
	detail["stateMachineArn"] = aws.ToString(out.StateMachineArn)
	detail["name"] = aws.ToString(out.Name)
	detail["status"] = string(out.Status)
	detail["input"] = aws.ToString(out.Input)
	detail["error"] = out.Error
	detail["cause"] = out.Cause
	ev["resources"] = []string{aws.ToString(out.ExecutionArn)}
	b, err := json.Marshal(ev)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// TestStoppedExecutionSafetyNet: an execution stopped from outside
// (StopExecution, not okra) leaves the weights half-shifted; once the
// safety net has handled its status-change event the listener is back at
// the snapshot, the version blocked and the lease released.
func TestStoppedExecutionSafetyNet(t *testing.T) {
	t.Parallel()
	f := newFixture(t, canary(40, 4*time.Second, 80, "pause"), time.Second, map[string]bool{"v1": true, "v2": true})
	arn := f.start("v2", 1)
	f.waitFor(arn, "the 40% step and its pause", 30*time.Second, func() (bool, string) {
		st := f.status()
		return st.StepIndex == 1 && st.PausedUntil != nil, string(st.Phase) + ": " + st.Message
	})
	if !weights.Equal(f.forward(), f.split("v1", 60, "v2", 40)) {
		t.Fatalf("listener %s, want v1=60 v2=40", f.describe(f.forward()))
	}
	if _, err := f.sfn.StopExecution(f.ctx, &sfn.StopExecutionInput{
		ExecutionArn: aws.String(arn), Error: aws.String("OperatorStop"), Cause: aws.String("stopped from the console"),
	}); err != nil {
		t.Fatalf("StopExecution: %v", err)
	}
	out := f.wait(arn, sfntypes.ExecutionStatusAborted, 10*time.Second)

	// Until the safety net runs, the stopped rollout's weights stay: a
	// stopped execution must not keep running its steps either (the pause
	// ends 4s after it began).
	time.Sleep(4500 * time.Millisecond)
	if !weights.Equal(f.forward(), f.split("v1", 60, "v2", 40)) {
		t.Fatalf("after StopExecution the listener moved on to %s: the stopped execution kept running\n%s", f.describe(f.forward()), f.dump(arn))
	}
	if st := f.status(); st.ExecutionARN != arn {
		t.Fatalf("before the safety net the lease is held by %q, want the stopped execution", st.ExecutionARN)
	}

	// moto 5.2.5 drops StopExecution's error and cause (DescribeExecution
	// returns neither); AWS puts them in the status-change event.
	if out.Error == nil {
		out.Error, out.Cause = aws.String("OperatorStop"), aws.String("stopped from the console")
	}
	event := f.statusChange("sfn-execution-aborted.json", out)
	res, err := f.okra.SafetyNet.Handle(f.ctx, event)
	if err != nil {
		t.Fatalf("safety net: %v\n%s", err, f.dump(arn))
	}
	if res.Outcome != safetynet.Recovered || res.Cell != f.name {
		t.Fatalf("safety net = %+v, want Recovered", res)
	}
	got := f.forward()
	if !weights.Equal(got, f.snapshot) || got.Stickiness == nil || *got.Stickiness != *f.snapshot.Stickiness {
		t.Errorf("listener after the safety net: %s, want the snapshot %s", f.describe(got), f.describe(f.snapshot))
	}
	st := f.status()
	wantWhy := "execution " + f.name + "--v2--1 ended ABORTED"
	if st.Phase != rollout.PhaseRolledBack || st.Leased() || !strings.Contains(st.Message, wantWhy) {
		t.Errorf("status %s %q leased %t, want RolledBack naming %q, released", st.Phase, st.Message, st.Leased(), wantWhy)
	}
	b, blocked, err := f.okra.Store.IsBlocked(f.ctx, f.name, "v2")
	if err != nil || !blocked || !strings.Contains(b.Reason, wantWhy) || !strings.Contains(b.Reason, "OperatorStop: stopped from the console") {
		t.Errorf("block of v2: %+v blocked %t (%v), want the stop's status and error", b, blocked, err)
	}

	// At least once: a second delivery changes nothing.
	before := len(f.events())
	again, err := f.okra.SafetyNet.Handle(f.ctx, event)
	if err != nil || again.Outcome != safetynet.NothingHeld {
		t.Errorf("second delivery: %+v, %v; want NothingHeld", again, err)
	}
	if after := len(f.events()); after != before {
		t.Errorf("second delivery appended %d events", after-before)
	}
}

// TestDuplicateStartsYieldOneRollout: starting the same rollout twice
// finds the first execution; another attempt started while the first runs
// ends at AnotherRolloutHoldsTheCell without touching anything.
func TestDuplicateStartsYieldOneRollout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, canary(10, "pause"), time.Second, map[string]bool{"v1": true, "v2": true})
	in := executions.Input{Cell: f.name, TargetVersion: "v2", FromVersion: "v1", Attempt: 1, Trigger: "e2e"}
	first, started, err := f.execs.Start(f.ctx, in)
	if err != nil || !started {
		t.Fatalf("first Start: %s started %t, %v", first, started, err)
	}
	again, started, err := f.execs.Start(f.ctx, in)
	if err != nil || started || again != first {
		t.Fatalf("second Start: %s started %t, %v; want the first execution %s, not started", again, started, err, first)
	}
	f.waitPaused(first)

	second := f.start("v2", 2)
	f.wait(second, sfntypes.ExecutionStatusSucceeded, 30*time.Second)
	states := f.states(second)
	if strings.Join(states, " ") != "AcquireLease AnotherRolloutHoldsTheCell" {
		t.Errorf("the second attempt went through %v, want AcquireLease AnotherRolloutHoldsTheCell\n%s", states, f.dump(second))
	}
	st := f.status()
	if st.ExecutionARN != first || st.Phase != rollout.PhasePaused {
		t.Errorf("after the second attempt the status is %s held by %s, want the first's Paused", st.Phase, st.ExecutionARN)
	}
	for _, ev := range f.events() {
		if ev.Execution == second {
			t.Errorf("the second attempt recorded %s: %s", ev.Type, ev.Message)
		}
	}
	list, err := f.sfn.ListExecutions(f.ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(f.okra.StateMachineARN)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range list.Executions {
		if strings.HasPrefix(aws.ToString(e.Name), f.name+"--") {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d executions for the Cell, want 2 (attempt 1 once, attempt 2)", n)
	}

	if _, err := f.okra.Gate.Abort(f.ctx, f.name, "end of test"); err != nil {
		t.Fatal(err)
	}
	f.wait(first, sfntypes.ExecutionStatusFailed, 30*time.Second)
	if !weights.Equal(f.forward(), f.snapshot) {
		t.Errorf("listener after the abort: %s", f.describe(f.forward()))
	}
}

// TestSupersede: v3 becomes ready while the v2 rollout pauses; at the
// next step boundary the v2 rollout returns all weight to v1 (without
// blocking v2) and starts v3's rollout, which completes.
func TestSupersede(t *testing.T) {
	t.Parallel()
	f := newFixture(t, canary(20, 2*time.Second, 60, time.Second), time.Second, map[string]bool{"v1": true, "v2": true, "v3": false})
	arn := f.start("v2", 1)
	f.waitFor(arn, "the 20% step's pause", 30*time.Second, func() (bool, string) {
		st := f.status()
		return st.StepIndex == 1 && st.PausedUntil != nil, string(st.Phase) + ": " + st.Message
	})
	f.registerTargets("v3") // v3 is complete now
	f.wait(arn, sfntypes.ExecutionStatusSucceeded, 30*time.Second)
	if states := strings.Join(f.states(arn), " "); !strings.Contains(states, "Supersede Superseded") {
		t.Fatalf("the v2 rollout went through %s, want Supersede\n%s", states, f.dump(arn))
	}
	v3 := executions.ARN(f.okra.StateMachineARN, executions.Name(f.name, "v3", 1))
	f.wait(v3, sfntypes.ExecutionStatusSucceeded, 60*time.Second)

	st := f.status()
	if st.Phase != rollout.PhaseStable || st.StableVersion != "v3" || st.Leased() {
		t.Errorf("final status %s stable %s leased %t, want Stable at v3", st.Phase, st.StableVersion, st.Leased())
	}
	if !weights.Equal(f.forward(), f.split("v3", 100)) {
		t.Errorf("listener: %s, want v3 only", f.describe(f.forward()))
	}
	if _, blocked, _ := f.okra.Store.IsBlocked(f.ctx, f.name, "v2"); blocked {
		t.Errorf("v2 was blocked by a supersede")
	}
	var superseded *store.Event
	var v3Started bool
	for _, ev := range f.events() {
		if ev.Type == store.EventSuperseded {
			superseded = &ev
		}
		if ev.Type == store.EventRolloutStarted && ev.Version == "v3" {
			v3Started = true
			if ev.Weights == nil || !weights.Equal(*ev.Weights, f.snapshot) {
				t.Errorf("v3's rollout started from %v, want the stable snapshot", ev.Weights)
			}
		}
	}
	if superseded == nil || superseded.Execution != arn || superseded.Details["newVersion"] != "v3" ||
		superseded.Weights == nil || !weights.Equal(*superseded.Weights, f.snapshot) {
		t.Errorf("Superseded event %+v, want the v2 rollout's, naming v3, weights back to the snapshot", superseded)
	}
	if !v3Started {
		t.Errorf("no RolloutStarted for v3")
	}
}

// TestLostLeaseFailsFast: an execution whose lease was taken from it (an
// operator cleared it by hand, say) must not touch the listener; its
// Rollback answers LeaseLostError, which the state machine does not
// retry, so the execution fails at once instead of retrying for minutes.
func TestLostLeaseFailsFast(t *testing.T) {
	t.Parallel()
	f := newFixture(t, canary(50, "pause"), time.Second, map[string]bool{"v1": true, "v2": true})
	arn := f.start("v2", 1)
	st := f.waitPaused(arn)
	other := executions.ARN(f.okra.StateMachineARN, "someone-else")
	_, err := f.okra.AWS.DynamoDB().UpdateItem(f.ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(f.okra.TableName),
		Key: map[string]ddbtypes.AttributeValue{
			store.AttrPK: &ddbtypes.AttributeValueMemberS{Value: store.KindCell + "#" + f.name},
			store.AttrSK: &ddbtypes.AttributeValueMemberS{Value: store.SKStatus},
		},
		UpdateExpression:          aws.String("SET executionArn = :other"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":other": &ddbtypes.AttributeValueMemberS{Value: other}},
	})
	if err != nil {
		t.Fatalf("taking the lease away: %v", err)
	}
	began := time.Now()
	if _, err := f.sfn.SendTaskFailure(f.ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(st.TaskToken), Error: aws.String(steps.AbortedErrorName)}); err != nil {
		t.Fatalf("SendTaskFailure: %v", err)
	}
	out := f.wait(arn, sfntypes.ExecutionStatusFailed, 20*time.Second)
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("the execution took %s to fail: LeaseLostError was retried", took)
	}
	if aws.ToString(out.Error) != "LeaseLostError" {
		t.Errorf("execution error %q, want LeaseLostError\n%s", aws.ToString(out.Error), f.dump(arn))
	}
	if !weights.Equal(f.forward(), f.split("v1", 50, "v2", 50)) {
		t.Errorf("the execution without the lease changed the listener to %s", f.describe(f.forward()))
	}
	if _, blocked, _ := f.okra.Store.IsBlocked(f.ctx, f.name, "v2"); blocked {
		t.Errorf("the execution without the lease blocked v2")
	}
}
