package onboarding

import (
	"context"
	"errors"
	"fmt"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/events"
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
//   - a valid spec reconciles that Cell: a target group for each matching
//     ACTIVE cluster, the clusters' ArgoCD secrets and registry entries,
//     then an evaluation.
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
	if verr != nil {
		o.recordInvalid(ctx, r, ch.Cell, ch.Revision, verr, true)
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
