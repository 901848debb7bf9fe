package argocd_test

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/okrahq/okra/internal/argocd"
	"github.com/okrahq/okra/internal/inventory"
)

var testCA = base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))

const (
	tgWeb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/okra-web-1-v2/0123456789abcdef"
	tgAPI = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/okra-api-1-v2/fedcba9876543210"
)

func testCluster(name string, tags map[string]string) inventory.Cluster {
	return inventory.Cluster{
		Name:                 name,
		ARN:                  "arn:aws:eks:us-east-1:123456789012:cluster/" + name,
		Status:               "ACTIVE",
		Endpoint:             "https://" + strings.ToUpper(name) + ".gr7.us-east-1.eks.amazonaws.com",
		CertificateAuthority: testCA,
		Tags:                 tags,
	}
}

func TestRender(t *testing.T) {
	c := testCluster("web-1-v2", map[string]string{"name": "web-1-v2", "role": "web", "version": "v2", "Cost Center": "42", "desc": strings.Repeat("x", 70)})
	s, err := argocd.Render(c, map[string]string{"web": tgWeb, "api": tgAPI}, argocd.Options{RoleARN: "arn:aws:iam::123456789012:role/argocd"})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if s.Name != "okra-cluster-web-1-v2" || s.Namespace != "argocd" {
		t.Errorf("secret = %s/%s, want argocd/okra-cluster-web-1-v2", s.Namespace, s.Name)
	}
	if s.Kind != "Secret" || s.APIVersion != "v1" || s.Type != corev1.SecretTypeOpaque {
		t.Errorf("kind %q apiVersion %q type %q, want an Opaque v1 Secret", s.Kind, s.APIVersion, s.Type)
	}
	wantLabels := map[string]string{
		"argocd.argoproj.io/secret-type": "cluster",
		"app.kubernetes.io/managed-by":   "okra",
		"name":                           "web-1-v2",
		"role":                           "web",
		"version":                        "v2",
		"Cost_Center":                    "42",
	}
	if !reflect.DeepEqual(s.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", s.Labels, wantLabels)
	}
	wantAnnotations := map[string]string{
		"okra.dev/cluster-name":      "web-1-v2",
		"okra.dev/cluster-arn":       c.ARN,
		"okra.dev/target-group.web":  tgWeb,
		"okra.dev/target-group.api":  tgAPI,
		argocd.AnnotationSkippedTags: `["desc"]`,
	}
	if !reflect.DeepEqual(s.Annotations, wantAnnotations) {
		t.Errorf("annotations = %v, want %v", s.Annotations, wantAnnotations)
	}
	if got := string(s.Data["name"]); got != "web-1-v2" {
		t.Errorf("data.name = %q", got)
	}
	if got := string(s.Data["server"]); got != c.Endpoint {
		t.Errorf("data.server = %q, want %q", got, c.Endpoint)
	}
	wantConfig := `{"awsAuthConfig":{"clusterName":"web-1-v2","roleARN":"arn:aws:iam::123456789012:role/argocd"},` +
		`"tlsClientConfig":{"insecure":false,"caData":"` + testCA + `"}}`
	if got := string(s.Data["config"]); got != wantConfig {
		t.Errorf("data.config =\n%s\nwant\n%s", got, wantConfig)
	}
	if len(s.Data) != 3 {
		t.Errorf("data has keys %v, want name, server, config only", keys(s.Data))
	}
	if skipped, err := argocd.SkippedTagKeys(s); err != nil || !reflect.DeepEqual(skipped, []string{"desc"}) {
		t.Errorf("SkippedTagKeys = %v, %v; want [desc]", skipped, err)
	}
}

func TestRenderWithoutRoleOmitsRoleARN(t *testing.T) {
	s, err := argocd.Render(testCluster("web-1", nil), nil, argocd.Options{Namespace: "gitops"})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if s.Namespace != "gitops" {
		t.Errorf("namespace = %q, want gitops", s.Namespace)
	}
	var cfg map[string]map[string]any
	if err := json.Unmarshal(s.Data["config"], &cfg); err != nil {
		t.Fatalf("config is not JSON: %v", err)
	}
	if _, ok := cfg["awsAuthConfig"]["roleARN"]; ok {
		t.Errorf("config %s has a roleARN, want none", s.Data["config"])
	}
	if cfg["awsAuthConfig"]["clusterName"] != "web-1" || cfg["tlsClientConfig"]["insecure"] != false {
		t.Errorf("config = %s", s.Data["config"])
	}
	for k := range s.Annotations {
		if strings.HasPrefix(k, argocd.AnnotationTargetGroupPrefix) || k == argocd.AnnotationSkippedTags {
			t.Errorf("unexpected annotation %q", k)
		}
	}
}

func TestRenderRefusesBadInput(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*inventory.Cluster)
		tgs     map[string]string
		opts    argocd.Options
		wantErr string
	}{
		{name: "no name", mutate: func(c *inventory.Cluster) { c.Name = "" }, wantErr: "cluster name is empty"},
		{name: "no endpoint", mutate: func(c *inventory.Cluster) { c.Endpoint = "" }, wantErr: "endpoint is empty"},
		{name: "http endpoint", mutate: func(c *inventory.Cluster) { c.Endpoint = "http://x.example.com" }, wantErr: "not an https URL"},
		{name: "no CA", mutate: func(c *inventory.Cluster) { c.CertificateAuthority = "" }, wantErr: "certificateAuthority is empty"},
		{name: "CA not base64", mutate: func(c *inventory.Cluster) { c.CertificateAuthority = "-----BEGIN" }, wantErr: "not base64"},
		{name: "cell name cannot be an annotation key", tgs: map[string]string{"web app": tgWeb}, wantErr: `Cell "web app"`},
		{name: "cell name too long", tgs: map[string]string{strings.Repeat("c", 51): tgWeb}, wantErr: "cannot name annotation"},
		{name: "not a target group ARN", tgs: map[string]string{"web": "arn:aws:eks:us-east-1:1:cluster/x"}, wantErr: "not a target group ARN"},
		{name: "bad namespace", opts: argocd.Options{Namespace: "Argo_CD"}, wantErr: "namespace"},
		{name: "bad role ARN", opts: argocd.Options{RoleARN: "argocd"}, wantErr: "not an IAM role ARN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testCluster("web-1", nil)
			if tc.mutate != nil {
				tc.mutate(&c)
			}
			s, err := argocd.Render(c, tc.tgs, tc.opts)
			if err == nil {
				t.Fatalf("Render = %v, want an error containing %q", s.Name, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestSecretName(t *testing.T) {
	long := strings.Repeat("a", 100)
	cases := []struct {
		cluster    string
		want       string // exact, or prefix when hashed
		wantHashed bool
	}{
		{cluster: "web-1-v2", want: "okra-cluster-web-1-v2"},
		{cluster: "web_1", want: "okra-cluster-web-1-", wantHashed: true},
		{cluster: "Web-1", want: "okra-cluster-web-1-", wantHashed: true},
		{cluster: strings.Repeat("a", 50), want: "okra-cluster-" + strings.Repeat("a", 50)},
		{cluster: strings.Repeat("a", 51), want: "okra-cluster-" + strings.Repeat("a", 41) + "-", wantHashed: true},
		{cluster: long, want: "okra-cluster-" + strings.Repeat("a", 41) + "-", wantHashed: true},
		{cluster: "", want: "okra-cluster-", wantHashed: true},
	}
	for _, tc := range cases {
		got := argocd.SecretName(tc.cluster)
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("SecretName(%q) = %q is not a DNS-1123 label: %v", tc.cluster, got, errs)
		}
		if tc.wantHashed {
			if !strings.HasPrefix(got, tc.want) || len(got) != len(tc.want)+8 {
				t.Errorf("SecretName(%q) = %q, want %q + 8 hex characters", tc.cluster, got, tc.want)
			}
		} else if got != tc.want {
			t.Errorf("SecretName(%q) = %q, want %q", tc.cluster, got, tc.want)
		}
		if again := argocd.SecretName(tc.cluster); again != got {
			t.Errorf("SecretName(%q) is not deterministic: %q then %q", tc.cluster, got, again)
		}
	}
	// Names that sanitize alike still get distinct secrets.
	seen := map[string]string{}
	for _, n := range []string{"web-1", "web_1", "Web-1", "WEB_1", long, long + "b"} {
		s := argocd.SecretName(n)
		if other, dup := seen[s]; dup {
			t.Errorf("clusters %q and %q share secret %q", other, n, s)
		}
		seen[s] = n
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
