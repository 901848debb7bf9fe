package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/analysis/cloudwatch"
	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/local"
	"github.com/okrahq/okra/internal/onboarding"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/targetgroups"
	"github.com/okrahq/okra/internal/testenv"
)

// FunctionClusterEvents is the cluster-events function's name on the
// local gateway.
const FunctionClusterEvents = "okra-cluster-events"

// Invocation is one handler call the recorder saw.
type Invocation struct {
	Function string
	// Operation is the payload's "operation" (rollout-plan,
	// rollout-weights, rollout-rollback), if any.
	Operation string
	// Returned is the kind of the action a NextStep returned.
	Returned string
	// Calls are the AWS calls the handler made, by operation.
	Calls          map[string]int
	Began, Ended   time.Time
	Error          string
	sequenceNumber int
}

// Duration is how long the handler ran.
func (i Invocation) Duration() time.Duration { return i.Ended.Sub(i.Began) }

// recorder wraps handlers so each invocation's AWS calls are its own: it
// runs one invocation at a time (the rollout's only concurrency is the
// background-analysis branch, a single short call here) and diffs the
// shared CallCounter around it.
type recorder struct {
	mu      sync.Mutex
	counter *awsapi.CallCounter
	calls   []Invocation
}

func (r *recorder) wrap(function string, handler any) local.HandlerFunc {
	return func(ctx context.Context, payload json.RawMessage) (any, error) {
		var probe struct {
			Operation string `json:"operation"`
		}
		_ = json.Unmarshal(payload, &probe) // a payload without one is fine
		r.mu.Lock()
		defer r.mu.Unlock()
		before := r.counter.Snapshot()
		inv := Invocation{Function: function, Operation: probe.Operation, Began: time.Now()}
		// A fresh lambda.Handler per call: its output buffer is pooled.
		out, err := lambda.NewHandler(handler).Invoke(ctx, payload)
		inv.Ended = time.Now()
		inv.Calls = diff(r.counter.Snapshot(), before)
		if err != nil {
			inv.Error = fmt.Sprintf("%T", err)
		}
		var kind struct {
			Kind string `json:"kind"`
		}
		if err == nil && json.Unmarshal(out, &kind) == nil {
			inv.Returned = kind.Kind
		}
		inv.sequenceNumber = len(r.calls)
		r.calls = append(r.calls, inv)
		if err != nil {
			return nil, err
		}
		return json.RawMessage(bytes.Clone(out)), nil
	}
}

func (r *recorder) snapshot() []Invocation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Invocation(nil), r.calls...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = nil
}

func diff(after, before map[string]int) map[string]int {
	out := map[string]int{}
	for op, n := range after {
		if d := n - before[op]; d > 0 {
			out[op] = d
		}
	}
	return out
}

// RolloutRun is one rollout, triggered by a new cluster's CreateCluster
// event, run end to end by moto's Step Functions against okra's handlers.
type RolloutRun struct {
	Steps         []string
	ExecutionARN  string
	Status        string
	Wall          time.Duration // cluster-events invoked → execution ended (noisy)
	StatesEntered []string      // in history order
	Invocations   []Invocation  // in order, cluster-events first
	// GatewayInvocations per function, from the gateway's own counter.
	GatewayInvocations map[string]int
	// FirstWeightChange is okra's overhead from the cluster-events
	// invocation to the end of the invocation that made the first
	// ModifyListener.
	FirstWeightChange Overhead
	// Configured is the time the Cell's pauses and analysis are set to
	// take, for reading Wall.
	Configured string
}

// Overhead is a slice of the run: calls, invocations, transitions, wall.
type Overhead struct {
	Invocations int
	Calls       map[string]int
	Transitions int
	Wall        time.Duration
}

// rolloutPause is the canary's timed pause.
const rolloutPause = 2 * time.Second

// RunRollout deploys okra into a fresh local stack with every handler
// wrapped by the recorder and its AWS calls counted, builds a Cell whose
// listener forwards 100% to v1 (one cluster, one target group with a
// healthy target), reconciles once (uncounted, as the schedule would
// have), creates a v2 cluster and invokes cluster-events with its
// CreateCluster event. The Cell's canary is setWeight 20, pause 2s,
// setWeight 50, a CloudWatch analysis (one measurement of the canary's
// 5xx count, which moto holds), setWeight 80; then the implicit 100% and
// Finalize after a 1s rollback window.
func RunRollout(ctx context.Context, log *slog.Logger) (RolloutRun, error) {
	run := RolloutRun{
		Steps:      []string{"setWeight 20", "pause 2s", "setWeight 50", "analysis (CloudWatch, 1 metric)", "setWeight 80", "(implicit 100%)"},
		Configured: "2s pause + 1s rollback window",
	}
	stack, err := local.Start(ctx, local.Options{Logger: log, FunctionTimeout: time.Minute})
	if err != nil {
		return run, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = stack.Stop(stopCtx)
	}()
	okra, err := local.Deploy(ctx, stack, local.OkraOptions{Logger: log})
	if err != nil {
		return run, err
	}
	counter := awsapi.NewCallCounter()
	cfg, err := stack.Config(ctx, counter)
	if err != nil {
		return run, err
	}
	setup := okra.AWS
	rec := &recorder{counter: counter}
	ob, err := wire(ctx, stack, okra, cfg, setup, rec, log)
	if err != nil {
		return run, err
	}

	network, err := testenv.CreateNetwork(ctx, setup.EC2())
	if err != nil {
		return run, err
	}
	v1, err := createCluster(ctx, setup.EKS(), network, "web-1-v1", "v1")
	if err != nil {
		return run, err
	}
	listenerARN, err := createALB(ctx, setup.ELBv2(), network, elbv2types.Action{
		Type: elbv2types.ActionTypeEnumFixedResponse,
		FixedResponseConfig: &elbv2types.FixedResponseActionConfig{
			StatusCode: aws.String("404"), ContentType: aws.String("text/plain"),
		},
	})
	if err != nil {
		return run, err
	}
	c := rolloutCell(listenerARN)
	if err := cell.Validate(c, nil); err != nil {
		return run, fmt.Errorf("the rollout Cell is invalid, %w", err)
	}
	if _, err := okra.Store.PutCell(ctx, c, 0); err != nil {
		return run, err
	}
	defaulted := *c
	defaulted.Default()
	tgs, err := targetgroups.New(targetgroups.Deps{ELBv2: setup.ELBv2(), Tagging: setup.Tagging(), EKS: setup.EKS(), Logger: log})
	if err != nil {
		return run, err
	}
	tg1, err := tgs.Ensure(ctx, &defaulted, v1)
	if err != nil {
		return run, err
	}
	if _, err := setup.ELBv2().RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
		TargetGroupArn: aws.String(tg1.ARN), Targets: []elbv2types.TargetDescription{{Id: aws.String("10.0.0.10")}},
	}); err != nil {
		return run, err
	}
	if _, err := setup.ELBv2().ModifyListener(ctx, &elbv2.ModifyListenerInput{
		ListenerArn: aws.String(listenerARN),
		DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, ForwardConfig: &elbv2types.ForwardActionConfig{
			TargetGroups: []elbv2types.TargetGroupTuple{{TargetGroupArn: aws.String(tg1.ARN), Weight: aws.Int32(100)}},
		}}},
	}); err != nil {
		return run, err
	}
	// The schedule's reconcile adopts v1: registered, stable.
	if _, err := ob.ReconcileAll(ctx); err != nil {
		return run, fmt.Errorf("the adopting reconcile, %w", err)
	}

	v2, err := createCluster(ctx, setup.EKS(), network, "web-1-v2", "v2")
	if err != nil {
		return run, err
	}
	event, err := createClusterEvent(v2.Name, v2.Tags)
	if err != nil {
		return run, err
	}
	baseline := map[string]int{}
	for _, fn := range stack.Gateway.Functions() {
		baseline[fn] = stack.Gateway.Invocations(fn)
	}
	counter.Reset()
	rec.reset()
	began := time.Now()
	if err := invoke(ctx, stack.Endpoint, FunctionClusterEvents, event); err != nil {
		return run, err
	}
	// The canary's 5xx counts, where the analysis' built-in arguments
	// look (the v2 target group exists now); the 2s pause comes first.
	if err := putCanaryErrors(ctx, setup, listenerARN, v2.Name, c.Metadata.Name); err != nil {
		return run, err
	}
	list, err := setup.SFN().ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(okra.StateMachineARN)})
	if err != nil {
		return run, err
	}
	if len(list.Executions) != 1 {
		return run, fmt.Errorf("the CreateCluster event started %d executions, want 1", len(list.Executions))
	}
	run.ExecutionARN = aws.ToString(list.Executions[0].ExecutionArn)
	out, err := testenv.WaitExecution(ctx, setup.SFN(), run.ExecutionARN, 3*time.Minute)
	if err != nil {
		return run, err
	}
	run.Wall = time.Since(began)
	run.Status = string(out.Status)
	if out.Status != sfntypes.ExecutionStatusSucceeded {
		return run, fmt.Errorf("the rollout ended %s (%s: %s)", out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	if run.StatesEntered, err = statesEntered(ctx, setup.SFN(), run.ExecutionARN); err != nil {
		return run, err
	}
	run.Invocations = rec.snapshot()
	run.GatewayInvocations = map[string]int{}
	for _, fn := range stack.Gateway.Functions() {
		if d := stack.Gateway.Invocations(fn) - baseline[fn]; d > 0 {
			run.GatewayInvocations[fn] = d
		}
	}
	run.FirstWeightChange = firstWeightChange(run, began)
	return run, nil
}

// wire registers every function on the gateway again, built as
// local.Deploy builds them but over cfg (counted) and wrapped by rec, plus
// cluster-events over the deployment's state machine with the in-memory
// ArgoCD. It returns the Onboarder (unwrapped, for setup).
func wire(ctx context.Context, stack *local.Stack, okra *local.Okra, cfg, setup awsapi.Config, rec *recorder, log *slog.Logger) (*onboarding.Onboarder, error) {
	opts := options.Options{Region: testenv.Region, TableName: okra.TableName, StateMachineARN: okra.StateMachineARN, ClusterActiveTimeout: 30 * time.Second}
	deps, err := steps.DepsFromConfig(cfg, opts, log)
	if err != nil {
		return nil, err
	}
	st := store.New(cfg.DynamoDB(), okra.TableName, store.Options{Logger: log})
	deps.Store = st
	starter, err := checks.NewStarter(checks.Options{
		Store: st, Discovery: discovery.NewTargetGroups(cfg.ELBv2(), cfg.Tagging(), discovery.Options{Logger: log}), Logger: log,
	})
	if err != nil {
		return nil, err
	}
	deps.Analysis = starter
	h, err := steps.New(deps)
	if err != nil {
		return nil, err
	}
	// As in the check functions: no discovery (their role reads no load
	// balancers).
	checkStarter, err := checks.NewStarter(checks.Options{Store: st, Logger: log})
	if err != nil {
		return nil, err
	}
	cwCheck, err := checks.NewChecker(checkStarter, analysis.KindCloudWatch, cloudwatch.New(cfg.CloudWatch()))
	if err != nil {
		return nil, err
	}
	obDeps, err := onboarding.DepsFromAWS(ctx, opts, cfg, log)
	if err != nil {
		return nil, err
	}
	obDeps.ArgoCD = newAppRegistry(setup.ELBv2())
	ob, err := onboarding.New(obDeps)
	if err != nil {
		return nil, err
	}
	for name, handler := range map[string]any{
		local.FunctionRolloutPlan:     h.Plan,
		local.FunctionRolloutWeights:  h.Weights,
		local.FunctionRolloutApproval: h.AwaitApproval,
		local.FunctionRolloutRollback: h.RollbackHandler,
		local.FunctionRolloutFinalize: h.Finalize,
		local.FunctionCheckCloudWatch: cwCheck.Handle,
		FunctionClusterEvents:         ob.ClusterEvents,
	} {
		if err := stack.Gateway.Register(name, rec.wrap(name, handler)); err != nil {
			return nil, err
		}
	}
	return ob, nil
}

// rolloutCell is the 5-step canary Cell with one replica and a CloudWatch
// analysis template on the canary's ALB 5xx count.
func rolloutCell(listenerARN string) *cell.Cell {
	c := benchCell("web", listenerARN, 1,
		cell.Step{SetWeight: int32p(20)},
		cell.Step{Pause: &cell.Pause{Duration: &cell.Duration{Duration: rolloutPause}}},
		cell.Step{SetWeight: int32p(50)},
		cell.Step{Analysis: &cell.Analysis{Templates: []cell.TemplateRef{{TemplateName: "canary-5xx"}}}},
		cell.Step{SetWeight: int32p(80)},
	)
	c.Spec.RollbackWindow = &cell.Duration{Duration: time.Second}
	c.Spec.AnalysisTemplates = []cell.AnalysisTemplate{testenv.CanaryErrorsTemplate("canary-5xx")}
	return c
}

// putCanaryErrors puts three one-minute 5xx counts of the cluster's
// target group in cellName into CloudWatch.
func putCanaryErrors(ctx context.Context, setup awsapi.Config, listenerARN, cluster, cellName string) error {
	arn, err := targetGroupOf(ctx, setup.ELBv2(), targetgroups.Name(cellName, cluster))
	if err != nil {
		return err
	}
	tg, err := checks.TargetGroupDimension(arn)
	if err != nil {
		return err
	}
	lb, err := checks.LoadBalancerDimension(listenerARN)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	var data []cwtypes.MetricDatum
	for i, v := range []float64{1, 0, 2} {
		data = append(data, cwtypes.MetricDatum{
			MetricName: aws.String("HTTPCode_Target_5XX_Count"),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("TargetGroup"), Value: aws.String(tg)}, {Name: aws.String("LoadBalancer"), Value: aws.String(lb)}},
			Timestamp:  aws.Time(now.Add(-time.Duration(30+60*(2-i)) * time.Second)),
			Value:      aws.Float64(v), Unit: cwtypes.StandardUnitCount,
		})
	}
	_, err = setup.CloudWatch().PutMetricData(ctx, &cw.PutMetricDataInput{Namespace: aws.String("AWS/ApplicationELB"), MetricData: data})
	return err
}

func targetGroupOf(ctx context.Context, elb *elbv2.Client, name string) (string, error) {
	out, err := elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{name}})
	if err != nil {
		return "", fmt.Errorf("finding target group %s, %w", name, err)
	}
	return aws.ToString(out.TargetGroups[0].TargetGroupArn), nil
}

// createClusterEvent is events/eks-create-cluster.json about cluster name.
func createClusterEvent(name string, tags map[string]string) ([]byte, error) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(root, "events", "eks-create-cluster.json"))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	detail := m["detail"].(map[string]any)
	req := detail["requestParameters"].(map[string]any)
	req["name"], req["tags"] = name, tags
	cl := detail["responseElements"].(map[string]any)["cluster"].(map[string]any)
	cl["name"], cl["tags"] = name, tags
	cl["arn"] = fmt.Sprintf("arn:aws:eks:%s:%s:cluster/%s", testenv.Region, testenv.AccountID, name)
	return json.Marshal(m)
}

// invoke calls a function on the gateway through the Lambda Invoke API and
// fails on a function error.
func invoke(ctx context.Context, endpoint, function string, payload []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/2015-03-31/functions/"+function+"/invocations", bytes.NewReader(payload))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("invoking %s, %w", function, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "" {
		return fmt.Errorf("invoking %s: %s %s", function, resp.Status, body)
	}
	return nil
}

// statesEntered lists the states the execution entered, in order.
func statesEntered(ctx context.Context, api *sfn.Client, arn string) ([]string, error) {
	var out []string
	pages := sfn.NewGetExecutionHistoryPaginator(api, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000})
	for pages.HasMorePages() {
		p, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the execution history, %w", err)
		}
		for _, ev := range p.Events {
			if strings.HasSuffix(string(ev.Type), "StateEntered") {
				name := string(ev.Type)
				if ev.StateEnteredEventDetails != nil {
					name = aws.ToString(ev.StateEnteredEventDetails.Name)
				}
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// firstWeightChange sums the invocations from cluster-events to the one
// that made the first ModifyListener, and the states entered up to the
// first SetWeights.
func firstWeightChange(run RolloutRun, began time.Time) Overhead {
	o := Overhead{Calls: map[string]int{}}
	for _, inv := range run.Invocations {
		o.Invocations++
		for op, n := range inv.Calls {
			o.Calls[op] += n
		}
		if inv.Calls[opModifyListener] > 0 {
			o.Wall = inv.Ended.Sub(began)
			break
		}
	}
	for _, s := range run.StatesEntered {
		o.Transitions++
		if s == "SetWeights" {
			break
		}
	}
	return o
}

// background are the states of the background-analysis branch and the
// wrapper states around the steps, kept out of step segments.
var background = map[string]bool{
	"AcquireLease": true, "Rollout": true, "RolloutDone": true, "StartBackgroundAnalysis": true,
	"WaitForBackgroundMeasurement": true, "BackgroundWithCloudWatch?": true, "BackgroundCheckCloudWatch": true,
	"BackgroundWithDatadog?": true, "BackgroundCheckDatadog": true, "BackgroundVerdict": true, "BackgroundDone": true,
}

// Segment is one pass through the step loop: from NextStep to the state
// before the next NextStep.
type Segment struct {
	Kind        string // the action NextStep returned
	States      []string
	Invocations []Invocation
}

// Calls sums the segment's AWS calls.
func (s Segment) Calls() map[string]int {
	out := map[string]int{}
	for _, inv := range s.Invocations {
		for op, n := range inv.Calls {
			out[op] += n
		}
	}
	return out
}

// Segments splits the run's step loop into passes: states from the
// history (each NextStep opens one), invocations from the recorder (each
// NextStep invocation opens one; its returned action names it).
func (r RolloutRun) Segments() []Segment {
	var segs []Segment
	for _, s := range r.StatesEntered {
		if background[s] {
			continue
		}
		if s == "NextStep" {
			segs = append(segs, Segment{})
		}
		if len(segs) > 0 {
			segs[len(segs)-1].States = append(segs[len(segs)-1].States, s)
		}
	}
	i := -1
	for _, inv := range r.Invocations {
		if inv.Function == local.FunctionRolloutPlan && inv.Operation == steps.OpNextStep {
			i++
		}
		if i >= 0 && i < len(segs) && inv.Operation != steps.OpStartBackgroundAnalysis {
			segs[i].Invocations = append(segs[i].Invocations, inv)
			if inv.Operation == steps.OpNextStep {
				segs[i].Kind = inv.Returned
			}
		}
	}
	return segs
}

// Totals are the run's rollout-side figures (cluster-events excluded).
func (r RolloutRun) Totals() (invocations int, calls map[string]int, billed time.Duration) {
	calls = map[string]int{}
	for _, inv := range r.Invocations {
		if inv.Function == FunctionClusterEvents {
			continue
		}
		invocations++
		billed += inv.Duration().Round(time.Millisecond)
		for op, n := range inv.Calls {
			calls[op] += n
		}
	}
	return invocations, calls, billed
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
