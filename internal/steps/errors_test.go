package steps_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

func awsErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: "test"} }

// httpErr is an AWS error answered with an HTTP status, as the SDK
// returns it.
func httpErr(status int, code string) error {
	return &smithy.OperationError{ServiceID: "ELBv2", OperationName: "ModifyListener", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      awsErr(code),
	}}
}

func TestBoundary(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string // the Go type name the Lambda runtime reports
	}{
		{"throttling", fmt.Errorf("modifying listener, %w", awsErr("Throttling")), "TransientError"},
		{"DynamoDB throughput", fmt.Errorf("updating status, %w", awsErr("ProvisionedThroughputExceededException")), "TransientError"},
		{"503 from ELBv2", fmt.Errorf("describing listener, %w", httpErr(http.StatusServiceUnavailable, "ServiceUnavailable")), "TransientError"},
		{"500 from DynamoDB", httpErr(http.StatusInternalServerError, "InternalServerError"), "TransientError"},
		{"deadline", fmt.Errorf("reading, %w", context.DeadlineExceeded), "TransientError"},
		{"store lease held", fmt.Errorf("acquiring, %w", &store.LeaseHeldError{Cell: "web", Holder: "x"}), "LeaseHeldError"},
		{"store not holder", fmt.Errorf("updating, %w", &store.NotHolderError{Cell: "web", Execution: "a", Holder: "b"}), "LeaseLostError"},
		{"listener drift", fmt.Errorf("verifying, %w", &listener.DriftError{Location: "x"}), "DriftError"},
		{"listener limit", fmt.Errorf("setting, %w", &listener.LimitError{Limit: listener.LimitTargetGroups, Value: 6, Min: 1, Max: 5}), "LimitError"},
		{"weights limit", &weights.LimitError{Limit: weights.LimitWeight, Value: 1000, Max: 999}, "LimitError"},
		{"already typed, wrapped", fmt.Errorf("context, %w", &steps.UnhealthyTargetsError{Cell: "web"}), "UnhealthyTargetsError"},
		{"nothing to do", &steps.NothingToDoError{Cell: "web"}, "NothingToDoError"},
		{"access denied", fmt.Errorf("modifying listener, %w", awsErr("AccessDenied")), "UnexpectedError"},
		{"plain", errors.New("boom"), "UnexpectedError"},
		{"a named error travels as it is", &listener.RuleNotFoundError{ListenerARN: "l", Priority: 3}, "RuleNotFoundError"},
		{"url error is transient", &url.Error{Op: "Post", URL: "http://x", Err: errors.New("connection reset by peer")}, "TransientError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := steps.Boundary(tt.err)
			if name := lambdaName(got); name != tt.want {
				t.Fatalf("Boundary(%v) is a %s (%T), want %s", tt.err, name, got, tt.want)
			}
			if got.Error() == "" {
				t.Errorf("empty message")
			}
		})
	}
	if steps.Boundary(nil) != nil {
		t.Errorf("Boundary(nil) != nil")
	}
	// The cause stays reachable through the typed error.
	throttled := awsErr("Throttling")
	if !errors.Is(steps.Boundary(fmt.Errorf("x, %w", throttled)), throttled) {
		t.Errorf("TransientError does not unwrap to its cause")
	}
}

func TestIsTransient(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{awsErr("ThrottlingException"), true},
		{httpErr(http.StatusBadGateway, "BadGateway"), true},
		{httpErr(http.StatusBadRequest, "ValidationError"), false},
		{awsErr("ConditionalCheckFailedException"), false},
		{context.Canceled, false},
		{nil, false},
	} {
		if got := steps.IsTransient(tt.err); got != tt.want {
			t.Errorf("IsTransient(%v) = %t, want %t", tt.err, got, tt.want)
		}
	}
}

func TestStateMachineOf(t *testing.T) {
	got := steps.StateMachineOf("arn:aws:states:eu-west-1:123456789012:execution:okra-rollout:web--v2--1")
	if want := "arn:aws:states:eu-west-1:123456789012:stateMachine:okra-rollout"; got != want {
		t.Errorf("StateMachineOf = %q, want %q", got, want)
	}
	if got := steps.StateMachineOf("not-an-arn"); got != "" {
		t.Errorf("StateMachineOf(garbage) = %q, want empty", got)
	}
}
