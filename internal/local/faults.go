package local

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/okrahq/okra/internal/awsapi"
)

// FaultsEnv names the environment variable holding a fault spec in the
// text form ParseFaults reads; FaultsFromEnv reads it.
const FaultsEnv = "OKRA_LOCAL_FAULTS"

// DefaultFaultDelay is how long a timeout fault holds a request when its
// rule sets no delay (unless the client gives up first).
const DefaultFaultDelay = 5 * time.Second

// LambdaService is the service name of rules that fault the Invoke API
// served by the gateway.
const LambdaService = "lambda"

// FaultKind is what a faulted call is answered with.
type FaultKind string

// Fault kinds.
const (
	FaultThrottle      FaultKind = "throttle" // the service's throttling error (Lambda: TooManyRequestsException, 429)
	FaultInternalError FaultKind = "500"      // HTTP 500 (Lambda: ServiceException)
	FaultUnavailable   FaultKind = "503"      // HTTP 503 ServiceUnavailable
	FaultTimeout       FaultKind = "timeout"  // no answer: held, then the connection is dropped
)

// FaultCallers says whose proxied calls are faulted.
type FaultCallers string

// Fault callers.
const (
	// FaultCallersOkra (the default, also "") faults only calls whose
	// User-Agent carries okra's application id, leaving the emulator's
	// own Step Functions executor unharmed.
	FaultCallersOkra FaultCallers = "okra"
	// FaultCallersAll faults every proxied call.
	FaultCallersAll FaultCallers = "all"
)

// LambdaFaultForm says how a Lambda fault is answered.
type LambdaFaultForm string

// Lambda fault forms.
const (
	// LambdaFaultAPIError (the default, also "") answers as the Lambda
	// API does: an HTTP 429/500 error response.
	LambdaFaultAPIError LambdaFaultForm = "api"
	// LambdaFaultFunctionError answers with a function error whose
	// errorType is "Lambda.TooManyRequestsException" or
	// "Lambda.ServiceException": the name AWS Step Functions gives the API
	// error, which moto then uses in every Task form.
	LambdaFaultFunctionError LambdaFaultForm = "function-error"
)

// FaultRule faults a share of one service's calls.
type FaultRule struct {
	// Service is the SigV4 service name (elasticloadbalancing, dynamodb,
	// states, eks, ...), or LambdaService for invocations.
	Service string
	// Kind is the answer.
	Kind FaultKind
	// Share of matching calls faulted, 0..1.
	Share float64
	// Operations limits the rule to these operations (for lambda:
	// function names); empty means every operation.
	Operations []string
	// Max faults this rule injects; 0 means no limit.
	Max int
	// Delay a timeout fault holds the request (0: DefaultFaultDelay).
	Delay time.Duration
	// Form of a Lambda fault (lambda rules only).
	Form LambdaFaultForm
}

// FaultSpec is a complete fault configuration.
type FaultSpec struct {
	// Seed for the random draws; the same seed replays a run.
	Seed uint64
	// Callers whose proxied calls are faulted (default FaultCallersOkra).
	Callers FaultCallers
	// Rules, tried in order.
	Rules []FaultRule
}

// faultServices are the services a rule may name: every service okra's
// awsapi builds a client for, plus lambda (invocations).
var faultServices = []string{"autoscaling", "dynamodb", "ec2", "eks", "elasticloadbalancing", "events", LambdaService, "monitoring", "secretsmanager", "sns", "sqs", "states", "sts"}

// targetServices maps an X-Amz-Target prefix to its service, for
// requests that carry no SigV4 credential scope.
var targetServices = map[string]string{
	"DynamoDB_20120810":             "dynamodb",
	"DynamoDBStreams_20120810":      "dynamodb",
	"AWSStepFunctions":              "states",
	"secretsmanager":                "secretsmanager",
	"AWSEvents":                     "events",
	"AmazonSQS":                     "sqs",
	"GraniteServiceVersion20100801": "monitoring",
}

// eksOperations are the EKS operations the gateway recognises from a
// REST request (method and path), so an eks rule's op= may name them.
var eksOperations = []string{
	"CreateCluster", "CreateNodegroup", "DeleteCluster", "DeleteNodegroup",
	"DescribeCluster", "DescribeNodegroup", "DescribeUpdate", "ListClusters",
	"ListNodegroups", "ListTagsForResource", "ListUpdates", "TagResource",
	"UntagResource", "UpdateClusterConfig", "UpdateClusterVersion",
}

var (
	operationNameRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	lambdaNameRE    = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
)

// Validate checks the spec and names the first problem precisely.
func (s FaultSpec) Validate() error {
	switch s.Callers {
	case "", FaultCallersOkra, FaultCallersAll:
	default:
		return fmt.Errorf("callers %q: want %q or %q", s.Callers, FaultCallersOkra, FaultCallersAll)
	}
	for i, r := range s.Rules {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("rule %d (%s:%s), %w", i+1, r.Service, r.Kind, err)
		}
	}
	return nil
}

// Validate checks one rule.
func (r FaultRule) Validate() error {
	if !slices.Contains(faultServices, r.Service) {
		return fmt.Errorf("unknown service %q: want one of %s (the SigV4 service name, e.g. elasticloadbalancing for ELBv2, states for Step Functions, monitoring for CloudWatch)", r.Service, strings.Join(faultServices, ", "))
	}
	lambda := r.Service == LambdaService
	switch r.Kind {
	case FaultThrottle, FaultInternalError:
	case FaultUnavailable, FaultTimeout:
		if lambda {
			return fmt.Errorf("kind %q: lambda faults are throttle (TooManyRequestsException, HTTP 429) or 500 (ServiceException)", r.Kind)
		}
	default:
		return fmt.Errorf("unknown kind %q: want throttle, 500, 503 or timeout", r.Kind)
	}
	if math.IsNaN(r.Share) || r.Share < 0 || r.Share > 1 {
		return fmt.Errorf("share %v is outside 0..1", r.Share)
	}
	for _, op := range r.Operations {
		switch {
		case lambda:
			if !lambdaNameRE.MatchString(op) {
				return fmt.Errorf("op %q: a lambda rule's operations are function names (1-64 letters, digits, '-' or '_')", op)
			}
		case !operationNameRE.MatchString(op):
			return fmt.Errorf("op %q: want an API operation name such as ModifyListener", op)
		case r.Service == "eks" && !slices.Contains(eksOperations, op):
			return fmt.Errorf("op %q: the gateway recognises these EKS operations: %s", op, strings.Join(eksOperations, ", "))
		}
	}
	if r.Max < 0 {
		return fmt.Errorf("max %d is negative", r.Max)
	}
	if r.Delay < 0 {
		return fmt.Errorf("delay %s is negative", r.Delay)
	}
	if r.Delay != 0 && r.Kind != FaultTimeout {
		return fmt.Errorf("delay applies to timeout faults only")
	}
	switch r.Form {
	case "":
	case LambdaFaultAPIError, LambdaFaultFunctionError:
		if !lambda {
			return fmt.Errorf("form applies to lambda faults only")
		}
	default:
		return fmt.Errorf("form %q: want %q or %q", r.Form, LambdaFaultAPIError, LambdaFaultFunctionError)
	}
	return nil
}

// String returns the rule in the text form.
func (r FaultRule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%s=%s", r.Service, r.Kind, strconv.FormatFloat(r.Share, 'g', -1, 64))
	if len(r.Operations) > 0 {
		b.WriteString(":op=" + strings.Join(r.Operations, "|"))
	}
	if r.Max > 0 {
		fmt.Fprintf(&b, ":max=%d", r.Max)
	}
	if r.Delay > 0 {
		b.WriteString(":delay=" + r.Delay.String())
	}
	if r.Form != "" {
		b.WriteString(":form=" + string(r.Form))
	}
	return b.String()
}

// String returns the spec in the text form ParseFaults reads back; it
// always names the seed, so a logged spec replays the run. A spec without
// rules is "".
func (s FaultSpec) String() string {
	if len(s.Rules) == 0 {
		return ""
	}
	items := make([]string, 0, len(s.Rules)+2)
	for _, r := range s.Rules {
		items = append(items, r.String())
	}
	if s.Callers == FaultCallersAll {
		items = append(items, "from=all")
	}
	items = append(items, "seed="+strconv.FormatUint(s.Seed, 10))
	return strings.Join(items, ",")
}

// Set parses v into s, so a *FaultSpec is a flag.Value (and, with Type, a
// pflag.Value).
func (s *FaultSpec) Set(v string) error {
	spec, err := ParseFaults(v)
	if err != nil {
		return err
	}
	*s = spec
	return nil
}

// Type names the flag's value type for pflag.
func (s *FaultSpec) Type() string { return "faults" }

// ParseFaults parses the text form (see the Faults documentation), e.g.
// "elasticloadbalancing:throttle=0.2,dynamodb:500=0.1,seed=42". An empty
// string is a spec without rules.
func ParseFaults(text string) (FaultSpec, error) {
	var spec FaultSpec
	if strings.TrimSpace(text) == "" {
		return spec, nil
	}
	var seenSeed, seenFrom bool
	for i, item := range strings.Split(text, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return FaultSpec{}, fmt.Errorf("fault spec item %d is empty (separate items with single commas)", i+1)
		}
		if strings.Contains(item, ":") {
			r, err := parseFaultRule(item)
			if err != nil {
				return FaultSpec{}, fmt.Errorf("fault spec item %d %q: %w", i+1, item, err)
			}
			spec.Rules = append(spec.Rules, r)
			continue
		}
		key, value, ok := strings.Cut(item, "=")
		switch {
		case ok && key == "seed":
			if seenSeed {
				return FaultSpec{}, fmt.Errorf("fault spec item %d %q: seed is set twice", i+1, item)
			}
			seed, err := strconv.ParseUint(value, 10, 64)
			if err != nil {
				return FaultSpec{}, fmt.Errorf("fault spec item %d %q: seed %q is not a whole number in 0..%d", i+1, item, value, uint64(math.MaxUint64))
			}
			spec.Seed, seenSeed = seed, true
		case ok && key == "from":
			if seenFrom {
				return FaultSpec{}, fmt.Errorf("fault spec item %d %q: from is set twice", i+1, item)
			}
			if value != string(FaultCallersOkra) && value != string(FaultCallersAll) {
				return FaultSpec{}, fmt.Errorf("fault spec item %d %q: from=%q: want from=okra (calls made by okra's AWS clients) or from=all", i+1, item, value)
			}
			spec.Callers, seenFrom = FaultCallers(value), true
		case slices.Contains(faultServices, key):
			return FaultSpec{}, fmt.Errorf("fault spec item %d %q: want %s:KIND=SHARE, e.g. %s:throttle=0.2", i+1, item, key, key)
		default:
			return FaultSpec{}, fmt.Errorf("fault spec item %d %q: want SERVICE:KIND=SHARE[:op=A|B][:max=N][:delay=D][:form=F], seed=N or from=okra|all", i+1, item)
		}
	}
	if err := spec.Validate(); err != nil {
		return FaultSpec{}, fmt.Errorf("fault spec: %w", err)
	}
	return spec, nil
}

func parseFaultRule(item string) (FaultRule, error) {
	parts := strings.Split(item, ":")
	kind, share, ok := strings.Cut(parts[1], "=")
	if !ok || kind == "" {
		return FaultRule{}, fmt.Errorf("want %s:KIND=SHARE, e.g. %s:throttle=0.2", parts[0], parts[0])
	}
	r := FaultRule{Service: parts[0], Kind: FaultKind(kind)}
	if r.Service == LambdaService && kind == "429" {
		r.Kind = FaultThrottle // Lambda's throttle is its HTTP 429
	}
	v, err := strconv.ParseFloat(share, 64)
	if err != nil {
		return FaultRule{}, fmt.Errorf("share %q is not a number in 0..1", share)
	}
	r.Share = v
	seen := map[string]bool{}
	for _, opt := range parts[2:] {
		key, value, ok := strings.Cut(opt, "=")
		if !ok || value == "" {
			return FaultRule{}, fmt.Errorf("option %q: want op=, max=, delay= or form= with a value", opt)
		}
		if seen[key] {
			return FaultRule{}, fmt.Errorf("option %s is given twice", key)
		}
		seen[key] = true
		switch key {
		case "op":
			r.Operations = strings.Split(value, "|")
		case "max":
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				return FaultRule{}, fmt.Errorf("max=%s: want a whole number of faults, at least 1 (leave max out for no limit)", value)
			}
			r.Max = n
		case "delay":
			d, err := time.ParseDuration(value)
			if err != nil || d <= 0 {
				return FaultRule{}, fmt.Errorf("delay=%s: want a positive duration such as 2s or 500ms", value)
			}
			r.Delay = d
		case "form":
			r.Form = LambdaFaultForm(value)
		default:
			return FaultRule{}, fmt.Errorf("unknown option %q: want op=, max=, delay= or form=", key)
		}
	}
	if err := r.Validate(); err != nil {
		return FaultRule{}, err
	}
	return r, nil
}

// Faults is the gateway's fault-injecting mode. Given to the gateway
// with WithFaults (or Options.Faults), it makes the gateway answer a share
// of the AWS calls it would proxy to moto with what AWS answers when it is
// overloaded or broken, so okra's retries, Step Functions Retry/Catch and
// rollback paths run locally:
//
//   - throttle: the service's own throttling error in its own wire format
//     (query XML "Throttling" for ELBv2, CloudWatch, STS, Auto Scaling and
//     SNS; "RequestLimitExceeded" in EC2's XML with HTTP 503; JSON
//     "ThrottlingException" for Step Functions, EKS, Secrets Manager,
//     EventBridge and SQS; DynamoDB's
//     "ProvisionedThroughputExceededException" for item operations and
//     "ThrottlingException" for table operations). HTTP 400 except EC2.
//   - 500: "InternalFailure" with HTTP 500 (DynamoDB's own
//     "InternalServerError", EC2's "InternalError").
//   - 503: "ServiceUnavailable" with HTTP 503 (EC2's "Unavailable").
//   - timeout: the request is held until the client gives up or the
//     rule's delay (DefaultFaultDelay) passes, then the connection is
//     dropped without an answer.
//
// aws-sdk-go-v2's standard retryer treats each exactly as it treats the
// real answer: throttling codes and 5xx statuses are retried (throttles
// with the throttling backoff and retry cost), a dropped connection is a
// retryable send error, and when the attempts run out the caller gets the
// same classified error (awsapi.IsThrottle, awsapi.Code) AWS would cause.
// faults_test.go proves it with real SDK calls through the gateway (to a
// stand-in upstream) for every service okra calls, faults_stack_test.go
// with calls through the gateway to moto.
//
// Which calls. A call's service is the SigV4 credential scope's service
// name in its Authorization header (elasticloadbalancing, dynamodb,
// states, eks, monitoring, sts, secretsmanager, ec2, events, sqs, sns,
// autoscaling), or else its X-Amz-Target prefix. Its operation is the
// X-Amz-Target suffix (JSON protocols), the Action parameter (query
// protocols) or, for EKS's REST API, the operation the method and path
// name (see eksOperations). A rule may be limited to some operations and
// to a number of faults. Calls the gateway cannot attribute to a service
// (moto's own /moto-api/ endpoints) are never faulted.
//
// Whose calls. moto's own Step Functions executor calls AWS through the
// gateway too: every boto3 client it builds points at
// http://localhost:$MOTO_PORT, the gateway (moto/stepfunctions/parser/
// asl/utils/boto_client.py), with a boto3 User-Agent ("Boto3/1.x
// md/Botocore#1.x ..."). By default (callers "okra") only calls whose
// User-Agent carries okra's application id ("app/okra", set by
// awsapi.LoadConfig through the SDK's AppID) are faulted, so okra's
// handlers, CLI and tests see faults while the emulator's executor stays
// healthy; "from=all" faults every proxied call, the executor's included.
// (A process environment with AWS_SDK_UA_APP_ID=okra would make boto3
// claim to be okra as well: moto is started with the test's environment.)
//
// Lambda. The Invoke API the gateway serves itself is never faulted by
// the rules above. Rules for the service "lambda" fault invocations
// instead, whoever the caller (in practice moto's executor): throttle
// answers TooManyRequestsException with HTTP 429, 500 answers
// ServiceException with HTTP 500, as the Lambda API does; the handler is
// not run. A lambda rule's operations are function names. moto 5.2.5
// names such an API error "Lambda.TooManyRequestsException" /
// "Lambda.ServiceException" only in the arn:aws:states:::lambda:invoke
// Task form; in the function-ARN form (Resource: the function's ARN, what
// statemachines/rollout.asl.json uses) it names every Invoke API error
// "Exception", so a Retry on Lambda.ServiceException does not match there
// as it does on AWS. form=function-error answers the fault as a function
// error whose errorType is "Lambda.ServiceException" /
// "Lambda.TooManyRequestsException" instead, which moto names so in both
// forms: use it to exercise the rollout state machine's Retry locally.
//
// Determinism. Each (service, operation) has its own random stream,
// seeded from the spec's seed and the pair's name, so a run replays with
// the same seed: the n-th call of an operation meets the same fault
// whatever other operations did in between. Concurrent calls of one
// operation draw in arrival order. Rules are tried in the order given,
// with one draw per call: the call gets the first matching rule whose
// running total of shares exceeds the draw (so "dynamodb:throttle=0.2,
// dynamodb:500=0.1" throttles 20% and fails 10% of DynamoDB calls); a rule
// whose max is used up drops out, letting later rules take its share.
//
// The text form (OKRA_LOCAL_FAULTS, ParseFaults) is a comma-separated
// list of rules and settings:
//
//	SERVICE:KIND=SHARE[:op=OP1|OP2][:max=N][:delay=DURATION][:form=api|function-error]
//	seed=N            random seed (default 0)
//	from=okra|all     whose proxied calls are faulted (default okra)
//
// e.g. "elasticloadbalancing:throttle=0.2:op=ModifyListener,dynamodb:500=0.1,lambda:throttle=0.05:form=function-error,seed=42".
//
// Faults decides which calls the gateway fails and counts what it
// injected. Change it at any time with Set and Disable; it is safe for
// concurrent use. A nil *Faults injects nothing.
type Faults struct {
	mu       sync.Mutex
	spec     FaultSpec
	used     []int                 // faults injected per rule of spec
	streams  map[string]*rand.Rand // per "service/operation"
	injected map[FaultCount]int    // Count is zero in the keys
	budget   *ELBBudget            // nil: no API budget (SetBudget)
}

// FaultCount is how many faults of one kind a service got.
type FaultCount struct {
	Service string
	Kind    FaultKind
	Count   int
}

// NewFaults returns Faults applying spec.
func NewFaults(spec FaultSpec) (*Faults, error) {
	f := &Faults{injected: map[FaultCount]int{}}
	if err := f.Set(spec); err != nil {
		return nil, err
	}
	return f, nil
}

// FaultsFromEnv returns Faults from $OKRA_LOCAL_FAULTS, or nil (no
// faults) when it is unset or empty.
func FaultsFromEnv() (*Faults, error) {
	text := os.Getenv(FaultsEnv)
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	spec, err := ParseFaults(text)
	if err != nil {
		return nil, fmt.Errorf("%s, %w", FaultsEnv, err)
	}
	return NewFaults(spec)
}

// WithFaults makes the gateway inject f's faults (nil: none).
func WithFaults(f *Faults) Option {
	return func(g *Gateway) { g.faults = f }
}

// Set replaces the spec. Rule budgets (max) and random streams start
// over from the new spec's seed; the injected counts are kept.
func (f *Faults) Set(spec FaultSpec) error {
	if f == nil {
		return errors.New("setting faults on a nil *Faults")
	}
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("fault spec: %w", err)
	}
	spec.Rules = slices.Clone(spec.Rules)
	for i := range spec.Rules {
		spec.Rules[i].Operations = slices.Clone(spec.Rules[i].Operations)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spec = spec
	f.used = make([]int, len(spec.Rules))
	f.streams = map[string]*rand.Rand{}
	return nil
}

// SetBudget makes the gateway enforce an account's ELBv2 API budget
// (nil: none): every ELBv2 call it proxies, whoever makes it, draws a
// token from b and is throttled as ELBv2 throttles when its bucket is
// empty (see ELBBudget). The budget applies before, and whatever, the
// rules; its throttles are counted by b, not in Counts.
func (f *Faults) SetBudget(b *ELBBudget) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.budget = b
}

// Budget returns the ELBv2 budget in force, or nil.
func (f *Faults) Budget() *ELBBudget {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.budget
}

// Disable drops every rule: nothing is faulted until the next Set.
func (f *Faults) Disable() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spec.Rules = nil
	f.used = nil
}

// Spec returns the spec in force.
func (f *Faults) Spec() FaultSpec {
	if f == nil {
		return FaultSpec{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.spec
	s.Rules = slices.Clone(s.Rules)
	for i := range s.Rules {
		s.Rules[i].Operations = slices.Clone(s.Rules[i].Operations)
	}
	return s
}

// Injected returns how many faults of kind the service got.
func (f *Faults) Injected(service string, kind FaultKind) int {
	if f == nil {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected[FaultCount{Service: service, Kind: kind}]
}

// InjectedTotal returns how many faults were injected in all.
func (f *Faults) InjectedTotal() int {
	n := 0
	for _, c := range f.Counts() {
		n += c.Count
	}
	return n
}

// Counts returns the injected faults per service and kind, sorted.
func (f *Faults) Counts() []FaultCount {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]FaultCount, 0, len(f.injected))
	for k, n := range f.injected {
		out = append(out, FaultCount{Service: k.Service, Kind: k.Kind, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// ResetCounts forgets the injected counts.
func (f *Faults) ResetCounts() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.injected = map[FaultCount]int{}
}

// Report summarises the injected faults for a test or benchmark report,
// e.g. "dynamodb:500=2 elasticloadbalancing:throttle=7 (spec ...)".
func (f *Faults) Report() string {
	counts := f.Counts()
	parts := make([]string, 0, len(counts))
	for _, c := range counts {
		parts = append(parts, fmt.Sprintf("%s:%s=%d", c.Service, c.Kind, c.Count))
	}
	summary := "no faults injected"
	if len(parts) > 0 {
		summary = "injected " + strings.Join(parts, " ")
	}
	if spec := f.Spec().String(); spec != "" {
		summary += " (spec " + spec + ")"
	}
	return summary
}

// faultCall is what the decision needs to know about a call.
type faultCall struct {
	service   string
	operation string
	fromOkra  bool
	invoke    bool // an invocation served by the gateway
}

// wants reports whether any rule could fault a call of the service, so
// the gateway only reads a request body when it matters.
func (f *Faults) wants(c faultCall) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !c.invoke && !c.fromOkra && f.spec.Callers != FaultCallersAll {
		return false
	}
	for _, r := range f.spec.Rules {
		if r.Service == c.service && (r.Service == LambdaService) == c.invoke {
			return true
		}
	}
	return false
}

// decide draws for the call and returns the rule that faults it, if any.
func (f *Faults) decide(c faultCall) (FaultRule, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !c.invoke && !c.fromOkra && f.spec.Callers != FaultCallersAll {
		return FaultRule{}, false
	}
	var candidates []int
	for i, r := range f.spec.Rules {
		if r.Service != c.service || (r.Service == LambdaService) != c.invoke {
			continue
		}
		if len(r.Operations) > 0 && !slices.Contains(r.Operations, c.operation) {
			continue
		}
		if r.Max > 0 && f.used[i] >= r.Max {
			continue
		}
		candidates = append(candidates, i)
	}
	if len(candidates) == 0 {
		return FaultRule{}, false
	}
	key := c.service + "/" + c.operation
	stream, ok := f.streams[key]
	if !ok {
		h := fnv.New64a()
		_, _ = h.Write([]byte(key)) // hash.Hash.Write never returns an error
		stream = rand.New(rand.NewPCG(f.spec.Seed, h.Sum64()))
		f.streams[key] = stream
	}
	draw := stream.Float64()
	total := 0.0
	for _, i := range candidates {
		r := f.spec.Rules[i]
		total += r.Share
		if draw < total {
			f.used[i]++
			f.injected[FaultCount{Service: r.Service, Kind: r.Kind}]++
			return r, true
		}
	}
	return FaultRule{}, false
}

// interceptProxied answers r with a fault when one is due, instead of
// proxying it, and reports whether it did.
func (f *Faults) interceptProxied(w http.ResponseWriter, r *http.Request, log *slog.Logger) bool {
	if f == nil {
		return false
	}
	c := faultCall{service: requestService(r), fromOkra: fromOkra(r)}
	if c.service == "" {
		return false
	}
	if budget := f.Budget(); budget != nil && c.service == elbv2Service {
		c.operation = requestOperation(r, c.service)
		spender := SpenderOther
		if c.fromOkra {
			spender = SpenderOkra
		}
		if !budget.Take(c.operation, spender) {
			log.LogAttrs(r.Context(), slog.LevelInfo, "throttling: the account's ELBv2 budget is spent",
				slog.String("operation", c.operation), slog.String("spender", spender), slog.String("bucket", string(ELBv2Class(c.operation))))
			writeProxiedFault(w, r, c.service, c.operation, FaultThrottle)
			return true
		}
	}
	if !f.wants(c) {
		return false
	}
	if c.operation == "" {
		c.operation = requestOperation(r, c.service)
	}
	rule, ok := f.decide(c)
	if !ok {
		return false
	}
	log.LogAttrs(r.Context(), slog.LevelInfo, "injecting fault",
		slog.String("service", c.service), slog.String("operation", c.operation), slog.String("kind", string(rule.Kind)))
	if rule.Kind == FaultTimeout {
		delay := rule.Delay
		if delay == 0 {
			delay = DefaultFaultDelay
		}
		holdAndDrop(w, r, delay)
		return true
	}
	writeProxiedFault(w, r, c.service, c.operation, rule.Kind)
	return true
}

// interceptInvoke answers an invocation of function with a Lambda fault
// when one is due, and reports whether it did.
func (f *Faults) interceptInvoke(w http.ResponseWriter, r *http.Request, function string, log *slog.Logger) bool {
	if f == nil {
		return false
	}
	ref, err := ParseFunctionName(function)
	if err != nil {
		return false // serveInvoke answers the bad name
	}
	c := faultCall{service: LambdaService, operation: ref.Name, invoke: true}
	if !f.wants(c) {
		return false
	}
	rule, ok := f.decide(c)
	if !ok {
		return false
	}
	log.LogAttrs(r.Context(), slog.LevelInfo, "injecting fault",
		slog.String("service", LambdaService), slog.String("function", ref.Name), slog.String("kind", string(rule.Kind)), slog.String("form", string(rule.Form)))
	_, _ = io.Copy(io.Discard, r.Body)
	requestID := newRequestID()
	h := w.Header()
	h.Set("X-Amzn-RequestId", requestID)
	h.Set("X-Okra-Fault", LambdaService+":"+string(rule.Kind))
	code, status, message := "ServiceException", http.StatusInternalServerError, "okra local gateway: injected Lambda service error"
	if rule.Kind == FaultThrottle {
		code, status, message = "TooManyRequestsException", http.StatusTooManyRequests, "Rate Exceeded. (okra local gateway: injected Lambda throttle)"
	}
	if rule.Form == LambdaFaultFunctionError {
		h.Set("Content-Type", "application/json")
		h.Set("X-Amz-Executed-Version", ExecutedVersion)
		h.Set("X-Amz-Function-Error", "Unhandled")
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(map[string]string{"errorType": "Lambda." + code, "errorMessage": message})
		return true
	}
	body := map[string]string{"Type": "Service", "message": message}
	if rule.Kind == FaultThrottle {
		body = map[string]string{"Type": "User", "Reason": "ConcurrentInvocationLimitExceeded", "message": message}
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
	return true
}

// elbv2Service is ELBv2's SigV4 service name.
const elbv2Service = "elasticloadbalancing"

// okraAgent is the User-Agent token the SDK adds for awsapi's AppID.
var okraAgent = "app/" + awsapi.UserAgent

func fromOkra(r *http.Request) bool {
	return slices.Contains(strings.Fields(r.Header.Get("User-Agent")), okraAgent)
}

// requestService names the call's service: the SigV4 credential scope's
// (header or presigned query), else the X-Amz-Target prefix's.
func requestService(r *http.Request) string {
	if s := scopeService(r.Header.Get("Authorization")); s != "" {
		return s
	}
	if s := scopeService("Credential=" + r.URL.Query().Get("X-Amz-Credential")); s != "" {
		return s
	}
	if prefix, _, ok := strings.Cut(r.Header.Get("X-Amz-Target"), "."); ok {
		return targetServices[prefix]
	}
	return ""
}

// scopeService returns SERVICE from "... Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...".
func scopeService(auth string) string {
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(cred, ", "); i >= 0 {
		cred = cred[:i]
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return ""
	}
	return parts[3]
}

// requestOperation names the call's operation, or "" when the gateway
// cannot tell. Reading a query-protocol body leaves it intact for the
// proxy.
func requestOperation(r *http.Request, service string) string {
	if _, op, ok := strings.Cut(r.Header.Get("X-Amz-Target"), "."); ok {
		return op
	}
	// RPCv2 CBOR: /service/SERVICE/operation/OPERATION.
	if seg := strings.Split(r.URL.Path, "/"); len(seg) == 5 && seg[1] == "service" && seg[3] == "operation" {
		return seg[4]
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	if isForm(r) && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		// Give the proxy the same body, and the same read error if any.
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		if err == nil {
			if v, err := url.ParseQuery(string(body)); err == nil {
				return v.Get("Action")
			}
		}
		return ""
	}
	if service == "eks" {
		return eksOperation(r.Method, r.URL.Path)
	}
	return ""
}

func isForm(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// eksOperation maps an EKS REST request to its operation (the routes of
// eksOperations).
func eksOperation(method, path string) string {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	pick := func(byMethod map[string]string) string { return byMethod[method] }
	switch {
	case seg[0] == "tags" && len(seg) >= 2:
		return pick(map[string]string{http.MethodGet: "ListTagsForResource", http.MethodPost: "TagResource", http.MethodDelete: "UntagResource"})
	case seg[0] != "clusters":
		return ""
	case len(seg) == 1:
		return pick(map[string]string{http.MethodGet: "ListClusters", http.MethodPost: "CreateCluster"})
	case len(seg) == 2:
		return pick(map[string]string{http.MethodGet: "DescribeCluster", http.MethodDelete: "DeleteCluster"})
	case len(seg) == 3 && seg[2] == "node-groups":
		return pick(map[string]string{http.MethodGet: "ListNodegroups", http.MethodPost: "CreateNodegroup"})
	case len(seg) == 4 && seg[2] == "node-groups":
		return pick(map[string]string{http.MethodGet: "DescribeNodegroup", http.MethodDelete: "DeleteNodegroup"})
	case len(seg) == 3 && seg[2] == "update-config":
		return pick(map[string]string{http.MethodPost: "UpdateClusterConfig"})
	case len(seg) == 3 && seg[2] == "updates":
		return pick(map[string]string{http.MethodGet: "ListUpdates", http.MethodPost: "UpdateClusterVersion"})
	case len(seg) == 4 && seg[2] == "updates":
		return pick(map[string]string{http.MethodGet: "DescribeUpdate"})
	}
	return ""
}

// holdAndDrop keeps the request unanswered until the client gives up or
// delay passes, then closes the connection without a response.
func holdAndDrop(w http.ResponseWriter, r *http.Request, delay time.Duration) {
	// net/http notices a client hanging up only once the body is read.
	_, _ = io.Copy(io.Discard, r.Body)
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-r.Context().Done():
	case <-timer.C:
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
		return
	}
	// A connection that cannot be hijacked (HTTP/2) gets what a load
	// balancer in front of a hung service answers.
	w.Header().Set("X-Okra-Fault", "timeout")
	http.Error(w, "okra local gateway: injected timeout", http.StatusGatewayTimeout)
}

// dynamoDBItemOperations are the DynamoDB operations that answer
// ProvisionedThroughputExceededException when throttled; table operations
// answer ThrottlingException.
var dynamoDBItemOperations = []string{
	"BatchExecuteStatement", "BatchGetItem", "BatchWriteItem", "DeleteItem", "ExecuteStatement",
	"ExecuteTransaction", "GetItem", "PutItem", "Query", "Scan", "TransactGetItems",
	"TransactWriteItems", "UpdateItem",
}

// queryNamespaces are the XML namespaces of query-protocol error
// documents (the SDKs ignore them; they make the answer AWS's own).
var queryNamespaces = map[string]string{
	"elasticloadbalancing": "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
	"monitoring":           "http://monitoring.amazonaws.com/doc/2010-08-01/",
	"sts":                  "https://sts.amazonaws.com/doc/2011-06-15/",
	"autoscaling":          "http://autoscaling.amazonaws.com/doc/2011-01-01/",
	"sns":                  "http://sns.amazonaws.com/doc/2010-03-31/",
}

// faultAnswer is the error a service gives for a fault kind.
func faultAnswer(service, operation string, kind FaultKind) (status int, code, message string) {
	switch kind {
	case FaultThrottle:
		switch {
		case service == "ec2":
			return http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded."
		case service == "dynamodb" && slices.Contains(dynamoDBItemOperations, operation):
			return http.StatusBadRequest, "ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."
		case queryNamespaces[service] != "":
			return http.StatusBadRequest, "Throttling", "Rate exceeded"
		default:
			return http.StatusBadRequest, "ThrottlingException", "Rate exceeded"
		}
	case FaultInternalError:
		switch service {
		case "ec2":
			return http.StatusInternalServerError, "InternalError", "An internal error has occurred"
		case "dynamodb":
			return http.StatusInternalServerError, "InternalServerError", "Internal server error"
		default:
			return http.StatusInternalServerError, "InternalFailure", "The request processing has failed because of an unknown error, exception or failure."
		}
	default:
		if service == "ec2" {
			return http.StatusServiceUnavailable, "Unavailable", "The server is overloaded and can't handle the request."
		}
		return http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unavailable. Please try again later."
	}
}

type queryError struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Error   struct {
		Type    string
		Code    string
		Message string
	}
	RequestID string `xml:"RequestId"`
}

type ec2Error struct {
	XMLName xml.Name `xml:"Response"`
	Errors  struct {
		Error struct {
			Code    string
			Message string
		}
	}
	RequestID string
}

// writeProxiedFault answers in the wire format the request's protocol
// expects: EC2 XML, query XML, JSON 1.0/1.1 or REST-JSON.
func writeProxiedFault(w http.ResponseWriter, r *http.Request, service, operation string, kind FaultKind) {
	_, _ = io.Copy(io.Discard, r.Body)
	status, code, message := faultAnswer(service, operation, kind)
	message += " (okra local gateway: injected fault)"
	requestID := newRequestID()
	h := w.Header()
	h.Set("X-Amzn-RequestId", requestID)
	h.Set("X-Okra-Fault", service+":"+string(kind))
	var body []byte
	var err error
	switch {
	case service == "ec2":
		var e ec2Error
		e.Errors.Error.Code, e.Errors.Error.Message, e.RequestID = code, message, requestID
		body, err = xml.Marshal(e)
		h.Set("Content-Type", "text/xml;charset=UTF-8")
	case r.Header.Get("X-Amz-Target") != "":
		typ := code
		if service == "dynamodb" {
			typ = "com.amazonaws.dynamodb.v20120810#" + code
		}
		body, err = json.Marshal(map[string]string{"__type": typ, "message": message})
		ct := r.Header.Get("Content-Type")
		if !strings.HasPrefix(ct, "application/x-amz-json") {
			ct = "application/x-amz-json-1.0"
		}
		h.Set("Content-Type", ct)
	case isForm(r) || r.URL.Query().Get("Action") != "":
		e := queryError{Xmlns: queryNamespaces[service], RequestID: requestID}
		e.Error.Type = "Sender"
		if kind != FaultThrottle {
			e.Error.Type = "Receiver"
		}
		e.Error.Code, e.Error.Message = code, message
		body, err = xml.Marshal(e)
		h.Set("Content-Type", "text/xml")
	default:
		h.Set("X-Amzn-ErrorType", code)
		body, err = json.Marshal(map[string]string{"message": message})
		h.Set("Content-Type", "application/json")
	}
	if err != nil { // cannot happen: strings only
		body = nil
	}
	if service == "dynamodb" {
		// DynamoDB signs every body with its CRC32, and its SDK checks it.
		h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
