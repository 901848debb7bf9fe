package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/okrahq/okra/internal/rollout"
)

// Attribute names of rollout.Status that conditions and lease updates
// use; they must match its dynamodbav tags.
const (
	attrExecutionARN    = "executionArn"
	attrLeaseAcquiredAt = "leaseAcquiredAt"
	attrTaskToken       = "taskToken"
)

// StatusRecord is a Cell's stored status and its revision. Revision 0
// means no status is stored yet.
type StatusRecord struct {
	Status   rollout.Status
	Revision int64
}

// ExecutionRunning reports whether a Step Functions execution is still
// RUNNING (the caller asks DescribeExecution). An execution that does not
// exist is not running.
type ExecutionRunning func(ctx context.Context, executionARN string) (bool, error)

// Lease is what AcquireLease granted.
type Lease struct {
	StatusRecord
	// Reacquired: the execution already held the lease (a retried
	// AcquireLease); nothing was written.
	Reacquired bool
	// TookOverFrom names the previous holder when it was no longer
	// running, so the caller can record that and restore its weights.
	TookOverFrom string
}

// GetStatus returns the Cell's status, strongly consistent. A Cell with no
// status yet returns a zero StatusRecord (Revision 0) and no error.
func (s *Store) GetStatus(ctx context.Context, cellName string) (StatusRecord, error) {
	if err := checkName(KindCell, cellName); err != nil {
		return StatusRecord{}, err
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(cellPK(cellName), SKStatus),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return StatusRecord{}, fmt.Errorf("getting status of Cell %q, %w", cellName, err)
	}
	return decodeStatus(cellName, out.Item)
}

// GetCellAndStatus reads the Cell's spec and its status in one strongly
// consistent Query (their sort keys, SPEC and STATUS, are adjacent in the
// Cell's partition): what every rollout handler reads first. The status is
// as GetStatus returns it; a Cell with no stored spec returns the status
// and a *NotFoundError.
func (s *Store) GetCellAndStatus(ctx context.Context, cellName string) (CellRecord, StatusRecord, error) {
	if err := checkName(KindCell, cellName); err != nil {
		return CellRecord{}, StatusRecord{}, err
	}
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :spec AND :status"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(cellPK(cellName)), ":spec": str(SKSpec), ":status": str(SKStatus),
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return CellRecord{}, StatusRecord{}, fmt.Errorf("getting spec and status of Cell %q, %w", cellName, err)
	}
	var specItem, statusItem map[string]types.AttributeValue
	for _, item := range out.Items {
		switch stringOf(item, AttrSK) {
		case SKSpec:
			specItem = item
		case SKStatus:
			statusItem = item
		}
	}
	st, err := decodeStatus(cellName, statusItem)
	if err != nil {
		return CellRecord{}, StatusRecord{}, err
	}
	if specItem == nil {
		return CellRecord{}, st, &NotFoundError{Kind: KindCell, Name: cellName}
	}
	return cellRecord(decodeSpecItem(specItem)), st, nil
}

func decodeStatus(cellName string, item map[string]types.AttributeValue) (StatusRecord, error) {
	if len(item) == 0 {
		return StatusRecord{}, nil
	}
	var rec StatusRecord
	if err := attributevalue.UnmarshalMap(item, &rec.Status); err != nil {
		return StatusRecord{}, fmt.Errorf("decoding status of Cell %q, %w", cellName, err)
	}
	rec.Revision = revisionOf(item)
	return rec, nil
}

// writeStatus replaces the status item with st at expected+1, under cond
// (combined with the revision condition).
func (s *Store) writeStatus(ctx context.Context, cellName string, st rollout.Status, expected int64, extraCond string, names map[string]string, values map[string]types.AttributeValue) (int64, map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(st)
	if err != nil {
		return 0, nil, fmt.Errorf("encoding status of Cell %q, %w", cellName, err)
	}
	next := expected + 1
	for k, v := range key(cellPK(cellName), SKStatus) {
		item[k] = v
	}
	item[AttrRevision] = num(next)
	cond, n, v := revisionCondition(expected)
	if names == nil {
		names = map[string]string{}
	}
	for k, x := range n {
		names[k] = x
	}
	if values == nil {
		values = map[string]types.AttributeValue{}
	}
	for k, x := range v {
		values[k] = x
	}
	if extraCond != "" {
		cond = "(" + cond + ") AND (" + extraCond + ")"
	}
	if len(values) == 0 {
		values = nil
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.table),
		Item:                                item,
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if old, refused := conditionFailed(err); refused {
		return 0, old, err
	}
	if err != nil {
		return 0, nil, fmt.Errorf("writing status of Cell %q, %w", cellName, err)
	}
	return next, nil, nil
}

// AcquireLease makes executionARN the holder of the Cell's lease, so that
// one rollout at a time runs per Cell. It succeeds when no execution holds
// the lease, when executionARN already holds it (a retry: nothing is
// written), or when the holder is no longer running according to
// isRunning (the lease is taken over). Otherwise it returns a
// *LeaseHeldError naming the holder.
//
// The lease belongs to an execution, not a clock: a pause may last hours
// with nothing running to renew a timed lease, so there is no expiry and
// no heartbeat. A holder that ended is detected through isRunning, and the
// safety net releases the lease of a failed or aborted execution. An error
// from isRunning is returned as is: the lease is never taken on doubt.
//
// Taking the lease keeps the rest of the status (the previous rollout's
// snapshot, versions, phase) and clears the previous holder's task token;
// the caller records its own snapshot with UpdateStatus.
func (s *Store) AcquireLease(ctx context.Context, cellName, executionARN string, isRunning ExecutionRunning) (Lease, error) {
	if err := checkName(KindCell, cellName); err != nil {
		return Lease{}, err
	}
	if executionARN == "" {
		return Lease{}, fmt.Errorf("acquiring lease of Cell %q: empty execution ARN", cellName)
	}
	if isRunning == nil {
		return Lease{}, fmt.Errorf("acquiring lease of Cell %q: no way to tell whether a holder still runs", cellName)
	}
	for attempt := 1; ; attempt++ {
		rec, err := s.GetStatus(ctx, cellName)
		if err != nil {
			return Lease{}, err
		}
		holder := rec.Status.ExecutionARN
		if holder == executionARN {
			return Lease{StatusRecord: rec, Reacquired: true}, nil
		}
		if holder != "" {
			running, err := isRunning(ctx, holder)
			if err != nil {
				return Lease{}, fmt.Errorf("checking whether lease holder %s of Cell %q still runs, %w", holder, cellName, err)
			}
			if running {
				return Lease{}, &LeaseHeldError{Cell: cellName, Holder: holder}
			}
		}
		st := rec.Status
		st.ExecutionARN = executionARN
		st.LeaseAcquiredAt = s.now().UTC()
		st.TaskToken = ""
		st.UpdatedAt = st.LeaseAcquiredAt
		s.log.InfoContext(ctx, "acquiring lease", "cell", cellName, "execution", executionARN, "previousHolder", holder)
		next, _, err := s.writeStatus(ctx, cellName, st, rec.Revision, "", nil, nil)
		if _, refused := conditionFailed(err); refused {
			// Someone wrote between our read and our write: look again.
			if attempt == maxAttempts {
				return Lease{}, fmt.Errorf("acquiring lease of Cell %q: status kept changing (%d attempts)", cellName, attempt)
			}
			if err := sleep(ctx, attempt); err != nil {
				return Lease{}, err
			}
			continue
		}
		if err != nil {
			return Lease{}, fmt.Errorf("acquiring lease, %w", err)
		}
		s.log.InfoContext(ctx, "acquired lease", "cell", cellName, "execution", executionARN, "previousHolder", holder, "revision", next)
		return Lease{StatusRecord: StatusRecord{Status: st, Revision: next}, TookOverFrom: holder}, nil
	}
}

// ReleaseLease ends executionARN's hold on the Cell. Only the holder can
// release: another execution gets a *NotHolderError. Releasing a lease
// nobody holds succeeds (a retried release).
func (s *Store) ReleaseLease(ctx context.Context, cellName, executionARN string) error {
	if err := checkName(KindCell, cellName); err != nil {
		return err
	}
	if executionARN == "" {
		return fmt.Errorf("releasing lease of Cell %q: empty execution ARN", cellName)
	}
	s.log.InfoContext(ctx, "releasing lease", "cell", cellName, "execution", executionARN)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 key(cellPK(cellName), SKStatus),
		UpdateExpression:    aws.String("REMOVE #exec, #acquired, #token SET #rev = #rev + :one, #updated = :now"),
		ConditionExpression: aws.String("#exec = :exec"),
		ExpressionAttributeNames: map[string]string{
			"#exec": attrExecutionARN, "#acquired": attrLeaseAcquiredAt, "#token": attrTaskToken,
			"#rev": AttrRevision, "#updated": AttrUpdatedAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":exec": str(executionARN), ":one": num(1), ":now": str(timeText(s.now())),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if old, refused := conditionFailed(err); refused {
		holder := stringOf(old, attrExecutionARN)
		if holder == "" {
			s.log.InfoContext(ctx, "lease already released", "cell", cellName, "execution", executionARN)
			return nil
		}
		return &NotHolderError{Cell: cellName, Execution: executionARN, Holder: holder}
	}
	if err != nil {
		return fmt.Errorf("releasing lease of Cell %q, %w", cellName, err)
	}
	s.log.InfoContext(ctx, "released lease", "cell", cellName, "execution", executionARN)
	return nil
}

// UpdateStatus applies update to the Cell's status and writes it, only
// while executionARN holds the lease; otherwise it returns a
// *NotHolderError. The write is conditional on the holder and on the
// revision read, so no concurrent change is lost: when another write comes
// between, the status is read again and update runs again, so update must
// only depend on the status it is given. update must not change
// ExecutionARN (use ReleaseLease). An error from update is returned as is
// and nothing is written.
func (s *Store) UpdateStatus(ctx context.Context, cellName, executionARN string, update func(*rollout.Status) error) (StatusRecord, error) {
	return s.UpdateStatusFrom(ctx, cellName, executionARN, nil, update)
}

// UpdateStatusFrom is UpdateStatus starting from read, the status record
// the caller has just read (nil: read it now), which spares a read when
// nothing changed it since. A write refused because it did change reads
// the status again, as UpdateStatus does.
func (s *Store) UpdateStatusFrom(ctx context.Context, cellName, executionARN string, read *StatusRecord, update func(*rollout.Status) error) (StatusRecord, error) {
	if err := checkName(KindCell, cellName); err != nil {
		return StatusRecord{}, err
	}
	if executionARN == "" {
		return StatusRecord{}, fmt.Errorf("updating status of Cell %q: empty execution ARN", cellName)
	}
	for attempt := 1; ; attempt++ {
		var rec StatusRecord
		if attempt == 1 && read != nil {
			rec = *read
		} else {
			var err error
			if rec, err = s.GetStatus(ctx, cellName); err != nil {
				return StatusRecord{}, err
			}
		}
		if rec.Status.ExecutionARN != executionARN {
			return StatusRecord{}, &NotHolderError{Cell: cellName, Execution: executionARN, Holder: rec.Status.ExecutionARN}
		}
		st := rec.Status
		if err := update(&st); err != nil {
			return StatusRecord{}, err
		}
		if st.ExecutionARN != executionARN {
			return StatusRecord{}, fmt.Errorf("updating status of Cell %q: the update changed the lease holder to %q; release the lease with ReleaseLease", cellName, st.ExecutionARN)
		}
		st.UpdatedAt = s.now().UTC()
		s.log.InfoContext(ctx, "updating status", "cell", cellName, "execution", executionARN, "phase", st.Phase, "step", st.StepIndex)
		next, _, err := s.writeStatus(ctx, cellName, st, rec.Revision, "#exec = :exec",
			map[string]string{"#exec": attrExecutionARN},
			map[string]types.AttributeValue{":exec": str(executionARN)})
		if _, refused := conditionFailed(err); refused {
			if attempt == maxAttempts {
				return StatusRecord{}, fmt.Errorf("updating status of Cell %q: status kept changing (%d attempts)", cellName, attempt)
			}
			if err := sleep(ctx, attempt); err != nil {
				return StatusRecord{}, err
			}
			continue
		}
		if err != nil {
			return StatusRecord{}, fmt.Errorf("updating status, %w", err)
		}
		s.log.InfoContext(ctx, "updated status", "cell", cellName, "execution", executionARN, "phase", st.Phase, "revision", next)
		return StatusRecord{Status: st, Revision: next}, nil
	}
}

// PutStatus writes the Cell's status outside a rollout (for example the
// Invalid phase recorded by config-change). expectedRevision is the
// revision read (0: no status yet); a stale write fails with a
// *StaleRevisionError. PutStatus cannot take, change or drop a lease:
// st.ExecutionARN must equal the stored holder, else *NotHolderError.
func (s *Store) PutStatus(ctx context.Context, cellName string, st rollout.Status, expectedRevision int64) (int64, error) {
	if err := checkName(KindCell, cellName); err != nil {
		return 0, err
	}
	if expectedRevision < 0 {
		return 0, fmt.Errorf("putting status of Cell %q: expected revision %d is negative", cellName, expectedRevision)
	}
	leaseCond := "attribute_not_exists(#exec)"
	names := map[string]string{"#exec": attrExecutionARN}
	var values map[string]types.AttributeValue
	if st.ExecutionARN != "" {
		leaseCond = "#exec = :exec"
		values = map[string]types.AttributeValue{":exec": str(st.ExecutionARN)}
	}
	st.UpdatedAt = s.now().UTC()
	s.log.InfoContext(ctx, "putting status", "cell", cellName, "phase", st.Phase, "revision", expectedRevision+1)
	next, old, err := s.writeStatus(ctx, cellName, st, expectedRevision, leaseCond, names, values)
	if _, refused := conditionFailed(err); refused {
		current := revisionOf(old)
		if current != expectedRevision {
			return 0, &StaleRevisionError{Kind: SKStatus, Name: cellName, Expected: expectedRevision, Current: current}
		}
		return 0, &NotHolderError{Cell: cellName, Execution: st.ExecutionARN, Holder: stringOf(old, attrExecutionARN)}
	}
	if err != nil {
		return 0, fmt.Errorf("putting status, %w", err)
	}
	s.log.InfoContext(ctx, "put status", "cell", cellName, "phase", st.Phase, "revision", next)
	return next, nil
}

// SKGatePrefix starts the sort key of a gate claim: CELL#<name> /
// GATE#<key>, one item per gate answered (an approval's task token, the
// stop of an execution, the retry of a block).
const SKGatePrefix = "GATE#"

// gateClaimRetention is how long a gate claim stays (TTL), long after
// anyone asks who answered the gate.
const gateClaimRetention = 30 * 24 * time.Hour

// GateClaim records who takes one gate of a Cell's rollout: promote or
// abort answering an approval, abort stopping an execution, retry
// unblocking a version. The claim comes before the Step Functions call,
// so concurrent callers never both make it; Done says the call went
// through.
type GateClaim struct {
	// Key names the gate (unique per Cell), e.g. "approval#NAME#HASH".
	Key string `dynamodbav:"gateKey"`
	// Action is what the claimer does: promote, abort or retry.
	Action string `dynamodbav:"action"`
	Actor  string `dynamodbav:"actor"`
	// ID tells claims by the same actor apart (one per caller).
	ID        string    `dynamodbav:"claimId"`
	Execution string    `dynamodbav:"executionArn,omitempty"`
	Version   string    `dynamodbav:"version,omitempty"`
	At        time.Time `dynamodbav:"at"`
	Done      bool      `dynamodbav:"done"`
}

// GateClaimedError says another caller holds the gate: Claim is theirs.
type GateClaimedError struct {
	Cell  string
	Claim GateClaim
}

func (e *GateClaimedError) Error() string {
	verb := "was taken"
	if !e.Claim.Done {
		verb = "is being taken"
	}
	return fmt.Sprintf("gate %s of Cell %q %s by %s (%s) at %s", e.Claim.Key, e.Cell, verb, e.Claim.Actor, e.Claim.Action, e.Claim.At.UTC().Format(time.RFC3339))
}

// ClaimGate takes the gate c.Key of the Cell for c (c.At defaults to now,
// Done is cleared). Of concurrent callers exactly one gets it, with one
// conditional write; the others get a *GateClaimedError with the
// winner's claim. A claim left not Done for longer than staleAfter (its
// claimer died between the claim and its Step Functions call) may be
// taken over; a Done claim never is.
func (s *Store) ClaimGate(ctx context.Context, cellName string, c GateClaim, staleAfter time.Duration) (GateClaim, error) {
	if err := checkName(KindCell, cellName); err != nil {
		return GateClaim{}, err
	}
	if c.Key == "" || c.ID == "" {
		return GateClaim{}, fmt.Errorf("claiming a gate of Cell %q: key and claim id are required", cellName)
	}
	now := s.now().UTC()
	if c.At.IsZero() {
		c.At = now
	}
	c.At, c.Done = c.At.UTC(), false
	item, err := attributevalue.MarshalMap(c)
	if err != nil {
		return GateClaim{}, fmt.Errorf("encoding gate claim %s of Cell %q, %w", c.Key, cellName, err)
	}
	for k, v := range key(cellPK(cellName), SKGatePrefix+c.Key) {
		item[k] = v
	}
	item[AttrExpiresAt] = num(now.Add(gateClaimRetention).Unix())
	s.log.InfoContext(ctx, "claiming gate", "cell", cellName, "gate", c.Key, "action", c.Action, "actor", c.Actor)
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(#pk) OR (#done = :false AND #at < :stale)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": AttrPK, "#done": "done", "#at": "at",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":false": &types.AttributeValueMemberBOOL{Value: false},
			":stale": str(now.Add(-staleAfter).Format(time.RFC3339Nano)),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if old, refused := conditionFailed(err); refused {
		var theirs GateClaim
		if err := attributevalue.UnmarshalMap(old, &theirs); err != nil {
			return GateClaim{}, fmt.Errorf("decoding gate claim %s of Cell %q, %w", c.Key, cellName, err)
		}
		s.log.InfoContext(ctx, "gate already claimed", "cell", cellName, "gate", c.Key, "by", theirs.Actor, "at", theirs.At)
		return GateClaim{}, &GateClaimedError{Cell: cellName, Claim: theirs}
	}
	if err != nil {
		return GateClaim{}, fmt.Errorf("claiming gate %s of Cell %q, %w", c.Key, cellName, err)
	}
	s.log.InfoContext(ctx, "claimed gate", "cell", cellName, "gate", c.Key, "action", c.Action, "actor", c.Actor)
	return c, nil
}

// CompleteGate marks c (which ClaimGate returned) Done: its Step
// Functions call went through, so the claim is final.
func (s *Store) CompleteGate(ctx context.Context, cellName string, c GateClaim) error {
	return s.endGate(ctx, cellName, c, true)
}

// ReleaseGate removes c (which ClaimGate returned) when its Step
// Functions call failed, so the gate can be answered again. A claim that
// is no longer c's (taken over) is left alone.
func (s *Store) ReleaseGate(ctx context.Context, cellName string, c GateClaim) error {
	return s.endGate(ctx, cellName, c, false)
}

func (s *Store) endGate(ctx context.Context, cellName string, c GateClaim, done bool) error {
	names := map[string]string{"#id": "claimId"}
	values := map[string]types.AttributeValue{":id": str(c.ID)}
	k := key(cellPK(cellName), SKGatePrefix+c.Key)
	var err error
	if done {
		names["#done"] = "done"
		values[":true"] = &types.AttributeValueMemberBOOL{Value: true}
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.table), Key: k,
			UpdateExpression:          aws.String("SET #done = :true"),
			ConditionExpression:       aws.String("#id = :id"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
	} else {
		_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: aws.String(s.table), Key: k,
			ConditionExpression:       aws.String("#id = :id"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
	}
	if _, refused := conditionFailed(err); refused {
		s.log.WarnContext(ctx, "gate claim no longer ours", "cell", cellName, "gate", c.Key, "done", done)
		return nil
	}
	if err != nil {
		return fmt.Errorf("ending gate claim %s of Cell %q, %w", c.Key, cellName, err)
	}
	s.log.InfoContext(ctx, "ended gate claim", "cell", cellName, "gate", c.Key, "done", done)
	return nil
}

// LatestGate returns the newest claim of the Cell whose key begins with
// prefix, and whether there is one.
func (s *Store) LatestGate(ctx context.Context, cellName, prefix string) (GateClaim, bool, error) {
	if err := checkName(KindCell, cellName); err != nil {
		return GateClaim{}, false, err
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(cellPK(cellName)), ":prefix": str(SKGatePrefix + prefix)},
		ConsistentRead:            aws.Bool(true),
	}
	var latest GateClaim
	found := false
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return GateClaim{}, false, fmt.Errorf("listing gate claims of Cell %q, %w", cellName, err)
		}
		for _, item := range out.Items {
			var c GateClaim
			if err := attributevalue.UnmarshalMap(item, &c); err != nil {
				return GateClaim{}, false, fmt.Errorf("decoding a gate claim of Cell %q, %w", cellName, err)
			}
			if !found || c.At.After(latest.At) {
				latest, found = c, true
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return latest, found, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
