package cell

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/okrahq/okra/internal/weights"
)

// Limits okra checks on a Cell.
const (
	// MaxNameLength bounds a Cell's name. The name is part of every target
	// group okra creates for the Cell, and ELBv2 allows at most 32
	// characters in a target-group name: 20 leave 12 for okra's "-" and
	// per-cluster suffix. It is also part of the Cell's DynamoDB keys.
	MaxNameLength = 20
	// MaxReplicas follows from the forward-action limit: during a rollout
	// two versions of replicas target groups each share one action.
	MaxReplicas = weights.MaxTargetGroupsPerAction / 2
	// MaxRulePriority is the largest ALB listener-rule priority.
	MaxRulePriority = 50000
	// MaxRollbackWindow bounds how long old target groups wait at weight 0.
	MaxRollbackWindow = 7 * 24 * time.Hour
	// MaxPause bounds a timed pause: a Step Functions execution lasts at
	// most a year.
	MaxPause = 365 * 24 * time.Hour

	// MaxTagsPerResource is AWS's limit of tags on one target group.
	MaxTagsPerResource = 50
	// ReservedTagCount is how many tags okra itself puts on every target
	// group it creates: okra:cell, okra:cluster, okra:managed and the
	// version tag.
	ReservedTagCount = 4
	// TagHeadroom is kept free for the cluster's own tags, which okra
	// copies onto the target group and which validation cannot see.
	TagHeadroom = 10
	// Tag key and value lengths allowed by ELBv2 and EKS.
	MaxTagKeyLength   = 128
	MaxTagValueLength = 256

	// ALB rule-condition quotas: match values per condition and per rule.
	maxValuesPerCondition = 3
	maxValuesPerRule      = 5
)

// Tags okra puts on the target groups it creates. The "okra:" prefix is
// reserved: users may not set such tags through targetGroupTemplate.tags.
const (
	TagCell        = "okra:cell"
	TagCluster     = "okra:cluster"
	TagManaged     = "okra:managed"
	ReservedPrefix = "okra:"
	awsTagPrefix   = "aws:"
)

// TemplateLookup finds analysis templates stored on their own (shared by
// Cells). A nil TemplateLookup means there are none.
type TemplateLookup interface {
	Template(name string) (*AnalysisTemplate, bool)
}

// TemplateMap is a TemplateLookup over templates held in memory, keyed by
// metadata.name.
type TemplateMap map[string]*AnalysisTemplate

// Template returns the template called name.
func (m TemplateMap) Template(name string) (*AnalysisTemplate, bool) {
	t, ok := m[name]
	return t, ok
}

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
	// listenerARNPattern captures the load balancer's kind ("app" or
	// "net").
	listenerARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:elasticloadbalancing:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:listener/(app|net)/[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?/[0-9a-f]{16}/[0-9a-f]{16}$`)
	versionPattern     = regexp.MustCompile(`^v?[0-9][A-Za-z0-9._+-]*$`)
	tagCharacters      = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	hostPattern        = regexp.MustCompile(`^[A-Za-z0-9.*?-]+$`)
	pathPattern        = regexp.MustCompile(`^[A-Za-z0-9_\-.$/~"'@:+&*?]+$`)
	headerNamePattern  = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
	httpMethodPattern  = regexp.MustCompile(`^[A-Z_-]+$`)
)

const (
	exampleListenerARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/0123456789abcdef/0123456789abcdef"
	maxVersionLength   = 128
)

// Validate checks a Cell and returns a *ValidationError listing every
// problem, or nil. It validates the Cell as Default would complete it,
// without changing c. Steps may name templates embedded in
// spec.analysisTemplates or, through shared, templates stored on their own;
// an embedded template hides a shared one of the same name. Shared
// templates are not re-validated here (ValidateTemplate checks them when
// they are stored), but steps are checked against them: they must exist,
// get every argument they need, and, in a step, finish.
func Validate(c *Cell, shared TemplateLookup) error {
	if c == nil {
		return &ValidationError{Problems: []Problem{{Reason: "no Cell given"}}}
	}
	d := c.defaulted()
	var p problems
	if d.APIVersion != "" && d.APIVersion != APIVersion {
		p.add("apiVersion", "must be %s, got %q", APIVersion, d.APIVersion)
	}
	if d.Kind != "" && d.Kind != Kind {
		p.add("kind", "must be %s, got %q", Kind, d.Kind)
	}
	validateCellName(d.Metadata.Name, &p)
	s := &d.Spec
	validateIngress(s.Ingress, &p)
	validateVersionedBy(s.VersionedBy.Label, &p)
	validateSelector("spec.clusterSelector.matchTags", s.ClusterSelector.MatchTags, "cluster", s.VersionedBy.Label, &p)
	validateTargetGroupSelector(d, &p)
	validateTargetGroupTemplate(d, &p)
	validateScale(s, &p)
	validateAnalysis(d, shared, &p)
	return p.err()
}

func validateCellName(name string, p *problems) {
	const f = "metadata.name"
	switch {
	case name == "":
		p.add(f, "is required")
	case len(name) > MaxNameLength:
		p.add(f, "must be at most %d characters (it becomes part of target-group names, which AWS limits to 32), got %d", MaxNameLength, len(name))
	case !dnsLabel.MatchString(name):
		p.add(f, "must be lowercase letters, digits and '-', starting and ending with a letter or digit, got %q", name)
	}
}

func validateIngress(in Ingress, p *problems) {
	const f = "spec.ingress"
	switch in.Type {
	case IngressALB, IngressNLB:
	case "":
		p.add(f+".type", "is required: %s or %s", IngressALB, IngressNLB)
	default:
		p.add(f+".type", "must be %s or %s, got %q", IngressALB, IngressNLB, in.Type)
	}
	validateListenerARN(in, p)
	if in.Rule != nil {
		if in.Type == IngressNLB {
			p.add(f+".rule", "listener rules exist only on Application Load Balancers; remove rule to use the NLB listener's default action")
		} else {
			validateRule(*in.Rule, p)
		}
	}
}

func validateListenerARN(in Ingress, p *problems) {
	const f = "spec.ingress.listenerARN"
	arn := in.ListenerARN
	if arn == "" {
		p.add(f, "is required, e.g. %s", exampleListenerARN)
		return
	}
	m := listenerARNPattern.FindStringSubmatch(arn)
	if m == nil {
		if strings.Contains(arn, ":listener-rule/") {
			p.add(f, "is a listener-rule ARN; give the listener's ARN and describe the rule under spec.ingress.rule")
			return
		}
		p.add(f, "must be an ELBv2 listener ARN like %s, got %q", exampleListenerARN, arn)
		return
	}
	switch kind := m[2]; {
	case in.Type == IngressALB && kind != "app":
		p.add(f, "names a Network Load Balancer listener (listener/net/...) but spec.ingress.type is %s", IngressALB)
	case in.Type == IngressNLB && kind != "net":
		p.add(f, "names an Application Load Balancer listener (listener/app/...) but spec.ingress.type is %s", IngressNLB)
	}
}

func validateRule(r ListenerRule, p *problems) {
	const f = "spec.ingress.rule"
	if r.Priority < 1 || r.Priority > MaxRulePriority {
		p.add(f+".priority", "must be 1..%d, got %d", MaxRulePriority, r.Priority)
	}
	total := len(r.Hosts) + len(r.PathPatterns) + len(r.HTTPMethods) + len(r.SourceIPs) + len(r.QueryStrings)
	for _, h := range r.Headers {
		total += len(h.Values)
	}
	if total == 0 && len(r.Headers) == 0 {
		p.add(f, "needs at least one condition (hosts, pathPatterns, headers, httpMethods, sourceIPs or queryStrings); to use the listener's default action, remove rule")
	} else if total > maxValuesPerRule {
		p.add(f, "has %d match values; an ALB rule allows at most %d across all its conditions", total, maxValuesPerRule)
	}
	conditionSize := func(field string, n int) {
		if n > maxValuesPerCondition {
			p.add(field, "has %d values; an ALB condition allows at most %d", n, maxValuesPerCondition)
		}
	}
	conditionSize(f+".hosts", len(r.Hosts))
	for i, h := range r.Hosts {
		field := index(f+".hosts", i)
		switch {
		case h == "":
			p.add(field, "must not be empty")
		case len(h) > 128:
			p.add(field, "must be at most 128 characters, got %d", len(h))
		case !hostPattern.MatchString(h):
			p.add(field, "must be a host name (letters, digits, '-', '.', and wildcards '*' and '?'), got %q", h)
		}
	}
	conditionSize(f+".pathPatterns", len(r.PathPatterns))
	for i, path := range r.PathPatterns {
		field := index(f+".pathPatterns", i)
		switch {
		case path == "":
			p.add(field, "must not be empty")
		case len(path) > 128:
			p.add(field, "must be at most 128 characters, got %d", len(path))
		case !pathPattern.MatchString(path):
			p.add(field, "must be a path pattern like /api/* (letters, digits, _-.$/~\"'@:+& and wildcards '*' and '?'), got %q", path)
		}
	}
	for i, h := range r.Headers {
		field := index(f+".headers", i)
		switch {
		case h.Name == "":
			p.add(field+".name", "is required")
		case len(h.Name) > 40:
			p.add(field+".name", "must be at most 40 characters, got %d", len(h.Name))
		case !headerNamePattern.MatchString(h.Name):
			p.add(field+".name", "must be an HTTP header name, got %q", h.Name)
		}
		if len(h.Values) == 0 {
			p.add(field+".values", "must list at least one value")
		}
		conditionSize(field+".values", len(h.Values))
		for j, v := range h.Values {
			if v == "" || len(v) > 128 {
				p.add(index(field+".values", j), "must be 1..128 characters, got %d", len(v))
			}
		}
	}
	conditionSize(f+".httpMethods", len(r.HTTPMethods))
	for i, m := range r.HTTPMethods {
		if len(m) > 40 || !httpMethodPattern.MatchString(m) {
			p.add(index(f+".httpMethods", i), "must be an uppercase HTTP method such as GET or POST (A-Z, '_' and '-'; ALB compares case-sensitively), got %q", m)
		}
	}
	conditionSize(f+".sourceIPs", len(r.SourceIPs))
	for i, cidr := range r.SourceIPs {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			p.add(index(f+".sourceIPs", i), "must be a CIDR block such as 10.0.0.0/8 or 2001:db8::/32, got %q", cidr)
		}
	}
	conditionSize(f+".queryStrings", len(r.QueryStrings))
	for i, q := range r.QueryStrings {
		field := index(f+".queryStrings", i)
		if len(q.Key) > 128 {
			p.add(field+".key", "must be at most 128 characters, got %d", len(q.Key))
		}
		if q.Value == "" || len(q.Value) > 128 {
			p.add(field+".value", "must be 1..128 characters, got %d", len(q.Value))
		}
	}
}

func validateVersionedBy(label string, p *problems) {
	const f = "spec.versionedBy.label"
	if !checkTagKey(f, label, p) {
		return
	}
	if hasPrefixFold(label, awsTagPrefix) || hasPrefixFold(label, ReservedPrefix) {
		p.add(f, "must not start with %q or %q (reserved), got %q", awsTagPrefix, ReservedPrefix, label)
	}
}

// validateSelector checks a tag selector. It must not select on the version
// tag: okra rolls between versions, so pinning one in a selector would hide
// every other version.
func validateSelector(field string, tags map[string]string, what, versionLabel string, p *problems) {
	if len(tags) == 0 {
		p.add(field, "must list at least one tag; an empty selector would match every %s in the account", what)
		return
	}
	for _, k := range sortedStringKeys(tags) {
		if checkTagKey(joinKey(field, k), k, p) && k == versionLabel {
			p.add(joinKey(field, k), "must not select on the version tag %q (spec.versionedBy.label): okra rolls between versions; pin one with spec.version instead", k)
		}
		checkTagValue(joinKey(field, k), tags[k], p)
	}
}

// validateTargetGroupSelector also checks that target groups okra creates
// can match the selector: okra's own tags must agree with it.
func validateTargetGroupSelector(c *Cell, p *problems) {
	const f = "spec.ingress.targetGroupSelector.matchLabels"
	labels := c.Spec.Ingress.TargetGroupSelector.MatchLabels
	validateSelector(f, labels, "target group", c.Spec.VersionedBy.Label, p)
	for _, k := range sortedStringKeys(labels) {
		v := labels[k]
		switch {
		case k == TagCell && v != c.Metadata.Name:
			p.add(joinKey(f, k), "must equal the Cell's name %q (okra tags its target groups with it), got %q", c.Metadata.Name, v)
		case k == TagManaged && v != "true":
			p.add(joinKey(f, k), "must be \"true\" (okra tags its target groups okra:managed=true), got %q", v)
		case k == TagCluster:
			p.add(joinKey(f, k), "must not be selected on: it differs for every cluster of the Cell")
		case hasPrefixFold(k, ReservedPrefix) && k != TagCell && k != TagManaged:
			p.add(joinKey(f, k), "is not a tag okra sets (okra sets %s, %s and %s)", TagCell, TagCluster, TagManaged)
		}
		if tv, ok := c.Spec.TargetGroupTemplate.Tags[k]; ok && tv != v {
			p.add(joinKey(f, k), "selects %q but targetGroupTemplate.tags sets %q, so target groups okra creates would never match", v, tv)
		}
	}
}

func validateTargetGroupTemplate(c *Cell, p *problems) {
	const f = "spec.targetGroupTemplate"
	t := c.Spec.TargetGroupTemplate
	ingress := c.Spec.Ingress.Type
	if t.Port != nil && (*t.Port < 1 || *t.Port > 65535) {
		p.add(f+".port", "must be 1..65535, got %d", *t.Port)
	}
	albProtocols := []string{ProtocolHTTP, ProtocolHTTPS}
	nlbProtocols := []string{ProtocolTCP, ProtocolUDP, ProtocolTCPUDP, ProtocolTLS}
	switch ingress {
	case IngressALB:
		if !slices.Contains(albProtocols, t.Protocol) {
			p.add(f+".protocol", "must be one of %s for an Application Load Balancer, got %q", strings.Join(albProtocols, ", "), t.Protocol)
		}
	case IngressNLB:
		if !slices.Contains(nlbProtocols, t.Protocol) {
			p.add(f+".protocol", "must be one of %s for a Network Load Balancer, got %q", strings.Join(nlbProtocols, ", "), t.Protocol)
		}
	}
	httpTarget := slices.Contains(albProtocols, t.Protocol)
	if t.ProtocolVersion != "" {
		versions := []string{ProtocolVersionHTTP1, ProtocolVersionHTTP2, ProtocolVersionGRPC}
		if ingress != IngressALB || !httpTarget {
			p.add(f+".protocolVersion", "applies only to HTTP and HTTPS target groups of an Application Load Balancer")
		} else if !slices.Contains(versions, t.ProtocolVersion) {
			p.add(f+".protocolVersion", "must be one of %s, got %q", strings.Join(versions, ", "), t.ProtocolVersion)
		}
	}
	if t.TargetType != TargetTypeIP && t.TargetType != TargetTypeInstance {
		p.add(f+".targetType", "must be %q or %q, got %q", TargetTypeIP, TargetTypeInstance, t.TargetType)
	}
	if t.AttachToNodeGroups && t.TargetType != TargetTypeInstance {
		p.add(f+".attachToNodeGroups", "registers the node groups' Auto Scaling groups, which needs targetType %q, got %q", TargetTypeInstance, t.TargetType)
	}
	if t.HealthCheck != nil {
		validateHealthCheck(*t.HealthCheck, ingress, t.ProtocolVersion, p)
	}
	validateTemplateTags(c, p)
}

func validateHealthCheck(hc HealthCheck, ingress IngressType, protocolVersion string, p *problems) {
	const f = "spec.targetGroupTemplate.healthCheck"
	var protocols []string
	switch ingress {
	case IngressALB:
		protocols = []string{ProtocolHTTP, ProtocolHTTPS}
	case IngressNLB:
		protocols = []string{ProtocolTCP, ProtocolHTTP, ProtocolHTTPS}
	}
	// An empty protocol here means the target group's protocol is invalid
	// (Default derives one from the other), which is reported already.
	if protocols != nil && hc.Protocol != "" && !slices.Contains(protocols, hc.Protocol) {
		p.add(f+".protocol", "must be one of %s for this load balancer, got %q", strings.Join(protocols, ", "), hc.Protocol)
	}
	if hc.Port != "" && hc.Port != HealthCheckTrafficPort {
		if n, err := strconv.Atoi(hc.Port); err != nil || n < 1 || n > 65535 {
			p.add(f+".port", "must be %q or a port number 1..65535, got %q", HealthCheckTrafficPort, hc.Port)
		}
	}
	httpCheck := hc.Protocol == ProtocolHTTP || hc.Protocol == ProtocolHTTPS
	switch {
	case !httpCheck && hc.Path != "":
		p.add(f+".path", "applies only to HTTP and HTTPS health checks, but protocol is %q", hc.Protocol)
	case httpCheck && (!strings.HasPrefix(hc.Path, "/") || len(hc.Path) > 1024):
		p.add(f+".path", "must start with '/' and be at most 1024 characters, got %q", hc.Path)
	}
	if !httpCheck && hc.Matcher != "" {
		p.add(f+".matcher", "applies only to HTTP and HTTPS health checks, but protocol is %q", hc.Protocol)
	} else if httpCheck {
		lo, hi := 200, 499
		switch {
		case ingress == IngressALB && protocolVersion == ProtocolVersionGRPC:
			lo, hi = 0, 99
		case ingress == IngressNLB:
			lo, hi = 200, 599
		}
		if err := checkMatcher(hc.Matcher, lo, hi); err != nil {
			p.add(f+".matcher", "%v", err)
		}
	}
	rangeCheck := func(field string, v *int32, lo, hi int32) {
		if v != nil && (*v < lo || *v > hi) {
			p.add(f+"."+field, "must be %d..%d, got %d", lo, hi, *v)
		}
	}
	rangeCheck("intervalSeconds", hc.IntervalSeconds, 5, 300)
	rangeCheck("timeoutSeconds", hc.TimeoutSeconds, 2, 120)
	rangeCheck("healthyThresholdCount", hc.HealthyThresholdCount, 2, 10)
	rangeCheck("unhealthyThresholdCount", hc.UnhealthyThresholdCount, 2, 10)
	if hc.IntervalSeconds != nil && hc.TimeoutSeconds != nil && *hc.TimeoutSeconds >= *hc.IntervalSeconds {
		p.add(f+".timeoutSeconds", "must be less than intervalSeconds (%d), got %d", *hc.IntervalSeconds, *hc.TimeoutSeconds)
	}
}

// checkMatcher parses a health-check matcher: codes and ranges separated by
// commas ("200", "200,202", "200-299"), each within lo..hi.
func checkMatcher(matcher string, lo, hi int) error {
	if matcher == "" {
		return fmt.Errorf("must list status codes such as \"200\" or \"200-299\"")
	}
	for part := range strings.SplitSeq(matcher, ",") {
		first, last, isRange := strings.Cut(part, "-")
		a, errA := strconv.Atoi(first)
		b := a
		var errB error
		if isRange {
			b, errB = strconv.Atoi(last)
		}
		if errA != nil || errB != nil || a < lo || b > hi || a > b {
			return fmt.Errorf("must be status codes or ranges within %d..%d separated by commas (e.g. \"200-299\"), got %q", lo, hi, matcher)
		}
	}
	return nil
}

// validateTemplateTags checks targetGroupTemplate.tags: AWS's key and value
// limits, no "aws:" prefix (AWS refuses it), no "okra:" prefix (okra's own
// tags), not the version tag (okra copies it from the cluster), and a count
// that leaves room for okra's tags and the cluster's: template tags, plus
// cluster-selector tags not among them, plus ReservedTagCount, plus
// TagHeadroom must not exceed MaxTagsPerResource.
func validateTemplateTags(c *Cell, p *problems) {
	const f = "spec.targetGroupTemplate.tags"
	tags := c.Spec.TargetGroupTemplate.Tags
	for _, k := range sortedStringKeys(tags) {
		field := joinKey(f, k)
		if checkTagKey(field, k, p) {
			switch {
			case hasPrefixFold(k, awsTagPrefix):
				p.add(field, "must not start with %q: AWS reserves that prefix", awsTagPrefix)
			case hasPrefixFold(k, ReservedPrefix):
				p.add(field, "must not start with %q: okra sets those tags itself", ReservedPrefix)
			case k == c.Spec.VersionedBy.Label:
				p.add(field, "must not set the version tag %q: okra copies it from the cluster", k)
			}
		}
		checkTagValue(field, tags[k], p)
	}
	clusterOnly := 0
	for k := range c.Spec.ClusterSelector.MatchTags {
		if _, ok := tags[k]; !ok {
			clusterOnly++
		}
	}
	limit := MaxTagsPerResource - ReservedTagCount - TagHeadroom
	if len(tags)+clusterOnly > limit {
		p.add(f, "has %d tags; with %d more from the cluster selector, %d okra tags and %d kept free for the cluster's other tags, a target group would exceed AWS's %d-tag limit (at most %d template and selector tags together)",
			len(tags), clusterOnly, ReservedTagCount, TagHeadroom, MaxTagsPerResource, limit)
	}
}

// checkTagKey reports a tag key AWS would refuse; it returns whether the
// key is well formed.
func checkTagKey(field, key string, p *problems) bool {
	switch {
	case key == "":
		p.add(field, "tag key must not be empty")
	case len(key) > MaxTagKeyLength:
		p.add(field, "tag key must be at most %d characters, got %d", MaxTagKeyLength, len(key))
	case !tagCharacters.MatchString(key):
		p.add(field, "tag key may contain only letters, digits, spaces and _.:/=+-@, got %q", key)
	default:
		return true
	}
	return false
}

func checkTagValue(field, value string, p *problems) {
	switch {
	case len(value) > MaxTagValueLength:
		p.add(field, "tag value must be at most %d characters, got %d", MaxTagValueLength, len(value))
	case !tagCharacters.MatchString(value):
		p.add(field, "tag value may contain only letters, digits, spaces and _.:/=+-@, got %q", value)
	}
}

func validateScale(s *Spec, p *problems) {
	if r := *s.Replicas; r < 1 || 2*r > weights.MaxTargetGroupsPerAction {
		p.add("spec.replicas", "must be 1..%d: during a rollout two versions share one forward action of at most %d target groups, got %d", MaxReplicas, weights.MaxTargetGroupsPerAction, r)
	}
	if s.Version != "" {
		if err := checkVersion(s.Version); err != nil {
			p.add("spec.version", "%v", err)
		}
	}
	if m := *s.MinHealthyTargets; m < 1 {
		p.add("spec.minHealthyTargets", "must be at least 1 (the health gate needs a healthy target before a version gains weight), got %d", m)
	}
	if s.RollbackWindow.IsTemplate() {
		p.add("spec.rollbackWindow", "is %q; {{args.NAME}} substitutions are only read in analysis template metrics", s.RollbackWindow.Template)
	} else if w := s.RollbackWindow.Duration; w < 0 || w > MaxRollbackWindow {
		p.add("spec.rollbackWindow", "must be between 0s and %s, got %s", MaxRollbackWindow, w)
	}
	if s.UpdateStrategy.Type != UpdateStrategyCanary {
		p.add("spec.updateStrategy.type", "must be %s (the only strategy), got %q", UpdateStrategyCanary, s.UpdateStrategy.Type)
	}
	if c := s.UpdateStrategy.Canary; c != nil && c.OnDrift != "" && c.OnDrift != OnDriftPause && c.OnDrift != OnDriftRollback {
		p.add("spec.updateStrategy.canary.onDrift", "must be %s or %s, got %q", OnDriftPause, OnDriftRollback, c.OnDrift)
	}
}

// checkVersion accepts version text such as v1, 1.2.3 or v2.0.0-rc.1: a
// digit, or 'v' and a digit, then letters, digits and ._+-.
func checkVersion(v string) error {
	if len(v) > maxVersionLength || !versionPattern.MatchString(v) {
		return fmt.Errorf("must be a version such as v1, 1.2.3 or v2.0.0-rc.1 (a digit or 'v' and a digit, then letters, digits and ._+-; at most %d characters), got %q", maxVersionLength, v)
	}
	return nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func sortedStringKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
