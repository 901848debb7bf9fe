package local_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/okrahq/okra/internal/local"
)

// TransientError and PermanentError are typed errors as okra's handlers
// return them at the Lambda boundary.
type TransientError struct{ Reason string }

func (e *TransientError) Error() string { return "transient: " + e.Reason }

type PermanentError struct{ Reason string }

func (e PermanentError) Error() string { return "permanent: " + e.Reason }

type echoIn struct {
	Message string `json:"message"`
	Count   int    `json:"count"`
}

type echoOut struct {
	Echo      string `json:"echo"`
	Count     int    `json:"count"`
	RequestID string `json:"requestId"`
	ARN       string `json:"arn"`
}

// echo is a handler with the signature real okra Lambdas have.
func echo(ctx context.Context, in echoIn) (echoOut, error) {
	out := echoOut{Echo: in.Message, Count: in.Count + 1}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		out.RequestID = lc.AwsRequestID
		out.ARN = lc.InvokedFunctionArn
	}
	return out, nil
}

// fakeUpstream records what the gateway proxies to it.
type fakeUpstream struct {
	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	Method, Path, RawQuery, Host, Body string
	Header                             http.Header
}

func (f *fakeUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, recorded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Host: r.Host, Body: string(b), Header: r.Header.Clone()})
	f.mu.Unlock()
	w.Header().Set("X-Upstream", "moto")
	w.WriteHeader(http.StatusTeapot)
	fmt.Fprintf(w, "upstream saw %s %s", r.Method, r.URL.Path)
}

func (f *fakeUpstream) all() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

type harness struct {
	gw       *local.Gateway
	url      string
	upstream *fakeUpstream
	logs     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t *testing.T, opts ...local.Option) *harness {
	t.Helper()
	up := &fakeUpstream{}
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	logs := &syncBuffer{}
	opts = append([]local.Option{local.WithLogger(slog.New(slog.NewJSONHandler(logs, nil)))}, opts...)
	gw, err := local.NewGateway(upSrv.URL, opts...)
	if err != nil {
		t.Fatalf("NewGateway: %v", err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := gw.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &harness{gw: gw, url: srv.URL, upstream: up, logs: logs}
}

func (h *harness) register(t *testing.T, name string, handler any) {
	t.Helper()
	if err := h.gw.Register(name, handler); err != nil {
		t.Fatalf("Register(%s): %v", name, err)
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// invoke posts to the Invoke API. name is put in the path escaped as the
// AWS SDKs do (url.PathEscape: ':' stays, '/' would not).
func (h *harness) invoke(t *testing.T, name, payload string, header map[string]string) response {
	t.Helper()
	return h.post(t, "/2015-03-31/functions/"+url.PathEscape(name)+"/invocations", payload, header)
}

func (h *harness) post(t *testing.T, path, payload string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func TestInvokeTypedHandlerByEveryNameForm(t *testing.T) {
	h := newHarness(t)
	h.register(t, "echo", echo)

	tests := []struct {
		name    string
		path    string // escaped function name in the URL
		query   string
		wantARN string
	}{
		{"plain name", "echo", "", "arn:aws:lambda:us-east-1:123456789012:function:echo"},
		{"name with qualifier", "echo:live", "", "arn:aws:lambda:us-east-1:123456789012:function:echo:live"},
		{"name with $LATEST", "echo:$LATEST", "", "arn:aws:lambda:us-east-1:123456789012:function:echo:$LATEST"},
		{"partial ARN", "123456789012:function:echo", "", "arn:aws:lambda:us-east-1:123456789012:function:echo"},
		{"full ARN, colons escaped as boto3 sends it", "arn%3Aaws%3Alambda%3Aeu-west-1%3A111122223333%3Afunction%3Aecho", "", "arn:aws:lambda:eu-west-1:111122223333:function:echo"},
		{"full ARN, colons raw", "arn:aws:lambda:us-east-1:123456789012:function:echo", "", "arn:aws:lambda:us-east-1:123456789012:function:echo"},
		{"full ARN with qualifier", "arn:aws:lambda:us-east-1:123456789012:function:echo:7", "", "arn:aws:lambda:us-east-1:123456789012:function:echo:7"},
		{"Qualifier parameter", "echo", "?Qualifier=prod", "arn:aws:lambda:us-east-1:123456789012:function:echo:prod"},
		{"same qualifier twice", "echo:prod", "?Qualifier=prod", "arn:aws:lambda:us-east-1:123456789012:function:echo:prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.post(t, "/2015-03-31/functions/"+tt.path+"/invocations"+tt.query, `{"message":"hi","count":41}`, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if fe := r.header.Get("X-Amz-Function-Error"); fe != "" {
				t.Fatalf("X-Amz-Function-Error = %q: %s", fe, r.body)
			}
			if got := r.header.Get("X-Amz-Executed-Version"); got != "$LATEST" {
				t.Errorf("X-Amz-Executed-Version = %q", got)
			}
			out := decode[echoOut](t, r.body)
			if out.Echo != "hi" || out.Count != 42 {
				t.Errorf("output = %+v, want the typed handler's answer", out)
			}
			if out.ARN != tt.wantARN {
				t.Errorf("InvokedFunctionArn = %q, want %q", out.ARN, tt.wantARN)
			}
			if out.RequestID == "" || out.RequestID != r.header.Get("X-Amzn-RequestId") {
				t.Errorf("request id in the handler context = %q, X-Amzn-RequestId = %q", out.RequestID, r.header.Get("X-Amzn-RequestId"))
			}
		})
	}
	if n := h.gw.Invocations("echo"); n != len(tests) {
		t.Errorf("Invocations(echo) = %d, want %d", n, len(tests))
	}
	if ups := h.upstream.all(); len(ups) != 0 {
		t.Errorf("invocations leaked to the upstream: %+v", ups)
	}
}

func TestInvokeHandlerForms(t *testing.T) {
	h := newHarness(t)
	h.register(t, "raw", local.HandlerFunc(func(_ context.Context, p json.RawMessage) (any, error) {
		return map[string]json.RawMessage{"got": p}, nil
	}))
	h.register(t, "literal", func(_ context.Context, p json.RawMessage) (any, error) {
		return string(p), nil
	})
	h.register(t, "no-context", func(in echoIn) (string, error) { return strings.ToUpper(in.Message), nil })
	h.register(t, "error-only", func(context.Context) error { return nil })
	h.register(t, "bytes", bytesHandler{})

	tests := []struct {
		fn, payload, want string
	}{
		{"raw", `{"a":[1,2]}`, `{"got":{"a":[1,2]}}`},
		{"literal", `{"a":1}`, `"{\"a\":1}"`},
		{"no-context", `{"message":"loud"}`, `"LOUD"`},
		{"error-only", `{}`, `null`},
		{"bytes", `{"x":1}`, `{"bytes":7}`},
		{"raw", ``, `{"got":{}}`}, // an empty payload reaches the handler as {}
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			r := h.invoke(t, tt.fn, tt.payload, nil)
			if r.status != http.StatusOK || r.header.Get("X-Amz-Function-Error") != "" {
				t.Fatalf("status %d, function error %q: %s", r.status, r.header.Get("X-Amz-Function-Error"), r.body)
			}
			if got := strings.TrimSpace(string(r.body)); got != tt.want {
				t.Fatalf("body = %s, want %s", got, tt.want)
			}
		})
	}
}

type bytesHandler struct{}

func (bytesHandler) Invoke(_ context.Context, p []byte) ([]byte, error) {
	return fmt.Appendf(nil, `{"bytes":%d}`, len(p)), nil
}

type valueError struct{}

func (valueError) Error() string { return "value receiver" }

func TestErrorTypeMirrorsLambdaRuntime(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"pointer to struct", &TransientError{Reason: "x"}, "TransientError"},
		{"struct value", PermanentError{Reason: "x"}, "PermanentError"},
		{"empty struct value", valueError{}, "valueError"},
		{"errors.New", errors.New("x"), "errorString"},
		{"wrapped typed error is named by its wrapper", fmt.Errorf("analysis: %w", &TransientError{}), "wrapError"},
		{"fmt.Errorf without %w", fmt.Errorf("plain"), "errorString"},
		{"errors.Join", errors.Join(errors.New("a"), errors.New("b")), "joinError"},
		{"context deadline", context.DeadlineExceeded, "deadlineExceededError"},
		{"runtime InvokeResponse_Error keeps its type", messages.InvokeResponse_Error{Type: "Custom.Name", Message: "m"}, "Custom.Name"},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := local.ErrorType(tt.err); got != tt.want {
				t.Fatalf("ErrorType(%T) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestHandlerErrorIsAnUnhandledFunctionError(t *testing.T) {
	h := newHarness(t)
	h.register(t, "transient", func(context.Context, echoIn) (echoOut, error) {
		return echoOut{}, &TransientError{Reason: "listener busy"}
	})
	h.register(t, "permanent", func(context.Context, echoIn) (*echoOut, error) {
		return nil, PermanentError{Reason: "analysis failed"}
	})
	h.register(t, "wrapped", func(context.Context) error {
		return fmt.Errorf("setting weights, %w", &TransientError{Reason: "x"})
	})
	h.register(t, "bad-input", echo) // decoding fails inside aws-lambda-go

	tests := []struct {
		fn, payload, wantType, wantMessage string
	}{
		{"transient", `{}`, "TransientError", "transient: listener busy"},
		{"permanent", `{}`, "PermanentError", "permanent: analysis failed"},
		{"wrapped", `{}`, "wrapError", "setting weights, transient: x"},
		{"bad-input", `{"count":"many"}`, "UnmarshalTypeError", "json: cannot unmarshal string into Go struct field echoIn.count of type int"},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			r := h.invoke(t, tt.fn, tt.payload, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status = %d, want 200 (a function error is not an API error): %s", r.status, r.body)
			}
			if got := r.header.Get("X-Amz-Function-Error"); got != "Unhandled" {
				t.Fatalf("X-Amz-Function-Error = %q, want Unhandled", got)
			}
			var body map[string]any
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if body["errorType"] != tt.wantType || body["errorMessage"] != tt.wantMessage {
				t.Fatalf("body = %s, want errorType %q and errorMessage %q", r.body, tt.wantType, tt.wantMessage)
			}
			if _, ok := body["stackTrace"]; ok {
				t.Errorf("a returned error carries a stack trace: %s", r.body)
			}
		})
	}
}

func TestPanicIsRecoveredIntoAFunctionError(t *testing.T) {
	h := newHarness(t)
	h.register(t, "panics", func(context.Context, echoIn) (echoOut, error) { panic("boom") })
	h.register(t, "panics-error", func(context.Context) error { panic(&TransientError{Reason: "in panic"}) })
	h.register(t, "echo", echo)

	for _, tt := range []struct{ fn, wantType, wantMessage string }{
		{"panics", "string", "boom"},
		{"panics-error", "TransientError", "transient: in panic"},
	} {
		r := h.invoke(t, tt.fn, `{}`, nil)
		if r.status != http.StatusOK || r.header.Get("X-Amz-Function-Error") != "Unhandled" {
			t.Fatalf("%s: status %d, function error %q", tt.fn, r.status, r.header.Get("X-Amz-Function-Error"))
		}
		body := decode[messages.InvokeResponse_Error](t, r.body)
		if body.Type != tt.wantType || body.Message != tt.wantMessage {
			t.Fatalf("%s: body = %s, want %s / %s", tt.fn, r.body, tt.wantType, tt.wantMessage)
		}
		if len(body.StackTrace) == 0 || !strings.Contains(body.StackTrace[0].Label, "TestPanicIsRecoveredIntoAFunctionError") {
			t.Errorf("%s: stack trace does not start at the panicking handler: %+v", tt.fn, body.StackTrace)
		}
	}
	// The gateway keeps serving.
	if r := h.invoke(t, "echo", `{"message":"still here"}`, nil); r.status != http.StatusOK || decode[echoOut](t, r.body).Echo != "still here" {
		t.Fatalf("after a panic: status %d body %s", r.status, r.body)
	}
}

func TestUnknownFunctionIsResourceNotFound(t *testing.T) {
	h := newHarness(t)
	h.register(t, "echo", echo)
	for _, name := range []string{"missing", "arn:aws:lambda:us-east-1:123456789012:function:missing"} {
		r := h.invoke(t, name, `{}`, nil)
		if r.status != http.StatusNotFound {
			t.Fatalf("%s: status %d, want 404", name, r.status)
		}
		if got := r.header.Get("X-Amzn-ErrorType"); got != "ResourceNotFoundException" {
			t.Errorf("%s: X-Amzn-ErrorType = %q", name, got)
		}
		body := decode[map[string]string](t, r.body)
		if body["Message"] != "Function not found: arn:aws:lambda:us-east-1:123456789012:function:missing" || body["Type"] != "User" {
			t.Errorf("%s: body = %s", name, r.body)
		}
	}
	if ups := h.upstream.all(); len(ups) != 0 {
		t.Errorf("unknown function was proxied upstream: %+v", ups)
	}
}

func TestInvokeRejectsBadRequests(t *testing.T) {
	h := newHarness(t)
	h.register(t, "echo", echo)
	tests := []struct {
		name, path, payload string
		header              map[string]string
		wantStatus          int
		wantCode            string
	}{
		{"invalid function name", "/2015-03-31/functions/no%20spaces/invocations", `{}`, nil, 400, "ValidationException"},
		{"name too long", "/2015-03-31/functions/" + strings.Repeat("a", 65) + "/invocations", `{}`, nil, 400, "ValidationException"},
		{"conflicting qualifiers", "/2015-03-31/functions/echo:a/invocations?Qualifier=b", `{}`, nil, 400, "InvalidParameterValueException"},
		{"unknown invocation type", "/2015-03-31/functions/echo/invocations", `{}`, map[string]string{"X-Amz-Invocation-Type": "Sometimes"}, 400, "InvalidParameterValueException"},
		{"payload not JSON", "/2015-03-31/functions/echo/invocations", `{not json`, nil, 400, "InvalidRequestContentException"},
		{"client context not base64", "/2015-03-31/functions/echo/invocations", `{}`, map[string]string{"X-Amz-Client-Context": "%%%"}, 400, "InvalidParameterValueException"},
		{"payload too large", "/2015-03-31/functions/echo/invocations", `"` + strings.Repeat("x", local.MaxPayloadBytes) + `"`, nil, 413, "RequestTooLargeException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.post(t, tt.path, tt.payload, tt.header)
			if r.status != tt.wantStatus || r.header.Get("X-Amzn-ErrorType") != tt.wantCode {
				t.Fatalf("status %d code %q (%s), want %d %s", r.status, r.header.Get("X-Amzn-ErrorType"), r.body, tt.wantStatus, tt.wantCode)
			}
		})
	}
	if n := h.gw.Invocations("echo"); n != 0 {
		t.Fatalf("a refused request ran the handler %d times", n)
	}
}

func TestClientContextReachesTheHandler(t *testing.T) {
	h := newHarness(t)
	h.register(t, "cc", func(ctx context.Context) (map[string]string, error) {
		lc, ok := lambdacontext.FromContext(ctx)
		if !ok {
			return nil, errors.New("no lambda context")
		}
		return lc.ClientContext.Custom, nil
	})
	cc := base64.StdEncoding.EncodeToString([]byte(`{"custom":{"caller":"okra-cli"}}`))
	r := h.invoke(t, "cc", `{}`, map[string]string{"X-Amz-Client-Context": cc})
	if got := decode[map[string]string](t, r.body); got["caller"] != "okra-cli" {
		t.Fatalf("client context custom = %v (%s)", got, r.body)
	}
}

func TestInvocationTypes(t *testing.T) {
	h := newHarness(t)
	release := make(chan struct{})
	ran := make(chan string, 4)
	h.register(t, "slow", func(ctx context.Context, in echoIn) error {
		<-release
		lc, _ := lambdacontext.FromContext(ctx)
		ran <- in.Message + " " + lc.AwsRequestID
		return nil
	})

	t.Run("DryRun validates and does not run", func(t *testing.T) {
		r := h.invoke(t, "slow", `{}`, map[string]string{"X-Amz-Invocation-Type": "DryRun"})
		if r.status != http.StatusNoContent {
			t.Fatalf("status %d, want 204", r.status)
		}
		if n := h.gw.Invocations("slow"); n != 0 {
			t.Fatalf("DryRun ran the handler (%d invocations)", n)
		}
		if r := h.invoke(t, "missing", `{}`, map[string]string{"X-Amz-Invocation-Type": "DryRun"}); r.status != http.StatusNotFound {
			t.Fatalf("DryRun of an unknown function: status %d, want 404", r.status)
		}
	})

	t.Run("Event answers 202 before the handler finishes", func(t *testing.T) {
		r := h.invoke(t, "slow", `{"message":"async"}`, map[string]string{"X-Amz-Invocation-Type": "Event"})
		if r.status != http.StatusAccepted {
			t.Fatalf("status %d, want 202", r.status)
		}
		if len(r.body) != 0 {
			t.Errorf("Event response has a body: %s", r.body)
		}
		select {
		case got := <-ran:
			t.Fatalf("handler finished before it was released: %s", got)
		default:
		}
		close(release)
		select {
		case got := <-ran:
			if want := "async " + r.header.Get("X-Amzn-RequestId"); got != want {
				t.Fatalf("async handler saw %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the asynchronous invocation never ran")
		}
	})

	t.Run("RequestResponse is the default", func(t *testing.T) {
		r := h.invoke(t, "slow", `{"message":"sync"}`, map[string]string{"X-Amz-Invocation-Type": "RequestResponse"})
		if r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
		select {
		case <-ran:
		default:
			t.Fatal("a RequestResponse invocation returned before its handler ran")
		}
	})
}

func TestCloseWaitsForAsyncInvocations(t *testing.T) {
	h := newHarness(t)
	var finished atomic.Bool
	started := make(chan struct{})
	h.register(t, "async", func(context.Context) error {
		close(started)
		time.Sleep(200 * time.Millisecond)
		finished.Store(true)
		return nil
	})
	if r := h.invoke(t, "async", `{}`, map[string]string{"X-Amz-Invocation-Type": "Event"}); r.status != http.StatusAccepted {
		t.Fatalf("status %d", r.status)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.gw.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !finished.Load() {
		t.Fatal("Close returned before the asynchronous invocation finished")
	}
	if r := h.invoke(t, "async", `{}`, map[string]string{"X-Amz-Invocation-Type": "Event"}); r.status != http.StatusServiceUnavailable {
		t.Fatalf("Event after Close: status %d, want 503", r.status)
	}
}

func TestTimeout(t *testing.T) {
	h := newHarness(t, local.WithTimeout(100*time.Millisecond))
	cancelled := make(chan error, 1)
	h.register(t, "stuck", func(ctx context.Context) error {
		<-ctx.Done()
		cancelled <- ctx.Err()
		time.Sleep(50 * time.Millisecond) // answer late, after the gateway gave up
		return ctx.Err()
	})
	start := time.Now()
	r := h.invoke(t, "stuck", `{}`, nil)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("timed-out invocation took %s", elapsed)
	}
	if r.status != http.StatusOK || r.header.Get("X-Amz-Function-Error") != "Unhandled" {
		t.Fatalf("status %d, function error %q", r.status, r.header.Get("X-Amz-Function-Error"))
	}
	body := decode[messages.InvokeResponse_Error](t, r.body)
	if body.Type != "Sandbox.Timedout" || !strings.Contains(body.Message, "Task timed out after 0.10 seconds") {
		t.Fatalf("body = %s, want Lambda's timeout error", r.body)
	}
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("handler context ended with %v, want deadline exceeded", err)
		}
	case <-time.After(time.Second):
		t.Fatal("the handler's context was not cancelled at the timeout")
	}
}

func TestProxiesEverythingElse(t *testing.T) {
	h := newHarness(t)
	h.register(t, "echo", echo)
	tests := []struct {
		name, method, path, body string
	}{
		{"query protocol", http.MethodPost, "/", "Action=DescribeListeners&Version=2015-12-01"},
		{"json protocol", http.MethodPost, "/", `{"stateMachineArn":"x"}`},
		{"rest path with query", http.MethodGet, "/2015-03-31/functions/?MaxItems=5", ""},
		{"GET on the invocations path", http.MethodGet, "/2015-03-31/functions/echo/invocations", ""},
		{"other Lambda API", http.MethodPost, "/2015-03-31/functions", `{"FunctionName":"x"}`},
		{"moto API", http.MethodPost, "/moto-api/reset", ""},
		{"unescaped double slash is not cleaned", http.MethodGet, "/bucket//key", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.upstream.all())
			req, err := http.NewRequest(tt.method, h.url+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Amz-Target", "AWSStepFunctions.DescribeStateMachine")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-Upstream") != "moto" {
				t.Fatalf("status %d, body %s: the response did not come from the upstream", resp.StatusCode, b)
			}
			all := h.upstream.all()
			if len(all) != before+1 {
				t.Fatalf("upstream saw %d requests, want %d", len(all), before+1)
			}
			got := all[len(all)-1]
			wantPath, wantQuery, _ := strings.Cut(tt.path, "?")
			if got.Method != tt.method || got.Path != wantPath || got.RawQuery != wantQuery || got.Body != tt.body {
				t.Errorf("upstream saw %s %s?%s %q, want %s %s %q", got.Method, got.Path, got.RawQuery, got.Body, tt.method, tt.path, tt.body)
			}
			if got.Header.Get("X-Amz-Target") != "AWSStepFunctions.DescribeStateMachine" {
				t.Errorf("header lost: %v", got.Header)
			}
			if got.Host != strings.TrimPrefix(h.url, "http://") {
				t.Errorf("upstream saw Host %q, want the gateway's %q", got.Host, strings.TrimPrefix(h.url, "http://"))
			}
		})
	}
	if n := h.gw.Invocations("echo"); n != 0 {
		t.Fatalf("a proxied request ran the handler")
	}
}

func TestProxyErrorWhenUpstreamIsDown(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	gw, err := local.NewGateway(deadURL, local.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=DescribeListeners"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
}

func TestNewGatewayRejectsBadUpstream(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:5000", "ftp://x", "http://", "http://[::1"} {
		if _, err := local.NewGateway(u); err == nil {
			t.Errorf("NewGateway(%q) succeeded, want an error", u)
		}
	}
}

func TestRegisterValidates(t *testing.T) {
	h := newHarness(t)
	var nilFunc func(context.Context, echoIn) (echoOut, error)
	var nilHandlerFunc local.HandlerFunc
	var nilBytes *pointerBytesHandler
	tests := []struct {
		name     string
		fn       string
		handler  any
		wantText string
	}{
		{"nil", "a", nil, "nil"},
		{"typed nil func", "a", nilFunc, "nil"},
		{"nil HandlerFunc", "a", nilHandlerFunc, "nil"},
		{"nil lambda.Handler pointer", "a", nilBytes, "nil"},
		{"not a function", "a", 42, "want a function"},
		{"three arguments", "a", func(context.Context, int, int) error { return nil }, "at most two"},
		{"first of two not a context", "a", func(int, int) error { return nil }, "not context.Context"},
		{"non-context interface", "a", func(io.Reader) error { return nil }, "not context.Context"},
		{"second return not an error", "a", func() (int, int) { return 0, 0 }, "does not implement error"},
		{"single return not an error", "a", func() int { return 0 }, "does not implement error"},
		{"three returns", "a", func() (int, int, error) { return 0, 0, nil }, "more than two"},
		{"bad name", "not a name", echo, "function name"},
		{"qualified name", "echo:live", echo, "unqualified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.gw.Register(tt.fn, tt.handler)
			if err == nil || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("Register error = %v, want one mentioning %q", err, tt.wantText)
			}
		})
	}
	if fns := h.gw.Functions(); len(fns) != 0 {
		t.Fatalf("refused registrations left functions behind: %v", fns)
	}

	// Accepted: an ARN registers its name; re-registering replaces.
	h.register(t, "arn:aws:lambda:us-east-1:123456789012:function:swap", func() (string, error) { return "one", nil })
	h.register(t, "swap", func() (string, error) { return "two", nil })
	if got := string(h.invoke(t, "swap", `{}`, nil).body); got != `"two"` {
		t.Fatalf("after re-registering, swap answered %s", got)
	}
	if fns := h.gw.Functions(); len(fns) != 1 || fns[0] != "swap" {
		t.Fatalf("Functions() = %v", fns)
	}
	h.gw.Unregister("swap")
	if r := h.invoke(t, "swap", `{}`, nil); r.status != http.StatusNotFound {
		t.Fatalf("after Unregister: status %d, want 404", r.status)
	}
}

type pointerBytesHandler struct{}

func (*pointerBytesHandler) Invoke(context.Context, []byte) ([]byte, error) { return nil, nil }

func TestConcurrentRegisterAndInvoke(t *testing.T) {
	h := newHarness(t)
	h.register(t, "echo", echo)
	var wg sync.WaitGroup
	var failures atomic.Int32
	for i := range 8 {
		wg.Go(func() {
			name := fmt.Sprintf("fn-%d", i)
			if err := h.gw.Register(name, echo); err != nil {
				failures.Add(1)
			}
			for j := range 5 {
				// Distinct payloads: a response must never carry another
				// invocation's bytes.
				msg := fmt.Sprintf("caller-%d-call-%d-%s", i, j, strings.Repeat("x", i*100))
				r := h.invoke(t, "echo", fmt.Sprintf(`{"message":%q,"count":%d}`, msg, i*10+j), nil)
				var out echoOut
				if r.status != http.StatusOK || json.Unmarshal(r.body, &out) != nil || out.Echo != msg || out.Count != i*10+j+1 {
					failures.Add(1)
				}
				h.gw.Functions()
				h.gw.Invocations(name)
			}
		})
	}
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d concurrent operations failed", n)
	}
	if n := h.gw.Invocations("echo"); n != 40 {
		t.Fatalf("Invocations(echo) = %d, want 40", n)
	}
	if n := len(h.gw.Functions()); n != 9 {
		t.Fatalf("%d functions registered, want 9", n)
	}
}

func TestInvocationsAreLogged(t *testing.T) {
	h := newHarness(t)
	h.register(t, "echo", echo)
	h.register(t, "fails", func(context.Context) error { return &TransientError{Reason: "x"} })
	ok := h.invoke(t, "echo", `{}`, nil)
	h.invoke(t, "fails", `{}`, nil)

	var records []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		records = append(records, decode[map[string]any](t, []byte(line)))
	}
	if len(records) != 2 {
		t.Fatalf("logged %d records, want 2:\n%s", len(records), h.logs.String())
	}
	if r := records[0]; r["msg"] != "function invoked" || r["level"] != "INFO" || r["function"] != "echo" ||
		r["requestId"] != ok.header.Get("X-Amzn-RequestId") || r["invocationType"] != "RequestResponse" || r["duration"] == nil || r["errorType"] != nil {
		t.Errorf("success record = %v", r)
	}
	if r := records[1]; r["level"] != "WARN" || r["function"] != "fails" || r["errorType"] != "TransientError" || r["errorMessage"] != "transient: x" {
		t.Errorf("error record = %v", r)
	}
}

func TestParseFunctionName(t *testing.T) {
	tests := []struct {
		in      string
		want    local.FunctionRef
		wantARN string
		wantErr bool
	}{
		{in: "okra-plan", want: local.FunctionRef{Name: "okra-plan"}, wantARN: "arn:aws:lambda:us-east-1:123456789012:function:okra-plan"},
		{in: "okra_plan:live", want: local.FunctionRef{Name: "okra_plan", Qualifier: "live"}, wantARN: "arn:aws:lambda:us-east-1:123456789012:function:okra_plan:live"},
		{in: "111122223333:function:f", want: local.FunctionRef{AccountID: "111122223333", Name: "f"}, wantARN: "arn:aws:lambda:us-east-1:111122223333:function:f"},
		{in: "arn:aws:lambda:eu-west-1:111122223333:function:f:3", want: local.FunctionRef{Partition: "aws", Region: "eu-west-1", AccountID: "111122223333", Name: "f", Qualifier: "3"}, wantARN: "arn:aws:lambda:eu-west-1:111122223333:function:f:3"},
		{in: "arn:aws-us-gov:lambda:us-gov-west-1:111122223333:function:f", want: local.FunctionRef{Partition: "aws-us-gov", Region: "us-gov-west-1", AccountID: "111122223333", Name: "f"}, wantARN: "arn:aws-us-gov:lambda:us-gov-west-1:111122223333:function:f"},
		{in: "", wantErr: true},
		{in: "a b", wantErr: true},
		{in: "f:", wantErr: true},
		{in: "arn:aws:lambda:us-east-1:123:function:f", wantErr: true},
		{in: "arn:aws:s3:::bucket", wantErr: true},
		{in: "arn:aws:lambda:us-east-1:123456789012:layer:f", wantErr: true},
		{in: strings.Repeat("x", 65), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := local.ParseFunctionName(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error: %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got != tt.want {
				t.Errorf("ParseFunctionName = %+v, want %+v", got, tt.want)
			}
			if arn := got.ARN(); arn != tt.wantARN {
				t.Errorf("ARN() = %q, want %q", arn, tt.wantARN)
			}
		})
	}
}

func TestConcurrentInvocationsNeverShareOutput(t *testing.T) {
	// Many concurrent invocations of one handler, each with its own
	// payload, straight through ServeHTTP: every answer must be its own.
	gw, err := local.NewGateway("http://127.0.0.1:1", local.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Register("echo", echo); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mismatches atomic.Int32
	for i := range 8 {
		wg.Go(func() {
			for j := range 500 {
				msg := fmt.Sprintf("%d-%d-%s", i, j, strings.Repeat(string(rune('a'+i)), 64))
				req := httptest.NewRequest(http.MethodPost, "/2015-03-31/functions/echo/invocations", strings.NewReader(fmt.Sprintf(`{"message":%q}`, msg)))
				rec := httptest.NewRecorder()
				gw.ServeHTTP(rec, req)
				var out echoOut
				if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || out.Echo != msg {
					mismatches.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := mismatches.Load(); n != 0 {
		t.Fatalf("%d of 4000 concurrent invocations answered with wrong or corrupt output", n)
	}
}
