package bench

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/onboarding"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
)

// AWS operation names as awsapi.CallCounter records them.
const (
	opListClusters         = "EKS.ListClusters"
	opDescribeCluster      = "EKS.DescribeCluster"
	opDescribeTargetGroups = "Elastic Load Balancing v2.DescribeTargetGroups"
	opDescribeTags         = "Elastic Load Balancing v2.DescribeTags"
	opDescribeTargetHealth = "Elastic Load Balancing v2.DescribeTargetHealth"
	opDescribeListeners    = "Elastic Load Balancing v2.DescribeListeners"
	opCreateTargetGroup    = "Elastic Load Balancing v2.CreateTargetGroup"
	opModifyListener       = "Elastic Load Balancing v2.ModifyListener"
	opDescribeRules        = "Elastic Load Balancing v2.DescribeRules"
	opCreateRule           = "Elastic Load Balancing v2.CreateRule"
	opGetMetricData        = "CloudWatch.GetMetricData"
	opGetResources         = "Resource Groups Tagging API.GetResources"
)

// Page and batch sizes the APIs allow.
const (
	maxTargetGroupsPage = 400 // DescribeTargetGroups PageSize
	maxTagsBatch        = 20  // DescribeTags ResourceArns
	maxClustersPage     = 100 // EKS ListClusters maxResults
	maxResourcesPage    = 100 // tag:GetResources ResourcesPerPage
	// benchReplicas is the benchmark Cell's spec.replicas.
	benchReplicas = 2
)

// ReconcileRun is one full reconcile and the steady-state one after it,
// for Clusters EKS clusters in one Cell (one target group each).
type ReconcileRun struct {
	Clusters int
	// TargetGroups the account holds after the first reconcile.
	TargetGroups int
	// First and Second are the AWS calls of each reconcile, by operation.
	First, Second map[string]int
	// FirstWall and SecondWall are the reconciles' wall time (noisy).
	FirstWall, SecondWall time.Duration
	// Decision is the planner's for the Cell, per reconcile.
	FirstDecision, SecondDecision string
	// Problems the reconciles reported.
	Problems []string
	// Budget is set when the run was made under the account's ELBv2
	// budget (RunReconcileUnderBudget).
	Budget *BudgetFigures
}

// benchRole tags the benchmark's clusters and selects them.
const benchRole = "bench"

// RunReconcile measures a full reconcile of n clusters (n target groups
// to create) and the steady-state reconcile after it, on a moto of its
// own so the account holds only this run's resources. The Cell needs 2
// replicas; its listener starts with a fixed response, so the first
// reconcile also makes the first deployment (one ModifyListener).
// ArgoCD is an in-memory registry that plays the app's deployment: it
// registers a healthy target in each target group okra reports.
func RunReconcile(ctx context.Context, n int, log *slog.Logger) (ReconcileRun, error) {
	return runReconcile(ctx, n, nil, log)
}

// runReconcile is RunReconcile, under budget when it is not nil (see
// RunReconcileUnderBudget).
func runReconcile(ctx context.Context, n int, budget *budgetRun, log *slog.Logger) (ReconcileRun, error) {
	run := ReconcileRun{Clusters: n}
	moto, err := testenv.StartMoto(ctx, testenv.MotoOptions{})
	if err != nil {
		return run, err
	}
	defer moto.Stop()
	setup, err := testenv.Config(ctx, moto.Endpoint, nil)
	if err != nil {
		return run, err
	}
	counter := awsapi.NewCallCounter()
	cfg, err := testenv.Config(ctx, moto.Endpoint, counter)
	if err != nil {
		return run, err
	}
	controller := setup
	if budget != nil {
		stop, err := budget.start(ctx, moto.Endpoint, counter, log)
		if err != nil {
			return run, err
		}
		defer stop()
		cfg, controller = budget.okra, budget.controller
	}

	const table = "okra"
	if err := store.CreateTable(ctx, setup.DynamoDB(), table); err != nil {
		return run, err
	}
	network, err := testenv.CreateNetwork(ctx, setup.EC2())
	if err != nil {
		return run, err
	}
	listenerARN, err := createALB(ctx, setup.ELBv2(), network, elbv2types.Action{
		Type: elbv2types.ActionTypeEnumFixedResponse,
		FixedResponseConfig: &elbv2types.FixedResponseActionConfig{
			StatusCode: aws.String("404"), ContentType: aws.String("text/plain"), MessageBody: aws.String("no route"),
		},
	})
	if err != nil {
		return run, err
	}
	sm, err := setup.SFN().CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String("okra-rollout"),
		Definition: aws.String(`{"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": true}}}`),
		RoleArn:    aws.String(testenv.RoleARN),
	})
	if err != nil {
		return run, fmt.Errorf("creating the stand-in state machine, %w", err)
	}
	if err := createClusters(ctx, setup.EKS(), network, n, "v1"); err != nil {
		return run, err
	}
	st := store.New(setup.DynamoDB(), table, store.Options{Logger: log})
	c := benchCell("web", listenerARN, benchReplicas, cell.Step{SetWeight: int32p(50)}, cell.Step{Pause: &cell.Pause{Duration: &cell.Duration{Duration: time.Hour}}})
	// A listener rule the first deployment creates (a default action
	// cannot forward to nothing before the first version exists).
	c.Spec.Ingress.Rule = &cell.ListenerRule{Priority: 10, PathPatterns: []string{"/web/*"}}
	if err := cell.Validate(c, nil); err != nil {
		return run, fmt.Errorf("the benchmark Cell is invalid, %w", err)
	}
	if _, err := st.PutCell(ctx, c, 0); err != nil {
		return run, err
	}

	deps, err := onboarding.DepsFromAWS(ctx, options.Options{
		Region: testenv.Region, TableName: table, StateMachineARN: aws.ToString(sm.StateMachineArn), ClusterActiveTimeout: 30 * time.Second,
	}, cfg, log)
	if err != nil {
		return run, err
	}
	deps.ArgoCD = newAppRegistry(controller.ELBv2())
	o, err := onboarding.New(deps)
	if err != nil {
		return run, err
	}

	counter.Reset()
	budget.mark()
	began := time.Now()
	first, err := o.ReconcileAll(ctx)
	run.FirstWall = time.Since(began)
	if err != nil {
		return run, fmt.Errorf("first reconcile of %d clusters, %w", n, err)
	}
	run.Budget = budget.record(nil)
	run.First = counter.Snapshot()
	run.FirstDecision = decisionOf(first, c.Metadata.Name)
	run.Problems = append(run.Problems, first.Problems...)

	counter.Reset()
	budget.mark()
	began = time.Now()
	second, err := o.ReconcileAll(ctx)
	run.SecondWall = time.Since(began)
	if err != nil {
		return run, fmt.Errorf("second reconcile of %d clusters, %w", n, err)
	}
	run.Budget = budget.record(run.Budget)
	run.Second = counter.Snapshot()
	run.SecondDecision = decisionOf(second, c.Metadata.Name)
	run.Problems = append(run.Problems, second.Problems...)

	pages := elbv2.NewDescribeTargetGroupsPaginator(setup.ELBv2(), &elbv2.DescribeTargetGroupsInput{PageSize: aws.Int32(maxTargetGroupsPage)})
	for pages.HasMorePages() {
		p, err := pages.NextPage(ctx)
		if err != nil {
			return run, err
		}
		run.TargetGroups += len(p.TargetGroups)
	}
	return run, nil
}

func decisionOf(r onboarding.ReconcileReport, name string) string {
	d, ok := r.Decisions[name]
	if !ok {
		return "(none)"
	}
	return fmt.Sprintf("%s: %s", d.Kind, d.Reason)
}

// createALB creates an ALB in network with an HTTP listener whose default
// action is action, and returns the listener's ARN.
func createALB(ctx context.Context, elb *elbv2.Client, network testenv.Network, action elbv2types.Action) (string, error) {
	lb, err := elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String(testenv.UniqueName("bench")), Subnets: network.SubnetIDs, Type: elbv2types.LoadBalancerTypeEnumApplication,
	})
	if err != nil {
		return "", fmt.Errorf("creating the load balancer, %w", err)
	}
	out, err := elb.CreateListener(ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb.LoadBalancers[0].LoadBalancerArn, Port: aws.Int32(80), Protocol: elbv2types.ProtocolEnumHttp,
		DefaultActions: []elbv2types.Action{action},
	})
	if err != nil {
		return "", fmt.Errorf("creating the listener, %w", err)
	}
	return aws.ToString(out.Listeners[0].ListenerArn), nil
}

// createClusters creates n ACTIVE (moto) EKS clusters of version v, tagged
// as a user's IaC would, four at a time.
func createClusters(ctx context.Context, client *eks.Client, network testenv.Network, n int, v string) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := createCluster(ctx, client, network, fmt.Sprintf("web-%04d-%s", i, v), v); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func createCluster(ctx context.Context, client *eks.Client, network testenv.Network, name, v string) (inventory.Cluster, error) {
	tags := map[string]string{"name": name, "role": benchRole, "version": v}
	out, err := client.CreateCluster(ctx, &eks.CreateClusterInput{
		Name: aws.String(name), RoleArn: aws.String(testenv.RoleARN),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: network.SubnetIDs}, Tags: tags,
	})
	if err != nil {
		return inventory.Cluster{}, fmt.Errorf("creating EKS cluster %s, %w", name, err)
	}
	return inventory.Cluster{Name: name, ARN: aws.ToString(out.Cluster.Arn), Status: "ACTIVE", Tags: tags, VPCID: network.VPCID}, nil
}

// benchCell is an ALB Cell on listenerARN selecting the benchmark's
// clusters and target groups by role, with the given replicas and steps.
func benchCell(name, listenerARN string, replicas int32, steps ...cell.Step) *cell.Cell {
	return &cell.Cell{
		APIVersion: cell.APIVersion, Kind: cell.Kind,
		Metadata: cell.Metadata{Name: name},
		Spec: cell.Spec{
			Ingress: cell.Ingress{
				Type: cell.IngressALB, ListenerARN: listenerARN,
				TargetGroupSelector: cell.TargetGroupSelector{MatchLabels: map[string]string{"role": benchRole}},
			},
			ClusterSelector:     cell.ClusterSelector{MatchTags: map[string]string{"role": benchRole}},
			TargetGroupTemplate: cell.TargetGroupTemplate{Port: aws.Int32(8080), Protocol: "HTTP", TargetType: "ip"},
			Replicas:            &replicas,
			UpdateStrategy:      cell.UpdateStrategy{Canary: &cell.Canary{Steps: steps}},
		},
	}
}

func int32p(v int32) *int32 { return &v }

// appRegistry stands in for ArgoCD and the AWS Load Balancer Controller:
// it keeps cluster secrets in memory and, the first time a target group
// is named, registers the app's pod in it (moto reports it healthy). Its
// calls are not counted: they are not okra's.
type appRegistry struct {
	elb  *elbv2.Client
	mu   sync.Mutex
	done map[string]bool
	next int
}

func newAppRegistry(elb *elbv2.Client) *appRegistry {
	return &appRegistry{elb: elb, done: map[string]bool{}}
}

func (a *appRegistry) Apply(ctx context.Context, cl inventory.Cluster, tgs map[string]string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, arn := range tgs {
		if a.done[arn] {
			continue
		}
		a.next++
		ip := fmt.Sprintf("10.0.%d.%d", 10+a.next/250, 1+a.next%250)
		if _, err := a.elb.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
			TargetGroupArn: aws.String(arn), Targets: []elbv2types.TargetDescription{{Id: aws.String(ip)}},
		}); err != nil {
			return fmt.Errorf("registering the app's pod in %s, %w", arn, err)
		}
		a.done[arn] = true
	}
	return nil
}

func (a *appRegistry) Delete(context.Context, string) error { return nil }

// Bound is the fewest calls of one operation the APIs allow for a step.
type Bound struct {
	Calls int
	Why   string
}

// ReconcileBounds are the lower bounds of a reconcile of n clusters in
// one Cell, t target groups in the account afterwards, by operation.
// first says whether the reconcile creates the target groups and makes the
// first deployment. Operations absent from the map have no bound computed
// (shown as such in the report).
func ReconcileBounds(n, t int, first bool) map[string]Bound {
	b := map[string]Bound{
		opListClusters:    {ceil(n, maxClustersPage), fmt.Sprintf("⌈%d/%d⌉ pages", n, maxClustersPage)},
		opDescribeCluster: {n, "one per cluster"},
		opGetResources: {ceil(max(t, 1), maxResourcesPage) + ceil(max(n, 1), maxResourcesPage),
			fmt.Sprintf("okra's groups (⌈%d/%d⌉ pages) and the Cell's (⌈%d/%d⌉)", t, maxResourcesPage, n, maxResourcesPage)},
		opDescribeTargetGroups: {ceil(t, maxTargetGroupsPage), fmt.Sprintf("settings of okra's groups: ⌈%d/%d⌉ calls by ARN", t, maxTargetGroupsPage)},
		opDescribeTags:         {0, "GetResources gives the tags"},
		opDescribeTargetHealth: {benchReplicas, "the planner reads replicas healthy groups"},
		opDescribeRules:        {1, "read the Cell's rule once"},
		opCreateRule:           {0, "nothing to change"},
		opCreateTargetGroup:    {0, "nothing to create"},
		"EC2.DescribeSubnets":  {0, "DescribeCluster returns the VPC on AWS"},
		"DynamoDB.Query":       {2 + ceil(n*400, 1<<20), "the Cells; the cluster registry (1 MB pages, ~400 B an entry); the Cell's blocked versions"},
		"DynamoDB.GetItem":     {1, "the Cell's status"},
	}
	if first {
		// Nothing of okra's exists before: one empty page of its groups.
		b[opGetResources] = Bound{1 + ceil(n, maxResourcesPage), fmt.Sprintf("okra's groups (none yet: 1 page) and the Cell's (⌈%d/%d⌉)", n, maxResourcesPage)}
		b[opDescribeTargetGroups] = Bound{0, "no okra group exists yet"}
		b[opDescribeTags] = Bound{ceil(n, maxTagsBatch), fmt.Sprintf("confirm okra owns the created groups: ⌈%d/%d⌉ batches", n, maxTagsBatch)}
		b[opCreateRule] = Bound{1, "the first deployment creates the Cell's rule"}
		b[opCreateTargetGroup] = Bound{n, "one per cluster (tags inline)"}
		b["DynamoDB.UpdateItem"] = Bound{n + 1, "a registry entry per cluster; the Cell's status"}
		b["DynamoDB.PutItem"] = Bound{1, "the deployment's history event"}
	}
	return b
}

func ceil(a, b int) int {
	if a <= 0 {
		return 0
	}
	return (a + b - 1) / b
}

// mutating says whether an operation changes something.
func mutating(op string) bool {
	name := op[strings.LastIndex(op, ".")+1:]
	for _, p := range []string{"Create", "Modify", "AddTags", "RemoveTags", "Delete", "Register", "Deregister", "Attach", "Detach",
		"Put", "Update", "BatchWrite", "TransactWrite", "Start", "Stop", "Set", "Tag", "Untag", "Send"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
