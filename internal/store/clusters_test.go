package store_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/store"
)

func TestClusterRegistry(t *testing.T) {
	e := newEnv(t, store.Options{PageSize: 1})
	s := e.store
	c1 := inventory.Cluster{
		Name: "web-1-v2", ARN: "arn:aws:eks:us-east-1:123456789012:cluster/web-1-v2", Status: "CREATING",
		VPCID: "vpc-1", Tags: map[string]string{"role": "web", "version": "v2"},
	}
	if err := s.PutCluster(e.ctx, store.ClusterRecord{Cluster: c1}); err != nil {
		t.Fatalf("PutCluster: %v", err)
	}
	if err := s.SetClusterTargetGroup(e.ctx, c1.Name, "web", "arn:tg/web"); err != nil {
		t.Fatalf("SetClusterTargetGroup web: %v", err)
	}
	if err := s.SetClusterTargetGroup(e.ctx, c1.Name, "api", "arn:tg/api"); err != nil {
		t.Fatalf("SetClusterTargetGroup api: %v", err)
	}
	// The cluster becomes ACTIVE: refreshing it keeps the target groups.
	c1.Status, c1.Endpoint, c1.CertificateAuthority = "ACTIVE", "https://ABC.eks.amazonaws.com", "Q0E="
	e.clock.Set(e.clock.Now().Add(time.Minute))
	if err := s.PutCluster(e.ctx, store.ClusterRecord{Cluster: c1}); err != nil {
		t.Fatalf("PutCluster refresh: %v", err)
	}
	got, err := s.GetCluster(e.ctx, c1.Name)
	if err != nil {
		t.Fatalf("GetCluster: %v", err)
	}
	want := store.ClusterRecord{Cluster: c1, TargetGroups: map[string]string{"web": "arn:tg/web", "api": "arn:tg/api"}, UpdatedAt: e.clock.Now()}
	if !reflect.DeepEqual(got.Cluster, want.Cluster) || !reflect.DeepEqual(got.TargetGroups, want.TargetGroups) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("GetCluster = %+v, want %+v", got, want)
	}

	if err := s.RemoveClusterTargetGroup(e.ctx, c1.Name, "api"); err != nil {
		t.Fatalf("RemoveClusterTargetGroup: %v", err)
	}
	if err := s.RemoveClusterTargetGroup(e.ctx, "unknown", "api"); err != nil {
		t.Fatalf("RemoveClusterTargetGroup of an unknown cluster: %v", err)
	}
	c2 := inventory.Cluster{Name: "web-2-v2", ARN: "arn:aws:eks:us-east-1:123456789012:cluster/web-2-v2", Status: "ACTIVE"}
	if err := s.PutCluster(e.ctx, store.ClusterRecord{Cluster: c2, TargetGroups: map[string]string{"web": "arn:tg/web2"}}); err != nil {
		t.Fatalf("PutCluster c2: %v", err)
	}
	list, err := s.ListClusters(e.ctx)
	if err != nil {
		t.Fatalf("ListClusters: %v", err)
	}
	if len(list) != 2 || list[0].Cluster.Name != c1.Name || list[1].Cluster.Name != c2.Name {
		t.Fatalf("ListClusters = %+v", list)
	}
	if !reflect.DeepEqual(list[0].TargetGroups, map[string]string{"web": "arn:tg/web"}) || !reflect.DeepEqual(list[1].TargetGroups, map[string]string{"web": "arn:tg/web2"}) {
		t.Errorf("target groups = %v, %v", list[0].TargetGroups, list[1].TargetGroups)
	}

	var nf *store.NotFoundError
	if err := s.SetClusterTargetGroup(e.ctx, "unknown", "web", "arn:tg/x"); !errors.As(err, &nf) {
		t.Fatalf("SetClusterTargetGroup of an unknown cluster = %v, want *NotFoundError", err)
	}
	if err := s.DeleteCluster(e.ctx, c1.Name); err != nil {
		t.Fatalf("DeleteCluster: %v", err)
	}
	if _, err := s.GetCluster(e.ctx, c1.Name); !errors.As(err, &nf) || nf.Kind != store.KindCluster {
		t.Fatalf("GetCluster after delete = %v, want *NotFoundError", err)
	}
	if err := s.DeleteCluster(e.ctx, c1.Name); err != nil {
		t.Fatalf("DeleteCluster again: %v", err)
	}
}
