// Package awsapi owns how okra talks to AWS: one aws.Config built once per
// process (region, retryer (adaptive, see NewRetryer), user agent, an optional custom endpoint for the
// local emulator), the service clients built from it, the classification of
// AWS error codes, and a middleware that counts API calls by operation. It
// holds no okra logic.
package awsapi

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingschemas "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/schemas"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"
)

// UserAgent is appended to every AWS request okra makes.
const UserAgent = "okra"

// Options say how to reach AWS.
type Options struct {
	// Region, e.g. us-east-1. Empty means the SDK's default chain.
	Region string
	// Endpoint, when set, sends every call there (the local emulator or
	// gateway) with static test credentials unless Credentials is set.
	Endpoint string
	// Profile selects a shared-config profile (CLI use).
	Profile string
	// Credentials overrides the default credential chain.
	Credentials aws.CredentialsProvider
	// MaxAttempts per call, the first included (default 5).
	MaxAttempts int
	// RetryMode is aws.RetryModeAdaptive (the default, also "") or
	// aws.RetryModeStandard; see NewRetryer.
	RetryMode aws.RetryMode
	// Counter, when set, counts every API call made by clients built here.
	Counter *CallCounter
}

// Config is an aws.Config plus what okra needs to build clients from it.
type Config struct {
	AWS      aws.Config
	Endpoint string
}

// LoadConfig builds the aws.Config once; call it at cold start, not per
// request.
func LoadConfig(ctx context.Context, o Options) (Config, error) {
	switch o.RetryMode {
	case "", aws.RetryModeAdaptive, aws.RetryModeStandard:
	default:
		return Config{}, fmt.Errorf("loading AWS configuration: retry mode %q: want %q or %q", o.RetryMode, aws.RetryModeAdaptive, aws.RetryModeStandard)
	}
	loadOpts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRetryer(func() aws.Retryer { return NewRetryer(o.RetryMode, o.MaxAttempts) }),
		awsconfig.WithAppID(UserAgent),
	}
	if o.Region != "" {
		loadOpts = append(loadOpts, awsconfig.WithRegion(o.Region))
	}
	if o.Profile != "" {
		loadOpts = append(loadOpts, awsconfig.WithSharedConfigProfile(o.Profile))
	}
	creds := o.Credentials
	if creds == nil && o.Endpoint != "" {
		creds = credentials.NewStaticCredentialsProvider("test", "test", "")
	}
	if creds != nil {
		loadOpts = append(loadOpts, awsconfig.WithCredentialsProvider(creds))
	}
	if o.Endpoint != "" {
		loadOpts = append(loadOpts, awsconfig.WithBaseEndpoint(o.Endpoint))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return Config{}, fmt.Errorf("loading AWS configuration, %w", err)
	}
	if cfg.Region == "" {
		return Config{}, fmt.Errorf("loading AWS configuration: no region set (set AWS_REGION or --region)")
	}
	if o.Counter != nil {
		o.Counter.Attach(&cfg)
	}
	return Config{AWS: cfg, Endpoint: o.Endpoint}, nil
}

// DefaultMaxAttempts is how many attempts a call gets, the first
// included, unless Options.MaxAttempts says otherwise.
const DefaultMaxAttempts = 5

// MaxRetryBackoff caps the pause between two attempts of a call.
const MaxRetryBackoff = 5 * time.Second

// NewRetryer returns the retryer of one client: the SDK's standard retry
// (exponential backoff with full jitter up to MaxRetryBackoff, the
// throttle-aware retry quota, retrying exactly what the SDK's retryables
// and so IsTransient call transient) with maxAttempts (0:
// DefaultMaxAttempts), and in adaptive mode (mode "" or
// aws.RetryModeAdaptive, okra's default) the SDK's client-side rate
// limiter on top.
//
// Why adaptive. ELBv2's Describe* budget is per account and Region, 40
// calls and 10 a second, shared with every aws-load-balancer-controller
// and anything else in the account. The standard retryer answers a
// throttle by retrying each call on its own after a random pause, so a
// burst of concurrent calls (a reconcile's DescribeTargetHealth, 20 Cells
// rolling out at once) keeps hitting the empty bucket and spends its
// retry quota and attempts, starving the other spenders. The adaptive
// mode measures the rate the service admits and, after a throttle, makes
// every call of the client wait for a token of a client-side bucket that
// refills at a cubic-recovering fraction of that rate: the client slows
// down as a whole instead of thrashing. Its options, chosen:
//
//   - FailOnNoAttemptTokens false: a call waits for a client-side token
//     rather than failing; the wait is bounded by the call's context (a
//     Lambda's deadline), and a context that ends makes a
//     context.DeadlineExceeded error IsTransient reports as such.
//   - RequestCost 1 (the SDK's default): every attempt counts once, as
//     every call draws one token on AWS's side.
//   - Throttles: the SDK's default throttle codes, which include ELBv2's
//     Throttling and every code IsThrottle knows that okra meets.
//
// The limiter belongs to one client (the SDK builds a retryer per
// client), so each function's ELBv2 client paces itself; a cold start
// starts unrestricted, as a first throttle is needed to learn the rate.
// internal/awsapi's config_test.go shows a throttled burst absorbed in
// adaptive mode where the standard mode fails or spends more attempts.
func NewRetryer(mode aws.RetryMode, maxAttempts int) aws.Retryer {
	if maxAttempts == 0 {
		maxAttempts = DefaultMaxAttempts
	}
	standard := func(so *retry.StandardOptions) {
		so.MaxAttempts = maxAttempts
		so.MaxBackoff = MaxRetryBackoff
	}
	if mode == aws.RetryModeStandard {
		return retry.NewStandard(standard)
	}
	return retry.NewAdaptiveMode(func(ao *retry.AdaptiveModeOptions) {
		ao.FailOnNoAttemptTokens = false
		ao.RequestCost = retry.DefaultRequestCost
		ao.StandardOptions = append(ao.StandardOptions, standard)
	})
}

// ELBv2 returns an Elastic Load Balancing v2 client.
func (c Config) ELBv2() *elbv2.Client { return elbv2.NewFromConfig(c.AWS) }

// Tagging returns a Resource Groups Tagging API client: discovery finds a
// Cell's target groups by their tags with it (tag:GetResources) instead of
// reading every target group of the account. Against a custom endpoint it
// speaks awsJson1_1, as for CloudWatch: the local emulator does not
// understand the SDK's default (RPCv2 CBOR), while AWS accepts both.
func (c Config) Tagging() *resourcegroupstaggingapi.Client {
	return resourcegroupstaggingapi.NewFromConfig(c.AWS, func(o *resourcegroupstaggingapi.Options) {
		if c.Endpoint != "" {
			o.Protocol = awsjson.New11(taggingschemas.ResourceGroupsTaggingAPI_20170126)
		}
	})
}

// EKS returns an EKS client.
func (c Config) EKS() *eks.Client { return eks.NewFromConfig(c.AWS) }

// EC2 returns an EC2 client.
func (c Config) EC2() *ec2.Client { return ec2.NewFromConfig(c.AWS) }

// AutoScaling returns an Auto Scaling client.
func (c Config) AutoScaling() *autoscaling.Client { return autoscaling.NewFromConfig(c.AWS) }

// DynamoDB returns a DynamoDB client.
func (c Config) DynamoDB() *dynamodb.Client { return dynamodb.NewFromConfig(c.AWS) }

// SFN returns a Step Functions client.
func (c Config) SFN() *sfn.Client { return sfn.NewFromConfig(c.AWS) }

// STS returns an STS client.
func (c Config) STS() *sts.Client { return sts.NewFromConfig(c.AWS) }

// SecretsManager returns a Secrets Manager client.
func (c Config) SecretsManager() *secretsmanager.Client { return secretsmanager.NewFromConfig(c.AWS) }

// EventBridge returns an EventBridge client.
func (c Config) EventBridge() *eventbridge.Client { return eventbridge.NewFromConfig(c.AWS) }

// SNS returns an SNS client.
func (c Config) SNS() *sns.Client { return sns.NewFromConfig(c.AWS) }

// SQS returns an SQS client.
func (c Config) SQS() *sqs.Client { return sqs.NewFromConfig(c.AWS) }

// CloudWatch returns a CloudWatch client. Against a custom endpoint it
// speaks the awsquery protocol: the SDK's default (RPCv2 CBOR) is not
// understood by the local emulator, while AWS accepts both.
func (c Config) CloudWatch() *cloudwatch.Client {
	return cloudwatch.NewFromConfig(c.AWS, func(o *cloudwatch.Options) {
		if c.Endpoint != "" {
			o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801)
		}
	})
}
