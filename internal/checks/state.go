package checks

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/okrahq/okra/internal/analysis"
)

// Phase is the analysis state's phase, as the state machine's Choice states
// (AnalysisVerdict, BackgroundVerdict) match it.
type Phase string

// Phases of the analysis state.
const (
	// PhaseRunning: wait WaitSeconds, then check again.
	PhaseRunning Phase = "Running"
	// PhaseSuccessful: the step's analysis passed (NextStep). A background
	// analysis that completed successfully stays Successful, and its
	// branch keeps polling until the rollout ends.
	PhaseSuccessful Phase = "Successful"
	// PhaseFailed: a metric failed, or (for a step) a provider kept
	// failing beyond consecutiveErrorLimit. The rollout rolls back.
	PhaseFailed Phase = "Failed"
	// PhaseError: a background analysis' provider kept failing beyond
	// consecutiveErrorLimit. The rollout rolls back.
	PhaseError Phase = "Error"
	// PhaseInconclusive: a step's analysis could not decide; a human
	// promotes or aborts.
	PhaseInconclusive Phase = "Inconclusive"
	// PhaseStopped: nothing (more) to analyze: the Cell has no background
	// analysis, the rollout's steps are over, or the execution lost the
	// Cell's lease.
	PhaseStopped Phase = "Stopped"
)

// ProviderFlags say which check functions the state machine calls.
type ProviderFlags struct {
	CloudWatch bool `json:"cloudWatch"`
	Datadog    bool `json:"datadog"`
}

func (f *ProviderFlags) set(k analysis.Kind) {
	switch k {
	case analysis.KindCloudWatch:
		f.CloudWatch = true
	case analysis.KindDatadog:
		f.Datadog = true
	}
}

// State is the analysis state carried at $.analysis.
type State struct {
	// Background marks the Cell's background analysis
	// (updateStrategy.canary.analysis), as opposed to a step's.
	Background bool `json:"background"`
	// StepIndex is the step the analysis belongs to (for a background
	// analysis, the step at which it started).
	StepIndex int           `json:"stepIndex"`
	Providers ProviderFlags `json:"providers"`
	Phase     Phase         `json:"phase"`
	// Message says what happened: which metric, what value, which
	// condition. It is the rollback reason or the approval prompt.
	Message string `json:"message"`
	// WaitSeconds is how long the state machine waits before the next
	// check (SecondsPath of a Wait state): at least 1 while Running.
	WaitSeconds int64 `json:"waitSeconds"`
	// Run is the analysis run; nil for a background analysis that has not
	// started yet (its startingStep is ahead) or does not exist.
	Run *analysis.Run `json:"run,omitempty"`
}

// Limits of the state.
const (
	// DefaultMaxStateBytes bounds the encoded analysis state. Step
	// Functions passes at most 256 KiB between states, and the state
	// shares that with the execution input, the action and, in the
	// Parallel state, the other branch's copy.
	DefaultMaxStateBytes = 96 << 10
	// DefaultBackgroundPoll caps a background analysis' wait, so that its
	// branch notices within that time that the rollout ended.
	DefaultBackgroundPoll = 30 * time.Second
	// maxMessage bounds State.Message (it becomes an error cause).
	maxMessage = 2000
)

// StateTooLargeError says the analysis state does not fit a Step Functions
// payload, even with the run's retained measurements cut to the latest one
// per metric.
type StateTooLargeError struct {
	Cell    string
	Bytes   int
	Limit   int
	Metrics int
}

func (e *StateTooLargeError) Error() string {
	return fmt.Sprintf("the analysis state of Cell %q is %d bytes, over okra's limit of %d for a Step Functions payload (256 KiB shared with the rest of the execution state): its %d metric(s) and their queries are too large; split the analysis into several steps or shorten the queries",
		e.Cell, e.Bytes, e.Limit, e.Metrics)
}

// fit makes sure st encodes within limit bytes: when it does not, it keeps
// only each metric's latest measurement in the run (every measurement is
// in the Cell's history already) and measures again. It returns the
// encoding.
func fit(cellName string, st *State, limit int) (json.RawMessage, error) {
	st.Message = truncate(st.Message, maxMessage)
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding the analysis state of Cell %q, %w", cellName, err)
	}
	if len(b) <= limit || st.Run == nil {
		if len(b) > limit {
			return nil, &StateTooLargeError{Cell: cellName, Bytes: len(b), Limit: limit}
		}
		return b, nil
	}
	for i := range st.Run.Metrics {
		m := &st.Run.Metrics[i]
		if n := len(m.Measurements); n > 1 {
			m.Measurements = append([]analysis.Measurement(nil), m.Measurements[n-1])
		}
	}
	b, err = json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding the analysis state of Cell %q, %w", cellName, err)
	}
	if len(b) > limit {
		return nil, &StateTooLargeError{Cell: cellName, Bytes: len(b), Limit: limit, Metrics: len(st.Run.Metrics)}
	}
	return b, nil
}

// waitSeconds is the whole seconds from now until next (rounded up), at
// least 1 and at most limit (when limit > 0). A run that is Running always
// has a next measurement; if it ever has none, ask again after the
// engine's error backoff rather than spin.
func waitSeconds(next *time.Time, now time.Time, limit time.Duration) int64 {
	d := analysis.ErrorRetryBase
	if next != nil {
		d = next.Sub(now)
	}
	if limit > 0 && d > limit {
		d = limit
	}
	return max(1, int64((d+time.Second-1)/time.Second))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d more bytes)", len(s)-cut)
}
