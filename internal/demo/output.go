package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// ANSI sequences for redrawing in place (as `okra rollout status --watch`).
const (
	ansiHome        = "\x1b[H"
	ansiClearScreen = "\x1b[2J"
	ansiClearLine   = "\x1b[K"
	ansiClearBelow  = "\x1b[J"
)

// printer writes the demo's progress lines.
type printer struct {
	w     io.Writer
	start time.Time
}

func (p *printer) elapsed() string {
	return time.Since(p.start).Round(100 * time.Millisecond).String()
}

func (p *printer) title(s string) {
	fmt.Fprintf(p.w, "\n== %s\n", s)
}

func (p *printer) step(format string, args ...any) {
	fmt.Fprintf(p.w, "\n==> [%6s] %s\n", p.elapsed(), fmt.Sprintf(format, args...))
}

func (p *printer) say(format string, args ...any) {
	if format == "" {
		fmt.Fprintln(p.w)
		return
	}
	fmt.Fprintf(p.w, "    %s\n", fmt.Sprintf(format, args...))
}

// plainStatusView is the status screen when no renderer is given: phase,
// step, weights and the latest measurement.
func plainStatusView(d *run) StatusView {
	return func(ctx context.Context, _ time.Time) (string, error) {
		rec, err := d.okra.Store.GetStatus(ctx, CellName)
		if err != nil {
			return "", err
		}
		st := rec.Status
		fwd, err := d.lis.Read(ctx, d.spec.Spec.Ingress)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "Cell %s: %s  %s → %s  step %d/%d\n", CellName, st.Phase, st.StableVersion, st.CanaryVersion,
			st.StepIndex+1, len(d.spec.Spec.UpdateStrategy.Canary.Steps))
		total := fwd.Total()
		for _, tg := range fwd.TargetGroups {
			pct := 0.0
			if total > 0 {
				pct = 100 * float64(tg.Weight) / float64(total)
			}
			n := int(pct/5 + 0.5)
			fmt.Fprintf(&b, "  %-9s %4d  [%s%s] %3.0f%%\n", d.clusterOf(tg.ARN), tg.Weight, strings.Repeat("█", n), strings.Repeat("░", 20-n), pct)
		}
		if st.Message != "" {
			fmt.Fprintf(&b, "  %s\n", firstLine(st.Message))
		}
		return b.String(), nil
	}
}

// writeHistory prints the history, oldest first.
func writeHistory(w io.Writer, events []store.Event, describe func(weights.Forward) string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "TIME\tTYPE\tVERSION\tDETAILS")
	for _, ev := range events {
		var details []string
		if ev.Weights != nil {
			details = append(details, describe(*ev.Weights))
		}
		if m := ev.Measurement; m != nil {
			metric := m.Metric
			if m.Template != "" {
				metric = m.Template + "/" + m.Metric
			}
			details = append(details, fmt.Sprintf("%s → %s", metric, m.Verdict))
		}
		if ev.Message != "" {
			details = append(details, firstLine(ev.Message))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ev.Time.UTC().Format("15:04:05.000Z"), ev.Type, ev.Version, strings.Join(details, "; "))
	}
	return tw.Flush()
}
