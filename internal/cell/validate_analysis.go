package cell

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/okrahq/okra/internal/condition"
)

// Providers okra measures with, and the Argo Rollouts providers it refuses
// by name.
const (
	ProviderCloudWatch = "cloudWatch"
	ProviderDatadog    = "datadog"
)

var (
	supportedProviders = []string{ProviderCloudWatch, ProviderDatadog}
	// Argo Rollouts' aggregators for Datadog v2 queries.
	datadogAggregators = []string{"avg", "min", "max", "sum", "last", "percentile", "mean", "l2norm", "area"}
	cloudWatchQueryID  = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)
	// cloudWatchStat accepts the standard statistics and the extended ones
	// (p99, p99.9, tm(10%:90%), TC(0.005:0.030), ...).
	cloudWatchStat = regexp.MustCompile(`^(SampleCount|Average|Sum|Minimum|Maximum|IQM|(p|tm|tc|ts|wm|PR|TM|TC|TS|WM)[0-9(][0-9.:%()A-Za-z]*)$`)
	// templateTag finds Argo-style substitutions, "{{args.name}}", spaces
	// inside the braces allowed.
	templateTag = regexp.MustCompile(`\{\{([^{}]*)\}\}`)
)

// ValidateTemplate checks an analysis template stored on its own and
// returns a *ValidationError listing every problem, or nil. Field paths
// start at the document root ("spec.metrics[0].provider").
func ValidateTemplate(t *AnalysisTemplate) error {
	if t == nil {
		return &ValidationError{Problems: []Problem{{Reason: "no analysis template given"}}}
	}
	var p problems
	validateTemplate(t, "", &p)
	return p.err()
}

// validateTemplate checks a template whose document starts at path.
func validateTemplate(t *AnalysisTemplate, path string, p *problems) {
	if t.APIVersion != "" && t.APIVersion != TemplateAPIVersionArgo && t.APIVersion != APIVersion {
		p.add(joinField(path, "apiVersion"), "must be %s or %s, got %q", TemplateAPIVersionArgo, APIVersion, t.APIVersion)
	}
	if t.Kind != "" && t.Kind != KindAnalysisTemplate && t.Kind != KindClusterAnalysisTemplate {
		p.add(joinField(path, "kind"), "must be %s or %s, got %q", KindAnalysisTemplate, KindClusterAnalysisTemplate, t.Kind)
	}
	nameField := joinField(path, "metadata.name")
	switch name := t.Metadata.Name; {
	case name == "":
		p.add(nameField, "is required")
	case len(name) > 253 || !dnsSubdomain.MatchString(name):
		p.add(nameField, "must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters, got %q", name)
	}
	spec := joinField(path, "spec")
	s := t.Spec
	if len(s.Templates) > 0 {
		p.add(spec+".templates", "template composition is not supported by okra; list the metrics in this template, or name several templates in the Cell's analysis step")
	}
	declared := map[string]bool{}
	defaults := map[string]string{}
	for i, a := range s.Args {
		if a.Value != nil && a.Name != "" {
			defaults[a.Name] = *a.Value
		}
		field := index(spec+".args", i)
		switch {
		case a.Name == "":
			p.add(field+".name", "is required")
		case declared[a.Name]:
			p.add(field+".name", "duplicate argument %q", a.Name)
		}
		declared[a.Name] = true
		if a.ValueFrom != nil {
			p.add(field+".valueFrom", "is not supported by okra, which reads no Kubernetes secrets or fields: give a value, or leave it unset for the Cell's step (or okra's built-in arguments %s) to supply", strings.Join(BuiltinArgs, ", "))
		}
	}
	if len(s.Metrics) == 0 {
		p.add(spec+".metrics", "must list at least one metric")
	}
	metricNames := map[string]bool{}
	for i, m := range s.Metrics {
		field := index(spec+".metrics", i)
		switch {
		case m.Name == "":
			p.add(field+".name", "is required")
		case metricNames[m.Name]:
			p.add(field+".name", "duplicate metric name %q", m.Name)
		}
		metricNames[m.Name] = true
		// As Argo Rollouts does, substitute the arguments first (here
		// their defaults; those without one are read at run time, or
		// with the step's values when a Cell names the template) and
		// validate what results.
		resolved, subst := SubstituteArgs(m, defaults, true)
		for _, sp := range subst {
			p.add(joinField(field, sp.Field), "%s", sp.Reason)
		}
		validateMetric(resolved, field, p)
		checkArgReferences(m, declared, field, p)
	}
	for i, d := range s.DryRun {
		if d.MetricName == "" {
			p.add(index(spec+".dryRun", i)+".metricName", "is required")
		}
	}
	for i, r := range s.MeasurementRetention {
		field := index(spec+".measurementRetention", i)
		if r.MetricName == "" {
			p.add(field+".metricName", "is required")
		}
		if r.Limit < 0 {
			p.add(field+".limit", "must be >= 0, got %d", r.Limit)
		}
	}
}

// checkArgReferences reports every "{{...}}" in a metric that is not an
// argument the template declares: Argo Rollouts fails such a metric at run
// time; okra says so when the template is stored.
func checkArgReferences(m Metric, declared map[string]bool, field string, p *problems) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		p.add(field, "cannot be read: %v", err)
		return
	}
	reported := map[string]bool{}
	for _, match := range templateTag.FindAllStringSubmatch(buf.String(), -1) {
		tag := strings.TrimSpace(match[1])
		if reported[tag] {
			continue
		}
		reported[tag] = true
		name, isArg := strings.CutPrefix(tag, "args.")
		switch {
		case !isArg:
			p.add(field, "refers to {{%s}}; only {{args.NAME}} substitutions are supported", tag)
		case !declared[name]:
			p.add(field, "refers to {{args.%s}}, but the template's spec.args does not declare %q", name, name)
		}
	}
}

func validateMetric(m Metric, field string, p *problems) {
	validateProvider(m.Provider, field+".provider", p)
	if m.Interval != nil && !m.Interval.IsTemplate() && m.Interval.Duration <= 0 {
		p.add(field+".interval", "must be a positive duration, got %s", m.Interval.Duration)
	}
	if m.InitialDelay != nil && m.InitialDelay.Duration < 0 {
		p.add(field+".initialDelay", "must not be negative, got %s", m.InitialDelay.Duration)
	}
	count, countKnown := literalInt(m.Count, field+".count", p)
	if countKnown && count < 1 {
		p.add(field+".count", "must be at least 1, got %d", count)
	}
	if countKnown && count > 1 && m.Interval == nil {
		p.add(field+".interval", "is required when count > 1 (count is %d)", count)
	}
	failureLimit, failureKnown := literalInt(m.FailureLimit, field+".failureLimit", p)
	if !failureKnown && m.FailureLimit == nil {
		failureKnown = true // default 0
	}
	if failureKnown && failureLimit < -1 {
		p.add(field+".failureLimit", "must be >= 0, or -1 to disable it, got %d", failureLimit)
	}
	inconclusiveLimit, inconclusiveKnown := literalInt(m.InconclusiveLimit, field+".inconclusiveLimit", p)
	if inconclusiveKnown && inconclusiveLimit < 0 {
		p.add(field+".inconclusiveLimit", "must be >= 0, got %d", inconclusiveLimit)
	}
	if n, ok := literalInt(m.ConsecutiveErrorLimit, field+".consecutiveErrorLimit", p); ok && n < 0 {
		p.add(field+".consecutiveErrorLimit", "must be >= 0, got %d", n)
	}
	successLimit, successKnown := literalInt(m.ConsecutiveSuccessLimit, field+".consecutiveSuccessLimit", p)
	if !successKnown && m.ConsecutiveSuccessLimit == nil {
		successKnown = true // default 0, disabled
	}
	if successKnown && successLimit < 0 {
		p.add(field+".consecutiveSuccessLimit", "must be >= 0, got %d", successLimit)
	}
	if failureKnown && successKnown && failureLimit == -1 && successLimit == 0 {
		p.add(field+".failureLimit", "is -1 (disabled) while consecutiveSuccessLimit is 0 (disabled); one of them must apply")
	}
	// Argo Rollouts' checks of count against the limits.
	if countKnown && count > 0 && failureKnown && successKnown {
		switch {
		case failureLimit >= 0 && successLimit >= 0 && count < failureLimit+successLimit:
			p.add(field+".count", "must be >= failureLimit + consecutiveSuccessLimit (%d + %d), got %d", failureLimit, successLimit, count)
		case failureLimit < 0 && count < successLimit:
			p.add(field+".count", "must be >= consecutiveSuccessLimit (%d), got %d", successLimit, count)
		}
	}
	if countKnown && count > 0 && inconclusiveKnown && count < inconclusiveLimit {
		p.add(field+".count", "must be >= inconclusiveLimit (%d), got %d", inconclusiveLimit, count)
	}
	if m.SuccessCondition == "" && m.FailureCondition == "" {
		p.add(field, "needs a successCondition or a failureCondition")
	}
	for _, c := range []struct{ name, expr string }{{"successCondition", m.SuccessCondition}, {"failureCondition", m.FailureCondition}} {
		if c.expr == "" {
			continue
		}
		if err := compileCondition(c.expr); err != nil {
			p.add(field+"."+c.name, "does not compile: %v", err)
		}
	}
}

// compileCondition checks a condition's syntax. Argo Rollouts substitutes
// arguments into conditions too ("result < {{args.max}}"); each
// substitution is replaced by 0 here so the rest can be checked now, and
// the condition is compiled again after substitution at run time.
func compileCondition(expr string) error {
	_, err := condition.Compile(templateTag.ReplaceAllString(expr, "0"))
	if err == nil {
		return nil
	}
	// The compiler's own message, without condition's "compiling
	// condition ..." wrapper (the field path names it already) and
	// without the caret drawing on the following lines.
	if inner := errors.Unwrap(err); inner != nil {
		err = inner
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	return errors.New(first)
}

// literalInt returns the value of an IntOrString written as a number (or
// as text holding a number). An "{{args.x}}" form is left to run time and
// reported as unknown; any other text is a problem.
func literalInt(v *IntOrString, field string, p *problems) (int32, bool) {
	if v == nil {
		return 0, false
	}
	if !v.IsString {
		return v.Int, true
	}
	if strings.Contains(v.Str, "{{") {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v.Str), 10, 32)
	if err != nil {
		p.add(field, "must be a whole number or an {{args.NAME}} reference, got %q", v.Str)
		return 0, false
	}
	return int32(n), true
}

// providerNames lists the providers a metric sets, in Argo Rollouts' field
// names.
func providerNames(mp MetricProvider) []string {
	var names []string
	for _, c := range []struct {
		name string
		set  bool
	}{
		{ProviderCloudWatch, mp.CloudWatch != nil},
		{ProviderDatadog, mp.Datadog != nil},
		{"prometheus", mp.Prometheus != nil},
		{"web", mp.Web != nil},
		{"job", mp.Job != nil},
		{"kayenta", mp.Kayenta != nil},
		{"newRelic", mp.NewRelic != nil},
		{"wavefront", mp.Wavefront != nil},
		{"graphite", mp.Graphite != nil},
		{"influxdb", mp.Influxdb != nil},
		{"skywalking", mp.SkyWalking != nil},
		{"plugin", mp.Plugin != nil},
	} {
		if c.set {
			names = append(names, c.name)
		}
	}
	return names
}

func validateProvider(mp MetricProvider, field string, p *problems) {
	names := providerNames(mp)
	switch len(names) {
	case 0:
		p.add(field, "must set exactly one provider (supported: %s)", strings.Join(supportedProviders, ", "))
		return
	case 1:
	default:
		p.add(field, "sets %d providers (%s); exactly one is allowed", len(names), strings.Join(names, ", "))
	}
	for _, name := range names {
		if !slices.Contains(supportedProviders, name) {
			p.add(field+"."+name, "provider %s is not supported by okra (supported: %s)", name, strings.Join(supportedProviders, ", "))
		}
	}
	if mp.CloudWatch != nil {
		validateCloudWatch(*mp.CloudWatch, field+"."+ProviderCloudWatch, p)
	}
	if mp.Datadog != nil {
		validateDatadog(*mp.Datadog, field+"."+ProviderDatadog, p)
	}
}

func validateCloudWatch(cw CloudWatchMetric, field string, p *problems) {
	if cw.Interval != nil && !cw.Interval.IsTemplate() && cw.Interval.Duration <= 0 {
		p.add(field+".interval", "must be a positive duration, got %s", cw.Interval.Duration)
	}
	queries := field + ".metricDataQueries"
	if len(cw.MetricDataQueries) == 0 {
		p.add(queries, "must list at least one query")
		return
	}
	if len(cw.MetricDataQueries) > 500 {
		p.add(queries, "must list at most 500 queries (CloudWatch's limit), got %d", len(cw.MetricDataQueries))
	}
	ids := map[string]bool{}
	returnsData := false
	for i, q := range cw.MetricDataQueries {
		qf := index(queries, i)
		switch {
		case q.ID == "":
			p.add(qf+".id", "is required")
		case !cloudWatchQueryID.MatchString(q.ID):
			p.add(qf+".id", "must start with a lowercase letter and contain only letters, digits and '_', got %q", q.ID)
		case ids[q.ID]:
			p.add(qf+".id", "duplicate id %q", q.ID)
		}
		ids[q.ID] = true
		if q.ReturnData == nil || *q.ReturnData {
			returnsData = true
		}
		switch {
		case q.Expression == nil && q.MetricStat == nil:
			p.add(qf, "needs exactly one of expression or metricStat, got neither")
		case q.Expression != nil && q.MetricStat != nil:
			p.add(qf, "needs exactly one of expression or metricStat, got both")
		case q.Expression != nil && strings.TrimSpace(*q.Expression) == "":
			p.add(qf+".expression", "must not be empty")
		}
		if q.Period != nil {
			checkPeriod(q.Period, qf+".period", p)
		}
		if q.MetricStat != nil {
			validateMetricStat(*q.MetricStat, qf+".metricStat", p)
		}
	}
	if !returnsData {
		p.add(queries, "sets returnData false on every query, so no result would come back; let at least one query return data")
	}
}

func validateMetricStat(ms MetricStat, field string, p *problems) {
	if ms.Metric.MetricName == "" {
		p.add(field+".metric.metricName", "is required")
	}
	if ms.Metric.Namespace == nil || *ms.Metric.Namespace == "" {
		p.add(field+".metric.namespace", "is required, e.g. AWS/ApplicationELB")
	}
	if len(ms.Metric.Dimensions) > 30 {
		p.add(field+".metric.dimensions", "must list at most 30 dimensions, got %d", len(ms.Metric.Dimensions))
	}
	for i, d := range ms.Metric.Dimensions {
		df := index(field+".metric.dimensions", i)
		if d.Name == "" {
			p.add(df+".name", "is required")
		}
		if d.Value == "" {
			p.add(df+".value", "is required")
		}
	}
	switch {
	case ms.Stat == "":
		p.add(field+".stat", "is required, e.g. Sum, Average or p99")
	case !strings.Contains(ms.Stat, "{{") && !cloudWatchStat.MatchString(ms.Stat):
		p.add(field+".stat", "must be a CloudWatch statistic such as Sum, Average, Maximum or p99, got %q", ms.Stat)
	}
	if ms.Period == nil {
		p.add(field+".period", "is required (seconds: 1, 5, 10, 30 or a multiple of 60)")
		return
	}
	checkPeriod(ms.Period, field+".period", p)
}

// checkPeriod accepts CloudWatch periods: 1, 5, 10, 30 (high resolution) or
// a multiple of 60 seconds.
func checkPeriod(v *IntOrString, field string, p *problems) {
	n, ok := literalInt(v, field, p)
	if !ok {
		return
	}
	if n < 1 || (n%60 != 0 && n != 1 && n != 5 && n != 10 && n != 30) {
		p.add(field, "must be 1, 5, 10, 30 or a multiple of 60 seconds, got %d", n)
	}
}

func validateDatadog(dd DatadogMetric, field string, p *problems) {
	if dd.Interval != nil && !dd.Interval.IsTemplate() && dd.Interval.Duration <= 0 {
		p.add(field+".interval", "must be a positive duration, got %s", dd.Interval.Duration)
	}
	if dd.RequestTimeout != nil && !dd.RequestTimeout.IsTemplate() && dd.RequestTimeout.Duration <= 0 {
		p.add(field+".requestTimeout", "must be a positive duration, got %s", dd.RequestTimeout.Duration)
	}
	switch {
	case dd.Query == "" && len(dd.Queries) == 0:
		p.add(field, "needs exactly one of query or queries, got neither")
	case dd.Query != "" && len(dd.Queries) > 0:
		p.add(field, "needs exactly one of query or queries, got both")
	}
	switch {
	case dd.APIVersion == "", dd.APIVersion == DatadogAPIVersionV1, dd.APIVersion == DatadogAPIVersionV2:
	case strings.Contains(dd.APIVersion, "{{"):
		// read after substitution
	default:
		p.add(field+".apiVersion", "must be %s or %s, got %q", DatadogAPIVersionV1, DatadogAPIVersionV2, dd.APIVersion)
	}
	v1 := dd.APIVersion == DatadogAPIVersionV1
	if v1 && len(dd.Queries) > 0 {
		p.add(field+".queries", "need apiVersion %s; apiVersion %s takes a single query", DatadogAPIVersionV2, DatadogAPIVersionV1)
	}
	if v1 && dd.Formula != "" {
		p.add(field+".formula", "needs apiVersion %s", DatadogAPIVersionV2)
	}
	if v1 && dd.Aggregator != "" {
		p.add(field+".aggregator", "is not supported with apiVersion %s (only %s aggregates)", DatadogAPIVersionV1, DatadogAPIVersionV2)
	}
	if dd.Formula != "" && len(dd.Queries) == 0 {
		p.add(field+".formula", "combines named queries; set queries (and not query)")
	}
	if dd.Formula == "" && len(dd.Queries) > 1 {
		p.add(field+".formula", "is required when more than one query is given (%d queries)", len(dd.Queries))
	}
	for _, name := range sortedStringKeys(dd.Queries) {
		qf := joinKey(field+".queries", name)
		if name == "" {
			p.add(qf, "query name must not be empty")
		}
		if strings.TrimSpace(dd.Queries[name]) == "" {
			p.add(qf, "query must not be empty")
		}
	}
	if dd.Aggregator != "" && !strings.Contains(dd.Aggregator, "{{") && !slices.Contains(datadogAggregators, dd.Aggregator) {
		p.add(field+".aggregator", "must be one of %s, got %q", strings.Join(datadogAggregators, ", "), dd.Aggregator)
	}
}

// validateAnalysis checks the embedded templates and every analysis the
// canary runs: steps and background analysis.
func validateAnalysis(c *Cell, shared TemplateLookup, p *problems) {
	embedded := map[string]*AnalysisTemplate{}
	for i := range c.Spec.AnalysisTemplates {
		t := &c.Spec.AnalysisTemplates[i]
		field := index("spec.analysisTemplates", i)
		validateTemplate(t, field, p)
		if t.Metadata.Name == "" {
			continue
		}
		if _, dup := embedded[t.Metadata.Name]; dup {
			p.add(field+".metadata.name", "duplicate template name %q", t.Metadata.Name)
			continue
		}
		embedded[t.Metadata.Name] = t
	}
	lookup := func(name string) (*AnalysisTemplate, bool) {
		if t, ok := embedded[name]; ok {
			return t, true
		}
		if shared == nil {
			return nil, false
		}
		t, ok := shared.Template(name)
		return t, ok && t != nil
	}
	canary := c.Spec.UpdateStrategy.Canary
	if canary == nil {
		return
	}
	const stepsField = "spec.updateStrategy.canary.steps"
	for i, step := range canary.Steps {
		field := index(stepsField, i)
		var set []string
		if step.SetWeight != nil {
			set = append(set, "setWeight")
		}
		if step.Pause != nil {
			set = append(set, "pause")
		}
		if step.Analysis != nil {
			set = append(set, "analysis")
		}
		if len(set) != 1 {
			got := "none"
			if len(set) > 1 {
				got = strings.Join(set, ", ")
			}
			p.add(field, "must set exactly one of setWeight, pause or analysis, got %s", got)
		}
		if w := step.SetWeight; w != nil && (*w < 0 || *w > 100) {
			p.add(field+".setWeight", "must be 0..100, got %d", *w)
		}
		if step.Pause != nil && step.Pause.Duration.IsTemplate() {
			p.add(field+".pause.duration", "is %q; {{args.NAME}} substitutions are only read in analysis template metrics", step.Pause.Duration.Template)
		} else if step.Pause != nil && step.Pause.Duration != nil {
			if d := step.Pause.Duration.Duration; d < 0 || d > MaxPause {
				p.add(field+".pause.duration", "must be between 0s and %s (omit it to wait for `okra rollout promote`), got %s", MaxPause, d)
			}
		}
		if step.Analysis != nil {
			validateAnalysisRef(*step.Analysis, field+".analysis", true, lookup, p)
		}
	}
	if bg := canary.Analysis; bg != nil {
		field := "spec.updateStrategy.canary.analysis"
		validateAnalysisRef(bg.Analysis, field, false, lookup, p)
		if s := bg.StartingStep; s != nil && (*s < 0 || int(*s) >= len(canary.Steps)) {
			if len(canary.Steps) == 0 {
				p.add(field+".startingStep", "must be unset: there are no steps, got %d", *s)
			} else {
				p.add(field+".startingStep", "must be the index of a step, 0..%d, got %d", len(canary.Steps)-1, *s)
			}
		}
	}
}

// validateAnalysisRef checks one analysis (a step's, or the background
// one): its templates exist; every argument a template needs is given by
// args or supplied by okra; args gives nothing no template declares and
// nothing okra supplies; metric names do not collide across templates; and,
// in a step (mustFinish), every metric ends.
func validateAnalysisRef(a Analysis, field string, mustFinish bool, lookup func(string) (*AnalysisTemplate, bool), p *problems) {
	if len(a.Templates) == 0 {
		p.add(field+".templates", "must name at least one analysis template")
	}
	given := map[string]bool{}
	for i, arg := range a.Args {
		af := index(field+".args", i)
		switch {
		case arg.Name == "":
			p.add(af+".name", "is required")
		case given[arg.Name]:
			p.add(af+".name", "duplicate argument %q", arg.Name)
		case IsBuiltinArg(arg.Name):
			p.add(af+".name", "%q is supplied by okra at run time and cannot be given here", arg.Name)
		}
		given[arg.Name] = true
	}
	declared := map[string]bool{}
	metricOwner := map[string]string{}
	var found []*AnalysisTemplate
	for i, ref := range a.Templates {
		tf := index(field+".templates", i)
		if ref.TemplateName == "" {
			p.add(tf+".templateName", "is required")
			continue
		}
		t, ok := lookup(ref.TemplateName)
		if !ok {
			p.add(tf+".templateName", "analysis template %q not found in spec.analysisTemplates or among shared templates", ref.TemplateName)
			continue
		}
		found = append(found, t)
		for _, arg := range t.Spec.Args {
			declared[arg.Name] = true
		}
		for _, m := range t.Spec.Metrics {
			if owner, dup := metricOwner[m.Name]; dup && owner != t.Metadata.Name {
				p.add(tf, "template %q and template %q both have a metric named %q; metric names must be unique within one analysis", owner, t.Metadata.Name, m.Name)
			}
			metricOwner[m.Name] = t.Metadata.Name
			if mustFinish && neverFinishes(m) {
				p.add(tf, "template %q: metric %q sets an interval without a count, so it would measure forever; a step's analysis must finish (set count), background analysis may run until the rollout ends", t.Metadata.Name, m.Name)
			}
		}
	}
	stepValues := map[string]string{}
	for _, arg := range a.Args {
		if arg.Name != "" {
			stepValues[arg.Name] = arg.Value
		}
	}
	for _, t := range found {
		var uses map[string][]string
		for _, arg := range t.Spec.Args {
			if arg.Value == nil && arg.ValueFrom == nil && !given[arg.Name] && !IsBuiltinArg(arg.Name) {
				if uses == nil {
					uses = ArgUses(t)
				}
				usedBy := ""
				if u := uses[arg.Name]; len(u) > 0 {
					usedBy = " (used by " + strings.Join(u, ", ") + ")"
				}
				p.add(field+".args", "template %q needs argument %q%s: it has no default value and is not given here (built-in arguments okra supplies: %s)", t.Metadata.Name, arg.Name, usedBy, strings.Join(BuiltinArgs, ", "))
			}
		}
		// The step's values (over the template's defaults) must make
		// every templated field readable: a duration, a whole number.
		values := map[string]string{}
		for _, arg := range t.Spec.Args {
			if v, ok := stepValues[arg.Name]; ok {
				values[arg.Name] = v
			} else if arg.Value != nil {
				values[arg.Name] = *arg.Value
			}
		}
		if len(stepValues) == 0 {
			continue // the defaults alone were checked with the template
		}
		for i, m := range t.Spec.Metrics {
			_, subst := SubstituteArgs(m, values, true)
			for _, sp := range subst {
				if _, fromStep := stepValues[sp.Arg]; fromStep {
					p.add(field+".args", "template %q: %s: %s", t.Metadata.Name, joinField(index("spec.metrics", i), sp.Field), sp.Reason)
				}
			}
		}
	}
	if len(found) == len(a.Templates) {
		for i, arg := range a.Args {
			if arg.Name != "" && !declared[arg.Name] && !IsBuiltinArg(arg.Name) {
				p.add(index(field+".args", i)+".name", "argument %q is not declared by any template of this analysis", arg.Name)
			}
		}
	}
}

// neverFinishes reports a metric with an interval and no literal count: it
// measures until stopped. A count given as "{{args.x}}" is trusted here
// and checked at run time.
func neverFinishes(m Metric) bool {
	if m.Interval == nil {
		return false
	}
	if m.Count == nil {
		return true
	}
	if m.Count.IsString {
		if strings.Contains(m.Count.Str, "{{") {
			return false
		}
		n, err := strconv.Atoi(strings.TrimSpace(m.Count.Str))
		return err == nil && n <= 0
	}
	return m.Count.Int <= 0
}
