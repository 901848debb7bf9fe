package cell

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const minimalCellYAML = `apiVersion: okra.dev/v1alpha1
kind: Cell
metadata:
  name: web
spec:
  ingress:
    type: AWSApplicationLoadBalancer
    listenerARN: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web-alb/50dc6c495c0c9188/f2f7dc8efc522ab2
    targetGroupSelector:
      matchLabels: {role: web}
  clusterSelector:
    matchTags: {role: web}
  rollbackWindow: 20m
  updateStrategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {duration: 90}
`

const minimalCellJSON = `{
  "apiVersion": "okra.dev/v1alpha1",
  "kind": "Cell",
  "metadata": {"name": "web"},
  "spec": {
    "ingress": {
      "type": "AWSApplicationLoadBalancer",
      "listenerARN": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web-alb/50dc6c495c0c9188/f2f7dc8efc522ab2",
      "targetGroupSelector": {"matchLabels": {"role": "web"}}
    },
    "clusterSelector": {"matchTags": {"role": "web"}},
    "rollbackWindow": "20m",
    "updateStrategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {"duration": "90s"}}]}}
  }
}`

func TestDecodeReadsYAMLAndJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
	}{
		{"yaml", minimalCellYAML},
		{"json", minimalCellJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Decode([]byte(tc.doc))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if c.Metadata.Name != "web" {
				t.Errorf("name = %q, want web", c.Metadata.Name)
			}
			if c.Spec.Ingress.Type != IngressALB {
				t.Errorf("ingress type = %q", c.Spec.Ingress.Type)
			}
			if got := c.Spec.ClusterSelector.MatchTags["role"]; got != "web" {
				t.Errorf("matchTags.role = %q", got)
			}
			if c.Spec.RollbackWindow == nil || c.Spec.RollbackWindow.Duration != 20*time.Minute {
				t.Errorf("rollbackWindow = %v, want 20m", c.Spec.RollbackWindow)
			}
			steps := c.Spec.UpdateStrategy.Canary.Steps
			if len(steps) != 2 || steps[0].SetWeight == nil || *steps[0].SetWeight != 20 {
				t.Fatalf("steps = %+v", steps)
			}
			if d := steps[1].Pause.Duration; d == nil || d.Duration != 90*time.Second {
				t.Errorf("pause duration = %v, want 90s", d)
			}
			if c.Spec.Replicas != nil {
				t.Errorf("Decode applied a default (replicas = %d); that is Default's job", *c.Spec.Replicas)
			}
		})
	}
}

func TestDecodeRefusesBadDocuments(t *testing.T) {
	cases := []struct {
		name   string
		doc    string
		field  string // "" for errors that are not field problems
		reason string
	}{
		{"unknown top-level field", minimalCellYAML + "status: {}\n", "status", "unknown field"},
		{"unknown nested field with suggestion", strings.Replace(minimalCellYAML, "    listenerARN:", "    listenerArn:", 1), "spec.ingress.listenerArn", `did you mean "listenerARN"?`},
		{"unknown field in a list item", strings.Replace(minimalCellYAML, "- setWeight: 20", "- setWieght: 20", 1), "spec.updateStrategy.canary.steps[0].setWieght", `did you mean "setWeight"?`},
		{"field in the wrong case", strings.Replace(minimalCellYAML, "  rollbackWindow:", "  RollbackWindow:", 1), "spec.RollbackWindow", `did you mean "rollbackWindow"?`},
		{"wrong kind", strings.Replace(minimalCellYAML, "kind: Cell", "kind: Rollout", 1), "kind", `must be Cell, got "Rollout"`},
		{"missing kind", strings.Replace(minimalCellYAML, "kind: Cell\n", "", 1), "kind", "got nothing"},
		{"wrong apiVersion", strings.Replace(minimalCellYAML, "okra.dev/v1alpha1", "argoproj.io/v1alpha1", 1), "apiVersion", "must be okra.dev/v1alpha1"},
		{"bad duration", strings.Replace(minimalCellYAML, "rollbackWindow: 20m", "rollbackWindow: 20 minutes", 1), "spec.rollbackWindow", `invalid duration "20 minutes"`},
		{"bad pause duration", strings.Replace(minimalCellYAML, "duration: 90", "duration: soon", 1), "spec.updateStrategy.canary.steps[1].pause.duration", "invalid duration"},
		{"number where text belongs", strings.Replace(minimalCellYAML, "matchTags: {role: web}", "matchTags: {role: 1.10}", 1), "spec.clusterSelector.matchTags.role", "must be a string, got number 1.1"},
		{"text where a number belongs", strings.Replace(minimalCellYAML, "setWeight: 20", "setWeight: twenty", 1), "spec.updateStrategy.canary.steps[0].setWeight", "must be a whole number"},
		{"fraction where an integer belongs", strings.Replace(minimalCellYAML, "setWeight: 20", "setWeight: 20.5", 1), "spec.updateStrategy.canary.steps[0].setWeight", "must be a whole number"},
		{"integer out of range", strings.Replace(minimalCellYAML, "setWeight: 20", "setWeight: 99999999999", 1), "spec.updateStrategy.canary.steps[0].setWeight", "fits in 32 bits"},
		{"list where a mapping belongs", strings.Replace(minimalCellYAML, "matchTags: {role: web}", "matchTags: [role]", 1), "spec.clusterSelector.matchTags", "must be a mapping"},
		{"mapping where a list belongs", strings.Replace(minimalCellYAML, "      steps:\n      - setWeight: 20\n      - pause: {duration: 90}\n", "      steps: {setWeight: 20}\n", 1), "spec.updateStrategy.canary.steps", "must be a list"},
		{"label key with a dotted name", strings.Replace(minimalCellYAML, "  name: web\n", "  name: web\n  labels: {app.kubernetes.io/name: 3}\n", 1), `metadata.labels["app.kubernetes.io/name"]`, "must be a string"},
		{"duplicate key", strings.Replace(minimalCellYAML, "  name: web\n", "  name: web\n  name: api\n", 1), "", "already set"},
		{"YAML syntax error", "apiVersion: [unclosed\n", "", "parsing YAML"},
		{"empty document", "", "", "document is empty"},
		{"only a comment", "# nothing here\n", "", "document is empty"},
		{"a list, not a mapping", "- a\n- b\n", "", "must be a mapping"},
		{"two documents", minimalCellYAML + "---\n" + minimalCellYAML, "", "second YAML document"},
		{"too large", minimalCellYAML + "# " + strings.Repeat("x", MaxDocumentSize) + "\n", "", "more than the"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Decode([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Decode accepted the document: %+v", c)
			}
			if tc.field != "" {
				assertProblem(t, err, tc.field, tc.reason)
				return
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %q does not mention %q", err, tc.reason)
			}
		})
	}
}

func TestDecodeReportsEveryDecodingProblem(t *testing.T) {
	doc := strings.NewReplacer(
		"rollbackWindow: 20m", "rollbackWindow: later",
		"setWeight: 20", "setWeight: high",
		"  clusterSelector:", "  clusterSelectors:",
	).Replace(minimalCellYAML)
	_, err := Decode([]byte(doc))
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error %v is not a *ValidationError", err)
	}
	if len(verr.Problems) != 3 {
		t.Fatalf("got %d problems, want 3:\n%v", len(verr.Problems), err)
	}
	for _, field := range []string{"spec.rollbackWindow", "spec.updateStrategy.canary.steps[0].setWeight", "spec.clusterSelectors"} {
		if !strings.Contains(err.Error(), field+": ") {
			t.Errorf("no problem for %s in:\n%v", field, err)
		}
	}
}

func TestDecodeKeepsIntOrStringForms(t *testing.T) {
	doc := `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t, namespace: team-a, annotations: {note: x}}
spec:
  args: [{name: count}]
  metrics:
  - name: m
    count: "{{args.count}}"
    failureLimit: 2
    inconclusiveLimit: "3"
    interval: 1m
    successCondition: result < 1
    provider:
      datadog: {query: "avg:x{*}", requestTimeout: 10s}
`
	tmpl, err := DecodeTemplate([]byte(doc))
	if err != nil {
		t.Fatalf("DecodeTemplate: %v", err)
	}
	m := tmpl.Spec.Metrics[0]
	if !m.Count.IsString || m.Count.Str != "{{args.count}}" {
		t.Errorf("count = %+v, want the text form kept", m.Count)
	}
	if m.FailureLimit.IsString || m.FailureLimit.Int != 2 {
		t.Errorf("failureLimit = %+v, want 2", m.FailureLimit)
	}
	if n, err := m.EffectiveInconclusiveLimit(); err != nil || n != 3 {
		t.Errorf("EffectiveInconclusiveLimit = %d, %v; want 3", n, err)
	}
	if _, _, err := m.EffectiveCount(); err == nil {
		t.Error("EffectiveCount of an unsubstituted {{args.count}} succeeded, want an error")
	}
	if tmpl.Metadata.Namespace != "team-a" {
		t.Errorf("namespace = %q", tmpl.Metadata.Namespace)
	}
	if err := ValidateTemplate(tmpl); err != nil {
		t.Errorf("ValidateTemplate: %v", err)
	}
}

func TestDecodeTemplateKinds(t *testing.T) {
	body := `
metadata: {name: t}
spec:
  metrics:
  - name: m
    successCondition: result < 1
    provider: {datadog: {query: "avg:x{*}"}}
`
	cases := []struct {
		name, header string
		ok           bool
		field        string
	}{
		{"Argo AnalysisTemplate", "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate", true, ""},
		{"Argo ClusterAnalysisTemplate", "apiVersion: argoproj.io/v1alpha1\nkind: ClusterAnalysisTemplate", true, ""},
		{"okra apiVersion", "apiVersion: okra.dev/v1alpha1\nkind: AnalysisTemplate", true, ""},
		{"AnalysisRun is not a template", "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisRun", false, "kind"},
		{"other apiVersion", "apiVersion: argoproj.io/v1beta1\nkind: AnalysisTemplate", false, "apiVersion"},
		{"Cell is not a template", "apiVersion: okra.dev/v1alpha1\nkind: Cell", false, "kind"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeTemplate([]byte(tc.header + body))
			if tc.ok {
				if err != nil {
					t.Fatalf("DecodeTemplate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("DecodeTemplate accepted it")
			}
			assertProblem(t, err, tc.field, "must be")
		})
	}
}

func TestDecodeTemplateRefusesUnknownProviderFieldsByPath(t *testing.T) {
	doc := `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec:
  metrics:
  - name: m
    successCondition: result < 1
    provider:
      cloudWatch:
        metricDataQueries:
        - id: a
          expresion: x
`
	_, err := DecodeTemplate([]byte(doc))
	assertProblem(t, err, "spec.metrics[0].provider.cloudWatch.metricDataQueries[0].expresion", `did you mean "expression"?`)
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		minimalCellYAML,
		minimalCellJSON,
		baseCellYAML,
		"",
		"---\n",
		"a: [1, 2",
		"spec: {replicas: 99999999999999999999}",
		"spec: {updateStrategy: {canary: {steps: [{pause: {duration: -5s}}]}}}",
		"metadata: &a {name: *a}",
		"apiVersion: okra.dev/v1alpha1\nkind: Cell\nspec: {analysisTemplates: [{spec: {metrics: [{count: '{{args.x}}', provider: {prometheus: {}}}]}}]}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil {
			return
		}
		// Whatever decodes must default and validate without panicking.
		c.Default()
		_ = Validate(c, nil)
		if _, err := DecodeTemplate(data); err == nil {
			t.Fatalf("one document decoded both as a Cell and as a template")
		}
	})
}
