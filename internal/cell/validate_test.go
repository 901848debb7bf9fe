package cell

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// baseCellYAML is a valid Cell that uses most features, so that each bad
// case below breaks exactly one thing.
const baseCellYAML = `
apiVersion: okra.dev/v1alpha1
kind: Cell
metadata:
  name: web
spec:
  ingress:
    type: AWSApplicationLoadBalancer
    listenerARN: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web-alb/50dc6c495c0c9188/f2f7dc8efc522ab2
    rule:
      priority: 10
      hosts: [web.example.com]
      pathPatterns: [/app/*]
    targetGroupSelector:
      matchLabels:
        role: web
  clusterSelector:
    matchTags:
      role: web
  targetGroupTemplate:
    tags:
      team: web
  updateStrategy:
    canary:
      analysis:
        startingStep: 1
        templates:
        - templateName: shared-background
      steps:
      - setWeight: 10
      - pause: {duration: 1m}
      - setWeight: 50
      - analysis:
          templates:
          - templateName: cw
          args:
          - name: threshold
            value: "0.01"
      - analysis:
          templates:
          - templateName: dd
      - pause: {}
  analysisTemplates:
  - metadata: {name: cw}
    spec:
      args:
      - name: load-balancer
      - name: canary-target-group
      - name: threshold
      metrics:
      - name: cw-5xx
        interval: 1m
        count: 3
        successCondition: "all(result, {# <= {{args.threshold}}})"
        provider:
          cloudWatch:
            metricDataQueries:
            - id: rate
              expression: FILL(errors, 0) / requests
            - id: errors
              returnData: false
              metricStat:
                metric:
                  namespace: AWS/ApplicationELB
                  metricName: HTTPCode_Target_5XX_Count
                  dimensions:
                  - {name: LoadBalancer, value: "{{args.load-balancer}}"}
                  - {name: TargetGroup, value: "{{args.canary-target-group}}"}
                period: 60
                stat: Sum
            - id: requests
              returnData: false
              metricStat:
                metric:
                  namespace: AWS/ApplicationELB
                  metricName: RequestCount
                  dimensions:
                  - {name: LoadBalancer, value: "{{args.load-balancer}}"}
                  - {name: TargetGroup, value: "{{args.canary-target-group}}"}
                period: 60
                stat: Sum
  - metadata: {name: dd}
    spec:
      metrics:
      - name: dd-errors
        successCondition: result < 0.05
        provider:
          datadog:
            query: "sum:trace.http.request.errors{service:web}.as_count()"
`

const sharedTemplatesYAML = `
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata:
  name: shared-background
spec:
  args:
  - name: cell
  metrics:
  - name: bg-errors
    interval: 1m
    failureCondition: result > 10
    provider:
      datadog:
        query: "sum:errors{cell:{{args.cell}}}"
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: shared-step
spec:
  args:
  - name: service
  metrics:
  - name: step-errors
    count: 1
    successCondition: result < 1
    provider:
      datadog:
        apiVersion: v2
        query: "sum:errors{service:{{args.service}}}"
`

func baseCell(t *testing.T) *Cell {
	t.Helper()
	c, err := Decode([]byte(baseCellYAML))
	if err != nil {
		t.Fatalf("decoding the base Cell: %v", err)
	}
	return c
}

func sharedTemplates(t *testing.T) TemplateMap {
	t.Helper()
	out := TemplateMap{}
	for doc := range strings.SplitSeq(sharedTemplatesYAML, "\n---\n") {
		tmpl, err := DecodeTemplate([]byte(doc))
		if err != nil {
			t.Fatalf("decoding a shared template: %v", err)
		}
		if err := ValidateTemplate(tmpl); err != nil {
			t.Fatalf("shared template %s is invalid: %v", tmpl.Metadata.Name, err)
		}
		out[tmpl.Metadata.Name] = tmpl
	}
	return out
}

// Accessors into the base Cell.
func cwMetric(c *Cell) *Metric { return &c.Spec.AnalysisTemplates[0].Spec.Metrics[0] }
func cwQueries(c *Cell) []MetricDataQuery {
	return cwMetric(c).Provider.CloudWatch.MetricDataQueries
}
func ddMetric(c *Cell) *Metric   { return &c.Spec.AnalysisTemplates[1].Spec.Metrics[0] }
func dd(c *Cell) *DatadogMetric  { return ddMetric(c).Provider.Datadog }
func rule(c *Cell) *ListenerRule { return c.Spec.Ingress.Rule }
func healthCheck(c *Cell) *HealthCheck {
	if c.Spec.TargetGroupTemplate.HealthCheck == nil {
		c.Spec.TargetGroupTemplate.HealthCheck = &HealthCheck{}
	}
	return c.Spec.TargetGroupTemplate.HealthCheck
}
func stepAnalysis(c *Cell, i int) *Analysis { return c.Spec.UpdateStrategy.Canary.Steps[i].Analysis }
func makeNLB(c *Cell) {
	c.Spec.Ingress.Type = IngressNLB
	c.Spec.Ingress.ListenerARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/net/tcp-nlb/50dc6c495c0c9188/f2f7dc8efc522ab2"
	c.Spec.Ingress.Rule = nil
}
func rawJSON(s string) *json.RawMessage { r := json.RawMessage(s); return &r }

const (
	cwPath = "spec.analysisTemplates[0].spec.metrics[0]"
	ddPath = "spec.analysisTemplates[1].spec.metrics[0]"
	cwProv = cwPath + ".provider.cloudWatch"
	ddProv = ddPath + ".provider.datadog"
)

type badCase struct {
	name   string
	mutate func(c *Cell)
	field  string // the exact field path reported
	reason string // a fragment of the reason
}

func badCellCases() []badCase {
	return []badCase{
		// metadata
		{"name missing", func(c *Cell) { c.Metadata.Name = "" }, "metadata.name", "is required"},
		{"name longer than 20", func(c *Cell) { c.Metadata.Name = strings.Repeat("a", 21) }, "metadata.name", "at most 20 characters"},
		{"name with capitals", func(c *Cell) { c.Metadata.Name = "Web" }, "metadata.name", "lowercase"},
		{"name ending in a dash", func(c *Cell) { c.Metadata.Name = "web-" }, "metadata.name", "lowercase"},
		{"wrong kind", func(c *Cell) { c.Kind = "Rollout" }, "kind", "must be Cell"},

		// ingress
		{"ingress type missing", func(c *Cell) { c.Spec.Ingress.Type = "" }, "spec.ingress.type", "is required"},
		{"ingress type unknown", func(c *Cell) { c.Spec.Ingress.Type = "AWSRoute53" }, "spec.ingress.type", `got "AWSRoute53"`},
		{"listener ARN missing", func(c *Cell) { c.Spec.Ingress.ListenerARN = "" }, "spec.ingress.listenerARN", "is required"},
		{"listener ARN garbage", func(c *Cell) { c.Spec.Ingress.ListenerARN = "my-listener" }, "spec.ingress.listenerARN", "must be an ELBv2 listener ARN"},
		{"listener ARN with an 11-digit account", func(c *Cell) {
			c.Spec.Ingress.ListenerARN = "arn:aws:elasticloadbalancing:us-east-1:12345678901:listener/app/web-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"
		}, "spec.ingress.listenerARN", "must be an ELBv2 listener ARN"},
		{"listener ARN with a short id", func(c *Cell) {
			c.Spec.Ingress.ListenerARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web-alb/50dc6c495c0c918/f2f7dc8efc522ab2"
		}, "spec.ingress.listenerARN", "must be an ELBv2 listener ARN"},
		{"listener-rule ARN instead of listener", func(c *Cell) {
			c.Spec.Ingress.ListenerARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
		}, "spec.ingress.listenerARN", "listener-rule ARN"},
		{"ALB with an NLB listener", func(c *Cell) {
			c.Spec.Ingress.ListenerARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/net/web-nlb/50dc6c495c0c9188/f2f7dc8efc522ab2"
		}, "spec.ingress.listenerARN", "Network Load Balancer listener"},
		{"NLB with an ALB listener", func(c *Cell) {
			makeNLB(c)
			c.Spec.Ingress.ListenerARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"
		}, "spec.ingress.listenerARN", "Application Load Balancer listener"},
		{"rule on an NLB", func(c *Cell) {
			makeNLB(c)
			c.Spec.Ingress.Rule = &ListenerRule{Priority: 1, Hosts: []string{"a.example.com"}}
		}, "spec.ingress.rule", "only on Application Load Balancers"},
		{"rule priority 0", func(c *Cell) { rule(c).Priority = 0 }, "spec.ingress.rule.priority", "must be 1..50000, got 0"},
		{"rule priority 50001", func(c *Cell) { rule(c).Priority = 50001 }, "spec.ingress.rule.priority", "got 50001"},
		{"rule without conditions", func(c *Cell) { c.Spec.Ingress.Rule = &ListenerRule{Priority: 5} }, "spec.ingress.rule", "at least one condition"},
		{"rule with empty host", func(c *Cell) { rule(c).Hosts = []string{""} }, "spec.ingress.rule.hosts[0]", "must not be empty"},
		{"rule host with a slash", func(c *Cell) { rule(c).Hosts = []string{"web.example.com/x"} }, "spec.ingress.rule.hosts[0]", "host name"},
		{"rule path with a space", func(c *Cell) { rule(c).PathPatterns = []string{"/a b"} }, "spec.ingress.rule.pathPatterns[0]", "path pattern"},
		{"rule method lowercase", func(c *Cell) { rule(c).HTTPMethods = []string{"get"} }, "spec.ingress.rule.httpMethods[0]", "uppercase HTTP method"},
		{"rule source IP not a CIDR", func(c *Cell) { rule(c).SourceIPs = []string{"10.0.0.1"} }, "spec.ingress.rule.sourceIPs[0]", "CIDR block"},
		{"rule header without values", func(c *Cell) { rule(c).Headers = []HeaderCondition{{Name: "X-Beta"}} }, "spec.ingress.rule.headers[0].values", "at least one value"},
		{"rule header bad name", func(c *Cell) { rule(c).Headers = []HeaderCondition{{Name: "X Beta", Values: []string{"1"}}} }, "spec.ingress.rule.headers[0].name", "HTTP header name"},
		{"rule query string without value", func(c *Cell) { rule(c).QueryStrings = []QueryStringCondition{{Key: "beta"}} }, "spec.ingress.rule.queryStrings[0].value", "1..128"},
		{"rule condition with 4 values", func(c *Cell) {
			rule(c).Hosts = []string{"a.example.com", "b.example.com", "c.example.com", "d.example.com"}
			rule(c).PathPatterns = nil
		}, "spec.ingress.rule.hosts", "at most 3"},
		{"rule with 6 values", func(c *Cell) {
			rule(c).HTTPMethods = []string{"GET", "POST", "PUT"}
			rule(c).SourceIPs = []string{"10.0.0.0/8"}
		}, "spec.ingress.rule", "at most 5"},

		// selectors
		{"target group selector empty", func(c *Cell) { c.Spec.Ingress.TargetGroupSelector.MatchLabels = nil }, "spec.ingress.targetGroupSelector.matchLabels", "at least one tag"},
		{"cluster selector empty", func(c *Cell) { c.Spec.ClusterSelector.MatchTags = map[string]string{} }, "spec.clusterSelector.matchTags", "at least one tag"},
		{"cluster selector on the version tag", func(c *Cell) { c.Spec.ClusterSelector.MatchTags["version"] = "v2" }, "spec.clusterSelector.matchTags.version", "must not select on the version tag"},
		{"selector key too long", func(c *Cell) { c.Spec.ClusterSelector.MatchTags[strings.Repeat("k", 129)] = "x" }, "spec.clusterSelector.matchTags." + strings.Repeat("k", 129), "at most 128"},
		{"selector okra:cell of another cell", func(c *Cell) { c.Spec.Ingress.TargetGroupSelector.MatchLabels["okra:cell"] = "api" }, `spec.ingress.targetGroupSelector.matchLabels["okra:cell"]`, "must equal the Cell's name"},
		{"selector on okra:cluster", func(c *Cell) { c.Spec.Ingress.TargetGroupSelector.MatchLabels["okra:cluster"] = "c1" }, `spec.ingress.targetGroupSelector.matchLabels["okra:cluster"]`, "differs for every cluster"},
		{"selector contradicts template tags", func(c *Cell) { c.Spec.Ingress.TargetGroupSelector.MatchLabels["team"] = "api" }, "spec.ingress.targetGroupSelector.matchLabels.team", "would never match"},

		// scale and versions
		{"replicas 0", func(c *Cell) { c.Spec.Replicas = ptr[int32](0) }, "spec.replicas", "must be 1..2"},
		{"replicas 3 overflows the forward action", func(c *Cell) { c.Spec.Replicas = ptr[int32](3) }, "spec.replicas", "at most 5 target groups, got 3"},
		{"version label with aws prefix", func(c *Cell) { c.Spec.VersionedBy.Label = "aws:version" }, "spec.versionedBy.label", "reserved"},
		{"version label with a dollar", func(c *Cell) { c.Spec.VersionedBy.Label = "ver$ion" }, "spec.versionedBy.label", "may contain only"},
		{"version not a version", func(c *Cell) { c.Spec.Version = "latest" }, "spec.version", "must be a version"},
		{"version with a space", func(c *Cell) { c.Spec.Version = "1.2.3 beta" }, "spec.version", "must be a version"},
		{"version v without digit", func(c *Cell) { c.Spec.Version = "vnext" }, "spec.version", "must be a version"},
		{"min healthy targets 0", func(c *Cell) { c.Spec.MinHealthyTargets = ptr[int32](0) }, "spec.minHealthyTargets", "at least 1"},
		{"rollback window negative", func(c *Cell) { c.Spec.RollbackWindow = &Duration{Duration: -time.Minute} }, "spec.rollbackWindow", "between 0s and"},
		{"update strategy blue-green", func(c *Cell) { c.Spec.UpdateStrategy.Type = "BlueGreen" }, "spec.updateStrategy.type", "must be Canary"},
		{"on drift unknown", func(c *Cell) { c.Spec.UpdateStrategy.Canary.OnDrift = "Ignore" }, "spec.updateStrategy.canary.onDrift", "must be Pause or Rollback"},

		// target group template
		{"template tag with aws prefix", func(c *Cell) { c.Spec.TargetGroupTemplate.Tags["aws:team"] = "x" }, `spec.targetGroupTemplate.tags["aws:team"]`, "AWS reserves"},
		{"template tag with okra prefix", func(c *Cell) { c.Spec.TargetGroupTemplate.Tags["okra:cell"] = "web" }, `spec.targetGroupTemplate.tags["okra:cell"]`, "okra sets those tags itself"},
		{"template tag is the version tag", func(c *Cell) { c.Spec.TargetGroupTemplate.Tags["version"] = "v1" }, "spec.targetGroupTemplate.tags.version", "must not set the version tag"},
		{"template tag key too long", func(c *Cell) { c.Spec.TargetGroupTemplate.Tags[strings.Repeat("t", 129)] = "x" }, "spec.targetGroupTemplate.tags." + strings.Repeat("t", 129), "at most 128"},
		{"template tag value too long", func(c *Cell) { c.Spec.TargetGroupTemplate.Tags["team"] = strings.Repeat("v", 257) }, "spec.targetGroupTemplate.tags.team", "at most 256"},
		{"too many template tags", func(c *Cell) {
			for i := range 36 {
				c.Spec.TargetGroupTemplate.Tags[fmt.Sprintf("k%d", i)] = "v"
			}
		}, "spec.targetGroupTemplate.tags", "50-tag limit"},
		{"port 0", func(c *Cell) { c.Spec.TargetGroupTemplate.Port = ptr[int32](0) }, "spec.targetGroupTemplate.port", "must be 1..65535, got 0"},
		{"port 70000", func(c *Cell) { c.Spec.TargetGroupTemplate.Port = ptr[int32](70000) }, "spec.targetGroupTemplate.port", "got 70000"},
		{"ALB with TCP", func(c *Cell) { c.Spec.TargetGroupTemplate.Protocol = "TCP" }, "spec.targetGroupTemplate.protocol", "for an Application Load Balancer"},
		{"NLB with HTTP", func(c *Cell) { makeNLB(c); c.Spec.TargetGroupTemplate.Protocol = "HTTP" }, "spec.targetGroupTemplate.protocol", "for a Network Load Balancer"},
		{"protocol version on an NLB", func(c *Cell) { makeNLB(c); c.Spec.TargetGroupTemplate.ProtocolVersion = "HTTP2" }, "spec.targetGroupTemplate.protocolVersion", "applies only"},
		{"protocol version unknown", func(c *Cell) { c.Spec.TargetGroupTemplate.ProtocolVersion = "HTTP3" }, "spec.targetGroupTemplate.protocolVersion", `got "HTTP3"`},
		{"target type lambda", func(c *Cell) { c.Spec.TargetGroupTemplate.TargetType = "lambda" }, "spec.targetGroupTemplate.targetType", `got "lambda"`},
		{"node groups with ip targets", func(c *Cell) { c.Spec.TargetGroupTemplate.AttachToNodeGroups = true }, "spec.targetGroupTemplate.attachToNodeGroups", "needs targetType \"instance\""},
		{"health check interval 4", func(c *Cell) { healthCheck(c).IntervalSeconds = ptr[int32](4) }, "spec.targetGroupTemplate.healthCheck.intervalSeconds", "must be 5..300, got 4"},
		{"health check timeout 1", func(c *Cell) { healthCheck(c).TimeoutSeconds = ptr[int32](1) }, "spec.targetGroupTemplate.healthCheck.timeoutSeconds", "must be 2..120, got 1"},
		{"health check timeout not below interval", func(c *Cell) {
			healthCheck(c).IntervalSeconds = ptr[int32](10)
			healthCheck(c).TimeoutSeconds = ptr[int32](10)
		}, "spec.targetGroupTemplate.healthCheck.timeoutSeconds", "less than intervalSeconds"},
		{"healthy threshold 11", func(c *Cell) { healthCheck(c).HealthyThresholdCount = ptr[int32](11) }, "spec.targetGroupTemplate.healthCheck.healthyThresholdCount", "must be 2..10, got 11"},
		{"unhealthy threshold 1", func(c *Cell) { healthCheck(c).UnhealthyThresholdCount = ptr[int32](1) }, "spec.targetGroupTemplate.healthCheck.unhealthyThresholdCount", "must be 2..10, got 1"},
		{"health check path without slash", func(c *Cell) { healthCheck(c).Path = "healthz" }, "spec.targetGroupTemplate.healthCheck.path", "must start with '/'"},
		{"health check matcher 600", func(c *Cell) { healthCheck(c).Matcher = "600" }, "spec.targetGroupTemplate.healthCheck.matcher", "within 200..499"},
		{"health check matcher reversed range", func(c *Cell) { healthCheck(c).Matcher = "299-200" }, "spec.targetGroupTemplate.healthCheck.matcher", "within 200..499"},
		{"health check TCP on an ALB", func(c *Cell) { healthCheck(c).Protocol = "TCP" }, "spec.targetGroupTemplate.healthCheck.protocol", "must be one of HTTP, HTTPS"},
		{"health check port text", func(c *Cell) { healthCheck(c).Port = "http" }, "spec.targetGroupTemplate.healthCheck.port", "traffic-port"},
		{"NLB TCP health check with a path", func(c *Cell) { makeNLB(c); healthCheck(c).Path = "/healthz" }, "spec.targetGroupTemplate.healthCheck.path", "applies only to HTTP and HTTPS"},

		// steps
		{"step with two actions", func(c *Cell) {
			c.Spec.UpdateStrategy.Canary.Steps[0].Pause = &Pause{}
		}, "spec.updateStrategy.canary.steps[0]", "exactly one of setWeight, pause or analysis, got setWeight, pause"},
		{"empty step", func(c *Cell) {
			c.Spec.UpdateStrategy.Canary.Steps = append(c.Spec.UpdateStrategy.Canary.Steps, Step{})
		}, "spec.updateStrategy.canary.steps[6]", "got none"},
		{"set weight 120", func(c *Cell) {
			c.Spec.UpdateStrategy.Canary.Steps[2].SetWeight = ptr[int32](120)
		}, "spec.updateStrategy.canary.steps[2].setWeight", "must be 0..100, got 120"},
		{"set weight negative", func(c *Cell) {
			c.Spec.UpdateStrategy.Canary.Steps[0].SetWeight = ptr[int32](-1)
		}, "spec.updateStrategy.canary.steps[0].setWeight", "got -1"},
		{"pause negative", func(c *Cell) {
			c.Spec.UpdateStrategy.Canary.Steps[1].Pause.Duration = &Duration{Duration: -time.Second}
		}, "spec.updateStrategy.canary.steps[1].pause.duration", "between 0s and"},
		{"analysis without templates", func(c *Cell) { stepAnalysis(c, 4).Templates = nil }, "spec.updateStrategy.canary.steps[4].analysis.templates", "at least one analysis template"},
		{"analysis of an unknown template", func(c *Cell) { stepAnalysis(c, 4).Templates[0].TemplateName = "nope" }, "spec.updateStrategy.canary.steps[4].analysis.templates[0].templateName", `"nope" not found`},
		{"analysis missing a required argument", func(c *Cell) { stepAnalysis(c, 3).Args = nil }, "spec.updateStrategy.canary.steps[3].analysis.args", `needs argument "threshold"`},
		{"analysis gives an undeclared argument", func(c *Cell) {
			stepAnalysis(c, 3).Args = append(stepAnalysis(c, 3).Args, AnalysisArg{Name: "region", Value: "us-east-1"})
		}, "spec.updateStrategy.canary.steps[3].analysis.args[1].name", `"region" is not declared`},
		{"analysis overrides a built-in argument", func(c *Cell) {
			stepAnalysis(c, 3).Args = append(stepAnalysis(c, 3).Args, AnalysisArg{Name: ArgLoadBalancer, Value: "app/x/1"})
		}, "spec.updateStrategy.canary.steps[3].analysis.args[1].name", "supplied by okra"},
		{"analysis gives an argument twice", func(c *Cell) {
			stepAnalysis(c, 3).Args = append(stepAnalysis(c, 3).Args, AnalysisArg{Name: "threshold", Value: "1"})
		}, "spec.updateStrategy.canary.steps[3].analysis.args[1].name", "duplicate argument"},
		{"step analysis that never finishes", func(c *Cell) {
			stepAnalysis(c, 4).Templates[0].TemplateName = "shared-background"
		}, "spec.updateStrategy.canary.steps[4].analysis.templates[0]", "would measure forever"},
		{"step analysis of a shared template without its argument", func(c *Cell) {
			stepAnalysis(c, 4).Templates[0].TemplateName = "shared-step"
		}, "spec.updateStrategy.canary.steps[4].analysis.args", `template "shared-step" needs argument "service"`},
		{"two templates with one metric name", func(c *Cell) {
			ddMetric(c).Name = "cw-5xx"
			stepAnalysis(c, 3).Templates = append(stepAnalysis(c, 3).Templates, TemplateRef{TemplateName: "dd"})
		}, "spec.updateStrategy.canary.steps[3].analysis.templates[1]", `both have a metric named "cw-5xx"`},
		{"background starting step out of range", func(c *Cell) {
			c.Spec.UpdateStrategy.Canary.Analysis.StartingStep = ptr[int32](6)
		}, "spec.updateStrategy.canary.analysis.startingStep", "0..5, got 6"},
		{"background analysis of an unknown template", func(c *Cell) {
			c.Spec.UpdateStrategy.Canary.Analysis.Templates[0].TemplateName = "gone"
		}, "spec.updateStrategy.canary.analysis.templates[0].templateName", `"gone" not found`},
		{"embedded templates with one name", func(c *Cell) {
			c.Spec.AnalysisTemplates[1].Metadata.Name = "cw"
		}, "spec.analysisTemplates[1].metadata.name", `duplicate template name "cw"`},

		// metrics (Argo Rollouts semantics)
		{"unsupported provider prometheus", func(c *Cell) {
			ddMetric(c).Provider = MetricProvider{Prometheus: rawJSON(`{"address":"http://prometheus:9090","query":"up"}`)}
		}, ddPath + ".provider.prometheus", "provider prometheus is not supported by okra (supported: cloudWatch, datadog)"},
		{"unsupported provider job", func(c *Cell) {
			ddMetric(c).Provider = MetricProvider{Job: rawJSON(`{}`)}
		}, ddPath + ".provider.job", "provider job is not supported by okra"},
		{"no provider", func(c *Cell) { ddMetric(c).Provider = MetricProvider{} }, ddPath + ".provider", "exactly one provider"},
		{"two providers", func(c *Cell) { ddMetric(c).Provider.Web = rawJSON(`{"url":"http://x"}`) }, ddPath + ".provider", "sets 2 providers (datadog, web)"},
		{"metric without name", func(c *Cell) { ddMetric(c).Name = "" }, ddPath + ".name", "is required"},
		{"metrics with one name", func(c *Cell) {
			tmpl := &c.Spec.AnalysisTemplates[1]
			tmpl.Spec.Metrics = append(tmpl.Spec.Metrics, tmpl.Spec.Metrics[0])
		}, "spec.analysisTemplates[1].spec.metrics[1].name", "duplicate metric name"},
		{"template without metrics", func(c *Cell) { c.Spec.AnalysisTemplates[1].Spec.Metrics = nil }, "spec.analysisTemplates[1].spec.metrics", "at least one metric"},
		{"count 0", func(c *Cell) { cwMetric(c).Count = Int(0) }, cwPath + ".count", "at least 1"},
		{"count 3 without interval", func(c *Cell) { cwMetric(c).Interval = nil }, cwPath + ".interval", "required when count > 1"},
		{"count text that is no number", func(c *Cell) { cwMetric(c).Count = &IntOrString{IsString: true, Str: "three"} }, cwPath + ".count", "whole number or an {{args.NAME}} reference"},
		{"failure limit -2", func(c *Cell) { cwMetric(c).FailureLimit = Int(-2) }, cwPath + ".failureLimit", "or -1 to disable"},
		{"failure and success limits both disabled", func(c *Cell) { cwMetric(c).FailureLimit = Int(-1) }, cwPath + ".failureLimit", "one of them must apply"},
		{"inconclusive limit -1", func(c *Cell) { cwMetric(c).InconclusiveLimit = Int(-1) }, cwPath + ".inconclusiveLimit", "must be >= 0"},
		{"consecutive error limit -1", func(c *Cell) { cwMetric(c).ConsecutiveErrorLimit = Int(-1) }, cwPath + ".consecutiveErrorLimit", "must be >= 0"},
		{"count below failure plus success limits", func(c *Cell) {
			cwMetric(c).FailureLimit = Int(2)
			cwMetric(c).ConsecutiveSuccessLimit = Int(2)
		}, cwPath + ".count", "failureLimit + consecutiveSuccessLimit (2 + 2), got 3"},
		{"count below inconclusive limit", func(c *Cell) { cwMetric(c).InconclusiveLimit = Int(4) }, cwPath + ".count", "inconclusiveLimit (4)"},
		{"no condition", func(c *Cell) { ddMetric(c).SuccessCondition = "" }, ddPath, "needs a successCondition or a failureCondition"},
		{"condition does not compile", func(c *Cell) { ddMetric(c).FailureCondition = "result >" }, ddPath + ".failureCondition", "does not compile"},
		{"interval zero", func(c *Cell) { cwMetric(c).Interval = &Duration{} }, cwPath + ".interval", "positive duration"},
		{"reference to an undeclared argument", func(c *Cell) { dd(c).Query = "sum:errors{service:{{args.service}}}" }, ddPath, `does not declare "service"`},
		{"reference that is not an argument", func(c *Cell) { dd(c).Query = "sum:errors{service:{{secrets.key}}}" }, ddPath, "only {{args.NAME}}"},
		{"argument from a secret", func(c *Cell) {
			c.Spec.AnalysisTemplates[0].Spec.Args[2].ValueFrom = &ArgValueFrom{SecretKeyRef: rawJSON(`{"name":"s","key":"k"}`)}
		}, "spec.analysisTemplates[0].spec.args[2].valueFrom", "not supported by okra"},
		{"argument declared twice", func(c *Cell) {
			tmpl := &c.Spec.AnalysisTemplates[0]
			tmpl.Spec.Args = append(tmpl.Spec.Args, TemplateArg{Name: "threshold"})
		}, "spec.analysisTemplates[0].spec.args[3].name", "duplicate argument"},
		{"template composition", func(c *Cell) {
			c.Spec.AnalysisTemplates[1].Spec.Templates = []TemplateRef{{TemplateName: "cw"}}
		}, "spec.analysisTemplates[1].spec.templates", "template composition is not supported"},
		{"template with an uppercase name", func(c *Cell) {
			c.Spec.AnalysisTemplates[1].Metadata.Name = "DD"
			stepAnalysis(c, 4).Templates[0].TemplateName = "DD"
		}, "spec.analysisTemplates[1].metadata.name", "lowercase"},

		// CloudWatch
		{"cloudwatch without queries", func(c *Cell) { cwMetric(c).Provider.CloudWatch.MetricDataQueries = nil }, cwProv + ".metricDataQueries", "at least one query"},
		{"cloudwatch id with capital", func(c *Cell) { cwQueries(c)[0].ID = "Rate" }, cwProv + ".metricDataQueries[0].id", "lowercase letter"},
		{"cloudwatch duplicate id", func(c *Cell) { cwQueries(c)[2].ID = "errors" }, cwProv + ".metricDataQueries[2].id", `duplicate id "errors"`},
		{"cloudwatch query with neither", func(c *Cell) { cwQueries(c)[0].Expression = nil }, cwProv + ".metricDataQueries[0]", "got neither"},
		{"cloudwatch query with both", func(c *Cell) { cwQueries(c)[0].MetricStat = cwQueries(c)[1].MetricStat }, cwProv + ".metricDataQueries[0]", "got both"},
		{"cloudwatch metric without name", func(c *Cell) { cwQueries(c)[1].MetricStat.Metric.MetricName = "" }, cwProv + ".metricDataQueries[1].metricStat.metric.metricName", "is required"},
		{"cloudwatch metric without namespace", func(c *Cell) { cwQueries(c)[1].MetricStat.Metric.Namespace = nil }, cwProv + ".metricDataQueries[1].metricStat.metric.namespace", "is required"},
		{"cloudwatch stat unknown", func(c *Cell) { cwQueries(c)[1].MetricStat.Stat = "Total" }, cwProv + ".metricDataQueries[1].metricStat.stat", "CloudWatch statistic"},
		{"cloudwatch stat missing", func(c *Cell) { cwQueries(c)[1].MetricStat.Stat = "" }, cwProv + ".metricDataQueries[1].metricStat.stat", "is required"},
		{"cloudwatch period 45", func(c *Cell) { cwQueries(c)[1].MetricStat.Period = Int(45) }, cwProv + ".metricDataQueries[1].metricStat.period", "got 45"},
		{"cloudwatch period missing", func(c *Cell) { cwQueries(c)[1].MetricStat.Period = nil }, cwProv + ".metricDataQueries[1].metricStat.period", "is required"},
		{"cloudwatch dimension without value", func(c *Cell) { cwQueries(c)[1].MetricStat.Metric.Dimensions[0].Value = "" }, cwProv + ".metricDataQueries[1].metricStat.metric.dimensions[0].value", "is required"},
		{"cloudwatch returns nothing", func(c *Cell) { cwQueries(c)[0].ReturnData = ptr(false) }, cwProv + ".metricDataQueries", "returnData false on every query"},

		// Datadog
		{"datadog without query", func(c *Cell) { dd(c).Query = "" }, ddProv, "got neither"},
		{"datadog query and queries", func(c *Cell) { dd(c).Queries = map[string]string{"a": "sum:x{*}"} }, ddProv, "got both"},
		{"datadog v1 with queries", func(c *Cell) {
			dd(c).Query = ""
			dd(c).APIVersion = "v1"
			dd(c).Queries = map[string]string{"a": "sum:x{*}"}
		}, ddProv + ".queries", "need apiVersion v2"},
		{"datadog v1 with aggregator", func(c *Cell) { dd(c).APIVersion = "v1"; dd(c).Aggregator = "sum" }, ddProv + ".aggregator", "not supported with apiVersion v1"},
		{"datadog two queries without formula", func(c *Cell) {
			dd(c).Query = ""
			dd(c).Queries = map[string]string{"a": "sum:x{*}", "b": "sum:y{*}"}
		}, ddProv + ".formula", "required when more than one query"},
		{"datadog formula with a single query", func(c *Cell) { dd(c).APIVersion = "v2"; dd(c).Formula = "a * 2" }, ddProv + ".formula", "set queries"},
		{"datadog unknown aggregator", func(c *Cell) { dd(c).APIVersion = "v2"; dd(c).Aggregator = "median" }, ddProv + ".aggregator", `got "median"`},
		{"datadog api version v3", func(c *Cell) { dd(c).APIVersion = "v3" }, ddProv + ".apiVersion", `got "v3"`},
		{"datadog empty named query", func(c *Cell) {
			dd(c).Query = ""
			dd(c).Queries = map[string]string{"a": " "}
		}, ddProv + ".queries.a", "must not be empty"},
	}
}

func TestValidateRefusesBadCells(t *testing.T) {
	cases := badCellCases()
	if len(cases) < 40 {
		t.Fatalf("only %d bad cases", len(cases))
	}
	shared := sharedTemplates(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := baseCell(t)
			tc.mutate(c)
			err := Validate(c, shared)
			if err == nil {
				t.Fatalf("Validate accepted the Cell, want a problem at %s", tc.field)
			}
			assertProblem(t, err, tc.field, tc.reason)
		})
	}
}

// assertProblem fails unless err is a *ValidationError with a problem at
// exactly field whose reason contains reason.
func assertProblem(t *testing.T, err error, field, reason string) {
	t.Helper()
	verr, ok := err.(*ValidationError)
	if !ok {
		t.Fatalf("error is %T (%v), want *ValidationError", err, err)
	}
	for _, p := range verr.Problems {
		if p.Field == field && strings.Contains(p.Reason, reason) {
			if !strings.Contains(err.Error(), field+": ") {
				t.Fatalf("Error() does not print %q:\n%s", field+": ", err)
			}
			return
		}
	}
	t.Fatalf("no problem at %s mentioning %q; got:\n%s", field, reason, err)
}

func TestValidateAcceptsGoodCells(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(c *Cell)
	}{
		{"the base Cell", func(*Cell) {}},
		{"no rule: the listener's default action", func(c *Cell) { c.Spec.Ingress.Rule = nil }},
		{"NLB with TCP", makeNLB},
		{"NLB with TLS and an HTTP health check", func(c *Cell) {
			makeNLB(c)
			c.Spec.TargetGroupTemplate.Protocol = "TLS"
			healthCheck(c).Protocol = "HTTP"
			healthCheck(c).Matcher = "200-599"
		}},
		{"no update strategy: 100% at once", func(c *Cell) { c.Spec.UpdateStrategy = UpdateStrategy{} }},
		{"canary without steps", func(c *Cell) { c.Spec.UpdateStrategy.Canary = &Canary{} }},
		{"two replicas", func(c *Cell) { c.Spec.Replicas = ptr[int32](2) }},
		{"version v1", func(c *Cell) { c.Spec.Version = "v1" }},
		{"version 1.2.3", func(c *Cell) { c.Spec.Version = "1.2.3" }},
		{"version v2.0.0-rc.1", func(c *Cell) { c.Spec.Version = "v2.0.0-rc.1" }},
		{"version with build metadata", func(c *Cell) { c.Spec.Version = "1.0.0+build.5" }},
		{"set weight 0 and 100", func(c *Cell) {
			c.Spec.UpdateStrategy.Canary.Steps[0].SetWeight = ptr[int32](0)
			c.Spec.UpdateStrategy.Canary.Steps[2].SetWeight = ptr[int32](100)
		}},
		{"pause of zero", func(c *Cell) { c.Spec.UpdateStrategy.Canary.Steps[1].Pause.Duration = &Duration{} }},
		{"count from an argument", func(c *Cell) {
			cwMetric(c).Count = &IntOrString{IsString: true, Str: "{{args.threshold}}"}
			stepAnalysis(c, 3).Args[0].Value = "3"
		}},
		{"count as numeric text", func(c *Cell) { cwMetric(c).Count = &IntOrString{IsString: true, Str: "3"} }},
		{"failure limit disabled with a success limit", func(c *Cell) {
			cwMetric(c).FailureLimit = Int(-1)
			cwMetric(c).ConsecutiveSuccessLimit = Int(3)
		}},
		{"failure condition only", func(c *Cell) { ddMetric(c).SuccessCondition = ""; ddMetric(c).FailureCondition = "result > 1" }},
		{"datadog v2 single query with aggregator", func(c *Cell) { dd(c).APIVersion = "v2"; dd(c).Aggregator = "avg" }},
		{"datadog v2 formula", func(c *Cell) {
			dd(c).Query = ""
			dd(c).Queries = map[string]string{"a": "sum:x{*}", "b": "sum:y{*}"}
			dd(c).Formula = "a / b"
		}},
		{"cloudwatch extended statistic", func(c *Cell) { cwQueries(c)[1].MetricStat.Stat = "p99.9" }},
		{"cloudwatch high-resolution period", func(c *Cell) { cwQueries(c)[1].MetricStat.Period = Int(10) }},
		{"shared step template with its argument", func(c *Cell) {
			stepAnalysis(c, 4).Templates[0].TemplateName = "shared-step"
			stepAnalysis(c, 4).Args = []AnalysisArg{{Name: "service", Value: "web"}}
		}},
		{"embedded template hides a shared one", func(c *Cell) {
			c.Spec.AnalysisTemplates[1].Metadata.Name = "shared-step"
			stepAnalysis(c, 4).Templates[0].TemplateName = "shared-step"
		}},
		{"background analysis without starting step", func(c *Cell) { c.Spec.UpdateStrategy.Canary.Analysis.StartingStep = nil }},
		{"node group attachment with instance targets", func(c *Cell) {
			c.Spec.TargetGroupTemplate.TargetType = TargetTypeInstance
			c.Spec.TargetGroupTemplate.AttachToNodeGroups = true
		}},
		{"selector on okra's own tags", func(c *Cell) {
			c.Spec.Ingress.TargetGroupSelector.MatchLabels[TagCell] = "web"
			c.Spec.Ingress.TargetGroupSelector.MatchLabels[TagManaged] = "true"
		}},
		{"source IPs v4 and v6", func(c *Cell) { rule(c).PathPatterns = nil; rule(c).SourceIPs = []string{"10.0.0.0/8", "2001:db8::/32"} }},
	}
	shared := sharedTemplates(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := baseCell(t)
			tc.mutate(c)
			if err := Validate(c, shared); err != nil {
				t.Fatalf("Validate refused a good Cell:\n%v", err)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := baseCell(t)
	c.Metadata.Name = "Web_Cell"
	c.Spec.Replicas = ptr[int32](4)
	c.Spec.UpdateStrategy.Canary.Steps[2].SetWeight = ptr[int32](120)
	c.Spec.Ingress.Rule.Priority = 0
	dd(c).APIVersion = "v3"
	err := Validate(c, sharedTemplates(t))
	if err == nil {
		t.Fatal("Validate accepted a Cell with five problems")
	}
	want := []string{
		"metadata.name",
		"spec.replicas",
		"spec.updateStrategy.canary.steps[2].setWeight: must be 0..100, got 120",
		"spec.ingress.rule.priority",
		ddProv + ".apiVersion",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Errorf("got %d lines, want %d:\n%s", len(lines), len(want), err)
	}
	for _, w := range want {
		found := false
		for _, line := range lines {
			if strings.HasPrefix(line, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no line starting %q in:\n%s", w, err)
		}
	}
}

func TestValidateWithoutSharedTemplates(t *testing.T) {
	c := baseCell(t)
	err := Validate(c, nil)
	assertProblem(t, err, "spec.updateStrategy.canary.analysis.templates[0].templateName", `"shared-background" not found`)

	c.Spec.UpdateStrategy.Canary.Analysis = nil
	if err := Validate(c, nil); err != nil {
		t.Fatalf("a Cell that needs no shared template failed with a nil lookup:\n%v", err)
	}
}

func TestValidateDoesNotChangeTheCell(t *testing.T) {
	c := baseCell(t)
	c.Spec.TargetGroupTemplate.HealthCheck = &HealthCheck{Path: "/healthz"}
	before, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(c, sharedTemplates(t)); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	after, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Fatalf("Validate changed the Cell:\nbefore %s\nafter  %s", before, after)
	}
}

func TestValidateNil(t *testing.T) {
	if err := Validate(nil, nil); err == nil {
		t.Fatal("Validate(nil) succeeded")
	}
	if err := ValidateTemplate(nil); err == nil {
		t.Fatal("ValidateTemplate(nil) succeeded")
	}
}
