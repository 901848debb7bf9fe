package lambdamain

import (
	"reflect"
	"strings"
)

// NamelessError reports whether err's own type says nothing the state
// machine could match: a fmt.Errorf wrapper, errors.New, errors.Join, or
// an unexported type. The Lambda runtime names an error by its Go type,
// so handlers replace such errors with a typed one at the boundary.
func NamelessError(err error) bool {
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.PkgPath() {
	case "fmt", "errors", "":
		return true
	}
	name := t.Name()
	return name == "" || strings.ToLower(name[:1]) == name[:1]
}
