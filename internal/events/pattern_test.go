package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/events"
	"github.com/okrahq/okra/internal/testenv"
)

func TestPatternJSON(t *testing.T) {
	tests := []struct {
		name    string
		pattern events.Pattern
		want    string
	}{
		{
			name:    "cluster events",
			pattern: events.ClusterEventPattern(),
			want: `{"source":["aws.eks"],"detail-type":["AWS API Call via CloudTrail"],` +
				`"detail":{"eventName":["CreateCluster","TagResource","UntagResource","DeleteCluster"],"eventSource":["eks.amazonaws.com"]}}`,
		},
		{
			name:    "execution status",
			pattern: events.ExecutionStatusPattern(rolloutMachine),
			want: `{"source":["aws.states"],"detail-type":["Step Functions Execution Status Change"],` +
				`"detail":{"stateMachineArn":["` + rolloutMachine + `"],"status":["FAILED","TIMED_OUT","ABORTED"]}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.pattern.JSON()
			if err != nil {
				t.Fatalf("JSON: %v", err)
			}
			if got != tt.want {
				t.Errorf("JSON =\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
}

// TestPatternsAreFresh checks callers cannot change the shared patterns by
// editing a returned value.
func TestPatternsAreFresh(t *testing.T) {
	p := events.ClusterEventPattern()
	p.Detail["eventName"].([]string)[0] = "CreateNodegroup"
	events.ClusterEventNames()[0] = "CreateNodegroup"
	if got := events.ClusterEventPattern().Detail["eventName"].([]string)[0]; got != "CreateCluster" {
		t.Fatalf("ClusterEventPattern's first event name = %q after editing a copy", got)
	}
}

// sent is one event put on the bus, known by a key found again in the
// delivered message.
type sent struct {
	key  string
	raw  []byte
	want bool // whether the rule must deliver it
}

// deliver creates a rule with pattern and an SQS target, puts every event
// and returns the delivered messages' bodies.
func deliver(t *testing.T, cfg awsapi.Config, pattern events.Pattern, evs []sent) []string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("okra-%s-%d", strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-"), time.Now().UnixNano())
	if len(name) > 64 {
		name = name[len(name)-64:]
	}
	sq, eb := cfg.SQS(), cfg.EventBridge()

	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateQueue: %v", err)
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	patternJSON, err := pattern.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(patternJSON)}); err != nil {
		t.Fatalf("PutRule(%s): %v", patternJSON, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = eb.RemoveTargets(ctx, &eventbridge.RemoveTargetsInput{Rule: aws.String(name), Ids: []string{"queue"}})
		_, _ = eb.DeleteRule(ctx, &eventbridge.DeleteRuleInput{Name: aws.String(name)})
		_, _ = sq.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl})
	})
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule:    aws.String(name),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}},
	}); err != nil {
		t.Fatalf("PutTargets: %v", err)
	}

	for _, s := range evs {
		ev := envelopeFromBytes(t, s.raw)
		entry := ebtypes.PutEventsRequestEntry{
			Source:     aws.String(ev.Source),
			DetailType: aws.String(ev.DetailType),
			Detail:     aws.String(string(ev.Detail)),
			Resources:  ev.Resources,
		}
		if !ev.Time.IsZero() {
			entry.Time = aws.Time(ev.Time)
		}
		out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}})
		if err != nil {
			t.Fatalf("PutEvents(%s): %v", s.key, err)
		}
		if out.FailedEntryCount != 0 {
			t.Fatalf("PutEvents(%s): %d failed entries: %s", s.key, out.FailedEntryCount, aws.ToString(out.Entries[0].ErrorMessage))
		}
	}

	var bodies []string
	for {
		msgs, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
		if err != nil {
			t.Fatalf("ReceiveMessage: %v", err)
		}
		if len(msgs.Messages) == 0 {
			return bodies
		}
		for _, m := range msgs.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			if _, err := sq.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("DeleteMessage: %v", err)
			}
		}
	}
}

// compareDelivered checks the delivered keys are exactly the wanted ones.
func compareDelivered(t *testing.T, evs []sent, got []string) {
	t.Helper()
	var want []string
	for _, s := range evs {
		if s.want {
			want = append(want, s.key)
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("delivered:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestClusterEventPatternOnEventBridge puts the fixtures and foreign events
// on moto's EventBridge under a rule with ClusterEventPattern and checks
// exactly the four cluster calls reach the SQS target, then parses what
// arrived as the cluster-events function would.
func TestClusterEventPatternOnEventBridge(t *testing.T) {
	cfg, _ := testenv.AWS(t)
	cloudTrailID := func(raw []byte) string {
		var d struct {
			Detail struct {
				EventName string `json:"eventName"`
				EventID   string `json:"eventID"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("reading detail.eventID: %v", err)
		}
		return d.Detail.EventName + " " + d.Detail.EventID
	}
	var evs []sent
	add := func(raw []byte, want bool) { evs = append(evs, sent{key: cloudTrailID(raw), raw: raw, want: want}) }
	for _, name := range []string{
		"eks-create-cluster.json",
		"eks-create-cluster-legacy-clustername.json",
		"eks-tag-resource.json",
		"eks-untag-resource.json",
		"eks-delete-cluster.json",
		"eks-delete-cluster-legacy.json",
		// The pattern matches on the call, not its outcome or resource:
		// these arrive and ParseClusterEvent ignores them.
		"eks-create-cluster-failed-call.json",
		"eks-tag-resource-nodegroup.json",
	} {
		add(fixture(t, name), true)
	}
	add(fixture(t, "eks-create-nodegroup.json"), false)
	add(fixture(t, "eks-update-cluster-config.json"), false)
	// Same EKS detail, another source.
	add(mutate(t, "eks-create-cluster.json", func(m map[string]any) {
		m["source"] = "okra.test"
		set(m, "detail.eventID", "spoofed-source")
	}), false)
	// Same source and call, another detail-type.
	add(mutate(t, "eks-delete-cluster.json", func(m map[string]any) {
		m["detail-type"] = "AWS Service Event via CloudTrail"
		set(m, "detail.eventID", "service-event")
	}), false)
	// A CloudTrail record of another service with an EKS-like call name.
	add(mutate(t, "eks-tag-resource.json", func(m map[string]any) {
		m["source"] = "aws.ecs"
		set(m, "detail.eventSource", "ecs.amazonaws.com")
		set(m, "detail.eventID", "ecs-tag-resource")
	}), false)
	// aws.eks, but the record claims another service.
	add(mutate(t, "eks-tag-resource.json", func(m map[string]any) {
		set(m, "detail.eventSource", "ecs.amazonaws.com")
		set(m, "detail.eventID", "wrong-event-source")
	}), false)

	bodies := deliver(t, cfg, events.ClusterEventPattern(), evs)
	var got []string
	parsed := map[events.ClusterEventKind]int{}
	ignoredCount := 0
	for _, b := range bodies {
		got = append(got, cloudTrailID([]byte(b)))
		ev, err := events.DecodeEnvelope([]byte(b))
		if err != nil {
			t.Errorf("delivered message does not decode: %v\n%s", err, b)
			continue
		}
		ce, err := events.ParseClusterEvent(ev)
		switch {
		case events.IsIgnored(err):
			ignoredCount++
		case err != nil:
			t.Errorf("delivered message does not parse: %v", err)
		default:
			parsed[ce.Kind]++
		}
	}
	compareDelivered(t, evs, got)
	wantParsed := map[events.ClusterEventKind]int{events.ClusterCreated: 2, events.ClusterTagsChanged: 2, events.ClusterDeleted: 2}
	if fmt.Sprint(parsed) != fmt.Sprint(wantParsed) || ignoredCount != 2 {
		t.Errorf("delivered events parsed to %v with %d ignored, want %v with 2 ignored", parsed, ignoredCount, wantParsed)
	}
}

// TestExecutionStatusPatternOnEventBridge checks that only the rollout
// state machine's unsuccessful executions reach the safety net.
func TestExecutionStatusPatternOnEventBridge(t *testing.T) {
	cfg, _ := testenv.AWS(t)
	execName := func(raw []byte) string {
		var d struct {
			Detail struct {
				StateMachineARN string `json:"stateMachineArn"`
				Name            string `json:"name"`
				Status          string `json:"status"`
			} `json:"detail"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("reading detail: %v", err)
		}
		return d.Detail.StateMachineARN + " " + d.Detail.Name + " " + d.Detail.Status
	}
	var evs []sent
	add := func(raw []byte, want bool) { evs = append(evs, sent{key: execName(raw), raw: raw, want: want}) }
	add(fixture(t, "sfn-execution-failed.json"), true)
	add(fixture(t, "sfn-execution-timed-out.json"), true)
	add(fixture(t, "sfn-execution-aborted.json"), true)
	add(fixture(t, "sfn-execution-succeeded.json"), false)
	add(mutate(t, "sfn-execution-failed.json", func(m map[string]any) {
		set(m, "detail.status", "RUNNING")
		set(m, "detail.stopDate", nil)
	}), false)
	// Another state machine's failure.
	add(mutate(t, "sfn-execution-failed.json", func(m map[string]any) {
		set(m, "detail.stateMachineArn", "arn:aws:states:us-east-1:123456789012:stateMachine:okra-cleanup")
		set(m, "detail.executionArn", "arn:aws:states:us-east-1:123456789012:execution:okra-cleanup:web--v2--1")
	}), false)
	// A state machine whose name extends the rollout's.
	add(mutate(t, "sfn-execution-aborted.json", func(m map[string]any) {
		set(m, "detail.stateMachineArn", rolloutMachine+"-v2")
		set(m, "detail.executionArn", "arn:aws:states:us-east-1:123456789012:execution:okra-rollout-v2:web-v2-r4")
	}), false)
	// Right detail, wrong source.
	add(mutate(t, "sfn-execution-timed-out.json", func(m map[string]any) {
		m["source"] = "okra.test"
		set(m, "detail.name", "spoofed")
	}), false)

	bodies := deliver(t, cfg, events.ExecutionStatusPattern(rolloutMachine), evs)
	var got []string
	for _, b := range bodies {
		got = append(got, execName([]byte(b)))
		ev, err := events.DecodeEnvelope([]byte(b))
		if err != nil {
			t.Errorf("delivered message does not decode: %v", err)
			continue
		}
		change, err := events.ParseExecutionStatusChange(ev)
		if err != nil {
			t.Errorf("delivered message does not parse: %v", err)
			continue
		}
		if !change.Status.Unsuccessful() || change.StateMachineARN != rolloutMachine {
			t.Errorf("delivered %s of %s, want only unsuccessful executions of %s", change.Status, change.StateMachineARN, rolloutMachine)
		}
	}
	compareDelivered(t, evs, got)
}
