package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/gate"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/safetynet"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

func newRolloutCommand(app *App) *cobra.Command {
	cmd := newGroupCommand("rollout", "Watch and steer a Cell's rollouts",
		`  # Follow a rollout until it ends
  okra rollout status web --watch

  # Let a paused rollout go on, or stop it and restore the old weights
  okra rollout promote web
  okra rollout abort web --reason "latency regression"`)
	cmd.AddCommand(
		newRolloutStatusCommand(app),
		newRolloutHistoryCommand(app),
		newRolloutPromoteCommand(app),
		newRolloutAbortCommand(app),
		newRolloutRetryCommand(app),
	)
	return cmd
}

func newRolloutStatusCommand(app *App) *cobra.Command {
	var watch bool
	var interval, timeout time.Duration
	var measurements int
	cmd := &cobra.Command{
		Use:   "status CELL [--watch]",
		Short: "Show where a Cell's rollout is: phase, step, weights, analysis",
		Long: `Show a Cell's rollout: its phase, the stable and canary versions, the step
being carried out (step n/m: setWeight, a pause and when it ends, an
analysis, or a wait for "okra rollout promote"), the listener's weight on
each target group with the version it carries, the latest analysis
measurements and the status message.

Weights are read from the listener itself; if it cannot be read, the
weights the rollout last set (from okra's table) are shown and the reason
is said.

--watch redraws every --interval until the rollout ends (or Ctrl-C). On a
terminal the screen is redrawn in place; otherwise each refresh is
appended as a plain block. With --watch the exit status is 1 when the
rollout ends rolled back, and when --timeout passes first.`,
		Example: `  # Once
  okra rollout status web

  # Follow it until it ends; exit status 1 if it rolls back
  okra rollout status web --watch

  # In CI: fail when the rollout has not finished within 30 minutes
  okra rollout status web --watch --interval 10s --timeout 30m

  # Machine-readable
  okra rollout status web -o json`,
		Args: exactArgs(1, "CELL"),
		RunE: app.runE(func(cmd *cobra.Command, args []string) error {
			if interval <= 0 {
				return usageErrorf("--interval must be positive, got %s", interval)
			}
			if measurements < 0 {
				return usageErrorf("--measurements must not be negative, got %d", measurements)
			}
			ctx := cmd.Context()
			src, err := app.statusSource(ctx, args[0])
			if err != nil {
				return err
			}
			if !watch {
				in, err := src.read(ctx, app.now())
				if err != nil {
					return app.explain(err)
				}
				r := buildStatusReport(in, measurements)
				return app.print(r, func(w io.Writer) error { return renderStatus(w, r, in.Now) })
			}
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return app.watchStatus(ctx, src, watchOptions{
				interval: interval, measurements: measurements, tty: isTerminal(app.Out), timeout: timeout,
			})
		}),
	}
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "redraw until the rollout ends or Ctrl-C")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "time between redraws with --watch (each frame costs calls in proportion to the Cell, not the account)")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "with --watch, give up (exit status 1) after this long; 0 waits forever")
	cmd.Flags().IntVar(&measurements, "measurements", defaultMeasurements, "how many of the latest analysis measurements to show")
	return cmd
}

// statusSource reads what one status frame shows.
type statusSource struct {
	app    *App
	name   string
	st     *store.Store
	owners *safetynet.Owners
	lis    *listener.Client
	tgs    *discovery.TargetGroups
	events int
}

func (a *App) statusSource(ctx context.Context, name string) (*statusSource, error) {
	st, err := a.store(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := a.AWS(ctx)
	if err != nil {
		return nil, err
	}
	owners, err := a.leaseOwners(ctx)
	if err != nil {
		return nil, err
	}
	elb := cfg.ELBv2()
	log := a.logger()
	return &statusSource{
		app: a, name: name, st: st, owners: owners,
		lis:    listener.New(elb, listener.Options{Logger: log}),
		tgs:    discovery.NewTargetGroups(elb, cfg.Tagging(), discovery.Options{Logger: log}),
		events: 100,
	}, nil
}

// read gathers one frame. The Cell and its status must be readable; the
// listener and the target groups are best effort (the frame says why
// they are missing).
func (s *statusSource) read(ctx context.Context, now time.Time) (statusInput, error) {
	in := statusInput{Name: s.name, Now: now}
	rec, err := s.st.GetCell(ctx, s.name)
	var notFound *store.NotFoundError
	switch {
	case errors.As(err, &notFound):
		// A deleted Cell may still have a status and history.
	case err != nil:
		return in, err
	default:
		in.Cell = cellOrNil(rec)
	}
	status, err := s.st.GetStatus(ctx, s.name)
	if err != nil {
		return in, err
	}
	// The demo's screen (StatusView) has no App and no owners: it only
	// shows a rollout that the demo itself drives.
	if s.owners != nil {
		if status, _, err = s.app.checkLease(ctx, s.st, s.owners, s.name, "okra rollout status", status); err != nil {
			return in, err
		}
	}
	in.Status, in.HasStatus = status.Status, status.Revision > 0
	if in.Cell == nil && !in.HasStatus {
		return in, fmt.Errorf("cell %q not found", s.name)
	}
	if in.Events, err = s.st.ListEvents(ctx, s.name, s.events, true); err != nil {
		return in, err
	}
	if in.Blocked, err = s.st.ListBlocked(ctx, s.name); err != nil {
		return in, err
	}
	if in.Cell == nil {
		in.ForwardErr = "the Cell's spec is not stored"
		return in, nil
	}
	if in.Forward, err = s.lis.Read(ctx, in.Cell.Spec.Ingress); err != nil {
		in.ForwardErr = oneLine(err)
	}
	if found, err := s.tgs.ForCell(ctx, in.Cell); err == nil {
		if withHealth, err := s.tgs.Health(ctx, found.TargetGroups); err == nil {
			in.TargetGroups = withHealth
		} else {
			in.TargetGroups = found.TargetGroups
		}
	}
	return in, nil
}

// oneLine keeps the first line of an error, for a status screen.
func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

type watchOptions struct {
	interval     time.Duration
	measurements int
	tty          bool
	timeout      time.Duration
}

// ANSI sequences used to redraw in place: cursor home, clear the screen,
// clear to the end of the line and of the screen.
const (
	ansiHome        = "\x1b[H"
	ansiClearScreen = "\x1b[2J"
	ansiClearLine   = "\x1b[K"
	ansiClearBelow  = "\x1b[J"
)

// watchStatus redraws until the rollout ends or ctx ends. On a terminal a
// frame overwrites the previous one line by line (no blank flash);
// elsewhere frames are appended, separated by a blank line.
func (a *App) watchStatus(ctx context.Context, src *statusSource, o watchOptions) error {
	ticker := time.NewTicker(o.interval)
	defer ticker.Stop()
	first := true
	for {
		in, err := src.read(ctx, a.now())
		if err != nil {
			if ctx.Err() != nil {
				return a.watchEnded(ctx, o)
			}
			return a.explain(err)
		}
		r := buildStatusReport(in, o.measurements)
		if err := a.drawFrame(r, in.Now, o.tty, first); err != nil {
			return err
		}
		first = false
		if r.Done {
			if r.Phase == rollout.PhaseRolledBack {
				return failuref("the rollout of cell %s was rolled back: %s", r.Cell, r.Message)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return a.watchEnded(ctx, o)
		case <-ticker.C:
		}
	}
}

// watchEnded: Ctrl-C ends a watch quietly; --timeout is a failure.
func (a *App) watchEnded(ctx context.Context, o watchOptions) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && o.timeout > 0 {
		return failuref("the rollout did not end within --timeout %s", o.timeout)
	}
	return nil
}

func (a *App) drawFrame(r statusReport, now time.Time, tty, first bool) error {
	if a.Options.Output != OutputTable {
		return a.print(r, nil)
	}
	var frame bytes.Buffer
	if err := renderStatus(&frame, r, now); err != nil {
		return err
	}
	var out bytes.Buffer
	switch {
	case tty:
		if first {
			out.WriteString(ansiClearScreen)
		}
		out.WriteString(ansiHome)
		for _, line := range strings.SplitAfter(frame.String(), "\n") {
			if line == "" {
				continue
			}
			out.WriteString(strings.TrimSuffix(line, "\n") + ansiClearLine + "\n")
		}
		out.WriteString(ansiClearBelow)
	default:
		if !first {
			out.WriteString("\n")
		}
		fmt.Fprintf(&out, "--- %s\n", now.UTC().Format(time.RFC3339))
		out.Write(frame.Bytes())
	}
	_, err := a.Out.Write(out.Bytes())
	return err
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

func newRolloutHistoryCommand(app *App) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "history CELL [--limit N]",
		Short: "List a Cell's rollout history, newest first",
		Long: `List what okra recorded for a Cell, newest first: specs applied, rollouts
started, every weight change set and verified, each analysis measurement
with its value and verdict, pauses, promotions, aborts, rollbacks, blocks
and finalizations. -o json shows every field, including each
measurement's query, raw values and conditions.`,
		Example: `  # The last 20 events
  okra rollout history web

  # Everything about the last rollout's analysis
  okra rollout history web --limit 200 -o json | jq '.[] | select(.type == "AnalysisMeasurement")'`,
		Args: exactArgs(1, "CELL"),
		RunE: app.runE(func(cmd *cobra.Command, args []string) error {
			if limit < 1 {
				return usageErrorf("--limit must be at least 1, got %d", limit)
			}
			ctx := cmd.Context()
			st, err := app.store(ctx)
			if err != nil {
				return err
			}
			events, err := st.ListEvents(ctx, args[0], limit, true)
			if err != nil {
				return app.explain(err)
			}
			if events == nil {
				events = []store.Event{}
			}
			return app.print(events, func(w io.Writer) error {
				if len(events) == 0 {
					fmt.Fprintf(app.Err, "no history for cell %q\n", args[0])
					return nil
				}
				return renderHistory(w, events)
			})
		}),
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many events to show")
	return cmd
}

// renderHistory writes events as a table. It is pure.
func renderHistory(w io.Writer, events []store.Event) error {
	t := newTable(w, "TIME", "TYPE", "VERSION", "MESSAGE", "DETAILS")
	for _, ev := range events {
		t.row(ev.Time.UTC().Format(time.RFC3339), string(ev.Type), ev.Version, ev.Message, eventDetails(ev))
	}
	return t.flush()
}

// eventDetails summarizes an event's weights or measurement.
func eventDetails(ev store.Event) string {
	var parts []string
	if ev.Weights != nil {
		parts = append(parts, weightsSummary(*ev.Weights))
	}
	if m := ev.Measurement; m != nil {
		metric := m.Metric
		if m.Template != "" {
			metric = m.Template + "/" + m.Metric
		}
		parts = append(parts, fmt.Sprintf("%s = %s → %s", metric, withError(measurementValue(m), m.Error), m.Verdict))
	}
	return strings.Join(parts, "; ")
}

// weightsSummary is "web-1-v1 80%, web-1-v2 20%".
func weightsSummary(f weights.Forward) string {
	total := f.Total()
	parts := make([]string, 0, len(f.TargetGroups))
	for _, tg := range f.TargetGroups {
		pct := 0.0
		if total > 0 {
			pct = float64(tg.Weight) * 100 / float64(total)
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%%", targetGroupName(tg.ARN), pct))
	}
	if len(parts) == 0 {
		return "no target groups"
	}
	return strings.Join(parts, ", ")
}

// Gate answers a running rollout's manual gates and restarts failed
// rollouts; *gate.Gate implements it (tests give a fake).
type Gate interface {
	// Promote lets a rollout paused at an indefinite pause (or an
	// inconclusive analysis) go on to its next step.
	Promote(ctx context.Context, cell string) (gate.Result, error)
	// Abort stops the running rollout; its weights return to the snapshot
	// taken when it started.
	Abort(ctx context.Context, cell, reason string) (gate.Result, error)
	// Retry unblocks the version the last rollout failed on and starts a
	// new rollout to it.
	Retry(ctx context.Context, cell string) (gate.Result, error)
}

var _ Gate = (*gate.Gate)(nil)

// defaultGate builds internal/gate's Gate over okra's table and Step
// Functions. History events name the user as the actor.
func (a *App) defaultGate(ctx context.Context, stateMachineARN string) (Gate, error) {
	st, err := a.store(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := a.AWS(ctx)
	if err != nil {
		return nil, err
	}
	actor := "okra CLI"
	if user := a.getenv("USER"); user != "" {
		actor = user + " (okra CLI)"
	}
	owners, err := a.leaseOwners(ctx)
	if err != nil {
		return nil, err
	}
	return gate.New(gate.Deps{Store: st, SFN: cfg.SFN(), StateMachineARN: stateMachineARN, Actor: actor, Owners: owners, Now: a.now, Logger: a.logger()})
}

// leaseOwners is the lease-owner check the functions run, over the
// user's credentials: `okra rollout status`, `okra plan`, retry and abort
// recover a Cell whose lease holder no longer runs themselves, at once,
// rather than leaving it to the next reconcile (see docs/cli.md). The
// notification goes to $OKRA_NOTIFICATION_TOPIC_ARN when set.
func (a *App) leaseOwners(ctx context.Context) (*safetynet.Owners, error) {
	cfg, err := a.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return safetynet.NewOwnersFromConfig(cfg, options.Options{
		TableName: a.tableName(), NotificationTopicARN: a.getenv(options.EnvNotificationTopicARN),
	}, a.logger())
}

// checkLease runs the lease-owner check on status for command (e.g.
// "okra rollout status"): a holder that no longer runs is recovered, the
// user is told on stderr, and the status is read again.
func (a *App) checkLease(ctx context.Context, st *store.Store, owners *safetynet.Owners, cellName, command string, status store.StatusRecord) (store.StatusRecord, safetynet.OwnerCheck, error) {
	if !status.Status.Leased() {
		return status, safetynet.OwnerCheck{}, nil
	}
	check, err := owners.Check(ctx, cellName, status.Status, command+" (by "+a.user()+")")
	if err != nil || !check.Dead {
		return status, check, err
	}
	fmt.Fprintf(a.Err, "okra: rollout %s of cell %s had ended %s without releasing the cell; recovered it: its weights are back at the snapshot and the lease is released\n",
		check.Holder, cellName, check.Status)
	status, err = st.GetStatus(ctx, cellName)
	return status, check, err
}

// user names who runs the command, for the history.
func (a *App) user() string {
	if user := a.getenv("USER"); user != "" {
		return user
	}
	return "okra CLI"
}

func newRolloutPromoteCommand(app *App) *cobra.Command {
	var smARN string
	cmd := &cobra.Command{
		Use:   "promote CELL",
		Short: "Let a paused rollout go on to its next step",
		Long: `Answer the rollout's wait for approval: an indefinite pause step ("pause: {}")
or a pause after an inconclusive analysis. The rollout goes on with its
next step. A rollout that is not waiting for approval is left alone and
the command fails saying what the rollout is doing.`,
		Example: `  # The rollout of web waits at "pause: {}"
  okra rollout status web
  okra rollout promote web`,
		Args: exactArgs(1, "CELL"),
		RunE: app.runE(func(cmd *cobra.Command, args []string) error {
			return app.runGate(cmd.Context(), smARN, func(g Gate) (gate.Result, error) { return g.Promote(cmd.Context(), args[0]) })
		}),
	}
	cmd.Flags().StringVar(&smARN, "state-machine-arn", "", "the rollout state machine (default: $OKRA_STATE_MACHINE_ARN)")
	return cmd
}

func newRolloutAbortCommand(app *App) *cobra.Command {
	var smARN, reason string
	cmd := &cobra.Command{
		Use:   "abort CELL [--reason TEXT]",
		Short: "Stop a running rollout and restore the weights it started from",
		Long: `Stop the Cell's running rollout. A rollout waiting for approval is failed
through its gate and rolls back at once; otherwise its execution is
stopped and okra's safety net restores the forward action saved when the
rollout began. The reason is recorded in the Cell's history.`,
		Example: `  okra rollout abort web --reason "p99 latency doubled in eu-west-1"`,
		Args:    exactArgs(1, "CELL"),
		RunE: app.runE(func(cmd *cobra.Command, args []string) error {
			return app.runGate(cmd.Context(), smARN, func(g Gate) (gate.Result, error) { return g.Abort(cmd.Context(), args[0], reason) })
		}),
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the Cell's history (default: aborted by USER)")
	cmd.Flags().StringVar(&smARN, "state-machine-arn", "", "the rollout state machine (default: $OKRA_STATE_MACHINE_ARN)")
	return cmd
}

func newRolloutRetryCommand(app *App) *cobra.Command {
	var smARN string
	cmd := &cobra.Command{
		Use:   "retry CELL",
		Short: "Unblock the version the last rollout failed on and roll to it again",
		Long: `After a rollout was rolled back, its version is blocked so that okra does
not roll to it again. retry removes that block and starts a new rollout
execution to the version (named with the next attempt number).`,
		Example: `  # v2 was rolled back after a flaky analysis; try again
  okra rollout retry web`,
		Args: exactArgs(1, "CELL"),
		RunE: app.runE(func(cmd *cobra.Command, args []string) error {
			arn, err := app.stateMachineARN(smARN)
			if err != nil {
				return err
			}
			return app.runGate(cmd.Context(), arn, func(g Gate) (gate.Result, error) { return g.Retry(cmd.Context(), args[0]) })
		}),
	}
	cmd.Flags().StringVar(&smARN, "state-machine-arn", "", "the rollout state machine (default: $OKRA_STATE_MACHINE_ARN)")
	return cmd
}

func (a *App) runGate(ctx context.Context, smFlag string, op func(Gate) (gate.Result, error)) error {
	smARN := smFlag
	if smARN == "" {
		smARN = a.getenv(options.EnvStateMachineARN)
	}
	g, err := a.newGate(ctx, smARN)
	if err != nil {
		return err
	}
	res, err := op(g)
	if err != nil {
		return a.explain(err)
	}
	return a.print(res, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, res.Message)
		return err
	})
}

// cellOrNil returns a stored record's Cell with defaults, or nil when it
// cannot be read.
func cellOrNil(rec store.CellRecord) *cell.Cell {
	if rec.Cell == nil {
		return nil
	}
	return defaultedCopy(rec.Cell)
}
