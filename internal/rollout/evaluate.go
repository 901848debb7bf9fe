package rollout

import (
	"fmt"
	"slices"
	"strings"

	"github.com/okrahq/okra/internal/version"
	"github.com/okrahq/okra/internal/weights"
)

// DecisionKind says what Evaluate decided. The values are stable strings
// for JSON and Step Functions Choice states.
type DecisionKind string

// Decisions of Evaluate.
const (
	// DecisionNoop: change nothing; Reason says why.
	DecisionNoop DecisionKind = "Noop"
	// DecisionStartRollout: start a rollout execution from From to To.
	DecisionStartRollout DecisionKind = "StartRollout"
	// DecisionSwap: set Forward at once, without steps (first deployment,
	// or a pinned rollback).
	DecisionSwap DecisionKind = "Swap"
	// DecisionResplit: the stable version keeps 100% but its target
	// groups change; set Forward.
	DecisionResplit DecisionKind = "Resplit"
)

// Decision is what Evaluate returns for a Cell. A handler can return it
// as it is.
type Decision struct {
	Kind   DecisionKind `json:"kind"`
	Reason string       `json:"reason"`
	// From is the stable version (StartRollout, Swap, Resplit).
	From string `json:"from,omitempty"`
	// To is the version that gets traffic (StartRollout, Swap, Resplit).
	To string `json:"to,omitempty"`
	// Forward is the action to set (Swap, Resplit).
	Forward *weights.Forward `json:"forward,omitempty"`
	// Supersede, on a Noop while a rollout holds the lease, names the
	// version that will supersede that rollout at its next step boundary.
	Supersede string `json:"supersede,omitempty"`
	// Warnings name target groups the planner ignored (no or invalid
	// version tag).
	Warnings []string `json:"warnings,omitempty"`
	// Degraded, on a Noop, says the Cell stays Degraded: the listener
	// still gives weight to a target group that cannot carry traffic. A
	// Degraded Cell whose decision is not Degraded can leave that phase.
	Degraded bool `json:"degraded,omitempty"`
}

func noop(reason string) Decision { return Decision{Kind: DecisionNoop, Reason: reason} }

// Evaluate decides, for one Cell, whether to start a rollout, swap or
// re-split weights at once, or do nothing. Reconcile and the event
// handlers call it; it is pure.
//
// Rules, in order:
//   - The listener must forward only to the Cell's target groups; a
//     foreign group means Noop (okra never touches what it does not own).
//   - While a rollout holds the lease nothing starts; the Noop names a
//     version that would supersede the running rollout.
//   - No forward configuration yet: the pinned version, else the recorded
//     stable version when it is still complete, else the newest complete
//     non-blocked version gets 100% at once (Swap).
//   - A pin is the only target: lower than stable swaps at once (a
//     rollback), higher starts a rollout, equal is steady state.
//   - Without a pin the target is the newest complete non-blocked version
//     newer than stable.
//   - Steady state: the stable version's healthy target groups, replicas
//     of them, share 100% evenly; any difference is a Resplit.
//
// A version is complete when at least replicas of its target groups have
// minHealthyTargets healthy targets; a blocked version is never rolled to.
func Evaluate(in Input) Decision {
	if in.Cell == nil {
		return noop("no Cell spec")
	}
	o := observe(in)
	d := evaluate(o)
	d.Warnings = o.warnings
	return d
}

func evaluate(o *observed) Decision {
	in := o.in
	if len(o.foreign) > 0 {
		return noop(fmt.Sprintf("the listener forwards to target groups that are not the Cell's (%s); okra changes nothing until they leave the forward action",
			strings.Join(o.foreign, ", ")))
	}
	if in.Status.Leased() {
		d := noop(fmt.Sprintf("rollout %s holds the lease (%s to %s)",
			in.Status.ExecutionARN, in.Status.StableVersion, in.Status.CanaryVersion))
		if in.Status.CanaryVersion != "" {
			if v := o.supersedingVersion(in.Status.StableVersion, in.Status.CanaryVersion); v != "" {
				d.Supersede = v
				d.Reason += fmt.Sprintf("; %s will supersede it at its next step boundary", v)
			}
		}
		return d
	}
	if in.Status.Phase == PhaseDegraded {
		if bad := o.unroutable(); len(bad) > 0 {
			d := noop(fmt.Sprintf("the Cell is Degraded: the listener gives weight to target groups that cannot carry traffic (%s); okra starts nothing until a human fixes them or the weights",
				strings.Join(bad, ", ")))
			d.Degraded = true
			return d
		}
	}
	stable := o.stableVersion()
	pin := in.Cell.Spec.Version

	if len(in.Forward.Routed()) == 0 {
		return o.firstDeployment(stable, pin)
	}
	if pin != "" && pin != stable {
		return o.followPin(stable, pin)
	}
	if pin == "" {
		target, notes, err := o.newestReady(stable)
		if err != nil {
			return noop(fmt.Sprintf("the stable version cannot be ordered: %v", err))
		}
		if target != "" {
			return o.startRollout(stable, target, notes)
		}
		return o.steady(stable, notes)
	}
	return o.steady(stable, []string{fmt.Sprintf("spec.version pins %s, the stable version", pin)})
}

// firstDeployment handles a listener with no weighted forward yet.
func (o *observed) firstDeployment(stable, pin string) Decision {
	target := pin
	var notes []string
	switch {
	case pin != "":
		if d, ok := o.refuseTarget(pin, "spec.version pins"); !ok {
			return d
		}
	case stable != "" && o.complete(stable) && !o.isBlocked(stable):
		// The forward action was lost; restore the known stable version
		// rather than skip a newer version's canary steps.
		target = stable
	default:
		var newest string
		for v := range o.versions {
			if o.complete(v) && !o.isBlocked(v) && (newest == "" || o.order(v, newest) > 0) {
				newest = v
			}
			if b, ok := o.blocked[v]; ok {
				notes = append(notes, blockedNote(b))
			}
		}
		if newest == "" {
			return noop(joinNotes(fmt.Sprintf("no forward action yet and no version has %s with at least %s",
				count(o.replicas, "target group"), count(o.minHealthy, "healthy target")), sortedNotes(notes)))
		}
		target = newest
	}
	f, err := weights.Split(nil, arnsOf(o.choose(target)), 100, o.stickiness())
	if err != nil {
		return noop(fmt.Sprintf("cannot build the forward action for %s: %v", target, err))
	}
	return Decision{
		Kind: DecisionSwap, From: stable, To: target, Forward: &f,
		Reason: joinNotes(fmt.Sprintf("no forward action yet: %s gets 100%% at once", target), sortedNotes(notes)),
	}
}

// refuseTarget returns a Noop when v cannot be rolled to (blocked or not
// complete); ok is true when it can.
func (o *observed) refuseTarget(v, what string) (Decision, bool) {
	if b, ok := o.blocked[v]; ok {
		return noop(fmt.Sprintf("%s %s, which is blocked (%s); unblock it to roll to it", what, v, b.Reason)), false
	}
	if _, err := version.Parse(v); err != nil {
		return noop(fmt.Sprintf("%s %q: %v", what, v, err)), false
	}
	if !o.complete(v) {
		return noop(fmt.Sprintf("%s %s, which is not ready: %s", what, v, o.incompleteNote(v))), false
	}
	return Decision{}, true
}

func (o *observed) isBlocked(v string) bool {
	_, ok := o.blocked[v]
	return ok
}

// followPin moves to a pinned version other than stable.
func (o *observed) followPin(stable, pin string) Decision {
	if d, ok := o.refuseTarget(pin, "spec.version pins"); !ok {
		return d
	}
	c, err := version.Compare(pin, stable)
	if err != nil {
		return noop(fmt.Sprintf("cannot order spec.version %s against stable %s: %v", pin, stable, err))
	}
	if c < 0 {
		f, err := weights.Split(nil, arnsOf(o.choose(pin)), 100, o.stickiness())
		if err != nil {
			return noop(fmt.Sprintf("cannot build the forward action for %s: %v", pin, err))
		}
		return Decision{
			Kind: DecisionSwap, From: stable, To: pin, Forward: &f,
			Reason: fmt.Sprintf("spec.version pins %s, older than stable %s: rolling back at once", pin, stable),
		}
	}
	// Newer, or the same precedence under another tag: roll with steps.
	return o.startRollout(stable, pin, []string{fmt.Sprintf("spec.version pins %s", pin)})
}

// startRollout checks that stable and canary fit in one forward action.
func (o *observed) startRollout(stable, target string, notes []string) Decision {
	stableGroups := o.stableGroups(stable)
	if n := len(stableGroups) + o.replicas; n > weights.MaxTargetGroupsPerAction {
		err := &weights.LimitError{Limit: weights.LimitTargetGroups, Value: int64(n), Min: 1, Max: weights.MaxTargetGroupsPerAction}
		return noop(fmt.Sprintf("cannot roll from %s to %s: %d stable and %d canary target groups would share one action: %v",
			stable, target, len(stableGroups), o.replicas, err))
	}
	return Decision{
		Kind: DecisionStartRollout, From: stable, To: target,
		Reason: joinNotes(fmt.Sprintf("%s is ready: rolling from %s", target, stable), notes),
	}
}

// steady keeps the stable version at 100% over its healthy target groups.
func (o *observed) steady(stable string, notes []string) Decision {
	chosen := o.choose(stable)
	var ready []string
	for _, tg := range chosen {
		if o.healthy(tg) {
			ready = append(ready, tg.ARN)
		}
	}
	if len(ready) == 0 {
		return noop(joinNotes(fmt.Sprintf("stable version %s has no target group with at least %s; leaving the listener as it is",
			stable, count(o.minHealthy, "healthy target")), notes))
	}
	f, err := weights.Split(ready, nil, 0, o.stickiness())
	if err != nil {
		return noop(joinNotes(fmt.Sprintf("cannot build the forward action for %s: %v", stable, err), notes))
	}
	if weights.Equal(f, o.in.Forward) {
		return noop(joinNotes(fmt.Sprintf("steady: %s serves 100%% through %s", stable, count(len(ready), "target group")), notes))
	}
	return Decision{
		Kind: DecisionResplit, From: stable, To: stable, Forward: &f,
		Reason: joinNotes(fmt.Sprintf("re-splitting %s evenly over %s", stable, count(len(ready), "target group")), notes),
	}
}

// supersedingVersion names the version that supersedes a rollout from
// stable to canary at its next step boundary, or "". Only a rollout that
// has not yet been promoted to 100% is superseded. A pin supersedes when
// it is another complete, non-blocked version newer than stable; without a
// pin, the newest complete non-blocked version newer than canary does.
func (o *observed) supersedingVersion(stable, canary string) string {
	if o.promoted(canary) {
		return ""
	}
	if pin := o.in.Cell.Spec.Version; pin != "" {
		if pin == canary || o.isBlocked(pin) || !o.complete(pin) {
			return ""
		}
		if ok, err := newer(pin, stable); err != nil || !ok {
			return ""
		}
		return pin
	}
	v, _, err := o.newestReady(canary)
	if err != nil {
		return ""
	}
	return v
}

// promoted reports whether the rollout ran all its steps and the canary
// carries all the traffic (the rollback window).
func (o *observed) promoted(canary string) bool {
	return o.in.Status.StepIndex >= len(stepsOf(o.in.Cell)) &&
		weights.Share(o.in.Forward, o.versionARNs(canary)) == 100
}

func sortedNotes(notes []string) []string {
	out := slices.Clone(notes)
	slices.Sort(out)
	return out
}

// unroutable lists the groups the listener gives weight to that are
// missing or below the Cell's healthy minimum.
func (o *observed) unroutable() []string {
	var out []string
	for _, tg := range o.in.Forward.TargetGroups {
		if g, ok := o.byARN[tg.ARN]; tg.Weight > 0 && (!ok || !o.healthy(g)) {
			out = append(out, tg.ARN)
		}
	}
	return out
}
