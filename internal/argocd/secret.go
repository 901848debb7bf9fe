package argocd

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/okrahq/okra/internal/inventory"
)

// Labels, annotations and data keys of an ArgoCD cluster secret.
const (
	// LabelSecretType marks a secret as an ArgoCD cluster (value
	// SecretTypeCluster).
	LabelSecretType   = "argocd.argoproj.io/secret-type"
	SecretTypeCluster = "cluster"
	// LabelManagedBy with value ManagedBy marks the secrets okra owns; okra
	// never changes or deletes a secret without it.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "okra"

	// AnnotationClusterName is the EKS cluster's name, unsanitized.
	AnnotationClusterName = "okra.dev/cluster-name"
	// AnnotationClusterARN is the EKS cluster's ARN.
	AnnotationClusterARN = "okra.dev/cluster-arn"
	// AnnotationTargetGroupPrefix + <cell> holds the ARN of the target group
	// okra created for the cluster in that Cell, for an ApplicationSet to
	// template a TargetGroupBinding:
	//   {{ index .metadata.annotations "okra.dev/target-group.web" }}
	AnnotationTargetGroupPrefix = "okra.dev/target-group."
	// AnnotationSkippedTags lists, as a JSON array, the EKS tag keys that
	// could not become labels (see TagLabels).
	AnnotationSkippedTags = "okra.dev/skipped-tags"

	// DataName, DataServer and DataConfig are the keys ArgoCD reads.
	DataName   = "name"
	DataServer = "server"
	DataConfig = "config"
)

// secretNamePrefix starts every secret name okra writes.
const secretNamePrefix = "okra-cluster-"

// maxSecretName keeps secret names usable as label values too (63), well
// under the 253 a secret name may have.
const maxSecretName = validation.DNS1123LabelMaxLength

// SecretName is the name of the ArgoCD cluster secret for an EKS cluster:
// "okra-cluster-<name>" lowercased, '_' as '-'. When the name had to be
// changed (so two clusters could collide) or is too long, a hash of the
// original name is appended: "okra-cluster-web_1" -> "okra-cluster-web-1-<8 hex>".
// The result is a valid DNS-1123 label of at most 63 characters.
func SecretName(clusterName string) string {
	sanitized := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		default:
			return '-'
		}
	}, clusterName)
	sanitized = strings.Trim(sanitized, "-")
	name := secretNamePrefix + sanitized
	if sanitized != "" && sanitized == clusterName && len(name) <= maxSecretName {
		return name
	}
	sum := sha256.Sum256([]byte(clusterName))
	suffix := "-" + hex.EncodeToString(sum[:4])
	if len(name) > maxSecretName-len(suffix) {
		name = name[:maxSecretName-len(suffix)]
	}
	return strings.TrimRight(name, "-") + suffix
}

// TargetGroupAnnotation is the annotation key that carries a Cell's target
// group ARN.
func TargetGroupAnnotation(cell string) string { return AnnotationTargetGroupPrefix + cell }

// clusterConfig is ArgoCD's cluster "config" (a subset of its
// v1alpha1.ClusterConfig): ArgoCD authenticates with an EKS token of its
// own (argocd-k8s-auth aws), optionally assuming RoleARN.
type clusterConfig struct {
	AWSAuthConfig   awsAuthConfig   `json:"awsAuthConfig"`
	TLSClientConfig tlsClientConfig `json:"tlsClientConfig"`
}

type awsAuthConfig struct {
	ClusterName string `json:"clusterName"`
	RoleARN     string `json:"roleARN,omitempty"`
}

type tlsClientConfig struct {
	Insecure bool `json:"insecure"`
	// CAData is the base64 of the PEM CA bundle, as EKS reports it.
	CAData string `json:"caData"`
}

// Render computes the ArgoCD cluster secret okra wants for an EKS cluster
// and its target groups (Cell name -> target-group ARN), without talking to
// Kubernetes. It refuses a cluster without a name, an https endpoint or a
// base64 CA, and Cell names that cannot be annotation keys. The secret holds
// no credential: ArgoCD fetches its own short-lived EKS token.
func Render(c inventory.Cluster, targetGroups map[string]string, o Options) (*corev1.Secret, error) {
	s, _, err := render(c, targetGroups, o)
	return s, err
}

// render is Render that also returns the tags it could not turn into labels.
func render(c inventory.Cluster, targetGroups map[string]string, o Options) (*corev1.Secret, []SkippedTag, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	if c.Name == "" {
		return nil, nil, fmt.Errorf("rendering the ArgoCD cluster secret: cluster name is empty")
	}
	if err := checkEndpoint(c.Endpoint); err != nil {
		return nil, nil, fmt.Errorf("rendering the ArgoCD cluster secret for cluster %q: endpoint %w", c.Name, err)
	}
	ca := strings.TrimSpace(c.CertificateAuthority)
	if ca == "" {
		return nil, nil, fmt.Errorf("rendering the ArgoCD cluster secret for cluster %q: certificateAuthority is empty", c.Name)
	}
	if _, err := base64.StdEncoding.DecodeString(ca); err != nil {
		return nil, nil, fmt.Errorf("rendering the ArgoCD cluster secret for cluster %q: certificateAuthority is not base64, %w", c.Name, err)
	}

	labels, skipped := TagLabels(c.Tags)
	labels[LabelSecretType] = SecretTypeCluster
	labels[LabelManagedBy] = ManagedBy

	annotations := map[string]string{AnnotationClusterName: c.Name}
	if c.ARN != "" {
		annotations[AnnotationClusterARN] = c.ARN
	}
	cells := make([]string, 0, len(targetGroups))
	for cell := range targetGroups {
		cells = append(cells, cell)
	}
	sort.Strings(cells)
	for _, cell := range cells {
		key := TargetGroupAnnotation(cell)
		if errs := validation.IsQualifiedName(key); len(errs) > 0 {
			return nil, nil, fmt.Errorf("rendering the ArgoCD cluster secret for cluster %q: Cell %q cannot name annotation %q: %s",
				c.Name, cell, key, strings.Join(errs, "; "))
		}
		arn := targetGroups[cell]
		if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":targetgroup/") {
			return nil, nil, fmt.Errorf("rendering the ArgoCD cluster secret for cluster %q: Cell %q: %q is not a target group ARN", c.Name, cell, arn)
		}
		annotations[key] = arn
	}
	if len(skipped) > 0 {
		keys := make([]string, len(skipped))
		for i, s := range skipped {
			keys[i] = s.Key
		}
		b, err := json.Marshal(keys)
		if err != nil {
			return nil, nil, fmt.Errorf("encoding skipped tag keys, %w", err)
		}
		annotations[AnnotationSkippedTags] = string(b)
	}

	config, err := json.Marshal(clusterConfig{
		AWSAuthConfig:   awsAuthConfig{ClusterName: c.Name, RoleARN: o.RoleARN},
		TLSClientConfig: tlsClientConfig{Insecure: false, CAData: ca},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the ArgoCD cluster config, %w", err)
	}
	secret := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        SecretName(c.Name),
			Namespace:   o.Namespace,
			Labels:      labels,
			Annotations: annotations,
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			DataName:   []byte(c.Name),
			DataServer: []byte(c.Endpoint),
			DataConfig: config,
		},
	}
	return secret, skipped, nil
}

func checkEndpoint(endpoint string) error {
	if endpoint == "" {
		return fmt.Errorf("is empty (is the cluster ACTIVE?)")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("%q is not a URL, %w", endpoint, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an https URL", endpoint)
	}
	return nil
}

// SkippedTagKeys reads the AnnotationSkippedTags list of a secret.
func SkippedTagKeys(s *corev1.Secret) ([]string, error) {
	raw, ok := s.Annotations[AnnotationSkippedTags]
	if !ok {
		return nil, nil
	}
	var keys []string
	if err := json.Unmarshal([]byte(raw), &keys); err != nil {
		return nil, fmt.Errorf("secret %s/%s: annotation %s, %w", s.Namespace, s.Name, AnnotationSkippedTags, err)
	}
	return keys, nil
}
