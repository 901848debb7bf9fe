package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// executions is a fake Step Functions: which executions are RUNNING.
type executions struct {
	running map[string]bool
	asked   []string
	err     error
}

func (x *executions) isRunning(_ context.Context, arn string) (bool, error) {
	x.asked = append(x.asked, arn)
	if x.err != nil {
		return false, x.err
	}
	return x.running[arn], nil
}

const (
	execA = "arn:aws:states:us-east-1:123456789012:execution:okra-rollout:web-v2"
	execB = "arn:aws:states:us-east-1:123456789012:execution:okra-rollout:web-v3"
)

func TestLease(t *testing.T) {
	e := newEnv(t, store.Options{})
	s := e.store
	sfn := &executions{running: map[string]bool{execA: true, execB: true}}

	// No lease yet: A takes it.
	lease, err := s.AcquireLease(e.ctx, "web", execA, sfn.isRunning)
	if err != nil || lease.Reacquired || lease.TookOverFrom != "" || lease.Status.ExecutionARN != execA || lease.Revision != 1 {
		t.Fatalf("AcquireLease A = %+v, %v", lease, err)
	}
	if !lease.Status.LeaseAcquiredAt.Equal(e.clock.Now()) {
		t.Errorf("LeaseAcquiredAt = %v, want %v", lease.Status.LeaseAcquiredAt, e.clock.Now())
	}

	// B is refused while A runs.
	var held *store.LeaseHeldError
	if _, err := s.AcquireLease(e.ctx, "web", execB, sfn.isRunning); !errors.As(err, &held) || held.Holder != execA || held.Cell != "web" {
		t.Fatalf("AcquireLease B while A runs = %v, want *LeaseHeldError holder A", err)
	}
	if !reflect.DeepEqual(sfn.asked, []string{execA}) {
		t.Errorf("asked about %v, want only A", sfn.asked)
	}

	// A again (a Step Functions retry): granted, nothing written.
	again, err := s.AcquireLease(e.ctx, "web", execA, sfn.isRunning)
	if err != nil || !again.Reacquired || again.Revision != 1 {
		t.Fatalf("AcquireLease A again = %+v, %v; want reacquired at revision 1", again, err)
	}

	// Step Functions cannot be asked: B is refused, A keeps the lease.
	sfn.err = errors.New("throttled")
	if _, err := s.AcquireLease(e.ctx, "web", execB, sfn.isRunning); err == nil || !errors.Is(err, sfn.err) {
		t.Fatalf("AcquireLease B when DescribeExecution fails = %v, want that error", err)
	}
	sfn.err = nil

	// UpdateStatus by A records the rollout's snapshot.
	snapshot := weights.Forward{TargetGroups: []weights.TargetGroupWeight{{ARN: "tg-v1", Weight: 1}}, Stickiness: &weights.Stickiness{Enabled: true, DurationSeconds: 60}}
	rec, err := s.UpdateStatus(e.ctx, "web", execA, func(st *rollout.Status) error {
		st.Phase = rollout.PhaseProgressing
		st.StableVersion, st.CanaryVersion = "v1", "v2"
		st.Snapshot = &snapshot
		st.StepCount = 3
		return nil
	})
	if err != nil || rec.Revision != 2 {
		t.Fatalf("UpdateStatus A = %+v, %v", rec, err)
	}

	// A ends without releasing (crashed); B takes over.
	sfn.running[execA] = false
	e.clock.Set(e.clock.Now().Add(3 * time.Hour))
	lease, err = s.AcquireLease(e.ctx, "web", execB, sfn.isRunning)
	if err != nil || lease.TookOverFrom != execA || lease.Status.ExecutionARN != execB || lease.Revision != 3 {
		t.Fatalf("AcquireLease B after A ended = %+v, %v; want taken over from A", lease, err)
	}
	if !reflect.DeepEqual(lease.Status.Snapshot, &snapshot) || lease.Status.CanaryVersion != "v2" {
		t.Errorf("takeover lost the previous rollout's status: %+v", lease.Status)
	}

	// A can neither update nor release any more.
	var nh *store.NotHolderError
	if _, err := s.UpdateStatus(e.ctx, "web", execA, func(st *rollout.Status) error { st.StepIndex = 9; return nil }); !errors.As(err, &nh) || nh.Holder != execB {
		t.Fatalf("UpdateStatus by A after takeover = %v, want *NotHolderError holder B", err)
	}
	if err := s.ReleaseLease(e.ctx, "web", execA); !errors.As(err, &nh) || nh.Holder != execB {
		t.Fatalf("ReleaseLease by A = %v, want *NotHolderError holder B", err)
	}
	if got, _ := s.GetStatus(e.ctx, "web"); got.Status.ExecutionARN != execB || got.Status.StepIndex == 9 {
		t.Fatalf("status after refused writes = %+v", got)
	}

	// B releases; releasing again is a no-op; then B may not update.
	if err := s.ReleaseLease(e.ctx, "web", execB); err != nil {
		t.Fatalf("ReleaseLease B: %v", err)
	}
	if err := s.ReleaseLease(e.ctx, "web", execB); err != nil {
		t.Fatalf("ReleaseLease B again: %v", err)
	}
	got, err := s.GetStatus(e.ctx, "web")
	if err != nil || got.Status.Leased() || !got.Status.LeaseAcquiredAt.IsZero() || got.Revision != 4 {
		t.Fatalf("status after release = %+v, %v; want no lease at revision 4", got, err)
	}
	if got.Status.Phase != rollout.PhaseProgressing || !reflect.DeepEqual(got.Status.Snapshot, &snapshot) {
		t.Errorf("release changed the status: %+v", got.Status)
	}
	if _, err := s.UpdateStatus(e.ctx, "web", execB, func(*rollout.Status) error { return nil }); !errors.As(err, &nh) || nh.Holder != "" {
		t.Fatalf("UpdateStatus after release = %v, want *NotHolderError with no holder", err)
	}
}

func TestUpdateStatusLosesNoUpdate(t *testing.T) {
	e := newEnv(t, store.Options{})
	s := e.store
	running := func(context.Context, string) (bool, error) { return true, nil }
	if _, err := s.AcquireLease(e.ctx, "web", execA, running); err != nil {
		t.Fatalf("AcquireLease: %v", err)
	}
	calls := 0
	rec, err := s.UpdateStatus(e.ctx, "web", execA, func(st *rollout.Status) error {
		calls++
		if calls == 1 {
			// Another handler of the same execution writes in between.
			if _, err := s.UpdateStatus(e.ctx, "web", execA, func(st *rollout.Status) error {
				st.TaskToken = "token-1"
				return nil
			}); err != nil {
				t.Errorf("inner UpdateStatus: %v", err)
			}
		}
		st.StepIndex++
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
	if calls != 2 {
		t.Errorf("update ran %d times, want 2 (the first write must be refused)", calls)
	}
	if rec.Status.StepIndex != 1 || rec.Status.TaskToken != "token-1" || rec.Revision != 3 {
		t.Errorf("status = %+v rev %d; want both writes kept at revision 3", rec.Status, rec.Revision)
	}

	// An error from the update writes nothing; changing the holder is refused.
	boom := errors.New("boom")
	if _, err := s.UpdateStatus(e.ctx, "web", execA, func(*rollout.Status) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("UpdateStatus error = %v, want boom", err)
	}
	if _, err := s.UpdateStatus(e.ctx, "web", execA, func(st *rollout.Status) error { st.ExecutionARN = ""; return nil }); err == nil {
		t.Error("UpdateStatus let the update drop the lease")
	}
	if got, _ := s.GetStatus(e.ctx, "web"); got.Revision != 3 || got.Status.ExecutionARN != execA {
		t.Errorf("status after refused updates = %+v", got)
	}
}

func TestPutStatus(t *testing.T) {
	e := newEnv(t, store.Options{})
	s := e.store
	invalid := rollout.Status{Phase: rollout.PhaseInvalid, ValidationErrors: []string{"spec.replicas: must be 1 or 2"}}

	rev, err := s.PutStatus(e.ctx, "web", invalid, 0)
	if err != nil || rev != 1 {
		t.Fatalf("PutStatus new = %d, %v", rev, err)
	}
	got, err := s.GetStatus(e.ctx, "web")
	if err != nil || got.Revision != 1 || got.Status.Phase != rollout.PhaseInvalid || !reflect.DeepEqual(got.Status.ValidationErrors, invalid.ValidationErrors) {
		t.Fatalf("GetStatus = %+v, %v", got, err)
	}

	var se *store.StaleRevisionError
	var nh *store.NotHolderError
	tests := []struct {
		name     string
		status   rollout.Status
		expected int64
		check    func(error) bool
	}{
		{name: "create over existing", status: invalid, expected: 0, check: func(err error) bool { return errors.As(err, &se) && se.Current == 1 }},
		{name: "stale revision", status: invalid, expected: 7, check: func(err error) bool { return errors.As(err, &se) && se.Expected == 7 && se.Current == 1 }},
		{name: "cannot take a lease", status: rollout.Status{Phase: rollout.PhaseProgressing, ExecutionARN: execA}, expected: 1, check: func(err error) bool { return errors.As(err, &nh) && nh.Holder == "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.PutStatus(e.ctx, "web", tt.status, tt.expected); !tt.check(err) {
				t.Fatalf("PutStatus = %v", err)
			}
		})
	}

	// While A holds the lease, PutStatus must carry A as holder.
	running := func(context.Context, string) (bool, error) { return true, nil }
	lease, err := s.AcquireLease(e.ctx, "web", execA, running)
	if err != nil {
		t.Fatalf("AcquireLease: %v", err)
	}
	if _, err := s.PutStatus(e.ctx, "web", invalid, lease.Revision); !errors.As(err, &nh) || nh.Holder != execA {
		t.Fatalf("PutStatus dropping the lease = %v, want *NotHolderError holder A", err)
	}
	keep := lease.Status
	keep.Message = "spec changed"
	if rev, err := s.PutStatus(e.ctx, "web", keep, lease.Revision); err != nil || rev != lease.Revision+1 {
		t.Fatalf("PutStatus keeping the lease = %d, %v", rev, err)
	}
	if got, _ := s.GetStatus(e.ctx, "web"); got.Status.ExecutionARN != execA || got.Status.Message != "spec changed" {
		t.Errorf("status = %+v", got.Status)
	}
}

func TestGetStatusOfNewCell(t *testing.T) {
	e := newEnv(t, store.Options{})
	got, err := e.store.GetStatus(e.ctx, "new")
	if err != nil || got.Revision != 0 || got.Status.Leased() || got.Status.Phase != "" {
		t.Fatalf("GetStatus of a Cell without status = %+v, %v; want zero", got, err)
	}
}

func TestConcurrentAcquireGrantsOneLease(t *testing.T) {
	e := newEnv(t, store.Options{})
	running := func(context.Context, string) (bool, error) { return true, nil }
	const n = 5
	errs := make([]error, n)
	done := make(chan struct{})
	for i := 0; i < n; i++ {
		go func(i int) {
			defer func() { done <- struct{}{} }()
			_, errs[i] = e.store.AcquireLease(e.ctx, "web", fmt.Sprintf("%s-%d", execA, i), running)
		}(i)
	}
	for i := 0; i < n; i++ {
		<-done
	}
	winners := 0
	for i, err := range errs {
		var held *store.LeaseHeldError
		switch {
		case err == nil:
			winners++
		case errors.As(err, &held):
		default:
			t.Errorf("AcquireLease %d: %v", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d executions got the lease, want 1 (errors: %v)", winners, errs)
	}
}
