package safetynet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/events"
	"github.com/okrahq/okra/internal/rollout"
)

// Owners checks the execution that holds a Cell's lease, for every reader
// of the lease (reconcile and the cluster-events evaluation, `okra plan`,
// `okra rollout status` and `okra rollout retry`): when the holder is no
// longer RUNNING, the rollout gets the safety net's recovery at once
// (Recoverer.Recover: restore the snapshot, block the version, release
// the lease, notify), so a lost safety-net event costs at most one
// reconcile period. It is the one place that decides "the owner is dead";
// the readers only call it.
type Owners struct {
	rec Recoverer
	sfn ExecutionDescriber
	log *slog.Logger
}

// NewOwners returns the lease-owner check over a recoverer (the rollout
// handlers) and Step Functions.
func NewOwners(rec Recoverer, describer ExecutionDescriber, log *slog.Logger) (*Owners, error) {
	if rec == nil || describer == nil {
		return nil, errors.New("safetynet: the owner check needs a Recoverer and Step Functions")
	}
	if log == nil {
		log = slog.Default()
	}
	return &Owners{rec: rec, sfn: describer, log: log}, nil
}

// OwnerCheck says what Check found.
type OwnerCheck struct {
	// Holder is the execution that held the lease ("" when none did).
	Holder string `json:"holder,omitempty"`
	// Status is the holder's execution status (RUNNING, ABORTED, ...;
	// NOT_FOUND when Step Functions does not know it).
	Status string `json:"status,omitempty"`
	// Dead: the holder no longer runs; its rollout was recovered (by this
	// check, or by the safety net or another reader just before), so the
	// caller must read the status again.
	Dead bool `json:"dead,omitempty"`
	// Recovered: this check performed the recovery.
	Recovered bool `json:"recovered,omitempty"`
	// Why is the reason recorded in the history and the status message.
	Why string `json:"why,omitempty"`
}

// statusNotFound is OwnerCheck.Status for an execution Step Functions
// does not know (deleted state machine, or past its retention).
const statusNotFound = "NOT_FOUND"

// Alive reports whether an execution status still owns its lease: a
// RUNNING execution, or one waiting to be redriven.
func Alive(status string) bool {
	return status == string(sfntypes.ExecutionStatusRunning) || status == string(sfntypes.ExecutionStatusPendingRedrive)
}

// Check looks at the holder of st (the Cell's status as the caller read
// it). With no lease, or a holder still running, it changes nothing.
// Otherwise it recovers the rollout with the safety net's recovery,
// recording in the history that foundBy (e.g. "reconcile", "okra rollout
// status") found the dead holder. An error from Step Functions is
// returned: the lease is never taken on doubt.
func (o *Owners) Check(ctx context.Context, cellName string, st rollout.Status, foundBy string) (OwnerCheck, error) {
	holder := st.ExecutionARN
	if holder == "" {
		return OwnerCheck{}, nil
	}
	out, err := o.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(holder)})
	change := events.ExecutionStatusChange{ExecutionARN: holder, Name: nameOf(holder), Status: statusNotFound}
	switch {
	case awsapi.IsNotFound(err):
	case err != nil:
		return OwnerCheck{}, fmt.Errorf("checking whether lease holder %s of Cell %q still runs, %w", holder, cellName, err)
	default:
		change.Status = events.ExecutionStatus(out.Status)
		change.Error, change.Cause = aws.ToString(out.Error), aws.ToString(out.Cause)
	}
	check := OwnerCheck{Holder: holder, Status: string(change.Status)}
	if Alive(check.Status) {
		return check, nil
	}
	check.Why = fmt.Sprintf("%s; found by %s (the safety net had not recovered it)", Why(change), foundBy)
	log := o.log.With("cell", cellName, "execution", holder, "status", check.Status, "foundBy", foundBy)
	log.WarnContext(ctx, "the lease holder no longer runs; recovering its rollout", "why", check.Why)
	recovered, err := o.rec.Recover(ctx, cellName, holder, check.Why)
	if err != nil {
		return check, fmt.Errorf("recovering the rollout of dead lease holder %s of Cell %q, %w", holder, cellName, err)
	}
	// Not recovered: the safety net (or another reader) got there first.
	check.Dead, check.Recovered = true, recovered
	if recovered {
		log.InfoContext(ctx, "recovered the rollout of a dead lease holder")
	} else {
		log.InfoContext(ctx, "the dead lease holder's rollout was already recovered")
	}
	return check, nil
}

func nameOf(arn string) string {
	for i := len(arn) - 1; i >= 0; i-- {
		if arn[i] == ':' {
			return arn[i+1:]
		}
	}
	return arn
}
