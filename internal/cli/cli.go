// Package cli builds the okra command-line tool: the cobra command tree,
// its global flags, output formats and exit codes. Each command group
// lives in its own file (cell.go, template.go, rollout.go, plan.go,
// local.go) as a newXxxCommand(app) constructor added to the root in
// root.go. Commands reach AWS only through App.AWS, which loads the
// configuration on first use, so commands that need no AWS (validate,
// import, help) work with no credentials or region at all.
//
// The package owns presentation and argument handling only; it must not
// hold okra logic of its own: it calls the internal packages (cell, store,
// rollout, ...) that the Lambda handlers use too.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/local"
)

// Exit codes of the okra command.
const (
	// ExitOK: the command did what was asked (for validate: all valid).
	ExitOK = 0
	// ExitFailure: the input is invalid or the operation failed.
	ExitFailure = 1
	// ExitUsage: the command line is wrong (unknown command or flag,
	// missing flag) or an input file cannot be read.
	ExitUsage = 2
)

// Output formats for --output.
const (
	OutputTable = "table"
	OutputJSON  = "json"
	OutputYAML  = "yaml"
)

// GlobalOptions are the root command's persistent flags.
type GlobalOptions struct {
	Region      string
	Profile     string
	EndpointURL string
	Output      string
	// Table is okra's DynamoDB table; empty means OKRA_TABLE_NAME, then
	// DefaultTableName.
	Table string
	// Verbose logs every step that changes something to stderr.
	Verbose bool
}

// App is what every command gets: global options, the process's streams,
// and AWS configuration loaded lazily. Build one with NewApp.
type App struct {
	Options GlobalOptions
	In      io.Reader
	Out     io.Writer
	Err     io.Writer

	// loadAWS builds the AWS configuration; awsapi.LoadConfig unless a
	// test replaces it on its own App.
	loadAWS func(context.Context, awsapi.Options) (awsapi.Config, error)

	awsMu     sync.Mutex
	awsConfig *awsapi.Config

	// getenv reads the environment (os.Getenv; tests give their own).
	getenv func(string) string
	// now is the clock used for relative times in output.
	now func() time.Time
	// newGate builds the rollout gate promote, abort and retry call.
	// (stateMachineARN is --state-machine-arn or OKRA_STATE_MACHINE_ARN,
	// possibly empty).
	newGate func(ctx context.Context, stateMachineARN string) (Gate, error)
	// functions are the handlers `okra local invoke` can run.
	functions []localFunction
	// deploy puts okra into a local stack for `okra local up`.
	deploy localDeployer

	logOnce sync.Once
	log     *slog.Logger

	// testHooks let a test act inside a command (e.g. write between
	// apply's read and write); nil in the okra binary.
	testHooks struct {
		afterRead func(kind, name string)
		// skipAWSIngressCheck leaves out cell apply's check of the
		// ingress against AWS, for tests that apply the examples (whose
		// listener ARNs exist in no account). The check itself is tested
		// against moto with listeners the tests create.
		skipAWSIngressCheck bool
	}

	// started records that a command's RunE began, i.e. cobra accepted
	// the command line; errors before that are usage errors.
	started bool
}

// NewApp returns an App reading from in and writing to out and errOut.
func NewApp(in io.Reader, out, errOut io.Writer) *App {
	a := &App{
		In: in, Out: out, Err: errOut,
		loadAWS:   awsapi.LoadConfig,
		getenv:    os.Getenv,
		now:       time.Now,
		functions: defaultFunctions(),
		deploy:    deployOkra,
	}
	a.newGate = a.defaultGate
	return a
}

// logger returns the logger the internal packages log to: warnings (and
// with --verbose every step) go to stderr, as text.
func (a *App) logger() *slog.Logger {
	a.logOnce.Do(func() {
		level := slog.LevelWarn
		if a.Options.Verbose {
			level = slog.LevelInfo
		}
		a.log = slog.New(slog.NewTextHandler(a.Err, &slog.HandlerOptions{Level: level}))
	})
	return a.log
}

// AWS returns the AWS configuration built from --region, --profile and
// --endpoint-url, loading it on the first call only. With --endpoint-url
// and no region configured anywhere, the region is us-east-1.
func (a *App) AWS(ctx context.Context) (awsapi.Config, error) {
	a.awsMu.Lock()
	defer a.awsMu.Unlock()
	if a.awsConfig != nil {
		return *a.awsConfig, nil
	}
	region := a.Options.Region
	if region == "" && a.Options.EndpointURL != "" && a.Options.Profile == "" &&
		a.getenv("AWS_REGION") == "" && a.getenv("AWS_DEFAULT_REGION") == "" {
		// An emulator answers in any region; spare the user a --region.
		region = local.DefaultRegion
	}
	cfg, err := a.loadAWS(ctx, awsapi.Options{
		Region:   region,
		Profile:  a.Options.Profile,
		Endpoint: a.Options.EndpointURL,
	})
	if err != nil {
		return awsapi.Config{}, fmt.Errorf("loading AWS configuration for okra, %w", err)
	}
	a.awsConfig = &cfg
	return cfg, nil
}

// exitError carries an exit code. A silent one has already told the user
// what went wrong (validate prints the problems), so Run prints nothing
// more.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf reports a wrong command line or unreadable input (exit 2).
func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// failuref reports a failed operation (exit 1) with a message of its own.
func failuref(format string, args ...any) error {
	return &exitError{code: ExitFailure, err: fmt.Errorf(format, args...)}
}

// errInvalid ends a command whose output already lists what is invalid
// (exit 1, no further message).
var errInvalid = &exitError{code: ExitFailure, err: errors.New("invalid input"), silent: true}

// runE adapts a command's function to cobra. Every command's RunE must be
// built with it: it checks the global flags, and it marks that cobra
// accepted the command line, which is how Run tells usage errors (exit 2)
// from failures (exit 1).
func (a *App) runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.started = true
		switch a.Options.Output {
		case OutputTable, OutputJSON, OutputYAML:
		default:
			return usageErrorf("--output must be %s, %s or %s, got %q", OutputTable, OutputJSON, OutputYAML, a.Options.Output)
		}
		return fn(cmd, args)
	}
}

// Run executes the okra command line args (without the program name) and
// returns the process exit code.
func Run(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	app := NewApp(in, out, errOut)
	return app.Execute(ctx, args)
}

// Execute runs args against this App's command tree and returns the exit
// code.
func (a *App) Execute(ctx context.Context, args []string) int {
	root := newRootCommand(a)
	root.SetArgs(args)
	root.SetIn(a.In)
	root.SetOut(a.Out)
	root.SetErr(a.Err)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	var exitErr *exitError
	if !errors.As(err, &exitErr) {
		code := ExitFailure
		if !a.started {
			code = ExitUsage
		}
		exitErr = &exitError{code: code, err: err}
	}
	if !exitErr.silent {
		fmt.Fprintf(a.Err, "okra: %v\n", exitErr.err)
		if exitErr.code == ExitUsage && cmd != nil {
			fmt.Fprintf(a.Err, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
	}
	return exitErr.code
}
