package e2e

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/gate"
	"github.com/okrahq/okra/internal/safetynet"
	"github.com/okrahq/okra/internal/store"
)

// concurrentGates runs op on n gates at once, each acting as its own
// user ("user-0" ...), released together, and returns each one's error
// by actor.
func (f *fixture) concurrentGates(n int, op func(*gate.Gate) (gate.Result, error)) map[string]error {
	f.t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	owners, err := safetynet.NewOwners(f.okra.Handlers, f.sfn, quiet)
	if err != nil {
		f.t.Fatal(err)
	}
	gates := map[string]*gate.Gate{}
	for i := range n {
		actor := fmt.Sprintf("user-%d", i)
		g, err := gate.New(gate.Deps{Store: f.okra.Store, SFN: f.sfn, StateMachineARN: f.okra.StateMachineARN, Actor: actor, Owners: owners, Logger: quiet})
		if err != nil {
			f.t.Fatal(err)
		}
		gates[actor] = g
	}
	var (
		mu   sync.Mutex
		errs = map[string]error{}
		wg   sync.WaitGroup
		go_  = make(chan struct{})
	)
	for actor, g := range gates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-go_
			_, err := op(g)
			mu.Lock()
			errs[actor] = err
			mu.Unlock()
		}()
	}
	close(go_)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one caller succeeded and that every other
// was told who won (by name) and when, with an error saying so; it
// returns the winner.
func (f *fixture) oneWinner(errs map[string]error, verb string) string {
	f.t.Helper()
	winner := ""
	for actor, err := range errs {
		if err == nil {
			if winner != "" {
				f.t.Fatalf("both %s and %s %s the rollout", winner, actor, verb)
			}
			winner = actor
		}
	}
	if winner == "" {
		f.t.Fatalf("nobody %s the rollout: %v", verb, errs)
	}
	for actor, err := range errs {
		if actor == winner {
			continue
		}
		var claimed *gate.ClaimedError
		var notWaiting *gate.NotWaitingError
		var noRollout *gate.NoRolloutError
		if !errors.As(err, &claimed) && !errors.As(err, &notWaiting) && !errors.As(err, &noRollout) {
			f.t.Errorf("%s: %v, want a ClaimedError (or nothing waiting)", actor, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, verb+" by "+winner+" at ") && !strings.Contains(msg, verb+" by "+winner+" since ") {
			f.t.Errorf("%s was told %q: it does not name the winner %s and when", actor, msg, winner)
		}
	}
	return winner
}

func (f *fixture) count(kind store.EventType, execution string) int {
	n := 0
	for _, ev := range f.events() {
		if ev.Type == kind && ev.Execution == execution {
			n++
		}
	}
	return n
}

// TestConcurrentPromotesOneWins: five promotes of one approval at once:
// one answers it, the other four are told who did and when, one Promoted
// event, and the rollout completes.
func TestConcurrentPromotesOneWins(t *testing.T) {
	t.Parallel()
	f := newFixture(t, canary(50, "pause"), time.Second, map[string]bool{"v1": true, "v2": true})
	m := f.monitor()
	defer m.assertClean()
	arn := f.start("v2", 1)
	f.waitPaused(arn)
	errs := f.concurrentGates(5, func(g *gate.Gate) (gate.Result, error) { return g.Promote(f.ctx, f.name) })
	winner := f.oneWinner(errs, "promoted")
	f.wait(arn, sfntypes.ExecutionStatusSucceeded, 30*time.Second)
	if n := f.count(store.EventPromoted, arn); n != 1 {
		t.Errorf("%d Promoted events, want 1\n%s", n, f.dump(arn))
	}
	for _, ev := range f.events() {
		if ev.Type == store.EventPromoted && ev.Details["actor"] != winner {
			t.Errorf("the Promoted event names %q, want the winner %s", ev.Details["actor"], winner)
		}
	}
}

// TestConcurrentAbortsOneWins: five aborts at once, while the rollout
// waits for approval and while it is in a timed pause: one aborts, the
// others are told who did and when, one Aborted event.
func TestConcurrentAbortsOneWins(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		pause  any
		ended  sfntypes.ExecutionStatus
		paused func(*fixture, string)
	}{
		{"awaiting approval", "pause", sfntypes.ExecutionStatusFailed, func(f *fixture, arn string) { f.waitPaused(arn) }},
		{"timed pause", time.Minute, sfntypes.ExecutionStatusAborted, func(f *fixture, arn string) {
			f.waitFor(arn, "the timed pause", 30*time.Second, func() (bool, string) {
				st := f.status()
				return st.StepIndex == 1 && st.PausedUntil != nil, string(st.Phase) + ": " + st.Message
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, canary(30, tc.pause, 60), time.Second, map[string]bool{"v1": true, "v2": true})
			m := f.monitor()
			defer m.assertClean()
			arn := f.start("v2", 1)
			tc.paused(f, arn)
			errs := f.concurrentGates(5, func(g *gate.Gate) (gate.Result, error) { return g.Abort(f.ctx, f.name, "concurrent abort") })
			f.oneWinner(errs, "aborted")
			out := f.wait(arn, tc.ended, 30*time.Second)
			if n := f.count(store.EventAborted, arn); n != 1 {
				t.Errorf("%d Aborted events, want 1\n%s", n, f.dump(arn))
			}
			if tc.ended == sfntypes.ExecutionStatusAborted {
				if _, err := f.okra.SafetyNet.Handle(f.ctx, f.statusChange("sfn-execution-aborted.json", out)); err != nil {
					t.Fatalf("safety net: %v", err)
				}
			}
			f.waitFor(arn, "the rollback", 30*time.Second, func() (bool, string) {
				st := f.status()
				return !st.Leased(), string(st.Phase) + ": " + st.Message
			})
			if got := f.forward(); got.Total() == 0 || len(got.TargetGroups) != 1 || got.TargetGroups[0].ARN != f.groups["v1"].ARN {
				t.Errorf("listener after the abort: %s, want the snapshot", f.describe(got))
			}
		})
	}
}
