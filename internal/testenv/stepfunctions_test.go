package testenv_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/testenv"
)

// choiceMachine routes on $.step: "pause" waits $.seconds, "done" succeeds,
// anything else fails with a named error.
const choiceMachine = `{
  "Comment": "okra emulator smoke test",
  "StartAt": "Mark",
  "States": {
    "Mark": {"Type": "Pass", "Result": "marked", "ResultPath": "$.mark", "Next": "Route"},
    "Route": {
      "Type": "Choice",
      "Choices": [
        {"Variable": "$.step", "StringEquals": "pause", "Next": "Pause"},
        {"Variable": "$.step", "StringEquals": "done", "Next": "Done"}
      ],
      "Default": "Unknown"
    },
    "Pause": {"Type": "Wait", "SecondsPath": "$.seconds", "Next": "Done"},
    "Done": {"Type": "Succeed"},
    "Unknown": {"Type": "Fail", "Error": "UnknownStepError", "Cause": "no such step"}
  }
}`

func createStateMachine(t *testing.T, c *sfn.Client, definition string) string {
	t.Helper()
	out, err := c.CreateStateMachine(context.Background(), &sfn.CreateStateMachineInput{
		Name:       aws.String(testenv.UniqueName("okra-sm")),
		Definition: aws.String(definition),
		RoleArn:    aws.String(testenv.RoleARN),
	})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	return aws.ToString(out.StateMachineArn)
}

func runExecution(t *testing.T, c *sfn.Client, smARN, name, input string) *sfn.DescribeExecutionOutput {
	t.Helper()
	ctx := context.Background()
	start, err := c.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(smARN),
		Name:            aws.String(name),
		Input:           aws.String(input),
	})
	if err != nil {
		t.Fatalf("StartExecution(%s): %v", name, err)
	}
	out, err := testenv.WaitExecution(ctx, c, aws.ToString(start.ExecutionArn), 20*time.Second)
	if err != nil {
		t.Fatalf("waiting for %s: %v", name, err)
	}
	return out
}

func TestStepFunctionsNamedExecution(t *testing.T) {
	cfg, _ := testenv.AWS(t)
	c := cfg.SFN()
	sm := createStateMachine(t, c, choiceMachine)

	started := time.Now()
	out := runExecution(t, c, sm, "web-v2-pause", `{"step":"pause","seconds":1}`)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		t.Fatalf("status = %s (error %q, cause %q), want SUCCEEDED", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	if aws.ToString(out.Name) != "web-v2-pause" {
		t.Errorf("execution name = %q", aws.ToString(out.Name))
	}
	if elapsed := time.Since(started); elapsed < time.Second {
		t.Errorf("execution finished in %s; the Wait state's SecondsPath (1s) was not honoured", elapsed)
	}
	var output map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.Output)), &output); err != nil {
		t.Fatalf("output %q: %v", aws.ToString(out.Output), err)
	}
	if want := map[string]any{"step": "pause", "seconds": float64(1), "mark": "marked"}; !reflect.DeepEqual(output, want) {
		t.Fatalf("output = %v, want %v", output, want)
	}

	failed := runExecution(t, c, sm, "web-v2-bogus", `{"step":"bogus"}`)
	if failed.Status != sfntypes.ExecutionStatusFailed || aws.ToString(failed.Error) != "UnknownStepError" {
		t.Fatalf("bogus step: status %s error %q, want FAILED with UnknownStepError", failed.Status, aws.ToString(failed.Error))
	}

	// Names are unique per state machine: a duplicate start with other
	// input is refused, which is what makes rollout triggers idempotent.
	_, err := c.StartExecution(context.Background(), &sfn.StartExecutionInput{
		StateMachineArn: aws.String(sm),
		Name:            aws.String("web-v2-pause"),
		Input:           aws.String(`{"step":"done","other":true}`),
	})
	if code := awsapi.Code(err); code != "ExecutionAlreadyExists" {
		t.Fatalf("duplicate execution name: error %v (code %q), want ExecutionAlreadyExists", err, code)
	}
}

func TestStepFunctionsConsecutiveExecutions(t *testing.T) {
	// moto 5.2.1 answered every StartExecution after the first with HTTP
	// 500; the pinned version must answer them all.
	cfg, _ := testenv.AWS(t)
	c := cfg.SFN()
	sm := createStateMachine(t, c, choiceMachine)
	for _, name := range []string{"first", "second", "third"} {
		out := runExecution(t, c, sm, name, `{"step":"done"}`)
		if out.Status != sfntypes.ExecutionStatusSucceeded {
			t.Fatalf("execution %s: status %s (error %q, cause %q), want SUCCEEDED", name, out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
		}
	}
	list, err := c.ListExecutions(context.Background(), &sfn.ListExecutionsInput{StateMachineArn: aws.String(sm)})
	if err != nil {
		t.Fatalf("ListExecutions: %v", err)
	}
	if len(list.Executions) != 3 {
		t.Fatalf("ListExecutions returned %d executions, want 3", len(list.Executions))
	}
}
