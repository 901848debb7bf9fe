package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const goldenPath = "testdata/okra.template.json"

// assetHash matches the content hashes of assets (function code), which
// change with every rebuilt binary.
var assetHash = regexp.MustCompile(`[0-9a-f]{64}`)

// definitionMarker stands for the state machine definition in the golden
// file: TestStateMachine checks the definition equals the file, whose own
// diff is reviewed, so an edit of the ASL needs no golden update.
const definitionMarker = "<the contents of " + aslPath + ">"

// normalizedTemplate is the template as the golden file holds it: keys
// sorted, asset hashes and the state machine definition replaced.
func normalizedTemplate(s *synthesized) string {
	var tmpl map[string]any
	raw, _ := json.Marshal(s.tmpl)
	_ = json.Unmarshal(raw, &tmpl)
	for _, r := range tmpl["Resources"].(map[string]any) {
		r := r.(map[string]any)
		if r["Type"] == "AWS::StepFunctions::StateMachine" {
			r["Properties"].(map[string]any)["DefinitionString"] = definitionMarker
		}
	}
	b, err := json.MarshalIndent(tmpl, "", " ")
	if err != nil {
		panic(err)
	}
	return assetHash.ReplaceAllString(string(b), "<asset-hash>") + "\n"
}

// TestGoldenTemplate fails on any change of the synthesized template that
// was not reviewed: UPDATE_GOLDEN=1 rewrites testdata/okra.template.json,
// and the diff goes through review with the code that caused it.
func TestGoldenTemplate(t *testing.T) {
	got := normalizedTemplate(mainStack(t))
	if updateGolden() {
		if err := os.WriteFile(goldenPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s", goldenPath)
		return
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (UPDATE_GOLDEN=1 go test ./... writes it)", err)
	}
	if got != string(want) {
		t.Errorf("the synthesized template differs from %s; review the change and run UPDATE_GOLDEN=1 go test ./... in infra/:\n%s",
			goldenPath, firstDifference(string(want), got))
	}
}

// firstDifference shows the lines around the first differing line.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			from := max(0, i-3)
			var b strings.Builder
			for j := from; j < i; j++ {
				fmt.Fprintf(&b, "  %5d   %s\n", j+1, w[j])
			}
			fmt.Fprintf(&b, "  %5d - %s\n  %5d + %s\n", i+1, wl, i+1, gl)
			return b.String()
		}
	}
	return ""
}

// TestGoldenIgnoresAssetHashes checks that a rebuilt binary (another
// asset hash) does not change the golden form.
func TestGoldenIgnoresAssetHashes(t *testing.T) {
	s := mainStack(t)
	raw, _ := json.Marshal(s.tmpl)
	if !assetHash.Match(raw) {
		t.Fatalf("the template names no asset hash; the normalization has nothing to do")
	}
	if strings.Contains(normalizedTemplate(s), `.zip"`) && assetHash.MatchString(normalizedTemplate(s)) {
		t.Errorf("asset hashes survive normalization")
	}
}

// cfnLint returns the cfn-lint to run: $OKRA_CFN_LINT (when set, the only
// candidate), the project's .venv, or one on PATH; "" when there is none.
func cfnLint() string {
	if p := os.Getenv("OKRA_CFN_LINT"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	if p, err := filepath.Abs(repoFile(".venv", "bin", "cfn-lint")); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("cfn-lint"); err == nil {
		return p
	}
	return ""
}

// TestCfnLint lints the synthesized templates and fails on any error or
// warning (but W3005). Without cfn-lint it skips,
// unless OKRA_REQUIRE_CFN_LINT=1 (make test sets it), when it fails.
func TestCfnLint(t *testing.T) {
	bin := cfnLint()
	if bin == "" {
		if os.Getenv("OKRA_REQUIRE_CFN_LINT") == "1" {
			t.Fatal("cfn-lint is not installed: `make cfn-lint` installs it into .venv (OKRA_REQUIRE_CFN_LINT=1 makes this a failure)")
		}
		t.Skip("cfn-lint is not installed (`make cfn-lint`); OKRA_REQUIRE_CFN_LINT=1 turns this skip into a failure")
	}
	// Both templates in one run: cfn-lint's start-up is most of its time.
	dir := t.TempDir()
	var paths []string
	for _, c := range []struct {
		name string
		s    func(*testing.T) *synthesized
	}{{"main", mainStack}, {"alt", altStack}} {
		raw, err := json.MarshalIndent(c.s(t).tmpl, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, c.name+".template.json")
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	// W3005 (a DependsOn also implied by a GetAtt) is the CDK's own
	// explicit dependency of each function on its role's policy.
	args := append([]string{"--format", "parseable", "--regions", "us-east-1", "eu-west-1", "--ignore-checks", "W3005", "--"}, paths...)
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	findings := 0
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	for sc.Scan() {
		line := strings.TrimPrefix(sc.Text(), dir+string(filepath.Separator))
		// file:line:col:endline:endcol:RULE:message
		if parts := strings.SplitN(line, ":", 7); len(parts) == 7 && hasPrefixAny(parts[5], "E", "W") {
			findings++
			t.Errorf("cfn-lint %s", line)
		} else if line != "" {
			t.Logf("cfn-lint %s", line)
		}
	}
	if _, ok := runErr.(*exec.ExitError); ok && findings == 0 {
		t.Errorf("cfn-lint failed without a parseable finding:\n%s", out.String())
	} else if runErr != nil && !ok {
		t.Fatalf("running %s: %v", bin, runErr)
	}
}
