package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/okrahq/okra/internal/awsapi"
)

const (
	examples  = "../../examples"
	templates = "../../examples/templates"
)

type result struct {
	code   int
	stdout string
	stderr string
}

func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestValidateCommands(t *testing.T) {
	cases := []struct {
		name        string
		args        []string
		stdin       string
		code        int
		stdoutLines []string // exact, when not nil
		stdoutHas   []string
		stderrHas   []string
	}{
		{
			name:        "valid cell",
			args:        []string{"cell", "validate", "-f", examples + "/alb-basic.yaml"},
			code:        ExitOK,
			stdoutLines: []string{`cell "web" is valid`},
		},
		{
			name: "several valid cells with shared templates",
			args: []string{"cell", "validate", "-f", examples + "/nlb.yaml", "-f", examples + "/background-analysis.yaml",
				"-f", examples + "/shared-template-step.yaml", "--templates", templates},
			code:        ExitOK,
			stdoutLines: []string{`cell "tcp-echo" is valid`, `cell "catalog" is valid`, `cell "orders" is valid`},
		},
		{
			name: "invalid cell lists every problem",
			args: []string{"cell", "validate", "-f", "testdata/bad-cell.yaml"},
			code: ExitFailure,
			stdoutLines: []string{
				"testdata/bad-cell.yaml: spec.replicas: must be 1..2: during a rollout two versions share one forward action of at most 5 target groups, got 3",
				`testdata/bad-cell.yaml: spec.updateStrategy.canary.steps[1].analysis.templates[0].templateName: analysis template "error-rate" not found in spec.analysisTemplates or among shared templates`,
				"testdata/bad-cell.yaml: spec.updateStrategy.canary.steps[2].setWeight: must be 0..100, got 120",
			},
		},
		{
			name:        "unknown field",
			args:        []string{"cell", "validate", "-f", "testdata/unknown-field-cell.yaml"},
			code:        ExitFailure,
			stdoutLines: []string{`testdata/unknown-field-cell.yaml: spec.replica: unknown field "replica" (did you mean "replicas"?)`},
		},
		{
			name:        "one valid and one invalid cell",
			args:        []string{"cell", "validate", "-f", examples + "/nlb.yaml", "-f", "testdata/unknown-field-cell.yaml"},
			code:        ExitFailure,
			stdoutLines: []string{`cell "tcp-echo" is valid`, `testdata/unknown-field-cell.yaml: spec.replica: unknown field "replica" (did you mean "replicas"?)`},
		},
		{
			name:      "shared template missing without --templates",
			args:      []string{"cell", "validate", "-f", examples + "/background-analysis.yaml"},
			code:      ExitFailure,
			stdoutHas: []string{`spec.updateStrategy.canary.analysis.templates[0].templateName: analysis template "alb-5xx-rate" not found`},
		},
		{
			name:        "cell from stdin",
			args:        []string{"cell", "validate", "-f", "-"},
			stdin:       mustRead(t, examples+"/canary-pauses.yaml"),
			code:        ExitOK,
			stdoutLines: []string{`cell "canary-web" is valid`},
		},
		{
			name:        "invalid cell from stdin is named <stdin>",
			args:        []string{"cell", "validate", "-f", "-"},
			stdin:       "apiVersion: okra.dev/v1alpha1\nkind: Rollout\n",
			code:        ExitFailure,
			stdoutLines: []string{`<stdin>: kind: must be Cell, got "Rollout"`},
		},
		{
			name:      "YAML syntax error",
			args:      []string{"cell", "validate", "-f", "-"},
			stdin:     "spec: [unclosed\n",
			code:      ExitFailure,
			stdoutHas: []string{"<stdin>: parsing YAML"},
		},
		{
			name:      "invalid template in --templates",
			args:      []string{"cell", "validate", "-f", examples + "/alb-basic.yaml", "--templates", "testdata/bad-templates"},
			code:      ExitFailure,
			stdoutHas: []string{"testdata/bad-templates/broken.yaml: spec.metrics[0].interval: is required when count > 1 (count is 3)", `cell "web" is valid`},
		},
		{
			name:      "missing file",
			args:      []string{"cell", "validate", "-f", "testdata/nope.yaml"},
			code:      ExitUsage,
			stderrHas: []string{"reading testdata/nope.yaml: no such file or directory", "Run 'okra cell validate --help' for usage."},
		},
		{
			name:      "missing -f",
			args:      []string{"cell", "validate"},
			code:      ExitUsage,
			stderrHas: []string{`required flag(s) "filename" not set`},
		},
		{
			name:      "stdin twice",
			args:      []string{"cell", "validate", "-f", "-", "-f", "-"},
			code:      ExitUsage,
			stderrHas: []string{"only once"},
		},
		{
			name:      "missing templates directory",
			args:      []string{"cell", "validate", "-f", examples + "/alb-basic.yaml", "--templates", "testdata/none"},
			code:      ExitUsage,
			stderrHas: []string{"reading --templates directory testdata/none"},
		},
		{
			name:      "bad output format",
			args:      []string{"cell", "validate", "-f", examples + "/alb-basic.yaml", "-o", "xml"},
			code:      ExitUsage,
			stderrHas: []string{`--output must be table, json or yaml, got "xml"`},
		},
		{
			name:      "unknown flag",
			args:      []string{"cell", "validate", "--file", "x"},
			code:      ExitUsage,
			stderrHas: []string{"unknown flag: --file"},
		},
		{
			name:      "unknown command",
			args:      []string{"cells"},
			code:      ExitUsage,
			stderrHas: []string{`unknown command "cells" for "okra"`},
		},
		{
			name:      "unknown subcommand",
			args:      []string{"cell", "frobnicate"},
			code:      ExitUsage,
			stderrHas: []string{`unknown command "frobnicate" for "okra cell"`},
		},
		{
			name:      "group alone prints its help",
			args:      []string{"template"},
			code:      ExitOK,
			stdoutHas: []string{"okra template [command]", "validate"},
		},
		{
			name:        "valid templates",
			args:        []string{"template", "validate", "-f", templates + "/datadog-error-rate.yaml", "-f", templates + "/alb-5xx-rate.yaml"},
			code:        ExitOK,
			stdoutLines: []string{`template "datadog-error-rate" is valid`, `template "alb-5xx-rate" is valid`},
		},
		{
			name: "template with an unsupported provider",
			args: []string{"template", "validate", "-f", "testdata/prometheus-template.yaml"},
			code: ExitFailure,
			stdoutLines: []string{
				"testdata/prometheus-template.yaml: spec.metrics[0].provider.prometheus: provider prometheus is not supported by okra (supported: cloudWatch, datadog)",
			},
		},
		{
			name:        "a Cell is not a template",
			args:        []string{"template", "validate", "-f", examples + "/alb-basic.yaml"},
			code:        ExitFailure,
			stdoutLines: []string{`../../examples/alb-basic.yaml: kind: must be AnalysisTemplate or ClusterAnalysisTemplate, got "Cell"`},
		},
		{
			name:      "template file missing",
			args:      []string{"template", "validate", "-f", "testdata/nope.yaml"},
			code:      ExitUsage,
			stderrHas: []string{"reading testdata/nope.yaml"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.stdin, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			if tc.stdoutLines != nil {
				got := lines(r.stdout)
				if strings.Join(got, "\n") != strings.Join(tc.stdoutLines, "\n") {
					t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, strings.Join(tc.stdoutLines, "\n"))
				}
			}
			for _, want := range tc.stdoutHas {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout does not contain %q:\n%s", want, r.stdout)
				}
			}
			for _, want := range tc.stderrHas {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, r.stderr)
				}
			}
			if tc.code != ExitUsage && r.stderr != "" {
				t.Errorf("unexpected stderr:\n%s", r.stderr)
			}
		})
	}
}

func TestValidateJSONOutput(t *testing.T) {
	r := run(t, "", "cell", "validate", "-o", "json", "-f", examples+"/nlb.yaml", "-f", "testdata/bad-cell.yaml")
	if r.code != ExitFailure {
		t.Fatalf("exit code %d, want %d; stderr %s", r.code, ExitFailure, r.stderr)
	}
	var results []validationResult
	if err := json.Unmarshal([]byte(r.stdout), &results); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
	}
	if len(results) != 2 {
		t.Fatalf("got %d results, want 2", len(results))
	}
	if !results[0].Valid || results[0].Name != "tcp-echo" || len(results[0].Problems) != 0 {
		t.Errorf("first result %+v, want tcp-echo valid", results[0])
	}
	bad := results[1]
	if bad.Valid || bad.File != "testdata/bad-cell.yaml" || len(bad.Problems) != 3 {
		t.Fatalf("second result %+v, want 3 problems", bad)
	}
	if bad.Problems[2].Field != "spec.updateStrategy.canary.steps[2].setWeight" {
		t.Errorf("third problem's field %q", bad.Problems[2].Field)
	}
}

func TestValidateYAMLOutput(t *testing.T) {
	r := run(t, "", "template", "validate", "--output", "yaml", "-f", templates+"/alb-5xx-rate.yaml")
	if r.code != ExitOK {
		t.Fatalf("exit code %d; stderr %s", r.code, r.stderr)
	}
	for _, want := range []string{"- file: ../../examples/templates/alb-5xx-rate.yaml", "kind: ClusterAnalysisTemplate", "name: alb-5xx-rate", "valid: true"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("YAML output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestEveryExampleValidatesThroughTheCLI(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examples, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	args := []string{"cell", "validate", "--templates", templates}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	r := run(t, "", args...)
	if r.code != ExitOK {
		t.Fatalf("exit code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := len(lines(r.stdout)); got != len(files) {
		t.Errorf("%d output lines for %d files:\n%s", got, len(files), r.stdout)
	}
}

// Every command, including those added later, must document itself with
// an example.
func TestEveryCommandHasHelpWithExample(t *testing.T) {
	root := newRootCommand(NewApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}))
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Name() == "help" || cmd.Name() == "completion" {
			return
		}
		t.Run(cmd.CommandPath(), func(t *testing.T) {
			if cmd.Example == "" {
				t.Errorf("%s has no Example", cmd.CommandPath())
			}
			args := append(strings.Fields(strings.TrimPrefix(cmd.CommandPath(), "okra")), "--help")
			r := run(t, "", args...)
			if r.code != ExitOK {
				t.Fatalf("%v: exit code %d, stderr %s", args, r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "Usage:") {
				t.Errorf("%v printed no usage with examples:\n%s", args, r.stdout)
			}
		})
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func TestAWSConfigIsLoadedLazilyOnce(t *testing.T) {
	var out, errOut bytes.Buffer
	app := NewApp(strings.NewReader(""), &out, &errOut)
	calls := 0
	var got awsapi.Options
	app.loadAWS = func(_ context.Context, o awsapi.Options) (awsapi.Config, error) {
		calls++
		got = o
		return awsapi.Config{Endpoint: o.Endpoint}, nil
	}
	code := app.Execute(context.Background(), []string{"--region", "eu-west-1", "--profile", "ops", "--endpoint-url", "http://127.0.0.1:5000",
		"cell", "validate", "-f", examples + "/alb-basic.yaml"})
	if code != ExitOK {
		t.Fatalf("exit code %d: %s", code, errOut.String())
	}
	if calls != 0 {
		t.Fatalf("validate loaded the AWS configuration %d times; it needs none", calls)
	}
	for range 2 {
		cfg, err := app.AWS(context.Background())
		if err != nil {
			t.Fatalf("AWS: %v", err)
		}
		if cfg.Endpoint != "http://127.0.0.1:5000" {
			t.Errorf("endpoint %q", cfg.Endpoint)
		}
	}
	if calls != 1 {
		t.Errorf("AWS configuration loaded %d times, want once", calls)
	}
	want := awsapi.Options{Region: "eu-west-1", Profile: "ops", Endpoint: "http://127.0.0.1:5000"}
	if got.Region != want.Region || got.Profile != want.Profile || got.Endpoint != want.Endpoint {
		t.Errorf("loaded with %+v, want the global flags %+v", got, want)
	}
}

func TestAWSConfigErrorIsWrapped(t *testing.T) {
	app := NewApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	cause := errors.New("no region")
	app.loadAWS = func(context.Context, awsapi.Options) (awsapi.Config, error) { return awsapi.Config{}, cause }
	_, err := app.AWS(context.Background())
	if !errors.Is(err, cause) || !strings.Contains(err.Error(), "loading AWS configuration") {
		t.Fatalf("error %v does not wrap the cause with context", err)
	}
}

// docs/cli.md documents every command and shows the status and plan
// screens exactly as the renderers draw them.
func TestDocsCoverEveryCommand(t *testing.T) {
	doc := mustRead(t, "../../docs/cli.md")
	root := newRootCommand(NewApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}))
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd.Name() == "help" || cmd.Name() == "completion" {
			return
		}
		if !cmd.HasSubCommands() && !strings.Contains(doc, cmd.CommandPath()) {
			t.Errorf("docs/cli.md does not mention %q", cmd.CommandPath())
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for _, screen := range []string{"testdata/status/awaiting-promote.txt", "testdata/plan/start-rollout.txt"} {
		if !strings.Contains(doc, mustRead(t, screen)) {
			t.Errorf("docs/cli.md does not show %s as rendered (copy it in after changing the renderer)", screen)
		}
	}
}
