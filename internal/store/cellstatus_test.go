package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
)

// GetCellAndStatus reads the spec and the status in one Query, whatever
// else the Cell's partition holds (events, blocks); UpdateStatusFrom spares
// the read when the record given is current and reads again when it is
// stale.
func TestGetCellAndStatusAndUpdateStatusFrom(t *testing.T) {
	e := newEnv(t, store.Options{})
	cfg, counter := testenv.AWS(t)
	s := store.New(cfg.DynamoDB(), e.table, store.Options{Now: e.clock.Now})
	ctx := e.ctx

	if _, st, err := s.GetCellAndStatus(ctx, "web"); !errors.As(err, new(*store.NotFoundError)) || st.Revision != 0 {
		t.Fatalf("GetCellAndStatus of a Cell never stored = %+v, %v; want no status and a *NotFoundError", st, err)
	}
	if _, err := e.store.PutCell(ctx, testCell("web", "web.example.com"), 0); err != nil {
		t.Fatal(err)
	}
	running := func(context.Context, string) (bool, error) { return true, nil }
	if _, err := e.store.AcquireLease(ctx, "web", execA, running); err != nil {
		t.Fatalf("AcquireLease: %v", err)
	}
	for i := 0; i < 3; i++ {
		if _, err := e.store.AppendEvent(ctx, "web", store.Event{Type: store.EventPaused, Message: "between"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.store.Block(ctx, "web", rollout.Block{Version: "v9", Reason: "test"}); err != nil {
		t.Fatal(err)
	}

	counter.Reset()
	spec, rec, err := s.GetCellAndStatus(ctx, "web")
	if err != nil {
		t.Fatalf("GetCellAndStatus: %v", err)
	}
	if spec.Cell == nil || spec.Cell.Metadata.Name != "web" || spec.Revision != 1 {
		t.Errorf("spec = %+v, want Cell web at revision 1", spec)
	}
	if rec.Status.ExecutionARN != execA || rec.Revision != 1 {
		t.Errorf("status = %+v rev %d, want held by %s at revision 1", rec.Status, rec.Revision, execA)
	}
	if got := counter.Snapshot(); got["DynamoDB.Query"] != 1 || counter.Total() != 1 {
		t.Errorf("GetCellAndStatus calls = %v, want one Query", got)
	}

	// From a current record: one write, no read.
	counter.Reset()
	rec, err = s.UpdateStatusFrom(ctx, "web", execA, &rec, func(st *rollout.Status) error { st.StepIndex = 1; return nil })
	if err != nil || rec.Revision != 2 {
		t.Fatalf("UpdateStatusFrom = rev %d, %v; want revision 2", rec.Revision, err)
	}
	if got := counter.Snapshot(); got["DynamoDB.PutItem"] != 1 || counter.Total() != 1 {
		t.Errorf("UpdateStatusFrom a current record made %v, want one PutItem", got)
	}

	// From a stale record: refused, read again, applied to the fresh status.
	stale := rec
	if _, err := s.UpdateStatus(ctx, "web", execA, func(st *rollout.Status) error { st.TaskToken = "token"; return nil }); err != nil {
		t.Fatal(err)
	}
	rec, err = s.UpdateStatusFrom(ctx, "web", execA, &stale, func(st *rollout.Status) error { st.StepIndex = 2; return nil })
	if err != nil {
		t.Fatalf("UpdateStatusFrom a stale record: %v", err)
	}
	if rec.Revision != 4 || rec.Status.StepIndex != 2 || rec.Status.TaskToken != "token" {
		t.Errorf("status = %+v rev %d, want step 2 and the token kept at revision 4", rec.Status, rec.Revision)
	}
	// A record of another holder does not let the write through.
	if _, err := s.UpdateStatusFrom(ctx, "web", "arn:other", &rec, func(*rollout.Status) error { return nil }); !errors.As(err, new(*store.NotHolderError)) {
		t.Errorf("UpdateStatusFrom by a non-holder: %v, want *NotHolderError", err)
	}
}
