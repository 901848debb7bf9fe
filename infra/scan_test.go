package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// scannerBin returns the scanner to run: $env (when set, the only
// candidate), else the project's .venv; "" when there is none. Without it
// the test skips, unless OKRA_REQUIRE_SCANNERS=1 (make test-infra sets
// it), when it fails.
func scannerBin(t *testing.T, env string, venv ...string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		p, _ = filepath.Abs(repoFile(append([]string{".venv"}, venv...)...))
	}
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if os.Getenv("OKRA_REQUIRE_SCANNERS") == "1" {
		t.Fatalf("%s is not installed (`make cfn-lint checkov` installs them into .venv; OKRA_REQUIRE_SCANNERS=1 makes this a failure)", p)
	}
	t.Skipf("%s is not installed (`make cfn-lint checkov`); OKRA_REQUIRE_SCANNERS=1 turns this skip into a failure", p)
	return ""
}

// scannedTemplates writes the main and alt templates into a directory,
// with transform applied to each (nil: as synthesized).
func scannedTemplates(t *testing.T, transform func(map[string]any)) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, c := range []struct {
		name string
		s    func(*testing.T) *synthesized
	}{{"main", mainStack}, {"alt", altStack}} {
		var tmpl map[string]any
		raw, _ := json.Marshal(c.s(t).tmpl)
		_ = json.Unmarshal(raw, &tmpl)
		if transform != nil {
			transform(tmpl)
		}
		raw, err := json.MarshalIndent(tmpl, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, c.name+".template.json")
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return dir, paths
}

// withoutSuppressions drops okra's checkov and cfn-lint metadata.
func withoutSuppressions(tmpl map[string]any) {
	for _, r := range tmpl["Resources"].(map[string]any) {
		if meta, ok := r.(map[string]any)["Metadata"].(map[string]any); ok {
			delete(meta, "checkov")
			delete(meta, "cfn-lint")
		}
	}
}

// runCfnLint returns cfn-lint's findings (with the serverless rules) as
// "file:line:...:RULE:message" lines, the directory trimmed.
func runCfnLint(t *testing.T, bin, dir string, paths []string) []string {
	t.Helper()
	args := append([]string{"--format", "parseable", "--regions", "us-east-1", "eu-west-1",
		"--append-rules", "cfn_lint_serverless.rules", "--"}, paths...)
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	var findings []string
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	for sc.Scan() {
		line := strings.TrimPrefix(sc.Text(), dir+string(filepath.Separator))
		// file:line:col:endline:endcol:RULE:message
		if parts := strings.SplitN(line, ":", 7); len(parts) == 7 && hasPrefixAny(parts[5], "E", "W", "I") {
			findings = append(findings, line)
		} else if line != "" {
			t.Logf("cfn-lint %s", line)
		}
	}
	if _, ok := runErr.(*exec.ExitError); ok && len(findings) == 0 {
		t.Fatalf("cfn-lint failed without a parseable finding:\n%s", out.String())
	} else if runErr != nil && !ok {
		t.Fatalf("running %s: %v", bin, runErr)
	}
	return findings
}

// checkovResult is what TestScanners reads of checkov's JSON report.
type checkovResult struct {
	Results struct {
		FailedChecks []struct {
			CheckID  string `json:"check_id"`
			Resource string `json:"resource"`
			File     string `json:"file_path"`
		} `json:"failed_checks"`
	} `json:"results"`
	Summary struct {
		Passed  int `json:"passed"`
		Failed  int `json:"failed"`
		Skipped int `json:"skipped"`
	} `json:"summary"`
}

// runCheckov runs checkov (offline) on paths and returns its report.
func runCheckov(t *testing.T, bin string, paths []string) checkovResult {
	t.Helper()
	args := []string{"--quiet", "--compact", "--framework", "cloudformation", "--skip-download", "--output", "json"}
	for _, p := range paths {
		args = append(args, "--file", p)
	}
	cmd := exec.Command(bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	runErr := cmd.Run()
	var res checkovResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("checkov (%v) wrote no JSON report: %v\nstdout: %.2000s\nstderr: %.2000s", runErr, err, out.String(), errOut.String())
	}
	if res.Summary.Passed == 0 {
		t.Fatalf("checkov passed no check: it did not read the templates\nstderr: %.2000s", errOut.String())
	}
	return res
}

func countByRule(lines []string, rule func(string) string) string {
	n := map[string]int{}
	for _, l := range lines {
		n[rule(l)]++
	}
	var parts []string
	for _, k := range sortedKeys(n) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, n[k]))
	}
	return strings.Join(parts, ", ")
}

func cfnLintRule(line string) string { return strings.SplitN(line, ":", 7)[5] }

// TestScanners runs cfn-lint with the cfn-lint-serverless rules and
// checkov on the main and alt templates (the alt one with the
// customer-managed key) and fails on any finding that scan.go does not
// accept in the resource's metadata. The same run without okra's
// metadata must find what scan.go accepts, so the suppressions are what
// quiet the scanners, and a finding left unlisted fails.
func TestScanners(t *testing.T) {
	lint := scannerBin(t, "OKRA_CFN_LINT", "bin", "cfn-lint")
	ckv := scannerBin(t, "OKRA_CHECKOV", "checkov", "bin", "checkov")

	dir, paths := scannedTemplates(t, nil)
	if found := runCfnLint(t, lint, dir, paths); len(found) > 0 {
		t.Errorf("cfn-lint: %d unsuppressed finding(s) (fix them, or accept them with a reason in infra/scan.go):\n%s", len(found), strings.Join(found, "\n"))
	}
	res := runCheckov(t, ckv, paths)
	t.Logf("checkov %s: %d passed, %d failed, %d skipped with okra's reasons", "3.3.30", res.Summary.Passed, res.Summary.Failed, res.Summary.Skipped)
	for _, c := range res.Results.FailedChecks {
		t.Errorf("checkov: %s on %s in %s is not accepted in infra/scan.go", c.CheckID, c.Resource, filepath.Base(c.File))
	}

	bareDir, bare := scannedTemplates(t, withoutSuppressions)
	lintBare := runCfnLint(t, lint, bareDir, bare)
	ckvBare := runCheckov(t, ckv, bare)
	var ckvIDs []string
	for _, c := range ckvBare.Results.FailedChecks {
		ckvIDs = append(ckvIDs, c.CheckID)
	}
	t.Logf("without okra's metadata: cfn-lint %d finding(s) (%s); checkov %d passed, %d failed (%s)",
		len(lintBare), countByRule(lintBare, cfnLintRule), ckvBare.Summary.Passed, ckvBare.Summary.Failed,
		countByRule(ckvIDs, func(s string) string { return s }))
	// Every accepted finding is one the scanner makes.
	s := mainStack(t)
	made := map[string]bool{}
	for _, l := range lintBare {
		made[cfnLintRule(l)] = true
	}
	for _, id := range ckvIDs {
		made[id] = true
	}
	var unused []string
	for _, list := range s.stack.scannerFindings() {
		for _, a := range list {
			if !made[a.id] {
				unused = append(unused, a.id)
			}
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("infra/scan.go accepts findings no scanner makes any more (drop them): %v", unused)
	}
	if len(lintBare) == 0 || ckvBare.Summary.Failed == 0 {
		t.Errorf("without okra's metadata the scanners find nothing: the check above checked nothing")
	}
}

// TestScannerSuppressionsHaveReasons: every checkov skip and cfn-lint
// ignore in the template carries a reason that says something.
func TestScannerSuppressionsHaveReasons(t *testing.T) {
	n := 0
	for _, c := range []struct {
		name string
		s    func(*testing.T) *synthesized
	}{{"main", mainStack}, {"alt", altStack}} {
		res := c.s(t).tmpl["Resources"].(map[string]any)
		for _, id := range sortedKeys(res) {
			meta, _ := res[id].(map[string]any)["Metadata"].(map[string]any)
			ckv, _ := meta["checkov"].(map[string]any)
			for _, raw := range listOf(ckv["skip"]) {
				skip := raw.(map[string]any)
				if why, _ := skip["comment"].(string); len(strings.Fields(why)) < 5 {
					t.Errorf("%s %s: checkov skip %v has no real reason: %q", c.name, id, skip["id"], why)
				}
				n++
			}
			lint, _ := meta["cfn-lint"].(map[string]any)
			cfg, _ := lint["config"].(map[string]any)
			reasons, _ := lint["reasons"].(map[string]any)
			for _, rule := range stringsOf(cfg["ignore_checks"]) {
				if why, _ := reasons[rule].(string); len(strings.Fields(why)) < 5 {
					t.Errorf("%s %s: cfn-lint ignore %s has no real reason: %q", c.name, id, rule, why)
				}
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no scanner suppression in the templates; the check above checked nothing")
	}
}
