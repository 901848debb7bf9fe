package cli

import (
	"github.com/spf13/cobra"
)

// newRootCommand builds the whole command tree. A new command group is one
// more AddCommand here, with its constructor in its own file.
func newRootCommand(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:   "okra",
		Short: "Hot-swap EKS clusters behind AWS load balancers",
		Long: `okra moves traffic between EKS clusters behind an ALB or NLB listener by
shifting weighted target groups step by step, with analysis and automatic
rollback. Cells (a listener and the clusters behind it) and analysis
templates are stored in DynamoDB; rollouts run as Step Functions executions.`,
		Example: `  # Check a Cell and the shared templates it uses, without touching AWS
  okra cell validate -f web.yaml --templates ./templates

  # Check an Argo Rollouts AnalysisTemplate before storing it
  okra template validate -f error-rate.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	flags := root.PersistentFlags()
	flags.StringVar(&app.Options.Region, "region", "", "AWS region (default: the SDK's chain, e.g. AWS_REGION)")
	flags.StringVar(&app.Options.Profile, "profile", "", "AWS shared-config profile")
	flags.StringVar(&app.Options.EndpointURL, "endpoint-url", "", "send every AWS call to this endpoint (the local emulator or gateway)")
	flags.StringVarP(&app.Options.Output, "output", "o", OutputTable, "output format: table, json or yaml")

	root.AddCommand(
		newCellCommand(app),
		newTemplateCommand(app),
	)
	return root
}

// newGroupCommand builds a command that only holds subcommands: run alone
// it prints its help; given an unknown subcommand it is a usage error.
func newGroupCommand(use, short, example string) *cobra.Command {
	return &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
}
