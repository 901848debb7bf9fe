// Package options owns the settings okra's functions read from their
// environment: parsed once at cold start into a typed struct, checked by
// Validate for what each function needs. It reads no other source and
// builds no clients.
package options

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Environment variable names, as the CDK stack sets them.
const (
	EnvRegion               = "AWS_REGION"
	EnvEndpoint             = "OKRA_AWS_ENDPOINT"
	EnvTableName            = "OKRA_TABLE_NAME"
	EnvStateMachineARN      = "OKRA_STATE_MACHINE_ARN"
	EnvArgoCDNamespace      = "OKRA_ARGOCD_NAMESPACE"
	EnvControlPlaneCluster  = "OKRA_CONTROL_PLANE_CLUSTER"
	EnvClusterRoleARN       = "OKRA_CLUSTER_ROLE_ARN"
	EnvDatadogSecretARN     = "OKRA_DATADOG_SECRET_ARN"
	EnvDatadogSite          = "OKRA_DATADOG_SITE"
	EnvNotificationTopicARN = "OKRA_NOTIFICATION_TOPIC_ARN"
	EnvClusterActiveTimeout = "OKRA_CLUSTER_ACTIVE_TIMEOUT"
	// EnvListenerOptIn is "required" when the deployed roles may change
	// only listeners that carry okra's opt-in tag (inventory.TagOptIn) or
	// are named in EnvListenerARNs; the ingress check then requires it.
	EnvListenerOptIn = "OKRA_LISTENER_OPT_IN"
	// EnvListenerARNs lists, comma-separated, the listeners the stack's
	// listenerArns context names: they need no opt-in tag.
	EnvListenerARNs = "OKRA_LISTENER_ARNS"
)

// ListenerOptInRequired is EnvListenerOptIn's value that requires the tag.
const ListenerOptInRequired = "required"

// Options are every function's settings; each function validates the
// fields it uses.
type Options struct {
	Region string
	// Endpoint sends every AWS call to a local emulator (tests, demo).
	Endpoint string
	// TableName is okra's DynamoDB table.
	TableName string
	// StateMachineARN is the rollout state machine.
	StateMachineARN string
	// ArgoCDNamespace holds ArgoCD's cluster secrets (default "argocd").
	ArgoCDNamespace string
	// ControlPlaneCluster is the EKS cluster running ArgoCD.
	ControlPlaneCluster string
	// ClusterRoleARN is the role ArgoCD assumes to reach member clusters
	// (written into each cluster secret's awsAuthConfig).
	ClusterRoleARN string
	// DatadogSecretARN holds {"apiKey": ..., "appKey": ...}.
	DatadogSecretARN string
	// DatadogSite, e.g. datadoghq.com (default) or datadoghq.eu.
	DatadogSite string
	// NotificationTopicARN receives rollout notifications.
	NotificationTopicARN string
	// ClusterActiveTimeout bounds the wait for a new cluster to turn
	// ACTIVE (default 10m).
	ClusterActiveTimeout time.Duration
	// ListenerOptIn: the ingress check requires a Cell's listener to carry
	// okra's opt-in tag unless it is one of ListenerARNs.
	ListenerOptIn bool
	ListenerARNs  []string
}

// Field names an option a function requires.
type Field string

// Fields a function can require.
const (
	FieldTableName           Field = EnvTableName
	FieldStateMachineARN     Field = EnvStateMachineARN
	FieldControlPlaneCluster Field = EnvControlPlaneCluster
	FieldDatadogSecretARN    Field = EnvDatadogSecretARN
)

// FromEnv reads the options with getenv (os.Getenv in functions).
func FromEnv(getenv func(string) string) (Options, error) {
	o := Options{
		Region:               getenv(EnvRegion),
		Endpoint:             getenv(EnvEndpoint),
		TableName:            getenv(EnvTableName),
		StateMachineARN:      getenv(EnvStateMachineARN),
		ArgoCDNamespace:      valueOr(getenv(EnvArgoCDNamespace), "argocd"),
		ControlPlaneCluster:  getenv(EnvControlPlaneCluster),
		ClusterRoleARN:       getenv(EnvClusterRoleARN),
		DatadogSecretARN:     getenv(EnvDatadogSecretARN),
		DatadogSite:          valueOr(getenv(EnvDatadogSite), "datadoghq.com"),
		NotificationTopicARN: getenv(EnvNotificationTopicARN),
		ClusterActiveTimeout: 10 * time.Minute,
	}
	switch v := getenv(EnvListenerOptIn); v {
	case "":
	case ListenerOptInRequired:
		o.ListenerOptIn = true
	default:
		return Options{}, fmt.Errorf("%s: want %q or nothing, got %q", EnvListenerOptIn, ListenerOptInRequired, v)
	}
	for _, arn := range strings.Split(getenv(EnvListenerARNs), ",") {
		if arn = strings.TrimSpace(arn); arn != "" {
			o.ListenerARNs = append(o.ListenerARNs, arn)
		}
	}
	if v := getenv(EnvClusterActiveTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Options{}, fmt.Errorf("%s: want a positive duration like 10m, got %q", EnvClusterActiveTimeout, v)
		}
		o.ClusterActiveTimeout = d
	}
	return o, nil
}

// Validate reports every required field that is empty, and malformed ARNs.
func (o Options) Validate(required ...Field) error {
	var problems []string
	values := map[Field]string{
		FieldTableName:           o.TableName,
		FieldStateMachineARN:     o.StateMachineARN,
		FieldControlPlaneCluster: o.ControlPlaneCluster,
		FieldDatadogSecretARN:    o.DatadogSecretARN,
	}
	for _, f := range required {
		if values[f] == "" {
			problems = append(problems, fmt.Sprintf("%s: required", f))
		}
	}
	for env, arn := range map[string]string{
		EnvStateMachineARN:      o.StateMachineARN,
		EnvClusterRoleARN:       o.ClusterRoleARN,
		EnvNotificationTopicARN: o.NotificationTopicARN,
	} {
		if arn != "" && !strings.HasPrefix(arn, "arn:") {
			problems = append(problems, fmt.Sprintf("%s: want an ARN, got %q", env, arn))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return errors.New("invalid function settings: " + strings.Join(problems, "; "))
}

func valueOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
