package argocd_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/okrahq/okra/internal/argocd"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/testenv/kubeenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// newRegistry gives each test its own ArgoCD namespace on the shared
// kube-apiserver.
func newRegistry(t *testing.T) (*argocd.Registry, corev1client.CoreV1Interface, string) {
	t.Helper()
	kube := kubeenv.Kubernetes(t)
	ns := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
	if len(ns) > 50 {
		ns = ns[:50]
	}
	ns = strings.Trim(ns, "-")
	ctx := context.Background()
	if _, err := kube.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
	r, err := argocd.NewRegistry(kube, argocd.Options{Namespace: ns, RoleARN: "arn:aws:iam::123456789012:role/argocd"})
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return r, kube, ns
}

func managedLabels(extra map[string]string) map[string]string {
	out := map[string]string{"argocd.argoproj.io/secret-type": "cluster", "app.kubernetes.io/managed-by": "okra"}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func TestApplyCreatesTheClusterSecret(t *testing.T) {
	r, kube, ns := newRegistry(t)
	ctx := context.Background()
	c := testCluster("web-1-v2", map[string]string{"name": "web-1-v2", "role": "web", "version": "v2", "aws:cloudformation:stack-name": "eks-web"})

	applied, err := r.Apply(ctx, c, map[string]string{"web": tgWeb})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	// Read it back independently of the registry.
	s, err := kube.Secrets(ns).Get(ctx, "okra-cluster-web-1-v2", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the secret: %v", err)
	}
	if s.ResourceVersion != applied.ResourceVersion {
		t.Errorf("Apply returned resourceVersion %s, stored %s", applied.ResourceVersion, s.ResourceVersion)
	}
	wantLabels := managedLabels(map[string]string{"name": "web-1-v2", "role": "web", "version": "v2", "aws_cloudformation_stack-name": "eks-web"})
	if !reflect.DeepEqual(s.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", s.Labels, wantLabels)
	}
	if got := s.Annotations["okra.dev/target-group.web"]; got != tgWeb {
		t.Errorf("target-group annotation = %q, want %q", got, tgWeb)
	}
	if got := s.Annotations["okra.dev/cluster-arn"]; got != c.ARN {
		t.Errorf("cluster-arn annotation = %q, want %q", got, c.ARN)
	}
	if string(s.Data["name"]) != "web-1-v2" || string(s.Data["server"]) != c.Endpoint {
		t.Errorf("data name=%q server=%q", s.Data["name"], s.Data["server"])
	}
	var cfg struct {
		AWSAuthConfig struct {
			ClusterName string `json:"clusterName"`
			RoleARN     string `json:"roleARN"`
		} `json:"awsAuthConfig"`
		TLSClientConfig struct {
			Insecure *bool  `json:"insecure"`
			CAData   string `json:"caData"`
		} `json:"tlsClientConfig"`
	}
	if err := json.Unmarshal(s.Data["config"], &cfg); err != nil {
		t.Fatalf("config is not JSON: %v", err)
	}
	if cfg.AWSAuthConfig.ClusterName != "web-1-v2" || cfg.AWSAuthConfig.RoleARN != "arn:aws:iam::123456789012:role/argocd" ||
		cfg.TLSClientConfig.Insecure == nil || *cfg.TLSClientConfig.Insecure || cfg.TLSClientConfig.CAData != testCA {
		t.Errorf("config = %s", s.Data["config"])
	}
	if s.Type != corev1.SecretTypeOpaque {
		t.Errorf("type = %q, want Opaque", s.Type)
	}
	var byOkra bool
	for _, mf := range s.ManagedFields {
		if mf.Manager == "okra" && mf.Operation == metav1.ManagedFieldsOperationApply {
			byOkra = true
		}
	}
	if !byOkra {
		t.Errorf("managed fields %v: want a server-side apply by the okra field manager", s.ManagedFields)
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	r, kube, ns := newRegistry(t)
	ctx := context.Background()
	c := testCluster("web-1-v2", map[string]string{"role": "web", "Cost Center": "42"})
	tgs := map[string]string{"web": tgWeb, "api": tgAPI}

	first, err := r.Apply(ctx, c, tgs)
	if err != nil {
		t.Fatalf("first Apply: %v", err)
	}
	for i := 0; i < 2; i++ {
		again, err := r.Apply(ctx, c, tgs)
		if err != nil {
			t.Fatalf("Apply again: %v", err)
		}
		if again.ResourceVersion != first.ResourceVersion {
			t.Fatalf("identical Apply changed resourceVersion %s -> %s", first.ResourceVersion, again.ResourceVersion)
		}
	}
	s, err := kube.Secrets(ns).Get(ctx, first.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the secret: %v", err)
	}
	if s.ResourceVersion != first.ResourceVersion {
		t.Fatalf("stored resourceVersion %s, want %s", s.ResourceVersion, first.ResourceVersion)
	}
	// A change does write, so the check above can fail.
	c.Tags["role"] = "api"
	changed, err := r.Apply(ctx, c, tgs)
	if err != nil {
		t.Fatalf("Apply with a changed tag: %v", err)
	}
	if changed.ResourceVersion == first.ResourceVersion {
		t.Fatalf("a changed tag did not change the secret")
	}
}

func TestApplyFollowsTagChanges(t *testing.T) {
	r, _, _ := newRegistry(t)
	ctx := context.Background()
	c := testCluster("web-1-v2", map[string]string{"role": "web", "version": "v1", "team": "a", "desc": strings.Repeat("x", 64)})
	s, err := r.Apply(ctx, c, nil)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if want := managedLabels(map[string]string{"role": "web", "version": "v1", "team": "a"}); !reflect.DeepEqual(s.Labels, want) {
		t.Fatalf("labels = %v, want %v", s.Labels, want)
	}
	if got := s.Annotations[argocd.AnnotationSkippedTags]; got != `["desc"]` {
		t.Fatalf("skipped-tags annotation = %q, want [\"desc\"]", got)
	}

	// Tags removed, added and changed in EKS; the long tag is gone too.
	c.Tags = map[string]string{"role": "web", "version": "v2", "owner": "platform"}
	s, err = r.Apply(ctx, c, nil)
	if err != nil {
		t.Fatalf("Apply after tag changes: %v", err)
	}
	if want := managedLabels(map[string]string{"role": "web", "version": "v2", "owner": "platform"}); !reflect.DeepEqual(s.Labels, want) {
		t.Fatalf("labels after tag changes = %v, want %v", s.Labels, want)
	}
	if _, ok := s.Annotations[argocd.AnnotationSkippedTags]; ok {
		t.Fatalf("skipped-tags annotation %q stayed after the tag was removed", s.Annotations[argocd.AnnotationSkippedTags])
	}

	// A tag cannot take the secret away from ArgoCD or okra.
	c.Tags["argocd.argoproj.io/secret-type"] = "repository"
	c.Tags["app.kubernetes.io/managed-by"] = "terraform"
	s, err = r.Apply(ctx, c, nil)
	if err != nil {
		t.Fatalf("Apply with reserved tags: %v", err)
	}
	if s.Labels["argocd.argoproj.io/secret-type"] != "cluster" || s.Labels["app.kubernetes.io/managed-by"] != "okra" {
		t.Fatalf("reserved tags overrode labels: %v", s.Labels)
	}
	skipped, err := argocd.SkippedTagKeys(s)
	if err != nil || !reflect.DeepEqual(skipped, []string{"app.kubernetes.io/managed-by", "argocd.argoproj.io/secret-type"}) {
		t.Fatalf("skipped tags = %v, %v", skipped, err)
	}
}

func TestApplyFollowsTargetGroups(t *testing.T) {
	r, _, _ := newRegistry(t)
	ctx := context.Background()
	c := testCluster("web-1-v2", map[string]string{"role": "web"})
	tgAnnotations := func(s *corev1.Secret) map[string]string {
		out := map[string]string{}
		for k, v := range s.Annotations {
			if cell, ok := strings.CutPrefix(k, argocd.AnnotationTargetGroupPrefix); ok {
				out[cell] = v
			}
		}
		return out
	}

	s, err := r.Apply(ctx, c, map[string]string{"web": tgWeb})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got, want := tgAnnotations(s), map[string]string{"web": tgWeb}; !reflect.DeepEqual(got, want) {
		t.Fatalf("target groups = %v, want %v", got, want)
	}

	tgWeb2 := strings.Replace(tgWeb, "0123456789abcdef", "aaaaaaaaaaaaaaaa", 1)
	s, err = r.Apply(ctx, c, map[string]string{"web": tgWeb2, "api": tgAPI})
	if err != nil {
		t.Fatalf("Apply with a new Cell: %v", err)
	}
	if got, want := tgAnnotations(s), map[string]string{"web": tgWeb2, "api": tgAPI}; !reflect.DeepEqual(got, want) {
		t.Fatalf("target groups = %v, want %v", got, want)
	}

	s, err = r.Apply(ctx, c, map[string]string{"api": tgAPI})
	if err != nil {
		t.Fatalf("Apply after leaving a Cell: %v", err)
	}
	if got, want := tgAnnotations(s), map[string]string{"api": tgAPI}; !reflect.DeepEqual(got, want) {
		t.Fatalf("target groups = %v, want %v", got, want)
	}
}

// TestApplyKeepsOtherManagersFields: ArgoCD (or a person) may annotate the
// secret; okra's apply leaves what it does not own alone.
func TestApplyKeepsOtherManagersFields(t *testing.T) {
	r, kube, ns := newRegistry(t)
	ctx := context.Background()
	c := testCluster("web-1-v2", map[string]string{"role": "web"})
	s, err := r.Apply(ctx, c, nil)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	patch := []byte(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"hard"},"labels":{"env":"prod"}}}`)
	if _, err := kube.Secrets(ns).Patch(ctx, s.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "argocd-server"}); err != nil {
		t.Fatalf("patching as another manager: %v", err)
	}
	c.Tags["role"] = "api"
	s, err = r.Apply(ctx, c, nil)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if s.Annotations["argocd.argoproj.io/refresh"] != "hard" || s.Labels["env"] != "prod" {
		t.Fatalf("another manager's fields were removed: labels %v annotations %v", s.Labels, s.Annotations)
	}
	if s.Labels["role"] != "api" {
		t.Fatalf("role label = %q, want api", s.Labels["role"])
	}
}

func TestDeleteRemovesTheSecret(t *testing.T) {
	r, kube, ns := newRegistry(t)
	ctx := context.Background()
	if _, err := r.Apply(ctx, testCluster("web-1-v1", nil), nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if _, err := r.Apply(ctx, testCluster("web-1-v2", nil), nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := r.Delete(ctx, "web-1-v1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := kube.Secrets(ns).Get(ctx, "okra-cluster-web-1-v1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("secret after Delete: err = %v, want not found", err)
	}
	if _, err := r.Get(ctx, "web-1-v1"); !apierrors.IsNotFound(err) {
		t.Fatalf("Get after Delete: err = %v, want not found", err)
	}
	if _, err := r.Get(ctx, "web-1-v2"); err != nil {
		t.Fatalf("the other cluster's secret: %v", err)
	}
	// Deleting again, or a cluster never registered, is fine.
	if err := r.Delete(ctx, "web-1-v1"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if err := r.Delete(ctx, "never-registered"); err != nil {
		t.Fatalf("Delete of an unknown cluster: %v", err)
	}
}

func TestListReturnsOnlyOkrasSecrets(t *testing.T) {
	r, kube, ns := newRegistry(t)
	ctx := context.Background()
	for _, name := range []string{"web-1-v2", "web_2_v2"} {
		if _, err := r.Apply(ctx, testCluster(name, nil), nil); err != nil {
			t.Fatalf("Apply %s: %v", name, err)
		}
	}
	// A cluster ArgoCD knows from elsewhere, and an unrelated secret.
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "in-cluster", Labels: map[string]string{"argocd.argoproj.io/secret-type": "cluster"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "other", Labels: map[string]string{"app.kubernetes.io/managed-by": "okra"}}},
	} {
		if _, err := kube.Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating %s: %v", s.Name, err)
		}
	}
	secrets, err := r.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var clusters []string
	for i := range secrets {
		clusters = append(clusters, argocd.ClusterName(&secrets[i]))
	}
	if want := []string{"web-1-v2", "web_2_v2"}; !reflect.DeepEqual(clusters, want) {
		t.Fatalf("List found clusters %v, want %v", clusters, want)
	}
}

func TestSecretsOkraDoesNotManageAreLeftAlone(t *testing.T) {
	r, kube, ns := newRegistry(t)
	ctx := context.Background()
	foreign := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: argocd.SecretName("web-1-v2"), Labels: map[string]string{"argocd.argoproj.io/secret-type": "cluster"}},
		StringData: map[string]string{"name": "hand-made", "server": "https://example.com"},
	}
	created, err := kube.Secrets(ns).Create(ctx, foreign, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the foreign secret: %v", err)
	}

	if _, err := r.Apply(ctx, testCluster("web-1-v2", nil), nil); !errors.Is(err, argocd.ErrNotManaged) {
		t.Fatalf("Apply over a foreign secret: err = %v, want ErrNotManaged", err)
	}
	if err := r.Delete(ctx, "web-1-v2"); !errors.Is(err, argocd.ErrNotManaged) {
		t.Fatalf("Delete of a foreign secret: err = %v, want ErrNotManaged", err)
	}
	if _, err := r.Get(ctx, "web-1-v2"); !errors.Is(err, argocd.ErrNotManaged) {
		t.Fatalf("Get of a foreign secret: err = %v, want ErrNotManaged", err)
	}
	s, err := kube.Secrets(ns).Get(ctx, foreign.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the foreign secret is gone: %v", err)
	}
	if s.ResourceVersion != created.ResourceVersion || string(s.Data["name"]) != "hand-made" {
		t.Fatalf("the foreign secret was changed: %v", s)
	}
}

func TestApplyRefusesInvalidClusterWithoutWriting(t *testing.T) {
	r, kube, ns := newRegistry(t)
	ctx := context.Background()
	c := testCluster("web-1-v2", nil)
	c.Endpoint = ""
	if _, err := r.Apply(ctx, c, nil); err == nil || !strings.Contains(err.Error(), "endpoint") {
		t.Fatalf("Apply without an endpoint: err = %v, want an endpoint error", err)
	}
	list, err := kube.Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing: %v", err)
	}
	if len(list.Items) != 0 {
		t.Fatalf("a refused Apply wrote %d secrets", len(list.Items))
	}
}
