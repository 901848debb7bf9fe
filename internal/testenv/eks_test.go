package testenv_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/testenv"
)

func TestEKSClusters(t *testing.T) {
	cfg, _ := testenv.AWS(t)
	ctx := context.Background()
	c := cfg.EKS()
	network := testenv.NewNetwork(t, cfg.EC2())

	name := testenv.UniqueName("web-1-v2")
	created, err := c.CreateCluster(ctx, &eks.CreateClusterInput{
		Name:    aws.String(name),
		RoleArn: aws.String(testenv.RoleARN),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{
			SubnetIds: network.SubnetIDs,
		},
		Tags: map[string]string{"name": name, "role": "web", "version": "v2"},
	})
	if err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	clusterARN := aws.ToString(created.Cluster.Arn)
	if clusterARN == "" {
		t.Fatal("CreateCluster returned no ARN")
	}

	got, err := c.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("DescribeCluster: %v", err)
	}
	cl := got.Cluster
	// moto makes every cluster ACTIVE at once (AWS takes ~10 minutes).
	if cl.Status != ekstypes.ClusterStatusActive {
		t.Errorf("status = %q, want ACTIVE", cl.Status)
	}
	if aws.ToString(cl.Endpoint) == "" {
		t.Error("no endpoint")
	}
	if cl.CertificateAuthority == nil || aws.ToString(cl.CertificateAuthority.Data) == "" {
		t.Error("no certificate authority data")
	}
	if cl.ResourcesVpcConfig == nil {
		t.Fatal("no VPC config")
	}
	if !reflect.DeepEqual(cl.ResourcesVpcConfig.SubnetIds, network.SubnetIDs) {
		t.Errorf("subnets = %v, want %v", cl.ResourcesVpcConfig.SubnetIds, network.SubnetIDs)
	}
	if want := map[string]string{"name": name, "role": "web", "version": "v2"}; !reflect.DeepEqual(cl.Tags, want) {
		t.Errorf("tags = %v, want %v", cl.Tags, want)
	}

	// Retag, as an operator moving a cluster between Cells would.
	if _, err := c.TagResource(ctx, &eks.TagResourceInput{ResourceArn: aws.String(clusterARN), Tags: map[string]string{"version": "v3", "team": "edge"}}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	if _, err := c.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: aws.String(clusterARN), TagKeys: []string{"role"}}); err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	tags, err := c.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: aws.String(clusterARN)})
	if err != nil {
		t.Fatalf("ListTagsForResource: %v", err)
	}
	if want := map[string]string{"name": name, "version": "v3", "team": "edge"}; !reflect.DeepEqual(tags.Tags, want) {
		t.Errorf("tags after TagResource/UntagResource = %v, want %v", tags.Tags, want)
	}
	got, err = c.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("DescribeCluster after retagging: %v", err)
	}
	if want := map[string]string{"name": name, "version": "v3", "team": "edge"}; !reflect.DeepEqual(got.Cluster.Tags, want) {
		t.Errorf("DescribeCluster tags after retagging = %v, want %v", got.Cluster.Tags, want)
	}

	_, err = c.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(name + "-missing")})
	if !awsapi.IsNotFound(err) {
		t.Errorf("DescribeCluster(unknown) error = %v (code %q), want not found", err, awsapi.Code(err))
	}
}

func TestEKSListClustersPaginates(t *testing.T) {
	cfg, counter := testenv.AWS(t)
	ctx := context.Background()
	c := cfg.EKS()
	network := testenv.NewNetwork(t, cfg.EC2())

	var want []string
	for range 5 {
		name := testenv.UniqueName("page")
		if _, err := c.CreateCluster(ctx, &eks.CreateClusterInput{
			Name:               aws.String(name),
			RoleArn:            aws.String(testenv.RoleARN),
			ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: network.SubnetIDs},
		}); err != nil {
			t.Fatalf("CreateCluster: %v", err)
		}
		want = append(want, name)
	}

	// Other tests share this moto and may have created clusters too, so
	// look for ours among everything listed.
	var listed []string
	pages := 0
	p := eks.NewListClustersPaginator(c, &eks.ListClustersInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListClusters page %d: %v", pages+1, err)
		}
		pages++
		if len(page.Clusters) > 2 {
			t.Fatalf("page %d has %d clusters, more than maxResults=2", pages, len(page.Clusters))
		}
		listed = append(listed, page.Clusters...)
	}
	if pages < 3 {
		t.Fatalf("listed %d clusters in %d pages, want at least 3 pages of at most 2", len(listed), pages)
	}
	if n := counter.Count("EKS.ListClusters"); n != pages {
		t.Fatalf("counted %d ListClusters calls for %d pages", n, pages)
	}
	for _, name := range want {
		if !slices.Contains(listed, name) {
			t.Errorf("cluster %s missing from the paginated listing %v", name, listed)
		}
	}
	seen := map[string]bool{}
	for _, name := range listed {
		if seen[name] {
			t.Errorf("cluster %s listed twice", name)
		}
		seen[name] = true
	}
}
