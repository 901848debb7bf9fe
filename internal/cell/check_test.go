package cell

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckReportsDecodingAndValidationProblemsTogether: a document with
// a decoding problem (wrong type, bad duration, unknown field) and a
// validation problem (a value out of range) gets both reported, each once.
func TestCheckReportsDecodingAndValidationProblemsTogether(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edits  []string // old, new pairs applied to minimalCellYAML
		fields []string // every field with a problem, exactly
	}{
		{
			name:   "bad setWeight beside bad duration",
			edits:  []string{"setWeight: 20", "setWeight: 150", "duration: 90", "duration: 5x"},
			fields: []string{"spec.updateStrategy.canary.steps[1].pause.duration", "spec.updateStrategy.canary.steps[0].setWeight"},
		},
		{
			name:   "setWeight of the wrong type beside a rollback window too long",
			edits:  []string{"setWeight: 20", "setWeight: high", "rollbackWindow: 20m", "rollbackWindow: 9000h"},
			fields: []string{"spec.updateStrategy.canary.steps[0].setWeight", "spec.rollbackWindow"},
		},
		{
			name:   "unknown field beside a bad ingress type and a missing selector label",
			edits:  []string{"  rollbackWindow: 20m", "  rollbackWindows: 20m", "type: AWSApplicationLoadBalancer", "type: AWSClassicLoadBalancer"},
			fields: []string{"spec.rollbackWindows", "spec.ingress.type"},
		},
		{
			name:   "a wrongly typed value alone is reported once, not again by validation",
			edits:  []string{"setWeight: 20", "setWeight: [20]"},
			fields: []string{"spec.updateStrategy.canary.steps[0].setWeight"},
		},
		{
			name:   "a step that is not a mapping, beside a second step out of range",
			edits:  []string{"- setWeight: 20", "- twenty", "duration: 90", "duration: 400d"},
			fields: []string{"spec.updateStrategy.canary.steps[0]", "spec.updateStrategy.canary.steps[1].pause.duration"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.NewReplacer(tc.edits...).Replace(minimalCellYAML)
			if doc == minimalCellYAML {
				t.Fatal("the edits changed nothing")
			}
			c, err := Check([]byte(doc), nil)
			if c != nil {
				t.Errorf("got a Cell for an invalid document")
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("error %v is not a *ValidationError", err)
			}
			var got []string
			for _, p := range verr.Problems {
				got = append(got, p.Field)
			}
			if len(got) != len(tc.fields) {
				t.Fatalf("got problems on %q, want exactly %q:\n%v", got, tc.fields, err)
			}
			for _, want := range tc.fields {
				if !strings.Contains(err.Error(), want+": ") {
					t.Errorf("no problem for %s in:\n%v", want, err)
				}
			}
		})
	}
}

func TestCheckAcceptsAValidCellDefaulted(t *testing.T) {
	c, err := Check([]byte(minimalCellYAML), nil)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if c.Spec.Replicas == nil {
		t.Errorf("the Cell Check returns is not defaulted: replicas is nil")
	}
}

func TestCheckKeepsFatalDocumentErrors(t *testing.T) {
	_, err := Check([]byte("apiVersion: okra.dev/v1alpha1\nkind: Rollout\n"), nil)
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 1 || verr.Problems[0].Field != "kind" {
		t.Fatalf("got %v, want only the kind reported", err)
	}
	if _, err := Check([]byte("spec: [unclosed"), nil); err == nil || errors.As(err, &verr) {
		t.Fatalf("got %v, want a YAML error", err)
	}
}

func TestPathRelated(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"spec.steps[1]", "spec.steps[1].setWeight", true},
		{"spec.steps[1].setWeight", "spec.steps[1]", true},
		{"spec.steps[1]", "spec.steps[1]", true},
		{"spec.steps[1]", "spec.steps[10]", false},
		{"spec.ingress", "spec.ingressX", false},
		{"", "spec", false},
	} {
		if got := pathRelated(tc.a, tc.b); got != tc.want {
			t.Errorf("pathRelated(%q, %q) = %t, want %t", tc.a, tc.b, got, tc.want)
		}
	}
}

// A template with a wrongly typed count and an undeclared argument gets
// both reported.
func TestCheckTemplateReportsEveryProblem(t *testing.T) {
	doc := `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: error-rate
spec:
  metrics:
  - name: errors
    count: many
    successCondition: result < 0.01
    provider:
      datadog:
        query: "sum:errors{service:{{args.service}}}"
`
	tmpl, err := CheckTemplate([]byte(doc))
	if tmpl == nil || tmpl.Metadata.Name != "error-rate" {
		t.Errorf("CheckTemplate returned %v, want the decoded template to name it", tmpl)
	}
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) < 2 {
		t.Fatalf("got %v, want at least two problems", err)
	}
	if !strings.Contains(err.Error(), "spec.metrics[0].count: ") || !strings.Contains(err.Error(), "args.service") {
		t.Errorf("problems lack the count or the undeclared argument:\n%v", err)
	}
}
