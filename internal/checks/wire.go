package checks

import (
	"fmt"
	"log/slog"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/analysis/cloudwatch"
	"github.com/okrahq/okra/internal/analysis/datadog"
	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/store"
)

// checkStarter builds the starter a check function uses. It has no
// discovery: a background analysis that starts (or restarts) in a check
// takes its target-group arguments from the Cell status, so the check
// functions need no Elastic Load Balancing permissions.
func checkStarter(cfg awsapi.Config, o options.Options, log *slog.Logger) (*Starter, error) {
	if err := o.Validate(options.FieldTableName); err != nil {
		return nil, err
	}
	starter, err := NewStarter(Options{Store: store.New(cfg.DynamoDB(), o.TableName, store.Options{Logger: log}), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("building the analysis starter, %w", err)
	}
	return starter, nil
}

// NewCloudWatchFromConfig builds the check-cloudwatch function's checker.
func NewCloudWatchFromConfig(cfg awsapi.Config, o options.Options, log *slog.Logger) (*Checker, error) {
	starter, err := checkStarter(cfg, o, log)
	if err != nil {
		return nil, err
	}
	return NewChecker(starter, analysis.KindCloudWatch, cloudwatch.New(cfg.CloudWatch()))
}

// NewDatadogFromConfig builds the check-datadog function's checker. Without
// a Datadog secret it still starts: a Datadog measurement then records
// that no keys are configured, which fails the analysis with that reason
// instead of crashing the function at cold start.
func NewDatadogFromConfig(cfg awsapi.Config, o options.Options, log *slog.Logger) (*Checker, error) {
	if log == nil {
		log = slog.Default()
	}
	if o.DatadogSecretARN == "" {
		log.Warn("no Datadog keys configured; Datadog metrics will fail to measure", "env", options.EnvDatadogSecretARN)
	}
	provider, err := datadog.New(datadog.Options{
		Site: o.DatadogSite,
		Keys: datadog.NewSecretKeys(cfg.SecretsManager(), o.DatadogSecretARN),
	})
	if err != nil {
		return nil, fmt.Errorf("building the Datadog provider, %w", err)
	}
	starter, err := checkStarter(cfg, o, log)
	if err != nil {
		return nil, err
	}
	return NewChecker(starter, analysis.KindDatadog, provider)
}
