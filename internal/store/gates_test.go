package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/store"
)

// TestClaimGateIsExclusive: of concurrent claims of one gate exactly one
// wins (one conditional write against moto); the others are told whose
// claim it is. A released claim can be taken again, a completed one
// never, and an unconfirmed one only once it is stale.
func TestClaimGateIsExclusive(t *testing.T) {
	e := newEnv(t, store.Options{})
	const n = 8
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		wins   []store.GateClaim
		losers []*store.GateClaimedError
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := e.store.ClaimGate(e.ctx, "web", store.GateClaim{Key: "approval#web--v2--1#abc", Action: "promote", Actor: fmt.Sprintf("user-%d", i), ID: fmt.Sprint(i)}, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			var taken *store.GateClaimedError
			switch {
			case err == nil:
				wins = append(wins, c)
			case errors.As(err, &taken):
				losers = append(losers, taken)
			default:
				t.Errorf("ClaimGate: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(wins) != 1 || len(losers) != n-1 {
		t.Fatalf("%d claims won, %d lost; want 1 and %d", len(wins), len(losers), n-1)
	}
	won := wins[0]
	for _, l := range losers {
		if l.Claim.Actor != won.Actor || l.Claim.ID != won.ID || !l.Claim.At.Equal(won.At) || l.Claim.Done {
			t.Errorf("a loser was told %+v, want the winner's claim %+v", l.Claim, won)
		}
	}

	other := store.GateClaim{Key: won.Key, Action: "abort", Actor: "late", ID: "late"}
	// Unconfirmed and fresh: kept.
	if _, err := e.store.ClaimGate(e.ctx, "web", other, time.Minute); err == nil {
		t.Fatal("a fresh unconfirmed claim was taken over")
	}
	// Released: free again.
	if err := e.store.ReleaseGate(e.ctx, "web", won); err != nil {
		t.Fatal(err)
	}
	again, err := e.store.ClaimGate(e.ctx, "web", other, time.Minute)
	if err != nil {
		t.Fatalf("claiming a released gate: %v", err)
	}
	// Releasing someone else's claim does nothing.
	if err := e.store.ReleaseGate(e.ctx, "web", won); err != nil {
		t.Fatal(err)
	}
	latest, ok, err := e.store.LatestGate(e.ctx, "web", "approval#web--v2--1#")
	if err != nil || !ok || latest.ID != "late" {
		t.Fatalf("LatestGate: %+v %t %v, want the late claim", latest, ok, err)
	}
	// Stale (the clock moves past staleAfter): taken over.
	e.clock.Set(e.clock.Now().Add(2 * time.Minute))
	stale := store.GateClaim{Key: won.Key, Action: "promote", Actor: "rescuer", ID: "rescuer"}
	rescued, err := e.store.ClaimGate(e.ctx, "web", stale, time.Minute)
	if err != nil {
		t.Fatalf("taking over a stale claim: %v", err)
	}
	// Completed: final, even when old.
	if err := e.store.CompleteGate(e.ctx, "web", rescued); err != nil {
		t.Fatal(err)
	}
	// CompleteGate of a claim that is no longer ours changes nothing.
	if err := e.store.CompleteGate(e.ctx, "web", again); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(e.clock.Now().Add(time.Hour))
	_, err = e.store.ClaimGate(e.ctx, "web", store.GateClaim{Key: won.Key, Action: "promote", Actor: "x", ID: "x"}, time.Minute)
	var taken *store.GateClaimedError
	if !errors.As(err, &taken) || taken.Claim.Actor != "rescuer" || !taken.Claim.Done {
		t.Fatalf("claiming a completed gate: %v, want the rescuer's done claim", err)
	}
}
