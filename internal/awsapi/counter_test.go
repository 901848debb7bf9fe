package awsapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/okrahq/okra/internal/awsapi"
)

const callerIdentityXML = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::123456789012:user/test</Arn>
    <UserId>AIDATEST</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>`

const sessionTokenXML = `<GetSessionTokenResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetSessionTokenResult>
    <Credentials>
      <AccessKeyId>AKIATEST</AccessKeyId>
      <SecretAccessKey>secret</SecretAccessKey>
      <SessionToken>token</SessionToken>
      <Expiration>2030-01-01T00:00:00Z</Expiration>
    </Credentials>
  </GetSessionTokenResult>
  <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000001</RequestId></ResponseMetadata>
</GetSessionTokenResponse>`

func stsErrorXML(code string) string {
	return fmt.Sprintf(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Receiver</Type><Code>%s</Code><Message>injected by the test</Message></Error>
  <RequestId>00000000-0000-0000-0000-000000000002</RequestId>
</ErrorResponse>`, code)
}

// fakeSTS answers the STS query protocol. fail decides, per action and
// 1-based attempt number of that action, whether to answer with an error
// (HTTP status and code) instead of success.
type fakeSTS struct {
	mu       sync.Mutex
	attempts map[string]int
	fail     func(action string, attempt int) (status int, code string)
}

func (f *fakeSTS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	action := r.PostForm.Get("Action")
	f.mu.Lock()
	f.attempts[action]++
	attempt := f.attempts[action]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	if f.fail != nil {
		if status, code := f.fail(action, attempt); status != 0 {
			w.WriteHeader(status)
			fmt.Fprint(w, stsErrorXML(code))
			return
		}
	}
	switch action {
	case "GetCallerIdentity":
		fmt.Fprint(w, callerIdentityXML)
	case "GetSessionToken":
		fmt.Fprint(w, sessionTokenXML)
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, stsErrorXML("InvalidAction"))
	}
}

func (f *fakeSTS) served(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts[action]
}

// newSTS builds an STS client through awsapi.LoadConfig (so the counter is
// attached the way production code attaches it) against a fake server,
// with retry backoff shortened so the test takes milliseconds.
func newSTS(t *testing.T, fake *fakeSTS, maxAttempts int) (*sts.Client, *awsapi.CallCounter) {
	t.Helper()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	counter := awsapi.NewCallCounter()
	cfg, err := awsapi.LoadConfig(context.Background(), awsapi.Options{
		Region:      "us-east-1",
		Endpoint:    srv.URL,
		MaxAttempts: maxAttempts,
		Counter:     counter,
	})
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	client := sts.NewFromConfig(cfg.AWS, func(o *sts.Options) {
		o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, time.Millisecond)
	})
	return client, counter
}

func TestCallCounterCountsEachOperation(t *testing.T) {
	fake := &fakeSTS{attempts: map[string]int{}}
	client, counter := newSTS(t, fake, 3)
	ctx := context.Background()
	for range 3 {
		if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
			t.Fatalf("GetCallerIdentity: %v", err)
		}
	}
	if _, err := client.GetSessionToken(ctx, &sts.GetSessionTokenInput{}); err != nil {
		t.Fatalf("GetSessionToken: %v", err)
	}

	want := map[string]int{"STS.GetCallerIdentity": 3, "STS.GetSessionToken": 1}
	if got := counter.Snapshot(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Snapshot() = %v, want %v", got, want)
	}
	if got := counter.Count("STS.GetCallerIdentity"); got != 3 {
		t.Errorf("Count(GetCallerIdentity) = %d, want 3", got)
	}
	if got := counter.Count("STS.AssumeRole"); got != 0 {
		t.Errorf("Count(AssumeRole) = %d, want 0", got)
	}
	if got := counter.Total(); got != 4 {
		t.Errorf("Total() = %d, want 4", got)
	}
	if got, want := counter.Operations(), []string{"STS.GetCallerIdentity", "STS.GetSessionToken"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Operations() = %v, want %v", got, want)
	}

	// The snapshot is a copy.
	snap := counter.Snapshot()
	snap["STS.GetCallerIdentity"] = 100
	if got := counter.Count("STS.GetCallerIdentity"); got != 3 {
		t.Errorf("mutating a snapshot changed the counter: Count = %d", got)
	}

	counter.Reset()
	if got := counter.Total(); got != 0 {
		t.Errorf("Total() after Reset = %d, want 0", got)
	}
	if _, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("GetCallerIdentity after Reset: %v", err)
	}
	if got := counter.Snapshot(); !reflect.DeepEqual(got, map[string]int{"STS.GetCallerIdentity": 1}) {
		t.Errorf("Snapshot() after Reset and one call = %v", got)
	}
}

func TestCallCounterCountsEveryRetryAttempt(t *testing.T) {
	tests := []struct {
		name         string
		maxAttempts  int
		fail         func(action string, attempt int) (int, string)
		wantErr      bool
		wantThrottle bool
		wantCount    int
	}{
		{
			name:        "500 then 200",
			maxAttempts: 3,
			fail: func(_ string, attempt int) (int, string) {
				if attempt == 1 {
					return http.StatusInternalServerError, "InternalFailure"
				}
				return 0, ""
			},
			wantCount: 2,
		},
		{
			name:        "two 503s then 200",
			maxAttempts: 5,
			fail: func(_ string, attempt int) (int, string) {
				if attempt <= 2 {
					return http.StatusServiceUnavailable, "ServiceUnavailable"
				}
				return 0, ""
			},
			wantCount: 3,
		},
		{
			name:         "throttled until the retryer gives up",
			maxAttempts:  3,
			fail:         func(string, int) (int, string) { return http.StatusBadRequest, "Throttling" },
			wantErr:      true,
			wantThrottle: true,
			wantCount:    3,
		},
		{
			name:        "a client error is not retried",
			maxAttempts: 3,
			fail:        func(string, int) (int, string) { return http.StatusForbidden, "AccessDenied" },
			wantErr:     true,
			wantCount:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSTS{attempts: map[string]int{}, fail: tt.fail}
			client, counter := newSTS(t, fake, tt.maxAttempts)
			_, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("GetCallerIdentity error = %v, want error: %v", err, tt.wantErr)
			}
			if got := awsapi.IsThrottle(err); got != tt.wantThrottle {
				t.Errorf("IsThrottle(%v) = %v, want %v", err, got, tt.wantThrottle)
			}
			if got := fake.served("GetCallerIdentity"); got != tt.wantCount {
				t.Errorf("server saw %d attempts, want %d", got, tt.wantCount)
			}
			if got := counter.Count("STS.GetCallerIdentity"); got != tt.wantCount {
				t.Errorf("counter = %d, want %d (one per attempt; server saw %d)", got, tt.wantCount, fake.served("GetCallerIdentity"))
			}
		})
	}
}

func TestCallCounterIsSafeForConcurrentUse(t *testing.T) {
	fake := &fakeSTS{attempts: map[string]int{}}
	client, counter := newSTS(t, fake, 1)
	var wg sync.WaitGroup
	var failures atomic.Int32
	const callers = 16
	for range callers {
		wg.Go(func() {
			if _, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
				failures.Add(1)
			}
		})
	}
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d concurrent calls failed", n)
	}
	if got := counter.Count("STS.GetCallerIdentity"); got != callers {
		t.Fatalf("counted %d concurrent calls, want %d", got, callers)
	}
}

func TestLoadConfigWithoutCounterCountsNothing(t *testing.T) {
	// A counter attached to one configuration must not see calls made
	// through another.
	fake := &fakeSTS{attempts: map[string]int{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	counter := awsapi.NewCallCounter()
	if _, err := awsapi.LoadConfig(context.Background(), awsapi.Options{Region: "us-east-1", Endpoint: srv.URL, Counter: counter}); err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	other, err := awsapi.LoadConfig(context.Background(), awsapi.Options{Region: "us-east-1", Endpoint: srv.URL})
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if _, err := other.STS().GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if got := counter.Total(); got != 0 {
		t.Fatalf("counter saw %d calls made through another configuration", got)
	}
	if fake.served("GetCallerIdentity") != 1 {
		t.Fatalf("server saw %d calls, want 1", fake.served("GetCallerIdentity"))
	}
}

func TestLoadConfig(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_PROFILE", "")

	if _, err := awsapi.LoadConfig(context.Background(), awsapi.Options{Endpoint: "http://127.0.0.1:1"}); err == nil {
		t.Fatal("LoadConfig without a region succeeded, want an error naming the missing region")
	}

	cfg, err := awsapi.LoadConfig(context.Background(), awsapi.Options{Region: "eu-west-1", Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if cfg.AWS.Region != "eu-west-1" {
		t.Errorf("region = %q", cfg.AWS.Region)
	}
	if got := aws.ToString(cfg.AWS.BaseEndpoint); got != "http://127.0.0.1:1" {
		t.Errorf("base endpoint = %q", got)
	}
	if got := cfg.AWS.Retryer().MaxAttempts(); got != 5 {
		t.Errorf("default max attempts = %d, want 5", got)
	}
	creds, err := cfg.AWS.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatalf("credentials for a custom endpoint: %v", err)
	}
	if creds.AccessKeyID != "test" {
		t.Errorf("custom endpoint credentials = %q, want the static test key", creds.AccessKeyID)
	}
}
