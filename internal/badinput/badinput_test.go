package badinput_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"sigs.k8s.io/yaml"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/cli"
	"github.com/okrahq/okra/internal/onboarding"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/safetynet"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// rollout state machine the execution-event corpus names (events/).
const rolloutMachine = "arn:aws:states:us-east-1:123456789012:stateMachine:okra-rollout"

// syncBuffer collects the handlers' JSON logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// world is what bad input must leave alone: okra's table with a valid
// Cell "web" (selecting role=web), an ALB listener forwarding to that
// Cell's target group, an ACTIVE EKS cluster web-1-v2 tagged role=web
// (the one the EKS event corpus names, so an event acted on by mistake
// would create a target group), and the three handlers.
type world struct {
	t         *testing.T
	ctx       context.Context
	cfg       awsapi.Config
	endpoint  string
	table     string
	lbARN     string
	logs      *syncBuffer
	onboarder *onboarding.Onboarder
	safetyNet *safetynet.Handler
}

func newWorld(t *testing.T) *world {
	t.Helper()
	m := testenv.SharedMoto(t)
	cfg, _ := testenv.AWS(t)
	w := &world{t: t, ctx: context.Background(), cfg: cfg, endpoint: m.Endpoint, table: testenv.UniqueName("okra-bad"), logs: &syncBuffer{}}
	if err := store.CreateTable(w.ctx, cfg.DynamoDB(), w.table); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	network := testenv.NewNetwork(t, cfg.EC2())
	elb := cfg.ELBv2()
	lb, err := elb.CreateLoadBalancer(w.ctx, &elbv2.CreateLoadBalancerInput{
		Name: aws.String(testenv.UniqueName("alb")), Subnets: network.SubnetIDs, Type: elbv2types.LoadBalancerTypeEnumApplication,
	})
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	w.lbARN = aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	tg, err := elb.CreateTargetGroup(w.ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(testenv.UniqueName("web-v1")), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80),
		VpcId: aws.String(network.VPCID), TargetType: elbv2types.TargetTypeEnumIp,
		Tags: []elbv2types.Tag{{Key: aws.String("role"), Value: aws.String("web")}, {Key: aws.String("version"), Value: aws.String("v1")}},
	})
	if err != nil {
		t.Fatalf("CreateTargetGroup: %v", err)
	}
	tgARN := aws.ToString(tg.TargetGroups[0].TargetGroupArn)
	ln, err := elb.CreateListener(w.ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: aws.String(w.lbARN), Port: aws.Int32(80), Protocol: elbv2types.ProtocolEnumHttp,
		DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumForward, ForwardConfig: &elbv2types.ForwardActionConfig{
			TargetGroups: []elbv2types.TargetGroupTuple{{TargetGroupArn: aws.String(tgARN), Weight: aws.Int32(100)}},
		}}},
	})
	if err != nil {
		t.Fatalf("CreateListener: %v", err)
	}
	if _, err := cfg.EKS().CreateCluster(w.ctx, &eks.CreateClusterInput{
		Name: aws.String("web-1-v2"), RoleArn: aws.String(testenv.RoleARN),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: network.SubnetIDs},
		Tags:               map[string]string{"role": "web", "version": "v2"},
	}); err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	web, err := cell.Decode(fmt.Appendf(nil, `{"apiVersion":"okra.dev/v1alpha1","kind":"Cell","metadata":{"name":"web"},"spec":{
		"ingress":{"type":"AWSApplicationLoadBalancer","listenerARN":%q,"targetGroupSelector":{"matchLabels":{"role":"web"}}},
		"clusterSelector":{"matchTags":{"role":"web"}},
		"updateStrategy":{"canary":{"steps":[{"setWeight":50},{"pause":{}}]}}}}`, aws.ToString(ln.Listeners[0].ListenerArn)))
	if err != nil {
		t.Fatal(err)
	}
	if err := cell.Validate(web, nil); err != nil {
		t.Fatal(err)
	}
	st := store.New(cfg.DynamoDB(), w.table, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if _, err := st.PutCell(w.ctx, web, 0); err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.NewJSONHandler(w.logs, nil))
	sm, err := cfg.SFN().CreateStateMachine(w.ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String(testenv.UniqueName("okra-rollout")),
		Definition: aws.String(`{"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": true}}}`),
		RoleArn:    aws.String(testenv.RoleARN),
	})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	if w.onboarder, err = onboarding.NewFromAWS(w.ctx, options.Options{
		Region: testenv.Region, TableName: w.table, StateMachineARN: aws.ToString(sm.StateMachineArn), ClusterActiveTimeout: 5 * time.Second,
	}, cfg, log); err != nil {
		t.Fatalf("onboarding: %v", err)
	}
	deps, err := steps.DepsFromConfig(cfg, options.Options{TableName: w.table}, log)
	if err != nil {
		t.Fatal(err)
	}
	h, err := steps.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	if w.safetyNet, err = safetynet.New(safetynet.Deps{Recoverer: h, Executions: cfg.SFN(), StateMachineARN: rolloutMachine, Logger: log}); err != nil {
		t.Fatal(err)
	}
	return w
}

// snapshot renders everything bad input must not change: the load
// balancer's listeners and rules, every target group with its tags and
// targets, the EKS clusters, and every item of the table.
func (w *world) snapshot() map[string]string {
	w.t.Helper()
	out := map[string]string{}
	elb := w.cfg.ELBv2()
	ls, err := elb.DescribeListeners(w.ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(w.lbARN)})
	if err != nil {
		w.t.Fatalf("DescribeListeners: %v", err)
	}
	for _, l := range ls.Listeners {
		out["listener "+aws.ToString(l.ListenerArn)] = render(l.DefaultActions)
		rules, err := elb.DescribeRules(w.ctx, &elbv2.DescribeRulesInput{ListenerArn: l.ListenerArn})
		if err != nil {
			w.t.Fatalf("DescribeRules: %v", err)
		}
		out["rules "+aws.ToString(l.ListenerArn)] = render(rules.Rules)
	}
	tgs, err := elb.DescribeTargetGroups(w.ctx, &elbv2.DescribeTargetGroupsInput{})
	if err != nil {
		w.t.Fatalf("DescribeTargetGroups: %v", err)
	}
	for _, tg := range tgs.TargetGroups {
		tags, err := elb.DescribeTags(w.ctx, &elbv2.DescribeTagsInput{ResourceArns: []string{aws.ToString(tg.TargetGroupArn)}})
		if err != nil {
			w.t.Fatalf("DescribeTags: %v", err)
		}
		health, err := elb.DescribeTargetHealth(w.ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: tg.TargetGroupArn})
		if err != nil {
			w.t.Fatalf("DescribeTargetHealth: %v", err)
		}
		out["targetgroup "+aws.ToString(tg.TargetGroupArn)] = render(tags.TagDescriptions) + render(health.TargetHealthDescriptions)
	}
	clusters, err := w.cfg.EKS().ListClusters(w.ctx, &eks.ListClustersInput{})
	if err != nil {
		w.t.Fatalf("ListClusters: %v", err)
	}
	out["eks clusters"] = render(clusters.Clusters)
	for k, v := range w.items() {
		out["item "+k] = v
	}
	return out
}

// items scans the table: "PK SK" -> the item as JSON.
func (w *world) items() map[string]string {
	w.t.Helper()
	out := map[string]string{}
	p := dynamodb.NewScanPaginator(w.cfg.DynamoDB(), &dynamodb.ScanInput{TableName: aws.String(w.table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(w.ctx)
		if err != nil {
			w.t.Fatalf("Scan: %v", err)
		}
		for _, it := range page.Items {
			out[str(it[store.AttrPK])+" "+str(it[store.AttrSK])] = renderItem(it)
		}
	}
	return out
}

func str(v ddbtypes.AttributeValue) string {
	if s, ok := v.(*ddbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return fmt.Sprintf("%v", v)
}

func renderItem(it map[string]ddbtypes.AttributeValue) string {
	keys := make([]string, 0, len(it))
	for k := range it {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		switch v := it[k].(type) {
		case *ddbtypes.AttributeValueMemberS:
			fmt.Fprintf(&b, "%s=%q ", k, v.Value)
		case *ddbtypes.AttributeValueMemberN:
			fmt.Fprintf(&b, "%s=%s ", k, v.Value)
		default:
			fmt.Fprintf(&b, "%s=%s ", k, render(v))
		}
	}
	return b.String()
}

func render(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// diff lists the keys whose values differ between two snapshots.
func diff(before, after map[string]string) []string {
	var out []string
	for k, v := range before {
		if a, ok := after[k]; !ok {
			out = append(out, "removed "+k)
		} else if a != v {
			out = append(out, "changed "+k+":\n      before "+v+"\n      after  "+a)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			out = append(out, "added "+k+": "+after[k])
		}
	}
	sort.Strings(out)
	return out
}

// cases reads dir/cases.tsv: file, then the expected columns, tab
// separated; '#' starts a comment line. Every file in dir must have a
// row and every row a file.
func cases(t *testing.T, dir string, columns int) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "cases.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for i, line := range strings.Split(string(raw), "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != columns+1 || slices.Contains(cols, "") {
			t.Fatalf("%s/cases.tsv:%d: want %d tab-separated non-empty columns, got %q", dir, i+1, columns+1, line)
		}
		out[cols[0]] = cols[1:]
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, e := range entries {
		if e.Name() != "cases.tsv" {
			files[e.Name()] = true
			if _, ok := out[e.Name()]; !ok {
				t.Errorf("%s/%s has no row in cases.tsv", dir, e.Name())
			}
		}
	}
	for f := range out {
		if !files[f] {
			t.Errorf("%s/cases.tsv names %s, which does not exist", dir, f)
		}
	}
	return out
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var metadataName = regexp.MustCompile(`(?m)^  name: (\S+)$`)

// TestBadInputChangesNothing feeds every corpus file through its entry
// points. Subtests run one after another: each compares snapshots of
// the one world.
func TestBadInputChangesNothing(t *testing.T) {
	w := newWorld(t)
	total := 0

	t.Run("cells", func(t *testing.T) {
		dir := filepath.Join("testdata", "cells")
		table := cases(t, dir, 2)
		total += len(table)
		for _, file := range sortedKeys(table) {
			wantApply, wantStream := table[file][0], table[file][1]
			if wantStream == "=" {
				wantStream = wantApply
			}
			path := filepath.Join(dir, file)
			doc, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Run(file, func(t *testing.T) {
				// okra cell apply, in-process, against moto.
				before := w.snapshot()
				var stdout, stderr bytes.Buffer
				code := cli.Run(w.ctx, []string{"--endpoint-url", w.endpoint, "--region", testenv.Region, "--table", w.table, "cell", "apply", "-f", path}, strings.NewReader(""), &stdout, &stderr)
				if code == cli.ExitOK {
					t.Errorf("okra cell apply accepted it: %s", stdout.String())
				}
				if !strings.Contains(stderr.String(), wantApply) {
					t.Errorf("okra cell apply said\n%s\nwant it to contain %q", stderr.String(), wantApply)
				}
				if d := diff(before, w.snapshot()); len(d) > 0 {
					t.Errorf("okra cell apply changed:\n  %s", strings.Join(d, "\n  "))
				}

				// The same spec arriving through the table's stream: stored
				// as apply stores specs (JSON), or as the raw text when it
				// is not even YAML.
				name := "bad-unnamed"
				if m := metadataName.FindSubmatch(doc); m != nil {
					name = string(m[1])
				}
				spec := string(doc)
				if js, err := yaml.YAMLToJSON(doc); err == nil {
					spec = string(js)
				}
				const rev = 3
				item := map[string]ddbtypes.AttributeValue{
					store.AttrPK:       &ddbtypes.AttributeValueMemberS{Value: store.KindCell + "#" + name},
					store.AttrSK:       &ddbtypes.AttributeValueMemberS{Value: store.SKSpec},
					store.AttrKind:     &ddbtypes.AttributeValueMemberS{Value: store.KindCell},
					store.AttrName:     &ddbtypes.AttributeValueMemberS{Value: name},
					store.AttrSpec:     &ddbtypes.AttributeValueMemberS{Value: spec},
					store.AttrRevision: &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(rev)},
				}
				if _, err := w.cfg.DynamoDB().PutItem(w.ctx, &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: item}); err != nil {
					t.Fatalf("PutItem: %v", err)
				}
				t.Cleanup(func() { w.deleteCell(name) })
				before = w.snapshot()
				resp, err := w.onboarder.ConfigChange(w.ctx, lambdaevents.DynamoDBEvent{Records: []lambdaevents.DynamoDBEventRecord{streamRecord(name, rev, spec)}})
				if err != nil || len(resp.BatchItemFailures) != 0 {
					t.Fatalf("ConfigChange = %+v, %v: want the record acknowledged", resp, err)
				}
				after := w.snapshot()
				// The documented record of an invalid spec: the Cell's
				// status, phase Invalid with the problems, and one
				// SpecInvalid event. Nothing else.
				statusKey := "item " + store.KindCell + "#" + name + " " + store.SKStatus
				var rest []string
				var event string
				for _, d := range diff(before, after) {
					switch {
					case strings.HasPrefix(d, "added "+statusKey+":"):
					case strings.HasPrefix(d, "added item "+store.KindCell+"#"+name+" "+store.SKEventPrefix) && event == "":
						event = d
					default:
						rest = append(rest, d)
					}
				}
				if len(rest) > 0 {
					t.Errorf("ConfigChange changed more than the Cell's status and one event:\n  %s", strings.Join(rest, "\n  "))
				}
				rec, err := store.New(w.cfg.DynamoDB(), w.table, store.Options{Logger: slog.New(slog.DiscardHandler)}).GetStatus(w.ctx, name)
				if err != nil {
					t.Fatalf("GetStatus: %v", err)
				}
				if rec.Status.Phase != rollout.PhaseInvalid {
					t.Errorf("status phase %q, want Invalid", rec.Status.Phase)
				}
				if problems := strings.Join(rec.Status.ValidationErrors, "\n"); !strings.Contains(problems, wantStream) {
					t.Errorf("status validation errors\n%s\nwant them to contain %q", problems, wantStream)
				}
				if !strings.Contains(event, string(store.EventSpecInvalid)) {
					t.Errorf("want one SpecInvalid event, got %q", event)
				}
			})
		}
	})

	t.Run("cluster events", func(t *testing.T) {
		dir := filepath.Join("testdata", "cluster-events")
		table := cases(t, dir, 1)
		total += len(table)
		for _, file := range sortedKeys(table) {
			want := table[file][0]
			t.Run(file, func(t *testing.T) {
				raw, err := os.ReadFile(filepath.Join(dir, file))
				if err != nil {
					t.Fatal(err)
				}
				before := w.snapshot()
				mark := len(w.logs.String())
				if err := w.onboarder.ClusterEvents(w.ctx, raw); err != nil {
					t.Errorf("ClusterEvents = %v, want the event acknowledged", err)
				}
				if logged := w.logs.String()[mark:]; !strings.Contains(logged, want) {
					t.Errorf("the handler logged\n%s\nwant it to contain %q", logged, want)
				}
				if d := diff(before, w.snapshot()); len(d) > 0 {
					t.Errorf("ClusterEvents changed:\n  %s", strings.Join(d, "\n  "))
				}
			})
		}
	})

	t.Run("execution events", func(t *testing.T) {
		dir := filepath.Join("testdata", "execution-events")
		table := cases(t, dir, 2)
		total += len(table)
		for _, file := range sortedKeys(table) {
			outcome, want := table[file][0], table[file][1]
			t.Run(file, func(t *testing.T) {
				raw, err := os.ReadFile(filepath.Join(dir, file))
				if err != nil {
					t.Fatal(err)
				}
				before := w.snapshot()
				res, err := w.safetyNet.Handle(w.ctx, raw)
				switch outcome {
				case "error":
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Errorf("safety net = %+v, %v; want an error containing %q", res, err, want)
					}
				default:
					if err != nil || string(res.Outcome) != outcome || !strings.Contains(res.Reason, want) {
						t.Errorf("safety net = %+v, %v; want %s with a reason containing %q", res, err, outcome, want)
					}
				}
				if d := diff(before, w.snapshot()); len(d) > 0 {
					t.Errorf("the safety net changed:\n  %s", strings.Join(d, "\n  "))
				}
			})
		}
	})

	if total < 40 {
		t.Errorf("the corpus has %d inputs, want at least 40", total)
	}
}

// deleteCell removes what the stream case stored for a Cell (spec,
// status, history), so the next case starts from the same world.
func (w *world) deleteCell(name string) {
	for key := range w.items() {
		pk, sk, _ := strings.Cut(key, " ")
		if pk != store.KindCell+"#"+name {
			continue
		}
		if _, err := w.cfg.DynamoDB().DeleteItem(w.ctx, &dynamodb.DeleteItemInput{TableName: aws.String(w.table), Key: map[string]ddbtypes.AttributeValue{
			store.AttrPK: &ddbtypes.AttributeValueMemberS{Value: pk}, store.AttrSK: &ddbtypes.AttributeValueMemberS{Value: sk},
		}}); err != nil {
			w.t.Errorf("DeleteItem %s: %v", key, err)
		}
	}
}

// streamRecord is the stream record of writing spec as revision rev of
// Cell name.
func streamRecord(name string, rev int64, spec string) lambdaevents.DynamoDBEventRecord {
	img := map[string]lambdaevents.DynamoDBAttributeValue{
		store.AttrPK:       lambdaevents.NewStringAttribute(store.KindCell + "#" + name),
		store.AttrSK:       lambdaevents.NewStringAttribute(store.SKSpec),
		store.AttrKind:     lambdaevents.NewStringAttribute(store.KindCell),
		store.AttrName:     lambdaevents.NewStringAttribute(name),
		store.AttrSpec:     lambdaevents.NewStringAttribute(spec),
		store.AttrRevision: lambdaevents.NewNumberAttribute(fmt.Sprint(rev)),
	}
	return lambdaevents.DynamoDBEventRecord{
		EventID: "ev-" + name, EventName: "MODIFY", EventSource: "aws:dynamodb",
		Change: lambdaevents.DynamoDBStreamRecord{
			Keys:           map[string]lambdaevents.DynamoDBAttributeValue{store.AttrPK: img[store.AttrPK], store.AttrSK: img[store.AttrSK]},
			NewImage:       img,
			SequenceNumber: "100",
			StreamViewType: "NEW_AND_OLD_IMAGES",
		},
	}
}
