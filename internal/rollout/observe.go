package rollout

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/version"
	"github.com/okrahq/okra/internal/weights"
)

// Input is everything the planner looks at. It is plain data: a handler
// builds it from DynamoDB and AWS reads, a test from literals.
type Input struct {
	// Cell is the Cell spec (defaults need not be applied).
	Cell *cell.Cell
	// TargetGroups are the Cell's target groups as discovery found them
	// (matched by the Cell's target-group selector), with versions and
	// healthy-target counts.
	TargetGroups []inventory.TargetGroup
	// Forward is the listener's (or rule's) forward action as read now;
	// Empty() when there is no forward configuration yet.
	Forward weights.Forward
	// Status is the stored Cell status.
	Status Status
	// Blocked lists the versions that must not be rolled to.
	Blocked []Block
	// Now is the current time; the planner reads no clock.
	Now time.Time
}

// Defaults the planner applies when the spec leaves a field unset. They
// match the defaults the cell package documents.
const (
	DefaultReplicas          = 1
	DefaultMinHealthyTargets = 1
	DefaultVersionLabel      = "version"
	DefaultRollbackWindow    = 15 * time.Minute
	// HealthPollInterval is how long a WaitForHealthy action suggests
	// waiting before asking again.
	HealthPollInterval = 30 * time.Second
)

// replicasOf returns spec.replicas, defaulted; values below 1 (which
// validation refuses) count as 1 so the planner never divides by zero or
// rolls to a version with no target groups.
func replicasOf(c *cell.Cell) int {
	if c.Spec.Replicas == nil || *c.Spec.Replicas < 1 {
		return DefaultReplicas
	}
	return int(*c.Spec.Replicas)
}

// minHealthyOf returns spec.minHealthyTargets, defaulted; negative counts as 0.
func minHealthyOf(c *cell.Cell) int {
	if c.Spec.MinHealthyTargets == nil {
		return DefaultMinHealthyTargets
	}
	return max(0, int(*c.Spec.MinHealthyTargets))
}

// rollbackWindowOf returns spec.rollbackWindow, defaulted; negative counts as 0.
func rollbackWindowOf(c *cell.Cell) time.Duration {
	if c.Spec.RollbackWindow == nil {
		return DefaultRollbackWindow
	}
	return max(0, c.Spec.RollbackWindow.Duration)
}

func versionLabelOf(c *cell.Cell) string {
	if c.Spec.VersionedBy.Label == "" {
		return DefaultVersionLabel
	}
	return c.Spec.VersionedBy.Label
}

func stepsOf(c *cell.Cell) []cell.Step {
	if c.Spec.UpdateStrategy.Canary == nil {
		return nil
	}
	return c.Spec.UpdateStrategy.Canary.Steps
}

// observed is the planner's view of an Input: the Cell's target groups by
// version, which versions are complete, and what the listener does.
type observed struct {
	in         Input
	replicas   int
	minHealthy int
	// byARN holds every target group of the Cell.
	byARN map[string]inventory.TargetGroup
	// versions holds the target groups with a valid version tag, by the
	// tag's exact text.
	versions map[string][]inventory.TargetGroup
	parsed   map[string]version.Version
	blocked  map[string]Block
	// inForward holds the ARNs the listener lists, with any weight.
	inForward map[string]bool
	// foreign lists ARNs the listener lists that are not the Cell's.
	foreign  []string
	warnings []string
}

func observe(in Input) *observed {
	o := &observed{
		in:         in,
		replicas:   replicasOf(in.Cell),
		minHealthy: minHealthyOf(in.Cell),
		byARN:      map[string]inventory.TargetGroup{},
		versions:   map[string][]inventory.TargetGroup{},
		parsed:     map[string]version.Version{},
		blocked:    map[string]Block{},
		inForward:  map[string]bool{},
	}
	label := versionLabelOf(in.Cell)
	for _, tg := range in.TargetGroups {
		if _, dup := o.byARN[tg.ARN]; dup || tg.ARN == "" {
			continue
		}
		if tg.Version == "" {
			tg.Version = tg.Tags[label]
		}
		o.byARN[tg.ARN] = tg
		if tg.Version == "" {
			o.warnings = append(o.warnings, fmt.Sprintf("target group %s has no %q tag; it is ignored", tg.Name, label))
			continue
		}
		v, err := version.Parse(tg.Version)
		if err != nil {
			o.warnings = append(o.warnings, fmt.Sprintf("target group %s is ignored: %v", tg.Name, err))
			continue
		}
		o.parsed[tg.Version] = v
		o.versions[tg.Version] = append(o.versions[tg.Version], tg)
	}
	slices.Sort(o.warnings)
	for _, b := range in.Blocked {
		o.blocked[b.Version] = b
	}
	for _, tg := range in.Forward.TargetGroups {
		o.inForward[tg.ARN] = true
		if _, ok := o.byARN[tg.ARN]; !ok {
			o.foreign = append(o.foreign, tg.ARN)
		}
	}
	slices.Sort(o.foreign)
	return o
}

func (o *observed) healthy(tg inventory.TargetGroup) bool {
	return tg.HealthyTargets >= o.minHealthy
}

// readyCount is how many of v's target groups have enough healthy targets.
func (o *observed) readyCount(v string) int {
	n := 0
	for _, tg := range o.versions[v] {
		if o.healthy(tg) {
			n++
		}
	}
	return n
}

// complete reports whether v has at least replicas target groups with
// enough healthy targets.
func (o *observed) complete(v string) bool {
	return o.readyCount(v) >= o.replicas
}

// choose picks the replicas target groups that carry version v: healthy
// ones first, then ones the listener routes to, then ones it lists at
// weight 0 (so a running rollout keeps its groups), then by name and ARN.
// Fewer come back when v has fewer.
func (o *observed) choose(v string) []inventory.TargetGroup {
	groups := slices.Clone(o.versions[v])
	routed := func(arn string) bool { w, _ := o.in.Forward.Weight(arn); return w > 0 }
	slices.SortFunc(groups, func(a, b inventory.TargetGroup) int {
		return cmp.Or(
			compareBool(o.healthy(b), o.healthy(a)),
			compareBool(routed(b.ARN), routed(a.ARN)),
			compareBool(o.inForward[b.ARN], o.inForward[a.ARN]),
			strings.Compare(a.Name, b.Name),
			strings.Compare(a.ARN, b.ARN),
		)
	})
	return groups[:min(len(groups), o.replicas)]
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// unhealthy returns the ARNs of groups with too few healthy targets.
func (o *observed) unhealthy(groups []inventory.TargetGroup) []string {
	var out []string
	for _, tg := range groups {
		if !o.healthy(tg) {
			out = append(out, tg.ARN)
		}
	}
	return out
}

// versionARNs returns the ARNs of every target group of v, sorted.
func (o *observed) versionARNs(v string) []string {
	return arnsOf(o.versions[v])
}

func arnsOf(groups []inventory.TargetGroup) []string {
	out := make([]string, 0, len(groups))
	for _, tg := range groups {
		out = append(out, tg.ARN)
	}
	slices.Sort(out)
	return out
}

// versionOfARN returns the version a target group of the Cell carries.
func (o *observed) versionOfARN(arn string) string {
	return o.byARN[arn].Version
}

// stableVersion is the version the listener routes to when no rollout
// runs: the one version with weight. When weight is split across versions
// (an interrupted rollout), the recorded stable version wins if it has
// weight, else the version with the largest share (ties: the older). With
// no weight anywhere, the recorded stable version.
func (o *observed) stableVersion() string {
	share := map[string]int{}
	for _, arn := range o.in.Forward.Routed() {
		if v := o.versionOfARN(arn); v != "" {
			share[v] += weights.Share(o.in.Forward, []string{arn})
		}
	}
	if len(share) == 0 {
		return o.in.Status.StableVersion
	}
	if _, ok := share[o.in.Status.StableVersion]; ok {
		return o.in.Status.StableVersion
	}
	routed := make([]string, 0, len(share))
	for v := range share {
		routed = append(routed, v)
	}
	slices.SortFunc(routed, func(a, b string) int {
		return cmp.Or(cmp.Compare(share[b], share[a]), o.order(a, b))
	})
	return routed[0]
}

// order sorts versions oldest first; unparsed ones (not in o.parsed) sort
// by text after the parsed ones.
func (o *observed) order(a, b string) int {
	va, okA := o.parsed[a]
	vb, okB := o.parsed[b]
	switch {
	case okA && okB:
		if version.Less(va, vb) {
			return -1
		}
		if version.Less(vb, va) {
			return 1
		}
		return 0
	case okA:
		return -1
	case okB:
		return 1
	}
	return strings.Compare(a, b)
}

// newer reports whether a is newer than b (both must be versions).
func newer(a, b string) (bool, error) {
	c, err := version.Compare(a, b)
	return c > 0, err
}

// candidates returns the versions of the Cell's target groups newer than
// base, newest first.
func (o *observed) candidates(base string) ([]string, error) {
	baseV, err := version.Parse(base)
	if err != nil {
		return nil, err
	}
	var out []string
	for v, parsed := range o.parsed {
		if parsed.Compare(baseV) > 0 {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return o.order(b, a) })
	return out, nil
}

// newestReady returns the newest complete, non-blocked version newer than
// base, and notes saying why newer versions were passed over.
func (o *observed) newestReady(base string) (string, []string, error) {
	cands, err := o.candidates(base)
	if err != nil {
		return "", nil, err
	}
	var notes []string
	for _, v := range cands {
		if b, ok := o.blocked[v]; ok {
			notes = append(notes, blockedNote(b))
			continue
		}
		if !o.complete(v) {
			notes = append(notes, o.incompleteNote(v))
			continue
		}
		return v, notes, nil
	}
	return "", notes, nil
}

func blockedNote(b Block) string {
	if b.Reason == "" {
		return fmt.Sprintf("%s is blocked", b.Version)
	}
	return fmt.Sprintf("%s is blocked (%s)", b.Version, b.Reason)
}

func (o *observed) incompleteNote(v string) string {
	return fmt.Sprintf("%s has %d of %d target groups with at least %s",
		v, o.readyCount(v), o.replicas, count(o.minHealthy, "healthy target"))
}

// stableGroups returns the stable version's target groups for a split: the
// ones the listener lists (a rollout keeps the groups it started from),
// else the chosen ones.
func (o *observed) stableGroups(stable string) []string {
	var listed []string
	for _, tg := range o.versions[stable] {
		if o.inForward[tg.ARN] {
			listed = append(listed, tg.ARN)
		}
	}
	if len(listed) > 0 {
		slices.Sort(listed)
		return listed
	}
	return arnsOf(o.choose(stable))
}

func (o *observed) stickiness() *weights.Stickiness {
	return o.in.Forward.Stickiness
}

// count writes "1 target group" or "2 target groups".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// joinNotes joins a reason and extra notes into one sentence list.
func joinNotes(reason string, notes []string) string {
	if len(notes) == 0 {
		return reason
	}
	return reason + "; " + strings.Join(notes, "; ")
}
