// Command check-cloudwatch is the rollout state machine's CloudWatch check
// (CheckCloudWatch, BackgroundCheckCloudWatch): it takes the CloudWatch
// measurements of the analysis at $.analysis that are due and returns the
// updated state. The handler is checks.Checker; this main only wires it
// once per execution environment.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/analysis/cloudwatch"
	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/store"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	checker, err := setup(context.Background())
	if err != nil {
		slog.Error("check-cloudwatch cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(checker.Handle)
}

func setup(ctx context.Context) (*checks.Checker, error) {
	o, err := options.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	if err := o.Validate(options.FieldTableName); err != nil {
		return nil, err
	}
	cfg, err := awsapi.LoadConfig(ctx, awsapi.Options{Region: o.Region, Endpoint: o.Endpoint})
	if err != nil {
		return nil, err
	}
	// No discovery: a background analysis that starts (or restarts) in a
	// check takes its target-group arguments from the Cell status, so this
	// function needs no Elastic Load Balancing permissions.
	starter, err := checks.NewStarter(checks.Options{Store: store.New(cfg.DynamoDB(), o.TableName, store.Options{})})
	if err != nil {
		return nil, fmt.Errorf("building the analysis starter, %w", err)
	}
	return checks.NewChecker(starter, analysis.KindCloudWatch, cloudwatch.New(cfg.CloudWatch()))
}
