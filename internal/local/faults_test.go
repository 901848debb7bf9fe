package local_test

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/local"
	"github.com/okrahq/okra/internal/testenv"
)

func TestParseFaults(t *testing.T) {
	good := []struct {
		name, text string
		want       local.FaultSpec
	}{
		{"empty", "", local.FaultSpec{}},
		{"the issue's example", "elasticloadbalancing:throttle=0.2,dynamodb:500=0.1,seed=42", local.FaultSpec{Seed: 42, Rules: []local.FaultRule{
			{Service: "elasticloadbalancing", Kind: local.FaultThrottle, Share: 0.2},
			{Service: "dynamodb", Kind: local.FaultInternalError, Share: 0.1},
		}}},
		{"spaces, options and from", " states:503=1 , eks:timeout=0.5:delay=250ms:max=3 ,from=all", local.FaultSpec{Callers: local.FaultCallersAll, Rules: []local.FaultRule{
			{Service: "states", Kind: local.FaultUnavailable, Share: 1},
			{Service: "eks", Kind: local.FaultTimeout, Share: 0.5, Delay: 250 * time.Millisecond, Max: 3},
		}}},
		{"operations", "elasticloadbalancing:throttle=1:op=ModifyListener|DescribeListeners:max=5", local.FaultSpec{Rules: []local.FaultRule{
			{Service: "elasticloadbalancing", Kind: local.FaultThrottle, Share: 1, Operations: []string{"ModifyListener", "DescribeListeners"}, Max: 5},
		}}},
		{"EKS operation", "eks:throttle=0.1:op=DescribeCluster", local.FaultSpec{Rules: []local.FaultRule{
			{Service: "eks", Kind: local.FaultThrottle, Share: 0.1, Operations: []string{"DescribeCluster"}},
		}}},
		{"lambda 429 is its throttle", "lambda:429=0.3:op=okra-plan:form=function-error", local.FaultSpec{Rules: []local.FaultRule{
			{Service: "lambda", Kind: local.FaultThrottle, Share: 0.3, Operations: []string{"okra-plan"}, Form: local.LambdaFaultFunctionError},
		}}},
		{"lambda api form", "lambda:500=0.05:form=api,from=okra", local.FaultSpec{Callers: local.FaultCallersOkra, Rules: []local.FaultRule{
			{Service: "lambda", Kind: local.FaultInternalError, Share: 0.05, Form: local.LambdaFaultAPIError},
		}}},
		{"largest seed, zero share", "seed=18446744073709551615,sts:throttle=0", local.FaultSpec{Seed: 18446744073709551615, Rules: []local.FaultRule{
			{Service: "sts", Kind: local.FaultThrottle, Share: 0},
		}}},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			got, err := local.ParseFaults(tt.text)
			if err != nil {
				t.Fatalf("ParseFaults(%q): %v", tt.text, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseFaults(%q) =\n%+v\nwant\n%+v", tt.text, got, tt.want)
			}
			// The text form round-trips, so a logged spec replays the run.
			again, err := local.ParseFaults(got.String())
			if err != nil || !reflect.DeepEqual(again.Rules, got.Rules) || again.Seed != got.Seed {
				t.Fatalf("ParseFaults(%q) = %+v, %v; want %+v", got.String(), again, err, got)
			}
		})
	}

	bad := []struct{ text, want string }{
		{"elbv2:throttle=0.2", `item 1 "elbv2:throttle=0.2": unknown service "elbv2": want one of autoscaling, dynamodb`},
		{"dynamodb:throttled=0.2", `unknown kind "throttled": want throttle, 500, 503 or timeout`},
		{"dynamodb:500=1.5", "share 1.5 is outside 0..1"},
		{"dynamodb:500=-0.1", "share -0.1 is outside 0..1"},
		{"dynamodb:500=NaN", "share NaN is outside 0..1"},
		{"dynamodb:500=abc", `share "abc" is not a number in 0..1`},
		{"dynamodb:500", "want dynamodb:KIND=SHARE"},
		{"dynamodb", `item 1 "dynamodb": want dynamodb:KIND=SHARE`},
		{"dynamodb:500=0.1,", "item 2 is empty"},
		{"sts:throttle=0.1,,seed=1", "item 2 is empty"},
		{"seed=-1", `seed "-1" is not a whole number`},
		{"seed=1,seed=2", "seed is set twice"},
		{"from=moto", `from="moto": want from=okra`},
		{"from=all,from=okra", "from is set twice"},
		{"retries=3", `item 1 "retries=3": want SERVICE:KIND=SHARE`},
		{"dynamodb:500=0.1:max=0", "max=0: want a whole number of faults, at least 1"},
		{"dynamodb:500=0.1:max=many", "max=many"},
		{"dynamodb:500=0.1:max", `option "max": want op=, max=, delay= or form= with a value`},
		{"dynamodb:500=0.1:delay=1s", "delay applies to timeout faults only"},
		{"dynamodb:timeout=0.1:delay=soon", "delay=soon: want a positive duration"},
		{"dynamodb:timeout=0.1:delay=0s", "delay=0s: want a positive duration"},
		{"dynamodb:500=0.1:form=function-error", "form applies to lambda faults only"},
		{"lambda:500=0.1:form=payload", `form "payload": want "api" or "function-error"`},
		{"lambda:timeout=0.1", "lambda faults are throttle (TooManyRequestsException, HTTP 429) or 500 (ServiceException)"},
		{"lambda:503=0.1", "lambda faults are throttle"},
		{"sts:429=0.1", `unknown kind "429"`},
		{"elasticloadbalancing:throttle=0.1:op=modifyListener", `op "modifyListener": want an API operation name`},
		{"eks:throttle=0.1:op=DescribeAddon", `op "DescribeAddon": the gateway recognises these EKS operations: CreateCluster`},
		{"lambda:500=1:op=bad.name", `op "bad.name": a lambda rule's operations are function names`},
		{"dynamodb:500=0.1:op=GetItem:op=PutItem", "option op is given twice"},
		{"dynamodb:500=0.1:retries=2", `unknown option "retries"`},
		{"sts:throttle=0.1,ec2:bad=1", `item 2 "ec2:bad=1"`},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.text, func(t *testing.T) {
			got, err := local.ParseFaults(tt.text)
			if err == nil {
				t.Fatalf("ParseFaults(%q) = %+v, want an error containing %q", tt.text, got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseFaults(%q) error = %q, want it to contain %q", tt.text, err, tt.want)
			}
		})
	}
}

func TestFaultSpecValidateNamesTheRule(t *testing.T) {
	_, err := local.NewFaults(local.FaultSpec{Rules: []local.FaultRule{
		{Service: "sts", Kind: local.FaultThrottle, Share: 0.1},
		{Service: "dynamodb", Kind: local.FaultTimeout, Share: 2},
	}})
	if err == nil || !strings.Contains(err.Error(), "rule 2 (dynamodb:timeout), share 2 is outside 0..1") {
		t.Fatalf("NewFaults error = %v", err)
	}
	f, err := local.NewFaults(local.FaultSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Set(local.FaultSpec{Callers: "moto"}); err == nil || !strings.Contains(err.Error(), `callers "moto"`) {
		t.Fatalf("Set error = %v", err)
	}
}

func TestFaultsFromEnvAndFlag(t *testing.T) {
	t.Setenv(local.FaultsEnv, "")
	if f, err := local.FaultsFromEnv(); f != nil || err != nil {
		t.Fatalf("FaultsFromEnv with the variable empty = %v, %v; want nil, nil", f, err)
	}
	t.Setenv(local.FaultsEnv, "states:throttle=0.25,seed=7")
	f, err := local.FaultsFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Spec().String(); got != "states:throttle=0.25,seed=7" {
		t.Fatalf("spec = %q", got)
	}
	t.Setenv(local.FaultsEnv, "states:throttle=2")
	if _, err := local.FaultsFromEnv(); err == nil || !strings.HasPrefix(err.Error(), "OKRA_LOCAL_FAULTS, fault spec item 1") {
		t.Fatalf("FaultsFromEnv error = %v, want one naming the variable and the item", err)
	}

	var spec local.FaultSpec
	fs := flag.NewFlagSet("okra", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	fs.Var(&spec, "faults", "fault spec")
	if err := fs.Parse([]string{"--faults", "dynamodb:500=0.1:op=GetItem,from=all,seed=3"}); err != nil {
		t.Fatal(err)
	}
	if spec.Seed != 3 || spec.Callers != local.FaultCallersAll || len(spec.Rules) != 1 || spec.Rules[0].Operations[0] != "GetItem" {
		t.Fatalf("flag value = %+v", spec)
	}
	if err := fs.Parse([]string{"--faults", "dynamodb:500"}); err == nil {
		t.Fatal("a bad spec on the command line was accepted")
	}
}

// fastRetries keeps okra's retryer (attempts, retryable and throttle
// classification, retry quota) but backs off 1ms, so tests that exhaust
// retries stay fast.
func fastRetries(cfg *awsapi.Config) {
	retryer := cfg.AWS.Retryer
	cfg.AWS.Retryer = func() aws.Retryer { return retry.AddWithMaxBackoffDelay(retryer(), time.Millisecond) }
}

// faultClientConfig is okra's AWS configuration pointed at endpoint with
// 3 attempts (testenv.Config), fast retries and a call counter.
func faultClientConfig(t *testing.T, endpoint string) (awsapi.Config, *awsapi.CallCounter) {
	t.Helper()
	counter := awsapi.NewCallCounter()
	cfg, err := testenv.Config(context.Background(), endpoint, counter)
	if err != nil {
		t.Fatal(err)
	}
	fastRetries(&cfg)
	return cfg, counter
}

// sdkCall is one AWS call as okra's code makes it.
type sdkCall struct {
	service string // SigV4 name, as a fault rule names it
	name    string
	call    func(context.Context, awsapi.Config) error
}

var sdkCalls = []sdkCall{
	{"elasticloadbalancing", "ELBv2 DescribeLoadBalancers", func(ctx context.Context, c awsapi.Config) error {
		_, err := c.ELBv2().DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
		return err
	}},
	{"dynamodb", "DynamoDB GetItem", func(ctx context.Context, c awsapi.Config) error {
		_, err := c.DynamoDB().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("okra"), Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "CELL#web"}}})
		return err
	}},
	{"dynamodb", "DynamoDB DescribeTable", func(ctx context.Context, c awsapi.Config) error {
		_, err := c.DynamoDB().DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("okra")})
		return err
	}},
	{"states", "SFN DescribeExecution", func(ctx context.Context, c awsapi.Config) error {
		_, err := c.SFN().DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String("arn:aws:states:us-east-1:123456789012:execution:okra-rollout:web-v2")})
		return err
	}},
	{"eks", "EKS DescribeCluster", func(ctx context.Context, c awsapi.Config) error {
		_, err := c.EKS().DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("web-1-v2")})
		return err
	}},
	{"sts", "STS GetCallerIdentity", func(ctx context.Context, c awsapi.Config) error {
		_, err := c.STS().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		return err
	}},
	{"secretsmanager", "Secrets Manager GetSecretValue", func(ctx context.Context, c awsapi.Config) error {
		_, err := c.SecretsManager().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("okra/datadog")})
		return err
	}},
	{"ec2", "EC2 DescribeVpcs", func(ctx context.Context, c awsapi.Config) error {
		_, err := c.EC2().DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
		return err
	}},
	{"monitoring", "CloudWatch GetMetricData (awsquery)", func(ctx context.Context, c awsapi.Config) error {
		now := time.Now()
		_, err := c.CloudWatch().GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
			StartTime: aws.Time(now.Add(-5 * time.Minute)), EndTime: aws.Time(now),
			MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("e"), Expression: aws.String("SUM(METRICS())")}},
		})
		return err
	}},
	{"events", "EventBridge PutEvents", func(ctx context.Context, c awsapi.Config) error {
		_, err := c.EventBridge().PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{Source: aws.String("okra"), DetailType: aws.String("t"), Detail: aws.String("{}")}}})
		return err
	}},
	{"sqs", "SQS ListQueues", func(ctx context.Context, c awsapi.Config) error {
		_, err := c.SQS().ListQueues(ctx, &sqs.ListQueuesInput{})
		return err
	}},
	{"sns", "SNS ListTopics", func(ctx context.Context, c awsapi.Config) error {
		_, err := c.SNS().ListTopics(ctx, &sns.ListTopicsInput{})
		return err
	}},
	{"autoscaling", "Auto Scaling DescribeAutoScalingGroups", func(ctx context.Context, c awsapi.Config) error {
		_, err := c.AutoScaling().DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
		return err
	}},
}

// wantFault is the error okra's SDK clients must see for a fault.
type wantFault struct {
	code   string
	status int
}

func wantFor(call sdkCall, kind local.FaultKind) wantFault {
	switch kind {
	case local.FaultThrottle:
		switch {
		case call.service == "ec2":
			return wantFault{"RequestLimitExceeded", 503}
		case call.name == "DynamoDB GetItem":
			return wantFault{"ProvisionedThroughputExceededException", 400}
		case strings.Contains("elasticloadbalancing monitoring sts sns autoscaling", call.service):
			return wantFault{"Throttling", 400}
		default:
			return wantFault{"ThrottlingException", 400}
		}
	case local.FaultInternalError:
		switch call.service {
		case "ec2":
			return wantFault{"InternalError", 500}
		case "dynamodb":
			return wantFault{"InternalServerError", 500}
		}
		return wantFault{"InternalFailure", 500}
	default:
		if call.service == "ec2" {
			return wantFault{"Unavailable", 503}
		}
		return wantFault{"ServiceUnavailable", 503}
	}
}

// checkExhausted asserts err is what the SDK returns when every attempt
// met the fault: the classified API error after maxAttempts attempts.
func checkExhausted(t *testing.T, err error, want wantFault, kind local.FaultKind, maxAttempts int) {
	t.Helper()
	if err == nil {
		t.Fatal("the call succeeded; want the injected fault after the retries")
	}
	if got := awsapi.Code(err); got != want.code {
		t.Errorf("error code = %q, want %q (error: %v)", got, want.code, err)
	}
	if got := awsapi.IsThrottle(err); got != (kind == local.FaultThrottle) {
		t.Errorf("awsapi.IsThrottle = %v for %v", got, err)
	}
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != want.status {
		t.Errorf("HTTP status: error %v, want %d", err, want.status)
	}
	var exhausted *retry.MaxAttemptsError
	if !errors.As(err, &exhausted) || exhausted.Attempt != maxAttempts {
		t.Errorf("error %v: want the retryer to give up after %d attempts", err, maxAttempts)
	}
}

// TestSDKRetriesAndClassifiesInjectedFaults makes real SDK calls through
// a gateway in front of a fake upstream that is never reached: every
// attempt meets the fault, the SDK's retryer retries it like AWS's
// answer and finally returns the classified error.
func TestSDKRetriesAndClassifiesInjectedFaults(t *testing.T) {
	f, err := local.NewFaults(local.FaultSpec{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, local.WithFaults(f))
	cfg, counter := faultClientConfig(t, h.url)
	ctx := context.Background()
	for _, kind := range []local.FaultKind{local.FaultThrottle, local.FaultInternalError, local.FaultUnavailable} {
		for _, call := range sdkCalls {
			t.Run(string(kind)+" "+call.name, func(t *testing.T) {
				if err := f.Set(local.FaultSpec{Rules: []local.FaultRule{{Service: call.service, Kind: kind, Share: 1}}}); err != nil {
					t.Fatal(err)
				}
				f.ResetCounts()
				counter.Reset()
				err := call.call(ctx, cfg)
				checkExhausted(t, err, wantFor(call, kind), kind, 3)
				if n := counter.Total(); n != 3 {
					t.Errorf("attempts = %d (%v), want 3", n, counter.Snapshot())
				}
				if n := f.Injected(call.service, kind); n != 3 {
					t.Errorf("faults counted = %d, want 3 (%s)", n, f.Report())
				}
			})
		}
	}
	if ups := h.upstream.all(); len(ups) != 0 {
		t.Errorf("%d faulted calls reached the upstream, e.g. %s %s", len(ups), ups[0].Method, ups[0].Path)
	}
}

func TestTimeoutFaultDropsTheConnection(t *testing.T) {
	ctx := context.Background()
	call := sdkCalls[0] // ELBv2 DescribeLoadBalancers

	t.Run("after the delay", func(t *testing.T) {
		f, err := local.NewFaults(local.FaultSpec{Rules: []local.FaultRule{{Service: call.service, Kind: local.FaultTimeout, Share: 1, Delay: 50 * time.Millisecond}}})
		if err != nil {
			t.Fatal(err)
		}
		h := newHarness(t, local.WithFaults(f))
		cfg, counter := faultClientConfig(t, h.url)
		began := time.Now()
		err = call.call(ctx, cfg)
		var sendErr *smithyhttp.RequestSendError
		var exhausted *retry.MaxAttemptsError
		if !errors.As(err, &sendErr) || !errors.As(err, &exhausted) || exhausted.Attempt != 3 {
			t.Fatalf("error = %v, want a send error (no answer) after 3 attempts", err)
		}
		if awsapi.Code(err) != "" || awsapi.IsThrottle(err) {
			t.Errorf("a dropped connection classified as API error %q", awsapi.Code(err))
		}
		if elapsed := time.Since(began); elapsed < 150*time.Millisecond {
			t.Errorf("3 attempts took %s; each should have been held 50ms", elapsed)
		}
		if n := counter.Total(); n != 3 {
			t.Errorf("attempts = %d, want 3", n)
		}
		if n := f.Injected(call.service, local.FaultTimeout); n != 3 {
			t.Errorf("timeouts counted = %d, want 3", n)
		}
		if len(h.upstream.all()) != 0 {
			t.Error("a timed-out call reached the upstream")
		}
	})

	t.Run("when the client gives up", func(t *testing.T) {
		f, err := local.NewFaults(local.FaultSpec{Rules: []local.FaultRule{{Service: call.service, Kind: local.FaultTimeout, Share: 1, Delay: time.Minute}}})
		if err != nil {
			t.Fatal(err)
		}
		gw, err := local.NewGateway("http://127.0.0.1:1", local.WithFaults(f), local.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(gw)
		cfg, counter := faultClientConfig(t, srv.URL)
		cfg.AWS.HTTPClient = awshttp.NewBuildableClient().WithTimeout(200 * time.Millisecond)
		began := time.Now()
		err = call.call(ctx, cfg)
		var sendErr *smithyhttp.RequestSendError
		if !errors.As(err, &sendErr) {
			t.Fatalf("error = %v, want the client's own timeout", err)
		}
		if elapsed := time.Since(began); elapsed > 5*time.Second {
			t.Errorf("the call took %s; the client gives up after 200ms per attempt", elapsed)
		}
		if n := counter.Total(); n != 3 {
			t.Errorf("attempts = %d, want 3 (a client timeout is retried)", n)
		}
		// The held requests end when their clients hang up: closing the
		// server (which waits for them) does not take the minute.
		closed := time.Now()
		srv.Close()
		if d := time.Since(closed); d > 5*time.Second {
			t.Errorf("closing the server took %s: held requests outlived their clients", d)
		}
	})
}

// signedRequest is an AWS call as a non-okra client (boto3, the way moto's
// Step Functions executor calls) sends it.
func signedRequest(t *testing.T, url, service, target, userAgent string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"TableName":"okra","Key":{"pk":{"S":"k"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=ak/20260101/us-east-1/"+service+"/aws4_request, SignedHeaders=host, Signature=0")
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("User-Agent", userAgent)
	return req
}

func TestFaultsSpareOtherCallersUnlessFromAll(t *testing.T) {
	const boto = "Boto3/1.44.8 md/Botocore#1.44.8 ua/2.1 os/linux md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.44.8"
	const goSDK = "aws-sdk-go-v2/1.48.0 ua/2.1 os/linux lang/go#1.26 md/GOOS#linux md/GOARCH#amd64 api/dynamodb#1.74.0 app/okra m/E"
	f, err := local.NewFaults(local.FaultSpec{Rules: []local.FaultRule{{Service: "dynamodb", Kind: local.FaultThrottle, Share: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, local.WithFaults(f))
	status := func(ua string) int {
		t.Helper()
		resp, err := http.DefaultClient.Do(signedRequest(t, h.url+"/", "dynamodb", "DynamoDB_20120810.GetItem", ua))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(boto); got != http.StatusTeapot {
		t.Errorf("boto3 call: HTTP %d, want it proxied (the fake upstream's 418)", got)
	}
	if got := status(goSDK); got != http.StatusBadRequest {
		t.Errorf("okra call: HTTP %d, want the injected 400", got)
	}
	if err := f.Set(local.FaultSpec{Callers: local.FaultCallersAll, Rules: f.Spec().Rules}); err != nil {
		t.Fatal(err)
	}
	if got := status(boto); got != http.StatusBadRequest {
		t.Errorf("boto3 call with from=all: HTTP %d, want the injected 400", got)
	}
	if n := len(h.upstream.all()); n != 1 {
		t.Errorf("upstream saw %d calls, want 1", n)
	}
}

func TestLambdaFaultsAnswerInvocations(t *testing.T) {
	f, err := local.NewFaults(local.FaultSpec{})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, local.WithFaults(f))
	h.register(t, "echo", echo)
	set := func(text string) {
		t.Helper()
		spec, err := local.ParseFaults(text)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Set(spec); err != nil {
			t.Fatal(err)
		}
	}

	set("lambda:throttle=1:max=1,lambda:500=1:max=1,lambda:500=1:form=function-error:max=1")
	r := h.invoke(t, "echo", `{"message":"hi"}`, nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("X-Amzn-ErrorType") != "TooManyRequestsException" {
		t.Errorf("first invocation: HTTP %d %q %s, want 429 TooManyRequestsException", r.status, r.header.Get("X-Amzn-ErrorType"), r.body)
	}
	r = h.invoke(t, "arn:aws:lambda:us-east-1:123456789012:function:echo", `{"message":"hi"}`, nil)
	if r.status != http.StatusInternalServerError || r.header.Get("X-Amzn-ErrorType") != "ServiceException" {
		t.Errorf("second invocation: HTTP %d %q %s, want 500 ServiceException", r.status, r.header.Get("X-Amzn-ErrorType"), r.body)
	}
	r = h.invoke(t, "echo", `{"message":"hi"}`, nil)
	if body := decode[map[string]string](t, r.body); r.status != http.StatusOK || r.header.Get("X-Amz-Function-Error") != "Unhandled" || body["errorType"] != "Lambda.ServiceException" {
		t.Errorf("third invocation: HTTP %d %q %s, want a function error named Lambda.ServiceException", r.status, r.header.Get("X-Amz-Function-Error"), r.body)
	}
	if n := h.gw.Invocations("echo"); n != 0 {
		t.Errorf("the handler ran %d times during faults, want 0", n)
	}
	r = h.invoke(t, "echo", `{"message":"hi"}`, nil)
	if r.status != http.StatusOK || decode[echoOut](t, r.body).Echo != "hi" {
		t.Errorf("after the budgets ran out: HTTP %d %s, want the handler's answer", r.status, r.body)
	}
	if got := f.Report(); !strings.HasPrefix(got, "injected lambda:500=2 lambda:throttle=1") {
		t.Errorf("report = %q", got)
	}

	// Rules for other services never touch invocations, whoever calls.
	set("states:500=1,dynamodb:throttle=1,from=all")
	if r := h.invoke(t, "echo", `{"message":"hi"}`, nil); r.status != http.StatusOK || r.header.Get("X-Amz-Function-Error") != "" {
		t.Errorf("with only proxied rules: HTTP %d %s, want the handler's answer", r.status, r.body)
	}
	// A lambda rule filtered to another function spares this one.
	set("lambda:500=1:op=other")
	if r := h.invoke(t, "echo", `{"message":"hi"}`, nil); r.status != http.StatusOK {
		t.Errorf("with a rule for another function: HTTP %d %s", r.status, r.body)
	}
	// Lambda rules fault invocations only, not the Lambda API moto serves.
	set("lambda:500=1,from=all")
	req, err := http.NewRequest(http.MethodGet, h.url+"/2015-03-31/functions/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot {
		t.Errorf("ListFunctions with a lambda rule: HTTP %d, want it proxied", resp.StatusCode)
	}
}
