package cell

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ArgProblem is an argument substitution that failed in one metric field:
// the field's path inside the metric ("initialDelay",
// "provider.cloudWatch.metricDataQueries[0].period"), the argument (empty
// for a reference that is not {{args.NAME}}) and why.
type ArgProblem struct {
	Field  string
	Arg    string
	Reason string
}

// String renders the problem as "field: reason".
func (p ArgProblem) String() string { return p.Field + ": " + p.Reason }

// Metric fields that are not text once substituted: Argo Rollouts lets a
// template write each of them as "{{args.NAME}}" and reads the value after
// substitution. Paths are inside a metric, list indices written [*].
var (
	durationArgFields = map[string]bool{
		"initialDelay":                    true,
		"interval":                        true,
		"provider.cloudWatch.interval":    true,
		"provider.datadog.interval":       true,
		"provider.datadog.requestTimeout": true,
	}
	integerArgFields = map[string]bool{
		"count":                   true,
		"failureLimit":            true,
		"inconclusiveLimit":       true,
		"consecutiveErrorLimit":   true,
		"consecutiveSuccessLimit": true,
		"provider.cloudWatch.metricDataQueries[*].period":            true,
		"provider.cloudWatch.metricDataQueries[*].metricStat.period": true,
	}
	listIndex = regexp.MustCompile(`\[[0-9]+\]`)
)

// SubstituteArgs returns m with every {{args.NAME}} in every field replaced
// by values[NAME], as Argo Rollouts substitutes arguments before it reads a
// metric: durations, counts and limits, conditions and provider fields.
// A duration or integer field whose substituted text is not one is a
// problem naming the field, the argument and the text; the field keeps its
// template text so that the rest of the metric is still returned.
//
// With keepUnknown, a reference to an argument values lacks stays as
// written (its field is checked once it has a value); without it, it is a
// problem naming the field and the argument, and so is any {{...}} that is
// not {{args.NAME}}. Problems come sorted by field.
func SubstituteArgs(m Metric, values map[string]string, keepUnknown bool) (Metric, []ArgProblem) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return m, []ArgProblem{{Reason: fmt.Sprintf("cannot be read: %v", err)}}
	}
	var tree any
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return m, []ArgProblem{{Reason: fmt.Sprintf("cannot be read: %v", err)}}
	}
	s := substitution{values: values, keepUnknown: keepUnknown}
	tree = s.walk(tree, "")
	raw, err := json.Marshal(tree)
	if err != nil {
		return m, append(s.problems, ArgProblem{Reason: fmt.Sprintf("cannot be re-encoded: %v", err)})
	}
	var out Metric
	if err := json.Unmarshal(raw, &out); err != nil {
		return m, append(s.problems, ArgProblem{Reason: fmt.Sprintf("is invalid after substituting arguments: %v", err)})
	}
	sort.SliceStable(s.problems, func(i, j int) bool { return s.problems[i].Field < s.problems[j].Field })
	return out, s.problems
}

// ArgUses returns, for each argument a template's metrics refer to, the
// paths of the fields that refer to it ("spec.metrics[0].initialDelay"),
// in order.
func ArgUses(t *AnalysisTemplate) map[string][]string {
	uses := map[string][]string{}
	for i, m := range t.Spec.Metrics {
		_, probs := SubstituteArgs(m, nil, false)
		for _, p := range probs {
			if p.Arg == "" {
				continue
			}
			field := joinField(index("spec.metrics", i), p.Field)
			if l := uses[p.Arg]; len(l) == 0 || l[len(l)-1] != field {
				uses[p.Arg] = append(l, field)
			}
		}
	}
	return uses
}

type substitution struct {
	values      map[string]string
	keepUnknown bool
	problems    []ArgProblem
}

func (s *substitution) walk(v any, path string) any {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			var field string
			if strings.HasSuffix(path, "datadog.queries") {
				field = joinKey(path, k)
			} else {
				field = joinField(path, k)
			}
			x[k] = s.walk(x[k], field)
		}
		return x
	case []any:
		for i := range x {
			x[i] = s.walk(x[i], index(path, i))
		}
		return x
	case string:
		return s.text(x, path)
	default:
		return v
	}
}

// text substitutes one string field.
func (s *substitution) text(in, path string) string {
	if !strings.Contains(in, "{{") {
		return in
	}
	var used []string
	unresolved := false
	out := templateTag.ReplaceAllStringFunc(in, func(ref string) string {
		tag := strings.TrimSpace(templateTag.FindStringSubmatch(ref)[1])
		name, isArg := strings.CutPrefix(tag, "args.")
		name = strings.TrimSpace(name)
		if !isArg {
			unresolved = true
			if !s.keepUnknown {
				s.problems = append(s.problems, ArgProblem{Field: path, Reason: fmt.Sprintf("refers to {{%s}}; only {{args.NAME}} substitutions are supported", tag)})
			}
			return ref
		}
		v, ok := s.values[name]
		if !ok {
			unresolved = true
			if !s.keepUnknown {
				s.problems = append(s.problems, ArgProblem{Field: path, Arg: name, Reason: fmt.Sprintf("needs argument %q, which has no value: give it in the analysis step's args or as a default in the template's spec.args", name)})
			}
			return ref
		}
		used = append(used, name)
		return v
	})
	if unresolved || len(used) == 0 {
		return out
	}
	kind := listIndex.ReplaceAllString(path, "[*]")
	var reason string
	switch {
	case durationArgFields[kind]:
		if _, err := parseDurationText(out); err != nil {
			reason = "a duration like 30s, 5m or 1h, or a number of seconds"
		}
	case integerArgFields[kind]:
		if _, err := strconv.ParseInt(strings.TrimSpace(out), 10, 32); err != nil {
			reason = "a whole number"
		}
	}
	if reason != "" {
		s.problems = append(s.problems, ArgProblem{Field: path, Arg: used[0],
			Reason: fmt.Sprintf("is %q after substituting %s into %q; want %s", out, argList(used), in, reason)})
		return in
	}
	return out
}

func argList(names []string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("argument %q", n)
	}
	return strings.Join(parts, " and ")
}

// parseDurationText reads duration text as Duration does: "30s", or a
// whole number of seconds.
func parseDurationText(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}
