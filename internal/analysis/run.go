package analysis

import (
	"encoding/json"
	"time"

	"github.com/okrahq/okra/internal/cell"
)

// Phase is the state of a measurement, a metric or a run, with Argo
// Rollouts' names.
type Phase string

// Phases. A Run is never Error: a metric in Error makes its run Failed.
const (
	PhasePending      Phase = "Pending"
	PhaseRunning      Phase = "Running"
	PhaseSuccessful   Phase = "Successful"
	PhaseFailed       Phase = "Failed"
	PhaseInconclusive Phase = "Inconclusive"
	PhaseError        Phase = "Error"
)

// Completed reports whether p is final.
func (p Phase) Completed() bool {
	switch p {
	case PhaseSuccessful, PhaseFailed, PhaseInconclusive, PhaseError:
		return true
	}
	return false
}

// phaseOrder ranks completed phases from best to worst (Argo Rollouts'
// order).
var phaseOrder = map[Phase]int{
	PhaseSuccessful:   0,
	PhaseRunning:      1,
	PhasePending:      2,
	PhaseInconclusive: 3,
	PhaseError:        4,
	PhaseFailed:       5,
}

func worse(current, candidate Phase) bool { return phaseOrder[candidate] > phaseOrder[current] }

// Defaults and limits of the engine.
const (
	// DefaultConsecutiveErrorLimit is Argo Rollouts' default.
	DefaultConsecutiveErrorLimit = 4
	// DefaultMeasurementRetention is how many measurements of a metric a
	// Run keeps (Argo Rollouts' default history limit). Every measurement
	// is returned by Step for the Cell's history; the Run keeps only the
	// latest so that it stays small enough for a Step Functions payload.
	DefaultMeasurementRetention = 10
	// ErrorRetryBase is the wait after a first measurement error (Argo
	// Rollouts' DefaultErrorRetryInterval); it doubles with each further
	// consecutive error.
	ErrorRetryBase = 10 * time.Second
	// ErrorRetryMax caps the backoff after errors.
	ErrorRetryMax = 2 * time.Minute
	// MaxStoredValue is the largest measurement value (JSON bytes) a Run
	// keeps; a larger one is replaced in the Run by a note with its size
	// (the StepResult record keeps it whole for the history).
	MaxStoredValue = 4096
	// MaxRetryAfter caps how long a provider's Retry-After may delay the
	// next measurement.
	MaxRetryAfter = 15 * time.Minute
)

// Run is one analysis: the resolved metrics, what each has measured so far,
// and the verdict. It is plain data; marshal it to JSON between Steps.
type Run struct {
	// Phase is Running until the run completes as Successful, Failed or
	// Inconclusive (okra pauses for a human on Inconclusive).
	Phase Phase `json:"phase"`
	// Message explains a completed run's phase.
	Message string `json:"message,omitempty"`
	// Args are the resolved arguments the metrics were built with.
	Args map[string]string `json:"args,omitempty"`
	// Templates names the templates the run was built from.
	Templates []string  `json:"templates,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	// CompletedAt is set once Phase is final.
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	// NextAt is when Step should be called next: the earliest measurement
	// due. Nil once the run is complete.
	NextAt *time.Time `json:"nextAt,omitempty"`
	// Terminated is set by Terminate (for example when a background
	// analysis ends with the rollout).
	Terminated bool        `json:"terminated,omitempty"`
	Metrics    []MetricRun `json:"metrics"`
}

// MetricRun is one metric of a run.
type MetricRun struct {
	Name     string `json:"name"`
	Template string `json:"template,omitempty"`
	Provider Kind   `json:"provider"`
	// DryRun metrics are measured and recorded but do not decide the run.
	DryRun bool `json:"dryRun,omitempty"`
	// Spec is the metric with arguments substituted and provider defaults
	// filled in; it is what providers receive.
	Spec cell.Metric `json:"spec"`
	// Query is the provider query as sent (after substitution), for the
	// history.
	Query  string `json:"query"`
	Limits Limits `json:"limits"`

	Phase   Phase  `json:"phase"`
	Message string `json:"message,omitempty"`
	Counters
	// NextAt is when this metric's next measurement is due; nil when the
	// metric is complete.
	NextAt *time.Time `json:"nextAt,omitempty"`
	// LastMeasuredAt is when the latest measurement was taken.
	LastMeasuredAt *time.Time `json:"lastMeasuredAt,omitempty"`
	// Measurements are the latest Limits.Retention measurements, oldest
	// first.
	Measurements []Measurement `json:"measurements,omitempty"`
}

// Limits are a metric's resolved Argo Rollouts limits.
type Limits struct {
	// Count is how many non-error measurements to take; nil means the metric
	// runs until the run completes or is terminated (interval without
	// count).
	Count *int `json:"count,omitempty"`
	// FailureLimit: more Failed measurements than this fail the metric; -1
	// disables it (then ConsecutiveSuccessLimit decides).
	FailureLimit int `json:"failureLimit"`
	// InconclusiveLimit: more Inconclusive measurements than this make the
	// metric Inconclusive.
	InconclusiveLimit int `json:"inconclusiveLimit"`
	// ConsecutiveErrorLimit: more consecutive errors than this make the
	// metric Error.
	ConsecutiveErrorLimit int `json:"consecutiveErrorLimit"`
	// ConsecutiveSuccessLimit: this many consecutive Successful measurements
	// make the metric Successful; 0 disables it.
	ConsecutiveSuccessLimit int `json:"consecutiveSuccessLimit,omitempty"`
	// Retention is how many measurements the Run keeps.
	Retention int `json:"retention"`
}

// Counters tally a metric's measurements as Argo Rollouts does: Count counts
// every measurement except errors.
type Counters struct {
	Count              int `json:"count"`
	Successful         int `json:"successful"`
	Failed             int `json:"failed"`
	Inconclusive       int `json:"inconclusive"`
	Error              int `json:"error"`
	ConsecutiveError   int `json:"consecutiveError"`
	ConsecutiveSuccess int `json:"consecutiveSuccess"`
}

// Measurement is one measurement of a metric.
type Measurement struct {
	Phase Phase     `json:"phase"`
	At    time.Time `json:"at"`
	// Window is the time range the provider queried.
	Window Window `json:"window"`
	// Query is the provider query as sent.
	Query string `json:"query"`
	// Value is the result the conditions were evaluated against, as JSON
	// (absent on errors and when there was no data).
	Value json.RawMessage `json:"value,omitempty"`
	// Message explains errors, no data and provider notes.
	Message string `json:"message,omitempty"`
	// Throttled and RetryAfter describe a throttled provider call.
	Throttled  bool           `json:"throttled,omitempty"`
	RetryAfter *cell.Duration `json:"retryAfter,omitempty"`
}

// StepResult is what one Step did.
type StepResult struct {
	// Measurements are the measurements taken by this Step, in metric
	// order, for the caller to write to the Cell's history.
	Measurements []Record `json:"measurements,omitempty"`
	// Phase is the run's phase after the Step.
	Phase   Phase  `json:"phase"`
	Message string `json:"message,omitempty"`
	// NextAt is when to call Step again while the run is Running.
	NextAt *time.Time `json:"nextAt,omitempty"`
}

// Record is a measurement with everything the Cell's history needs.
type Record struct {
	Metric           string `json:"metric"`
	Template         string `json:"template,omitempty"`
	Provider         Kind   `json:"provider"`
	DryRun           bool   `json:"dryRun,omitempty"`
	SuccessCondition string `json:"successCondition,omitempty"`
	FailureCondition string `json:"failureCondition,omitempty"`
	Measurement
	// Raw is what the provider returned, as JSON.
	Raw json.RawMessage `json:"raw,omitempty"`
	// MetricPhase is the metric's phase after this measurement.
	MetricPhase Phase `json:"metricPhase"`
}
