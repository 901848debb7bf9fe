package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/store"
)

// templateKind is the Kind applyResult carries for analysis templates.
const templateKind = "AnalysisTemplate"

// newTemplateCommand builds `okra template` and its subcommands.
func newTemplateCommand(app *App) *cobra.Command {
	cmd := newGroupCommand("template", "Work with shared analysis templates (Argo Rollouts compatible)",
		`  # Check an Argo Rollouts AnalysisTemplate, then store it for every Cell to use
  okra template validate -f error-rate.yaml
  okra template apply -f error-rate.yaml`)
	cmd.AddCommand(
		newTemplateValidateCommand(app),
		newTemplateApplyCommand(app),
		newTemplateGetCommand(app),
		newTemplateListCommand(app),
		newTemplateDeleteCommand(app),
	)
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

func newTemplateApplyCommand(app *App) *cobra.Command {
	var files []string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE [-f FILE...] [--dry-run]",
		Short: "Create or update shared analysis templates in okra's table",
		Long: `Store analysis templates that Cells name in their analysis steps without
embedding them. Argo Rollouts AnalysisTemplate and ClusterAnalysisTemplate
documents are accepted unchanged and stored as written. Every template is
validated first; when any is invalid, every problem is printed and
nothing is written. Writes use optimistic concurrency, as "okra cell
apply" does: a template changed by someone else in between is reported,
not overwritten.

A Cell picks up a changed template at its next analysis.`,
		Example: `  # Store one template
  okra template apply -f error-rate.yaml

  # Every template of a directory
  okra template apply $(printf -- '-f %s ' templates/*.yaml)`,
		Args: cobra.NoArgs,
		RunE: app.runE(func(cmd *cobra.Command, _ []string) error {
			inputs, err := app.readInputs(files)
			if err != nil {
				return err
			}
			return app.applyTemplates(cmd.Context(), inputs, dryRun)
		}),
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, `template file, YAML or JSON ("-" reads standard input); repeatable`)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate and say what would change, writing nothing")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func (a *App) applyTemplates(ctx context.Context, inputs []input, dryRun bool) error {
	templates := make([]*cell.AnalysisTemplate, len(inputs))
	results := make([]validationResult, len(inputs))
	invalid := false
	definedIn := map[string]string{}
	for i, in := range inputs {
		tmpl, res := validateTemplateDocument(in)
		if res.Valid {
			if first, dup := definedIn[res.Name]; dup {
				res.Valid = false
				res.Problems = []cell.Problem{{Field: "metadata.name", Reason: fmt.Sprintf("template %q is also defined in %s", res.Name, first)}}
			}
			definedIn[res.Name] = in.name
		}
		results[i], templates[i] = res, tmpl
		invalid = invalid || !res.Valid
	}
	if invalid {
		return a.reportInvalid(results, "template")
	}
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	return applyEach(a, templates, func(t *cell.AnalysisTemplate) (applyResult, error) { return a.applyTemplate(ctx, st, t, dryRun) })
}

func (a *App) applyTemplate(ctx context.Context, st *store.Store, t *cell.AnalysisTemplate, dryRun bool) (applyResult, error) {
	name := t.Metadata.Name
	res := applyResult{Kind: templateKind, Name: name, DryRun: dryRun}
	var expected int64
	rec, err := st.GetTemplate(ctx, name)
	var notFound *store.NotFoundError
	switch {
	case errors.As(err, &notFound):
		res.Action = actionCreated
	case err != nil:
		return res, a.explain(err)
	default:
		expected = rec.Revision
		res.Action = actionConfigured
		if rec.Template != nil && sameDocument(rec.Template, t) {
			res.Action, res.Revision = actionUnchanged, rec.Revision
			return res, nil
		}
	}
	if a.testHooks.afterRead != nil {
		a.testHooks.afterRead(templateKind, name)
	}
	if dryRun {
		res.Revision = expected
		return res, nil
	}
	rev, err := st.PutTemplate(ctx, t, expected)
	if err != nil {
		return res, staleOr(err, "template", name)
	}
	res.Revision = rev
	a.recordTemplateApplied(ctx, st, rev, rec.Template, t)
	return res, nil
}

// recordTemplateApplied writes a TemplateApplied event, with what changed,
// into the history of every stored Cell that names the template: a shared
// template's change is a change to how those Cells' rollouts are judged.
// The template is already stored, so a failure here is reported on stderr
// and does not fail the apply. (Template items are not on config-change's
// stream path, so a template edited in the DynamoDB console is not
// recorded.)
func (a *App) recordTemplateApplied(ctx context.Context, st *store.Store, rev int64, old, t *cell.AnalysisTemplate) {
	name := t.Metadata.Name
	var oldDoc any
	if old != nil {
		oldDoc = old
	}
	summary := "created"
	if oldDoc != nil {
		changes, err := cell.Diff(oldDoc, t)
		if err != nil {
			summary = "no diff: " + err.Error()
		} else {
			summary = cell.Summary(changes)
		}
	}
	cells, err := st.ListCells(ctx)
	if err != nil {
		fmt.Fprintf(a.Err, "okra: template %q applied, but its history events were not written: %v\n", name, a.explain(err))
		return
	}
	for _, rec := range cells {
		if rec.Cell == nil || !slices.Contains(rec.Cell.SharedTemplateNames(), name) {
			continue
		}
		ev := store.Event{
			Type:    store.EventTemplateApplied,
			Message: fmt.Sprintf("template %s revision %d: %s", name, rev, summary),
			Details: map[string]string{"template": name, "revision": strconv.FormatInt(rev, 10)},
		}
		if _, err := st.AppendEvent(ctx, rec.Name, ev); err != nil {
			fmt.Fprintf(a.Err, "okra: template %q applied, but the history event of cell %q was not written: %v\n", name, rec.Name, a.explain(err))
		}
	}
}

func newTemplateGetCommand(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a stored analysis template",
		Long: `Show one shared analysis template. As a table it is one row like "okra
template list" prints; with -o yaml or -o json it is the document as it
was applied.`,
		Example: `  # Summary row
  okra template get error-rate

  # The stored document
  okra template get error-rate -o yaml`,
		Args: exactArgs(1, "NAME"),
		RunE: app.runE(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := app.store(ctx)
			if err != nil {
				return err
			}
			rec, err := st.GetTemplate(ctx, args[0])
			if err != nil {
				return app.explain(err)
			}
			if app.Options.Output != OutputTable {
				if rec.Template == nil {
					return fmt.Errorf("%w; stored document: %s", rec.DecodeErr, rec.Spec)
				}
				return app.print(rec.Template, nil)
			}
			return writeTemplateRows(app.Out, []templateRow{templateRowOf(rec)})
		}),
	}
}

func newTemplateListCommand(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the shared analysis templates",
		Long: `List every shared analysis template with its metrics, their providers
and its revision (read from an eventually consistent index).`,
		Example: `  okra template list

  # Names only
  okra template list -o json | jq -r '.[].name'`,
		Aliases: []string{"ls"},
		Args:    cobra.NoArgs,
		RunE: app.runE(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := app.store(ctx)
			if err != nil {
				return err
			}
			recs, err := st.ListTemplates(ctx)
			if err != nil {
				return app.explain(err)
			}
			rows := make([]templateRow, 0, len(recs))
			for _, rec := range recs {
				rows = append(rows, templateRowOf(rec))
			}
			return app.print(rows, func(w io.Writer) error { return writeTemplateRows(w, rows) })
		}),
	}
}

// templateRow is one line of `okra template list`.
type templateRow struct {
	Name      string   `json:"name"`
	Kind      string   `json:"kind,omitempty"`
	Metrics   []string `json:"metrics"`
	Providers []string `json:"providers"`
	Args      []string `json:"args,omitempty"`
	Revision  int64    `json:"revision"`
	Error     string   `json:"error,omitempty"`
}

func templateRowOf(rec store.TemplateRecord) templateRow {
	row := templateRow{Name: rec.Name, Revision: rec.Revision, Metrics: []string{}, Providers: []string{}}
	t := rec.Template
	if t == nil {
		if rec.DecodeErr != nil {
			row.Error = rec.DecodeErr.Error()
		}
		return row
	}
	row.Kind = t.Kind
	for _, m := range t.Spec.Metrics {
		row.Metrics = append(row.Metrics, m.Name)
		var p string
		switch {
		case m.Provider.CloudWatch != nil:
			p = cell.ProviderCloudWatch
		case m.Provider.Datadog != nil:
			p = cell.ProviderDatadog
		}
		if p != "" && !slices.Contains(row.Providers, p) {
			row.Providers = append(row.Providers, p)
		}
	}
	for _, arg := range t.Spec.Args {
		row.Args = append(row.Args, arg.Name)
	}
	return row
}

func writeTemplateRows(w io.Writer, rows []templateRow) error {
	t := newTable(w, "NAME", "KIND", "METRICS", "PROVIDERS", "ARGS", "REVISION")
	for _, r := range rows {
		kind := r.Kind
		if r.Error != "" {
			kind = "? (unreadable)"
		}
		t.row(r.Name, kind, strings.Join(r.Metrics, ","), strings.Join(r.Providers, ","), strings.Join(r.Args, ","), strconv.FormatInt(r.Revision, 10))
	}
	return t.flush()
}

func newTemplateDeleteCommand(app *App) *cobra.Command {
	var ignoreNotFound, force bool
	cmd := &cobra.Command{
		Use:   "delete NAME [NAME...]",
		Short: "Delete shared analysis templates",
		Long: `Delete shared analysis templates. A template that a stored Cell still
names is refused (its next analysis could not run, and the rollout would
roll back); --force deletes it anyway.`,
		Example: `  # Delete a template no Cell uses any more
  okra template delete error-rate

  # Delete it although Cells still name it
  okra template delete error-rate --force`,
		Args: minArgs(1, "NAME"),
		RunE: app.runE(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := app.store(ctx)
			if err != nil {
				return err
			}
			var users map[string][]string
			if !force {
				if users, err = templateUsers(ctx, st); err != nil {
					return app.explain(err)
				}
			}
			var done []applyResult
			var errs []error
			for _, name := range args {
				if cells := users[name]; len(cells) > 0 {
					var notFound *store.NotFoundError
					if _, err := st.GetTemplate(ctx, name); errors.As(err, &notFound) {
						if !ignoreNotFound {
							errs = append(errs, fmt.Errorf("template %q not found", name))
						}
						continue
					}
					errs = append(errs, fmt.Errorf("template %q is used by cell %s; change those Cells first, or delete it anyway with --force",
						name, strings.Join(cells, ", ")))
					continue
				}
				err := st.DeleteTemplate(ctx, name, store.AnyRevision)
				var notFound *store.NotFoundError
				switch {
				case errors.As(err, &notFound):
					if !ignoreNotFound {
						errs = append(errs, fmt.Errorf("template %q not found", name))
					}
				case err != nil:
					errs = append(errs, app.explain(err))
				default:
					done = append(done, applyResult{Kind: templateKind, Name: name, Action: actionDeleted})
				}
			}
			if err := app.printDeleted(done); err != nil {
				return err
			}
			return errors.Join(errs...)
		}),
	}
	cmd.Flags().BoolVar(&ignoreNotFound, "ignore-not-found", false, "treat a template that does not exist as deleted")
	cmd.Flags().BoolVar(&force, "force", false, "delete even when stored Cells still name the template")
	return cmd
}

// templateUsers maps each shared template name to the Cells naming it.
func templateUsers(ctx context.Context, st *store.Store) (map[string][]string, error) {
	recs, err := st.ListCells(ctx)
	if err != nil {
		return nil, err
	}
	users := map[string][]string{}
	for _, rec := range recs {
		if rec.Cell == nil {
			continue
		}
		for _, name := range rec.Cell.SharedTemplateNames() {
			users[name] = append(users[name], rec.Name)
		}
	}
	return users, nil
}
