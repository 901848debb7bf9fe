package onboarding_test

import (
	"strings"
	"testing"

	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/okrahq/okra/internal/argocd"
	"github.com/okrahq/okra/internal/onboarding"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/testenv/kubeenv"
)

// realOrMemArgo returns an ArgoCD registry for newMotoEnv and a way to
// read back the secrets of a cluster (each as Cell -> target group): the
// argocd package's registry on the shared kube-apiserver when it is built,
// else memArgo (logged).
func realOrMemArgo(t *testing.T) (func(*elbv2.Client) onboarding.ClusterRegistry, func(*testing.T, string) []map[string]string) {
	t.Helper()
	if _, _, err := kubeenv.KubeAssets(); err != nil {
		t.Logf("no kube-apiserver (%v): counting ArgoCD secrets in memory", err)
		argo := &memArgo{secrets: map[string]map[string]string{}}
		return withMemArgo(argo), func(t *testing.T, cluster string) []map[string]string {
			if s, ok := argo.secret(cluster); ok {
				return []map[string]string{s}
			}
			return nil
		}
	}
	kube := kubeenv.Kubernetes(t)
	ns := strings.ToLower(testenv.UniqueName("argocd"))
	if _, err := kube.Namespaces().Create(bg, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
	t.Logf("ArgoCD cluster secrets go to namespace %s of the shared kube-apiserver", ns)
	reg, err := argocd.NewRegistry(kube, argocd.Options{Namespace: ns, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	factory := func(elb *elbv2.Client) onboarding.ClusterRegistry {
		return &appDeployer{inner: onboarding.NewArgoCDRegistry(reg), elb: elb, done: map[string]bool{}}
	}
	read := func(t *testing.T, cluster string) []map[string]string {
		t.Helper()
		list, err := reg.List(bg)
		if err != nil {
			t.Fatalf("listing ArgoCD secrets: %v", err)
		}
		var out []map[string]string
		for i := range list {
			if argocd.ClusterName(&list[i]) != cluster {
				continue
			}
			tgs := map[string]string{}
			for k, v := range list[i].Annotations {
				if c, ok := strings.CutPrefix(k, argocd.AnnotationTargetGroupPrefix); ok {
					tgs[c] = v
				}
			}
			out = append(out, tgs)
		}
		return out
	}
	return factory, read
}
