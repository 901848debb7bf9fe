package analysis_test

import (
	"strings"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/cell"
)

// An Argo Rollouts template with every templatable metric field written as
// an argument reference, as public templates are.
const templatedTemplate = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: templated}
spec:
  args:
  - name: initial-delay
  - {name: interval, value: 1m}
  - {name: count, value: "3"}
  - {name: failure-limit, value: "1"}
  - {name: inconclusive-limit, value: "2"}
  - {name: error-limit, value: "2"}
  - {name: window, value: 10m}
  - {name: timeout, value: 5s}
  - {name: max, value: "0.05"}
  metrics:
  - name: errors
    initialDelay: "{{ args.initial-delay }}"
    interval: "{{args.interval}}"
    count: "{{args.count}}"
    failureLimit: "{{args.failure-limit}}"
    inconclusiveLimit: "{{args.inconclusive-limit}}"
    consecutiveErrorLimit: "{{args.error-limit}}"
    successCondition: "result <= {{args.max}}"
    provider:
      datadog:
        interval: "{{args.window}}"
        requestTimeout: "{{args.timeout}}"
        query: "sum:errors{cell:{{args.cell}}}"
`

func templated(t *testing.T) cell.AnalysisTemplate {
	t.Helper()
	tmpl, err := cell.DecodeTemplate([]byte(strings.Replace(templatedTemplate, "  - name: initial-delay\n", "  - name: initial-delay\n  - name: cell\n", 1)))
	if err != nil {
		t.Fatalf("DecodeTemplate: %v", err)
	}
	return *tmpl
}

func TestStartSubstitutesTemplatedFields(t *testing.T) {
	run, err := analysis.Start([]cell.AnalysisTemplate{templated(t)}, map[string]string{"initial-delay": "90s", "cell": "web", "count": "4"}, t0)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	mr := run.Metrics[0]
	if mr.NextAt == nil || !mr.NextAt.Equal(t0.Add(90*time.Second)) {
		t.Errorf("first measurement at %v, want initialDelay 90s after %v", mr.NextAt, t0)
	}
	if mr.Limits.Count == nil || *mr.Limits.Count != 4 {
		t.Errorf("count = %v, want the step's 4 over the default 3", mr.Limits.Count)
	}
	if mr.Limits.FailureLimit != 1 || mr.Limits.InconclusiveLimit != 2 || mr.Limits.ConsecutiveErrorLimit != 2 {
		t.Errorf("limits = %+v, want failure 1, inconclusive 2, consecutive errors 2", mr.Limits)
	}
	dd := mr.Spec.Provider.Datadog
	if mr.Spec.Interval.Duration != time.Minute || dd.Interval.Duration != 10*time.Minute || dd.RequestTimeout.Duration != 5*time.Second {
		t.Errorf("durations: interval %v, datadog interval %v, requestTimeout %v", mr.Spec.Interval, dd.Interval, dd.RequestTimeout)
	}
	if mr.Spec.SuccessCondition != "result <= 0.05" || dd.Query != "sum:errors{cell:web}" {
		t.Errorf("condition %q, query %q", mr.Spec.SuccessCondition, dd.Query)
	}
}

func TestStartNamesFieldAndArgument(t *testing.T) {
	cases := []struct {
		name string
		args map[string]string
		want []string
	}{
		{"argument without a value", map[string]string{"cell": "web"},
			[]string{`args.initial-delay`, `spec.metrics[0].initialDelay needs it`}},
		{"duration that is not one", map[string]string{"cell": "web", "initial-delay": "soon"},
			[]string{`metric "errors" initialDelay`, `"soon"`, `argument "initial-delay"`}},
		{"count that is not a number", map[string]string{"cell": "web", "initial-delay": "0s", "count": "many"},
			[]string{`metric "errors" count`, `argument "count"`}},
		{"limit checked after substitution", map[string]string{"cell": "web", "initial-delay": "0s", "count": "1"},
			[]string{`count (1) must be >= inconclusiveLimit (2)`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := analysis.Start([]cell.AnalysisTemplate{templated(t)}, tc.args, t0)
			if err == nil {
				t.Fatal("Start succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
