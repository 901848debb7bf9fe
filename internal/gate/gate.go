// Package gate owns the operations people use on a running rollout:
// `okra rollout promote` (answer the approval the rollout waits for),
// `okra rollout abort` (fail the approval, or stop the execution, so the
// rollout rolls back) and `okra rollout retry` (unblock the last blocked
// version and roll to it again under a new attempt).
//
// It talks to the Cell status (where the rollout keeps its task token),
// the history and Step Functions. It never changes weights itself: an
// abort ends in the state machine's Rollback or, for a stopped execution,
// in the safety net.
package gate

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/safetynet"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/store"
)

// Store is the part of the store the gate uses; *store.Store satisfies it.
type Store interface {
	GetStatus(ctx context.Context, cellName string) (store.StatusRecord, error)
	UpdateStatus(ctx context.Context, cellName, executionARN string, update func(*rollout.Status) error) (store.StatusRecord, error)
	AppendEvent(ctx context.Context, cellName string, ev store.Event) (store.Event, error)
	ListBlocked(ctx context.Context, cellName string) ([]rollout.Block, error)
	Unblock(ctx context.Context, cellName, version string) (bool, error)
	Block(ctx context.Context, cellName string, b rollout.Block) (bool, error)
	ClaimGate(ctx context.Context, cellName string, c store.GateClaim, staleAfter time.Duration) (store.GateClaim, error)
	CompleteGate(ctx context.Context, cellName string, c store.GateClaim) error
	ReleaseGate(ctx context.Context, cellName string, c store.GateClaim) error
	LatestGate(ctx context.Context, cellName, prefix string) (store.GateClaim, bool, error)
}

// LeaseOwners checks the execution holding a Cell's lease and recovers
// the rollout of one that no longer runs; *safetynet.Owners satisfies it.
type LeaseOwners interface {
	Check(ctx context.Context, cellName string, st rollout.Status, foundBy string) (safetynet.OwnerCheck, error)
}

var _ LeaseOwners = (*safetynet.Owners)(nil)

var _ Store = (*store.Store)(nil)

// StepFunctions is the part of Step Functions the gate calls; *sfn.Client
// satisfies it.
type StepFunctions interface {
	SendTaskSuccess(ctx context.Context, params *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, params *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
	StopExecution(ctx context.Context, params *sfn.StopExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error)
	DescribeExecution(ctx context.Context, params *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	StartExecution(ctx context.Context, params *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

var _ StepFunctions = (*sfn.Client)(nil)

// Deps are what a Gate needs.
type Deps struct {
	Store Store
	SFN   StepFunctions
	// StateMachineARN is the rollout state machine (Retry starts
	// executions of it).
	StateMachineARN string
	// Actor names who acts (recorded in the history), e.g. the CLI user.
	Actor string
	// Owners, when set, checks the lease holder before Abort and Retry
	// act: a holder that no longer runs gets the safety net's recovery
	// at once. Nil trusts the recorded lease (unit tests).
	Owners LeaseOwners
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Gate answers and stops rollouts.
type Gate struct {
	store   Store
	sfn     StepFunctions
	execs   steps.Executions
	owners  LeaseOwners
	machine string
	actor   string
	now     func() time.Time
	log     *slog.Logger
}

// New returns a Gate.
func New(d Deps) (*Gate, error) {
	if d.Store == nil || d.SFN == nil {
		return nil, errors.New("gate: Store and SFN are required")
	}
	g := &Gate{store: d.Store, sfn: d.SFN, owners: d.Owners, machine: d.StateMachineARN, actor: d.Actor, now: d.Now, log: d.Logger}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.actor == "" {
		g.actor = "okra"
	}
	g.execs = steps.SFNExecutions{API: d.SFN, Logger: g.log}
	return g, nil
}

// ClaimedError says another caller took the gate first (of concurrent
// promotes, aborts or retries exactly one wins): Claim says who, what and
// when. InProgress is true while the winner's Step Functions call is not
// confirmed yet.
type ClaimedError struct {
	Cell  string
	Claim store.GateClaim
}

func (e *ClaimedError) Error() string {
	c := e.Claim
	what := "rollout " + executions.NameOf(c.Execution)
	if c.Action == actionRetry {
		what = "the retry of " + c.Version
	}
	at := c.At.UTC().Format(time.RFC3339)
	if !c.Done {
		return fmt.Sprintf("Cell %q: %s is being %s by %s since %s (if that never completes, try again after %s)",
			e.Cell, what, pastTense(c.Action), c.Actor, at, c.At.Add(claimStaleAfter).UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("Cell %q: %s was already %s by %s at %s", e.Cell, what, pastTense(c.Action), c.Actor, at)
}

// Gate actions, as recorded in claims.
const (
	actionPromote = "promote"
	actionAbort   = "abort"
	actionRetry   = "retry"
)

func pastTense(action string) string {
	switch action {
	case actionPromote:
		return "promoted"
	case actionAbort:
		return "aborted"
	case actionRetry:
		return "retried"
	}
	return action
}

// claimStaleAfter is how long a claim whose Step Functions call was never
// confirmed (its claimer died in between) keeps others out; well above
// one call with the SDK's retries.
const claimStaleAfter = 2 * time.Minute

// recentClaim bounds how old a claim may be to be named when a late
// caller finds nothing to do.
const recentClaim = 15 * time.Minute

// Gate keys: one approval (task token) of an execution, the abort of an
// execution, the retry of one block.
// approvalPrefix is the key prefix of an execution's approvals; of every
// approval of the Cell for execution "".
func approvalPrefix(execution string) string {
	if execution == "" {
		return "approval#"
	}
	return "approval#" + executions.NameOf(execution) + "#"
}

func approvalKey(execution, token string) string {
	sum := sha256.Sum256([]byte(token))
	return approvalPrefix(execution) + hex.EncodeToString(sum[:8])
}

const abortPrefix, retryPrefix = "abort#", "retry#"

func abortKey(execution string) string { return abortPrefix + executions.NameOf(execution) }

func retryKey(b rollout.Block) string {
	return fmt.Sprintf("%s%s#%d", retryPrefix, b.Version, b.At.UTC().UnixNano())
}

// claim takes a gate for this caller, turning a lost race into a
// *ClaimedError.
func (g *Gate) claim(ctx context.Context, cellName string, c store.GateClaim) (store.GateClaim, error) {
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return store.GateClaim{}, fmt.Errorf("making a claim id, %w", err)
	}
	c.Actor, c.ID, c.At = g.actor, hex.EncodeToString(id), g.now().UTC()
	got, err := g.store.ClaimGate(ctx, cellName, c, claimStaleAfter)
	var taken *store.GateClaimedError
	if errors.As(err, &taken) {
		return store.GateClaim{}, &ClaimedError{Cell: cellName, Claim: taken.Claim}
	}
	return got, err
}

// release gives up a claim whose Step Functions call failed, so the gate
// can be answered again; failing to, it says when the claim goes stale.
func (g *Gate) release(ctx context.Context, cellName string, c store.GateClaim) {
	if err := g.store.ReleaseGate(ctx, cellName, c); err != nil {
		g.log.WarnContext(ctx, "releasing a gate claim; it expires on its own", "cell", cellName, "gate", c.Key,
			"staleAt", c.At.Add(claimStaleAfter), "error", err)
	}
}

func (g *Gate) complete(ctx context.Context, cellName string, c store.GateClaim) {
	if err := g.store.CompleteGate(ctx, cellName, c); err != nil {
		g.log.WarnContext(ctx, "marking a gate claim done", "cell", cellName, "gate", c.Key, "error", err)
	}
}

// lastClaim says who last took a gate with prefix, when recent enough to
// explain why a late caller finds nothing to do ("" otherwise).
func (g *Gate) lastClaim(ctx context.Context, cellName, prefix string) string {
	c, ok, err := g.store.LatestGate(ctx, cellName, prefix)
	if err != nil {
		g.log.WarnContext(ctx, "reading the last gate claim", "cell", cellName, "error", err)
		return ""
	}
	if !ok || g.now().Sub(c.At) > recentClaim {
		return ""
	}
	return (&ClaimedError{Cell: cellName, Claim: c}).Error()
}

// NotWaitingError says promote found nothing waiting for it; Doing says
// what the Cell's rollout does instead.
type NotWaitingError struct {
	Cell  string
	Doing string
}

func (e *NotWaitingError) Error() string {
	return fmt.Sprintf("nothing in Cell %q waits for promote: %s", e.Cell, e.Doing)
}

// NoRolloutError says no rollout runs in the Cell (abort), or that retry
// has nothing to retry.
type NoRolloutError struct {
	Cell   string
	Reason string
}

func (e *NoRolloutError) Error() string { return fmt.Sprintf("Cell %q: %s", e.Cell, e.Reason) }

// Result says what an operation did.
type Result struct {
	Cell      string `json:"cell"`
	Execution string `json:"executionArn,omitempty"`
	Version   string `json:"version,omitempty"`
	// Attempt is the attempt Retry started (or found running).
	Attempt int    `json:"attempt,omitempty"`
	Message string `json:"message"`
}

// doing describes a status for messages.
func doing(st rollout.Status) string {
	if !st.Leased() {
		msg := fmt.Sprintf("no rollout runs (phase %s", orNone(string(st.Phase)))
		if st.Message != "" {
			msg += ": " + st.Message
		}
		return msg + ")"
	}
	msg := fmt.Sprintf("rollout %s of %s is %s", executions.NameOf(st.ExecutionARN), st.CanaryVersion, st.Phase)
	if st.StepCount > 0 {
		msg += " at " + rollout.StepText(st.StepIndex, st.StepCount)
	}
	if st.Message != "" {
		msg += ": " + st.Message
	}
	return msg
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// taskGone reports whether Step Functions no longer accepts the token.
func taskGone(err error) bool {
	switch awsapi.Code(err) {
	case "TaskTimedOut", "InvalidToken", "TaskDoesNotExist":
		return true
	}
	return false
}

// Promote answers the approval the Cell's rollout waits for (an indefinite
// pause, or an inconclusive analysis) with SendTaskSuccess, clears the
// token from the status and records a Promoted event. Of concurrent
// callers exactly one does: the approval is claimed first (one
// conditional write), the others get a *ClaimedError naming the winner.
// When nothing waits it returns a *NotWaitingError saying what the
// rollout does instead (and who answered the last approval, when recent).
func (g *Gate) Promote(ctx context.Context, cellName string) (Result, error) {
	rec, err := g.store.GetStatus(ctx, cellName)
	if err != nil {
		return Result{}, err
	}
	st := rec.Status
	token := st.TaskToken
	if !st.Leased() || token == "" {
		prefix := approvalPrefix(st.ExecutionARN)
		if !st.Leased() {
			prefix = approvalPrefix("")
		}
		what := doing(st)
		if last := g.lastClaim(ctx, cellName, prefix); last != "" {
			what += " (" + last + ")"
		}
		return Result{}, &NotWaitingError{Cell: cellName, Doing: what}
	}
	claim, err := g.claim(ctx, cellName, store.GateClaim{
		Key: approvalKey(st.ExecutionARN, token), Action: actionPromote, Execution: st.ExecutionARN, Version: st.CanaryVersion,
	})
	if err != nil {
		return Result{}, err
	}
	output, err := json.Marshal(map[string]string{"promotedBy": g.actor, "at": claim.At.Format(time.RFC3339)})
	if err != nil {
		g.release(ctx, cellName, claim)
		return Result{}, fmt.Errorf("encoding the approval, %w", err)
	}
	g.log.InfoContext(ctx, "promoting rollout", "cell", cellName, "execution", st.ExecutionARN, "step", st.StepIndex)
	_, err = g.sfn.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(output))})
	switch {
	case err != nil && !taskGone(err):
		g.release(ctx, cellName, claim)
		return Result{}, fmt.Errorf("answering the approval of rollout %s, %w", st.ExecutionARN, err)
	case err != nil:
		g.release(ctx, cellName, claim)
		g.clearToken(ctx, cellName, st.ExecutionARN, token, "the approval no longer waits")
		return Result{}, &NotWaitingError{Cell: cellName, Doing: fmt.Sprintf("the approval of rollout %s no longer waits (%s)", executions.NameOf(st.ExecutionARN), awsapi.Code(err))}
	}
	g.complete(ctx, cellName, claim)
	g.clearToken(ctx, cellName, st.ExecutionARN, token, fmt.Sprintf("promoted by %s", g.actor))
	g.log.InfoContext(ctx, "promoted rollout", "cell", cellName, "execution", st.ExecutionARN)
	if _, err := g.store.AppendEvent(ctx, cellName, store.Event{
		Type: store.EventPromoted, Execution: st.ExecutionARN, Version: st.CanaryVersion,
		Message: fmt.Sprintf("promoted by %s at %s", g.actor, rollout.StepText(st.StepIndex, st.StepCount)), Details: map[string]string{"actor": g.actor},
	}); err != nil {
		return Result{}, fmt.Errorf("recording the promotion, %w", err)
	}
	return Result{Cell: cellName, Execution: st.ExecutionARN, Version: st.CanaryVersion,
		Message: fmt.Sprintf("promoted rollout %s of %s at %s", executions.NameOf(st.ExecutionARN), st.CanaryVersion, rollout.StepText(st.StepIndex, st.StepCount))}, nil
}

// clearToken removes token from the status if it is still there. The
// rollout may have moved on (its NextStep clears the token too, and may
// already wait on a new one), so a status without that token, or a lease
// that changed hands, is left alone.
func (g *Gate) clearToken(ctx context.Context, cellName, holder, token, message string) {
	_, err := g.store.UpdateStatus(ctx, cellName, holder, func(s *rollout.Status) error {
		if s.TaskToken != token {
			return nil
		}
		s.TaskToken = ""
		s.Phase, s.Message = rollout.PhaseProgressing, message
		return nil
	})
	var notHolder *store.NotHolderError
	if err != nil && !errors.As(err, &notHolder) {
		g.log.WarnContext(ctx, "clearing the task token", "cell", cellName, "error", err)
	}
}

// checkOwner runs the lease-owner check (Deps.Owners) on st: when the
// holder no longer runs, its rollout is recovered and the status is read
// again. Without Owners, st is returned as is.
func (g *Gate) checkOwner(ctx context.Context, cellName string, st rollout.Status, foundBy string) (rollout.Status, safetynet.OwnerCheck, error) {
	if g.owners == nil || !st.Leased() {
		return st, safetynet.OwnerCheck{}, nil
	}
	check, err := g.owners.Check(ctx, cellName, st, foundBy)
	if err != nil || !check.Dead {
		return st, check, err
	}
	rec, err := g.store.GetStatus(ctx, cellName)
	return rec.Status, check, err
}

// Abort stops the Cell's rollout so that it rolls back: when it waits for
// approval, SendTaskFailure with AbortedError (the state machine catches
// it into Rollback); otherwise StopExecution of the lease holder (the
// safety net restores the snapshot when the execution is ABORTED). Of
// concurrent callers exactly one aborts (the execution's abort is claimed
// first); the others get a *ClaimedError naming the winner. The winner's
// reason is recorded first in an Aborted event, which Rollback reads when
// the service drops the failure's cause. A holder that already ended is
// recovered at once (Deps.Owners) instead of stopped.
func (g *Gate) Abort(ctx context.Context, cellName, reason string) (Result, error) {
	if reason == "" {
		reason = "aborted by " + g.actor
	}
	rec, err := g.store.GetStatus(ctx, cellName)
	if err != nil {
		return Result{}, err
	}
	st := rec.Status
	if !st.Leased() {
		why := "nothing to abort: " + doing(st)
		if last := g.lastClaim(ctx, cellName, abortPrefix); last != "" {
			why += " (" + last + ")"
		}
		return Result{}, &NoRolloutError{Cell: cellName, Reason: why}
	}
	holder := st.ExecutionARN
	claim, err := g.claim(ctx, cellName, store.GateClaim{Key: abortKey(holder), Action: actionAbort, Execution: holder, Version: st.CanaryVersion})
	if err != nil {
		return Result{}, err
	}
	after, check, err := g.checkOwner(ctx, cellName, st, "okra rollout abort by "+g.actor)
	if err != nil {
		g.release(ctx, cellName, claim)
		return Result{}, err
	}
	if check.Dead {
		g.complete(ctx, cellName, claim)
		return Result{Cell: cellName, Execution: holder, Version: st.CanaryVersion,
			Message: fmt.Sprintf("rollout %s of %s had already ended %s; its rollout was recovered: %s", executions.NameOf(holder), st.CanaryVersion, check.Status, orNone(after.Message))}, nil
	}
	if _, err := g.store.AppendEvent(ctx, cellName, store.Event{
		Type: store.EventAborted, Execution: holder, Version: st.CanaryVersion, Message: reason,
		Details: map[string]string{"actor": g.actor},
	}); err != nil {
		g.release(ctx, cellName, claim)
		return Result{}, fmt.Errorf("recording the abort, %w", err)
	}
	if token := st.TaskToken; token != "" {
		res, answered, err := g.failApproval(ctx, cellName, st, reason)
		if err != nil {
			g.release(ctx, cellName, claim)
			return Result{}, err
		}
		if answered {
			g.complete(ctx, cellName, claim)
			return res, nil
		}
	}
	g.log.InfoContext(ctx, "stopping rollout execution", "cell", cellName, "execution", holder, "reason", reason)
	if _, err := g.sfn.StopExecution(ctx, &sfn.StopExecutionInput{
		ExecutionArn: aws.String(holder), Error: aws.String(steps.AbortedErrorName), Cause: aws.String(reason),
	}); err != nil && !awsapi.IsNotFound(err) {
		g.release(ctx, cellName, claim)
		return Result{}, fmt.Errorf("stopping rollout %s, %w", holder, err)
	}
	g.complete(ctx, cellName, claim)
	g.log.InfoContext(ctx, "stopped rollout execution", "cell", cellName, "execution", holder)
	return Result{Cell: cellName, Execution: holder, Version: st.CanaryVersion,
		Message: fmt.Sprintf("stopped rollout %s of %s: the safety net restores %s's weights", executions.NameOf(holder), st.CanaryVersion, st.StableVersion)}, nil
}

// failApproval fails the approval st waits for with AbortedError, after
// claiming it (a concurrent promote may have answered it: then answered
// is false and the caller stops the execution instead, as when the
// approval no longer waits).
func (g *Gate) failApproval(ctx context.Context, cellName string, st rollout.Status, reason string) (res Result, answered bool, err error) {
	holder, token := st.ExecutionARN, st.TaskToken
	claim, err := g.claim(ctx, cellName, store.GateClaim{Key: approvalKey(holder, token), Action: actionAbort, Execution: holder, Version: st.CanaryVersion})
	var taken *ClaimedError
	if errors.As(err, &taken) {
		g.log.InfoContext(ctx, "the approval was answered by someone else; stopping the execution instead", "cell", cellName, "execution", holder, "by", taken.Claim.Actor)
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, err
	}
	g.log.InfoContext(ctx, "aborting rollout waiting for approval", "cell", cellName, "execution", holder, "reason", reason)
	_, err = g.sfn.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{
		TaskToken: aws.String(token), Error: aws.String(steps.AbortedErrorName), Cause: aws.String(reason),
	})
	switch {
	case err == nil:
		g.complete(ctx, cellName, claim)
		g.clearToken(ctx, cellName, holder, token, "aborting: "+reason)
		g.log.InfoContext(ctx, "aborted rollout", "cell", cellName, "execution", holder)
		return Result{Cell: cellName, Execution: holder, Version: st.CanaryVersion,
			Message: fmt.Sprintf("aborted rollout %s of %s: it rolls back to %s", executions.NameOf(holder), st.CanaryVersion, st.StableVersion)}, true, nil
	case !taskGone(err):
		g.release(ctx, cellName, claim)
		return Result{}, false, fmt.Errorf("failing the approval of rollout %s, %w", holder, err)
	}
	g.release(ctx, cellName, claim)
	g.log.InfoContext(ctx, "the approval no longer waits; stopping the execution instead", "cell", cellName, "execution", holder)
	return Result{}, false, nil
}

// Retry unblocks the Cell's most recently blocked version and rolls to it
// again: the first attempt whose execution name is unused (attempt n+1
// after attempt n; see steps.EnsureRollout), trigger "retry". It refuses
// while another rollout runs; a lease holder that already ended is
// recovered first (Deps.Owners), so a retry after an abort whose
// safety-net event was lost works. Of concurrent retries of one block
// exactly one runs; the others get a *ClaimedError naming it. When the
// rollout cannot be started, the block is put back and the claim
// released, so nothing is half done.
func (g *Gate) Retry(ctx context.Context, cellName string) (Result, error) {
	if g.machine == "" {
		return Result{}, errors.New("retry: the rollout state machine's ARN is not configured")
	}
	rec, err := g.store.GetStatus(ctx, cellName)
	if err != nil {
		return Result{}, err
	}
	st, _, err := g.checkOwner(ctx, cellName, rec.Status, "okra rollout retry by "+g.actor)
	if err != nil {
		return Result{}, err
	}
	if st.Leased() {
		status, err := g.execs.Status(ctx, st.ExecutionARN)
		if err != nil {
			return Result{}, err
		}
		if safetynet.Alive(status) {
			return Result{}, &NoRolloutError{Cell: cellName, Reason: "cannot retry while " + doing(st) + "; abort it first"}
		}
	}
	blocks, err := g.store.ListBlocked(ctx, cellName)
	if err != nil {
		return Result{}, err
	}
	if len(blocks) == 0 {
		why := "no version is blocked: nothing to retry"
		if last := g.lastClaim(ctx, cellName, retryPrefix); last != "" {
			why += " (" + last + ")"
		}
		return Result{}, &NoRolloutError{Cell: cellName, Reason: why}
	}
	last := blocks[0]
	for _, b := range blocks[1:] {
		if b.At.After(last.At) {
			last = b
		}
	}
	claim, err := g.claim(ctx, cellName, store.GateClaim{Key: retryKey(last), Action: actionRetry, Version: last.Version})
	if err != nil {
		return Result{}, err
	}
	g.log.InfoContext(ctx, "retrying blocked version", "cell", cellName, "version", last.Version, "blockedBecause", last.Reason)
	if _, err := g.store.Unblock(ctx, cellName, last.Version); err != nil {
		g.release(ctx, cellName, claim)
		return Result{}, err
	}
	r, err := steps.EnsureRollout(ctx, g.execs, g.machine, executions.Input{
		Cell: cellName, TargetVersion: last.Version, FromVersion: st.StableVersion, Attempt: 1, Trigger: "retry",
	})
	if err != nil {
		if _, berr := g.store.Block(ctx, cellName, last); berr != nil {
			g.log.ErrorContext(ctx, "putting the block back after a failed retry", "cell", cellName, "version", last.Version, "error", berr)
		}
		g.release(ctx, cellName, claim)
		return Result{}, fmt.Errorf("starting the retry of %s, %w", last.Version, err)
	}
	g.complete(ctx, cellName, claim)
	if _, err := g.store.AppendEvent(ctx, cellName, store.Event{
		Type: store.EventUnblocked, Version: last.Version, Execution: r.ARN,
		Message: fmt.Sprintf("unblocked by %s to retry (was blocked: %s)", g.actor, last.Reason),
		Details: map[string]string{"actor": g.actor},
	}); err != nil {
		return Result{}, fmt.Errorf("recording the unblock, %w", err)
	}
	verb := "started"
	if !r.Started {
		verb = "found running"
	}
	g.log.InfoContext(ctx, "retry "+verb, "cell", cellName, "version", last.Version, "execution", r.ARN, "attempt", r.Attempt)
	return Result{Cell: cellName, Execution: r.ARN, Version: last.Version, Attempt: r.Attempt,
		Message: fmt.Sprintf("unblocked %s and %s rollout attempt %d (%s)", last.Version, verb, r.Attempt, executions.NameOf(r.ARN))}, nil
}
