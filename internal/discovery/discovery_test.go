package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"testing"

	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/inventory"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func testCell(name string, selector map[string]string, versionLabel string) *cell.Cell {
	return &cell.Cell{
		Metadata: cell.Metadata{Name: name},
		Spec: cell.Spec{
			Ingress:     cell.Ingress{TargetGroupSelector: cell.TargetGroupSelector{MatchLabels: selector}},
			VersionedBy: cell.VersionedBy{Label: versionLabel},
		},
	}
}

const (
	healthy   = elbv2types.TargetHealthStateEnumHealthy
	unhealthy = elbv2types.TargetHealthStateEnumUnhealthy
	initial   = elbv2types.TargetHealthStateEnumInitial
	draining  = elbv2types.TargetHealthStateEnumDraining
	unused    = elbv2types.TargetHealthStateEnumUnused
)

func TestCountHealthy(t *testing.T) {
	tests := []struct {
		name   string
		states []elbv2types.TargetHealthStateEnum
		want   int
	}{
		{name: "none", states: nil, want: 0},
		{name: "all healthy", states: []elbv2types.TargetHealthStateEnum{healthy, healthy, healthy}, want: 3},
		{name: "mixed", states: []elbv2types.TargetHealthStateEnum{healthy, unhealthy, initial, draining, unused, healthy}, want: 2},
		{name: "unhealthy draining is not healthy", states: []elbv2types.TargetHealthStateEnum{elbv2types.TargetHealthStateEnumUnhealthyDraining}, want: 0},
		{name: "unavailable", states: []elbv2types.TargetHealthStateEnum{elbv2types.TargetHealthStateEnumUnavailable, healthy}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var descs []elbv2types.TargetHealthDescription
			for _, s := range tt.states {
				descs = append(descs, elbv2types.TargetHealthDescription{TargetHealth: &elbv2types.TargetHealth{State: s}})
			}
			// A description without health information never counts.
			descs = append(descs, elbv2types.TargetHealthDescription{})
			if got := discovery.CountHealthy(descs); got != tt.want {
				t.Fatalf("CountHealthy = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestForCellPagesAndBatches(t *testing.T) {
	tests := []struct {
		name           string
		total          int
		wantTGCalls    int
		wantTagCalls   int
		wantHealthCall int
	}{
		{name: "empty account", total: 0, wantTGCalls: 1, wantTagCalls: 0},
		{name: "one group", total: 1, wantTGCalls: 1, wantTagCalls: 1, wantHealthCall: 1},
		{name: "exactly one tag batch", total: 20, wantTGCalls: 1, wantTagCalls: 1, wantHealthCall: 1},
		{name: "one over a tag batch", total: 21, wantTGCalls: 1, wantTagCalls: 2, wantHealthCall: 1},
		{name: "exactly one page", total: 400, wantTGCalls: 1, wantTagCalls: 20, wantHealthCall: 1},
		{name: "one over a page", total: 401, wantTGCalls: 2, wantTagCalls: 21, wantHealthCall: 1},
		{name: "a thousand", total: 1000, wantTGCalls: 3, wantTagCalls: 50, wantHealthCall: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeELB()
			for i := 0; i < tt.total; i++ {
				tags := map[string]string{"role": "other", "version": "v1"}
				if i == tt.total/2 {
					tags = map[string]string{"role": "web", "version": "v2"}
				}
				f.add(fmt.Sprintf("tg-%04d", i), tags, healthy)
			}
			d := discovery.NewTargetGroups(f, discovery.Options{Logger: quiet})
			res, err := d.ForCell(context.Background(), testCell("web", map[string]string{"role": "web"}, ""))
			if err != nil {
				t.Fatalf("ForCell: %v", err)
			}
			if got := f.count("DescribeTargetGroups"); got != tt.wantTGCalls {
				t.Errorf("DescribeTargetGroups calls = %d, want %d", got, tt.wantTGCalls)
			}
			if got := f.count("DescribeTags"); got != tt.wantTagCalls {
				t.Errorf("DescribeTags calls = %d, want %d", got, tt.wantTagCalls)
			}
			if got := f.count("DescribeTargetHealth"); got != tt.wantHealthCall {
				t.Errorf("DescribeTargetHealth calls = %d, want %d (only for matching groups)", got, tt.wantHealthCall)
			}
			if tt.total > 0 {
				want := fmt.Sprintf("tg-%04d", tt.total/2)
				if len(res.TargetGroups) != 1 || res.TargetGroups[0].Name != want || res.TargetGroups[0].Version != "v2" || res.TargetGroups[0].HealthyTargets != 1 {
					t.Errorf("TargetGroups = %+v, want only %s at v2 with 1 healthy target", res.TargetGroups, want)
				}
			}
		})
	}
}

func TestForCellSelectsAndGroups(t *testing.T) {
	f := newFakeELB()
	f.add("web-a-v1", map[string]string{"role": "web", "env": "prod", "version": "v1", inventory.TagCluster: "a"}, healthy, healthy, unhealthy)
	f.add("web-b-v2", map[string]string{"role": "web", "env": "prod", "version": "v2", inventory.TagCluster: "b"}, initial, healthy)
	f.add("web-c-v2", map[string]string{"role": "web", "env": "prod", "version": "v2"}, draining, unused, unhealthy)
	f.add("web-staging", map[string]string{"role": "web", "env": "staging", "version": "v2"}, healthy)
	f.add("web-partial", map[string]string{"role": "web", "version": "v2"}, healthy)
	f.add("web-unversioned", map[string]string{"role": "web", "env": "prod"}, healthy)
	f.add("web-custom-label", map[string]string{"role": "web", "env": "prod", "release": "r7"}, healthy)
	f.add("api", map[string]string{"role": "api", "env": "prod", "version": "v1"}, healthy)

	tests := []struct {
		name            string
		label           string
		selector        map[string]string
		want            map[string]int // name -> healthy targets
		wantVersions    map[string][]string
		wantUnversioned []string
		wantHealthCalls int
	}{
		{
			name:            "every label must match; default version label",
			selector:        map[string]string{"role": "web", "env": "prod"},
			want:            map[string]int{"web-a-v1": 2, "web-b-v2": 1, "web-c-v2": 0},
			wantVersions:    map[string][]string{"v1": {"web-a-v1"}, "v2": {"web-b-v2", "web-c-v2"}},
			wantUnversioned: []string{"web-custom-label", "web-unversioned"},
			wantHealthCalls: 3,
		},
		{
			name:            "custom version label",
			label:           "release",
			selector:        map[string]string{"role": "web", "env": "prod"},
			want:            map[string]int{"web-custom-label": 1},
			wantVersions:    map[string][]string{"r7": {"web-custom-label"}},
			wantUnversioned: []string{"web-a-v1", "web-b-v2", "web-c-v2", "web-unversioned"},
			wantHealthCalls: 1,
		},
		{
			name:            "value must match exactly",
			selector:        map[string]string{"role": "web", "env": "Prod"},
			want:            map[string]int{},
			wantVersions:    map[string][]string{},
			wantHealthCalls: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.calls = map[string]int{}
			d := discovery.NewTargetGroups(f, discovery.Options{Logger: quiet, Concurrency: 2})
			res, err := d.ForCell(context.Background(), testCell("web", tt.selector, tt.label))
			if err != nil {
				t.Fatalf("ForCell: %v", err)
			}
			got := map[string]int{}
			for _, tg := range res.TargetGroups {
				got[tg.Name] = tg.HealthyTargets
				if len(tg.LoadBalancerARNs) != 1 {
					t.Errorf("%s: LoadBalancerARNs = %v, want the one load balancer", tg.Name, tg.LoadBalancerARNs)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("healthy targets = %v, want %v", got, tt.want)
			}
			versions := map[string][]string{}
			for v, tgs := range inventory.ByVersion(res.TargetGroups) {
				for _, tg := range tgs {
					versions[v] = append(versions[v], tg.Name)
				}
			}
			if !reflect.DeepEqual(versions, tt.wantVersions) {
				t.Errorf("versions = %v, want %v", versions, tt.wantVersions)
			}
			var unversioned []string
			for _, tg := range res.Unversioned {
				unversioned = append(unversioned, tg.Name)
			}
			if !reflect.DeepEqual(unversioned, tt.wantUnversioned) {
				t.Errorf("unversioned = %v, want %v", unversioned, tt.wantUnversioned)
			}
			if n := f.count("DescribeTargetHealth"); n != tt.wantHealthCalls {
				t.Errorf("DescribeTargetHealth calls = %d, want %d", n, tt.wantHealthCalls)
			}
		})
	}
}

func TestForCellClusterTag(t *testing.T) {
	f := newFakeELB()
	f.add("web-a", map[string]string{"role": "web", "version": "v1", inventory.TagCluster: "cluster-a"})
	res, err := discovery.NewTargetGroups(f, discovery.Options{Logger: quiet}).ForCell(context.Background(), testCell("web", map[string]string{"role": "web"}, ""))
	if err != nil {
		t.Fatalf("ForCell: %v", err)
	}
	if len(res.TargetGroups) != 1 || res.TargetGroups[0].Cluster != "cluster-a" {
		t.Fatalf("TargetGroups = %+v, want cluster-a's group", res.TargetGroups)
	}
}

func TestForCellGroupsVanishing(t *testing.T) {
	f := newFakeELB()
	var gone []string
	for i := 0; i < 45; i++ {
		arn := f.add(fmt.Sprintf("tg-%02d", i), map[string]string{"role": "web", "version": "v1"}, healthy)
		if i == 3 || i == 30 {
			gone = append(gone, arn) // deleted before DescribeTags
			f.vanish[arn] = true
		}
	}
	res, err := discovery.NewTargetGroups(f, discovery.Options{Logger: quiet}).ForCell(context.Background(), testCell("web", map[string]string{"role": "web"}, ""))
	if err != nil {
		t.Fatalf("ForCell: %v", err)
	}
	if len(res.TargetGroups) != 43 {
		t.Fatalf("found %d target groups, want 43 (45 minus 2 deleted meanwhile)", len(res.TargetGroups))
	}
	for _, tg := range res.TargetGroups {
		for _, g := range gone {
			if tg.ARN == g {
				t.Fatalf("deleted group %s reported", g)
			}
		}
	}
	// 3 batches; the two with a missing group retry one ARN at a time.
	if got, want := f.count("DescribeTags"), 3+20+20; got != want {
		t.Errorf("DescribeTags calls = %d, want %d", got, want)
	}
}

func TestForCellHealthVanishing(t *testing.T) {
	f := newFakeELB()
	f.add("a", map[string]string{"role": "web", "version": "v1"}, healthy)
	arn := f.add("b", map[string]string{"role": "web", "version": "v1"}, healthy)
	d := discovery.NewTargetGroups(f, discovery.Options{Logger: quiet})
	// Tags answer, health does not: the group was deleted in between.
	delete(f.health, arn)
	res, err := d.ForCell(context.Background(), testCell("web", map[string]string{"role": "web"}, ""))
	if err != nil {
		t.Fatalf("ForCell: %v", err)
	}
	if len(res.TargetGroups) != 1 || res.TargetGroups[0].Name != "a" {
		t.Fatalf("TargetGroups = %+v, want only a", res.TargetGroups)
	}
}

func TestForCellErrors(t *testing.T) {
	tests := []struct {
		name    string
		cell    *cell.Cell
		failOp  string
		wantErr string
	}{
		{name: "no cell", cell: nil, wantErr: "no cell given"},
		{name: "empty selector", cell: testCell("web", nil, ""), wantErr: "matchLabels is empty"},
		{name: "describe target groups fails", cell: testCell("web", map[string]string{"role": "web"}, ""), failOp: "DescribeTargetGroups", wantErr: "describing target groups, "},
		{name: "describe tags fails", cell: testCell("web", map[string]string{"role": "web"}, ""), failOp: "DescribeTags", wantErr: "describing tags, "},
		{name: "describe target health fails", cell: testCell("web", map[string]string{"role": "web"}, ""), failOp: "DescribeTargetHealth", wantErr: "describing target health of web-a, "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeELB()
			f.add("web-a", map[string]string{"role": "web", "version": "v1"}, healthy)
			if tt.failOp != "" {
				f.failOps[tt.failOp] = apiError("AccessDenied")
			}
			_, err := discovery.NewTargetGroups(f, discovery.Options{Logger: quiet}).ForCell(context.Background(), tt.cell)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestVersionLabel(t *testing.T) {
	if got := discovery.VersionLabel(testCell("a", nil, "")); got != "version" {
		t.Errorf("default label = %q, want version", got)
	}
	if got := discovery.VersionLabel(testCell("a", nil, "release")); got != "release" {
		t.Errorf("label = %q, want release", got)
	}
}

func TestClustersListPages(t *testing.T) {
	tests := []struct {
		name      string
		clusters  int
		pageSize  int32
		wantPages int
	}{
		{name: "no clusters", clusters: 0, pageSize: 2, wantPages: 1},
		{name: "one page exactly", clusters: 2, pageSize: 2, wantPages: 1},
		{name: "several pages", clusters: 7, pageSize: 2, wantPages: 4},
		{name: "default page size", clusters: 250, pageSize: 0, wantPages: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEKS(tt.clusters)
			got, err := discovery.NewClusters(f, discovery.Options{Logger: quiet, ListClustersPageSize: tt.pageSize, Concurrency: 3}).List(context.Background())
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if len(got) != tt.clusters {
				t.Fatalf("listed %d clusters, want %d", len(got), tt.clusters)
			}
			if n := f.count("ListClusters"); n != tt.wantPages {
				t.Errorf("ListClusters calls = %d, want %d", n, tt.wantPages)
			}
			if n := f.count("DescribeCluster"); n != tt.clusters {
				t.Errorf("DescribeCluster calls = %d, want %d", n, tt.clusters)
			}
			if m := f.maxInFlight.Load(); m > 3 {
				t.Errorf("%d DescribeCluster calls ran at once, want at most 3", m)
			}
			if !sort.SliceIsSorted(got, func(i, j int) bool { return got[i].Name < got[j].Name }) {
				t.Errorf("clusters not sorted by name")
			}
		})
	}
}

func TestClustersListSkipsVanished(t *testing.T) {
	f := newFakeEKS(5)
	f.gone["c002"] = true
	got, err := discovery.NewClusters(f, discovery.Options{Logger: quiet}).List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) != 4 {
		t.Fatalf("listed %d clusters, want 4", len(got))
	}
	for _, cl := range got {
		if cl.Name == "c002" {
			t.Fatalf("vanished cluster listed")
		}
	}
}

func TestClustersDescribe(t *testing.T) {
	f := newFakeEKS(1)
	c := discovery.NewClusters(f, discovery.Options{Logger: quiet})
	got, err := c.Describe(context.Background(), "c000")
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	want := inventory.Cluster{
		Name:                 "c000",
		ARN:                  "arn:aws:eks:us-east-1:123456789012:cluster/c000",
		Status:               "ACTIVE",
		Endpoint:             "https://c000.eks.example",
		CertificateAuthority: "CA-c000",
		VPCID:                "vpc-c000",
		Tags:                 map[string]string{"role": "web", "version": "v1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Describe = %+v, want %+v", got, want)
	}

	_, err = c.Describe(context.Background(), "missing")
	var nf *discovery.ClusterNotFoundError
	if !errors.As(err, &nf) || nf.Name != "missing" {
		t.Fatalf("err = %v, want *ClusterNotFoundError for missing", err)
	}
}

func TestClustersErrors(t *testing.T) {
	tests := []struct {
		name    string
		failOp  string
		wantErr string
	}{
		{name: "list fails", failOp: "ListClusters", wantErr: "listing EKS clusters, "},
		{name: "describe fails", failOp: "DescribeCluster", wantErr: "describing EKS cluster c00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeEKS(3)
			f.failOps[tt.failOp] = apiError("AccessDeniedException")
			_, err := discovery.NewClusters(f, discovery.Options{Logger: quiet}).List(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			var nf *discovery.ClusterNotFoundError
			if errors.As(err, &nf) {
				t.Fatalf("access denied reported as not found")
			}
		})
	}
}

func TestClustersForCell(t *testing.T) {
	clusters := []inventory.Cluster{
		{Name: "web-1", Tags: map[string]string{"role": "web", "env": "prod"}},
		{Name: "web-2", Tags: map[string]string{"role": "web", "env": "staging"}},
		{Name: "api-1", Tags: map[string]string{"role": "api", "env": "prod"}},
		{Name: "bare"},
	}
	tests := []struct {
		name     string
		selector map[string]string
		want     []string
	}{
		{name: "one tag", selector: map[string]string{"role": "web"}, want: []string{"web-1", "web-2"}},
		{name: "all tags must match", selector: map[string]string{"role": "web", "env": "prod"}, want: []string{"web-1"}},
		{name: "no match", selector: map[string]string{"role": "db"}, want: nil},
		{name: "empty selector selects nothing", selector: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &cell.Cell{Spec: cell.Spec{ClusterSelector: cell.ClusterSelector{MatchTags: tt.selector}}}
			var got []string
			for _, cl := range discovery.ClustersForCell(c, clusters) {
				got = append(got, cl.Name)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ClustersForCell = %v, want %v", got, tt.want)
			}
		})
	}
}
