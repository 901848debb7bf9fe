package listener_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/weights"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var seq atomic.Int64

// unique returns a name no other test in this binary uses (<= 32 chars).
func unique(prefix string) string { return fmt.Sprintf("%s-%d", prefix, seq.Add(1)) }

// lbEnv is one load balancer with its own VPC and target groups, so tests
// on the shared moto do not see each other's resources.
type lbEnv struct {
	t       *testing.T
	ctx     context.Context
	cfg     awsapi.Config
	counter *awsapi.CallCounter
	elb     *elbv2.Client
	vpc     string
	lbARN   string
	kind    cell.IngressType
	tgs     []string
}

func newLB(t *testing.T, kind cell.IngressType, targetGroups int) *lbEnv {
	t.Helper()
	cfg, counter := testenv.AWS(t)
	ctx := context.Background()
	e := &lbEnv{t: t, ctx: ctx, cfg: cfg, counter: counter, elb: cfg.ELBv2(), kind: kind}
	ec := cfg.EC2()
	vpc, err := ec.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatalf("CreateVpc: %v", err)
	}
	e.vpc = aws.ToString(vpc.Vpc.VpcId)
	var subnets []string
	for i, az := range []string{"us-east-1a", "us-east-1b"} {
		sn, err := ec.CreateSubnet(ctx, &ec2.CreateSubnetInput{
			VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String(fmt.Sprintf("10.0.%d.0/24", i)), AvailabilityZone: aws.String(az),
		})
		if err != nil {
			t.Fatalf("CreateSubnet: %v", err)
		}
		subnets = append(subnets, aws.ToString(sn.Subnet.SubnetId))
	}
	lbType := types.LoadBalancerTypeEnumApplication
	if kind == cell.IngressNLB {
		lbType = types.LoadBalancerTypeEnumNetwork
	}
	lb, err := e.elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String(unique("lb")), Subnets: subnets, Type: lbType,
	})
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	e.lbARN = aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	for i := 0; i < targetGroups; i++ {
		e.tgs = append(e.tgs, e.targetGroup())
	}
	return e
}

func (e *lbEnv) protocol() types.ProtocolEnum {
	if e.kind == cell.IngressNLB {
		return types.ProtocolEnumTcp
	}
	return types.ProtocolEnumHttp
}

func (e *lbEnv) targetGroup() string {
	e.t.Helper()
	out, err := e.elb.CreateTargetGroup(e.ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(unique("tg")), Protocol: e.protocol(), Port: aws.Int32(80),
		VpcId: aws.String(e.vpc), TargetType: types.TargetTypeEnumIp,
	})
	if err != nil {
		e.t.Fatalf("CreateTargetGroup: %v", err)
	}
	return aws.ToString(out.TargetGroups[0].TargetGroupArn)
}

// listener creates a listener on port with the given default actions.
func (e *lbEnv) listener(port int32, actions ...types.Action) string {
	e.t.Helper()
	out, err := e.elb.CreateListener(e.ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: aws.String(e.lbARN), Port: aws.Int32(port), Protocol: e.protocol(), DefaultActions: actions,
	})
	if err != nil {
		e.t.Fatalf("CreateListener: %v", err)
	}
	return aws.ToString(out.Listeners[0].ListenerArn)
}

func (e *lbEnv) controller(o listener.Options) *listener.Client {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return listener.New(e.elb, o)
}

func legacyForward(tg string) types.Action {
	return types.Action{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}
}

func weightedForward(sticky *types.TargetGroupStickinessConfig, tgw ...weights.TargetGroupWeight) types.Action {
	fc := &types.ForwardActionConfig{TargetGroupStickinessConfig: sticky}
	for _, w := range tgw {
		fc.TargetGroups = append(fc.TargetGroups, types.TargetGroupTuple{TargetGroupArn: aws.String(w.ARN), Weight: aws.Int32(w.Weight)})
	}
	return types.Action{Type: types.ActionTypeEnumForward, ForwardConfig: fc}
}

func fixedResponse() types.Action {
	return types.Action{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{
		StatusCode: aws.String("404"), ContentType: aws.String("text/plain"), MessageBody: aws.String("no"),
	}}
}

func fwd(pairs ...any) weights.Forward {
	var f weights.Forward
	for i := 0; i < len(pairs); i += 2 {
		f.TargetGroups = append(f.TargetGroups, weights.TargetGroupWeight{ARN: pairs[i].(string), Weight: int32(pairs[i+1].(int))})
	}
	return f
}
