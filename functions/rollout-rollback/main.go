// Command rollout-rollback is the okra-rollout-rollback Lambda function: the
// rollout state machine's Rollback and Supersede tasks (restore the snapshot
// taken at AcquireLease, then block the version or start the newer rollout).
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
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/steps"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := handlers(context.Background())
	if err != nil {
		slog.Error("okra-rollout-rollback cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.RollbackHandler)
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
	return steps.New(deps)
}
