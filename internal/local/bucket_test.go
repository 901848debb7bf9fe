package local_test

import (
	"testing"
	"time"

	"github.com/okrahq/okra/internal/local"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newBudget(t *testing.T) (*local.ELBBudget, *local.ManualClock) {
	t.Helper()
	clock := local.NewManualClock(epoch)
	return local.NewAWSELBBudget(clock), clock
}

// takeAll draws n tokens for op and returns how many were admitted.
func takeAll(b *local.ELBBudget, op, spender string, n int) int {
	ok := 0
	for range n {
		if b.Take(op, spender) {
			ok++
		}
	}
	return ok
}

func TestELBBudgetBurstIsTheDocumentedBucket(t *testing.T) {
	b, _ := newBudget(t)
	if got := takeAll(b, "DescribeTargetGroups", local.SpenderOkra, 100); got != 40 {
		t.Fatalf("admitted %d Describe* calls at once, want the bucket's 40", got)
	}
	// The mutating bucket is separate: a spent Describe* bucket leaves it full.
	if got := takeAll(b, "ModifyListener", local.SpenderOkra, 100); got != local.ELBMutateLimits.Burst {
		t.Fatalf("admitted %d mutating calls at once, want %d", got, local.ELBMutateLimits.Burst)
	}
	s := b.Spent(local.SpenderOkra)
	if s.Admitted != 40+local.ELBMutateLimits.Burst || s.Throttled != 200-s.Admitted {
		t.Fatalf("okra spent %+v", s)
	}
}

func TestELBBudgetRefillsTenASecondUpToTheBurst(t *testing.T) {
	b, clock := newBudget(t)
	takeAll(b, "DescribeListeners", local.SpenderOkra, 40)
	if b.Take("DescribeListeners", local.SpenderOkra) {
		t.Fatal("an empty bucket admitted a call")
	}
	clock.Advance(500 * time.Millisecond)
	if got := takeAll(b, "DescribeListeners", local.SpenderOkra, 20); got != 5 {
		t.Fatalf("half a second refilled %d tokens, want 5", got)
	}
	clock.Advance(time.Hour)
	if got := b.Tokens(local.BucketDescribe); got != 40 {
		t.Fatalf("an hour later the bucket holds %v tokens, want its size 40", got)
	}
	// Steady state: one call every 100 ms is sustainable, a second one is not.
	takeAll(b, "DescribeListeners", local.SpenderOkra, 40)
	for i := range 50 {
		clock.Advance(100 * time.Millisecond)
		if !b.Take("DescribeRules", local.SpenderOkra) {
			t.Fatalf("call %d at 10/s was throttled", i)
		}
		if b.Take("DescribeRules", local.SpenderOkra) {
			t.Fatalf("call %d beyond 10/s was admitted", i)
		}
	}
}

func TestELBBudgetIsSharedBySpenders(t *testing.T) {
	b, _ := newBudget(t)
	if got := takeAll(b, "DescribeTags", local.SpenderOther, 30); got != 30 {
		t.Fatalf("other: admitted %d of 30", got)
	}
	if got := takeAll(b, "DescribeTags", local.SpenderOkra, 30); got != 10 {
		t.Fatalf("okra got %d calls from a bucket another caller left 10 in", got)
	}
	stats := b.Stats()
	want := []local.SpendStats{
		{Spender: local.SpenderOkra, Bucket: local.BucketDescribe, Admitted: 10, Throttled: 20},
		{Spender: local.SpenderOther, Bucket: local.BucketDescribe, Admitted: 30},
	}
	if len(stats) != len(want) || stats[0] != want[0] || stats[1] != want[1] {
		t.Fatalf("stats %+v, want %+v", stats, want)
	}
}

func TestELBBudgetForeignControllerSpendsItsRate(t *testing.T) {
	b, clock := newBudget(t)
	if err := b.SetForeign(local.BucketDescribe, 5); err != nil {
		t.Fatal(err)
	}
	// Alone, 5 calls a second never empty a bucket refilled 10 a second.
	clock.Advance(10 * time.Second)
	f := b.Spent(local.SpenderForeign)
	if f.Admitted != 51 || f.Throttled != 0 { // calls at 0, 0.2 s, ... 10 s
		t.Fatalf("foreign after 10 s: %+v, want 51 admitted", f)
	}
	// It leaves okra the other 5 a second: okra draining the bucket and
	// then calling 5 a second keeps both whole...
	takeAll(b, "DescribeTargetHealth", local.SpenderOkra, int(b.Tokens(local.BucketDescribe)))
	b.ResetStats()
	for range 100 {
		clock.Advance(200 * time.Millisecond)
		b.Take("DescribeTargetHealth", local.SpenderOkra)
	}
	if f, o := b.Spent(local.SpenderForeign), b.Spent(local.SpenderOkra); f.Throttled != 0 || o.Throttled != 0 || f.Admitted != 100 || o.Admitted != 100 {
		t.Fatalf("at 5+5 calls a second: foreign %+v, okra %+v; want 100 each, none throttled", f, o)
	}
	// ...while okra calling 10 a second throttles someone every tick.
	b.ResetStats()
	for range 100 {
		clock.Advance(100 * time.Millisecond)
		b.Take("DescribeTargetHealth", local.SpenderOkra)
	}
	f, o := b.Spent(local.SpenderForeign), b.Spent(local.SpenderOkra)
	if f.Admitted+o.Admitted > 101 || f.Throttled+o.Throttled < 49 {
		t.Fatalf("at 5+10 calls a second for 10 s: foreign %+v, okra %+v; want at most ~100 admitted in all, ~50 throttled", f, o)
	}
	if err := b.SetForeign(local.BucketDescribe, 0); err != nil {
		t.Fatal(err)
	}
	before := b.Spent(local.SpenderForeign)
	clock.Advance(time.Minute)
	if after := b.Spent(local.SpenderForeign); after != before {
		t.Fatalf("a stopped foreign controller still spends: %+v then %+v", before, after)
	}
}

func TestELBBudgetRejectsBadLimits(t *testing.T) {
	if _, err := local.NewELBBudget(nil, local.BucketLimits{Burst: 0, PerSecond: 1}, local.ELBMutateLimits); err == nil {
		t.Error("a zero burst was accepted")
	}
	if _, err := local.NewELBBudget(nil, local.ELBDescribeLimits, local.BucketLimits{Burst: 1}); err == nil {
		t.Error("a zero refill rate was accepted")
	}
	b, _ := newBudget(t)
	if err := b.SetForeign("other", 1); err == nil {
		t.Error("an unknown bucket was accepted")
	}
	if err := b.SetForeign(local.BucketMutate, -1); err == nil {
		t.Error("a negative rate was accepted")
	}
}

func TestScaledClockRunsFaster(t *testing.T) {
	if _, err := local.NewScaledClock(0.5); err == nil {
		t.Fatal("a clock slower than real time was accepted")
	}
	c, err := local.NewScaledClock(100)
	if err != nil {
		t.Fatal(err)
	}
	start := c.Now()
	time.Sleep(20 * time.Millisecond)
	if d := c.Now().Sub(start); d < 2*time.Second {
		t.Fatalf("20 ms of real time were %s of simulated time at 100x, want at least 2 s", d)
	}
	if got := c.Real(10 * time.Second); got != 100*time.Millisecond {
		t.Fatalf("Real(10s) = %s at 100x, want 100ms", got)
	}
}
