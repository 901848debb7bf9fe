package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
)

func testCell(name, host string) *cell.Cell {
	replicas := int32(2)
	return &cell.Cell{
		APIVersion: cell.APIVersion,
		Kind:       cell.Kind,
		Metadata:   cell.Metadata{Name: name},
		Spec: cell.Spec{
			Ingress: cell.Ingress{
				Type:        cell.IngressALB,
				ListenerARN: "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/1/2",
				Rule:        &cell.ListenerRule{Priority: 10, Hosts: []string{host}},
			},
			ClusterSelector: cell.ClusterSelector{MatchTags: map[string]string{"role": "web"}},
			Replicas:        &replicas,
			VersionedBy:     cell.VersionedBy{Label: "version"},
			RollbackWindow:  cell.Seconds(900),
			UpdateStrategy: cell.UpdateStrategy{Canary: &cell.Canary{Steps: []cell.Step{
				{SetWeight: aws.Int32(10)},
				{Pause: &cell.Pause{Duration: cell.Seconds(60)}},
			}}},
		},
	}
}

func TestCellRevisions(t *testing.T) {
	e := newEnv(t, store.Options{})
	s := e.store
	web := testCell("web", "web.example.com")

	rev, err := s.PutCell(e.ctx, web, 0)
	if err != nil || rev != 1 {
		t.Fatalf("PutCell new = %d, %v; want revision 1", rev, err)
	}
	got, err := s.GetCell(e.ctx, "web")
	if err != nil {
		t.Fatalf("GetCell: %v", err)
	}
	if got.Revision != 1 || got.DecodeErr != nil || !reflect.DeepEqual(got.Cell, web) {
		t.Fatalf("GetCell = rev %d err %v cell %+v; want the stored Cell", got.Revision, got.DecodeErr, got.Cell)
	}
	if !got.UpdatedAt.Equal(e.clock.Now()) {
		t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, e.clock.Now())
	}

	stale := []struct {
		name     string
		expected int64
		current  int64
	}{
		{name: "create over an existing Cell", expected: 0, current: 1},
		{name: "revision from the future", expected: 5, current: 1},
	}
	for _, tt := range stale {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.PutCell(e.ctx, testCell("web", "other.example.com"), tt.expected)
			var se *store.StaleRevisionError
			if !errors.As(err, &se) || se.Expected != tt.expected || se.Current != tt.current || se.Name != "web" {
				t.Fatalf("PutCell = %v, want *StaleRevisionError expected %d current %d", err, tt.expected, tt.current)
			}
		})
	}

	// Two writers read revision 1; the second write loses.
	first, second := testCell("web", "first.example.com"), testCell("web", "second.example.com")
	if rev, err := s.PutCell(e.ctx, first, 1); err != nil || rev != 2 {
		t.Fatalf("PutCell first writer = %d, %v", rev, err)
	}
	_, err = s.PutCell(e.ctx, second, 1)
	var se *store.StaleRevisionError
	if !errors.As(err, &se) || se.Expected != 1 || se.Current != 2 {
		t.Fatalf("PutCell second writer = %v, want stale 1 vs 2", err)
	}
	if got, _ := s.GetCell(e.ctx, "web"); got.Cell == nil || got.Cell.Spec.Ingress.Rule.Hosts[0] != "first.example.com" {
		t.Errorf("stored Cell = %+v, want the first writer's", got.Cell)
	}

	// Delete: stale revision refused, leased Cell refused, then deleted.
	if err := s.DeleteCell(e.ctx, "web", 1); !errors.As(err, &se) || se.Current != 2 {
		t.Fatalf("DeleteCell stale = %v, want *StaleRevisionError", err)
	}
	running := func(context.Context, string) (bool, error) { return true, nil }
	if _, err := s.AcquireLease(e.ctx, "web", "arn:exec:1", running); err != nil {
		t.Fatalf("AcquireLease: %v", err)
	}
	var held *store.LeaseHeldError
	if err := s.DeleteCell(e.ctx, "web", store.AnyRevision); !errors.As(err, &held) || held.Holder != "arn:exec:1" {
		t.Fatalf("DeleteCell during a rollout = %v, want *LeaseHeldError", err)
	}
	if err := s.ReleaseLease(e.ctx, "web", "arn:exec:1"); err != nil {
		t.Fatalf("ReleaseLease: %v", err)
	}
	if err := s.DeleteCell(e.ctx, "web", 2); err != nil {
		t.Fatalf("DeleteCell: %v", err)
	}
	var nf *store.NotFoundError
	if _, err := s.GetCell(e.ctx, "web"); !errors.As(err, &nf) {
		t.Fatalf("GetCell after delete = %v, want *NotFoundError", err)
	}
	if err := s.DeleteCell(e.ctx, "web", store.AnyRevision); !errors.As(err, &nf) {
		t.Fatalf("DeleteCell again = %v, want *NotFoundError", err)
	}
	// The status survives the spec.
	if st, err := s.GetStatus(e.ctx, "web"); err != nil || st.Revision == 0 {
		t.Errorf("status after DeleteCell = %+v, %v; want it kept", st, err)
	}
}

func TestListCellsReadsEveryPage(t *testing.T) {
	e := newEnv(t, store.Options{PageSize: 2})
	names := []string{"web", "api", "batch", "admin", "cdn"}
	for _, n := range names {
		if _, err := e.store.PutCell(e.ctx, testCell(n, n+".example.com"), 0); err != nil {
			t.Fatalf("PutCell %s: %v", n, err)
		}
	}
	// Status, history and block items of a Cell are not Cells.
	if _, err := e.store.PutStatus(e.ctx, "web", rollout.Status{Phase: rollout.PhaseStable}, 0); err != nil {
		t.Fatalf("PutStatus: %v", err)
	}
	if _, err := e.store.AppendEvent(e.ctx, "web", store.Event{Type: store.EventSpecApplied}); err != nil {
		t.Fatalf("AppendEvent: %v", err)
	}
	cells, err := e.store.ListCells(e.ctx)
	if err != nil {
		t.Fatalf("ListCells: %v", err)
	}
	var got []string
	for _, c := range cells {
		got = append(got, c.Name)
		if c.Cell == nil || c.Cell.Metadata.Name != c.Name || c.Revision != 1 {
			t.Errorf("record %s = rev %d cell %+v", c.Name, c.Revision, c.Cell)
		}
	}
	if want := []string{"admin", "api", "batch", "cdn", "web"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListCells = %v, want %v", got, want)
	}
}

func TestBrokenSpecIsReportedNotHidden(t *testing.T) {
	e := newEnv(t, store.Options{})
	if _, err := e.store.PutCell(e.ctx, testCell("ok", "ok.example.com"), 0); err != nil {
		t.Fatalf("PutCell: %v", err)
	}
	// Someone edits the item in the console and breaks the JSON.
	_, err := e.db.PutItem(e.ctx, &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: map[string]types.AttributeValue{
		store.AttrPK: &types.AttributeValueMemberS{Value: "CELL#broken"}, store.AttrSK: &types.AttributeValueMemberS{Value: store.SKSpec},
		store.AttrKind: &types.AttributeValueMemberS{Value: store.KindCell}, store.AttrName: &types.AttributeValueMemberS{Value: "broken"},
		store.AttrSpec: &types.AttributeValueMemberS{Value: `{"metadata": {"name": "broken"`}, store.AttrRevision: &types.AttributeValueMemberN{Value: "3"},
	}})
	if err != nil {
		t.Fatalf("PutItem: %v", err)
	}
	got, err := e.store.GetCell(e.ctx, "broken")
	if err != nil || got.DecodeErr == nil || got.Cell != nil || got.Revision != 3 {
		t.Fatalf("GetCell broken = %+v, %v; want a record with DecodeErr", got, err)
	}
	cells, err := e.store.ListCells(e.ctx)
	if err != nil || len(cells) != 2 || cells[0].DecodeErr == nil || cells[1].Cell == nil {
		t.Fatalf("ListCells = %+v, %v; want both, the broken one with DecodeErr", cells, err)
	}
}

func TestTemplates(t *testing.T) {
	e := newEnv(t, store.Options{})
	s := e.store
	tmpl := &cell.AnalysisTemplate{
		APIVersion: "argoproj.io/v1alpha1",
		Kind:       cell.KindClusterAnalysisTemplate,
		Metadata:   cell.Metadata{Name: "error-rate"},
		Spec: cell.AnalysisTemplateSpec{Metrics: []cell.Metric{{
			Name:             "errors",
			Interval:         cell.Seconds(60),
			Count:            cell.Int(3),
			SuccessCondition: "result[0] < 0.01",
			Provider:         cell.MetricProvider{Datadog: &cell.DatadogMetric{Query: "sum:errors{cell:web}"}},
		}}},
	}
	if rev, err := s.PutTemplate(e.ctx, tmpl, 0); err != nil || rev != 1 {
		t.Fatalf("PutTemplate = %d, %v", rev, err)
	}
	var se *store.StaleRevisionError
	if _, err := s.PutTemplate(e.ctx, tmpl, 0); !errors.As(err, &se) || se.Kind != store.KindTemplate || se.Current != 1 {
		t.Fatalf("PutTemplate again = %v, want stale", err)
	}
	if rev, err := s.PutTemplate(e.ctx, tmpl, 1); err != nil || rev != 2 {
		t.Fatalf("PutTemplate update = %d, %v", rev, err)
	}
	got, err := s.GetTemplate(e.ctx, "error-rate")
	if err != nil || got.Revision != 2 || !reflect.DeepEqual(got.Template, tmpl) {
		t.Fatalf("GetTemplate = %+v, %v", got, err)
	}
	list, err := s.ListTemplates(e.ctx)
	if err != nil || len(list) != 1 || list[0].Name != "error-rate" {
		t.Fatalf("ListTemplates = %+v, %v", list, err)
	}
	if err := s.DeleteTemplate(e.ctx, "error-rate", 1); !errors.As(err, &se) {
		t.Fatalf("DeleteTemplate stale = %v", err)
	}
	if err := s.DeleteTemplate(e.ctx, "error-rate", 2); err != nil {
		t.Fatalf("DeleteTemplate: %v", err)
	}
	var nf *store.NotFoundError
	if _, err := s.GetTemplate(e.ctx, "error-rate"); !errors.As(err, &nf) {
		t.Fatalf("GetTemplate after delete = %v", err)
	}
}

func TestTableDefinition(t *testing.T) {
	e := newEnv(t, store.Options{})
	out, err := e.db.DescribeTable(e.ctx, &dynamodb.DescribeTableInput{TableName: aws.String(e.table)})
	if err != nil {
		t.Fatalf("DescribeTable: %v", err)
	}
	td := out.Table
	if len(td.KeySchema) != 2 || aws.ToString(td.KeySchema[0].AttributeName) != store.AttrPK || aws.ToString(td.KeySchema[1].AttributeName) != store.AttrSK {
		t.Errorf("key schema = %+v", td.KeySchema)
	}
	if len(td.GlobalSecondaryIndexes) != 1 || aws.ToString(td.GlobalSecondaryIndexes[0].IndexName) != store.IndexByKind {
		t.Errorf("indexes = %+v", td.GlobalSecondaryIndexes)
	}
	if td.StreamSpecification == nil || td.StreamSpecification.StreamViewType != types.StreamViewTypeNewAndOldImages {
		t.Errorf("stream = %+v", td.StreamSpecification)
	}
	ttl, err := e.db.DescribeTimeToLive(e.ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(e.table)})
	if err != nil || aws.ToString(ttl.TimeToLiveDescription.AttributeName) != store.AttrExpiresAt {
		t.Errorf("TTL = %+v, %v", ttl, err)
	}
	// Creating it again is fine.
	if err := store.CreateTable(e.ctx, e.db, e.table); err != nil {
		t.Errorf("CreateTable again: %v", err)
	}
}
