package targetgroups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/inventory"
)

// Target types okra creates target groups for.
const (
	TargetTypeIP       = "ip"
	TargetTypeInstance = "instance"
)

// TemplateError says a Cell's targetGroupTemplate (or the cluster it is
// applied to) cannot produce a target group. Nothing was sent to AWS.
type TemplateError struct {
	Field  string
	Reason string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("%s: %s", e.Field, e.Reason)
}

// ConflictError says okra cannot have exactly one target group for a
// (cluster, Cell): its name is held by a group okra does not own for the
// pair, or several groups carry the pair's ownership tags.
type ConflictError struct {
	Cell, Cluster, Name string
	// ARNs are the groups in the way.
	ARNs   []string
	Reason string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("target group for cluster %q in cell %q (%s): %s: %s",
		e.Cluster, e.Cell, e.Name, e.Reason, strings.Join(e.ARNs, ", "))
}

// existing is a target group okra found or created, with its tags.
type existing struct {
	group elbv2types.TargetGroup
	tags  map[string]string
}

// Ensure makes sure exactly one target group exists for cl in c and
// returns it (without health counts). It looks the group up by its name
// and, failing that, by its ownership tags (okra:cell, okra:cluster,
// okra:managed) before creating one from c's targetGroupTemplate in cl's
// VPC. The usual call, for a group that exists and is in step, costs one
// DescribeTargetGroups and one DescribeTags; the lookup by tags (one
// GetResources of the Resource Groups Tagging API, not a scan of the
// account) runs only when the name is not found, that is before a
// creation. A caller holding okra's inventory ensures many pairs at once
// with EnsureAll. When the group exists, only its tags are brought in step (AddTags
// for missing or changed keys, RemoveTags for okra: keys no longer
// wanted); a second call with the same input makes no change. When the
// template asks for it and the targets are instances, the cluster's
// managed node groups' Auto Scaling groups are attached to the group.
//
// Bad input (*TemplateError, *TagLimitError, *NameError,
// *MissingVersionTagError) is refused before any AWS call. A name held by
// someone else's group, or several groups claiming the pair, is a
// *ConflictError.
func (m *Manager) Ensure(ctx context.Context, c *cell.Cell, cl inventory.Cluster) (inventory.TargetGroup, error) {
	name, desired, input, err := m.prepare(ctx, c, cl)
	if err != nil {
		return inventory.TargetGroup{}, err
	}
	log := m.log.With("cell", c.Metadata.Name, "cluster", cl.Name, "targetGroup", name)

	found, err := m.find(ctx, log, c.Metadata.Name, cl.Name, name)
	if err != nil {
		return inventory.TargetGroup{}, err
	}
	if found == nil {
		if found, err = m.create(ctx, log, input, c.Metadata.Name, cl.Name); err != nil {
			return inventory.TargetGroup{}, err
		}
	} else {
		warnImmutableDrift(ctx, log, found.group, input)
	}
	return m.finish(ctx, log, c, cl, found, desired)
}

// prepare checks the input of Ensure and builds the group's name, desired
// tags and creation request, before any AWS call.
func (m *Manager) prepare(ctx context.Context, c *cell.Cell, cl inventory.Cluster) (string, map[string]string, *elbv2.CreateTargetGroupInput, error) {
	if c == nil {
		return "", nil, nil, &TemplateError{Field: "cell", Reason: "no cell given"}
	}
	if c.Metadata.Name == "" {
		return "", nil, nil, &TemplateError{Field: "metadata.name", Reason: "the cell has no name"}
	}
	if cl.Name == "" {
		return "", nil, nil, &TemplateError{Field: "cluster.name", Reason: "the cluster has no name"}
	}
	desired, err := DesiredTags(ctx, m.log, c, cl)
	if err != nil {
		return "", nil, nil, err
	}
	name := Name(c.Metadata.Name, cl.Name)
	if err := ValidateName(name); err != nil {
		return "", nil, nil, err
	}
	input, err := createInput(c, cl, name, desired)
	if err != nil {
		return "", nil, nil, err
	}
	return name, desired, input, nil
}

// finish brings found's tags in step, attaches node groups when asked and
// returns the group as inventory.
func (m *Manager) finish(ctx context.Context, log *slog.Logger, c *cell.Cell, cl inventory.Cluster, found *existing, desired map[string]string) (inventory.TargetGroup, error) {
	if err := m.syncTags(ctx, log, found, desired); err != nil {
		return inventory.TargetGroup{}, err
	}
	if err := m.attachNodeGroups(ctx, log, c, cl, aws.ToString(found.group.TargetGroupArn)); err != nil {
		return inventory.TargetGroup{}, err
	}
	return inventory.TargetGroup{
		ARN:              aws.ToString(found.group.TargetGroupArn),
		Name:             aws.ToString(found.group.TargetGroupName),
		Tags:             maps.Clone(found.tags),
		Version:          found.tags[discovery.VersionLabel(c)],
		Cluster:          cl.Name,
		LoadBalancerARNs: append([]string(nil), found.group.LoadBalancerArns...),
	}, nil
}

// owned reports whether tags mark a group okra made for (cell, cluster).
func owned(tags map[string]string, cellName, cluster string) bool {
	return tags[inventory.TagManaged] == inventory.ManagedValue &&
		tags[inventory.TagCell] == cellName &&
		tags[inventory.TagCluster] == cluster
}

func ownership(cellName, cluster string) map[string]string {
	return map[string]string{
		inventory.TagManaged: inventory.ManagedValue,
		inventory.TagCell:    cellName,
		inventory.TagCluster: cluster,
	}
}

// find returns the group okra owns for (cellName, cluster): by name first
// (two calls), then by its ownership tags through the Resource Groups
// Tagging API (one GetResources, whatever the account holds), which finds
// a group created under an earlier naming scheme.
func (m *Manager) find(ctx context.Context, log *slog.Logger, cellName, cluster, name string) (*existing, error) {
	byName, err := m.describe(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{name}})
	if err != nil {
		return nil, err
	}
	if byName != nil {
		tags, err := m.tagsOf(ctx, aws.ToString(byName.TargetGroupArn))
		if err != nil {
			return nil, err
		}
		if owned(tags, cellName, cluster) {
			return &existing{group: *byName, tags: tags}, nil
		}
	}

	if m.tagging == nil {
		return nil, errors.New("finding the target group by its tags: a Resource Groups Tagging API client is required")
	}
	tagged, err := discovery.Tagged(ctx, m.tagging, ownership(cellName, cluster), m.scan)
	if err != nil {
		return nil, err
	}
	switch len(tagged) {
	case 0:
		if byName != nil {
			return nil, &ConflictError{Cell: cellName, Cluster: cluster, Name: name,
				ARNs: []string{aws.ToString(byName.TargetGroupArn)}, Reason: "the name is taken by a target group okra does not own for this cluster and cell"}
		}
		return nil, nil
	case 1:
		g, err := m.describe(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{tagged[0].ARN}})
		if err != nil {
			return nil, err
		}
		if g == nil {
			return nil, nil // deleted since the scan
		}
		log.InfoContext(ctx, "found the cluster's target group by its tags under another name", "foundName", tagged[0].Name)
		return &existing{group: *g, tags: tagged[0].Tags}, nil
	default:
		arns := make([]string, len(tagged))
		for i, tg := range tagged {
			arns[i] = tg.ARN
		}
		return nil, &ConflictError{Cell: cellName, Cluster: cluster, Name: name, ARNs: arns,
			Reason: "several target groups carry this cluster's and cell's okra tags; delete all but one"}
	}
}

// describe returns the one target group in, or nil when it does not exist.
func (m *Manager) describe(ctx context.Context, in *elbv2.DescribeTargetGroupsInput) (*elbv2types.TargetGroup, error) {
	out, err := m.elb.DescribeTargetGroups(ctx, in)
	if err != nil {
		if awsapi.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("describing target groups, %w", err)
	}
	if len(out.TargetGroups) == 0 {
		return nil, nil
	}
	return &out.TargetGroups[0], nil
}

// tagsOf returns the tags of one group.
func (m *Manager) tagsOf(ctx context.Context, arn string) (map[string]string, error) {
	descs, err := discovery.DescribeTags(ctx, m.elb, []string{arn})
	if err != nil {
		return nil, err
	}
	for _, d := range descs {
		if aws.ToString(d.ResourceArn) == arn {
			return discovery.TagMap(d.Tags), nil
		}
	}
	return map[string]string{}, nil
}

// create creates the group. CreateTargetGroup answers with the existing
// group when one with the same name and settings exists, and with
// DuplicateTargetGroupName when the settings differ; either way the group
// is only used when its tags say okra owns it for the pair.
func (m *Manager) create(ctx context.Context, log *slog.Logger, in *elbv2.CreateTargetGroupInput, cellName, cluster string) (*existing, error) {
	g, raced, err := m.createGroup(ctx, log, in)
	if err != nil {
		return nil, err
	}
	return m.confirmOwner(ctx, log, g, cellName, cluster, raced)
}

// createGroup sends CreateTargetGroup. raced says the name was taken
// (DuplicateTargetGroupName) and g is the group holding it.
func (m *Manager) createGroup(ctx context.Context, log *slog.Logger, in *elbv2.CreateTargetGroupInput) (g *elbv2types.TargetGroup, raced bool, err error) {
	name := aws.ToString(in.Name)
	log.InfoContext(ctx, "creating target group", "port", aws.ToInt32(in.Port), "protocol", string(in.Protocol),
		"targetType", string(in.TargetType), "vpc", aws.ToString(in.VpcId))
	out, err := m.elb.CreateTargetGroup(ctx, in)
	switch {
	case err == nil && len(out.TargetGroups) > 0:
		return &out.TargetGroups[0], false, nil
	case err == nil:
		return nil, false, fmt.Errorf("creating target group %s: empty answer", name)
	case awsapi.Code(err) == "DuplicateTargetGroupName":
		// Another invocation created it first, or the name is someone
		// else's: the tags decide.
		log.InfoContext(ctx, "target group name already taken; checking its owner")
		if g, err = m.describe(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{name}}); err != nil {
			return nil, false, err
		}
		if g == nil {
			return nil, false, fmt.Errorf("creating target group %s: AWS says the name is taken but no such group exists; retry", name)
		}
		return g, true, nil
	default:
		return nil, false, fmt.Errorf("creating target group %s, %w", name, err)
	}
}

// confirmOwner reads g's tags and returns it when okra owns it for the
// pair, else a *ConflictError.
func (m *Manager) confirmOwner(ctx context.Context, log *slog.Logger, g *elbv2types.TargetGroup, cellName, cluster string, raced bool) (*existing, error) {
	arn := aws.ToString(g.TargetGroupArn)
	tags, err := m.tagsOf(ctx, arn)
	if err != nil {
		return nil, err
	}
	if !owned(tags, cellName, cluster) {
		return nil, &ConflictError{Cell: cellName, Cluster: cluster, Name: aws.ToString(g.TargetGroupName), ARNs: []string{arn},
			Reason: "the name is taken by a target group okra does not own for this cluster and cell"}
	}
	if raced {
		log.InfoContext(ctx, "target group was created concurrently by okra; using it", "arn", arn)
	} else {
		log.InfoContext(ctx, "created target group", "arn", arn)
	}
	return &existing{group: *g, tags: tags}, nil
}

// syncTags brings the okra-managed tags of ex in step with desired.
func (m *Manager) syncTags(ctx context.Context, log *slog.Logger, ex *existing, desired map[string]string) error {
	add, remove := tagDiff(ex.tags, desired)
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	result := maps.Clone(ex.tags)
	maps.Copy(result, add)
	for _, k := range remove {
		delete(result, k)
	}
	if len(result) > MaxTagsPerResource {
		return &TagLimitError{Reason: fmt.Sprintf("the target group would carry %d tags (its own plus okra's), at most %d allowed", len(result), MaxTagsPerResource)}
	}
	arn := aws.ToString(ex.group.TargetGroupArn)
	addKeys := sortedKeys(add)
	log.InfoContext(ctx, "updating target group tags", "arn", arn, "set", addKeys, "remove", remove)
	if len(add) > 0 {
		if _, err := m.elb.AddTags(ctx, &elbv2.AddTagsInput{ResourceArns: []string{arn}, Tags: elbTags(add)}); err != nil {
			return fmt.Errorf("adding tags to target group %s, %w", arn, err)
		}
	}
	if len(remove) > 0 {
		if _, err := m.elb.RemoveTags(ctx, &elbv2.RemoveTagsInput{ResourceArns: []string{arn}, TagKeys: remove}); err != nil {
			return fmt.Errorf("removing tags from target group %s, %w", arn, err)
		}
	}
	log.InfoContext(ctx, "updated target group tags", "arn", arn, "set", addKeys, "remove", remove)
	ex.tags = result
	return nil
}

// warnImmutableDrift logs when an existing group's port, protocol, target
// type or VPC differ from what the template asks: AWS cannot change them
// in place, so okra keeps the group and says so.
func warnImmutableDrift(ctx context.Context, log *slog.Logger, g elbv2types.TargetGroup, want *elbv2.CreateTargetGroupInput) {
	var drift []string
	if aws.ToInt32(g.Port) != aws.ToInt32(want.Port) {
		drift = append(drift, fmt.Sprintf("port %d, template %d", aws.ToInt32(g.Port), aws.ToInt32(want.Port)))
	}
	if g.Protocol != want.Protocol {
		drift = append(drift, fmt.Sprintf("protocol %s, template %s", g.Protocol, want.Protocol))
	}
	if g.TargetType != want.TargetType {
		drift = append(drift, fmt.Sprintf("target type %s, template %s", g.TargetType, want.TargetType))
	}
	if aws.ToString(g.VpcId) != aws.ToString(want.VpcId) {
		drift = append(drift, fmt.Sprintf("VPC %s, cluster's %s", aws.ToString(g.VpcId), aws.ToString(want.VpcId)))
	}
	if len(drift) > 0 {
		log.WarnContext(ctx, "target group differs from the template in settings AWS cannot change; keeping it",
			"arn", aws.ToString(g.TargetGroupArn), "drift", drift)
	}
}

// createInput builds the CreateTargetGroup request from c's template.
func createInput(c *cell.Cell, cl inventory.Cluster, name string, tags map[string]string) (*elbv2.CreateTargetGroupInput, error) {
	t := c.Spec.TargetGroupTemplate
	targetType := targetTypeOf(t)
	if targetType != TargetTypeIP && targetType != TargetTypeInstance {
		return nil, &TemplateError{Field: "spec.targetGroupTemplate.targetType", Reason: fmt.Sprintf("%q is not supported; use ip or instance", targetType)}
	}
	if t.Port == nil {
		return nil, &TemplateError{Field: "spec.targetGroupTemplate.port", Reason: "required"}
	}
	if *t.Port < 1 || *t.Port > 65535 {
		return nil, &TemplateError{Field: "spec.targetGroupTemplate.port", Reason: fmt.Sprintf("%d is not in 1..65535", *t.Port)}
	}
	if cl.VPCID == "" {
		return nil, &TemplateError{Field: "cluster.vpcId", Reason: fmt.Sprintf("EKS cluster %q has no VPC ID; the target group must be in the cluster's VPC", cl.Name)}
	}
	protocol := t.Protocol
	if protocol == "" {
		protocol = string(elbv2types.ProtocolEnumHttp)
		if c.Spec.Ingress.Type == cell.IngressNLB {
			protocol = string(elbv2types.ProtocolEnumTcp)
		}
	}
	in := &elbv2.CreateTargetGroupInput{
		Name:       aws.String(name),
		Port:       aws.Int32(*t.Port),
		Protocol:   elbv2types.ProtocolEnum(protocol),
		TargetType: elbv2types.TargetTypeEnum(targetType),
		VpcId:      aws.String(cl.VPCID),
		Tags:       elbTags(tags),
	}
	httpLike := protocol == string(elbv2types.ProtocolEnumHttp) || protocol == string(elbv2types.ProtocolEnumHttps)
	if t.ProtocolVersion != "" {
		if !httpLike {
			return nil, &TemplateError{Field: "spec.targetGroupTemplate.protocolVersion", Reason: fmt.Sprintf("only HTTP and HTTPS target groups take a protocol version, not %s", protocol)}
		}
		in.ProtocolVersion = aws.String(t.ProtocolVersion)
	}
	if hc := t.HealthCheck; hc != nil {
		if hc.Protocol != "" {
			in.HealthCheckProtocol = elbv2types.ProtocolEnum(hc.Protocol)
		}
		if hc.Port != "" {
			in.HealthCheckPort = aws.String(hc.Port)
		}
		if hc.Path != "" {
			in.HealthCheckPath = aws.String(hc.Path)
		}
		if hc.Matcher != "" {
			if strings.EqualFold(t.ProtocolVersion, "GRPC") {
				in.Matcher = &elbv2types.Matcher{GrpcCode: aws.String(hc.Matcher)}
			} else {
				in.Matcher = &elbv2types.Matcher{HttpCode: aws.String(hc.Matcher)}
			}
		}
		in.HealthCheckIntervalSeconds = hc.IntervalSeconds
		in.HealthCheckTimeoutSeconds = hc.TimeoutSeconds
		in.HealthyThresholdCount = hc.HealthyThresholdCount
		in.UnhealthyThresholdCount = hc.UnhealthyThresholdCount
	}
	return in, nil
}

func targetTypeOf(t cell.TargetGroupTemplate) string {
	if t.TargetType == "" {
		return TargetTypeIP
	}
	return t.TargetType
}

// attachNodeGroups attaches the Auto Scaling groups of cl's managed node
// groups to the target group, when c asks for it and targets are
// instances. Groups already attached are left alone.
func (m *Manager) attachNodeGroups(ctx context.Context, log *slog.Logger, c *cell.Cell, cl inventory.Cluster, arn string) error {
	t := c.Spec.TargetGroupTemplate
	if !t.AttachToNodeGroups {
		return nil
	}
	if targetTypeOf(t) != TargetTypeInstance {
		log.WarnContext(ctx, "attachToNodeGroups needs targetType instance; not attaching node groups", "targetType", targetTypeOf(t))
		return nil
	}
	if m.eks == nil || m.asg == nil {
		return errors.New("attaching node groups: the EKS and Auto Scaling clients are required when attachToNodeGroups is set")
	}
	asgs, err := m.nodeGroupASGs(ctx, cl.Name)
	if err != nil {
		return err
	}
	for _, asg := range asgs {
		attached, err := m.attachedTo(ctx, asg, arn)
		if err != nil {
			return err
		}
		if attached {
			continue
		}
		log.InfoContext(ctx, "attaching target group to auto scaling group", "arn", arn, "autoScalingGroup", asg)
		if _, err := m.asg.AttachLoadBalancerTargetGroups(ctx, &autoscaling.AttachLoadBalancerTargetGroupsInput{
			AutoScalingGroupName: aws.String(asg),
			TargetGroupARNs:      []string{arn},
		}); err != nil {
			return fmt.Errorf("attaching target group to auto scaling group %s, %w", asg, err)
		}
		log.InfoContext(ctx, "attached target group to auto scaling group", "arn", arn, "autoScalingGroup", asg)
	}
	return nil
}

// nodeGroupASGs lists the Auto Scaling groups of every managed node group
// of cluster. A node group still being created may have none yet; the next
// reconcile attaches it.
func (m *Manager) nodeGroupASGs(ctx context.Context, cluster string) ([]string, error) {
	var names []string
	pages := eks.NewListNodegroupsPaginator(m.eks, &eks.ListNodegroupsInput{ClusterName: aws.String(cluster)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing node groups of %s, %w", cluster, err)
		}
		names = append(names, page.Nodegroups...)
	}
	var asgs []string
	for _, ng := range names {
		out, err := m.eks.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(ng)})
		if err != nil {
			if awsapi.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("describing node group %s of %s, %w", ng, cluster, err)
		}
		if out.Nodegroup == nil || out.Nodegroup.Resources == nil {
			continue
		}
		for _, a := range out.Nodegroup.Resources.AutoScalingGroups {
			if n := aws.ToString(a.Name); n != "" {
				asgs = append(asgs, n)
			}
		}
	}
	return asgs, nil
}

// attachedTo reports whether target group arn is attached to asg (being
// added or in service).
func (m *Manager) attachedTo(ctx context.Context, asg, arn string) (bool, error) {
	pages := autoscaling.NewDescribeLoadBalancerTargetGroupsPaginator(m.asg, &autoscaling.DescribeLoadBalancerTargetGroupsInput{
		AutoScalingGroupName: aws.String(asg),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return false, fmt.Errorf("describing target groups of auto scaling group %s, %w", asg, err)
		}
		for _, s := range page.LoadBalancerTargetGroups {
			if aws.ToString(s.LoadBalancerTargetGroupARN) != arn {
				continue
			}
			switch aws.ToString(s.State) {
			case "Removing", "Removed":
			default:
				return true, nil
			}
		}
	}
	return false, nil
}

func elbTags(tags map[string]string) []elbv2types.Tag {
	out := make([]elbv2types.Tag, 0, len(tags))
	for _, k := range sortedKeys(tags) {
		out = append(out, elbv2types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
