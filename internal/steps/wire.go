package steps

import (
	"fmt"
	"log/slog"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/targetgroups"
)

// DepsFromConfig builds the handlers' dependencies from one AWS
// configuration and the function's options, the way every rollout
// function (and the local gateway) wires them: the store over
// o.TableName, the listener controller, target-group discovery and
// deletion, executions, and an SNS notifier for o.NotificationTopicARN (a
// log-only notifier when it is empty). Call it once at cold start. The
// caller may set Deps.Analysis before New.
func DepsFromConfig(cfg awsapi.Config, o options.Options, log *slog.Logger) (Deps, error) {
	if err := o.Validate(options.FieldTableName); err != nil {
		return Deps{}, err
	}
	if log == nil {
		log = slog.Default()
	}
	elb := cfg.ELBv2()
	tgs, err := targetgroups.New(targetgroups.Deps{ELBv2: elb, EKS: cfg.EKS(), Logger: log})
	if err != nil {
		return Deps{}, fmt.Errorf("building the target-group manager, %w", err)
	}
	return Deps{
		Store:        store.New(cfg.DynamoDB(), o.TableName, store.Options{Logger: log}),
		Listener:     listener.New(elb, listener.Options{Logger: log}),
		Discovery:    discovery.NewTargetGroups(elb, cfg.Tagging(), discovery.Options{Logger: log}),
		Executions:   SFNExecutions{API: cfg.SFN(), Logger: log},
		TargetGroups: tgs,
		Notifier:     NewNotifier(cfg.SNS(), o.NotificationTopicARN, log),
		Logger:       log,
	}, nil
}

// NewFromConfig builds the rollout handlers as the functions run them,
// with the analysis starter that resolves templates and okra's built-in
// arguments (the target groups of each side, found by discovery).
func NewFromConfig(cfg awsapi.Config, o options.Options, log *slog.Logger) (*Handlers, error) {
	deps, err := DepsFromConfig(cfg, o, log)
	if err != nil {
		return nil, err
	}
	deps.Analysis, err = checks.NewStarter(checks.Options{
		Store:     store.New(cfg.DynamoDB(), o.TableName, store.Options{Logger: deps.Logger}),
		Discovery: discovery.NewTargetGroups(cfg.ELBv2(), cfg.Tagging(), discovery.Options{Logger: deps.Logger}),
		Logger:    deps.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("building the analysis starter, %w", err)
	}
	return New(deps)
}
