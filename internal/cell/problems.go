package cell

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a document: the field's path as written
// in the document (e.g. "spec.updateStrategy.canary.steps[2].setWeight")
// and why it is wrong.
type Problem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// String renders the problem as "field.path: reason".
func (p Problem) String() string {
	if p.Field == "" {
		return p.Reason
	}
	return p.Field + ": " + p.Reason
}

// ValidationError lists every problem found in a document, so that a user
// fixes them all in one pass. Decode, DecodeTemplate, Validate and
// ValidateTemplate return it.
type ValidationError struct {
	Problems []Problem
}

// Error prints one "field.path: reason" per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems while a document is checked.
type problems struct {
	list []Problem
}

// add records a problem. A reason is kept to one line, so that Error()
// prints exactly one line per problem.
func (p *problems) add(field, format string, args ...any) {
	reason := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")
	p.list = append(p.list, Problem{Field: field, Reason: reason})
}

// err returns a *ValidationError when anything was collected, else nil.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: p.list}
}

// joinField appends a struct field's JSON name to a path.
func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// joinKey appends a map key to a path: `tags.team` for plain keys,
// `tags["app.kubernetes.io/name"]` for keys that need quoting.
func joinKey(path, key string) string {
	if plainKey.MatchString(key) {
		return joinField(path, key)
	}
	return path + "[" + strconv.Quote(key) + "]"
}

func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
