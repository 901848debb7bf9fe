package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/weights"
)

// TestUnreadableSpecWithDeadHolderIsRecoveredByReconcile: mid-rollout
// (40%, timed pause) the Cell's spec is edited in the DynamoDB console
// into a document that no longer decodes, and the rollout's execution is
// stopped; its safety-net event is never delivered. The next reconcile
// cannot load the Cell, yet it must not leave the dead execution holding
// it: it recovers the rollout from what the status records
// (status.snapshotAt, the snapshot, the minimum of healthy targets),
// puts the listener back to the snapshot under the never-route-to-nothing
// rule, releases the lease, blocks v2, and the history says why; the
// status then says the spec is invalid. The invariant monitor watches
// the listener throughout.
func TestUnreadableSpecWithDeadHolderIsRecoveredByReconcile(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: needs the moto emulator (skipped with -short)")
	}
	t.Parallel()
	f, onb := newReconcileFixture(t, canary(40, time.Minute, 80, "pause"))
	ctx := f.ctx
	m := f.monitor()
	defer m.assertClean()

	arn := f.start("v2", 1)
	f.waitFor(arn, "the 40% step and its timed pause", 30*time.Second, func() (bool, string) {
		st := f.status()
		return st.ExecutionARN == arn && st.StepIndex == 1 && st.PausedUntil != nil, string(st.Phase) + ": " + st.Message
	})
	half := f.split("v1", 60, "v2", 40)
	if !weights.Equal(f.forward(), half) {
		t.Fatalf("listener %s, want v1=60 v2=40", f.describe(f.forward()))
	}

	// The console edit: the stored document is cut short.
	const broken = `{"apiVersion": "okra.io/v1alpha1", "kind": "Cell", "spec": {"ingress": {"listenerARN": `
	if _, err := f.okra.AWS.DynamoDB().UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(f.okra.TableName),
		Key: map[string]ddbtypes.AttributeValue{
			store.AttrPK: &ddbtypes.AttributeValueMemberS{Value: store.KindCell + "#" + f.name},
			store.AttrSK: &ddbtypes.AttributeValueMemberS{Value: store.SKSpec},
		},
		UpdateExpression:          aws.String("SET #spec = :broken"),
		ExpressionAttributeNames:  map[string]string{"#spec": store.AttrSpec},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":broken": &ddbtypes.AttributeValueMemberS{Value: broken}},
	}); err != nil {
		t.Fatalf("editing the spec as the console would: %v", err)
	}
	if rec, err := f.okra.Store.GetCell(ctx, f.name); err != nil || rec.DecodeErr == nil {
		t.Fatalf("the edited spec: %v, decode error %v; want it unreadable", err, rec.DecodeErr)
	}

	// The holder dies; its status-change event is lost.
	if _, err := f.sfn.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: aws.String(arn), Error: aws.String("OperatorStop"), Cause: aws.String("stopped from the console")}); err != nil {
		t.Fatalf("StopExecution: %v", err)
	}
	f.wait(arn, sfntypes.ExecutionStatusAborted, 15*time.Second)
	if st := f.status(); st.ExecutionARN != arn || !weights.Equal(f.forward(), half) {
		t.Fatalf("before the reconcile: lease %q, listener %s; want the stopped execution and 60/40", st.ExecutionARN, f.describe(f.forward()))
	}

	m.Reconciling("the reconcile", func() {
		rep, err := onb.ReconcileAll(ctx)
		if err != nil {
			t.Errorf("ReconcileAll: %v\n%s", err, f.dump(arn))
		}
		if len(rep.InvalidCells) != 1 || rep.InvalidCells[0] != f.name {
			t.Errorf("reconcile report: invalid Cells %v, want %s", rep.InvalidCells, f.name)
		}
	})

	if got := f.forward(); !weights.Equal(got, f.snapshot) || got.Stickiness == nil || *got.Stickiness != *f.snapshot.Stickiness {
		t.Errorf("listener after the reconcile: %s, want the snapshot %s", f.describe(got), f.describe(f.snapshot))
	}
	st := f.status()
	if st.Leased() {
		t.Errorf("the dead execution %s still holds the Cell\n%s", st.ExecutionARN, f.dump(arn))
	}
	if st.Phase != rollout.PhaseInvalid || !strings.Contains(st.Message, "is invalid") {
		t.Errorf("status %s %q, want Invalid (the spec does not decode)", st.Phase, st.Message)
	}
	var why string
	for _, ev := range f.events() {
		if ev.Type == store.EventRolledBack && ev.Execution == arn {
			why = ev.Message
		}
	}
	for _, want := range []string{"ended ABORTED", "found by reconcile", "recovered from the rollout's status", "cannot be decoded"} {
		if !strings.Contains(why, want) {
			t.Errorf("RolledBack event %q does not say %q\n%s", why, want, f.dump(arn))
		}
	}
	if _, blocked, err := f.okra.Store.IsBlocked(ctx, f.name, "v2"); err != nil || !blocked {
		t.Errorf("v2 blocked after the recovery: %t (%v), want blocked", blocked, err)
	}
}
