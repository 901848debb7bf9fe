package events_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/okrahq/okra/internal/events"
	"github.com/okrahq/okra/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fixtureDir is the top-level events/ folder.
func fixtureDir(t testing.TB) string {
	t.Helper()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatalf("module root: %v", err)
	}
	return filepath.Join(root, "events")
}

// fixture returns the bytes of events/<name>.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir(t), name))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	return b
}

// envelopeFixture decodes events/<name> as an EventBridge envelope.
func envelopeFixture(t testing.TB, name string) lambdaevents.CloudWatchEvent {
	t.Helper()
	ev, err := events.DecodeEnvelope(fixture(t, name))
	if err != nil {
		t.Fatalf("DecodeEnvelope(%s): %v", name, err)
	}
	return ev
}

// mutate decodes a fixture into generic JSON, applies edit and encodes it
// again.
func mutate(t testing.TB, name string, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(fixture(t, name), &m); err != nil {
		t.Fatalf("decoding fixture %s: %v", name, err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("encoding mutated %s: %v", name, err)
	}
	return b
}

// set puts v at a dotted path, creating objects on the way.
func set(m map[string]any, path string, v any) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

// del removes the value at a dotted path.
func del(m map[string]any, path string) {
	keys := strings.Split(path, ".")
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, keys[len(keys)-1])
}

// fixtureNames lists events/*.json with the given prefix.
func fixtureNames(t testing.TB, prefix string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(fixtureDir(t), prefix+"*.json"))
	if err != nil {
		t.Fatalf("glob: %v", err)
	}
	if len(matches) == 0 {
		t.Fatalf("no fixtures events/%s*.json", prefix)
	}
	names := make([]string, len(matches))
	for i, m := range matches {
		names[i] = filepath.Base(m)
	}
	return names
}

// wantMalformed checks err is a *MalformedError on field whose message
// contains reason.
func wantMalformed(t *testing.T, err error, field, reason string) {
	t.Helper()
	me, ok := err.(*events.MalformedError)
	if !ok {
		t.Fatalf("error = %v (%T), want *events.MalformedError on %q", err, err, field)
	}
	if me.Field != field {
		t.Errorf("error field = %q, want %q (error: %v)", me.Field, field, err)
	}
	if !strings.Contains(me.Reason, reason) {
		t.Errorf("error reason = %q, want it to contain %q", me.Reason, reason)
	}
}

// wantIgnored checks err is an *IgnoredError whose reason contains reason.
func wantIgnored(t *testing.T, err error, reason string) {
	t.Helper()
	ie, ok := err.(*events.IgnoredError)
	if !ok {
		t.Fatalf("error = %v (%T), want *events.IgnoredError", err, err)
	}
	if !strings.Contains(ie.Reason, reason) {
		t.Errorf("ignored reason = %q, want it to contain %q", ie.Reason, reason)
	}
	if !strings.HasPrefix(err.Error(), "ignored: ") {
		t.Errorf("Error() = %q, want the prefix %q", err.Error(), "ignored: ")
	}
}

// envelopeFromBytes decodes raw as an EventBridge envelope.
func envelopeFromBytes(t testing.TB, raw []byte) lambdaevents.CloudWatchEvent {
	t.Helper()
	ev, err := events.DecodeEnvelope(raw)
	if err != nil {
		t.Fatalf("DecodeEnvelope: %v", err)
	}
	return ev
}
