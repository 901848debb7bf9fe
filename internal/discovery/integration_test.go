package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"golang.org/x/sync/errgroup"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The tests of this package share one moto and do not run in parallel:
// TestForCellThousandTargetGroups resets moto so that it counts calls over
// exactly 1,000 target groups.

func createVPC(t *testing.T, cfg awsapi.Config) string {
	t.Helper()
	out, err := cfg.EC2().CreateVpc(context.Background(), &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatalf("CreateVpc: %v", err)
	}
	return aws.ToString(out.Vpc.VpcId)
}

func TestForCellThousandTargetGroups(t *testing.T) {
	cfg, counter := testenv.AWS(t)
	ctx := context.Background()
	if err := testenv.SharedMoto(t).Reset(ctx, true); err != nil {
		t.Fatalf("resetting moto: %v", err)
	}
	vpc := createVPC(t, cfg)
	elb := cfg.ELBv2()

	// 1,000 target groups: 990 of other cells, and for cell "thousand":
	// 4 at v1, 4 at v2, 2 without a version tag.
	const total = 1000
	type spec struct {
		tags    map[string]string
		targets int
	}
	specs := make([]spec, total)
	for i := range specs {
		specs[i] = spec{tags: map[string]string{"okra:cell": fmt.Sprintf("other-%d", i%7), "version": "v1"}}
	}
	for i := 0; i < 10; i++ {
		s := spec{tags: map[string]string{"okra:cell": "thousand", "team": "web"}, targets: i % 4}
		switch {
		case i < 4:
			s.tags["version"] = "v1"
		case i < 8:
			s.tags["version"] = "v2"
		}
		specs[i*97] = s
	}

	arns := make([]string, total)
	create := func(indexes []int) {
		t.Helper()
		g, gctx := errgroup.WithContext(ctx)
		// One at a time: moto's CreateTargetGroup scans every group's
		// name while a concurrent create adds one, and answers 500 when
		// they race (testenv.CreateForeignTargetGroups).
		g.SetLimit(1)
		for _, i := range indexes {
			s := specs[i]
			g.Go(func() error {
				in := &elbv2.CreateTargetGroupInput{
					Name:       aws.String(fmt.Sprintf("thousand-%04d", i)),
					Protocol:   elbv2types.ProtocolEnumHttp,
					Port:       aws.Int32(8080),
					VpcId:      aws.String(vpc),
					TargetType: elbv2types.TargetTypeEnumIp,
				}
				for k, v := range s.tags {
					in.Tags = append(in.Tags, elbv2types.Tag{Key: aws.String(k), Value: aws.String(v)})
				}
				out, err := elb.CreateTargetGroup(gctx, in)
				if err != nil {
					return fmt.Errorf("creating target group %d: %w", i, err)
				}
				arns[i] = aws.ToString(out.TargetGroups[0].TargetGroupArn)
				if s.targets == 0 {
					return nil
				}
				var targets []elbv2types.TargetDescription
				for j := 0; j < s.targets; j++ {
					targets = append(targets, elbv2types.TargetDescription{Id: aws.String(fmt.Sprintf("10.0.%d.%d", i%250, j+1)), Port: aws.Int32(8080)})
				}
				_, err = elb.RegisterTargets(gctx, &elbv2.RegisterTargetsInput{TargetGroupArn: out.TargetGroups[0].TargetGroupArn, Targets: targets})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	var own, foreign []int
	for i := range specs {
		if specs[i].tags["okra:cell"] == "thousand" {
			own = append(own, i)
		} else {
			foreign = append(foreign, i)
		}
	}
	selector := map[string]string{"okra:cell": "thousand", "team": "web"}
	d := discovery.NewTargetGroups(elb, cfg.Tagging(), discovery.Options{Logger: quiet})
	discover := func() (discovery.CellTargetGroups, []inventory.TargetGroup, map[string]int) {
		t.Helper()
		counter.Reset()
		res, err := d.ForCell(ctx, testCell("thousand", selector, ""))
		if err != nil {
			t.Fatalf("ForCell: %v", err)
		}
		groups, err := d.Health(ctx, res.TargetGroups)
		if err != nil {
			t.Fatalf("Health: %v", err)
		}
		return res, groups, counter.Snapshot()
	}

	// The Cell's 10 groups alone, then with 990 others in the account.
	create(own)
	_, _, alone := discover()
	start := time.Now()
	create(foreign)
	t.Logf("created %d target groups in moto in %s", len(foreign), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	res, groups, crowded := discover()
	t.Logf("discovered in %s with calls %v", time.Since(start).Round(time.Millisecond), crowded)

	if !reflect.DeepEqual(alone, crowded) {
		t.Errorf("calls with the Cell's groups alone %v, with %d more in the account %v: want the same", alone, len(foreign), crowded)
	}
	want := map[string]int{"Resource Groups Tagging API.GetResources": 1, elbv2.ServiceID + ".DescribeTargetHealth": 8}
	if !reflect.DeepEqual(crowded, want) {
		t.Errorf("calls = %v, want %v (one GetResources page; health of the 8 versioned groups only)", crowded, want)
	}

	if len(res.TargetGroups) != 8 || len(res.Unversioned) != 2 || len(groups) != 8 {
		t.Fatalf("found %d versioned (%d with health) and %d unversioned groups, want 8 and 2", len(res.TargetGroups), len(groups), len(res.Unversioned))
	}
	for _, tg := range groups {
		var i int
		if _, err := fmt.Sscanf(tg.Name, "thousand-%04d", &i); err != nil {
			t.Fatalf("unexpected group %s", tg.Name)
		}
		want := specs[i]
		if tg.Version != want.tags["version"] {
			t.Errorf("%s: version %q, want %q", tg.Name, tg.Version, want.tags["version"])
		}
		if tg.HealthyTargets != want.targets {
			t.Errorf("%s: %d healthy targets, want %d", tg.Name, tg.HealthyTargets, want.targets)
		}
		if tg.ARN != arns[i] {
			t.Errorf("%s: ARN %s, want %s", tg.Name, tg.ARN, arns[i])
		}
	}

	// moto pages GetResources too: 10 groups, 3 per page.
	counter.Reset()
	paged, err := discovery.Tagged(ctx, cfg.Tagging(), selector, discovery.Options{ResourcesPerPage: 3})
	if err != nil {
		t.Fatalf("Tagged: %v", err)
	}
	if len(paged) != 10 {
		t.Errorf("Tagged over pages of 3 found %d groups, want 10", len(paged))
	}
	if got := counter.Count("Resource Groups Tagging API.GetResources"); got != 4 {
		t.Errorf("GetResources calls over pages of 3 = %d, want 4", got)
	}
}

func TestClustersPaginationMoto(t *testing.T) {
	cfg, counter := testenv.AWS(t)
	ctx := context.Background()
	client := cfg.EKS()
	const n = 7
	for i := 0; i < n; i++ {
		_, err := client.CreateCluster(ctx, &eks.CreateClusterInput{
			Name:               aws.String(fmt.Sprintf("pages-%d", i)),
			RoleArn:            aws.String("arn:aws:iam::123456789012:role/eks"),
			ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{"subnet-1"}},
			Tags:               map[string]string{"role": "web", "version": fmt.Sprintf("v%d", i%2+1)},
		})
		if err != nil {
			t.Fatalf("CreateCluster: %v", err)
		}
	}
	counter.Reset()
	clusters, err := discovery.NewClusters(client, discovery.Options{Logger: quiet, ListClustersPageSize: 2}).List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	seen := 0
	for _, cl := range clusters {
		if !strings.HasPrefix(cl.Name, "pages-") {
			continue
		}
		seen++
		if !cl.Active() || cl.Endpoint == "" || cl.CertificateAuthority == "" || cl.ARN == "" || cl.Tags["role"] != "web" || cl.Tags["version"] == "" {
			t.Errorf("cluster %s incomplete: %+v", cl.Name, cl)
		}
	}
	if seen != n {
		t.Fatalf("listed %d of the %d clusters created (a first-page-only listing finds 2)", seen, n)
	}
	if got, want := counter.Count(eks.ServiceID+".ListClusters"), (len(clusters)+1)/2; got != want {
		t.Errorf("ListClusters calls = %d, want %d for %d clusters in pages of 2", got, want, len(clusters))
	}
	if got, want := counter.Count(eks.ServiceID+".DescribeCluster"), len(clusters); got != want {
		t.Errorf("DescribeCluster calls = %d, want %d", got, want)
	}
}

func TestClustersDescribeMoto(t *testing.T) {
	cfg, _ := testenv.AWS(t)
	ctx := context.Background()
	client := cfg.EKS()
	_, err := client.CreateCluster(ctx, &eks.CreateClusterInput{
		Name:               aws.String("describe-me"),
		RoleArn:            aws.String("arn:aws:iam::123456789012:role/eks"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: []string{"subnet-1"}},
		Tags:               map[string]string{"name": "describe-me", "version": "v3"},
	})
	if err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	c := discovery.NewClusters(client, discovery.Options{Logger: quiet})
	got, err := c.Describe(ctx, "describe-me")
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if got.Name != "describe-me" || got.Status != "ACTIVE" || got.Tags["version"] != "v3" || got.CertificateAuthority == "" {
		t.Fatalf("Describe = %+v", got)
	}

	_, err = c.Describe(ctx, "no-such-cluster")
	var nf *discovery.ClusterNotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v, want *ClusterNotFoundError", err)
	}
}
