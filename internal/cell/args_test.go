package cell

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A public Argo Rollouts template parameterising every field a template can:
// durations, counts and limits, conditions, and provider fields of both
// providers. Every argument has a default, so the template validates on
// its own.
const templatedFieldsYAML = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: templated
spec:
  args:
  - {name: initial-delay, value: 30s}
  - {name: interval, value: "60"}
  - {name: count, value: "4"}
  - {name: failure-limit, value: "1"}
  - {name: inconclusive-limit, value: "2"}
  - {name: error-limit, value: "3"}
  - {name: success-limit, value: "1"}
  - {name: window, value: 10m}
  - {name: period, value: "300"}
  - {name: stat, value: p99}
  - {name: namespace, value: AWS/ApplicationELB}
  - {name: timeout, value: 15s}
  - {name: dd-version, value: v2}
  - {name: aggregator, value: avg}
  - {name: service, value: web}
  - {name: max, value: "0.05"}
  - name: load-balancer
  metrics:
  - name: latency
    initialDelay: "{{ args.initial-delay }}"
    interval: "{{args.interval}}"
    count: "{{args.count}}"
    failureLimit: "{{args.failure-limit}}"
    inconclusiveLimit: "{{args.inconclusive-limit}}"
    consecutiveErrorLimit: "{{args.error-limit}}"
    consecutiveSuccessLimit: "{{args.success-limit}}"
    successCondition: "result[0] <= {{args.max}}"
    provider:
      cloudWatch:
        interval: "{{args.window}}"
        metricDataQueries:
        - id: latency
          period: "{{args.period}}"
          metricStat:
            metric:
              namespace: "{{args.namespace}}"
              metricName: TargetResponseTime
              dimensions:
              - {name: LoadBalancer, value: "{{args.load-balancer}}"}
            period: "{{args.period}}"
            stat: "{{args.stat}}"
  - name: errors
    interval: "{{args.interval}}"
    count: "{{args.count}}"
    successCondition: "result <= {{args.max}}"
    provider:
      datadog:
        interval: "{{args.window}}"
        requestTimeout: "{{args.timeout}}"
        apiVersion: "{{args.dd-version}}"
        aggregator: "{{args.aggregator}}"
        query: "sum:errors{service:{{args.service}}}"
`

func decodeTemplated(t *testing.T, doc string) *AnalysisTemplate {
	t.Helper()
	tmpl, err := DecodeTemplate([]byte(doc))
	if err != nil {
		t.Fatalf("DecodeTemplate: %v", err)
	}
	return tmpl
}

func TestTemplatedFieldsDecodeAndValidate(t *testing.T) {
	tmpl := decodeTemplated(t, templatedFieldsYAML)
	if got := tmpl.Spec.Metrics[0].InitialDelay; !got.IsTemplate() || got.Template != "{{ args.initial-delay }}" {
		t.Fatalf("initialDelay decoded as %+v, want the template kept", got)
	}
	if err := ValidateTemplate(tmpl); err != nil {
		t.Fatalf("ValidateTemplate refused a template whose arguments all have good defaults:\n%v", err)
	}
	// It round-trips as written, so a stored template keeps its references.
	tmpl2 := decodeTemplated(t, templatedFieldsYAML)
	if _, err := Check([]byte(cellWithTemplate(t, tmpl2)), sharedTemplates(t)); err != nil {
		t.Fatalf("a Cell embedding the template was refused:\n%v", err)
	}
}

// cellWithTemplate renders the base Cell with tmpl embedded and a step
// naming it.
func cellWithTemplate(t *testing.T, tmpl *AnalysisTemplate) string {
	t.Helper()
	c := baseCell(t)
	c.Spec.AnalysisTemplates = append(c.Spec.AnalysisTemplates, *tmpl)
	stepAnalysis(c, 4).Templates[0].TemplateName = tmpl.Metadata.Name
	stepAnalysis(c, 4).Args = []AnalysisArg{{Name: "count", Value: "5"}}
	return string(mustJSON(t, c))
}

func TestSubstituteArgsReadsEveryKindOfField(t *testing.T) {
	tmpl := decodeTemplated(t, templatedFieldsYAML)
	values := map[string]string{}
	for _, a := range tmpl.Spec.Args {
		if a.Value != nil {
			values[a.Name] = *a.Value
		}
	}
	values["load-balancer"] = "app/web/123"
	cw, problems := SubstituteArgs(tmpl.Spec.Metrics[0], values, false)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	dd, problems := SubstituteArgs(tmpl.Spec.Metrics[1], values, false)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	resolve := func(v *IntOrString) int32 {
		t.Helper()
		n, err := v.Resolve()
		if err != nil {
			t.Fatalf("Resolve: %v", err)
		}
		return n
	}
	q := cw.Provider.CloudWatch.MetricDataQueries[0]
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"initialDelay", cw.InitialDelay.Duration, 30 * time.Second},
		{"interval (seconds)", cw.Interval.Duration, time.Minute},
		{"count", resolve(cw.Count), int32(4)},
		{"failureLimit", resolve(cw.FailureLimit), int32(1)},
		{"inconclusiveLimit", resolve(cw.InconclusiveLimit), int32(2)},
		{"consecutiveErrorLimit", resolve(cw.ConsecutiveErrorLimit), int32(3)},
		{"consecutiveSuccessLimit", resolve(cw.ConsecutiveSuccessLimit), int32(1)},
		{"successCondition", cw.SuccessCondition, "result[0] <= 0.05"},
		{"cloudWatch.interval", cw.Provider.CloudWatch.Interval.Duration, 10 * time.Minute},
		{"query period", resolve(q.Period), int32(300)},
		{"metricStat.period", resolve(q.MetricStat.Period), int32(300)},
		{"metricStat.stat", q.MetricStat.Stat, "p99"},
		{"metric namespace", *q.MetricStat.Metric.Namespace, "AWS/ApplicationELB"},
		{"dimension value", q.MetricStat.Metric.Dimensions[0].Value, "app/web/123"},
		{"datadog.interval", dd.Provider.Datadog.Interval.Duration, 10 * time.Minute},
		{"datadog.requestTimeout", dd.Provider.Datadog.RequestTimeout.Duration, 15 * time.Second},
		{"datadog.apiVersion", dd.Provider.Datadog.APIVersion, "v2"},
		{"datadog.aggregator", dd.Provider.Datadog.Aggregator, "avg"},
		{"datadog.query", dd.Provider.Datadog.Query, "sum:errors{service:web}"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	if cw.InitialDelay.IsTemplate() || dd.Provider.Datadog.RequestTimeout.IsTemplate() {
		t.Error("a substituted duration still holds its template")
	}
}

// Each templated field, given a default that does not fit it, is refused
// after substitution, naming the field path and the argument; and the same
// field with no value for its argument names both too.
func TestTemplatedFieldsAreValidatedAfterSubstitution(t *testing.T) {
	cases := []struct {
		name   string
		arg    string
		value  string
		field  string
		reason string
	}{
		{"initialDelay not a duration", "initial-delay", "soon", "spec.metrics[0].initialDelay", `is "soon" after substituting argument "initial-delay"`},
		{"interval not a duration", "interval", "1 minute", "spec.metrics[0].interval", `want a duration`},
		{"interval zero", "interval", "0s", "spec.metrics[0].interval", "must be a positive duration"},
		{"count not a number", "count", "four", "spec.metrics[0].count", `is "four" after substituting argument "count"`},
		{"count zero", "count", "0", "spec.metrics[0].count", "must be at least 1"},
		{"count below the limits", "count", "1", "spec.metrics[0].count", "must be >= failureLimit + consecutiveSuccessLimit"},
		{"failureLimit too low", "failure-limit", "-2", "spec.metrics[0].failureLimit", "must be >= 0, or -1"},
		{"inconclusiveLimit negative", "inconclusive-limit", "-1", "spec.metrics[0].inconclusiveLimit", "must be >= 0"},
		{"inconclusiveLimit not a number", "inconclusive-limit", "two", "spec.metrics[0].inconclusiveLimit", `argument "inconclusive-limit"`},
		{"consecutiveErrorLimit negative", "error-limit", "-3", "spec.metrics[0].consecutiveErrorLimit", "must be >= 0"},
		{"consecutiveErrorLimit not a number", "error-limit", "3.5", "spec.metrics[0].consecutiveErrorLimit", "want a whole number"},
		{"cloudWatch interval", "window", "ten minutes", "spec.metrics[0].provider.cloudWatch.interval", `argument "window"`},
		{"cloudWatch period", "period", "45", "spec.metrics[0].provider.cloudWatch.metricDataQueries[0].period", "multiple of 60"},
		{"cloudWatch period text", "period", "5m", "spec.metrics[0].provider.cloudWatch.metricDataQueries[0].metricStat.period", `argument "period"`},
		{"cloudWatch stat", "stat", "median", "spec.metrics[0].provider.cloudWatch.metricDataQueries[0].metricStat.stat", "must be a CloudWatch statistic"},
		{"condition", "max", "0.05 &&", "spec.metrics[0].successCondition", "does not compile"},
		{"datadog requestTimeout", "timeout", "-1s", "spec.metrics[1].provider.datadog.requestTimeout", "must be a positive duration"},
		{"datadog apiVersion", "dd-version", "v3", "spec.metrics[1].provider.datadog.apiVersion", "must be v1 or v2"},
		{"datadog aggregator", "aggregator", "median", "spec.metrics[1].provider.datadog.aggregator", "must be one of"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := decodeTemplated(t, templatedFieldsYAML)
			found := false
			for i := range tmpl.Spec.Args {
				if tmpl.Spec.Args[i].Name == tc.arg {
					tmpl.Spec.Args[i].Value = &tc.value
					found = true
				}
			}
			if !found {
				t.Fatalf("no argument %q in the template", tc.arg)
			}
			err := ValidateTemplate(tmpl)
			if err == nil {
				t.Fatalf("ValidateTemplate accepted %s = %q", tc.arg, tc.value)
			}
			assertProblem(t, err, tc.field, tc.reason)
		})
	}
}

func TestSubstituteArgsNamesFieldAndMissingArgument(t *testing.T) {
	tmpl := decodeTemplated(t, templatedFieldsYAML)
	for _, field := range []struct{ path, arg string }{
		{"initialDelay", "initial-delay"},
		{"interval", "interval"},
		{"count", "count"},
		{"failureLimit", "failure-limit"},
		{"inconclusiveLimit", "inconclusive-limit"},
		{"consecutiveErrorLimit", "error-limit"},
		{"consecutiveSuccessLimit", "success-limit"},
		{"successCondition", "max"},
		{"provider.cloudWatch.interval", "window"},
		{"provider.cloudWatch.metricDataQueries[0].period", "period"},
		{"provider.cloudWatch.metricDataQueries[0].metricStat.stat", "stat"},
		{"provider.cloudWatch.metricDataQueries[0].metricStat.metric.dimensions[0].value", "load-balancer"},
	} {
		_, problems := SubstituteArgs(tmpl.Spec.Metrics[0], nil, false)
		ok := false
		for _, p := range problems {
			if p.Field == field.path && p.Arg == field.arg && strings.Contains(p.Reason, `needs argument "`+field.arg+`", which has no value`) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("no problem naming %s and argument %q among:\n%v", field.path, field.arg, problems)
		}
	}
	// Kept, not reported, when validating a template whose step supplies
	// the value later.
	m, problems := SubstituteArgs(tmpl.Spec.Metrics[0], map[string]string{"count": "4"}, true)
	if len(problems) > 0 {
		t.Fatalf("keepUnknown reported %v", problems)
	}
	if m.InitialDelay.Template != "{{ args.initial-delay }}" || m.Count.Str != "4" {
		t.Errorf("partial substitution: initialDelay %+v, count %+v", m.InitialDelay, m.Count)
	}
}

// In a Cell, an argument a template needs and nobody gives is reported with
// the fields that use it; a step's value that does not fit a field is
// reported with the field and the argument.
func TestCellAnalysisArgumentsNameTheirFields(t *testing.T) {
	doc := strings.Replace(templatedFieldsYAML, "  - {name: initial-delay, value: 30s}", "  - {name: initial-delay}", 1)
	c := baseCell(t)
	c.Spec.AnalysisTemplates = append(c.Spec.AnalysisTemplates, *decodeTemplated(t, doc))
	stepAnalysis(c, 4).Templates[0].TemplateName = "templated"
	err := Validate(c, sharedTemplates(t))
	if err == nil {
		t.Fatal("Validate accepted a step that gives no initial-delay")
	}
	assertProblem(t, err, "spec.updateStrategy.canary.steps[4].analysis.args", `needs argument "initial-delay" (used by spec.metrics[0].initialDelay)`)

	stepAnalysis(c, 4).Args = []AnalysisArg{{Name: "initial-delay", Value: "later"}}
	err = Validate(c, sharedTemplates(t))
	if err == nil {
		t.Fatal("Validate accepted initial-delay: later")
	}
	assertProblem(t, err, "spec.updateStrategy.canary.steps[4].analysis.args", `spec.metrics[0].initialDelay: is "later" after substituting argument "initial-delay"`)

	stepAnalysis(c, 4).Args = []AnalysisArg{{Name: "initial-delay", Value: "2m"}}
	if err := Validate(c, sharedTemplates(t)); err != nil {
		t.Fatalf("Validate refused initial-delay: 2m:\n%v", err)
	}
}

// Substitution is read in analysis metrics only: a Cell's own durations
// are refused when written as references.
func TestCellDurationsAreNotTemplated(t *testing.T) {
	c := baseCell(t)
	c.Spec.UpdateStrategy.Canary.Steps[1].Pause.Duration = &Duration{Template: "{{args.wait}}"}
	c.Spec.RollbackWindow = &Duration{Template: "{{args.window}}"}
	err := Validate(c, sharedTemplates(t))
	if err == nil {
		t.Fatal("Validate accepted templated Cell durations")
	}
	assertProblem(t, err, "spec.updateStrategy.canary.steps[1].pause.duration", "only read in analysis template metrics")
	assertProblem(t, err, "spec.rollbackWindow", "only read in analysis template metrics")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
