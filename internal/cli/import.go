package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/mumoshucell"
)

func newCellImportCommand(app *App) *cobra.Command {
	var file string
	var clusterTags []string
	var apply bool
	cmd := &cobra.Command{
		Use:   "import -f OKRA_CELL.yaml [--cluster-tag KEY=VALUE...] [--apply]",
		Short: "Convert okra (mumoshu/okra) Cell custom resources into okra Cells",
		Long: `Read a Cell custom resource of okra, the Kubernetes controller
(github.com/mumoshu/okra, apiVersion okra.mumo.co/v1alpha1), and print the
equivalent okra Cell as YAML. The ingress (type, listener ARN, listener
rule, target-group selector), the version label, replicas, the pinned
version and the canary steps and background analysis carry over.

A file of several YAML documents (as "kubectl get -o yaml" of several
resources, or a manifest bundle) is read whole: every Cell in it is
converted, and every other document is named on standard error as
skipped. A Cell written with kind Cell and no apiVersion, as okra's
README shows, is read as okra.mumo.co/v1alpha1, with a note.

What cannot be carried over (experiment and setCanaryScale steps,
versionLabels beyond the first, a blueGreen strategy, analysis arguments
read with valueFrom, ...) and what needs filling in (clusterSelector,
which okra's Cell does not have; targetGroupTemplate) is listed on
standard error, one line each.

With --apply the converted Cells are applied as "okra cell apply" would:
each must be valid (nothing is written otherwise), so give the cluster
selector with --cluster-tag.

Nothing is read from or written to AWS without --apply.`,
		Example: `  # Convert, review, then apply
  okra cell import -f okra-cell.yaml --cluster-tag role=web > web.yaml
  okra cell validate -f web.yaml
  okra cell apply -f web.yaml

  # Straight from the cluster running okra
  kubectl get cell web -o yaml | okra cell import -f - --cluster-tag role=web --apply`,
		Args: cobra.NoArgs,
		RunE: app.runE(func(cmd *cobra.Command, _ []string) error {
			tags := map[string]string{}
			for _, kv := range clusterTags {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageErrorf("--cluster-tag wants KEY=VALUE, got %q", kv)
				}
				tags[k] = v
			}
			inputs, err := app.readInputs([]string{file})
			if err != nil {
				return err
			}
			in := inputs[0]
			f, err := mumoshucell.ConvertFile(in.data, tags)
			if err != nil {
				return fmt.Errorf("%s: %w", in.name, err)
			}
			reportImport(app, in.name, f)
			cells := make([]*cell.Cell, len(f.Cells))
			converted := make([]input, len(f.Cells))
			var out strings.Builder
			fmt.Fprintf(&out, "# Converted by okra cell import from %s.\n", in.name)
			for i, c := range f.Cells {
				data, err := yaml.Marshal(c.Cell)
				if err != nil {
					return fmt.Errorf("writing the converted Cell, %w", err)
				}
				cells[i] = c.Cell
				name := in.name + " (converted)"
				if f.Documents > 1 {
					name = fmt.Sprintf("%s (document %d, converted)", in.name, c.Document)
				}
				converted[i] = input{name: name, data: data}
				if i > 0 {
					out.WriteString("---\n")
				}
				out.Write(data)
			}
			if apply {
				return app.applyCells(cmd.Context(), converted, false)
			}
			if app.Options.Output == OutputJSON {
				if len(cells) == 1 {
					return app.print(cells[0], nil)
				}
				return app.print(cells, nil)
			}
			_, err = io.WriteString(app.Out, out.String())
			return err
		}),
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", `okra Cell resources, YAML (one or more documents) or JSON ("-" reads standard input)`)
	cmd.Flags().StringArrayVar(&clusterTags, "cluster-tag", nil, "a tag the Cell's EKS clusters carry, for spec.clusterSelector.matchTags; repeatable")
	cmd.Flags().BoolVar(&apply, "apply", false, "apply the converted Cells instead of printing them")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

// reportImport writes a conversion's notes, and what a file of several
// documents held, on standard error: each note prefixed by the file (and,
// for several documents, the document and Cell), each skipped document
// named by kind and name, and a closing count.
func reportImport(app *App, file string, f *mumoshucell.File) {
	multi := f.Documents > 1
	for _, s := range f.Skipped {
		fmt.Fprintf(app.Err, "%s: document %d: skipped %s: not an okra Cell resource\n", file, s.Document, s.Describe())
	}
	for _, c := range f.Cells {
		prefix := file
		if multi {
			prefix = fmt.Sprintf("%s: document %d (Cell %q)", file, c.Document, c.Cell.Metadata.Name)
		}
		for _, n := range c.Notes {
			fmt.Fprintf(app.Err, "%s: %s\n", prefix, n)
		}
	}
	if !multi {
		return
	}
	names := make([]string, len(f.Cells))
	for i, c := range f.Cells {
		names[i] = strconv.Quote(c.Cell.Metadata.Name)
	}
	fmt.Fprintf(app.Err, "%s: %d of %d documents converted (Cell %s), %d skipped\n", file, len(f.Cells), f.Documents, strings.Join(names, ", "), len(f.Skipped))
}
