// Package safetynet owns the safety-net function: the handler of the
// rollout state machine's own "Step Functions Execution Status Change"
// events. When a rollout execution fails, times out or is aborted while
// it still holds its Cell's lease (its Rollback never ran or never
// finished), it restores the forward action saved when the rollout began,
// blocks the version, records the status RolledBack, releases the lease
// and notifies, so a crashed or stopped execution never leaves traffic
// half-shifted.
//
// The recovery itself is steps.Handlers.Recover (shared with AcquireLease,
// which performs it when it takes over a lease the safety net did not
// release). This package only decides whether an event calls for it:
// SUCCEEDED executions, other state machines and executions that no longer
// hold the lease are ignored, with a log line saying why. It is
// idempotent: EventBridge delivers at least once.
package safetynet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/okrahq/okra/internal/events"
	"github.com/okrahq/okra/internal/executions"
)

// Recoverer ends a rollout whose execution stopped without releasing the
// lease; *steps.Handlers satisfies it.
type Recoverer interface {
	Recover(ctx context.Context, cellName, executionARN, why string) (bool, error)
}

// ExecutionDescriber reads an execution's input when the event left it
// out (input and output over EventBridge's size limit); *sfn.Client
// satisfies it.
type ExecutionDescriber interface {
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
}

// Deps are what the handler needs.
type Deps struct {
	// Recoverer is required.
	Recoverer Recoverer
	// Executions reads inputs the event left out; required.
	Executions ExecutionDescriber
	// StateMachineARN, when set, is the rollout state machine: events of
	// any other are ignored.
	StateMachineARN string
	Logger          *slog.Logger
}

// Handler is the safety-net function's handler.
type Handler struct {
	rec     Recoverer
	sfn     ExecutionDescriber
	machine string
	log     *slog.Logger
}

// New returns the handler.
func New(d Deps) (*Handler, error) {
	if d.Recoverer == nil || d.Executions == nil {
		return nil, errors.New("safetynet: Recoverer and Executions are required")
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Handler{rec: d.Recoverer, sfn: d.Executions, machine: d.StateMachineARN, log: log}, nil
}

// Outcome says what the handler did with an event.
type Outcome string

// Outcomes.
const (
	// Ignored: not an event the safety net acts on (another source or
	// state machine, a SUCCEEDED or RUNNING execution).
	Ignored Outcome = "Ignored"
	// NothingHeld: the execution no longer held the lease.
	NothingHeld Outcome = "NothingHeld"
	// Recovered: the snapshot was restored and the lease released.
	Recovered Outcome = "Recovered"
)

// Result is the handler's answer (logged by Lambda, read by tests).
type Result struct {
	Outcome   Outcome `json:"outcome"`
	Cell      string  `json:"cell,omitempty"`
	Execution string  `json:"executionArn,omitempty"`
	Reason    string  `json:"reason"`
}

// Handle handles one EventBridge event, given raw so that a malformed one
// gets an error naming the field (events.DecodeEnvelope).
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (Result, error) {
	ev, err := events.DecodeEnvelope(raw)
	if err != nil {
		h.log.ErrorContext(ctx, "malformed event", "error", err)
		return Result{}, err
	}
	change, err := events.ParseExecutionStatusChange(ev)
	if events.IsIgnored(err) {
		h.log.InfoContext(ctx, "event ignored", "reason", err.Error())
		return Result{Outcome: Ignored, Reason: err.Error()}, nil
	}
	if err != nil {
		h.log.ErrorContext(ctx, "malformed execution status change", "error", err)
		return Result{}, err
	}
	log := h.log.With("execution", change.ExecutionARN, "status", change.Status)
	if h.machine != "" && change.StateMachineARN != h.machine {
		reason := fmt.Sprintf("state machine %s is not the rollout state machine %s", change.StateMachineARN, h.machine)
		log.InfoContext(ctx, "event ignored", "reason", reason)
		return Result{Outcome: Ignored, Execution: change.ExecutionARN, Reason: reason}, nil
	}
	if !change.Status.Unsuccessful() {
		reason := fmt.Sprintf("execution status %s needs no safety net", change.Status)
		log.InfoContext(ctx, "event ignored", "reason", reason)
		return Result{Outcome: Ignored, Execution: change.ExecutionARN, Reason: reason}, nil
	}
	in, err := h.input(ctx, change)
	if err != nil {
		return Result{}, err
	}
	why := Why(change)
	log = log.With("cell", in.Cell, "version", in.TargetVersion)
	log.InfoContext(ctx, "rollout execution ended unsuccessfully; checking its lease", "why", why)
	recovered, err := h.rec.Recover(ctx, in.Cell, change.ExecutionARN, why)
	if err != nil {
		log.ErrorContext(ctx, "safety net failed", "error", err)
		return Result{}, err
	}
	if !recovered {
		return Result{Outcome: NothingHeld, Cell: in.Cell, Execution: change.ExecutionARN,
			Reason: "the execution no longer holds the Cell's lease: its rollout already ended (rolled back, superseded or finalized)"}, nil
	}
	log.InfoContext(ctx, "restored the stable weights after the execution ended", "why", why)
	return Result{Outcome: Recovered, Cell: in.Cell, Execution: change.ExecutionARN, Reason: why}, nil
}

// Why says why a rollout is rolled back after its execution ended:
// "execution NAME ended STATUS", plus the error and cause when Step
// Functions gives them.
func Why(change events.ExecutionStatusChange) string {
	why := fmt.Sprintf("execution %s ended %s", change.Name, change.Status)
	cause := strings.TrimSpace(change.Cause)
	var lambdaErr struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if strings.HasPrefix(cause, "{") && json.Unmarshal([]byte(cause), &lambdaErr) == nil && lambdaErr.ErrorMessage != "" {
		cause = lambdaErr.ErrorMessage
	}
	switch {
	case change.Error != "" && cause != "":
		why += fmt.Sprintf(" (%s: %s)", change.Error, cause)
	case change.Error != "":
		why += fmt.Sprintf(" (%s)", change.Error)
	case cause != "":
		why += fmt.Sprintf(" (%s)", cause)
	}
	return why
}

// input returns the execution's input, from the event or, when the event
// left it out, from DescribeExecution.
func (h *Handler) input(ctx context.Context, change events.ExecutionStatusChange) (executions.Input, error) {
	raw := change.Input
	if !change.InputIncluded || raw == nil {
		out, err := h.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(change.ExecutionARN)})
		if err != nil {
			return executions.Input{}, fmt.Errorf("describing execution %s for its input, %w", change.ExecutionARN, err)
		}
		raw = json.RawMessage(aws.ToString(out.Input))
	}
	var in executions.Input
	if err := json.Unmarshal(raw, &in); err != nil {
		return executions.Input{}, &events.MalformedError{Field: "detail.input", Reason: fmt.Sprintf("not a rollout input: %v", err)}
	}
	if in.Cell == "" {
		return executions.Input{}, &events.MalformedError{Field: "detail.input.cell", Reason: "missing: not a rollout execution's input"}
	}
	return in, nil
}
