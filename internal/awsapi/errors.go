package awsapi

import (
	"errors"

	"github.com/aws/smithy-go"
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
