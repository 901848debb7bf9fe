package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/inventory"
)

// RoleARN is an IAM role ARN that moto accepts wherever a role is needed
// (state machines, EventBridge targets). moto does not check it exists.
const RoleARN = "arn:aws:iam::" + AccountID + ":role/okra-test"

var nameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9-]+`)

// UniqueName returns prefix followed by a random suffix, safe for every
// resource name okra's tests create (letters, digits and hyphens; at most
// 32 characters, the target-group limit). Tests share one moto per
// package, so names must not collide across tests.
func UniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	suffix := hex.EncodeToString(b[:])
	prefix = strings.Trim(nameUnsafe.ReplaceAllString(prefix, "-"), "-")
	if limit := 32 - len(suffix) - 1; len(prefix) > limit {
		prefix = strings.TrimRight(prefix[:limit], "-")
	}
	if prefix == "" {
		return "t-" + suffix
	}
	return prefix + "-" + suffix
}

// Network is a VPC with subnets in two availability zones, what moto needs
// before it creates a load balancer.
type Network struct {
	VPCID     string
	SubnetIDs []string
}

// CreateNetwork creates a VPC (10.0.0.0/16) and two subnets in different
// availability zones of Region.
func CreateNetwork(ctx context.Context, client *ec2.Client) (Network, error) {
	vpc, err := client.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		return Network{}, fmt.Errorf("creating VPC, %w", err)
	}
	n := Network{VPCID: aws.ToString(vpc.Vpc.VpcId)}
	for i, az := range []string{Region + "a", Region + "b"} {
		sn, err := client.CreateSubnet(ctx, &ec2.CreateSubnetInput{
			VpcId:            aws.String(n.VPCID),
			CidrBlock:        aws.String(fmt.Sprintf("10.0.%d.0/24", i)),
			AvailabilityZone: aws.String(az),
		})
		if err != nil {
			return Network{}, fmt.Errorf("creating subnet in %s, %w", az, err)
		}
		n.SubnetIDs = append(n.SubnetIDs, aws.ToString(sn.Subnet.SubnetId))
	}
	return n, nil
}

// NewNetwork is CreateNetwork for tests: it fails the test on error.
func NewNetwork(t testing.TB, client *ec2.Client) Network {
	t.Helper()
	n, err := CreateNetwork(context.Background(), client)
	if err != nil {
		t.Fatalf("creating network: %v", err)
	}
	return n
}

// ExecutionDescriber is the one Step Functions call WaitExecution makes;
// *sfn.Client satisfies it.
type ExecutionDescriber interface {
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
}

// WaitExecution polls DescribeExecution every 100ms until the execution
// leaves RUNNING (or PENDING_REDRIVE) and returns its last description. It
// gives up after timeout, returning the last description seen with an
// error.
func WaitExecution(ctx context.Context, client ExecutionDescriber, executionARN string, timeout time.Duration) (*sfn.DescribeExecutionOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last *sfn.DescribeExecutionOutput
	for {
		out, err := client.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(executionARN)})
		if err != nil && ctx.Err() == nil {
			return last, fmt.Errorf("describing execution %s, %w", executionARN, err)
		}
		if err == nil {
			last = out
			if out.Status != sfntypes.ExecutionStatusRunning && out.Status != sfntypes.ExecutionStatusPendingRedrive {
				return out, nil
			}
		}
		select {
		case <-ctx.Done():
			status := "unknown"
			if last != nil {
				status = string(last.Status)
			}
			return last, fmt.Errorf("execution %s still %s after %s", executionARN, status, timeout)
		case <-tick.C:
		}
	}
}

// CreateForeignTargetGroups creates n target groups in vpc named
// prefix-0000, prefix-0001, … and tagged as other Cells' would be (okra:cell
// and version tags that match no test's selector): the rest of a large
// account, for tests that show okra's calls do not grow with it. It creates
// them one at a time: moto's CreateTargetGroup scans every group's name
// while another create may add one, and answers 500 when that races.
func CreateForeignTargetGroups(ctx context.Context, client *elbv2.Client, vpc, prefix string, n int) ([]string, error) {
	arns := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out, err := client.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
			Name:       aws.String(fmt.Sprintf("%s-%04d", prefix, i)),
			Protocol:   elbv2types.ProtocolEnumHttp,
			Port:       aws.Int32(8080),
			VpcId:      aws.String(vpc),
			TargetType: elbv2types.TargetTypeEnumIp,
			Tags: []elbv2types.Tag{
				{Key: aws.String(inventory.TagCell), Value: aws.String(fmt.Sprintf("%s-cell-%d", prefix, i%7))},
				{Key: aws.String("version"), Value: aws.String(fmt.Sprintf("v%d", i%3+1))},
			},
		})
		if err != nil {
			return arns, fmt.Errorf("creating foreign target group %d of %d, %w", i+1, n, err)
		}
		arns = append(arns, aws.ToString(out.TargetGroups[0].TargetGroupArn))
	}
	return arns, nil
}
