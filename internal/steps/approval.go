package steps

import (
	"context"
	"fmt"

	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
)

// ApprovalInput is the rollout-approval function's input (the Payload of
// the AwaitApproval state).
type ApprovalInput struct {
	Cell         string         `json:"cell"`
	ExecutionARN string         `json:"executionArn"`
	TaskToken    string         `json:"taskToken"`
	Action       rollout.Action `json:"action"`
}

// DefaultApprovalMessage is the status message of a pause without a
// reason of its own.
const DefaultApprovalMessage = "waiting for `okra rollout promote`"

// AwaitApproval is the rollout-approval function's handler. It keeps the
// task token in the Cell status (phase Paused, message the action's
// reason) and appends a Paused event; the state then waits until `okra
// rollout promote` or `okra rollout abort` answers the token.
func (h *Handlers) AwaitApproval(ctx context.Context, in ApprovalInput) (any, error) {
	if err := h.awaitApproval(ctx, in); err != nil {
		h.log.WarnContext(ctx, "rollout-approval failed", "cell", in.Cell, "execution", in.ExecutionARN, "error", err)
		return nil, Boundary(err)
	}
	return nil, nil
}

func (h *Handlers) awaitApproval(ctx context.Context, in ApprovalInput) error {
	if in.TaskToken == "" {
		return fmt.Errorf("rollout-approval: empty taskToken for Cell %q", in.Cell)
	}
	if _, err := h.holding(ctx, in.Cell, in.ExecutionARN); err != nil {
		return err
	}
	message := in.Action.Reason
	if message == "" {
		message = DefaultApprovalMessage
	}
	if _, err := h.store.UpdateStatus(ctx, in.Cell, in.ExecutionARN, func(s *rollout.Status) error {
		s.TaskToken = in.TaskToken
		s.Phase = rollout.PhasePaused
		s.Message = message
		return nil
	}); err != nil {
		return err
	}
	h.log.InfoContext(ctx, "waiting for approval", "cell", in.Cell, "execution", in.ExecutionARN, "step", in.Action.StepIndex, "reason", message)
	return h.event(ctx, in.Cell, store.Event{
		Type: store.EventPaused, Execution: in.ExecutionARN, Version: in.Action.CanaryVersion, Message: message,
		Details: map[string]string{"stepIndex": fmt.Sprint(in.Action.StepIndex), "canaryWeight": fmt.Sprint(in.Action.CanaryWeight)},
	})
}
