package judge

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestClassifyNoData(t *testing.T) {
	nan := math.NaN()
	opts := DefaultClassifierOptions()
	for _, c := range []struct {
		name     string
		metric   Metric
		s        Series
		want     Classification
		critical bool
		reason   string
	}{
		{"canary all NaN", Metric{}, Series{Canary: []float64{nan, nan}, Stable: []float64{1, 2}}, Nodata, false, "no data for the canary"},
		{"stable empty", Metric{}, Series{Canary: []float64{1}, Stable: nil}, Nodata, false, "no data for stable"},
		{"both empty", Metric{}, Series{}, Nodata, false, "no data for the canary and stable"},
		{"replace still needs a period", Metric{NaNStrategy: Replace}, Series{Canary: nil, Stable: []float64{1}}, Nodata, false, "no data"},
		{"mustHaveData", Metric{MustHaveData: true}, Series{Canary: []float64{nan}, Stable: []float64{1}}, NodataFail, false, "must have data"},
		{"critical", Metric{Critical: true}, Series{Canary: []float64{1}, Stable: []float64{nan}}, Nodata, true, "no data for stable"},
		{"critical and mustHaveData", Metric{Critical: true, MustHaveData: true}, Series{Stable: []float64{1}}, Nodata, true, "no data"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.metric.Name = "m"
			got, err := ClassifyMetric(c.metric, opts, c.s)
			if err != nil {
				t.Fatal(err)
			}
			if got.Classification != c.want || got.Critical != c.critical || !strings.Contains(got.Reason, c.reason) || got.Test != nil {
				t.Errorf("got %s critical %v reason %q test %v; want %s critical %v reason containing %q, no test",
					got.Classification, got.Critical, got.Reason, got.Test, c.want, c.critical, c.reason)
			}
		})
	}
}

// TestClassifyNaNStrategy: the same series judged with NaN removed and with
// NaN as 0. Removed, the canary's periods are like stable's; replaced, three
// quarters of them are 0 and the canary is Low.
func TestClassifyNaNStrategy(t *testing.T) {
	nan := math.NaN()
	s := Series{Stable: []float64{4, 5, 6, 4.5, 5.5, 5, 4, 5, 6, 4.5, 5.5, 5}}
	for i := 0; i < 24; i++ {
		v := 4 + float64(i%5)/2
		if i%4 != 0 {
			v = nan
		}
		s.Canary = append(s.Canary, v)
	}
	for _, c := range []struct {
		strategy NaNStrategy
		want     Classification
		count    int
	}{{"", Pass, 6}, {Remove, Pass, 6}, {Replace, Low, 24}} {
		got, err := ClassifyMetric(Metric{Name: "m", NaNStrategy: c.strategy}, DefaultClassifierOptions(), s)
		if err != nil {
			t.Fatal(err)
		}
		if got.Classification != c.want || got.CanaryCount != c.count {
			t.Errorf("nanStrategy %q: got %s over %d canary values, want %s over %d", c.strategy, got.Classification, got.CanaryCount, c.want, c.count)
		}
	}
}

// TestClassifyTiedCounters: per-period error counts that are mostly 0 on both
// sides give an estimate, band and interval of 0 however different the sides
// are; the test at the band's edge still tells a canary with many more
// errors (High) from one with fewer (Low) and from a like one (Pass).
func TestClassifyTiedCounters(t *testing.T) {
	counts := func(nonZero, of int) []float64 {
		xs := make([]float64, of)
		for i := 0; i < nonZero; i++ {
			xs[i*of/nonZero] = float64(1 + i%3)
		}
		return xs
	}
	for _, c := range []struct {
		name           string
		canary, stable []float64
		want           Classification
	}{
		{"canary errs more", counts(40, 120), counts(6, 120), High},
		{"canary errs less", counts(6, 120), counts(40, 120), Low},
		{"alike", counts(8, 120), counts(7, 120), Pass},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ClassifyMetric(Metric{Name: "errors"}, DefaultClassifierOptions(), Series{Canary: c.canary, Stable: c.stable})
			if err != nil {
				t.Fatal(err)
			}
			if got.Test == nil || got.Test.Estimate != 0 || got.Band != 0 {
				t.Fatalf("want a test with estimate and band 0, got %+v band %v", got.Test, got.Band)
			}
			if got.Classification != c.want {
				t.Errorf("got %s (%s), want %s", got.Classification, got.Reason, c.want)
			}
		})
	}
}

// TestClassifyScaleFree: the classification and the interval relative to the
// estimate do not depend on the metric's unit. Kayenta's solver stops at an
// absolute 1e-4, so a metric in the 1e-5 range (a 5xx ratio) is judged on
// solver noise there.
func TestClassifyScaleFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for i := 0; i < 40; i++ {
		shift := []float64{0, 0.3, 1.5}[i%3]
		x, y := normals(rng, 40, 10+shift, 1), normals(rng, 40, 10, 1)
		var ref MetricResult
		for j, scale := range []float64{1, 1e-6, 1e6} {
			s := Series{Canary: scaled(x, scale), Stable: scaled(y, scale)}
			got, err := ClassifyMetric(Metric{Name: "m"}, DefaultClassifierOptions(), s)
			if err != nil {
				t.Fatal(err)
			}
			if j == 0 {
				ref = got
				continue
			}
			if got.Classification != ref.Classification {
				t.Errorf("case %d scale %g: %s, at scale 1 %s", i, scale, got.Classification, ref.Classification)
			}
			for _, v := range [][2]float64{{got.Test.Lower, ref.Test.Lower}, {got.Test.Upper, ref.Test.Upper}, {got.Test.Estimate, ref.Test.Estimate}} {
				if math.Abs(v[0]/scale-v[1]) > 1e-9*math.Max(1, math.Abs(v[1])) {
					t.Errorf("case %d scale %g: %v / scale = %v, at scale 1 %v", i, scale, v[0], v[0]/scale, v[1])
				}
			}
		}
	}
}

func scaled(xs []float64, k float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = x * k
	}
	return out
}

// TestClassifyPassReasons: a shift that direction or effect size lets pass is
// a Pass that says so.
func TestClassifyPassReasons(t *testing.T) {
	high := Series{Canary: []float64{20, 22, 21, 25, 30}, Stable: []float64{1, 2.2, 1.1, 2.5, 3}}
	low := Series{Canary: high.Stable, Stable: high.Canary}
	for _, c := range []struct {
		name   string
		metric Metric
		s      Series
		reason string
	}{
		{"higher, direction decrease", Metric{Direction: Decrease}, high, "higher, which direction decrease allows"},
		{"lower, direction increase", Metric{Direction: Increase}, low, "lower, which direction increase allows"},
		{"higher, small effect", Metric{EffectSize: EffectSize{AllowedIncrease: ptr(20)}}, high, "effect size 12.04 is below effectSize.allowedIncrease 20"},
		{"lower, small effect", Metric{EffectSize: EffectSize{AllowedDecrease: ptr(0.05)}}, low, "above effectSize.allowedDecrease 0.05"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.metric.Name = "m"
			got, err := ClassifyMetric(c.metric, DefaultClassifierOptions(), c.s)
			if err != nil {
				t.Fatal(err)
			}
			if got.Classification != Pass || !strings.Contains(got.Reason, c.reason) {
				t.Errorf("got %s %q, want Pass %q", got.Classification, got.Reason, c.reason)
			}
		})
	}
}
