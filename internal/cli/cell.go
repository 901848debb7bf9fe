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
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
)

// newCellCommand builds `okra cell` and its subcommands.
func newCellCommand(app *App) *cobra.Command {
	cmd := newGroupCommand("cell", "Work with Cells: a listener and the clusters behind it",
		`  # Check a Cell, store it, and look at what is stored
  okra cell validate -f web.yaml
  okra cell apply -f web.yaml
  okra cell list`)
	cmd.AddCommand(
		newCellValidateCommand(app),
		newCellApplyCommand(app),
		newCellGetCommand(app),
		newCellListCommand(app),
		newCellDeleteCommand(app),
		newCellImportCommand(app),
	)
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
	c, decodeErr := cell.DecodeLenient(in.data)
	if c == nil {
		res.Problems = problemsOf(decodeErr)
		return res
	}
	res.Name = c.Metadata.Name
	c.Default()
	if err := cell.CombineProblems(decodeErr, cell.Validate(c, shared)); err != nil {
		res.Problems = problemsOf(err)
		return res
	}
	res.Valid = true
	return res
}

func newCellApplyCommand(app *App) *cobra.Command {
	var files []string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE [-f FILE...] [--dry-run]",
		Short: "Create or update Cells in okra's table",
		Long: `Decode each Cell strictly, apply the defaults and validate it, with the
shared analysis templates stored in okra's table, then check its ingress
against AWS: the listener exists, its protocol fits spec.ingress.type, and
a rule priority is free or the Cell's own. While a rollout runs, a change
to spec.ingress is refused, naming the rollout (other changes are taken).
When any Cell is invalid, every problem is printed and nothing is written.

Each valid Cell is then written with optimistic concurrency: apply reads
the stored revision and writes only if it is still current, so a change
made in between (another apply, an edit in the DynamoDB console) is never
overwritten; apply reports it and you re-run apply. The stored Cell has
its defaults filled in; a Cell that would not change is left alone.

The config-change function picks the change up from the table's stream
and records it in the Cell's history (okra rollout history) with what
changed.

Exit status: 0 when every Cell was applied, 1 when a Cell is invalid or a
write failed, 2 when a file cannot be read or the command line is wrong.`,
		Example: `  # Create or update one Cell
  okra cell apply -f web.yaml

  # Several at once; none is written unless all are valid
  okra cell apply -f web.yaml -f api.yaml

  # Say what would happen without writing anything
  okra cell apply -f web.yaml --dry-run

  # Against the local emulator started by "okra local up"
  okra --endpoint-url http://127.0.0.1:4566 cell apply -f web.yaml`,
		Args: cobra.NoArgs,
		RunE: app.runE(func(cmd *cobra.Command, _ []string) error {
			inputs, err := app.readInputs(files)
			if err != nil {
				return err
			}
			return app.applyCells(cmd.Context(), inputs, dryRun)
		}),
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, `Cell file, YAML or JSON ("-" reads standard input); repeatable`)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate against the stored templates and say what would change, writing nothing")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// applyResult is what apply reports for one document.
type applyResult struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Action   string `json:"action"`
	Revision int64  `json:"revision"`
	DryRun   bool   `json:"dryRun,omitempty"`
}

// Apply actions.
const (
	actionCreated    = "created"
	actionConfigured = "configured"
	actionUnchanged  = "unchanged"
	actionDeleted    = "deleted"
)

// applyCells validates every Cell (all or nothing), then writes each.
func (a *App) applyCells(ctx context.Context, inputs []input, dryRun bool) error {
	cells := make([]*cell.Cell, len(inputs))
	decodeErrs := make([]error, len(inputs))
	results := make([]validationResult, len(inputs))
	invalid := false
	definedIn := map[string]string{}
	for i, in := range inputs {
		results[i] = validationResult{File: in.name, Kind: cell.Kind, Valid: true}
		c, err := cell.DecodeLenient(in.data)
		if c == nil {
			results[i].Valid, results[i].Problems, invalid = false, problemsOf(err), true
			continue
		}
		results[i].Name = c.Metadata.Name
		if first, dup := definedIn[c.Metadata.Name]; dup && c.Metadata.Name != "" {
			results[i].Valid, invalid = false, true
			results[i].Problems = []cell.Problem{{Field: "metadata.name", Reason: fmt.Sprintf("cell %q is also defined in %s", c.Metadata.Name, first)}}
			continue
		}
		definedIn[c.Metadata.Name] = in.name
		c.Default()
		cells[i], decodeErrs[i] = c, err
	}

	// Validation needs the stored shared templates; a file that does not
	// decode cleanly is validated too, so that every problem is printed at
	// once. If the table cannot be reached, the decoding problems are
	// still reported.
	st, err := a.store(ctx)
	if err != nil {
		if invalid || slices.ContainsFunc(decodeErrs, func(e error) bool { return e != nil }) {
			return a.reportInvalid(decodeOnly(results, decodeErrs), "cell")
		}
		return err
	}
	for i, c := range cells {
		if c == nil {
			continue
		}
		shared, err := a.sharedTemplates(ctx, st, c)
		if err != nil {
			return err
		}
		if err := cell.CombineProblems(decodeErrs[i], cell.Validate(c, shared)); err != nil {
			results[i].Valid, results[i].Problems, invalid = false, problemsOf(err), true
		}
	}
	if invalid {
		return a.reportInvalid(results, "cell")
	}
	if err := a.checkIngresses(ctx, st, cells, results); err != nil {
		return err
	}

	return applyEach(a, cells, func(c *cell.Cell) (applyResult, error) { return a.applyCell(ctx, st, c, dryRun) })
}

// decodeOnly marks the results of documents with decoding problems
// invalid with those problems, for when validation could not run.
func decodeOnly(results []validationResult, decodeErrs []error) []validationResult {
	for i, err := range decodeErrs {
		if err != nil {
			results[i].Valid, results[i].Problems = false, problemsOf(err)
		}
	}
	return results
}

// applyCell writes one valid, defaulted Cell at the revision it reads.
func (a *App) applyCell(ctx context.Context, st *store.Store, c *cell.Cell, dryRun bool) (applyResult, error) {
	name := c.Metadata.Name
	res := applyResult{Kind: cell.Kind, Name: name, DryRun: dryRun}
	var expected int64
	rec, err := st.GetCell(ctx, name)
	var notFound *store.NotFoundError
	switch {
	case errors.As(err, &notFound):
		res.Action = actionCreated
	case err != nil:
		return res, a.explain(err)
	default:
		expected = rec.Revision
		res.Action = actionConfigured
		if rec.Cell != nil && sameDocument(defaultedCopy(rec.Cell), c) {
			res.Action, res.Revision = actionUnchanged, rec.Revision
			return res, nil
		}
	}
	if a.testHooks.afterRead != nil {
		a.testHooks.afterRead(cell.Kind, name)
	}
	if dryRun {
		res.Revision = expected
		return res, nil
	}
	rev, err := st.PutCell(ctx, c, expected)
	if err != nil {
		return res, staleOr(err, "cell", name)
	}
	res.Revision = rev
	return res, nil
}

// staleOr turns a *store.StaleRevisionError into the message apply gives.
func staleOr(err error, noun, name string) error {
	var stale *store.StaleRevisionError
	if !errors.As(err, &stale) {
		return err
	}
	if stale.Current == 0 {
		return fmt.Errorf("%s %s was deleted by someone else while it was being applied; re-run apply", noun, name)
	}
	return fmt.Errorf("%s %s was changed by someone else (revision %d); re-run apply", noun, name, stale.Current)
}

// defaultedCopy returns a defaulted copy of a stored Cell (decoded from
// JSON, so it shares nothing with the store's record).
func defaultedCopy(c *cell.Cell) *cell.Cell {
	cp, err := roundTrip(c)
	if err != nil {
		return c
	}
	cp.Default()
	return cp
}

// reportInvalid prints the problems of invalid documents (stderr as text,
// stdout as JSON or YAML) and ends the command with exit status 1.
func (a *App) reportInvalid(results []validationResult, noun string) error {
	if a.Options.Output != OutputTable {
		if err := a.print(results, nil); err != nil {
			return err
		}
		return errInvalid
	}
	for _, r := range results {
		if r.Valid {
			continue
		}
		for _, p := range r.Problems {
			fmt.Fprintf(a.Err, "%s: %s\n", r.File, p)
		}
	}
	fmt.Fprintf(a.Err, "okra: nothing was applied: fix the %s problems above\n", noun)
	return errInvalid
}

// applyEach applies every document, going on past failures, prints what
// was applied and returns the failures joined.
func applyEach[T any](a *App, docs []T, apply func(T) (applyResult, error)) error {
	var applied []applyResult
	var errs []error
	for _, d := range docs {
		res, err := apply(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		applied = append(applied, res)
	}
	if err := a.printApplied(applied); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// printApplied prints `cell "web" created (revision 1)` per result.
func (a *App) printApplied(results []applyResult) error {
	if results == nil {
		results = []applyResult{}
	}
	return a.print(results, func(w io.Writer) error {
		for _, r := range results {
			suffix := ""
			if r.DryRun {
				suffix = " (dry run)"
			}
			noun := "cell"
			if r.Kind != cell.Kind {
				noun = "template"
			}
			var err error
			switch {
			case r.DryRun && r.Action == actionCreated:
				_, err = fmt.Fprintf(w, "%s %q %s%s\n", noun, r.Name, r.Action, suffix)
			default:
				_, err = fmt.Fprintf(w, "%s %q %s (revision %d)%s\n", noun, r.Name, r.Action, r.Revision, suffix)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// sharedTemplates reads, with consistent reads, the stored templates c
// names and does not embed. A template that is not stored is left out, so
// that validation reports it.
func (a *App) sharedTemplates(ctx context.Context, st *store.Store, c *cell.Cell) (cell.TemplateMap, error) {
	shared := cell.TemplateMap{}
	for _, name := range c.SharedTemplateNames() {
		rec, err := st.GetTemplate(ctx, name)
		var notFound *store.NotFoundError
		if errors.As(err, &notFound) {
			continue
		}
		if err != nil {
			return nil, a.explain(fmt.Errorf("reading shared analysis template %q, %w", name, err))
		}
		if rec.DecodeErr != nil {
			return nil, fmt.Errorf("shared analysis template %q is stored but unreadable (fix it with okra template apply): %w", name, rec.DecodeErr)
		}
		shared[name] = rec.Template
	}
	return shared, nil
}

func newCellGetCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a stored Cell",
		Long: `Show one Cell from okra's table. As a table (the default) it is one row
like "okra cell list" prints; with -o yaml or -o json it is the stored
Cell document, defaults filled in, which "okra cell apply -f" takes back.`,
		Example: `  # Summary row
  okra cell get web

  # The stored document, to edit and apply again
  okra cell get web -o yaml > web.yaml`,
		Args: exactArgs(1, "NAME"),
		RunE: app.runE(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := app.store(ctx)
			if err != nil {
				return err
			}
			rec, err := st.GetCell(ctx, args[0])
			if err != nil {
				return app.explain(err)
			}
			if app.Options.Output != OutputTable {
				if rec.Cell == nil {
					return fmt.Errorf("%w; stored document: %s", rec.DecodeErr, rec.Spec)
				}
				return app.print(rec.Cell, nil)
			}
			row, err := app.cellRow(ctx, st, rec)
			if err != nil {
				return err
			}
			return writeCellRows(app.Out, []cellRow{row})
		}),
	}
	return cmd
}

func newCellListCommand(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the stored Cells with their rollout phase",
		Long: `List every Cell in okra's table with its ingress, replicas, the stable and
canary versions, the phase of its rollout and the revision of its spec.
The list is read from an index that is eventually consistent: a Cell
applied a moment ago may take a second to appear.`,
		Example: `  # Every Cell
  okra cell list

  # As JSON, e.g. for jq
  okra cell list -o json | jq -r '.[] | select(.phase == "Paused") | .name'`,
		Aliases: []string{"ls"},
		Args:    cobra.NoArgs,
		RunE: app.runE(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := app.store(ctx)
			if err != nil {
				return err
			}
			recs, err := st.ListCells(ctx)
			if err != nil {
				return app.explain(err)
			}
			rows := make([]cellRow, 0, len(recs))
			for _, rec := range recs {
				row, err := app.cellRow(ctx, st, rec)
				if err != nil {
					return err
				}
				rows = append(rows, row)
			}
			return app.print(rows, func(w io.Writer) error { return writeCellRows(w, rows) })
		}),
	}
}

// cellRow is one line of `okra cell list`.
type cellRow struct {
	Name          string        `json:"name"`
	Ingress       string        `json:"ingress"`
	ListenerARN   string        `json:"listenerARN,omitempty"`
	RulePriority  int32         `json:"rulePriority,omitempty"`
	Replicas      int32         `json:"replicas"`
	StableVersion string        `json:"stableVersion,omitempty"`
	CanaryVersion string        `json:"canaryVersion,omitempty"`
	Phase         rollout.Phase `json:"phase,omitempty"`
	Revision      int64         `json:"revision"`
	// Error says why the stored spec cannot be read.
	Error string `json:"error,omitempty"`
}

func (a *App) cellRow(ctx context.Context, st *store.Store, rec store.CellRecord) (cellRow, error) {
	row := cellRow{Name: rec.Name, Revision: rec.Revision}
	if c := rec.Cell; c != nil {
		ing := c.Spec.Ingress
		row.Ingress, row.ListenerARN = ingressText(ing), ing.ListenerARN
		if ing.Rule != nil {
			row.RulePriority = ing.Rule.Priority
		}
		row.Replicas = rollout.DefaultReplicas
		if c.Spec.Replicas != nil {
			row.Replicas = *c.Spec.Replicas
		}
	} else if rec.DecodeErr != nil {
		row.Error = rec.DecodeErr.Error()
	}
	status, err := st.GetStatus(ctx, rec.Name)
	if err != nil {
		return row, a.explain(err)
	}
	s := status.Status
	row.StableVersion, row.CanaryVersion, row.Phase = s.StableVersion, s.CanaryVersion, s.Phase
	return row, nil
}

// ingressText is "ALB", "NLB" or "ALB rule 10".
func ingressText(ing cell.Ingress) string {
	var t string
	switch ing.Type {
	case cell.IngressALB:
		t = "ALB"
	case cell.IngressNLB:
		t = "NLB"
	default:
		t = string(ing.Type)
	}
	if ing.Rule != nil {
		t += " rule " + strconv.Itoa(int(ing.Rule.Priority))
	}
	return t
}

func writeCellRows(w io.Writer, rows []cellRow) error {
	t := newTable(w, "NAME", "INGRESS", "REPLICAS", "STABLE", "CANARY", "PHASE", "REVISION")
	for _, r := range rows {
		ingress := r.Ingress
		if r.Error != "" {
			ingress = "? (unreadable spec)"
		}
		t.row(r.Name, ingress, strconv.Itoa(int(r.Replicas)), r.StableVersion, r.CanaryVersion, string(r.Phase), strconv.FormatInt(r.Revision, 10))
	}
	return t.flush()
}

func newCellDeleteCommand(app *App) *cobra.Command {
	var ignoreNotFound bool
	cmd := &cobra.Command{
		Use:   "delete NAME [NAME...]",
		Short: "Delete Cells from okra's table",
		Long: `Delete the spec of each named Cell. A Cell whose rollout is running (its
execution holds the Cell's lease) is refused: let the rollout finish or
abort it first. The Cell's history, status and blocked versions are kept,
so a Cell created again under the same name does not roll to a version
that failed before. Nothing changes on the load balancer: the listener
keeps routing as it does.`,
		Example: `  # Delete one Cell
  okra cell delete web

  # In a script that does not care whether it exists
  okra cell delete web --ignore-not-found`,
		Args: minArgs(1, "NAME"),
		RunE: app.runE(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := app.store(ctx)
			if err != nil {
				return err
			}
			var done []applyResult
			var errs []error
			for _, name := range args {
				err := st.DeleteCell(ctx, name, store.AnyRevision)
				var notFound *store.NotFoundError
				var held *store.LeaseHeldError
				switch {
				case errors.As(err, &notFound):
					if !ignoreNotFound {
						errs = append(errs, fmt.Errorf("cell %q not found", name))
					}
				case errors.As(err, &held):
					errs = append(errs, fmt.Errorf("cannot delete cell %q: its rollout (execution %s) is running; wait for it to finish or run `okra rollout abort %s`", name, held.Holder, name))
				case err != nil:
					errs = append(errs, app.explain(err))
				default:
					done = append(done, applyResult{Kind: cell.Kind, Name: name, Action: actionDeleted})
				}
			}
			if err := app.printDeleted(done); err != nil {
				return err
			}
			return errors.Join(errs...)
		}),
	}
	cmd.Flags().BoolVar(&ignoreNotFound, "ignore-not-found", false, "treat a Cell that does not exist as deleted")
	return cmd
}

// printDeleted prints `cell "web" deleted` per result.
func (a *App) printDeleted(results []applyResult) error {
	if results == nil {
		results = []applyResult{}
	}
	return a.print(results, func(w io.Writer) error {
		for _, r := range results {
			noun := "cell"
			if r.Kind != cell.Kind {
				noun = "template"
			}
			if _, err := fmt.Fprintf(w, "%s %q deleted\n", noun, r.Name); err != nil {
				return err
			}
		}
		return nil
	})
}

// checkIngresses refuses, before anything is stored, a Cell whose ingress
// cannot be used: a change to the ingress of a Cell whose rollout is
// running (the rollout keeps moving traffic where it started; the change
// would strand it), and an ingress AWS does not have as written (the
// listener, its type, the rule priority: listener.CheckIngress). Problems
// are reported as validation problems, naming the field, and nothing of
// any file is written.
func (a *App) checkIngresses(ctx context.Context, st *store.Store, cells []*cell.Cell, results []validationResult) error {
	cfg, err := a.AWS(ctx)
	if err != nil {
		return err
	}
	lc := listener.New(cfg.ELBv2(), listener.Options{Logger: a.logger(), OptIn: a.listenerOptIn()})
	invalid := false
	for i, c := range cells {
		problems, err := a.ingressProblems(ctx, st, lc, c)
		if err != nil {
			return a.explain(err)
		}
		if len(problems) > 0 {
			results[i].Valid, results[i].Problems, invalid = false, problems, true
		}
	}
	if invalid {
		return a.reportInvalid(results, "cell")
	}
	return nil
}

// listenerOptIn is the deploy's opt-in requirement on listeners, from
// the environment the stack's functions get too ($OKRA_LISTENER_OPT_IN,
// $OKRA_LISTENER_ARNS; docs/deploy.md).
func (a *App) listenerOptIn() listener.OptIn {
	o := listener.OptIn{Required: a.getenv(options.EnvListenerOptIn) == options.ListenerOptInRequired}
	for _, arn := range strings.Split(a.getenv(options.EnvListenerARNs), ",") {
		if arn = strings.TrimSpace(arn); arn != "" {
			o.Listeners = append(o.Listeners, arn)
		}
	}
	return o
}

// ingressProblems returns why c's ingress cannot be stored, or nothing.
func (a *App) ingressProblems(ctx context.Context, st *store.Store, lc *listener.Client, c *cell.Cell) ([]cell.Problem, error) {
	name := c.Metadata.Name
	rec, err := st.GetCell(ctx, name)
	var notFound *store.NotFoundError
	if err != nil && !errors.As(err, &notFound) {
		return nil, err
	}
	if err == nil && rec.Cell != nil {
		changes, err := cell.Diff(defaultedCopy(rec.Cell).Spec.Ingress, c.Spec.Ingress)
		if err != nil {
			return nil, err
		}
		if len(changes) > 0 {
			status, err := st.GetStatus(ctx, name)
			if err != nil {
				return nil, err
			}
			if s := status.Status; s.Leased() {
				return []cell.Problem{{Field: "spec.ingress", Reason: rolloutRunningReason(s, changes)}}, nil
			}
		}
	}
	if a.testHooks.skipAWSIngressCheck {
		return nil, nil
	}
	if err := lc.CheckIngress(ctx, name, c.Spec.Ingress); err != nil {
		var bad *listener.IngressError
		if errors.As(err, &bad) {
			return []cell.Problem{{Field: bad.Field, Reason: bad.Reason}}, nil
		}
		return nil, fmt.Errorf("checking the ingress of cell %q, %w", name, err)
	}
	return nil, nil
}

// rolloutRunningReason says why an ingress change waits for the rollout.
func rolloutRunningReason(s rollout.Status, changes []cell.Change) string {
	fields := make([]string, len(changes))
	for i, ch := range changes {
		fields[i] = "ingress" + ch.Field
		if ch.Field != "" && !strings.HasPrefix(ch.Field, "[") {
			fields[i] = "ingress." + ch.Field
		}
	}
	return fmt.Sprintf("cannot change while rollout %s of %s runs (%s): the rollout keeps routing where it started; wait for it to end or run `okra rollout abort`, then apply again (changed: %s)",
		executions.NameOf(s.ExecutionARN), s.CanaryVersion, rollout.StepText(s.StepIndex, s.StepCount), strings.Join(fields, ", "))
}
