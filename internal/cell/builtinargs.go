package cell

// Arguments okra supplies to every analysis at run time, so templates can
// name the Cell's load balancer and target groups (for example as
// CloudWatch dimensions) without the user repeating them. A template that
// declares one of these without a value gets okra's value.
const (
	// ArgCell is the Cell's name.
	ArgCell = "cell"
	// ArgStableVersion and ArgCanaryVersion are the versions being compared.
	ArgStableVersion = "stable-version"
	ArgCanaryVersion = "canary-version"
	// ArgLoadBalancer is the load balancer's CloudWatch dimension value
	// (the ARN suffix "app/name/id" or "net/name/id").
	ArgLoadBalancer = "load-balancer"
	// ArgCanaryTargetGroup and ArgStableTargetGroup are the first target
	// group of each side as a CloudWatch dimension value
	// ("targetgroup/name/id").
	ArgCanaryTargetGroup = "canary-target-group"
	ArgStableTargetGroup = "stable-target-group"
	// ArgCanaryTargetGroups and ArgStableTargetGroups list every target
	// group of each side, comma separated, as dimension values.
	ArgCanaryTargetGroups = "canary-target-groups"
	ArgStableTargetGroups = "stable-target-groups"
)

// BuiltinArgs lists the argument names okra supplies.
var BuiltinArgs = []string{
	ArgCell, ArgStableVersion, ArgCanaryVersion, ArgLoadBalancer,
	ArgCanaryTargetGroup, ArgStableTargetGroup, ArgCanaryTargetGroups, ArgStableTargetGroups,
}

// IsBuiltinArg reports whether okra supplies name at run time.
func IsBuiltinArg(name string) bool {
	for _, a := range BuiltinArgs {
		if a == name {
			return true
		}
	}
	return false
}
