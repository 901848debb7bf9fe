package demo

import (
	"fmt"
	"strings"
	"time"
)

// Scenario names accepted by Options.Scenario.
const (
	ScenarioDefault   = "default"
	ScenarioBadCanary = "bad-canary"
)

// Scenarios lists the scenarios Run knows, in the order help shows them.
var Scenarios = []string{ScenarioDefault, ScenarioBadCanary}

// scenario is what differs between the scenarios: the traffic v2 serves
// and the outcome the demo must end in.
type scenario struct {
	name string
	// errorRate is the share of 5xx responses each version's targets
	// answer with (v1 is the same in every scenario).
	errorRate map[string]float64
	// wantRolledBack: the rollout must end rolled back (v2 blocked, the
	// listener as before); otherwise it must end Stable at v2.
	wantRolledBack bool
	summary        string
}

func scenarioFor(name string) (scenario, error) {
	switch name {
	case "", ScenarioDefault:
		return scenario{
			name:      ScenarioDefault,
			errorRate: map[string]float64{"v1": 0.002, "v2": 0.003},
			summary:   "v2 is healthy: okra shifts 20% → 60% → 100% to it, analysing its 5xx rate at each step, then drops v1's target groups",
		}, nil
	case ScenarioBadCanary:
		return scenario{
			name:           ScenarioBadCanary,
			errorRate:      map[string]float64{"v1": 0.002, "v2": 0.30},
			wantRolledBack: true,
			summary:        "v2 answers 30% of its requests with 5xx: the first analysis fails, okra restores the exact pre-rollout weights and blocks v2",
		}, nil
	}
	return scenario{}, fmt.Errorf("unknown scenario %q: the scenarios are %s", name, strings.Join(Scenarios, ", "))
}

// CellName is the demo's Cell.
const CellName = "web"

// Demo timings: short, so that a whole run takes well under two minutes.
const (
	pauseDuration  = 3 * time.Second
	rollbackWindow = 3 * time.Second
	// trafficInterval is how often the traffic simulator publishes each
	// target group's RequestCount and HTTPCode_Target_5XX_Count.
	trafficInterval = time.Second
	// maxErrorShare is the analysis' threshold on the canary's 5xx share.
	maxErrorShare = "0.05"
)

// cellDocument is the demo's Cell, as a user would write it: a listener
// rule (created by okra at the first deployment) forwarding to the
// clusters tagged role=web, two clusters per version, and a canary with a
// CloudWatch analysis of the canary target group's 5xx share after each
// weight step. load-balancer and canary-target-group are okra's built-in
// arguments: okra fills in the CloudWatch dimension values.
//
// moto answers no metric-math expression, so the share is computed by the
// conditions from the two sums (errors first, requests second) rather than
// with an expression query as on AWS (see examples/cloudwatch-analysis.yaml).
const cellDocument = `apiVersion: okra.dev/v1alpha1
kind: Cell
metadata:
  name: web
spec:
  ingress:
    type: AWSApplicationLoadBalancer
    listenerARN: %[1]s
    rule:
      priority: 10
      pathPatterns:
      - /*
    targetGroupSelector:
      matchLabels:
        role: web
  clusterSelector:
    matchTags:
      role: web
  targetGroupTemplate:
    port: 8080
    protocol: HTTP
    targetType: ip
  replicas: 2
  versionedBy:
    label: version
  rollbackWindow: %[2]s
  updateStrategy:
    canary:
      steps:
      - setWeight: 20
      - analysis:
          templates:
          - templateName: canary-5xx-rate
      - pause:
          duration: %[3]s
      - setWeight: 60
      - analysis:
          templates:
          - templateName: canary-5xx-rate
      - setWeight: 100
  analysisTemplates:
  - apiVersion: argoproj.io/v1alpha1
    kind: AnalysisTemplate
    metadata:
      name: canary-5xx-rate
    spec:
      args:
      - name: load-balancer
      - name: canary-target-group
      metrics:
      - name: canary-5xx-rate
        initialDelay: 2s
        successCondition: "sum(result[0].Values) <= %[4]s * sum(result[1].Values)"
        failureCondition: "sum(result[0].Values) > %[4]s * sum(result[1].Values)"
        provider:
          cloudWatch:
            interval: 5m
            metricDataQueries:
            - id: errors
              metricStat:
                metric:
                  namespace: AWS/ApplicationELB
                  metricName: HTTPCode_Target_5XX_Count
                  dimensions:
                  - name: LoadBalancer
                    value: "{{args.load-balancer}}"
                  - name: TargetGroup
                    value: "{{args.canary-target-group}}"
                period: 60
                stat: Sum
            - id: requests
              metricStat:
                metric:
                  namespace: AWS/ApplicationELB
                  metricName: RequestCount
                  dimensions:
                  - name: LoadBalancer
                    value: "{{args.load-balancer}}"
                  - name: TargetGroup
                    value: "{{args.canary-target-group}}"
                period: 60
                stat: Sum
`

// CellDocument returns the demo's Cell for a listener.
func CellDocument(listenerARN string) string {
	return fmt.Sprintf(cellDocument, listenerARN, rollbackWindow, pauseDuration, maxErrorShare)
}

// clusterSpec is one EKS cluster of the demo.
type clusterSpec struct {
	name    string
	version string
}

func (c clusterSpec) tags() map[string]string {
	return map[string]string{"name": c.name, "role": "web", "version": c.version}
}

var (
	v1Clusters = []clusterSpec{{"web-1-v1", "v1"}, {"web-2-v1", "v1"}}
	v2Clusters = []clusterSpec{{"web-1-v2", "v2"}, {"web-2-v2", "v2"}}
)
