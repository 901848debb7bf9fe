package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each okra (mumoshu/okra) Cell under testdata/import converts to the
// golden Cell, with the golden notes on stderr, and the result validates
// once the cluster selector is given.
func TestCellImportConversions(t *testing.T) {
	cases := []struct {
		fixture     string
		clusterTags []string
		// mustNote are notes (substrings) the conversion must give.
		mustNote []string
	}{
		{
			fixture:     "alb-canary",
			clusterTags: []string{"role=web", "env=prod"},
			mustNote: []string{
				"metadata.namespace: not carried over",
				"spec.ingress.awsApplicationLoadBalancer.listener.rule.forward: not carried over",
				"targetGroupSelector.versionLabels[1:]: not carried over (app-version)",
				`spec.updateStrategy.canary.steps[1].analysis.args[1].valueFrom: not carried over (argument "cluster-version")`,
				"spec.updateStrategy.canary.steps[3].experiment: not carried over",
				"status: not carried over",
				"spec.targetGroupTemplate: review",
				"analysis templates success-rate: store them with `okra template apply -f`",
			},
		},
		{
			fixture: "nlb-bluegreen",
			mustNote: []string{
				"spec.updateStrategy.blueGreen: not carried over",
				"spec.versionedBy.label: set to okra.mumo.co/version",
				"spec.clusterSelector.matchTags: needs filling in",
			},
		},
		{
			fixture:     "docs-example",
			clusterTags: []string{"role=web"},
			mustNote: []string{
				"spec.updateStrategy.canary.steps[0].stepWeight: read as setWeight",
				"spec.updateStrategy.canary.steps[3].setCanaryScale: not carried over",
				"spec.updateStrategy.canary.frobnicate: not carried over",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			path := filepath.Join("testdata", "import", tc.fixture+".yaml")
			args := []string{"cell", "import", "-f", path}
			for _, kv := range tc.clusterTags {
				args = append(args, "--cluster-tag", kv)
			}
			r := run(t, "", args...)
			if r.code != ExitOK {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			golden(t, filepath.Join("import", tc.fixture+".golden.yaml"), r.stdout)
			golden(t, filepath.Join("import", tc.fixture+".notes"), r.stderr)
			for _, n := range tc.mustNote {
				if !strings.Contains(r.stderr, n) {
					t.Errorf("notes lack %q:\n%s", n, r.stderr)
				}
			}

			// The converted Cell is an okra Cell: it validates once the
			// cluster selector is known.
			converted := r.stdout
			if len(tc.clusterTags) == 0 {
				converted = strings.Replace(converted, "  clusterSelector:\n    matchTags: {}\n", "  clusterSelector:\n    matchTags:\n      role: tcp-echo\n", 1)
			}
			v := run(t, converted, "cell", "validate", "-f", "-", "--templates", "testdata/import/templates")
			if v.code != ExitOK {
				t.Errorf("the converted Cell does not validate:\n%s%s\n%s", v.stdout, v.stderr, converted)
			}
		})
	}
}

func TestCellImportRefusesOtherDocuments(t *testing.T) {
	cases := []struct {
		name, stdin string
		args        []string
		code        int
		stderr      string
	}{
		{name: "an okra.dev Cell", args: []string{"-f", examples + "/alb-basic.yaml"}, code: ExitFailure,
			stderr: `not an okra Cell resource: want apiVersion okra.mumo.co/v1alpha1 and kind Cell, got apiVersion "okra.dev/v1alpha1" and kind "Cell"`},
		{name: "a list", stdin: "- a\n- b\n", args: []string{"-f", "-"}, code: ExitFailure, stderr: "not an okra Cell resource: want a YAML or JSON object"},
		{name: "broken YAML", stdin: "spec: [unclosed\n", args: []string{"-f", "-"}, code: ExitFailure, stderr: "<stdin>: parsing YAML"},
		{name: "bad --cluster-tag", args: []string{"-f", "testdata/import/alb-canary.yaml", "--cluster-tag", "role"}, code: ExitUsage,
			stderr: `--cluster-tag wants KEY=VALUE, got "role"`},
		{name: "missing file", args: []string{"-f", "testdata/import/none.yaml"}, code: ExitUsage, stderr: "reading testdata/import/none.yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.stdin, append([]string{"cell", "import"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d (want %d), stderr:\n%s\nwant it to contain %q", r.code, tc.code, r.stderr, tc.stderr)
			}
		})
	}
}

func TestCellImportApply(t *testing.T) {
	e := newAWSEnv(t)
	// Without a cluster selector the converted Cell is invalid: nothing
	// is written, and the problem names the field.
	r := e.run("", "cell", "import", "-f", "testdata/import/docs-example.yaml", "--apply")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "spec.clusterSelector.matchTags: must list at least one tag") {
		t.Fatalf("import --apply without a cluster selector: exit %d\n%s", r.code, r.stderr)
	}
	e.mustRun("", "template", "apply", "-f", "testdata/import/templates/success-rate.yaml")
	r = e.mustRun("", "cell", "import", "-f", "testdata/import/docs-example.yaml", "--cluster-tag", "role=web", "--apply")
	if r.stdout != "cell \"web\" created (revision 1)\n" {
		t.Errorf("import --apply printed %q", r.stdout)
	}
	rec, err := e.store.GetCell(e.ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Cell.Spec.VersionedBy.Label; got != "okra.mumo.co/version" {
		t.Errorf("stored version label %q", got)
	}
	if _, err := os.Stat("testdata/import/docs-example.yaml"); err != nil {
		t.Fatal(err)
	}
}

// A file holding a ReplicaSet, a Cell without apiVersion and an okra.dev
// Cell converts the one okra Cell resource and names the others skipped.
func TestCellImportMultiDocument(t *testing.T) {
	doc := "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web-7d9f}\n---\n" +
		"kind: Cell\nmetadata: {name: web}\nspec:\n  ingress:\n    type: AWSApplicationLoadBalancer\n    awsApplicationLoadBalancer:\n      listenerARN: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2\n" +
		"---\napiVersion: okra.dev/v1alpha1\nkind: Cell\nmetadata: {name: api}\n"
	r := run(t, doc, "cell", "import", "-f", "-", "--cluster-tag", "role=web")
	if r.code != ExitOK {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		`<stdin>: document 1: skipped ReplicaSet "web-7d9f": not an okra Cell resource`,
		`<stdin>: document 3: skipped Cell "api" (okra.dev/v1alpha1): not an okra Cell resource`,
		`document 2 (Cell "web"): apiVersion: not set; read as okra.mumo.co/v1alpha1`,
		`<stdin>: 1 of 3 documents converted (Cell "web"), 2 skipped`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "name: web") || strings.Contains(r.stdout, "web-7d9f") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	none := run(t, "kind: ConfigMap\n---\nkind: Secret\n", "cell", "import", "-f", "-")
	if none.code != ExitFailure || !strings.Contains(none.stderr, "no okra Cell resource") {
		t.Errorf("a file without Cells: exit %d\n%s", none.code, none.stderr)
	}
}
