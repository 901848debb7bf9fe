package mumoshucell

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/okrahq/okra/internal/cell"
)

// FuzzConvertMumoshuCell feeds arbitrary documents to `okra cell
// import`'s conversion: it must never panic, and whatever it converts
// must be printed as a document okra's own strict decoder reads back (the
// user pipes it into `okra cell apply`).
func FuzzConvertMumoshuCell(f *testing.F) {
	// The CLI's import fixtures (its golden tests) are the seeds.
	seeds, _ := filepath.Glob(filepath.Join("..", "cli", "testdata", "import", "*.yaml"))
	for _, s := range seeds {
		if strings.HasSuffix(s, ".golden.yaml") {
			continue
		}
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"apiVersion: okra.mumo.co/v1alpha1\nkind: Cell\n",
		"apiVersion: okra.mumo.co/v1alpha1\nkind: Cell\nspec: {ingress: {type: AWSNetworkLoadBalancer}, updateStrategy: {type: BlueGreen}}",
		"apiVersion: okra.mumo.co/v1alpha1\nkind: Cell\nspec: {updateStrategy: {canary: {steps: [{setWeight: 999}, {pause: {duration: -1}}, {analysis: {templates: [{}]}}]}}}",
		"apiVersion: okra.mumo.co/v1alpha1\nkind: Cell\nspec: [1, 2]",
		"[]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if file, err := ConvertFile(data, nil); err == nil && len(file.Cells)+len(file.Skipped) != file.Documents {
			t.Fatalf("%d documents, but %d Cells and %d skipped", file.Documents, len(file.Cells), len(file.Skipped))
		}
		conv, err := Convert(data, map[string]string{"role": "web"})
		if err != nil {
			return
		}
		if conv == nil || conv.Cell == nil {
			t.Fatal("converted without an error but without a Cell")
		}
		out, err := yaml.Marshal(conv.Cell)
		if err != nil {
			t.Fatalf("writing the converted Cell: %v", err)
		}
		if _, err := cell.Decode(out); err != nil {
			t.Fatalf("the converted Cell does not decode: %v\n%s", err, out)
		}
	})
}
