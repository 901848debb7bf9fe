package store

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/okrahq/okra/internal/weights"
)

// EventType says what happened.
type EventType string

// Event types okra records. The list is open: handlers may add types.
const (
	EventSpecApplied EventType = "SpecApplied"
	EventSpecInvalid EventType = "SpecInvalid"
	// EventSpecIngressHeld: a spec changing the Cell's ingress was stored
	// (through the DynamoDB console) while a rollout runs; the rollout
	// keeps routing where it started, and the change waits for it to end.
	EventSpecIngressHeld EventType = "SpecIngressHeld"
	// EventTemplateApplied: a shared analysis template the Cell names was
	// applied (okra template apply), with what changed.
	EventTemplateApplied EventType = "TemplateApplied"
	EventRolloutStarted  EventType = "RolloutStarted"
	// EventRolloutTriggered: a trigger (cluster event, reconcile, config
	// change) started a rollout execution; the execution records
	// RolloutStarted when it takes the lease.
	EventRolloutTriggered    EventType = "RolloutTriggered"
	EventLeaseAcquired       EventType = "LeaseAcquired"
	EventLeaseReleased       EventType = "LeaseReleased"
	EventWeightsSet          EventType = "WeightsSet"
	EventWeightsVerified     EventType = "WeightsVerified"
	EventWeightsDrifted      EventType = "WeightsDrifted"
	EventAnalysisMeasurement EventType = "AnalysisMeasurement"
	EventAnalysisCompleted   EventType = "AnalysisCompleted"
	EventPaused              EventType = "Paused"
	EventPromoted            EventType = "Promoted"
	EventAborted             EventType = "Aborted"
	EventSuperseded          EventType = "Superseded"
	EventRolledBack          EventType = "RolledBack"
	EventBlocked             EventType = "Blocked"
	EventUnblocked           EventType = "Unblocked"
	EventFinalized           EventType = "Finalized"
	// EventWeightsAdopted: a promote answered a drift wait; the weights
	// found became the rollout's own.
	EventWeightsAdopted EventType = "WeightsAdopted"
	// EventWeightsRerouted: a restore (or step) moved the share of target
	// groups that could not carry traffic onto ones that can.
	EventWeightsRerouted EventType = "WeightsRerouted"
	// EventDegraded: a restore found no target group able to carry the
	// snapshot's traffic and kept the weights it had.
	EventDegraded EventType = "Degraded"
	// EventDegradedCleared: a reconcile found every target group the
	// listener gives weight to able to carry traffic again, and took the
	// Cell out of Degraded.
	EventDegradedCleared EventType = "DegradedCleared"
)

// Event is one entry of a Cell's history.
type Event struct {
	// Time is when it happened; AppendEvent uses the clock when zero.
	Time time.Time `json:"time" dynamodbav:"time"`
	// Seq orders events within one millisecond; set by AppendEvent.
	Seq  int       `json:"seq" dynamodbav:"seq"`
	Type EventType `json:"type" dynamodbav:"type"`
	// Execution is the rollout execution that acted, if any.
	Execution string `json:"executionArn,omitempty" dynamodbav:"executionArn,omitempty"`
	// Version is the version concerned (the canary, the blocked one...).
	Version string `json:"version,omitempty" dynamodbav:"version,omitempty"`
	Message string `json:"message,omitempty" dynamodbav:"message,omitempty"`
	// Weights is the forward action set or verified.
	Weights *weights.Forward `json:"weights,omitempty" dynamodbav:"weights,omitempty"`
	// Measurement is one analysis measurement.
	Measurement *Measurement      `json:"measurement,omitempty" dynamodbav:"measurement,omitempty"`
	Details     map[string]string `json:"details,omitempty" dynamodbav:"details,omitempty"`
}

// Measurement is one analysis measurement as recorded in history: what was
// asked, what came back, and how it was judged.
type Measurement struct {
	Metric   string `json:"metric" dynamodbav:"metric"`
	Template string `json:"template,omitempty" dynamodbav:"template,omitempty"`
	// Provider is "cloudWatch" or "datadog".
	Provider string `json:"provider" dynamodbav:"provider"`
	// Query is the query sent, after argument substitution.
	Query string `json:"query,omitempty" dynamodbav:"query,omitempty"`
	// Values are the raw values the provider returned. They must be
	// finite: DynamoDB cannot store NaN or infinities.
	Values []float64 `json:"values,omitempty" dynamodbav:"values,omitempty"`
	// Result is the value the conditions saw, as text.
	Result string `json:"result,omitempty" dynamodbav:"result,omitempty"`
	// Condition is the condition that decided the verdict, if any.
	Condition        string `json:"condition,omitempty" dynamodbav:"condition,omitempty"`
	SuccessCondition string `json:"successCondition,omitempty" dynamodbav:"successCondition,omitempty"`
	FailureCondition string `json:"failureCondition,omitempty" dynamodbav:"failureCondition,omitempty"`
	// Verdict is Successful, Failed, Inconclusive or Error.
	Verdict string `json:"verdict" dynamodbav:"verdict"`
	// Error is the provider's error, for the Error verdict.
	Error      string    `json:"error,omitempty" dynamodbav:"error,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitempty" dynamodbav:"startedAt,omitempty"`
	FinishedAt time.Time `json:"finishedAt,omitempty" dynamodbav:"finishedAt,omitempty"`
}

// eventTimeLayout is fixed width and sorts as text in time order.
const eventTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// maxEventSeq bounds the sequence number within one millisecond.
const maxEventSeq = 999999

func eventSKPrefix(t time.Time) string {
	return SKEventPrefix + t.UTC().Format(eventTimeLayout) + "#"
}

// EventSK returns the sort key of an event: EVENT#<time to the
// millisecond, UTC>#<seq, six digits>.
func EventSK(t time.Time, seq int) string {
	return eventSKPrefix(t) + fmt.Sprintf("%06d", seq)
}

// AppendEvent adds ev to the Cell's history and returns it with its time
// and sequence set. Keys are strictly ordered: events in the same
// millisecond get increasing sequence numbers, even from concurrent
// writers, because each key is claimed with a conditional write.
func (s *Store) AppendEvent(ctx context.Context, cellName string, ev Event) (Event, error) {
	if err := checkName(KindCell, cellName); err != nil {
		return Event{}, err
	}
	if ev.Type == "" {
		return Event{}, fmt.Errorf("appending event to Cell %q: empty type", cellName)
	}
	if m := ev.Measurement; m != nil {
		for i, v := range m.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return Event{}, fmt.Errorf("appending event to Cell %q: measurement %q value %d is %v, which DynamoDB cannot store", cellName, m.Metric, i, v)
			}
		}
	}
	if ev.Time.IsZero() {
		ev.Time = s.now()
	}
	ev.Time = ev.Time.UTC()
	prefix := eventSKPrefix(ev.Time)
	ev.Seq = 0
	s.log.DebugContext(ctx, "appending event", "cell", cellName, "type", ev.Type)
	for attempt := 1; ; attempt++ {
		item, err := attributevalue.MarshalMap(ev)
		if err != nil {
			return Event{}, fmt.Errorf("encoding event for Cell %q, %w", cellName, err)
		}
		for k, v := range key(cellPK(cellName), EventSK(ev.Time, ev.Seq)) {
			item[k] = v
		}
		if s.retention > 0 {
			item[AttrExpiresAt] = num(ev.Time.Add(s.retention).Unix())
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                aws.String(s.table),
			Item:                     item,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
		})
		if _, taken := conditionFailed(err); taken {
			// Another event holds this millisecond and sequence: continue
			// after the last one recorded in this millisecond.
			if attempt == maxAttempts {
				return Event{}, fmt.Errorf("appending event to Cell %q: no free key at %s after %d attempts", cellName, prefix, attempt)
			}
			last, err := s.lastSeq(ctx, cellName, prefix)
			if err != nil {
				return Event{}, err
			}
			if last >= maxEventSeq {
				return Event{}, fmt.Errorf("appending event to Cell %q: more than %d events in one millisecond", cellName, maxEventSeq+1)
			}
			ev.Seq = last + 1
			continue
		}
		if err != nil {
			return Event{}, fmt.Errorf("appending %s event to Cell %q, %w", ev.Type, cellName, err)
		}
		s.log.InfoContext(ctx, "appended event", "cell", cellName, "type", ev.Type, "key", EventSK(ev.Time, ev.Seq))
		return ev, nil
	}
}

// lastSeq returns the highest sequence recorded under prefix, -1 if none.
func (s *Store) lastSeq(ctx context.Context, cellName, prefix string) (int, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(cellPK(cellName)), ":prefix": str(prefix),
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(1),
		ConsistentRead:   aws.Bool(true),
	})
	if err != nil {
		return 0, fmt.Errorf("reading last event of Cell %q, %w", cellName, err)
	}
	if len(out.Items) == 0 {
		return -1, nil
	}
	seq, err := strconv.Atoi(strings.TrimPrefix(stringOf(out.Items[0], AttrSK), prefix))
	if err != nil {
		return 0, fmt.Errorf("reading last event of Cell %q: malformed key %q", cellName, stringOf(out.Items[0], AttrSK))
	}
	return seq, nil
}

// ListEvents returns up to limit events of the Cell's history (all when
// limit <= 0), oldest first or newest first, reading as many pages as
// needed.
func (s *Store) ListEvents(ctx context.Context, cellName string, limit int, newestFirst bool) ([]Event, error) {
	if err := checkName(KindCell, cellName); err != nil {
		return nil, err
	}
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(cellPK(cellName)), ":prefix": str(SKEventPrefix),
		},
		ScanIndexForward: aws.Bool(!newestFirst),
		ConsistentRead:   aws.Bool(true),
	}
	var events []Event
	for {
		page := s.pageSize
		if limit > 0 && (page == 0 || int64(limit-len(events)) < int64(page)) {
			page = int32(min(limit-len(events), math.MaxInt32))
		}
		if page > 0 {
			in.Limit = aws.Int32(page)
		}
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("listing events of Cell %q, %w", cellName, err)
		}
		for _, item := range out.Items {
			var ev Event
			if err := attributevalue.UnmarshalMap(item, &ev); err != nil {
				return nil, fmt.Errorf("decoding event %s of Cell %q, %w", stringOf(item, AttrSK), cellName, err)
			}
			events = append(events, ev)
		}
		if len(out.LastEvaluatedKey) == 0 || (limit > 0 && len(events) >= limit) {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if limit > 0 && len(events) > limit {
		events = events[:limit]
	}
	return events, nil
}
