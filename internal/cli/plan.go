package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/safetynet"
	"github.com/okrahq/okra/internal/weights"
)

func newPlanCommand(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "plan CELL",
		Short: "Say what okra would do for a Cell now, changing nothing",
		Long: `Run okra's planner on fresh observations, exactly as the reconcile
function does, and print its decision without acting on it: start a
rollout (and the weights of its first step), swap or re-split weights at
once (and the weights it would set), or nothing, always with the reason.
It reads the stored spec, the Cell's target groups with their versions and
healthy targets, the listener's forward action, the Cell's status and its
blocked versions. While a rollout runs, it also prints the running
rollout's next action.

Nothing is written and no execution is started.`,
		Example: `  # Why has okra not started rolling web to v2?
  okra plan web

  # The decision as JSON
  okra plan web -o json | jq .decision`,
		Args: exactArgs(1, "CELL"),
		RunE: app.runE(func(cmd *cobra.Command, args []string) error {
			p, err := app.plan(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return app.print(p, func(w io.Writer) error { return renderPlan(w, p) })
		}),
	}
}

// planReport is what `okra plan` prints.
type planReport struct {
	Cell     string `json:"cell"`
	Revision int64  `json:"revision"`
	// Problems are the stored spec's validation problems; the planner does
	// nothing while there are any.
	Problems []cell.Problem    `json:"problems,omitempty"`
	Decision *rollout.Decision `json:"decision,omitempty"`
	// FirstStep is, for a StartRollout decision, the first action of the
	// rollout it would start.
	FirstStep *rollout.Action `json:"firstStep,omitempty"`
	// Next is, while a rollout holds the lease, that rollout's next action.
	Next     *rollout.Action `json:"next,omitempty"`
	Observed observedReport  `json:"observed"`
	Blocked  []rollout.Block `json:"blocked,omitempty"`
	Status   rollout.Status  `json:"status"`
	// Recovered is set when the lease holder had ended and plan recovered
	// its rollout before planning (the one change plan makes).
	Recovered *safetynet.OwnerCheck `json:"recovered,omitempty"`
	// Versions maps target-group ARNs to versions, and Steps is the number
	// of steps, for rendering.
	Versions map[string]string `json:"-"`
	Steps    int               `json:"-"`
}

// observedReport is what the planner looked at.
type observedReport struct {
	TargetGroups []inventory.TargetGroup `json:"targetGroups"`
	Unversioned  []inventory.TargetGroup `json:"unversioned,omitempty"`
	Forward      weights.Forward         `json:"forward"`
}

// plan reads everything the planner needs and runs it.
func (a *App) plan(ctx context.Context, name string) (planReport, error) {
	st, err := a.store(ctx)
	if err != nil {
		return planReport{}, err
	}
	cfg, err := a.AWS(ctx)
	if err != nil {
		return planReport{}, err
	}
	rec, err := st.GetCell(ctx, name)
	if err != nil {
		return planReport{}, a.explain(err)
	}
	if rec.Cell == nil {
		return planReport{}, fmt.Errorf("the stored spec of cell %q cannot be read (%v): fix it with okra cell apply", name, rec.DecodeErr)
	}
	c := cellOrNil(rec)
	p := planReport{Cell: name, Revision: rec.Revision, Versions: map[string]string{}, Steps: stepCount(c)}

	status, err := st.GetStatus(ctx, name)
	if err != nil {
		return p, a.explain(err)
	}
	if status.Status.Leased() {
		owners, err := a.leaseOwners(ctx)
		if err != nil {
			return p, err
		}
		var check safetynet.OwnerCheck
		if status, check, err = a.checkLease(ctx, st, owners, name, "okra plan", status); err != nil {
			return p, a.explain(err)
		}
		if check.Dead {
			p.Recovered = &check
		}
	}
	p.Status = status.Status
	p.Status.TaskToken = redact(p.Status.TaskToken)
	if p.Blocked, err = st.ListBlocked(ctx, name); err != nil {
		return p, a.explain(err)
	}
	shared, err := a.sharedTemplates(ctx, st, c)
	if err != nil {
		return p, err
	}
	if err := cell.Validate(c, shared); err != nil {
		p.Problems = problemsOf(err)
		return p, nil
	}

	elb := cfg.ELBv2()
	tgs := discovery.NewTargetGroups(elb, cfg.Tagging(), discovery.Options{Logger: a.logger()})
	found, err := tgs.ForCell(ctx, c)
	if err == nil {
		found.TargetGroups, err = tgs.Health(ctx, found.TargetGroups)
	}
	if err != nil {
		return p, fmt.Errorf("discovering the target groups of cell %q, %w", name, err)
	}
	fwd, err := listener.New(elb, listener.Options{Logger: a.logger()}).Read(ctx, c.Spec.Ingress)
	if awsapi.IsNotFound(err) {
		return p, fmt.Errorf("the listener of cell %q does not exist: check spec.ingress.listenerARN %s (%w)", name, c.Spec.Ingress.ListenerARN, err)
	}
	if err != nil {
		return p, fmt.Errorf("reading the forward action of cell %q, %w", name, err)
	}
	p.Observed = observedReport{TargetGroups: found.TargetGroups, Unversioned: found.Unversioned, Forward: fwd}
	if p.Observed.TargetGroups == nil {
		p.Observed.TargetGroups = []inventory.TargetGroup{}
	}
	for _, tg := range append(slices.Clone(found.TargetGroups), found.Unversioned...) {
		p.Versions[tg.ARN] = tg.Version
	}

	in := rollout.Input{
		Cell: c, TargetGroups: found.TargetGroups, Forward: fwd,
		Status: status.Status, Blocked: p.Blocked, Now: a.now().UTC(),
	}
	d := rollout.Evaluate(in)
	p.Decision = &d
	if status.Status.Leased() {
		next := rollout.Next(in)
		p.Next = &next
	}
	if d.Kind == rollout.DecisionStartRollout {
		// The rollout's first step, as its execution would plan it.
		first := in
		first.Status = rollout.Status{
			Phase: rollout.PhaseProgressing, StableVersion: d.From, CanaryVersion: d.To,
			StepCount: stepCount(c), Weights: fwd, Snapshot: &fwd,
		}
		a := rollout.Next(first)
		p.FirstStep = &a
	}
	return p, nil
}

func stepCount(c *cell.Cell) int {
	if c.Spec.UpdateStrategy.Canary == nil {
		return 0
	}
	return len(c.Spec.UpdateStrategy.Canary.Steps)
}

// redact hides a task token: whoever holds it can answer the rollout's
// approval, so it is not printed.
func redact(token string) string {
	if token == "" {
		return ""
	}
	return "(set)"
}

// renderPlan writes the plan. It is pure.
func renderPlan(w io.Writer, p planReport) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Cell:       %s (revision %d)\n", p.Cell, p.Revision)
	if len(p.Problems) > 0 {
		b.WriteString("Decision:   Noop\n")
		b.WriteString("Reason:     the stored spec is invalid; okra changes nothing until it is fixed:\n")
		for _, pr := range p.Problems {
			fmt.Fprintf(&b, "  %s\n", pr)
		}
		b.WriteString("\nNothing was changed.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	d := p.Decision
	decision := string(d.Kind)
	if d.From != "" || d.To != "" {
		decision += "  " + versionArrow(d.From, d.To)
	}
	fmt.Fprintf(&b, "Decision:   %s\n", decision)
	fmt.Fprintf(&b, "Reason:     %s\n", d.Reason)
	if d.Supersede != "" {
		fmt.Fprintf(&b, "Supersede:  %s\n", d.Supersede)
	}
	if d.Forward != nil {
		b.WriteString("\nWeights it would set:\n")
		writeForward(&b, *d.Forward, p.Versions)
	}
	if a := p.FirstStep; a != nil {
		fmt.Fprintf(&b, "\nFirst step of that rollout: %s\n", describeAction(*a, p.Steps))
		if a.Forward != nil {
			writeForward(&b, *a.Forward, p.Versions)
		}
	}
	if a := p.Next; a != nil {
		fmt.Fprintf(&b, "\nRunning rollout's next action: %s\n", describeAction(*a, p.Steps))
		if a.Forward != nil {
			writeForward(&b, *a.Forward, p.Versions)
		}
	}

	b.WriteString("\nObserved:\n")
	t := newTable(&b, "TARGET GROUP", "VERSION", "HEALTHY", "WEIGHT NOW")
	for _, tg := range p.Observed.TargetGroups {
		weight := "not in the listener"
		if wt, ok := p.Observed.Forward.Weight(tg.ARN); ok {
			weight = strconv.Itoa(int(wt))
		}
		t.row(tg.Name, tg.Version, strconv.Itoa(tg.HealthyTargets), weight)
	}
	for _, tg := range p.Observed.Unversioned {
		t.row(tg.Name, "(no version tag)", "", "")
	}
	for _, fw := range p.Observed.Forward.TargetGroups {
		if _, ok := p.Versions[fw.ARN]; !ok {
			t.row(targetGroupName(fw.ARN), "(not the Cell's)", "", strconv.Itoa(int(fw.Weight)))
		}
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, bl := range p.Blocked {
		fmt.Fprintf(&b, "Blocked:    %s (%s)\n", bl.Version, bl.Reason)
	}
	for _, warn := range d.Warnings {
		fmt.Fprintf(&b, "Warning:    %s\n", warn)
	}
	if r := p.Recovered; r != nil {
		fmt.Fprintf(&b, "Recovered:  the lease holder %s had ended %s; its rollout was recovered before planning (%s)\n", r.Holder, r.Status, r.Why)
		b.WriteString("\nNothing else was changed.\n")
	} else {
		b.WriteString("\nNothing was changed.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func versionArrow(from, to string) string {
	switch {
	case from == "":
		return to
	case to == "" || from == to:
		return from
	}
	return from + " → " + to
}

// describeAction is a one-line account of a planner action.
func describeAction(a rollout.Action, steps int) string {
	s := string(a.Kind)
	switch a.Kind {
	case rollout.ActionSetWeights:
		s += fmt.Sprintf(" (canary %d%%)", a.CanaryWeight)
	case rollout.ActionPause:
		if a.Until != nil {
			s += " until " + a.Until.UTC().Format(time.RFC3339)
		}
	case rollout.ActionWaitForHealthy:
		s += fmt.Sprintf(" (%d target groups lack healthy targets)", len(a.TargetGroups))
	case rollout.ActionSupersede:
		s += " by " + a.NewVersion
	}
	if a.Kind != rollout.ActionDone && a.StepIndex < steps {
		s += " (" + rollout.StepText(a.StepIndex, steps) + ")"
	}
	if a.Reason != "" {
		s += ": " + a.Reason
	}
	return s
}

// writeForward writes a forward action with bars, indented.
func writeForward(b *strings.Builder, f weights.Forward, versions map[string]string) {
	total := f.Total()
	t := newTable(b, "  TARGET GROUP", "VERSION", "WEIGHT", "TRAFFIC")
	for _, tg := range f.TargetGroups {
		pct := 0.0
		if total > 0 {
			pct = float64(tg.Weight) * 100 / float64(total)
		}
		t.row("  "+targetGroupName(tg.ARN), versions[tg.ARN], strconv.Itoa(int(tg.Weight)), fmt.Sprintf("%s %3.0f%%", bar(pct), pct))
	}
	_ = t.flush()
}
