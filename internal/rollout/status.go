// Package rollout owns the rollout's decisions: the Cell status a rollout
// records, and the pure planner that, from a Cell spec, the observed target
// groups, the listener's current forward action and the stored status,
// decides what happens next. It makes no AWS calls and reads no clock; the
// Lambda handlers execute its decisions and the state machine loops over
// them.
package rollout

import (
	"encoding/json"
	"time"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/weights"
)

// Phase is where a Cell is in its life.
type Phase string

// Phases of a Cell.
const (
	// PhaseStable: no rollout runs; the stable version serves.
	PhaseStable Phase = "Stable"
	// PhaseProgressing: a rollout is setting weights or waiting a timed pause.
	PhaseProgressing Phase = "Progressing"
	// PhasePaused: a rollout waits for `okra rollout promote` (an
	// indefinite pause, or an inconclusive analysis).
	PhasePaused Phase = "Paused"
	// PhaseAnalyzing: a rollout runs an analysis step.
	PhaseAnalyzing Phase = "Analyzing"
	// PhaseRollingBack: weights are being restored to the snapshot.
	PhaseRollingBack Phase = "RollingBack"
	// PhaseRolledBack: the last rollout failed and was undone; its version
	// is blocked.
	PhaseRolledBack Phase = "RolledBack"
	// PhaseFinalizing: the new version has 100%; old target groups stay at
	// weight 0 until the rollback window ends.
	PhaseFinalizing Phase = "Finalizing"
	// PhaseInvalid: the stored spec does not validate; nothing changes
	// until it is fixed.
	PhaseInvalid Phase = "Invalid"
	// PhaseDegraded: a rollback (or abort, supersede, recovery) could not
	// restore the snapshot because none of its stable target groups can
	// carry traffic; the listener keeps the weights it had and a human
	// must act. The message says which groups and why.
	PhaseDegraded Phase = "Degraded"
)

// Status is the Cell status item: what the running (or last) rollout did.
type Status struct {
	Phase         Phase  `json:"phase" dynamodbav:"phase"`
	StableVersion string `json:"stableVersion,omitempty" dynamodbav:"stableVersion,omitempty"`
	CanaryVersion string `json:"canaryVersion,omitempty" dynamodbav:"canaryVersion,omitempty"`
	// StepIndex is the index of the next step to run.
	StepIndex int `json:"stepIndex" dynamodbav:"stepIndex"`
	StepCount int `json:"stepCount" dynamodbav:"stepCount"`
	// Weights is the forward action as last set and verified.
	Weights weights.Forward `json:"weights" dynamodbav:"weights"`
	// Snapshot is the forward action as it was when the rollout took the
	// lease; Rollback restores it exactly.
	Snapshot *weights.Forward `json:"snapshot,omitempty" dynamodbav:"snapshot,omitempty"`
	// SnapshotAt is where the snapshot was taken: Rollback, Supersede and
	// Recover restore it there, whatever the spec says now. Nil in a
	// status written before it was recorded (the spec's ingress is used).
	SnapshotAt *Location `json:"snapshotAt,omitempty" dynamodbav:"snapshotAt,omitempty"`
	// MinHealthyTargets is spec.minHealthyTargets when the rollout took
	// the lease: the minimum a recovery routes under when the stored spec
	// can no longer be read (0: not recorded, the default applies).
	MinHealthyTargets int32 `json:"minHealthyTargets,omitempty" dynamodbav:"minHealthyTargets,omitempty"`
	// Drift is set while the rollout waits for a human because the
	// listener no longer holds what okra last set (Weights): `okra rollout
	// promote` adopts Drift.Actual, `okra rollout abort` restores the
	// snapshot.
	Drift *Drift `json:"drift,omitempty" dynamodbav:"drift,omitempty"`
	// ExecutionARN is the rollout execution that holds the Cell's lease;
	// empty when no rollout holds it.
	ExecutionARN    string    `json:"executionArn,omitempty" dynamodbav:"executionArn,omitempty"`
	LeaseAcquiredAt time.Time `json:"leaseAcquiredAt,omitempty" dynamodbav:"leaseAcquiredAt,omitempty"`
	// TaskToken answers the execution's AwaitApproval state.
	TaskToken string `json:"taskToken,omitempty" dynamodbav:"taskToken,omitempty"`
	// PausedUntil is when a timed pause ends.
	PausedUntil *time.Time `json:"pausedUntil,omitempty" dynamodbav:"pausedUntil,omitempty"`
	// FinalizeAfter is when the rollback window after 100% ends.
	FinalizeAfter *time.Time `json:"finalizeAfter,omitempty" dynamodbav:"finalizeAfter,omitempty"`
	Message       string     `json:"message,omitempty" dynamodbav:"message,omitempty"`
	// PauseRequested asks the rollout to wait for `okra rollout promote`
	// at its next step boundary: a background analysis was inconclusive
	// (Argo Rollouts pauses the rollout then). PauseReason says why.
	PauseRequested bool   `json:"pauseRequested,omitempty" dynamodbav:"pauseRequested,omitempty"`
	PauseReason    string `json:"pauseReason,omitempty" dynamodbav:"pauseReason,omitempty"`
	// ValidationErrors lists why the stored spec is invalid.
	ValidationErrors []string  `json:"validationErrors,omitempty" dynamodbav:"validationErrors,omitempty"`
	StartedAt        time.Time `json:"startedAt,omitempty" dynamodbav:"startedAt,omitempty"`
	UpdatedAt        time.Time `json:"updatedAt,omitempty" dynamodbav:"updatedAt,omitempty"`
	// SpecRevision is the revision of the Cell spec the rollout runs.
	SpecRevision int64 `json:"specRevision,omitempty" dynamodbav:"specRevision,omitempty"`
}

// Location is where a Cell's forward action lives: a listener's default
// action, or the rule of that listener at a priority with its conditions.
type Location struct {
	Type        cell.IngressType `json:"type,omitempty" dynamodbav:"type,omitempty"`
	ListenerARN string           `json:"listenerARN" dynamodbav:"listenerARN"`
	// RuleARN is the rule's ARN when the snapshot was taken (for the
	// record; the rule is found again by priority).
	RuleARN string             `json:"ruleARN,omitempty" dynamodbav:"ruleARN,omitempty"`
	Rule    *cell.ListenerRule `json:"rule,omitempty" dynamodbav:"rule,omitempty"`
}

// LocationOf is the location of ing's forward action (ruleARN as found).
func LocationOf(ing cell.Ingress, ruleARN string) *Location {
	l := &Location{Type: ing.Type, ListenerARN: ing.ListenerARN}
	if ing.Rule != nil {
		r := *ing.Rule
		l.Rule, l.RuleARN = &r, ruleARN
	}
	return l
}

// Ingress is the ingress that reaches the location; the target group
// selector is spec's (it does not locate anything).
func (l Location) Ingress(spec cell.Ingress) cell.Ingress {
	return cell.Ingress{Type: l.Type, ListenerARN: l.ListenerARN, Rule: l.Rule, TargetGroupSelector: spec.TargetGroupSelector}
}

// Same reports whether ing locates the same forward action: the same
// listener and, for a rule, the same priority and conditions.
func (l Location) Same(ing cell.Ingress) bool {
	if l.ListenerARN != ing.ListenerARN || (l.Rule == nil) != (ing.Rule == nil) {
		return false
	}
	if l.Rule == nil {
		return true
	}
	// Compared as JSON, so an empty list and no list are the same.
	a, errA := json.Marshal(l.Rule)
	b, errB := json.Marshal(ing.Rule)
	return errA == nil && errB == nil && string(a) == string(b)
}

// Drift is a difference found, at a step boundary, between what okra last
// set and verified and what the listener holds.
type Drift struct {
	Expected weights.Forward `json:"expected" dynamodbav:"expected"`
	Actual   weights.Forward `json:"actual" dynamodbav:"actual"`
	// Diff says what differs, one entry per target group (and stickiness).
	Diff       string    `json:"diff" dynamodbav:"diff"`
	DetectedAt time.Time `json:"detectedAt" dynamodbav:"detectedAt"`
}

// Leased reports whether a rollout execution holds the Cell.
func (s Status) Leased() bool { return s.ExecutionARN != "" }

// Block records that a version must not be rolled to again.
type Block struct {
	Version string    `json:"version" dynamodbav:"version"`
	Reason  string    `json:"reason" dynamodbav:"reason"`
	At      time.Time `json:"at" dynamodbav:"at"`
}

// HealthOf indexes a Cell's discovered target groups for weights.Reroute,
// the rule that no weight goes to a missing or unhealthy group: a group
// not among tgs is missing. Every path that sets weights (the rollout
// handlers, the reconcile's swap and re-split) calls Reroute with it.
func HealthOf(tgs []inventory.TargetGroup) map[string]weights.Health {
	out := make(map[string]weights.Health, len(tgs))
	for _, tg := range tgs {
		out[tg.ARN] = weights.Health{Found: true, Healthy: tg.HealthyTargets}
	}
	return out
}
