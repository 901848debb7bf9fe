package local

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func mustFaults(t *testing.T, text string) *Faults {
	t.Helper()
	spec, err := ParseFaults(text)
	if err != nil {
		t.Fatalf("ParseFaults(%q): %v", text, err)
	}
	f, err := NewFaults(spec)
	if err != nil {
		t.Fatalf("NewFaults: %v", err)
	}
	return f
}

// decisions records which of n calls of each operation were faulted
// (and by which kind), calling the operations in turn.
func decisions(f *Faults, n int, ops ...string) map[string][]FaultKind {
	out := map[string][]FaultKind{}
	for i := 0; i < n; i++ {
		for _, op := range ops {
			kind := FaultKind("")
			if r, ok := f.decide(faultCall{service: "dynamodb", operation: op, fromOkra: true}); ok {
				kind = r.Kind
			}
			out[op] = append(out[op], kind)
		}
	}
	return out
}

func TestFaultDecisionsReplayWithTheSeed(t *testing.T) {
	const spec = "dynamodb:throttle=0.3,dynamodb:500=0.1,seed=42"
	first := decisions(mustFaults(t, spec), 400, "GetItem", "PutItem")
	again := decisions(mustFaults(t, spec), 400, "GetItem", "PutItem")
	if !reflect.DeepEqual(first, again) {
		t.Fatal("the same seed gave different decisions")
	}
	other := decisions(mustFaults(t, strings.Replace(spec, "seed=42", "seed=43", 1)), 400, "GetItem", "PutItem")
	if reflect.DeepEqual(first, other) {
		t.Fatal("seeds 42 and 43 gave the same decisions")
	}
	if reflect.DeepEqual(first["GetItem"], first["PutItem"]) {
		t.Fatal("GetItem and PutItem share one random stream")
	}

	// One draw per call, rules in order: about 30% throttled, 10% 500.
	count := func(kinds []FaultKind, k FaultKind) int {
		n := 0
		for _, got := range kinds {
			if got == k {
				n++
			}
		}
		return n
	}
	all := append(first["GetItem"], first["PutItem"]...)
	if n := count(all, FaultThrottle); n < 200 || n > 280 {
		t.Errorf("%d of 800 calls throttled, want about 240 (share 0.3)", n)
	}
	if n := count(all, FaultInternalError); n < 55 || n > 105 {
		t.Errorf("%d of 800 calls got 500, want about 80 (share 0.1)", n)
	}

	// An operation's decisions do not depend on other operations' calls.
	alone := decisions(mustFaults(t, spec), 400, "GetItem")
	if !reflect.DeepEqual(alone["GetItem"], first["GetItem"]) {
		t.Fatal("GetItem's decisions changed when PutItem calls were interleaved")
	}
}

func TestFaultRulesOrderMaxFiltersAndCallers(t *testing.T) {
	f := mustFaults(t, "elasticloadbalancing:throttle=1:op=ModifyListener:max=2,elasticloadbalancing:503=1:op=ModifyListener")
	call := func(op string, okra bool) FaultKind {
		r, ok := f.decide(faultCall{service: "elasticloadbalancing", operation: op, fromOkra: okra})
		if !ok {
			return ""
		}
		return r.Kind
	}
	var got []FaultKind
	for i := 0; i < 4; i++ {
		got = append(got, call("ModifyListener", true))
	}
	if want := []FaultKind{FaultThrottle, FaultThrottle, FaultUnavailable, FaultUnavailable}; !slices.Equal(got, want) {
		t.Errorf("ModifyListener faults = %v, want %v (the first rule until its max, then the next)", got, want)
	}
	if k := call("DescribeListeners", true); k != "" {
		t.Errorf("DescribeListeners got %q; the rules are limited to ModifyListener", k)
	}
	if k := call("ModifyListener", false); k != "" {
		t.Errorf("a call not made by okra got %q; the default callers are okra's", k)
	}
	if n := f.Injected("elasticloadbalancing", FaultThrottle); n != 2 {
		t.Errorf("throttles counted = %d, want 2", n)
	}
	if n := f.Injected("elasticloadbalancing", FaultUnavailable); n != 2 {
		t.Errorf("503s counted = %d, want 2", n)
	}

	// Set starts the budgets over and keeps the counts.
	spec := f.Spec()
	spec.Callers = FaultCallersAll
	if err := f.Set(spec); err != nil {
		t.Fatal(err)
	}
	if k := call("ModifyListener", false); k != FaultThrottle {
		t.Errorf("with from=all, a call not made by okra got %q, want throttle (budget reset by Set)", k)
	}
	if n := f.InjectedTotal(); n != 5 {
		t.Errorf("total = %d, want 5", n)
	}
	if got := f.Report(); !strings.Contains(got, "elasticloadbalancing:503=2 elasticloadbalancing:throttle=3") || !strings.Contains(got, "from=all") {
		t.Errorf("report = %q", got)
	}

	f.Disable()
	if k := call("ModifyListener", true); k != "" {
		t.Errorf("after Disable a call got %q", k)
	}
	f.ResetCounts()
	if n := f.InjectedTotal(); n != 0 {
		t.Errorf("after ResetCounts total = %d", n)
	}
	if got := f.Report(); got != "no faults injected" {
		t.Errorf("report = %q", got)
	}
}

func TestLambdaRulesOnlyFaultInvocations(t *testing.T) {
	f := mustFaults(t, "lambda:500=1,states:500=1,from=all")
	if _, ok := f.decide(faultCall{service: LambdaService, operation: "ListFunctions", fromOkra: true}); ok {
		t.Error("a lambda rule faulted a proxied Lambda API call")
	}
	if _, ok := f.decide(faultCall{service: LambdaService, operation: "okra-plan", invoke: true}); !ok {
		t.Error("a lambda rule did not fault an invocation")
	}
	// The gateway calls a nil *Faults when fault injection is off.
	var off *Faults
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	if off.interceptProxied(rec, req, slog.Default()) || off.interceptInvoke(rec, req, "fn", slog.Default()) {
		t.Error("a nil *Faults intercepted a call")
	}
}

func TestRequestServiceAndOperation(t *testing.T) {
	sig := func(service string) string {
		return "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/" + service + "/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
	}
	form := "application/x-www-form-urlencoded; charset=utf-8"
	tests := []struct {
		name, method, target, body string
		header                     map[string]string
		wantService, wantOperation string
	}{
		{"query protocol", http.MethodPost, "/", "Action=ModifyListener&Version=2015-12-01", map[string]string{"Authorization": sig("elasticloadbalancing"), "Content-Type": form}, "elasticloadbalancing", "ModifyListener"},
		{"JSON protocol", http.MethodPost, "/", "{}", map[string]string{"Authorization": sig("dynamodb"), "X-Amz-Target": "DynamoDB_20120810.GetItem", "Content-Type": "application/x-amz-json-1.0"}, "dynamodb", "GetItem"},
		{"unsigned JSON protocol", http.MethodPost, "/", "{}", map[string]string{"X-Amz-Target": "AWSStepFunctions.DescribeExecution"}, "states", "DescribeExecution"},
		{"presigned query", http.MethodGet, "/?Action=GetCallerIdentity&X-Amz-Credential=test%2F20260101%2Fus-east-1%2Fsts%2Faws4_request", "", nil, "sts", "GetCallerIdentity"},
		{"EKS DescribeCluster", http.MethodGet, "/clusters/web-1", "", map[string]string{"Authorization": sig("eks")}, "eks", "DescribeCluster"},
		{"EKS ListClusters", http.MethodGet, "/clusters?maxResults=10", "", map[string]string{"Authorization": sig("eks")}, "eks", "ListClusters"},
		{"EKS DescribeNodegroup", http.MethodGet, "/clusters/web-1/node-groups/ng", "", map[string]string{"Authorization": sig("eks")}, "eks", "DescribeNodegroup"},
		{"EKS TagResource", http.MethodPost, "/tags/arn%3Aaws%3Aeks%3Aus-east-1%3A123456789012%3Acluster%2Fweb-1", "{}", map[string]string{"Authorization": sig("eks")}, "eks", "TagResource"},
		{"CloudWatch RPCv2 CBOR", http.MethodPost, "/service/GraniteServiceVersion20100801/operation/GetMetricData", "", map[string]string{"Authorization": sig("monitoring"), "Smithy-Protocol": "rpc-v2-cbor"}, "monitoring", "GetMetricData"},
		{"unknown", http.MethodGet, "/moto-api/", "", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			service := requestService(req)
			if service != tt.wantService {
				t.Errorf("service = %q, want %q", service, tt.wantService)
			}
			if op := requestOperation(req, service); op != tt.wantOperation {
				t.Errorf("operation = %q, want %q", op, tt.wantOperation)
			}
			// The proxy still gets the whole body.
			if b, err := io.ReadAll(req.Body); err != nil || string(b) != tt.body {
				t.Errorf("body after reading the operation = %q, %v; want %q", b, err, tt.body)
			}
		})
	}
}

func TestEveryListedEKSOperationHasARoute(t *testing.T) {
	routes := map[string]bool{}
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		for _, path := range []string{"/clusters", "/clusters/c", "/clusters/c/node-groups", "/clusters/c/node-groups/n", "/clusters/c/update-config", "/clusters/c/updates", "/clusters/c/updates/u", "/tags/arn"} {
			if op := eksOperation(method, path); op != "" {
				routes[op] = true
			}
		}
	}
	for _, op := range eksOperations {
		if !routes[op] {
			t.Errorf("%s is listed as recognised but no route produces it", op)
		}
		delete(routes, op)
	}
	for op := range routes {
		t.Errorf("route produces %s, which eksOperations does not list", op)
	}
}
