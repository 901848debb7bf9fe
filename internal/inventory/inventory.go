// Package inventory holds what okra observed in AWS: EKS clusters and the
// target groups of a Cell, with their tags, versions and healthy-target
// counts. It is plain data shared by the discovery adapter (which fills it)
// and the rollout planner (which reads it); it makes no AWS calls.
package inventory

// Cluster is an EKS cluster as okra saw it.
type Cluster struct {
	Name string `json:"name" dynamodbav:"name"`
	ARN  string `json:"arn" dynamodbav:"arn"`
	// Status is EKS's: CREATING, ACTIVE, DELETING, FAILED, UPDATING, PENDING.
	Status   string `json:"status" dynamodbav:"status"`
	Endpoint string `json:"endpoint,omitempty" dynamodbav:"endpoint,omitempty"`
	// CertificateAuthority is the base64 PEM of the cluster CA.
	CertificateAuthority string `json:"certificateAuthority,omitempty" dynamodbav:"certificateAuthority,omitempty"`
	VPCID                string `json:"vpcId,omitempty" dynamodbav:"vpcId,omitempty"`
	// SubnetIDs are the cluster's subnets (resourcesVpcConfig.subnetIds),
	// from which okra finds the VPC when EKS does not report it.
	SubnetIDs []string          `json:"subnetIds,omitempty" dynamodbav:"subnetIds,omitempty"`
	Tags      map[string]string `json:"tags,omitempty" dynamodbav:"tags,omitempty"`
}

// Active reports whether the cluster can take workloads.
func (c Cluster) Active() bool { return c.Status == "ACTIVE" }

// TargetGroup is a target group that belongs to a Cell.
type TargetGroup struct {
	ARN  string            `json:"arn" dynamodbav:"arn"`
	Name string            `json:"name" dynamodbav:"name"`
	Tags map[string]string `json:"tags,omitempty" dynamodbav:"tags,omitempty"`
	// Version is the value of the Cell's versionedBy tag.
	Version string `json:"version" dynamodbav:"version"`
	// Cluster is the okra:cluster tag, empty for groups okra did not create.
	Cluster string `json:"cluster,omitempty" dynamodbav:"cluster,omitempty"`
	// HealthyTargets counts targets DescribeTargetHealth reports healthy;
	// 0 until discovery's Health (or HealthForDecision) looked it up.
	HealthyTargets int `json:"healthyTargets" dynamodbav:"healthyTargets"`
	// LoadBalancerARNs are set by targetgroups.Ensure; discovery leaves
	// them empty (the Resource Groups Tagging API does not report them).
	LoadBalancerARNs []string `json:"loadBalancerArns,omitempty" dynamodbav:"loadBalancerArns,omitempty"`
}

// ByVersion groups target groups by version, keeping their order.
func ByVersion(tgs []TargetGroup) map[string][]TargetGroup {
	out := map[string][]TargetGroup{}
	for _, tg := range tgs {
		out[tg.Version] = append(out[tg.Version], tg)
	}
	return out
}
