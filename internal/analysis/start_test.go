package analysis_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/cell"
)

func cwMetric(name string) cell.Metric {
	ns := "AWS/ApplicationELB"
	return cell.Metric{
		Name:             name,
		SuccessCondition: "all(result[0].Values, {# < 5})",
		Provider: cell.MetricProvider{CloudWatch: &cell.CloudWatchMetric{MetricDataQueries: []cell.MetricDataQuery{{
			ID: "errors",
			MetricStat: &cell.MetricStat{
				Metric: cell.CloudWatchMetricName{
					Namespace:  &ns,
					MetricName: "HTTPCode_Target_5XX_Count",
					Dimensions: []cell.MetricDimension{
						{Name: "TargetGroup", Value: "{{args.canary-target-group}}"},
						{Name: "LoadBalancer", Value: "{{ args.load-balancer }}"},
					},
				},
				Period: cell.Int(60),
				Stat:   "Sum",
			},
		}}}},
	}
}

func TestStartResolvesArguments(t *testing.T) {
	dd := template("dd", ddMetric("latency",
		conditions("result < {{args.threshold}}", ""),
		func(m *cell.Metric) {
			m.Count = &cell.IntOrString{IsString: true, Str: "{{args.count}}"}
			m.Interval = &cell.Duration{Duration: time.Minute}
			m.Provider.Datadog.Query = `p99:latency{service:{{args.service}},version:{{args.canary-version}}}`
		}))
	dd.Spec.Args = []cell.TemplateArg{
		{Name: "threshold", Value: strp("0.3")},
		{Name: "count", Value: strp("2")},
		{Name: "service"},
		{Name: cell.ArgCanaryVersion},
	}
	cw := template("cw", cwMetric("errors"))
	cw.Spec.Args = []cell.TemplateArg{{Name: cell.ArgCanaryTargetGroup}, {Name: cell.ArgLoadBalancer}}
	builtins := map[string]string{
		cell.ArgCanaryVersion:     "v2",
		cell.ArgCanaryTargetGroup: "targetgroup/web-v2/abc",
		cell.ArgLoadBalancer:      "app/web/123",
	}
	args := analysis.MergeArgs(builtins, []cell.AnalysisArg{{Name: "service", Value: `web "eu"`}, {Name: "threshold", Value: "0.25"}})
	run, err := analysis.Start([]cell.AnalysisTemplate{dd, cw}, args, t0)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if run.Phase != analysis.PhaseRunning || run.NextAt == nil || !run.NextAt.Equal(t0) || !run.StartedAt.Equal(t0) {
		t.Fatalf("new run: phase %s, next %v, started %s", run.Phase, run.NextAt, run.StartedAt)
	}
	latency := metricRun(t, run, "latency")
	errs := metricRun(t, run, "errors")
	dims := errs.Spec.Provider.CloudWatch.MetricDataQueries[0].MetricStat.Metric.Dimensions
	checks := []struct{ what, got, want string }{
		{"step arg overrides default", latency.Spec.SuccessCondition, "result < 0.25"},
		{"datadog query", latency.Spec.Provider.Datadog.Query, `p99:latency{service:web "eu",version:v2}`},
		{"recorded query", latency.Query, `p99:latency{service:web "eu",version:v2}`},
		{"datadog default api version", latency.Spec.Provider.Datadog.APIVersion, "v1"},
		{"template", latency.Template, "dd"},
		{"provider", string(errs.Provider), "cloudWatch"},
		{"target group dimension", dims[0].Value, "targetgroup/web-v2/abc"},
		{"spaced reference", dims[1].Value, "app/web/123"},
		{"argument recorded", run.Args["threshold"], "0.25"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if latency.Limits.Count == nil || *latency.Limits.Count != 2 {
		t.Errorf("count from {{args.count}} = %v, want 2", latency.Limits.Count)
	}
	if !strings.Contains(errs.Query, "targetgroup/web-v2/abc") {
		t.Errorf("recorded CloudWatch query %s lacks the target group", errs.Query)
	}
	if errs.Limits.Count == nil || *errs.Limits.Count != 1 || errs.Limits.ConsecutiveErrorLimit != analysis.DefaultConsecutiveErrorLimit ||
		errs.Limits.FailureLimit != 0 || errs.Limits.InconclusiveLimit != 0 {
		t.Errorf("default limits %+v", errs.Limits)
	}
}

func TestStartRefusesBadInput(t *testing.T) {
	withArgs := func(tm cell.AnalysisTemplate, args ...cell.TemplateArg) cell.AnalysisTemplate {
		tm.Spec.Args = args
		return tm
	}
	dd := func(f func(*cell.DatadogMetric)) metricOpt {
		return func(m *cell.Metric) { f(m.Provider.Datadog) }
	}
	noPeriod := cwMetric("m")
	noPeriod.Provider.CloudWatch.MetricDataQueries[0].MetricStat.Period = nil
	prom := ddMetric("m")
	raw := json.RawMessage(`{"query":"up"}`)
	prom.Provider = cell.MetricProvider{Prometheus: &raw}
	cases := []struct {
		name      string
		templates []cell.AnalysisTemplate
		args      map[string]string
		// want appears in the error.
		want string
	}{
		{"no templates", nil, nil, "no analysis templates"},
		{"declared argument without value", []cell.AnalysisTemplate{withArgs(template("t", ddMetric("m")), cell.TemplateArg{Name: "service"})}, nil, `template "t" args.service: argument has no value`},
		{"undeclared reference", []cell.AnalysisTemplate{template("t", ddMetric("m", dd(func(d *cell.DatadogMetric) { d.Query = "avg:x{svc:{{args.svc}}}" })))}, nil, `provider.datadog.query: needs argument "svc"`},
		{"non-argument reference", []cell.AnalysisTemplate{template("t", ddMetric("m", dd(func(d *cell.DatadogMetric) { d.Query = "avg:x{{{workflow.name}}}" })))}, nil, "{{workflow.name}}"},
		{"valueFrom", []cell.AnalysisTemplate{withArgs(template("t", ddMetric("m")), cell.TemplateArg{Name: "key", ValueFrom: &cell.ArgValueFrom{}})}, nil, "valueFrom is not supported"},
		{"conflicting defaults", []cell.AnalysisTemplate{
			withArgs(template("a", ddMetric("m1")), cell.TemplateArg{Name: "x", Value: strp("1")}),
			withArgs(template("b", ddMetric("m2")), cell.TemplateArg{Name: "x", Value: strp("2")}),
		}, nil, `default "2" differs from "1"`},
		{"duplicate metric names", []cell.AnalysisTemplate{template("a", ddMetric("m")), template("b", ddMetric("m"))}, nil, `also used by template "a"`},
		{"count not an integer after substitution", []cell.AnalysisTemplate{withArgs(template("t", ddMetric("m", func(m *cell.Metric) {
			m.Count = &cell.IntOrString{IsString: true, Str: "{{args.n}}"}
		})), cell.TemplateArg{Name: "n", Value: strp("three")})}, nil, `count: is "three" after substituting argument "n"`},
		{"no conditions", []cell.AnalysisTemplate{template("t", ddMetric("m", conditions("", "")))}, nil, "set successCondition, failureCondition or both"},
		{"condition does not compile", []cell.AnalysisTemplate{template("t", ddMetric("m", conditions("result <", "")))}, nil, "successCondition"},
		{"unsupported provider", []cell.AnalysisTemplate{template("t", prom)}, nil, "provider prometheus is not supported"},
		{"count > 1 without interval", []cell.AnalysisTemplate{template("t", ddMetric("m", count(3)))}, nil, "interval is required when count > 1"},
		{"both limits disabled", []cell.AnalysisTemplate{template("t", ddMetric("m", failureLimit(-1)))}, nil, "cannot both be disabled"},
		{"count below failureLimit + consecutiveSuccessLimit", []cell.AnalysisTemplate{template("t", ddMetric("m", count(2), interval(time.Minute), failureLimit(1), successLimit(2)))}, nil, "count (2) must be >="},
		{"negative inconclusiveLimit", []cell.AnalysisTemplate{template("t", ddMetric("m", inconclusiveLimit(-1)))}, nil, "inconclusiveLimit"},
		{"dry run matches nothing", []cell.AnalysisTemplate{func() cell.AnalysisTemplate {
			tm := template("t", ddMetric("m"))
			tm.Spec.DryRun = []cell.DryRun{{MetricName: "^other$"}}
			return tm
		}()}, nil, "matches no metric"},
		{"datadog v1 with queries", []cell.AnalysisTemplate{template("t", ddMetric("m", dd(func(d *cell.DatadogMetric) {
			d.Query, d.APIVersion, d.Queries = "", "v1", map[string]string{"a": "x"}
		})))}, nil, "apiVersion v1 takes a single query"},
		{"datadog queries without formula", []cell.AnalysisTemplate{template("t", ddMetric("m", dd(func(d *cell.DatadogMetric) {
			d.Query, d.Queries = "", map[string]string{"a": "x", "b": "y"}
		})))}, nil, "need a formula"},
		{"datadog bad aggregator", []cell.AnalysisTemplate{template("t", ddMetric("m", dd(func(d *cell.DatadogMetric) {
			d.APIVersion, d.Aggregator = "v2", "median"
		})))}, nil, `aggregator "median"`},
		{"cloudwatch metricStat without period", []cell.AnalysisTemplate{withArgs(template("t", noPeriod), cell.TemplateArg{Name: cell.ArgCanaryTargetGroup, Value: strp("tg")}, cell.TemplateArg{Name: cell.ArgLoadBalancer, Value: strp("lb")})}, nil, "metricStat.period is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			run, err := analysis.Start(tc.templates, tc.args, t0)
			if err == nil {
				t.Fatalf("Start succeeded: %+v", run)
			}
			var se *analysis.SpecError
			if !errors.As(err, &se) {
				t.Errorf("error %T is not a *SpecError: %v", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q lacks %q", err, tc.want)
			}
		})
	}
}
