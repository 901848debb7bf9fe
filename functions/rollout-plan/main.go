// Command rollout-plan is the okra-rollout-plan Lambda function: the rollout
// state machine's AcquireLease, NextStep, StartAnalysis and
// StartBackgroundAnalysis tasks (the planner's decisions, recorded in the
// Cell status).
// It wires dependencies once at cold start; the handler lives in
// internal/steps, so the local gateway and the tests run the same code.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/store"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := handlers(context.Background())
	if err != nil {
		slog.Error("okra-rollout-plan cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Plan)
}

func handlers(ctx context.Context) (*steps.Handlers, error) {
	opts, err := options.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := awsapi.LoadConfig(ctx, awsapi.Options{Region: opts.Region, Endpoint: opts.Endpoint})
	if err != nil {
		return nil, err
	}
	deps, err := steps.DepsFromConfig(cfg, opts, slog.Default())
	if err != nil {
		return nil, err
	}
	// StartAnalysis and StartBackgroundAnalysis: the analysis starter
	// resolves templates and okra's built-in arguments (the target groups
	// of each side, found by discovery).
	deps.Analysis, err = checks.NewStarter(checks.Options{
		Store:     store.New(cfg.DynamoDB(), opts.TableName, store.Options{Logger: slog.Default()}),
		Discovery: discovery.NewTargetGroups(cfg.ELBv2(), discovery.Options{Logger: slog.Default()}),
		Logger:    slog.Default(),
	})
	if err != nil {
		return nil, err
	}
	return steps.New(deps)
}
