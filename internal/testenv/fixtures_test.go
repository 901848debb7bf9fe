package testenv_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/okrahq/okra/internal/testenv"
)

func TestUniqueName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]$`)
	tests := []struct{ prefix, wantPrefix string }{
		{"tg", "tg-"},
		{"Test/weighted forward", "Test-weighted-forward-"},
		{strings.Repeat("long", 20), "longlonglonglonglonglon-"}, // cut to 23 + "-" + 8
		{"---", "t-"},
		{"", "t-"},
		{"abcdefghij-abcdefghijk-zz", "abcdefghij-abcdefghijk-"}, // the cut ends at a hyphen
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			a, b := testenv.UniqueName(tt.prefix), testenv.UniqueName(tt.prefix)
			if a == b {
				t.Fatalf("two calls returned %q", a)
			}
			for _, n := range []string{a, b} {
				if len(n) > 32 || !valid.MatchString(n) || strings.Contains(n, "--") {
					t.Fatalf("UniqueName(%q) = %q: want <= 32 letters, digits and single hyphens", tt.prefix, n)
				}
				if !strings.HasPrefix(n, tt.wantPrefix) {
					t.Fatalf("UniqueName(%q) = %q, want prefix %q", tt.prefix, n, tt.wantPrefix)
				}
			}
		})
	}
}

// scriptedDescriber answers DescribeExecution from a list of statuses.
type scriptedDescriber struct {
	statuses []sfntypes.ExecutionStatus
	err      error
	calls    int
}

func (s *scriptedDescriber) DescribeExecution(_ context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	s.calls++
	if s.err != nil {
		return nil, s.err
	}
	i := min(s.calls-1, len(s.statuses)-1)
	return &sfn.DescribeExecutionOutput{ExecutionArn: in.ExecutionArn, Status: s.statuses[i]}, nil
}

func TestWaitExecution(t *testing.T) {
	ctx := context.Background()

	d := &scriptedDescriber{statuses: []sfntypes.ExecutionStatus{"RUNNING", "RUNNING", "SUCCEEDED"}}
	out, err := testenv.WaitExecution(ctx, d, "arn:exec", 5*time.Second)
	if err != nil || out.Status != sfntypes.ExecutionStatusSucceeded || d.calls != 3 {
		t.Fatalf("WaitExecution = %v, %v after %d calls; want SUCCEEDED after 3", out, err, d.calls)
	}

	d = &scriptedDescriber{statuses: []sfntypes.ExecutionStatus{"RUNNING"}}
	out, err = testenv.WaitExecution(ctx, d, "arn:exec", 250*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "still RUNNING") {
		t.Fatalf("WaitExecution of a stuck execution: error %v, want a timeout naming RUNNING", err)
	}
	if out == nil || aws.ToString(out.ExecutionArn) != "arn:exec" {
		t.Fatalf("WaitExecution should return the last description on timeout, got %v", out)
	}

	boom := errors.New("boom")
	d = &scriptedDescriber{err: boom}
	if _, err := testenv.WaitExecution(ctx, d, "arn:exec", time.Second); !errors.Is(err, boom) {
		t.Fatalf("WaitExecution error = %v, want it to wrap the DescribeExecution error", err)
	}
}
