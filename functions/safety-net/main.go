// Command safety-net is the okra-safety-net Lambda function: it receives
// the rollout state machine's "Step Functions Execution Status Change"
// events (FAILED, TIMED_OUT, ABORTED) and, when the ended execution still
// holds its Cell's lease, restores the stable weights. It wires
// dependencies once at cold start; the handler lives in internal/safetynet.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/safetynet"
	"github.com/okrahq/okra/internal/steps"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := handler(context.Background())
	if err != nil {
		slog.Error("okra-safety-net cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func handler(ctx context.Context) (*safetynet.Handler, error) {
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
	recoverer, err := steps.New(deps)
	if err != nil {
		return nil, err
	}
	return safetynet.New(safetynet.Deps{
		Recoverer:       recoverer,
		Executions:      cfg.SFN(),
		StateMachineARN: opts.StateMachineARN,
		Logger:          slog.Default(),
	})
}
