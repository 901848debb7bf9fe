package awsapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/local"
)

// elbStandIn answers every ELBv2 call with an empty
// DescribeTargetGroups result.
func elbStandIn(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<DescribeTargetGroupsResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><DescribeTargetGroupsResult><TargetGroups/></DescribeTargetGroupsResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DescribeTargetGroupsResponse>`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type burstResult struct {
	failed    int
	attempts  int // calls the budget saw
	throttled int
}

// burst makes callers×calls DescribeTargetGroups calls from callers
// goroutines sharing one client, through the gateway enforcing a small
// real-time ELBv2 budget.
func burst(t *testing.T, mode aws.RetryMode, callers, calls int) burstResult {
	t.Helper()
	budget, err := local.NewELBBudget(local.SystemClock{}, local.BucketLimits{Burst: 5, PerSecond: 20}, local.ELBMutateLimits)
	if err != nil {
		t.Fatal(err)
	}
	f, err := local.NewFaults(local.FaultSpec{})
	if err != nil {
		t.Fatal(err)
	}
	f.SetBudget(budget)
	g, err := local.NewGateway(elbStandIn(t), local.WithFaults(f), local.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	gw := httptest.NewServer(g)
	t.Cleanup(gw.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg, err := awsapi.LoadConfig(ctx, awsapi.Options{Region: "us-east-1", Endpoint: gw.URL, RetryMode: mode})
	if err != nil {
		t.Fatal(err)
	}
	elb := cfg.ELBv2()
	var mu sync.Mutex
	var res burstResult
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range calls {
				if _, err := elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{}); err != nil {
					if !awsapi.IsTransient(err) {
						t.Errorf("%s mode: a throttled call failed with a non-transient error: %v", mode, err)
					}
					mu.Lock()
					res.failed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	s := budget.Spent(local.SpenderOkra)
	res.attempts, res.throttled = s.Admitted+s.Throttled, s.Throttled
	return res
}

// TestAdaptiveRetryAbsorbsAThrottledBurst: 30 concurrent callers of one
// client against a bucket of 5 refilled 20 a second. The adaptive mode
// (okra's default) completes every call; the standard mode, each call
// retrying on its own, either fails calls (attempts or retry quota spent)
// or spends clearly more throttled attempts on the shared bucket.
func TestAdaptiveRetryAbsorbsAThrottledBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("takes several seconds of real time")
	}
	const callers, calls = 30, 3
	adaptive := burst(t, aws.RetryModeAdaptive, callers, calls)
	standard := burst(t, aws.RetryModeStandard, callers, calls)
	t.Logf("adaptive: %+v; standard: %+v", adaptive, standard)
	if adaptive.failed != 0 {
		t.Fatalf("adaptive mode: %d of %d calls failed", adaptive.failed, callers*calls)
	}
	if adaptive.throttled == 0 {
		t.Fatal("the burst was never throttled: the test proves nothing")
	}
	if standard.failed == 0 && standard.throttled < adaptive.throttled*3/2 {
		t.Fatalf("standard mode did as well as adaptive (%+v vs %+v): the comparison shows nothing", standard, adaptive)
	}
}

func TestLoadConfigRejectsAnUnknownRetryMode(t *testing.T) {
	if _, err := awsapi.LoadConfig(context.Background(), awsapi.Options{Region: "us-east-1", RetryMode: "legacy"}); err == nil {
		t.Fatal("an unknown retry mode was accepted")
	}
	if _, ok := awsapi.NewRetryer("", 0).(*retry.AdaptiveMode); !ok {
		t.Fatalf("the default retryer is %T, want the adaptive mode", awsapi.NewRetryer("", 0))
	}
	if r := awsapi.NewRetryer(aws.RetryModeStandard, 0); r.MaxAttempts() != awsapi.DefaultMaxAttempts {
		t.Fatalf("standard retryer: %d attempts, want %d", r.MaxAttempts(), awsapi.DefaultMaxAttempts)
	}
	if r := awsapi.NewRetryer("", 2); r.MaxAttempts() != 2 {
		t.Fatalf("adaptive retryer: %d attempts, want 2", r.MaxAttempts())
	}
}
