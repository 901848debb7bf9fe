package cell

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDefault(t *testing.T) {
	cases := []struct {
		name  string
		setup func(c *Cell)
		check func(t *testing.T, c *Cell)
	}{
		{"cell-wide defaults", func(*Cell) {}, func(t *testing.T, c *Cell) {
			s := c.Spec
			if *s.Replicas != 1 || s.VersionedBy.Label != "version" || *s.MinHealthyTargets != 1 {
				t.Errorf("replicas %d, label %q, minHealthyTargets %d", *s.Replicas, s.VersionedBy.Label, *s.MinHealthyTargets)
			}
			if s.RollbackWindow.Duration != 15*time.Minute {
				t.Errorf("rollbackWindow %s, want 15m", s.RollbackWindow.Duration)
			}
			if s.UpdateStrategy.Type != "Canary" {
				t.Errorf("updateStrategy.type %q", s.UpdateStrategy.Type)
			}
		}},
		{"ALB target group", func(*Cell) {}, func(t *testing.T, c *Cell) {
			tg := c.Spec.TargetGroupTemplate
			hc := tg.HealthCheck
			if *tg.Port != 80 || tg.Protocol != "HTTP" || tg.ProtocolVersion != "HTTP1" || tg.TargetType != "ip" {
				t.Errorf("port %d protocol %q version %q targetType %q", *tg.Port, tg.Protocol, tg.ProtocolVersion, tg.TargetType)
			}
			if hc.Protocol != "HTTP" || hc.Port != "traffic-port" || hc.Path != "/" || hc.Matcher != "200-399" {
				t.Errorf("health check %+v", hc)
			}
			if *hc.IntervalSeconds != 10 || *hc.TimeoutSeconds != 5 || *hc.HealthyThresholdCount != 3 || *hc.UnhealthyThresholdCount != 3 {
				t.Errorf("health check timings %d/%d/%d/%d", *hc.IntervalSeconds, *hc.TimeoutSeconds, *hc.HealthyThresholdCount, *hc.UnhealthyThresholdCount)
			}
		}},
		{"HTTPS ALB target group checks over HTTPS", func(c *Cell) { c.Spec.TargetGroupTemplate.Protocol = "HTTPS" }, func(t *testing.T, c *Cell) {
			if got := c.Spec.TargetGroupTemplate.HealthCheck.Protocol; got != "HTTPS" {
				t.Errorf("health check protocol %q, want HTTPS", got)
			}
		}},
		{"gRPC health check", func(c *Cell) { c.Spec.TargetGroupTemplate.ProtocolVersion = "GRPC" }, func(t *testing.T, c *Cell) {
			hc := c.Spec.TargetGroupTemplate.HealthCheck
			if hc.Path != "/AWS.ALB/healthcheck" || hc.Matcher != "12" {
				t.Errorf("gRPC health check path %q matcher %q", hc.Path, hc.Matcher)
			}
		}},
		{"NLB target group", makeNLB, func(t *testing.T, c *Cell) {
			tg := c.Spec.TargetGroupTemplate
			if tg.Protocol != "TCP" || tg.ProtocolVersion != "" {
				t.Errorf("protocol %q version %q, want TCP and none", tg.Protocol, tg.ProtocolVersion)
			}
			if hc := tg.HealthCheck; hc.Protocol != "TCP" || hc.Path != "" || hc.Matcher != "" {
				t.Errorf("NLB health check %+v, want TCP without path or matcher", hc)
			}
		}},
		{"user values are kept", func(c *Cell) {
			c.Spec.Replicas = ptr[int32](2)
			c.Spec.VersionedBy.Label = "release"
			c.Spec.RollbackWindow = &Duration{}
			c.Spec.TargetGroupTemplate.Port = ptr[int32](8080)
			c.Spec.TargetGroupTemplate.HealthCheck = &HealthCheck{Path: "/healthz", IntervalSeconds: ptr[int32](30)}
		}, func(t *testing.T, c *Cell) {
			s := c.Spec
			if *s.Replicas != 2 || s.VersionedBy.Label != "release" || s.RollbackWindow.Duration != 0 || *s.TargetGroupTemplate.Port != 8080 {
				t.Errorf("a user value was overwritten: %+v", s)
			}
			hc := s.TargetGroupTemplate.HealthCheck
			if hc.Path != "/healthz" || *hc.IntervalSeconds != 30 || *hc.TimeoutSeconds != 5 {
				t.Errorf("health check %+v: want the user's path and interval and the default timeout", hc)
			}
		}},
		{"unknown ingress type leaves the protocol unset", func(c *Cell) { c.Spec.Ingress.Type = "Other" }, func(t *testing.T, c *Cell) {
			if p := c.Spec.TargetGroupTemplate.Protocol; p != "" {
				t.Errorf("protocol %q, want none for an unknown ingress type", p)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := baseCell(t)
			tc.setup(c)
			c.Default()
			tc.check(t, c)
			once, _ := json.Marshal(c)
			c.Default()
			twice, _ := json.Marshal(c)
			if string(once) != string(twice) {
				t.Errorf("Default is not idempotent:\n%s\n%s", once, twice)
			}
		})
	}
}

func TestMetricEffectiveValues(t *testing.T) {
	cases := []struct {
		name                                     string
		metric                                   Metric
		count                                    int32
		unbounded                                bool
		failure, inconclusive, consecutiveErrors int32
		consecutiveSuccess                       int32
	}{
		{"nothing set: one measurement", Metric{}, 1, false, 0, 0, 4, 0},
		{"interval without count: unbounded", Metric{Interval: Seconds(60)}, 0, true, 0, 0, 4, 0},
		{"count zero with interval: unbounded as in Argo", Metric{Interval: Seconds(60), Count: Int(0)}, 0, true, 0, 0, 4, 0},
		{"everything set", Metric{
			Interval: Seconds(60), Count: Int(5), FailureLimit: Int(-1), InconclusiveLimit: Int(2),
			ConsecutiveErrorLimit: Int(0), ConsecutiveSuccessLimit: &IntOrString{IsString: true, Str: "3"},
		}, 5, false, -1, 2, 0, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			count, unbounded, err := tc.metric.EffectiveCount()
			if err != nil || count != tc.count || unbounded != tc.unbounded {
				t.Errorf("EffectiveCount = %d, %t, %v; want %d, %t", count, unbounded, err, tc.count, tc.unbounded)
			}
			for _, got := range []struct {
				name string
				fn   func() (int32, error)
				want int32
			}{
				{"failureLimit", tc.metric.EffectiveFailureLimit, tc.failure},
				{"inconclusiveLimit", tc.metric.EffectiveInconclusiveLimit, tc.inconclusive},
				{"consecutiveErrorLimit", tc.metric.EffectiveConsecutiveErrorLimit, tc.consecutiveErrors},
				{"consecutiveSuccessLimit", tc.metric.EffectiveConsecutiveSuccessLimit, tc.consecutiveSuccess},
			} {
				if v, err := got.fn(); err != nil || v != got.want {
					t.Errorf("%s = %d, %v; want %d", got.name, v, err, got.want)
				}
			}
		})
	}
}

func TestProviderEffectiveValues(t *testing.T) {
	cases := []struct {
		name       string
		dd         DatadogMetric
		version    string
		aggregator string
	}{
		{"single query defaults to v1", DatadogMetric{Query: "q"}, "v1", ""},
		{"queries default to v2 and last", DatadogMetric{Queries: map[string]string{"a": "q"}}, "v2", "last"},
		{"explicit v2 with aggregator", DatadogMetric{Query: "q", APIVersion: "v2", Aggregator: "avg"}, "v2", "avg"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if v := tc.dd.EffectiveAPIVersion(); v != tc.version {
				t.Errorf("EffectiveAPIVersion = %q, want %q", v, tc.version)
			}
			if a := tc.dd.EffectiveAggregator(); a != tc.aggregator {
				t.Errorf("EffectiveAggregator = %q, want %q", a, tc.aggregator)
			}
			if d := tc.dd.EffectiveInterval(); d != 5*time.Minute {
				t.Errorf("EffectiveInterval = %s, want 5m", d)
			}
		})
	}
	if d := (CloudWatchMetric{Interval: Seconds(600)}).EffectiveInterval(); d != 10*time.Minute {
		t.Errorf("CloudWatch EffectiveInterval = %s, want the 10m set", d)
	}
}
