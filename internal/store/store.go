// Package store owns okra's single DynamoDB table: its schema (defined
// once here, read by the CDK stack), the item layout, and every read and
// conditional write of Cell specs, shared analysis templates, Cell status
// with the rollout lease, history events, blocked versions and the cluster
// registry.
//
//	item               PK               SK
//	Cell spec          CELL#<name>      SPEC
//	analysis template  TEMPLATE#<name>  SPEC
//	Cell status        CELL#<name>      STATUS
//	history event      CELL#<name>      EVENT#<time>#<seq>
//	blocked version    CELL#<name>      BLOCK#<version>
//	gate claim         CELL#<name>      GATE#<gate>
//	cluster            CLUSTER#<name>   META
//
// Specs and status carry a revision for optimistic concurrency: a write
// names the revision it read, and a stale write fails with a
// *StaleRevisionError instead of losing someone else's change. The lease
// belongs to a Step Functions execution, not to a clock (see AcquireLease).
//
// The package stores what it is given: it does not validate Cell specs
// (package cell does), decide rollouts (package rollout) or call any AWS
// service but DynamoDB.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// API is the part of the DynamoDB API the Store calls; *dynamodb.Client
// satisfies it.
type API interface {
	GetItem(ctx context.Context, params *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, params *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, params *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, params *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, params *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, params *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Options configure a Store.
type Options struct {
	// Logger receives one line before and after every mutation. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests pin it.
	Now func() time.Time
	// EventRetention, when positive, lets DynamoDB expire history events
	// that much after their time (TTL).
	EventRetention time.Duration
	// PageSize is the Limit of each Query page; zero leaves DynamoDB's
	// (1 MB pages).
	PageSize int32
}

// Store reads and writes okra's table.
type Store struct {
	db        API
	table     string
	log       *slog.Logger
	now       func() time.Time
	retention time.Duration
	pageSize  int32
}

// New returns a Store over the table named table.
func New(db API, table string, o Options) *Store {
	s := &Store{db: db, table: table, log: o.Logger, now: o.Now, retention: o.EventRetention, pageSize: o.PageSize}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Table returns the table's name.
func (s *Store) Table() string { return s.table }

// maxAttempts bounds compare-and-swap loops under contention.
const maxAttempts = 8

func cellPK(name string) string     { return KindCell + "#" + name }
func templatePK(name string) string { return KindTemplate + "#" + name }
func clusterPK(name string) string  { return KindCluster + "#" + name }

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: str(pk), AttrSK: str(sk)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func timeText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// revisionOf reads an item's revision; 0 when the item or attribute is
// absent.
func revisionOf(item map[string]types.AttributeValue) int64 {
	n, ok := item[AttrRevision].(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	v, _ := strconv.ParseInt(n.Value, 10, 64)
	return v
}

func stringOf(item map[string]types.AttributeValue, attr string) string {
	if s, ok := item[attr].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func timeOf(item map[string]types.AttributeValue, attr string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, stringOf(item, attr))
	return t
}

// conditionFailed returns the item a refused conditional write found
// (when it asked for it) and whether the write was refused.
func conditionFailed(err error) (map[string]types.AttributeValue, bool) {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item, true
	}
	return nil, false
}

// revisionCondition is the condition of a write that read expected: the
// item must not exist (expected 0) or must still have that revision.
func revisionCondition(expected int64) (string, map[string]string, map[string]types.AttributeValue) {
	if expected == 0 {
		return "attribute_not_exists(#pk)", map[string]string{"#pk": AttrPK}, nil
	}
	return "#rev = :expected", map[string]string{"#rev": AttrRevision}, map[string]types.AttributeValue{":expected": num(expected)}
}

func checkName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%s name is empty", kindText(kind))
	}
	return nil
}

func kindText(kind string) string {
	switch kind {
	case KindCell:
		return "Cell"
	case KindTemplate:
		return "analysis template"
	case KindCluster:
		return "cluster"
	}
	return kind
}

// sleep waits a little before retrying a refused compare-and-swap.
func sleep(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(attempt*attempt) * 10 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
