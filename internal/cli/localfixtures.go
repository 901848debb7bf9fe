package cli

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2 "github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/spf13/cobra"

	"github.com/okrahq/okra/internal/demo"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/testenv"
)

// localSubnetTag marks the subnets `okra local create-listener` makes, so
// that `okra local create-cluster` puts clusters in the same VPC.
const localSubnetTag = "okra:local"

// The emulator helpers stand in for what is not okra when a user drives a
// rollout by hand against `okra local up` (no aws CLI needed): the IaC
// that makes the load balancer and the clusters, and ArgoCD with the AWS
// Load Balancer Controller registering the app's pods.
func newLocalFixtureCommands(app *App) []*cobra.Command {
	createListener := &cobra.Command{
		Use:     "create-listener",
		Short:   "Emulator only: create a VPC, an ALB and an HTTP listener (fixed 404), print the listener ARN",
		Args:    cobra.NoArgs,
		Example: `  LISTENER=$(okra --endpoint-url http://127.0.0.1:4566 local create-listener)`,
		RunE: app.runE(func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := app.AWS(ctx)
			if err != nil {
				return err
			}
			n, err := testenv.CreateNetwork(ctx, cfg.EC2())
			if err != nil {
				return err
			}
			if _, err := cfg.EC2().CreateTags(ctx, &ec2.CreateTagsInput{Resources: n.SubnetIDs, Tags: []ec2types.Tag{{Key: aws.String(localSubnetTag), Value: aws.String("true")}}}); err != nil {
				return fmt.Errorf("tagging the subnets, %w", err)
			}
			lb, err := cfg.ELBv2().CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
				Name: aws.String("web-alb"), Subnets: n.SubnetIDs, Type: elbv2types.LoadBalancerTypeEnumApplication,
			})
			if err != nil {
				return fmt.Errorf("creating the load balancer, %w", err)
			}
			lis, err := cfg.ELBv2().CreateListener(ctx, &elbv2.CreateListenerInput{
				LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Port: aws.Int32(80), Protocol: elbv2types.ProtocolEnumHttp,
				DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumFixedResponse, FixedResponseConfig: &elbv2types.FixedResponseActionConfig{
					StatusCode: aws.String("404"), ContentType: aws.String("text/plain"), MessageBody: aws.String("no route"),
				}}},
			})
			if err != nil {
				return fmt.Errorf("creating the listener, %w", err)
			}
			_, err = fmt.Fprintln(app.Out, aws.ToString(lis.Listeners[0].ListenerArn))
			return err
		}),
	}

	var tags []string
	createCluster := &cobra.Command{
		Use:   "create-cluster NAME --tag KEY=VALUE...",
		Short: "Emulator only: create an EKS cluster with tags, print its CloudTrail CreateCluster event",
		Long: `Create an EKS cluster in the emulator (in the subnets "okra local
create-listener" made) and print the CloudTrail CreateCluster event
EventBridge would deliver (events/eks-create-cluster.json rewritten),
ready for "okra local invoke cluster-events --event FILE".`,
		Example: `  okra --endpoint-url http://127.0.0.1:4566 local create-cluster web-1-v1 --tag role=web --tag version=v1 > web-1-v1.json`,
		Args:    exactArgs(1, "NAME"),
		RunE: app.runE(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := args[0]
			tagMap := map[string]string{"name": name}
			for _, t := range tags {
				k, v, ok := strings.Cut(t, "=")
				if !ok || k == "" {
					return usageErrorf("--tag %q: want KEY=VALUE", t)
				}
				tagMap[k] = v
			}
			cfg, err := app.AWS(ctx)
			if err != nil {
				return err
			}
			sn, err := cfg.EC2().DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("tag:" + localSubnetTag), Values: []string{"true"}}}})
			if err != nil {
				return fmt.Errorf("finding the subnets, %w", err)
			}
			var subnets []string
			for _, s := range sn.Subnets {
				subnets = append(subnets, aws.ToString(s.SubnetId))
			}
			if len(subnets) == 0 {
				return fmt.Errorf("no subnets tagged %s=true: run \"okra local create-listener\" first", localSubnetTag)
			}
			out, err := cfg.EKS().CreateCluster(ctx, &eks.CreateClusterInput{
				Name: aws.String(name), RoleArn: aws.String(testenv.RoleARN),
				ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: subnets}, Tags: tagMap,
			})
			if err != nil {
				return fmt.Errorf("creating EKS cluster %s, %w", name, err)
			}
			ev, err := demo.CreateClusterEvent(name, aws.ToString(out.Cluster.Arn), tagMap, subnets)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(app.Out, string(ev))
			return err
		}),
	}
	createCluster.Flags().StringArrayVar(&tags, "tag", nil, "a tag KEY=VALUE (repeatable); name=NAME is added")

	registerTargets := &cobra.Command{
		Use:     "register-targets CLUSTER",
		Short:   "Emulator only: register two pods in okra's target groups of a cluster, as ArgoCD and the AWS Load Balancer Controller would",
		Example: `  okra --endpoint-url http://127.0.0.1:4566 local register-targets web-1-v1`,
		Args:    exactArgs(1, "CLUSTER"),
		RunE: app.runE(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, err := app.AWS(ctx)
			if err != nil {
				return err
			}
			tgs, err := discovery.Tagged(ctx, cfg.Tagging(), map[string]string{inventory.TagCluster: args[0]}, discovery.Options{Logger: app.logger()})
			if err != nil {
				return err
			}
			if len(tgs) == 0 {
				return fmt.Errorf("okra has no target group for cluster %s yet: deliver its CreateCluster event first", args[0])
			}
			for _, tg := range tgs {
				if _, err := cfg.ELBv2().RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
					TargetGroupArn: aws.String(tg.ARN),
					Targets:        []elbv2types.TargetDescription{{Id: aws.String("10.0.0.10")}, {Id: aws.String("10.0.0.11")}},
				}); err != nil {
					return fmt.Errorf("registering targets in %s, %w", tg.Name, err)
				}
				fmt.Fprintf(app.Out, "registered 2 targets in %s\n", tg.Name)
			}
			return nil
		}),
	}
	return []*cobra.Command{createListener, createCluster, registerTargets}
}
