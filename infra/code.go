package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// CodeSource supplies the deployment package (a directory holding the
// `bootstrap` executable) of the function whose main package is
// functions/<name>.
type CodeSource interface {
	Code(name string) (awslambda.Code, error)
}

// BootstrapCode uses the prebuilt bin/functions/<name>/bootstrap that
// `make build` writes, and builds the function itself (linux/arm64, the
// Makefile's flags) when that file is missing. It never needs Docker.
type BootstrapCode struct {
	// RepoRoot is the repository root (holds functions/ and bin/).
	RepoRoot string
	// PrebuiltDir holds <name>/bootstrap (default RepoRoot/bin/functions).
	PrebuiltDir string
	// BuildDir receives what BootstrapCode builds (default
	// RepoRoot/infra/.build/functions).
	BuildDir string
	// Warn receives warnings (a prebuilt binary older than the sources);
	// nil discards them.
	Warn func(format string, args ...any)
}

// Code implements CodeSource.
func (b BootstrapCode) Code(name string) (awslambda.Code, error) {
	dir, err := b.Dir(name)
	if err != nil {
		return nil, err
	}
	return awslambda.Code_FromAsset(jsii.String(dir), nil), nil
}

// Dir returns the directory holding the function's bootstrap, building it
// when there is no prebuilt one.
func (b BootstrapCode) Dir(name string) (string, error) {
	root, err := filepath.Abs(b.RepoRoot)
	if err != nil {
		return "", err
	}
	src := filepath.Join(root, "functions", name)
	if st, err := os.Stat(src); err != nil || !st.IsDir() {
		return "", fmt.Errorf("function %s: no main package at %s (every function in infra/functions.go needs functions/%s)", name, src, name)
	}
	prebuilt := b.PrebuiltDir
	if prebuilt == "" {
		prebuilt = filepath.Join(root, "bin", "functions")
	}
	dir := filepath.Join(prebuilt, name)
	if st, err := os.Stat(filepath.Join(dir, "bootstrap")); err == nil && st.Mode().IsRegular() {
		if b.Warn != nil {
			if newer := newestGoFile(root, st.ModTime()); newer != "" {
				b.Warn("%s/bootstrap is older than %s: run `make build` to deploy the current code", dir, newer)
			}
		}
		return dir, nil
	}
	out := b.BuildDir
	if out == "" {
		out = filepath.Join(root, "infra", ".build", "functions")
	}
	dir = filepath.Join(out, name)
	if err := buildBootstrap(root, name, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// buildBootstrap builds functions/<name> into dir/bootstrap as the
// Makefile's build target does.
func buildBootstrap(root, name, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w",
		"-o", filepath.Join(dir, "bootstrap"), "./functions/"+name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building functions/%s for linux/arm64: %w\n%s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newestGoFile returns a .go file under root's functions/ or internal/
// modified after t, or "".
func newestGoFile(root string, t time.Time) string {
	found := ""
	stop := errors.New("stop")
	for _, sub := range []string{"functions", "internal"} {
		_ = filepath.WalkDir(filepath.Join(root, sub), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			if info, err := d.Info(); err == nil && info.ModTime().After(t) {
				found = path
				return stop
			}
			return nil
		})
		if found != "" {
			break
		}
	}
	return found
}

// PlaceholderCode gives every function the same tiny package whose
// bootstrap only exits with an error. It is for tests and for synthesizing
// before the functions are built; never deploy it.
type PlaceholderCode struct {
	// Dir receives the placeholder package (it is written once).
	Dir string
}

// placeholderBootstrap is the placeholder's whole program.
const placeholderBootstrap = "#!/bin/sh\necho 'okra: placeholder code; deploy with real function code (see docs/deploy.md)' >&2\nexit 1\n"

// Code implements CodeSource.
func (p PlaceholderCode) Code(string) (awslambda.Code, error) {
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(p.Dir, "bootstrap")
	if b, err := os.ReadFile(path); err != nil || string(b) != placeholderBootstrap {
		if err := os.WriteFile(path, []byte(placeholderBootstrap), 0o755); err != nil {
			return nil, err
		}
	}
	return awslambda.Code_FromAsset(jsii.String(p.Dir), nil), nil
}
