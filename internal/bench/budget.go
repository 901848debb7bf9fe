package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/local"
	"github.com/okrahq/okra/internal/testenv"
)

// ReconcileTimeout is the reconcile function's Lambda timeout
// (infra/functions.go); a reconcile under the ELBv2 budget must take at
// most a third of it.
const ReconcileTimeout = 5 * time.Minute

// BudgetMargin is the margin a reconcile's simulated time must keep
// below ReconcileTimeout.
const BudgetMargin = 3

// DefaultBudgetSpeed is how many simulated seconds the budget benchmarks
// run in one real second.
const DefaultBudgetSpeed = 4

// BudgetFigures are a reconcile pair's figures under the account's
// ELBv2 budget.
type BudgetFigures struct {
	// Speed of the simulated clock (simulated seconds per real second).
	Speed float64
	// ForeignPerSecond is the foreign controller's Describe* rate.
	ForeignPerSecond float64
	// FirstSim and SecondSim are the reconciles' simulated durations.
	FirstSim, SecondSim time.Duration
	// First and Second are the budget's spending during each.
	First, Second []local.SpendStats
}

// WithinMargin reports whether a simulated duration keeps BudgetMargin
// below ReconcileTimeout.
func WithinMargin(d time.Duration) bool { return d*BudgetMargin <= ReconcileTimeout }

// budgetRun puts a gateway enforcing an ELBv2 budget between okra (and
// the stand-in load balancer controller) and moto.
type budgetRun struct {
	clock   *local.ScaledClock
	budget  *local.ELBBudget
	foreign float64

	okra, controller awsapi.Config
	began            time.Time // simulated, at mark
}

// start serves the gateway in front of upstream and builds the clients:
// okra's exactly as a function builds them (awsapi.LoadConfig's retryer
// and attempts) counting into counter, and the stand-in controller's,
// which is not okra (its User-Agent carries another application id).
func (b *budgetRun) start(ctx context.Context, upstream string, counter *awsapi.CallCounter, log *slog.Logger) (func(), error) {
	f, err := local.NewFaults(local.FaultSpec{})
	if err != nil {
		return nil, err
	}
	f.SetBudget(b.budget)
	g, err := local.NewGateway(upstream, local.WithFaults(f), local.WithLogger(log))
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(g)
	stop := func() {
		srv.Close()
		_ = g.Close(context.Background())
	}
	b.okra, err = awsapi.LoadConfig(ctx, awsapi.Options{Region: testenv.Region, Endpoint: srv.URL, Counter: counter})
	if err == nil {
		b.controller, err = testenv.Config(ctx, srv.URL, nil)
		b.controller.AWS.AppID = "aws-load-balancer-controller"
	}
	if err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// mark starts measuring a reconcile: after 10 simulated seconds of quiet
// (a reconcile starts with the buckets refilled, as on its schedule),
// the counts start over.
func (b *budgetRun) mark() {
	if b == nil {
		return
	}
	time.Sleep(b.clock.Real(10 * time.Second))
	b.budget.ResetStats()
	b.began = b.clock.Now()
}

// record ends the measurement: into a new BudgetFigures's first
// reconcile when prev is nil, else into prev's second.
func (b *budgetRun) record(prev *BudgetFigures) *BudgetFigures {
	if b == nil {
		return nil
	}
	took, stats := b.clock.Now().Sub(b.began), b.budget.Stats()
	if prev == nil {
		return &BudgetFigures{Speed: b.clock.Speed(), ForeignPerSecond: b.foreign, FirstSim: took, First: stats}
	}
	prev.SecondSim, prev.Second = took, stats
	return prev
}

// RunReconcileUnderBudget is RunReconcile with okra's clients (and the
// stand-in load balancer controller) reaching moto through a gateway that
// enforces the account's ELBv2 budget (local.ELBBudget: Describe* 40
// burst and 10 a second, mutating calls local.ELBMutateLimits) on a
// clock running speed times as fast as real time, with a foreign
// controller spending foreignPerSecond Describe* calls a second.
//
// The simulated durations are an upper bound: everything the budget
// decides is in simulated time, but the SDK's own pauses (retry backoff,
// the adaptive mode's client-side waits) and moto's latency are real
// time, and so last speed times longer in simulated terms than they
// would (moto's ~5-10 ms a call becomes 20-40 ms at speed 4, about what
// ELBv2 takes). So a reconcile within the margin here is within it on
// AWS as far as the budget is concerned; one outside it may be faster.
func RunReconcileUnderBudget(ctx context.Context, n int, speed, foreignPerSecond float64, log *slog.Logger) (ReconcileRun, error) {
	clock, err := local.NewScaledClock(speed)
	if err != nil {
		return ReconcileRun{Clusters: n}, err
	}
	b := &budgetRun{clock: clock, budget: local.NewAWSELBBudget(clock), foreign: foreignPerSecond}
	if foreignPerSecond > 0 {
		if err := b.budget.SetForeign(local.BucketDescribe, foreignPerSecond); err != nil {
			return ReconcileRun{Clusters: n}, err
		}
	}
	return runReconcile(ctx, n, b, log)
}

// spent sums a spender's calls in stats.
func spent(stats []local.SpendStats, spender string) (admitted, throttled int) {
	for _, s := range stats {
		if s.Spender == spender {
			admitted += s.Admitted
			throttled += s.Throttled
		}
	}
	return admitted, throttled
}

func (r *Report) budgetSection(p printer) {
	p("## 7. Reconcile under the account's ELBv2 API budget\n\n")
	var runs []ReconcileRun
	for _, run := range r.BudgetReconciles {
		if run.Budget != nil {
			runs = append(runs, run)
		}
	}
	if len(runs) == 0 {
		p("Not run.\n\n")
		return
	}
	b := runs[0].Budget
	p("The reconcile of section 1, with okra's clients built as the function builds them (`awsapi.LoadConfig`: the SDK's adaptive retry mode, %d attempts) ", awsapi.DefaultMaxAttempts)
	p("and the stand-in load balancer controller reaching moto through the local gateway, which enforces the account's ELBv2 budget ")
	p("(`local.ELBBudget`): Describe* calls draw from a bucket of %d refilled %g a second, as AWS documents; mutating calls from a separate bucket of %d refilled %g a second, ",
		local.ELBDescribeLimits.Burst, local.ELBDescribeLimits.PerSecond, local.ELBMutateLimits.Burst, local.ELBMutateLimits.PerSecond)
	p("an assumption (AWS does not publish it; see `local.ELBMutateLimits`). An empty bucket answers ELBv2's HTTP 400 `Throttling`. ")
	if b.ForeignPerSecond > 0 {
		p("A foreign controller spends %g Describe* calls a second from the same bucket. ", b.ForeignPerSecond)
	}
	p("The budget runs on a simulated clock %g× as fast as real time; the times below are simulated, and an upper bound: ", b.Speed)
	p("the SDK's retry pauses and moto's latency are real time and so count %g× (see `bench.RunReconcileUnderBudget`). ", b.Speed)
	p("The requirement: at most 1/%d of the reconcile function's %s Lambda timeout, %s.\n\n", BudgetMargin, ReconcileTimeout, ReconcileTimeout/BudgetMargin)
	p("| clusters | reconcile | simulated time | within %s? | okra's ELBv2 calls admitted / throttled | controller's admitted / throttled | foreign admitted / throttled | wall (*noisy*) |\n|---:|---|---:|---|---:|---:|---:|---:|\n", ReconcileTimeout/BudgetMargin)
	row := func(run ReconcileRun, which string, sim time.Duration, stats []local.SpendStats, wall time.Duration) {
		oa, ot := spent(stats, local.SpenderOkra)
		ca, ct := spent(stats, local.SpenderOther)
		fa, ft := spent(stats, local.SpenderForeign)
		verdict := "yes"
		if !WithinMargin(sim) {
			verdict = fmt.Sprintf("**no** (%.1f× the allowance)", float64(sim)/float64(ReconcileTimeout/BudgetMargin))
		}
		p("| %d | %s | %s | %s | %d / %d | %d / %d | %d / %d | %s |\n", run.Clusters, which, sim.Round(100*time.Millisecond), verdict, oa, ot, ca, ct, fa, ft, wall.Round(time.Second))
	}
	for _, run := range runs {
		row(run, "first (creates the target groups)", run.Budget.FirstSim, run.Budget.First, run.FirstWall)
		row(run, "steady", run.Budget.SecondSim, run.Budget.Second, run.SecondWall)
	}
	p("\n")
	for _, run := range runs {
		if len(run.Problems) > 0 {
			p("Problems the reconcile of %d clusters reported: %s\n\n", run.Clusters, mdEscape(shorten(strings.Join(run.Problems, "; "), 600)))
		}
	}
}
