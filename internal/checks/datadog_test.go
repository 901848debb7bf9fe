package checks_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/analysis/datadog"
	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/store"
)

const (
	ddAPIKey = "0123456789abcdef0123456789abcdef"
	ddAppKey = "0123456789abcdef0123456789abcdef01234567"
)

// datadogAPI stands in for Datadog's v1 query endpoint: it refuses
// requests without the keys, checks the query, and answers from a script
// (the last answer repeats). A good answer has two complete one-minute
// buckets ending at the request's `to`.
type datadogAPI struct {
	t         *testing.T
	wantQuery string
	mu        sync.Mutex
	script    []int // HTTP status per request; 200 answers with points
	value     float64
	requests  []map[string]string
}

func (d *datadogAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := map[string]string{}
	for k, v := range r.URL.Query() {
		q[k] = v[0]
	}
	d.requests = append(d.requests, q)
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("DD-API-KEY") != ddAPIKey || r.Header.Get("DD-APPLICATION-KEY") != ddAppKey {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"errors":["Forbidden"]}`)
		return
	}
	if r.URL.Path != "/api/v1/query" || q["query"] != d.wantQuery {
		d.t.Errorf("request %s query %q, want /api/v1/query %q", r.URL.Path, q["query"], d.wantQuery)
	}
	status := d.script[0]
	if len(d.script) > 1 {
		d.script = d.script[1:]
	}
	if status != http.StatusOK {
		w.WriteHeader(status)
		fmt.Fprint(w, `{"errors":["Internal Server Error"]}`)
		return
	}
	to, err := strconv.ParseInt(q["to"], 10, 64)
	if err != nil {
		d.t.Errorf("to=%q: %v", q["to"], err)
	}
	body, _ := json.Marshal(map[string]any{
		"status": "ok", "res_type": "time_series", "query": q["query"],
		"series": []map[string]any{{
			"scope": "service:web", "interval": 60, "expression": q["query"],
			"pointlist": [][2]float64{{float64((to - 180) * 1000), d.value / 2}, {float64((to - 120) * 1000), d.value}},
		}},
	})
	w.Write(body)
}

func (d *datadogAPI) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.requests)
}

// TestDatadogThroughTheOfficialClient runs the Datadog check against an
// httptest server with the real provider: a provider outage counts against
// consecutiveErrorLimit (two 500s are tolerated, the third beyond the limit
// fails the step), and the keys never reach the logs or the history.
func TestDatadogThroughTheOfficialClient(t *testing.T) {
	cases := []struct {
		name     string
		script   []int
		want     checks.Phase
		requests int
		message  []string
	}{
		{"two 500s then good data", []int{500, 500, 200}, checks.PhaseSuccessful, 3, []string{`"dd-errors": last value 2`}},
		{"500s beyond consecutiveErrorLimit", []int{500}, checks.PhaseFailed, 3, []string{"assessed Error", "consecutiveErrorLimit (2)", "HTTP 500"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := &datadogAPI{t: t, script: tc.script, value: 2,
				wantQuery: "sum:trace.http.request.errors{service:web,version:v2}.as_count()"}
			srv := httptest.NewServer(api)
			t.Cleanup(srv.Close)
			p, err := datadog.New(datadog.Options{URL: srv.URL, Keys: datadog.StaticKeys{APIKey: ddAPIKey, AppKey: ddAppKey}})
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			c := webCell("web", []string{"dd"}, template("dd", ddMetric("dd-errors", withLimits(0, 0, 2))))
			e := newEnv(t, c, func(o *checks.Options) {
				o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			e.ddCheck, err = checks.NewChecker(e.starter, analysis.KindDatadog, p)
			if err != nil {
				t.Fatal(err)
			}

			st := e.start("web", 1)
			if st.Providers != (checks.ProviderFlags{Datadog: true}) {
				t.Fatalf("providers = %+v", st.Providers)
			}
			rounds := 0
			for ; rounds < 10 && st.Phase == checks.PhaseRunning; rounds++ {
				st = e.round("web", st)
			}
			if st.Phase != tc.want {
				t.Fatalf("phase %s after %d checks (%s), want %s", st.Phase, rounds, st.Message, tc.want)
			}
			if rounds != tc.requests || api.count() != tc.requests {
				t.Errorf("%d checks, %d requests; want %d of each (one request per check, no client retries)", rounds, api.count(), tc.requests)
			}
			for _, s := range tc.message {
				if !strings.Contains(st.Message, s) {
					t.Errorf("message %q lacks %q", st.Message, s)
				}
			}
			// Errors back off: 10s, then 20s.
			if api.requests[1]["to"] == api.requests[0]["to"] {
				t.Errorf("second request at the same time as the first: %v", api.requests)
			}
			evs := e.store.eventsOf(store.EventAnalysisMeasurement)
			if len(evs) != tc.requests || evs[0].Measurement.Verdict != "Error" || !strings.Contains(evs[0].Measurement.Error, "500") {
				t.Fatalf("measurement events: %+v", evs)
			}
			record, _ := json.Marshal(e.store.events)
			for _, secret := range []string{ddAPIKey, ddAppKey} {
				if strings.Contains(logs.String(), secret) || strings.Contains(string(record), secret) || strings.Contains(st.Message, secret) {
					t.Errorf("a Datadog key leaked into the logs, the history or the state")
				}
			}
			if logs.Len() == 0 {
				t.Error("nothing was logged: the leak check above proves nothing")
			}
		})
	}
}
