// Package testenv starts the local AWS emulator (moto) for integration
// tests and benchmarks, builds AWS clients pointed at it, and holds the
// few fixtures every emulator test needs (unique names, a VPC with
// subnets, waiting for a Step Functions execution). It is used by tests,
// the local gateway and the demo; production code never imports it. Its
// own tests prove, one AWS client at a time, that each path okra uses
// works against the pinned moto, and pin the emulator gaps okra works
// around.
//
// Each test binary starts its own moto on a free 127.0.0.1 port and stops
// it when done, so packages can run in parallel. moto's Step Functions calls
// Lambda at localhost:$MOTO_PORT; MotoOptions.LambdaPort lets a test put the
// local gateway there.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/okrahq/okra/internal/awsapi"
)

// Region is the region every emulator test uses.
const Region = "us-east-1"

// AccountID is moto's default account.
const AccountID = "123456789012"

// MotoServerEnv names the environment variable that points at the
// moto_server executable. The Makefile sets it to the project virtualenv's.
const MotoServerEnv = "OKRA_MOTO_SERVER"

// MotoOptions configure a moto server.
type MotoOptions struct {
	// LambdaPort is where moto's Step Functions sends Lambda invocations
	// (MOTO_PORT). Zero means moto's own port.
	LambdaPort int
	// ExecuteStateMachines turns on moto's Step Functions execution.
	ExecuteStateMachines bool
	// Log receives moto's output; nil discards it.
	Log io.Writer
}

// Moto is a running moto server.
type Moto struct {
	Endpoint string
	Port     int
	cmd      *exec.Cmd
	once     sync.Once
	done     chan struct{}
}

// MotoServerPath finds moto_server: $OKRA_MOTO_SERVER, else .venv/bin under
// the module root.
func MotoServerPath() (string, error) {
	if p := os.Getenv(MotoServerEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", MotoServerEnv, p, err)
		}
		return p, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, ".venv", "bin", "moto_server")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("moto is not installed at %s: run `make test` (it creates the virtualenv) or set %s", p, MotoServerEnv)
	}
	return p, nil
}

// ModuleRoot walks up from the working directory to the directory holding
// okra's go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/okrahq/okra\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find okra's go.mod above the working directory")
		}
		dir = parent
	}
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartMoto starts moto_server on a free port and waits until it answers.
func StartMoto(ctx context.Context, o MotoOptions) (*Moto, error) {
	bin, err := MotoServerPath()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, fmt.Errorf("finding a free port, %w", err)
		}
		m, err := startMotoOn(ctx, bin, port, o)
		if err == nil {
			return m, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startMotoOn(ctx context.Context, bin string, port int, o MotoOptions) (*Moto, error) {
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	lambdaPort := port
	if o.LambdaPort != 0 {
		lambdaPort = o.LambdaPort
	}
	cmd.Env = append(os.Environ(),
		"MOTO_PORT="+strconv.Itoa(lambdaPort),
		"AWS_DEFAULT_REGION="+Region,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
	)
	out := o.Log
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s, %w", bin, err)
	}
	m := &Moto{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), Port: port, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(m.done) }()
	if err := m.waitReady(ctx, 60*time.Second); err != nil {
		m.Stop()
		return nil, err
	}
	if o.ExecuteStateMachines {
		if err := m.configure(ctx, `{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}`); err != nil {
			m.Stop()
			return nil, err
		}
	}
	return m, nil
}

func (m *Moto) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-m.done:
			return fmt.Errorf("moto_server on port %d exited before answering", m.Port)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := http.Get(m.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("moto_server on port %d did not answer within %s", m.Port, timeout)
}

func (m *Moto) configure(ctx context.Context, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Endpoint+"/moto-api/config", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("configuring moto, %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("configuring moto: HTTP %d: %s", resp.StatusCode, b)
	}
	return nil
}

// Reset drops every resource moto holds (POST /moto-api/reset). moto
// forgets its configuration on reset, so state-machine execution is
// switched on again when asked.
func (m *Moto) Reset(ctx context.Context, executeStateMachines bool) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Endpoint+"/moto-api/reset", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("resetting moto, %w", err)
	}
	resp.Body.Close()
	if executeStateMachines {
		return m.configure(ctx, `{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}`)
	}
	return nil
}

// Stop kills moto and its children and waits for it to exit.
func (m *Moto) Stop() {
	m.once.Do(func() {
		if m.cmd.Process != nil {
			_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-m.done:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
				<-m.done
			}
		}
	})
}

// Config returns okra's AWS configuration pointed at endpoint, which may be
// moto itself or the local gateway in front of it.
func Config(ctx context.Context, endpoint string, counter *awsapi.CallCounter) (awsapi.Config, error) {
	return awsapi.LoadConfig(ctx, awsapi.Options{
		Region:      Region,
		Endpoint:    endpoint,
		MaxAttempts: 3,
		Counter:     counter,
	})
}
