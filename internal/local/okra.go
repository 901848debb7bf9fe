package local

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/analysis/cloudwatch"
	"github.com/okrahq/okra/internal/analysis/datadog"
	"github.com/okrahq/okra/internal/awsapi"
	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/gate"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/safetynet"
	"github.com/okrahq/okra/internal/steps"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
)

// Function names okra deploys: "okra-" + the function's directory under
// functions/, as the CDK stack names them.
const (
	FunctionRolloutPlan     = "okra-rollout-plan"
	FunctionRolloutWeights  = "okra-rollout-weights"
	FunctionRolloutApproval = "okra-rollout-approval"
	FunctionRolloutRollback = "okra-rollout-rollback"
	FunctionRolloutFinalize = "okra-rollout-finalize"
	FunctionCheckCloudWatch = "okra-check-cloudwatch"
	FunctionCheckDatadog    = "okra-check-datadog"
	FunctionSafetyNet       = "okra-safety-net"
)

// Substitutions of the rollout definition (statemachines/rollout.asl.json)
// and the function each names.
var rolloutSubstitutions = map[string]string{
	"RolloutPlanFunctionArn":     FunctionRolloutPlan,
	"RolloutWeightsFunctionArn":  FunctionRolloutWeights,
	"RolloutApprovalFunctionArn": FunctionRolloutApproval,
	"RolloutRollbackFunctionArn": FunctionRolloutRollback,
	"RolloutFinalizeFunctionArn": FunctionRolloutFinalize,
	"CheckCloudWatchFunctionArn": FunctionCheckCloudWatch,
	"CheckDatadogFunctionArn":    FunctionCheckDatadog,
}

// Defaults of OkraOptions.
const (
	DefaultTableName        = "okra"
	DefaultStateMachineName = "okra-rollout"
	// RolloutDefinitionPath is the rollout definition, relative to the
	// module root.
	RolloutDefinitionPath = "statemachines/rollout.asl.json"
)

// OkraOptions configure Deploy. The zero value deploys with the defaults.
type OkraOptions struct {
	// TableName of okra's DynamoDB table (default DefaultTableName).
	TableName string
	// StateMachineName of the rollout state machine (default
	// DefaultStateMachineName).
	StateMachineName string
	// Definition is the rollout definition with its ${...} placeholders;
	// nil reads RolloutDefinitionPath under the module root.
	Definition []byte
	// NotificationTopicARN receives rollout notifications; empty logs
	// them only.
	NotificationTopicARN string
	// Now is the handlers' clock (default time.Now).
	Now func() time.Time
	// Logger for the handlers (default slog.Default()).
	Logger *slog.Logger
	// Analysis starts analysis runs for rollout-plan; nil means
	// internal/checks' Starter over the deployment's store and discovery.
	Analysis steps.AnalysisStarter
	// Checks replace the check-cloudwatch and check-datadog handlers, by
	// function name (FunctionCheckCloudWatch, FunctionCheckDatadog). By
	// default they are internal/checks' Checkers: CloudWatch through the
	// gateway to moto, Datadog with DatadogProvider.
	Checks map[string]any
	// DatadogProvider measures Datadog metrics for the default
	// check-datadog; nil means the Datadog API with the keys in
	// DatadogSecretARN (none locally: every Datadog measurement then
	// records that no keys are configured).
	DatadogProvider analysis.Provider
	// DatadogSecretARN holds the Datadog keys for the default provider.
	DatadogSecretARN string
	// BackgroundPoll caps a background analysis' wait between checks
	// (checks.Options.BackgroundPoll; default its own).
	BackgroundPoll time.Duration
}

// Okra is okra deployed into a local stack: its table, its functions on
// the gateway and the rollout state machine in moto.
type Okra struct {
	Stack *Stack
	// AWS is okra's AWS configuration pointed at the gateway.
	AWS             awsapi.Config
	TableName       string
	StateMachineARN string
	Store           *store.Store
	// Handlers are the rollout handlers registered on the gateway.
	Handlers *steps.Handlers
	// SafetyNet is the safety-net handler (also registered, as
	// FunctionSafetyNet; moto does not deliver EventBridge events to
	// Lambda, so call it directly or invoke it).
	SafetyNet *safetynet.Handler
	// Gate promotes, aborts and retries rollouts.
	Gate *gate.Gate
	// FunctionARNs maps each function name to its ARN on the gateway.
	FunctionARNs map[string]string
}

// FunctionARN returns the ARN under which the gateway serves name.
func FunctionARN(name string) string { return FunctionRef{Name: name}.ARN() }

// Deploy puts okra into a started local stack: it creates the DynamoDB
// table (store.CreateTable, so the schema is the stack's), registers every
// handler on the gateway under its function name, and creates (or
// updates) the rollout state machine from the definition with its
// ${...Arn} placeholders replaced by the gateway's function ARNs.
func Deploy(ctx context.Context, s *Stack, o OkraOptions) (*Okra, error) {
	if o.TableName == "" {
		o.TableName = DefaultTableName
	}
	if o.StateMachineName == "" {
		o.StateMachineName = DefaultStateMachineName
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg, err := s.Config(ctx, nil)
	if err != nil {
		return nil, err
	}
	if err := store.CreateTable(ctx, cfg.DynamoDB(), o.TableName); err != nil {
		return nil, err
	}
	definition := o.Definition
	if definition == nil {
		if definition, err = readDefinition(); err != nil {
			return nil, err
		}
	}
	arns := map[string]string{}
	for _, fn := range []string{FunctionRolloutPlan, FunctionRolloutWeights, FunctionRolloutApproval, FunctionRolloutRollback,
		FunctionRolloutFinalize, FunctionCheckCloudWatch, FunctionCheckDatadog, FunctionSafetyNet} {
		arns[fn] = FunctionARN(fn)
	}
	def, err := Substitute(string(definition), arns)
	if err != nil {
		return nil, err
	}
	machine, err := putStateMachine(ctx, cfg.SFN(), o.StateMachineName, def)
	if err != nil {
		return nil, err
	}

	deps, err := steps.DepsFromConfig(cfg, options.Options{TableName: o.TableName, NotificationTopicARN: o.NotificationTopicARN}, log)
	if err != nil {
		return nil, err
	}
	st := store.New(cfg.DynamoDB(), o.TableName, store.Options{Logger: log, Now: o.Now})
	deps.Store, deps.Now, deps.Analysis = st, o.Now, o.Analysis
	if deps.Analysis == nil {
		starter, err := checks.NewStarter(checks.Options{
			Store: st, Discovery: discovery.NewTargetGroups(cfg.ELBv2(), cfg.Tagging(), discovery.Options{Logger: log}),
			Now: o.Now, Logger: log, BackgroundPoll: o.BackgroundPoll,
		})
		if err != nil {
			return nil, err
		}
		deps.Analysis = starter
	}
	h, err := steps.New(deps)
	if err != nil {
		return nil, err
	}
	net, err := safetynet.New(safetynet.Deps{Recoverer: h, Executions: cfg.SFN(), StateMachineARN: machine, Logger: log})
	if err != nil {
		return nil, err
	}
	owners, err := safetynet.NewOwners(h, cfg.SFN(), log)
	if err != nil {
		return nil, err
	}
	g, err := gate.New(gate.Deps{Store: st, SFN: cfg.SFN(), StateMachineARN: machine, Actor: "okra-local", Owners: owners, Now: o.Now, Logger: log})
	if err != nil {
		return nil, err
	}
	functions := map[string]any{
		FunctionRolloutPlan:     h.Plan,
		FunctionRolloutWeights:  h.Weights,
		FunctionRolloutApproval: h.AwaitApproval,
		FunctionRolloutRollback: h.RollbackHandler,
		FunctionRolloutFinalize: h.Finalize,
		FunctionSafetyNet:       net.Handle,
	}
	checkers, err := defaultCheckers(cfg, st, o, log)
	if err != nil {
		return nil, err
	}
	for fn, handler := range checkers {
		functions[fn] = handler
	}
	for fn, handler := range o.Checks {
		functions[fn] = handler
	}
	for name, handler := range functions {
		if err := s.Gateway.Register(name, handler); err != nil {
			return nil, err
		}
	}
	return &Okra{
		Stack: s, AWS: cfg, TableName: o.TableName, StateMachineARN: machine, Store: st,
		Handlers: h, SafetyNet: net, Gate: g, FunctionARNs: arns,
	}, nil
}

// defaultCheckers builds the check-cloudwatch and check-datadog handlers
// as their functions do: a Starter without discovery (the check functions
// read no load balancers) and one provider each.
func defaultCheckers(cfg awsapi.Config, st *store.Store, o OkraOptions, log *slog.Logger) (map[string]any, error) {
	starter, err := checks.NewStarter(checks.Options{Store: st, Now: o.Now, Logger: log, BackgroundPoll: o.BackgroundPoll})
	if err != nil {
		return nil, err
	}
	cw, err := checks.NewChecker(starter, analysis.KindCloudWatch, cloudwatch.New(cfg.CloudWatch()))
	if err != nil {
		return nil, err
	}
	provider := o.DatadogProvider
	if provider == nil {
		dd, err := datadog.New(datadog.Options{Keys: datadog.NewSecretKeys(cfg.SecretsManager(), o.DatadogSecretARN)})
		if err != nil {
			return nil, fmt.Errorf("building the Datadog provider, %w", err)
		}
		provider = dd
	}
	dd, err := checks.NewChecker(starter, analysis.KindDatadog, provider)
	if err != nil {
		return nil, err
	}
	return map[string]any{FunctionCheckCloudWatch: cw.Handle, FunctionCheckDatadog: dd.Handle}, nil
}

var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9]+)\}`)

// Substitute replaces the rollout definition's ${...FunctionArn}
// placeholders with the ARNs of the functions they name (arns: function
// name → ARN). A placeholder it does not know is an error, so a
// definition and this list cannot drift apart silently.
func Substitute(definition string, arns map[string]string) (string, error) {
	var unknown []string
	out := placeholder.ReplaceAllStringFunc(definition, func(m string) string {
		key := placeholder.FindStringSubmatch(m)[1]
		fn, ok := rolloutSubstitutions[key]
		if !ok {
			unknown = append(unknown, key)
			return m
		}
		arn, ok := arns[fn]
		if !ok {
			unknown = append(unknown, key)
			return m
		}
		return arn
	})
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return "", fmt.Errorf("substituting the rollout definition: no function for %s", strings.Join(unknown, ", "))
	}
	return out, nil
}

// readDefinition reads the rollout definition from the module root.
func readDefinition() ([]byte, error) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		return nil, fmt.Errorf("finding %s, %w", RolloutDefinitionPath, err)
	}
	b, err := os.ReadFile(filepath.Join(root, RolloutDefinitionPath))
	if err != nil {
		return nil, fmt.Errorf("reading the rollout definition, %w", err)
	}
	return b, nil
}

// putStateMachine creates the state machine, or updates the definition of
// the one already there under that name, and returns its ARN.
func putStateMachine(ctx context.Context, api *sfn.Client, name, definition string) (string, error) {
	out, err := api.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String(name),
		Definition: aws.String(definition),
		RoleArn:    aws.String(testenv.RoleARN),
	})
	if err == nil {
		return aws.ToString(out.StateMachineArn), nil
	}
	if awsapi.Code(err) != "StateMachineAlreadyExists" {
		return "", fmt.Errorf("creating state machine %s, %w", name, err)
	}
	arn := fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", DefaultRegion, DefaultAccountID, name)
	if _, err := api.UpdateStateMachine(ctx, &sfn.UpdateStateMachineInput{StateMachineArn: aws.String(arn), Definition: aws.String(definition)}); err != nil {
		return "", fmt.Errorf("updating state machine %s, %w", name, err)
	}
	return arn, nil
}
