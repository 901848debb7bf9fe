package onboarding

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/sts"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/okrahq/okra/internal/argocd"
	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/lambdamain"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/safetynet"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/targetgroups"
)

// RequiredOptions are the settings the three functions need.
var RequiredOptions = []options.Field{options.FieldTableName, options.FieldStateMachineARN}

// NewFromAWS builds an Onboarder over real clients (DepsFromAWS), once per
// cold start.
func NewFromAWS(ctx context.Context, opts options.Options, cfg awsapi.Config, log *slog.Logger) (*Onboarder, error) {
	deps, err := DepsFromAWS(ctx, opts, cfg, log)
	if err != nil {
		return nil, err
	}
	return New(deps)
}

// DepsFromAWS builds the handlers' dependencies over real clients:
// one client per service from cfg, the store over opts.TableName,
// executions of opts.StateMachineARN, and the ArgoCD registry in
// opts.ControlPlaneCluster's opts.ArgoCDNamespace, reached with an EKS
// token okra signs itself. With no control-plane cluster configured, okra
// runs without ArgoCD (clusters are recorded in the store's registry only)
// and says so once here.
func DepsFromAWS(ctx context.Context, opts options.Options, cfg awsapi.Config, log *slog.Logger) (Deps, error) {
	if err := opts.Validate(RequiredOptions...); err != nil {
		return Deps{}, err
	}
	if log == nil {
		log = slog.Default()
	}
	elb, eksClient := cfg.ELBv2(), cfg.EKS()
	tagging := cfg.Tagging()
	tgs, err := targetgroups.New(targetgroups.Deps{ELBv2: elb, Tagging: tagging, EKS: eksClient, AutoScaling: cfg.AutoScaling(), Logger: log})
	if err != nil {
		return Deps{}, err
	}
	st := store.New(cfg.DynamoDB(), opts.TableName, store.Options{Logger: log})
	owners, err := safetynet.NewOwnersFromConfig(cfg, opts, log)
	if err != nil {
		return Deps{}, fmt.Errorf("building the lease-owner check, %w", err)
	}
	deps := Deps{
		Clusters:      discovery.NewClusters(eksClient, discovery.Options{Logger: log}),
		TargetGroups:  tgs,
		Discovery:     NewTargetGroupFinder(elb, tagging, discovery.Options{Logger: log}),
		Listener:      listener.New(elb, listener.Options{Logger: log, OptIn: listener.OptIn{Required: opts.ListenerOptIn, Listeners: opts.ListenerARNs}}),
		Cells:         st,
		Status:        st,
		Registry:      st,
		Rollouts:      executions.New(cfg.SFN(), opts.StateMachineARN, log),
		VPCs:          SubnetVPCs{EKS: eksClient, EC2: cfg.EC2()},
		Owners:        owners,
		ActiveTimeout: opts.ClusterActiveTimeout,
		Logger:        log,
	}
	if opts.ControlPlaneCluster == "" {
		log.InfoContext(ctx, "no control-plane cluster configured ("+options.EnvControlPlaneCluster+" is empty): running without ArgoCD; clusters are recorded in the store only")
	} else {
		rc, err := argocd.RESTConfig(ctx, eksClient, sts.NewPresignClient(cfg.STS()), opts.ControlPlaneCluster)
		if err != nil {
			return Deps{}, fmt.Errorf("reaching the control-plane cluster %s, %w", opts.ControlPlaneCluster, err)
		}
		kube, err := corev1client.NewForConfig(rc)
		if err != nil {
			return Deps{}, fmt.Errorf("building a Kubernetes client for %s, %w", opts.ControlPlaneCluster, err)
		}
		reg, err := argocd.NewRegistry(kube, argocd.Options{Namespace: opts.ArgoCDNamespace, RoleARN: opts.ClusterRoleARN, Logger: log})
		if err != nil {
			return Deps{}, err
		}
		deps.ArgoCD = NewArgoCDRegistry(reg)
		log.InfoContext(ctx, "registering clusters in ArgoCD", "controlPlaneCluster", opts.ControlPlaneCluster, "namespace", reg.Namespace())
	}
	return deps, nil
}

// NewFromEnv builds the onboarding handlers for a function's environment,
// checking the options they require.
func NewFromEnv(ctx context.Context, env lambdamain.Env) (*Onboarder, error) {
	if err := env.Options.Validate(RequiredOptions...); err != nil {
		return nil, err
	}
	return NewFromAWS(ctx, env.Options, env.AWS, env.Logger)
}
