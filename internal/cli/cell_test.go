package cli

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
)

func TestCellApply(t *testing.T) {
	e := newAWSEnv(t)
	web := mustRead(t, examples+"/alb-basic.yaml")

	r := e.mustRun("", "cell", "apply", "-f", examples+"/alb-basic.yaml")
	if got, want := r.stdout, "cell \"web\" created (revision 1)\n"; got != want {
		t.Errorf("first apply printed %q, want %q", got, want)
	}
	rec, err := e.store.GetCell(e.ctx, "web")
	if err != nil {
		t.Fatalf("GetCell after apply: %v", err)
	}
	if rec.Revision != 1 || rec.Cell == nil || rec.Cell.Spec.Replicas == nil || *rec.Cell.Spec.Replicas != 1 {
		t.Errorf("stored %+v: want revision 1 with defaults (replicas 1) filled in", rec)
	}

	r = e.mustRun(web, "cell", "apply", "-f", "-")
	if got, want := r.stdout, "cell \"web\" unchanged (revision 1)\n"; got != want {
		t.Errorf("second apply printed %q, want %q", got, want)
	}

	// Spelling out a default changes nothing either.
	explicit := strings.Replace(web, "  updateStrategy:\n", "  replicas: 1\n  updateStrategy:\n", 1)
	r = e.mustRun(explicit, "cell", "apply", "-f", "-")
	if got, want := r.stdout, "cell \"web\" unchanged (revision 1)\n"; got != want {
		t.Errorf("apply with an explicit default printed %q, want %q", got, want)
	}

	changed := strings.Replace(web, "setWeight: 50", "setWeight: 60", 1)
	r = e.mustRun(changed, "cell", "apply", "-f", "-", "--dry-run")
	if got, want := r.stdout, "cell \"web\" configured (revision 1) (dry run)\n"; got != want {
		t.Errorf("dry run printed %q, want %q", got, want)
	}
	if rec, _ := e.store.GetCell(e.ctx, "web"); rec.Revision != 1 {
		t.Errorf("dry run wrote revision %d", rec.Revision)
	}
	r = e.mustRun(changed, "cell", "apply", "-f", "-")
	if got, want := r.stdout, "cell \"web\" configured (revision 2)\n"; got != want {
		t.Errorf("changed apply printed %q, want %q", got, want)
	}

	r = e.mustRun(changed, "cell", "apply", "-f", "-", "-o", "json")
	var results []applyResult
	if err := json.Unmarshal([]byte(r.stdout), &results); err != nil {
		t.Fatalf("apply -o json: %v\n%s", err, r.stdout)
	}
	if len(results) != 1 || results[0] != (applyResult{Kind: "Cell", Name: "web", Action: "unchanged", Revision: 2}) {
		t.Errorf("apply -o json = %+v", results)
	}
}

func TestCellApplyInvalidChangesNothing(t *testing.T) {
	e := newAWSEnv(t)
	// One valid and one invalid Cell: neither is written.
	r := e.run("", "cell", "apply", "-f", examples+"/nlb.yaml", "-f", "testdata/bad-cell.yaml")
	if r.code != ExitFailure {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"testdata/bad-cell.yaml: spec.replicas: must be 1..2",
		"testdata/bad-cell.yaml: spec.updateStrategy.canary.steps[2].setWeight: must be 0..100, got 120",
		`analysis template "error-rate" not found`,
		"okra: nothing was applied",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	var notFound *store.NotFoundError
	if _, err := e.store.GetCell(e.ctx, "tcp-echo"); !errors.As(err, &notFound) {
		t.Errorf("the valid Cell was written although another was invalid: %v", err)
	}

	// Machine-readable problems go to stdout.
	r = e.run("", "cell", "apply", "-o", "json", "-f", "testdata/unknown-field-cell.yaml")
	if r.code != ExitFailure || !strings.Contains(r.stdout, `"field": "spec.replica"`) {
		t.Errorf("apply -o json of an invalid Cell: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Two files defining the same Cell.
	r = e.run("", "cell", "apply", "-f", examples+"/nlb.yaml", "-f", examples+"/nlb.yaml")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `metadata.name: cell "tcp-echo" is also defined in ../../examples/nlb.yaml`) {
		t.Errorf("duplicate Cell: exit %d\n%s", r.code, r.stderr)
	}
}

// The shared templates a Cell names are looked up in the table.
func TestCellApplyValidatesWithStoredTemplates(t *testing.T) {
	e := newAWSEnv(t)
	r := e.run("", "cell", "apply", "-f", examples+"/shared-template-step.yaml")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `analysis template "datadog-error-rate" not found in spec.analysisTemplates or among shared templates`) {
		t.Fatalf("apply before the template exists: exit %d\n%s", r.code, r.stderr)
	}
	e.mustRun("", "template", "apply", "-f", templates+"/datadog-error-rate.yaml")
	r = e.mustRun("", "cell", "apply", "-f", examples+"/shared-template-step.yaml")
	if r.stdout != "cell \"orders\" created (revision 1)\n" {
		t.Errorf("apply after the template exists printed %q", r.stdout)
	}
}

func TestCellApplyStaleRevision(t *testing.T) {
	cases := []struct {
		name       string
		existing   bool
		concurrent func(e *awsEnv)
		want       string
	}{
		{
			name: "created by someone else",
			concurrent: func(e *awsEnv) {
				c := mustDecodeCell(e.t, examples+"/alb-basic.yaml")
				if _, err := e.store.PutCell(e.ctx, c, 0); err != nil {
					e.t.Fatal(err)
				}
			},
			want: "okra: cell web was changed by someone else (revision 1); re-run apply",
		},
		{
			name:     "changed by someone else",
			existing: true,
			concurrent: func(e *awsEnv) {
				c := mustDecodeCell(e.t, examples+"/alb-basic.yaml")
				c.Spec.Version = "v1"
				if _, err := e.store.PutCell(e.ctx, c, 1); err != nil {
					e.t.Fatal(err)
				}
			},
			want: "okra: cell web was changed by someone else (revision 2); re-run apply",
		},
		{
			name:     "deleted by someone else",
			existing: true,
			concurrent: func(e *awsEnv) {
				if err := e.store.DeleteCell(e.ctx, "web", store.AnyRevision); err != nil {
					e.t.Fatal(err)
				}
			},
			want: "okra: cell web was deleted by someone else while it was being applied; re-run apply",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newAWSEnv(t)
			if tc.existing {
				e.mustRun("", "cell", "apply", "-f", examples+"/alb-basic.yaml")
			}
			changed := strings.Replace(mustRead(t, examples+"/alb-basic.yaml"), "setWeight: 50", "setWeight: 40", 1)
			r := e.runApp(func(a *App) {
				a.testHooks.afterRead = func(kind, name string) {
					if kind == cell.Kind && name == "web" {
						tc.concurrent(e)
					}
				}
			}, changed, "cell", "apply", "-f", "-")
			if r.code != ExitFailure {
				t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
			}
			if got := strings.TrimSpace(r.stderr); got != tc.want {
				t.Errorf("stderr %q, want %q", got, tc.want)
			}
			// The concurrent change survives.
			rec, err := e.store.GetCell(e.ctx, "web")
			if err == nil && rec.Cell.Spec.UpdateStrategy.Canary.Steps[2].SetWeight != nil && *rec.Cell.Spec.UpdateStrategy.Canary.Steps[2].SetWeight == 40 {
				t.Errorf("apply overwrote the concurrent change")
			}
		})
	}
}

func TestCellGetListDelete(t *testing.T) {
	e := newAWSEnv(t)
	e.mustRun("", "cell", "apply", "-f", examples+"/alb-basic.yaml", "-f", examples+"/nlb.yaml", "-f", examples+"/alb-listener-rule.yaml")
	if _, err := e.store.PutStatus(e.ctx, "web", rollout.Status{Phase: rollout.PhaseStable, StableVersion: "v1"}, 0); err != nil {
		t.Fatal(err)
	}

	r := e.mustRun("", "cell", "list")
	want := []string{
		"NAME       INGRESS        REPLICAS   STABLE   CANARY   PHASE    REVISION",
		"api-v1     ALB rule 100   1          -        -        -        1",
		"tcp-echo   NLB            1          -        -        -        1",
		"web        ALB            1          v1       -        Stable   1",
	}
	if got := lines(r.stdout); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("cell list:\n%s\nwant:\n%s", r.stdout, strings.Join(want, "\n"))
	}

	r = e.mustRun("", "cell", "list", "-o", "json")
	var rows []cellRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("cell list -o json: %v\n%s", err, r.stdout)
	}
	if rows[2].Name != "web" || rows[2].Phase != rollout.PhaseStable || rows[2].ListenerARN == "" {
		t.Errorf("third row %+v", rows[2])
	}

	r = e.mustRun("", "cell", "get", "web")
	if got := lines(r.stdout); len(got) != 2 || got[1] != "web    ALB       1          v1       -        Stable   1" {
		t.Errorf("cell get web:\n%s", r.stdout)
	}

	// get -o yaml gives back what apply takes, unchanged.
	r = e.mustRun("", "cell", "get", "web", "-o", "yaml")
	if !strings.Contains(r.stdout, "apiVersion: okra.dev/v1alpha1") || !strings.Contains(r.stdout, "rollbackWindow: 15m") {
		t.Errorf("cell get -o yaml lacks the document with defaults:\n%s", r.stdout)
	}
	if again := e.mustRun(r.stdout, "cell", "apply", "-f", "-"); again.stdout != "cell \"web\" unchanged (revision 1)\n" {
		t.Errorf("applying get -o yaml printed %q", again.stdout)
	}

	r = e.run("", "cell", "get", "nope")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `Cell "nope" not found`) {
		t.Errorf("get of a missing Cell: exit %d, %s", r.code, r.stderr)
	}
	r = e.run("", "cell", "get")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "okra cell get: missing NAME") {
		t.Errorf("get without a name: exit %d, %s", r.code, r.stderr)
	}

	// A running rollout holds the lease: delete refuses.
	exec := "arn:aws:states:us-east-1:123456789012:execution:okra-rollout:api-v1--v2--1"
	if _, err := e.store.AcquireLease(e.ctx, "api-v1", exec, func(context.Context, string) (bool, error) { return true, nil }); err != nil {
		t.Fatal(err)
	}
	r = e.run("", "cell", "delete", "api-v1")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `cannot delete cell "api-v1": its rollout (execution `+exec+`) is running; wait for it to finish or run `+"`okra rollout abort api-v1`") {
		t.Errorf("delete of a leased Cell: exit %d, %s", r.code, r.stderr)
	}
	if _, err := e.store.GetCell(e.ctx, "api-v1"); err != nil {
		t.Errorf("the leased Cell is gone: %v", err)
	}

	r = e.mustRun("", "cell", "delete", "web", "tcp-echo")
	if r.stdout != "cell \"web\" deleted\ncell \"tcp-echo\" deleted\n" {
		t.Errorf("delete printed %q", r.stdout)
	}
	r = e.run("", "cell", "delete", "web")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `cell "web" not found`) {
		t.Errorf("second delete: exit %d, %s", r.code, r.stderr)
	}
	e.mustRun("", "cell", "delete", "web", "--ignore-not-found")
}

func TestMissingTableIsExplained(t *testing.T) {
	e := newAWSEnv(t)
	r := e.run("", "--table", "no-such-table", "cell", "list")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `okra's table "no-such-table" does not exist at `+e.endpoint) {
		t.Errorf("exit %d, stderr %s", r.code, r.stderr)
	}
}

func TestTableNameFromEnvironment(t *testing.T) {
	e := newAWSEnv(t)
	e.mustRun("", "cell", "apply", "-f", examples+"/nlb.yaml")
	var out, errOut syncBuffer
	app := NewApp(strings.NewReader(""), &out, &errOut)
	app.getenv = func(k string) string {
		if k == "OKRA_TABLE_NAME" {
			return e.table
		}
		return ""
	}
	if code := app.Execute(e.ctx, []string{"--endpoint-url", e.endpoint, "cell", "list"}); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "tcp-echo") {
		t.Errorf("OKRA_TABLE_NAME was not used:\n%s", out.String())
	}
	app = NewApp(strings.NewReader(""), &out, &errOut)
	app.getenv = func(string) string { return "" }
	if got := app.tableName(); got != DefaultTableName {
		t.Errorf("default table %q", got)
	}
}

func TestTemplateCommands(t *testing.T) {
	e := newAWSEnv(t)
	r := e.mustRun("", "template", "apply", "-f", templates+"/datadog-error-rate.yaml", "-f", templates+"/alb-5xx-rate.yaml")
	if r.stdout != "template \"datadog-error-rate\" created (revision 1)\ntemplate \"alb-5xx-rate\" created (revision 1)\n" {
		t.Errorf("template apply printed %q", r.stdout)
	}
	r = e.mustRun("", "template", "apply", "-f", templates+"/alb-5xx-rate.yaml")
	if r.stdout != "template \"alb-5xx-rate\" unchanged (revision 1)\n" {
		t.Errorf("second template apply printed %q", r.stdout)
	}

	r = e.run("", "template", "apply", "-f", "testdata/prometheus-template.yaml")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "provider prometheus is not supported by okra") {
		t.Errorf("invalid template: exit %d, %s", r.code, r.stderr)
	}

	r = e.mustRun("", "template", "list")
	want := []string{
		"NAME                 KIND                      METRICS           PROVIDERS    ARGS                                               REVISION",
		"alb-5xx-rate         ClusterAnalysisTemplate   canary-5xx-rate   cloudWatch   load-balancer,canary-target-group,max-error-rate   1",
		"datadog-error-rate   AnalysisTemplate          error-rate        datadog      service-name,env                                   1",
	}
	if got := lines(r.stdout); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("template list:\n%s\nwant:\n%s", r.stdout, strings.Join(want, "\n"))
	}

	// The stored document is the Argo Rollouts one, as written.
	r = e.mustRun("", "template", "get", "datadog-error-rate", "-o", "yaml")
	for _, w := range []string{"apiVersion: argoproj.io/v1alpha1", "kind: AnalysisTemplate", "namespace: orders", "formula: a/b"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("template get -o yaml lacks %q:\n%s", w, r.stdout)
		}
	}

	// A Cell uses it: delete refuses without --force.
	e.mustRun("", "cell", "apply", "-f", examples+"/shared-template-step.yaml")
	r = e.run("", "template", "delete", "datadog-error-rate")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `template "datadog-error-rate" is used by cell orders`) {
		t.Errorf("delete of a used template: exit %d, %s", r.code, r.stderr)
	}
	r = e.mustRun("", "template", "delete", "datadog-error-rate", "--force")
	if r.stdout != "template \"datadog-error-rate\" deleted\n" {
		t.Errorf("delete --force printed %q", r.stdout)
	}
	r = e.run("", "template", "get", "datadog-error-rate")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `analysis template "datadog-error-rate" not found`) {
		t.Errorf("get after delete: exit %d, %s", r.code, r.stderr)
	}
	r = e.run("", "template", "delete", "datadog-error-rate")
	if r.code != ExitFailure || !strings.Contains(r.stderr, `template "datadog-error-rate" not found`) {
		t.Errorf("second delete: exit %d, %s", r.code, r.stderr)
	}
}

func mustDecodeCell(t *testing.T, path string) *cell.Cell {
	t.Helper()
	c, err := cell.Decode([]byte(mustRead(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	c.Default()
	return c
}
