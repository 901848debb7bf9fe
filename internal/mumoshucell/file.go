package mumoshucell

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// NotCellError is a document that is not an okra Cell resource: another
// kind (a ReplicaSet, an okra.dev Cell), or not a YAML object at all.
type NotCellError struct {
	APIVersion, Kind, Name string
	// What describes a document that is not an object ("a list").
	What string
}

func (e *NotCellError) Error() string {
	if e.What != "" {
		return "not an okra Cell resource: want a YAML or JSON object, got " + e.What
	}
	return fmt.Sprintf("not an okra Cell resource: want apiVersion %s/v1alpha1 and kind Cell, got apiVersion %q and kind %q", mumoshuGroup, e.APIVersion, e.Kind)
}

// Describe names the document as a person would: `ReplicaSet "web-7d9f"`,
// `Cell "web" (okra.dev/v1alpha1)`, `a list`.
func (e *NotCellError) Describe() string {
	if e.What != "" {
		return e.What
	}
	kind := e.Kind
	if kind == "" {
		kind = "a document without kind"
	}
	out := kind
	if e.Name != "" {
		out += " " + strconv.Quote(e.Name)
	}
	if e.Kind == "Cell" && e.APIVersion != "" {
		out += " (" + e.APIVersion + ")"
	}
	return out
}

// Converted is one Cell of a file, with its document's place (1-based).
type Converted struct {
	Document int
	*Conversion
}

// Skipped is a document of a file that is not an okra Cell resource.
type Skipped struct {
	Document int
	*NotCellError
}

// File is what a multi-document file converts to.
type File struct {
	// Documents counts the file's documents (empty ones not counted).
	Documents int
	Cells     []Converted
	Skipped   []Skipped
}

// ConvertFile converts every okra Cell resource in a YAML file of one or
// more documents ("---" between them) and lists every other document as
// skipped. A document that cannot be read is an error for the whole file,
// so that nothing of a broken file is used; so is a file without any Cell
// (a single document gets Convert's error).
func ConvertFile(data []byte, clusterTags map[string]string) (*File, error) {
	docs := SplitDocuments(data)
	if len(docs) > MaxDocuments {
		return nil, fmt.Errorf("the file has %d documents, more than the %d okra reads at once; split it", len(docs), MaxDocuments)
	}
	out := &File{Documents: len(docs)}
	for i, doc := range docs {
		n := i + 1
		conv, err := Convert(doc.Data, clusterTags)
		var nc *NotCellError
		switch {
		case errors.As(err, &nc):
			out.Skipped = append(out.Skipped, Skipped{Document: n, NotCellError: nc})
		case err != nil:
			if len(docs) == 1 {
				return nil, err
			}
			return nil, fmt.Errorf("document %d (line %d): %w", n, doc.Line, err)
		default:
			out.Cells = append(out.Cells, Converted{Document: n, Conversion: conv})
		}
	}
	switch {
	case len(out.Cells) > 0:
	case len(docs) == 0:
		return nil, errors.New("not an okra Cell resource: the file is empty")
	case len(docs) == 1:
		return nil, out.Skipped[0].NotCellError
	default:
		var found []string
		for _, s := range out.Skipped {
			found = append(found, s.Describe())
		}
		return nil, fmt.Errorf("no okra Cell resource (apiVersion %s/v1alpha1, kind Cell) among the %d documents: found %s", mumoshuGroup, len(docs), strings.Join(found, ", "))
	}
	names := map[string]int{}
	for _, c := range out.Cells {
		if prev, dup := names[c.Cell.Metadata.Name]; dup && c.Cell.Metadata.Name != "" {
			return nil, fmt.Errorf("documents %d and %d are both Cell %q; okra keeps one Cell of a name", prev, c.Document, c.Cell.Metadata.Name)
		}
		names[c.Cell.Metadata.Name] = c.Document
	}
	return out, nil
}

// MaxDocuments bounds the documents of one file; each is at most
// cell.MaxDocumentSize.
const MaxDocuments = 100

// Document is one YAML document of a file and the line it starts on.
type Document struct {
	Data []byte
	Line int
}

// SplitDocuments splits YAML text at its document markers ("---" at the
// start of a line, optionally followed by content; "..." ends a document).
// Documents holding nothing but comments and blank lines are dropped.
func SplitDocuments(data []byte) []Document {
	var out []Document
	var cur []string
	start, content := 1, false
	flush := func() {
		if content {
			out = append(out, Document{Data: []byte(strings.Join(cur, "\n") + "\n"), Line: start})
		}
		cur, content = nil, false
	}
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimRight(line, " \t\r")
		if trimmed == "---" || strings.HasPrefix(trimmed, "--- ") || strings.HasPrefix(trimmed, "---\t") || trimmed == "..." {
			flush()
			start = i + 2
			if rest := strings.TrimSpace(strings.TrimPrefix(trimmed, "---")); trimmed != "..." && rest != "" && !strings.HasPrefix(rest, "#") {
				// "--- {kind: Cell}": the document starts on the marker's line.
				cur, content, start = []string{rest}, true, i+1
			}
			continue
		}
		cur = append(cur, line)
		if c := strings.TrimSpace(trimmed); c != "" && !strings.HasPrefix(c, "#") {
			content = true
		}
	}
	flush()
	return out
}
