package inventory

// Tags okra puts on the target groups it creates. They record ownership:
// a target group carrying TagManaged=ManagedValue was created by okra for
// the Cell in TagCell and the EKS cluster in TagCluster.
const (
	TagCell      = "okra:cell"
	TagCluster   = "okra:cluster"
	TagManaged   = "okra:managed"
	ManagedValue = "true"
	// TagPrefix starts every tag key okra owns.
	TagPrefix = "okra:"
)
