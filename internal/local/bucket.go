package local

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// Clock tells an ELBBudget the time. The gateway's budget is driven by
// it, so tests advance a ManualClock and benchmarks run a ScaledClock
// faster than real time.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real time.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// ManualClock is a clock that moves only when told to (tests). It is
// safe for concurrent use.
type ManualClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualClock returns a clock standing at t.
func NewManualClock(t time.Time) *ManualClock { return &ManualClock{t: t} }

// Now returns the clock's time.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// ScaledClock is simulated time running Speed times as fast as real time
// from the moment it was made: one real second is Speed simulated
// seconds. Everything that waits on it must wait in its terms (Real turns
// a simulated wait into the real one), or the simulation is not one.
type ScaledClock struct {
	origin time.Time // real time at creation
	start  time.Time // simulated time at creation
	speed  float64
}

// NewScaledClock returns a clock starting now and running speed times
// as fast as real time (speed >= 1).
func NewScaledClock(speed float64) (*ScaledClock, error) {
	if math.IsNaN(speed) || speed < 1 {
		return nil, fmt.Errorf("scaled clock: speed %v: want 1 or more", speed)
	}
	now := time.Now()
	return &ScaledClock{origin: now, start: now, speed: speed}, nil
}

// Now returns the simulated time.
func (c *ScaledClock) Now() time.Time {
	return c.start.Add(time.Duration(float64(time.Since(c.origin)) * c.speed))
}

// Speed is how many simulated seconds pass in one real second.
func (c *ScaledClock) Speed() float64 { return c.speed }

// Real is the real duration that lasts simulated d.
func (c *ScaledClock) Real(d time.Duration) time.Duration {
	return time.Duration(float64(d) / c.speed)
}

// BucketLimits are one token bucket's size and refill rate.
type BucketLimits struct {
	// Burst is the bucket's size: the calls that may be made at once.
	Burst int
	// PerSecond is the refill rate, tokens a second.
	PerSecond float64
}

// Validate checks the limits.
func (l BucketLimits) Validate() error {
	if l.Burst < 1 {
		return fmt.Errorf("burst %d: want at least 1", l.Burst)
	}
	if math.IsNaN(l.PerSecond) || l.PerSecond <= 0 || math.IsInf(l.PerSecond, 0) {
		return fmt.Errorf("refill rate %v a second: want a positive rate", l.PerSecond)
	}
	return nil
}

// ELBv2's API budget per account and Region.
var (
	// ELBDescribeLimits are AWS's published limits for ELBv2's
	// non-mutating (Describe*) actions: a 40-token bucket refilled 10
	// tokens a second ("Request throttling for the Elastic Load Balancing
	// API", Elastic Load Balancing User Guide).
	ELBDescribeLimits = BucketLimits{Burst: 40, PerSecond: 10}
	// ELBMutateLimits are an assumption: AWS does not publish the bucket
	// of ELBv2's mutating actions (Create*, Modify*, Delete*,
	// RegisterTargets, AddTags ...), only that each set of actions has its
	// own bucket and that limits are lower for what changes state. We
	// take half of the Describe* bucket on both counts, 20 tokens refilled
	// 5 a second: strict enough that a rollout storm which would survive
	// only on a generous budget fails here rather than in an account, and
	// still above the 1-2 mutating calls a second okra's rollouts make.
	ELBMutateLimits = BucketLimits{Burst: 20, PerSecond: 5}
)

// Spenders of an ELBBudget, as ELBBudget.Stats names them.
const (
	// SpenderOkra is a call through the gateway carrying okra's
	// application id in its User-Agent.
	SpenderOkra = "okra"
	// SpenderOther is any other call through the gateway (a test's or
	// benchmark's own setup client, a stand-in controller).
	SpenderOther = "other"
	// SpenderForeign is the simulated foreign controller (SetForeign).
	SpenderForeign = "foreign"
)

// BucketClass names one of the two ELBv2 buckets.
type BucketClass string

// Bucket classes.
const (
	BucketDescribe BucketClass = "describe"
	BucketMutate   BucketClass = "mutate"
)

// ELBv2Class says which bucket an ELBv2 action draws from: Describe*
// actions the describe bucket, every other action the mutating one.
func ELBv2Class(operation string) BucketClass {
	if strings.HasPrefix(operation, "Describe") {
		return BucketDescribe
	}
	return BucketMutate
}

// SpendStats are one spender's calls against one bucket.
type SpendStats struct {
	Spender   string
	Bucket    BucketClass
	Admitted  int
	Throttled int
}

// tokenBucket is one bucket; the ELBBudget's lock guards it.
type tokenBucket struct {
	limits BucketLimits
	tokens float64
	last   time.Time
}

// refill adds the tokens due between the last refill and now.
func (b *tokenBucket) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens = math.Min(float64(b.limits.Burst), b.tokens+now.Sub(b.last).Seconds()*b.limits.PerSecond)
		b.last = now
	}
}

// take refills to now and spends a token if there is one.
func (b *tokenBucket) take(now time.Time) bool {
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// foreign is the simulated foreign controller.
type foreign struct {
	bucket BucketClass
	rate   float64   // calls a second
	next   time.Time // when its next call is due
}

// ELBBudget is an account's ELBv2 API budget, as AWS enforces it per
// account and Region: a token bucket for Describe* calls and one for
// mutating calls, shared by every caller. Given to the gateway's fault
// layer (Faults.SetBudget), it draws a token for every ELBv2 call the
// gateway proxies, whoever makes it (every okra function the gateway
// serves, the CLI, a test's own client), and answers a call finding its
// bucket empty as ELBv2 does: HTTP 400, error code Throttling, "Rate
// exceeded", in the query protocol's XML error document, so the SDK's
// retryers see real throttling. moto enforces no such budget.
//
// A simulated foreign controller (SetForeign: another
// aws-load-balancer-controller, a second okra, a console user) spends
// from the same bucket at a set rate. Its calls are accounted lazily and
// exactly: before each decision, the calls it made since the last one are
// replayed in time order against the refilling bucket, so it needs no
// goroutine and a ManualClock drives it as well as a ScaledClock.
// Throttled foreign calls are counted and not retried (each is one
// attempt at its steady rate).
//
// It is safe for concurrent use.
type ELBBudget struct {
	clock Clock

	mu      sync.Mutex
	buckets map[BucketClass]*tokenBucket
	foreign *foreign
	counts  map[spendKey]*SpendStats
}

type spendKey struct {
	spender string
	bucket  BucketClass
}

// NewELBBudget returns a full budget with the given limits, on clock
// (nil: SystemClock).
func NewELBBudget(clock Clock, describe, mutate BucketLimits) (*ELBBudget, error) {
	if err := describe.Validate(); err != nil {
		return nil, fmt.Errorf("ELB budget: describe bucket: %w", err)
	}
	if err := mutate.Validate(); err != nil {
		return nil, fmt.Errorf("ELB budget: mutating bucket: %w", err)
	}
	if clock == nil {
		clock = SystemClock{}
	}
	now := clock.Now()
	return &ELBBudget{
		clock: clock,
		buckets: map[BucketClass]*tokenBucket{
			BucketDescribe: {limits: describe, tokens: float64(describe.Burst), last: now},
			BucketMutate:   {limits: mutate, tokens: float64(mutate.Burst), last: now},
		},
		counts: map[spendKey]*SpendStats{},
	}, nil
}

// NewAWSELBBudget returns a full budget with ELBDescribeLimits and
// ELBMutateLimits on clock (nil: SystemClock).
func NewAWSELBBudget(clock Clock) *ELBBudget {
	b, err := NewELBBudget(clock, ELBDescribeLimits, ELBMutateLimits)
	if err != nil {
		panic(err) // the package's own limits are valid
	}
	return b
}

// Clock is the budget's clock.
func (b *ELBBudget) Clock() Clock { return b.clock }

// SetForeign makes a simulated foreign controller spend perSecond calls
// a second from bucket, starting now; perSecond 0 stops it.
func (b *ELBBudget) SetForeign(bucket BucketClass, perSecond float64) error {
	if bucket != BucketDescribe && bucket != BucketMutate {
		return fmt.Errorf("ELB budget: unknown bucket %q: want %q or %q", bucket, BucketDescribe, BucketMutate)
	}
	if math.IsNaN(perSecond) || perSecond < 0 || math.IsInf(perSecond, 0) {
		return fmt.Errorf("ELB budget: foreign rate %v a second: want 0 or more", perSecond)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	b.catchUp(now)
	if perSecond == 0 {
		b.foreign = nil
		return nil
	}
	b.foreign = &foreign{bucket: bucket, rate: perSecond, next: now}
	return nil
}

// catchUp replays the foreign controller's calls due by now.
func (b *ELBBudget) catchUp(now time.Time) {
	f := b.foreign
	if f == nil {
		return
	}
	bucket := b.buckets[f.bucket]
	interval := time.Duration(float64(time.Second) / f.rate)
	for !f.next.After(now) {
		b.count(SpenderForeign, f.bucket, bucket.take(f.next))
		f.next = f.next.Add(interval)
	}
}

func (b *ELBBudget) count(spender string, bucket BucketClass, admitted bool) {
	k := spendKey{spender, bucket}
	s := b.counts[k]
	if s == nil {
		s = &SpendStats{Spender: spender, Bucket: bucket}
		b.counts[k] = s
	}
	if admitted {
		s.Admitted++
	} else {
		s.Throttled++
	}
}

// Take draws a token for one ELBv2 call of operation by spender and
// reports whether the call may proceed (false: it is throttled).
func (b *ELBBudget) Take(operation, spender string) bool {
	class := ELBv2Class(operation)
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	b.catchUp(now)
	ok := b.buckets[class].take(now)
	b.count(spender, class, ok)
	return ok
}

// Tokens returns the tokens left in a bucket now (foreign calls due
// included).
func (b *ELBBudget) Tokens(bucket BucketClass) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	b.catchUp(now)
	tb, ok := b.buckets[bucket]
	if !ok {
		return 0
	}
	tb.refill(now)
	return tb.tokens
}

// Stats returns every spender's calls per bucket, sorted by spender and
// bucket (foreign calls due by now included).
func (b *ELBBudget) Stats() []SpendStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.catchUp(b.clock.Now())
	out := make([]SpendStats, 0, len(b.counts))
	for _, s := range b.counts {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Spender != out[j].Spender {
			return out[i].Spender < out[j].Spender
		}
		return out[i].Bucket < out[j].Bucket
	})
	return out
}

// Spent sums a spender's calls over both buckets.
func (b *ELBBudget) Spent(spender string) SpendStats {
	total := SpendStats{Spender: spender}
	for _, s := range b.Stats() {
		if s.Spender == spender {
			total.Admitted += s.Admitted
			total.Throttled += s.Throttled
		}
	}
	return total
}

// ResetStats forgets the counts (the buckets keep their tokens).
func (b *ELBBudget) ResetStats() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.catchUp(b.clock.Now())
	b.counts = map[spendKey]*SpendStats{}
}
