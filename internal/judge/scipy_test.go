package judge

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// scipyPython returns the Python that has scipy: $OKRA_SCIPY_PYTHON when set
// (the Makefile sets it to the project's .venv), else the repository's .venv;
// "" when it does not exist.
func scipyPython() string {
	p := os.Getenv("OKRA_SCIPY_PYTHON")
	if p == "" {
		_, file, _, _ := runtime.Caller(0)
		p = filepath.Join(filepath.Dir(file), "..", "..", ".venv", "bin", "python")
	}
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// requireScipy skips, or fails when OKRA_REQUIRE_SCIPY=1 (make test sets it),
// for a missing scipy.
func requireScipy(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("OKRA_REQUIRE_SCIPY") == "1" {
		t.Fatalf("%s: `make scipy` installs it into .venv (OKRA_REQUIRE_SCIPY=1 makes this a failure)", why)
	}
	t.Skipf("%s (`make scipy`); OKRA_REQUIRE_SCIPY=1 turns this skip into a failure", why)
}

// crossCheckCases returns n seeded random cases, every one with ties: each
// side draws from a small grid of values, some cases shift the canary, some
// are all one value, sizes run from 1 to 80 a side.
func crossCheckCases(seed uint64, n int) []Series {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	cases := make([]Series, 0, n)
	for len(cases) < n {
		levels := 1 + rng.IntN(12) // 1 level: everything tied
		step := []float64{1, 0.25, 0.001, 1e-5, 37}[rng.IntN(5)]
		shift := 0
		if rng.IntN(3) == 0 {
			shift = rng.IntN(levels + 1)
		}
		draw := func(size, shift int) []float64 {
			xs := make([]float64, size)
			for i := range xs {
				xs[i] = float64(rng.IntN(levels)+shift) * step
			}
			return xs
		}
		cases = append(cases, Series{Canary: draw(1+rng.IntN(80), shift), Stable: draw(1+rng.IntN(80), 0)})
	}
	return cases
}

// TestScipyCrossCheck runs 1,200 seeded random cases with ties through
// MannWhitney and, in one Python process, through scipy.stats.mannwhitneyu
// (method="asymptotic", two-sided, continuity correction), and requires U and
// the p-value to agree within 1e-9; the Hodges-Lehmann estimate is checked
// against numpy's median of the pairwise differences.
func TestScipyCrossCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("runs scipy in a subprocess")
	}
	py := scipyPython()
	if py == "" {
		requireScipy(t, "no Python with scipy")
	}
	if err := exec.Command(py, "-c", "import scipy.stats").Run(); err != nil {
		requireScipy(t, py+" cannot import scipy.stats")
	}
	const seed, n = 20261202, 1200
	cases := crossCheckCases(seed, n)
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "testdata/scipy_mannwhitneyu.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("scipy: %v\n%s", err, stderr.String())
	}
	var want []struct{ U, P, Estimate float64 }
	if err := json.Unmarshal(outb, &want); err != nil {
		t.Fatalf("scipy's answer: %v", err)
	}
	if len(want) != len(cases) {
		t.Fatalf("scipy answered %d cases, want %d", len(want), len(cases))
	}
	var maxU, maxP, maxEst float64
	tied, allTied := 0, 0
	for i, c := range cases {
		r, err := MannWhitney(c.Canary, c.Stable, DefaultConfidence)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		dU, dP := math.Abs(r.U-want[i].U), math.Abs(r.PValue-want[i].P)
		dEst := math.Abs(r.Estimate - want[i].Estimate)
		maxU, maxP, maxEst = math.Max(maxU, dU), math.Max(maxP, dP), math.Max(maxEst, dEst)
		if dU > 1e-9 || dP > 1e-9 || dEst > 1e-12*math.Max(1, math.Abs(want[i].Estimate)) {
			t.Errorf("case %d (canary %v, stable %v): U %v p %v estimate %v; scipy U %v p %v, numpy estimate %v",
				i, c.Canary, c.Stable, r.U, r.PValue, r.Estimate, want[i].U, want[i].P, want[i].Estimate)
		}
		if _, tie := rank(append(append([]float64(nil), c.Canary...), c.Stable...)); tie > 0 {
			tied++
		}
		if r.PValue == 1 && want[i].P == 1 {
			allTied++
		}
	}
	if tied != len(cases) {
		t.Errorf("%d of %d cases have ties, want all", tied, len(cases))
	}
	t.Logf("%d cases (seed %d), all with ties, %d with p = 1: max |ΔU| %.3g, max |Δp| %.3g, max |Δestimate| %.3g",
		len(cases), seed, allTied, maxU, maxP, maxEst)
}
