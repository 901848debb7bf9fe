package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/okrahq/okra/internal/cell"
)

// AnyRevision, given to DeleteCell or DeleteTemplate, deletes whatever
// revision is stored.
const AnyRevision int64 = 0

// CellRecord is a stored Cell spec.
type CellRecord struct {
	Name      string
	Revision  int64
	UpdatedAt time.Time
	// Spec is the stored JSON document.
	Spec json.RawMessage
	// Cell is Spec decoded; nil when DecodeErr is set (for example after
	// a broken edit in the DynamoDB console).
	Cell      *cell.Cell
	DecodeErr error
}

// TemplateRecord is a stored shared analysis template.
type TemplateRecord struct {
	Name      string
	Revision  int64
	UpdatedAt time.Time
	Spec      json.RawMessage
	// Template is Spec decoded; nil when DecodeErr is set.
	Template  *cell.AnalysisTemplate
	DecodeErr error
}

// specItem is the common form of Cell spec and template items.
type specItem struct {
	name      string
	revision  int64
	updatedAt time.Time
	spec      json.RawMessage
}

func decodeSpecItem(item map[string]types.AttributeValue) specItem {
	return specItem{
		name:      stringOf(item, AttrName),
		revision:  revisionOf(item),
		updatedAt: timeOf(item, AttrUpdatedAt),
		spec:      json.RawMessage(stringOf(item, AttrSpec)),
	}
}

func cellRecord(it specItem) CellRecord {
	r := CellRecord{Name: it.name, Revision: it.revision, UpdatedAt: it.updatedAt, Spec: it.spec}
	var c cell.Cell
	if err := json.Unmarshal(it.spec, &c); err != nil {
		r.DecodeErr = fmt.Errorf("decoding stored spec of Cell %q, %w", it.name, err)
	} else {
		r.Cell = &c
	}
	return r
}

func templateRecord(it specItem) TemplateRecord {
	r := TemplateRecord{Name: it.name, Revision: it.revision, UpdatedAt: it.updatedAt, Spec: it.spec}
	var t cell.AnalysisTemplate
	if err := json.Unmarshal(it.spec, &t); err != nil {
		r.DecodeErr = fmt.Errorf("decoding stored analysis template %q, %w", it.name, err)
	} else {
		r.Template = &t
	}
	return r
}

// DecodeCellItem decodes a Cell spec item, for example the new image of a
// DynamoDB stream record.
func DecodeCellItem(item map[string]types.AttributeValue) CellRecord {
	return cellRecord(decodeSpecItem(item))
}

// PutCell stores c under c.Metadata.Name. expectedRevision is the revision
// the caller read: 0 means the Cell must not exist yet. A stale write fails
// with a *StaleRevisionError. It returns the new revision.
func (s *Store) PutCell(ctx context.Context, c *cell.Cell, expectedRevision int64) (int64, error) {
	if c == nil {
		return 0, errors.New("putting Cell: nil Cell")
	}
	return s.putSpec(ctx, KindCell, cellPK(c.Metadata.Name), c.Metadata.Name, c, expectedRevision)
}

// GetCell returns the stored Cell, or a *NotFoundError.
func (s *Store) GetCell(ctx context.Context, name string) (CellRecord, error) {
	it, err := s.getSpec(ctx, KindCell, cellPK(name), name)
	if err != nil {
		return CellRecord{}, err
	}
	return cellRecord(it), nil
}

// ListCells returns every stored Cell, ordered by name. It reads the
// ByKind index, which is eventually consistent: a Cell written a moment
// ago may be missing.
func (s *Store) ListCells(ctx context.Context) ([]CellRecord, error) {
	items, err := s.listSpecs(ctx, KindCell)
	if err != nil {
		return nil, err
	}
	out := make([]CellRecord, len(items))
	for i, it := range items {
		out[i] = cellRecord(it)
	}
	return out, nil
}

// DeleteCell deletes the Cell's spec item, at expectedRevision unless that
// is AnyRevision. It refuses with a *LeaseHeldError while a rollout
// execution holds the Cell's lease: abort the rollout first. The Cell's
// status, history and blocked versions are kept, as an audit trail and so
// that a Cell created again under the same name does not roll to a version
// that failed before. A missing Cell is a *NotFoundError.
func (s *Store) DeleteCell(ctx context.Context, name string, expectedRevision int64) error {
	if err := checkName(KindCell, name); err != nil {
		return err
	}
	cond := "attribute_exists(#pk)"
	names := map[string]string{"#pk": AttrPK}
	var values map[string]types.AttributeValue
	if expectedRevision != AnyRevision {
		cond += " AND #rev = :expected"
		names["#rev"] = AttrRevision
		values = map[string]types.AttributeValue{":expected": num(expectedRevision)}
	}
	s.log.InfoContext(ctx, "deleting cell", "cell", name, "revision", expectedRevision)
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName:                           aws.String(s.table),
			Key:                                 key(cellPK(name), SKSpec),
			ConditionExpression:                 aws.String(cond),
			ExpressionAttributeNames:            names,
			ExpressionAttributeValues:           values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		{ConditionCheck: &types.ConditionCheck{
			TableName:                           aws.String(s.table),
			Key:                                 key(cellPK(name), SKStatus),
			ConditionExpression:                 aws.String("attribute_not_exists(#exec)"),
			ExpressionAttributeNames:            map[string]string{"#exec": attrExecutionARN},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
	}})
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) && len(canceled.CancellationReasons) == 2 {
		spec, status := canceled.CancellationReasons[0], canceled.CancellationReasons[1]
		if aws.ToString(status.Code) == "ConditionalCheckFailed" {
			return &LeaseHeldError{Cell: name, Holder: stringOf(status.Item, attrExecutionARN)}
		}
		if aws.ToString(spec.Code) == "ConditionalCheckFailed" {
			if len(spec.Item) == 0 {
				return &NotFoundError{Kind: KindCell, Name: name}
			}
			return &StaleRevisionError{Kind: KindCell, Name: name, Expected: expectedRevision, Current: revisionOf(spec.Item)}
		}
	}
	if err != nil {
		return fmt.Errorf("deleting Cell %q, %w", name, err)
	}
	s.log.InfoContext(ctx, "deleted cell", "cell", name)
	return nil
}

// PutTemplate stores a shared analysis template under t.Metadata.Name,
// revisioned like a Cell (see PutCell).
func (s *Store) PutTemplate(ctx context.Context, t *cell.AnalysisTemplate, expectedRevision int64) (int64, error) {
	if t == nil {
		return 0, errors.New("putting analysis template: nil template")
	}
	return s.putSpec(ctx, KindTemplate, templatePK(t.Metadata.Name), t.Metadata.Name, t, expectedRevision)
}

// GetTemplate returns a shared analysis template, or a *NotFoundError.
func (s *Store) GetTemplate(ctx context.Context, name string) (TemplateRecord, error) {
	it, err := s.getSpec(ctx, KindTemplate, templatePK(name), name)
	if err != nil {
		return TemplateRecord{}, err
	}
	return templateRecord(it), nil
}

// ListTemplates returns every shared analysis template, ordered by name
// (eventually consistent, like ListCells).
func (s *Store) ListTemplates(ctx context.Context) ([]TemplateRecord, error) {
	items, err := s.listSpecs(ctx, KindTemplate)
	if err != nil {
		return nil, err
	}
	out := make([]TemplateRecord, len(items))
	for i, it := range items {
		out[i] = templateRecord(it)
	}
	return out, nil
}

// DeleteTemplate deletes a shared template, at expectedRevision unless
// that is AnyRevision. It does not check whether Cells still name it:
// their validation reports the missing template.
func (s *Store) DeleteTemplate(ctx context.Context, name string, expectedRevision int64) error {
	if err := checkName(KindTemplate, name); err != nil {
		return err
	}
	cond := "attribute_exists(#pk)"
	names := map[string]string{"#pk": AttrPK}
	var values map[string]types.AttributeValue
	if expectedRevision != AnyRevision {
		cond += " AND #rev = :expected"
		names["#rev"] = AttrRevision
		values = map[string]types.AttributeValue{":expected": num(expectedRevision)}
	}
	s.log.InfoContext(ctx, "deleting analysis template", "template", name, "revision", expectedRevision)
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 key(templatePK(name), SKSpec),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if item, refused := conditionFailed(err); refused {
		if len(item) == 0 {
			return &NotFoundError{Kind: KindTemplate, Name: name}
		}
		return &StaleRevisionError{Kind: KindTemplate, Name: name, Expected: expectedRevision, Current: revisionOf(item)}
	}
	if err != nil {
		return fmt.Errorf("deleting analysis template %q, %w", name, err)
	}
	s.log.InfoContext(ctx, "deleted analysis template", "template", name)
	return nil
}

func (s *Store) putSpec(ctx context.Context, kind, pk, name string, doc any, expected int64) (int64, error) {
	if err := checkName(kind, name); err != nil {
		return 0, err
	}
	if expected < 0 {
		return 0, fmt.Errorf("putting %s %q: expected revision %d is negative", kindText(kind), name, expected)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return 0, fmt.Errorf("encoding %s %q, %w", kindText(kind), name, err)
	}
	next := expected + 1
	item := key(pk, SKSpec)
	item[AttrKind] = str(kind)
	item[AttrName] = str(name)
	item[AttrSpec] = str(string(body))
	item[AttrRevision] = num(next)
	item[AttrUpdatedAt] = str(timeText(s.now()))
	cond, names, values := revisionCondition(expected)
	s.log.InfoContext(ctx, "putting "+kindText(kind), "name", name, "revision", next)
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.table),
		Item:                                item,
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if old, refused := conditionFailed(err); refused {
		return 0, &StaleRevisionError{Kind: kind, Name: name, Expected: expected, Current: revisionOf(old)}
	}
	if err != nil {
		return 0, fmt.Errorf("putting %s %q, %w", kindText(kind), name, err)
	}
	s.log.InfoContext(ctx, "put "+kindText(kind), "name", name, "revision", next)
	return next, nil
}

func (s *Store) getSpec(ctx context.Context, kind, pk, name string) (specItem, error) {
	if err := checkName(kind, name); err != nil {
		return specItem{}, err
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(pk, SKSpec),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return specItem{}, fmt.Errorf("getting %s %q, %w", kindText(kind), name, err)
	}
	if len(out.Item) == 0 {
		return specItem{}, &NotFoundError{Kind: kind, Name: name}
	}
	return decodeSpecItem(out.Item), nil
}

func (s *Store) listSpecs(ctx context.Context, kind string) ([]specItem, error) {
	items, err := s.queryKind(ctx, kind)
	if err != nil {
		return nil, err
	}
	out := make([]specItem, 0, len(items))
	for _, item := range items {
		out = append(out, decodeSpecItem(item))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// queryKind reads every page of the ByKind index for kind.
func (s *Store) queryKind(ctx context.Context, kind string) ([]map[string]types.AttributeValue, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(IndexByKind),
		KeyConditionExpression:    aws.String("#kind = :kind"),
		ExpressionAttributeNames:  map[string]string{"#kind": AttrKind},
		ExpressionAttributeValues: map[string]types.AttributeValue{":kind": str(kind)},
	}
	if s.pageSize > 0 {
		in.Limit = aws.Int32(s.pageSize)
	}
	var items []map[string]types.AttributeValue
	pages := dynamodb.NewQueryPaginator(s.db, in)
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %ss, %w", kindText(kind), err)
		}
		items = append(items, out.Items...)
	}
	return items, nil
}
