package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of the table. PK and SK form the primary key; Kind and
// Name key the ByKind index, which only Cell spec, template and cluster
// items carry, so listing them never reads history.
const (
	AttrPK        = "PK"
	AttrSK        = "SK"
	AttrKind      = "kind"
	AttrName      = "name"
	AttrRevision  = "revision"
	AttrSpec      = "spec"
	AttrUpdatedAt = "updatedAt"
	// AttrExpiresAt is the table's TTL attribute (epoch seconds); only
	// history items carry it, and only when Options.EventRetention is set.
	AttrExpiresAt = "expiresAt"
)

// IndexByKind is the global secondary index listing items of one kind
// (KindCell, KindTemplate, KindCluster) by name.
const IndexByKind = "byKind"

// Item kinds: the AttrKind value, and the prefix of the partition key.
const (
	KindCell     = "CELL"
	KindTemplate = "TEMPLATE"
	KindCluster  = "CLUSTER"
)

// Sort keys and sort-key prefixes.
const (
	SKSpec        = "SPEC"
	SKStatus      = "STATUS"
	SKMeta        = "META"
	SKEventPrefix = "EVENT#"
	SKBlockPrefix = "BLOCK#"
)

// TableSchema describes okra's one table. The CDK stack builds the table
// from it and CreateTable builds it locally, so the two cannot disagree.
// Every key attribute is a string.
type TableSchema struct {
	PartitionKey string
	SortKey      string
	Indexes      []IndexSchema
	// StreamView is what the table's stream carries: the config-change
	// function compares old and new Cell specs.
	StreamView types.StreamViewType
	// TTLAttribute expires old history items.
	TTLAttribute string
	BillingMode  types.BillingMode
	// PointInTimeRecovery and Encrypted are set by the CDK stack (a
	// CreateTable call cannot turn on point-in-time recovery).
	PointInTimeRecovery bool
	Encrypted           bool
}

// IndexSchema is one global secondary index.
type IndexSchema struct {
	Name         string
	PartitionKey string
	SortKey      string
	Projection   types.ProjectionType
}

// Schema returns the table's schema.
func Schema() TableSchema {
	return TableSchema{
		PartitionKey: AttrPK,
		SortKey:      AttrSK,
		Indexes: []IndexSchema{{
			Name:         IndexByKind,
			PartitionKey: AttrKind,
			SortKey:      AttrName,
			Projection:   types.ProjectionTypeAll,
		}},
		StreamView:          types.StreamViewTypeNewAndOldImages,
		TTLAttribute:        AttrExpiresAt,
		BillingMode:         types.BillingModePayPerRequest,
		PointInTimeRecovery: true,
		Encrypted:           true,
	}
}

// TableDefinition returns the CreateTable request for the schema.
func TableDefinition(tableName string) *dynamodb.CreateTableInput {
	s := Schema()
	attrs := map[string]bool{}
	var defs []types.AttributeDefinition
	def := func(name string) {
		if !attrs[name] {
			attrs[name] = true
			defs = append(defs, types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: types.ScalarAttributeTypeS})
		}
	}
	def(s.PartitionKey)
	def(s.SortKey)
	in := &dynamodb.CreateTableInput{
		TableName: aws.String(tableName),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(s.PartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(s.SortKey), KeyType: types.KeyTypeRange},
		},
		BillingMode:         s.BillingMode,
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: s.StreamView},
		SSESpecification:    &types.SSESpecification{Enabled: aws.Bool(s.Encrypted)},
	}
	for _, ix := range s.Indexes {
		def(ix.PartitionKey)
		def(ix.SortKey)
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: aws.String(ix.Name),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(ix.PartitionKey), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(ix.SortKey), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: ix.Projection},
		})
	}
	in.AttributeDefinitions = defs
	return in
}

// TableAPI is the part of the DynamoDB API CreateTable calls;
// *dynamodb.Client satisfies it.
type TableAPI interface {
	CreateTable(ctx context.Context, params *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, params *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, params *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

var _ TableAPI = (*dynamodb.Client)(nil)

// CreateTable creates the table for local runs and tests (the CDK stack
// creates it in AWS), waits until it is ACTIVE and turns on TTL. A table
// that already exists is left as it is.
func CreateTable(ctx context.Context, api TableAPI, tableName string) error {
	_, err := api.CreateTable(ctx, TableDefinition(tableName))
	var inUse *types.ResourceInUseException
	existed := errors.As(err, &inUse)
	if err != nil && !existed {
		return fmt.Errorf("creating table %s, %w", tableName, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(api, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 2 * time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(tableName)}, 2*time.Minute); err != nil {
		return fmt.Errorf("waiting for table %s, %w", tableName, err)
	}
	if existed {
		return nil
	}
	_, err = api.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(tableName),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(Schema().TTLAttribute), Enabled: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("enabling TTL on table %s, %w", tableName, err)
	}
	return nil
}
