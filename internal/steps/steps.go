// Package steps owns the Lambda handlers of the rollout state machine's
// tasks (statemachines/rollout.asl.json): rollout-plan (AcquireLease,
// NextStep, StartAnalysis, StartBackgroundAnalysis), rollout-weights (Set,
// Verify), rollout-approval, rollout-rollback (Rollback, Supersede) and
// rollout-finalize. They execute the planner's decisions (package rollout)
// against the Cell's listener, record every step in the Cell status and
// history, and return typed errors (errors.go) whose names the state
// machine's Retry and Catch match.
//
// It also owns the recovery the safety net and AcquireLease share (Recover:
// restore the snapshot of a rollout whose execution ended without
// releasing the lease), the notifier port, and EnsureRollout, which starts
// a rollout under the first unused attempt.
//
// It decides nothing itself: what to do next is rollout.Next's, whether to
// start is rollout.Evaluate's. It talks to AWS only through narrow ports
// (store, listener, discovery, executions, target groups, notifier), so
// tests use small fakes and the local gateway registers exactly the code
// Lambda runs.
package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// Store is the part of the DynamoDB store the handlers use; *store.Store
// satisfies it.
type Store interface {
	GetCell(ctx context.Context, name string) (store.CellRecord, error)
	GetCellAndStatus(ctx context.Context, name string) (store.CellRecord, store.StatusRecord, error)
	ListTemplates(ctx context.Context) ([]store.TemplateRecord, error)
	GetStatus(ctx context.Context, cellName string) (store.StatusRecord, error)
	AcquireLease(ctx context.Context, cellName, executionARN string, isRunning store.ExecutionRunning) (store.Lease, error)
	UpdateStatus(ctx context.Context, cellName, executionARN string, update func(*rollout.Status) error) (store.StatusRecord, error)
	UpdateStatusFrom(ctx context.Context, cellName, executionARN string, read *store.StatusRecord, update func(*rollout.Status) error) (store.StatusRecord, error)
	ReleaseLease(ctx context.Context, cellName, executionARN string) error
	AppendEvent(ctx context.Context, cellName string, ev store.Event) (store.Event, error)
	ListEvents(ctx context.Context, cellName string, limit int, newestFirst bool) ([]store.Event, error)
	Block(ctx context.Context, cellName string, b rollout.Block) (bool, error)
	ListBlocked(ctx context.Context, cellName string) ([]rollout.Block, error)
}

var _ Store = (*store.Store)(nil)

// Discovery finds a Cell's target groups with their versions (ForCell,
// no health), and their health where a decision reads it (Health for the
// groups given, HealthForDecision for the planner's);
// *discovery.TargetGroups satisfies it.
type Discovery interface {
	ForCell(ctx context.Context, c *cell.Cell) (discovery.CellTargetGroups, error)
	Health(ctx context.Context, tgs []inventory.TargetGroup) ([]inventory.TargetGroup, error)
	HealthForDecision(ctx context.Context, c *cell.Cell, tgs []inventory.TargetGroup, fwd weights.Forward) ([]inventory.TargetGroup, error)
}

var _ Discovery = (*discovery.TargetGroups)(nil)

// Executions starts rollout executions and asks about them. SFNExecutions
// adapts the executions package; the state machine ARN is a parameter of
// Start so that the handlers can take it from their own execution's ARN
// (see StateMachineOf).
type Executions interface {
	// Start starts the execution for in, or finds it already there
	// (started false).
	Start(ctx context.Context, stateMachineARN string, in executions.Input) (arn string, started bool, err error)
	// Status returns RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED,
	// PENDING_REDRIVE, or "" when the execution does not exist.
	Status(ctx context.Context, executionARN string) (string, error)
}

// SFNExecutions implements Executions with the executions package over a
// Step Functions client.
type SFNExecutions struct {
	API    executions.API
	Logger *slog.Logger
}

// Start starts in as an execution of stateMachineARN (executions.Start).
func (s SFNExecutions) Start(ctx context.Context, stateMachineARN string, in executions.Input) (string, bool, error) {
	return executions.New(s.API, stateMachineARN, s.Logger).Start(ctx, in)
}

// Status returns the execution's status (executions.Status).
func (s SFNExecutions) Status(ctx context.Context, executionARN string) (string, error) {
	return executions.New(s.API, "", s.Logger).Status(ctx, executionARN)
}

// TargetGroupDeleter deletes a target group okra created, refusing (with
// *targetgroups.DeleteRefusedError) while its cluster exists or a listener
// still forwards to it; *targetgroups.Manager satisfies it.
type TargetGroupDeleter interface {
	Delete(ctx context.Context, arn string) error
}

// AnalysisStarter turns an analysis step (or the Cell's background
// analysis) into the analysis state the state machine carries:
// {"background", "stepIndex", "providers": {"cloudWatch", "datadog"},
// "phase", "message", "waitSeconds", "run"}. StartBackground returns phase
// "Stopped" when the Cell has no background analysis. Package checks
// implements it.
type AnalysisStarter interface {
	Start(ctx context.Context, cellName, executionARN string, action rollout.Action) (json.RawMessage, error)
	StartBackground(ctx context.Context, cellName, executionARN string) (json.RawMessage, error)
}

// Deps are what the handlers need. Store, Listener, Discovery and
// Executions are required.
type Deps struct {
	Store      Store
	Listener   listener.Controller
	Discovery  Discovery
	Executions Executions
	// TargetGroups deletes the old version's target groups after Finalize
	// (best effort); nil skips the cleanup.
	TargetGroups TargetGroupDeleter
	// Analysis starts analysis runs; nil means analysis steps fail (and
	// roll back) and only Cells without background analysis can roll.
	Analysis AnalysisStarter
	// Notifier is told about rollbacks, supersedes and finalized rollouts;
	// nil logs them only.
	Notifier Notifier
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Handlers are the rollout state machine's task handlers.
type Handlers struct {
	store    Store
	listener listener.Controller
	discover Discovery
	execs    Executions
	tgs      TargetGroupDeleter
	analysis AnalysisStarter
	notifier Notifier
	now      func() time.Time
	log      *slog.Logger
}

// New returns the handlers over deps.
func New(deps Deps) (*Handlers, error) {
	var missing []string
	if deps.Store == nil {
		missing = append(missing, "Store")
	}
	if deps.Listener == nil {
		missing = append(missing, "Listener")
	}
	if deps.Discovery == nil {
		missing = append(missing, "Discovery")
	}
	if deps.Executions == nil {
		missing = append(missing, "Executions")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("steps: missing dependencies %v", missing)
	}
	h := &Handlers{
		store: deps.Store, listener: deps.Listener, discover: deps.Discovery, execs: deps.Executions,
		tgs: deps.TargetGroups, analysis: deps.Analysis, notifier: deps.Notifier, now: deps.Now, log: deps.Logger,
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.notifier == nil {
		h.notifier = LogNotifier{Logger: h.log}
	}
	return h, nil
}

// ActionStart is the kind of the action AcquireLease returns: the rollout
// took the lease and NextStep runs the first step.
const ActionStart rollout.ActionKind = "Start"

// specError says the stored Cell spec cannot be used: missing, not
// decodable or invalid.
type specError struct {
	cell   string
	reason string
	err    error
}

func (e *specError) Error() string { return e.reason }
func (e *specError) Unwrap() error { return e.err }

// loadCell reads the Cell spec, decoded and defaulted. With validate it is
// also validated (shared templates included); a missing, undecodable or
// invalid spec is a *specError. Restoring weights needs only the ingress,
// so rollback paths load without validating: a broken analysis template
// must not stop a rollback.
func (h *Handlers) loadCell(ctx context.Context, name string, validate bool) (*cell.Cell, int64, error) {
	rec, err := h.store.GetCell(ctx, name)
	return h.decodeCell(ctx, name, rec, err, validate)
}

// decodeCell is loadCell on a spec already read (rec, err: what GetCell
// returned).
func (h *Handlers) decodeCell(ctx context.Context, name string, rec store.CellRecord, err error, validate bool) (*cell.Cell, int64, error) {
	var nf *store.NotFoundError
	if errors.As(err, &nf) {
		return nil, 0, &specError{cell: name, reason: fmt.Sprintf("Cell %q has no stored spec", name), err: err}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("loading Cell %q, %w", name, err)
	}
	if rec.DecodeErr != nil || rec.Cell == nil {
		return nil, 0, &specError{cell: name, reason: fmt.Sprintf("the stored spec of Cell %q cannot be decoded: %v", name, rec.DecodeErr), err: rec.DecodeErr}
	}
	c := rec.Cell
	if validate {
		lookup, err := h.sharedTemplates(ctx, c)
		if err != nil {
			return nil, 0, err
		}
		if err := cell.Validate(c, lookup); err != nil {
			return nil, 0, &specError{cell: name, reason: fmt.Sprintf("the stored spec of Cell %q is invalid: %v", name, err), err: err}
		}
	}
	c.Default()
	return c, rec.Revision, nil
}

// sharedTemplates returns the stored templates when c names a template it
// does not embed, else nil (no read).
func (h *Handlers) sharedTemplates(ctx context.Context, c *cell.Cell) (cell.TemplateLookup, error) {
	embedded := map[string]bool{}
	for _, t := range c.Spec.AnalysisTemplates {
		embedded[t.Metadata.Name] = true
	}
	needs := false
	check := func(a *cell.Analysis) {
		if a == nil {
			return
		}
		for _, ref := range a.Templates {
			if !embedded[ref.TemplateName] {
				needs = true
			}
		}
	}
	if canary := c.Spec.UpdateStrategy.Canary; canary != nil {
		for _, s := range canary.Steps {
			check(s.Analysis)
		}
		if canary.Analysis != nil {
			check(&canary.Analysis.Analysis)
		}
	}
	if !needs {
		return nil, nil
	}
	recs, err := h.store.ListTemplates(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing shared analysis templates, %w", err)
	}
	m := cell.TemplateMap{}
	for _, r := range recs {
		if r.Template != nil {
			m[r.Name] = r.Template
		}
	}
	return m, nil
}

// holding reads the status and returns it when executionARN holds the
// Cell's lease, else a *LeaseLostError.
func (h *Handlers) holding(ctx context.Context, cellName, executionARN string) (rollout.Status, error) {
	if cellName == "" || executionARN == "" {
		return rollout.Status{}, fmt.Errorf("input: cell (%q) and executionArn (%q) are required", cellName, executionARN)
	}
	rec, err := h.store.GetStatus(ctx, cellName)
	if err != nil {
		return rollout.Status{}, err
	}
	if rec.Status.ExecutionARN != executionARN {
		return rollout.Status{}, lost(cellName, executionARN, rec.Status)
	}
	return rec.Status, nil
}

// held is what a step handler reads first, in one call
// (store.GetCellAndStatus): the Cell's status, held by the handler's
// execution, and its stored spec.
type held struct {
	status  store.StatusRecord
	spec    store.CellRecord
	specErr error // a *store.NotFoundError when no spec is stored
}

// hold is holding that also reads the Cell's spec, in the same call;
// cellOf decodes it.
func (h *Handlers) hold(ctx context.Context, cellName, executionARN string) (held, error) {
	if cellName == "" || executionARN == "" {
		return held{}, fmt.Errorf("input: cell (%q) and executionArn (%q) are required", cellName, executionARN)
	}
	spec, rec, err := h.store.GetCellAndStatus(ctx, cellName)
	var nf *store.NotFoundError
	if err != nil && !errors.As(err, &nf) {
		return held{}, err
	}
	if rec.Status.ExecutionARN != executionARN {
		return held{}, lost(cellName, executionARN, rec.Status)
	}
	return held{status: rec, spec: spec, specErr: err}, nil
}

// cellOf decodes the spec hold read, as loadCell does.
func (h *Handlers) cellOf(ctx context.Context, cellName string, l held, validate bool) (*cell.Cell, error) {
	c, _, err := h.decodeCell(ctx, cellName, l.spec, l.specErr, validate)
	return c, err
}

func lost(cellName, executionARN string, st rollout.Status) *LeaseLostError {
	return &LeaseLostError{Cell: cellName, Execution: executionARN, Holder: st.ExecutionARN, Phase: string(st.Phase), Message: st.Message}
}

// event appends ev to the Cell's history. History is the audit trail, so a
// failure to write it fails the step (and Step Functions retries it).
func (h *Handlers) event(ctx context.Context, cellName string, ev store.Event) error {
	if ev.Time.IsZero() {
		ev.Time = h.now()
	}
	if _, err := h.store.AppendEvent(ctx, cellName, ev); err != nil {
		return fmt.Errorf("recording %s in the history of Cell %q, %w", ev.Type, cellName, err)
	}
	return nil
}

// recorded reports whether the Cell's recent history holds an event of
// type t by executionARN: how a retried final step (Rollback, Supersede,
// Finalize) recognizes that it already finished before its lease was
// released.
func (h *Handlers) recorded(ctx context.Context, cellName, executionARN string, t store.EventType) (bool, error) {
	evs, err := h.store.ListEvents(ctx, cellName, recentEvents, true)
	if err != nil {
		return false, fmt.Errorf("reading the history of Cell %q, %w", cellName, err)
	}
	for _, ev := range evs {
		if ev.Type == t && ev.Execution == executionARN {
			return true, nil
		}
	}
	return false, nil
}

// recentEvents bounds how far back recorded looks.
const recentEvents = 50
