package events_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/okrahq/okra/internal/events"
)

func streamFixture(t testing.TB) lambdaevents.DynamoDBEvent {
	t.Helper()
	var ev lambdaevents.DynamoDBEvent
	if err := json.Unmarshal(fixture(t, "dynamodb-cell-spec-change.json"), &ev); err != nil {
		t.Fatalf("decoding the stream fixture: %v", err)
	}
	return ev
}

// specOf returns the spec attribute of the fixture's record i.
func specOf(t *testing.T, ev lambdaevents.DynamoDBEvent, i int) string {
	t.Helper()
	return ev.Records[i].Change.NewImage["spec"].String()
}

func TestParseSpecChangesFixture(t *testing.T) {
	ev := streamFixture(t)
	got, err := events.ParseSpecChanges(ev)
	if err != nil {
		t.Fatalf("ParseSpecChanges: %v", err)
	}
	// Records 1 (STATUS), 2 (EVENT#...) and 3 (CLUSTER#...) are skipped.
	want := []events.SpecChange{
		{Cell: "web", Kind: events.SpecUpserted, Revision: 1, Spec: specOf(t, ev, 0), EventID: "b1f0c7e52a9d4e3f8c6a1d2b3e4f5a60", SequenceNumber: "100000000000000000001001"},
		{Cell: "web", Kind: events.SpecUpserted, Revision: 2, OldSpec: ev.Records[4].Change.OldImage["spec"].String(), Spec: specOf(t, ev, 4), EventID: "f5d4a1296e3b4c8d2a0e5b6f7c8d9ea4", SequenceNumber: "100000000000000000001005"},
		{Cell: "api", Kind: events.SpecDeleted, Revision: 7, EventID: "a6e5b23a7f4c4d9e3b1f6c7a8d9eafb5", SequenceNumber: "100000000000000000001006"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseSpecChanges =\n %+v\nwant\n %+v", got, want)
	}
	if got[1].OldSpec == "" || got[1].OldSpec == got[1].Spec {
		t.Errorf("the MODIFY record's old spec is %q, want the old image's spec (differing from the new)", got[1].OldSpec)
	}
	for _, c := range got[:2] {
		if !json.Valid([]byte(c.Spec)) || !strings.Contains(c.Spec, `"kind":"Cell"`) {
			t.Errorf("spec of %s revision %d is not the stored Cell document: %.80s", c.Cell, c.Revision, c.Spec)
		}
	}
}

func TestParseSpecChangesEmptyBatch(t *testing.T) {
	got, err := events.ParseSpecChanges(lambdaevents.DynamoDBEvent{})
	if err != nil || len(got) != 0 {
		t.Fatalf("ParseSpecChanges(empty) = %v, %v; want no changes, nil", got, err)
	}
}

func TestParseSpecChangesRemoveWithoutOldImage(t *testing.T) {
	ev := streamFixture(t)
	rec := ev.Records[5]
	rec.Change.OldImage = nil
	rec.Change.StreamViewType = "KEYS_ONLY"
	got, err := events.ParseSpecChanges(lambdaevents.DynamoDBEvent{Records: []lambdaevents.DynamoDBEventRecord{rec}})
	if err != nil {
		t.Fatalf("ParseSpecChanges: %v", err)
	}
	want := []events.SpecChange{{Cell: "api", Kind: events.SpecDeleted, EventID: rec.EventID, SequenceNumber: rec.Change.SequenceNumber}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// TestParseSpecChangesMalformed breaks one record of the fixture at a time
// and checks that record alone is reported, by index and sequence number,
// while the others still come back.
func TestParseSpecChangesMalformed(t *testing.T) {
	s := lambdaevents.NewStringAttribute
	n := lambdaevents.NewNumberAttribute
	tests := []struct {
		name   string
		index  int
		edit   func(r *lambdaevents.DynamoDBEventRecord)
		field  string
		reason string
	}{
		{"no keys", 0, func(r *lambdaevents.DynamoDBEventRecord) { r.Change.Keys = nil }, "dynamodb.Keys", "missing"},
		{"no PK", 0, func(r *lambdaevents.DynamoDBEventRecord) { delete(r.Change.Keys, "PK") }, "dynamodb.Keys.PK", "missing"},
		{"no SK", 0, func(r *lambdaevents.DynamoDBEventRecord) { delete(r.Change.Keys, "SK") }, "dynamodb.Keys.SK", "missing"},
		{"PK is a number", 0, func(r *lambdaevents.DynamoDBEventRecord) { r.Change.Keys["PK"] = n("1") }, "dynamodb.Keys.PK", "want a string (S), got N"},
		{"empty Cell name", 0, func(r *lambdaevents.DynamoDBEventRecord) { r.Change.Keys["PK"] = s("CELL#") }, "dynamodb.Keys.PK", `"CELL#" names no Cell`},
		{"no eventName", 0, func(r *lambdaevents.DynamoDBEventRecord) { r.EventName = "" }, "eventName", "missing"},
		{"unknown eventName", 0, func(r *lambdaevents.DynamoDBEventRecord) { r.EventName = "UPSERT" }, "eventName", `"UPSERT" is not INSERT, MODIFY or REMOVE`},
		{"other event source", 0, func(r *lambdaevents.DynamoDBEventRecord) { r.EventSource = "aws:kinesis" }, "eventSource", `"aws:kinesis" is not aws:dynamodb`},
		{"keys-only stream", 4, func(r *lambdaevents.DynamoDBEventRecord) {
			r.Change.NewImage, r.Change.OldImage, r.Change.StreamViewType = nil, nil, "KEYS_ONLY"
		}, "dynamodb.NewImage", `must carry new images (NEW_IMAGE or NEW_AND_OLD_IMAGES), it is "KEYS_ONLY"`},
		{"no spec", 0, func(r *lambdaevents.DynamoDBEventRecord) { delete(r.Change.NewImage, "spec") }, "dynamodb.NewImage.spec", "missing"},
		{"spec is a map", 0, func(r *lambdaevents.DynamoDBEventRecord) {
			r.Change.NewImage["spec"] = lambdaevents.NewMapAttribute(map[string]lambdaevents.DynamoDBAttributeValue{})
		}, "dynamodb.NewImage.spec", "want a string (S), got M"},
		{"empty spec", 0, func(r *lambdaevents.DynamoDBEventRecord) { r.Change.NewImage["spec"] = s("") }, "dynamodb.NewImage.spec", "empty"},
		{"no revision", 0, func(r *lambdaevents.DynamoDBEventRecord) { delete(r.Change.NewImage, "revision") }, "dynamodb.NewImage.revision", "missing"},
		{"revision is a string", 0, func(r *lambdaevents.DynamoDBEventRecord) { r.Change.NewImage["revision"] = s("1") }, "dynamodb.NewImage.revision", "want a number (N), got S"},
		{"revision is NULL", 0, func(r *lambdaevents.DynamoDBEventRecord) {
			r.Change.NewImage["revision"] = lambdaevents.NewNullAttribute()
		}, "dynamodb.NewImage.revision", "want a number (N), got NULL"},
		{"fractional revision", 4, func(r *lambdaevents.DynamoDBEventRecord) { r.Change.NewImage["revision"] = n("2.5") }, "dynamodb.NewImage.revision", `"2.5" is not an integer`},
		{"negative revision", 4, func(r *lambdaevents.DynamoDBEventRecord) { r.Change.NewImage["revision"] = n("-2") }, "dynamodb.NewImage.revision", "-2 is negative"},
		{"removed item's revision is a string", 5, func(r *lambdaevents.DynamoDBEventRecord) { r.Change.OldImage["revision"] = s("7") }, "dynamodb.OldImage.revision", "want a number (N), got S"},
		{"zero-value attribute", 0, func(r *lambdaevents.DynamoDBEventRecord) {
			r.Change.NewImage["spec"] = lambdaevents.DynamoDBAttributeValue{}
		}, "dynamodb.NewImage.spec", "want a string (S), got B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := streamFixture(t)
			tt.edit(&ev.Records[tt.index])
			wantOK, err := events.ParseSpecChanges(streamFixture(t))
			if err != nil {
				t.Fatal(err)
			}

			got, err := events.ParseSpecChanges(ev)
			var recErrs events.RecordErrors
			if !errors.As(err, &recErrs) || len(recErrs) != 1 {
				t.Fatalf("error = %v (%T), want RecordErrors with one record", err, err)
			}
			re := recErrs[0]
			if re.Index != tt.index || re.EventID != ev.Records[tt.index].EventID {
				t.Errorf("record error names Records[%d] %q, want Records[%d] %q", re.Index, re.EventID, tt.index, ev.Records[tt.index].EventID)
			}
			if want := []string{ev.Records[tt.index].Change.SequenceNumber}; !reflect.DeepEqual(recErrs.SequenceNumbers(), want) {
				t.Errorf("SequenceNumbers = %v, want %v", recErrs.SequenceNumbers(), want)
			}
			var me *events.MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("error %v does not wrap a *MalformedError", err)
			}
			wantMalformed(t, me, tt.field, tt.reason)
			if !strings.Contains(err.Error(), "Records[") {
				t.Errorf("error %q does not name the record", err)
			}

			// The other records still come through.
			var rest []events.SpecChange
			for _, c := range wantOK {
				if c.EventID != ev.Records[tt.index].EventID {
					rest = append(rest, c)
				}
			}
			if !reflect.DeepEqual(got, rest) {
				t.Errorf("changes alongside the error =\n %+v\nwant\n %+v", got, rest)
			}
		})
	}
}

func TestParseSpecChangesReportsEveryBadRecord(t *testing.T) {
	ev := streamFixture(t)
	ev.Records[0].EventName = "UPSERT"
	ev.Records[5].EventSource = ""
	got, err := events.ParseSpecChanges(ev)
	var recErrs events.RecordErrors
	if !errors.As(err, &recErrs) {
		t.Fatalf("error = %v, want RecordErrors", err)
	}
	if want := []string{"100000000000000000001001", "100000000000000000001006"}; !reflect.DeepEqual(recErrs.SequenceNumbers(), want) {
		t.Errorf("SequenceNumbers = %v, want %v", recErrs.SequenceNumbers(), want)
	}
	if len(got) != 1 || got[0].Revision != 2 {
		t.Errorf("changes = %+v, want only web revision 2", got)
	}
	if !strings.HasPrefix(err.Error(), "2 malformed stream record(s): Records[0]") {
		t.Errorf("error = %q", err)
	}
}

func TestParseSpecChangesSkipsOtherItems(t *testing.T) {
	s := lambdaevents.NewStringAttribute
	tests := []struct{ pk, sk string }{
		{"CELL#web", "STATUS"},
		{"CELL#web", "EVENT#2025-03-14T09:15:00Z#000001"},
		{"CELL#web", "BLOCK#v3"},
		{"CLUSTER#web-1-v2", "META"},
		{"TEMPLATE#error-rate", "SPEC"},
		{"cell#web", "SPEC"},
	}
	for _, tt := range tests {
		t.Run(tt.pk+"/"+tt.sk, func(t *testing.T) {
			rec := streamFixture(t).Records[0]
			rec.Change.Keys = map[string]lambdaevents.DynamoDBAttributeValue{"PK": s(tt.pk), "SK": s(tt.sk)}
			// Even an image okra could not read is not looked at.
			rec.Change.NewImage = map[string]lambdaevents.DynamoDBAttributeValue{}
			got, err := events.ParseSpecChanges(lambdaevents.DynamoDBEvent{Records: []lambdaevents.DynamoDBEventRecord{rec}})
			if err != nil || len(got) != 0 {
				t.Errorf("ParseSpecChanges = %+v, %v; want nothing, nil", got, err)
			}
		})
	}
}
