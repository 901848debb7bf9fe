package version

import (
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		major      uint64
		minor      uint64
		patch      uint64
		prerelease []string
		build      string
	}{
		{name: "major only with v", in: "v1", major: 1},
		{name: "major only without v", in: "10", major: 10},
		{name: "major and minor", in: "v1.2", major: 1, minor: 2},
		{name: "full", in: "1.2.3", major: 1, minor: 2, patch: 3},
		{name: "prerelease", in: "v2.0.0-rc.1", major: 2, prerelease: []string{"rc", "1"}},
		{name: "prerelease on short form", in: "v2-beta", major: 2, prerelease: []string{"beta"}},
		{name: "build metadata", in: "1.0.0+build.7", major: 1, build: "build.7"},
		{name: "prerelease and build", in: "1.0.0-alpha-1.x+sha.5114f85", major: 1, prerelease: []string{"alpha-1", "x"}, build: "sha.5114f85"},
		{name: "calendar version with leading zeros", in: "2024.01.15", major: 2024, minor: 1, patch: 15},
		{name: "largest uint64", in: "18446744073709551615", major: 18446744073709551615},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if v.Major != tt.major || v.Minor != tt.minor || v.Patch != tt.patch {
				t.Errorf("Parse(%q) = %d.%d.%d, want %d.%d.%d", tt.in, v.Major, v.Minor, v.Patch, tt.major, tt.minor, tt.patch)
			}
			if !slices.Equal(v.Prerelease, tt.prerelease) {
				t.Errorf("Parse(%q).Prerelease = %q, want %q", tt.in, v.Prerelease, tt.prerelease)
			}
			if v.Build != tt.build {
				t.Errorf("Parse(%q).Build = %q, want %q", tt.in, v.Build, tt.build)
			}
			if v.String() != tt.in {
				t.Errorf("String() = %q, want the parsed text %q", v.String(), tt.in)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		wantReason string
	}{
		{name: "empty", in: "", wantReason: "empty"},
		{name: "bare v", in: "v", wantReason: "empty number"},
		{name: "uppercase V", in: "V1", wantReason: "not a decimal number"},
		{name: "word", in: "latest", wantReason: "not a decimal number"},
		{name: "double v", in: "vv1", wantReason: "not a decimal number"},
		{name: "four numbers", in: "1.2.3.4", wantReason: "more than three numbers"},
		{name: "trailing dot", in: "v1.", wantReason: "empty number"},
		{name: "leading dot", in: ".1", wantReason: "empty number"},
		{name: "negative", in: "-1", wantReason: "empty number"},
		{name: "space", in: "v1 ", wantReason: "not a decimal number"},
		{name: "empty prerelease", in: "1.0.0-", wantReason: "pre-release: empty"},
		{name: "empty prerelease identifier", in: "1.0.0-rc..1", wantReason: "empty identifier"},
		{name: "leading zero in numeric prerelease", in: "1.0.0-rc.01", wantReason: "leading zero"},
		{name: "bad prerelease character", in: "1.0.0-rc_1", wantReason: "want only"},
		{name: "empty build", in: "1.0.0+", wantReason: "build metadata: empty"},
		{name: "bad build character", in: "1.0.0+a/b", wantReason: "want only"},
		{name: "overflow", in: "18446744073709551616", wantReason: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.in)
			var perr *ParseError
			if !errors.As(err, &perr) {
				t.Fatalf("Parse(%q) error = %v, want *ParseError", tt.in, err)
			}
			if perr.Text != tt.in {
				t.Errorf("ParseError.Text = %q, want %q", perr.Text, tt.in)
			}
			if !strings.Contains(err.Error(), tt.wantReason) {
				t.Errorf("Parse(%q) error %q does not say %q", tt.in, err, tt.wantReason)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{name: "v2 older than v10 (numeric, not text)", a: "v2", b: "v10", want: -1},
		{name: "v10 newer than v9", a: "v10", b: "v9", want: 1},
		{name: "short form equals full form", a: "v1.2", b: "v1.2.0", want: 0},
		{name: "v prefix ignored", a: "v1.2.3", b: "1.2.3", want: 0},
		{name: "minor decides", a: "1.10.0", b: "1.9.9", want: 1},
		{name: "patch decides", a: "1.2.3", b: "1.2.4", want: -1},
		{name: "prerelease older than release", a: "v2.0.0-rc.1", b: "v2.0.0", want: -1},
		{name: "prerelease newer than previous release", a: "v2.0.0-rc.1", b: "v1.9.9", want: 1},
		{name: "numeric prerelease identifiers numerically", a: "1.0.0-rc.2", b: "1.0.0-rc.10", want: -1},
		{name: "numeric identifier before alphanumeric", a: "1.0.0-1", b: "1.0.0-alpha", want: -1},
		{name: "longer prerelease wins a tie", a: "1.0.0-alpha", b: "1.0.0-alpha.1", want: -1},
		{name: "alphanumeric in ASCII order", a: "1.0.0-beta", b: "1.0.0-alpha", want: 1},
		{name: "uppercase sorts before lowercase (ASCII)", a: "1.0.0-RC", b: "1.0.0-rc", want: -1},
		{name: "build metadata ignored", a: "1.0.0+a", b: "1.0.0+b", want: 0},
		{name: "calendar versions", a: "2024.01.15", b: "2024.1.16", want: -1},
		{name: "huge prerelease numbers", a: "1.0.0-99999999999999999999999", b: "1.0.0-100000000000000000000000", want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compare(tt.a, tt.b)
			if err != nil {
				t.Fatalf("Compare(%q, %q): %v", tt.a, tt.b, err)
			}
			if got != tt.want {
				t.Errorf("Compare(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			back, err := Compare(tt.b, tt.a)
			if err != nil {
				t.Fatalf("Compare(%q, %q): %v", tt.b, tt.a, err)
			}
			if back != -tt.want {
				t.Errorf("Compare(%q, %q) = %d, want %d", tt.b, tt.a, back, -tt.want)
			}
		})
	}
}

func TestCompareRejectsInvalid(t *testing.T) {
	tests := []struct {
		name, a, b, bad string
	}{
		{name: "first invalid", a: "latest", b: "v1", bad: "latest"},
		{name: "second invalid", a: "v1", b: "v1.x", bad: "v1.x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compare(tt.a, tt.b)
			var perr *ParseError
			if !errors.As(err, &perr) || perr.Text != tt.bad {
				t.Fatalf("Compare(%q, %q) error = %v, want a *ParseError for %q", tt.a, tt.b, err, tt.bad)
			}
		})
	}
}

func TestNewest(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    string
		wantErr string
	}{
		{name: "one", in: []string{"v1"}, want: "v1"},
		{name: "numeric not text order", in: []string{"v2", "v10", "v9"}, want: "v10"},
		{name: "release beats its prerelease", in: []string{"v2.0.0", "v2.0.0-rc.2", "v1.9.0"}, want: "v2.0.0"},
		{name: "prerelease beats older release", in: []string{"v1.9.0", "v2.0.0-rc.1"}, want: "v2.0.0-rc.1"},
		{name: "equal precedence breaks tie by text", in: []string{"v1.2.0", "v1.2"}, want: "v1.2.0"},
		{name: "equal precedence tie independent of order", in: []string{"v1.2", "v1.2.0"}, want: "v1.2.0"},
		{name: "empty list", in: nil, wantErr: "no versions"},
		{name: "invalid value", in: []string{"v1", "main"}, wantErr: `invalid version "main"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Newest(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Newest(%q) error = %v, want it to say %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Newest(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Newest(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// randomVersion builds a valid version text from a small alphabet, so that
// equal numbers, shared prefixes and ties happen often.
func randomVersion(r *rand.Rand) string {
	var b strings.Builder
	if r.Intn(2) == 0 {
		b.WriteString("v")
	}
	numbers := 1 + r.Intn(3)
	for i := 0; i < numbers; i++ {
		if i > 0 {
			b.WriteString(".")
		}
		fmt.Fprintf(&b, "%d", r.Intn(12))
	}
	if r.Intn(3) == 0 {
		b.WriteString("-")
		ids := 1 + r.Intn(3)
		for i := 0; i < ids; i++ {
			if i > 0 {
				b.WriteString(".")
			}
			pick := []string{"alpha", "beta", "rc", "RC", "x-1", "0", "1", "2", "10", "11"}
			b.WriteString(pick[r.Intn(len(pick))])
		}
	}
	if r.Intn(5) == 0 {
		b.WriteString("+build.")
		fmt.Fprintf(&b, "%d", r.Intn(3))
	}
	return b.String()
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// TestCompareIsATotalPreorder checks, over random versions, that Compare is
// reflexive, antisymmetric and transitive, and that Less sorts
// consistently with it.
func TestCompareIsATotalPreorder(t *testing.T) {
	r := rand.New(rand.NewSource(20240615))
	const cases = 20000
	for i := 0; i < cases; i++ {
		a, b, c := mustParse(t, randomVersion(r)), mustParse(t, randomVersion(r)), mustParse(t, randomVersion(r))
		if got := a.Compare(a); got != 0 {
			t.Fatalf("Compare(%s, %s) = %d, want 0 (reflexive)", a, a, got)
		}
		ab, ba := a.Compare(b), b.Compare(a)
		if sign(ab) != -sign(ba) {
			t.Fatalf("antisymmetry: Compare(%s, %s) = %d but Compare(%s, %s) = %d", a, b, ab, b, a, ba)
		}
		bc, ac := b.Compare(c), a.Compare(c)
		if ab <= 0 && bc <= 0 && ac > 0 {
			t.Fatalf("transitivity: %s <= %s <= %s but Compare(%s, %s) = %d", a, b, c, a, c, ac)
		}
		if ab == 0 && bc == 0 && ac != 0 {
			t.Fatalf("transitivity of equality: %s = %s = %s but Compare(%s, %s) = %d", a, b, c, a, c, ac)
		}
		if Less(a, b) && ab > 0 {
			t.Fatalf("Less(%s, %s) but Compare = %d", a, b, ab)
		}
		if Less(a, b) == Less(b, a) && a.String() != b.String() {
			t.Fatalf("Less is not strict and total for %s and %s", a, b)
		}
	}
}

// TestCompareAgreesWithMasterminds cross-checks the hand-written comparator
// against github.com/Masterminds/semver/v3 on random strict semver texts.
func TestCompareAgreesWithMasterminds(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for i := 0; i < 10000; i++ {
		a, b := randomVersion(r), randomVersion(r)
		ma, err := semver.NewVersion(a)
		if err != nil {
			t.Fatalf("semver.NewVersion(%q): %v", a, err)
		}
		mb, err := semver.NewVersion(b)
		if err != nil {
			t.Fatalf("semver.NewVersion(%q): %v", b, err)
		}
		got, err := Compare(a, b)
		if err != nil {
			t.Fatalf("Compare(%q, %q): %v", a, b, err)
		}
		if want := ma.Compare(mb); got != want {
			t.Fatalf("Compare(%q, %q) = %d, Masterminds says %d", a, b, got, want)
		}
	}
}

func TestNewestIsOrderIndependent(t *testing.T) {
	r := rand.New(rand.NewSource(99))
	for i := 0; i < 2000; i++ {
		vs := make([]string, 1+r.Intn(6))
		for j := range vs {
			vs[j] = randomVersion(r)
		}
		want, err := Newest(vs)
		if err != nil {
			t.Fatalf("Newest(%q): %v", vs, err)
		}
		for _, v := range vs {
			if c, _ := Compare(v, want); c > 0 {
				t.Fatalf("Newest(%q) = %q but %q is newer", vs, want, v)
			}
		}
		r.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
		if got, _ := Newest(vs); got != want {
			t.Fatalf("Newest depends on order: %q then %q for %q", want, got, vs)
		}
	}
}

func mustParse(t *testing.T, s string) Version {
	t.Helper()
	v, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return v
}

func BenchmarkCompare(b *testing.B) {
	for b.Loop() {
		if _, err := Compare("v2.0.0-rc.10", "v2.0.0-rc.9"); err != nil {
			b.Fatal(err)
		}
	}
}
