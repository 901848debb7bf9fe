package cell

import (
	"time"
)

// Defaults applied by (*Cell).Default.
const (
	DefaultReplicas          int32 = 1
	DefaultVersionLabel            = "version"
	DefaultMinHealthyTargets int32 = 1
	DefaultRollbackWindow          = 15 * time.Minute
	// UpdateStrategyCanary is the only update strategy today.
	UpdateStrategyCanary = "Canary"

	DefaultTargetGroupPort int32 = 80
	TargetTypeIP                 = "ip"
	TargetTypeInstance           = "instance"
	// HealthCheckTrafficPort checks the port targets receive traffic on.
	HealthCheckTrafficPort = "traffic-port"

	// Health checks default to fast detection (healthy after 3 passing
	// checks 10s apart) because a hot swap waits on them; AWS's own
	// defaults (30s interval, 5 checks) would add minutes to every rollout.
	DefaultHealthCheckIntervalSeconds    int32 = 10
	DefaultHealthCheckTimeoutSeconds     int32 = 5
	DefaultHealthCheckHealthyThreshold   int32 = 3
	DefaultHealthCheckUnhealthyThreshold int32 = 3
	DefaultHealthCheckPath                     = "/"
	DefaultHealthCheckMatcher                  = "200-399"
	// gRPC health checks default to AWS's gRPC path and status 12
	// (UNIMPLEMENTED), which proves the server answers gRPC.
	DefaultGRPCHealthCheckPath    = "/AWS.ALB/healthcheck"
	DefaultGRPCHealthCheckMatcher = "12"
)

// Target-group protocols and protocol versions.
const (
	ProtocolHTTP   = "HTTP"
	ProtocolHTTPS  = "HTTPS"
	ProtocolTCP    = "TCP"
	ProtocolUDP    = "UDP"
	ProtocolTCPUDP = "TCP_UDP"
	ProtocolTLS    = "TLS"

	ProtocolVersionHTTP1 = "HTTP1"
	ProtocolVersionHTTP2 = "HTTP2"
	ProtocolVersionGRPC  = "GRPC"
)

// Default fills every unset field that has a default, in place. It is
// idempotent and never overwrites a value the user set. Defaults:
//
//	replicas 1, versionedBy.label "version", minHealthyTargets 1,
//	rollbackWindow 15m, updateStrategy.type Canary,
//	targetGroupTemplate: port 80, protocol HTTP (ALB) or TCP (NLB),
//	protocolVersion HTTP1 (ALB), targetType ip, and a health check on the
//	traffic port (HTTP "/" expecting 200-399 on an ALB, gRPC's health path
//	expecting 12 for protocolVersion GRPC, TCP on an NLB) every 10s, 5s
//	timeout, 3 checks to turn healthy or unhealthy.
//
// Defaults that depend on the ingress type are left unset when the type is
// not one okra knows; Validate reports the type.
//
// Analysis metrics are not mutated: templates are stored as the user wrote
// them (so Argo Rollouts documents round-trip unchanged, and "{{args.x}}"
// forms survive until run time). Their defaults are read through the
// Effective* methods of Metric, DatadogMetric and CloudWatchMetric.
//
// Default only assigns fields of the Cell and of its health check; it never
// writes through another pointer it finds set. Validate relies on this to
// default a shallow copy.
func (c *Cell) Default() {
	s := &c.Spec
	if s.Replicas == nil {
		s.Replicas = ptr(DefaultReplicas)
	}
	if s.VersionedBy.Label == "" {
		s.VersionedBy.Label = DefaultVersionLabel
	}
	if s.MinHealthyTargets == nil {
		s.MinHealthyTargets = ptr(DefaultMinHealthyTargets)
	}
	if s.RollbackWindow == nil {
		s.RollbackWindow = &Duration{Duration: DefaultRollbackWindow}
	}
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = UpdateStrategyCanary
	}
	defaultTargetGroupTemplate(&s.TargetGroupTemplate, s.Ingress.Type)
}

func defaultTargetGroupTemplate(t *TargetGroupTemplate, ingress IngressType) {
	if t.Port == nil {
		t.Port = ptr(DefaultTargetGroupPort)
	}
	if t.TargetType == "" {
		t.TargetType = TargetTypeIP
	}
	if t.Protocol == "" {
		switch ingress {
		case IngressALB:
			t.Protocol = ProtocolHTTP
		case IngressNLB:
			t.Protocol = ProtocolTCP
		}
	}
	httpTarget := t.Protocol == ProtocolHTTP || t.Protocol == ProtocolHTTPS
	if t.ProtocolVersion == "" && ingress == IngressALB && httpTarget {
		t.ProtocolVersion = ProtocolVersionHTTP1
	}
	if t.HealthCheck == nil {
		t.HealthCheck = &HealthCheck{}
	}
	hc := t.HealthCheck
	if hc.Protocol == "" {
		switch {
		case ingress == IngressALB && httpTarget:
			hc.Protocol = t.Protocol
		case ingress == IngressNLB:
			hc.Protocol = ProtocolTCP
		}
	}
	if hc.Port == "" {
		hc.Port = HealthCheckTrafficPort
	}
	if hc.Protocol == ProtocolHTTP || hc.Protocol == ProtocolHTTPS {
		grpc := t.ProtocolVersion == ProtocolVersionGRPC
		if hc.Path == "" {
			hc.Path = DefaultHealthCheckPath
			if grpc {
				hc.Path = DefaultGRPCHealthCheckPath
			}
		}
		if hc.Matcher == "" {
			hc.Matcher = DefaultHealthCheckMatcher
			if grpc {
				hc.Matcher = DefaultGRPCHealthCheckMatcher
			}
		}
	}
	if hc.IntervalSeconds == nil {
		hc.IntervalSeconds = ptr(DefaultHealthCheckIntervalSeconds)
	}
	if hc.TimeoutSeconds == nil {
		hc.TimeoutSeconds = ptr(DefaultHealthCheckTimeoutSeconds)
	}
	if hc.HealthyThresholdCount == nil {
		hc.HealthyThresholdCount = ptr(DefaultHealthCheckHealthyThreshold)
	}
	if hc.UnhealthyThresholdCount == nil {
		hc.UnhealthyThresholdCount = ptr(DefaultHealthCheckUnhealthyThreshold)
	}
}

// defaulted returns a defaulted copy of c, leaving c untouched. The copy is
// shallow except for the health check, which Default writes into.
func (c *Cell) defaulted() *Cell {
	cp := *c
	if hc := c.Spec.TargetGroupTemplate.HealthCheck; hc != nil {
		hcCopy := *hc
		cp.Spec.TargetGroupTemplate.HealthCheck = &hcCopy
	}
	cp.Default()
	return &cp
}

func ptr[T any](v T) *T { return &v }
