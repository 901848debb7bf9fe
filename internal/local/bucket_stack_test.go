package local_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/local"
	"github.com/okrahq/okra/internal/testenv"
)

// TestELBBudgetThroughTheGatewayToMoto spends the account's Describe*
// bucket with the real ELBv2 client through the gateway to moto: the
// 41st call at once gets ELBv2's own throttling answer, which the SDK
// classifies as AWS's, and a refill lets calls through again.
func TestELBBudgetThroughTheGatewayToMoto(t *testing.T) {
	s, f := faultStack(t)
	clock := local.NewManualClock(time.Now())
	budget := local.NewAWSELBBudget(clock)
	f.SetBudget(budget)
	t.Cleanup(func() { f.SetBudget(nil) })
	ctx := context.Background()
	// One attempt per call: the test counts the gateway's answers.
	cfg, err := awsapi.LoadConfig(ctx, awsapi.Options{Region: testenv.Region, Endpoint: s.Endpoint, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	elb := cfg.ELBv2()
	for i := range local.ELBDescribeLimits.Burst {
		if _, err := elb.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}); err != nil {
			t.Fatalf("call %d of the burst: %v", i+1, err)
		}
	}
	_, err = elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "Throttling" || !strings.HasPrefix(apiErr.ErrorMessage(), "Rate exceeded") {
		t.Fatalf("the call past the burst: %v, want ELBv2's Throttling / Rate exceeded", err)
	}
	var resp *smithyhttp.ResponseError
	if !errors.As(err, &resp) || resp.HTTPStatusCode() != http.StatusBadRequest {
		t.Fatalf("the throttled call's status: %v, want HTTP 400", err)
	}
	if !awsapi.IsThrottle(err) || !awsapi.IsTransient(err) {
		t.Fatalf("okra does not classify the budget's answer as throttling: %v", err)
	}
	// The mutating bucket is not the Describe* one: a create still goes
	// through to moto (which refuses it for the made-up VPC on its own).
	_, err = elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(testenv.UniqueName("tg")), Port: aws.Int32(80), Protocol: "HTTP", VpcId: aws.String("vpc-00000000")})
	if awsapi.IsThrottle(err) {
		t.Fatalf("a mutating call was throttled by the Describe* bucket: %v", err)
	}
	clock.Advance(100 * time.Millisecond)
	if _, err := elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{}); err != nil {
		t.Fatalf("after a tenth of a second's refill: %v", err)
	}
	okra := budget.Spent(local.SpenderOkra)
	if okra.Admitted != local.ELBDescribeLimits.Burst+2 || okra.Throttled != 1 {
		t.Fatalf("okra's spending: %+v, want %d admitted and 1 throttled", okra, local.ELBDescribeLimits.Burst+2)
	}
}
