package rollout

import (
	"fmt"
	"strings"
	"time"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/weights"
)

// ActionKind says what a running rollout does next. The values are stable
// strings that the state machine's Choice states match on.
type ActionKind string

// Actions of Next.
const (
	// ActionSetWeights: set Forward on the listener, verify it, then
	// record NextStepIndex.
	ActionSetWeights ActionKind = "SetWeights"
	// ActionPause: wait WaitSeconds (until Until), then record
	// NextStepIndex and clear PausedUntil. For a pause step, record
	// PausedUntil = Until when the wait begins, so that a restarted
	// execution waits only for what is left. After the last step a Pause
	// is the rest of the rollback window (Status.FinalizeAfter).
	ActionPause ActionKind = "Pause"
	// ActionAwaitApproval: an indefinite pause; wait for `okra rollout
	// promote` (task token), then record NextStepIndex.
	ActionAwaitApproval ActionKind = "AwaitApproval"
	// ActionAnalyze: run Analysis; on success record NextStepIndex, on
	// failure roll back and block the version.
	ActionAnalyze ActionKind = "Analyze"
	// ActionWaitForHealthy: the canary's weight would rise while
	// TargetGroups lack healthy targets; wait WaitSeconds and ask again.
	ActionWaitForHealthy ActionKind = "WaitForHealthy"
	// ActionFinalize: not before After, set Forward (the canary's groups
	// only, the old ones removed), record the canary as stable and release
	// the lease. When After is in the future, record FinalizeAfter = After
	// and wait until then first (or ask Next again after the wait).
	ActionFinalize ActionKind = "Finalize"
	// ActionRollback: set Forward (the snapshot taken when the rollout
	// began), verify it, end the rollout as rolled back.
	ActionRollback ActionKind = "Rollback"
	// ActionSupersede: a newer version is ready: set Forward (weight back
	// to stable), end this rollout; NewVersion's rollout starts from
	// stable.
	ActionSupersede ActionKind = "Supersede"
	// ActionDone: no rollout is in progress; nothing to do.
	ActionDone ActionKind = "Done"
)

// Action is what Next returns: one step of a running rollout. A Lambda
// handler can return it to Step Functions as it is.
type Action struct {
	Kind   ActionKind `json:"kind"`
	Reason string     `json:"reason,omitempty"`

	StableVersion string `json:"stableVersion,omitempty"`
	CanaryVersion string `json:"canaryVersion,omitempty"`

	// StepIndex is the step this action carries out (the number of steps
	// for the actions after the last step).
	StepIndex int `json:"stepIndex"`
	// NextStepIndex is what to record in Status.StepIndex once the action
	// is done.
	NextStepIndex int `json:"nextStepIndex"`

	// Forward is the action to set (SetWeights, Finalize, Rollback,
	// Supersede).
	Forward *weights.Forward `json:"forward,omitempty"`
	// CanaryWeight is, for SetWeights and WaitForHealthy, the canary's
	// share the step sets; for the other kinds, the canary's share now.
	CanaryWeight int32 `json:"canaryWeight"`

	// WaitSeconds is how long to wait (Pause, WaitForHealthy; rounded up
	// to whole seconds for a Wait state's SecondsPath).
	WaitSeconds int64 `json:"waitSeconds"`
	// Until is when the wait ends (for a Wait state's TimestampPath).
	Until *time.Time `json:"until,omitempty"`
	// Indefinite marks AwaitApproval.
	Indefinite bool `json:"indefinite,omitempty"`
	// Drift marks the AwaitApproval that waits on a drift (status.Drift):
	// the promote that answers it adopts the weights found.
	Drift bool `json:"drift,omitempty"`

	// Analysis is the step's analysis (Analyze).
	Analysis *cell.Analysis `json:"analysis,omitempty"`
	// BackgroundAnalysis is the background analysis that must be running
	// during this action (see BackgroundAnalysisAt), nil when none.
	BackgroundAnalysis *cell.Analysis `json:"backgroundAnalysis,omitempty"`

	// TargetGroups lists the canary target groups without enough healthy
	// targets (WaitForHealthy).
	TargetGroups []string `json:"targetGroups,omitempty"`
	// NewVersion is the version that supersedes this rollout (Supersede).
	NewVersion string `json:"newVersion,omitempty"`
	// After is when Finalize may remove the old target groups: the end of
	// the rollback window.
	After *time.Time `json:"after,omitempty"`
}

// Next decides the next action of the running rollout recorded in
// in.Status (StableVersion, CanaryVersion, StepIndex, Snapshot,
// PausedUntil, FinalizeAfter). The state machine calls it at every step
// boundary; it is pure.
//
// Checks come first, at every boundary: a blocked canary, or one with
// fewer than replicas target groups, rolls back; a foreign target group in
// the listener waits for a human; a pin on another version rolls back or
// supersedes; a newer complete, non-blocked version supersedes (until the
// canary is promoted). Then the step at StepIndex runs with Argo Rollouts
// semantics (setWeight is the canary's total share). After the last step
// the canary gets 100% if it has less, then, after the rollback window,
// Finalize removes the old target groups. The canary's weight never rises
// while one of its target groups lacks healthy targets, and no such group
// gains weight (WaitForHealthy).
func Next(in Input) Action {
	if in.Cell == nil {
		return Action{Kind: ActionAwaitApproval, Indefinite: true, Reason: "no Cell spec: a human must restore it or abort the rollout"}
	}
	canary := in.Status.CanaryVersion
	if canary == "" {
		return Action{Kind: ActionDone, Reason: "no rollout in progress"}
	}
	o := observe(in)
	stable := in.Status.StableVersion
	if stable == "" {
		stable = o.stableVersion()
	}
	if stable == canary {
		return Action{Kind: ActionDone, StableVersion: stable, CanaryVersion: canary,
			Reason: fmt.Sprintf("%s is already the stable version", canary)}
	}
	steps := stepsOf(in.Cell)
	index := min(max(in.Status.StepIndex, 0), len(steps))
	canaryNow := int32(weights.Share(in.Forward, o.versionARNs(canary)))
	stableGroups := o.stableGroups(stable)
	base := Action{
		StableVersion: stable, CanaryVersion: canary,
		StepIndex: index, NextStepIndex: index, CanaryWeight: canaryNow,
	}
	if a, stop := o.guard(base, stable, canary, stableGroups); stop {
		return a
	}

	chosen := o.choose(canary)
	base.BackgroundAnalysis = BackgroundAnalysisAt(in.Cell, index)
	if index < len(steps) {
		return o.runStep(base, steps[index], stableGroups, chosen)
	}
	return o.afterSteps(base, stableGroups, chosen)
}

// guard returns the action that stops or holds the rollout before any step
// runs, if one applies.
func (o *observed) guard(base Action, stable, canary string, stableGroups []string) (Action, bool) {
	rollback := func(reason string) (Action, bool) {
		a := base
		a.Kind, a.Reason, a.Forward = ActionRollback, reason, o.restoreForward(stableGroups)
		return a, true
	}
	hold := func(reason string) (Action, bool) {
		a := base
		a.Kind, a.Indefinite, a.Reason = ActionAwaitApproval, true, reason
		return a, true
	}

	if b, ok := o.blocked[canary]; ok {
		return rollback(fmt.Sprintf("%s was blocked (%s)", canary, b.Reason))
	}
	if n := len(o.versions[canary]); n < o.replicas {
		return rollback(fmt.Sprintf("%s has %s, fewer than the %d replicas it needs (clusters removed?)", canary, count(n, "target group"), o.replicas))
	}
	if len(o.foreign) > 0 {
		return hold(fmt.Sprintf("the listener forwards to target groups that are not the Cell's (%s); remove them, then promote, or abort the rollout",
			strings.Join(o.foreign, ", ")))
	}
	promoted := o.promoted(canary)
	if pin := o.in.Cell.Spec.Version; pin != "" && pin != canary {
		pinNewerThanCanary, err := newer(pin, canary)
		if err != nil {
			return hold(fmt.Sprintf("spec.version %q cannot be ordered: %v", pin, err))
		}
		switch {
		case promoted && pinNewerThanCanary:
			// Finish this rollout; the pinned one starts from the new stable.
		case !promoted && o.supersedingVersion(stable, canary) == pin:
			a := base
			a.Kind, a.NewVersion, a.Forward = ActionSupersede, pin, o.restoreForward(stableGroups)
			a.Reason = fmt.Sprintf("spec.version pins %s: returning weight to %s; %s rolls from there", pin, stable, pin)
			return a, true
		default:
			return rollback(fmt.Sprintf("spec.version pins %s: stopping the rollout to %s", pin, canary))
		}
	}
	if o.in.Cell.Spec.Version == "" {
		if v := o.supersedingVersion(stable, canary); v != "" {
			a := base
			a.Kind, a.NewVersion, a.Forward = ActionSupersede, v, o.restoreForward(stableGroups)
			a.Reason = fmt.Sprintf("%s is ready and newer than %s: returning weight to %s; %s rolls from there", v, canary, stable, v)
			return a, true
		}
	}
	return Action{}, false
}

// restoreForward is the action that puts everything back on stable: the
// snapshot taken when the rollout began, else stable's groups at 100%.
func (o *observed) restoreForward(stableGroups []string) *weights.Forward {
	if snap := o.in.Status.Snapshot; snap != nil && weights.Validate(*snap) == nil {
		f := snap.Clone()
		return &f
	}
	f, err := weights.Split(stableGroups, nil, 0, o.stickiness())
	if err != nil {
		return nil
	}
	return &f
}

func (o *observed) runStep(base Action, step cell.Step, stableGroups []string, canary []inventory.TargetGroup) Action {
	i := base.StepIndex
	a := base
	a.NextStepIndex = i + 1
	switch {
	case step.SetWeight != nil:
		return o.setWeights(base, *step.SetWeight, stableGroups, canary, i+1)
	case step.Pause != nil && step.Pause.Duration == nil:
		a.Kind, a.Indefinite = ActionAwaitApproval, true
		a.Reason = fmt.Sprintf("%s: pause until promoted", StepText(i, len(stepsOf(o.in.Cell))))
		return a
	case step.Pause != nil:
		until := o.in.Now.Add(max(0, step.Pause.Duration.Duration))
		if p := o.in.Status.PausedUntil; p != nil {
			until = *p // a restarted execution waits only for what is left
		}
		a.Kind = ActionPause
		o.waitUntil(&a, until)
		a.Reason = fmt.Sprintf("%s: pause %s", StepText(i, len(stepsOf(o.in.Cell))), step.Pause.Duration.Duration)
		return a
	case step.Analysis != nil:
		a.Kind, a.Analysis = ActionAnalyze, step.Analysis
		a.Reason = fmt.Sprintf("%s: analysis %s", StepText(i, len(stepsOf(o.in.Cell))), templateNames(step.Analysis))
		return a
	}
	a.Kind, a.Indefinite = ActionAwaitApproval, true
	a.Reason = fmt.Sprintf("%s sets none of setWeight, pause or analysis; promote skips it", StepText(i, len(stepsOf(o.in.Cell))))
	return a
}

// setWeights builds the SetWeights action for weight, or WaitForHealthy
// when it would raise the canary's weight onto unhealthy target groups.
func (o *observed) setWeights(base Action, weight int32, stableGroups []string, canary []inventory.TargetGroup, next int) Action {
	a := base
	f, err := weights.Split(stableGroups, arnsOf(canary), weight, o.stickiness())
	if err != nil {
		a.Kind, a.Indefinite = ActionAwaitApproval, true
		a.Reason = fmt.Sprintf("%s cannot set the canary to %d%%: %v", StepText(base.StepIndex, len(stepsOf(o.in.Cell))), weight, err)
		return a
	}
	bad := o.unhealthy(canary)
	if weight <= base.CanaryWeight {
		bad = o.gainingUnhealthy(f, canary)
	}
	if len(bad) > 0 {
		return o.waitForHealthy(base, weight, bad)
	}
	a.Kind, a.Forward, a.CanaryWeight, a.NextStepIndex = ActionSetWeights, &f, weight, next
	a.Reason = fmt.Sprintf("%s gets %d%%", a.CanaryVersion, weight)
	return a
}

// gainingUnhealthy returns the canary groups without enough healthy
// targets that f gives more weight than the listener does now (a group
// swapped in while another leaves), so that no unhealthy group ever gains
// weight, even when the canary's total share stays the same.
func (o *observed) gainingUnhealthy(f weights.Forward, canary []inventory.TargetGroup) []string {
	var out []string
	for _, tg := range canary {
		now, _ := o.in.Forward.Weight(tg.ARN)
		next, _ := f.Weight(tg.ARN)
		if next > now && !o.healthy(tg) {
			out = append(out, tg.ARN)
		}
	}
	return out
}

// waitForHealthy holds the canary's weight until bad have healthy targets.
func (o *observed) waitForHealthy(base Action, weight int32, bad []string) Action {
	a := base
	a.Kind, a.CanaryWeight, a.TargetGroups = ActionWaitForHealthy, weight, bad
	o.waitUntil(&a, o.in.Now.Add(HealthPollInterval))
	a.Reason = fmt.Sprintf("the canary stays at %d%% until each of its target groups has at least %s",
		base.CanaryWeight, count(o.minHealthy, "healthy target"))
	return a
}

// afterSteps promotes the canary to 100%, waits the rollback window, then
// finalizes.
func (o *observed) afterSteps(base Action, stableGroups []string, canary []inventory.TargetGroup) Action {
	if base.CanaryWeight < 100 {
		return o.setWeights(base, 100, stableGroups, canary, base.StepIndex)
	}
	after := o.in.Now.Add(rollbackWindowOf(o.in.Cell))
	if fa := o.in.Status.FinalizeAfter; fa != nil {
		after = *fa
		if o.in.Now.Before(after) {
			a := base
			a.Kind = ActionPause
			o.waitUntil(&a, after)
			a.Reason = fmt.Sprintf("rollback window: old target groups stay at weight 0 until %s", after.UTC().Format(time.RFC3339))
			return a
		}
	}
	a := base
	f, err := weights.Split(nil, arnsOf(canary), 100, o.stickiness())
	if err != nil {
		a.Kind, a.Indefinite = ActionAwaitApproval, true
		a.Reason = fmt.Sprintf("cannot build the final forward action: %v", err)
		return a
	}
	if bad := o.gainingUnhealthy(f, canary); len(bad) > 0 {
		return o.waitForHealthy(base, 100, bad)
	}
	a.Kind, a.Forward, a.After, a.BackgroundAnalysis = ActionFinalize, &f, &after, nil
	a.Reason = fmt.Sprintf("%s has 100%%: old target groups leave the forward action at %s", a.CanaryVersion, after.UTC().Format(time.RFC3339))
	return a
}

// waitUntil sets WaitSeconds (rounded up) and Until for a wait ending at
// until; a time already passed waits 0 seconds.
func (o *observed) waitUntil(a *Action, until time.Time) {
	remaining := max(0, until.Sub(o.in.Now))
	a.WaitSeconds = int64((remaining + time.Second - 1) / time.Second)
	a.Until = &until
}

func templateNames(a *cell.Analysis) string {
	names := make([]string, 0, len(a.Templates))
	for _, t := range a.Templates {
		names = append(names, t.TemplateName)
	}
	return strings.Join(names, ", ")
}

// BackgroundAnalysisAt returns the background analysis
// (updateStrategy.canary.analysis) that must be running while the step at
// stepIndex runs, or nil. As in Argo Rollouts it starts when the rollout
// reaches startingStep (default 0, from the first step) and runs until the
// rollout ends; okra keeps it running through the rollback window too, so
// a late failure still rolls back with one API call. Finalize stops it.
func BackgroundAnalysisAt(c *cell.Cell, stepIndex int) *cell.Analysis {
	if c == nil || c.Spec.UpdateStrategy.Canary == nil || c.Spec.UpdateStrategy.Canary.Analysis == nil {
		return nil
	}
	bg := c.Spec.UpdateStrategy.Canary.Analysis
	start := 0
	if bg.StartingStep != nil {
		start = int(*bg.StartingStep)
	}
	if stepIndex < start {
		return nil
	}
	return &bg.Analysis
}

// StepText names a rollout's step for people, 1-based as everywhere okra
// shows steps: index is Status.StepIndex (0-based, the step being carried
// out or next to run), count the number of steps. "step 2 of 5"; "all 5
// steps done" past the last; "step 2" when the count is unknown.
func StepText(index, count int) string {
	index = max(index, 0)
	switch {
	case count <= 0:
		return fmt.Sprintf("step %d", index+1)
	case index >= count:
		return fmt.Sprintf("all %d steps done", count)
	}
	return fmt.Sprintf("step %d of %d", index+1, count)
}
