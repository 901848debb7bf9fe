package cell

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time span written as Go/Argo duration text ("30s", "5m",
// "1h") or as a whole number of seconds, as Argo Rollouts accepts for pause
// durations. In an analysis metric it may also be an argument reference
// ("{{args.initial-delay}}"), kept as Template until SubstituteArgs
// replaces it; Duration is zero until then.
type Duration struct {
	time.Duration
	// Template is the text as written when it holds a {{...}} reference.
	Template string
}

// Seconds builds a Duration of n seconds.
func Seconds(n int) *Duration { return &Duration{Duration: time.Duration(n) * time.Second} }

// IsTemplate reports whether the duration is an argument reference not yet
// substituted.
func (d *Duration) IsTemplate() bool { return d != nil && d.Template != "" }

// UnmarshalJSON accepts "30s", 30 or "{{args.x}}".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		d.Template = ""
		if strings.Contains(s, "{{") {
			d.Duration, d.Template = 0, s
			return nil
		}
		if n, err := strconv.Atoi(s); err == nil {
			d.Duration = time.Duration(n) * time.Second
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q: want text like 30s, 5m or 1h, or a number of seconds", s)
		}
		d.Duration = v
		return nil
	}
	var n int64
	d.Template = ""
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("invalid duration %s: want text like 30s, 5m or 1h, or a number of seconds", b)
	}
	d.Duration = time.Duration(n) * time.Second
	return nil
}

// MarshalJSON writes the duration as text, or the template as written.
func (d Duration) MarshalJSON() ([]byte, error) {
	if d.Template != "" {
		return json.Marshal(d.Template)
	}
	return json.Marshal(d.Duration.String())
}

// IntOrString is an integer, or a string that is an integer after argument
// substitution (Argo Rollouts allows "{{args.count}}").
type IntOrString struct {
	IsString bool
	Int      int32
	Str      string
}

// Int builds an IntOrString holding n.
func Int(n int32) *IntOrString { return &IntOrString{Int: n} }

// UnmarshalJSON accepts 3 or "3" or "{{args.x}}".
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		v.IsString = true
		return json.Unmarshal(b, &v.Str)
	}
	v.IsString = false
	return json.Unmarshal(b, &v.Int)
}

// MarshalJSON writes the value in the form it was given.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.IsString {
		return json.Marshal(v.Str)
	}
	return json.Marshal(v.Int)
}

// Resolve returns the integer value, parsing a string form.
func (v IntOrString) Resolve() (int32, error) {
	if !v.IsString {
		return v.Int, nil
	}
	n, err := strconv.ParseInt(v.Str, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not an integer", v.Str)
	}
	return int32(n), nil
}
