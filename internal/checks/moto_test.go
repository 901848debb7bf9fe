package checks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/analysis/cloudwatch"
	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/weights"
)

var motoCells atomic.Int64

// TestCloudWatchCheckAgainstMoto runs StartAnalysis and the CloudWatch
// check with the real store (DynamoDB), discovery (ELBv2) and CloudWatch
// provider against the emulator. Each case is a Cell with its own stable
// and canary target groups; the canary's per-target-group ALB metrics are
// put under the dimension values okra's built-in arguments compute from
// the discovered target group and the listener ARN.
func TestCloudWatchCheckAgainstMoto(t *testing.T) {
	cfg, counter := testenv.AWS(t)
	ctx := context.Background()
	table := fmt.Sprintf("okra-checks-%d-%d", time.Now().UnixNano(), motoCells.Add(1))
	if err := store.CreateTable(ctx, cfg.DynamoDB(), table); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := store.New(cfg.DynamoDB(), table, store.Options{Logger: quiet})
	starter, err := checks.NewStarter(checks.Options{Store: st, Discovery: discovery.NewTargetGroups(cfg.ELBv2(), cfg.Tagging(), discovery.Options{Logger: quiet}), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	checker, err := checks.NewChecker(starter, analysis.KindCloudWatch, cloudwatch.New(cfg.CloudWatch()))
	if err != nil {
		t.Fatal(err)
	}
	network := testenv.NewNetwork(t, cfg.EC2())
	metrics := cfg.CloudWatch()

	cases := []struct {
		name   string
		values []float64
		want   checks.Phase
	}{
		{"healthy canary passes", []float64{1, 0, 2}, checks.PhaseSuccessful},
		{"failing canary fails", []float64{1, 60, 90}, checks.PhaseFailed},
		{"canary without data is inconclusive", nil, checks.PhaseInconclusive},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("moto-%d-%d", motoCells.Add(1), i)
			stableARN := createTargetGroup(t, cfg.ELBv2(), network.VPCID, name, "v1")
			canaryARN := createTargetGroup(t, cfg.ELBv2(), network.VPCID, name, "v2")
			// Conditions over CloudWatch's result shape, as in Argo Rollouts.
			m := cwMetric("canary-5xx")
			m.SuccessCondition = "all(result[0].Values, {# < {{args.max-errors}}})"
			m.FailureCondition = "any(result[0].Values, {# >= 10 * {{args.max-errors}}})"
			c := webCell(name, []string{"canary-5xx"}, template("canary-5xx", m))
			c.Spec.Ingress.ListenerARN = fmt.Sprintf("arn:aws:elasticloadbalancing:%s:%s:listener/app/%s/0123456789abcdef/fedcba9876543210", testenv.Region, testenv.AccountID, name)
			c.Spec.Ingress.TargetGroupSelector.MatchLabels = map[string]string{"okra:cell": name}
			if _, err := st.PutCell(ctx, c, 0); err != nil {
				t.Fatalf("PutCell: %v", err)
			}
			exec := fmt.Sprintf("arn:aws:states:%s:%s:execution:okra-rollout:%s--v2--1", testenv.Region, testenv.AccountID, name)
			if _, err := st.AcquireLease(ctx, name, exec, func(context.Context, string) (bool, error) { return false, nil }); err != nil {
				t.Fatalf("AcquireLease: %v", err)
			}
			if _, err := st.UpdateStatus(ctx, name, exec, func(s *rollout.Status) error {
				s.Phase, s.StableVersion, s.CanaryVersion, s.StepIndex = rollout.PhaseAnalyzing, "v1", "v2", 1
				s.Weights = weights.Forward{TargetGroups: []weights.TargetGroupWeight{{ARN: stableARN, Weight: 80}, {ARN: canaryARN, Weight: 20}}}
				return nil
			}); err != nil {
				t.Fatalf("UpdateStatus: %v", err)
			}

			tgDim, _ := checks.TargetGroupDimension(canaryARN)
			lbDim, _ := checks.LoadBalancerDimension(c.Spec.Ingress.ListenerARN)
			now := time.Now().UTC().Truncate(time.Second)
			var data []cwtypes.MetricDatum
			for j, v := range tc.values {
				data = append(data, cwtypes.MetricDatum{
					MetricName: aws.String("HTTPCode_Target_5XX_Count"),
					Dimensions: []cwtypes.Dimension{{Name: aws.String("TargetGroup"), Value: aws.String(tgDim)}, {Name: aws.String("LoadBalancer"), Value: aws.String(lbDim)}},
					Timestamp:  aws.Time(now.Add(-time.Duration(150-60*j) * time.Second)),
					Value:      aws.Float64(v),
					Unit:       cwtypes.StandardUnitCount,
				})
			}
			if len(data) > 0 {
				if _, err := metrics.PutMetricData(ctx, &cw.PutMetricDataInput{Namespace: aws.String("AWS/ApplicationELB"), MetricData: data}); err != nil {
					t.Fatalf("PutMetricData: %v", err)
				}
			}

			action := analyzeAction(c, 1)
			raw, err := starter.Start(ctx, name, exec, action)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			var state checks.State
			if err := json.Unmarshal(raw, &state); err != nil {
				t.Fatal(err)
			}
			if state.Run.Args["canary-target-group"] != tgDim || state.Run.Args["load-balancer"] != lbDim {
				t.Fatalf("built-in args = %v, want canary %s and load balancer %s", state.Run.Args, tgDim, lbDim)
			}
			counter.Reset()
			state, err = checker.Handle(ctx, checks.CheckInput{Cell: name, ExecutionARN: exec, Analysis: &state})
			if err != nil {
				t.Fatalf("check: %v", err)
			}
			if state.Phase != tc.want {
				t.Fatalf("phase %s (%s), want %s", state.Phase, state.Message, tc.want)
			}
			if n := counter.Count("CloudWatch.GetMetricData"); n != 1 {
				t.Errorf("%d GetMetricData calls, want 1 (%v)", n, counter.Snapshot())
			}

			events, err := st.ListEvents(ctx, name, 0, false)
			if err != nil {
				t.Fatalf("ListEvents: %v", err)
			}
			var kinds []string
			var measured *store.Measurement
			for _, ev := range events {
				kinds = append(kinds, string(ev.Type))
				if ev.Type == store.EventAnalysisMeasurement {
					measured = ev.Measurement
				}
			}
			if !strings.Contains(strings.Join(kinds, ","), "AnalysisStarted,AnalysisMeasurement,AnalysisCompleted") {
				t.Errorf("history = %v, want AnalysisStarted, AnalysisMeasurement, AnalysisCompleted", kinds)
			}
			if measured == nil {
				t.Fatalf("no measurement in the history: %v", kinds)
			}
			if measured.Verdict != string(tc.want) || !strings.Contains(measured.Query, tgDim) || !strings.Contains(measured.Query, lbDim) {
				t.Errorf("measurement %+v", measured)
			}
			var newestFirst []float64
			for j := len(tc.values) - 1; j >= 0; j-- {
				newestFirst = append(newestFirst, tc.values[j])
			}
			if fmt.Sprint(measured.Values) != fmt.Sprint(newestFirst) {
				t.Errorf("recorded values %v, want %v (newest first)", measured.Values, newestFirst)
			}
		})
	}
}

func createTargetGroup(t *testing.T, client *elbv2.Client, vpc, cellName, version string) string {
	t.Helper()
	out, err := client.CreateTargetGroup(context.Background(), &elbv2.CreateTargetGroupInput{
		Name:       aws.String(fmt.Sprintf("%s-%s", cellName, version)),
		Protocol:   elbv2types.ProtocolEnumHttp,
		Port:       aws.Int32(8080),
		VpcId:      aws.String(vpc),
		TargetType: elbv2types.TargetTypeEnumIp,
		Tags: []elbv2types.Tag{
			{Key: aws.String("okra:cell"), Value: aws.String(cellName)},
			{Key: aws.String("version"), Value: aws.String(version)},
		},
	})
	if err != nil {
		t.Fatalf("CreateTargetGroup: %v", err)
	}
	return aws.ToString(out.TargetGroups[0].TargetGroupArn)
}
