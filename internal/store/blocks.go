package store

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/okrahq/okra/internal/rollout"
)

// Block records that the Cell must not roll to b.Version again (b.At
// defaults to now). Versions match exactly as written. Blocking a version
// that is already blocked keeps the first record and reports false.
func (s *Store) Block(ctx context.Context, cellName string, b rollout.Block) (bool, error) {
	if err := checkName(KindCell, cellName); err != nil {
		return false, err
	}
	if b.Version == "" {
		return false, fmt.Errorf("blocking a version of Cell %q: empty version", cellName)
	}
	if b.At.IsZero() {
		b.At = s.now()
	}
	b.At = b.At.UTC()
	item, err := attributevalue.MarshalMap(b)
	if err != nil {
		return false, fmt.Errorf("encoding block of %s in Cell %q, %w", b.Version, cellName, err)
	}
	for k, v := range key(cellPK(cellName), SKBlockPrefix+b.Version) {
		item[k] = v
	}
	s.log.InfoContext(ctx, "blocking version", "cell", cellName, "version", b.Version, "reason", b.Reason)
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	})
	if _, exists := conditionFailed(err); exists {
		s.log.InfoContext(ctx, "version already blocked", "cell", cellName, "version", b.Version)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("blocking %s in Cell %q, %w", b.Version, cellName, err)
	}
	s.log.InfoContext(ctx, "blocked version", "cell", cellName, "version", b.Version)
	return true, nil
}

// Unblock lets the Cell roll to version again; it reports whether the
// version was blocked.
func (s *Store) Unblock(ctx context.Context, cellName, version string) (bool, error) {
	if err := checkName(KindCell, cellName); err != nil {
		return false, err
	}
	if version == "" {
		return false, fmt.Errorf("unblocking a version of Cell %q: empty version", cellName)
	}
	s.log.InfoContext(ctx, "unblocking version", "cell", cellName, "version", version)
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:    aws.String(s.table),
		Key:          key(cellPK(cellName), SKBlockPrefix+version),
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return false, fmt.Errorf("unblocking %s in Cell %q, %w", version, cellName, err)
	}
	s.log.InfoContext(ctx, "unblocked version", "cell", cellName, "version", version, "wasBlocked", len(out.Attributes) > 0)
	return len(out.Attributes) > 0, nil
}

// IsBlocked returns the block of version, and whether there is one.
func (s *Store) IsBlocked(ctx context.Context, cellName, version string) (rollout.Block, bool, error) {
	if err := checkName(KindCell, cellName); err != nil {
		return rollout.Block{}, false, err
	}
	if version == "" {
		return rollout.Block{}, false, fmt.Errorf("checking a version of Cell %q: empty version", cellName)
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(cellPK(cellName), SKBlockPrefix+version),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return rollout.Block{}, false, fmt.Errorf("reading block of %s in Cell %q, %w", version, cellName, err)
	}
	if len(out.Item) == 0 {
		return rollout.Block{}, false, nil
	}
	var b rollout.Block
	if err := attributevalue.UnmarshalMap(out.Item, &b); err != nil {
		return rollout.Block{}, false, fmt.Errorf("decoding block of %s in Cell %q, %w", version, cellName, err)
	}
	return b, true, nil
}

// ListBlocked returns the Cell's blocked versions, ordered by version text.
func (s *Store) ListBlocked(ctx context.Context, cellName string) ([]rollout.Block, error) {
	if err := checkName(KindCell, cellName); err != nil {
		return nil, err
	}
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(cellPK(cellName)), ":prefix": str(SKBlockPrefix),
		},
		ConsistentRead: aws.Bool(true),
	}
	if s.pageSize > 0 {
		in.Limit = aws.Int32(s.pageSize)
	}
	var blocks []rollout.Block
	pages := dynamodb.NewQueryPaginator(s.db, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing blocked versions of Cell %q, %w", cellName, err)
		}
		for _, item := range out.Items {
			var b rollout.Block
			if err := attributevalue.UnmarshalMap(item, &b); err != nil {
				return nil, fmt.Errorf("decoding block %s of Cell %q, %w", stringOf(item, AttrSK), cellName, err)
			}
			blocks = append(blocks, b)
		}
	}
	return blocks, nil
}
