package cell

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Change is one field that differs between two revisions of a document:
// its path (as validation names fields) and its old and new values as
// compact JSON; "" stands for a field that is absent on that side.
type Change struct {
	Field string
	Old   string
	New   string
}

// String renders the change as "field old→new", with "(none)" for an
// absent side.
func (c Change) String() string {
	return fmt.Sprintf("%s %s→%s", c.Field, orNone(c.Old), orNone(c.New))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Diff lists the fields that differ between two documents (Cells or
// templates, anything that encodes as JSON), sorted by path. Maps and
// structs are compared field by field and lists item by item; a list that
// grows or shrinks reports its extra items as added or removed. nil stands
// for no document. Diff is pure: it compares the documents as given, so
// defaults should be applied to both sides (or neither) first.
func Diff(old, new any) ([]Change, error) {
	a, err := genericJSON(old)
	if err != nil {
		return nil, fmt.Errorf("encoding the old document, %w", err)
	}
	b, err := genericJSON(new)
	if err != nil {
		return nil, fmt.Errorf("encoding the new document, %w", err)
	}
	var out []Change
	diffValue("", a, b, &out)
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out, nil
}

func genericJSON(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func diffValue(path string, a, b any, out *[]Change) {
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	if aIsMap && bIsMap {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for k := range keys {
			diffValue(joinKey(path, k), am[k], bm[k], out)
		}
		return
	}
	al, aIsList := a.([]any)
	bl, bIsList := b.([]any)
	if aIsList && bIsList {
		for i := range max(len(al), len(bl)) {
			var x, y any
			if i < len(al) {
				x = al[i]
			}
			if i < len(bl) {
				y = bl[i]
			}
			diffValue(index(path, i), x, y, out)
		}
		return
	}
	as, bs := compactJSON(a), compactJSON(b)
	if as != bs {
		*out = append(*out, Change{Field: path, Old: as, New: bs})
	}
}

// compactJSON renders a value for a Change: strings unquoted when plain,
// everything else as compact JSON; nil is "".
func compactJSON(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if x == "" || strings.ContainsAny(x, " ,→\"") {
			return strconv.Quote(x)
		}
		return x
	}
	raw, _ := json.Marshal(v)
	return string(raw)
}

// shortFieldPrefixes shorten paths in a summary: the steps are where most
// edits happen, and "spec." is on every Cell field.
var shortFieldPrefixes = []struct{ long, short string }{
	{"spec.updateStrategy.canary.", ""},
	{"spec.", ""},
}

// ShortField shortens a field path for a one-line summary:
// "spec.updateStrategy.canary.steps[1].setWeight" is "steps[1].setWeight",
// "spec.replicas" is "replicas".
func ShortField(path string) string {
	for _, p := range shortFieldPrefixes {
		if rest, ok := strings.CutPrefix(path, p.long); ok {
			return p.short + rest
		}
	}
	return path
}

// maxSummaryChanges bounds how many changes a summary spells out.
const maxSummaryChanges = 6

// Summary renders changes on one line, fields shortened:
// "steps[1].setWeight 20→30, replicas 2→3". Past six changes it ends with
// "and N more"; with none it is "no change".
func Summary(changes []Change) string {
	if len(changes) == 0 {
		return "no change"
	}
	parts := make([]string, 0, min(len(changes), maxSummaryChanges)+1)
	for i, c := range changes {
		if i == maxSummaryChanges {
			parts = append(parts, fmt.Sprintf("and %d more", len(changes)-i))
			break
		}
		c.Field = ShortField(c.Field)
		parts = append(parts, c.String())
	}
	return strings.Join(parts, ", ")
}

// TouchesIngress reports whether any change is to spec.ingress (listener,
// rule, type or target-group selector): where the Cell's traffic lives.
func TouchesIngress(changes []Change) bool {
	for _, c := range changes {
		if c.Field == "spec.ingress" || isWithin(c.Field, "spec.ingress") {
			return true
		}
	}
	return false
}
