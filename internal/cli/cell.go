package cli

import (
	"github.com/spf13/cobra"

	"github.com/okrahq/okra/internal/cell"
)

// newCellCommand builds `okra cell` and its subcommands. Subcommands that
// talk to AWS (apply, get, list, delete, import) belong here too.
func newCellCommand(app *App) *cobra.Command {
	cmd := newGroupCommand("cell", "Work with Cells: a listener and the clusters behind it",
		`  # Check a Cell before applying it
  okra cell validate -f web.yaml`)
	cmd.AddCommand(newCellValidateCommand(app))
	return cmd
}

func newCellValidateCommand(app *App) *cobra.Command {
	var files []string
	var templatesDir string
	cmd := &cobra.Command{
		Use:   "validate -f FILE [-f FILE...] [--templates DIR]",
		Short: "Check Cell files offline, reporting every problem",
		Long: `Decode each Cell strictly (unknown fields, wrong types and bad durations are
errors), apply the defaults and validate it: names, listener ARN, rule
conditions, selectors, target-group template, steps and analysis templates.
Every problem is printed as "FILE: field.path: reason". Shared analysis
templates the Cell names are read from --templates DIR (every .yaml, .yml
and .json file in it). Nothing is read from or written to AWS.

Exit status: 0 when every Cell is valid, 1 when any problem is found, 2
when a file cannot be read or the command line is wrong.`,
		Example: `  # One Cell
  okra cell validate -f web.yaml

  # A Cell whose steps use shared templates stored on their own
  okra cell validate -f web.yaml --templates ./templates

  # From standard input, with machine-readable output
  cat web.yaml | okra cell validate -f - -o json`,
		Args: cobra.NoArgs,
		RunE: app.runE(func(cmd *cobra.Command, _ []string) error {
			var shared cell.TemplateMap
			var results []validationResult
			if templatesDir != "" {
				var err error
				shared, results, err = loadTemplateDir(templatesDir)
				if err != nil {
					return err
				}
			}
			inputs, err := app.readInputs(files)
			if err != nil {
				return err
			}
			for _, in := range inputs {
				results = append(results, validateCellDocument(in, shared))
			}
			return app.printValidation(results, "cell")
		}),
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, `Cell file to check, YAML or JSON ("-" reads standard input); repeatable`)
	cmd.Flags().StringVar(&templatesDir, "templates", "", "directory of shared analysis templates the Cells may name")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// validateCellDocument decodes, defaults and validates one Cell.
func validateCellDocument(in input, shared cell.TemplateLookup) validationResult {
	res := validationResult{File: in.name, Kind: cell.Kind}
	c, err := cell.Decode(in.data)
	if err != nil {
		res.Problems = problemsOf(err)
		return res
	}
	res.Name = c.Metadata.Name
	c.Default()
	if err := cell.Validate(c, shared); err != nil {
		res.Problems = problemsOf(err)
		return res
	}
	res.Valid = true
	return res
}
