package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"
)

// print writes v in the --output format: table runs writeTable, json and
// yaml marshal v (through its JSON field names, so both formats agree).
func (a *App) print(v any, writeTable func(w io.Writer) error) error {
	switch a.Options.Output {
	case OutputJSON:
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("writing JSON output, %w", err)
		}
		_, err = fmt.Fprintf(a.Out, "%s\n", data)
		return err
	case OutputYAML:
		data, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("writing YAML output, %w", err)
		}
		_, err = a.Out.Write(data)
		return err
	default:
		return writeTable(a.Out)
	}
}

// table writes aligned columns, as kubectl does: a header in capitals,
// three spaces between columns, "-" for an empty cell.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		}
		// A tab or newline inside a value would break the columns.
		cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(cells[i])
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// roundTrip returns a deep copy of v made through its JSON form.
func roundTrip[T any](v *T) (*T, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out T
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// sameDocument reports whether a and b have the same JSON form.
func sameDocument(a, b any) bool {
	da, errA := json.Marshal(a)
	db, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(da, db)
}
