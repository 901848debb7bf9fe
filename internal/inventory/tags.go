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

// TagOptIn=OptInValue is the tag an operator puts on a listener to let
// okra change it: the deployed roles may modify a listener, and create
// and modify rules on it, only when it carries this tag or is named in the
// stack's listenerArns (docs/deploy.md).
const (
	TagOptIn   = "okra:opt-in"
	OptInValue = "true"
)
