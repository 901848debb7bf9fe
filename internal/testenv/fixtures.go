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
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
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
