package cell

import (
	"os"
	"path/filepath"
	"testing"
)

const examplesDir = "../../examples"

// loadExampleTemplates decodes and validates every shared template under
// examples/templates.
func loadExampleTemplates(t *testing.T) TemplateMap {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "templates", "*.yaml"))
	if err != nil {
		t.Fatalf("listing example templates: %v", err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d example templates, want at least 2 (an AnalysisTemplate and a ClusterAnalysisTemplate)", len(files))
	}
	shared := TemplateMap{}
	kinds := map[string]bool{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("reading %s: %v", file, err)
		}
		tmpl, err := DecodeTemplate(data)
		if err != nil {
			t.Fatalf("%s: DecodeTemplate:\n%v", file, err)
		}
		if err := ValidateTemplate(tmpl); err != nil {
			t.Fatalf("%s: ValidateTemplate:\n%v", file, err)
		}
		if tmpl.APIVersion != TemplateAPIVersionArgo {
			t.Errorf("%s: apiVersion %q, want the Argo Rollouts document unchanged (%s)", file, tmpl.APIVersion, TemplateAPIVersionArgo)
		}
		kinds[tmpl.Kind] = true
		shared[tmpl.Metadata.Name] = tmpl
	}
	for _, kind := range []string{KindAnalysisTemplate, KindClusterAnalysisTemplate} {
		if !kinds[kind] {
			t.Errorf("no example template of kind %s", kind)
		}
	}
	return shared
}

func TestExamplesAreValid(t *testing.T) {
	shared := loadExampleTemplates(t)
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil {
		t.Fatalf("listing examples: %v", err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d example Cells, want at least 10", len(files))
	}
	names := map[string]string{}
	usedShared := map[string]bool{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			c, err := Decode(data)
			if err != nil {
				t.Fatalf("Decode:\n%v", err)
			}
			c.Default()
			if err := Validate(c, shared); err != nil {
				t.Fatalf("Validate:\n%v", err)
			}
			if other, dup := names[c.Metadata.Name]; dup {
				t.Errorf("Cell name %q is used by %s too", c.Metadata.Name, other)
			}
			names[c.Metadata.Name] = file
			for _, name := range referencedTemplates(c) {
				if _, ok := shared[name]; ok {
					usedShared[name] = true
				}
			}
		})
	}
	for name := range shared {
		if !usedShared[name] {
			t.Errorf("shared template %q is referenced by no example Cell", name)
		}
	}
}

func referencedTemplates(c *Cell) []string {
	var out []string
	canary := c.Spec.UpdateStrategy.Canary
	if canary == nil {
		return nil
	}
	for _, s := range canary.Steps {
		if s.Analysis != nil {
			for _, ref := range s.Analysis.Templates {
				out = append(out, ref.TemplateName)
			}
		}
	}
	if canary.Analysis != nil {
		for _, ref := range canary.Analysis.Templates {
			out = append(out, ref.TemplateName)
		}
	}
	return out
}
