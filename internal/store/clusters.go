package store

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/okrahq/okra/internal/inventory"
)

// Attributes of a cluster item besides the keys, kind and name.
const (
	attrCluster      = "cluster"
	attrTargetGroups = "targetGroups"
)

// ClusterRecord is a registered EKS cluster and the target group okra
// created for it in each Cell.
type ClusterRecord struct {
	Cluster inventory.Cluster
	// TargetGroups maps a Cell's name to the ARN of the cluster's target
	// group in that Cell.
	TargetGroups map[string]string
	UpdatedAt    time.Time
}

// PutCluster registers or refreshes a cluster. rec.TargetGroups, when not
// nil, replaces the whole map; when nil the stored map is kept (use
// SetClusterTargetGroup to change one Cell's entry without racing other
// writers).
func (s *Store) PutCluster(ctx context.Context, rec ClusterRecord) error {
	name := rec.Cluster.Name
	if err := checkName(KindCluster, name); err != nil {
		return err
	}
	c, err := attributevalue.Marshal(rec.Cluster)
	if err != nil {
		return fmt.Errorf("encoding cluster %q, %w", name, err)
	}
	update := "SET #cluster = :cluster, #kind = :kind, #name = :name, #updated = :now, #tgs = if_not_exists(#tgs, :tgs)"
	tgs := map[string]string{}
	if rec.TargetGroups != nil {
		update = "SET #cluster = :cluster, #kind = :kind, #name = :name, #updated = :now, #tgs = :tgs"
		tgs = rec.TargetGroups
	}
	tgsValue, err := attributevalue.Marshal(tgs)
	if err != nil {
		return fmt.Errorf("encoding target groups of cluster %q, %w", name, err)
	}
	s.log.InfoContext(ctx, "putting cluster", "cluster", name, "status", rec.Cluster.Status)
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.table),
		Key:              key(clusterPK(name), SKMeta),
		UpdateExpression: aws.String(update),
		ExpressionAttributeNames: map[string]string{
			"#cluster": attrCluster, "#kind": AttrKind, "#name": AttrName, "#updated": AttrUpdatedAt, "#tgs": attrTargetGroups,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":cluster": c, ":kind": str(KindCluster), ":name": str(name), ":now": str(timeText(s.now())), ":tgs": tgsValue,
		},
	})
	if err != nil {
		return fmt.Errorf("putting cluster %q, %w", name, err)
	}
	s.log.InfoContext(ctx, "put cluster", "cluster", name)
	return nil
}

// SetClusterTargetGroup records the cluster's target group in a Cell,
// leaving the other Cells' entries alone. The cluster must be registered,
// else *NotFoundError.
func (s *Store) SetClusterTargetGroup(ctx context.Context, clusterName, cellName, targetGroupARN string) error {
	if err := checkName(KindCluster, clusterName); err != nil {
		return err
	}
	if err := checkName(KindCell, cellName); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "setting cluster target group", "cluster", clusterName, "cell", cellName, "targetGroup", targetGroupARN)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      key(clusterPK(clusterName), SKMeta),
		UpdateExpression:         aws.String("SET #tgs.#cell = :arn, #updated = :now"),
		ConditionExpression:      aws.String("attribute_exists(#pk) AND attribute_exists(#tgs)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK, "#tgs": attrTargetGroups, "#cell": cellName, "#updated": AttrUpdatedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":arn": str(targetGroupARN), ":now": str(timeText(s.now())),
		},
	})
	if _, refused := conditionFailed(err); refused {
		return &NotFoundError{Kind: KindCluster, Name: clusterName}
	}
	if err != nil {
		return fmt.Errorf("setting target group of cluster %q in Cell %q, %w", clusterName, cellName, err)
	}
	s.log.InfoContext(ctx, "set cluster target group", "cluster", clusterName, "cell", cellName)
	return nil
}

// RemoveClusterTargetGroup forgets the cluster's target group in a Cell.
// Removing from an unregistered cluster does nothing.
func (s *Store) RemoveClusterTargetGroup(ctx context.Context, clusterName, cellName string) error {
	if err := checkName(KindCluster, clusterName); err != nil {
		return err
	}
	if err := checkName(KindCell, cellName); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "removing cluster target group", "cluster", clusterName, "cell", cellName)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(clusterPK(clusterName), SKMeta),
		UpdateExpression:          aws.String("REMOVE #tgs.#cell SET #updated = :now"),
		ConditionExpression:       aws.String("attribute_exists(#tgs)"),
		ExpressionAttributeNames:  map[string]string{"#tgs": attrTargetGroups, "#cell": cellName, "#updated": AttrUpdatedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": str(timeText(s.now()))},
	})
	if _, refused := conditionFailed(err); refused {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing target group of cluster %q in Cell %q, %w", clusterName, cellName, err)
	}
	s.log.InfoContext(ctx, "removed cluster target group", "cluster", clusterName, "cell", cellName)
	return nil
}

// GetCluster returns a registered cluster, or a *NotFoundError.
func (s *Store) GetCluster(ctx context.Context, name string) (ClusterRecord, error) {
	if err := checkName(KindCluster, name); err != nil {
		return ClusterRecord{}, err
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            key(clusterPK(name), SKMeta),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return ClusterRecord{}, fmt.Errorf("getting cluster %q, %w", name, err)
	}
	if len(out.Item) == 0 {
		return ClusterRecord{}, &NotFoundError{Kind: KindCluster, Name: name}
	}
	return decodeCluster(out.Item)
}

// ListClusters returns every registered cluster, ordered by name. It reads
// the ByKind index, which is eventually consistent.
func (s *Store) ListClusters(ctx context.Context) ([]ClusterRecord, error) {
	items, err := s.queryKind(ctx, KindCluster)
	if err != nil {
		return nil, err
	}
	out := make([]ClusterRecord, 0, len(items))
	for _, item := range items {
		rec, err := decodeCluster(item)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// DeleteCluster forgets a cluster; deleting an unknown one does nothing.
func (s *Store) DeleteCluster(ctx context.Context, name string) error {
	if err := checkName(KindCluster, name); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "deleting cluster", "cluster", name)
	if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key:       key(clusterPK(name), SKMeta),
	}); err != nil {
		return fmt.Errorf("deleting cluster %q, %w", name, err)
	}
	s.log.InfoContext(ctx, "deleted cluster", "cluster", name)
	return nil
}

func decodeCluster(item map[string]types.AttributeValue) (ClusterRecord, error) {
	rec := ClusterRecord{UpdatedAt: timeOf(item, AttrUpdatedAt)}
	name := stringOf(item, AttrName)
	if v, ok := item[attrCluster]; ok {
		if err := attributevalue.Unmarshal(v, &rec.Cluster); err != nil {
			return ClusterRecord{}, fmt.Errorf("decoding cluster %q, %w", name, err)
		}
	}
	if v, ok := item[attrTargetGroups]; ok {
		if err := attributevalue.Unmarshal(v, &rec.TargetGroups); err != nil {
			return ClusterRecord{}, fmt.Errorf("decoding target groups of cluster %q, %w", name, err)
		}
	}
	return rec, nil
}
