package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// print writes v in the --output format: table runs writeTable, json and
// yaml marshal v (through its JSON field names, so both formats agree).
func (a *App) print(v any, writeTable func(w io.Writer) error) error {
	switch a.Options.Output {
	case OutputJSON:
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("writing JSON output, %w", err)
		}
		_, err = fmt.Fprintf(a.Out, "%s\n", data)
		return err
	case OutputYAML:
		data, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("writing YAML output, %w", err)
		}
		_, err = a.Out.Write(data)
		return err
	default:
		return writeTable(a.Out)
	}
}
