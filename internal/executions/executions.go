// Package executions owns the rollout state machine's executions: their
// deterministic names (one per Cell, target version and attempt, so a
// duplicate trigger is a no-op), starting them, asking whether one still
// runs (the lease belongs to an execution, not to a clock), and stopping
// them. It decides nothing about when to roll out.
package executions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/awsapi"
)

// API is the part of Step Functions this package calls.
type API interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	StopExecution(ctx context.Context, in *sfn.StopExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error)
}

// Input is what a rollout execution starts with.
type Input struct {
	Cell          string `json:"cell"`
	TargetVersion string `json:"targetVersion"`
	FromVersion   string `json:"fromVersion,omitempty"`
	// Attempt counts rollouts to the same version (1 for the first; `okra
	// rollout retry` raises it), so a retry gets a new execution name.
	Attempt int `json:"attempt"`
	// Trigger says what started the rollout (reconcile, cluster-events,
	// config-change, supersede, cli).
	Trigger string `json:"trigger,omitempty"`
}

// maxNameLength is Step Functions' limit on execution names.
const maxNameLength = 80

var unsafeNameChars = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// Name is the deterministic execution name for a rollout of cell to
// version. Characters Step Functions does not allow become "_"; a name
// that had to change or be shortened gets a hash so that distinct versions
// never share a name.
func Name(cell, version string, attempt int) string {
	if attempt < 1 {
		attempt = 1
	}
	raw := fmt.Sprintf("%s--%s--%d", cell, version, attempt)
	safe := unsafeNameChars.ReplaceAllString(raw, "_")
	if safe == raw && len(safe) <= maxNameLength {
		return safe
	}
	sum := sha256.Sum256([]byte(raw))
	suffix := "-" + hex.EncodeToString(sum[:])[:8]
	if len(safe)+len(suffix) > maxNameLength {
		safe = safe[:maxNameLength-len(suffix)]
	}
	return safe + suffix
}

// ARN returns the ARN of the execution named name of stateMachineARN.
func ARN(stateMachineARN, name string) string {
	return strings.Replace(stateMachineARN, ":stateMachine:", ":execution:", 1) + ":" + name
}

// NameOf returns an execution's name: the last part of its ARN (the ARN
// itself when it has no colon).
func NameOf(arn string) string {
	if i := strings.LastIndex(arn, ":"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// Executions starts and inspects rollout executions of one state machine.
type Executions struct {
	sfn             API
	stateMachineARN string
	log             *slog.Logger
}

// New returns Executions for stateMachineARN.
func New(api API, stateMachineARN string, log *slog.Logger) *Executions {
	if log == nil {
		log = slog.Default()
	}
	return &Executions{sfn: api, stateMachineARN: stateMachineARN, log: log}
}

// StateMachineARN returns the state machine this starts executions of.
func (e *Executions) StateMachineARN() string { return e.stateMachineARN }

// Start starts the rollout execution for in, or finds the one a duplicate
// trigger already started. started is false when it already existed.
func (e *Executions) Start(ctx context.Context, in Input) (arn string, started bool, err error) {
	if in.Cell == "" || in.TargetVersion == "" {
		return "", false, fmt.Errorf("starting rollout: cell and target version are required (got cell %q, version %q)", in.Cell, in.TargetVersion)
	}
	if in.Attempt < 1 {
		in.Attempt = 1
	}
	name := Name(in.Cell, in.TargetVersion, in.Attempt)
	arn = ARN(e.stateMachineARN, name)
	// A duplicate trigger finds the execution already there. Step Functions
	// would also answer a duplicate StartExecution with the same name and
	// input as success, which could not be told apart from a new start.
	if status, err := e.Status(ctx, arn); err != nil {
		return "", false, err
	} else if status != "" {
		e.log.InfoContext(ctx, "rollout execution already exists", "cell", in.Cell, "version", in.TargetVersion, "execution", arn, "status", status)
		return arn, false, nil
	}
	body, err := json.Marshal(in)
	if err != nil {
		return "", false, fmt.Errorf("encoding rollout input, %w", err)
	}
	e.log.InfoContext(ctx, "starting rollout execution", "cell", in.Cell, "version", in.TargetVersion, "execution", name)
	out, err := e.sfn.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(e.stateMachineARN),
		Name:            aws.String(name),
		Input:           aws.String(string(body)),
	})
	if err != nil {
		var exists *sfntypes.ExecutionAlreadyExists
		if errors.As(err, &exists) || awsapi.Code(err) == "ExecutionAlreadyExists" {
			e.log.InfoContext(ctx, "rollout execution already exists", "cell", in.Cell, "version", in.TargetVersion, "execution", arn)
			return arn, false, nil
		}
		return "", false, fmt.Errorf("starting execution %s, %w", name, err)
	}
	arn = aws.ToString(out.ExecutionArn)
	e.log.InfoContext(ctx, "started rollout execution", "cell", in.Cell, "version", in.TargetVersion, "execution", arn)
	return arn, true, nil
}

// Status returns an execution's status (RUNNING, SUCCEEDED, FAILED,
// TIMED_OUT, ABORTED, PENDING_REDRIVE), or "" when it does not exist.
func (e *Executions) Status(ctx context.Context, arn string) (string, error) {
	out, err := e.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if err != nil {
		if awsapi.IsNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("describing execution %s, %w", arn, err)
	}
	return string(out.Status), nil
}

// IsRunning reports whether the execution still runs; a missing execution
// does not. It fits store.AcquireLease's check.
func (e *Executions) IsRunning(ctx context.Context, arn string) (bool, error) {
	status, err := e.Status(ctx, arn)
	if err != nil {
		return false, err
	}
	return status == string(sfntypes.ExecutionStatusRunning), nil
}

// Stop stops a running execution with an error name and cause; stopping
// one that already ended is not an error.
func (e *Executions) Stop(ctx context.Context, arn, errName, cause string) error {
	e.log.InfoContext(ctx, "stopping rollout execution", "execution", arn, "error", errName)
	_, err := e.sfn.StopExecution(ctx, &sfn.StopExecutionInput{
		ExecutionArn: aws.String(arn),
		Error:        aws.String(errName),
		Cause:        aws.String(cause),
	})
	if err != nil && !awsapi.IsNotFound(err) {
		return fmt.Errorf("stopping execution %s, %w", arn, err)
	}
	return nil
}
