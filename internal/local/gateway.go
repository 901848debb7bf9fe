// Package local owns okra's local runtime: a gateway that serves the
// Lambda Invoke API from Go handlers registered in-process and
// reverse-proxies every other AWS call to the moto emulator, and Start,
// which runs moto behind that gateway so moto's Step Functions executes
// state machines against okra's real handlers. It is used by integration
// tests, `okra local up` and the demo. It holds no okra logic and is never
// part of a deployed Lambda.
//
// How the pieces fit: moto's Step Functions invokes Lambda with boto3 at
// http://localhost:$MOTO_PORT (moto/stepfunctions/parser/asl/utils/
// boto_client.py). Start binds the gateway's port first and starts moto
// with MOTO_PORT set to it, so those invocations reach the gateway; the
// gateway proxies everything else (including the calls moto's own
// executor makes) back to moto. Because the gateway answers Invoke itself,
// moto's Lambda backend is never consulted: no lambda:CreateFunction is
// needed (TestNoCreateFunctionNeeded proves it).
//
// What moto's Step Functions (5.2.5) does with a Lambda answer, read from
// moto/stepfunctions/parser/asl/component/state/exec/state_task and pinned
// by this package's integration tests:
//   - `"Resource": "arn:aws:lambda:REGION:ACCOUNT:function:NAME"` (the
//     function-ARN form) passes the state input as the payload and uses the
//     returned payload as the state result.
//   - `"Resource": "arn:aws:states:::lambda:invoke"` with Parameters
//     {FunctionName, Payload} returns the Invoke response, so the handler's
//     output is under "Payload" next to "StatusCode" and
//     "ExecutedVersion"; select it with `"OutputPath": "$.Payload"` or a
//     ResultSelector, as on AWS. FunctionName may be an ARN, a name or
//     NAME:QUALIFIER.
//   - `lambda:invoke.waitForTaskToken` invokes, then waits for
//     SendTaskSuccess or SendTaskFailure.
//   - A response carrying X-Amz-Function-Error becomes a state error named
//     by the body's "errorType" (moto falls back to "Exception" when there
//     is none), with the body as the cause. The gateway answers a handler
//     error exactly as the Go Lambda runtime does (see ErrorType), so
//     `"ErrorEquals": ["TransientError"]` matches a handler returning
//     *TransientError.
//
// Where moto 5.2.5 differs from AWS (so test these another way):
//   - An Invoke API error (404 for an unregistered function) is named
//     "Lambda.ResourceNotFoundException" for lambda:invoke, as on AWS, but
//     plain "Exception" for the function-ARN form.
//   - lambda:invoke's result lacks AWS's SdkHttpMetadata and
//     SdkResponseMetadata fields.
//   - SendTaskFailure's cause is dropped: the execution fails with the
//     error name and an empty cause.
//   - An execution whose final output is a JSON string is described with
//     the bare string, not JSON-quoted.
//   - Invoke calls carry no deadline: moto's client waits as long as the
//     gateway takes (WithTimeout bounds it).
//   - StartExecution's "is this name taken" check is not atomic: two
//     concurrent starts of one name both create an execution, with the same
//     ARN. AWS never runs two executions of one name, so the gateway passes
//     StartExecution calls to moto one at a time (startMu).
//
// Fault injection (faults.go, WithFaults): the gateway can answer a seeded
// share of proxied calls with throttling, 5xx errors or timeouts in each
// service's own wire format, and of invocations with Lambda service
// errors, so retries and Retry/Catch paths run locally.
package local

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/okrahq/okra/internal/testenv"
)

const (
	// DefaultRegion and DefaultAccountID complete a function ARN when the
	// caller invokes by plain name (the emulator's region and account).
	DefaultRegion    = testenv.Region
	DefaultAccountID = testenv.AccountID

	// DefaultTimeout is how long one invocation may run: Lambda's maximum.
	DefaultTimeout = 15 * time.Minute

	// MaxPayloadBytes is Lambda's limit for a synchronous request payload.
	MaxPayloadBytes = 6 << 20

	// ExecutedVersion is what the gateway reports in X-Amz-Executed-Version.
	ExecutedVersion = "$LATEST"
)

// Invocation types (the X-Amz-Invocation-Type header).
const (
	InvocationRequestResponse = "RequestResponse"
	InvocationEvent           = "Event"
	InvocationDryRun          = "DryRun"
)

// HandlerFunc is the untyped handler form: the raw JSON payload in, any
// JSON-encodable value out. Typed handlers (func(ctx, T) (R, error), as
// passed to lambda.Start) can be registered unchanged instead.
type HandlerFunc func(ctx context.Context, payload json.RawMessage) (any, error)

// Option configures a Gateway.
type Option func(*Gateway)

// WithLogger sets the logger for invocation and proxy logs (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(g *Gateway) {
		if l != nil {
			g.log = l
		}
	}
}

// WithTimeout bounds each invocation (default DefaultTimeout). When it
// expires the caller gets the Lambda timeout error ("Sandbox.Timedout")
// and the handler's context is cancelled; a handler that ignores its
// context keeps running in the background until it returns.
func WithTimeout(d time.Duration) Option {
	return func(g *Gateway) {
		if d > 0 {
			g.timeout = d
		}
	}
}

// Gateway is an http.Handler serving the Lambda Invoke API
// (POST /2015-03-31/functions/{name}/invocations) from registered Go
// handlers and proxying every other request to the upstream emulator. It
// is safe for concurrent use, including Register while serving.
type Gateway struct {
	upstream *url.URL
	proxy    *httputil.ReverseProxy
	log      *slog.Logger
	timeout  time.Duration
	faults   *Faults // nil: no fault injection (WithFaults)

	// startMu serializes StartExecution so moto's name check holds as
	// AWS's does (see the package doc).
	startMu sync.Mutex

	mu        sync.RWMutex
	functions map[string]*function
	closed    bool
	async     sync.WaitGroup

	// base is cancelled by Close: it bounds every handler context.
	base   context.Context
	cancel context.CancelFunc
}

type function struct {
	handler     handlerFactory
	invocations atomic.Int64
}

// handlerFactory returns the lambda.Handler for one invocation. A handler
// built by lambda.NewHandler returns bytes from a pooled buffer it has
// already handed back to its pool: fine for the Lambda runtime, which
// invokes one at a time, but a data race when the gateway runs
// invocations concurrently. So function handlers are wrapped anew (a
// cheap reflection step with its own pool) for every invocation.
type handlerFactory func() lambda.Handler

// NewGateway returns a gateway that proxies to upstream (moto's endpoint,
// e.g. http://127.0.0.1:5000).
func NewGateway(upstream string, opts ...Option) (*Gateway, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("parsing upstream endpoint %q, %w", upstream, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("upstream endpoint %q: want http(s)://host:port", upstream)
	}
	base, cancel := context.WithCancel(context.Background())
	g := &Gateway{
		upstream:  u,
		log:       slog.Default(),
		timeout:   DefaultTimeout,
		functions: map[string]*function{},
		base:      base,
		cancel:    cancel,
	}
	for _, o := range opts {
		o(g)
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(g.upstream)
			// Keep the caller's Host: moto builds URLs it returns (SQS
			// queue URLs, for one) from it, and those must point back at
			// the gateway.
			pr.Out.Host = pr.In.Host
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			g.log.WarnContext(r.Context(), "proxying to the emulator failed",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
			writeAPIError(w, http.StatusBadGateway, "ServiceUnavailableException",
				fmt.Sprintf("okra local gateway: the emulator at %s did not answer: %v", g.upstream, err))
		},
	}
	return g, nil
}

// Upstream returns the endpoint the gateway proxies to.
func (g *Gateway) Upstream() string { return g.upstream.String() }

// functionNameRE is the Lambda API's FunctionName: a name, a partial ARN
// (ACCOUNT:function:NAME) or a full ARN, each optionally ":QUALIFIER".
var functionNameRE = regexp.MustCompile(`^(?:arn:(aws[a-zA-Z-]*):lambda:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):function:|(\d{12}):function:)?([a-zA-Z0-9_-]{1,64})(?::(\$LATEST|[a-zA-Z0-9_-]{1,128}))?$`)

// FunctionRef is a parsed FunctionName.
type FunctionRef struct {
	Partition string // "" unless a full ARN was given
	Region    string // "" unless a full ARN was given
	AccountID string // "" unless an ARN or partial ARN was given
	Name      string
	Qualifier string // version or alias, "" for none
}

// ParseFunctionName parses what the Lambda API accepts as FunctionName:
// "NAME", "NAME:QUALIFIER", "ACCOUNT:function:NAME[:QUALIFIER]" or
// "arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]".
func ParseFunctionName(s string) (FunctionRef, error) {
	m := functionNameRE.FindStringSubmatch(s)
	if m == nil {
		return FunctionRef{}, fmt.Errorf("function name %q: want NAME[:QUALIFIER], ACCOUNT:function:NAME or arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] (name: 1-64 letters, digits, '-' or '_')", s)
	}
	ref := FunctionRef{Partition: m[1], Region: m[2], AccountID: m[3], Name: m[5], Qualifier: m[6]}
	if ref.AccountID == "" {
		ref.AccountID = m[4]
	}
	return ref, nil
}

// ARN returns the function's ARN (with its qualifier, if any), completing
// what the reference leaves out with DefaultRegion and DefaultAccountID.
func (r FunctionRef) ARN() string {
	partition, region, account := r.Partition, r.Region, r.AccountID
	if partition == "" {
		partition = "aws"
	}
	if region == "" {
		region = DefaultRegion
	}
	if account == "" {
		account = DefaultAccountID
	}
	arn := fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", partition, region, account, r.Name)
	if r.Qualifier != "" {
		arn += ":" + r.Qualifier
	}
	return arn
}

// Register makes handler answer invocations of the function name (a
// plain name or an unqualified ARN; invocations of any qualifier of it
// reach the same handler). handler is one of:
//   - a HandlerFunc, or a func literal of the same signature;
//   - a lambda.Handler (Invoke(ctx, []byte) ([]byte, error));
//   - any function lambda.Start accepts, e.g. func(context.Context, T) (R, error),
//     so a Lambda's handler registers unchanged.
//
// Registering a name again replaces its handler (and keeps its
// invocation count).
func (g *Gateway) Register(name string, handler any) error {
	ref, h, err := registration(name, handler)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if fn, ok := g.functions[ref.Name]; ok {
		fn.handler = h
		return nil
	}
	g.functions[ref.Name] = &function{handler: h}
	return nil
}

// registration validates what Register is given.
func registration(name string, handler any) (FunctionRef, handlerFactory, error) {
	ref, err := ParseFunctionName(name)
	if err != nil {
		return FunctionRef{}, nil, fmt.Errorf("registering %q, %w", name, err)
	}
	if ref.Qualifier != "" {
		return FunctionRef{}, nil, fmt.Errorf("registering %q: register the unqualified function name; every qualifier reaches it", name)
	}
	h, err := toLambdaHandler(handler)
	if err != nil {
		return FunctionRef{}, nil, fmt.Errorf("registering %q, %w", name, err)
	}
	return ref, h, nil
}

// Unregister removes a function; later invocations get 404.
func (g *Gateway) Unregister(name string) {
	if ref, err := ParseFunctionName(name); err == nil {
		name = ref.Name
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.functions, name)
}

// Functions returns the registered function names, sorted.
func (g *Gateway) Functions() []string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	names := make([]string, 0, len(g.functions))
	for n := range g.functions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Invocations returns how many times the function's handler has been
// called (DryRun requests do not count).
func (g *Gateway) Invocations(name string) int {
	if ref, err := ParseFunctionName(name); err == nil {
		name = ref.Name
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	if fn, ok := g.functions[name]; ok {
		return int(fn.invocations.Load())
	}
	return 0
}

func (g *Gateway) lookup(name string) (handlerFactory, *function) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	fn, ok := g.functions[name]
	if !ok {
		return nil, nil
	}
	return fn.handler, fn
}

// Close stops accepting asynchronous invocations and waits (until ctx is
// done) for those still running; then it cancels every handler context.
// It does not close the HTTP server serving the gateway.
func (g *Gateway) Close(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	done := make(chan struct{})
	go func() { g.async.Wait(); close(done) }()
	defer g.cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for asynchronous invocations, %w", ctx.Err())
	}
}

// ServeHTTP serves Invoke itself and proxies everything else upstream.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if name, ok := invokeTarget(r); ok {
		if g.faults.interceptInvoke(w, r, name, g.log) {
			return
		}
		g.serveInvoke(w, r, name)
		return
	}
	if g.faults.interceptProxied(w, r, g.log) {
		return
	}
	if r.Header.Get("X-Amz-Target") == "AWSStepFunctions.StartExecution" {
		g.startMu.Lock()
		defer g.startMu.Unlock()
	}
	g.proxy.ServeHTTP(w, r)
}

// invokeTarget recognises POST /2015-03-31/functions/{name}/invocations
// and returns the (unescaped) function name.
func invokeTarget(r *http.Request) (string, bool) {
	if r.Method != http.MethodPost {
		return "", false
	}
	seg := strings.Split(r.URL.EscapedPath(), "/")
	if len(seg) != 5 || seg[0] != "" || seg[1] != "2015-03-31" || seg[2] != "functions" || seg[4] != "invocations" {
		return "", false
	}
	name, err := url.PathUnescape(seg[3])
	if err != nil {
		return seg[3], true // reported as an invalid name
	}
	return name, true
}

func (g *Gateway) serveInvoke(w http.ResponseWriter, r *http.Request, rawName string) {
	requestID := newRequestID()
	w.Header().Set("X-Amzn-RequestId", requestID)

	ref, err := ParseFunctionName(rawName)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "ValidationException", err.Error())
		return
	}
	if q := r.URL.Query().Get("Qualifier"); q != "" {
		if ref.Qualifier != "" && ref.Qualifier != q {
			writeAPIError(w, http.StatusBadRequest, "InvalidParameterValueException",
				fmt.Sprintf("the qualifier in the function name (%s) differs from the Qualifier parameter (%s)", ref.Qualifier, q))
			return
		}
		ref.Qualifier = q
	}
	arn := ref.ARN()
	handler, fn := g.lookup(ref.Name)
	if handler == nil {
		writeAPIError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+arn)
		return
	}

	invocationType := r.Header.Get("X-Amz-Invocation-Type")
	switch invocationType {
	case "":
		invocationType = InvocationRequestResponse
	case InvocationRequestResponse, InvocationEvent, InvocationDryRun:
	default:
		writeAPIError(w, http.StatusBadRequest, "InvalidParameterValueException",
			fmt.Sprintf("X-Amz-Invocation-Type %q: want RequestResponse, Event or DryRun", invocationType))
		return
	}

	lc := &lambdacontext.LambdaContext{AwsRequestID: requestID, InvokedFunctionArn: arn}
	if cc := r.Header.Get("X-Amz-Client-Context"); cc != "" {
		if err := decodeClientContext(cc, &lc.ClientContext); err != nil {
			writeAPIError(w, http.StatusBadRequest, "InvalidParameterValueException", err.Error())
			return
		}
	}

	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPayloadBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException",
				fmt.Sprintf("request payload larger than %d bytes", MaxPayloadBytes))
			return
		}
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestContentException", fmt.Sprintf("reading request payload, %v", err))
		return
	}
	// The Lambda API refuses a payload that is not JSON; an empty one
	// reaches the function as {}.
	if len(bytes.TrimSpace(payload)) == 0 {
		payload = []byte("{}")
	} else if !json.Valid(payload) {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json")
		return
	}

	inv := invocation{function: ref.Name, invocationType: invocationType, context: lc, payload: payload, handler: handler, counter: fn}
	switch invocationType {
	case InvocationDryRun:
		w.WriteHeader(http.StatusNoContent)
	case InvocationEvent:
		g.mu.RLock()
		closed := g.closed
		if !closed {
			g.async.Add(1)
		}
		g.mu.RUnlock()
		if closed {
			writeAPIError(w, http.StatusServiceUnavailable, "ServiceException", "okra local gateway is shutting down")
			return
		}
		// Like Lambda, the event runs after the caller got its answer and
		// independently of the caller's connection.
		ctx := context.WithoutCancel(r.Context())
		go func() {
			defer g.async.Done()
			g.invoke(ctx, inv)
		}()
		w.WriteHeader(http.StatusAccepted)
	default:
		res := g.invoke(context.WithoutCancel(r.Context()), inv)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("X-Amz-Executed-Version", ExecutedVersion)
		if res.err != nil {
			h.Set("X-Amz-Function-Error", "Unhandled")
			body, err := json.Marshal(res.err)
			if err != nil { // cannot happen: strings and ints only
				body = []byte(`{"errorType":"Runtime.MarshalError","errorMessage":"encoding the function error failed"}`)
			}
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body)
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(res.payload)
	}
}

type invocation struct {
	function       string
	invocationType string
	context        *lambdacontext.LambdaContext
	payload        []byte
	handler        handlerFactory
	counter        *function
}

type result struct {
	payload []byte
	err     *messages.InvokeResponse_Error
}

// invoke runs one invocation with the gateway's timeout, recovering a
// panic into a function error, and logs it.
func (g *Gateway) invoke(parent context.Context, inv invocation) result {
	ctx, cancel := context.WithTimeout(parent, g.timeout)
	defer cancel()
	stop := context.AfterFunc(g.base, cancel)
	defer stop()
	ctx = lambdacontext.NewContext(ctx, inv.context)

	inv.counter.invocations.Add(1)
	start := time.Now()
	done := make(chan result, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- result{err: panicResponse(v)}
			}
		}()
		out, err := inv.handler().Invoke(ctx, inv.payload)
		if err != nil {
			done <- result{err: errorResponse(err)}
			return
		}
		done <- result{payload: out}
	}()

	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		msg := fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", inv.context.AwsRequestID, g.timeout.Seconds())
		if g.base.Err() != nil {
			msg = fmt.Sprintf("RequestId: %s Error: okra local gateway closed during the invocation", inv.context.AwsRequestID)
		}
		res = result{err: &messages.InvokeResponse_Error{Type: "Sandbox.Timedout", Message: msg}}
	}

	attrs := []slog.Attr{
		slog.String("function", inv.function),
		slog.String("requestId", inv.context.AwsRequestID),
		slog.String("invocationType", inv.invocationType),
		slog.Duration("duration", time.Since(start)),
	}
	if res.err != nil {
		attrs = append(attrs, slog.String("errorType", res.err.Type), slog.String("errorMessage", res.err.Message))
		g.log.LogAttrs(ctx, slog.LevelWarn, "function returned an error", attrs...)
	} else {
		g.log.LogAttrs(ctx, slog.LevelInfo, "function invoked", attrs...)
	}
	return res
}

// ErrorType is the error name a Step Functions Retry or Catch sees when a
// Go Lambda handler returns err: the name of err's top-level type,
// without package or pointer star, exactly as aws-lambda-go computes it
// (lambda/errors.go). Wrapping changes it: fmt.Errorf("...: %w", e) is a
// "wrapError", errors.New is an "errorString". A
// messages.InvokeResponse_Error keeps its own Type.
func ErrorType(err error) string {
	if err == nil {
		return ""
	}
	return errorResponse(err).Type
}

// errorResponse mirrors aws-lambda-go's lambdaErrorResponse.
func errorResponse(err error) *messages.InvokeResponse_Error {
	if ive, ok := err.(messages.InvokeResponse_Error); ok {
		return &ive
	}
	return &messages.InvokeResponse_Error{Message: err.Error(), Type: typeName(err)}
}

// panicResponse mirrors aws-lambda-go's lambdaPanicResponse: the panic
// value's type name, its %v, and the stack.
func panicResponse(v any) *messages.InvokeResponse_Error {
	if ive, ok := v.(messages.InvokeResponse_Error); ok {
		return &ive
	}
	return &messages.InvokeResponse_Error{Message: fmt.Sprintf("%v", v), Type: typeName(v), StackTrace: panicStack()}
}

func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

func panicStack() []*messages.InvokeResponse_Error_StackFrame {
	pcs := make([]uintptr, 32)
	// Skip runtime.Callers, panicStack, panicResponse and the deferred
	// func; then drop the runtime's panic frames so the trace starts
	// where the handler panicked.
	n := runtime.Callers(4, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	var out []*messages.InvokeResponse_Error_StackFrame
	for {
		f, more := frames.Next()
		if f.Function == "runtime.gopanic" || f.Function == "runtime.panicmem" || f.Function == "runtime.sigpanic" {
			out = out[:0]
		} else {
			out = append(out, &messages.InvokeResponse_Error_StackFrame{Path: f.File, Line: int32(f.Line), Label: f.Function})
		}
		if !more {
			return out
		}
	}
}

// toLambdaHandler turns what Register accepts into a handlerFactory,
// refusing at registration what lambda.NewHandler would only refuse at
// the first invocation. A lambda.Handler is used as it is: it must be
// safe for concurrent use.
func toLambdaHandler(handler any) (handlerFactory, error) {
	switch h := handler.(type) {
	case nil:
		return nil, errors.New("handler is nil")
	case HandlerFunc:
		if h == nil {
			return nil, errors.New("handler is nil")
		}
		return func() lambda.Handler { return lambda.NewHandler(h) }, nil
	case lambda.Handler:
		if v := reflect.ValueOf(h); v.Kind() == reflect.Pointer && v.IsNil() {
			return nil, errors.New("handler is nil")
		}
		return func() lambda.Handler { return h }, nil
	}
	v := reflect.ValueOf(handler)
	if v.Kind() != reflect.Func {
		return nil, fmt.Errorf("handler is a %T, want a function or a lambda.Handler", handler)
	}
	if v.IsNil() {
		return nil, errors.New("handler is nil")
	}
	if err := validateSignature(v.Type()); err != nil {
		return nil, fmt.Errorf("handler %s: %w", v.Type(), err)
	}
	return func() lambda.Handler { return lambda.NewHandler(handler) }, nil
}

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// validateSignature applies lambda.Start's rules (aws-lambda-go
// lambda/handler.go: handlerTakesContext, validateReturns).
func validateSignature(t reflect.Type) error {
	isContext := func(a reflect.Type) bool {
		return a.Kind() == reflect.Interface && contextType.Implements(a) && a.Implements(contextType)
	}
	switch t.NumIn() {
	case 0:
	case 1:
		if a := t.In(0); a.Kind() == reflect.Interface && a.NumMethod() > 0 && !isContext(a) {
			return fmt.Errorf("takes an interface, but it is not context.Context: %s", a)
		}
	case 2:
		if !isContext(t.In(0)) {
			return fmt.Errorf("takes two arguments, but the first is not context.Context: %s", t.In(0))
		}
	default:
		return fmt.Errorf("takes %d arguments, at most two (context.Context, event) are allowed", t.NumIn())
	}
	switch n := t.NumOut(); {
	case n > 2:
		return errors.New("returns more than two values")
	case n == 2 && !t.Out(1).Implements(errorType):
		return errors.New("returns two values, but the second does not implement error")
	case n == 1 && !t.Out(0).Implements(errorType):
		return errors.New("returns a single value, but it does not implement error")
	}
	return nil
}

func decodeClientContext(header string, cc *lambdacontext.ClientContext) error {
	b, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		return fmt.Errorf("X-Amz-Client-Context is not base64: %v", err)
	}
	if err := json.Unmarshal(b, cc); err != nil {
		return fmt.Errorf("X-Amz-Client-Context is not a JSON client context: %v", err)
	}
	return nil
}

// newRequestID returns a random UUID (version 4), the form Lambda uses.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// writeAPIError answers like the Lambda API: the code in X-Amzn-ErrorType,
// the message in the body.
func writeAPIError(w http.ResponseWriter, status int, code, message string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "Message": message})
}
