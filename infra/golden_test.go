package main

import (
	"encoding/json"
	"fmt"
	"os"
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
