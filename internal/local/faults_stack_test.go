package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/local"
	"github.com/okrahq/okra/internal/testenv"
)

// faultStack starts moto behind a gateway injecting f's faults (its own
// stack: the package's shared one runs without faults).
func faultStack(t *testing.T) (*local.Stack, *local.Faults) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the moto emulator (skipped with -short)")
	}
	f, err := local.NewFaults(local.FaultSpec{})
	if err != nil {
		t.Fatal(err)
	}
	logs, motoLog := &syncBuffer{}, &syncBuffer{}
	s, err := local.Start(context.Background(), local.Options{
		Logger:          slog.New(slog.NewJSONHandler(logs, nil)),
		MotoLog:         motoLog,
		FunctionTimeout: 30 * time.Second,
		Faults:          f,
	})
	if err != nil {
		t.Fatalf("starting the local stack with faults: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("faults: %s", f.Report())
			t.Logf("gateway log (tail):\n%s", tail(logs.String(), 6000))
			t.Logf("moto log (tail):\n%s", tail(motoLog.String(), 4000))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stopping the stack: %v", err)
		}
	})
	return s, f
}

func setFaults(t *testing.T, f *local.Faults, text string) {
	t.Helper()
	spec, err := local.ParseFaults(text)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Set(spec); err != nil {
		t.Fatal(err)
	}
	f.ResetCounts()
}

// TestFaultsAgainstMoto makes okra's SDK calls through the gateway to moto
// with faults on: the retryer gives up with the classified error when
// every attempt fails, succeeds after retries when a share fails, and
// moto's own Step Functions executor is spared unless asked.
func TestFaultsAgainstMoto(t *testing.T) {
	s, f := faultStack(t)
	ctx := context.Background()
	cfg, counter := faultClientConfig(t, s.Endpoint)

	// Resources for the calls, made with faults off.
	network := testenv.NewNetwork(t, cfg.EC2())
	table := testenv.UniqueName("okra-faults")
	if _, err := cfg.DynamoDB().CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
	}); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	if _, err := cfg.DynamoDB().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: "CELL#web"}, "v": &ddbtypes.AttributeValueMemberS{Value: "stable"},
	}}); err != nil {
		t.Fatalf("PutItem: %v", err)
	}
	sfnc := cfg.SFN()
	execARN := start(t, sfnc, machine(t, sfnc, `{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}`, nil), `{}`)
	cluster := testenv.UniqueName("web-1-v2")
	if _, err := cfg.EKS().CreateCluster(ctx, &eks.CreateClusterInput{
		Name: aws.String(cluster), RoleArn: aws.String(testenv.RoleARN),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: network.SubnetIDs},
	}); err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}

	calls := []sdkCall{
		{"elasticloadbalancing", "ELBv2 DescribeLoadBalancers", func(ctx context.Context, c awsapi.Config) error {
			_, err := c.ELBv2().DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{})
			return err
		}},
		{"dynamodb", "DynamoDB GetItem", func(ctx context.Context, c awsapi.Config) error {
			out, err := c.DynamoDB().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "CELL#web"}}})
			if err == nil && out.Item["v"] == nil {
				return errors.New("GetItem returned no item")
			}
			return err
		}},
		{"states", "SFN DescribeExecution", func(ctx context.Context, c awsapi.Config) error {
			_, err := c.SFN().DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(execARN)})
			return err
		}},
		{"eks", "EKS DescribeCluster", func(ctx context.Context, c awsapi.Config) error {
			out, err := c.EKS().DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String(cluster)})
			if err == nil && aws.ToString(out.Cluster.Name) != cluster {
				return fmt.Errorf("DescribeCluster returned %q", aws.ToString(out.Cluster.Name))
			}
			return err
		}},
	}
	for _, c := range calls {
		if err := c.call(ctx, cfg); err != nil {
			t.Fatalf("%s without faults: %v", c.name, err)
		}
	}

	t.Run("share 1 exhausts the retryer with the classified error", func(t *testing.T) {
		for _, c := range calls {
			for _, kind := range []local.FaultKind{local.FaultThrottle, local.FaultInternalError, local.FaultUnavailable} {
				setFaults(t, f, c.service+":"+string(kind)+"=1")
				counter.Reset()
				err := c.call(ctx, cfg)
				checkExhausted(t, err, wantFor(c, kind), kind, 3)
				if n := counter.Total(); n != 3 {
					t.Errorf("%s %s: %d attempts, want 3", kind, c.name, n)
				}
				if n := f.Injected(c.service, kind); n != 3 {
					t.Errorf("%s %s: %d faults counted, want 3", kind, c.name, n)
				}
			}
			setFaults(t, f, c.service+":timeout=1:delay=20ms")
			counter.Reset()
			err := c.call(ctx, cfg)
			var sendErr *smithyhttp.RequestSendError
			var exhausted *retry.MaxAttemptsError
			if !errors.As(err, &sendErr) || !errors.As(err, &exhausted) || exhausted.Attempt != 3 {
				t.Errorf("timeout %s: error %v, want a send error after 3 attempts", c.name, err)
			}
			// Go's transport itself resends a bodiless GET (EKS) once when
			// a reused connection closes unanswered: at least 3 drops.
			if n := f.Injected(c.service, local.FaultTimeout); n < 3 || counter.Total() != 3 {
				t.Errorf("timeout %s: %d connections dropped for %d attempts, want 3 attempts and at least 3 drops", c.name, n, counter.Total())
			}
		}
	})

	t.Run("a seeded share succeeds after retries", func(t *testing.T) {
		// okra's production retryer settings (5 attempts), fast backoff.
		retryCounter := awsapi.NewCallCounter()
		okraCfg, err := awsapi.LoadConfig(ctx, awsapi.Options{Region: testenv.Region, Endpoint: s.Endpoint, Counter: retryCounter})
		if err != nil {
			t.Fatal(err)
		}
		fastRetries(&okraCfg)
		setFaults(t, f, "elasticloadbalancing:throttle=0.3,elasticloadbalancing:timeout=0.1:delay=20ms,dynamodb:500=0.3,states:503=0.3,eks:throttle=0.3,seed=42")
		const perService = 10
		for _, c := range calls {
			for i := 0; i < perService; i++ {
				if err := c.call(ctx, okraCfg); err != nil {
					t.Fatalf("%s call %d failed despite retries: %v (%s)", c.name, i+1, err, f.Report())
				}
			}
		}
		made, attempts := perService*len(calls), retryCounter.Total()
		if attempts <= made {
			t.Fatalf("%d attempts for %d calls: no call was retried (%s)", attempts, made, f.Report())
		}
		// Every failed attempt met exactly one fault (ELBv2 is a POST, so
		// no transport-level resend of a dropped connection).
		if n := f.InjectedTotal(); n != attempts-made {
			t.Errorf("%d faults injected, want %d (attempts - calls); %s", n, attempts-made, f.Report())
		}
		for _, want := range []string{"dynamodb:500=", "eks:throttle=", "elasticloadbalancing:throttle=", "states:503="} {
			if !strings.Contains(f.Report(), want) {
				t.Errorf("report %q lacks %s", f.Report(), want)
			}
		}
		t.Logf("%d calls, %d attempts: %s", made, attempts, f.Report())

		// Replaying the seed replays the faults.
		first := f.Counts()
		setFaults(t, f, f.Spec().String())
		for _, c := range calls {
			for i := 0; i < perService; i++ {
				if err := c.call(ctx, okraCfg); err != nil {
					t.Fatalf("replay: %s call %d: %v", c.name, i+1, err)
				}
			}
		}
		if again := f.Counts(); !slices.Equal(again, first) {
			t.Errorf("replay injected %v, the first run %v", again, first)
		}
	})

	t.Run("okra's retryer unmodified", func(t *testing.T) {
		retryCounter := awsapi.NewCallCounter()
		okraCfg, err := awsapi.LoadConfig(ctx, awsapi.Options{Region: testenv.Region, Endpoint: s.Endpoint, Counter: retryCounter})
		if err != nil {
			t.Fatal(err)
		}
		setFaults(t, f, "dynamodb:503=0.3:op=GetItem,seed=7")
		const n = 6
		for i := 0; i < n; i++ {
			if err := calls[1].call(ctx, okraCfg); err != nil {
				t.Fatalf("GetItem %d: %v (%s)", i+1, err, f.Report())
			}
		}
		if got := retryCounter.Count("DynamoDB.GetItem"); got <= n || got-n != f.Injected("dynamodb", local.FaultUnavailable) {
			t.Errorf("%d GetItem attempts for %d calls with %s", got, n, f.Report())
		}
	})

	t.Run("the emulator's executor is spared unless from=all", func(t *testing.T) {
		setFaults(t, f, "dynamodb:throttle=1")
		// moto's executor reads the item through the gateway (boto3,
		// endpoint localhost:$MOTO_PORT).
		sm := machine(t, sfnc, `{
		  "StartAt": "Read",
		  "States": {
		    "Read": {
		      "Type": "Task",
		      "Resource": "arn:aws:states:::dynamodb:getItem",
		      "Parameters": {"TableName": "{{table}}", "Key": {"pk": {"S": "CELL#web"}}},
		      "ResultSelector": {"v.$": "$.Item.v.S"},
		      "End": true
		    }
		  }
		}`, map[string]string{"table": table})

		// okra's own call is throttled...
		checkExhausted(t, calls[1].call(ctx, cfg), wantFor(calls[1], local.FaultThrottle), local.FaultThrottle, 3)
		// ...the executor's is not.
		out := run(t, sfnc, sm, `{}`)
		requireStatus(t, out, sfntypes.ExecutionStatusSucceeded)
		if got := decode[map[string]string](t, []byte(aws.ToString(out.Output))); got["v"] != "stable" {
			t.Errorf("output = %s, want the item read by the executor", aws.ToString(out.Output))
		}
		if n := f.Injected("dynamodb", local.FaultThrottle); n != 3 {
			t.Errorf("%d throttles, want okra's 3 only", n)
		}

		setFaults(t, f, "dynamodb:throttle=1,from=all")
		out = run(t, sfnc, sm, `{}`)
		requireStatus(t, out, sfntypes.ExecutionStatusFailed)
		// boto3 read the injected answer as DynamoDB's own error.
		if got := aws.ToString(out.Error); got != "DynamoDB.ProvisionedThroughputExceededException" {
			t.Errorf("execution error = %q (cause %q), want DynamoDB.ProvisionedThroughputExceededException", got, aws.ToString(out.Cause))
		}
		if n := f.Injected("dynamodb", local.FaultThrottle); n != 1 {
			t.Errorf("%d throttles, want the executor's 1 (it does not retry)", n)
		}
	})

	t.Run("Lambda faults are retried by the rollout's Retry", func(t *testing.T) {
		retrier := rolloutLambdaRetry(t)
		type fnCase struct {
			name, rule   string
			invokeForm   bool // arn:aws:states:::lambda:invoke, else the function-ARN Resource
			wantStatus   sfntypes.ExecutionStatus
			wantError    string
			wantHandlers int
		}
		cases := []*fnCase{
			{name: "invoke-500", rule: "500", invokeForm: true, wantStatus: sfntypes.ExecutionStatusSucceeded, wantHandlers: 1},
			{name: "invoke-429", rule: "throttle", invokeForm: true, wantStatus: sfntypes.ExecutionStatusSucceeded, wantHandlers: 1},
			{name: "arn-500-fnerr", rule: "500:form=function-error", wantStatus: sfntypes.ExecutionStatusSucceeded, wantHandlers: 1},
			{name: "arn-429-fnerr", rule: "throttle:form=function-error", wantStatus: sfntypes.ExecutionStatusSucceeded, wantHandlers: 1},
			// moto 5.2.5 names any Invoke API error "Exception" in the
			// function-ARN form (AWS: Lambda.ServiceException, retried),
			// so the Retry does not match: why form=function-error exists.
			{name: "arn-500-api", rule: "500", wantStatus: sfntypes.ExecutionStatusFailed, wantError: "Exception", wantHandlers: 0},
		}
		var rules []string
		execs := map[*fnCase]string{}
		fns := map[*fnCase]string{}
		for _, c := range cases {
			fn := testenv.UniqueName(c.name)
			fns[c] = fn
			if err := s.Gateway.Register(fn, func(ctx context.Context) (map[string]bool, error) { return map[string]bool{"ok": true}, nil }); err != nil {
				t.Fatal(err)
			}
			kind, opts, _ := strings.Cut(c.rule, ":")
			rule := "lambda:" + kind + "=1:op=" + fn + ":max=1"
			if opts != "" {
				rule += ":" + opts
			}
			rules = append(rules, rule)
		}
		setFaults(t, f, strings.Join(rules, ",")+",seed=1")
		for _, c := range cases {
			task := `{"Type":"Task","Resource":"{{arn}}","Retry":{{retry}},"End":true}`
			if c.invokeForm {
				task = `{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"{{arn}}","Payload.$":"$"},"OutputPath":"$.Payload","Retry":{{retry}},"End":true}`
			}
			sm := machine(t, sfnc, `{"StartAt":"Call","States":{"Call":`+task+`}}`, map[string]string{"arn": functionARN(fns[c]), "retry": retrier})
			execs[c] = start(t, sfnc, sm, `{}`)
		}
		for _, c := range cases {
			out := wait(t, sfnc, execs[c])
			if out.Status != c.wantStatus || aws.ToString(out.Error) != c.wantError {
				t.Errorf("%s: %s (error %q, cause %q), want %s %q", c.name, out.Status, aws.ToString(out.Error), aws.ToString(out.Cause), c.wantStatus, c.wantError)
			}
			if c.wantStatus == sfntypes.ExecutionStatusSucceeded && !decode[map[string]bool](t, []byte(aws.ToString(out.Output)))["ok"] {
				t.Errorf("%s: output %s, want the handler's", c.name, aws.ToString(out.Output))
			}
			if n := s.Gateway.Invocations(fns[c]); n != c.wantHandlers {
				t.Errorf("%s: handler ran %d times, want %d", c.name, n, c.wantHandlers)
			}
		}
		if a, b := f.Injected("lambda", local.FaultInternalError), f.Injected("lambda", local.FaultThrottle); a != 3 || b != 2 {
			t.Errorf("lambda faults: %d 500s and %d throttles, want 3 and 2 (%s)", a, b, f.Report())
		}
	})
}

// rolloutLambdaRetry returns, as JSON, the first Retry list in
// statemachines/rollout.asl.json that retries Lambda.ServiceException and
// Lambda.TooManyRequestsException, so the test exercises the rollout's
// own retry policy.
func rolloutLambdaRetry(t *testing.T) string {
	t.Helper()
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "statemachines", "rollout.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	var def any
	if err := json.Unmarshal(b, &def); err != nil {
		t.Fatalf("rollout.asl.json: %v", err)
	}
	var found []any
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["Retry"].([]any); ok && found == nil {
				for _, entry := range r {
					e, _ := entry.(map[string]any)
					errs, _ := e["ErrorEquals"].([]any)
					if slices.Contains(errs, any("Lambda.ServiceException")) && slices.Contains(errs, any("Lambda.TooManyRequestsException")) {
						found = r
					}
				}
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys) // a deterministic "first"
			for _, k := range keys {
				walk(v[k])
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(def)
	if found == nil {
		t.Fatal("rollout.asl.json has no Retry for Lambda.ServiceException and Lambda.TooManyRequestsException")
	}
	out, err := json.Marshal(found)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
