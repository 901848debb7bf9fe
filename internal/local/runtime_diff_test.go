package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
)

// runtimeHelperEnv makes the test binary act as a Lambda function under
// the real aws-lambda-go runtime (see TestMain).
const runtimeHelperEnv = "OKRA_LOCAL_TEST_RUNTIME_HELPER"

type diffCase struct {
	Case string `json:"case"`
}

// diffHandler answers each case the way a handler might fail or succeed.
func diffHandler(_ context.Context, in diffCase) (any, error) {
	switch in.Case {
	case "ok":
		return map[string]any{"weights": []int{90, 10}}, nil
	case "nil":
		return nil, nil
	case "pointer":
		return nil, &TransientError{Reason: "listener busy"}
	case "value":
		return nil, PermanentError{Reason: "analysis failed"}
	case "wrapped":
		return nil, fmt.Errorf("setting weights, %w", &TransientError{Reason: "x"})
	case "errors.New":
		return nil, errors.New("plain")
	case "joined":
		return nil, errors.Join(errors.New("a"), &TransientError{Reason: "b"})
	case "runtime error type":
		return nil, messages.InvokeResponse_Error{Type: "Custom.Type", Message: "custom"}
	case "panic string":
		panic("boom")
	case "panic error":
		panic(&TransientError{Reason: "in panic"})
	case "nil map":
		var m map[string]int
		m["x"] = 1 // assignment to entry in nil map: a runtime panic
	}
	return nil, fmt.Errorf("unknown case %q", in.Case)
}

// runtimeHelper serves diffHandler through lambda.Start; it never returns.
func runtimeHelper() {
	lambda.Start(diffHandler)
}

// fakeRuntimeAPI is the Lambda Runtime API (2018-06-01) for one
// invocation: it hands out payload once and records the function's answer.
type fakeRuntimeAPI struct {
	payload []byte
	handed  chan struct{}
	answer  chan runtimeAnswer
}

type runtimeAnswer struct {
	failed bool
	body   []byte
}

func (f *fakeRuntimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix = "/2018-06-01/runtime/invocation/"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == prefix+"next":
		select {
		case <-f.handed: // already handed out: hold the poll until killed
			<-r.Context().Done()
			return
		default:
			close(f.handed)
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "diff-request")
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:diff")
		_, _ = w.Write(f.payload)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, prefix):
		b, _ := io.ReadAll(r.Body)
		f.answer <- runtimeAnswer{failed: strings.HasSuffix(r.URL.Path, "/error"), body: b}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

// underRealRuntime runs payload through diffHandler under aws-lambda-go's
// own runtime loop, in a child process, and returns what it reported.
func underRealRuntime(t *testing.T, payload string) runtimeAnswer {
	t.Helper()
	api := &fakeRuntimeAPI{payload: []byte(payload), handed: make(chan struct{}), answer: make(chan runtimeAnswer, 1)}
	srv := httptest.NewServer(api)
	defer srv.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runtimeHelperEnv+"=1", "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(srv.URL, "http://"))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the runtime helper: %v", err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	select {
	case a := <-api.answer:
		return a
	case <-time.After(20 * time.Second):
		t.Fatal("the real runtime did not answer within 20s")
	}
	return runtimeAnswer{}
}

// TestGatewayAnswersLikeTheLambdaRuntime runs the same handler under the
// gateway and under aws-lambda-go's runtime loop and compares what each
// reports: the payload on success, errorType and errorMessage on failure.
// This is what Step Functions matches Retry/Catch on.
func TestGatewayAnswersLikeTheLambdaRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes (skipped with -short)")
	}
	h := newHarness(t)
	h.register(t, "diff", diffHandler)
	for _, c := range []string{"ok", "nil", "pointer", "value", "wrapped", "errors.New", "joined", "runtime error type", "panic string", "panic error", "nil map"} {
		t.Run(c, func(t *testing.T) {
			payload := fmt.Sprintf(`{"case":%q}`, c)
			want := underRealRuntime(t, payload)
			got := h.invoke(t, "diff", payload, nil)
			if gotFailed := got.header.Get("X-Amz-Function-Error") != ""; gotFailed != want.failed {
				t.Fatalf("gateway failed=%v (%s), runtime failed=%v (%s)", gotFailed, got.body, want.failed, want.body)
			}
			if !want.failed {
				var g, w any
				if err := json.Unmarshal(got.body, &g); err != nil {
					t.Fatalf("gateway body %s: %v", got.body, err)
				}
				if err := json.Unmarshal(want.body, &w); err != nil {
					t.Fatalf("runtime body %s: %v", want.body, err)
				}
				if !reflect.DeepEqual(g, w) {
					t.Fatalf("gateway answered %s, runtime %s", got.body, want.body)
				}
				return
			}
			var g, w messages.InvokeResponse_Error
			if err := json.Unmarshal(got.body, &g); err != nil {
				t.Fatalf("gateway error body %s: %v", got.body, err)
			}
			if err := json.Unmarshal(want.body, &w); err != nil {
				t.Fatalf("runtime error body %s: %v", want.body, err)
			}
			if g.Type != w.Type || g.Message != w.Message {
				t.Fatalf("gateway reported %q / %q, the Lambda runtime %q / %q", g.Type, g.Message, w.Type, w.Message)
			}
			if (len(g.StackTrace) == 0) != (len(w.StackTrace) == 0) {
				t.Fatalf("stack trace: gateway has %d frames, runtime %d", len(g.StackTrace), len(w.StackTrace))
			}
		})
	}
}
