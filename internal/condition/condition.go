// Package condition compiles and evaluates analysis success and failure
// conditions: expr-lang expressions over `result`, with the helper
// functions Argo Rollouts offers (asInt, asFloat, isNaN, isInf, isNil,
// default), so existing AnalysisTemplates keep their meaning. Cell
// validation and the analysis runner share this one environment.
package condition

import (
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Condition is a compiled expression.
type Condition struct {
	source  string
	program *vm.Program
}

// String returns the expression text.
func (c *Condition) String() string { return c.source }

// Compile checks an expression and prepares it for evaluation. The result
// must be a boolean.
func Compile(source string) (*Condition, error) {
	program, err := expr.Compile(source, expr.Env(env{}), expr.AsBool())
	if err != nil {
		return nil, fmt.Errorf("compiling condition %q, %w", source, err)
	}
	return &Condition{source: source, program: program}, nil
}

// Eval evaluates the condition against result, which is a float64, a
// []float64 (one value per returned series or point), a map, or nil for no
// data.
func (c *Condition) Eval(result any) (bool, error) {
	out, err := expr.Run(c.program, newEnv(result))
	if err != nil {
		return false, fmt.Errorf("evaluating condition %q, %w", c.source, err)
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("condition %q returned %T, want bool", c.source, out)
	}
	return b, nil
}

// env declares the names a condition may use, with result typed as any so
// that both scalar and list conditions compile.
type env struct {
	Result  any                        `expr:"result"`
	AsInt   func(any) (int64, error)   `expr:"asInt"`
	AsFloat func(any) (float64, error) `expr:"asFloat"`
	IsNaN   func(any) bool             `expr:"isNaN"`
	IsInf   func(any) bool             `expr:"isInf"`
	IsNil   func(any) bool             `expr:"isNil"`
	Default func(any, any) any         `expr:"default"`
}

func newEnv(result any) env {
	return env{
		Result:  result,
		AsInt:   asInt,
		AsFloat: asFloat,
		IsNaN: func(v any) bool {
			f, err := asFloat(v)
			return err == nil && math.IsNaN(f)
		},
		IsInf: func(v any) bool {
			f, err := asFloat(v)
			return err == nil && math.IsInf(f, 0)
		},
		IsNil: isNil,
		Default: func(v any, def any) any {
			if isNil(v) {
				return def
			}
			return v
		},
	}
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

func asInt(v any) (int64, error) {
	switch x := v.(type) {
	case string:
		return strconv.ParseInt(x, 10, 64)
	case float64:
		return int64(x), nil
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	}
	return 0, fmt.Errorf("asInt: cannot convert %T", v)
}

func asFloat(v any) (float64, error) {
	switch x := v.(type) {
	case string:
		return strconv.ParseFloat(x, 64)
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	}
	return 0, fmt.Errorf("asFloat: cannot convert %T", v)
}
