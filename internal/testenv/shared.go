package testenv

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/okrahq/okra/internal/awsapi"
)

var shared struct {
	once sync.Once
	moto *Moto
	err  error
}

// Main runs a package's tests and stops the shared moto (and the shared
// kube-apiserver, see SharedKube) afterwards. Use it
// from TestMain: func TestMain(m *testing.M) { testenv.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	runExitHooks()
	if shared.moto != nil {
		shared.moto.Stop()
	}
	os.Exit(code)
}

// SharedMoto returns the test binary's moto, starting it (with state-machine
// execution on) at first use. With -short it skips the test instead. A
// package calling it must use Main in TestMain so moto is stopped.
func SharedMoto(t testing.TB) *Moto {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the moto emulator (skipped with -short)")
	}
	shared.once.Do(func() {
		shared.moto, shared.err = StartMoto(context.Background(), MotoOptions{ExecuteStateMachines: true})
	})
	if shared.err != nil {
		t.Fatalf("starting moto: %v", shared.err)
	}
	return shared.moto
}

// AWS returns okra's AWS configuration pointed at the shared moto, with a
// fresh call counter.
func AWS(t testing.TB) (awsapi.Config, *awsapi.CallCounter) {
	t.Helper()
	m := SharedMoto(t)
	counter := awsapi.NewCallCounter()
	cfg, err := Config(context.Background(), m.Endpoint, counter)
	if err != nil {
		t.Fatalf("AWS config: %v", err)
	}
	return cfg, counter
}
