// Package cell owns the Cell specification and the analysis templates it
// uses: their Go types, strict decoding from YAML or JSON (Decode,
// DecodeTemplate), defaults (Default and the Effective* methods), and
// validation that reports every problem with its field path (Validate,
// ValidateTemplate). It must not call AWS, Datadog or DynamoDB, read the
// clock, or know about the rollout state machine: it only says what a user
// asked for and whether the request is well formed.
//
// Field names follow okra's Cell custom resource where one exists, and the
// analysis template types follow Argo Rollouts so that existing
// AnalysisTemplate documents can be reused unchanged.
package cell

// APIVersion and Kind identify an okra Cell document.
const (
	APIVersion = "okra.dev/v1alpha1"
	Kind       = "Cell"
)

// Cell is a set of clusters behind one load-balancer listener (its default
// action) or one listener rule, rolled from version to version together.
type Cell struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
}

// Metadata names a document. Namespace and Annotations are accepted so that
// Kubernetes-style documents (Argo Rollouts analysis templates in
// particular) decode unchanged; okra keeps one namespace of Cells and of
// templates and does not use either.
type Metadata struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Spec is what the user asks of a Cell.
type Spec struct {
	Ingress             Ingress             `json:"ingress"`
	ClusterSelector     ClusterSelector     `json:"clusterSelector"`
	TargetGroupTemplate TargetGroupTemplate `json:"targetGroupTemplate"`
	// Replicas is how many target groups (one per cluster) a version needs
	// before okra rolls to it. Defaults to 1.
	Replicas *int32 `json:"replicas,omitempty"`
	// VersionedBy names the tag that carries the version.
	VersionedBy VersionedBy `json:"versionedBy"`
	// Version pins the Cell to one version. A pin lower than the stable
	// version is a rollback and swaps at once.
	Version string `json:"version,omitempty"`
	// MinHealthyTargets is how many healthy targets each target group of a
	// version must have before that version gains weight. Defaults to 1.
	MinHealthyTargets *int32 `json:"minHealthyTargets,omitempty"`
	// RollbackWindow is how long old target groups stay in the forward
	// action at weight 0 after a rollout reaches 100%. Defaults to 15m.
	RollbackWindow *Duration      `json:"rollbackWindow,omitempty"`
	UpdateStrategy UpdateStrategy `json:"updateStrategy"`
	// AnalysisTemplates embedded in the Cell. Steps may also name shared
	// templates stored on their own.
	AnalysisTemplates []AnalysisTemplate `json:"analysisTemplates,omitempty"`
}

// IngressType is the kind of load balancer in front of a Cell.
type IngressType string

// Supported ingress types.
const (
	IngressALB IngressType = "AWSApplicationLoadBalancer"
	IngressNLB IngressType = "AWSNetworkLoadBalancer"
)

// Ingress says where the Cell's weighted forward action lives.
type Ingress struct {
	Type        IngressType `json:"type"`
	ListenerARN string      `json:"listenerARN"`
	// Rule, when set, puts the forward action in a listener rule instead of
	// the listener's default action (ALB only).
	Rule                *ListenerRule       `json:"rule,omitempty"`
	TargetGroupSelector TargetGroupSelector `json:"targetGroupSelector"`
}

// ListenerRule identifies (by priority) and describes the listener rule that
// carries the Cell's forward action. okra creates the rule when it is
// missing and updates its conditions when they differ.
type ListenerRule struct {
	Priority     int32                  `json:"priority"`
	Hosts        []string               `json:"hosts,omitempty"`
	PathPatterns []string               `json:"pathPatterns,omitempty"`
	Headers      []HeaderCondition      `json:"headers,omitempty"`
	HTTPMethods  []string               `json:"httpMethods,omitempty"`
	SourceIPs    []string               `json:"sourceIPs,omitempty"`
	QueryStrings []QueryStringCondition `json:"queryStrings,omitempty"`
}

// HeaderCondition matches an HTTP header against any of Values.
type HeaderCondition struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

// QueryStringCondition matches a query-string key/value pair; an empty Key
// matches the value alone.
type QueryStringCondition struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value"`
}

// TargetGroupSelector lists the tags a target group must carry to belong to
// the Cell.
type TargetGroupSelector struct {
	MatchLabels map[string]string `json:"matchLabels"`
}

// ClusterSelector lists the tags an EKS cluster must carry to belong to the
// Cell.
type ClusterSelector struct {
	MatchTags map[string]string `json:"matchTags"`
}

// TargetGroupTemplate is what okra creates for each cluster of the Cell. The
// VPC comes from the cluster.
type TargetGroupTemplate struct {
	Port            *int32 `json:"port,omitempty"`
	Protocol        string `json:"protocol,omitempty"`
	ProtocolVersion string `json:"protocolVersion,omitempty"`
	// TargetType is "ip" (default) or "instance".
	TargetType  string       `json:"targetType,omitempty"`
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
	// Tags are added to every target group okra creates for the Cell.
	Tags map[string]string `json:"tags,omitempty"`
	// AttachToNodeGroups registers the cluster's managed node groups' Auto
	// Scaling groups with the target group (instance targets, NodePort).
	AttachToNodeGroups bool `json:"attachToNodeGroups,omitempty"`
}

// HealthCheck mirrors the target-group health-check settings.
type HealthCheck struct {
	Protocol                string `json:"protocol,omitempty"`
	Port                    string `json:"port,omitempty"`
	Path                    string `json:"path,omitempty"`
	Matcher                 string `json:"matcher,omitempty"`
	IntervalSeconds         *int32 `json:"intervalSeconds,omitempty"`
	TimeoutSeconds          *int32 `json:"timeoutSeconds,omitempty"`
	HealthyThresholdCount   *int32 `json:"healthyThresholdCount,omitempty"`
	UnhealthyThresholdCount *int32 `json:"unhealthyThresholdCount,omitempty"`
}

// VersionedBy names the tag key that carries a cluster's or target group's
// version. Defaults to "version".
type VersionedBy struct {
	Label string `json:"label"`
}

// UpdateStrategy says how a Cell moves to a new version.
type UpdateStrategy struct {
	// Type is "Canary" (the default and the only type today).
	Type   string  `json:"type,omitempty"`
	Canary *Canary `json:"canary,omitempty"`
}

// Canary is a list of steps with optional background analysis, as in Argo
// Rollouts. No steps means the new version gets 100% at once.
type Canary struct {
	Steps    []Step              `json:"steps,omitempty"`
	Analysis *BackgroundAnalysis `json:"analysis,omitempty"`
	// OnDrift says what a rollout does when the listener no longer holds
	// the weights okra last set (someone edited them): Pause (the
	// default) waits for `okra rollout promote` (adopt the new weights)
	// or `okra rollout abort`; Rollback restores the snapshot at once.
	OnDrift OnDrift `json:"onDrift,omitempty"`
}

// OnDrift is what a rollout does about weights changed behind its back.
type OnDrift string

// The OnDrift choices.
const (
	OnDriftPause    OnDrift = "Pause"
	OnDriftRollback OnDrift = "Rollback"
)

// Step is exactly one of setWeight, pause or analysis.
type Step struct {
	// SetWeight is the new version's total share of the Cell, 0..100.
	SetWeight *int32 `json:"setWeight,omitempty"`
	// Pause waits for Duration, or until promoted when Duration is unset.
	Pause *Pause `json:"pause,omitempty"`
	// Analysis runs templates and waits for their verdict.
	Analysis *Analysis `json:"analysis,omitempty"`
}

// Pause waits; without a duration it waits until `okra rollout promote`.
type Pause struct {
	Duration *Duration `json:"duration,omitempty"`
}

// Analysis names templates to run and the arguments to give them.
type Analysis struct {
	Templates []TemplateRef `json:"templates"`
	Args      []AnalysisArg `json:"args,omitempty"`
}

// BackgroundAnalysis runs across steps, from StartingStep on.
type BackgroundAnalysis struct {
	Analysis     `json:",inline"`
	StartingStep *int32 `json:"startingStep,omitempty"`
}

// TemplateRef names an analysis template, embedded in the Cell or shared.
type TemplateRef struct {
	TemplateName string `json:"templateName"`
	// ClusterScope is accepted for Argo Rollouts compatibility; okra keeps
	// one namespace of templates, so it only documents intent.
	ClusterScope bool `json:"clusterScope,omitempty"`
}

// AnalysisArg gives a value to a template argument.
type AnalysisArg struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}
