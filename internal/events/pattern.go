package events

import "encoding/json"

// Event sources and detail types okra subscribes to.
const (
	// SourceEKS is the EventBridge source of EKS API calls recorded by
	// CloudTrail.
	SourceEKS = "aws.eks"
	// DetailTypeAPICall is the detail-type of every CloudTrail-recorded API
	// call delivered by EventBridge.
	DetailTypeAPICall = "AWS API Call via CloudTrail"
	// EventSourceEKS is detail.eventSource of an EKS API call.
	EventSourceEKS = "eks.amazonaws.com"

	// SourceStates is the EventBridge source of Step Functions events.
	SourceStates = "aws.states"
	// DetailTypeExecutionStatusChange is the detail-type of a Step Functions
	// execution status change.
	DetailTypeExecutionStatusChange = "Step Functions Execution Status Change"

	// SourceSchedule and DetailTypeScheduled identify an EventBridge rule's
	// schedule firing.
	SourceSchedule      = "aws.events"
	DetailTypeScheduled = "Scheduled Event"
)

// EKS API calls okra acts on.
const (
	EventCreateCluster = "CreateCluster"
	EventTagResource   = "TagResource"
	EventUntagResource = "UntagResource"
	EventDeleteCluster = "DeleteCluster"
)

// ClusterEventNames returns the EKS API calls the cluster-events rule
// matches, in a fresh slice.
func ClusterEventNames() []string {
	return []string{EventCreateCluster, EventTagResource, EventUntagResource, EventDeleteCluster}
}

// UnsuccessfulExecutionStatuses returns the execution statuses the safety
// net reacts to, in a fresh slice.
func UnsuccessfulExecutionStatuses() []string {
	return []string{string(ExecutionFailed), string(ExecutionTimedOut), string(ExecutionAborted)}
}

// Pattern is an EventBridge event pattern limited to what okra uses: exact
// values for source and detail-type, and Detail keyed by detail field
// (nested objects as map[string]any, value lists as []string). Its field
// layout follows the CDK's awsevents.EventPattern so the stack can copy
// it field by field; JSON renders it for PutRule.
type Pattern struct {
	Source     []string       `json:"source,omitempty"`
	DetailType []string       `json:"detail-type,omitempty"`
	Detail     map[string]any `json:"detail,omitempty"`
}

// JSON renders the pattern as EventBridge's PutRule takes it. The output
// is deterministic (object keys sorted).
func (p Pattern) JSON() (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// ClusterEventPattern matches the EKS API calls that create, tag, untag or
// delete a cluster. It also matches failed calls and tag changes on other
// EKS resources (node groups, add-ons); ParseClusterEvent ignores those.
func ClusterEventPattern() Pattern {
	return Pattern{
		Source:     []string{SourceEKS},
		DetailType: []string{DetailTypeAPICall},
		Detail: map[string]any{
			"eventSource": []string{EventSourceEKS},
			"eventName":   ClusterEventNames(),
		},
	}
}

// ExecutionStatusPattern matches the rollout state machine's executions
// ending FAILED, TIMED_OUT or ABORTED. stateMachineARN is used as given (it
// may be a CDK token), so it is not validated here.
func ExecutionStatusPattern(stateMachineARN string) Pattern {
	return Pattern{
		Source:     []string{SourceStates},
		DetailType: []string{DetailTypeExecutionStatusChange},
		Detail: map[string]any{
			"status":          UnsuccessfulExecutionStatuses(),
			"stateMachineArn": []string{stateMachineARN},
		},
	}
}
