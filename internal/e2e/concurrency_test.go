package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/executions"
	"github.com/okrahq/okra/internal/inventory"
	"github.com/okrahq/okra/internal/onboarding"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/weights"
)

// podRegistry plays ArgoCD and the load balancer controller for the
// concurrency test: once a cluster's secret names a target group, two
// pods are registered in it (moto reports them healthy). Safe for
// concurrent Apply calls, as racing handlers make them.
type podRegistry struct {
	elb  *elbv2.Client
	mu   sync.Mutex
	done map[string]bool
}

func (r *podRegistry) Apply(ctx context.Context, cl inventory.Cluster, tgs map[string]string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, arn := range tgs {
		if r.done[arn] {
			continue
		}
		if _, err := r.elb.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
			TargetGroupArn: aws.String(arn),
			Targets:        []elbv2types.TargetDescription{{Id: aws.String("10.0.2.10")}, {Id: aws.String("10.0.2.11")}},
		}); err != nil {
			return fmt.Errorf("registering pods in %s: %w", arn, err)
		}
		r.done[arn] = true
	}
	return nil
}

func (r *podRegistry) Delete(context.Context, string) error { return nil }

// eventFixture reads events/NAME as a generic JSON object.
func eventFixture(t *testing.T, name string) map[string]any {
	t.Helper()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConcurrentTriggersStartOneRollout races two scheduled reconciles
// and three deliveries of the same CreateCluster event for a Cell's new
// v2 cluster (goroutines, one Onboarder as the functions share nothing
// but AWS): one target group per cluster, exactly one rollout execution,
// one lease holder all along, and the rollout completes.
//
// It runs on a stack of its own: a reconcile evaluates every Cell in the
// table, and the shared stack's table holds the other tests' Cells.
func TestConcurrentTriggersStartOneRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: needs the moto emulator (skipped with -short)")
	}
	t.Parallel()
	env := startFaultEnv(t) // faults stay off
	o := env.okra
	f, network := newFixtureOn(t, o, env.direct, canary(50, time.Second), time.Second, map[string]bool{"v1": true})
	ctx := f.ctx

	clusterARN := map[string]string{}
	for _, v := range []string{"v1", "v2"} {
		name := f.name + "-" + v
		out, err := env.direct.EKS().CreateCluster(ctx, &eks.CreateClusterInput{
			Name: aws.String(name), RoleArn: aws.String(testenv.RoleARN),
			ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: network.SubnetIDs},
			Tags:               map[string]string{"okra-e2e": f.name, "version": v},
		})
		if err != nil {
			t.Fatalf("CreateCluster %s: %v", name, err)
		}
		clusterARN[v] = aws.ToString(out.Cluster.Arn)
	}

	quiet := slog.New(slog.DiscardHandler)
	deps, err := onboarding.DepsFromAWS(ctx, options.Options{
		Region: testenv.Region, TableName: o.TableName, StateMachineARN: o.StateMachineARN, ClusterActiveTimeout: 30 * time.Second,
	}, o.AWS, quiet)
	if err != nil {
		t.Fatalf("DepsFromAWS: %v", err)
	}
	deps.ArgoCD = &podRegistry{elb: env.direct.ELBv2(), done: map[string]bool{}}
	onb, err := onboarding.New(deps)
	if err != nil {
		t.Fatal(err)
	}

	create := eventFixture(t, "eks-create-cluster.json")
	detail := create["detail"].(map[string]any)
	v2Name, v2Tags := f.name+"-v2", map[string]string{"okra-e2e": f.name, "version": "v2"}
	detail["requestParameters"].(map[string]any)["name"] = v2Name
	detail["requestParameters"].(map[string]any)["tags"] = v2Tags
	resp := detail["responseElements"].(map[string]any)["cluster"].(map[string]any)
	resp["name"], resp["arn"], resp["tags"] = v2Name, clusterARN["v2"], v2Tags
	createEvent := mustJSON(t, create)
	schedule := mustJSON(t, eventFixture(t, "schedule.json"))

	// One lease holder all along: the status names no execution but the
	// one that exists in the end.
	var holdersMu sync.Mutex
	holders := map[string]bool{}
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			if rec, err := f.okra.Store.GetStatus(ctx, f.name); err == nil && rec.Status.ExecutionARN != "" {
				holdersMu.Lock()
				holders[rec.Status.ExecutionARN] = true
				holdersMu.Unlock()
			}
			select {
			case <-stopWatch:
				return
			case <-time.After(30 * time.Millisecond):
			}
		}
	}()

	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if i < 2 {
				if report, err := onb.Reconcile(ctx, schedule); err != nil {
					errs <- fmt.Errorf("Reconcile %d: %w", i, err)
				} else if len(report.Problems) > 0 {
					errs <- fmt.Errorf("Reconcile %d problems: %v", i, report.Problems)
				}
				return
			}
			if err := onb.ClusterEvents(ctx, createEvent); err != nil {
				errs <- fmt.Errorf("ClusterEvents %d: %w", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// One target group per cluster.
	for _, v := range []string{"v1", "v2"} {
		tgs, err := discovery.Tagged(ctx, env.direct.Tagging(), map[string]string{inventory.TagCluster: f.name + "-" + v}, discovery.Options{Logger: quiet})
		if err != nil {
			t.Fatalf("Tagged: %v", err)
		}
		if len(tgs) != 1 {
			t.Fatalf("%d target groups for cluster %s-%s, want 1: %+v", len(tgs), f.name, v, tgs)
		}
		f.groups[v] = tgs[0]
	}

	// A reconcile that ran before v2 had its pods may have seen nothing
	// to do; one more, as the schedule would run it, must not add a rollout.
	if _, err := onb.Reconcile(ctx, schedule); err != nil {
		t.Errorf("Reconcile after the race: %v", err)
	}
	execs := f.cellExecutions()
	want := executions.Name(f.name, "v2", 1)
	if len(execs) != 1 || aws.ToString(execs[0].Name) != want {
		var names []string
		for _, x := range execs {
			names = append(names, aws.ToString(x.Name)+"="+string(x.Status))
		}
		t.Fatalf("rollout executions of the Cell: %v, want exactly %s", names, want)
	}
	arn := aws.ToString(execs[0].ExecutionArn)
	f.wait(arn, sfntypes.ExecutionStatusSucceeded, 60*time.Second)
	close(stopWatch)
	<-watched

	if execs := f.cellExecutions(); len(execs) != 1 {
		t.Errorf("%d executions after the rollout, want 1", len(execs))
	}
	holdersMu.Lock()
	for h := range holders {
		if h != arn {
			t.Errorf("the status named lease holder %s, not the one execution %s", h, arn)
		}
	}
	holdersMu.Unlock()
	st := f.status()
	if st.Phase != rollout.PhaseStable || st.StableVersion != "v2" || st.Leased() {
		t.Errorf("final status %s stable %s leased %t, want Stable at v2, released", st.Phase, st.StableVersion, st.Leased())
	}
	if got, want := f.forward(), f.split("v2", 100); !weights.Equal(got, want) {
		t.Errorf("listener after the rollout: %s, want %s", f.describe(got), f.describe(want))
	}
}

// cellExecutions lists the rollout state machine's executions of this
// fixture's Cell.
func (f *fixture) cellExecutions() []sfntypes.ExecutionListItem {
	f.t.Helper()
	var out []sfntypes.ExecutionListItem
	// Other tests start executions of the same state machine while this
	// pages, newest first, so an execution can reappear on a later page;
	// an ARN names one execution, so count each once.
	seen := map[string]bool{}
	p := sfn.NewListExecutionsPaginator(f.sfn, &sfn.ListExecutionsInput{StateMachineArn: aws.String(f.okra.StateMachineARN)})
	for p.HasMorePages() {
		page, err := p.NextPage(f.ctx)
		if err != nil {
			f.t.Fatalf("ListExecutions: %v", err)
		}
		for _, x := range page.Executions {
			if arn := aws.ToString(x.ExecutionArn); strings.HasPrefix(aws.ToString(x.Name), f.name+"--") && !seen[arn] {
				seen[arn] = true
				out = append(out, x)
			}
		}
	}
	return out
}
