package events_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/okrahq/okra/internal/events"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestParseClusterEventFixtures(t *testing.T) {
	tests := []struct {
		fixture string
		want    events.ClusterEvent
	}{
		{
			fixture: "eks-create-cluster.json",
			want: events.ClusterEvent{
				Kind:              events.ClusterCreated,
				ClusterName:       "web-1-v2",
				ClusterARN:        "arn:aws:eks:us-east-1:123456789012:cluster/web-1-v2",
				Tags:              map[string]string{"name": "web-1-v2", "role": "web", "version": "v2"},
				EventName:         "CreateCluster",
				EventID:           "6f1c2a4e-3b8d-4c1e-9a57-2f0d8e4b7c31",
				CloudTrailEventID: "0b7e4f3a-92c6-4d18-8e5b-3c9a1f2d6e47",
				Time:              mustTime(t, "2025-03-14T09:12:44Z"),
			},
		},
		{
			fixture: "eks-create-cluster-legacy-clustername.json",
			want: events.ClusterEvent{
				Kind:              events.ClusterCreated,
				ClusterName:       "web-2-v2",
				ClusterARN:        "arn:aws:eks:us-east-1:123456789012:cluster/web-2-v2",
				Tags:              map[string]string{"name": "web-2-v2", "role": "web", "version": "v2"},
				EventName:         "CreateCluster",
				EventID:           "1d0e7b52-8c3a-4f6e-b2d9-7a4c5e1f0b93",
				CloudTrailEventID: "eab22523-174a-499c-9dd6-91e7be3ff8e3",
				Time:              mustTime(t, "2025-03-14T09:20:05Z"),
			},
		},
		{
			fixture: "eks-tag-resource.json",
			want: events.ClusterEvent{
				Kind:              events.ClusterTagsChanged,
				ClusterName:       "web-1-v2",
				ClusterARN:        "arn:aws:eks:us-east-1:123456789012:cluster/web-1-v2",
				Tags:              map[string]string{"role": "web", "version": "v2.1"},
				EventName:         "TagResource",
				EventID:           "c2b8e6a1-5f47-4d3b-a0e9-8b1d7c4f2e65",
				CloudTrailEventID: "8a4f1e6c-3d2b-4a97-b5e0-1f7c9d3a2b64",
				Time:              mustTime(t, "2025-03-14T10:02:31Z"),
			},
		},
		{
			fixture: "eks-untag-resource.json",
			want: events.ClusterEvent{
				Kind:              events.ClusterTagsChanged,
				ClusterName:       "web-1-v1",
				ClusterARN:        "arn:aws:eks:us-east-1:123456789012:cluster/web-1-v1",
				RemovedTagKeys:    []string{"role", "version"},
				EventName:         "UntagResource",
				EventID:           "f4a9d3b7-2e61-4c85-9d1a-6b3e0f8c5a27",
				CloudTrailEventID: "3e6a9c2f-7d14-4b58-a1e3-9f0b5d2c8a71",
				Time:              mustTime(t, "2025-03-14T10:05:12Z"),
			},
		},
		{
			fixture: "eks-delete-cluster.json",
			want: events.ClusterEvent{
				Kind:              events.ClusterDeleted,
				ClusterName:       "web-1-v1",
				ClusterARN:        "arn:aws:eks:us-east-1:123456789012:cluster/web-1-v1",
				EventName:         "DeleteCluster",
				EventID:           "a8e3c5f1-6d27-4b94-9e0c-3f1a7d5b2c86",
				CloudTrailEventID: "d5b1a7e3-4c96-4f2d-8a0b-6e9c3f1d7a52",
				Time:              mustTime(t, "2025-03-15T16:40:09Z"),
			},
		},
		{
			// The older record carries clusterName and no response: the
			// ARN stays empty rather than guessed.
			fixture: "eks-delete-cluster-legacy.json",
			want: events.ClusterEvent{
				Kind:              events.ClusterDeleted,
				ClusterName:       "web-2-v1",
				EventName:         "DeleteCluster",
				EventID:           "7c4e2a9f-1b58-4d36-a7e1-0f3b9d6c5e24",
				CloudTrailEventID: "b9f3d6a2-5e81-4c07-a4d9-2c6e8f1b3a95",
				Time:              mustTime(t, "2025-03-15T16:45:30Z"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			got, err := events.ParseClusterEvent(envelopeFixture(t, tt.fixture))
			if err != nil {
				t.Fatalf("ParseClusterEvent: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseClusterEvent =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

// TestParseClusterEventNameSources covers the fallbacks between name,
// clusterName and the ARN that the fixtures do not.
func TestParseClusterEventNameSources(t *testing.T) {
	tests := []struct {
		name     string
		fixture  string
		edit     func(m map[string]any)
		wantName string
		wantARN  string
	}{
		{
			name:    "create: name wins over clusterName",
			fixture: "eks-create-cluster.json",
			edit: func(m map[string]any) {
				set(m, "detail.requestParameters.clusterName", "something-else")
			},
			wantName: "web-1-v2",
			wantARN:  "arn:aws:eks:us-east-1:123456789012:cluster/web-1-v2",
		},
		{
			name:    "create: no name in the request, name from the response ARN",
			fixture: "eks-create-cluster.json",
			edit: func(m map[string]any) {
				del(m, "detail.requestParameters.name")
			},
			wantName: "web-1-v2",
			wantARN:  "arn:aws:eks:us-east-1:123456789012:cluster/web-1-v2",
		},
		{
			name:    "delete: requestParameters null, name from the response ARN",
			fixture: "eks-delete-cluster.json",
			edit: func(m map[string]any) {
				set(m, "detail.requestParameters", nil)
			},
			wantName: "web-1-v1",
			wantARN:  "arn:aws:eks:us-east-1:123456789012:cluster/web-1-v1",
		},
		{
			name:    "tag: percent-encoded resource ARN",
			fixture: "eks-tag-resource.json",
			edit: func(m map[string]any) {
				set(m, "detail.requestParameters.resourceArn", "arn%3Aaws%3Aeks%3Aus-east-1%3A123456789012%3Acluster%2Fweb-1-v2")
			},
			wantName: "web-1-v2",
			wantARN:  "arn:aws:eks:us-east-1:123456789012:cluster/web-1-v2",
		},
		{
			name:    "tag: another partition",
			fixture: "eks-tag-resource.json",
			edit: func(m map[string]any) {
				set(m, "detail.requestParameters.resourceArn", "arn:aws-us-gov:eks:us-gov-west-1:123456789012:cluster/Web_1")
			},
			wantName: "Web_1",
			wantARN:  "arn:aws-us-gov:eks:us-gov-west-1:123456789012:cluster/Web_1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := events.DecodeEnvelope(mutate(t, tt.fixture, tt.edit))
			if err != nil {
				t.Fatalf("DecodeEnvelope: %v", err)
			}
			got, err := events.ParseClusterEvent(ev)
			if err != nil {
				t.Fatalf("ParseClusterEvent: %v", err)
			}
			if got.ClusterName != tt.wantName || got.ClusterARN != tt.wantARN {
				t.Errorf("name, ARN = %q, %q; want %q, %q", got.ClusterName, got.ClusterARN, tt.wantName, tt.wantARN)
			}
		})
	}
}

func TestParseClusterEventUntagDeduplicatesKeys(t *testing.T) {
	raw := mutate(t, "eks-untag-resource.json", func(m map[string]any) {
		set(m, "detail.requestParameters.tagKeys", []any{"version", "role", "version"})
	})
	ev, err := events.DecodeEnvelope(raw)
	if err != nil {
		t.Fatal(err)
	}
	got, err := events.ParseClusterEvent(ev)
	if err != nil {
		t.Fatalf("ParseClusterEvent: %v", err)
	}
	if want := []string{"role", "version"}; !reflect.DeepEqual(got.RemovedTagKeys, want) {
		t.Errorf("RemovedTagKeys = %v, want %v", got.RemovedTagKeys, want)
	}
}

func TestParseClusterEventIgnored(t *testing.T) {
	tests := []struct {
		name   string
		raw    func(t *testing.T) []byte
		reason string
	}{
		{
			name:   "failed CreateCluster call",
			raw:    func(t *testing.T) []byte { return fixture(t, "eks-create-cluster-failed-call.json") },
			reason: `CreateCluster failed (ResourceInUseException: Cluster already exists with name: web-1-v2)`,
		},
		{
			name:   "CreateNodegroup",
			raw:    func(t *testing.T) []byte { return fixture(t, "eks-create-nodegroup.json") },
			reason: `EKS call "CreateNodegroup" is not a cluster lifecycle call`,
		},
		{
			name:   "UpdateClusterConfig",
			raw:    func(t *testing.T) []byte { return fixture(t, "eks-update-cluster-config.json") },
			reason: `EKS call "UpdateClusterConfig" is not a cluster lifecycle call`,
		},
		{
			name:   "TagResource on a node group",
			raw:    func(t *testing.T) []byte { return fixture(t, "eks-tag-resource-nodegroup.json") },
			reason: "TagResource on an EKS nodegroup (arn:aws:eks:us-east-1:123456789012:nodegroup/web-1-v2/default/",
		},
		{
			name:   "scheduled event",
			raw:    func(t *testing.T) []byte { return fixture(t, "schedule.json") },
			reason: `source "aws.events" is not aws.eks`,
		},
		{
			name:   "step functions event",
			raw:    func(t *testing.T) []byte { return fixture(t, "sfn-execution-failed.json") },
			reason: `source "aws.states" is not aws.eks`,
		},
		{
			name: "aws.eks with another detail-type",
			raw: func(t *testing.T) []byte {
				return mutate(t, "eks-create-cluster.json", func(m map[string]any) { m["detail-type"] = "EKS Cluster State Change" })
			},
			reason: `detail-type "EKS Cluster State Change" is not "AWS API Call via CloudTrail"`,
		},
		{
			name: "CloudTrail record of another service",
			raw: func(t *testing.T) []byte {
				return mutate(t, "eks-create-cluster.json", func(m map[string]any) { set(m, "detail.eventSource", "ec2.amazonaws.com") })
			},
			reason: `detail.eventSource "ec2.amazonaws.com" is not eks.amazonaws.com`,
		},
		{
			// A failed call of another kind is ignored for being foreign
			// first; either way nothing is parsed.
			name: "failed CreateNodegroup",
			raw: func(t *testing.T) []byte {
				return mutate(t, "eks-create-nodegroup.json", func(m map[string]any) { set(m, "detail.errorCode", "AccessDenied") })
			},
			reason: `"CreateNodegroup" is not a cluster lifecycle call`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := events.DecodeEnvelope(tt.raw(t))
			if err != nil {
				t.Fatalf("DecodeEnvelope: %v", err)
			}
			got, err := events.ParseClusterEvent(ev)
			wantIgnored(t, err, tt.reason)
			if !events.IsIgnored(err) || events.IsMalformed(err) {
				t.Errorf("IsIgnored, IsMalformed = %v, %v; want true, false", events.IsIgnored(err), events.IsMalformed(err))
			}
			if !reflect.DeepEqual(got, events.ClusterEvent{}) {
				t.Errorf("ParseClusterEvent returned %+v with an error, want the zero value", got)
			}
		})
	}
}

func TestParseClusterEventMalformed(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		edit    func(m map[string]any)
		field   string
		reason  string
	}{
		{"missing detail", "eks-create-cluster.json", func(m map[string]any) { delete(m, "detail") }, "detail", "missing"},
		{"null detail", "eks-create-cluster.json", func(m map[string]any) { m["detail"] = nil }, "detail", "missing"},
		{"detail is a string", "eks-create-cluster.json", func(m map[string]any) { m["detail"] = "CreateCluster" }, "detail", "want an object, got a string"},
		{"missing eventSource", "eks-create-cluster.json", func(m map[string]any) { del(m, "detail.eventSource") }, "detail.eventSource", "missing"},
		{"eventSource is a number", "eks-create-cluster.json", func(m map[string]any) { set(m, "detail.eventSource", 7) }, "detail.eventSource", "want a string, got a number"},
		{"missing eventName", "eks-create-cluster.json", func(m map[string]any) { del(m, "detail.eventName") }, "detail.eventName", "missing"},
		{"eventName is an array", "eks-create-cluster.json", func(m map[string]any) { set(m, "detail.eventName", []any{"CreateCluster"}) }, "detail.eventName", "want a string, got an array"},
		{"requestParameters is an array", "eks-create-cluster.json", func(m map[string]any) { set(m, "detail.requestParameters", []any{}) }, "detail.requestParameters", "want an object, got an array"},
		{"name is a number", "eks-create-cluster.json", func(m map[string]any) { set(m, "detail.requestParameters.name", 12) }, "detail.requestParameters.name", "want a string, got a number"},
		{
			"no name anywhere", "eks-create-cluster.json",
			func(m map[string]any) {
				del(m, "detail.requestParameters.name")
				set(m, "detail.responseElements", nil)
			},
			"detail.requestParameters", "no cluster name",
		},
		{"empty name, no ARN", "eks-delete-cluster-legacy.json", func(m map[string]any) { set(m, "detail.requestParameters.clusterName", "") }, "detail.requestParameters", "no cluster name"},
		{"name starts with a hyphen", "eks-create-cluster.json", func(m map[string]any) { set(m, "detail.requestParameters.name", "-web") }, "detail.requestParameters.name", "must start with a letter or digit"},
		{"legacy name with a dot", "eks-delete-cluster-legacy.json", func(m map[string]any) { set(m, "detail.requestParameters.clusterName", "web.1") }, "detail.requestParameters.clusterName", "only letters, digits, hyphens and underscores"},
		{"name too long", "eks-create-cluster.json", func(m map[string]any) { set(m, "detail.requestParameters.name", strings.Repeat("a", 101)) }, "detail.requestParameters.name", "101 characters, EKS allows at most 100"},
		{"response ARN of another service", "eks-create-cluster.json", func(m map[string]any) {
			set(m, "detail.responseElements.cluster.arn", "arn:aws:ecs:us-east-1:123456789012:cluster/web-1-v2")
		}, "detail.responseElements.cluster.arn", `not an EKS ARN (service "ecs")`},
		{"response ARN names another cluster", "eks-create-cluster.json", func(m map[string]any) {
			set(m, "detail.responseElements.cluster.arn", "arn:aws:eks:us-east-1:123456789012:cluster/web-9")
		}, "detail.responseElements.cluster.arn", `names cluster "web-9" but detail.requestParameters.name is "web-1-v2"`},
		{"response cluster is a string", "eks-delete-cluster.json", func(m map[string]any) { set(m, "detail.responseElements.cluster", "web") }, "detail.responseElements.cluster", "want an object, got a string"},
		{"tags is an array", "eks-create-cluster.json", func(m map[string]any) { set(m, "detail.requestParameters.tags", []any{"role=web"}) }, "detail.requestParameters.tags", "want an object of strings, got an array"},
		{"tag value is a number", "eks-create-cluster.json", func(m map[string]any) { set(m, "detail.requestParameters.tags.version", 2) }, "detail.requestParameters.tags.version", "want a string, got a number"},
		{"tag: missing resourceArn", "eks-tag-resource.json", func(m map[string]any) { del(m, "detail.requestParameters.resourceArn") }, "detail.requestParameters.resourceArn", "missing"},
		{"tag: resourceArn not an ARN", "eks-tag-resource.json", func(m map[string]any) { set(m, "detail.requestParameters.resourceArn", "web-1-v2") }, "detail.requestParameters.resourceArn", "is not an ARN"},
		{"tag: truncated ARN", "eks-tag-resource.json", func(m map[string]any) {
			set(m, "detail.requestParameters.resourceArn", "arn:aws:eks:us-east-1:123456789012:cluster/")
		}, "detail.requestParameters.resourceArn", "no <type>/<name> resource"},
		{"tag: bad account", "eks-tag-resource.json", func(m map[string]any) {
			set(m, "detail.requestParameters.resourceArn", "arn:aws:eks:us-east-1:12345:cluster/web")
		}, "detail.requestParameters.resourceArn", `invalid account "12345"`},
		{"tag: empty region", "eks-tag-resource.json", func(m map[string]any) {
			set(m, "detail.requestParameters.resourceArn", "arn:aws:eks::123456789012:cluster/web")
		}, "detail.requestParameters.resourceArn", `invalid region ""`},
		{"tag: invalid cluster name in ARN", "eks-tag-resource.json", func(m map[string]any) {
			set(m, "detail.requestParameters.resourceArn", "arn:aws:eks:us-east-1:123456789012:cluster/web/1")
		}, "detail.requestParameters.resourceArn", "only letters, digits, hyphens and underscores"},
		{"tag: bad percent-encoding", "eks-tag-resource.json", func(m map[string]any) {
			set(m, "detail.requestParameters.resourceArn", "arn%3Aaws%3Aeks%ZZ")
		}, "detail.requestParameters.resourceArn", "not valid percent-encoding"},
		{"tag: no tags", "eks-tag-resource.json", func(m map[string]any) { del(m, "detail.requestParameters.tags") }, "detail.requestParameters.tags", "missing or empty"},
		{"tag: empty tags", "eks-tag-resource.json", func(m map[string]any) { set(m, "detail.requestParameters.tags", map[string]any{}) }, "detail.requestParameters.tags", "missing or empty"},
		{"untag: no tagKeys", "eks-untag-resource.json", func(m map[string]any) { del(m, "detail.requestParameters.tagKeys") }, "detail.requestParameters.tagKeys", "missing or empty"},
		{"untag: tagKeys is an object", "eks-untag-resource.json", func(m map[string]any) { set(m, "detail.requestParameters.tagKeys", map[string]any{"a": "b"}) }, "detail.requestParameters.tagKeys", "want an array of strings, got an object"},
		{"untag: tag key is a number", "eks-untag-resource.json", func(m map[string]any) { set(m, "detail.requestParameters.tagKeys", []any{"role", 3}) }, "detail.requestParameters.tagKeys[1]", "want a string, got a number"},
		{"untag: empty tag key", "eks-untag-resource.json", func(m map[string]any) { set(m, "detail.requestParameters.tagKeys", []any{""}) }, "detail.requestParameters.tagKeys[0]", "empty string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := events.DecodeEnvelope(mutate(t, tt.fixture, tt.edit))
			if err != nil {
				t.Fatalf("DecodeEnvelope: %v", err)
			}
			got, err := events.ParseClusterEvent(ev)
			wantMalformed(t, err, tt.field, tt.reason)
			if events.IsIgnored(err) {
				t.Errorf("IsIgnored(%v) = true for a malformed event", err)
			}
			if !reflect.DeepEqual(got, events.ClusterEvent{}) {
				t.Errorf("ParseClusterEvent returned %+v with an error, want the zero value", got)
			}
		})
	}
}

func TestDecodeEnvelopeMalformed(t *testing.T) {
	create := string(fixture(t, "eks-create-cluster.json"))
	tests := []struct {
		name   string
		raw    string
		field  string
		reason string
	}{
		{"empty input", "", "", "empty input"},
		{"whitespace", " \n", "", "empty input"},
		{"not JSON", "CreateCluster", "", "invalid JSON at byte 1"},
		{"truncated", create[:len(create)/2], "", "truncated JSON"},
		{"trailing garbage", create + "}", "", "invalid JSON"},
		{"array", "[]", "", "want an object, got an array"},
		{"JSON null", "null", "source", "missing"},
		{"missing source", `{"detail-type":"Scheduled Event","detail":{}}`, "source", "missing"},
		{"missing detail-type", `{"source":"aws.events","detail":{}}`, "detail-type", "missing"},
		{"source is a number", `{"source":1,"detail-type":"x"}`, "source", "want a string, got a number"},
		{"resources is a string", `{"source":"aws.events","detail-type":"Scheduled Event","resources":"arn"}`, "resources", "want an array, got a string"},
		{"time is a number", `{"source":"aws.events","detail-type":"Scheduled Event","time":1741943700}`, "time", "want a string, got a number"},
		{"time not RFC 3339", `{"source":"aws.events","detail-type":"Scheduled Event","time":"14/03/2025 09:15"}`, "time", `"14/03/2025 09:15" is not an RFC 3339 timestamp`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.DecodeEnvelope([]byte(tt.raw))
			wantMalformed(t, err, tt.field, tt.reason)
		})
	}
}

// TestParseClusterEventFromLambdaTypes checks the parser works on an event
// the Lambda runtime decoded itself, as well as on DecodeEnvelope's.
func TestParseClusterEventFromLambdaTypes(t *testing.T) {
	ev := lambdaevents.CloudWatchEvent{
		Source:     "aws.eks",
		DetailType: "AWS API Call via CloudTrail",
		Detail:     []byte(`{"eventSource":"eks.amazonaws.com","eventName":"DeleteCluster","requestParameters":{"name":"api-3"}}`),
	}
	got, err := events.ParseClusterEvent(ev)
	if err != nil {
		t.Fatalf("ParseClusterEvent: %v", err)
	}
	if got.Kind != events.ClusterDeleted || got.ClusterName != "api-3" {
		t.Errorf("got %+v, want a Deleted event for api-3", got)
	}
}

func TestClusterNameFromARN(t *testing.T) {
	tests := []struct {
		arn     string
		want    string
		wantErr string
	}{
		{"arn:aws:eks:us-east-1:123456789012:cluster/web-1-v2", "web-1-v2", ""},
		{"arn:aws-cn:eks:cn-north-1:123456789012:cluster/a", "a", ""},
		{"arn:aws:eks:us-east-1:123456789012:nodegroup/web/ng/uuid", "", "an EKS nodegroup ARN, not a cluster ARN"},
		{"arn:aws:eks:us-east-1:123456789012:cluster", "", "no <type>/<name> resource"},
		{"arn:aws:eks:us-east-1:123456789012", "", "is not an ARN"},
		{"arn:AWS:eks:us-east-1:123456789012:cluster/web", "", `invalid partition "AWS"`},
		{"", "", "is not an ARN"},
		{"arn:aws:eks:us-east-1:123456789012:cluster/" + strings.Repeat("x", 101), "", "at most 100"},
	}
	for _, tt := range tests {
		t.Run(tt.arn, func(t *testing.T) {
			got, err := events.ClusterNameFromARN(tt.arn)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ClusterNameFromARN = %q, %v; want %q, nil", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ClusterNameFromARN error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateClusterName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"web-1-v2", true},
		{"0_cluster", true},
		{"A", true},
		{strings.Repeat("a", 100), true},
		{"", false},
		{strings.Repeat("a", 101), false},
		{"_web", false},
		{"web 1", false},
		{"wéb", false},
		{"web\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := events.ValidateClusterName(tt.name)
			if (err == nil) != tt.ok {
				t.Errorf("ValidateClusterName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
			}
		})
	}
}
