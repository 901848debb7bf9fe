package e2e

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"sigs.k8s.io/yaml"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/cli"
	"github.com/okrahq/okra/internal/onboarding"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
	"github.com/okrahq/okra/internal/weights"
)

// streamRecord is the table stream's MODIFY record for a spec written at
// rev over oldSpec, as DynamoDB delivers it to config-change.
func streamRecord(name string, rev int64, oldSpec, spec string) lambdaevents.DynamoDBEventRecord {
	image := func(s string, r int64) map[string]lambdaevents.DynamoDBAttributeValue {
		return map[string]lambdaevents.DynamoDBAttributeValue{
			store.AttrPK:       lambdaevents.NewStringAttribute(store.KindCell + "#" + name),
			store.AttrSK:       lambdaevents.NewStringAttribute(store.SKSpec),
			store.AttrSpec:     lambdaevents.NewStringAttribute(s),
			store.AttrRevision: lambdaevents.NewNumberAttribute(strconv.FormatInt(r, 10)),
		}
	}
	seq := strconv.FormatInt(time.Now().UnixNano(), 10)
	img := image(spec, rev)
	return lambdaevents.DynamoDBEventRecord{
		EventID: "ev-" + seq, EventName: "MODIFY", EventSource: "aws:dynamodb",
		Change: lambdaevents.DynamoDBStreamRecord{
			Keys:     map[string]lambdaevents.DynamoDBAttributeValue{store.AttrPK: img[store.AttrPK], store.AttrSK: img[store.AttrSK]},
			NewImage: img, OldImage: image(oldSpec, rev-1),
			SequenceNumber: seq, StreamViewType: "NEW_AND_OLD_IMAGES",
		},
	}
}

// TestSpecEditsMidRollout: while a rollout waits for promote,
//   - an edit of a later step through `okra cell apply` is stored, recorded
//     in the history with its diff, and the rollout runs it;
//   - an ingress edit through `okra cell apply` is refused, naming the
//     rollout, and stores nothing;
//   - an ingress edit written to the table directly (as the DynamoDB
//     console does) is recorded by config-change as held, and nothing moves
//     on either listener.
//
// The invariant monitor watches the listener throughout: it only ever
// shows the rollout's own steps.
func TestSpecEditsMidRollout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, canary(20, "pause", 50, 100), time.Second, map[string]bool{"v1": true, "v2": true})
	quiet := slog.New(slog.DiscardHandler)
	onb, err := onboarding.NewFromAWS(f.ctx, options.Options{TableName: f.okra.TableName, StateMachineARN: f.okra.StateMachineARN}, f.okra.AWS, quiet)
	if err != nil {
		t.Fatal(err)
	}
	// deliver hands config-change the stream record of the write that
	// took the spec from revision rev-1 to rev.
	deliver := func(oldSpec string) {
		t.Helper()
		rec, err := f.okra.Store.GetCell(f.ctx, f.name)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := onb.ConfigChange(f.ctx, lambdaevents.DynamoDBEvent{Records: []lambdaevents.DynamoDBEventRecord{streamRecord(f.name, rec.Revision, oldSpec, string(rec.Spec))}})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("ConfigChange = %+v, %v\n%s", resp, err, tail(shared.logs.String(), 3000))
		}
	}
	okra := func(doc string, args ...string) (int, string) {
		var out, errOut bytes.Buffer
		full := append([]string{"--endpoint-url", shared.stack.Endpoint, "--table", f.okra.TableName}, args...)
		code := cli.Run(context.Background(), full, strings.NewReader(doc), &out, &errOut)
		return code, out.String() + errOut.String()
	}
	asYAML := func(c *cell.Cell) string {
		t.Helper()
		b, err := yaml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	stored := func() store.CellRecord {
		t.Helper()
		rec, err := f.okra.Store.GetCell(f.ctx, f.name)
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}

	paused := f.split("v1", 80, "v2", 20)
	sixty := f.split("v1", 40, "v2", 60)
	// Every forward action the listener shows is one the rollout's own
	// steps set (the edited step 3 at 60%), and the invariants hold.
	m := f.monitor(onlyPlanned(paused, sixty, f.split("v1", 0, "v2", 100), f.split("v2", 100)))
	arn := f.start("v2", 1)
	f.waitPaused(arn)
	if !weights.Equal(f.forward(), paused) {
		t.Fatalf("paused with the listener at %s, want 80/20", f.describe(f.forward()))
	}

	// 1. A later step's weight, through okra cell apply.
	rev1 := stored()
	edited := *rev1.Cell
	edited.Spec.UpdateStrategy.Canary.Steps = canary(20, "pause", 60, 100)
	if code, out := okra(asYAML(&edited), "cell", "apply", "-f", "-"); code != 0 || !strings.Contains(out, "configured (revision 2)") {
		t.Fatalf("apply of a step edit mid-rollout: exit %d\n%s", code, out)
	}
	deliver(string(rev1.Spec))
	rev2 := stored()

	// 2. The ingress, through okra cell apply: refused.
	network := testenv.NewNetwork(t, f.okra.AWS.EC2())
	lb2, err := f.elb.CreateLoadBalancer(f.ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String(testenv.UniqueName("alb")), Subnets: network.SubnetIDs, Type: elbv2types.LoadBalancerTypeEnumApplication})
	if err != nil {
		t.Fatalf("CreateLoadBalancer: %v", err)
	}
	other, err := f.elb.CreateListener(f.ctx, &elbv2.CreateListenerInput{
		LoadBalancerArn: lb2.LoadBalancers[0].LoadBalancerArn, Port: aws.Int32(80), Protocol: elbv2types.ProtocolEnumHttp,
		DefaultActions: []elbv2types.Action{{Type: elbv2types.ActionTypeEnumFixedResponse, FixedResponseConfig: &elbv2types.FixedResponseActionConfig{StatusCode: aws.String("503")}}},
	})
	if err != nil {
		t.Fatalf("CreateListener: %v", err)
	}
	otherARN := aws.ToString(other.Listeners[0].ListenerArn)
	moved := *rev2.Cell
	moved.Spec.Ingress.ListenerARN = otherARN
	code, out := okra(asYAML(&moved), "cell", "apply", "-f", "-")
	if code != 1 || !strings.Contains(out, "spec.ingress: cannot change while rollout "+f.name+"--v2--1 of v2 runs (step 2 of 4)") {
		t.Errorf("apply of an ingress edit mid-rollout: exit %d, want 1 naming the rollout\n%s", code, out)
	}
	if got := stored(); got.Revision != rev2.Revision || got.Cell.Spec.Ingress.ListenerARN != f.listener {
		t.Errorf("the refused apply stored revision %d on %s", got.Revision, got.Cell.Spec.Ingress.ListenerARN)
	}

	// 3. The ingress, written to the table as the console would.
	if _, err := f.okra.Store.PutCell(f.ctx, &moved, rev2.Revision); err != nil {
		t.Fatalf("PutCell: %v", err)
	}
	deliver(string(rev2.Spec))
	time.Sleep(time.Second) // anything config-change set off would show by now
	if !weights.Equal(f.forward(), paused) {
		t.Errorf("after the console edit the listener is at %s, want it left at 80/20", f.describe(f.forward()))
	}
	if l, err := f.elb.DescribeListeners(f.ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{otherARN}}); err != nil || l.Listeners[0].DefaultActions[0].Type != elbv2types.ActionTypeEnumFixedResponse {
		t.Errorf("the listener the console edit names was changed: %+v, %v", l, err)
	}

	// The operator puts the ingress back (as the held event asks), then
	// promotes: the rollout runs the edited step 3 (60%) and completes.
	back := stored()
	restored := *back.Cell
	restored.Spec.Ingress.ListenerARN = f.listener
	if _, err := f.okra.Store.PutCell(f.ctx, &restored, back.Revision); err != nil {
		t.Fatalf("PutCell: %v", err)
	}
	deliver(string(back.Spec))
	if _, err := f.okra.Gate.Promote(f.ctx, f.name); err != nil {
		t.Fatalf("Promote: %v\n%s", err, f.dump(arn))
	}
	f.wait(arn, sfntypes.ExecutionStatusSucceeded, 60*time.Second)
	m.stop()
	m.assertClean()
	var sawSixty bool
	for _, fwd := range m.Seen() {
		sawSixty = sawSixty || weights.Equal(fwd, sixty)
	}
	if !sawSixty {
		t.Errorf("the edited step (60%%) never showed on the listener; saw %d states", len(m.Seen()))
	}

	var summaries, held []string
	for _, ev := range f.events() {
		switch ev.Type {
		case store.EventSpecApplied:
			summaries = append(summaries, ev.Message)
		case store.EventSpecIngressHeld:
			held = append(held, ev.Message)
		}
	}
	wantApplied := []string{
		"revision 2: steps[2].setWeight 50→60",
		"revision 3: ingress.listenerARN " + f.listener + "→" + otherARN,
		"revision 4: ingress.listenerARN " + otherARN + "→" + f.listener,
	}
	if strings.Join(summaries, "\n") != strings.Join(wantApplied, "\n") {
		t.Errorf("SpecApplied events:\n%s\nwant:\n%s", strings.Join(summaries, "\n"), strings.Join(wantApplied, "\n"))
	}
	if len(held) != 2 || !strings.Contains(held[0], "revision 3 changes the ingress while rollout "+f.name+"--v2--1 of v2 runs (step 2 of 4)") {
		t.Errorf("SpecIngressHeld events %q, want revisions 3 and 4 held, naming the rollout", held)
	}
}
