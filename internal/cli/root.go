package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/okrahq/okra/internal/options"
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
templates are stored in DynamoDB; rollouts run as Step Functions executions.

The AWS configuration comes from the SDK's usual chain (environment,
shared config, --profile, --region). okra's table is --table, else
` + options.EnvTableName + `, else "` + DefaultTableName + `". --endpoint-url sends every call to one
endpoint, such as the local emulator "okra local up" starts.

Exit status: 0 on success, 1 when the operation failed or the input is
invalid, 2 when the command line is wrong.`,
		Example: `  # Check a Cell and the shared templates it uses, without touching AWS
  okra cell validate -f web.yaml --templates ./templates

  # Store it and watch its next rollout
  okra cell apply -f web.yaml
  okra rollout status web --watch

  # Everything against the local emulator
  okra local up
  okra --endpoint-url http://127.0.0.1:4566 cell list`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	flags := root.PersistentFlags()
	flags.StringVar(&app.Options.Region, "region", "", "AWS region (default: the SDK's chain, e.g. AWS_REGION)")
	flags.StringVar(&app.Options.Profile, "profile", "", "AWS shared-config profile")
	flags.StringVar(&app.Options.EndpointURL, "endpoint-url", "", "send every AWS call to this endpoint (the local emulator or gateway)")
	flags.StringVarP(&app.Options.Output, "output", "o", OutputTable, "output format: table, json or yaml")
	flags.StringVar(&app.Options.Table, "table", "", "okra's DynamoDB table (default: $"+options.EnvTableName+", else \""+DefaultTableName+"\")")
	flags.BoolVarP(&app.Options.Verbose, "verbose", "v", false, "log each step that reads or changes AWS resources to stderr")

	root.AddCommand(
		newCellCommand(app),
		newTemplateCommand(app),
		newRolloutCommand(app),
		newPlanCommand(app),
		newLocalCommand(app),
		newDemoCommand(app),
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

// exactArgs accepts exactly n arguments, naming them in its error.
func exactArgs(n int, names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		if len(args) < n {
			return fmt.Errorf("%s: missing %s", cmd.CommandPath(), strings.Join(names[len(args):], " "))
		}
		return fmt.Errorf("%s: takes %d argument(s) (%s), got %d: %s", cmd.CommandPath(), n, strings.Join(names, " "), len(args), strings.Join(args, " "))
	}
}

// minArgs accepts n or more arguments.
func minArgs(n int, name string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return fmt.Errorf("%s: missing %s", cmd.CommandPath(), name)
		}
		return nil
	}
}
