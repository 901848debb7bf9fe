package events_test

import (
	"encoding/json"
	"sort"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/okrahq/okra/internal/events"
)

// TestFixtureCatalog routes every events/*.json file as okra's functions
// would and checks each lands where the catalog (and events/README.md)
// says. A new fixture must be added here.
func TestFixtureCatalog(t *testing.T) {
	const (
		cluster        = "cluster-events"
		clusterIgnored = "cluster-events (ignored)"
		safetyNet      = "safety net"
		reconcile      = "reconcile"
		configChange   = "config-change"
	)
	catalog := map[string]string{
		"eks-create-cluster.json":                    cluster,
		"eks-create-cluster-legacy-clustername.json": cluster,
		"eks-tag-resource.json":                      cluster,
		"eks-untag-resource.json":                    cluster,
		"eks-delete-cluster.json":                    cluster,
		"eks-delete-cluster-legacy.json":             cluster,
		"eks-create-cluster-failed-call.json":        clusterIgnored,
		"eks-create-nodegroup.json":                  clusterIgnored,
		"eks-update-cluster-config.json":             clusterIgnored,
		"eks-tag-resource-nodegroup.json":            clusterIgnored,
		"schedule.json":                              reconcile,
		"dynamodb-cell-spec-change.json":             configChange,
		"sfn-execution-failed.json":                  safetyNet,
		"sfn-execution-timed-out.json":               safetyNet,
		"sfn-execution-aborted.json":                 safetyNet,
		"sfn-execution-succeeded.json":               safetyNet,
	}
	names := fixtureNames(t, "")
	var listed []string
	for name := range catalog {
		listed = append(listed, name)
	}
	sort.Strings(listed)
	sort.Strings(names)
	if len(names) != len(listed) {
		t.Errorf("events/ holds %v, the catalog lists %v", names, listed)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			want, ok := catalog[name]
			if !ok {
				t.Fatalf("events/%s is not in the catalog", name)
			}
			if got := route(t, fixture(t, name)); got != want {
				t.Errorf("routed to %q, want %q", got, want)
			}
		})
	}
}

// route says which function would act on raw, failing on any error other
// than a cluster event ignored as foreign.
func route(t *testing.T, raw []byte) string {
	t.Helper()
	var probe struct {
		Records json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if probe.Records != nil {
		var ev lambdaevents.DynamoDBEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("not a DynamoDB stream batch: %v", err)
		}
		changes, err := events.ParseSpecChanges(ev)
		if err != nil || len(changes) == 0 {
			t.Fatalf("ParseSpecChanges = %v, %v", changes, err)
		}
		return "config-change"
	}
	ev, err := events.DecodeEnvelope(raw)
	if err != nil {
		t.Fatalf("DecodeEnvelope: %v", err)
	}
	switch {
	case events.IsScheduled(ev):
		return "reconcile"
	case ev.Source == events.SourceStates:
		if _, err := events.ParseExecutionStatusChange(ev); err != nil {
			t.Fatalf("ParseExecutionStatusChange: %v", err)
		}
		return "safety net"
	case ev.Source == events.SourceEKS:
		_, err := events.ParseClusterEvent(ev)
		switch {
		case err == nil:
			return "cluster-events"
		case events.IsIgnored(err):
			return "cluster-events (ignored)"
		default:
			t.Fatalf("ParseClusterEvent: %v", err)
		}
	}
	t.Fatalf("no function takes source %q, detail-type %q", ev.Source, ev.DetailType)
	return ""
}
