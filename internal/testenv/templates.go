package testenv

import "github.com/okrahq/okra/internal/cell"

// CanaryErrorsTemplate is the analysis template the end-to-end tests and
// the benchmarks judge a canary by: the canary target group's
// HTTPCode_Target_5XX_Count per minute (okra's built-in
// canary-target-group and load-balancer arguments as dimensions),
// successful under 5, failed at 50 or more. The tests publish the data it
// reads themselves.
func CanaryErrorsTemplate(name string) cell.AnalysisTemplate {
	ns := "AWS/ApplicationELB"
	return cell.AnalysisTemplate{
		APIVersion: "argoproj.io/v1alpha1", Kind: cell.KindAnalysisTemplate,
		Metadata: cell.Metadata{Name: name},
		Spec: cell.AnalysisTemplateSpec{
			Args: []cell.TemplateArg{{Name: cell.ArgCanaryTargetGroup}, {Name: cell.ArgLoadBalancer}},
			Metrics: []cell.Metric{{
				Name:             "canary-5xx",
				SuccessCondition: "all(result[0].Values, {# < 5})",
				FailureCondition: "any(result[0].Values, {# >= 50})",
				Provider: cell.MetricProvider{CloudWatch: &cell.CloudWatchMetric{MetricDataQueries: []cell.MetricDataQuery{{
					ID: "errors",
					MetricStat: &cell.MetricStat{
						Metric: cell.CloudWatchMetricName{Namespace: &ns, MetricName: "HTTPCode_Target_5XX_Count", Dimensions: []cell.MetricDimension{
							{Name: "TargetGroup", Value: "{{args.canary-target-group}}"},
							{Name: "LoadBalancer", Value: "{{args.load-balancer}}"},
						}},
						Period: cell.Int(60),
						Stat:   "Sum",
					},
				}}}},
			}},
		},
	}
}
