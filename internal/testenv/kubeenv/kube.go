// Package kubeenv starts a real Kubernetes control plane for tests. It is
// kept apart from testenv so that code using only the AWS emulator (the
// local gateway, the CLI) does not link client-go and envtest.
package kubeenv

// A real Kubernetes control plane (kube-apiserver + etcd) for tests that
// need one, such as ArgoCD cluster secrets applied server-side. It runs
// under controller-runtime's envtest; kube-apiserver is built from the Go
// module proxy by tools/kube-apiserver/build.sh and cached, etcd is
// Debian's etcd-server (tools/etcd/install.sh).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/okrahq/okra/internal/testenv"
)

// KubeAssetsEnv names the directory holding kube-apiserver and etcd, as
// controller-runtime's envtest reads it. The Makefile sets it to the
// directory tools/kube-apiserver/build.sh prints.
const KubeAssetsEnv = "KUBEBUILDER_ASSETS"

// KubeCacheEnv overrides where tools/kube-apiserver/build.sh caches its
// builds (default $XDG_CACHE_HOME/okra, else ~/.cache/okra).
const KubeCacheEnv = "OKRA_KUBE_CACHE"

// kubeStartTimeout bounds each of etcd and kube-apiserver starting. They
// start in about 5s, but on a two-core machine busy with other builds a
// cold kube-apiserver can exceed envtest's 20s default.
const kubeStartTimeout = 90 * time.Second

const buildHint = "build and cache kube-apiserver with tools/kube-apiserver/build.sh " +
	"(several minutes the first time), install etcd with tools/etcd/install.sh, and " +
	"set " + KubeAssetsEnv + " to the directory build.sh prints the binary in " +
	"(`make test` does all of this)"

// KubeAssets finds the kube-apiserver and etcd binaries: both in
// $KUBEBUILDER_ASSETS when it is set; otherwise kube-apiserver from
// build.sh's cache (the version pinned in tools/kube-apiserver/go.mod) and
// etcd from PATH or /usr/bin.
func KubeAssets() (apiServer, etcd string, err error) {
	if dir := os.Getenv(KubeAssetsEnv); dir != "" {
		apiServer, etcd = filepath.Join(dir, "kube-apiserver"), filepath.Join(dir, "etcd")
		for _, p := range []string{apiServer, etcd} {
			if err := executable(p); err != nil {
				return "", "", fmt.Errorf("%s=%s: %w; %s", KubeAssetsEnv, dir, err, buildHint)
			}
		}
		return apiServer, etcd, nil
	}
	apiServer, err = cachedAPIServer()
	if err != nil {
		return "", "", err
	}
	etcd, err = exec.LookPath("etcd")
	if err != nil {
		etcd = "/usr/bin/etcd"
		if err := executable(etcd); err != nil {
			return "", "", fmt.Errorf("etcd is not installed (not on PATH, not %s): %s", etcd, buildHint)
		}
	}
	return apiServer, etcd, nil
}

// cachedAPIServer is where tools/kube-apiserver/build.sh puts its binary.
func cachedAPIServer() (string, error) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		return "", fmt.Errorf("finding kube-apiserver: %w; %s", err, buildHint)
	}
	modFile := filepath.Join(root, "tools", "kube-apiserver", "go.mod")
	version, err := kubernetesVersion(modFile)
	if err != nil {
		return "", err
	}
	cache := os.Getenv(KubeCacheEnv)
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("finding the cache directory for kube-apiserver: %w; %s", err, buildHint)
		}
		cache = filepath.Join(dir, "okra")
	}
	p := filepath.Join(cache, "kube-apiserver-"+version, "kube-apiserver")
	if err := executable(p); err != nil {
		return "", fmt.Errorf("kube-apiserver %s is not built (%v): %s", version, err, buildHint)
	}
	return p, nil
}

// kubernetesVersion reads the k8s.io/kubernetes requirement from the
// kube-apiserver build module's go.mod.
func kubernetesVersion(modFile string) (string, error) {
	f, err := os.Open(modFile)
	if err != nil {
		return "", fmt.Errorf("reading the pinned Kubernetes version, %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 && fields[0] == "require" {
			fields = fields[1:]
		}
		if len(fields) >= 2 && fields[0] == "k8s.io/kubernetes" && strings.HasPrefix(fields[1], "v") {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading %s, %w", modFile, err)
	}
	return "", fmt.Errorf("%s does not require k8s.io/kubernetes", modFile)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// Kube is a running control plane: etcd and kube-apiserver.
type Kube struct {
	// Config reaches the kube-apiserver as a cluster admin
	// (system:masters). Copy it before changing it.
	Config  *rest.Config
	env     *envtest.Environment
	tmp     string // wrapper scripts
	data    string // etcd's data
	once    sync.Once
	stopErr error
}

// StartKube starts etcd and kube-apiserver on free 127.0.0.1 ports and
// waits until the API answers. Stop it when done.
func StartKube(ctx context.Context) (*Kube, error) {
	apiServerBin, etcdBin, err := KubeAssets()
	if err != nil {
		return nil, err
	}
	k := &Kube{}
	// etcd fsyncs every write, slow on a shared disk and pointless in a
	// test: its data goes to tmpfs when there is one. The wrappers below
	// stay on the ordinary temp dir (/dev/shm is often mounted noexec).
	dataBase := os.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		dataBase = "/dev/shm"
	}
	if k.tmp, err = ownedTempDir(os.TempDir()); err == nil {
		k.data, err = ownedTempDir(dataBase)
	}
	if err != nil {
		_ = k.Stop()
		return nil, fmt.Errorf("creating the control plane's directories, %w", err)
	}
	// envtest starts its processes in their own process group without a
	// parent-death signal, so a test binary that dies (panic, -timeout)
	// would leave them running; run them through setpriv --pdeathsig.
	apiServerBin = k.dieWithParent(apiServerBin, "kube-apiserver")
	etcdBin = k.dieWithParent(etcdBin, "etcd")

	env := &envtest.Environment{
		ControlPlaneStartTimeout: kubeStartTimeout,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	env.ControlPlane.Etcd = &envtest.Etcd{Path: etcdBin, DataDir: filepath.Join(k.data, "etcd")}
	env.ControlPlane.GetAPIServer().Path = apiServerBin
	k.env = env

	// envtest's Start takes no context: it is bounded by the start timeout.
	if err = ctx.Err(); err == nil {
		k.Config, err = env.Start()
	}
	if err != nil {
		_ = k.Stop()
		return nil, fmt.Errorf("starting kube-apiserver (%s) and etcd (%s), %w", apiServerBin, etcdBin, err)
	}
	return k, nil
}

const (
	ownedDirPrefix = "okra-kube-"
	ownerFile      = "owner.pid"
)

// ownedTempDir makes a directory under base that records this process as
// its owner, first removing such directories whose owner is gone (a test
// binary that crashed cannot clean up, and etcd's data on tmpfs holds
// memory).
func ownedTempDir(base string) (string, error) {
	stale, _ := filepath.Glob(filepath.Join(base, ownedDirPrefix+"*"))
	for _, dir := range stale {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(dir)
		}
	}
	dir, err := os.MkdirTemp(base, ownedDirPrefix)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// dieWithParent returns a wrapper script that runs bin with a parent-death
// signal, or bin itself when setpriv is not available.
func (k *Kube) dieWithParent(bin, name string) string {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return bin
	}
	wrapper := filepath.Join(k.tmp, name)
	script := fmt.Sprintf("#!/bin/sh\nexec %s --pdeathsig KILL -- %s \"$@\"\n", shellQuote(setpriv), shellQuote(bin))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		return bin
	}
	return wrapper
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Stop stops kube-apiserver and etcd and removes their files. It is safe
// to call more than once.
func (k *Kube) Stop() error {
	k.once.Do(func() {
		var errs []error
		if k.env != nil {
			if err := k.env.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping the control plane, %w", err))
			}
		}
		for _, dir := range []string{k.data, k.tmp} {
			if dir != "" {
				errs = append(errs, os.RemoveAll(dir))
			}
		}
		k.stopErr = errors.Join(errs...)
	})
	return k.stopErr
}

var sharedKube struct {
	once sync.Once
	kube *Kube
	err  error
}

// SharedKube returns a copy of the admin rest.Config of the test binary's
// control plane, starting it at first use; Main stops it after the tests.
// With -short it skips the test instead. A package calling it must use Main
// in TestMain.
func SharedKube(t testing.TB) *rest.Config {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs kube-apiserver and etcd (skipped with -short)")
	}
	sharedKube.once.Do(func() {
		sharedKube.kube, sharedKube.err = StartKube(context.Background())
		if sharedKube.err == nil {
			testenv.AtExit(func() {
				if err := sharedKube.kube.Stop(); err != nil {
					fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
				}
			})
		}
	})
	if sharedKube.err != nil {
		t.Fatalf("starting the Kubernetes control plane: %v", sharedKube.err)
	}
	return rest.CopyConfig(sharedKube.kube.Config)
}

// Kubernetes returns a core/v1 client for the shared control plane (see
// SharedKube): the typed client okra's registry uses, not the whole
// clientset, whose every API group would be linked into the binaries.
func Kubernetes(t testing.TB) corev1client.CoreV1Interface {
	t.Helper()
	cs, err := corev1client.NewForConfig(SharedKube(t))
	if err != nil {
		t.Fatalf("kubernetes client: %v", err)
	}
	return cs
}
