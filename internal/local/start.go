package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/testenv"
)

// Options configure Start.
type Options struct {
	// Port for the gateway on 127.0.0.1; 0 picks a free one.
	Port int
	// Logger receives the gateway's invocation and proxy logs (default
	// slog.Default()).
	Logger *slog.Logger
	// MotoLog receives moto's output; nil discards it.
	MotoLog io.Writer
	// FunctionTimeout bounds each invocation (default DefaultTimeout).
	FunctionTimeout time.Duration
	// Functions are registered before the gateway serves its first
	// request: function name -> handler, as Gateway.Register takes them.
	// More can be registered at any time on Stack.Gateway.
	Functions map[string]any
	// Faults, when set, makes the gateway inject faults (see Faults);
	// change them while the stack runs with Faults.Set and Disable.
	Faults *Faults
}

// Stack is moto behind the local gateway. Point every AWS client at
// Endpoint; Stop when done.
type Stack struct {
	// Gateway serves Lambda Invoke and proxies the rest to Moto.
	Gateway *Gateway
	// Moto is the emulator behind the gateway, started with Step
	// Functions execution on and MOTO_PORT set to the gateway's port.
	Moto *testenv.Moto
	// Endpoint is the gateway's URL, http://127.0.0.1:PORT.
	Endpoint string
	// Port is the gateway's port.
	Port int

	server   *http.Server
	served   chan error
	stopOnce sync.Once
	stopErr  error
}

// Start binds the gateway's port, starts moto with its Step Functions
// calling Lambda on that port and state-machine execution on, registers
// o.Functions and serves. The port is bound before moto starts, so it
// cannot be taken in between.
func Start(ctx context.Context, o Options) (*Stack, error) {
	for name, h := range o.Functions {
		if _, _, err := registration(name, h); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", o.Port))
	if err != nil {
		return nil, fmt.Errorf("listening for the local gateway on 127.0.0.1:%d, %w", o.Port, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port

	moto, err := testenv.StartMoto(ctx, testenv.MotoOptions{
		LambdaPort:           port,
		ExecuteStateMachines: true,
		Log:                  o.MotoLog,
	})
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("starting moto behind the local gateway, %w", err)
	}

	gw, err := NewGateway(moto.Endpoint, WithLogger(o.Logger), WithTimeout(o.FunctionTimeout), WithFaults(o.Faults))
	if err != nil {
		_ = ln.Close()
		moto.Stop()
		return nil, err
	}
	for name, h := range o.Functions {
		if err := gw.Register(name, h); err != nil {
			_ = ln.Close()
			moto.Stop()
			return nil, err
		}
	}

	s := &Stack{
		Gateway:  gw,
		Moto:     moto,
		Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port),
		Port:     port,
		server:   &http.Server{Handler: gw, ReadHeaderTimeout: 30 * time.Second},
		served:   make(chan error, 1),
	}
	go func() { s.served <- s.server.Serve(ln) }()
	return s, nil
}

// Config returns okra's AWS configuration pointed at the gateway, counting
// calls with counter when it is not nil.
func (s *Stack) Config(ctx context.Context, counter *awsapi.CallCounter) (awsapi.Config, error) {
	return testenv.Config(ctx, s.Endpoint, counter)
}

// Stop shuts the gateway down (waiting, until ctx is done, for requests
// and asynchronous invocations in flight) and stops moto. It is safe to
// call more than once.
func (s *Stack) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		var errs []error
		if err := s.server.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutting down the local gateway, %w", err))
			_ = s.server.Close()
		}
		if err := <-s.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("serving the local gateway, %w", err))
		}
		if err := s.Gateway.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		s.Moto.Stop()
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}
