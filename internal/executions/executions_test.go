package executions

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/okrahq/okra/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func TestName(t *testing.T) {
	cases := []struct {
		name          string
		cell, version string
		attempt       int
		want          string
	}{
		{"plain", "web", "v2", 1, "web--v2--1"},
		{"attempt below one is one", "web", "v2", 0, "web--v2--1"},
		{"retry", "web", "v2", 3, "web--v2--3"},
		{"dots become underscores with a hash", "web", "1.2.3", 1, "web--1_2_3--1-"},
		{"plus becomes underscore with a hash", "web", "v2.0.0+build.7", 1, "web--v2_0_0_build_7--1-"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Name(tc.cell, tc.version, tc.attempt)
			if !strings.HasPrefix(got, tc.want) || (tc.want[len(tc.want)-1] != '-' && got != tc.want) {
				t.Fatalf("Name = %q, want %q", got, tc.want)
			}
			if !validName.MatchString(got) {
				t.Fatalf("Name %q is not a valid execution name", got)
			}
		})
	}
}

func TestNameIsUniqueAndBounded(t *testing.T) {
	seen := map[string]string{}
	long := strings.Repeat("x", 120)
	for _, v := range []string{"1.2.3", "1_2_3", "1-2-3", long + "a", long + "b", "v2.0.0-rc.1", "v2.0.0-rc_1"} {
		n := Name("web", v, 1)
		if !validName.MatchString(n) {
			t.Fatalf("Name(%q) = %q: invalid", v, n)
		}
		if prev, ok := seen[n]; ok {
			t.Fatalf("versions %q and %q share execution name %q", prev, v, n)
		}
		seen[n] = v
	}
}

func TestARN(t *testing.T) {
	got := ARN("arn:aws:states:us-east-1:123456789012:stateMachine:okra-rollout", "web--v2--1")
	want := "arn:aws:states:us-east-1:123456789012:execution:okra-rollout:web--v2--1"
	if got != want {
		t.Fatalf("ARN = %q, want %q", got, want)
	}
}

func TestStartIsIdempotentAgainstEmulator(t *testing.T) {
	cfg, counter := testenv.AWS(t)
	ctx := context.Background()
	client := cfg.SFN()
	sm, err := client.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String(fmt.Sprintf("okra-rollout-%d", time.Now().UnixNano())),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/okra"),
		Definition: aws.String(`{"StartAt":"Hold","States":{"Hold":{"Type":"Wait","Seconds":30,"End":true}}}`),
	})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	ex := New(client, aws.ToString(sm.StateMachineArn), nil)
	in := Input{Cell: "web", TargetVersion: "v2", FromVersion: "v1", Trigger: "test"}

	arn1, started1, err := ex.Start(ctx, in)
	if err != nil || !started1 {
		t.Fatalf("first Start = %q, %v, %v; want started", arn1, started1, err)
	}
	arn2, started2, err := ex.Start(ctx, in)
	if err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if started2 || arn2 != arn1 {
		t.Fatalf("second Start = %q, started %v; want %q, not started", arn2, started2, arn1)
	}
	if n := counter.Count("SFN.StartExecution"); n != 1 {
		t.Fatalf("StartExecution calls = %d, want 1: the duplicate must be found first (counts %v)", n, counter.Snapshot())
	}
	list, err := client.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: sm.StateMachineArn})
	if err != nil {
		t.Fatalf("ListExecutions: %v", err)
	}
	if len(list.Executions) != 1 {
		t.Fatalf("executions = %d, want 1", len(list.Executions))
	}
	// A trigger with other input for a running rollout is a duplicate too.
	other := in
	other.Trigger = "reconcile"
	if arn3, started3, err := ex.Start(ctx, other); err != nil || started3 || arn3 != arn1 {
		t.Fatalf("Start with other input = %q, %v, %v; want existing, not started", arn3, started3, err)
	}

	running, err := ex.IsRunning(ctx, arn1)
	if err != nil || !running {
		t.Fatalf("IsRunning = %v, %v; want true", running, err)
	}
	if err := ex.Stop(ctx, arn1, "Test", "stopped by test"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// moto ends a stopped execution on its worker thread, a moment after
	// StopExecution answers (on AWS the stop is immediate), so poll briefly.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		running, err = ex.IsRunning(ctx, arn1)
		if err != nil || !running || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || running {
		t.Fatalf("IsRunning after Stop = %v, %v; want false", running, err)
	}
	missing := ARN(aws.ToString(sm.StateMachineArn), "never-started")
	if running, err := ex.IsRunning(ctx, missing); err != nil || running {
		t.Fatalf("IsRunning(missing) = %v, %v; want false, nil", running, err)
	}
}

func TestStartRefusesEmptyInput(t *testing.T) {
	ex := New(nil, "arn:aws:states:us-east-1:123456789012:stateMachine:x", nil)
	if _, _, err := ex.Start(context.Background(), Input{Cell: "web"}); err == nil {
		t.Fatal("Start accepted an empty target version")
	}
}
