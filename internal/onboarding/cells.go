package onboarding

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/store"
)

// loadedCell is a stored Cell spec after decoding, defaulting and
// validation.
type loadedCell struct {
	name     string
	revision int64
	// cell is defaulted and valid; nil when err is set.
	cell *cell.Cell
	// err is a *cell.ValidationError: why the spec is invalid.
	err error
}

// loadTemplates returns the shared analysis templates as a lookup for
// cell.Validate. A template that does not decode is left out (and logged):
// a Cell naming it then fails validation, naming the template.
func (o *Onboarder) loadTemplates(ctx context.Context) (cell.TemplateLookup, error) {
	recs, err := o.cells.ListTemplates(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing shared analysis templates, %w", err)
	}
	lookup := cell.TemplateMap{}
	for _, rec := range recs {
		if rec.DecodeErr != nil || rec.Template == nil {
			o.log.WarnContext(ctx, "shared analysis template does not decode; Cells using it are invalid", "template", rec.Name, "error", rec.DecodeErr)
			continue
		}
		lookup[rec.Name] = rec.Template
	}
	return lookup, nil
}

// loadCells returns every stored Cell, valid or not, sorted by name.
func (o *Onboarder) loadCells(ctx context.Context) ([]loadedCell, cell.TemplateLookup, error) {
	lookup, err := o.loadTemplates(ctx)
	if err != nil {
		return nil, nil, err
	}
	recs, err := o.cells.ListCells(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("listing Cells, %w", err)
	}
	out := make([]loadedCell, 0, len(recs))
	for _, rec := range recs {
		c, err := prepareCell(rec.Name, rec.Spec, lookup)
		lc := loadedCell{name: rec.Name, revision: rec.Revision, cell: c, err: err}
		if err != nil {
			o.log.WarnContext(ctx, "skipping invalid Cell", "cell", rec.Name, "revision", rec.Revision, "problems", problemList(err))
		}
		out = append(out, lc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, lookup, nil
}

// prepareCell decodes a stored spec strictly, checks it is stored under
// its own name, validates it against the shared templates and applies the
// defaults. Every failure is a *cell.ValidationError.
func prepareCell(name string, spec []byte, lookup cell.TemplateLookup) (*cell.Cell, error) {
	c, decodeErr := cell.DecodeLenient(spec)
	if c == nil {
		var ve *cell.ValidationError
		if errors.As(decodeErr, &ve) {
			return nil, ve
		}
		return nil, &cell.ValidationError{Problems: []cell.Problem{{Reason: decodeErr.Error()}}}
	}
	if c.Metadata.Name != name {
		return nil, &cell.ValidationError{Problems: []cell.Problem{{
			Field:  "metadata.name",
			Reason: fmt.Sprintf("is %q but the spec is stored as Cell %q", c.Metadata.Name, name),
		}}}
	}
	if err := cell.CombineProblems(decodeErr, cell.Validate(c, lookup)); err != nil {
		return nil, err
	}
	c.Default()
	return c, nil
}

// problemList renders a validation error as one string per problem.
func problemList(err error) []string {
	var ve *cell.ValidationError
	if !errors.As(err, &ve) {
		return []string{err.Error()}
	}
	out := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = p.String()
	}
	return out
}

// validCells returns the valid Cells of cells.
func validCells(cells []loadedCell) []loadedCell {
	var out []loadedCell
	for _, c := range cells {
		if c.cell != nil {
			out = append(out, c)
		}
	}
	return out
}

// cellNames returns the names of cells, valid or not.
func cellNames(cells []loadedCell) map[string]bool {
	out := make(map[string]bool, len(cells))
	for _, c := range cells {
		out[c.name] = true
	}
	return out
}

// recordOf finds name in recs.
func recordOf(recs []store.ClusterRecord, name string) (store.ClusterRecord, bool) {
	for _, r := range recs {
		if r.Cluster.Name == name {
			return r, true
		}
	}
	return store.ClusterRecord{}, false
}

func sortStrings(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}
