package cli

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// statusInput is everything `okra rollout status` shows, read once per
// frame. buildStatusReport and renderStatus are pure functions of it, so
// that tests render any situation without AWS.
type statusInput struct {
	Name string
	// Cell is the stored spec, defaulted; nil when it is missing or
	// unreadable.
	Cell *cell.Cell
	// Status is the Cell's status item; HasStatus is false when okra has
	// never written one.
	Status    rollout.Status
	HasStatus bool
	// Forward is the listener's forward action as read now; when
	// ForwardErr is set it could not be read and the status item's
	// weights are shown instead.
	Forward    weights.Forward
	ForwardErr string
	// TargetGroups are the Cell's target groups as discovery found them
	// (names, versions, healthy targets).
	TargetGroups []inventory.TargetGroup
	// Events are the Cell's latest history events, newest first.
	Events  []store.Event
	Blocked []rollout.Block
	Now     time.Time
}

// statusReport is what `okra rollout status` prints: as a screen
// (renderStatus) or as JSON/YAML.
type statusReport struct {
	Cell          string        `json:"cell"`
	Phase         rollout.Phase `json:"phase"`
	StableVersion string        `json:"stableVersion,omitempty"`
	CanaryVersion string        `json:"canaryVersion,omitempty"`
	// Step is the step being carried out; nil when no rollout runs.
	Step *stepReport `json:"step,omitempty"`
	// AwaitingPromote: the rollout waits for `okra rollout promote`.
	AwaitingPromote bool               `json:"awaitingPromote,omitempty"`
	Execution       string             `json:"executionArn,omitempty"`
	PausedUntil     *time.Time         `json:"pausedUntil,omitempty"`
	FinalizeAfter   *time.Time         `json:"finalizeAfter,omitempty"`
	Weights         weightsReport      `json:"weights"`
	Measurements    []measurementEntry `json:"measurements,omitempty"`
	Message         string             `json:"message,omitempty"`
	// PauseRequested: the rollout will wait for promote at its next step
	// boundary (an inconclusive background analysis); PauseReason says why.
	PauseRequested   bool            `json:"pauseRequested,omitempty"`
	PauseReason      string          `json:"pauseReason,omitempty"`
	ValidationErrors []string        `json:"validationErrors,omitempty"`
	Blocked          []rollout.Block `json:"blocked,omitempty"`
	UpdatedAt        *time.Time      `json:"updatedAt,omitempty"`
	// Done: no rollout is running (none started, or the last one ended).
	Done bool `json:"done"`
}

// stepReport describes the current step: Number is 1-based.
type stepReport struct {
	Number      int    `json:"number"`
	Count       int    `json:"count"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
}

// Step kinds in stepReport.
const (
	stepSetWeight = "setWeight"
	stepPause     = "pause"
	stepAnalysis  = "analysis"
	stepFinished  = "finished"
)

// weightsReport is the forward action, one row per target group.
type weightsReport struct {
	// Source is "listener" (read now) or "status" (as the rollout last
	// set them, when the listener could not be read).
	Source       string           `json:"source"`
	Error        string           `json:"error,omitempty"`
	TargetGroups []groupWeightRow `json:"targetGroups"`
}

// groupWeightRow is one target group with its weight and share.
type groupWeightRow struct {
	ARN     string `json:"arn"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// Role is "stable" or "canary" when the group carries that version.
	Role           string  `json:"role,omitempty"`
	HealthyTargets *int    `json:"healthyTargets,omitempty"`
	InListener     bool    `json:"inListener"`
	Weight         int32   `json:"weight"`
	Percent        float64 `json:"percent"`
}

// measurementEntry is one analysis measurement from the history.
type measurementEntry struct {
	Time     time.Time `json:"time"`
	Template string    `json:"template,omitempty"`
	Metric   string    `json:"metric"`
	Value    string    `json:"value"`
	Verdict  string    `json:"verdict"`
	Error    string    `json:"error,omitempty"`
}

// defaultMeasurements is how many measurements status shows.
const defaultMeasurements = 5

// buildStatusReport turns what was read into the report. It is pure.
func buildStatusReport(in statusInput, maxMeasurements int) statusReport {
	st := in.Status
	r := statusReport{
		Cell:             in.Name,
		Phase:            st.Phase,
		StableVersion:    st.StableVersion,
		CanaryVersion:    st.CanaryVersion,
		Execution:        st.ExecutionARN,
		PausedUntil:      st.PausedUntil,
		FinalizeAfter:    st.FinalizeAfter,
		Message:          st.Message,
		PauseRequested:   st.PauseRequested && st.Leased(),
		PauseReason:      st.PauseReason,
		ValidationErrors: st.ValidationErrors,
		Blocked:          in.Blocked,
		AwaitingPromote:  st.Leased() && st.TaskToken != "",
		Done:             !st.Leased(),
	}
	if !st.UpdatedAt.IsZero() {
		t := st.UpdatedAt
		r.UpdatedAt = &t
	}
	if !in.HasStatus && r.Phase == "" {
		r.Phase = "Pending"
		if r.Message == "" {
			r.Message = "okra has not evaluated this Cell yet"
		}
	}
	if st.Leased() && st.CanaryVersion != "" {
		r.Step = describeStep(in.Name, in.Cell, st, r.AwaitingPromote, in.Now)
	}
	r.Weights = weightRows(in)
	r.Measurements = measurements(in.Events, maxMeasurements)
	return r
}

// describeStep says which step runs and what it does.
func describeStep(name string, c *cell.Cell, st rollout.Status, awaiting bool, now time.Time) *stepReport {
	var steps []cell.Step
	if c != nil && c.Spec.UpdateStrategy.Canary != nil {
		steps = c.Spec.UpdateStrategy.Canary.Steps
	}
	count := st.StepCount
	if count == 0 {
		count = len(steps)
	}
	idx := max(st.StepIndex, 0)
	s := &stepReport{Number: min(idx+1, count), Count: count}
	promote := fmt.Sprintf("awaiting promote (okra rollout promote %s)", name)
	switch {
	case idx >= count:
		s.Kind, s.Number = stepFinished, count
		s.Description = "all steps done"
		if st.FinalizeAfter != nil {
			s.Description += fmt.Sprintf("; old target groups leave the listener at %s (rollback window, %s)", clock(*st.FinalizeAfter), until(*st.FinalizeAfter, now))
		}
	case idx >= len(steps):
		s.Kind, s.Description = "unknown", "the step is not in the stored spec (was the Cell changed during the rollout?)"
	default:
		step := steps[idx]
		switch {
		case step.SetWeight != nil:
			s.Kind = stepSetWeight
			s.Description = fmt.Sprintf("setWeight %d", *step.SetWeight)
		case step.Pause != nil && step.Pause.Duration == nil:
			s.Kind, s.Description = stepPause, "pause: "+promote
			awaiting = false // said already
		case step.Pause != nil:
			s.Kind = stepPause
			s.Description = "pause " + shortDuration(step.Pause.Duration.Duration)
			if st.PausedUntil != nil {
				s.Description += fmt.Sprintf(" until %s (%s)", clock(*st.PausedUntil), until(*st.PausedUntil, now))
			}
		case step.Analysis != nil:
			s.Kind = stepAnalysis
			names := make([]string, 0, len(step.Analysis.Templates))
			for _, t := range step.Analysis.Templates {
				names = append(names, t.TemplateName)
			}
			s.Description = "analysis " + strings.Join(names, ", ")
		default:
			s.Kind, s.Description = "unknown", "an empty step"
		}
	}
	if awaiting {
		s.Description += "; " + promote
	}
	return s
}

// weightRows lists the forward action's target groups, then the Cell's
// stable and canary groups the action does not list.
func weightRows(in statusInput) weightsReport {
	rep := weightsReport{Source: "listener", TargetGroups: []groupWeightRow{}}
	fwd := in.Forward
	if in.ForwardErr != "" {
		rep.Source, rep.Error = "status", in.ForwardErr
		fwd = in.Status.Weights
	}
	byARN := map[string]inventory.TargetGroup{}
	for _, tg := range in.TargetGroups {
		byARN[tg.ARN] = tg
	}
	total := fwd.Total()
	row := func(arn string, w int32, listed bool) groupWeightRow {
		r := groupWeightRow{ARN: arn, Name: targetGroupName(arn), InListener: listed, Weight: w}
		if tg, ok := byARN[arn]; ok {
			if tg.Name != "" {
				r.Name = tg.Name
			}
			r.Version = tg.Version
			h := tg.HealthyTargets
			r.HealthyTargets = &h
		}
		switch {
		case r.Version == "":
		case r.Version == in.Status.CanaryVersion:
			r.Role = "canary"
		case r.Version == in.Status.StableVersion:
			r.Role = "stable"
		}
		if total > 0 {
			r.Percent = float64(w) * 100 / float64(total)
		}
		return r
	}
	listed := map[string]bool{}
	for _, tg := range fwd.TargetGroups {
		listed[tg.ARN] = true
		rep.TargetGroups = append(rep.TargetGroups, row(tg.ARN, tg.Weight, true))
	}
	var extra []groupWeightRow
	for _, tg := range in.TargetGroups {
		if listed[tg.ARN] {
			continue
		}
		if v := tg.Version; v != "" && (v == in.Status.StableVersion || v == in.Status.CanaryVersion) {
			extra = append(extra, row(tg.ARN, 0, false))
		}
	}
	slices.SortFunc(extra, func(a, b groupWeightRow) int { return strings.Compare(a.Name, b.Name) })
	rep.TargetGroups = append(rep.TargetGroups, extra...)
	return rep
}

// targetGroupName is NAME of ".../targetgroup/NAME/ID", else the ARN.
func targetGroupName(arn string) string {
	_, rest, ok := strings.Cut(arn, ":targetgroup/")
	if !ok {
		return arn
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// measurements returns the newest max analysis measurements.
func measurements(events []store.Event, limit int) []measurementEntry {
	var out []measurementEntry
	for _, ev := range events {
		if len(out) >= limit {
			break
		}
		m := ev.Measurement
		if ev.Type != store.EventAnalysisMeasurement || m == nil {
			continue
		}
		t := m.FinishedAt
		if t.IsZero() {
			t = ev.Time
		}
		out = append(out, measurementEntry{
			Time: t, Template: m.Template, Metric: m.Metric,
			Value: measurementValue(m), Verdict: m.Verdict, Error: m.Error,
		})
	}
	return out
}

func measurementValue(m *store.Measurement) string {
	if m.Result != "" {
		return m.Result
	}
	if len(m.Values) == 0 {
		if m.Error != "" {
			return ""
		}
		return "(no data)"
	}
	vals := make([]string, len(m.Values))
	for i, v := range m.Values {
		vals[i] = strconv.FormatFloat(v, 'g', 6, 64)
	}
	return strings.Join(vals, ", ")
}

// withError appends a measurement's error to its value.
func withError(value, errText string) string {
	switch {
	case errText == "":
		return value
	case value == "":
		return "error: " + errText
	}
	return value + " (error: " + errText + ")"
}

// barWidth is the length of a weight bar.
const barWidth = 20

// bar draws percent (0..100) as a bar of barWidth cells.
func bar(percent float64) string {
	filled := int(math.Round(percent / 100 * barWidth))
	filled = min(max(filled, 0), barWidth)
	return "[" + strings.Repeat("█", filled) + strings.Repeat("░", barWidth-filled) + "]"
}

// renderStatus writes the status screen. It is pure: the same report and
// clock always give the same text.
func renderStatus(w io.Writer, r statusReport, now time.Time) error {
	var b strings.Builder
	field := func(label, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%-11s %s\n", label+":", value)
		}
	}
	field("Cell", r.Cell)
	field("Phase", string(r.Phase))
	switch {
	case r.CanaryVersion != "" && r.CanaryVersion != r.StableVersion:
		stable := r.StableVersion
		if stable == "" {
			stable = "(none)"
		}
		field("Versions", fmt.Sprintf("%s (stable) → %s (canary)", stable, r.CanaryVersion))
	case r.StableVersion != "":
		field("Versions", r.StableVersion+" (stable)")
	}
	if r.Step != nil {
		field("Step", fmt.Sprintf("%d of %d  %s", r.Step.Number, r.Step.Count, r.Step.Description))
	} else if r.Done {
		field("Step", "no rollout in progress")
	}
	field("Execution", r.Execution)
	if r.UpdatedAt != nil {
		field("Updated", fmt.Sprintf("%s (%s)", r.UpdatedAt.UTC().Format(time.RFC3339), ago(*r.UpdatedAt, now)))
	}

	b.WriteString("\n")
	switch {
	case r.Weights.Source == "status" && len(r.Weights.TargetGroups) > 0:
		fmt.Fprintf(&b, "Weights as the rollout last set them (the listener could not be read: %s):\n", r.Weights.Error)
	case r.Weights.Source == "status":
		fmt.Fprintf(&b, "Weights: unknown (the listener could not be read: %s)\n", r.Weights.Error)
	case len(r.Weights.TargetGroups) == 0:
		b.WriteString("Weights: the listener forwards to no target group yet\n")
	}
	if len(r.Weights.TargetGroups) > 0 {
		t := newTable(&b, "TARGET GROUP", "VERSION", "HEALTHY", "WEIGHT", "TRAFFIC")
		for _, g := range r.Weights.TargetGroups {
			version := g.Version
			if g.Role != "" {
				version += " (" + g.Role + ")"
			}
			healthy := ""
			if g.HealthyTargets != nil {
				healthy = strconv.Itoa(*g.HealthyTargets)
			}
			weight, traffic := strconv.Itoa(int(g.Weight)), fmt.Sprintf("%s %3.0f%%", bar(g.Percent), g.Percent)
			if !g.InListener {
				weight, traffic = "", "not in the listener"
			}
			t.row(g.Name, version, healthy, weight, traffic)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}

	if len(r.Measurements) > 0 {
		b.WriteString("\nAnalysis (latest first):\n")
		t := newTable(&b, "TIME", "METRIC", "VALUE", "VERDICT")
		for _, m := range r.Measurements {
			metric := m.Metric
			if m.Template != "" {
				metric = m.Template + "/" + m.Metric
			}
			value := withError(m.Value, m.Error)
			t.row(clock(m.Time), metric, value, m.Verdict)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}

	if r.Message != "" || r.PauseRequested || len(r.ValidationErrors) > 0 || len(r.Blocked) > 0 {
		b.WriteString("\n")
	}
	field("Message", r.Message)
	if r.PauseRequested {
		reason := r.PauseReason
		if reason == "" {
			reason = "requested"
		}
		field("Pausing", fmt.Sprintf("%s; the rollout waits for okra rollout promote %s at its next step", reason, r.Cell))
	}
	for _, e := range r.ValidationErrors {
		fmt.Fprintf(&b, "  invalid: %s\n", e)
	}
	for _, bl := range r.Blocked {
		line := bl.Version + " is blocked"
		if bl.Reason != "" {
			line += ": " + bl.Reason
		}
		if !bl.At.IsZero() {
			line += " (" + bl.At.UTC().Format(time.RFC3339) + ")"
		}
		field("Blocked", line)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// clock writes a time of day in UTC, "12:09:00Z".
func clock(t time.Time) string { return t.UTC().Format("15:04:05Z") }

// until says how long until t: "4m12s left", or "due" once past.
func until(t, now time.Time) string {
	d := t.Sub(now).Round(time.Second)
	if d <= 0 {
		return "due"
	}
	return shortDuration(d) + " left"
}

// ago says how long since t: "2m5s ago".
func ago(t, now time.Time) string {
	d := now.Sub(t).Round(time.Second)
	if d <= 0 {
		return "just now"
	}
	return shortDuration(d) + " ago"
}

// shortDuration drops the zero units Go prints: 5m0s → 5m, 1h0m0s → 1h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
