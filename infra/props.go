package main

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// OkraStackProps configure okra's stack. The zero value of every optional
// field means its documented default (docs/deploy.md lists them with their
// context keys).
type OkraStackProps struct {
	awscdk.StackProps

	// Code supplies each function's deployment package (required).
	// BootstrapCode is what `cdk deploy` uses; tests use PlaceholderCode.
	Code CodeSource
	// RepoRoot is the repository root, where statemachines/ lives
	// (default "..", the root seen from infra/).
	RepoRoot string

	// ControlPlaneClusterName is the EKS cluster that runs ArgoCD; empty
	// runs okra without ArgoCD (clusters are recorded in its table only),
	// with a synthesis warning.
	ControlPlaneClusterName string
	// ArgoCDNamespace holds ArgoCD's cluster secrets (default "argocd").
	ArgoCDNamespace string
	// ClusterRoleArn is the IAM role ArgoCD assumes to reach member
	// clusters, written into each cluster secret's awsAuthConfig; empty
	// means ArgoCD's own identity.
	ClusterRoleArn string
	// DatadogSite is the Datadog site (default "datadoghq.com").
	DatadogSite string
	// DatadogSecretArn reuses an existing secret holding
	// {"apiKey": ..., "appKey": ...} (its complete ARN); empty creates one
	// with empty keys for you to fill in.
	DatadogSecretArn string
	// ReconcileSchedule is the reconcile rule's schedule expression
	// (default "rate(5 minutes)").
	ReconcileSchedule string
	// ReconcileReservedConcurrency caps the reconcile function; 0 leaves it
	// unreserved. The app's default (context) is 1.
	ReconcileReservedConcurrency int
	// ListenerArns, when set, limits okra's listener changes (ModifyListener,
	// CreateRule, ModifyRule) to these listeners and their rules; empty
	// allows every ALB/NLB listener in the stack's account and region.
	ListenerArns []string
	// ClusterActiveTimeout bounds cluster-events' wait for a created
	// cluster to turn ACTIVE (default 10m, at most 13m: the function's
	// timeout is two minutes longer and Lambda stops at 15m).
	ClusterActiveTimeout time.Duration
	// LogRetentionDays is the retention of every log group (default 30;
	// one of CloudWatch Logs' allowed values).
	LogRetentionDays int
	// TableName is the DynamoDB table's name (default "okra", the name the
	// okra CLI looks for).
	TableName string
	// RolloutTimeout ends a rollout execution that runs longer (default
	// 7 days); the safety net then restores the stable weights.
	RolloutTimeout time.Duration
	// NotificationEmail, when set, subscribes an address to the
	// notification topic (rollout ends and alarms).
	NotificationEmail string
	// CustomerManagedKey creates one customer-managed KMS key (rotated)
	// that encrypts the table, every log group, the Datadog secret okra
	// creates and the functions' environment; false (the default) leaves
	// them under AWS-managed keys.
	CustomerManagedKey bool
}

// Defaults.
const (
	defaultArgoCDNamespace      = "argocd"
	defaultDatadogSite          = "datadoghq.com"
	defaultReconcileSchedule    = "rate(5 minutes)"
	defaultReconcileConcurrency = 1
	defaultClusterActiveTimeout = 10 * time.Minute
	maxClusterActiveTimeout     = 13 * time.Minute
	defaultLogRetentionDays     = 30
	defaultTableName            = "okra"
	defaultRolloutTimeout       = 7 * 24 * time.Hour
	defaultRepoRoot             = ".."
)

// Context keys: `cdk deploy -c KEY=VALUE`, or "context" in cdk.json.
const (
	ctxControlPlaneClusterName      = "controlPlaneClusterName"
	ctxArgoCDNamespace              = "argocdNamespace"
	ctxClusterRoleArn               = "clusterRoleArn"
	ctxDatadogSite                  = "datadogSite"
	ctxDatadogSecretArn             = "datadogSecretArn"
	ctxReconcileSchedule            = "reconcileSchedule"
	ctxReconcileReservedConcurrency = "reconcileReservedConcurrency"
	ctxListenerArns                 = "listenerArns"
	ctxClusterActiveTimeout         = "clusterActiveTimeout"
	ctxLogRetentionDays             = "logRetentionDays"
	ctxTableName                    = "tableName"
	ctxRolloutTimeout               = "rolloutTimeout"
	ctxNotificationEmail            = "notificationEmail"
	ctxCustomerManagedKey           = "customerManagedKey"
	ctxFunctionsDir                 = "functionsDir"
	ctxPlaceholderCode              = "placeholderCode"
)

// contextKeys lists every context key the app reads, for its check that no
// unknown (misspelt) okra key was passed.
var contextKeys = []string{
	ctxControlPlaneClusterName, ctxArgoCDNamespace, ctxClusterRoleArn, ctxDatadogSite,
	ctxDatadogSecretArn, ctxReconcileSchedule, ctxReconcileReservedConcurrency, ctxListenerArns,
	ctxClusterActiveTimeout, ctxLogRetentionDays, ctxTableName, ctxRolloutTimeout,
	ctxNotificationEmail, ctxCustomerManagedKey, ctxFunctionsDir, ctxPlaceholderCode,
}

// PropsFromContext builds the props from context values (get returns ""
// for an absent key); Code and RepoRoot are left to the caller.
func PropsFromContext(get func(key string) string) (OkraStackProps, error) {
	p := OkraStackProps{
		ControlPlaneClusterName:      get(ctxControlPlaneClusterName),
		ArgoCDNamespace:              get(ctxArgoCDNamespace),
		ClusterRoleArn:               get(ctxClusterRoleArn),
		DatadogSite:                  get(ctxDatadogSite),
		DatadogSecretArn:             get(ctxDatadogSecretArn),
		ReconcileSchedule:            get(ctxReconcileSchedule),
		ReconcileReservedConcurrency: defaultReconcileConcurrency,
		TableName:                    get(ctxTableName),
		NotificationEmail:            get(ctxNotificationEmail),
	}
	var problems []string
	if v := get(ctxReconcileReservedConcurrency); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: want a whole number (0 = unreserved), got %q", ctxReconcileReservedConcurrency, v))
		}
		p.ReconcileReservedConcurrency = n
	}
	if v := get(ctxListenerArns); v != "" {
		for _, arn := range strings.Split(v, ",") {
			if arn = strings.TrimSpace(arn); arn != "" {
				p.ListenerArns = append(p.ListenerArns, arn)
			}
		}
	}
	for key, dst := range map[string]*time.Duration{ctxClusterActiveTimeout: &p.ClusterActiveTimeout, ctxRolloutTimeout: &p.RolloutTimeout} {
		if v := get(key); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: want a duration like 10m or 168h, got %q", key, v))
			}
			*dst = d
		}
	}
	switch v := get(ctxCustomerManagedKey); v {
	case "", "false":
	case "true":
		p.CustomerManagedKey = true
	default:
		problems = append(problems, fmt.Sprintf("%s: want true or false, got %q", ctxCustomerManagedKey, v))
	}
	if v := get(ctxLogRetentionDays); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: want a number of days, got %q", ctxLogRetentionDays, v))
		}
		p.LogRetentionDays = n
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return p, errors.New(strings.Join(problems, "; "))
	}
	return p, nil
}

// withDefaults returns a copy of p with every unset optional field set.
func (p OkraStackProps) withDefaults() OkraStackProps {
	set := func(s *string, def string) {
		if *s == "" {
			*s = def
		}
	}
	set(&p.ArgoCDNamespace, defaultArgoCDNamespace)
	set(&p.DatadogSite, defaultDatadogSite)
	set(&p.ReconcileSchedule, defaultReconcileSchedule)
	set(&p.TableName, defaultTableName)
	set(&p.RepoRoot, defaultRepoRoot)
	if p.ClusterActiveTimeout == 0 {
		p.ClusterActiveTimeout = defaultClusterActiveTimeout
	}
	if p.LogRetentionDays == 0 {
		p.LogRetentionDays = defaultLogRetentionDays
	}
	if p.RolloutTimeout == 0 {
		p.RolloutTimeout = defaultRolloutTimeout
	}
	return p
}

// retentionDays are the values CloudWatch Logs accepts.
var retentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

var (
	listenerARN   = regexp.MustCompile(`^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:listener/(app|net)/[^/]+/[0-9a-f]+/[0-9a-f]+$`)
	secretARN     = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$`)
	iamRoleARN    = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/.+$`)
	eksName       = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$`)
	k8sNamespace  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	tableNameRule = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
	scheduleRule  = regexp.MustCompile(`^(rate|cron)\(.+\)$`)
)

// Validate reports every problem with p (after defaults), naming the
// context key of each field.
func (p OkraStackProps) Validate() error {
	p = p.withDefaults()
	var problems []string
	bad := func(key, format string, args ...any) {
		problems = append(problems, key+": "+fmt.Sprintf(format, args...))
	}
	if p.Code == nil {
		problems = append(problems, "Code: required (BootstrapCode or PlaceholderCode)")
	}
	if p.ControlPlaneClusterName != "" && !eksName.MatchString(p.ControlPlaneClusterName) {
		bad(ctxControlPlaneClusterName, "%q is not an EKS cluster name", p.ControlPlaneClusterName)
	}
	if !k8sNamespace.MatchString(p.ArgoCDNamespace) {
		bad(ctxArgoCDNamespace, "%q is not a Kubernetes namespace name", p.ArgoCDNamespace)
	}
	if p.ClusterRoleArn != "" && !iamRoleARN.MatchString(p.ClusterRoleArn) {
		bad(ctxClusterRoleArn, "want an IAM role ARN, got %q", p.ClusterRoleArn)
	}
	if p.DatadogSecretArn != "" && !secretARN.MatchString(p.DatadogSecretArn) {
		bad(ctxDatadogSecretArn, "want the secret's complete ARN (ending in -XXXXXX), got %q", p.DatadogSecretArn)
	}
	if strings.ContainsAny(p.DatadogSite, "/: ") {
		bad(ctxDatadogSite, "want a host name such as datadoghq.eu, got %q", p.DatadogSite)
	}
	if !scheduleRule.MatchString(p.ReconcileSchedule) {
		bad(ctxReconcileSchedule, "want rate(...) or cron(...), got %q", p.ReconcileSchedule)
	}
	if p.ReconcileReservedConcurrency < 0 {
		bad(ctxReconcileReservedConcurrency, "want 0 (unreserved) or more, got %d", p.ReconcileReservedConcurrency)
	}
	for _, arn := range p.ListenerArns {
		if !listenerARN.MatchString(arn) {
			bad(ctxListenerArns, "want ALB/NLB listener ARNs, got %q", arn)
		}
	}
	if p.ClusterActiveTimeout < time.Minute || p.ClusterActiveTimeout > maxClusterActiveTimeout {
		bad(ctxClusterActiveTimeout, "want 1m to %s (the function's timeout is 2m longer, Lambda's limit is 15m), got %s", maxClusterActiveTimeout, p.ClusterActiveTimeout)
	}
	if !containsInt(retentionDays, p.LogRetentionDays) {
		bad(ctxLogRetentionDays, "want one of %v, got %d", retentionDays, p.LogRetentionDays)
	}
	if !tableNameRule.MatchString(p.TableName) {
		bad(ctxTableName, "%q is not a DynamoDB table name", p.TableName)
	}
	if p.RolloutTimeout < time.Hour || p.RolloutTimeout > 365*24*time.Hour {
		bad(ctxRolloutTimeout, "want 1h to 8760h, got %s", p.RolloutTimeout)
	}
	if p.NotificationEmail != "" && !strings.Contains(p.NotificationEmail, "@") {
		bad(ctxNotificationEmail, "want an e-mail address, got %q", p.NotificationEmail)
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return errors.New("invalid okra stack settings: " + strings.Join(problems, "; "))
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
