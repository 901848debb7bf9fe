package onboarding

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/events"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
)

// TriggerConfigChange names the config-change function in execution
// inputs and logs.
const TriggerConfigChange = "config-change"

// ConfigChange is the config-change function's handler: one batch of the
// table's DynamoDB stream. For each Cell spec written (the latest record
// per Cell in the batch):
//   - an invalid spec (strict decoding, defaults, validation against the
//     shared analysis templates) is recorded on the Cell's status, phase
//     Invalid with every problem, and nothing else changes; while a
//     rollout holds the lease the status is left to it and a SpecInvalid
//     event is recorded instead;
//   - a spec whose ingress AWS does not have as written (no such
//     listener, a listener of the other type, a rule priority taken by a
//     rule that is not the Cell's) is invalid the same way, with the
//     field and the reason; nothing changes in AWS;
//   - a valid spec is recorded in the history, once per revision, as a
//     SpecApplied event "revision N: <what changed>" (cell.Summary of
//     the stream's old and new images): this handler sees every write,
//     `okra cell apply` and console edits alike, so it is where the
//     history of applies is written;
//   - a valid spec that changes the ingress while a rollout holds the
//     lease (a console edit: `okra cell apply` refuses it) is recorded as
//     a SpecIngressHeld event naming the rollout, and not reconciled: the
//     rollout keeps routing where it started (its status' snapshot), and
//     the reconcile after it ends applies the new ingress;
//   - any other valid spec reconciles that Cell: a target group for each
//     matching ACTIVE cluster, the clusters' ArgoCD secrets and registry
//     entries, then an evaluation.
//
// A deleted spec is logged; its status, history and target groups are
// kept. A record older than the stored spec is skipped (the newer one has
// a record of its own). Malformed records are logged and acknowledged.
// Records that failed transiently are reported as batch item failures (the
// event source mapping must enable ReportBatchItemFailures), so only they
// and the records after them are delivered again.
func (o *Onboarder) ConfigChange(ctx context.Context, ev lambdaevents.DynamoDBEvent) (lambdaevents.DynamoDBEventResponse, error) {
	var resp lambdaevents.DynamoDBEventResponse
	changes, err := events.ParseSpecChanges(ev)
	if err != nil {
		var bad events.RecordErrors
		if errors.As(err, &bad) {
			for _, e := range bad {
				o.log.ErrorContext(ctx, "malformed stream record; acknowledging it without acting",
					"index", e.Index, "eventId", e.EventID, "sequenceNumber", e.SequenceNumber, "error", e.Err)
			}
		} else {
			o.log.ErrorContext(ctx, "malformed stream batch; acknowledging it without acting", "error", err)
		}
	}
	latest := map[string]int{}
	for i, ch := range changes {
		latest[ch.Cell] = i
	}
	var lookup cell.TemplateLookup
	var lookupErr error
	loaded := false
	for i, ch := range changes {
		log := o.log.With("cell", ch.Cell, "revision", ch.Revision, "sequenceNumber", ch.SequenceNumber)
		if latest[ch.Cell] != i {
			log.InfoContext(ctx, "skipping spec change: a later record of the same batch supersedes it")
			continue
		}
		if ch.Kind == events.SpecDeleted {
			log.InfoContext(ctx, "Cell spec deleted; its status, history and target groups are kept")
			continue
		}
		if !loaded {
			lookup, lookupErr = o.loadTemplates(ctx)
			loaded = true
		}
		err := lookupErr
		if err == nil {
			err = o.applySpec(ctx, ch, lookup)
		}
		if err != nil {
			log.ErrorContext(ctx, "spec change failed; reporting it for retry", "error", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, lambdaevents.DynamoDBBatchItemFailure{ItemIdentifier: ch.SequenceNumber})
		}
	}
	return resp, nil
}

// applySpec validates one written spec and reconciles its Cell.
func (o *Onboarder) applySpec(ctx context.Context, ch events.SpecChange, lookup cell.TemplateLookup) error {
	op := fmt.Sprintf("applying Cell %s revision %d", ch.Cell, ch.Revision)
	r := newRun(TriggerConfigChange)
	stored, err := o.cells.GetCell(ctx, ch.Cell)
	var notFound *store.NotFoundError
	switch {
	case errors.As(err, &notFound):
		o.log.InfoContext(ctx, "Cell spec was deleted since; skipping the change", "cell", ch.Cell, "revision", ch.Revision)
		return nil
	case err != nil:
		return transient(op, err)
	case ch.Revision != 0 && stored.Revision > ch.Revision:
		o.log.InfoContext(ctx, "a newer spec is stored; its own stream record applies it", "cell", ch.Cell, "revision", ch.Revision, "stored", stored.Revision)
		return nil
	}
	c, verr := prepareCell(ch.Cell, []byte(ch.Spec), lookup)
	if verr == nil {
		verr = o.checkIngress(ctx, ch.Cell, c)
		var bad *listener.IngressError
		if verr != nil && !errors.As(verr, &bad) {
			return transient(op, verr)
		}
		if bad != nil {
			verr = &cell.ValidationError{Problems: []cell.Problem{{Field: bad.Field, Reason: bad.Reason}}}
		}
	}
	if verr != nil {
		o.recordInvalid(ctx, r, ch.Cell, ch.Revision, verr, true)
		return r.f.err(op)
	}
	held, err := o.recordApplied(ctx, r, ch, c)
	if err != nil {
		return transient(op, err)
	}
	if held {
		// A rollout runs and the ingress changed: reconciling now would
		// create target groups or a rule where the rollout does not route.
		// The reconcile after the rollout ends applies the change.
		o.logProblems(ctx, r, op)
		return r.f.err(op)
	}
	lc := loadedCell{name: ch.Cell, revision: ch.Revision, cell: c}
	clusters, err := o.clusters.List(ctx)
	if err != nil {
		return transient(op, err)
	}
	scope := []loadedCell{lc}
	for _, cl := range clusters {
		if cl.Status == statusActive {
			o.syncCluster(ctx, r, cl, scope, nil)
		}
	}
	o.evaluate(ctx, r, lc, membershipFromClusters(clusters, scope))
	o.logProblems(ctx, r, op)
	return r.f.err(op)
}

// ingressChecker is the part of *listener.Client that checks an ingress
// against AWS. The Listener dependency is asserted to it, so test fakes
// of listener.Controller need not implement it (they then skip the check).
type ingressChecker interface {
	CheckIngress(ctx context.Context, cellName string, ing cell.Ingress) error
}

// checkIngress checks c's ingress against AWS when the listener
// dependency can: an *listener.IngressError for a bad ingress, another
// error when the check could not be made.
func (o *Onboarder) checkIngress(ctx context.Context, name string, c *cell.Cell) error {
	ic, ok := o.listener.(ingressChecker)
	if !ok {
		return nil
	}
	return ic.CheckIngress(ctx, name, c.Spec.Ingress)
}

// specEventLookback is how many recent history events are searched for an
// earlier event of the same revision (a redelivered stream record).
const specEventLookback = 50

// recordApplied writes the SpecApplied event of a valid revision once,
// with the fields that changed since the previous revision, and, when the
// ingress changed while a rollout holds the lease, a SpecIngressHeld event.
// It reports whether the change is held.
func (o *Onboarder) recordApplied(ctx context.Context, r *run, ch events.SpecChange, c *cell.Cell) (bool, error) {
	rev := strconv.FormatInt(ch.Revision, 10)
	changes, summary := specChanges(ch.Revision, ch.OldSpec, c)
	status, err := o.status.GetStatus(ctx, ch.Cell)
	if err != nil {
		return false, fmt.Errorf("reading the status of Cell %s, %w", ch.Cell, err)
	}
	st := status.Status
	held := st.Leased() && cell.TouchesIngress(changes)
	recent, err := o.status.ListEvents(ctx, ch.Cell, specEventLookback, true)
	if err != nil {
		return false, fmt.Errorf("reading the recent history of Cell %s, %w", ch.Cell, err)
	}
	seen := map[store.EventType]bool{}
	for _, e := range recent {
		if e.Details["revision"] == rev {
			seen[e.Type] = true
		}
	}
	write := func(ev store.Event) {
		if seen[ev.Type] {
			return
		}
		if _, err := o.status.AppendEvent(ctx, ch.Cell, ev); err != nil {
			r.f.add("Cell "+ch.Cell+": recording the "+string(ev.Type)+" event", err)
		}
	}
	write(store.Event{
		Type: store.EventSpecApplied, Message: fmt.Sprintf("revision %d: %s", ch.Revision, summary),
		Details: map[string]string{"revision": rev},
	})
	if held {
		msg := ingressHeldMessage(ch.Revision, st)
		o.log.WarnContext(ctx, "Cell ingress changed while a rollout runs; the rollout keeps its ingress", "cell", ch.Cell, "revision", ch.Revision, "execution", st.ExecutionARN)
		write(store.Event{
			Type: store.EventSpecIngressHeld, Execution: st.ExecutionARN, Version: st.CanaryVersion, Message: msg,
			Details: map[string]string{"revision": rev, "stepIndex": strconv.Itoa(st.StepIndex)},
		})
	}
	return held, nil
}

// specChanges diffs the previous spec (as stored, "" when unknown) with
// the new defaulted Cell, both defaulted, and summarises it on one line.
func specChanges(rev int64, oldSpec string, c *cell.Cell) ([]cell.Change, string) {
	switch {
	case oldSpec == "" && rev <= 1:
		return nil, "created"
	case oldSpec == "":
		return nil, "the previous revision is not in the stream record; no diff"
	}
	old, err := cell.Decode([]byte(oldSpec))
	if err != nil {
		return nil, "the previous revision does not decode; no diff"
	}
	old.Default()
	changes, err := cell.Diff(old, c)
	if err != nil {
		return nil, "no diff: " + err.Error()
	}
	return changes, cell.Summary(changes)
}

// ingressHeldMessage names the rollout that keeps the old ingress.
func ingressHeldMessage(rev int64, st rollout.Status) string {
	return fmt.Sprintf("revision %d changes the ingress while rollout %s of %s runs (%s): the rollout keeps routing where it started; the new ingress applies after it ends",
		rev, executions.NameOf(st.ExecutionARN), st.CanaryVersion, rollout.StepText(st.StepIndex, st.StepCount))
}
