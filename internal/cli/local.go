package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/lambdamain"
	"github.com/okrahq/okra/internal/local"
	"github.com/okrahq/okra/internal/onboarding"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/safetynet"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/testenv"
)

func newLocalCommand(app *App) *cobra.Command {
	cmd := newGroupCommand("local", "Run okra locally against the AWS emulator",
		`  # Start the emulator with okra deployed into it, in one terminal
  okra local up

  # Use it from another
  okra --endpoint-url http://127.0.0.1:4566 cell apply -f web.yaml`)
	cmd.AddCommand(newLocalUpCommand(app), newLocalInvokeCommand(app))
	cmd.AddCommand(newLocalFixtureCommands(app)...)
	return cmd
}

// localFunction is one of okra's Lambda functions as `okra local` runs
// it: Build returns the handler (what the function's main passes to
// lambda.Start), built from deps as the function builds it at cold
// start. A nil Build means the handler is not in this build; Pending says
// why.
type localFunction struct {
	Name string
	// Purpose says what triggers the function, for help and errors.
	Purpose string
	Pending string
	Build   func(ctx context.Context, deps functionDeps) (any, error)
}

// functionDeps is what a handler is built from: the same environment a
// deployed function's lambdamain.Run gives its builder.
type functionDeps = lambdamain.Env

// defaultFunctions lists okra's functions and how each handler is built,
// with the same builders functions/<name>/main.go calls.
func defaultFunctions() []localFunction {
	return []localFunction{
		{Name: "cluster-events", Purpose: "EKS CreateCluster, TagResource, UntagResource and DeleteCluster calls via EventBridge",
			Build: onboardingHandler(func(o *onboarding.Onboarder) any { return o.ClusterEvents })},
		{Name: "reconcile", Purpose: "the periodic full reconcile (EventBridge schedule)",
			Build: onboardingHandler(func(o *onboarding.Onboarder) any { return o.Reconcile })},
		{Name: "config-change", Purpose: "Cell spec changes from the table's stream",
			Build: onboardingHandler(func(o *onboarding.Onboarder) any { return o.ConfigChange })},
		{Name: "safety-net", Purpose: "rollout executions that FAILED, TIMED_OUT or were ABORTED", Build: buildSafetyNet},
		{Name: "rollout-plan", Purpose: "AcquireLease, NextStep, StartAnalysis, StartBackgroundAnalysis",
			Build: stepsHandler(func(h *steps.Handlers) any { return h.Plan })},
		{Name: "rollout-weights", Purpose: "SetWeights and VerifyWeights",
			Build: stepsHandler(func(h *steps.Handlers) any { return h.Weights })},
		{Name: "rollout-approval", Purpose: "AwaitApproval (keeps the task token)",
			Build: stepsHandler(func(h *steps.Handlers) any { return h.AwaitApproval })},
		{Name: "rollout-rollback", Purpose: "Rollback and Supersede",
			Build: stepsHandler(func(h *steps.Handlers) any { return h.RollbackHandler })},
		{Name: "rollout-finalize", Purpose: "Finalize",
			Build: stepsHandler(func(h *steps.Handlers) any { return h.Finalize })},
		{Name: "check-cloudwatch", Purpose: "CloudWatch analysis measurements", Build: buildCheckCloudWatch},
		{Name: "check-datadog", Purpose: "Datadog analysis measurements", Build: buildCheckDatadog},
	}
}

func onboardingHandler(pick func(*onboarding.Onboarder) any) func(context.Context, functionDeps) (any, error) {
	return func(ctx context.Context, d functionDeps) (any, error) {
		o, err := onboarding.NewFromAWS(ctx, d.Options, d.AWS, d.Logger)
		if err != nil {
			return nil, err
		}
		return pick(o), nil
	}
}

func stepsHandler(pick func(*steps.Handlers) any) func(context.Context, functionDeps) (any, error) {
	return func(_ context.Context, d functionDeps) (any, error) {
		h, err := steps.NewFromConfig(d.AWS, d.Options, d.Logger)
		if err != nil {
			return nil, err
		}
		return pick(h), nil
	}
}

func buildSafetyNet(_ context.Context, d functionDeps) (any, error) {
	net, err := safetynet.NewFromConfig(d.AWS, d.Options, d.Logger)
	if err != nil {
		return nil, err
	}
	return net.Handle, nil
}

func buildCheckCloudWatch(_ context.Context, d functionDeps) (any, error) {
	c, err := checks.NewCloudWatchFromConfig(d.AWS, d.Options, d.Logger)
	if err != nil {
		return nil, err
	}
	return c.Handle, nil
}

func buildCheckDatadog(_ context.Context, d functionDeps) (any, error) {
	if err := d.Options.Validate(options.FieldDatadogSecretARN); err != nil {
		return nil, fmt.Errorf("%w (the Datadog API and application keys are read from that secret)", err)
	}
	c, err := checks.NewDatadogFromConfig(d.AWS, d.Options, d.Logger)
	if err != nil {
		return nil, err
	}
	return c.Handle, nil
}

func (a *App) function(name string) (localFunction, error) {
	name = strings.TrimPrefix(name, "okra-")
	names := make([]string, 0, len(a.functions))
	for _, f := range a.functions {
		if f.Name == name {
			return f, nil
		}
		names = append(names, f.Name)
	}
	slices.Sort(names)
	return localFunction{}, usageErrorf("unknown function %q: okra's functions are %s", name, strings.Join(names, ", "))
}

// functionOptions are the settings the functions read from their
// environment, as the CLI knows them.
func (a *App) functionOptions(endpoint, stateMachineARN string) (options.Options, error) {
	o, err := options.FromEnv(a.getenv)
	if err != nil {
		return o, err
	}
	o.Endpoint, o.TableName, o.StateMachineARN = endpoint, a.tableName(), stateMachineARN
	if a.Options.Region != "" {
		o.Region = a.Options.Region
	}
	return o, nil
}

func newLocalInvokeCommand(app *App) *cobra.Command {
	var eventFile, smARN string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "invoke FUNCTION --event FILE",
		Short: "Run one okra function's handler in-process with an event",
		Long: `Run the real handler of one of okra's Lambda functions in this process,
with the JSON event in --event (the sample events in events/ are ready to
use), against the AWS endpoint given with --endpoint-url (the emulator
"okra local up" runs) or real AWS. It is invoked the way Lambda invokes
it, through okra's local Lambda gateway: the result is printed as JSON,
and a failure as {"errorType", "errorMessage"}, the names Step Functions'
Retry and Catch match, with exit status 1.

Functions: cluster-events, reconcile, config-change, safety-net,
rollout-plan, rollout-weights, rollout-approval, rollout-rollback,
rollout-finalize, check-cloudwatch, check-datadog.`,
		Example: `  # A cluster was created: what does cluster-events do with it?
  okra --endpoint-url http://127.0.0.1:4566 local invoke cluster-events --event events/eks-create-cluster.json

  # The periodic reconcile
  okra --endpoint-url http://127.0.0.1:4566 local invoke reconcile --event events/schedule.json

  # An event from standard input
  echo '{"cell":"web","operation":"NextStep"}' | okra --endpoint-url http://127.0.0.1:4566 local invoke rollout-plan --event -`,
		Args: exactArgs(1, "FUNCTION"),
		RunE: app.runE(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			fn, err := app.function(args[0])
			if err != nil {
				return err
			}
			if eventFile == "" {
				return usageErrorf("no event: give the event's JSON with --event FILE (or --event - for standard input)")
			}
			inputs, err := app.readInputs([]string{eventFile})
			if err != nil {
				return err
			}
			payload := inputs[0].data
			if !json.Valid(payload) {
				return fmt.Errorf("the event in %s is not JSON", inputs[0].name)
			}
			if fn.Build == nil {
				return fmt.Errorf("function %s is not available in this build yet: %s", fn.Name, fn.Pending)
			}
			cfg, err := app.AWS(ctx)
			if err != nil {
				return err
			}
			if smARN == "" {
				smARN = app.getenv(options.EnvStateMachineARN)
			}
			opts, err := app.functionOptions(app.Options.EndpointURL, smARN)
			if err != nil {
				return err
			}
			handler, err := fn.Build(ctx, functionDeps{AWS: cfg, Options: opts, Logger: app.logger()})
			if err != nil {
				return fmt.Errorf("building the %s handler, %w", fn.Name, err)
			}
			return app.invoke(ctx, fn.Name, handler, payload, timeout)
		}),
	}
	cmd.Flags().StringVar(&eventFile, "event", "", `the event, a JSON file ("-" reads standard input)`)
	cmd.Flags().StringVar(&smARN, "state-machine-arn", "", "the rollout state machine the handler starts executions of (default: $"+options.EnvStateMachineARN+")")
	cmd.Flags().DurationVar(&timeout, "timeout", local.DefaultTimeout, "how long the handler may run")
	return cmd
}

// invocationError is a handler's failure as Lambda reports it.
type invocationError struct {
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

// invoke runs handler through okra's local Lambda gateway, in-process, so
// that payload decoding, panics, timeouts and error types are exactly
// Lambda's.
func (a *App) invoke(ctx context.Context, name string, handler any, payload []byte, timeout time.Duration) error {
	upstream := a.Options.EndpointURL
	if upstream == "" {
		upstream = "http://127.0.0.1:0" // never reached: invocations are served in-process
	}
	// The gateway's own warning about a failed invocation would repeat
	// what invoke prints; --verbose shows it.
	gwLog := slog.New(slog.NewTextHandler(io.Discard, nil))
	if a.Options.Verbose {
		gwLog = a.logger()
	}
	gw, err := local.NewGateway(upstream, local.WithLogger(gwLog), local.WithTimeout(timeout))
	if err != nil {
		return err
	}
	defer func() { _ = gw.Close(context.WithoutCancel(ctx)) }()
	if err := gw.Register(name, handler); err != nil {
		return fmt.Errorf("registering the %s handler, %w", name, err)
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/2015-03-31/functions/"+url.PathEscape(name)+"/invocations", bytes.NewReader(payload))
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	if rec.Code != http.StatusOK {
		return fmt.Errorf("invoking %s: HTTP %d: %s", name, rec.Code, bytes.TrimSpace(body))
	}
	if rec.Header().Get("X-Amz-Function-Error") != "" {
		var fe invocationError
		if err := json.Unmarshal(body, &fe); err != nil {
			return fmt.Errorf("invoking %s: unreadable function error %s", name, body)
		}
		if a.Options.Output != OutputTable {
			if err := a.print(fe, nil); err != nil {
				return err
			}
			return errInvalid
		}
		return fmt.Errorf("%s failed: %s: %s", name, fe.ErrorType, fe.ErrorMessage)
	}
	var result any
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("null")
	}
	if err := json.Unmarshal(body, &result); err != nil {
		return fmt.Errorf("invoking %s: the result is not JSON: %s", name, body)
	}
	if a.Options.Output == OutputYAML {
		return a.print(result, nil)
	}
	// JSON as the handler returned it (table output is JSON too: a
	// handler's result has no table form).
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = a.Out.Write(out.Bytes())
	return err
}

// localDeployer puts okra into a running local stack: the table, the
// rollout state machine and the function handlers.
type localDeployer func(ctx context.Context, stack *local.Stack, o localDeployOptions) (localDeployment, error)

type localDeployOptions struct {
	Table  string
	Logger *slog.Logger
	// Options are the functions' settings (endpoint, table, ...).
	Options options.Options
}

// localDeployment is what `okra local up` reports.
type localDeployment struct {
	Endpoint        string   `json:"endpoint"`
	Region          string   `json:"region"`
	Table           string   `json:"table"`
	StateMachineARN string   `json:"stateMachineArn,omitempty"`
	Functions       []string `json:"functions"`
	// Missing says what could not be deployed, and why.
	Missing []string `json:"missing,omitempty"`
}

// deployOkra deploys okra with internal/local's Deploy (table, state
// machine, the state machine's handlers, the safety net), with the
// checks, and registers the cluster handlers (cluster-events, reconcile,
// config-change) under okra-NAME so that they can be invoked through the
// endpoint too. A Datadog measurement needs a Datadog secret; without one
// it records that no keys are configured.
func deployOkra(ctx context.Context, stack *local.Stack, o localDeployOptions) (localDeployment, error) {
	dep := localDeployment{Endpoint: stack.Endpoint, Region: local.DefaultRegion, Table: o.Table}
	cfg, err := stack.Config(ctx, nil)
	if err != nil {
		return dep, err
	}
	fd := functionDeps{AWS: cfg, Options: o.Options, Logger: o.Logger}
	fd.Options.TableName = o.Table
	// local.Deploy registers the rollout handlers with the analysis
	// starter and both checks, as the deployed functions build them.
	okra, err := local.Deploy(ctx, stack, local.OkraOptions{TableName: o.Table, Logger: o.Logger})
	if err != nil {
		return dep, err
	}
	dep.StateMachineARN = okra.StateMachineARN
	for name := range okra.FunctionARNs {
		if name != local.FunctionCheckDatadog {
			dep.Functions = append(dep.Functions, name)
		}
	}
	dep.Missing = append(dep.Missing, local.FunctionCheckDatadog+": needs a Datadog secret (Datadog analysis steps fail locally)")

	fd.Options.StateMachineARN = okra.StateMachineARN
	for _, name := range []string{"cluster-events", "reconcile", "config-change"} {
		fn := defaultFunctions()
		i := slices.IndexFunc(fn, func(f localFunction) bool { return f.Name == name })
		h, err := fn[i].Build(ctx, fd)
		if err == nil {
			err = stack.Gateway.Register("okra-"+name, h)
		}
		if err != nil {
			dep.Missing = append(dep.Missing, fmt.Sprintf("okra-%s: %v", name, err))
			continue
		}
		dep.Functions = append(dep.Functions, "okra-"+name)
	}
	slices.Sort(dep.Functions)
	return dep, nil
}

// DefaultLocalPort is where `okra local up` serves unless --port says
// otherwise.
const DefaultLocalPort = 4566

func newLocalUpCommand(app *App) *cobra.Command {
	var port int
	cmd := &cobra.Command{
		Use:   "up [--port PORT]",
		Short: "Start the AWS emulator with okra deployed into it, until Ctrl-C",
		Long: `Start moto (the AWS emulator, installed by "make emulator") behind okra's
local Lambda gateway, deploy okra into it (its DynamoDB table, the
rollout state machine and the function handlers, which run in this
process), print the endpoint to use as --endpoint-url with the table
name and state machine ARN, and run until Ctrl-C, then stop everything.

Run it inside the okra checkout: the state machine's definition is read
from statemachines/rollout.asl.json there, and moto is found through
$` + testenv.MotoServerEnv + `, else .venv/bin/moto_server ("make emulator" installs it).
The cluster handlers are registered as okra-cluster-events, okra-reconcile
and okra-config-change (invoke them through the endpoint, or with "okra
local invoke"); Datadog checks need a Datadog secret and are left out.
Everything lives in memory and is gone after Ctrl-C.`,
		Example: `  # In one terminal
  okra local up

  # In another
  export AWS_REGION=us-east-1
  okra --endpoint-url http://127.0.0.1:4566 cell apply -f examples/alb-basic.yaml
  okra --endpoint-url http://127.0.0.1:4566 rollout status web --watch

  # On another port (0 picks a free one)
  okra local up --port 0`,
		Args: cobra.NoArgs,
		RunE: app.runE(func(cmd *cobra.Command, _ []string) error {
			if port < 0 || port > 65535 {
				return usageErrorf("--port must be 0..65535, got %d", port)
			}
			return app.localUp(cmd.Context(), port)
		}),
	}
	cmd.Flags().IntVar(&port, "port", DefaultLocalPort, "port of the endpoint on 127.0.0.1 (0 picks a free one)")
	return cmd
}

func (a *App) localUp(ctx context.Context, port int) error {
	var motoLog io.Writer
	if a.Options.Verbose {
		motoLog = a.Err
	}
	stack, err := local.Start(ctx, local.Options{Port: port, Logger: a.logger(), MotoLog: motoLog})
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if err := stack.Stop(stopCtx); err != nil {
			fmt.Fprintf(a.Err, "okra: stopping the local stack: %v\n", err)
		}
	}()
	opts, err := a.functionOptions(stack.Endpoint, "")
	if err != nil {
		return err
	}
	opts.Region = local.DefaultRegion
	dep, err := a.deploy(ctx, stack, localDeployOptions{Table: a.tableName(), Logger: a.logger(), Options: opts})
	if err != nil {
		return fmt.Errorf("deploying okra into the local stack, %w", err)
	}
	if err := a.print(dep, func(w io.Writer) error { return renderLocalUp(w, dep) }); err != nil {
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(a.Err, "okra: stopping the local stack")
	return nil
}

// renderLocalUp writes what `okra local up` started and how to use it.
func renderLocalUp(w io.Writer, dep localDeployment) error {
	var b strings.Builder
	b.WriteString("okra is running locally: moto behind okra's Lambda gateway.\n\n")
	fmt.Fprintf(&b, "  endpoint:       %s\n", dep.Endpoint)
	fmt.Fprintf(&b, "  region:         %s\n", dep.Region)
	fmt.Fprintf(&b, "  table:          %s\n", dep.Table)
	sm := dep.StateMachineARN
	if sm == "" {
		sm = "(not deployed)"
	}
	fmt.Fprintf(&b, "  state machine:  %s\n", sm)
	fmt.Fprintf(&b, "  functions:      %s\n", strings.Join(dep.Functions, ", "))
	for _, m := range dep.Missing {
		fmt.Fprintf(&b, "  missing:        %s\n", m)
	}
	b.WriteString("\nUse it from another terminal:\n\n")
	fmt.Fprintf(&b, "  export AWS_REGION=%s %s=%s\n", dep.Region, options.EnvTableName, dep.Table)
	if dep.StateMachineARN != "" {
		fmt.Fprintf(&b, "  export %s=%s\n", options.EnvStateMachineARN, dep.StateMachineARN)
	}
	fmt.Fprintf(&b, "  okra --endpoint-url %s cell apply -f examples/alb-basic.yaml\n", dep.Endpoint)
	fmt.Fprintf(&b, "  okra --endpoint-url %s rollout status web --watch\n", dep.Endpoint)
	b.WriteString("\nPress Ctrl-C to stop.\n")
	_, err := io.WriteString(w, b.String())
	return err
}
