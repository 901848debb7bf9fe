package targetgroups_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/targetgroups"
)

func newManager(t *testing.T, elb *fakeELB, eks *fakeEKS, asg *fakeASG) *targetgroups.Manager {
	t.Helper()
	deps := targetgroups.Deps{ELBv2: elb, Tagging: elb, Logger: quiet}
	if eks != nil {
		deps.EKS = eks
	}
	if asg != nil {
		deps.AutoScaling = asg
	}
	m, err := targetgroups.New(deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

func TestNewRequiresELBv2(t *testing.T) {
	if _, err := targetgroups.New(targetgroups.Deps{}); err == nil {
		t.Fatal("New without an ELBv2 client succeeded")
	}
}

func TestEnsureRefusesBadInputBeforeCallingAWS(t *testing.T) {
	long := webCell("web")
	long.Spec.TargetGroupTemplate.Tags = map[string]string{"k": strings.Repeat("v", 257)}
	many := webCell("web")
	many.Spec.TargetGroupTemplate.Tags = map[string]string{}
	for i := 0; i < 45; i++ {
		many.Spec.TargetGroupTemplate.Tags[fmt.Sprintf("t%d", i)] = "x"
	}
	noPort := webCell("web")
	noPort.Spec.TargetGroupTemplate.Port = nil
	badPort := webCell("web")
	badPort.Spec.TargetGroupTemplate.Port = int32p(70000)
	lambda := webCell("web")
	lambda.Spec.TargetGroupTemplate.TargetType = "lambda"
	tcpVersion := webCell("web")
	tcpVersion.Spec.TargetGroupTemplate.Protocol = "TCP"
	tcpVersion.Spec.TargetGroupTemplate.ProtocolVersion = "HTTP2"
	noName := webCell("")

	noVPC := webCluster("web-1", "v1", "")
	noVersion := webCluster("web-1", "", "vpc-1")
	anonymous := webCluster("", "v1", "vpc-1")

	tests := []struct {
		name    string
		cell    *cell.Cell
		cluster inventory.Cluster
		wantErr any
		wantMsg string
	}{
		{name: "long tag value", cell: long, cluster: webCluster("web-1", "v1", "vpc-1"), wantErr: new(*targetgroups.TagLimitError), wantMsg: "value is 257 characters"},
		{name: "51 tags", cell: many, cluster: webCluster("web-1", "v1", "vpc-1"), wantErr: new(*targetgroups.TagLimitError), wantMsg: "51 tags"},
		{name: "no port", cell: noPort, cluster: webCluster("web-1", "v1", "vpc-1"), wantErr: new(*targetgroups.TemplateError), wantMsg: "spec.targetGroupTemplate.port: required"},
		{name: "port out of range", cell: badPort, cluster: webCluster("web-1", "v1", "vpc-1"), wantErr: new(*targetgroups.TemplateError), wantMsg: "70000 is not in 1..65535"},
		{name: "unsupported target type", cell: lambda, cluster: webCluster("web-1", "v1", "vpc-1"), wantErr: new(*targetgroups.TemplateError), wantMsg: `"lambda" is not supported`},
		{name: "protocol version on TCP", cell: tcpVersion, cluster: webCluster("web-1", "v1", "vpc-1"), wantErr: new(*targetgroups.TemplateError), wantMsg: "protocolVersion"},
		{name: "cluster without VPC", cell: webCell("web"), cluster: noVPC, wantErr: new(*targetgroups.TemplateError), wantMsg: "has no VPC ID"},
		{name: "cluster without version tag", cell: webCell("web"), cluster: noVersion, wantErr: new(*targetgroups.MissingVersionTagError), wantMsg: `no "version" tag`},
		{name: "cluster without name", cell: webCell("web"), cluster: anonymous, wantErr: new(*targetgroups.TemplateError), wantMsg: "cluster.name"},
		{name: "cell without name", cell: noName, cluster: webCluster("web-1", "v1", "vpc-1"), wantErr: new(*targetgroups.TemplateError), wantMsg: "metadata.name"},
		{name: "no cell", cell: nil, cluster: webCluster("web-1", "v1", "vpc-1"), wantErr: new(*targetgroups.TemplateError), wantMsg: "no cell given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elb := newFakeELB()
			m := newManager(t, elb, nil, nil)
			_, err := m.Ensure(context.Background(), tt.cell, tt.cluster)
			if err == nil {
				t.Fatal("Ensure succeeded")
			}
			if !errors.As(err, tt.wantErr) {
				t.Fatalf("err = %T %v, want %T", err, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("err = %q, want it to contain %q", err, tt.wantMsg)
			}
			if n := elb.total(); n != 0 {
				t.Fatalf("%d AWS calls made (%v), want none", n, elb.calls)
			}
		})
	}
}

func TestEnsureCreatesFromTemplate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *cell.Cell)
		check func(t *testing.T, elb *fakeELB)
	}{
		{
			name: "ALB defaults: HTTP, ip",
			check: func(t *testing.T, elb *fakeELB) {
				in := elb.lastCreate
				if in.Protocol != elbv2types.ProtocolEnumHttp || in.TargetType != elbv2types.TargetTypeEnumIp || aws.ToInt32(in.Port) != 8080 || aws.ToString(in.VpcId) != "vpc-1" {
					t.Fatalf("CreateTargetGroup input = %+v", in)
				}
				if in.ProtocolVersion != nil || in.Matcher != nil || in.HealthCheckPath != nil {
					t.Fatalf("unasked settings sent: %+v", in)
				}
			},
		},
		{
			name: "NLB defaults to TCP",
			edit: func(c *cell.Cell) { c.Spec.Ingress.Type = cell.IngressNLB },
			check: func(t *testing.T, elb *fakeELB) {
				if p := elb.lastCreate.Protocol; p != elbv2types.ProtocolEnumTcp {
					t.Fatalf("protocol = %s, want TCP", p)
				}
			},
		},
		{
			name: "health check and protocol version",
			edit: func(c *cell.Cell) {
				c.Spec.TargetGroupTemplate.Protocol = "HTTPS"
				c.Spec.TargetGroupTemplate.ProtocolVersion = "HTTP2"
				c.Spec.TargetGroupTemplate.TargetType = "instance"
				c.Spec.TargetGroupTemplate.HealthCheck = &cell.HealthCheck{
					Protocol: "HTTP", Port: "9090", Path: "/healthz", Matcher: "200-299",
					IntervalSeconds: int32p(10), TimeoutSeconds: int32p(5), HealthyThresholdCount: int32p(2), UnhealthyThresholdCount: int32p(3),
				}
			},
			check: func(t *testing.T, elb *fakeELB) {
				in := elb.lastCreate
				if in.Protocol != "HTTPS" || aws.ToString(in.ProtocolVersion) != "HTTP2" || in.TargetType != elbv2types.TargetTypeEnumInstance {
					t.Fatalf("CreateTargetGroup input = %+v", in)
				}
				if in.HealthCheckProtocol != "HTTP" || aws.ToString(in.HealthCheckPort) != "9090" || aws.ToString(in.HealthCheckPath) != "/healthz" ||
					aws.ToString(in.Matcher.HttpCode) != "200-299" || aws.ToInt32(in.HealthCheckIntervalSeconds) != 10 ||
					aws.ToInt32(in.HealthCheckTimeoutSeconds) != 5 || aws.ToInt32(in.HealthyThresholdCount) != 2 || aws.ToInt32(in.UnhealthyThresholdCount) != 3 {
					t.Fatalf("health check = %+v", in)
				}
			},
		},
		{
			name: "gRPC matcher",
			edit: func(c *cell.Cell) {
				c.Spec.TargetGroupTemplate.ProtocolVersion = "GRPC"
				c.Spec.TargetGroupTemplate.HealthCheck = &cell.HealthCheck{Matcher: "0-99"}
			},
			check: func(t *testing.T, elb *fakeELB) {
				m := elb.lastCreate.Matcher
				if m == nil || aws.ToString(m.GrpcCode) != "0-99" || m.HttpCode != nil {
					t.Fatalf("matcher = %+v, want GrpcCode 0-99", m)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elb := newFakeELB()
			c := webCell("web")
			if tt.edit != nil {
				tt.edit(c)
			}
			tg, err := newManager(t, elb, nil, nil).Ensure(context.Background(), c, webCluster("web-1", "v1", "vpc-1"))
			if err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			if tg.Name != targetgroups.Name("web", "web-1") || tg.Version != "v1" || tg.Cluster != "web-1" || tg.ARN == "" {
				t.Fatalf("Ensure = %+v", tg)
			}
			if aws.ToString(elb.lastCreate.Name) != tg.Name {
				t.Fatalf("created %q, returned %q", aws.ToString(elb.lastCreate.Name), tg.Name)
			}
			tt.check(t, elb)
		})
	}
}

func TestEnsureIdempotentWithFake(t *testing.T) {
	elb := newFakeELB()
	m := newManager(t, elb, nil, nil)
	c, cl := webCell("web"), webCluster("web-1", "v1", "vpc-1")
	first, err := m.Ensure(context.Background(), c, cl)
	if err != nil {
		t.Fatalf("first Ensure: %v", err)
	}
	// Miss by name, look up by tags (one GetResources, no ELBv2 scan),
	// create, check the created group's tags.
	if got := elb.calls; len(got) != 4 || got["DescribeTargetGroups"] != 1 || got["GetResources"] != 1 || got["CreateTargetGroup"] != 1 || got["DescribeTags"] != 1 {
		t.Fatalf("first Ensure calls = %v", got)
	}
	elb.calls = map[string]int{}
	second, err := m.Ensure(context.Background(), c, cl)
	if err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	if second.ARN != first.ARN {
		t.Fatalf("second Ensure returned %s, first %s", second.ARN, first.ARN)
	}
	if got := elb.calls; len(got) != 2 || got["DescribeTargetGroups"] != 1 || got["DescribeTags"] != 1 {
		t.Fatalf("second Ensure calls = %v, want one DescribeTargetGroups and one DescribeTags", got)
	}
}

func TestEnsureTagDrift(t *testing.T) {
	elb := newFakeELB()
	m := newManager(t, elb, nil, nil)
	c := webCell("web")
	tg, err := m.Ensure(context.Background(), c, webCluster("web-1", "v1", "vpc-1"))
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	// Drift: a stale okra key, a hand-made tag, a changed cluster tag.
	elb.tags[tg.ARN]["okra:stale"] = "x"
	elb.tags[tg.ARN]["owner"] = "alice"
	cl := webCluster("web-1", "v2", "vpc-1")
	cl.Tags["team"] = "checkout"

	elb.calls = map[string]int{}
	got, err := m.Ensure(context.Background(), c, cl)
	if err != nil {
		t.Fatalf("Ensure after drift: %v", err)
	}
	if elb.calls["AddTags"] != 1 || elb.calls["RemoveTags"] != 1 || elb.calls["CreateTargetGroup"] != 0 {
		t.Fatalf("calls = %v, want one AddTags, one RemoveTags, no create", elb.calls)
	}
	tags := elb.tags[tg.ARN]
	if tags["version"] != "v2" || tags["team"] != "checkout" || tags["owner"] != "alice" {
		t.Fatalf("tags = %v, want version v2, team checkout, owner kept", tags)
	}
	if _, ok := tags["okra:stale"]; ok {
		t.Fatalf("stale okra: tag kept: %v", tags)
	}
	if got.Version != "v2" || got.Tags["version"] != "v2" {
		t.Fatalf("Ensure = %+v, want version v2", got)
	}

	// In step again: nothing more to change.
	elb.calls = map[string]int{}
	if _, err := m.Ensure(context.Background(), c, cl); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if elb.calls["AddTags"]+elb.calls["RemoveTags"] != 0 {
		t.Fatalf("calls = %v, want no tag changes", elb.calls)
	}
}

func TestEnsureTagDriftOverLimit(t *testing.T) {
	elb := newFakeELB()
	m := newManager(t, elb, nil, nil)
	c := webCell("web")
	tg, err := m.Ensure(context.Background(), c, webCluster("web-1", "v1", "vpc-1"))
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	// Someone filled the group up to 50 tags by hand.
	for i := len(elb.tags[tg.ARN]); i < 50; i++ {
		elb.tags[tg.ARN][fmt.Sprintf("hand-%d", i)] = "x"
	}
	cl := webCluster("web-1", "v1", "vpc-1")
	cl.Tags["new-cluster-tag"] = "y"
	elb.calls = map[string]int{}
	_, err = m.Ensure(context.Background(), c, cl)
	var le *targetgroups.TagLimitError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "51 tags") {
		t.Fatalf("err = %v, want *TagLimitError about 51 tags", err)
	}
	if elb.calls["AddTags"] != 0 {
		t.Fatalf("AddTags called over the limit")
	}
}

func TestEnsureFindsByTagsUnderAnotherName(t *testing.T) {
	elb := newFakeELB()
	arn := elb.put("legacy-name", map[string]string{
		inventory.TagCell: "web", inventory.TagCluster: "web-1", inventory.TagManaged: "true", "role": "web", "version": "v1", "team": "shop",
	})
	elb.put("other", map[string]string{inventory.TagCell: "web", inventory.TagCluster: "web-2", inventory.TagManaged: "true"})
	tg, err := newManager(t, elb, nil, nil).Ensure(context.Background(), webCell("web"), webCluster("web-1", "v1", "vpc-1"))
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if tg.ARN != arn || tg.Name != "legacy-name" {
		t.Fatalf("Ensure = %+v, want the legacy group", tg)
	}
	if elb.calls["CreateTargetGroup"] != 0 {
		t.Fatalf("created a second group")
	}
}

func TestEnsureConflicts(t *testing.T) {
	name := targetgroups.Name("web", "web-1")
	ours := map[string]string{inventory.TagCell: "web", inventory.TagCluster: "web-1", inventory.TagManaged: "true"}
	tests := []struct {
		name    string
		setup   func(elb *fakeELB)
		wantMsg string
		wantN   int // conflicting ARNs
	}{
		{
			name:    "name taken by someone else's group",
			setup:   func(elb *fakeELB) { elb.put(name, map[string]string{"owner": "alice"}) },
			wantMsg: "okra does not own",
			wantN:   1,
		},
		{
			name: "name taken by okra's group of another cluster",
			setup: func(elb *fakeELB) {
				elb.put(name, map[string]string{inventory.TagCell: "web", inventory.TagCluster: "web-9", inventory.TagManaged: "true"})
			},
			wantMsg: "okra does not own",
			wantN:   1,
		},
		{
			name: "several groups claim the pair",
			setup: func(elb *fakeELB) {
				elb.put("dup-a", ours)
				elb.put("dup-b", ours)
			},
			wantMsg: "several target groups",
			wantN:   2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elb := newFakeELB()
			tt.setup(elb)
			_, err := newManager(t, elb, nil, nil).Ensure(context.Background(), webCell("web"), webCluster("web-1", "v1", "vpc-1"))
			var ce *targetgroups.ConflictError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.wantMsg) || len(ce.ARNs) != tt.wantN {
				t.Fatalf("err = %v, want *ConflictError (%q, %d ARNs)", err, tt.wantMsg, tt.wantN)
			}
			if elb.calls["CreateTargetGroup"] != 0 {
				t.Fatalf("CreateTargetGroup called despite the conflict")
			}
		})
	}
}

func TestEnsureCreateRace(t *testing.T) {
	name := targetgroups.Name("web", "web-1")
	tests := []struct {
		name     string
		racer    map[string]string // tags of the group created meanwhile
		wantErr  bool
		wantSame bool
	}{
		{
			name:     "another okra invocation won: use its group",
			racer:    map[string]string{inventory.TagCell: "web", inventory.TagCluster: "web-1", inventory.TagManaged: "true", "role": "web", "version": "v1", "team": "shop"},
			wantSame: true,
		},
		{
			name:    "someone else took the name: conflict",
			racer:   map[string]string{"owner": "alice"},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elb := newFakeELB()
			var racerARN string
			elb.beforeCreate = func() {
				if racerARN == "" {
					racerARN = elb.put(name, tt.racer)
				}
			}
			tg, err := newManager(t, elb, nil, nil).Ensure(context.Background(), webCell("web"), webCluster("web-1", "v1", "vpc-1"))
			if tt.wantErr {
				var ce *targetgroups.ConflictError
				if !errors.As(err, &ce) || ce.ARNs[0] != racerARN {
					t.Fatalf("err = %v, want *ConflictError naming %s", err, racerARN)
				}
				return
			}
			if err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			if tg.ARN != racerARN {
				t.Fatalf("Ensure = %s, want the racer's %s", tg.ARN, racerARN)
			}
			if len(elb.groups) != 1 {
				t.Fatalf("%d groups exist, want 1", len(elb.groups))
			}
		})
	}
}

func TestEnsureAttachesNodeGroups(t *testing.T) {
	tests := []struct {
		name       string
		targetType string
		attach     bool
		wantASGs   []string
	}{
		{name: "instance targets attach every node group's ASG", targetType: "instance", attach: true, wantASGs: []string{"asg-a", "asg-b1", "asg-b2"}},
		{name: "ip targets never attach", targetType: "ip", attach: true},
		{name: "not asked", targetType: "instance", attach: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			elb, eks, asg := newFakeELB(), newFakeEKS("web-1"), newFakeASG()
			eks.nodegroups["web-1"] = map[string][]string{"ng-a": {"asg-a"}, "ng-b": {"asg-b1", "asg-b2"}, "ng-creating": nil}
			c := webCell("web")
			c.Spec.TargetGroupTemplate.TargetType = tt.targetType
			c.Spec.TargetGroupTemplate.AttachToNodeGroups = tt.attach
			m := newManager(t, elb, eks, asg)
			tg, err := m.Ensure(context.Background(), c, webCluster("web-1", "v1", "vpc-1"))
			if err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			var got []string
			for name, arns := range asg.attached {
				for _, a := range arns {
					if a == tg.ARN {
						got = append(got, name)
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.wantASGs) {
				t.Fatalf("attached to %v, want %v", got, tt.wantASGs)
			}
			// Again: nothing new is attached.
			before := asg.calls["AttachLoadBalancerTargetGroups"]
			if _, err := m.Ensure(context.Background(), c, webCluster("web-1", "v1", "vpc-1")); err != nil {
				t.Fatalf("second Ensure: %v", err)
			}
			if after := asg.calls["AttachLoadBalancerTargetGroups"]; after != before {
				t.Fatalf("second Ensure attached again (%d -> %d calls)", before, after)
			}
		})
	}
}

func TestEnsureAttachNeedsClients(t *testing.T) {
	c := webCell("web")
	c.Spec.TargetGroupTemplate.TargetType = "instance"
	c.Spec.TargetGroupTemplate.AttachToNodeGroups = true
	_, err := newManager(t, newFakeELB(), nil, nil).Ensure(context.Background(), c, webCluster("web-1", "v1", "vpc-1"))
	if err == nil || !strings.Contains(err.Error(), "Auto Scaling clients are required") {
		t.Fatalf("err = %v, want the missing clients named", err)
	}
}

func TestEnsureWrapsErrors(t *testing.T) {
	tests := []struct {
		op      string
		wantMsg string
	}{
		{op: "DescribeTargetGroups", wantMsg: "describing target groups, "},
		{op: "CreateTargetGroup", wantMsg: "creating target group "},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			elb := newFakeELB()
			elb.failOps[tt.op] = apiError("AccessDenied")
			_, err := newManager(t, elb, nil, nil).Ensure(context.Background(), webCell("web"), webCluster("web-1", "v1", "vpc-1"))
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), "AccessDenied") {
				t.Fatalf("err = %v, want %q wrapping AccessDenied", err, tt.wantMsg)
			}
		})
	}
}

func TestEnsureAllUsesTheInventory(t *testing.T) {
	elb := newFakeELB()
	m := newManager(t, elb, nil, nil)
	ctx := context.Background()
	c := webCell("web")
	var pairs []targetgroups.Pair
	for i := range 5 {
		pairs = append(pairs, targetgroups.Pair{Cell: c, Cluster: webCluster(fmt.Sprintf("web-%d", i), "v1", "vpc-1")})
	}
	// Two pairs' groups exist already (as Ensure made them).
	for _, p := range pairs[:2] {
		if _, err := m.Ensure(ctx, p.Cell, p.Cluster); err != nil {
			t.Fatalf("Ensure: %v", err)
		}
	}
	managed := func() []inventory.TargetGroup {
		out, err := elb.GetResources(ctx, &tagging.GetResourcesInput{})
		if err != nil {
			t.Fatal(err)
		}
		var tgs []inventory.TargetGroup
		for _, r := range out.ResourceTagMappingList {
			tags := map[string]string{}
			for _, tg := range r.Tags {
				tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
			}
			tgs = append(tgs, inventory.TargetGroup{ARN: aws.ToString(r.ResourceARN), Tags: tags})
		}
		return tgs
	}
	inv := managed()
	elb.calls = map[string]int{}
	got := m.EnsureAll(ctx, inv, pairs)
	for i, e := range got {
		if e.Err != nil || e.Group.ARN == "" || e.Group.Cluster != pairs[i].Cluster.Name {
			t.Fatalf("pair %d: %+v, want its group", i, e)
		}
	}
	// One DescribeTargetGroups for the two found, three creations, one
	// DescribeTags batch confirming them; no lookup by name or tags.
	want := map[string]int{"DescribeTargetGroups": 1, "CreateTargetGroup": 3, "DescribeTags": 1}
	if !reflect.DeepEqual(elb.calls, want) {
		t.Errorf("EnsureAll calls = %v, want %v", elb.calls, want)
	}
	// In step: the second run makes one DescribeTargetGroups in all.
	inv = managed()
	elb.calls = map[string]int{}
	for i, e := range m.EnsureAll(ctx, inv, pairs) {
		if e.Err != nil || e.Group.ARN != got[i].Group.ARN {
			t.Fatalf("second run, pair %d: %+v, want %s", i, e, got[i].Group.ARN)
		}
	}
	if want := map[string]int{"DescribeTargetGroups": 1}; !reflect.DeepEqual(elb.calls, want) {
		t.Errorf("steady EnsureAll calls = %v, want %v", elb.calls, want)
	}
}
