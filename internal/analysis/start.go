package analysis

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/condition"
)

// SpecError says why templates or arguments cannot start a run: which
// template, metric and field, and why.
type SpecError struct {
	Template string
	Metric   string
	Field    string
	Reason   string
}

func (e *SpecError) Error() string {
	var where []string
	if e.Template != "" {
		where = append(where, fmt.Sprintf("template %q", e.Template))
	}
	if e.Metric != "" {
		where = append(where, fmt.Sprintf("metric %q", e.Metric))
	}
	if e.Field != "" {
		where = append(where, e.Field)
	}
	if len(where) == 0 {
		return "analysis: " + e.Reason
	}
	return "analysis " + strings.Join(where, " ") + ": " + e.Reason
}

// MergeArgs builds the argument map Start takes: okra's built-in arguments
// (cell.BuiltinArgs, computed by the caller), overridden by the step's own
// arguments.
func MergeArgs(builtins map[string]string, step []cell.AnalysisArg) map[string]string {
	out := make(map[string]string, len(builtins)+len(step))
	for k, v := range builtins {
		out[k] = v
	}
	for _, a := range step {
		out[a.Name] = a.Value
	}
	return out
}

// Start builds a run from templates (already looked up by the caller) and
// arguments (MergeArgs). Each template argument takes its value from args,
// else from the template's default; an argument with neither is an error
// naming it. Every {{args.NAME}} in a metric (provider queries and
// dimensions, conditions, count and limits written as strings) is
// substituted, limits and conditions are checked and compiled, and
// provider defaults are filled in. No measurement is taken: the first Step
// takes the ones due at once (metrics without initialDelay).
func Start(templates []cell.AnalysisTemplate, args map[string]string, now time.Time) (*Run, error) {
	if len(templates) == 0 {
		return nil, &SpecError{Reason: "no analysis templates"}
	}
	values, err := resolveArgs(templates, args)
	if err != nil {
		return nil, err
	}
	run := &Run{
		Phase:     PhaseRunning,
		Args:      values,
		StartedAt: now,
	}
	type source struct {
		template string
		metric   cell.Metric
	}
	var metrics []source
	seen := map[string]string{}
	var dryRun []cell.DryRun
	var retention []cell.MeasurementRetention
	for _, t := range templates {
		run.Templates = append(run.Templates, t.Metadata.Name)
		for _, m := range t.Spec.Metrics {
			if prev, dup := seen[m.Name]; dup {
				return nil, &SpecError{Template: t.Metadata.Name, Metric: m.Name, Reason: fmt.Sprintf("metric name also used by template %q; metric names must be unique within a run", prev)}
			}
			seen[m.Name] = t.Metadata.Name
			metrics = append(metrics, source{template: t.Metadata.Name, metric: m})
		}
		dryRun = append(dryRun, t.Spec.DryRun...)
		retention = append(retention, t.Spec.MeasurementRetention...)
	}
	if len(metrics) == 0 {
		return nil, &SpecError{Reason: "the templates define no metrics"}
	}
	names := make([]string, len(metrics))
	for i, s := range metrics {
		names[i] = s.metric.Name
	}
	dry, err := matchDryRun(dryRun, names)
	if err != nil {
		return nil, err
	}
	keep, err := matchRetention(retention, names)
	if err != nil {
		return nil, err
	}
	for _, s := range metrics {
		mr, err := newMetricRun(s.template, s.metric, values, now)
		if err != nil {
			return nil, err
		}
		mr.DryRun = dry[s.metric.Name]
		if n, ok := keep[s.metric.Name]; ok {
			mr.Limits.Retention = n
		}
		run.Metrics = append(run.Metrics, mr)
	}
	run.assess(now)
	return run, nil
}

// resolveArgs merges template arguments (Argo Rollouts' rules: the same
// argument declared by two templates must not have two different
// defaults) with the caller's values. Caller values not declared by any
// template are kept so that okra's built-in arguments need no declaration.
func resolveArgs(templates []cell.AnalysisTemplate, args map[string]string) (map[string]string, error) {
	values := make(map[string]string, len(args))
	for k, v := range args {
		values[k] = v
	}
	type declared struct {
		template string
		arg      cell.TemplateArg
	}
	var order []string
	decl := map[string]declared{}
	for _, t := range templates {
		for _, a := range t.Spec.Args {
			if a.Name == "" {
				return nil, &SpecError{Template: t.Metadata.Name, Field: "spec.args", Reason: "an argument has no name"}
			}
			prev, ok := decl[a.Name]
			if !ok {
				order = append(order, a.Name)
				decl[a.Name] = declared{t.Metadata.Name, a}
				continue
			}
			if prev.arg.Value != nil && a.Value != nil && *prev.arg.Value != *a.Value {
				return nil, &SpecError{Template: t.Metadata.Name, Field: "args." + a.Name,
					Reason: fmt.Sprintf("default %q differs from %q in template %q", *a.Value, *prev.arg.Value, prev.template)}
			}
			if prev.arg.Value == nil {
				decl[a.Name] = declared{t.Metadata.Name, a}
			}
		}
	}
	for _, name := range order {
		d := decl[name]
		if _, ok := values[name]; ok {
			continue
		}
		switch {
		case d.arg.Value != nil:
			values[name] = *d.arg.Value
		case d.arg.ValueFrom != nil:
			return nil, &SpecError{Template: d.template, Field: "args." + name, Reason: "valueFrom is not supported by okra; give the value in the step's args"}
		default:
			// Name the first field that needs it, so the error says
			// where the argument is used.
			reason := "argument has no value: give it in the step's args or as a default in the template"
			for _, t := range templates {
				if t.Metadata.Name != d.template {
					continue
				}
				if uses := cell.ArgUses(&t)[name]; len(uses) > 0 {
					reason = fmt.Sprintf("argument has no value, and %s needs it: give it in the step's args or as a default in the template", strings.Join(uses, ", "))
				}
			}
			return nil, &SpecError{Template: d.template, Field: "args." + name, Reason: reason}
		}
	}
	return values, nil
}

func matchDryRun(rules []cell.DryRun, names []string) (map[string]bool, error) {
	out := map[string]bool{}
	for i, r := range rules {
		re, err := regexp.Compile(r.MetricName)
		if err != nil {
			return nil, &SpecError{Field: fmt.Sprintf("dryRun[%d].metricName", i), Reason: fmt.Sprintf("invalid regular expression: %v", err)}
		}
		matched := false
		for _, n := range names {
			if re.MatchString(n) {
				out[n] = true
				matched = true
			}
		}
		if !matched {
			return nil, &SpecError{Field: fmt.Sprintf("dryRun[%d].metricName", i), Reason: fmt.Sprintf("%q matches no metric", r.MetricName)}
		}
	}
	return out, nil
}

func matchRetention(rules []cell.MeasurementRetention, names []string) (map[string]int, error) {
	out := map[string]int{}
	for i, r := range rules {
		re, err := regexp.Compile(r.MetricName)
		if err != nil {
			return nil, &SpecError{Field: fmt.Sprintf("measurementRetention[%d].metricName", i), Reason: fmt.Sprintf("invalid regular expression: %v", err)}
		}
		if r.Limit <= 0 {
			continue
		}
		matched := false
		for _, n := range names {
			if re.MatchString(n) {
				out[n] = int(r.Limit)
				matched = true
			}
		}
		if !matched {
			return nil, &SpecError{Field: fmt.Sprintf("measurementRetention[%d].metricName", i), Reason: fmt.Sprintf("%q matches no metric", r.MetricName)}
		}
	}
	return out, nil
}

// newMetricRun substitutes arguments into one metric, checks it and fills
// in its defaults.
func newMetricRun(template string, m cell.Metric, args map[string]string, now time.Time) (MetricRun, error) {
	fail := func(field, format string, a ...any) (MetricRun, error) {
		return MetricRun{}, &SpecError{Template: template, Metric: m.Name, Field: field, Reason: fmt.Sprintf(format, a...)}
	}
	// Arguments first, as Argo Rollouts does: every field is read after
	// substitution, and a field whose argument has no value (or whose
	// value is not a duration or a number where one is needed) is an
	// error naming the field and the argument.
	resolved, problems := cell.SubstituteArgs(m, args, false)
	if len(problems) > 0 {
		return fail(problems[0].Field, "%s", problems[0].Reason)
	}
	if resolved.Name == "" {
		return fail("name", "a metric needs a name")
	}
	kind, err := ProviderKind(resolved)
	if err != nil {
		return fail("provider", "%v", err)
	}
	limits, err := resolveLimits(resolved)
	if err != nil {
		var se *SpecError
		if errors.As(err, &se) {
			se.Template, se.Metric = template, m.Name
			return MetricRun{}, se
		}
		return MetricRun{}, err
	}
	if resolved.SuccessCondition == "" && resolved.FailureCondition == "" {
		return fail("successCondition", "set successCondition, failureCondition or both; a metric without conditions would judge nothing")
	}
	for field, src := range map[string]string{"successCondition": resolved.SuccessCondition, "failureCondition": resolved.FailureCondition} {
		if src == "" {
			continue
		}
		if _, err := condition.Compile(src); err != nil {
			return fail(field, "%v", err)
		}
	}
	var query string
	switch kind {
	case KindCloudWatch:
		if err := checkCloudWatch(resolved.Provider.CloudWatch); err != nil {
			return fail("provider.cloudWatch", "%v", err)
		}
		query, err = cloudWatchQueryText(resolved.Provider.CloudWatch)
	case KindDatadog:
		if err := checkDatadog(resolved.Provider.Datadog); err != nil {
			return fail("provider.datadog", "%v", err)
		}
		resolved.Provider.Datadog = datadogDefaults(resolved.Provider.Datadog)
		query, err = datadogQueryText(resolved.Provider.Datadog)
	}
	if err != nil {
		return fail("provider", "describing the query: %v", err)
	}
	for field, d := range map[string]*cell.Duration{"interval": resolved.Interval, "initialDelay": resolved.InitialDelay} {
		if d != nil && d.Duration < 0 {
			return fail(field, "must not be negative")
		}
	}
	if resolved.Interval != nil && resolved.Interval.Duration == 0 {
		return fail("interval", "must be longer than zero")
	}
	next := now
	if resolved.InitialDelay != nil {
		next = now.Add(resolved.InitialDelay.Duration)
	}
	return MetricRun{
		Name:     resolved.Name,
		Template: template,
		Provider: kind,
		Spec:     resolved,
		Query:    query,
		Limits:   limits,
		Phase:    PhasePending,
		NextAt:   &next,
	}, nil
}

// resolveLimits applies Argo Rollouts' defaults and its validation of
// count and limits, after substitution.
func resolveLimits(m cell.Metric) (Limits, error) {
	get := func(field string, v *cell.IntOrString, def int) (int, error) {
		if v == nil {
			return def, nil
		}
		n, err := v.Resolve()
		if err != nil {
			return 0, &SpecError{Field: field, Reason: err.Error()}
		}
		return int(n), nil
	}
	l := Limits{Retention: DefaultMeasurementRetention}
	count, err := get("count", m.Count, 0)
	if err != nil {
		return l, err
	}
	if l.FailureLimit, err = get("failureLimit", m.FailureLimit, 0); err != nil {
		return l, err
	}
	if l.InconclusiveLimit, err = get("inconclusiveLimit", m.InconclusiveLimit, 0); err != nil {
		return l, err
	}
	if l.ConsecutiveErrorLimit, err = get("consecutiveErrorLimit", m.ConsecutiveErrorLimit, DefaultConsecutiveErrorLimit); err != nil {
		return l, err
	}
	if l.ConsecutiveSuccessLimit, err = get("consecutiveSuccessLimit", m.ConsecutiveSuccessLimit, 0); err != nil {
		return l, err
	}
	bad := func(field, reason string) (Limits, error) { return l, &SpecError{Field: field, Reason: reason} }
	switch {
	case count < 0:
		return bad("count", "must not be negative")
	case l.ConsecutiveSuccessLimit < 0:
		return bad("consecutiveSuccessLimit", "must not be negative")
	case l.FailureLimit < -1:
		return bad("failureLimit", "must be >= 0, or -1 to disable it")
	case l.ConsecutiveSuccessLimit == 0 && l.FailureLimit == -1:
		return bad("failureLimit", "failureLimit and consecutiveSuccessLimit cannot both be disabled")
	case l.InconclusiveLimit < 0:
		return bad("inconclusiveLimit", "must not be negative")
	case l.ConsecutiveErrorLimit < 0:
		return bad("consecutiveErrorLimit", "must not be negative")
	}
	if count > 0 {
		if l.FailureLimit >= 0 && count < l.FailureLimit+l.ConsecutiveSuccessLimit {
			return bad("count", fmt.Sprintf("count (%d) must be >= failureLimit + consecutiveSuccessLimit (%d + %d)", count, l.FailureLimit, l.ConsecutiveSuccessLimit))
		}
		if l.FailureLimit < 0 && count < l.ConsecutiveSuccessLimit {
			return bad("count", fmt.Sprintf("count (%d) must be >= consecutiveSuccessLimit (%d)", count, l.ConsecutiveSuccessLimit))
		}
		if count < l.InconclusiveLimit {
			return bad("count", fmt.Sprintf("count (%d) must be >= inconclusiveLimit (%d)", count, l.InconclusiveLimit))
		}
	}
	if count > 1 && m.Interval == nil {
		return bad("interval", "interval is required when count > 1")
	}
	// Argo Rollouts' EffectiveCount: no count (or 0) means one measurement
	// without an interval, and measuring until the run ends with one.
	switch {
	case count > 0:
		l.Count = &count
	case m.Interval == nil:
		one := 1
		l.Count = &one
	}
	return l, nil
}

func checkCloudWatch(cw *cell.CloudWatchMetric) error {
	if len(cw.MetricDataQueries) == 0 {
		return errors.New("metricDataQueries: at least one query is required")
	}
	ids := map[string]bool{}
	returned := 0
	for i, q := range cw.MetricDataQueries {
		at := fmt.Sprintf("metricDataQueries[%d]", i)
		if q.ID == "" {
			return fmt.Errorf("%s.id is required", at)
		}
		if ids[q.ID] {
			return fmt.Errorf("%s.id %q is used twice", at, q.ID)
		}
		ids[q.ID] = true
		hasExpr := q.Expression != nil && *q.Expression != ""
		if hasExpr == (q.MetricStat != nil) {
			return fmt.Errorf("%s: set exactly one of expression and metricStat", at)
		}
		if q.Period != nil {
			if p, err := q.Period.Resolve(); err != nil || p <= 0 {
				return fmt.Errorf("%s.period must be a positive number of seconds", at)
			}
		}
		if q.MetricStat != nil {
			ms := q.MetricStat
			switch {
			case ms.Metric.MetricName == "":
				return fmt.Errorf("%s.metricStat.metric.metricName is required", at)
			case ms.Metric.Namespace == nil || *ms.Metric.Namespace == "":
				return fmt.Errorf("%s.metricStat.metric.namespace is required", at)
			case ms.Stat == "":
				return fmt.Errorf("%s.metricStat.stat is required", at)
			case ms.Period == nil:
				return fmt.Errorf("%s.metricStat.period is required (seconds, e.g. 60)", at)
			}
			if p, err := ms.Period.Resolve(); err != nil || p <= 0 {
				return fmt.Errorf("%s.metricStat.period must be a positive number of seconds", at)
			}
			for j, d := range ms.Metric.Dimensions {
				if d.Name == "" || d.Value == "" {
					return fmt.Errorf("%s.metricStat.metric.dimensions[%d]: name and value are required", at, j)
				}
			}
		}
		if q.ReturnData == nil || *q.ReturnData {
			returned++
		}
	}
	if returned == 0 {
		return errors.New("metricDataQueries: no query returns data (every returnData is false)")
	}
	return nil
}

var datadogAggregators = map[string]bool{
	"avg": true, "min": true, "max": true, "sum": true, "last": true,
	"percentile": true, "mean": true, "l2norm": true, "area": true,
}

func checkDatadog(dd *cell.DatadogMetric) error {
	version := DatadogAPIVersion(dd)
	switch {
	case version != "v1" && version != "v2":
		return fmt.Errorf("apiVersion %q is not supported (v1 or v2)", dd.APIVersion)
	case dd.Query == "" && len(dd.Queries) == 0:
		return errors.New("set query or queries")
	case dd.Query != "" && len(dd.Queries) > 0:
		return errors.New("set query or queries, not both")
	case version == "v1" && dd.Query == "":
		return errors.New("apiVersion v1 takes a single query; use apiVersion v2 for queries and formula")
	case version == "v1" && dd.Aggregator != "":
		return errors.New("aggregator is not supported with apiVersion v1")
	case dd.Formula != "" && len(dd.Queries) == 0:
		return errors.New("formula needs queries")
	case dd.Formula == "" && len(dd.Queries) > 1:
		return errors.New("several queries need a formula to combine them")
	case dd.Aggregator != "" && !datadogAggregators[dd.Aggregator]:
		return fmt.Errorf("aggregator %q is not one of avg, min, max, sum, last, percentile, mean, l2norm, area", dd.Aggregator)
	}
	for name, q := range dd.Queries {
		if name == "" || q == "" {
			return errors.New("queries: every query needs a name and text")
		}
	}
	return nil
}

// datadogDefaults makes the API version and (for v2) the aggregator
// explicit so that the run records what was actually asked.
func datadogDefaults(dd *cell.DatadogMetric) *cell.DatadogMetric {
	out := *dd
	out.APIVersion = DatadogAPIVersion(dd)
	if out.APIVersion == "v2" && out.Aggregator == "" {
		out.Aggregator = DefaultDatadogAggregator
	}
	return &out
}

func cloudWatchQueryText(cw *cell.CloudWatchMetric) (string, error) {
	b, err := json.Marshal(cw.MetricDataQueries)
	return string(b), err
}

func datadogQueryText(dd *cell.DatadogMetric) (string, error) {
	if dd.APIVersion == "v1" {
		return dd.Query, nil
	}
	b, err := json.Marshal(struct {
		Queries    map[string]string `json:"queries"`
		Formula    string            `json:"formula,omitempty"`
		Aggregator string            `json:"aggregator,omitempty"`
	}{DatadogQueries(dd), dd.Formula, dd.Aggregator})
	return string(b), err
}

// DatadogQueries returns a v2 metric's named queries; a lone query is
// named "query", as Argo Rollouts names it.
func DatadogQueries(dd *cell.DatadogMetric) map[string]string {
	if len(dd.Queries) > 0 {
		return dd.Queries
	}
	return map[string]string{"query": dd.Query}
}
