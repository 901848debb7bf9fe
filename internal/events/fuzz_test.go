package events_test

import (
	"encoding/json"
	"errors"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/okrahq/okra/internal/events"
)

// classified fails unless err is nil, an *IgnoredError or a
// *MalformedError: every outcome of a parser is one a handler can act on.
func classified(t *testing.T, err error) {
	t.Helper()
	if err != nil && !events.IsIgnored(err) && !events.IsMalformed(err) {
		t.Fatalf("unclassified error %T: %v", err, err)
	}
}

// seedAll adds every fixture and a few truncations of each.
func seedAll(f *testing.F) {
	for _, name := range fixtureNames(f, "") {
		raw := fixture(f, name)
		f.Add(raw)
		f.Add(raw[:len(raw)/2])
		f.Add(raw[:len(raw)-2])
	}
	f.Add([]byte(`{"source":"aws.eks","detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"eks.amazonaws.com","eventName":"TagResource","requestParameters":{"resourceArn":"arn%3Aaws%3Aeks%3Aus-east-1%3A123456789012%3Acluster%2Fa","tags":{"a":"b"}}}}`))
	f.Add([]byte(`{"Records":[{"eventSource":"aws:dynamodb","eventName":"MODIFY","dynamodb":{"Keys":{"PK":{"S":"CELL#x"},"SK":{"S":"SPEC"}},"NewImage":{"spec":{"S":"{}"},"revision":{"N":"1e3"}}}}]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
}

func FuzzParseClusterEvent(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := events.DecodeEnvelope(raw)
		classified(t, err)
		if err != nil {
			return
		}
		got, err := events.ParseClusterEvent(ev)
		classified(t, err)
		if err != nil {
			return
		}
		if err := events.ValidateClusterName(got.ClusterName); err != nil {
			t.Fatalf("parsed an invalid cluster name: %v", err)
		}
		switch got.Kind {
		case events.ClusterCreated, events.ClusterDeleted:
		case events.ClusterTagsChanged:
			if len(got.Tags) == 0 && len(got.RemovedTagKeys) == 0 {
				t.Fatalf("TagsChanged without tags or removed keys: %+v", got)
			}
		default:
			t.Fatalf("unknown kind %q", got.Kind)
		}
		if got.ClusterARN != "" {
			name, err := events.ClusterNameFromARN(got.ClusterARN)
			if err != nil || name != got.ClusterName {
				t.Fatalf("ClusterARN %q does not name %q: %q, %v", got.ClusterARN, got.ClusterName, name, err)
			}
		}
	})
}

func FuzzParseSpecChanges(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ev lambdaevents.DynamoDBEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return
		}
		changes, err := events.ParseSpecChanges(ev)
		var recErrs events.RecordErrors
		if err != nil {
			if !errors.As(err, &recErrs) {
				t.Fatalf("error %T is not RecordErrors: %v", err, err)
			}
			for _, re := range recErrs {
				if !events.IsMalformed(re) {
					t.Fatalf("record error does not wrap a *MalformedError: %v", re)
				}
			}
		}
		if len(changes)+len(recErrs) > len(ev.Records) {
			t.Fatalf("%d changes and %d errors from %d records", len(changes), len(recErrs), len(ev.Records))
		}
		for _, c := range changes {
			if c.Cell == "" || c.Revision < 0 {
				t.Fatalf("bad change %+v", c)
			}
			switch c.Kind {
			case events.SpecUpserted:
				if c.Spec == "" {
					t.Fatalf("upsert without a spec: %+v", c)
				}
			case events.SpecDeleted:
			default:
				t.Fatalf("unknown kind %q", c.Kind)
			}
		}
	})
}

func FuzzParseExecutionStatusChange(f *testing.F) {
	seedAll(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := events.DecodeEnvelope(raw)
		classified(t, err)
		if err != nil {
			return
		}
		got, err := events.ParseExecutionStatusChange(ev)
		classified(t, err)
		if err != nil {
			return
		}
		if got.ExecutionARN == "" || got.StateMachineARN == "" || got.Name == "" || got.Status == "" {
			t.Fatalf("parsed an incomplete change: %+v", got)
		}
		if got.Input != nil && !json.Valid(got.Input) {
			t.Fatalf("input is not JSON: %q", got.Input)
		}
		if got.Output != nil && !json.Valid(got.Output) {
			t.Fatalf("output is not JSON: %q", got.Output)
		}
	})
}
