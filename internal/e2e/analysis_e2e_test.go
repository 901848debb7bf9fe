package e2e

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/analysis/cloudwatch"
	"github.com/okrahq/okra/internal/analysis/datadog"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/local"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/weights"
)

const (
	e2eDatadogAPIKey = "0123456789abcdef0123456789abcdef"
	e2eDatadogAppKey = "0123456789abcdef0123456789abcdef01234567"
)

// analysisBridge wires internal/checks into the shared deployment: the
// rollout-plan function with checks' AnalysisStarter, and the two check
// functions (CloudWatch through the gateway to moto, Datadog through the
// official client to an httptest stand-in). It re-registers those
// functions on the shared gateway so the Datadog check talks to the
// stand-in instead of Datadog; the other functions keep the handlers
// local.Deploy registered.
var analysisBridge struct {
	once    sync.Once
	err     error
	datadog *datadogStandIn
}

func withAnalysis(t *testing.T) *datadogStandIn {
	t.Helper()
	o := deployed(t)
	analysisBridge.once.Do(func() {
		analysisBridge.err = func() error {
			log := slog.New(slog.NewJSONHandler(&shared.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			starter, err := checks.NewStarter(checks.Options{
				Store: o.Store, Discovery: discovery.NewTargetGroups(o.AWS.ELBv2(), o.AWS.Tagging(), discovery.Options{Logger: log}), Logger: log,
				BackgroundPoll: 2 * time.Second,
			})
			if err != nil {
				return err
			}
			deps, err := steps.DepsFromConfig(o.AWS, options.Options{TableName: o.TableName}, log)
			if err != nil {
				return err
			}
			deps.Store, deps.Analysis = o.Store, starter
			plan, err := steps.New(deps)
			if err != nil {
				return err
			}
			// As in the functions: the checks' starter has no discovery
			// (their IAM role reads no load balancers).
			checkStarter, err := checks.NewStarter(checks.Options{Store: o.Store, Logger: log, BackgroundPoll: 2 * time.Second})
			if err != nil {
				return err
			}
			cwCheck, err := checks.NewChecker(checkStarter, analysis.KindCloudWatch, cloudwatch.New(o.AWS.CloudWatch()))
			if err != nil {
				return err
			}
			// The stand-in outlives the tests; the process ends with them.
			dd := &datadogStandIn{answers: map[string]*datadogScript{}}
			srv := httptest.NewServer(dd)
			provider, err := datadog.New(datadog.Options{URL: srv.URL, Keys: datadog.StaticKeys{APIKey: e2eDatadogAPIKey, AppKey: e2eDatadogAppKey}})
			if err != nil {
				return err
			}
			ddCheck, err := checks.NewChecker(checkStarter, analysis.KindDatadog, provider)
			if err != nil {
				return err
			}
			for name, h := range map[string]any{
				local.FunctionRolloutPlan:     plan.Plan,
				local.FunctionCheckCloudWatch: cwCheck.Handle,
				local.FunctionCheckDatadog:    ddCheck.Handle,
			} {
				if err := o.Stack.Gateway.Register(name, h); err != nil {
					return err
				}
			}
			analysisBridge.datadog = dd
			return nil
		}()
	})
	if analysisBridge.err != nil {
		t.Fatalf("wiring the analysis into the local deployment: %v", analysisBridge.err)
	}
	return analysisBridge.datadog
}

// datadogStandIn answers Datadog v1 queries per Cell (the query names the
// Cell as service:NAME): the scripted HTTP statuses in order (the last
// repeats), 200 with two complete one-minute buckets ending at `to`.
type datadogStandIn struct {
	mu      sync.Mutex
	answers map[string]*datadogScript
}

type datadogScript struct {
	statuses []int
	value    float64
	queries  []string
}

func (d *datadogStandIn) script(cellName string, value float64, statuses ...int) *datadogScript {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := &datadogScript{statuses: statuses, value: value}
	d.answers[cellName] = s
	return s
}

func (d *datadogStandIn) requests(cellName string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.answers[cellName]; s != nil {
		return append([]string(nil), s.queries...)
	}
	return nil
}

func (d *datadogStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("DD-API-KEY") != e2eDatadogAPIKey || r.Header.Get("DD-APPLICATION-KEY") != e2eDatadogAppKey {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"errors":["Forbidden"]}`)
		return
	}
	query := r.URL.Query().Get("query")
	d.mu.Lock()
	var s *datadogScript
	for name, script := range d.answers {
		if strings.Contains(query, "service:"+name+",") {
			s = script
		}
	}
	status := http.StatusNotFound
	var value float64
	if s != nil {
		s.queries = append(s.queries, query)
		status, value = s.statuses[0], s.value
		if len(s.statuses) > 1 {
			s.statuses = s.statuses[1:]
		}
	}
	d.mu.Unlock()
	if status != http.StatusOK {
		w.WriteHeader(status)
		fmt.Fprint(w, `{"errors":["no answer scripted"]}`)
		return
	}
	to, _ := strconv.ParseInt(r.URL.Query().Get("to"), 10, 64)
	body, _ := json.Marshal(map[string]any{
		"status": "ok", "res_type": "time_series", "query": query,
		"series": []map[string]any{{
			"scope": "service", "interval": 60, "expression": query,
			"pointlist": [][2]float64{{float64((to - 180) * 1000), value}, {float64((to - 120) * 1000), value}},
		}},
	})
	w.Write(body)
}

// analyze is an analysis step in analysisFixture's list, naming one of
// its embedded templates.
type analyze string

// analysisFixture is a fixture whose Cell has analysis steps: the steps
// as canary takes them, plus analyze("cloudwatch") and analyze("datadog"),
// the analysis steps with the embedded templates of those names.
func analysisFixture(t *testing.T, stepsList ...any) *fixture {
	t.Helper()
	var plain []any
	for _, s := range stepsList {
		if _, ok := s.(analyze); !ok {
			plain = append(plain, s)
		}
	}
	f := newFixture(t, canary(plain...), time.Second, map[string]bool{"v1": true, "v2": true})
	var out []cell.Step
	for _, s := range stepsList {
		switch v := s.(type) {
		case analyze:
			out = append(out, cell.Step{Analysis: &cell.Analysis{Templates: []cell.TemplateRef{{TemplateName: string(v)}}}})
		default:
			out = append(out, canary(v)...)
		}
	}
	f.spec.Spec.UpdateStrategy.Canary.Steps = out
	f.spec.Spec.AnalysisTemplates = []cell.AnalysisTemplate{
		testenv.CanaryErrorsTemplate("cloudwatch"),
		{
			APIVersion: "argoproj.io/v1alpha1", Kind: cell.KindAnalysisTemplate,
			Metadata: cell.Metadata{Name: "datadog"},
			Spec: cell.AnalysisTemplateSpec{
				Args: []cell.TemplateArg{{Name: cell.ArgCell}, {Name: cell.ArgCanaryVersion}},
				Metrics: []cell.Metric{{
					Name:             "dd-errors",
					SuccessCondition: "result < 5",
					Provider:         cell.MetricProvider{Datadog: &cell.DatadogMetric{Query: "sum:trace.http.request.errors{service:{{args.cell}},version:{{args.canary-version}}}.as_count()"}},
				}},
			},
		},
	}
	if err := cell.Validate(f.spec, nil); err != nil {
		t.Fatalf("the analysis fixture's Cell is invalid: %v", err)
	}
	if _, err := f.okra.Store.PutCell(f.ctx, f.spec, 1); err != nil {
		t.Fatalf("PutCell: %v", err)
	}
	return f
}

// putCanaryErrors puts the canary target group's 5xx counts (one a
// minute, oldest first, ending 30s ago) into CloudWatch under the
// dimension values okra's built-in arguments compute.
func (f *fixture) putCanaryErrors(values ...float64) {
	f.t.Helper()
	tg, err := checks.TargetGroupDimension(f.groups["v2"].ARN)
	if err != nil {
		f.t.Fatal(err)
	}
	lb, err := checks.LoadBalancerDimension(f.listener)
	if err != nil {
		f.t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var data []cwtypes.MetricDatum
	for i, v := range values {
		data = append(data, cwtypes.MetricDatum{
			MetricName: aws.String("HTTPCode_Target_5XX_Count"),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("TargetGroup"), Value: aws.String(tg)}, {Name: aws.String("LoadBalancer"), Value: aws.String(lb)}},
			Timestamp:  aws.Time(now.Add(-time.Duration(30+60*(len(values)-1-i)) * time.Second)),
			Value:      aws.Float64(v),
			Unit:       cwtypes.StandardUnitCount,
		})
	}
	if _, err := f.okra.AWS.CloudWatch().PutMetricData(f.ctx, &cw.PutMetricDataInput{Namespace: aws.String("AWS/ApplicationELB"), MetricData: data}); err != nil {
		f.t.Fatalf("PutMetricData: %v", err)
	}
}

// measurements returns the Cell's measurement history as
// "provider/metric=verdict".
func (f *fixture) measurements() []string {
	f.t.Helper()
	var out []string
	for _, ev := range f.events() {
		if ev.Type == store.EventAnalysisMeasurement && ev.Measurement != nil {
			out = append(out, fmt.Sprintf("%s/%s=%s", ev.Measurement.Provider, ev.Measurement.Metric, ev.Measurement.Verdict))
		}
	}
	return out
}

// TestAnalysisStepsRollOut: setWeight 20, a CloudWatch analysis on the
// canary's ALB metrics, a 1s pause, setWeight 60, a Datadog analysis
// (a 500 first, then good data), then 100%: the execution succeeds and
// the history holds every measurement.
func TestAnalysisStepsRollOut(t *testing.T) {
	t.Parallel()
	dd := withAnalysis(t)
	f := analysisFixture(t, 20, analyze("cloudwatch"), time.Second, 60, analyze("datadog"))
	f.putCanaryErrors(1, 0, 2)
	dd.script(f.name, 1, http.StatusInternalServerError, http.StatusOK)
	m := f.monitor(pollEvery(40 * time.Millisecond))
	defer m.assertClean()
	arn := f.start("v2", 1)
	f.wait(arn, sfntypes.ExecutionStatusSucceeded, 90*time.Second)
	seen := m.Seen()

	var got []string
	for _, s := range seen {
		got = append(got, f.describe(s))
	}
	want := []string{f.describe(f.snapshot), f.describe(f.split("v1", 80, "v2", 20)), f.describe(f.split("v1", 40, "v2", 60)),
		f.describe(f.split("v1", 0, "v2", 100)), f.describe(f.split("v2", 100))}
	if strings.Join(got, " → ") != strings.Join(want, " → ") {
		t.Errorf("the listener showed\n  %s\nwant\n  %s", strings.Join(got, " → "), strings.Join(want, " → "))
	}
	if m, want := strings.Join(f.measurements(), " "), "cloudWatch/canary-5xx=Successful datadog/dd-errors=Error datadog/dd-errors=Successful"; m != want {
		t.Errorf("measurements %s, want %s\n%s", m, want, f.dump(arn))
	}
	if q := dd.requests(f.name); len(q) != 2 || q[1] != "sum:trace.http.request.errors{service:"+f.name+",version:v2}.as_count()" {
		t.Errorf("Datadog queries %v", q)
	}
	states := strings.Join(f.states(arn), " ")
	for _, s := range []string{"Analyze WaitForMeasurement MeasureWithCloudWatch? CheckCloudWatch MeasureWithDatadog? AnalysisVerdict NextStep",
		"MeasureWithCloudWatch? MeasureWithDatadog? CheckDatadog AnalysisVerdict WaitForMeasurement"} {
		if !strings.Contains(states, s) {
			t.Errorf("the execution did not pass %q: %s", s, states)
		}
	}
	if st := f.status(); st.Phase != rollout.PhaseStable || st.StableVersion != "v2" || st.Leased() {
		t.Errorf("final status %s stable %s leased %t", st.Phase, st.StableVersion, st.Leased())
	}
}

// TestFailingAnalysisRollsBack: the canary's 5xx count breaks the
// failureCondition at the first analysis: the listener returns to exactly
// the snapshot, v2 is blocked, and the status says which metric failed.
func TestFailingAnalysisRollsBack(t *testing.T) {
	t.Parallel()
	withAnalysis(t)
	f := analysisFixture(t, 20, analyze("cloudwatch"), 60)
	f.putCanaryErrors(3, 70, 90)
	arn := f.start("v2", 1)
	out := f.wait(arn, sfntypes.ExecutionStatusFailed, 60*time.Second)
	if got := aws.ToString(out.Error); got != "RolledBack" {
		t.Errorf("execution error %q, want RolledBack", got)
	}
	if got := f.forward(); !weights.Equal(got, f.snapshot) {
		t.Errorf("listener after the rollback: %s, want exactly the snapshot %s", f.describe(got), f.describe(f.snapshot))
	}
	b, blocked, err := f.okra.Store.IsBlocked(f.ctx, f.name, "v2")
	if err != nil || !blocked || !strings.Contains(b.Reason, `"canary-5xx"`) {
		t.Errorf("block of v2: %+v blocked %t (%v), want blocked naming the metric", b, blocked, err)
	}
	st := f.status()
	for _, s := range []string{`metric "canary-5xx" assessed Failed`, "last value [90 70 3]", `failureCondition "any(result[0].Values, {# >= 50})"`} {
		if !strings.Contains(st.Message, s) {
			t.Errorf("status message %q lacks %q", st.Message, s)
		}
	}
	if st.Phase != rollout.PhaseRolledBack || st.Leased() || st.StableVersion != "v1" {
		t.Errorf("status %s leased %t stable %s, want RolledBack, released, stable v1", st.Phase, st.Leased(), st.StableVersion)
	}
	if m := strings.Join(f.measurements(), " "); m != "cloudWatch/canary-5xx=Failed" {
		t.Errorf("measurements %s", m)
	}
	if states := strings.Join(f.states(arn), " "); !strings.Contains(states, "AnalysisVerdict AnalysisFailed RollbackOnError Rollback RolledBack") {
		t.Errorf("states: %s", states)
	}
}

// TestInconclusiveAnalysisWaitsForAHuman: the canary has no datapoints,
// so the analysis is inconclusive: the rollout waits (status Paused with
// the analysis' reason) until promoted, then completes.
func TestInconclusiveAnalysisWaitsForAHuman(t *testing.T) {
	t.Parallel()
	withAnalysis(t)
	f := analysisFixture(t, 20, analyze("cloudwatch"), 60)
	arn := f.start("v2", 1)
	st := f.waitPaused(arn)
	for _, s := range []string{"Inconclusive", `"canary-5xx"`, "no datapoints"} {
		if !strings.Contains(st.Message, s) {
			t.Errorf("status message %q lacks %q", st.Message, s)
		}
	}
	if !weights.Equal(f.forward(), f.split("v1", 80, "v2", 20)) {
		t.Errorf("paused with the listener at %s, want v1=80 v2=20", f.describe(f.forward()))
	}
	if _, err := f.okra.Gate.Promote(f.ctx, f.name); err != nil {
		t.Fatalf("Promote: %v\n%s", err, f.dump(arn))
	}
	f.wait(arn, sfntypes.ExecutionStatusSucceeded, 60*time.Second)
	if !weights.Equal(f.forward(), f.split("v2", 100)) {
		t.Errorf("listener after the rollout: %s", f.describe(f.forward()))
	}
	if m := strings.Join(f.measurements(), " "); m != "cloudWatch/canary-5xx=Inconclusive" {
		t.Errorf("measurements %s", m)
	}
}

// TestBackgroundAnalysis runs the Cell's background analysis (the
// CloudWatch template, from step 1) in the state machine's second branch:
// with good data the rollout completes and the branch stops with it; with
// failing data it fails the rollout during an indefinite pause and the
// listener returns to the snapshot.
func TestBackgroundAnalysis(t *testing.T) {
	t.Parallel()
	withAnalysis(t)
	background := func(f *fixture) {
		f.t.Helper()
		f.spec.Spec.UpdateStrategy.Canary.Analysis = &cell.BackgroundAnalysis{
			Analysis:     cell.Analysis{Templates: []cell.TemplateRef{{TemplateName: "cloudwatch"}}},
			StartingStep: aws.Int32(1),
		}
		if _, err := f.okra.Store.PutCell(f.ctx, f.spec, 2); err != nil {
			f.t.Fatalf("PutCell: %v", err)
		}
	}
	t.Run("passes", func(t *testing.T) {
		t.Parallel()
		f := analysisFixture(t, 20, 3*time.Second, 60)
		background(f)
		f.putCanaryErrors(0, 1, 0)
		arn := f.start("v2", 1)
		f.wait(arn, sfntypes.ExecutionStatusSucceeded, 60*time.Second)
		if m := strings.Join(f.measurements(), " "); m != "cloudWatch/canary-5xx=Successful" {
			t.Errorf("measurements %s\n%s", m, f.dump(arn))
		}
		states := strings.Join(f.states(arn), " ")
		for _, s := range []string{"BackgroundCheckCloudWatch", "BackgroundDone", "RolloutDone"} {
			if !strings.Contains(states, s) {
				t.Errorf("the execution never entered %s: %s", s, states)
			}
		}
		if !weights.Equal(f.forward(), f.split("v2", 100)) {
			t.Errorf("listener after the rollout: %s", f.describe(f.forward()))
		}
	})
	t.Run("fails", func(t *testing.T) {
		t.Parallel()
		f := analysisFixture(t, 20, "pause", 60)
		background(f)
		f.putCanaryErrors(90, 90, 90)
		arn := f.start("v2", 1)
		out := f.wait(arn, sfntypes.ExecutionStatusFailed, 60*time.Second)
		if got := aws.ToString(out.Error); got != "RolledBack" {
			t.Errorf("execution error %q, want RolledBack", got)
		}
		if got := f.forward(); !weights.Equal(got, f.snapshot) {
			t.Errorf("listener after the rollback: %s, want exactly the snapshot %s", f.describe(got), f.describe(f.snapshot))
		}
		if m := strings.Join(f.measurements(), " "); m != "cloudWatch/canary-5xx=Failed" {
			t.Errorf("measurements %s", m)
		}
		var completed string
		for _, ev := range f.events() {
			if ev.Type == store.EventAnalysisCompleted {
				completed = ev.Message
			}
		}
		if !strings.Contains(completed, `metric "canary-5xx" assessed Failed`) {
			t.Errorf("the history does not say why the background analysis failed: %q", completed)
		}
		if states := strings.Join(f.states(arn), " "); !strings.Contains(states, "BackgroundAnalysisFailed") || !strings.Contains(states, "RollbackAfterFailure") {
			t.Errorf("states: %s", states)
		}
	})
}
