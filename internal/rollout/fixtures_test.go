package rollout

import (
	"time"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/weights"
)

// t0 is the fixed "now" of the planner tests.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time {
	t := t0.Add(d)
	return &t
}

// arn returns a target-group ARN for a short name such as "v1-a".
func arn(name string) string {
	return "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/" + name + "/0123456789abcdef"
}

// group is a target group of version with healthy targets, named
// "<version>-<cluster>".
func group(version, cluster string, healthy int) inventory.TargetGroup {
	name := version + "-" + cluster
	return inventory.TargetGroup{
		ARN: arn(name), Name: name, Version: version, Cluster: "web-" + cluster + "-" + version,
		HealthyTargets: healthy,
		Tags:           map[string]string{"version": version, "okra:cell": "web"},
	}
}

func groups(gs ...inventory.TargetGroup) []inventory.TargetGroup { return gs }

// w is one target group of a forward action, by short name.
func w(name string, weight int32) weights.TargetGroupWeight {
	return weights.TargetGroupWeight{ARN: arn(name), Weight: weight}
}

// fwd builds a forward action: fwd(w("v1-a", 50), w("v1-b", 50)).
func fwd(tgs ...weights.TargetGroupWeight) weights.Forward {
	return weights.Forward{TargetGroups: tgs}
}

func fwdPtr(tgs ...weights.TargetGroupWeight) *weights.Forward {
	f := fwd(tgs...)
	return &f
}

func sticky(f weights.Forward, seconds int32) weights.Forward {
	f.Stickiness = &weights.Stickiness{Enabled: true, DurationSeconds: seconds}
	return f
}

func ptr[T any](v T) *T { return &v }

type cellOption func(*cell.Cell)

// newCell returns the "web" Cell with defaults left unset, changed by opts.
func newCell(opts ...cellOption) *cell.Cell {
	c := &cell.Cell{
		APIVersion: cell.APIVersion, Kind: cell.Kind,
		Metadata: cell.Metadata{Name: "web"},
		Spec: cell.Spec{
			Ingress: cell.Ingress{
				Type:        cell.IngressALB,
				ListenerARN: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/1/2",
			},
		},
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

func replicas(n int32) cellOption { return func(c *cell.Cell) { c.Spec.Replicas = &n } }
func pin(v string) cellOption     { return func(c *cell.Cell) { c.Spec.Version = v } }
func versionLabel(label string) cellOption {
	return func(c *cell.Cell) { c.Spec.VersionedBy.Label = label }
}
func minHealthy(n int32) cellOption {
	return func(c *cell.Cell) { c.Spec.MinHealthyTargets = &n }
}
func rollbackWindow(d time.Duration) cellOption {
	return func(c *cell.Cell) { c.Spec.RollbackWindow = &cell.Duration{Duration: d} }
}
func steps(s ...cell.Step) cellOption {
	return func(c *cell.Cell) {
		if c.Spec.UpdateStrategy.Canary == nil {
			c.Spec.UpdateStrategy.Canary = &cell.Canary{}
		}
		c.Spec.UpdateStrategy.Canary.Steps = s
	}
}
func background(startingStep *int32, templates ...string) cellOption {
	return func(c *cell.Cell) {
		if c.Spec.UpdateStrategy.Canary == nil {
			c.Spec.UpdateStrategy.Canary = &cell.Canary{}
		}
		c.Spec.UpdateStrategy.Canary.Analysis = &cell.BackgroundAnalysis{Analysis: *analysisOf(templates...), StartingStep: startingStep}
	}
}

func setWeight(w int32) cell.Step { return cell.Step{SetWeight: &w} }
func pauseFor(d time.Duration) cell.Step {
	return cell.Step{Pause: &cell.Pause{Duration: &cell.Duration{Duration: d}}}
}
func pauseUntilPromoted() cell.Step { return cell.Step{Pause: &cell.Pause{}} }
func analyze(templates ...string) cell.Step {
	return cell.Step{Analysis: analysisOf(templates...)}
}

func analysisOf(templates ...string) *cell.Analysis {
	a := &cell.Analysis{}
	for _, t := range templates {
		a.Templates = append(a.Templates, cell.TemplateRef{TemplateName: t})
	}
	return a
}

// threeStep is the usual strategy of the tests: 20% → pause 10m → 60% →
// analysis → 100%.
var threeStep = steps(setWeight(20), pauseFor(10*time.Minute), setWeight(60), analyze("error-rate"), setWeight(100))

// rolling returns the status of a rollout from stable to canary at step.
func rolling(stable, canary string, step int, snapshot weights.Forward) Status {
	return Status{
		Phase: PhaseProgressing, StableVersion: stable, CanaryVersion: canary, StepIndex: step,
		ExecutionARN: "arn:aws:states:eu-west-1:123456789012:execution:okra-rollout:web-" + canary,
		Snapshot:     &snapshot,
	}
}

func blocked(version, reason string) Block {
	return Block{Version: version, Reason: reason, At: t0.Add(-time.Hour)}
}
