package onboarding_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/okrahq/okra/internal/store"
)

// cellDoc renders a valid Cell: an ALB listener's default action, target
// groups and clusters selected by role, replicas, two canary steps. mods
// edit the "spec" object before rendering.
func cellDoc(t testing.TB, name, listenerARN, role string, replicas int, mods ...func(spec map[string]any)) string {
	t.Helper()
	spec := map[string]any{
		"ingress": map[string]any{
			"type":                "AWSApplicationLoadBalancer",
			"listenerARN":         listenerARN,
			"targetGroupSelector": map[string]any{"matchLabels": map[string]any{"role": role}},
		},
		"clusterSelector":     map[string]any{"matchTags": map[string]any{"role": role}},
		"targetGroupTemplate": map[string]any{"port": 8080, "protocol": "HTTP", "targetType": "ip"},
		"replicas":            replicas,
		"updateStrategy": map[string]any{"canary": map[string]any{"steps": []any{
			map[string]any{"setWeight": 50},
			map[string]any{"pause": map[string]any{"duration": "1h"}},
		}}},
	}
	for _, m := range mods {
		m(spec)
	}
	b, err := json.Marshal(map[string]any{
		"apiVersion": "okra.dev/v1alpha1", "kind": "Cell", "metadata": map[string]any{"name": name}, "spec": spec,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withRule puts the Cell's forward action in a listener rule.
func withRule(priority int, path string) func(map[string]any) {
	return func(spec map[string]any) {
		spec["ingress"].(map[string]any)["rule"] = map[string]any{"priority": priority, "pathPatterns": []any{path}}
	}
}

// fixture reads events/<name>.
func fixture(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func encode(t testing.TB, m map[string]any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func path(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m = m[k].(map[string]any)
	}
	return m
}

// createEvent is events/eks-create-cluster.json about cluster name, with
// the given tags.
func createEvent(t testing.TB, name string, tags map[string]string) json.RawMessage {
	t.Helper()
	m := fixture(t, "eks-create-cluster.json")
	req := path(m, "detail", "requestParameters")
	req["name"] = name
	req["tags"] = tags
	resp := path(m, "detail", "responseElements", "cluster")
	resp["name"] = name
	resp["arn"] = clusterARNBase + name
	resp["tags"] = tags
	return encode(t, m)
}

// tagEvent is events/eks-tag-resource.json on cluster name.
func tagEvent(t testing.TB, name string, tags map[string]string) json.RawMessage {
	t.Helper()
	m := fixture(t, "eks-tag-resource.json")
	req := path(m, "detail", "requestParameters")
	req["resourceArn"] = clusterARNBase + name
	req["tags"] = tags
	return encode(t, m)
}

// untagEvent is events/eks-untag-resource.json on cluster name.
func untagEvent(t testing.TB, name string, keys ...string) json.RawMessage {
	t.Helper()
	m := fixture(t, "eks-untag-resource.json")
	req := path(m, "detail", "requestParameters")
	req["resourceArn"] = clusterARNBase + name
	req["tagKeys"] = keys
	return encode(t, m)
}

// deleteEvent is events/eks-delete-cluster.json about cluster name.
func deleteEvent(t testing.TB, name string) json.RawMessage {
	t.Helper()
	m := fixture(t, "eks-delete-cluster.json")
	path(m, "detail", "requestParameters")["name"] = name
	resp := path(m, "detail", "responseElements", "cluster")
	resp["name"] = name
	resp["arn"] = clusterARNBase + name
	return encode(t, m)
}

func scheduleEvent(t testing.TB) json.RawMessage {
	t.Helper()
	return encode(t, fixture(t, "schedule.json"))
}

// specRecord is one stream record writing spec as revision rev of Cell
// name.
func specRecord(name string, rev int64, spec, seq string) lambdaevents.DynamoDBEventRecord {
	img := map[string]lambdaevents.DynamoDBAttributeValue{
		store.AttrPK:       lambdaevents.NewStringAttribute(store.KindCell + "#" + name),
		store.AttrSK:       lambdaevents.NewStringAttribute(store.SKSpec),
		store.AttrKind:     lambdaevents.NewStringAttribute(store.KindCell),
		store.AttrName:     lambdaevents.NewStringAttribute(name),
		store.AttrSpec:     lambdaevents.NewStringAttribute(spec),
		store.AttrRevision: lambdaevents.NewNumberAttribute(itoa(rev)),
	}
	return lambdaevents.DynamoDBEventRecord{
		EventID: "ev-" + seq, EventName: "MODIFY", EventSource: "aws:dynamodb",
		Change: lambdaevents.DynamoDBStreamRecord{
			Keys:           map[string]lambdaevents.DynamoDBAttributeValue{store.AttrPK: img[store.AttrPK], store.AttrSK: img[store.AttrSK]},
			NewImage:       img,
			SequenceNumber: seq,
			StreamViewType: "NEW_AND_OLD_IMAGES",
		},
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func contains(list []string, substr string) bool {
	for _, s := range list {
		if strings.Contains(s, substr) {
			return true
		}
	}
	return false
}

var bg = context.Background()

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(bg, d)
}
