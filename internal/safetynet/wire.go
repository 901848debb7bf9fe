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
	deps, err := steps.DepsFromConfig(cfg, o, log)
	if err != nil {
		return nil, err
	}
	recoverer, err := steps.New(deps)
	if err != nil {
		return nil, err
	}
	return New(Deps{Recoverer: recoverer, Executions: cfg.SFN(), StateMachineARN: o.StateMachineARN, Logger: log})
}

// NewOwnersFromConfig builds the lease-owner check over one AWS
// configuration: the rollout handlers' recovery and Step Functions.
func NewOwnersFromConfig(cfg awsapi.Config, o options.Options, log *slog.Logger) (*Owners, error) {
	deps, err := steps.DepsFromConfig(cfg, o, log)
	if err != nil {
		return nil, err
	}
	recoverer, err := steps.New(deps)
	if err != nil {
		return nil, err
	}
	return NewOwners(recoverer, cfg.SFN(), log)
}
