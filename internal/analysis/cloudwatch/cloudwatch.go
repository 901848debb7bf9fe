// Package cloudwatch measures analysis metrics with CloudWatch
// GetMetricData, as Argo Rollouts' CloudWatch provider does: the
// template's metricDataQueries (arguments already substituted) over
// [now - provider interval, now), every page, newest datapoint first.
//
// Conditions see `result` in Argo Rollouts' shape: the list of
// MetricDataResults, one per query that returns data, so existing
// conditions such as `all(result[0].Values, {# <= 0.01})` keep working. A
// returned query without datapoints is "no data" (Inconclusive): CloudWatch
// reports nothing for sparse metrics such as HTTPCode_Target_5XX_Count in a
// quiet minute, so wrap them in FILL(m, 0) when zero is what no datapoint
// means.
//
// The package only reads metrics; it judges nothing.
package cloudwatch

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
)

// GetMetricDataAPI is the one CloudWatch call the provider makes;
// *cloudwatch.Client satisfies it.
type GetMetricDataAPI interface {
	GetMetricData(ctx context.Context, params *cw.GetMetricDataInput, optFns ...func(*cw.Options)) (*cw.GetMetricDataOutput, error)
}

// maxPages bounds paging so that a misbehaving endpoint cannot loop
// forever; a five-minute window needs one page.
const maxPages = 100

// Provider measures metrics with CloudWatch.
type Provider struct {
	api GetMetricDataAPI
}

// New returns a provider that calls api (build it once per process, e.g.
// awsapi.Config.CloudWatch()).
func New(api GetMetricDataAPI) *Provider { return &Provider{api: api} }

var _ analysis.Provider = (*Provider)(nil)

// MetricDataResult is one query's result, with the field names of the AWS
// SDK's MetricDataResult (which Argo Rollouts hands to conditions) so that
// conditions written for Argo Rollouts work unchanged: result[0].Values,
// result[0].Id, result[0].Label.
type MetricDataResult struct {
	Id         string      `json:"id"`
	Label      string      `json:"label,omitempty"`
	StatusCode string      `json:"statusCode,omitempty"`
	Timestamps []time.Time `json:"timestamps"`
	Values     []float64   `json:"values"`
}

// Measure runs the metric's queries over window.
func (p *Provider) Measure(ctx context.Context, metric cell.Metric, window analysis.Window) (analysis.Value, error) {
	spec := metric.Provider.CloudWatch
	if spec == nil {
		return analysis.Value{}, fmt.Errorf("metric %q has no cloudWatch provider", metric.Name)
	}
	queries, err := Queries(spec)
	if err != nil {
		return analysis.Value{}, fmt.Errorf("building CloudWatch queries for metric %q, %w", metric.Name, err)
	}
	input := &cw.GetMetricDataInput{
		StartTime:         aws.Time(window.Start),
		EndTime:           aws.Time(window.End),
		MetricDataQueries: queries,
		ScanBy:            cwtypes.ScanByTimestampDescending,
	}
	var results []MetricDataResult
	index := map[string]int{}
	var messages []string
	for page := 0; ; page++ {
		if page == maxPages {
			return analysis.Value{}, &analysis.ProviderError{Provider: analysis.KindCloudWatch, Op: "GetMetricData",
				Err: fmt.Errorf("more than %d pages of results; shorten the provider interval", maxPages)}
		}
		out, err := p.api.GetMetricData(ctx, input)
		if err != nil {
			return analysis.Value{}, &analysis.ProviderError{
				Provider:  analysis.KindCloudWatch,
				Op:        "GetMetricData",
				Throttled: awsapi.IsThrottle(err),
				Err:       err,
			}
		}
		for _, r := range out.MetricDataResults {
			id := aws.ToString(r.Id)
			i, ok := index[id]
			if !ok {
				i = len(results)
				index[id] = i
				results = append(results, MetricDataResult{Id: id, Label: aws.ToString(r.Label), Timestamps: []time.Time{}, Values: []float64{}})
			}
			results[i].StatusCode = string(r.StatusCode)
			results[i].Timestamps = append(results[i].Timestamps, r.Timestamps...)
			results[i].Values = append(results[i].Values, r.Values...)
			for _, m := range r.Messages {
				messages = append(messages, fmt.Sprintf("%s: %s %s", id, aws.ToString(m.Code), aws.ToString(m.Value)))
			}
		}
		for _, m := range out.Messages {
			messages = append(messages, fmt.Sprintf("%s %s", aws.ToString(m.Code), aws.ToString(m.Value)))
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		input.NextToken = out.NextToken
	}
	var failed []string
	for _, r := range results {
		switch cwtypes.StatusCode(r.StatusCode) {
		case cwtypes.StatusCodeInternalError, cwtypes.StatusCodeForbidden:
			failed = append(failed, fmt.Sprintf("%s: %s", r.Id, r.StatusCode))
		}
	}
	if len(failed) > 0 {
		return analysis.Value{}, &analysis.ProviderError{Provider: analysis.KindCloudWatch, Op: "GetMetricData",
			Err: fmt.Errorf("queries did not complete (%s)", strings.Join(failed, ", "))}
	}
	v := analysis.Value{Result: results, Raw: results}
	if len(messages) > 0 {
		v.Message = "CloudWatch: " + strings.Join(messages, "; ")
	}
	var empty []string
	for _, r := range results {
		if len(r.Values) == 0 {
			empty = append(empty, r.Id)
		}
	}
	switch {
	case len(results) == 0:
		v.NoData = true
		v.Message = joinNote("no query returned a result", v.Message)
	case len(empty) > 0:
		v.NoData = true
		v.Message = joinNote(fmt.Sprintf("no datapoints for %s", strings.Join(empty, ", ")), v.Message)
	}
	return v, nil
}

func joinNote(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}

// Queries converts a template's metricDataQueries (arguments substituted)
// to the SDK's form.
func Queries(spec *cell.CloudWatchMetric) ([]cwtypes.MetricDataQuery, error) {
	out := make([]cwtypes.MetricDataQuery, 0, len(spec.MetricDataQueries))
	for i, q := range spec.MetricDataQueries {
		mq := cwtypes.MetricDataQuery{
			Id:         aws.String(q.ID),
			Expression: q.Expression,
			Label:      q.Label,
			ReturnData: q.ReturnData,
		}
		if q.Period != nil {
			n, err := q.Period.Resolve()
			if err != nil {
				return nil, fmt.Errorf("metricDataQueries[%d].period: %w", i, err)
			}
			mq.Period = aws.Int32(n)
		}
		if ms := q.MetricStat; ms != nil {
			if ms.Period == nil {
				return nil, fmt.Errorf("metricDataQueries[%d].metricStat.period is required", i)
			}
			period, err := ms.Period.Resolve()
			if err != nil {
				return nil, fmt.Errorf("metricDataQueries[%d].metricStat.period: %w", i, err)
			}
			stat := &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{
					MetricName: aws.String(ms.Metric.MetricName),
					Namespace:  ms.Metric.Namespace,
				},
				Period: aws.Int32(period),
				Stat:   aws.String(ms.Stat),
			}
			if ms.Unit != "" {
				stat.Unit = cwtypes.StandardUnit(ms.Unit)
			}
			for _, d := range ms.Metric.Dimensions {
				stat.Metric.Dimensions = append(stat.Metric.Dimensions, cwtypes.Dimension{Name: aws.String(d.Name), Value: aws.String(d.Value)})
			}
			mq.MetricStat = stat
		}
		out = append(out, mq)
	}
	return out, nil
}
