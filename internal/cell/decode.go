package cell

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// MaxDocumentSize bounds what Decode and DecodeTemplate read. A Cell is
// stored as one DynamoDB item (at most 400 KB), so anything larger is a
// mistake, and the bound keeps a hostile document from costing much.
const MaxDocumentSize = 1 << 20

// TemplateAPIVersionArgo is Argo Rollouts' apiVersion, accepted on analysis
// template documents (besides okra's own APIVersion) so that existing
// documents are reused unchanged.
const TemplateAPIVersionArgo = "argoproj.io/v1alpha1"

// Decode reads one Cell from YAML or JSON, strictly: unknown fields (matched
// exactly, not case-insensitively), duplicate keys, values of the wrong type
// and unparseable durations are refused, each reported with its field path
// in a *ValidationError that lists every such problem at once. apiVersion
// must be okra.dev/v1alpha1 and kind Cell. Decode does not apply defaults
// or validate values; call Default and Validate for that.
func Decode(data []byte) (*Cell, error) {
	var c Cell
	if err := decodeStrict(data, &c, checkCellHeader); err != nil {
		return nil, err
	}
	return &c, nil
}

func checkCellHeader(apiVersion, kind string, p *problems) {
	if apiVersion != APIVersion {
		p.add("apiVersion", "must be %s, got %s", APIVersion, quoteOrEmpty(apiVersion))
	}
	if kind != Kind {
		p.add("kind", "must be %s, got %s", Kind, quoteOrEmpty(kind))
	}
}

// DecodeTemplate reads one analysis template from YAML or JSON, strictly, as
// Decode does. Argo Rollouts AnalysisTemplate and ClusterAnalysisTemplate
// documents are accepted unchanged (apiVersion argoproj.io/v1alpha1), and so
// is okra's own apiVersion okra.dev/v1alpha1.
func DecodeTemplate(data []byte) (*AnalysisTemplate, error) {
	var t AnalysisTemplate
	if err := decodeStrict(data, &t, checkTemplateHeader); err != nil {
		return nil, err
	}
	return &t, nil
}

func checkTemplateHeader(apiVersion, kind string, p *problems) {
	if apiVersion != TemplateAPIVersionArgo && apiVersion != APIVersion {
		p.add("apiVersion", "must be %s or %s, got %s", TemplateAPIVersionArgo, APIVersion, quoteOrEmpty(apiVersion))
	}
	if kind != KindAnalysisTemplate && kind != KindClusterAnalysisTemplate {
		p.add("kind", "must be %s or %s, got %s", KindAnalysisTemplate, KindClusterAnalysisTemplate, quoteOrEmpty(kind))
	}
}

// headerText renders an apiVersion or kind value for the header check; a
// value that is not text is shown as written, so it is reported as wrong.
func headerText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

func quoteOrEmpty(s string) string {
	if s == "" {
		return "nothing"
	}
	return strconv.Quote(s)
}

// decodeStrict converts YAML (or JSON, which is YAML) to JSON, checks the
// document's apiVersion and kind with checkHeader, then the whole document
// against the Go type of out, then decodes it. A document of the wrong kind
// gets only that reported, not every field its own kind has and out lacks.
func decodeStrict(data []byte, out any, checkHeader func(apiVersion, kind string, p *problems)) error {
	found, err := decodeLenient(data, out, checkHeader)
	if err != nil {
		return err
	}
	return found.err()
}

// decodeLenient decodes as decodeStrict does, but a value of the wrong
// type, an unknown field or a refused duration does not stop it: each is
// recorded in the returned problems and left out (as if not written), and
// the rest of the document is decoded into out, so that validation can
// report its problems too. The error is for what leaves nothing to
// decode: a document too large, not YAML, not a mapping, or of another
// apiVersion or kind.
func decodeLenient(data []byte, out any, checkHeader func(apiVersion, kind string, p *problems)) (problems, error) {
	if len(data) > MaxDocumentSize {
		return problems{}, fmt.Errorf("document is %d bytes, more than the %d allowed", len(data), MaxDocumentSize)
	}
	if err := refuseMultipleDocuments(data); err != nil {
		return problems{}, err
	}
	jsonData, err := yamlToJSON(data)
	if err != nil {
		return problems{}, err
	}
	var tree any
	dec := json.NewDecoder(bytes.NewReader(jsonData))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return problems{}, fmt.Errorf("reading document, %w", err)
	}
	if tree == nil {
		return problems{}, errors.New("document is empty")
	}
	fields, ok := tree.(map[string]any)
	if !ok {
		return problems{}, fmt.Errorf("document must be a mapping of fields, got %s", jsonKind(tree))
	}
	var header problems
	checkHeader(headerText(fields["apiVersion"]), headerText(fields["kind"]), &header)
	if err := header.err(); err != nil {
		return problems{}, err
	}
	// checkValue prunes what it refuses, so the tree left decodes.
	var p problems
	checkValue(tree, reflect.TypeOf(out).Elem(), "", &p)
	if len(p.list) > 0 {
		if jsonData, err = json.Marshal(tree); err != nil {
			return problems{}, fmt.Errorf("re-encoding document, %w", err)
		}
	}
	// The check above left only what decodes, so this decode is expected
	// to succeed; it still runs strict in case the two ever disagree.
	strict := json.NewDecoder(bytes.NewReader(jsonData))
	strict.DisallowUnknownFields()
	if err := strict.Decode(out); err != nil {
		return problems{}, fmt.Errorf("decoding document, %w", err)
	}
	return p, nil
}

// yamlToJSON converts with duplicate keys refused. The YAML parser is third
// party; a panic inside it on malformed input becomes an error here so that
// a bad document can never take a request handler down.
func yamlToJSON(data []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("parsing YAML: parser failed on this input: %v", r)
		}
	}()
	out, err = yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("parsing YAML, %w", err)
	}
	return out, nil
}

// refuseMultipleDocuments reports a second YAML document: the parser would
// silently read only the first, and a Cell that is half ignored is worse
// than an error. A leading "---" is fine.
func refuseMultipleDocuments(data []byte) error {
	seenContent := false
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimRight(line, " \t\r")
		if trimmed == "---" || strings.HasPrefix(trimmed, "--- ") || strings.HasPrefix(trimmed, "---\t") {
			if seenContent {
				return fmt.Errorf("line %d: a second YAML document starts here; put one document per file", i+1)
			}
			continue
		}
		content := strings.TrimSpace(trimmed)
		if content != "" && !strings.HasPrefix(content, "#") && content != "..." {
			seenContent = true
		}
	}
	return nil
}

var jsonUnmarshalerType = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

// checkValue walks a generic JSON value (objects as map[string]any, numbers
// as json.Number) against the Go type it will be decoded into, and reports
// every unknown field, every value of the wrong JSON type and every value a
// custom decoder refuses, each with its path. encoding/json stops at the
// first error, names no path for an unknown field and matches keys without
// regard to case; this check does better on all three.
//
// checkValue also prunes the tree as it goes: a field or map entry whose
// value is refused is deleted and a refused list item becomes null, so the
// rest of the document still decodes and can be validated (see
// decodeLenient). It reports whether v itself is acceptable.
func checkValue(v any, t reflect.Type, path string, p *problems) bool {
	if v == nil {
		return true // null leaves the zero value, as encoding/json does
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshalerType) {
		raw, err := json.Marshal(v)
		if err != nil {
			p.add(path, "cannot be read: %v", err)
			return false
		}
		target := reflect.New(t).Interface().(json.Unmarshaler)
		if err := target.UnmarshalJSON(raw); err != nil {
			p.add(path, "%v", err)
			return false
		}
		return true
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkValue(v, t.Elem(), path, p)
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			p.add(path, "must be a mapping of fields, got %s", jsonKind(v))
			return false
		}
		fields := jsonFields(t)
		for _, key := range sortedKeys(obj) {
			fieldType, known := fields[key]
			if !known {
				p.add(joinField(path, key), "unknown field %q%s", key, suggestField(key, fields))
				delete(obj, key)
				continue
			}
			if !checkValue(obj[key], fieldType, joinField(path, key), p) {
				delete(obj, key)
			}
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			p.add(path, "must be a list, got %s", jsonKind(v))
			return false
		}
		for i, item := range list {
			if !checkValue(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), p) {
				list[i] = nil
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			p.add(path, "must be a mapping, got %s", jsonKind(v))
			return false
		}
		for _, key := range sortedKeys(obj) {
			if !checkValue(obj[key], t.Elem(), joinKey(path, key), p) {
				delete(obj, key)
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			p.add(path, "must be a string, got %s (quote it)", jsonKind(v))
			return false
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			p.add(path, "must be true or false, got %s", jsonKind(v))
			return false
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			p.add(path, "must be a whole number, got %s", jsonKind(v))
			return false
		}
		if _, err := strconv.ParseInt(string(n), 10, t.Bits()); err != nil {
			p.add(path, "must be a whole number that fits in %d bits, got %s", t.Bits(), n)
			return false
		}
	case reflect.Float32, reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			p.add(path, "must be a number, got %s", jsonKind(v))
			return false
		}
	case reflect.Interface:
		// any value is accepted
	default:
		p.add(path, "cannot be decoded into %s", t)
		return false
	}
	return true
}

// jsonFields maps the JSON names of a struct's fields to their types, with
// embedded structs inlined as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					if _, taken := out[k]; !taken {
						out[k] = v
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// suggestField names a known field that the unknown key probably meant:
// the same name in another case, or one a typo or two away.
func suggestField(key string, fields map[string]reflect.Type) string {
	best, bestDistance := "", 3
	for name := range fields {
		if strings.EqualFold(name, key) {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
		if d := editDistance(strings.ToLower(key), strings.ToLower(name)); d < bestDistance || (d == bestDistance && name < best) {
			best, bestDistance = name, d
		}
	}
	if best != "" && bestDistance <= 2 && len(key) > 3 {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return fmt.Sprintf("text %q", x)
	case bool:
		return fmt.Sprintf("boolean %t", x)
	case json.Number:
		return "number " + string(x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}
