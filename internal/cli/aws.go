package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/store"
)

// DefaultTableName is okra's DynamoDB table when neither --table nor
// OKRA_TABLE_NAME names one.
const DefaultTableName = "okra"

// tableName is --table, else OKRA_TABLE_NAME, else DefaultTableName.
func (a *App) tableName() string {
	if a.Options.Table != "" {
		return a.Options.Table
	}
	if v := a.getenv(options.EnvTableName); v != "" {
		return v
	}
	return DefaultTableName
}

// stateMachineARN is flag, else OKRA_STATE_MACHINE_ARN. A command that
// needs it and gets neither is a usage error.
func (a *App) stateMachineARN(flag string) (string, error) {
	arn := flag
	if arn == "" {
		arn = a.getenv(options.EnvStateMachineARN)
	}
	if arn == "" {
		return "", usageErrorf("no rollout state machine: pass --state-machine-arn or set %s", options.EnvStateMachineARN)
	}
	return arn, nil
}

// store returns okra's table, loading the AWS configuration on first use.
func (a *App) store(ctx context.Context) (*store.Store, error) {
	cfg, err := a.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return store.New(cfg.DynamoDB(), a.tableName(), store.Options{Logger: a.logger()}), nil
}

// explain rewrites errors whose AWS wording hides the likely cause; other
// errors are returned as they are.
func (a *App) explain(err error) error {
	if err == nil {
		return nil
	}
	var op *smithy.OperationError
	if errors.As(err, &op) && op.ServiceID == "DynamoDB" && awsapi.Code(err) == "ResourceNotFoundException" {
		where := ""
		if a.Options.EndpointURL != "" {
			where = " at " + a.Options.EndpointURL
		}
		return fmt.Errorf("okra's table %q does not exist%s: deploy okra first (cdk deploy, or `okra local up` for the emulator), or name the table with --table or %s (%w)",
			a.tableName(), where, options.EnvTableName, err)
	}
	return err
}
