package awsapi

import (
	"context"
	"errors"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Code returns the AWS error code of err, or "" when err carries none.
func Code(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

var notFoundCodes = map[string]bool{
	"ResourceNotFoundException": true,
	"ListenerNotFound":          true,
	"RuleNotFound":              true,
	"TargetGroupNotFound":       true,
	"LoadBalancerNotFound":      true,
	"ExecutionDoesNotExist":     true,
	"StateMachineDoesNotExist":  true,
	"NotFoundException":         true,
}

// IsNotFound reports whether err says the resource does not exist.
func IsNotFound(err error) bool { return notFoundCodes[Code(err)] }

var throttleCodes = map[string]bool{
	"Throttling":                             true,
	"ThrottlingException":                    true,
	"ThrottledException":                     true,
	"RequestThrottledException":              true,
	"TooManyRequestsException":               true,
	"ProvisionedThroughputExceededException": true,
	"RequestLimitExceeded":                   true,
	"SlowDown":                               true,
}

// IsThrottle reports whether err is AWS throttling.
func IsThrottle(err error) bool { return throttleCodes[Code(err)] }

// IsConditionFailed reports whether a DynamoDB conditional write was refused.
func IsConditionFailed(err error) bool {
	return Code(err) == "ConditionalCheckFailedException"
}

// retryables is the AWS SDK's own list of retryable failures: throttling
// codes, 500/502/503/504 answers, connection resets, timeouts.
var retryables = retry.IsErrorRetryables(retry.DefaultRetryables)

// IsTransient reports whether err is worth retrying later: AWS throttling,
// a 5xx answer, a timeout or a dropped connection. Handlers turn such
// errors into a TransientError the state machine retries.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if IsThrottle(err) {
		return true
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) && resp.HTTPStatusCode() >= 500 {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return retryables.IsErrorRetryable(err) == aws.TrueTernary
}
