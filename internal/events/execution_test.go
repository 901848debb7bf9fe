package events_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/events"
)

const (
	rolloutMachine = "arn:aws:states:us-east-1:123456789012:stateMachine:okra-rollout"
	rolloutInput   = `{"cell":"web","targetVersion":"v2","fromVersion":"v1","attempt":1,"trigger":"reconcile"}`
)

func TestParseExecutionStatusChangeFixtures(t *testing.T) {
	start := time.UnixMilli(1741944300000).UTC()
	tests := []struct {
		fixture          string
		want             events.ExecutionStatusChange
		wantUnsuccessful bool
	}{
		{
			fixture: "sfn-execution-failed.json",
			want: events.ExecutionStatusChange{
				ExecutionARN:    "arn:aws:states:us-east-1:123456789012:execution:okra-rollout:web--v2--1",
				StateMachineARN: rolloutMachine,
				Name:            "web--v2--1",
				Status:          events.ExecutionFailed,
				StartDate:       start,
				StopDate:        time.UnixMilli(1741945523612).UTC(),
				Input:           json.RawMessage(rolloutInput),
				InputIncluded:   true,
				Error:           "States.TaskFailed",
				Cause:           `{"errorType":"WeightsNotVerifiedError","errorMessage":"listener still forwards 0% to v2 after setting 10%"}`,
				EventID:         "0a4c2e8f-6b13-4d57-9f2a-1e8b5c3d7a90",
				Time:            mustTime(t, "2025-03-14T09:45:23Z"),
			},
			wantUnsuccessful: true,
		},
		{
			fixture: "sfn-execution-timed-out.json",
			want: events.ExecutionStatusChange{
				ExecutionARN:    "arn:aws:states:us-east-1:123456789012:execution:okra-rollout:web-v2-r3",
				StateMachineARN: rolloutMachine,
				Name:            "web-v2-r3",
				Status:          events.ExecutionTimedOut,
				StartDate:       start,
				StopDate:        time.UnixMilli(1742030700000).UTC(),
				Input:           json.RawMessage(rolloutInput),
				InputIncluded:   true,
				Error:           "States.Timeout",
				Cause:           "The execution timed out",
				EventID:         "1b5d3f90-7c24-4e68-a03b-2f9c6d4e8b01",
				Time:            mustTime(t, "2025-03-15T09:25:00Z"),
			},
			wantUnsuccessful: true,
		},
		{
			fixture: "sfn-execution-aborted.json",
			want: events.ExecutionStatusChange{
				ExecutionARN:    "arn:aws:states:us-east-1:123456789012:execution:okra-rollout:web-v2-r4",
				StateMachineARN: rolloutMachine,
				Name:            "web-v2-r4",
				Status:          events.ExecutionAborted,
				StartDate:       start,
				StopDate:        time.UnixMilli(1741946100000).UTC(),
				Input:           json.RawMessage(rolloutInput),
				InputIncluded:   true,
				EventID:         "2c6e4a01-8d35-4f79-b14c-3a0d7e5f9c12",
				Time:            mustTime(t, "2025-03-14T09:55:00Z"),
			},
			wantUnsuccessful: true,
		},
		{
			fixture: "sfn-execution-succeeded.json",
			want: events.ExecutionStatusChange{
				ExecutionARN:    "arn:aws:states:us-east-1:123456789012:execution:okra-rollout:web-v2-r5",
				StateMachineARN: rolloutMachine,
				Name:            "web-v2-r5",
				Status:          events.ExecutionSucceeded,
				StartDate:       start,
				StopDate:        time.UnixMilli(1741948200000).UTC(),
				Input:           json.RawMessage(rolloutInput),
				InputIncluded:   true,
				Output:          json.RawMessage(`{"cell":"web","version":"v2","phase":"Stable"}`),
				EventID:         "3d7f5b12-9e46-4a80-c25d-4b1e8f6a0d23",
				Time:            mustTime(t, "2025-03-14T10:30:00Z"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, err := events.ParseExecutionStatusChange(envelopeFixture(t, tt.fixture))
			if err != nil {
				t.Fatalf("ParseExecutionStatusChange: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseExecutionStatusChange =\n %+v\nwant\n %+v", got, tt.want)
			}
			if got.Status.Unsuccessful() != tt.wantUnsuccessful {
				t.Errorf("Status(%s).Unsuccessful() = %v, want %v", got.Status, got.Status.Unsuccessful(), tt.wantUnsuccessful)
			}
		})
	}
}

func TestParseExecutionStatusChangeVariants(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(m map[string]any)
		check func(t *testing.T, got events.ExecutionStatusChange)
	}{
		{
			name: "input left out by EventBridge",
			edit: func(m map[string]any) {
				set(m, "detail.input", nil)
				set(m, "detail.inputDetails.included", false)
			},
			check: func(t *testing.T, got events.ExecutionStatusChange) {
				if got.Input != nil || got.InputIncluded {
					t.Errorf("Input, InputIncluded = %s, %v; want nil, false", got.Input, got.InputIncluded)
				}
			},
		},
		{
			name: "running: no stop date",
			edit: func(m map[string]any) {
				set(m, "detail.status", "RUNNING")
				set(m, "detail.stopDate", nil)
			},
			check: func(t *testing.T, got events.ExecutionStatusChange) {
				if !got.StopDate.IsZero() || got.Status != events.ExecutionRunning || got.Status.Unsuccessful() {
					t.Errorf("StopDate, Status = %v, %s; want zero, RUNNING (not unsuccessful)", got.StopDate, got.Status)
				}
			},
		},
		{
			name: "name missing: taken from the ARN",
			edit: func(m map[string]any) { del(m, "detail.name") },
			check: func(t *testing.T, got events.ExecutionStatusChange) {
				if got.Name != "web--v2--1" {
					t.Errorf("Name = %q, want web--v2--1", got.Name)
				}
			},
		},
		{
			name: "unknown future status passes through",
			edit: func(m map[string]any) { set(m, "detail.status", "PENDING_REDRIVE") },
			check: func(t *testing.T, got events.ExecutionStatusChange) {
				if got.Status != events.ExecutionPendingRedrive || got.Status.Unsuccessful() {
					t.Errorf("Status = %s (unsuccessful %v), want PENDING_REDRIVE, not unsuccessful", got.Status, got.Status.Unsuccessful())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := events.DecodeEnvelope(mutate(t, "sfn-execution-failed.json", tt.edit))
			if err != nil {
				t.Fatalf("DecodeEnvelope: %v", err)
			}
			got, err := events.ParseExecutionStatusChange(ev)
			if err != nil {
				t.Fatalf("ParseExecutionStatusChange: %v", err)
			}
			tt.check(t, got)
		})
	}
}

func TestParseExecutionStatusChangeIgnored(t *testing.T) {
	tests := []struct {
		fixture string
		edit    func(m map[string]any)
		reason  string
	}{
		{"eks-create-cluster.json", nil, `source "aws.eks" is not aws.states`},
		{"schedule.json", nil, `source "aws.events" is not aws.states`},
		{"sfn-execution-failed.json", func(m map[string]any) { m["detail-type"] = "Step Functions State Machine Status Change" },
			`detail-type "Step Functions State Machine Status Change" is not "Step Functions Execution Status Change"`},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			raw := fixture(t, tt.fixture)
			if tt.edit != nil {
				raw = mutate(t, tt.fixture, tt.edit)
			}
			ev, err := events.DecodeEnvelope(raw)
			if err != nil {
				t.Fatal(err)
			}
			_, err = events.ParseExecutionStatusChange(ev)
			wantIgnored(t, err, tt.reason)
		})
	}
}

func TestParseExecutionStatusChangeMalformed(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(m map[string]any)
		field  string
		reason string
	}{
		{"missing detail", func(m map[string]any) { delete(m, "detail") }, "detail", "missing"},
		{"detail is an array", func(m map[string]any) { m["detail"] = []any{} }, "detail", "want an object, got an array"},
		{"missing executionArn", func(m map[string]any) { del(m, "detail.executionArn") }, "detail.executionArn", "missing"},
		{"missing stateMachineArn", func(m map[string]any) { del(m, "detail.stateMachineArn") }, "detail.stateMachineArn", "missing"},
		{"executionArn is a number", func(m map[string]any) { set(m, "detail.executionArn", 1) }, "detail.executionArn", "want a string, got a number"},
		{"executionArn of a state machine", func(m map[string]any) { set(m, "detail.executionArn", rolloutMachine) }, "detail.executionArn", "not a Step Functions execution ARN"},
		{"executionArn of another service", func(m map[string]any) {
			set(m, "detail.executionArn", "arn:aws:lambda:us-east-1:123456789012:function:okra")
		}, "detail.executionArn", `not a Step Functions ARN (service "lambda")`},
		{"stateMachineArn not an ARN", func(m map[string]any) { set(m, "detail.stateMachineArn", "okra-rollout") }, "detail.stateMachineArn", "is not an ARN"},
		{"stateMachineArn bad account", func(m map[string]any) {
			set(m, "detail.stateMachineArn", "arn:aws:states:us-east-1:1234:stateMachine:okra-rollout")
		}, "detail.stateMachineArn", `invalid account "1234"`},
		{"execution of another state machine", func(m map[string]any) {
			set(m, "detail.stateMachineArn", "arn:aws:states:us-east-1:123456789012:stateMachine:other")
		}, "detail.executionArn", `belongs to state machine "okra-rollout", but detail.stateMachineArn is "other"`},
		{"name disagrees with ARN", func(m map[string]any) { set(m, "detail.name", "web-v3") }, "detail.name", `"web-v3" differs from the execution ARN's name "web--v2--1"`},
		{"missing status", func(m map[string]any) { del(m, "detail.status") }, "detail.status", "missing"},
		{"status is a boolean", func(m map[string]any) { set(m, "detail.status", true) }, "detail.status", "want a string, got a boolean"},
		{"missing startDate", func(m map[string]any) { del(m, "detail.startDate") }, "detail.startDate", "missing"},
		{"startDate is a string", func(m map[string]any) { set(m, "detail.startDate", "2025-03-14T09:25:00Z") }, "detail.startDate", "want milliseconds since the epoch (a number), got a string"},
		{"stopDate is fractional", func(m map[string]any) { set(m, "detail.stopDate", 1.5) }, "detail.stopDate", "1.5 is not a whole number of milliseconds"},
		{"stopDate negative", func(m map[string]any) { set(m, "detail.stopDate", -1) }, "detail.stopDate", "-1 is before the epoch"},
		{"input not JSON", func(m map[string]any) { set(m, "detail.input", `{"cell":`) }, "detail.input", "not a JSON document"},
		{"input is an object, not a string", func(m map[string]any) { set(m, "detail.input", map[string]any{"cell": "web"}) }, "detail.input", "want a string, got an object"},
		{"input missing though included", func(m map[string]any) { set(m, "detail.input", nil) }, "detail.input", "missing although detail.inputDetails.included is true"},
		{"output not JSON", func(m map[string]any) { set(m, "detail.output", "done") }, "detail.output", "not a JSON document"},
		{"error is a number", func(m map[string]any) { set(m, "detail.error", 500) }, "detail.error", "want a string, got a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := events.DecodeEnvelope(mutate(t, "sfn-execution-failed.json", tt.edit))
			if err != nil {
				t.Fatalf("DecodeEnvelope: %v", err)
			}
			got, err := events.ParseExecutionStatusChange(ev)
			wantMalformed(t, err, tt.field, tt.reason)
			if !reflect.DeepEqual(got, events.ExecutionStatusChange{}) {
				t.Errorf("returned %+v with an error, want the zero value", got)
			}
		})
	}
}

func TestIsScheduled(t *testing.T) {
	tests := []struct {
		fixture string
		edit    func(m map[string]any)
		want    bool
	}{
		{"schedule.json", nil, true},
		{"schedule.json", func(m map[string]any) { m["source"] = "aws.scheduler" }, false},
		{"schedule.json", func(m map[string]any) { m["detail-type"] = "Scheduled Events" }, false},
		{"eks-create-cluster.json", nil, false},
		{"sfn-execution-failed.json", nil, false},
	}
	for _, tt := range tests {
		name := tt.fixture
		if tt.edit != nil {
			name += " (edited)"
		}
		t.Run(name, func(t *testing.T) {
			raw := fixture(t, tt.fixture)
			if tt.edit != nil {
				raw = mutate(t, tt.fixture, tt.edit)
			}
			if got := events.IsScheduled(envelopeFromBytes(t, raw)); got != tt.want {
				t.Errorf("IsScheduled = %v, want %v", got, tt.want)
			}
		})
	}
}
