package store_test

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

func messages(evs []store.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Message
	}
	return out
}

func TestEventsAreStrictlyOrdered(t *testing.T) {
	e := newEnv(t, store.Options{PageSize: 2})
	s := e.store
	// The clock stands still: every event falls in the same millisecond.
	var want []string
	for i := 0; i < 5; i++ {
		msg := fmt.Sprintf("event %d", i)
		ev, err := s.AppendEvent(e.ctx, "web", store.Event{Type: store.EventWeightsSet, Message: msg})
		if err != nil {
			t.Fatalf("AppendEvent %d: %v", i, err)
		}
		if ev.Seq != i || !ev.Time.Equal(e.clock.Now()) {
			t.Errorf("event %d: seq %d time %v; want seq %d at %v", i, ev.Seq, ev.Time, i, e.clock.Now())
		}
		want = append(want, msg)
	}
	// One in the next millisecond, and one given an earlier time.
	e.clock.Set(e.clock.Now().Add(time.Millisecond))
	if _, err := s.AppendEvent(e.ctx, "web", store.Event{Type: store.EventPaused, Message: "later"}); err != nil {
		t.Fatalf("AppendEvent later: %v", err)
	}
	if _, err := s.AppendEvent(e.ctx, "web", store.Event{Type: store.EventRolloutStarted, Message: "earlier", Time: e.clock.Now().Add(-time.Second)}); err != nil {
		t.Fatalf("AppendEvent earlier: %v", err)
	}
	want = append(append([]string{"earlier"}, want...), "later")

	tests := []struct {
		name        string
		limit       int
		newestFirst bool
		want        []string
	}{
		{name: "all oldest first", want: want},
		{name: "all newest first", newestFirst: true, want: reversed(want)},
		{name: "three newest", limit: 3, newestFirst: true, want: reversed(want)[:3]},
		{name: "three oldest", limit: 3, want: want[:3]},
		{name: "limit above count", limit: 100, want: want},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListEvents(e.ctx, "web", tt.limit, tt.newestFirst)
			if err != nil {
				t.Fatalf("ListEvents: %v", err)
			}
			if !reflect.DeepEqual(messages(got), tt.want) {
				t.Errorf("ListEvents = %v, want %v", messages(got), tt.want)
			}
		})
	}
	// Another Cell's history is separate.
	if got, err := s.ListEvents(e.ctx, "api", 0, false); err != nil || len(got) != 0 {
		t.Errorf("ListEvents of another Cell = %v, %v", got, err)
	}
}

func reversed(in []string) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[len(in)-1-i] = v
	}
	return out
}

func TestConcurrentEventsInOneMillisecond(t *testing.T) {
	e := newEnv(t, store.Options{})
	const n = 6
	var wg sync.WaitGroup
	seqs := make([]int, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ev, err := e.store.AppendEvent(e.ctx, "web", store.Event{Type: store.EventAnalysisMeasurement, Message: strconv.Itoa(i)})
			seqs[i], errs[i] = ev.Seq, err
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("AppendEvent %d: %v", i, err)
		}
	}
	sort.Ints(seqs)
	if want := []int{0, 1, 2, 3, 4, 5}; !reflect.DeepEqual(seqs, want) {
		t.Fatalf("sequences = %v, want %v", seqs, want)
	}
	got, err := e.store.ListEvents(e.ctx, "web", 0, false)
	if err != nil || len(got) != n {
		t.Fatalf("ListEvents = %d events, %v", len(got), err)
	}
	for i, ev := range got {
		if ev.Seq != i {
			t.Errorf("event %d has seq %d", i, ev.Seq)
		}
	}
}

func TestEventContentRoundTrips(t *testing.T) {
	e := newEnv(t, store.Options{EventRetention: 30 * 24 * time.Hour})
	at := time.Date(2025, 3, 1, 12, 0, 0, 987654321, time.UTC)
	in := []store.Event{
		{
			Time: at, Type: store.EventAnalysisMeasurement, Execution: execA, Version: "v2", Message: "error rate ok",
			Measurement: &store.Measurement{
				Metric: "error-rate", Template: "errors", Provider: "cloudWatch",
				Query:  `{"id":"m1","metricStat":{"metric":{"metricName":"HTTPCode_Target_5XX_Count"}}}`,
				Values: []float64{0.001, 0, 12.5}, Result: "[0.001 0 12.5]",
				Condition: "result[0] < 0.01", SuccessCondition: "result[0] < 0.01", Verdict: "Successful",
				StartedAt: at.Add(-time.Minute), FinishedAt: at,
			},
			Details: map[string]string{"step": "2"},
		},
		{
			Time: at.Add(time.Second), Type: store.EventWeightsVerified, Execution: execA,
			Weights: &weights.Forward{TargetGroups: []weights.TargetGroupWeight{{ARN: "tg-v1", Weight: 900}, {ARN: "tg-v2", Weight: 100}}, Stickiness: &weights.Stickiness{}},
		},
	}
	for _, ev := range in {
		if _, err := e.store.AppendEvent(e.ctx, "web", ev); err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
	}
	got, err := e.store.ListEvents(e.ctx, "web", 0, false)
	if err != nil {
		t.Fatalf("ListEvents: %v", err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("events = %+v\nwant     %+v", got, in)
	}
	// The key is sortable text and the item expires after the retention.
	item, err := e.db.GetItem(e.ctx, &dynamodb.GetItemInput{TableName: aws.String(e.table), Key: map[string]types.AttributeValue{
		store.AttrPK: &types.AttributeValueMemberS{Value: "CELL#web"},
		store.AttrSK: &types.AttributeValueMemberS{Value: "EVENT#2025-03-01T12:00:00.987Z#000000"},
	}})
	if err != nil || len(item.Item) == 0 {
		t.Fatalf("GetItem by the documented key = %v, %v", item, err)
	}
	exp, ok := item.Item[store.AttrExpiresAt].(*types.AttributeValueMemberN)
	if want := strconv.FormatInt(at.Add(30*24*time.Hour).Unix(), 10); !ok || exp.Value != want {
		t.Errorf("expiresAt = %v, want %s", item.Item[store.AttrExpiresAt], want)
	}
}

func TestEventRefusals(t *testing.T) {
	e := newEnv(t, store.Options{})
	tests := []struct {
		name string
		ev   store.Event
	}{
		{name: "no type", ev: store.Event{Message: "x"}},
		{name: "NaN value", ev: store.Event{Type: store.EventAnalysisMeasurement, Measurement: &store.Measurement{Metric: "m", Values: []float64{math.NaN()}}}},
		{name: "infinite value", ev: store.Event{Type: store.EventAnalysisMeasurement, Measurement: &store.Measurement{Metric: "m", Values: []float64{math.Inf(1)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.store.AppendEvent(e.ctx, "web", tt.ev); err == nil {
				t.Fatal("AppendEvent accepted it")
			}
		})
	}
	if got, _ := e.store.ListEvents(e.ctx, "web", 0, false); len(got) != 0 {
		t.Errorf("refused events were stored: %+v", got)
	}
}

func TestBlockedVersions(t *testing.T) {
	e := newEnv(t, store.Options{})
	s := e.store
	first := rollout.Block{Version: "v2.0.0-rc.1", Reason: "analysis error-rate failed"}
	if created, err := s.Block(e.ctx, "web", first); err != nil || !created {
		t.Fatalf("Block = %v, %v", created, err)
	}
	if created, err := s.Block(e.ctx, "web", rollout.Block{Version: "v2.0.0-rc.1", Reason: "again"}); err != nil || created {
		t.Fatalf("Block again = %v, %v; want kept", created, err)
	}
	if _, err := s.Block(e.ctx, "web", rollout.Block{Version: "v3", Reason: "manual", At: e.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("Block v3: %v", err)
	}
	if _, err := s.Block(e.ctx, "api", rollout.Block{Version: "v9", Reason: "other Cell"}); err != nil {
		t.Fatalf("Block api: %v", err)
	}

	b, blocked, err := s.IsBlocked(e.ctx, "web", "v2.0.0-rc.1")
	if err != nil || !blocked || b.Reason != first.Reason || !b.At.Equal(e.clock.Now()) {
		t.Fatalf("IsBlocked = %+v %v %v; want the first block", b, blocked, err)
	}
	if _, blocked, err := s.IsBlocked(e.ctx, "web", "v2.0.0"); err != nil || blocked {
		t.Fatalf("IsBlocked other version = %v, %v", blocked, err)
	}
	list, err := s.ListBlocked(e.ctx, "web")
	if err != nil {
		t.Fatalf("ListBlocked: %v", err)
	}
	var versions []string
	for _, b := range list {
		versions = append(versions, b.Version)
	}
	if want := []string{"v2.0.0-rc.1", "v3"}; !reflect.DeepEqual(versions, want) {
		t.Errorf("ListBlocked = %v, want %v", versions, want)
	}

	if removed, err := s.Unblock(e.ctx, "web", "v3"); err != nil || !removed {
		t.Fatalf("Unblock = %v, %v", removed, err)
	}
	if removed, err := s.Unblock(e.ctx, "web", "v3"); err != nil || removed {
		t.Fatalf("Unblock again = %v, %v", removed, err)
	}
	if _, blocked, _ := s.IsBlocked(e.ctx, "web", "v3"); blocked {
		t.Error("v3 still blocked")
	}
}
