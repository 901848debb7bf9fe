package cell

import (
	"strings"
	"testing"
)

const argoTemplateYAML = `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
  namespace: shop
spec:
  args:
  - name: service-name
  - name: threshold
    value: "0.95"
  dryRun:
  - metricName: shadow
  measurementRetention:
  - metricName: success-rate
    limit: 20
  metrics:
  - name: success-rate
    interval: 1m
    count: 5
    failureLimit: 1
    successCondition: result >= {{args.threshold}}
    provider:
      datadog:
        apiVersion: v2
        queries:
          ok: "sum:requests.ok{service:{{ args.service-name }}}.as_count()"
          all: "sum:requests{service:{{args.service-name}}}.as_count()"
        formula: ok / all
  - name: shadow
    failureCondition: result > 100
    provider:
      cloudWatch:
        metricDataQueries:
        - id: latency
          metricStat:
            metric: {namespace: AWS/ApplicationELB, metricName: TargetResponseTime}
            period: 300
            stat: p99
`

func TestValidateTemplateAcceptsArgoDocument(t *testing.T) {
	tmpl, err := DecodeTemplate([]byte(argoTemplateYAML))
	if err != nil {
		t.Fatalf("DecodeTemplate: %v", err)
	}
	if err := ValidateTemplate(tmpl); err != nil {
		t.Fatalf("ValidateTemplate:\n%v", err)
	}
}

func TestValidateTemplateRefusesBadTemplates(t *testing.T) {
	cases := []struct {
		name     string
		from, to string
		field    string
		reason   string
	}{
		{"prometheus provider", "      datadog:\n        apiVersion: v2", "      prometheus:\n        address: http://prometheus:9090\n      datadog:\n        apiVersion: v2", "spec.metrics[0].provider.prometheus", "provider prometheus is not supported by okra (supported: cloudWatch, datadog)"},
		{"only an unsupported provider", "      cloudWatch:\n        metricDataQueries:\n        - id: latency\n          metricStat:\n            metric: {namespace: AWS/ApplicationELB, metricName: TargetResponseTime}\n            period: 300\n            stat: p99\n", "      web:\n        url: http://example.com\n", "spec.metrics[1].provider.web", "provider web is not supported by okra"},
		{"plugin provider", "      cloudWatch:\n        metricDataQueries:\n        - id: latency\n          metricStat:\n            metric: {namespace: AWS/ApplicationELB, metricName: TargetResponseTime}\n            period: 300\n            stat: p99\n", "      plugin:\n        argoproj-labs/sample: {}\n", "spec.metrics[1].provider.plugin", "provider plugin is not supported by okra"},
		{"missing name", "  name: success-rate\n  namespace: shop", "  namespace: shop", "metadata.name", "is required"},
		{"undeclared argument", "{{ args.service-name }}", "{{ args.service }}", "spec.metrics[0]", `does not declare "service"`},
		{"count without interval", "    interval: 1m\n    count: 5", "    count: 5", "spec.metrics[0].interval", "required when count > 1"},
		{"argument from a field", "  - name: service-name\n", "  - name: service-name\n    valueFrom:\n      fieldRef:\n        fieldPath: metadata.labels['app']\n", "spec.args[0].valueFrom", "not supported by okra"},
		{"condition with a syntax error", "successCondition: result >= {{args.threshold}}", "successCondition: result >= {{args.threshold}} &&", "spec.metrics[0].successCondition", "does not compile"},
		{"dryRun without metric name", "  - metricName: shadow", "  - metricName: \"\"", "spec.dryRun[0].metricName", "is required"},
		{"negative retention", "    limit: 20", "    limit: -1", "spec.measurementRetention[0].limit", "must be >= 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(argoTemplateYAML, tc.from) {
				t.Fatalf("the base template does not contain %q", tc.from)
			}
			doc := strings.Replace(argoTemplateYAML, tc.from, tc.to, 1)
			tmpl, err := DecodeTemplate([]byte(doc))
			if err != nil {
				t.Fatalf("DecodeTemplate: %v", err)
			}
			err = ValidateTemplate(tmpl)
			if err == nil {
				t.Fatalf("ValidateTemplate accepted it")
			}
			assertProblem(t, err, tc.field, tc.reason)
		})
	}
}

func TestTemplateMapLookup(t *testing.T) {
	tmpl := &AnalysisTemplate{Metadata: Metadata{Name: "a"}}
	var lookup TemplateLookup = TemplateMap{"a": tmpl}
	if got, ok := lookup.Template("a"); !ok || got != tmpl {
		t.Errorf("Template(a) = %v, %t", got, ok)
	}
	if _, ok := lookup.Template("b"); ok {
		t.Error("Template(b) found a template that is not there")
	}
	var empty TemplateMap
	if _, ok := empty.Template("a"); ok {
		t.Error("a nil TemplateMap found a template")
	}
}
