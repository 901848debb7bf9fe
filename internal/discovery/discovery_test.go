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

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/weights"
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

func TestForCellCostFollowsTheCell(t *testing.T) {
	tests := []struct {
		name         string
		foreign      int // groups of other owners in the account
		cells        int // the Cell's own groups
		wantPages    int
		wantELBCalls int
	}{
		{name: "empty account", foreign: 0, cells: 0, wantPages: 1},
		{name: "one group, nothing else", foreign: 0, cells: 1, wantPages: 1},
		{name: "one group among a thousand", foreign: 1000, cells: 1, wantPages: 1},
		{name: "a full page of the cell's", foreign: 1000, cells: 100, wantPages: 1},
		{name: "one over a page", foreign: 1000, cells: 101, wantPages: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeELB()
			for i := range tt.foreign {
				f.add(fmt.Sprintf("other-%04d", i), map[string]string{"role": "other", "version": "v1"}, healthy)
			}
			for i := range tt.cells {
				f.add(fmt.Sprintf("web-%04d", i), map[string]string{"role": "web", "version": "v2"}, healthy)
			}
			d := discovery.NewTargetGroups(f, f, discovery.Options{Logger: quiet})
			res, err := d.ForCell(context.Background(), testCell("web", map[string]string{"role": "web"}, ""))
			if err != nil {
				t.Fatalf("ForCell: %v", err)
			}
			if got := f.count("GetResources"); got != tt.wantPages {
				t.Errorf("GetResources calls = %d, want %d", got, tt.wantPages)
			}
			for _, op := range []string{"DescribeTargetGroups", "DescribeTags", "DescribeTargetHealth"} {
				if got := f.count(op); got != 0 {
					t.Errorf("%s calls = %d, want 0 (ForCell reads no ELBv2)", op, got)
				}
			}
			if len(res.TargetGroups) != tt.cells {
				t.Fatalf("found %d target groups, want %d", len(res.TargetGroups), tt.cells)
			}
			for i, tg := range res.TargetGroups {
				if want := fmt.Sprintf("web-%04d", i); tg.Name != want || tg.Version != "v2" || tg.HealthyTargets != 0 {
					t.Fatalf("group %d = %+v, want %s at v2, health not read", i, tg, want)
				}
			}
			withHealth, err := d.Health(context.Background(), res.TargetGroups)
			if err != nil {
				t.Fatalf("Health: %v", err)
			}
			if got := f.count("DescribeTargetHealth"); got != tt.cells {
				t.Errorf("DescribeTargetHealth calls = %d, want %d (one per group given)", got, tt.cells)
			}
			for _, tg := range withHealth {
				if tg.HealthyTargets != 1 {
					t.Fatalf("%s: HealthyTargets = %d, want 1", tg.Name, tg.HealthyTargets)
				}
			}
		})
	}
}

func TestTaggedPagesByTags(t *testing.T) {
	// 30 groups of 20 tags each: TagsPerPage 500 holds 25 of them.
	f := newFakeELB()
	for i := range 30 {
		tags := map[string]string{"role": "web"}
		for k := range 19 {
			tags[fmt.Sprintf("k%02d", k)] = "v"
		}
		f.add(fmt.Sprintf("tg-%02d", i), tags)
	}
	got, err := discovery.Tagged(context.Background(), f, map[string]string{"role": "web"}, discovery.Options{})
	if err != nil {
		t.Fatalf("Tagged: %v", err)
	}
	if len(got) != 30 {
		t.Fatalf("Tagged found %d groups, want 30", len(got))
	}
	if n := f.count("GetResources"); n != 2 {
		t.Errorf("GetResources calls = %d, want 2 (25 groups of 20 tags fill 500)", n)
	}
	if _, err := discovery.Tagged(context.Background(), f, nil, discovery.Options{}); err == nil {
		t.Error("Tagged with an empty selector: want an error")
	}
	tooMany := map[string]string{}
	for k := range discovery.MaxTagFilters + 1 {
		tooMany[fmt.Sprintf("k%d", k)] = "v"
	}
	before := f.count("GetResources")
	if _, err := discovery.Tagged(context.Background(), f, tooMany, discovery.Options{}); err == nil || !strings.Contains(err.Error(), "at most 50") {
		t.Errorf("Tagged with %d selector tags = %v, want a refusal before calling AWS", len(tooMany), err)
	}
	if f.count("GetResources") != before {
		t.Error("a refused selector reached GetResources")
	}
}

func TestNameFromARN(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-a/0123456789abcdef": "web-a",
		"arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:targetgroup/x/1":                "x",
		"not-an-arn": "not-an-arn",
	} {
		if got := discovery.NameFromARN(arn); got != want {
			t.Errorf("NameFromARN(%q) = %q, want %q", arn, got, want)
		}
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
	}{
		{
			name:            "every label must match; default version label",
			selector:        map[string]string{"role": "web", "env": "prod"},
			want:            map[string]int{"web-a-v1": 2, "web-b-v2": 1, "web-c-v2": 0},
			wantVersions:    map[string][]string{"v1": {"web-a-v1"}, "v2": {"web-b-v2", "web-c-v2"}},
			wantUnversioned: []string{"web-custom-label", "web-unversioned"},
		},
		{
			name:            "custom version label",
			label:           "release",
			selector:        map[string]string{"role": "web", "env": "prod"},
			want:            map[string]int{"web-custom-label": 1},
			wantVersions:    map[string][]string{"r7": {"web-custom-label"}},
			wantUnversioned: []string{"web-a-v1", "web-b-v2", "web-c-v2", "web-unversioned"},
		},
		{
			name:         "value must match exactly",
			selector:     map[string]string{"role": "web", "env": "Prod"},
			want:         map[string]int{},
			wantVersions: map[string][]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.calls = map[string]int{}
			d := discovery.NewTargetGroups(f, f, discovery.Options{Logger: quiet, Concurrency: 2})
			res, err := d.ForCell(context.Background(), testCell("web", tt.selector, tt.label))
			if err != nil {
				t.Fatalf("ForCell: %v", err)
			}
			groups, err := d.Health(context.Background(), res.TargetGroups)
			if err != nil {
				t.Fatalf("Health: %v", err)
			}
			got := map[string]int{}
			for _, tg := range groups {
				got[tg.Name] = tg.HealthyTargets
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
			if n := f.count("DescribeTargetHealth"); n != len(tt.want) {
				t.Errorf("DescribeTargetHealth calls = %d, want %d (the versioned groups given)", n, len(tt.want))
			}
		})
	}
}

func TestForCellClusterTag(t *testing.T) {
	f := newFakeELB()
	f.add("web-a", map[string]string{"role": "web", "version": "v1", inventory.TagCluster: "cluster-a"})
	res, err := discovery.NewTargetGroups(f, f, discovery.Options{Logger: quiet}).ForCell(context.Background(), testCell("web", map[string]string{"role": "web"}, ""))
	if err != nil {
		t.Fatalf("ForCell: %v", err)
	}
	if len(res.TargetGroups) != 1 || res.TargetGroups[0].Cluster != "cluster-a" {
		t.Fatalf("TargetGroups = %+v, want cluster-a's group", res.TargetGroups)
	}
}

func TestDescribeTagsSkipsVanished(t *testing.T) {
	f := newFakeELB()
	var arns, gone []string
	for i := range 20 {
		arn := f.add(fmt.Sprintf("tg-%02d", i), map[string]string{"role": "web"})
		arns = append(arns, arn)
		if i == 3 {
			gone = append(gone, arn)
			f.vanish[arn] = true
		}
	}
	descs, err := discovery.DescribeTags(context.Background(), f, arns)
	if err != nil {
		t.Fatalf("DescribeTags: %v", err)
	}
	if len(descs) != 19 {
		t.Fatalf("described %d groups, want 19", len(descs))
	}
	for _, d := range descs {
		if aws.ToString(d.ResourceArn) == gone[0] {
			t.Fatalf("deleted group %s described", gone[0])
		}
	}
	// The batch fails on the missing group, then each ARN is asked alone.
	if got, want := f.count("DescribeTags"), 1+20; got != want {
		t.Errorf("DescribeTags calls = %d, want %d", got, want)
	}
	if _, err := discovery.DescribeTags(context.Background(), f, append(arns, "one-too-many")); err == nil {
		t.Error("DescribeTags of 21 ARNs: want a refusal")
	}
}

func TestHealthDropsVanished(t *testing.T) {
	f := newFakeELB()
	f.add("a", map[string]string{"role": "web", "version": "v1"}, healthy)
	arn := f.add("b", map[string]string{"role": "web", "version": "v1"}, healthy)
	d := discovery.NewTargetGroups(f, f, discovery.Options{Logger: quiet})
	res, err := d.ForCell(context.Background(), testCell("web", map[string]string{"role": "web"}, ""))
	if err != nil {
		t.Fatalf("ForCell: %v", err)
	}
	// Listed by the tagging API, gone by the time its health is read.
	delete(f.health, arn)
	groups, err := d.Health(context.Background(), res.TargetGroups)
	if err != nil {
		t.Fatalf("Health: %v", err)
	}
	if len(groups) != 1 || groups[0].Name != "a" || groups[0].HealthyTargets != 1 {
		t.Fatalf("Health = %+v, want only a with 1 healthy target", groups)
	}
}

func TestHealthForDecision(t *testing.T) {
	f := newFakeELB()
	arn := map[string]string{}
	add := func(name, version string, states ...elbv2types.TargetHealthStateEnum) {
		arn[name] = f.add(name, map[string]string{"role": "web", "version": version}, states...)
	}
	// v1: the stable version, two groups listed, many more not.
	add("v1-a", "v1", healthy)
	add("v1-b", "v1", unhealthy)
	for i := range 50 {
		add(fmt.Sprintf("v1-z%02d", i), "v1", healthy)
	}
	// v2: the first is unhealthy, so one more is read.
	add("v2-a", "v2", unhealthy)
	add("v2-b", "v2", healthy)
	add("v2-c", "v2", healthy)
	add("v2-d", "v2", healthy)
	// v3: nothing healthy, every group is read.
	add("v3-a", "v3", initial)
	add("v3-b", "v3", draining)

	c := testCell("web", map[string]string{"role": "web"}, "")
	c.Spec.Replicas = aws.Int32(2)
	d := discovery.NewTargetGroups(f, f, discovery.Options{Logger: quiet})
	res, err := d.ForCell(context.Background(), c)
	if err != nil {
		t.Fatalf("ForCell: %v", err)
	}
	fwd := weights.Forward{TargetGroups: []weights.TargetGroupWeight{{ARN: arn["v1-a"], Weight: 1}, {ARN: arn["v1-b"], Weight: 1}}}
	groups, err := d.HealthForDecision(context.Background(), c, res.TargetGroups, fwd)
	if err != nil {
		t.Fatalf("HealthForDecision: %v", err)
	}
	// v1: both listed, then v1-z00 completes two healthy; v2: a, b, c; v3: both.
	if got, want := f.count("DescribeTargetHealth"), 3+3+2; got != want {
		t.Errorf("DescribeTargetHealth calls = %d, want %d", got, want)
	}
	healthyOf := map[string]int{}
	for _, tg := range groups {
		healthyOf[tg.Name] = tg.HealthyTargets
	}
	want := map[string]int{"v1-a": 1, "v1-b": 0, "v1-z00": 1, "v1-z01": 0, "v2-a": 0, "v2-b": 1, "v2-c": 1, "v2-d": 0, "v3-a": 0}
	for name, n := range want {
		if healthyOf[name] != n {
			t.Errorf("%s: HealthyTargets = %d, want %d", name, healthyOf[name], n)
		}
	}
	if len(groups) != len(res.TargetGroups) {
		t.Errorf("HealthForDecision returned %d groups, want all %d", len(groups), len(res.TargetGroups))
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
		{name: "get resources fails", cell: testCell("web", map[string]string{"role": "web"}, ""), failOp: "GetResources", wantErr: "listing tagged target groups, "},
		{name: "describe target health fails", cell: testCell("web", map[string]string{"role": "web"}, ""), failOp: "DescribeTargetHealth", wantErr: "describing target health of web-a, "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeELB()
			f.add("web-a", map[string]string{"role": "web", "version": "v1"}, healthy)
			if tt.failOp != "" {
				f.failOps[tt.failOp] = apiError("AccessDenied")
			}
			d := discovery.NewTargetGroups(f, f, discovery.Options{Logger: quiet})
			res, err := d.ForCell(context.Background(), tt.cell)
			if err == nil {
				_, err = d.Health(context.Background(), res.TargetGroups)
			}
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
