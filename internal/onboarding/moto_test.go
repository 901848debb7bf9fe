package onboarding_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/onboarding"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/targetgroups"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/weights"
)

// waitMachine stands in for the rollout state machine: its executions run
// (and stay RUNNING) without touching the Cell. The real definition is
// tested with its own handlers.
const waitMachine = `{"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": true}}}`

// memArgo keeps ArgoCD cluster secrets in memory: cluster -> target groups.
type memArgo struct {
	mu      sync.Mutex
	secrets map[string]map[string]string
	applies int
}

func (a *memArgo) Apply(ctx context.Context, cl inventory.Cluster, tgs map[string]string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applies++
	a.secrets[cl.Name] = maps.Clone(tgs)
	return nil
}

func (a *memArgo) Delete(ctx context.Context, name string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.secrets, name)
	return nil
}

func (a *memArgo) secret(name string) (map[string]string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.secrets[name]
	return maps.Clone(s), ok
}

// appDeployer plays ArgoCD and the AWS Load Balancer Controller: once a
// cluster's secret names a target group, the app's pod is registered in
// it (moto reports every registered target healthy).
type appDeployer struct {
	inner onboarding.ClusterRegistry
	elb   *elbv2.Client
	mu    sync.Mutex
	done  map[string]bool
}

func (d *appDeployer) Apply(ctx context.Context, cl inventory.Cluster, tgs map[string]string) error {
	if err := d.inner.Apply(ctx, cl, tgs); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, arn := range tgs {
		if d.done[arn] {
			continue
		}
		if _, err := d.elb.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
			TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String(fmt.Sprintf("10.0.1.%d", 10+len(d.done)))}},
		}); err != nil {
			return fmt.Errorf("registering the app's pod in %s: %w", arn, err)
		}
		d.done[arn] = true
	}
	return nil
}

func (d *appDeployer) Delete(ctx context.Context, name string) error {
	return d.inner.Delete(ctx, name)
}

// motoEnv is one test's world on the shared moto: a table, a VPC with an
// ALB, a stand-in rollout state machine, and an Onboarder wired as the
// functions wire it (DepsFromAWS), with ArgoCD replaced by registry.
type motoEnv struct {
	t       *testing.T
	ctx     context.Context
	setup   awsapi.Config // the test's own calls, not counted
	cfg     awsapi.Config // the handlers' calls, counted
	counter *awsapi.CallCounter
	network testenv.Network
	lbARN   string
	sm      string
	store   *store.Store
	tgs     *targetgroups.Manager
	o       *onboarding.Onboarder
	// role is this test's value of the role tag, so discovery does not see
	// other tests' clusters and target groups on the shared moto.
	role string
}

func newMotoEnv(t *testing.T, registry func(elb *elbv2.Client) onboarding.ClusterRegistry) *motoEnv {
	t.Helper()
	setup, _ := testenv.AWS(t)
	cfg, counter := testenv.AWS(t)
	e := &motoEnv{t: t, ctx: context.Background(), setup: setup, cfg: cfg, counter: counter, role: testenv.UniqueName("web")}
	table := testenv.UniqueName("okra")
	if err := store.CreateTable(e.ctx, setup.DynamoDB(), table); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	e.store = store.New(setup.DynamoDB(), table, store.Options{Logger: quiet})
	e.network = testenv.NewNetwork(t, setup.EC2())
	lb, err := setup.ELBv2().CreateLoadBalancer(e.ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String(testenv.UniqueName("alb")), Subnets: e.network.SubnetIDs, Type: elbv2types.LoadBalancerTypeEnumApplication,
	})
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	e.lbARN = aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	sm, err := setup.SFN().CreateStateMachine(e.ctx, &sfn.CreateStateMachineInput{
		Name: aws.String(testenv.UniqueName("okra-rollout")), Definition: aws.String(waitMachine), RoleArn: aws.String(testenv.RoleARN),
	})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	e.sm = aws.ToString(sm.StateMachineArn)
	if e.tgs, err = targetgroups.New(targetgroups.Deps{ELBv2: setup.ELBv2(), Tagging: setup.Tagging(), EKS: setup.EKS(), Logger: quiet}); err != nil {
		t.Fatal(err)
	}

	deps, err := onboarding.DepsFromAWS(e.ctx, options.Options{
		Region: testenv.Region, TableName: table, StateMachineARN: e.sm, ClusterActiveTimeout: 30 * time.Second,
	}, cfg, quiet)
	if err != nil {
		t.Fatalf("DepsFromAWS: %v", err)
	}
	if deps.ArgoCD != nil {
		t.Fatal("ArgoCD wired without a control-plane cluster")
	}
	deps.ArgoCD = registry(setup.ELBv2())
	if e.o, err = onboarding.New(deps); err != nil {
		t.Fatal(err)
	}
	return e
}

// withMemArgo is an in-memory ArgoCD behind the app deployer.
func withMemArgo(argo *memArgo) func(*elbv2.Client) onboarding.ClusterRegistry {
	return func(elb *elbv2.Client) onboarding.ClusterRegistry {
		return &appDeployer{inner: argo, elb: elb, done: map[string]bool{}}
	}
}

// cluster creates an EKS cluster in moto (ACTIVE at once) tagged as a
// user's IaC would: name, role, version.
func (e *motoEnv) cluster(prefix, version string) inventory.Cluster {
	e.t.Helper()
	name := testenv.UniqueName(prefix)
	tags := map[string]string{"name": name, "role": e.role, "version": version}
	out, err := e.setup.EKS().CreateCluster(e.ctx, &eks.CreateClusterInput{
		Name: aws.String(name), RoleArn: aws.String(testenv.RoleARN),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: e.network.SubnetIDs}, Tags: tags,
	})
	if err != nil {
		e.t.Fatalf("CreateCluster: %v", err)
	}
	return inventory.Cluster{Name: name, ARN: aws.ToString(out.Cluster.Arn), Tags: tags, VPCID: e.network.VPCID}
}

// putCell stores a Cell as `okra cell apply` does.
func (e *motoEnv) putCell(doc string) *cell.Cell {
	e.t.Helper()
	c, err := cell.Decode([]byte(doc))
	if err != nil {
		e.t.Fatalf("Decode: %v", err)
	}
	if err := cell.Validate(c, nil); err != nil {
		e.t.Fatalf("Validate: %v", err)
	}
	if _, err := e.store.PutCell(e.ctx, c, 0); err != nil {
		e.t.Fatalf("PutCell: %v", err)
	}
	c.Default()
	return c
}

// listener creates an HTTP listener with the given default action.
func (e *motoEnv) listener(action elbv2types.Action) string {
	e.t.Helper()
	out, err := e.setup.ELBv2().CreateListener(e.ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: aws.String(e.lbARN), Port: aws.Int32(80), Protocol: elbv2types.ProtocolEnumHttp,
		DefaultActions: []elbv2types.Action{action},
	})
	if err != nil {
		e.t.Fatalf("CreateListener: %v", err)
	}
	return aws.ToString(out.Listeners[0].ListenerArn)
}

func forwardAction(f weights.Forward) elbv2types.Action {
	fc := &elbv2types.ForwardActionConfig{}
	for _, tg := range f.TargetGroups {
		fc.TargetGroups = append(fc.TargetGroups, elbv2types.TargetGroupTuple{TargetGroupArn: aws.String(tg.ARN), Weight: aws.Int32(tg.Weight)})
	}
	return elbv2types.Action{Type: elbv2types.ActionTypeEnumForward, ForwardConfig: fc}
}

func fixedResponse() elbv2types.Action {
	return elbv2types.Action{Type: elbv2types.ActionTypeEnumFixedResponse, FixedResponseConfig: &elbv2types.FixedResponseActionConfig{
		StatusCode: aws.String("404"), ContentType: aws.String("text/plain"), MessageBody: aws.String("no route"),
	}}
}

// stableGroups gives each cluster the target group okra would have made
// in c, with the app's pod registered, and returns their ARNs sorted.
func (e *motoEnv) stableGroups(c *cell.Cell, clusters ...inventory.Cluster) []string {
	e.t.Helper()
	var arns []string
	for _, cl := range clusters {
		tg, err := e.tgs.Ensure(e.ctx, c, cl)
		if err != nil {
			e.t.Fatalf("Ensure: %v", err)
		}
		if _, err := e.setup.ELBv2().RegisterTargets(e.ctx, &elbv2.RegisterTargetsInput{
			TargetGroupArn: aws.String(tg.ARN), Targets: []elbv2types.TargetDescription{{Id: aws.String("10.0.0.10")}},
		}); err != nil {
			e.t.Fatalf("RegisterTargets: %v", err)
		}
		arns = append(arns, tg.ARN)
	}
	slices.Sort(arns)
	return arns
}

func (e *motoEnv) event(raw json.RawMessage) {
	e.t.Helper()
	if err := e.o.ClusterEvents(e.ctx, raw); err != nil {
		e.t.Fatalf("ClusterEvents: %v", err)
	}
}

func (e *motoEnv) reconcile() onboarding.ReconcileReport {
	e.t.Helper()
	report, err := e.o.Reconcile(e.ctx, scheduleEvent(e.t))
	if err != nil {
		e.t.Fatalf("Reconcile: %v", err)
	}
	if len(report.Problems) > 0 {
		e.t.Errorf("reconcile problems: %v", report.Problems)
	}
	return report
}

// reconcileIdempotent runs the reconcile twice and fails the test when
// the second run makes any mutating call.
func (e *motoEnv) reconcileIdempotent() onboarding.ReconcileReport {
	e.t.Helper()
	e.reconcile()
	e.counter.Reset()
	report := e.reconcile()
	if m := mutatingCalls(e.counter); len(m) > 0 {
		e.t.Errorf("second reconcile with nothing to change made mutating calls: %v", m)
	}
	e.t.Logf("second reconcile: %d calls: %v", e.counter.Total(), e.counter.Snapshot())
	return report
}

var mutatingPrefixes = []string{
	"Create", "Modify", "AddTags", "RemoveTags", "Delete", "Register", "Deregister", "Attach", "Detach",
	"Put", "Update", "BatchWrite", "TransactWrite", "Start", "Stop", "Set", "Tag", "Untag",
}

// mutatingCalls lists the counted calls that change something.
func mutatingCalls(c *awsapi.CallCounter) []string {
	var out []string
	for _, op := range c.Operations() {
		name := op[strings.LastIndex(op, ".")+1:]
		for _, p := range mutatingPrefixes {
			if strings.HasPrefix(name, p) {
				out = append(out, fmt.Sprintf("%s x%d", op, c.Count(op)))
				break
			}
		}
	}
	return out
}

func (e *motoEnv) executions() []string {
	e.t.Helper()
	out, err := e.setup.SFN().ListExecutions(e.ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(e.sm)})
	if err != nil {
		e.t.Fatalf("ListExecutions: %v", err)
	}
	var names []string
	for _, x := range out.Executions {
		names = append(names, aws.ToString(x.Name))
	}
	slices.Sort(names)
	return names
}

// groupsOf returns the okra target groups of a cluster, read from moto.
func (e *motoEnv) groupsOf(cluster string) []inventory.TargetGroup {
	e.t.Helper()
	tgs, err := discovery.Tagged(e.ctx, e.setup.Tagging(), map[string]string{inventory.TagCluster: cluster}, discovery.Options{Logger: quiet})
	if err != nil {
		e.t.Fatalf("Tagged: %v", err)
	}
	return tgs
}

func (e *motoEnv) status(cellName string) rollout.Status {
	e.t.Helper()
	rec, err := e.store.GetStatus(e.ctx, cellName)
	if err != nil {
		e.t.Fatal(err)
	}
	return rec.Status
}

func (e *motoEnv) history(cellName string, typ store.EventType) []store.Event {
	e.t.Helper()
	evs, err := e.store.ListEvents(e.ctx, cellName, 0, false)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []store.Event
	for _, ev := range evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// TestOnMotoNewVersionRollsOutOnceReplicasAreReady is the user's story on
// the emulator: v1 serves at 100% from two clusters; two v2 clusters are
// created and tagged; the rollout starts when the second one is ready, not
// before, and once only.
func TestOnMotoNewVersionRollsOutOnceReplicasAreReady(t *testing.T) {
	argo := &memArgo{secrets: map[string]map[string]string{}}
	e := newMotoEnv(t, withMemArgo(argo))
	const name = "shop"

	v1a, v1b := e.cluster("shop-1-v1", "v1"), e.cluster("shop-2-v1", "v1")
	// The listener must exist before the Cell names it; its forward action
	// is set once the v1 groups exist.
	listenerARN := e.listener(fixedResponse())
	c := e.putCell(cellDoc(t, name, listenerARN, e.role, 2))
	stable, err := weights.Split(e.stableGroups(c, v1a, v1b), nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.setup.ELBv2().ModifyListener(e.ctx, &elbv2.ModifyListenerInput{
		ListenerArn: aws.String(listenerARN), DefaultActions: []elbv2types.Action{forwardAction(stable)},
	}); err != nil {
		t.Fatal(err)
	}

	// The reconcile adopts what exists: v1 steady, its clusters registered.
	report := e.reconcile()
	if d := report.Decisions[name]; d.Kind != rollout.DecisionNoop || !strings.HasPrefix(d.Reason, "steady: v1 serves 100%") {
		t.Fatalf("first decision %+v, want steady v1", d)
	}
	for _, cl := range []inventory.Cluster{v1a, v1b} {
		if s, ok := argo.secret(cl.Name); !ok || s[name] == "" {
			t.Errorf("v1 cluster %s not registered in ArgoCD: %v", cl.Name, s)
		}
	}

	// The first v2 cluster: a target group, no rollout yet.
	v2a := e.cluster("shop-1-v2", "v2")
	e.event(createEvent(t, v2a.Name, v2a.Tags))
	groups := e.groupsOf(v2a.Name)
	if len(groups) != 1 {
		t.Fatalf("%d target groups for %s, want 1", len(groups), v2a.Name)
	}
	for k, v := range map[string]string{
		"role": e.role, "version": "v2", "name": v2a.Name,
		inventory.TagCell: name, inventory.TagCluster: v2a.Name, inventory.TagManaged: "true",
	} {
		if groups[0].Tags[k] != v {
			t.Errorf("target group tag %s = %q, want %q (tags %v)", k, groups[0].Tags[k], v, groups[0].Tags)
		}
	}
	if groups[0].Name != targetgroups.Name(name, v2a.Name) {
		t.Errorf("target group name %q", groups[0].Name)
	}
	if s, _ := argo.secret(v2a.Name); s[name] != groups[0].ARN {
		t.Errorf("ArgoCD target groups of %s: %v, want %s=%s", v2a.Name, s, name, groups[0].ARN)
	}
	rec, err := e.store.GetCluster(e.ctx, v2a.Name)
	if err != nil || rec.TargetGroups[name] != groups[0].ARN || rec.Cluster.VPCID != e.network.VPCID {
		t.Errorf("registry entry %+v, %v", rec, err)
	}
	if got := e.executions(); len(got) != 0 {
		t.Fatalf("executions %v with 1 of 2 v2 clusters", got)
	}
	if msg := e.status(name).Message; !strings.Contains(msg, "v2 has 1 of 2 target groups") {
		t.Errorf("status message %q does not explain why nothing happens", msg)
	}

	// The second v2 cluster: the rollout starts.
	v2b := e.cluster("shop-2-v2", "v2")
	e.event(createEvent(t, v2b.Name, v2b.Tags))
	want := []string{executions.Name(name, "v2", 1)}
	if got := e.executions(); !slices.Equal(got, want) {
		t.Fatalf("executions %v, want %v", got, want)
	}
	started := e.history(name, store.EventRolloutTriggered)
	if len(started) != 1 || started[0].Version != "v2" || started[0].Details["from"] != "v1" {
		t.Errorf("RolloutStarted events %+v", started)
	}

	// Duplicates and the reconcile start nothing more, and a second
	// reconcile changes nothing at all.
	for range 3 {
		e.event(createEvent(t, v2b.Name, v2b.Tags))
	}
	e.reconcileIdempotent()
	if got := e.executions(); !slices.Equal(got, want) {
		t.Fatalf("executions %v after duplicates, want %v", got, want)
	}
	if n := len(e.groupsOf(v2b.Name)); n != 1 {
		t.Errorf("%d target groups for %s after duplicates", n, v2b.Name)
	}

	// A v2 cluster is deleted: nothing routes to its group, so the group,
	// its ArgoCD secret and registry entry go.
	if _, err := e.setup.EKS().DeleteCluster(e.ctx, &eks.DeleteClusterInput{Name: aws.String(v2b.Name)}); err != nil {
		t.Fatal(err)
	}
	e.event(deleteEvent(t, v2b.Name))
	if got := e.groupsOf(v2b.Name); len(got) != 0 {
		t.Errorf("target groups of the deleted cluster: %+v", got)
	}
	if _, ok := argo.secret(v2b.Name); ok {
		t.Error("ArgoCD secret of the deleted cluster kept")
	}
	if _, err := e.store.GetCluster(e.ctx, v2b.Name); err == nil {
		t.Error("registry entry of the deleted cluster kept")
	}
	e.reconcileIdempotent()
	if msg := e.status(name).Message; !strings.Contains(msg, "v2 has 1 of 2") {
		t.Errorf("status message %q after a v2 cluster left", msg)
	}
}

// TestOnMotoFirstDeploymentCreatesTheRule: a Cell routed by a listener
// rule that does not exist yet gets it, forwarding 100% to the first
// complete version, as soon as that version's cluster is ready.
func TestOnMotoFirstDeploymentCreatesTheRule(t *testing.T) {
	argo := &memArgo{secrets: map[string]map[string]string{}}
	e := newMotoEnv(t, withMemArgo(argo))
	const name = "blog"
	listenerARN := e.listener(fixedResponse())
	e.putCell(cellDoc(t, name, listenerARN, e.role, 1, withRule(10, "/blog/*")))

	v1 := e.cluster("blog-1-v1", "v1")
	e.event(createEvent(t, v1.Name, v1.Tags))
	groups := e.groupsOf(v1.Name)
	if len(groups) != 1 {
		t.Fatalf("%d target groups, want 1", len(groups))
	}
	rules, err := e.setup.ELBv2().DescribeRules(e.ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(listenerARN)})
	if err != nil {
		t.Fatal(err)
	}
	var rule *elbv2types.Rule
	for i := range rules.Rules {
		if aws.ToString(rules.Rules[i].Priority) == "10" {
			rule = &rules.Rules[i]
		}
	}
	if rule == nil {
		t.Fatalf("no rule at priority 10: %+v", rules.Rules)
	}
	fc := rule.Actions[0].ForwardConfig
	if fc == nil || len(fc.TargetGroups) != 1 || aws.ToString(fc.TargetGroups[0].TargetGroupArn) != groups[0].ARN || aws.ToInt32(fc.TargetGroups[0].Weight) != 100 {
		t.Errorf("rule forwards %+v, want 100 to %s", fc, groups[0].ARN)
	}
	st := e.status(name)
	if st.Phase != rollout.PhaseStable || st.StableVersion != "v1" || !strings.HasPrefix(st.Message, "steady: v1 serves 100%") {
		t.Errorf("status %+v", st)
	}
	if evs := e.history(name, store.EventWeightsSet); len(evs) != 1 || evs[0].Details["decision"] != "Swap" {
		t.Errorf("WeightsSet events %+v", evs)
	}
	if got := e.executions(); len(got) != 0 {
		t.Errorf("a first deployment started executions %v", got)
	}
	e.reconcileIdempotent()
}

// TestOnMotoTenDuplicateCreateEvents delivers one CreateCluster event ten
// times at once: one target group, one ArgoCD secret (in a real
// kube-apiserver when one is built), one rollout execution.
func TestOnMotoTenDuplicateCreateEvents(t *testing.T) {
	argoFor, secrets := realOrMemArgo(t)
	e := newMotoEnv(t, argoFor)
	const name = "cart"
	v1 := e.cluster("cart-1-v1", "v1")
	listenerARN := e.listener(fixedResponse())
	c := e.putCell(cellDoc(t, name, listenerARN, e.role, 1))
	stable, err := weights.Split(e.stableGroups(c, v1), nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.setup.ELBv2().ModifyListener(e.ctx, &elbv2.ModifyListenerInput{
		ListenerArn: aws.String(listenerARN), DefaultActions: []elbv2types.Action{forwardAction(stable)},
	}); err != nil {
		t.Fatal(err)
	}

	v2 := e.cluster("cart-1-v2", "v2")
	raw := createEvent(t, v2.Name, v2.Tags)
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = e.o.ClusterEvents(e.ctx, raw)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("delivery %d: %v", i, err)
		}
	}
	groups := e.groupsOf(v2.Name)
	if len(groups) != 1 {
		t.Fatalf("%d target groups for %s, want 1: %+v", len(groups), v2.Name, groups)
	}
	got := secrets(t, v2.Name)
	if len(got) != 1 || got[0][name] != groups[0].ARN {
		t.Errorf("ArgoCD secrets for %s: %v, want one naming %s", v2.Name, got, groups[0].ARN)
	}
	if got, want := e.executions(), []string{executions.Name(name, "v2", 1)}; !slices.Equal(got, want) {
		t.Errorf("executions %v, want %v", got, want)
	}
}

func TestDepsFromAWSControlPlane(t *testing.T) {
	cfg, counter := testenv.AWS(t)
	ctx := context.Background()
	// A real control plane cannot be reached on the emulator (its clusters'
	// CA data is not a PEM certificate); what is checked here is that the
	// cluster is looked up once at cold start and a failure names it.
	missing := testenv.UniqueName("argocd")
	_, err := onboarding.DepsFromAWS(ctx, options.Options{
		Region: testenv.Region, TableName: "okra", StateMachineARN: stateMachine, ControlPlaneCluster: missing, ArgoCDNamespace: "argocd",
	}, cfg, quiet)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("DepsFromAWS with a missing control-plane cluster = %v, want an error naming it", err)
	}
	if n := counter.Count("EKS.DescribeCluster"); n != 1 {
		t.Errorf("described the control plane %d times, want 1", n)
	}
	if _, err := onboarding.DepsFromAWS(ctx, options.Options{Region: testenv.Region}, cfg, quiet); err == nil {
		t.Error("DepsFromAWS without a table or state machine: want an error")
	}
	deps, err := onboarding.DepsFromAWS(ctx, options.Options{Region: testenv.Region, TableName: "okra", StateMachineARN: stateMachine}, cfg, quiet)
	if err != nil || deps.ArgoCD != nil || deps.VPCs == nil {
		t.Fatalf("DepsFromAWS without a control plane = ArgoCD %v, VPCs %v, %v; want no ArgoCD and a VPC resolver", deps.ArgoCD, deps.VPCs, err)
	}
	if _, err := onboarding.New(deps); err != nil {
		t.Fatal(err)
	}
}
