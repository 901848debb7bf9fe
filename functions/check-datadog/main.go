// Command check-datadog is the rollout state machine's Datadog check
// (CheckDatadog, BackgroundCheckDatadog): it takes the Datadog
// measurements of the analysis at $.analysis that are due and returns the
// updated state. The Datadog keys are read from the Secrets Manager secret
// OKRA_DATADOG_SECRET_ARN on first use (cached, re-read after Datadog
// refuses them) and never logged; the site is OKRA_DATADOG_SITE. The handler is checks.Checker; this main only wires it
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
	"github.com/okrahq/okra/internal/analysis/datadog"
	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/store"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	checker, err := setup(context.Background())
	if err != nil {
		slog.Error("check-datadog cannot start", "error", err.Error())
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
	if o.DatadogSecretARN == "" {
		// Not fatal: a Datadog measurement then records "no Secrets Manager
		// secret is configured for the Datadog keys" as its error, which
		// fails the analysis with that reason instead of a cold-start crash.
		slog.Warn("no Datadog keys configured; Datadog metrics will fail to measure", "env", options.EnvDatadogSecretARN)
	}
	cfg, err := awsapi.LoadConfig(ctx, awsapi.Options{Region: o.Region, Endpoint: o.Endpoint})
	if err != nil {
		return nil, err
	}
	provider, err := datadog.New(datadog.Options{
		Site: o.DatadogSite,
		Keys: datadog.NewSecretKeys(cfg.SecretsManager(), o.DatadogSecretARN),
	})
	if err != nil {
		return nil, fmt.Errorf("building the Datadog provider, %w", err)
	}
	// No discovery: a background analysis that starts (or restarts) in a
	// check takes its target-group arguments from the Cell status, so this
	// function needs no Elastic Load Balancing permissions.
	starter, err := checks.NewStarter(checks.Options{Store: store.New(cfg.DynamoDB(), o.TableName, store.Options{})})
	if err != nil {
		return nil, fmt.Errorf("building the analysis starter, %w", err)
	}
	return checks.NewChecker(starter, analysis.KindDatadog, provider)
}
