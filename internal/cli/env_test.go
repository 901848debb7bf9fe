package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// update rewrites golden files: go test ./internal/cli -run Golden -update
var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// fixedNow is the clock of every test that renders times.
var fixedNow = time.Date(2025, 3, 1, 12, 10, 0, 0, time.UTC)

var tables atomic.Int64

// awsEnv is okra's table on the package's shared moto, and a way to run
// the command tree against it as a user would: with --endpoint-url.
type awsEnv struct {
	t        *testing.T
	ctx      context.Context
	cfg      awsapi.Config
	endpoint string
	table    string
	store    *store.Store
	// checkIngress turns on cell apply's check of the ingress against AWS
	// (off by default: the examples name listeners that do not exist).
	checkIngress bool
}

// newAWSEnv creates a table of its own on the shared moto. It marks t
// parallel: every env has a table of its own and names its
// AWS resources apart, so the tests share moto without seeing each other.
func newAWSEnv(t *testing.T) *awsEnv {
	t.Helper()
	t.Parallel()
	m := testenv.SharedMoto(t)
	cfg, _ := testenv.AWS(t)
	e := &awsEnv{t: t, ctx: context.Background(), cfg: cfg, endpoint: m.Endpoint, table: fmt.Sprintf("okra-cli-%d", tables.Add(1))}
	if err := store.CreateTable(e.ctx, cfg.DynamoDB(), e.table); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	e.store = store.New(cfg.DynamoDB(), e.table, store.Options{Logger: quietLog, Now: func() time.Time { return fixedNow }})
	return e
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// run runs okra with the global flags pointing at the env's table.
func (e *awsEnv) run(stdin string, args ...string) result {
	e.t.Helper()
	return e.runApp(nil, stdin, args...)
}

// runApp is run with a chance to change the App first.
func (e *awsEnv) runApp(configure func(*App), stdin string, args ...string) result {
	e.t.Helper()
	var out, errOut bytes.Buffer
	app := NewApp(strings.NewReader(stdin), &out, &errOut)
	app.now = func() time.Time { return fixedNow }
	app.getenv = func(string) string { return "" }
	app.testHooks.skipAWSIngressCheck = !e.checkIngress
	if configure != nil {
		configure(app)
	}
	full := append([]string{"--endpoint-url", e.endpoint, "--table", e.table}, args...)
	code := app.Execute(e.ctx, full)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// mustRun fails the test unless okra exits 0.
func (e *awsEnv) mustRun(stdin string, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != ExitOK {
		e.t.Fatalf("okra %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// loadBalancer is an ALB with target groups on the shared moto.
type loadBalancer struct {
	e        *awsEnv
	elb      *elbv2.Client
	vpc      string
	arn      string
	listener string
}

func (e *awsEnv) newLoadBalancer(name string) *loadBalancer {
	e.t.Helper()
	lb := &loadBalancer{e: e, elb: e.cfg.ELBv2()}
	ec := e.cfg.EC2()
	vpc, err := ec.CreateVpc(e.ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		e.t.Fatalf("CreateVpc: %v", err)
	}
	lb.vpc = aws.ToString(vpc.Vpc.VpcId)
	var subnets []string
	for i, az := range []string{"us-east-1a", "us-east-1b"} {
		sn, err := ec.CreateSubnet(e.ctx, &ec2.CreateSubnetInput{
			VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String(fmt.Sprintf("10.0.%d.0/24", i)), AvailabilityZone: aws.String(az),
		})
		if err != nil {
			e.t.Fatalf("CreateSubnet: %v", err)
		}
		subnets = append(subnets, aws.ToString(sn.Subnet.SubnetId))
	}
	out, err := lb.elb.CreateLoadBalancer(e.ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(name), Subnets: subnets, Type: elbtypes.LoadBalancerTypeEnumApplication})
	if err != nil {
		e.t.Fatalf("CreateLoadBalancer: %v", err)
	}
	lb.arn = aws.ToString(out.LoadBalancers[0].LoadBalancerArn)
	return lb
}

// targetGroup creates a target group with tags and healthy targets.
func (lb *loadBalancer) targetGroup(name string, targets int, tags map[string]string) string {
	e := lb.e
	e.t.Helper()
	in := &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(80),
		VpcId: aws.String(lb.vpc), TargetType: elbtypes.TargetTypeEnumIp,
	}
	for k, v := range tags {
		in.Tags = append(in.Tags, elbtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	out, err := lb.elb.CreateTargetGroup(e.ctx, in)
	if err != nil {
		e.t.Fatalf("CreateTargetGroup: %v", err)
	}
	arn := aws.ToString(out.TargetGroups[0].TargetGroupArn)
	var ts []elbtypes.TargetDescription
	for i := range targets {
		ts = append(ts, elbtypes.TargetDescription{Id: aws.String(fmt.Sprintf("10.0.1.%d", 10+i)), Port: aws.Int32(80)})
	}
	if len(ts) > 0 {
		if _, err := lb.elb.RegisterTargets(e.ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: ts}); err != nil {
			e.t.Fatalf("RegisterTargets: %v", err)
		}
	}
	return arn
}

// forwardListener creates a listener whose default action forwards to the
// target groups with the weights given as arn, weight, arn, weight...
func (lb *loadBalancer) forwardListener(port int32, pairs ...any) string {
	e := lb.e
	e.t.Helper()
	fc := &elbtypes.ForwardActionConfig{}
	for i := 0; i < len(pairs); i += 2 {
		fc.TargetGroups = append(fc.TargetGroups, elbtypes.TargetGroupTuple{TargetGroupArn: aws.String(pairs[i].(string)), Weight: aws.Int32(int32(pairs[i+1].(int)))})
	}
	out, err := lb.elb.CreateListener(e.ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: aws.String(lb.arn), Port: aws.Int32(port), Protocol: elbtypes.ProtocolEnumHttp,
		DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: fc}},
	})
	if err != nil {
		e.t.Fatalf("CreateListener: %v", err)
	}
	lb.listener = aws.ToString(out.Listeners[0].ListenerArn)
	return lb.listener
}

// golden compares got with testdata/NAME, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// syncBuffer is a bytes.Buffer safe for a command writing while a test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
