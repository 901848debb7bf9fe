package safetynet

import (
	"log/slog"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/steps"
)

// NewFromConfig builds the safety-net function's handler: the rollout
// handlers' recovery over one AWS configuration.
func NewFromConfig(cfg awsapi.Config, o options.Options, log *slog.Logger) (*Handler, error) {
	recoverer, err := recovererFromConfig(cfg, o, log)
	if err != nil {
		return nil, err
	}
	return New(Deps{Recoverer: recoverer, Executions: cfg.SFN(), StateMachineARN: o.StateMachineARN, Logger: log})
}

// NewOwnersFromConfig builds the lease-owner check over one AWS
// configuration: the rollout handlers' recovery and Step Functions.
func NewOwnersFromConfig(cfg awsapi.Config, o options.Options, log *slog.Logger) (*Owners, error) {
	recoverer, err := recovererFromConfig(cfg, o, log)
	if err != nil {
		return nil, err
	}
	return NewOwners(recoverer, cfg.SFN(), log)
}

// recovererFromConfig builds the rollout handlers whose Recover both the
// safety net and the lease-owner check run.
func recovererFromConfig(cfg awsapi.Config, o options.Options, log *slog.Logger) (*steps.Handlers, error) {
	deps, err := steps.DepsFromConfig(cfg, o, log)
	if err != nil {
		return nil, err
	}
	return steps.New(deps)
}
