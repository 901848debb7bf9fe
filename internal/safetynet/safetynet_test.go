package safetynet_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/okrahq/okra/internal/events"
	"github.com/okrahq/okra/internal/safetynet"
)

const machine = "arn:aws:states:us-east-1:123456789012:stateMachine:okra-rollout"

type recoverCall struct{ cell, execution, why string }

type fakeRecoverer struct {
	calls []recoverCall
	held  bool
	err   error
}

func (f *fakeRecoverer) Recover(_ context.Context, cell, exec, why string) (bool, error) {
	f.calls = append(f.calls, recoverCall{cell, exec, why})
	return f.held, f.err
}

type fakeDescriber struct {
	input string
	calls int
}

func (f *fakeDescriber) DescribeExecution(_ context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	f.calls++
	return &sfn.DescribeExecutionOutput{ExecutionArn: in.ExecutionArn, Input: aws.String(f.input)}, nil
}

// fixture reads events/NAME and lets edit change its detail.
func fixture(t *testing.T, name string, edit func(detail map[string]any)) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return raw
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	edit(ev["detail"].(map[string]any))
	out, _ := json.Marshal(ev)
	return out
}

func newHandler(t *testing.T, held bool) (*safetynet.Handler, *fakeRecoverer, *fakeDescriber) {
	t.Helper()
	rec := &fakeRecoverer{held: held}
	desc := &fakeDescriber{input: `{"cell":"shop","targetVersion":"v9","attempt":1}`}
	h, err := safetynet.New(safetynet.Deps{Recoverer: rec, Executions: desc, StateMachineARN: machine, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return h, rec, desc
}

func TestUnsuccessfulExecutionsAreRecovered(t *testing.T) {
	tests := []struct {
		fixture string
		cell    string
		why     string
	}{
		{"sfn-execution-failed.json", "web", "execution web--v2--1 ended FAILED (States.TaskFailed: listener still forwards 0% to v2 after setting 10%)"},
		{"sfn-execution-timed-out.json", "web", ""},
		{"sfn-execution-aborted.json", "web", "execution web-v2-r4 ended ABORTED"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			h, rec, _ := newHandler(t, true)
			res, err := h.Handle(context.Background(), fixture(t, tt.fixture, nil))
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != safetynet.Recovered || len(rec.calls) != 1 || rec.calls[0].cell != tt.cell {
				t.Fatalf("result %+v, calls %+v", res, rec.calls)
			}
			if tt.why != "" && rec.calls[0].why != tt.why {
				t.Errorf("why %q, want %q", rec.calls[0].why, tt.why)
			}
		})
	}
}

func TestIgnoredEvents(t *testing.T) {
	h, rec, _ := newHandler(t, true)
	for name, raw := range map[string]json.RawMessage{
		"succeeded": fixture(t, "sfn-execution-succeeded.json", nil),
		"foreign state machine": fixture(t, "sfn-execution-failed.json", func(d map[string]any) {
			d["stateMachineArn"] = "arn:aws:states:us-east-1:123456789012:stateMachine:other"
			d["executionArn"] = "arn:aws:states:us-east-1:123456789012:execution:other:web--v2--1"
		}),
		"EKS event": fixture(t, "eks-create-cluster.json", nil),
	} {
		res, err := h.Handle(context.Background(), raw)
		if err != nil || res.Outcome != safetynet.Ignored {
			t.Errorf("%s: %+v, %v; want Ignored", name, res, err)
		}
	}
	if len(rec.calls) != 0 {
		t.Errorf("ignored events reached Recover: %+v", rec.calls)
	}
}

func TestNothingHeld(t *testing.T) {
	h, _, _ := newHandler(t, false)
	res, err := h.Handle(context.Background(), fixture(t, "sfn-execution-aborted.json", nil))
	if err != nil || res.Outcome != safetynet.NothingHeld {
		t.Fatalf("%+v, %v; want NothingHeld", res, err)
	}
}

func TestInputLeftOutIsDescribed(t *testing.T) {
	h, rec, desc := newHandler(t, true)
	raw := fixture(t, "sfn-execution-failed.json", func(d map[string]any) {
		d["input"] = nil
		d["inputDetails"] = map[string]any{"included": false}
	})
	if _, err := h.Handle(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	if desc.calls != 1 || rec.calls[0].cell != "shop" {
		t.Errorf("describe calls %d, recover %+v; want the input from DescribeExecution", desc.calls, rec.calls)
	}
}

func TestMalformedEvents(t *testing.T) {
	h, rec, _ := newHandler(t, true)
	for name, raw := range map[string]json.RawMessage{
		"not JSON":      json.RawMessage(`{"source":`),
		"no status":     fixture(t, "sfn-execution-failed.json", func(d map[string]any) { delete(d, "status") }),
		"foreign input": fixture(t, "sfn-execution-failed.json", func(d map[string]any) { d["input"] = `{"hello":"world"}` }),
	} {
		_, err := h.Handle(context.Background(), raw)
		if !events.IsMalformed(err) {
			t.Errorf("%s: %v, want a MalformedError", name, err)
		}
	}
	if len(rec.calls) != 0 {
		t.Errorf("malformed events reached Recover")
	}
}

func TestRecoverFailureIsReturned(t *testing.T) {
	h, rec, _ := newHandler(t, true)
	rec.err = errors.New("listener gone")
	if _, err := h.Handle(context.Background(), fixture(t, "sfn-execution-failed.json", nil)); err == nil {
		t.Fatal("a failed recovery returned no error: EventBridge would not retry it")
	}
}
