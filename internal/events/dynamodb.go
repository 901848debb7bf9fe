package events

import (
	"fmt"
	"strconv"
	"strings"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/okrahq/okra/internal/store"
)

// cellKeyPrefix starts the partition key of every Cell item. The key and
// attribute names come from internal/store, which owns the item layout.
const cellKeyPrefix = store.KindCell + "#"

// SpecChangeKind says whether a Cell spec was written or removed.
type SpecChangeKind string

// Kinds of spec change.
const (
	// SpecUpserted: the spec item was inserted or modified.
	SpecUpserted SpecChangeKind = "Upsert"
	// SpecDeleted: the spec item was removed.
	SpecDeleted SpecChangeKind = "Delete"
)

// SpecChange is one stream record about a Cell spec item.
type SpecChange struct {
	Cell string
	Kind SpecChangeKind
	// Revision is the new revision (Upsert), or the removed item's revision
	// when the stream carries the old image (Delete); 0 when unknown.
	Revision int64
	// OldSpec is the spec before this write, when the stream carries old
	// images and the record is a MODIFY; else empty.
	OldSpec string
	// Spec is the spec attribute as stored, not validated (Upsert only).
	// Validating it is the config-change handler's job, so that an invalid
	// spec is reported on the Cell rather than dropped here.
	Spec string
	// EventID and SequenceNumber identify the stream record; the sequence
	// number is what a batch-item failure reports.
	EventID        string
	SequenceNumber string
}

// RecordError is a malformed stream record.
type RecordError struct {
	// Index is the record's position in the batch.
	Index          int
	EventID        string
	SequenceNumber string
	Err            error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("Records[%d] (eventID %q): %v", e.Index, e.EventID, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// RecordErrors lists the malformed records of a batch.
type RecordErrors []*RecordError

func (es RecordErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return fmt.Sprintf("%d malformed stream record(s): %s", len(es), strings.Join(msgs, "; "))
}

// Unwrap gives errors.Is and errors.As every record's error.
func (es RecordErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// SequenceNumbers returns the failed records' sequence numbers, for a
// DynamoDB batch-item-failure response.
func (es RecordErrors) SequenceNumbers() []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.SequenceNumber
	}
	return out
}

// ParseSpecChanges reads a DynamoDB stream batch and returns the changes
// to Cell spec items, in stream order. Records about other items (Cell
// status and history, clusters, templates) are skipped. Malformed records
// are reported together in a RecordErrors error, returned alongside the
// changes of the well-formed records so a handler can process those and
// report only the bad ones as batch-item failures.
func ParseSpecChanges(ev lambdaevents.DynamoDBEvent) ([]SpecChange, error) {
	var changes []SpecChange
	var errs RecordErrors
	for i, rec := range ev.Records {
		change, ok, err := parseSpecRecord(rec)
		if err != nil {
			errs = append(errs, &RecordError{Index: i, EventID: rec.EventID, SequenceNumber: rec.Change.SequenceNumber, Err: err})
			continue
		}
		if ok {
			changes = append(changes, change)
		}
	}
	if len(errs) > 0 {
		return changes, errs
	}
	return changes, nil
}

// parseSpecRecord returns ok=false for records about other items.
func parseSpecRecord(rec lambdaevents.DynamoDBEventRecord) (SpecChange, bool, error) {
	if rec.EventSource != "aws:dynamodb" {
		return SpecChange{}, false, malformed("eventSource", "%q is not aws:dynamodb", rec.EventSource)
	}
	if rec.Change.Keys == nil {
		return SpecChange{}, false, malformed("dynamodb.Keys", "missing")
	}
	pk, err := stringAttr(rec.Change.Keys, store.AttrPK, "dynamodb.Keys")
	if err != nil {
		return SpecChange{}, false, err
	}
	sk, err := stringAttr(rec.Change.Keys, store.AttrSK, "dynamodb.Keys")
	if err != nil {
		return SpecChange{}, false, err
	}
	cell, isCell := strings.CutPrefix(pk, cellKeyPrefix)
	if !isCell || sk != store.SKSpec {
		return SpecChange{}, false, nil
	}
	if cell == "" {
		return SpecChange{}, false, malformed("dynamodb.Keys."+store.AttrPK, "%q names no Cell", pk)
	}
	out := SpecChange{
		Cell:           cell,
		EventID:        rec.EventID,
		SequenceNumber: rec.Change.SequenceNumber,
	}
	switch rec.EventName {
	case "INSERT", "MODIFY":
		out.Kind = SpecUpserted
		img := rec.Change.NewImage
		if img == nil {
			return SpecChange{}, false, malformed("dynamodb.NewImage", "missing; the table's stream must carry new images (NEW_IMAGE or NEW_AND_OLD_IMAGES), it is %q", rec.Change.StreamViewType)
		}
		if out.Spec, err = stringAttr(img, store.AttrSpec, "dynamodb.NewImage"); err != nil {
			return SpecChange{}, false, err
		}
		if out.Spec == "" {
			return SpecChange{}, false, malformed("dynamodb.NewImage."+store.AttrSpec, "empty")
		}
		if out.Revision, err = revisionAttr(img, "dynamodb.NewImage"); err != nil {
			return SpecChange{}, false, err
		}
		if old := rec.Change.OldImage; old != nil {
			// Best effort: the old spec only serves the history's diff.
			out.OldSpec, _ = stringAttr(old, store.AttrSpec, "dynamodb.OldImage")
		}
	case "REMOVE":
		out.Kind = SpecDeleted
		if img := rec.Change.OldImage; img != nil {
			if _, present := img[store.AttrRevision]; present {
				if out.Revision, err = revisionAttr(img, "dynamodb.OldImage"); err != nil {
					return SpecChange{}, false, err
				}
			}
		}
	case "":
		return SpecChange{}, false, malformed("eventName", "missing")
	default:
		return SpecChange{}, false, malformed("eventName", "%q is not INSERT, MODIFY or REMOVE", rec.EventName)
	}
	return out, true, nil
}

// stringAttr reads a required S attribute.
func stringAttr(item map[string]lambdaevents.DynamoDBAttributeValue, name, path string) (string, error) {
	av, ok := item[name]
	if !ok {
		return "", malformed(path+"."+name, "missing")
	}
	s, ok := attrString(av)
	if !ok {
		return "", malformed(path+"."+name, "want a string (S), got %s", attrTypeName(av))
	}
	return s, nil
}

// revisionAttr reads the required, non-negative integer revision.
func revisionAttr(item map[string]lambdaevents.DynamoDBAttributeValue, path string) (int64, error) {
	field := path + "." + store.AttrRevision
	av, ok := item[store.AttrRevision]
	if !ok {
		return 0, malformed(field, "missing")
	}
	n, ok := attrNumber(av)
	if !ok {
		return 0, malformed(field, "want a number (N), got %s", attrTypeName(av))
	}
	rev, err := strconv.ParseInt(n, 10, 64)
	if err != nil {
		return 0, malformed(field, "%q is not an integer", n)
	}
	if rev < 0 {
		return 0, malformed(field, "%d is negative", rev)
	}
	return rev, nil
}

// attrString and attrNumber read an attribute of the expected type. The
// aws-lambda-go accessors panic on a type mismatch, and on a value built
// by hand with a type but no value; the recover keeps that from crashing a
// handler on input it did not create.
func attrString(av lambdaevents.DynamoDBAttributeValue) (s string, ok bool) {
	if av.DataType() != lambdaevents.DataTypeString {
		return "", false
	}
	defer func() {
		if recover() != nil {
			s, ok = "", false
		}
	}()
	return av.String(), true
}

func attrNumber(av lambdaevents.DynamoDBAttributeValue) (n string, ok bool) {
	if av.DataType() != lambdaevents.DataTypeNumber {
		return "", false
	}
	defer func() {
		if recover() != nil {
			n, ok = "", false
		}
	}()
	return av.Number(), true
}

// attrTypeName names an attribute's DynamoDB type as the wire format does.
func attrTypeName(av lambdaevents.DynamoDBAttributeValue) string {
	switch av.DataType() {
	case lambdaevents.DataTypeBinary:
		return "B"
	case lambdaevents.DataTypeBoolean:
		return "BOOL"
	case lambdaevents.DataTypeBinarySet:
		return "BS"
	case lambdaevents.DataTypeList:
		return "L"
	case lambdaevents.DataTypeMap:
		return "M"
	case lambdaevents.DataTypeNumber:
		return "N"
	case lambdaevents.DataTypeNumberSet:
		return "NS"
	case lambdaevents.DataTypeNull:
		return "NULL"
	case lambdaevents.DataTypeString:
		return "S"
	case lambdaevents.DataTypeStringSet:
		return "SS"
	default:
		return fmt.Sprintf("type %d", av.DataType())
	}
}
