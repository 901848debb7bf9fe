package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/okrahq/okra/internal/cell"
)

// stdinName is how standard input ("-f -") is named in messages.
const stdinName = "<stdin>"

// input is one document given on the command line.
type input struct {
	name string
	data []byte
}

// readInputs reads every -f argument; "-" reads standard input (once). A
// file that cannot be read is a usage error.
func (a *App) readInputs(paths []string) ([]input, error) {
	if len(paths) == 0 {
		return nil, usageErrorf("no input: give a file with -f FILE (or -f - for standard input)")
	}
	var out []input
	usedStdin := false
	for _, path := range paths {
		if path == "-" {
			if usedStdin {
				return nil, usageErrorf("-f - (standard input) may be given only once")
			}
			usedStdin = true
			data, err := io.ReadAll(io.LimitReader(a.In, cell.MaxDocumentSize+1))
			if err != nil {
				return nil, usageErrorf("reading standard input: %v", err)
			}
			out = append(out, input{name: stdinName, data: data})
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, usageErrorf("reading %s: %v", path, unwrapPathError(err))
		}
		out = append(out, input{name: path, data: data})
	}
	return out, nil
}

// unwrapPathError drops the *fs.PathError's repetition of the path.
func unwrapPathError(err error) error {
	var pathErr *os.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}

// validationResult is what validate reports for one document.
type validationResult struct {
	File     string         `json:"file"`
	Kind     string         `json:"kind"`
	Name     string         `json:"name,omitempty"`
	Valid    bool           `json:"valid"`
	Problems []cell.Problem `json:"problems,omitempty"`
}

// problemsOf turns an error from cell's decoding or validation into
// problems: each field problem of a *cell.ValidationError, or the error
// itself (a YAML syntax error, say) as one problem without a field.
func problemsOf(err error) []cell.Problem {
	var verr *cell.ValidationError
	if errors.As(err, &verr) {
		return verr.Problems
	}
	return []cell.Problem{{Reason: err.Error()}}
}

// printValidation prints results and returns errInvalid when any is
// invalid. As a table: `<noun> "name" is valid`, or one
// "file: field: reason" line per problem.
func (a *App) printValidation(results []validationResult, noun string) error {
	err := a.print(results, func(w io.Writer) error {
		for _, r := range results {
			if r.Valid {
				if _, err := fmt.Fprintf(w, "%s %q is valid\n", noun, r.Name); err != nil {
					return err
				}
				continue
			}
			for _, p := range r.Problems {
				if _, err := fmt.Fprintf(w, "%s: %s\n", r.File, p); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range results {
		if !r.Valid {
			return errInvalid
		}
	}
	return nil
}

// validateTemplateDocument decodes and validates one template document.
func validateTemplateDocument(in input) (*cell.AnalysisTemplate, validationResult) {
	res := validationResult{File: in.name, Kind: "AnalysisTemplate"}
	tmpl, err := cell.CheckTemplate(in.data)
	if tmpl != nil {
		res.Kind, res.Name = tmpl.Kind, tmpl.Metadata.Name
	}
	if err != nil {
		res.Problems = problemsOf(err)
		return tmpl, res
	}
	res.Valid = true
	return tmpl, res
}

// templateFileExtensions are the files --templates reads from a directory.
var templateFileExtensions = []string{".yaml", ".yml", ".json"}

// loadTemplateDir reads every template file in dir (not its
// subdirectories). It returns the valid templates by name and a result for
// each file that is invalid or repeats a name. A directory that cannot be
// read is a usage error.
func loadTemplateDir(dir string) (cell.TemplateMap, []validationResult, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, usageErrorf("reading --templates directory %s: %v", dir, unwrapPathError(err))
	}
	shared := cell.TemplateMap{}
	definedIn := map[string]string{}
	var invalid []validationResult
	for _, e := range entries {
		if e.IsDir() || !slices.Contains(templateFileExtensions, strings.ToLower(filepath.Ext(e.Name()))) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, usageErrorf("reading %s: %v", path, unwrapPathError(err))
		}
		tmpl, res := validateTemplateDocument(input{name: path, data: data})
		if !res.Valid {
			invalid = append(invalid, res)
			continue
		}
		if first, dup := definedIn[tmpl.Metadata.Name]; dup {
			res.Valid = false
			res.Problems = []cell.Problem{{Field: "metadata.name", Reason: fmt.Sprintf("template %q is also defined in %s", tmpl.Metadata.Name, first)}}
			invalid = append(invalid, res)
			continue
		}
		definedIn[tmpl.Metadata.Name] = path
		shared[tmpl.Metadata.Name] = tmpl
	}
	return shared, invalid, nil
}
