// Package mumoshucell converts Cell custom resources of okra, the
// Kubernetes controller (github.com/mumoshu/okra, apiVersion
// okra.mumo.co/v1alpha1), into okra Cells, naming every field it does not
// carry over. It is pure (bytes in, Cells and notes out) and backs
// `okra cell import`.
package mumoshucell

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/okrahq/okra/internal/cell"
)

// Identifiers of okra (github.com/mumoshu/okra) Cell custom resources.
const (
	// mumoshuGroup is the API group of okra's CRDs; its documentation
	// also shows mumoshuDocsGroup, accepted too.
	mumoshuGroup     = "okra.mumo.co"
	mumoshuDocsGroup = "okra.mumoshu.github.io"
	// mumoshuVersionLabel is the label okra reads the version from when
	// targetGroupSelector.versionLabels is empty.
	mumoshuVersionLabel = "okra.mumo.co/version"
)

// Conversion is a converted Cell and what the user must know about it.
type Conversion struct {
	Cell  *cell.Cell
	Notes []string
}

// Convert converts one okra Cell resource. Every field it does not carry
// over is named in the notes; a document that is not such a resource is
// a *NotCellError, one that cannot be read another error.
func Convert(data []byte, clusterTags map[string]string) (*Conversion, error) {
	if len(data) > cell.MaxDocumentSize {
		return nil, fmt.Errorf("document larger than %d bytes", cell.MaxDocumentSize)
	}
	jsonData, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("parsing YAML, %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(jsonData, &raw); err != nil || raw == nil {
		var v any
		_ = json.Unmarshal(jsonData, &v)
		return nil, &NotCellError{What: jsonKind(v)}
	}
	cv := &converter{}
	root := cv.object("", raw)
	apiVersion, kind := root.str("apiVersion"), root.str("kind")
	group, _, _ := strings.Cut(apiVersion, "/")
	switch {
	case kind == "Cell" && apiVersion == "":
		// okra's README writes its Cells without an apiVersion.
		cv.note("apiVersion: not set; read as %s/v1alpha1 (kind Cell, as okra's README writes it)", mumoshuGroup)
	case kind != "Cell" || (group != mumoshuGroup && group != mumoshuDocsGroup):
		meta, _ := raw["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		return nil, &NotCellError{APIVersion: apiVersion, Kind: kind, Name: name}
	}
	c := &cell.Cell{APIVersion: cell.APIVersion, Kind: cell.Kind}

	meta := root.obj("metadata")
	c.Metadata.Name = meta.str("name")
	if ns := meta.str("namespace"); ns != "" {
		cv.note("metadata.namespace: not carried over: okra keeps one namespace of Cells (was %q)", ns)
	}
	c.Metadata.Labels = meta.strMap("labels")
	if ann := meta.strMap("annotations"); len(ann) > 0 {
		cv.note("metadata.annotations: not carried over (%s)", strings.Join(sortedKeys(ann), ", "))
	}
	meta.ignore("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "ownerReferences", "finalizers", "deletionTimestamp", "deletionGracePeriodSeconds")
	meta.leftovers()
	if root.has("status") {
		root.ignore("status")
		cv.note("status: not carried over: okra keeps a Cell's status in its table")
	}

	spec := root.obj("spec")
	convertIngress(cv, spec.obj("ingress"), c)
	if r, ok := spec.int("replicas"); ok {
		c.Spec.Replicas = &r
	}
	c.Spec.Version = spec.str("version")
	convertStrategy(cv, spec.obj("updateStrategy"), c)
	spec.leftovers()
	root.leftovers()

	if len(clusterTags) > 0 {
		c.Spec.ClusterSelector.MatchTags = clusterTags
	} else {
		c.Spec.ClusterSelector.MatchTags = map[string]string{}
		cv.note("spec.clusterSelector.matchTags: needs filling in: okra's Cell has no cluster selector; name the tags of the Cell's EKS clusters with --cluster-tag KEY=VALUE (e.g. --cluster-tag role=web)")
	}
	cv.note("spec.targetGroupTemplate: review: okra creates one target group per cluster from it (defaults: HTTP port 80, ip targets, health check on \"/\"); set port, protocol and healthCheck to what your apps serve")
	return &Conversion{Cell: c, Notes: cv.notes}, nil
}

func convertIngress(cv *converter, ing *object, c *cell.Cell) {
	typ := ing.str("type")
	alb, nlb := ing.obj("awsApplicationLoadBalancer"), ing.obj("awsNetworkLoadBalancer")
	switch {
	case typ == "" && alb.present && !nlb.present:
		typ = string(cell.IngressALB)
	case typ == "" && nlb.present && !alb.present:
		typ = string(cell.IngressNLB)
	}
	c.Spec.Ingress.Type = cell.IngressType(typ)
	known := c.Spec.Ingress.Type == cell.IngressALB || c.Spec.Ingress.Type == cell.IngressNLB
	if !known {
		cv.note("spec.ingress.type: needs filling in: %q is not an ingress type okra knows (AWSApplicationLoadBalancer, AWSNetworkLoadBalancer)", typ)
	}
	lb, other := alb, nlb
	if c.Spec.Ingress.Type == cell.IngressNLB || (!known && !alb.present) {
		lb, other = nlb, alb
	}
	if other.present {
		cv.note("%s: not carried over: the ingress type is %s", other.path, typ)
		other.ignoreAll()
	}
	c.Spec.Ingress.ListenerARN = lb.str("listenerARN")
	if lb == alb {
		if rule := convertRule(cv, lb.obj("listener")); rule != nil {
			c.Spec.Ingress.Rule = rule
		}
	}
	sel := lb.obj("targetGroupSelector")
	c.Spec.Ingress.TargetGroupSelector.MatchLabels = sel.strMap("matchLabels")
	if len(c.Spec.Ingress.TargetGroupSelector.MatchLabels) > 0 {
		cv.note("%s: carried over as tags: okra selected AWSTargetGroup resources by these Kubernetes labels; okra selects target groups by AWS tags, so the target groups must carry them", sel.path+".matchLabels")
	}
	labels := sel.strList("versionLabels")
	switch {
	case len(labels) == 0:
		c.Spec.VersionedBy.Label = mumoshuVersionLabel
		cv.note("spec.versionedBy.label: set to %s, the label okra read versions from by default; the target groups must carry it as a tag", mumoshuVersionLabel)
	default:
		c.Spec.VersionedBy.Label = labels[0]
		if len(labels) > 1 {
			cv.note("%s.versionLabels[1:]: not carried over (%s): okra reads the version from one tag, %s", sel.path, strings.Join(labels[1:], ", "), labels[0])
		}
	}
	sel.leftovers()
	lb.leftovers()
	ing.leftovers()
}

// convertRule converts listener.rule; nil when the Cell uses the
// listener's default action.
func convertRule(cv *converter, listener *object) *cell.ListenerRule {
	r := listener.obj("rule")
	defer listener.leftovers()
	defer r.leftovers()
	if !r.present {
		return nil
	}
	if r.has("forward") {
		r.ignore("forward")
		cv.note("%s.forward: not carried over: okra manages the forward action's target groups and weights itself", r.path)
	}
	rule := &cell.ListenerRule{
		Hosts:        r.strList("hosts"),
		PathPatterns: r.strList("pathPatterns"),
		HTTPMethods:  r.strList("methods"),
		SourceIPs:    r.strList("sourceIPs"),
	}
	if p, ok := r.int("priority"); ok {
		rule.Priority = p
	}
	headers := r.obj("headers")
	for _, name := range headers.keys() {
		rule.Headers = append(rule.Headers, cell.HeaderCondition{Name: name, Values: headers.strList(name)})
	}
	headers.leftovers()
	queries := r.strMap("queryStrings")
	for _, k := range sortedKeys(queries) {
		rule.QueryStrings = append(rule.QueryStrings, cell.QueryStringCondition{Key: k, Value: queries[k]})
	}
	empty := len(rule.Hosts)+len(rule.PathPatterns)+len(rule.HTTPMethods)+len(rule.SourceIPs)+len(rule.Headers)+len(rule.QueryStrings) == 0
	if rule.Priority == 0 && empty {
		return nil
	}
	if rule.Priority == 0 {
		cv.note("%s.priority: needs filling in: the rule has conditions but no priority", r.path)
	}
	return rule
}

func convertStrategy(cv *converter, us *object, c *cell.Cell) {
	typ := us.str("type")
	canary := us.obj("canary")
	if us.has("blueGreen") || typ == "BlueGreen" {
		us.ignore("blueGreen")
		cv.note("spec.updateStrategy.blueGreen: not carried over: okra rolls by canary steps; a canary without steps (as converted) moves all traffic to a new version at once when its replicas are healthy, which is the closest to blue/green")
		typ = ""
	}
	if typ != "" && typ != cell.UpdateStrategyCanary {
		cv.note("spec.updateStrategy.type: %q is not a strategy okra knows; Canary is used", typ)
	}
	c.Spec.UpdateStrategy.Type = cell.UpdateStrategyCanary
	defer us.leftovers()
	if !canary.present {
		return
	}
	defer canary.leftovers()
	out := &cell.Canary{}
	for i, raw := range canary.list("steps") {
		step := cv.object(fmt.Sprintf("%s.steps[%d]", canary.path, i), raw)
		if s, ok := convertStep(cv, step); ok {
			out.Steps = append(out.Steps, s)
		}
		step.leftovers()
	}
	if bg := canary.obj("analysis"); bg.present {
		a := convertAnalysis(cv, bg)
		b := &cell.BackgroundAnalysis{Analysis: a}
		if n, ok := bg.int("startingStep"); ok {
			b.StartingStep = &n
		}
		bg.leftovers()
		out.Analysis = b
	}
	if len(out.Steps) > 0 || out.Analysis != nil {
		c.Spec.UpdateStrategy.Canary = out
	}
	if names := c.SharedTemplateNames(); len(names) > 0 {
		cv.note("analysis templates %s: store them with `okra template apply -f` (Argo Rollouts AnalysisTemplate documents are accepted unchanged; okra measures with cloudWatch and datadog only)", strings.Join(names, ", "))
	}
}

// convertStep converts one canary step; false when nothing of it carries
// over.
func convertStep(cv *converter, step *object) (cell.Step, bool) {
	var s cell.Step
	if w, ok := step.int("setWeight"); ok {
		s.SetWeight = &w
	} else if w, ok := step.int("stepWeight"); ok {
		s.SetWeight = &w
		cv.note("%s.stepWeight: read as setWeight (okra's documentation used this name; its CRD calls it setWeight)", step.path)
	}
	if p := step.obj("pause"); p.present {
		s.Pause = &cell.Pause{}
		if p.has("duration") {
			raw := p.raw("duration")
			data, _ := json.Marshal(raw)
			var d cell.Duration
			if err := json.Unmarshal(data, &d); err != nil {
				cv.note("%s.duration: not carried over: %v; the pause now waits for okra rollout promote", p.path, err)
			} else {
				s.Pause.Duration = &d
			}
		}
		p.leftovers()
	}
	if a := step.obj("analysis"); a.present {
		an := convertAnalysis(cv, a)
		s.Analysis = &an
		a.leftovers()
	}
	for _, unsupported := range []string{"experiment", "setCanaryScale", "setHeaderRoute", "setMirrorRoute", "plugin"} {
		if step.has(unsupported) {
			step.ignore(unsupported)
			cv.note("%s.%s: not carried over: okra has no %s step", step.path, unsupported, unsupported)
		}
	}
	n := 0
	if s.SetWeight != nil {
		n++
	}
	if s.Pause != nil {
		n++
	}
	if s.Analysis != nil {
		n++
	}
	if n > 1 {
		cv.note("%s: has %d actions in one step; okra takes one per step, so split it", step.path, n)
	}
	return s, n > 0
}

func convertAnalysis(cv *converter, a *object) cell.Analysis {
	var out cell.Analysis
	for i, raw := range a.list("templates") {
		t := cv.object(fmt.Sprintf("%s.templates[%d]", a.path, i), raw)
		out.Templates = append(out.Templates, cell.TemplateRef{TemplateName: t.str("templateName"), ClusterScope: t.bool("clusterScope")})
		t.leftovers()
	}
	for i, raw := range a.list("args") {
		arg := cv.object(fmt.Sprintf("%s.args[%d]", a.path, i), raw)
		name := arg.str("name")
		if vf := arg.obj("valueFrom"); vf.present {
			vf.ignoreAll()
			cv.note("%s.valueFrom: not carried over (argument %q): okra supplies run-time values as built-in arguments (%s); use those in the template instead",
				arg.path, name, strings.Join(cell.BuiltinArgs, ", "))
			arg.leftovers()
			continue
		}
		out.Args = append(out.Args, cell.AnalysisArg{Name: name, Value: arg.str("value")})
		arg.leftovers()
	}
	return out
}

// converter collects notes while objects are read.
type converter struct {
	notes []string
}

func (cv *converter) note(format string, args ...any) {
	cv.notes = append(cv.notes, fmt.Sprintf(format, args...))
}

// object is a JSON object being converted: each key read is marked, and
// leftovers() notes every key nobody read.
type object struct {
	cv      *converter
	path    string
	m       map[string]any
	used    map[string]bool
	present bool
}

func (cv *converter) object(path string, v any) *object {
	m, ok := v.(map[string]any)
	o := &object{cv: cv, path: path, m: m, used: map[string]bool{}, present: ok}
	if v != nil && !ok {
		cv.note("%s: not carried over: want an object, got %s", path, jsonKind(v))
	}
	return o
}

func (o *object) field(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

func (o *object) has(key string) bool {
	_, ok := o.m[key]
	return ok
}

func (o *object) raw(key string) any {
	o.used[key] = true
	return o.m[key]
}

func (o *object) ignore(keys ...string) {
	for _, k := range keys {
		o.used[k] = true
	}
}

func (o *object) ignoreAll() {
	for k := range o.m {
		o.used[k] = true
	}
}

func (o *object) keys() []string {
	keys := make([]string, 0, len(o.m))
	for k := range o.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (o *object) obj(key string) *object {
	return o.cv.object(o.field(key), o.raw(key))
}

func (o *object) str(key string) string {
	switch v := o.raw(key).(type) {
	case nil:
		return ""
	case string:
		return v
	case float64, bool:
		return fmt.Sprint(v)
	default:
		o.cv.note("%s: not carried over: want a string, got %s", o.field(key), jsonKind(v))
		return ""
	}
}

func (o *object) bool(key string) bool {
	switch v := o.raw(key).(type) {
	case nil:
		return false
	case bool:
		return v
	default:
		o.cv.note("%s: not carried over: want true or false, got %s", o.field(key), jsonKind(v))
		return false
	}
}

func (o *object) int(key string) (int32, bool) {
	switch v := o.raw(key).(type) {
	case nil:
		return 0, false
	case float64:
		if v == math.Trunc(v) && v >= math.MinInt32 && v <= math.MaxInt32 {
			return int32(v), true
		}
	case string:
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			return int32(n), true
		}
	}
	o.cv.note("%s: not carried over: want a whole number, got %v", o.field(key), o.m[key])
	return 0, false
}

func (o *object) list(key string) []any {
	switch v := o.raw(key).(type) {
	case nil:
		return nil
	case []any:
		return v
	default:
		o.cv.note("%s: not carried over: want a list, got %s", o.field(key), jsonKind(v))
		return nil
	}
}

func (o *object) strList(key string) []string {
	var out []string
	for i, v := range o.list(key) {
		s, ok := v.(string)
		if !ok {
			o.cv.note("%s[%d]: not carried over: want a string, got %s", o.field(key), i, jsonKind(v))
			continue
		}
		out = append(out, s)
	}
	return out
}

func (o *object) strMap(key string) map[string]string {
	m := o.obj(key)
	if !m.present {
		return nil
	}
	out := map[string]string{}
	for _, k := range m.keys() {
		out[k] = m.str(k)
	}
	return out
}

// leftovers notes every key of o nobody read.
func (o *object) leftovers() {
	var keys []string
	for k := range o.m {
		if !o.used[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		o.cv.note("%s: not carried over: okra's Cell resource has no such field, or okra has no equivalent", o.field(k))
	}
	o.ignoreAll()
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
