package main

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeRepo writes a module with functions/hello, a main package.
func fakeRepo(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"go.mod":                  "module example.com/fake\n\ngo 1.22\n",
		"functions/hello/main.go": "package main\n\nfunc main() { println(\"hello\") }\n",
	}
	for name, body := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestBootstrapCodePrebuilt(t *testing.T) {
	root := fakeRepo(t)
	bin := filepath.Join(root, "bin", "functions", "hello")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "bootstrap"), []byte("prebuilt"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Sources newer than the binary draw a warning.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(bin, "bootstrap"), old, old); err != nil {
		t.Fatal(err)
	}
	var warnings []string
	dir, err := BootstrapCode{RepoRoot: root, Warn: func(f string, a ...any) { warnings = append(warnings, f) }}.Dir("hello")
	if err != nil {
		t.Fatal(err)
	}
	if dir != bin {
		t.Errorf("Dir = %s, want the prebuilt %s", dir, bin)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "make build") {
		t.Errorf("warnings = %v, want one about a stale binary", warnings)
	}
}

func TestBootstrapCodeBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	root := fakeRepo(t)
	out := t.TempDir()
	dir, err := BootstrapCode{RepoRoot: root, BuildDir: out}.Dir("hello")
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(filepath.Join(dir, "bootstrap"))
	if err != nil {
		t.Fatalf("bootstrap is not an ELF executable: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("bootstrap is for %v, want arm64 (Lambda's arm64 architecture)", f.Machine)
	}
}

func TestBootstrapCodeMissingFunction(t *testing.T) {
	_, err := BootstrapCode{RepoRoot: fakeRepo(t)}.Dir("nope")
	if err == nil || !strings.Contains(err.Error(), "functions/nope") {
		t.Errorf("error %v, want one naming functions/nope", err)
	}
}
