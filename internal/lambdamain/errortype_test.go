package lambdamain

import (
	"errors"
	"fmt"
	"testing"
)

type NamedError struct{}

func (*NamedError) Error() string { return "named" }

type quietError struct{}

func (quietError) Error() string { return "quiet" }

func TestNamelessError(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"errors.New", errors.New("x"), true},
		{"fmt.Errorf wrapper", fmt.Errorf("doing, %w", &NamedError{}), true},
		{"errors.Join", errors.Join(errors.New("a"), errors.New("b")), true},
		{"unexported type", quietError{}, true},
		{"exported pointer type", &NamedError{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := NamelessError(tc.err); got != tc.want {
				t.Fatalf("NamelessError(%T) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
