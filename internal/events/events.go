// Package events turns the events that trigger okra's Lambda functions into
// typed okra values: EKS API calls recorded by CloudTrail and delivered by
// EventBridge (cluster created, tags changed, cluster deleted), the
// EventBridge schedule that drives reconciliation, DynamoDB stream records
// of Cell specs, and Step Functions execution status changes of the rollout
// state machine. It also defines, once, the EventBridge event patterns the
// stack subscribes with, so the rules and the parsers cannot drift apart.
//
// Every parser separates three outcomes: a typed value; an *IgnoredError for
// a well-formed event okra does not act on (another source, another EKS
// call, a failed API call), to log and skip; and a *MalformedError naming
// the field and the reason when the event is not what it claims to be.
//
// The package is pure: it makes no AWS calls, reads no clock and holds no
// state. Deciding what to do about an event belongs to the handlers.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
)

// IgnoredError says an event is well formed but okra does not act on it.
// Handlers log it and return success so the event is not retried.
type IgnoredError struct {
	// Reason says why, e.g. `EKS call "CreateNodegroup" is not a cluster
	// lifecycle call`.
	Reason string
}

func (e *IgnoredError) Error() string { return "ignored: " + e.Reason }

// IsIgnored reports whether err is (or wraps) an *IgnoredError.
func IsIgnored(err error) bool {
	var ie *IgnoredError
	return errors.As(err, &ie)
}

func ignored(format string, args ...any) error {
	return &IgnoredError{Reason: fmt.Sprintf(format, args...)}
}

// MalformedError says an event is not what it claims to be: a field is
// missing, has the wrong type or holds an invalid value. Retrying does not
// help; handlers log it and fail or dead-letter the event.
type MalformedError struct {
	// Field is the JSON path of the offending field, e.g.
	// "detail.requestParameters.name"; empty when the whole input is bad.
	Field string
	// Reason says what is wrong with it.
	Reason string
}

func (e *MalformedError) Error() string {
	if e.Field == "" {
		return "malformed event: " + e.Reason
	}
	return "malformed event: " + e.Field + ": " + e.Reason
}

func malformed(field, format string, args ...any) error {
	return &MalformedError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// IsMalformed reports whether err is (or wraps) a *MalformedError.
func IsMalformed(err error) bool {
	var me *MalformedError
	return errors.As(err, &me)
}

// envelope is the EventBridge envelope with the time kept as text so a bad
// timestamp gets a precise error instead of time.Time's.
type envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       *string         `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// DecodeEnvelope decodes an EventBridge event as a Lambda target receives
// it. It requires source and detail-type, and a time (when present) in RFC
// 3339. A handler that takes the raw payload (json.RawMessage) and calls
// DecodeEnvelope gets precise errors where lambda.Start's own decoding into
// events.CloudWatchEvent would give encoding/json's.
func DecodeEnvelope(raw []byte) (lambdaevents.CloudWatchEvent, error) {
	var env envelope
	if err := decodeJSON(raw, "", &env); err != nil {
		return lambdaevents.CloudWatchEvent{}, err
	}
	if env.Source == "" {
		return lambdaevents.CloudWatchEvent{}, malformed("source", "missing")
	}
	if env.DetailType == "" {
		return lambdaevents.CloudWatchEvent{}, malformed("detail-type", "missing")
	}
	ev := lambdaevents.CloudWatchEvent{
		Version:    env.Version,
		ID:         env.ID,
		DetailType: env.DetailType,
		Source:     env.Source,
		AccountID:  env.Account,
		Region:     env.Region,
		Resources:  env.Resources,
		Detail:     env.Detail,
	}
	if env.Time != nil {
		t, err := time.Parse(time.RFC3339, *env.Time)
		if err != nil {
			return lambdaevents.CloudWatchEvent{}, malformed("time", "%q is not an RFC 3339 timestamp", *env.Time)
		}
		ev.Time = t
	}
	return ev, nil
}

// IsScheduled reports whether ev is the EventBridge rule schedule's
// "Scheduled Event" (source aws.events), which triggers a full reconcile.
// EventBridge Scheduler (aws.scheduler) delivers its configured input
// instead and is not recognised here.
func IsScheduled(ev lambdaevents.CloudWatchEvent) bool {
	return ev.Source == SourceSchedule && ev.DetailType == DetailTypeScheduled
}

// decodeJSON unmarshals raw into v and turns encoding/json's errors into
// *MalformedError naming the field under path.
func decodeJSON(raw []byte, path string, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return malformed(path, "empty input, want a JSON object")
	}
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		if strings.Contains(syn.Error(), "unexpected end of JSON input") {
			return malformed(path, "truncated JSON (input ends after %d bytes)", len(raw))
		}
		return malformed(path, "invalid JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		return malformed(joinPath(path, typ.Field), "want %s, got %s", describeType(typ.Type), article(typ.Value))
	default:
		return malformed(path, "%v", err)
	}
}

func joinPath(base, field string) string {
	switch {
	case base == "":
		return field
	case field == "":
		return base
	default:
		return base + "." + field
	}
}

func describeType(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return describeType(t.Elem())
	default:
		return t.String()
	}
}

// article prefixes a JSON kind such as "number" or "array" for messages.
func article(kind string) string {
	switch kind {
	case "array", "object":
		return "an " + kind
	case "null":
		return "null"
	case "bool":
		return "a boolean"
	case "":
		return "something else"
	}
	if strings.HasPrefix(kind, "number ") {
		// encoding/json reports out-of-range numbers as "number 1e999".
		return kind
	}
	return "a " + kind
}

// jsonKind names the JSON kind of a raw value.
func jsonKind(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// absent reports whether a raw field is missing or JSON null.
func absent(raw json.RawMessage) bool {
	b := bytes.TrimSpace(raw)
	return len(b) == 0 || bytes.Equal(b, []byte("null"))
}

// decodeStringMap decodes an object of string values (tags), naming the
// offending key on error. A missing or null field gives nil.
func decodeStringMap(raw json.RawMessage, path string) (map[string]string, error) {
	if absent(raw) {
		return nil, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, malformed(path, "want an object of strings, got %s", jsonKind(raw))
	}
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		if k == "" {
			return nil, malformed(path, "empty key")
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, malformed(path+"."+k, "want a string, got %s", jsonKind(v))
		}
		out[k] = s
	}
	return out, nil
}

// decodeStringList decodes an array of non-empty strings; a lone string is
// taken as a one-element list. A missing or null field gives nil.
func decodeStringList(raw json.RawMessage, path string) ([]string, error) {
	if absent(raw) {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		if one == "" {
			return nil, malformed(path, "empty string")
		}
		return []string{one}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, malformed(path, "want an array of strings, got %s", jsonKind(raw))
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		var s string
		if err := json.Unmarshal(item, &s); err != nil {
			return nil, malformed(fmt.Sprintf("%s[%d]", path, i), "want a string, got %s", jsonKind(item))
		}
		if s == "" {
			return nil, malformed(fmt.Sprintf("%s[%d]", path, i), "empty string")
		}
		out = append(out, s)
	}
	return out, nil
}
