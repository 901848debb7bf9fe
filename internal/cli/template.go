package cli

import (
	"github.com/spf13/cobra"
)

// newTemplateCommand builds `okra template` and its subcommands. Subcommands
// that talk to AWS (apply, get, list) belong here too.
func newTemplateCommand(app *App) *cobra.Command {
	cmd := newGroupCommand("template", "Work with shared analysis templates (Argo Rollouts compatible)",
		`  # Check an Argo Rollouts AnalysisTemplate before storing it
  okra template validate -f error-rate.yaml`)
	cmd.AddCommand(newTemplateValidateCommand(app))
	return cmd
}

func newTemplateValidateCommand(app *App) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "validate -f FILE [-f FILE...]",
		Short: "Check analysis template files offline, reporting every problem",
		Long: `Decode each analysis template strictly and validate it. Argo Rollouts
AnalysisTemplate and ClusterAnalysisTemplate documents are accepted
unchanged; metrics must use a provider okra supports (cloudWatch, datadog),
and every {{args.NAME}} they use must be declared. Every problem is printed
as "FILE: field.path: reason". Nothing is read from or written to AWS.

Exit status: 0 when every template is valid, 1 when any problem is found,
2 when a file cannot be read or the command line is wrong.`,
		Example: `  # One template
  okra template validate -f error-rate.yaml

  # Every template in a directory
  okra template validate $(printf -- '-f %s ' templates/*.yaml)`,
		Args: cobra.NoArgs,
		RunE: app.runE(func(cmd *cobra.Command, _ []string) error {
			inputs, err := app.readInputs(files)
			if err != nil {
				return err
			}
			results := make([]validationResult, 0, len(inputs))
			for _, in := range inputs {
				_, res := validateTemplateDocument(in)
				results = append(results, res)
			}
			return app.printValidation(results, "template")
		}),
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, `template file to check, YAML or JSON ("-" reads standard input); repeatable`)
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}
