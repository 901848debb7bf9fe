package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// stackID is the stack's construct ID and, by default, its CloudFormation
// name.
const stackID = "Okra"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "okra infra:", err)
		os.Exit(1)
	}
}

// contextFlags collects repeated -c KEY=VALUE flags.
type contextFlags map[string]string

func (c contextFlags) String() string { return fmt.Sprint(map[string]string(c)) }

func (c contextFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	c[k] = val
	return nil
}

// run synthesizes the app. Under the CDK CLI (cdk.json) the context and
// output directory come from the CLI; run directly (`make synth`), -c and
// -o stand in for them.
func run(args []string) error {
	flags := flag.NewFlagSet("infra", flag.ContinueOnError)
	ctx := contextFlags{}
	flags.Var(ctx, "c", "context value KEY=VALUE, as `cdk -c` (repeatable)")
	outdir := flags.String("o", "", "cloud assembly directory (default: the CLI's, else cdk.out)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	defer jsii.Close()

	appProps := &awscdk.AppProps{}
	switch {
	case *outdir != "":
		appProps.Outdir = outdir
	case os.Getenv("CDK_OUTDIR") == "":
		appProps.Outdir = jsii.String("cdk.out")
	}
	if len(ctx) > 0 {
		m := map[string]interface{}{}
		for k, v := range ctx {
			m[k] = v
		}
		appProps.Context = &m
	}
	app := awscdk.NewApp(appProps)
	get := func(key string) string { return contextString(app.Node().TryGetContext(jsii.String(key))) }

	props, err := PropsFromContext(get)
	if err != nil {
		return err
	}
	root, err := findRepoRoot()
	if err != nil {
		return err
	}
	props.RepoRoot = root
	warnings := []string{}
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	switch {
	case get(ctxPlaceholderCode) == "true":
		props.Code = PlaceholderCode{Dir: filepath.Join(root, "infra", ".build", "placeholder")}
		warn("context %s=true: every function gets placeholder code that fails when invoked; do not deploy this assembly", ctxPlaceholderCode)
	case get(ctxFunctionsDir) != "":
		props.Code = BootstrapCode{RepoRoot: root, PrebuiltDir: get(ctxFunctionsDir), Warn: warn}
	default:
		props.Code = BootstrapCode{RepoRoot: root, Warn: warn}
	}
	if err := props.Validate(); err != nil {
		return err
	}
	stack, err := newStack(app, &props)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		awscdk.Annotations_Of(stack.Stack).AddWarningV2(jsii.String("okra:code"), jsii.String(w))
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)

	assembly := app.Synth(nil)
	return assemblyErrors(assembly)
}

// newStack is NewOkraStack with its panic (invalid props, a function that
// does not build) returned as an error.
func newStack(app awscdk.App, props *OkraStackProps) (s *OkraStack, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return NewOkraStack(app, stackID, props), nil
}

// assemblyErrors returns the error annotations (cdk-nag findings among
// them) of every stack, as the CDK CLI would refuse to deploy them.
func assemblyErrors(assembly cxapi.CloudAssembly) error {
	var problems []string
	for _, st := range *assembly.Stacks() {
		for _, m := range *st.Messages() {
			if m.Level == cxapi.SynthesisMessageLevel_ERROR {
				problems = append(problems, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return errors.New("synthesis reported errors:\n  " + strings.Join(problems, "\n  "))
}

// contextString renders a context value as the string PropsFromContext
// reads; a list (cdk.json) becomes comma-separated.
func contextString(v interface{}) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []interface{}:
		parts := make([]string, 0, len(v))
		for _, x := range v {
			parts = append(parts, contextString(x))
		}
		return strings.Join(parts, ",")
	case float64:
		return strings.TrimSuffix(fmt.Sprintf("%f", v), ".000000")
	default:
		return fmt.Sprint(v)
	}
}

// findRepoRoot walks up from the working directory to the directory that
// holds the state machine definition.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, aslPath)); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no %s above the working directory: run the app from the okra repository", aslPath)
		}
		dir = parent
	}
}
