// Package argocd registers EKS clusters in ArgoCD: one cluster secret per
// cluster in the control-plane cluster's ArgoCD namespace, labelled with the
// cluster's EKS tags and annotated with its target groups per Cell, so an
// ApplicationSet cluster generator deploys the apps onto new clusters and
// templates their TargetGroupBindings. Secrets are written by server-side
// apply with the field manager "okra", so applying the same cluster twice
// changes nothing and tags removed in EKS disappear from the labels.
//
// It also connects okra (in Lambda) to the control-plane cluster with an
// EKS IAM token it signs itself, without an exec plugin (see RESTConfig).
//
// It owns the secrets' format and their lifecycle in Kubernetes; it does not
// decide when a cluster is registered or removed (the discovery and rollout
// packages do), and it never writes a credential into a secret: ArgoCD
// authenticates to each EKS cluster on its own (awsAuthConfig).
package argocd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/okrahq/okra/internal/inventory"
)

// DefaultNamespace is where ArgoCD runs unless told otherwise.
const DefaultNamespace = "argocd"

// FieldManager is okra's server-side apply field manager.
const FieldManager = "okra"

// ErrNotManaged is returned when a secret with okra's name for a cluster
// exists but was not created by okra; okra leaves it alone.
var ErrNotManaged = errors.New("secret is not managed by okra")

// Options configure the registry.
type Options struct {
	// Namespace is ArgoCD's namespace in the control-plane cluster
	// (default "argocd").
	Namespace string
	// RoleARN, when set, is the IAM role ArgoCD assumes to reach the EKS
	// clusters (awsAuthConfig.roleARN); empty means ArgoCD's own identity.
	RoleARN string
	// Logger receives "applying"/"applied" lines; nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Validate reports the first invalid option.
func (o Options) Validate() error {
	if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
		return fmt.Errorf("argocd options: namespace %q: %s", o.Namespace, strings.Join(errs, "; "))
	}
	if o.RoleARN != "" && (!strings.HasPrefix(o.RoleARN, "arn:") || !strings.Contains(o.RoleARN, ":role/")) {
		return fmt.Errorf("argocd options: roleARN %q is not an IAM role ARN", o.RoleARN)
	}
	return nil
}

// Registry writes ArgoCD cluster secrets into the control-plane cluster.
type Registry struct {
	kube corev1client.SecretsGetter
	opts Options
}

// NewRegistry builds a registry over a client of the control-plane cluster.
func NewRegistry(kube corev1client.SecretsGetter, o Options) (*Registry, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if kube == nil {
		return nil, errors.New("argocd: a Kubernetes client is required")
	}
	return &Registry{kube: kube, opts: o}, nil
}

// Namespace is where the registry writes.
func (r *Registry) Namespace() string { return r.opts.Namespace }

// Render is the package's Render with the registry's options.
func (r *Registry) Render(c inventory.Cluster, targetGroups map[string]string) (*corev1.Secret, error) {
	return Render(c, targetGroups, r.opts)
}

// managedSelector selects the cluster secrets okra owns.
func managedSelector() string {
	return labels.SelectorFromSet(labels.Set{LabelSecretType: SecretTypeCluster, LabelManagedBy: ManagedBy}).String()
}

func isManaged(s *corev1.Secret) bool {
	return s.Labels[LabelManagedBy] == ManagedBy && s.Labels[LabelSecretType] == SecretTypeCluster
}

// Apply creates or updates the cluster's secret by server-side apply, so
// labels and annotations okra set before and no longer wants (a removed
// tag, a Cell the cluster left) are removed, fields other managers own are
// kept, and an identical second Apply writes nothing. It refuses to take
// over a secret of the same name that okra did not create (ErrNotManaged).
// It returns the secret as stored.
func (r *Registry) Apply(ctx context.Context, c inventory.Cluster, targetGroups map[string]string) (*corev1.Secret, error) {
	desired, skipped, err := render(c, targetGroups, r.opts)
	if err != nil {
		return nil, err
	}
	secrets := r.kube.Secrets(r.opts.Namespace)
	existing, err := secrets.Get(ctx, desired.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("reading ArgoCD cluster secret %s/%s, %w", r.opts.Namespace, desired.Name, err)
	case !isManaged(existing):
		return nil, fmt.Errorf("applying ArgoCD cluster secret %s/%s for cluster %q: %w", r.opts.Namespace, desired.Name, c.Name, ErrNotManaged)
	}

	log := r.opts.Logger.With("cluster", c.Name, "namespace", r.opts.Namespace, "secret", desired.Name)
	if len(skipped) > 0 {
		reasons := make([]string, len(skipped))
		for i, s := range skipped {
			reasons[i] = s.String()
		}
		log.WarnContext(ctx, "EKS tags skipped: they cannot be Kubernetes labels", "skipped", reasons)
	}
	log.InfoContext(ctx, "applying ArgoCD cluster secret", "targetGroups", len(targetGroups))
	out, err := secrets.Apply(ctx, applyConfiguration(desired), metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	if err != nil {
		return nil, fmt.Errorf("applying ArgoCD cluster secret %s/%s for cluster %q, %w", r.opts.Namespace, desired.Name, c.Name, err)
	}
	log.InfoContext(ctx, "applied ArgoCD cluster secret", "resourceVersion", out.ResourceVersion)
	return out, nil
}

// applyConfiguration turns a rendered secret into the apply request: only
// the fields okra owns.
func applyConfiguration(s *corev1.Secret) *applycorev1.SecretApplyConfiguration {
	return applycorev1.Secret(s.Name, s.Namespace).
		WithLabels(s.Labels).
		WithAnnotations(s.Annotations).
		WithType(s.Type).
		WithData(s.Data)
}

// Get returns the cluster's secret. A missing secret is an error for which
// apierrors.IsNotFound is true; a secret okra does not manage is
// ErrNotManaged.
func (r *Registry) Get(ctx context.Context, clusterName string) (*corev1.Secret, error) {
	name := SecretName(clusterName)
	s, err := r.kube.Secrets(r.opts.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading ArgoCD cluster secret %s/%s for cluster %q, %w", r.opts.Namespace, name, clusterName, err)
	}
	if !isManaged(s) {
		return nil, fmt.Errorf("reading ArgoCD cluster secret %s/%s for cluster %q: %w", r.opts.Namespace, name, clusterName, ErrNotManaged)
	}
	return s, nil
}

// List returns every cluster secret okra manages in the namespace.
func (r *Registry) List(ctx context.Context) ([]corev1.Secret, error) {
	var out []corev1.Secret
	opts := metav1.ListOptions{LabelSelector: managedSelector(), Limit: 500}
	for {
		page, err := r.kube.Secrets(r.opts.Namespace).List(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("listing ArgoCD cluster secrets in %s, %w", r.opts.Namespace, err)
		}
		out = append(out, page.Items...)
		if page.Continue == "" {
			return out, nil
		}
		opts.Continue = page.Continue
	}
}

// ClusterName is the EKS cluster a secret okra manages registers.
func ClusterName(s *corev1.Secret) string {
	if n := s.Annotations[AnnotationClusterName]; n != "" {
		return n
	}
	return string(s.Data[DataName])
}

// Delete removes the cluster's secret. A secret that is already gone is
// not an error; one okra does not manage is left alone (ErrNotManaged).
// The delete is conditional on the secret read, so a secret replaced in
// between is not removed.
func (r *Registry) Delete(ctx context.Context, clusterName string) error {
	name := SecretName(clusterName)
	secrets := r.kube.Secrets(r.opts.Namespace)
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading ArgoCD cluster secret %s/%s for cluster %q, %w", r.opts.Namespace, name, clusterName, err)
	}
	if !isManaged(s) {
		return fmt.Errorf("deleting ArgoCD cluster secret %s/%s for cluster %q: %w", r.opts.Namespace, name, clusterName, ErrNotManaged)
	}
	log := r.opts.Logger.With("cluster", clusterName, "namespace", r.opts.Namespace, "secret", name)
	log.InfoContext(ctx, "deleting ArgoCD cluster secret")
	uid := s.UID
	err = secrets.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting ArgoCD cluster secret %s/%s for cluster %q, %w", r.opts.Namespace, name, clusterName, err)
	}
	log.InfoContext(ctx, "deleted ArgoCD cluster secret")
	return nil
}
