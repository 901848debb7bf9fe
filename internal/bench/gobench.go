package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/okrahq/okra/internal/testenv"
)

// GoBenchmark is one line of `go test -bench -benchmem`.
type GoBenchmark struct {
	Package, Name string
	N             string
	NsPerOp       string
	BytesPerOp    string
	AllocsPerOp   string
}

// GoBenchmarkPackages are the packages whose Go benchmarks the report
// runs: the planner, the weight splitter, version ordering.
var GoBenchmarkPackages = []string{"./internal/rollout", "./internal/weights", "./internal/version"}

// RunGoBenchmarks runs the packages' benchmarks with -benchmem and parses
// their results.
func RunGoBenchmarks(ctx context.Context, pkgs []string) ([]GoBenchmark, error) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		return nil, err
	}
	args := append([]string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "1"}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = os.Environ()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s, %w: %s", strings.Join(args, " "), err, tailString(out.String(), 2000))
	}
	var res []GoBenchmark
	pkg := ""
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "pkg:":
			pkg = strings.TrimPrefix(f[1], "github.com/okrahq/okra/")
		case len(f) >= 8 && strings.HasPrefix(f[0], "Benchmark") && f[3] == "ns/op":
			b := GoBenchmark{Package: pkg, Name: f[0], N: f[1], NsPerOp: f[2]}
			for i := 4; i+1 < len(f); i += 2 {
				switch f[i+1] {
				case "B/op":
					b.BytesPerOp = f[i]
				case "allocs/op":
					b.AllocsPerOp = f[i]
				}
			}
			res = append(res, b)
		}
	}
	return res, nil
}
