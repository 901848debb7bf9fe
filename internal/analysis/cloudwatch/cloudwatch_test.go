package cloudwatch_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/analysis/cloudwatch"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeAPI answers GetMetricData with scripted pages and records requests.
type fakeAPI struct {
	mu     sync.Mutex
	inputs []cw.GetMetricDataInput
	pages  []*cw.GetMetricDataOutput
	err    error
}

func (f *fakeAPI) GetMetricData(_ context.Context, in *cw.GetMetricDataInput, _ ...func(*cw.Options)) (*cw.GetMetricDataOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inputs = append(f.inputs, *in)
	if f.err != nil {
		return nil, f.err
	}
	if len(f.inputs) > len(f.pages) {
		return nil, errors.New("unexpected extra GetMetricData call")
	}
	return f.pages[len(f.inputs)-1], nil
}

func result(id string, values ...float64) cwtypes.MetricDataResult {
	r := cwtypes.MetricDataResult{Id: aws.String(id), Label: aws.String(id), StatusCode: cwtypes.StatusCodeComplete, Values: values}
	for i := range values {
		r.Timestamps = append(r.Timestamps, t0.Add(-time.Duration(i+1)*time.Minute))
	}
	return r
}

// errorRateTemplate divides 5xx by requests for the canary target group,
// Argo Rollouts' documented CloudWatch example, with okra's arguments.
func errorRateTemplate(condition string) cell.AnalysisTemplate {
	ns := "AWS/ApplicationELB"
	dims := []cell.MetricDimension{
		{Name: "TargetGroup", Value: "{{args.canary-target-group}}"},
		{Name: "LoadBalancer", Value: "{{args.load-balancer}}"},
	}
	no := false
	return cell.AnalysisTemplate{
		Metadata: cell.Metadata{Name: "error-rate"},
		Spec: cell.AnalysisTemplateSpec{
			Args: []cell.TemplateArg{{Name: cell.ArgCanaryTargetGroup}, {Name: cell.ArgLoadBalancer}},
			Metrics: []cell.Metric{{
				Name:             "error-rate",
				SuccessCondition: condition,
				Provider: cell.MetricProvider{CloudWatch: &cell.CloudWatchMetric{
					Interval: &cell.Duration{Duration: 10 * time.Minute},
					MetricDataQueries: []cell.MetricDataQuery{
						{ID: "rate", Expression: aws.String("FILL(errors, 0) / requests"), Label: aws.String("5xx share")},
						{ID: "errors", ReturnData: &no, MetricStat: &cell.MetricStat{
							Metric: cell.CloudWatchMetricName{Namespace: &ns, MetricName: "HTTPCode_Target_5XX_Count", Dimensions: dims},
							Period: cell.Int(60), Stat: "Sum", Unit: "Count",
						}},
						{ID: "requests", ReturnData: &no, MetricStat: &cell.MetricStat{
							Metric: cell.CloudWatchMetricName{Namespace: &ns, MetricName: "RequestCount", Dimensions: dims},
							Period: cell.Int(60), Stat: "Sum",
						}},
					},
				}},
			}},
		},
	}
}

var args = map[string]string{
	cell.ArgCanaryTargetGroup: "targetgroup/web-v2/0123456789abcdef",
	cell.ArgLoadBalancer:      "app/web/fedcba9876543210",
}

func step(t *testing.T, tmpl cell.AnalysisTemplate, args map[string]string, p analysis.Provider, now time.Time) (*analysis.Run, analysis.StepResult) {
	t.Helper()
	run, err := analysis.Start([]cell.AnalysisTemplate{tmpl}, args, now)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	res, err := analysis.Step(context.Background(), run, analysis.Providers{analysis.KindCloudWatch: p}, now)
	if err != nil {
		t.Fatalf("Step: %v", err)
	}
	if len(res.Measurements) != 1 {
		t.Fatalf("%d measurements, want 1", len(res.Measurements))
	}
	return run, res
}

func TestExpressionRequestShape(t *testing.T) {
	api := &fakeAPI{pages: []*cw.GetMetricDataOutput{{MetricDataResults: []cwtypes.MetricDataResult{result("rate", 0.01, 0.02)}}}}
	_, res := step(t, errorRateTemplate("all(result[0].Values, {# < 0.05}) && result[0].Id == 'rate'"), args, cloudwatch.New(api), t0)
	if res.Phase != analysis.PhaseSuccessful {
		t.Fatalf("phase %s: %s", res.Phase, res.Measurements[0].Message)
	}
	if len(api.inputs) != 1 {
		t.Fatalf("%d calls, want 1", len(api.inputs))
	}
	in := api.inputs[0]
	if !in.StartTime.Equal(t0.Add(-10*time.Minute)) || !in.EndTime.Equal(t0) {
		t.Errorf("window [%s, %s), want [%s, %s)", in.StartTime, in.EndTime, t0.Add(-10*time.Minute), t0)
	}
	if in.ScanBy != cwtypes.ScanByTimestampDescending {
		t.Errorf("ScanBy %q", in.ScanBy)
	}
	if len(in.MetricDataQueries) != 3 {
		t.Fatalf("%d queries, want 3", len(in.MetricDataQueries))
	}
	rate, errs := in.MetricDataQueries[0], in.MetricDataQueries[1]
	if aws.ToString(rate.Expression) != "FILL(errors, 0) / requests" || rate.MetricStat != nil || aws.ToString(rate.Label) != "5xx share" || rate.ReturnData != nil {
		t.Errorf("expression query %+v", rate)
	}
	if errs.ReturnData == nil || *errs.ReturnData || errs.Expression != nil || errs.MetricStat == nil {
		t.Fatalf("metric query %+v", errs)
	}
	ms := errs.MetricStat
	gotDims := map[string]string{}
	for _, d := range ms.Metric.Dimensions {
		gotDims[aws.ToString(d.Name)] = aws.ToString(d.Value)
	}
	wantDims := map[string]string{"TargetGroup": args[cell.ArgCanaryTargetGroup], "LoadBalancer": args[cell.ArgLoadBalancer]}
	if !reflect.DeepEqual(gotDims, wantDims) {
		t.Errorf("dimensions %v, want %v", gotDims, wantDims)
	}
	if aws.ToString(ms.Metric.Namespace) != "AWS/ApplicationELB" || aws.ToString(ms.Metric.MetricName) != "HTTPCode_Target_5XX_Count" ||
		aws.ToInt32(ms.Period) != 60 || aws.ToString(ms.Stat) != "Sum" || ms.Unit != cwtypes.StandardUnitCount {
		t.Errorf("metric stat %+v", ms)
	}
	if in.MetricDataQueries[2].MetricStat.Unit != "" {
		t.Errorf("unset unit sent as %q", in.MetricDataQueries[2].MetricStat.Unit)
	}
	r := res.Measurements[0]
	if !strings.Contains(r.Query, "targetgroup/web-v2/0123456789abcdef") || !strings.Contains(r.Query, "FILL(errors, 0) / requests") {
		t.Errorf("recorded query %s", r.Query)
	}
	if !strings.Contains(string(r.Value), `"values":[0.01,0.02]`) {
		t.Errorf("recorded value %s", r.Value)
	}
}

func TestMeasure(t *testing.T) {
	window := analysis.Window{Start: t0.Add(-5 * time.Minute), End: t0}
	tmpl := errorRateTemplate("true")
	run, err := analysis.Start([]cell.AnalysisTemplate{tmpl}, args, t0)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	metric := run.Metrics[0].Spec
	throttle := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "no"}
	cases := []struct {
		name  string
		api   *fakeAPI
		calls int
		// want is the result's values per query id; nil with noData.
		want      map[string][]float64
		noData    bool
		err       bool
		throttled bool
		message   string
	}{
		{
			name:  "one page",
			api:   &fakeAPI{pages: []*cw.GetMetricDataOutput{{MetricDataResults: []cwtypes.MetricDataResult{result("rate", 0.1, 0.2)}}}},
			calls: 1,
			want:  map[string][]float64{"rate": {0.1, 0.2}},
		},
		{
			name: "pages are merged by id",
			api: &fakeAPI{pages: []*cw.GetMetricDataOutput{
				{MetricDataResults: []cwtypes.MetricDataResult{result("a", 1, 2), result("b", 10)}, NextToken: aws.String("p2")},
				{MetricDataResults: []cwtypes.MetricDataResult{result("a", 3), result("b", 20)}},
			}},
			calls: 2,
			want:  map[string][]float64{"a": {1, 2, 3}, "b": {10, 20}},
		},
		{
			name:    "a returned query without datapoints is no data",
			api:     &fakeAPI{pages: []*cw.GetMetricDataOutput{{MetricDataResults: []cwtypes.MetricDataResult{result("a", 1), result("b")}}}},
			calls:   1,
			noData:  true,
			message: "no datapoints for b",
		},
		{
			name:   "no results is no data",
			api:    &fakeAPI{pages: []*cw.GetMetricDataOutput{{}}},
			calls:  1,
			noData: true,
		},
		{
			name:      "throttling",
			api:       &fakeAPI{err: throttle},
			calls:     1,
			err:       true,
			throttled: true,
		},
		{
			name:  "access denied",
			api:   &fakeAPI{err: denied},
			calls: 1,
			err:   true,
		},
		{
			name: "a query that did not complete",
			api: &fakeAPI{pages: []*cw.GetMetricDataOutput{{MetricDataResults: []cwtypes.MetricDataResult{
				{Id: aws.String("a"), StatusCode: cwtypes.StatusCodeInternalError},
			}}}},
			calls: 1,
			err:   true,
		},
		{
			name: "messages are kept",
			api: &fakeAPI{pages: []*cw.GetMetricDataOutput{{
				MetricDataResults: []cwtypes.MetricDataResult{result("a", 1)},
				Messages:          []cwtypes.MessageData{{Code: aws.String("MaxMetricsExceeded"), Value: aws.String("too many")}},
			}}},
			calls:   1,
			want:    map[string][]float64{"a": {1}},
			message: "MaxMetricsExceeded too many",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := cloudwatch.New(tc.api).Measure(context.Background(), metric, window)
			if len(tc.api.inputs) != tc.calls {
				t.Errorf("%d calls, want %d", len(tc.api.inputs), tc.calls)
			}
			if tc.calls == 2 && aws.ToString(tc.api.inputs[1].NextToken) != "p2" {
				t.Errorf("second call's NextToken %q, want p2", aws.ToString(tc.api.inputs[1].NextToken))
			}
			if tc.err {
				var pe *analysis.ProviderError
				if !errors.As(err, &pe) {
					t.Fatalf("error %v is not a *ProviderError", err)
				}
				if pe.Throttled != tc.throttled || analysis.IsThrottled(err) != tc.throttled {
					t.Fatalf("throttled = %v, want %v", pe.Throttled, tc.throttled)
				}
				return
			}
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			if v.NoData != tc.noData {
				t.Fatalf("NoData = %v, want %v", v.NoData, tc.noData)
			}
			if tc.message != "" && !strings.Contains(v.Message, tc.message) {
				t.Errorf("message %q lacks %q", v.Message, tc.message)
			}
			if tc.want == nil {
				return
			}
			results, ok := v.Result.([]cloudwatch.MetricDataResult)
			if !ok {
				t.Fatalf("result is %T, want []cloudwatch.MetricDataResult", v.Result)
			}
			got := map[string][]float64{}
			for _, r := range results {
				got[r.Id] = r.Values
				if len(r.Timestamps) != len(r.Values) {
					t.Errorf("%s: %d timestamps for %d values", r.Id, len(r.Timestamps), len(r.Values))
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("values %v, want %v", got, tc.want)
			}
		})
	}
}

func TestThrottlingIsAnErrorNotAFailure(t *testing.T) {
	api := &fakeAPI{err: &smithy.GenericAPIError{Code: "ThrottlingException", Message: "slow down"}}
	run, res := step(t, errorRateTemplate("true"), args, cloudwatch.New(api), t0)
	r := res.Measurements[0]
	if r.Phase != analysis.PhaseError || !r.Throttled || run.Metrics[0].ConsecutiveError != 1 || run.Metrics[0].Failed != 0 {
		t.Fatalf("measurement %s throttled %v, counters %+v", r.Phase, r.Throttled, run.Metrics[0].Counters)
	}
	if res.Phase != analysis.PhaseRunning || res.NextAt == nil || !res.NextAt.Equal(t0.Add(analysis.ErrorRetryBase)) {
		t.Fatalf("run %s, next %v", res.Phase, res.NextAt)
	}
}

// TestAgainstMoto puts per-target-group ALB metrics into the emulator and
// judges them with a template that names the canary's target group by
// argument. moto does no metric math, so this uses MetricStat queries only.
func TestAgainstMoto(t *testing.T) {
	cfg, counter := testenv.AWS(t)
	client := cfg.CloudWatch()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	suffix := strings.ReplaceAll(t.Name(), "/", "-")
	lb := "app/web-" + suffix + "/fedcba9876543210"
	healthy := "targetgroup/healthy-" + suffix + "/0123456789abcdef"
	broken := "targetgroup/broken-" + suffix + "/0123456789abcdef"
	quiet := "targetgroup/quiet-" + suffix + "/0123456789abcdef"
	put := func(tg string, values ...float64) {
		var data []cwtypes.MetricDatum
		for i, v := range values {
			data = append(data, cwtypes.MetricDatum{
				MetricName: aws.String("HTTPCode_Target_5XX_Count"),
				Dimensions: []cwtypes.Dimension{{Name: aws.String("TargetGroup"), Value: aws.String(tg)}, {Name: aws.String("LoadBalancer"), Value: aws.String(lb)}},
				Timestamp:  aws.Time(now.Add(-time.Duration(150-60*i) * time.Second)),
				Value:      aws.Float64(v),
				Unit:       cwtypes.StandardUnitCount,
			})
		}
		if _, err := client.PutMetricData(ctx, &cw.PutMetricDataInput{Namespace: aws.String("AWS/ApplicationELB"), MetricData: data}); err != nil {
			t.Fatalf("PutMetricData: %v", err)
		}
	}
	put(healthy, 1, 0, 2)
	put(broken, 1, 40, 90)

	ns := "AWS/ApplicationELB"
	tmpl := cell.AnalysisTemplate{
		Metadata: cell.Metadata{Name: "canary-5xx"},
		Spec: cell.AnalysisTemplateSpec{
			Args: []cell.TemplateArg{{Name: cell.ArgCanaryTargetGroup}, {Name: cell.ArgLoadBalancer}, {Name: "max-errors", Value: aws.String("5")}},
			Metrics: []cell.Metric{{
				Name:             "canary-5xx",
				SuccessCondition: "len(result[0].Values) == 3 && all(result[0].Values, {# < {{args.max-errors}}})",
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
	cases := []struct {
		name   string
		canary string
		want   analysis.Phase
		values string
	}{
		{"healthy canary passes", healthy, analysis.PhaseSuccessful, `"values":[2,0,1]`},
		{"broken canary fails", broken, analysis.PhaseFailed, `"values":[90,40,1]`},
		{"canary without data is inconclusive", quiet, analysis.PhaseInconclusive, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			counter.Reset()
			_, res := step(t, tmpl, map[string]string{cell.ArgCanaryTargetGroup: tc.canary, cell.ArgLoadBalancer: lb}, cloudwatch.New(client), now)
			r := res.Measurements[0]
			if res.Phase != tc.want || r.Phase != tc.want {
				t.Fatalf("run %s, measurement %s (%s), want %s", res.Phase, r.Phase, r.Message, tc.want)
			}
			if tc.values != "" && !strings.Contains(string(r.Value), tc.values) {
				t.Errorf("value %s lacks %s (newest first)", r.Value, tc.values)
			}
			if n := counter.Count("CloudWatch.GetMetricData"); n != 1 {
				t.Errorf("%d GetMetricData calls, want 1 (%v)", n, counter.Snapshot())
			}
		})
	}
}
