package cell

import "encoding/json"

// Analysis template kinds. Argo Rollouts documents of either kind are
// accepted unchanged; okra keeps one namespace of templates.
const (
	KindAnalysisTemplate        = "AnalysisTemplate"
	KindClusterAnalysisTemplate = "ClusterAnalysisTemplate"
)

// AnalysisTemplate is an Argo Rollouts-compatible analysis template: a list
// of metrics, each measured by one provider and judged by conditions.
type AnalysisTemplate struct {
	APIVersion string               `json:"apiVersion,omitempty"`
	Kind       string               `json:"kind,omitempty"`
	Metadata   Metadata             `json:"metadata"`
	Spec       AnalysisTemplateSpec `json:"spec"`
}

// AnalysisTemplateSpec holds a template's arguments and metrics.
type AnalysisTemplateSpec struct {
	Args    []TemplateArg `json:"args,omitempty"`
	Metrics []Metric      `json:"metrics"`
	// DryRun and MeasurementRetention are accepted for compatibility.
	DryRun               []DryRun               `json:"dryRun,omitempty"`
	MeasurementRetention []MeasurementRetention `json:"measurementRetention,omitempty"`
	// Templates is Argo Rollouts' template composition. It is decoded so
	// that validation can refuse it by name: okra does not compose
	// templates yet.
	Templates []TemplateRef `json:"templates,omitempty"`
}

// TemplateArg declares an argument, with an optional default value.
type TemplateArg struct {
	Name      string        `json:"name"`
	Value     *string       `json:"value,omitempty"`
	ValueFrom *ArgValueFrom `json:"valueFrom,omitempty"`
}

// ArgValueFrom is Argo's indirect argument value. okra does not run in the
// application's namespace, so validation refuses it with a clear reason.
type ArgValueFrom struct {
	SecretKeyRef *json.RawMessage `json:"secretKeyRef,omitempty"`
	FieldRef     *json.RawMessage `json:"fieldRef,omitempty"`
}

// DryRun marks metrics whose failures are recorded but not acted on.
type DryRun struct {
	MetricName string `json:"metricName"`
}

// MeasurementRetention limits how many measurements of a metric are kept.
type MeasurementRetention struct {
	MetricName string `json:"metricName"`
	Limit      int32  `json:"limit"`
}

// Metric is one measurement loop with Argo Rollouts semantics.
type Metric struct {
	Name string `json:"name"`
	// Interval between measurements. Required when Count > 1.
	Interval *Duration `json:"interval,omitempty"`
	// InitialDelay before the first measurement.
	InitialDelay *Duration `json:"initialDelay,omitempty"`
	// Count is how many measurements to take (default 1).
	Count *IntOrString `json:"count,omitempty"`
	// SuccessCondition and FailureCondition are expr-lang expressions over
	// `result`. Neither true means inconclusive.
	SuccessCondition        string         `json:"successCondition,omitempty"`
	FailureCondition        string         `json:"failureCondition,omitempty"`
	FailureLimit            *IntOrString   `json:"failureLimit,omitempty"`
	InconclusiveLimit       *IntOrString   `json:"inconclusiveLimit,omitempty"`
	ConsecutiveErrorLimit   *IntOrString   `json:"consecutiveErrorLimit,omitempty"`
	ConsecutiveSuccessLimit *IntOrString   `json:"consecutiveSuccessLimit,omitempty"`
	Provider                MetricProvider `json:"provider"`
}

// MetricProvider is exactly one provider. CloudWatch and Datadog are
// supported; the others are decoded only so that validation can refuse them
// by name instead of calling them unknown fields.
type MetricProvider struct {
	CloudWatch *CloudWatchMetric `json:"cloudWatch,omitempty"`
	Datadog    *DatadogMetric    `json:"datadog,omitempty"`

	Prometheus *json.RawMessage `json:"prometheus,omitempty"`
	Web        *json.RawMessage `json:"web,omitempty"`
	Job        *json.RawMessage `json:"job,omitempty"`
	Kayenta    *json.RawMessage `json:"kayenta,omitempty"`
	NewRelic   *json.RawMessage `json:"newRelic,omitempty"`
	Wavefront  *json.RawMessage `json:"wavefront,omitempty"`
	Graphite   *json.RawMessage `json:"graphite,omitempty"`
	Influxdb   *json.RawMessage `json:"influxdb,omitempty"`
	SkyWalking *json.RawMessage `json:"skywalking,omitempty"`
	Plugin     *json.RawMessage `json:"plugin,omitempty"`
}

// CloudWatchMetric queries GetMetricData over [now-interval, now].
type CloudWatchMetric struct {
	Interval          *Duration         `json:"interval,omitempty"`
	MetricDataQueries []MetricDataQuery `json:"metricDataQueries"`
}

// MetricDataQuery mirrors CloudWatch's MetricDataQuery.
type MetricDataQuery struct {
	ID         string       `json:"id"`
	Expression *string      `json:"expression,omitempty"`
	Label      *string      `json:"label,omitempty"`
	MetricStat *MetricStat  `json:"metricStat,omitempty"`
	Period     *IntOrString `json:"period,omitempty"`
	ReturnData *bool        `json:"returnData,omitempty"`
}

// MetricStat mirrors CloudWatch's MetricStat.
type MetricStat struct {
	Metric CloudWatchMetricName `json:"metric"`
	Period *IntOrString         `json:"period,omitempty"`
	Stat   string               `json:"stat"`
	Unit   string               `json:"unit,omitempty"`
}

// CloudWatchMetricName names a metric and its dimensions.
type CloudWatchMetricName struct {
	Dimensions []MetricDimension `json:"dimensions,omitempty"`
	MetricName string            `json:"metricName"`
	Namespace  *string           `json:"namespace,omitempty"`
}

// MetricDimension is a name/value pair; Value may use {{args.x}}.
type MetricDimension struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// DatadogMetric queries Datadog: a single v1 query, or v2 named queries
// combined by a formula.
type DatadogMetric struct {
	Interval   *Duration         `json:"interval,omitempty"`
	Query      string            `json:"query,omitempty"`
	Queries    map[string]string `json:"queries,omitempty"`
	Formula    string            `json:"formula,omitempty"`
	APIVersion string            `json:"apiVersion,omitempty"`
	Aggregator string            `json:"aggregator,omitempty"`
	// SecretRef is accepted for compatibility; okra reads Datadog keys
	// from Secrets Manager.
	SecretRef *json.RawMessage `json:"secretRef,omitempty"`
	// RequestTimeout bounds one Datadog API call (Argo Rollouts field).
	RequestTimeout *Duration `json:"requestTimeout,omitempty"`
}

// SharedTemplateNames lists the templates c's steps and background
// analysis name that c does not embed, in order of first use.
func (c *Cell) SharedTemplateNames() []string {
	embedded := map[string]bool{}
	for _, t := range c.Spec.AnalysisTemplates {
		embedded[t.Metadata.Name] = true
	}
	seen := map[string]bool{}
	var names []string
	add := func(a *Analysis) {
		if a == nil {
			return
		}
		for _, ref := range a.Templates {
			if n := ref.TemplateName; n != "" && !embedded[n] && !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	if canary := c.Spec.UpdateStrategy.Canary; canary != nil {
		for _, s := range canary.Steps {
			add(s.Analysis)
		}
		if canary.Analysis != nil {
			add(&canary.Analysis.Analysis)
		}
	}
	return names
}
