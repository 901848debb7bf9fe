// Package version owns the ordering of version tag values: which of two
// values a Cell's versionedBy tag can carry is newer. It accepts the forms
// people actually tag clusters with ("v1", "v10", "1.2.3", "v1.2",
// "v2.0.0-rc.1") and orders them by Semantic Versioning 2.0.0 precedence.
//
// It must not guess: text that is not a version is an error, never sorted
// somewhere silently. It knows nothing about Cells, target groups or AWS.
package version

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Version is a parsed version tag value.
//
// A missing minor or patch number is zero, so "v1.2" and "v1.2.0" have the
// same precedence. Build metadata ("+build.5") is kept in the text but, as
// in Semantic Versioning, never affects ordering.
type Version struct {
	Major, Minor, Patch uint64
	// Prerelease holds the dot-separated pre-release identifiers ("rc", "1"
	// for "-rc.1"); empty for a release.
	Prerelease []string
	// Build holds the build metadata after "+", without the "+".
	Build string
	text  string
}

// ParseError says why a text is not a version.
type ParseError struct {
	Text   string
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("invalid version %q: %s", e.Text, e.Reason)
}

// Parse reads a version tag value.
//
// Accepted: an optional lowercase "v", then one to three dot-separated
// decimal numbers (major[.minor[.patch]]), then optionally "-" and
// pre-release identifiers, then optionally "+" and build metadata. Leading
// zeros in the numbers are accepted (calendar versions such as 2024.01.15)
// and compare numerically; numeric pre-release identifiers must not have
// them, as Semantic Versioning requires.
func Parse(s string) (Version, error) {
	fail := func(reason string) (Version, error) {
		return Version{}, &ParseError{Text: s, Reason: reason}
	}
	if s == "" {
		return fail("empty")
	}
	rest := strings.TrimPrefix(s, "v")

	var v Version
	v.text = s
	if i := strings.IndexByte(rest, '+'); i >= 0 {
		v.Build = rest[i+1:]
		rest = rest[:i]
		if err := checkIdentifiers(v.Build, false); err != nil {
			return fail("build metadata: " + err.Error())
		}
	}
	if i := strings.IndexByte(rest, '-'); i >= 0 {
		pre := rest[i+1:]
		rest = rest[:i]
		if err := checkIdentifiers(pre, true); err != nil {
			return fail("pre-release: " + err.Error())
		}
		v.Prerelease = strings.Split(pre, ".")
	}

	parts := strings.Split(rest, ".")
	if len(parts) > 3 {
		return fail("more than three numbers (want major[.minor[.patch]])")
	}
	numbers := [3]*uint64{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		if p == "" {
			return fail("empty number (want major[.minor[.patch]])")
		}
		if !allDigits(p) {
			return fail(fmt.Sprintf("%q is not a decimal number (want major[.minor[.patch]])", p))
		}
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return fail(fmt.Sprintf("%q is too large", p))
		}
		*numbers[i] = n
	}
	return v, nil
}

// checkIdentifiers checks dot-separated identifiers of [0-9A-Za-z-]; for a
// pre-release, numeric identifiers must not have leading zeros.
func checkIdentifiers(s string, prerelease bool) error {
	if s == "" {
		return errors.New("empty")
	}
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return errors.New("empty identifier")
		}
		for _, r := range id {
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
				return fmt.Errorf("identifier %q has %q (want only 0-9, A-Z, a-z and -)", id, r)
			}
		}
		if prerelease && len(id) > 1 && id[0] == '0' && allDigits(id) {
			return fmt.Errorf("numeric identifier %q has a leading zero", id)
		}
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// String returns the text the version was parsed from.
func (v Version) String() string { return v.text }

// Compare returns -1 when v is older than w, 1 when it is newer and 0 when
// both have the same precedence (build metadata is ignored).
func (v Version) Compare(w Version) int {
	if c := compareUint(v.Major, w.Major); c != 0 {
		return c
	}
	if c := compareUint(v.Minor, w.Minor); c != 0 {
		return c
	}
	if c := compareUint(v.Patch, w.Patch); c != 0 {
		return c
	}
	return comparePrerelease(v.Prerelease, w.Prerelease)
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// comparePrerelease orders pre-release identifiers by Semantic Versioning
// 2.0.0 §11: a release is newer than any of its pre-releases; identifiers
// compare left to right, numeric ones numerically and before alphanumeric
// ones, alphanumeric ones in ASCII order; a longer list wins a tie.
func comparePrerelease(a, b []string) int {
	switch {
	case len(a) == 0 && len(b) == 0:
		return 0
	case len(a) == 0:
		return 1
	case len(b) == 0:
		return -1
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := compareIdentifier(a[i], b[i]); c != 0 {
			return c
		}
	}
	return compareUint(uint64(len(a)), uint64(len(b)))
}

func compareIdentifier(a, b string) int {
	aNum, bNum := allDigits(a), allDigits(b)
	switch {
	case aNum && bNum:
		// No leading zeros (Parse refuses them), so a longer number is
		// larger and equal lengths compare as text; no overflow.
		if c := compareUint(uint64(len(a)), uint64(len(b))); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	case aNum:
		return -1
	case bNum:
		return 1
	}
	return strings.Compare(a, b)
}

// Compare parses a and b and orders them as Version.Compare does. An
// invalid text is an error naming it; no order is made up for it.
func Compare(a, b string) (int, error) {
	va, err := Parse(a)
	if err != nil {
		return 0, err
	}
	vb, err := Parse(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

// Newest returns the newest of vs. Among values of equal precedence
// ("v1.2" and "v1.2.0") it returns the one that sorts last as text, so the
// answer does not depend on the order of vs. An empty list is an error, and
// so is any invalid value.
func Newest(vs []string) (string, error) {
	if len(vs) == 0 {
		return "", errors.New("no versions to choose from")
	}
	var best Version
	for i, s := range vs {
		v, err := Parse(s)
		if err != nil {
			return "", err
		}
		if i == 0 || Less(best, v) {
			best = v
		}
	}
	return best.String(), nil
}

// Less is a strict total order over parsed versions: by precedence, and
// among versions of equal precedence by their text. Use it to sort.
func Less(a, b Version) bool {
	if c := a.Compare(b); c != 0 {
		return c < 0
	}
	return a.text < b.text
}
