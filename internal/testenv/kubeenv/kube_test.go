package kubeenv_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"

	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/testenv/kubeenv"
)

// TestSharedKube proves the control plane is a real kube-apiserver backed
// by etcd: it reports a version, stores a secret and reads it back.
func TestSharedKube(t *testing.T) {
	kube := kubeenv.Kubernetes(t)
	ctx := context.Background()

	dc, err := discovery.NewDiscoveryClientForConfig(kubeenv.SharedKube(t))
	if err != nil {
		t.Fatalf("discovery client: %v", err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	if !strings.HasPrefix(v.GitVersion, "v1.") {
		t.Fatalf("server version = %q, want a v1.x kube-apiserver", v.GitVersion)
	}

	want := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "smoke", Namespace: "default"},
		StringData: map[string]string{"k": "v"},
	}
	if _, err := kube.Secrets("default").Create(ctx, want, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating a secret: %v", err)
	}
	got, err := kube.Secrets("default").Get(ctx, "smoke", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading the secret back: %v", err)
	}
	if string(got.Data["k"]) != "v" || got.ResourceVersion == "" {
		t.Fatalf("secret read back = data %q, resourceVersion %q; want data k=v and a resourceVersion", got.Data, got.ResourceVersion)
	}

	// The same control plane serves every caller in the binary.
	if a, b := kubeenv.SharedKube(t).Host, kubeenv.SharedKube(t).Host; a != b {
		t.Fatalf("SharedKube hosts differ: %s and %s", a, b)
	}
}

func TestKubeAssetsExplainsHowToBuild(t *testing.T) {
	t.Setenv(kubeenv.KubeAssetsEnv, t.TempDir())
	_, _, err := kubeenv.KubeAssets()
	if err == nil {
		t.Fatal("KubeAssets with an empty KUBEBUILDER_ASSETS directory: want an error")
	}
	if !strings.Contains(err.Error(), "tools/kube-apiserver/build.sh") {
		t.Fatalf("error %q does not say how to build kube-apiserver", err)
	}
}

func TestMain(m *testing.M) { testenv.Main(m) }
