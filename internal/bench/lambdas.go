package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
)

// FunctionRun is one function's binary size and cold starts.
type FunctionRun struct {
	Name string
	// Bytes of the linux/arm64 bootstrap as `make build` builds it.
	Bytes int64
	// ColdStarts are process start → first answer, one per run (noisy).
	ColdStarts []time.Duration
	// Answer is what the first invocation got: "response" or
	// "error: TYPE"; InitError is set when the function did not start.
	Answer    string
	InitError string
}

// Size budgets of the linux/arm64 bootstraps. The onboarding functions
// link client-go (its core/v1 typed client, for ArgoCD's cluster
// secrets); every other function only the AWS SDK and okra.
const (
	OnboardingSizeBudget = 30 << 20
	FunctionSizeBudget   = 18 << 20
)

// onboardingFunctions are the functions under OnboardingSizeBudget.
var onboardingFunctions = []string{"cluster-events", "reconcile", "config-change"}

// SizeBudget is the most bytes function's bootstrap may weigh.
func SizeBudget(function string) int64 {
	if slices.Contains(onboardingFunctions, function) {
		return OnboardingSizeBudget
	}
	return FunctionSizeBudget
}

// OverBudget says how the bootstrap exceeds its SizeBudget, or "" when it
// does not (or was not built).
func (f FunctionRun) OverBudget() string {
	if f.Bytes == 0 || f.Bytes <= SizeBudget(f.Name) {
		return ""
	}
	return fmt.Sprintf("function %s weighs %s, over its %s budget", f.Name, mib(f.Bytes), mib(SizeBudget(f.Name)))
}

// Median of the cold starts.
func (f FunctionRun) Median() time.Duration {
	if len(f.ColdStarts) == 0 {
		return 0
	}
	s := slices.Clone(f.ColdStarts)
	slices.Sort(s)
	return s[len(s)/2]
}

// coldStartEvents is a harmless first event per function: one it ignores
// or refuses without changing anything (an answer with an error counts).
func coldStartEvents(root string) map[string]string {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, "events", name))
		if err != nil {
			return "{}"
		}
		return string(b)
	}
	exec := `{"operation":"NextStep","cell":"bench-absent","executionArn":"arn:aws:states:us-east-1:123456789012:execution:okra-rollout:bench-absent--v2--1"}`
	return map[string]string{
		"cluster-events":   read("eks-create-nodegroup.json"), // an EKS call okra does not act on
		"reconcile":        read("schedule.json"),
		"config-change":    `{"Records":[]}`,
		"safety-net":       read("sfn-execution-succeeded.json"),
		"rollout-plan":     exec,
		"rollout-weights":  strings.Replace(exec, "NextStep", "Verify", 1),
		"rollout-rollback": strings.Replace(exec, "NextStep", "Rollback", 1),
		"rollout-finalize": exec,
		"rollout-approval": exec,
		"check-cloudwatch": exec,
		"check-datadog":    exec,
	}
}

// RunFunctions builds every function under functions/ twice: for
// linux/arm64 exactly as `make build` does (its size is reported) and for
// the host with -tags lambda.norpc, which it then starts runs times
// against a fake Lambda Runtime API, timing process start → first answer
// (response or error). The functions reach a moto of their own holding
// okra's (empty) table.
func RunFunctions(ctx context.Context, runs int) ([]FunctionRun, error) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "okra-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	moto, err := testenv.StartMoto(ctx, testenv.MotoOptions{})
	if err != nil {
		return nil, err
	}
	defer moto.Stop()
	setup, err := testenv.Config(ctx, moto.Endpoint, nil)
	if err != nil {
		return nil, err
	}
	if err := store.CreateTable(ctx, setup.DynamoDB(), "okra"); err != nil {
		return nil, err
	}
	events := coldStartEvents(root)
	rt := newFakeRuntime()
	defer rt.close()

	var out []FunctionRun
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		fr := FunctionRun{Name: name}
		arm := filepath.Join(dir, "arm64", name, "bootstrap")
		if err := goBuild(ctx, root, arm, "./functions/"+name, "arm64", "-ldflags=-s -w"); err != nil {
			return nil, err
		}
		st, err := os.Stat(arm)
		if err != nil {
			return nil, err
		}
		fr.Bytes = st.Size()
		host := filepath.Join(dir, "host", name, "bootstrap")
		if err := goBuild(ctx, root, host, "./functions/"+name, runtime.GOARCH); err != nil {
			return nil, err
		}
		env := []string{
			"AWS_REGION=" + testenv.Region, "AWS_DEFAULT_REGION=" + testenv.Region,
			"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
			"OKRA_AWS_ENDPOINT=" + moto.Endpoint, "OKRA_TABLE_NAME=okra",
			"OKRA_STATE_MACHINE_ARN=arn:aws:states:" + testenv.Region + ":" + testenv.AccountID + ":stateMachine:okra-rollout",
			"AWS_LAMBDA_FUNCTION_NAME=okra-" + name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
			"HOME=" + dir,
		}
		for range runs {
			d, answer, err := rt.coldStart(ctx, host, env, events[name])
			if err != nil {
				fr.InitError = err.Error()
				break
			}
			fr.ColdStarts = append(fr.ColdStarts, d)
			fr.Answer = answer
		}
		out = append(out, fr)
	}
	return out, nil
}

func goBuild(ctx context.Context, root, out, pkg, arch string, extra ...string) error {
	args := append([]string{"build", "-trimpath", "-tags", "lambda.norpc"}, extra...)
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s for linux/%s, %w: %s", pkg, arch, err, b)
	}
	return nil
}

// fakeRuntime is a minimal Lambda Runtime API: /next hands out one event
// per cold start (and then holds further polls), /response and /error
// report the answer, /init/error an init failure.
type fakeRuntime struct {
	srv *httptest.Server

	mu      sync.Mutex
	event   string
	id      int
	served  bool
	answers chan answer
}

type answer struct {
	at   time.Time
	kind string
}

func newFakeRuntime() *fakeRuntime {
	rt := &fakeRuntime{answers: make(chan answer, 4)}
	rt.srv = httptest.NewServer(http.HandlerFunc(rt.serve))
	return rt
}

func (rt *fakeRuntime) close() { rt.srv.Close() }

func (rt *fakeRuntime) serve(w http.ResponseWriter, r *http.Request) {
	const base = "/2018-06-01/runtime/"
	path := strings.TrimPrefix(r.URL.Path, base)
	switch {
	case r.Method == http.MethodGet && path == "invocation/next":
		rt.mu.Lock()
		served, event, id := rt.served, rt.event, rt.id
		rt.served = true
		rt.mu.Unlock()
		if served {
			<-r.Context().Done() // the process is killed while it polls
			return
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "bench-"+strconv.Itoa(id))
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:"+testenv.Region+":"+testenv.AccountID+":function:okra-bench")
		w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
		w.Write([]byte(event))
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/response"):
		rt.answers <- answer{at: time.Now(), kind: "response"}
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/error"):
		kind := "error"
		if t := r.Header.Get("Lambda-Runtime-Function-Error-Type"); t != "" {
			kind += ": " + t
		} else {
			var buf [512]byte
			n, _ := r.Body.Read(buf[:])
			kind += ": " + errorType(buf[:n])
		}
		rt.answers <- answer{at: time.Now(), kind: kind}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

func errorType(body []byte) string {
	s := string(body)
	const key = `"errorType":"`
	if i := strings.Index(s, key); i >= 0 {
		s = s[i+len(key):]
		if j := strings.Index(s, `"`); j >= 0 {
			return s[:j]
		}
	}
	return "?"
}

// coldStart starts bin with env, hands it event and returns the time from
// process start to its answer.
func (rt *fakeRuntime) coldStart(ctx context.Context, bin string, env []string, event string) (time.Duration, string, error) {
	rt.mu.Lock()
	rt.event, rt.served = event, false
	rt.id++
	rt.mu.Unlock()
	for len(rt.answers) > 0 {
		<-rt.answers
	}
	cmd := exec.Command(bin)
	cmd.Env = append(slices.Clone(env), "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(rt.srv.URL, "http://"))
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	exited := make(chan error, 1)
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, "", err
	}
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	select {
	case a := <-rt.answers:
		return a.at.Sub(began), a.kind, nil
	case err := <-exited:
		exited <- err
		return 0, "", fmt.Errorf("exited before answering (%v): %s", err, tailString(stderr.String(), 300))
	case <-time.After(30 * time.Second):
		return 0, "", fmt.Errorf("no answer within 30s: %s", tailString(stderr.String(), 300))
	case <-ctx.Done():
		return 0, "", ctx.Err()
	}
}

func tailString(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
