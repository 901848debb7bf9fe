package checks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
)

// Store is the part of the DynamoDB store the package uses; *store.Store
// satisfies it.
type Store interface {
	GetCell(ctx context.Context, name string) (store.CellRecord, error)
	GetTemplate(ctx context.Context, name string) (store.TemplateRecord, error)
	GetStatus(ctx context.Context, cellName string) (store.StatusRecord, error)
	UpdateStatus(ctx context.Context, cellName, executionARN string, update func(*rollout.Status) error) (store.StatusRecord, error)
	AppendEvent(ctx context.Context, cellName string, ev store.Event) (store.Event, error)
}

var _ Store = (*store.Store)(nil)

// Discovery finds a Cell's target groups with their versions;
// *discovery.TargetGroups satisfies it.
type Discovery interface {
	ForCell(ctx context.Context, c *cell.Cell) (discovery.CellTargetGroups, error)
}

var _ Discovery = (*discovery.TargetGroups)(nil)

// History event types this package records (the store's list is open).
const (
	EventAnalysisStarted store.EventType = "AnalysisStarted"
	EventPauseRequested  store.EventType = "PauseRequested"
)

// Options are what a Starter needs.
type Options struct {
	// Store is required.
	Store Store
	// Discovery finds the target groups of each version for the built-in
	// arguments; nil takes them from the Cell status' forward action and
	// snapshot.
	Discovery Discovery
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// BackgroundPoll caps a background analysis' wait (default
	// DefaultBackgroundPoll).
	BackgroundPoll time.Duration
	// MaxStateBytes bounds the encoded state (default
	// DefaultMaxStateBytes).
	MaxStateBytes int
}

// Starter starts analysis runs. It implements the rollout-plan handler's
// StartAnalysis and StartBackgroundAnalysis operations
// (steps.AnalysisStarter), and the Checkers share it.
type Starter struct {
	store     Store
	discovery Discovery
	now       func() time.Time
	log       *slog.Logger
	poll      time.Duration
	maxBytes  int
}

// NewStarter returns a Starter over o.
func NewStarter(o Options) (*Starter, error) {
	if o.Store == nil {
		return nil, errors.New("checks: no store")
	}
	s := &Starter{store: o.Store, discovery: o.Discovery, now: o.Now, log: o.Logger, poll: o.BackgroundPoll, maxBytes: o.MaxStateBytes}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.poll <= 0 {
		s.poll = DefaultBackgroundPoll
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxStateBytes
	}
	return s, nil
}

// Start turns an Analyze action into a running analysis state: it resolves
// the step's templates, computes the built-in arguments, merges the step's
// arguments over them and starts the run; waitSeconds is the time to the
// first measurement (initialDelay). It records an AnalysisStarted event.
// An execution that no longer holds the Cell's lease gets a
// *store.NotHolderError; a template or argument problem an
// *InvalidAnalysisError.
func (s *Starter) Start(ctx context.Context, cellName, executionARN string, action rollout.Action) (json.RawMessage, error) {
	if action.Kind != rollout.ActionAnalyze || action.Analysis == nil {
		return nil, &InvalidAnalysisError{Cell: cellName, Reason: fmt.Sprintf("StartAnalysis needs an %s action with an analysis, got kind %q", rollout.ActionAnalyze, action.Kind)}
	}
	status, err := s.holding(ctx, cellName, executionARN)
	if err != nil {
		return nil, err
	}
	c, err := s.loadCell(ctx, cellName)
	if err != nil {
		return nil, err
	}
	stable, canary := action.StableVersion, action.CanaryVersion
	if stable == "" {
		stable = status.StableVersion
	}
	if canary == "" {
		canary = status.CanaryVersion
	}
	now := s.now()
	run, err := s.newRun(ctx, c, action.Analysis, stable, canary, status, now)
	if err != nil {
		return nil, err
	}
	st := State{StepIndex: action.StepIndex}
	s.begin(&st, run, now)
	if err := s.recordStart(ctx, cellName, executionARN, canary, st); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "started analysis", "cell", cellName, "step", st.StepIndex, "templates", strings.Join(run.Templates, ","), "waitSeconds", st.WaitSeconds)
	return fit(cellName, &st, s.maxBytes)
}

// StartBackground starts the Cell's background analysis
// (updateStrategy.canary.analysis) as it applies at the status' step
// index: phase Stopped when the Cell has none; Running without a run, and
// a short wait, when its startingStep is still ahead (a check starts it
// once the rollout gets there); else a running analysis state.
func (s *Starter) StartBackground(ctx context.Context, cellName, executionARN string) (json.RawMessage, error) {
	status, err := s.holding(ctx, cellName, executionARN)
	if err != nil {
		return nil, err
	}
	c, err := s.loadCell(ctx, cellName)
	if err != nil {
		return nil, err
	}
	st, err := s.startBackground(ctx, cellName, executionARN, c, status, s.now())
	if err != nil {
		return nil, err
	}
	return fit(cellName, &st, s.maxBytes)
}

// startBackground builds the background analysis state for status.
func (s *Starter) startBackground(ctx context.Context, cellName, executionARN string, c *cell.Cell, status rollout.Status, now time.Time) (State, error) {
	st := State{Background: true, StepIndex: status.StepIndex}
	var bg *cell.BackgroundAnalysis
	if c.Spec.UpdateStrategy.Canary != nil {
		bg = c.Spec.UpdateStrategy.Canary.Analysis
	}
	if bg == nil {
		st.Phase = PhaseStopped
		st.Message = fmt.Sprintf("Cell %q has no background analysis (updateStrategy.canary.analysis)", cellName)
		return st, nil
	}
	a := rollout.BackgroundAnalysisAt(c, status.StepIndex)
	if a == nil {
		// Not yet: say which check functions will start it, and resolve
		// the templates now so that a missing one fails the rollout
		// before any weight moves rather than at startingStep.
		templates, err := s.templates(ctx, c, &bg.Analysis)
		if err != nil {
			return State{}, err
		}
		for _, t := range templates {
			for _, m := range t.Spec.Metrics {
				kind, err := analysis.ProviderKind(m)
				if err != nil {
					return State{}, &InvalidAnalysisError{Cell: cellName, Reason: fmt.Sprintf("background analysis: template %q metric %q: %v", t.Metadata.Name, m.Name, err), Err: err}
				}
				st.Providers.set(kind)
			}
		}
		st.Phase = PhaseRunning
		st.WaitSeconds = max(1, int64(s.poll/time.Second))
		st.Message = fmt.Sprintf("background analysis starts at step %d; the rollout is at step %d", ptrOr(bg.StartingStep, 0), status.StepIndex)
		return st, nil
	}
	run, err := s.newRun(ctx, c, a, status.StableVersion, status.CanaryVersion, status, now)
	if err != nil {
		return State{}, err
	}
	s.begin(&st, run, now)
	if err := s.recordStart(ctx, cellName, executionARN, status.CanaryVersion, st); err != nil {
		return State{}, err
	}
	s.log.InfoContext(ctx, "started background analysis", "cell", cellName, "step", st.StepIndex, "templates", strings.Join(run.Templates, ","), "waitSeconds", st.WaitSeconds)
	return st, nil
}

// begin fills st for a freshly started run.
func (s *Starter) begin(st *State, run *analysis.Run, now time.Time) {
	st.Run = run
	st.Providers = ProviderFlags{}
	for _, m := range run.Metrics {
		st.Providers.set(m.Provider)
	}
	st.Phase = PhaseRunning
	var limit time.Duration
	if st.Background {
		limit = s.poll
	}
	st.WaitSeconds = waitSeconds(run.NextAt, now, limit)
	kind := "analysis"
	if st.Background {
		kind = "background analysis"
	}
	st.Message = fmt.Sprintf("%s started: %d metric(s) from %s; first measurement in %ds",
		kind, len(run.Metrics), strings.Join(quoteAll(run.Templates), ", "), waitSeconds(run.NextAt, now, 0))
}

func (s *Starter) recordStart(ctx context.Context, cellName, executionARN, canary string, st State) error {
	details := map[string]string{
		"background": strconv.FormatBool(st.Background),
		"stepIndex":  strconv.Itoa(st.StepIndex),
		"templates":  strings.Join(st.Run.Templates, ","),
		"args":       argsText(st.Run.Args),
	}
	ev := store.Event{Time: st.Run.StartedAt, Type: EventAnalysisStarted, Execution: executionARN, Version: canary, Message: st.Message, Details: details}
	if _, err := s.store.AppendEvent(ctx, cellName, ev); err != nil {
		return fmt.Errorf("recording the analysis start in the history of Cell %q, %w", cellName, err)
	}
	return nil
}

// newRun resolves a's templates and arguments and starts a run.
func (s *Starter) newRun(ctx context.Context, c *cell.Cell, a *cell.Analysis, stable, canary string, status rollout.Status, now time.Time) (*analysis.Run, error) {
	templates, err := s.templates(ctx, c, a)
	if err != nil {
		return nil, err
	}
	builtins, err := s.builtinArgs(ctx, c, stable, canary, status)
	if err != nil {
		return nil, err
	}
	run, err := analysis.Start(templates, analysis.MergeArgs(builtins, a.Args), now)
	if err != nil {
		var se *analysis.SpecError
		if errors.As(err, &se) {
			return nil, &InvalidAnalysisError{Cell: c.Metadata.Name, Reason: err.Error(), Err: err}
		}
		return nil, fmt.Errorf("starting the analysis of Cell %q, %w", c.Metadata.Name, err)
	}
	return run, nil
}

// templates resolves a's template references: a template embedded in the
// Cell (spec.analysisTemplates) first, else the shared template of that
// name.
func (s *Starter) templates(ctx context.Context, c *cell.Cell, a *cell.Analysis) ([]cell.AnalysisTemplate, error) {
	name := c.Metadata.Name
	if len(a.Templates) == 0 {
		return nil, &InvalidAnalysisError{Cell: name, Reason: "the analysis names no templates"}
	}
	out := make([]cell.AnalysisTemplate, 0, len(a.Templates))
	for _, ref := range a.Templates {
		if t, ok := embedded(c, ref.TemplateName); ok {
			out = append(out, t)
			continue
		}
		rec, err := s.store.GetTemplate(ctx, ref.TemplateName)
		var nf *store.NotFoundError
		switch {
		case errors.As(err, &nf):
			return nil, &InvalidAnalysisError{Cell: name, Err: err, Reason: fmt.Sprintf(
				"analysis template %q is neither embedded in the Cell (spec.analysisTemplates) nor stored as a shared template (okra template apply)", ref.TemplateName)}
		case err != nil:
			return nil, fmt.Errorf("reading analysis template %q, %w", ref.TemplateName, err)
		case rec.DecodeErr != nil || rec.Template == nil:
			return nil, &InvalidAnalysisError{Cell: name, Err: rec.DecodeErr, Reason: fmt.Sprintf("shared analysis template %q cannot be decoded: %v", ref.TemplateName, rec.DecodeErr)}
		}
		t := *rec.Template
		if t.Metadata.Name == "" {
			t.Metadata.Name = ref.TemplateName
		}
		out = append(out, t)
	}
	return out, nil
}

func embedded(c *cell.Cell, name string) (cell.AnalysisTemplate, bool) {
	for _, t := range c.Spec.AnalysisTemplates {
		if t.Metadata.Name == name {
			return t, true
		}
	}
	return cell.AnalysisTemplate{}, false
}

// loadCell reads the Cell spec, defaulted.
func (s *Starter) loadCell(ctx context.Context, name string) (*cell.Cell, error) {
	rec, err := s.store.GetCell(ctx, name)
	var nf *store.NotFoundError
	if errors.As(err, &nf) {
		return nil, &InvalidAnalysisError{Cell: name, Reason: "the Cell has no stored spec", Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("loading Cell %q, %w", name, err)
	}
	if rec.DecodeErr != nil || rec.Cell == nil {
		return nil, &InvalidAnalysisError{Cell: name, Reason: fmt.Sprintf("the stored spec cannot be decoded: %v", rec.DecodeErr), Err: rec.DecodeErr}
	}
	c := rec.Cell
	c.Default()
	if c.Metadata.Name == "" {
		c.Metadata.Name = name
	}
	return c, nil
}

// holding returns the Cell's status when executionARN holds its lease,
// else a *store.NotHolderError.
func (s *Starter) holding(ctx context.Context, cellName, executionARN string) (rollout.Status, error) {
	if cellName == "" || executionARN == "" {
		return rollout.Status{}, &UnexpectedError{Err: fmt.Errorf("input: cell (%q) and executionArn (%q) are required", cellName, executionARN)}
	}
	rec, err := s.store.GetStatus(ctx, cellName)
	if err != nil {
		return rollout.Status{}, fmt.Errorf("reading the status of Cell %q, %w", cellName, err)
	}
	if rec.Status.ExecutionARN != executionARN {
		return rollout.Status{}, &store.NotHolderError{Cell: cellName, Execution: executionARN, Holder: rec.Status.ExecutionARN}
	}
	return rec.Status, nil
}

func argsText(args map[string]string) string {
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + args[k]
	}
	return truncate(strings.Join(parts, ", "), 4096)
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strconv.Quote(n)
	}
	return out
}

func ptrOr(p *int32, def int) int {
	if p == nil {
		return def
	}
	return int(*p)
}
