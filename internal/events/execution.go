package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
)

// ExecutionStatus is a Step Functions execution status.
type ExecutionStatus string

// Execution statuses Step Functions reports. Others may appear as AWS adds
// them; ParseExecutionStatusChange passes them through.
const (
	ExecutionRunning        ExecutionStatus = "RUNNING"
	ExecutionSucceeded      ExecutionStatus = "SUCCEEDED"
	ExecutionFailed         ExecutionStatus = "FAILED"
	ExecutionTimedOut       ExecutionStatus = "TIMED_OUT"
	ExecutionAborted        ExecutionStatus = "ABORTED"
	ExecutionPendingRedrive ExecutionStatus = "PENDING_REDRIVE"
)

// Unsuccessful reports whether the execution ended without succeeding
// (FAILED, TIMED_OUT or ABORTED): the statuses the safety net acts on.
func (s ExecutionStatus) Unsuccessful() bool {
	return s == ExecutionFailed || s == ExecutionTimedOut || s == ExecutionAborted
}

// ExecutionStatusChange is a Step Functions "Execution Status Change"
// event.
type ExecutionStatusChange struct {
	ExecutionARN    string
	StateMachineARN string
	// Name is the execution's name (the last part of its ARN).
	Name   string
	Status ExecutionStatus
	// StartDate is when the execution started; StopDate when it ended, zero
	// while it runs.
	StartDate time.Time
	StopDate  time.Time
	// Input is the execution's input document. It is nil when EventBridge
	// left it out (InputIncluded false: input and output together exceeded
	// the event size limit); DescribeExecution returns it then.
	Input         json.RawMessage
	InputIncluded bool
	// Output is the execution's output document, when it has one and
	// EventBridge included it.
	Output json.RawMessage
	// Error and Cause say why the execution failed, when Step Functions
	// says.
	Error string
	Cause string
	// EventID is the EventBridge event id; Time when the status changed.
	EventID string
	Time    time.Time
}

type executionDetail struct {
	ExecutionARN    string          `json:"executionArn"`
	StateMachineARN string          `json:"stateMachineArn"`
	Name            string          `json:"name"`
	Status          string          `json:"status"`
	StartDate       json.RawMessage `json:"startDate"`
	StopDate        json.RawMessage `json:"stopDate"`
	Input           *string         `json:"input"`
	Output          *string         `json:"output"`
	InputDetails    *struct {
		Included *bool `json:"included"`
	} `json:"inputDetails"`
	Error *string `json:"error"`
	Cause *string `json:"cause"`
}

// ParseExecutionStatusChange reads a Step Functions execution status
// change. It returns an *IgnoredError for events of another source or
// detail-type and a *MalformedError when a field is missing, has the wrong
// type, or the ARNs are not a Step Functions execution and state machine
// that belong together. Any status is accepted; the caller decides which
// it acts on (see ExecutionStatus.Unsuccessful).
func ParseExecutionStatusChange(ev lambdaevents.CloudWatchEvent) (ExecutionStatusChange, error) {
	if ev.Source != SourceStates {
		return ExecutionStatusChange{}, ignored("source %q is not %s", ev.Source, SourceStates)
	}
	if ev.DetailType != DetailTypeExecutionStatusChange {
		return ExecutionStatusChange{}, ignored("detail-type %q is not %q", ev.DetailType, DetailTypeExecutionStatusChange)
	}
	if absent(ev.Detail) {
		return ExecutionStatusChange{}, malformed("detail", "missing")
	}
	var d executionDetail
	if err := decodeJSON(ev.Detail, "detail", &d); err != nil {
		return ExecutionStatusChange{}, err
	}
	if d.ExecutionARN == "" {
		return ExecutionStatusChange{}, malformed("detail.executionArn", "missing")
	}
	if d.StateMachineARN == "" {
		return ExecutionStatusChange{}, malformed("detail.stateMachineArn", "missing")
	}
	smName, execName, err := parseExecutionARN(d.ExecutionARN)
	if err != nil {
		return ExecutionStatusChange{}, malformed("detail.executionArn", "%v", err)
	}
	machine, err := parseStateMachineARN(d.StateMachineARN)
	if err != nil {
		return ExecutionStatusChange{}, malformed("detail.stateMachineArn", "%v", err)
	}
	if machine != smName {
		return ExecutionStatusChange{}, malformed("detail.executionArn", "belongs to state machine %q, but detail.stateMachineArn is %q", smName, machine)
	}
	if d.Name != "" && d.Name != execName {
		return ExecutionStatusChange{}, malformed("detail.name", "%q differs from the execution ARN's name %q", d.Name, execName)
	}
	if d.Status == "" {
		return ExecutionStatusChange{}, malformed("detail.status", "missing")
	}
	out := ExecutionStatusChange{
		ExecutionARN:    d.ExecutionARN,
		StateMachineARN: d.StateMachineARN,
		Name:            execName,
		Status:          ExecutionStatus(d.Status),
		EventID:         ev.ID,
		Time:            ev.Time,
	}
	if absent(d.StartDate) {
		return ExecutionStatusChange{}, malformed("detail.startDate", "missing")
	}
	if out.StartDate, err = epochMillis(d.StartDate, "detail.startDate"); err != nil {
		return ExecutionStatusChange{}, err
	}
	if !absent(d.StopDate) {
		if out.StopDate, err = epochMillis(d.StopDate, "detail.stopDate"); err != nil {
			return ExecutionStatusChange{}, err
		}
	}
	if d.Input != nil {
		if out.Input, err = embeddedJSON(*d.Input, "detail.input"); err != nil {
			return ExecutionStatusChange{}, err
		}
	}
	out.InputIncluded = out.Input != nil
	if d.InputDetails != nil && d.InputDetails.Included != nil {
		if *d.InputDetails.Included && out.Input == nil {
			return ExecutionStatusChange{}, malformed("detail.input", "missing although detail.inputDetails.included is true")
		}
		out.InputIncluded = *d.InputDetails.Included
	}
	if d.Output != nil {
		if out.Output, err = embeddedJSON(*d.Output, "detail.output"); err != nil {
			return ExecutionStatusChange{}, err
		}
	}
	if d.Error != nil {
		out.Error = *d.Error
	}
	if d.Cause != nil {
		out.Cause = *d.Cause
	}
	return out, nil
}

// parseExecutionARN splits
// arn:<partition>:states:<region>:<account>:execution:<machine>:<name>.
func parseExecutionARN(arn string) (machine, name string, err error) {
	resource, err := statesResource(arn)
	if err != nil {
		return "", "", err
	}
	parts := strings.Split(resource, ":")
	if len(parts) != 3 || parts[0] != "execution" || parts[1] == "" || parts[2] == "" {
		return "", "", fmt.Errorf("%q is not a Step Functions execution ARN (want arn:<partition>:states:<region>:<account>:execution:<state machine>:<name>)", arn)
	}
	return parts[1], parts[2], nil
}

// parseStateMachineARN splits
// arn:<partition>:states:<region>:<account>:stateMachine:<name>.
func parseStateMachineARN(arn string) (string, error) {
	resource, err := statesResource(arn)
	if err != nil {
		return "", err
	}
	parts := strings.Split(resource, ":")
	if len(parts) != 2 || parts[0] != "stateMachine" || parts[1] == "" {
		return "", fmt.Errorf("%q is not a Step Functions state machine ARN (want arn:<partition>:states:<region>:<account>:stateMachine:<name>)", arn)
	}
	return parts[1], nil
}

// statesResource checks the ARN prefix of a Step Functions ARN and returns
// what follows the account.
func statesResource(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return "", fmt.Errorf("%q is not an ARN", arn)
	}
	switch {
	case parts[2] != "states":
		return "", fmt.Errorf("%q is not a Step Functions ARN (service %q)", arn, parts[2])
	case !validPartition(parts[1]):
		return "", fmt.Errorf("%q has an invalid partition %q", arn, parts[1])
	case !validRegion(parts[3]):
		return "", fmt.Errorf("%q has an invalid region %q", arn, parts[3])
	case !validAccount(parts[4]):
		return "", fmt.Errorf("%q has an invalid account %q (want 12 digits)", arn, parts[4])
	}
	return parts[5], nil
}

// epochMillis reads a Step Functions date: milliseconds since the epoch.
func epochMillis(raw json.RawMessage, field string) (time.Time, error) {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 || b[0] == '"' || b[0] == '{' || b[0] == '[' || b[0] == 't' || b[0] == 'f' {
		return time.Time{}, malformed(field, "want milliseconds since the epoch (a number), got %s", jsonKind(raw))
	}
	ms, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return time.Time{}, malformed(field, "%s is not a whole number of milliseconds", b)
	}
	if ms < 0 {
		return time.Time{}, malformed(field, "%d is before the epoch", ms)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// embeddedJSON checks a JSON document carried as a string.
func embeddedJSON(s, field string) (json.RawMessage, error) {
	if !json.Valid([]byte(s)) {
		return nil, malformed(field, "not a JSON document")
	}
	return json.RawMessage(s), nil
}
