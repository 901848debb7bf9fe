// Package lambdamain owns the cold start every okra function shares: the
// JSON logger that carries the request id, the options read once from the
// environment, one AWS configuration, and lambda.Start of the handler the
// function builds from them. Each functions/<name>/main.go is one call to
// Run; the handlers themselves live in their own packages.
package lambdamain

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/options"
)

// Env is what a function's handler is built from.
type Env struct {
	Options options.Options
	AWS     awsapi.Config
	Logger  *slog.Logger
}

// Build makes a function's handler (any signature lambda.Start accepts).
type Build func(ctx context.Context, env Env) (any, error)

// Setup reads the options with getenv, loads the AWS configuration once and
// builds the handler.
func Setup(ctx context.Context, getenv func(string) string, log *slog.Logger, build Build) (any, error) {
	opts, err := options.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := awsapi.LoadConfig(ctx, awsapi.Options{Region: opts.Region, Endpoint: opts.Endpoint})
	if err != nil {
		return nil, err
	}
	h, err := build(ctx, Env{Options: opts, AWS: cfg, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("building the handler, %w", err)
	}
	return h, nil
}

// Run is a function's main: it sets up and starts the handler, or logs why
// it cannot and exits non-zero (Lambda reports the init error).
func Run(name string, build Build) {
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	h, err := Setup(context.Background(), os.Getenv, log, build)
	if err != nil {
		log.Error(name+" cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
