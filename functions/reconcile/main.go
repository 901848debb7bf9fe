// Command reconcile is the reconcile Lambda function: it handles
// the EventBridge schedule: a full, idempotent reconcile of every cluster and Cell with
// onboarding.Onboarder.Reconcile. It reads its settings and builds its
// clients once, at cold start.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/onboarding"
	"github.com/okrahq/okra/internal/options"
)

func main() {
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	o, err := setup(context.Background(), log)
	if err != nil {
		log.Error("reconcile cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start(o.Reconcile)
}

func setup(ctx context.Context, log *slog.Logger) (*onboarding.Onboarder, error) {
	opts, err := options.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	if err := opts.Validate(onboarding.RequiredOptions...); err != nil {
		return nil, err
	}
	cfg, err := awsapi.LoadConfig(ctx, awsapi.Options{Region: opts.Region, Endpoint: opts.Endpoint})
	if err != nil {
		return nil, err
	}
	return onboarding.NewFromAWS(ctx, opts, cfg, log)
}
