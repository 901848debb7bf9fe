package events

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
)

// ClusterEventKind says what happened to a cluster.
type ClusterEventKind string

// Kinds of cluster event.
const (
	// ClusterCreated: CreateCluster succeeded; the cluster is CREATING.
	ClusterCreated ClusterEventKind = "Created"
	// ClusterTagsChanged: TagResource or UntagResource on a cluster.
	ClusterTagsChanged ClusterEventKind = "TagsChanged"
	// ClusterDeleted: DeleteCluster succeeded; the cluster is DELETING.
	ClusterDeleted ClusterEventKind = "Deleted"
)

// ClusterEvent is a successful EKS API call that changed a cluster's
// existence or tags.
type ClusterEvent struct {
	Kind        ClusterEventKind
	ClusterName string
	// ClusterARN is the cluster's ARN when the event carries it (the
	// response of CreateCluster and DeleteCluster, the resource of
	// TagResource and UntagResource); empty otherwise.
	ClusterARN string
	// Tags are the tags requested at creation (Created) or added or
	// overwritten (TagsChanged via TagResource). They are a change, not the
	// cluster's full tag set.
	Tags map[string]string
	// RemovedTagKeys are the keys UntagResource removed, sorted, without
	// duplicates.
	RemovedTagKeys []string
	// EventName is the CloudTrail event name, e.g. "CreateCluster".
	EventName string
	// EventID is the EventBridge event id; CloudTrailEventID is
	// detail.eventID, the id to look the call up in CloudTrail.
	EventID           string
	CloudTrailEventID string
	// Time is when EventBridge says the event happened.
	Time time.Time
}

// clusterNamePattern is EKS's rule for cluster names.
var clusterNamePattern = regexp.MustCompile(`^[0-9A-Za-z][A-Za-z0-9_-]*$`)

// ValidateClusterName checks name against EKS's rules: 1 to 100
// characters, letters, digits, hyphens and underscores, starting with a
// letter or digit.
func ValidateClusterName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty cluster name")
	case len(name) > 100:
		return fmt.Errorf("cluster name is %d characters, EKS allows at most 100", len(name))
	case !clusterNamePattern.MatchString(name):
		return fmt.Errorf("cluster name %q must start with a letter or digit and contain only letters, digits, hyphens and underscores", name)
	}
	return nil
}

// eksARN is an EKS ARN split into its parts.
type eksARN struct {
	resourceType string // cluster, nodegroup, addon, fargateprofile, ...
	resource     string // what follows the type and its slash
}

// parseEKSARN splits arn:<partition>:eks:<region>:<account>:<type>/<rest>.
func parseEKSARN(arn string) (eksARN, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return eksARN{}, fmt.Errorf("%q is not an ARN (want arn:<partition>:eks:<region>:<account>:cluster/<name>)", arn)
	}
	partition, service, region, account, resource := parts[1], parts[2], parts[3], parts[4], parts[5]
	if service != "eks" {
		return eksARN{}, fmt.Errorf("%q is not an EKS ARN (service %q)", arn, service)
	}
	if !validPartition(partition) {
		return eksARN{}, fmt.Errorf("%q has an invalid partition %q", arn, partition)
	}
	if !validRegion(region) {
		return eksARN{}, fmt.Errorf("%q has an invalid region %q", arn, region)
	}
	if !validAccount(account) {
		return eksARN{}, fmt.Errorf("%q has an invalid account %q (want 12 digits)", arn, account)
	}
	typ, rest, ok := strings.Cut(resource, "/")
	if !ok || typ == "" || rest == "" {
		return eksARN{}, fmt.Errorf("%q has no <type>/<name> resource", arn)
	}
	return eksARN{resourceType: typ, resource: rest}, nil
}

func validPartition(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '-' {
			return false
		}
	}
	return true
}

func validRegion(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

func validAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// ClusterNameFromARN returns the cluster name in an EKS cluster ARN,
// arn:<partition>:eks:<region>:<account>:cluster/<name>.
func ClusterNameFromARN(arn string) (string, error) {
	a, err := parseEKSARN(arn)
	if err != nil {
		return "", err
	}
	if a.resourceType != "cluster" {
		return "", fmt.Errorf("%q is an EKS %s ARN, not a cluster ARN", arn, a.resourceType)
	}
	if err := ValidateClusterName(a.resource); err != nil {
		return "", fmt.Errorf("%q: %w", arn, err)
	}
	return a.resource, nil
}

// cloudTrailDetail is the part of a CloudTrail record okra reads.
type cloudTrailDetail struct {
	EventSource       string          `json:"eventSource"`
	EventName         string          `json:"eventName"`
	EventID           string          `json:"eventID"`
	ErrorCode         string          `json:"errorCode"`
	ErrorMessage      string          `json:"errorMessage"`
	RequestParameters json.RawMessage `json:"requestParameters"`
	ResponseElements  json.RawMessage `json:"responseElements"`
}

// eksRequest holds the request parameters of the four calls okra reads.
type eksRequest struct {
	Name        string          `json:"name"`
	ClusterName string          `json:"clusterName"`
	ResourceARN string          `json:"resourceArn"`
	Tags        json.RawMessage `json:"tags"`
	TagKeys     json.RawMessage `json:"tagKeys"`
}

// eksResponse holds the cluster in CreateCluster's and DeleteCluster's
// responses.
type eksResponse struct {
	Cluster *struct {
		ARN  string          `json:"arn"`
		Tags json.RawMessage `json:"tags"`
	} `json:"cluster"`
}

// ParseClusterEvent reads an EKS API call delivered by EventBridge. It
// returns an *IgnoredError for events of another source or detail-type,
// other EKS calls, failed calls (detail.errorCode set) and tag changes on
// EKS resources other than clusters; a *MalformedError when a field okra
// needs is missing or invalid.
//
// The cluster name comes from requestParameters.name, else
// requestParameters.clusterName (older records), else the cluster ARN
// (responseElements.cluster.arn, or requestParameters.resourceArn for tag
// calls). When both a name and an ARN are present they must agree.
func ParseClusterEvent(ev lambdaevents.CloudWatchEvent) (ClusterEvent, error) {
	if ev.Source != SourceEKS {
		return ClusterEvent{}, ignored("source %q is not %s", ev.Source, SourceEKS)
	}
	if ev.DetailType != DetailTypeAPICall {
		return ClusterEvent{}, ignored("detail-type %q is not %q", ev.DetailType, DetailTypeAPICall)
	}
	if absent(ev.Detail) {
		return ClusterEvent{}, malformed("detail", "missing")
	}
	var d cloudTrailDetail
	if err := decodeJSON(ev.Detail, "detail", &d); err != nil {
		return ClusterEvent{}, err
	}
	if d.EventSource == "" {
		return ClusterEvent{}, malformed("detail.eventSource", "missing")
	}
	if d.EventSource != EventSourceEKS {
		return ClusterEvent{}, ignored("detail.eventSource %q is not %s", d.EventSource, EventSourceEKS)
	}
	if d.EventName == "" {
		return ClusterEvent{}, malformed("detail.eventName", "missing")
	}
	var kind ClusterEventKind
	switch d.EventName {
	case EventCreateCluster:
		kind = ClusterCreated
	case EventTagResource, EventUntagResource:
		kind = ClusterTagsChanged
	case EventDeleteCluster:
		kind = ClusterDeleted
	default:
		return ClusterEvent{}, ignored("EKS call %q is not a cluster lifecycle call", d.EventName)
	}
	if d.ErrorCode != "" {
		msg := d.ErrorCode
		if d.ErrorMessage != "" {
			msg += ": " + d.ErrorMessage
		}
		return ClusterEvent{}, ignored("%s failed (%s); nothing changed", d.EventName, msg)
	}

	var req eksRequest
	if !absent(d.RequestParameters) {
		if err := decodeJSON(d.RequestParameters, "detail.requestParameters", &req); err != nil {
			return ClusterEvent{}, err
		}
	}
	out := ClusterEvent{
		Kind:              kind,
		EventName:         d.EventName,
		EventID:           ev.ID,
		CloudTrailEventID: d.EventID,
		Time:              ev.Time,
	}
	var err error
	switch d.EventName {
	case EventCreateCluster, EventDeleteCluster:
		err = parseClusterCall(&out, d, req)
	case EventTagResource:
		err = parseTagCall(&out, req, true)
	case EventUntagResource:
		err = parseTagCall(&out, req, false)
	}
	if err != nil {
		return ClusterEvent{}, err
	}
	return out, nil
}

// parseClusterCall reads CreateCluster and DeleteCluster.
func parseClusterCall(out *ClusterEvent, d cloudTrailDetail, req eksRequest) error {
	var resp eksResponse
	if !absent(d.ResponseElements) {
		if err := decodeJSON(d.ResponseElements, "detail.responseElements", &resp); err != nil {
			return err
		}
	}
	name, nameField := req.Name, "detail.requestParameters.name"
	if name == "" {
		name, nameField = req.ClusterName, "detail.requestParameters.clusterName"
	}
	if name != "" {
		if err := ValidateClusterName(name); err != nil {
			return malformed(nameField, "%v", err)
		}
	}
	if resp.Cluster != nil && resp.Cluster.ARN != "" {
		arnName, err := ClusterNameFromARN(resp.Cluster.ARN)
		if err != nil {
			return malformed("detail.responseElements.cluster.arn", "%v", err)
		}
		if name != "" && arnName != name {
			return malformed("detail.responseElements.cluster.arn", "names cluster %q but %s is %q", arnName, nameField, name)
		}
		name = arnName
		out.ClusterARN = resp.Cluster.ARN
	}
	if name == "" {
		return malformed("detail.requestParameters", "no cluster name: neither name nor clusterName is set and detail.responseElements.cluster.arn is missing")
	}
	out.ClusterName = name
	if out.Kind != ClusterCreated {
		return nil
	}
	tags, err := decodeStringMap(req.Tags, "detail.requestParameters.tags")
	if err != nil {
		return err
	}
	if tags == nil && resp.Cluster != nil {
		if tags, err = decodeStringMap(resp.Cluster.Tags, "detail.responseElements.cluster.tags"); err != nil {
			return err
		}
	}
	out.Tags = tags
	return nil
}

// parseTagCall reads TagResource (tagging) and UntagResource.
func parseTagCall(out *ClusterEvent, req eksRequest, tagging bool) error {
	const arnField = "detail.requestParameters.resourceArn"
	if req.ResourceARN == "" {
		return malformed(arnField, "missing")
	}
	arn := req.ResourceARN
	// CloudTrail may record this URI path parameter percent-encoded.
	if strings.Contains(arn, "%") {
		unescaped, err := url.PathUnescape(arn)
		if err != nil {
			return malformed(arnField, "%q is not valid percent-encoding: %v", arn, err)
		}
		arn = unescaped
	}
	a, err := parseEKSARN(arn)
	if err != nil {
		return malformed(arnField, "%v", err)
	}
	if a.resourceType != "cluster" {
		return ignored("%s on an EKS %s (%s), not a cluster", out.EventName, a.resourceType, arn)
	}
	name, err := ClusterNameFromARN(arn)
	if err != nil {
		return malformed(arnField, "%v", err)
	}
	out.ClusterName = name
	out.ClusterARN = arn
	if tagging {
		const tagsField = "detail.requestParameters.tags"
		tags, err := decodeStringMap(req.Tags, tagsField)
		if err != nil {
			return err
		}
		if len(tags) == 0 {
			return malformed(tagsField, "missing or empty; TagResource always sets at least one tag")
		}
		out.Tags = tags
		return nil
	}
	const keysField = "detail.requestParameters.tagKeys"
	keys, err := decodeStringList(req.TagKeys, keysField)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return malformed(keysField, "missing or empty; UntagResource always removes at least one tag")
	}
	sort.Strings(keys)
	out.RemovedTagKeys = slices.Compact(keys)
	return nil
}
