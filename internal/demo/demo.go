// Package demo runs a whole cluster hot-swap locally, for `okra demo` and
// `make demo`: moto behind okra's local Lambda gateway with okra deployed
// into it (internal/local), a VPC, an ALB and its listener, the Cell
// "web", two v1 EKS clusters brought to 100% the way okra does it (their
// CloudTrail CreateCluster events fed to the cluster-events function),
// then two v2 clusters whose events start a rollout that the rollout
// state machine carries out while simulated traffic publishes ALB
// metrics. It prints the rollout's progress as it goes and, at the end,
// the listener, the ArgoCD cluster secrets okra would apply and the
// Cell's history.
//
// The package owns the scenario only: every decision is okra's own code
// (the handlers the Lambda functions run). It stands in for what is not
// okra: the user's IaC creating clusters and EventBridge delivering their
// CloudTrail events, ArgoCD with the AWS Load Balancer Controller
// registering pods in target groups, and the clients sending traffic.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/local"
	"github.com/okrahq/okra/internal/onboarding"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/weights"
)

// FunctionClusterEvents is the name the demo registers the cluster-events
// handler under on the gateway (as `okra local up` does).
const FunctionClusterEvents = "okra-cluster-events"

// DefaultTimeout bounds the rollout execution.
const DefaultTimeout = 3 * time.Minute

// Env is the running demo, as a StatusView needs it.
type Env struct {
	// Endpoint is the local gateway's URL (every AWS call goes there).
	Endpoint string
	// MotoPort is the port of the moto process behind the gateway.
	MotoPort        int
	AWS             awsapi.Config
	Store           *store.Store
	TableName       string
	StateMachineARN string
	Cell            string
}

// StatusView draws one frame of the Cell's rollout status as text.
type StatusView func(ctx context.Context, now time.Time) (string, error)

// Options configure Run.
type Options struct {
	// Scenario is ScenarioDefault (the default) or ScenarioBadCanary.
	Scenario string
	// Out receives the progress and the final report.
	Out io.Writer
	// Interactive redraws the status in place with ANSI sequences (Out
	// is a terminal); otherwise a status frame is appended each time the
	// rollout moves on.
	Interactive bool
	// NewStatusView builds the status screen once okra runs (the CLI
	// passes `okra rollout status`'s renderer); nil uses a plain one.
	NewStatusView func(env Env) (StatusView, error)
	// Started, when set, is called once moto and the gateway run.
	Started func(env Env)
	// Port of the gateway on 127.0.0.1; 0 picks a free one.
	Port int
	// Logger receives okra's and the gateway's logs (default: discarded).
	Logger *slog.Logger
	// MotoLog receives moto's output; nil discards it.
	MotoLog io.Writer
	// Timeout bounds the rollout execution (default DefaultTimeout).
	Timeout time.Duration
	// RefreshInterval is the time between status frames (default 1s).
	RefreshInterval time.Duration
}

// Result is how the demo ended.
type Result struct {
	Scenario string
	// ExecutionARN and ExecutionStatus are the rollout execution's.
	ExecutionARN    string
	ExecutionStatus string
	// Status is the Cell's final status.
	Status rollout.Status
	// Before is the listener's forward action before the rollout
	// (v1 at 100%), Final the one at the end.
	Before weights.Forward
	Final  weights.Forward
	// TargetGroups maps each cluster to its target group's ARN.
	TargetGroups map[string]string
	// History is the Cell's history, oldest first.
	History []store.Event
	Blocked []rollout.Block
	// Secrets are the ArgoCD cluster secrets okra would have applied.
	Secrets []Secret
	// TrafficTicks and TrafficFailures count the simulator's intervals.
	TrafficTicks, TrafficFailures int
}

// Run plays the scenario. It stops everything it started (moto, the
// gateway, the traffic simulator) before it returns, also when ctx is
// cancelled. It returns an error when the rollout does not end as the
// scenario says it must (Stable at v2, or RolledBack with v2 blocked and
// the listener exactly as before).
func Run(ctx context.Context, o Options) (res Result, err error) {
	sc, err := scenarioFor(o.Scenario)
	if err != nil {
		return res, err
	}
	res.Scenario = sc.name
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = time.Second
	}
	p := &printer{w: o.Out, start: time.Now()}
	p.title(fmt.Sprintf("okra demo: scenario %q", sc.name))
	p.say("%s", sc.summary)

	p.step("starting moto behind okra's local Lambda gateway")
	stack, err := local.Start(ctx, local.Options{Port: o.Port, Logger: o.Logger, MotoLog: o.MotoLog, FunctionTimeout: time.Minute})
	if err != nil {
		return res, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if stopErr := stack.Stop(stopCtx); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		p.say("stopped moto and the gateway")
	}()
	p.say("endpoint %s (moto on port %d)", stack.Endpoint, stack.Moto.Port)

	p.step("deploying okra: DynamoDB table, rollout state machine, function handlers")
	okra, err := local.Deploy(ctx, stack, local.OkraOptions{Logger: o.Logger})
	if err != nil {
		return res, fmt.Errorf("deploying okra into the local stack, %w", err)
	}
	env := Env{
		Endpoint: stack.Endpoint, MotoPort: stack.Moto.Port, AWS: okra.AWS, Store: okra.Store,
		TableName: okra.TableName, StateMachineARN: okra.StateMachineARN, Cell: CellName,
	}
	if o.Started != nil {
		o.Started(env)
	}
	apps := newAppDeployer(okra.AWS.ELBv2())
	deps, err := onboarding.DepsFromAWS(ctx, options.Options{
		Region: local.DefaultRegion, Endpoint: stack.Endpoint, TableName: okra.TableName,
		StateMachineARN: okra.StateMachineARN, ClusterActiveTimeout: 30 * time.Second,
	}, okra.AWS, o.Logger)
	if err != nil {
		return res, err
	}
	deps.ArgoCD = apps
	onboarder, err := onboarding.New(deps)
	if err != nil {
		return res, err
	}
	if err := stack.Gateway.Register(FunctionClusterEvents, onboarder.ClusterEvents); err != nil {
		return res, err
	}
	p.say("state machine %s", okra.StateMachineARN)

	d := &run{o: o, p: p, sc: sc, stack: stack, okra: okra, apps: apps, env: env,
		lis: listener.New(okra.AWS.ELBv2(), listener.Options{Logger: o.Logger}), groups: map[string]string{}}
	return d.play(ctx)
}

// run is one demo in progress.
type run struct {
	o       Options
	p       *printer
	sc      scenario
	stack   *local.Stack
	okra    *local.Okra
	apps    *appDeployer
	env     Env
	lis     *listener.Client
	spec    *cell.Cell
	subnets []string
	groups  map[string]string // cluster -> target group ARN
}

func (d *run) play(ctx context.Context) (Result, error) {
	res := Result{Scenario: d.sc.name, TargetGroups: d.groups}
	cfg := d.okra.AWS

	d.p.step("creating the network and the load balancer")
	network, err := testenv.CreateNetwork(ctx, cfg.EC2())
	if err != nil {
		return res, err
	}
	d.subnets = network.SubnetIDs
	lb, err := cfg.ELBv2().CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: strPtr("web-alb"), Subnets: network.SubnetIDs, Type: elbv2types.LoadBalancerTypeEnumApplication,
	})
	if err != nil {
		return res, fmt.Errorf("creating the load balancer, %w", err)
	}
	lis, err := cfg.ELBv2().CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Port: int32Ptr(80), Protocol: elbv2types.ProtocolEnumHttp,
		DefaultActions: []elbv2types.Action{{
			Type: elbv2types.ActionTypeEnumFixedResponse,
			FixedResponseConfig: &elbv2types.FixedResponseActionConfig{
				StatusCode: strPtr("404"), ContentType: strPtr("text/plain"), MessageBody: strPtr("no route"),
			},
		}},
	})
	if err != nil {
		return res, fmt.Errorf("creating the listener, %w", err)
	}
	listenerARN := deref(lis.Listeners[0].ListenerArn)
	d.p.say("VPC %s, subnets %s", network.VPCID, strings.Join(network.SubnetIDs, ", "))
	d.p.say("ALB web-alb, HTTP listener :80 (default action: fixed 404; okra creates the Cell's rule)")

	d.p.step("applying the Cell %q (as `okra cell apply` stores it)", CellName)
	if d.spec, err = d.applyCell(ctx, listenerARN); err != nil {
		return res, err
	}
	steps := d.spec.Spec.UpdateStrategy.Canary.Steps
	d.p.say("replicas 2, rule priority 10 on /*, %d canary steps: %s; rollbackWindow %s", len(steps), describeSteps(steps), rollbackWindow)

	d.p.step("creating the v1 clusters and delivering their CreateCluster events to cluster-events")
	if err := d.createClusters(ctx, v1Clusters); err != nil {
		return res, err
	}
	before, err := d.lis.Read(ctx, d.spec.Spec.Ingress)
	if err != nil {
		return res, fmt.Errorf("reading the Cell's forward action, %w", err)
	}
	if st, err := d.okra.Store.GetStatus(ctx, CellName); err != nil {
		return res, err
	} else if st.Status.StableVersion != "v1" || len(before.TargetGroups) != len(v1Clusters) {
		return res, fmt.Errorf("after the v1 clusters the Cell is %s (stable %q) forwarding %s, want v1 at 100%%: %s",
			st.Status.Phase, st.Status.StableVersion, d.describe(before), st.Status.Message)
	}
	res.Before = before
	d.p.say("first deployment: okra created the rule forwarding %s", d.describe(before))

	d.p.step("starting simulated traffic (ALB metrics every %s; 5xx rate v1 %.1f%%, v2 %.1f%%)",
		trafficInterval, 100*d.sc.errorRate["v1"], 100*d.sc.errorRate["v2"])
	tr, err := newTraffic(cfg.CloudWatch(), d.lis, d.spec.Spec.Ingress, d.sc.errorRate)
	if err != nil {
		return res, err
	}
	tr.setGroups(d.versions())
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	trafficDone := make(chan struct{})
	go tr.run(trafficCtx, trafficDone)
	defer func() {
		stopTraffic()
		<-trafficDone
	}()

	d.p.step("creating the v2 clusters and delivering their CreateCluster events to cluster-events")
	if err := d.createClusters(ctx, v2Clusters); err != nil {
		return res, err
	}
	tr.setGroups(d.versions())
	execARN, err := d.execution(ctx)
	if err != nil {
		return res, err
	}
	res.ExecutionARN = execARN
	d.p.say("okra started rollout %s", execARN[strings.LastIndex(execARN, ":")+1:])

	d.p.step("watching the rollout")
	view, err := d.statusView()
	if err != nil {
		return res, err
	}
	out, err := d.watch(ctx, execARN, view)
	if err != nil {
		return res, err
	}
	res.ExecutionStatus = string(out.Status)
	stopTraffic()
	<-trafficDone
	res.TrafficTicks, res.TrafficFailures, _ = tr.stats()
	return d.report(ctx, res, out)
}

// applyCell stores the demo's Cell as `okra cell apply` does: decoded
// strictly, validated, defaulted and written at revision 1.
func (d *run) applyCell(ctx context.Context, listenerARN string) (*cell.Cell, error) {
	c, err := cell.Decode([]byte(CellDocument(listenerARN)))
	if err != nil {
		return nil, fmt.Errorf("decoding the demo's Cell, %w", err)
	}
	if err := cell.Validate(c, nil); err != nil {
		return nil, fmt.Errorf("the demo's Cell is invalid, %w", err)
	}
	c.Default()
	if _, err := d.okra.Store.PutCell(ctx, c, 0); err != nil {
		return nil, err
	}
	return c, nil
}

// createClusters creates each cluster in the emulator, as the user's IaC
// would, and delivers its CloudTrail CreateCluster event to the
// cluster-events function through the gateway's Lambda Invoke API, as
// EventBridge would. okra creates the target group, "applies" the ArgoCD
// secret (the app deployer registers the pods) and evaluates the Cell.
func (d *run) createClusters(ctx context.Context, clusters []clusterSpec) error {
	for _, c := range clusters {
		out, err := d.okra.AWS.EKS().CreateCluster(ctx, &eks.CreateClusterInput{
			Name: strPtr(c.name), RoleArn: strPtr(testenv.RoleARN),
			ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: d.subnets}, Tags: c.tags(),
		})
		if err != nil {
			return fmt.Errorf("creating EKS cluster %s, %w", c.name, err)
		}
		event, err := CreateClusterEvent(c.name, deref(out.Cluster.Arn), c.tags(), d.subnets)
		if err != nil {
			return err
		}
		if err := d.invoke(ctx, FunctionClusterEvents, event); err != nil {
			return err
		}
		tgs, err := discovery.Tagged(ctx, d.okra.AWS.Tagging(), map[string]string{"okra:cluster": c.name}, discovery.Options{Logger: d.o.Logger})
		if err != nil {
			return err
		}
		if len(tgs) != 1 {
			return fmt.Errorf("okra made %d target groups for cluster %s, want 1", len(tgs), c.name)
		}
		d.groups[c.name] = tgs[0].ARN
		st, err := d.okra.Store.GetStatus(ctx, CellName)
		if err != nil {
			return err
		}
		d.p.say("%-9s tags name=%s,role=web,version=%s → target group %s; %s", c.name, c.name, c.version, targetGroupName(tgs[0].ARN), firstLine(st.Status.Message))
	}
	return nil
}

// CreateClusterEvent is events/eks-create-cluster.json rewritten for one
// cluster: its name, ARN, tags and subnets.
func CreateClusterEvent(name, arn string, tags map[string]string, subnets []string) ([]byte, error) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(root, "events", "eks-create-cluster.json"))
	if err != nil {
		return nil, fmt.Errorf("reading the sample CreateCluster event, %w", err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("decoding events/eks-create-cluster.json, %w", err)
	}
	detail, _ := ev["detail"].(map[string]any)
	req, _ := detail["requestParameters"].(map[string]any)
	resp, _ := detail["responseElements"].(map[string]any)
	cl, _ := resp["cluster"].(map[string]any)
	if req == nil || cl == nil {
		return nil, errors.New("events/eks-create-cluster.json lacks detail.requestParameters or detail.responseElements.cluster")
	}
	now := time.Now().UTC().Format(time.RFC3339)
	ev["id"], ev["time"], detail["eventTime"] = "demo-"+name, now, now
	req["name"], req["tags"] = name, tags
	cl["name"], cl["arn"], cl["tags"] = name, arn, tags
	for _, m := range []map[string]any{req, cl} {
		if vpc, ok := m["resourcesVpcConfig"].(map[string]any); ok {
			vpc["subnetIds"] = subnets
		}
	}
	return json.Marshal(ev)
}

// invoke calls a function through the gateway's Lambda Invoke API.
func (d *run) invoke(ctx context.Context, function string, payload []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.stack.Endpoint+"/2015-03-31/functions/"+function+"/invocations", bytes.NewReader(payload))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("invoking %s, %w", function, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "" {
		return fmt.Errorf("invoking %s: HTTP %d: %s", function, resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// versions maps each known target group to its version.
func (d *run) versions() map[string]string {
	out := map[string]string{}
	for _, c := range append(slices.Clone(v1Clusters), v2Clusters...) {
		if arn, ok := d.groups[c.name]; ok {
			out[arn] = c.version
		}
	}
	return out
}

// execution finds the rollout execution cluster-events started.
func (d *run) execution(ctx context.Context) (string, error) {
	name := executions.Name(CellName, "v2", 1)
	out, err := d.okra.AWS.SFN().ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: strPtr(d.okra.StateMachineARN)})
	if err != nil {
		return "", fmt.Errorf("listing rollout executions, %w", err)
	}
	for _, x := range out.Executions {
		if deref(x.Name) == name {
			return deref(x.ExecutionArn), nil
		}
	}
	st, _ := d.okra.Store.GetStatus(ctx, CellName)
	return "", fmt.Errorf("cluster-events did not start rollout %s; the Cell says: %s", name, st.Status.Message)
}

// statusView builds the status screen.
func (d *run) statusView() (StatusView, error) {
	if d.o.NewStatusView != nil {
		return d.o.NewStatusView(d.env)
	}
	return plainStatusView(d), nil
}

// watch shows the rollout until its execution ends.
func (d *run) watch(ctx context.Context, execARN string, view StatusView) (*sfn.DescribeExecutionOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	tick := time.NewTicker(d.o.RefreshInterval)
	defer tick.Stop()
	lastKey := ""
	first := true
	for {
		out, err := d.okra.AWS.SFN().DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: strPtr(execARN)})
		if err != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("describing the rollout execution, %w", err)
		}
		running := err != nil || out.Status == sfntypes.ExecutionStatusRunning
		if err := d.frame(ctx, view, &lastKey, first, !running); err != nil && ctx.Err() == nil {
			return nil, err
		}
		first = false
		if !running {
			return out, nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, fmt.Errorf("the rollout did not end within %s", d.o.Timeout)
			}
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// frame draws the status: on a terminal in place every refresh; otherwise
// appended, each time the phase, step, weights or measurements change.
func (d *run) frame(ctx context.Context, view StatusView, lastKey *string, first, last bool) error {
	key, err := d.progressKey(ctx)
	if err != nil {
		return err
	}
	if !d.o.Interactive && key == *lastKey && !last {
		return nil
	}
	*lastKey = key
	text, err := view(ctx, time.Now())
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if d.o.Interactive {
		if first {
			out.WriteString(ansiClearScreen)
		}
		out.WriteString(ansiHome)
		fmt.Fprintf(&out, "okra demo (%s) — %s elapsed%s\n\n", d.sc.name, d.p.elapsed(), ansiClearLine)
		for _, line := range strings.SplitAfter(text, "\n") {
			if line != "" {
				out.WriteString(strings.TrimSuffix(line, "\n") + ansiClearLine + "\n")
			}
		}
		out.WriteString(ansiClearBelow)
	} else {
		fmt.Fprintf(&out, "\n--- %s (+%s)\n%s", time.Now().UTC().Format("15:04:05Z"), d.p.elapsed(), text)
	}
	_, err = d.o.Out.Write(out.Bytes())
	return err
}

// progressKey summarizes what a new frame would show that matters.
func (d *run) progressKey(ctx context.Context) (string, error) {
	rec, err := d.okra.Store.GetStatus(ctx, CellName)
	if err != nil {
		return "", err
	}
	st := rec.Status
	fwd, err := d.lis.Read(ctx, d.spec.Spec.Ingress)
	if err != nil {
		return "", err
	}
	evs, err := d.okra.Store.ListEvents(ctx, CellName, 0, false)
	if err != nil {
		return "", err
	}
	n := 0
	for _, ev := range evs {
		if ev.Type == store.EventAnalysisMeasurement {
			n++
		}
	}
	return fmt.Sprintf("%s|%d|%s|%d|%t", st.Phase, st.StepIndex, d.describe(fwd), n, st.TaskToken != ""), nil
}

// report checks the outcome against the scenario and prints the final
// listener, the ArgoCD secrets and the history.
func (d *run) report(ctx context.Context, res Result, out *sfn.DescribeExecutionOutput) (Result, error) {
	var err error
	rec, err := d.okra.Store.GetStatus(ctx, CellName)
	if err != nil {
		return res, err
	}
	res.Status = rec.Status
	if res.Final, err = d.lis.Read(ctx, d.spec.Spec.Ingress); err != nil {
		return res, err
	}
	if res.History, err = d.okra.Store.ListEvents(ctx, CellName, 0, false); err != nil {
		return res, err
	}
	if res.Blocked, err = d.okra.Store.ListBlocked(ctx, CellName); err != nil {
		return res, err
	}
	if res.Secrets, err = d.apps.renderSecrets(); err != nil {
		return res, err
	}

	d.p.title("Result")
	d.p.say("execution %s: %s%s", deref(out.Name), out.Status, errorSuffix(out))
	d.p.say("Cell %s: %s, stable %s", CellName, res.Status.Phase, res.Status.StableVersion)
	d.p.say("listener before: %s", d.describe(res.Before))
	d.p.say("listener now:    %s", d.describe(res.Final))
	for _, b := range res.Blocked {
		d.p.say("blocked: %s (%s)", b.Version, firstLine(b.Reason))
	}
	d.p.say("traffic: %d intervals published, %d failed", res.TrafficTicks, res.TrafficFailures)

	d.p.title("ArgoCD cluster secrets okra would apply")
	for _, s := range res.Secrets {
		fmt.Fprintf(d.o.Out, "---\n# %s\n%s", s.Cluster, s.YAML)
	}

	d.p.title("History of Cell web (newest last)")
	if err := writeHistory(d.o.Out, res.History, d.describe); err != nil {
		return res, err
	}
	if err := d.check(res, out); err != nil {
		d.p.say("")
		return res, err
	}
	d.p.say("")
	if d.sc.wantRolledBack {
		d.p.say("Done in %s: the bad canary was caught and rolled back; v1 serves exactly as before.", d.p.elapsed())
	} else {
		d.p.say("Done in %s: v2 serves 100%%, v1's target groups are out of the listener.", d.p.elapsed())
	}
	return res, nil
}

// check says how the run differs from the scenario's expected outcome.
func (d *run) check(res Result, out *sfn.DescribeExecutionOutput) error {
	var problems []string
	if d.sc.wantRolledBack {
		if out.Status != sfntypes.ExecutionStatusFailed || deref(out.Error) != "RolledBack" {
			problems = append(problems, fmt.Sprintf("execution %s%s, want FAILED (RolledBack)", out.Status, errorSuffix(out)))
		}
		if res.Status.Phase != rollout.PhaseRolledBack {
			problems = append(problems, fmt.Sprintf("Cell phase %s, want RolledBack", res.Status.Phase))
		}
		if !weights.Equal(res.Final, res.Before) {
			problems = append(problems, fmt.Sprintf("listener %s, want exactly %s", d.describe(res.Final), d.describe(res.Before)))
		}
		if !slices.ContainsFunc(res.Blocked, func(b rollout.Block) bool { return b.Version == "v2" }) {
			problems = append(problems, "v2 is not blocked")
		}
	} else {
		if out.Status != sfntypes.ExecutionStatusSucceeded {
			problems = append(problems, fmt.Sprintf("execution %s%s, want SUCCEEDED", out.Status, errorSuffix(out)))
		}
		if res.Status.Phase != rollout.PhaseStable || res.Status.StableVersion != "v2" {
			problems = append(problems, fmt.Sprintf("Cell %s stable %q, want Stable at v2", res.Status.Phase, res.Status.StableVersion))
		}
		versions := d.versions()
		for _, tg := range res.Final.TargetGroups {
			if versions[tg.ARN] != "v2" {
				problems = append(problems, fmt.Sprintf("listener still forwards to %s", targetGroupName(tg.ARN)))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("scenario %s did not end as it should: %s (status message: %s)", d.sc.name, strings.Join(problems, "; "), res.Status.Message)
	}
	return nil
}

func errorSuffix(out *sfn.DescribeExecutionOutput) string {
	if e := deref(out.Error); e != "" {
		return " (" + e + ")"
	}
	return ""
}

// describe is "web-1-v1 50%, web-2-v1 50%" with the cluster names okra's
// target groups are named after.
func (d *run) describe(f weights.Forward) string {
	total := f.Total()
	var parts []string
	for _, tg := range f.TargetGroups {
		pct := 0.0
		if total > 0 {
			pct = 100 * float64(tg.Weight) / float64(total)
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%%", d.clusterOf(tg.ARN), pct))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

func (d *run) clusterOf(arn string) string {
	for name, a := range d.groups {
		if a == arn {
			return name
		}
	}
	return targetGroupName(arn)
}

// targetGroupName is the name part of a target-group ARN.
func targetGroupName(arn string) string {
	parts := strings.Split(arn, "/")
	if len(parts) >= 3 {
		return parts[len(parts)-2]
	}
	return arn
}

func describeSteps(steps []cell.Step) string {
	var out []string
	for _, s := range steps {
		switch {
		case s.SetWeight != nil:
			out = append(out, fmt.Sprintf("setWeight %d", *s.SetWeight))
		case s.Pause != nil && s.Pause.Duration != nil:
			out = append(out, "pause "+s.Pause.Duration.Duration.String())
		case s.Pause != nil:
			out = append(out, "pause (promote)")
		case s.Analysis != nil:
			out = append(out, "analysis")
		}
	}
	return strings.Join(out, " → ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func strPtr(s string) *string { return aws.String(s) }
func int32Ptr(i int32) *int32 { return aws.Int32(i) }
func deref(s *string) string  { return aws.ToString(s) }
