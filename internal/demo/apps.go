package demo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"sigs.k8s.io/yaml"

	"github.com/okrahq/okra/internal/argocd"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/onboarding"
)

// RegisterTargetsAPI is the one ELBv2 call the app deployer makes.
type RegisterTargetsAPI interface {
	RegisterTargets(ctx context.Context, params *elbv2.RegisterTargetsInput, optFns ...func(*elbv2.Options)) (*elbv2.RegisterTargetsOutput, error)
}

// appDeployer stands in for ArgoCD and the AWS Load Balancer Controller:
// it keeps the cluster secret okra applies (rendered with argocd.Render,
// exactly as it would be applied) and, once a secret names a target
// group, registers the app's two pods in it, as an ApplicationSet's
// TargetGroupBinding would (moto reports registered targets healthy).
type appDeployer struct {
	elb RegisterTargetsAPI
	mu  sync.Mutex
	// secrets by cluster name, and the target groups per cluster.
	secrets  map[string]secret
	deployed map[string]bool
	pods     int
}

// secret is one cluster secret as okra would apply it.
type secret struct {
	cluster      inventory.Cluster
	targetGroups map[string]string
}

var _ onboarding.ClusterRegistry = (*appDeployer)(nil)

func newAppDeployer(elb RegisterTargetsAPI) *appDeployer {
	return &appDeployer{elb: elb, secrets: map[string]secret{}, deployed: map[string]bool{}}
}

func (d *appDeployer) Apply(ctx context.Context, cl inventory.Cluster, tgs map[string]string) error {
	if _, err := argocd.Render(cl, tgs, argocd.Options{}); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.secrets[cl.Name] = secret{cluster: cl, targetGroups: maps.Clone(tgs)}
	for _, arn := range slices.Sorted(maps.Keys(invert(tgs))) {
		if d.deployed[arn] {
			continue
		}
		var targets []elbv2types.TargetDescription
		for range 2 {
			d.pods++
			targets = append(targets, elbv2types.TargetDescription{Id: aws.String(fmt.Sprintf("10.0.%d.%d", 100+d.pods/200, 10+d.pods%200))})
		}
		if _, err := d.elb.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: targets}); err != nil {
			return fmt.Errorf("registering the app's pods of cluster %s in %s, %w", cl.Name, arn, err)
		}
		d.deployed[arn] = true
	}
	return nil
}

func (d *appDeployer) Delete(_ context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.secrets, name)
	return nil
}

func invert(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[v] = k
	}
	return out
}

// Secret is an ArgoCD cluster secret as okra would apply it.
type Secret struct {
	Cluster string
	// YAML is the secret, with the CA bundle in its config shortened.
	YAML string
}

// renderSecrets renders every kept secret as YAML, sorted by cluster.
func (d *appDeployer) renderSecrets() ([]Secret, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Secret
	for _, name := range slices.Sorted(maps.Keys(d.secrets)) {
		s := d.secrets[name]
		sec, err := argocd.Render(s.cluster, s.targetGroups, argocd.Options{})
		if err != nil {
			return nil, err
		}
		if ca := strings.TrimSpace(s.cluster.CertificateAuthority); len(ca) > 24 {
			cfg := string(sec.Data[argocd.DataConfig])
			sec.Data[argocd.DataConfig] = []byte(strings.Replace(cfg, ca, ca[:12]+"…"+ca[len(ca)-8:], 1))
		}
		// stringData reads better than base64 in a demo; it is what
		// would be applied, decoded.
		doc := map[string]any{
			"apiVersion": sec.APIVersion, "kind": sec.Kind,
			"metadata": map[string]any{
				"name": sec.Name, "namespace": sec.Namespace, "labels": sec.Labels, "annotations": sec.Annotations,
			},
			"type":       string(sec.Type),
			"stringData": stringData(sec.Data),
		}
		b, err := yaml.Marshal(doc)
		if err != nil {
			return nil, fmt.Errorf("encoding the ArgoCD secret of %s, %w", name, err)
		}
		out = append(out, Secret{Cluster: name, YAML: string(b)})
	}
	return out, nil
}

func stringData(data map[string][]byte) map[string]string {
	out := make(map[string]string, len(data))
	for k, v := range data {
		out[k] = string(v)
	}
	return out
}
