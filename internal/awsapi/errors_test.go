package awsapi_test

import (
	"errors"
	"fmt"
	"testing"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/okrahq/okra/internal/awsapi"
)

func apiErr(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "test " + code}
}

func TestErrorClassification(t *testing.T) {
	type want struct{ notFound, throttle, conditionFailed bool }
	tests := []struct {
		name string
		err  error
		want want
	}{
		{"nil", nil, want{}},
		{"plain error", errors.New("ResourceNotFoundException"), want{}},
		{"generic not found", apiErr("ResourceNotFoundException"), want{notFound: true}},
		{"listener not found", apiErr("ListenerNotFound"), want{notFound: true}},
		{"rule not found", apiErr("RuleNotFound"), want{notFound: true}},
		{"target group not found", apiErr("TargetGroupNotFound"), want{notFound: true}},
		{"load balancer not found", apiErr("LoadBalancerNotFound"), want{notFound: true}},
		{"execution does not exist", apiErr("ExecutionDoesNotExist"), want{notFound: true}},
		{"state machine does not exist", apiErr("StateMachineDoesNotExist"), want{notFound: true}},
		{"NotFoundException", apiErr("NotFoundException"), want{notFound: true}},
		{"typed ELBv2 listener not found", &elbv2types.ListenerNotFoundException{Message: new("gone")}, want{notFound: true}},
		{"typed SFN execution does not exist", &sfntypes.ExecutionDoesNotExist{}, want{notFound: true}},
		{"wrapped not found", fmt.Errorf("describing listener, %w", apiErr("ListenerNotFound")), want{notFound: true}},
		{"Throttling", apiErr("Throttling"), want{throttle: true}},
		{"ThrottlingException", apiErr("ThrottlingException"), want{throttle: true}},
		{"TooManyRequestsException", apiErr("TooManyRequestsException"), want{throttle: true}},
		{"ProvisionedThroughputExceededException", apiErr("ProvisionedThroughputExceededException"), want{throttle: true}},
		{"RequestLimitExceeded", apiErr("RequestLimitExceeded"), want{throttle: true}},
		{"SlowDown", apiErr("SlowDown"), want{throttle: true}},
		{"typed DynamoDB throughput", &ddbtypes.ProvisionedThroughputExceededException{}, want{throttle: true}},
		{"doubly wrapped throttle", fmt.Errorf("setting weights, %w", fmt.Errorf("modifying listener, %w", apiErr("Throttling"))), want{throttle: true}},
		{"condition failed", apiErr("ConditionalCheckFailedException"), want{conditionFailed: true}},
		{"typed condition failed", &ddbtypes.ConditionalCheckFailedException{}, want{conditionFailed: true}},
		{"wrapped typed condition failed", fmt.Errorf("acquiring lease, %w", &ddbtypes.ConditionalCheckFailedException{}), want{conditionFailed: true}},
		{"transaction canceled is not condition failed", &ddbtypes.TransactionCanceledException{}, want{}},
		{"access denied", apiErr("AccessDenied"), want{}},
		{"validation", apiErr("ValidationError"), want{}},
		{"code is case sensitive", apiErr("throttling"), want{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := want{
				notFound:        awsapi.IsNotFound(tt.err),
				throttle:        awsapi.IsThrottle(tt.err),
				conditionFailed: awsapi.IsConditionFailed(tt.err),
			}
			if got != tt.want {
				t.Fatalf("classification of %v = %+v, want %+v", tt.err, got, tt.want)
			}
		})
	}
}

func TestCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"not an API error", errors.New("boom"), ""},
		{"generic", apiErr("Throttling"), "Throttling"},
		{"wrapped", fmt.Errorf("x, %w", apiErr("RuleNotFound")), "RuleNotFound"},
		{"typed", &ddbtypes.ConditionalCheckFailedException{}, "ConditionalCheckFailedException"},
		{"joined", errors.Join(errors.New("first"), apiErr("ListenerNotFound")), "ListenerNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := awsapi.Code(tt.err); got != tt.want {
				t.Fatalf("Code(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
