package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/gate"
	"github.com/okrahq/okra/internal/local"
	"github.com/okrahq/okra/internal/onboarding"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
)

// The seeded chaos soak: many v1→v2 rollouts, several Cells at once on
// one faulted emulator, each disturbed at its first step boundary (the
// indefinite pause at 20%) by one operational disturbance drawn from the
// enabled kinds, with the invariant monitor (invariants_test.go) checking
// every poll. TestSoak (make soak) runs SOAK_ROLLOUTS rollouts and writes
// docs/reliability.md; TestSoakSlice runs 10 with a fixed seed inside
// make test.

// disturbances are every kind the soak knows, in report order.
var disturbances = []string{
	"none",               // promote, nothing else (faults only)
	"drift",              // the test edits the weights, then promotes or aborts
	"unhealthy-stable",   // v1's targets deregistered, then abort: rollback onto an unhealthy group
	"unhealthy-canary",   // v2's targets deregistered, then promote; registered again 2s later
	"delete-group",       // v2's group deleted (deregistered when the emulator refuses), then promote
	"dropped-safety-net", // the execution is stopped, its status-change event never delivered; a reconcile runs
	"concurrent-gates",   // three promotes and an abort at once: at most one promote wins
	"spec-valid",         // a valid spec edit (a step's pause) mid-rollout
	"spec-invalid",       // an ingress edit (another listener) mid-rollout
	"supersede",          // v3 becomes ready: the rollout is superseded
}

// sliceDisturbances are the kinds of the slice inside make test: the
// quicker ones, each a different invariant (drift, routing around an
// unhealthy stable group on abort, spec edits, supersede).
var sliceDisturbances = []string{"none", "supersede", "drift", "unhealthy-stable", "spec-valid"}

// soakFaults is the AWS fault mix (seed appended): throttling, 5xx and
// timeouts on the services the handlers call, Lambda errors in the form
// the definition's Retry matches.
const soakFaults = "elasticloadbalancing:throttle=0.06,elasticloadbalancing:500=0.03,elasticloadbalancing:timeout=0.005:delay=2s," +
	"dynamodb:throttle=0.06,dynamodb:503=0.03,dynamodb:timeout=0.005:delay=2s," +
	"states:throttle=0.03," +
	"lambda:throttle=0.03:form=function-error,lambda:500=0.02:form=function-error"

// soakPoll is how often the soak's monitors poll: with several Cells at
// once every poll is a handful of calls to the one emulator.
const soakPoll = 200 * time.Millisecond

type soakConfig struct {
	seed     uint64
	rollouts int
	parallel int
	kinds    []string
}

// soakConfigFromEnv reads SOAK_SEED, SOAK_ROLLOUTS, SOAK_PARALLEL and
// SOAK_DISTURBANCES (comma-separated kinds, or "all") over the defaults.
func soakConfigFromEnv(t *testing.T, def soakConfig) soakConfig {
	t.Helper()
	c := def
	if v := os.Getenv("SOAK_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SOAK_SEED=%q: %v", v, err)
		}
		c.seed = n
	}
	for _, e := range []struct {
		name string
		to   *int
	}{{"SOAK_ROLLOUTS", &c.rollouts}, {"SOAK_PARALLEL", &c.parallel}} {
		if v := os.Getenv(e.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a positive number", e.name, v)
			}
			*e.to = n
		}
	}
	if v := os.Getenv("SOAK_DISTURBANCES"); v != "" {
		c.kinds = parseKinds(t, "SOAK_DISTURBANCES", v)
	}
	return c
}

// parseKinds reads a comma-separated list of disturbance kinds, or "all".
func parseKinds(t *testing.T, name, v string) []string {
	t.Helper()
	if v == "all" {
		return disturbances
	}
	var out []string
	for _, k := range strings.Split(v, ",") {
		if !slices.Contains(disturbances, k) {
			t.Fatalf("%s: unknown kind %q, want some of %s (or all)", name, k, strings.Join(disturbances, ","))
		}
		out = append(out, k)
	}
	return out
}

// soakRun is what one rollout of the soak did and saw.
type soakRun struct {
	index       int
	kind        string
	note        string // what the disturbance did, when it differs from its name
	outcome     string
	waits       int // waits for a human the soak resolved (promote or abort)
	violations  []string
	leaseLeft   bool
	dataLost    []string
	took        time.Duration
	harnessErrs []string // the soak itself could not do something
	// specRevision is the spec revision the soak wrote mid-rollout (0: none).
	specRevision int64
}

// soakReport aggregates a soak.
type soakReport struct {
	cfg      soakConfig
	runs     []soakRun
	faults   []local.FaultCount
	wall     time.Duration
	mu       sync.Mutex
	finished int
}

func TestSoak(t *testing.T) {
	if os.Getenv("SOAK_ROLLOUTS") == "" {
		t.Skip("the chaos soak runs with make soak (SOAK_ROLLOUTS set)")
	}
	cfg := soakConfigFromEnv(t, soakConfig{seed: uint64(time.Now().UnixNano()) % 1_000_000_000, rollouts: 200, parallel: 4, kinds: disturbances})
	out := os.Getenv("SOAK_REPORT")
	if out == "" {
		root, err := testenv.ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		out = filepath.Join(root, "docs", "reliability.md")
	}
	// Every tenth rollout rewrites the report, marked partial, so a soak
	// cut short still leaves what it found.
	rep := runSoak(t, cfg, func(md string) {
		if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
			t.Errorf("writing the partial report: %v", err)
		}
	})
	if err := os.WriteFile(out, []byte(rep.markdown()), 0o644); err != nil {
		t.Fatalf("writing the report: %v", err)
	}
	t.Logf("wrote %s", out)
	rep.fail(t)
}

// fail fails t for every invariant violation, execution left holding a
// Cell, data lost, or disturbance the soak could not carry out.
func (rep *soakReport) fail(t *testing.T) {
	t.Helper()
	for _, r := range rep.runs {
		if len(r.violations) > 0 {
			t.Errorf("rollout %d (%s): %d invariant violations:\n  %s", r.index, r.kind, len(r.violations), strings.Join(r.violations, "\n  "))
		}
		if r.leaseLeft {
			t.Errorf("rollout %d (%s): an ended execution still holds the Cell", r.index, r.kind)
		}
		if len(r.dataLost) > 0 {
			t.Errorf("rollout %d (%s): data lost: %s", r.index, r.kind, strings.Join(r.dataLost, "; "))
		}
		for _, e := range r.harnessErrs {
			t.Errorf("rollout %d (%s): the soak could not: %s", r.index, r.kind, e)
		}
	}
}

// TestSoakSlice is ten rollouts of the soak with a fixed seed and the
// disturbances main handles; any violation, lease left or data lost fails.
func TestSoakSlice(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: needs the moto emulator (skipped with -short)")
	}
	t.Parallel()
	cfg := soakConfig{seed: 20261202, rollouts: 10, parallel: 3, kinds: sliceDisturbances}
	if v := os.Getenv("SOAK_SLICE_DISTURBANCES"); v != "" {
		cfg.kinds = parseKinds(t, "SOAK_SLICE_DISTURBANCES", v)
	}
	rep := runSoak(t, cfg, nil)
	t.Logf("\n%s", rep.markdown())
	faulted := 0
	for _, c := range rep.faults {
		faulted += c.Count
	}
	if faulted == 0 {
		t.Errorf("no fault injected: the slice proved nothing about faults")
	}
	rep.fail(t)
}

// soakEnv is what every rollout of one soak shares.
type soakEnv struct {
	*faultEnv
	onb      *onboarding.Onboarder
	gate     *gate.Gate
	schedule []byte
}

func runSoak(t *testing.T, cfg soakConfig, partial func(markdown string)) *soakReport {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs the moto emulator (skipped with -short)")
	}
	t.Logf("soak seed %d: %d rollouts, %d Cells at once, disturbances %s (rerun with SOAK_SEED=%d SOAK_ROLLOUTS=%d SOAK_DISTURBANCES=%s)",
		cfg.seed, cfg.rollouts, cfg.parallel, strings.Join(cfg.kinds, ","), cfg.seed, cfg.rollouts, strings.Join(cfg.kinds, ","))
	fmt.Fprintf(os.Stderr, "soak seed %d\n", cfg.seed)
	began := time.Now()
	env := &soakEnv{faultEnv: startFaultEnv(t)}
	quiet := slog.New(slog.DiscardHandler)
	o := env.okra
	deps, err := onboarding.DepsFromAWS(context.Background(), options.Options{
		Region: testenv.Region, TableName: o.TableName, StateMachineARN: o.StateMachineARN, ClusterActiveTimeout: 30 * time.Second,
	}, env.direct, quiet)
	if err != nil {
		t.Fatalf("DepsFromAWS: %v", err)
	}
	deps.ArgoCD = &podRegistry{elb: env.direct.ELBv2(), done: map[string]bool{}}
	if env.onb, err = onboarding.New(deps); err != nil {
		t.Fatal(err)
	}
	if env.gate, err = gate.New(gate.Deps{Store: store.New(env.direct.DynamoDB(), o.TableName, store.Options{Logger: quiet}), SFN: env.direct.SFN(), StateMachineARN: o.StateMachineARN, Actor: "soak", Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	env.schedule = mustJSON(t, eventFixture(t, "schedule.json"))
	spec, err := local.ParseFaults(soakFaults + fmt.Sprintf(",seed=%d", cfg.seed))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.faults.Set(spec); err != nil {
		t.Fatal(err)
	}
	env.faults.ResetCounts()

	rep := &soakReport{cfg: cfg, runs: make([]soakRun, cfg.rollouts)}
	next := make(chan int)
	go func() {
		for i := range cfg.rollouts {
			next <- i
		}
		close(next)
	}()
	var wg sync.WaitGroup
	for range cfg.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rng := rand.New(rand.NewPCG(cfg.seed, uint64(i)))
				kind := cfg.kinds[rng.IntN(len(cfg.kinds))]
				run := soakRun{index: i, kind: kind}
				t.Run(fmt.Sprintf("%03d-%s", i, kind), func(t *testing.T) {
					env.runRollout(t, rng, &run)
				})
				rep.mu.Lock()
				rep.runs[i] = run
				rep.finished++
				if rep.finished%10 == 0 {
					fmt.Fprintf(os.Stderr, "soak: %d/%d rollouts after %s\n", rep.finished, cfg.rollouts, time.Since(began).Round(time.Second))
					if partial != nil && rep.finished < cfg.rollouts {
						rep.faults, rep.wall = env.faults.Counts(), time.Since(began)
						partial(rep.markdownLocked())
					}
				}
				rep.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rep.faults = env.faults.Counts()
	env.faults.Disable()
	rep.wall = time.Since(began)
	return rep
}

// rollout runs one disturbed rollout on a fresh Cell and fills run.
func (env *soakEnv) runRollout(t *testing.T, rng *rand.Rand, run *soakRun) {
	began := time.Now()
	defer func() { run.took = time.Since(began) }()
	f, _ := newFixtureOn(t, env.okra, env.direct, canary(20, "pause", 60, 500*time.Millisecond), time.Second,
		map[string]bool{"v1": true, "v2": true, "v3": false})
	m := f.monitor(pollEvery(soakPoll), minReads(1))
	defer m.stop()
	harness := func(format string, args ...any) {
		run.harnessErrs = append(run.harnessErrs, fmt.Sprintf(format, args...))
	}

	arn := f.start("v2", 1)
	paused := env.waitPausedOrEnded(f, arn, 90*time.Second)
	if !paused {
		run.note = "ended before its pause"
	} else {
		env.disturb(f, m, rng, run, arn, harness)
	}
	var before []string
	if evs, err := f.okra.Store.ListEvents(f.ctx, f.name, 0, false); err == nil {
		for _, ev := range evs {
			before = append(before, eventKey(ev.Time, ev.Seq, string(ev.Type)))
		}
	}
	env.resolve(f, rng, run, arn, harness)
	run.violations = m.violations()

	// Outcome, leases, data.
	rec, err := f.okra.Store.GetStatus(f.ctx, f.name)
	if err != nil {
		run.dataLost = append(run.dataLost, "Cell status unreadable: "+err.Error())
		run.outcome = "unknown"
		return
	}
	st := rec.Status
	switch {
	case st.Phase == rollout.PhaseStable && (st.StableVersion == "v2" || st.StableVersion == "v3"):
		run.outcome = "succeeded"
	case st.Phase == rollout.PhaseRolledBack:
		run.outcome = "rolled back"
	default:
		run.outcome = strings.ToLower(string(st.Phase))
	}
	if st.Leased() {
		out, err := f.sfn.DescribeExecution(f.ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(st.ExecutionARN)})
		run.leaseLeft = err != nil || out.Status != sfntypes.ExecutionStatusRunning
		if !run.leaseLeft {
			run.outcome = "still running"
		}
	}
	evs, err := f.okra.Store.ListEvents(f.ctx, f.name, 0, false)
	if err != nil {
		run.dataLost = append(run.dataLost, "Cell history unreadable: "+err.Error())
	} else {
		have := map[string]bool{}
		for _, ev := range evs {
			have[eventKey(ev.Time, ev.Seq, string(ev.Type))] = true
		}
		for _, k := range before {
			if !have[k] {
				run.dataLost = append(run.dataLost, "history event "+k+" written, then missing")
			}
		}
	}
	if c, err := f.okra.Store.GetCell(f.ctx, f.name); err != nil {
		run.dataLost = append(run.dataLost, "Cell spec unreadable: "+err.Error())
	} else if want := run.specRevision; c.Revision < want {
		run.dataLost = append(run.dataLost, fmt.Sprintf("Cell spec at revision %d, revision %d was written", c.Revision, want))
	}
	if run.outcome == "still running" || run.outcome == "unknown" {
		harness("resolve the rollout: it ended %s\n%s", run.outcome, f.dump(arn))
	}
	t.Logf("rollout %d: %s → %s, %d waits resolved, %d violations, %s", run.index, run.kind, run.outcome, run.waits, len(run.violations), time.Since(began).Round(time.Millisecond))
}

func eventKey(at time.Time, seq int, typ string) string {
	return fmt.Sprintf("%s#%d#%s", at.UTC().Format(time.RFC3339Nano), seq, typ)
}

// waitPausedOrEnded waits until the rollout waits for approval (true) or
// its execution ends (false: under faults it may roll back first).
func (env *soakEnv) waitPausedOrEnded(f *fixture, arn string, timeout time.Duration) bool {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if rec, err := f.okra.Store.GetStatus(f.ctx, f.name); err == nil && rec.Status.Phase == rollout.PhasePaused && rec.Status.TaskToken != "" {
			return true
		}
		if out, err := f.sfn.DescribeExecution(f.ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)}); err == nil && out.Status != sfntypes.ExecutionStatusRunning {
			return false
		}
		time.Sleep(150 * time.Millisecond)
	}
	f.t.Fatalf("the rollout neither paused nor ended within %s\n%s", timeout, f.dump(arn))
	return false
}

// decide promotes or aborts the rollout waiting for a human, at random.
func (env *soakEnv) decide(f *fixture, rng *rand.Rand) error {
	var err error
	if rng.IntN(2) == 0 {
		_, err = env.gate.Promote(f.ctx, f.name)
	} else {
		_, err = env.gate.Abort(f.ctx, f.name, "soak")
	}
	var nw *gate.NotWaitingError
	if errors.As(err, &nw) {
		return nil // it moved on meanwhile
	}
	return err
}

// disturb applies run.kind at the rollout's pause (20%).
func (env *soakEnv) disturb(f *fixture, m *monitor, rng *rand.Rand, run *soakRun, arn string, harness func(string, ...any)) {
	ctx := f.ctx
	promote := func() {
		if _, err := env.gate.Promote(ctx, f.name); err != nil {
			var nw *gate.NotWaitingError
			if !errors.As(err, &nw) {
				harness("promote: %v", err)
			}
		}
	}
	// recoverAfterAbort waits for an aborted execution to end and gives
	// okra its recovery opportunity: an abort that stopped the execution
	// (no approval to answer) leaves the rollback to the safety net, whose
	// event is not delivered here, so the next reconcile must recover it.
	recoverAfterAbort := func() {
		if _, err := env.awaitStop(f, arn); err != nil {
			harness("waiting for the aborted execution: %v", err)
			return
		}
		m.Reconciling("the next reconcile", func() {
			if _, err := env.onb.Reconcile(ctx, env.schedule); err != nil {
				harness("reconcile: %v", err)
			}
		})
	}
	switch run.kind {
	case "none":
		promote()
	case "drift":
		edited := f.split("v1", 70, "v2", 30)
		m.Edited(edited)
		if err := f.control.Set(ctx, f.spec.Spec.Ingress, edited); err != nil {
			harness("editing the weights: %v", err)
		}
		if err := env.decide(f, rng); err != nil {
			harness("promote or abort after the drift: %v", err)
		}
	case "unhealthy-stable":
		f.deregisterTargets("v1")
		if _, err := env.gate.Abort(ctx, f.name, "soak: abort with the stable group unhealthy"); err != nil {
			harness("abort: %v", err)
		}
	case "unhealthy-canary":
		f.deregisterTargets("v2")
		m.Unhealthy("v2", 20)
		promote()
		time.Sleep(2 * time.Second)
		f.registerTargets("v2")
		m.Healthy("v2")
	case "delete-group":
		_, err := f.elb.DeleteTargetGroup(ctx, &elbv2.DeleteTargetGroupInput{TargetGroupArn: aws.String(f.groups["v2"].ARN)})
		if err != nil {
			run.note = "the emulator refused to delete a group in use; deregistered its targets instead"
			f.deregisterTargets("v2")
			m.Unhealthy("v2", 20)
		}
		// The canary never comes back: the rollout holds for healthy
		// targets until someone aborts, and the abort must route only to
		// what is left.
		promote()
		time.Sleep(3 * time.Second)
		if _, err := env.gate.Abort(ctx, f.name, "soak: the canary's group is gone"); err != nil {
			harness("abort: %v", err)
			return
		}
		recoverAfterAbort()
	case "dropped-safety-net":
		if _, err := f.sfn.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(arn), Error: aws.String("OperatorStop"), Cause: aws.String("soak")}); err != nil {
			harness("StopExecution: %v", err)
			return
		}
		out, err := env.awaitStop(f, arn)
		if err != nil {
			harness("waiting for the stop: %v", err)
			return
		}
		// The status-change event is lost; the scheduled reconcile is the
		// recovery opportunity.
		m.Reconciling("the next reconcile", func() {
			if _, err := env.onb.Reconcile(ctx, env.schedule); err != nil {
				harness("reconcile: %v", err)
			}
		})
		// Late delivery, so the Cell ends released whatever the reconcile
		// did (a second delivery is a no-op when it recovered it).
		if out.Error == nil {
			out.Error, out.Cause = aws.String("OperatorStop"), aws.String("soak")
		}
		event := f.statusChange("sfn-execution-aborted.json", out)
		for try := 1; ; try++ { // EventBridge retries a failed delivery
			_, err := env.okra.SafetyNet.Handle(ctx, event)
			if err == nil {
				break
			}
			if try == 5 {
				harness("late safety-net delivery: %v", err)
				break
			}
			time.Sleep(time.Second)
		}
	case "concurrent-gates":
		// Of the three promotes at most one answers the approval; the
		// abort is the safety lever and is never refused: when a promote
		// took the approval first it stops the execution instead, and the
		// rollout rolls back (its status-change event is not delivered
		// here, so the next reconcile is the recovery opportunity).
		var wg sync.WaitGroup
		var mu sync.Mutex
		promotes, aborted := 0, false
		var other []string
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if i == 3 {
					_, err = env.gate.Abort(ctx, f.name, "soak: racing the promotes")
				} else {
					_, err = env.gate.Promote(ctx, f.name)
				}
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && i == 3:
					aborted = true
				case err == nil:
					promotes++
				case !errors.As(err, new(*gate.NotWaitingError)) && !errors.As(err, new(*gate.ClaimedError)):
					other = append(other, err.Error())
				}
			}()
		}
		wg.Wait()
		if promotes > 1 || (promotes == 0 && !aborted) {
			m.record(fmt.Sprintf("gates not exclusive: %d of 3 racing promotes answered the approval (abort succeeded: %t), want at most one and at least one winner (other errors: %v)", promotes, aborted, other))
		}
		if aborted {
			recoverAfterAbort()
		}
	case "spec-valid":
		c := *f.spec
		cn := *c.Spec.UpdateStrategy.Canary
		cn.Steps = canary(20, "pause", 60, 700*time.Millisecond)
		c.Spec.UpdateStrategy.Canary = &cn
		run.specRevision = env.putSpec(f, &c, harness)
		promote()
	case "spec-invalid":
		c := *f.spec
		c.Spec.Ingress.ListenerARN = f.listener + "0"
		run.specRevision = env.putSpec(f, &c, harness)
		promote()
	case "supersede":
		f.registerTargets("v3")
		promote()
	default:
		harness("unknown disturbance %q", run.kind)
	}
}

// stopBound is how long the soak waits for moto to report a stopped
// execution as ended. On AWS StopExecution ends the execution at once;
// moto only marks it stopped and reports RUNNING until the state in
// flight returns (a Lambda invoke: up to the gateway's timeout, with the
// faults' delays), so this is emulator lag, not okra's.
const stopBound = 3 * time.Minute

// awaitStop waits until moto reports arn as no longer RUNNING after a
// StopExecution (the soak's, or an abort's) and returns its description.
//
// moto 5.2.5 lags AWS here: a stopped execution whose state in flight is
// a waitForTaskToken task (the approval, without TimeoutSeconds) stays
// RUNNING until that token is answered, that is for ever. On AWS the
// execution is ABORTED at once and its token is dead. So when the Cell
// status still holds the stopped execution's token, awaitStop answers it
// with SendTaskFailure (error SoakStopShim) straight to moto, and no okra
// code sees the answer. moto then ends the execution FAILED (the failed
// task fails the stopped Parallel branch) rather than ABORTED, and runs no
// further state: no Catch, no Rollback. okra's recovery is judged as on
// AWS, where it treats every status but RUNNING alike: the lease still
// names an ended execution, the listener is still half-shifted, and the
// reconcile that follows must recover it (monitor.Reconciling records a
// violation when the dead holder still holds the Cell after it).
func (env *soakEnv) awaitStop(f *fixture, arn string) (*sfn.DescribeExecutionOutput, error) {
	ctx := f.ctx
	deadline := time.Now().Add(stopBound)
	answered := ""
	for {
		out, err := f.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err == nil && out.Status != sfntypes.ExecutionStatusRunning {
			return out, nil
		}
		if time.Now().After(deadline) {
			status := "unknown"
			if err == nil {
				status = string(out.Status)
			}
			return nil, fmt.Errorf("execution %s still %s %s after it was stopped (last error: %v)", arn, status, stopBound, err)
		}
		if rec, err := f.okra.Store.GetStatus(ctx, f.name); err == nil && rec.Status.ExecutionARN == arn &&
			rec.Status.TaskToken != "" && rec.Status.TaskToken != answered {
			answered = rec.Status.TaskToken
			// An error (the token already answered or gone) is fine: the
			// wait is over either way. The error name must not begin
			// with "States." (moto refuses it).
			_, _ = f.sfn.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{
				TaskToken: aws.String(answered), Error: aws.String("SoakStopShim"), Cause: aws.String("soak: emulator shim, the execution was stopped"),
			})
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// putSpec writes a spec edit at the stored revision, as cell apply does.
// It returns the revision written (0 when it could not).
func (env *soakEnv) putSpec(f *fixture, c *cell.Cell, harness func(string, ...any)) int64 {
	rec, err := f.okra.Store.GetCell(f.ctx, f.name)
	if err != nil {
		harness("reading the Cell: %v", err)
		return 0
	}
	rev, err := f.okra.Store.PutCell(f.ctx, c, rec.Revision)
	if err != nil {
		harness("writing the spec edit: %v", err)
		return 0
	}
	return rev
}

// resolve follows the Cell's rollouts until none runs: it answers every
// wait for a human (a drift wait, a pause) by promote or abort at random,
// and follows a superseding v3 rollout.
func (env *soakEnv) resolve(f *fixture, rng *rand.Rand, run *soakRun, arn string, harness func(string, ...any)) {
	ctx := f.ctx
	v3 := executions.ARN(f.okra.StateMachineARN, executions.Name(f.name, "v3", 1))
	began := time.Now()
	deadline := began.Add(3 * time.Minute)
	lastToken := ""
	for time.Now().Before(deadline) {
		rec, err := f.okra.Store.GetStatus(ctx, f.name)
		// Only a running holder's wait is answered: a dead one's token is
		// stale (moto still accepts it and resumes a stopped execution).
		if err == nil && rec.Status.Phase == rollout.PhasePaused && rec.Status.TaskToken != "" && rec.Status.TaskToken != lastToken &&
			!env.ended(f, rec.Status.ExecutionARN) {
			lastToken = rec.Status.TaskToken
			run.waits++
			if err := env.decide(f, rng); err != nil {
				harness("resolving a wait: %v", err)
			}
		}
		running := false
		for _, a := range []string{arn, v3} {
			out, err := f.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(a)})
			if err == nil && out.Status == sfntypes.ExecutionStatusRunning {
				running = true
			}
		}
		if !running && (err != nil || !rec.Status.Leased() || env.ended(f, rec.Status.ExecutionARN)) {
			// A supersede starts v3 a moment after v2 ends.
			if run.kind != "supersede" || env.started(f, v3) || time.Since(began) > 90*time.Second {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	harness("the Cell's rollouts still run after 3 minutes")
}

func (env *soakEnv) ended(f *fixture, arn string) bool {
	out, err := f.sfn.DescribeExecution(f.ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	return err != nil || out.Status != sfntypes.ExecutionStatusRunning
}

func (env *soakEnv) started(f *fixture, arn string) bool {
	_, err := f.sfn.DescribeExecution(f.ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	return err == nil
}

// markdown renders the report as docs/reliability.md.
func (r *soakReport) markdown() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.markdownLocked()
}

// markdownLocked renders the rollouts finished so far; r.mu is held.
func (r *soakReport) markdownLocked() string {
	var b strings.Builder
	all := r.runs
	r.runs = nil
	for _, run := range all {
		if run.kind != "" {
			r.runs = append(r.runs, run)
		}
	}
	defer func() { r.runs = all }()
	count := func(key func(soakRun) []string) ([]string, map[string]int) {
		n := map[string]int{}
		for _, run := range r.runs {
			for _, k := range key(run) {
				n[k]++
			}
		}
		keys := make([]string, 0, len(n))
		for k := range n {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return keys, n
	}
	violations, leases, lost, waitsResolved := 0, 0, 0, 0
	for _, run := range r.runs {
		violations += len(run.violations)
		lost += len(run.dataLost)
		if run.leaseLeft {
			leases++
		}
		if run.waits > 0 {
			waitsResolved++
		}
	}
	fmt.Fprintf(&b, "# Reliability: the seeded chaos soak\n\n")
	if len(r.runs) < r.cfg.rollouts {
		fmt.Fprintf(&b, "**Partial report: %d of the %d rollouts asked for had finished when it was written.**\n\n", len(r.runs), r.cfg.rollouts)
	}
	fmt.Fprintf(&b, "Generated by `make soak` (internal/e2e/soak_test.go, TestSoak). Every rollout is a v1→v2 canary\n"+
		"(20%%, indefinite pause, 60%%, 0.5s pause, 100%%, 1s rollback window) on a Cell of its own; %d Cells\n"+
		"roll at once on one moto emulator whose gateway injects AWS faults into okra's calls. At the pause\n"+
		"each rollout meets one disturbance drawn from the enabled kinds; the invariant monitor\n"+
		"(internal/e2e/invariants_test.go) checks DESIGN.md's operational invariants at every poll (200ms).\n\n", r.cfg.parallel)
	fmt.Fprintf(&b, "Rerun: `SOAK_SEED=%d SOAK_ROLLOUTS=%d SOAK_DISTURBANCES=%s make soak`\n\n", r.cfg.seed, r.cfg.rollouts, strings.Join(r.cfg.kinds, ","))
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| seed | %d |\n| rollouts run | %d |\n| Cells at once | %d |\n| wall time | %s |\n", r.cfg.seed, len(r.runs), r.cfg.parallel, r.wall.Round(time.Second))
	fmt.Fprintf(&b, "| invariant violations | %d |\n| executions left holding a lease | %d |\n| data lost | %d |\n\n", violations, leases, lost)
	fmt.Fprintf(&b, "Data lost means: a history event read after the disturbance and missing at the end, a spec\n"+
		"revision written and not readable at the end, or the Cell status or history unreadable.\n\n")

	fmt.Fprintf(&b, "## Faults injected, by kind\n\n| service | kind | count |\n|---|---|---|\n")
	faults := slices.Clone(r.faults)
	sort.Slice(faults, func(i, j int) bool {
		return faults[i].Service+string(faults[i].Kind) < faults[j].Service+string(faults[j].Kind)
	})
	for _, c := range faults {
		fmt.Fprintf(&b, "| %s | %s | %d |\n", c.Service, c.Kind, c.Count)
	}
	fmt.Fprintf(&b, "\nFault mix: `%s`\n\n", soakFaults)

	kinds, byKind := count(func(run soakRun) []string { return []string{run.kind} })
	fmt.Fprintf(&b, "## Disturbances and outcomes, by kind\n\n| disturbance | rollouts | outcomes | waits resolved | violations | leases left | data lost |\n|---|---|---|---|---|---|---|\n")
	for _, k := range kinds {
		outcomes := map[string]int{}
		var v, l, d, w int
		for _, run := range r.runs {
			if run.kind != k {
				continue
			}
			outcomes[run.outcome]++
			v += len(run.violations)
			d += len(run.dataLost)
			w += run.waits
			if run.leaseLeft {
				l++
			}
		}
		var parts []string
		for o, n := range outcomes {
			parts = append(parts, fmt.Sprintf("%s %d", o, n))
		}
		sort.Strings(parts)
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %d | %d | %d |\n", k, byKind[k], strings.Join(parts, ", "), w, v, l, d)
	}
	outs, byOutcome := count(func(run soakRun) []string { return []string{run.outcome} })
	fmt.Fprintf(&b, "\n## Outcomes\n\n")
	for _, o := range outs {
		fmt.Fprintf(&b, "- %s: %d\n", o, byOutcome[o])
	}
	fmt.Fprintf(&b, "- waited for a human, then resolved (promote or abort at random): %d\n", waitsResolved)

	fmt.Fprintf(&b, "\n## Violations\n\n")
	if violations == 0 && leases == 0 && lost == 0 {
		fmt.Fprintf(&b, "None.\n")
	}
	for _, run := range r.runs {
		for i, v := range run.violations {
			if i == 3 {
				fmt.Fprintf(&b, "- rollout %d (%s): … %d more\n", run.index, run.kind, len(run.violations)-3)
				break
			}
			fmt.Fprintf(&b, "- rollout %d (%s): %s\n", run.index, run.kind, oneLine(v))
		}
		for _, d := range run.dataLost {
			fmt.Fprintf(&b, "- rollout %d (%s): data lost: %s\n", run.index, run.kind, oneLine(d))
		}
		if run.note != "" {
			fmt.Fprintf(&b, "- rollout %d (%s): note: %s\n", run.index, run.kind, run.note)
		}
	}
	return b.String()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}
