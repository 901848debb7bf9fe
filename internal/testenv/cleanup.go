package testenv

import "sync"

// exitHooks are run by Main after a package's tests, most recent first.
// Lazily started, per-binary resources (the shared kube-apiserver) register
// here so Main stops them without knowing each of them.
var exitHooks struct {
	mu  sync.Mutex
	fns []func()
}

// AtExit registers fn to run when Main returns from the tests.
func AtExit(fn func()) {
	exitHooks.mu.Lock()
	defer exitHooks.mu.Unlock()
	exitHooks.fns = append(exitHooks.fns, fn)
}

// runExitHooks runs and forgets the registered hooks, last registered
// first.
func runExitHooks() {
	exitHooks.mu.Lock()
	fns := exitHooks.fns
	exitHooks.fns = nil
	exitHooks.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}
