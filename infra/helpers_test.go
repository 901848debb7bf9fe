package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// The stack is synthesized once per test binary (jsii and synthesis take
// seconds); tests only read it.

func TestMain(m *testing.M) {
	// Node 20 works; jsii only warns that it is out of support.
	if os.Getenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION") == "" {
		os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
	}
	code := m.Run()
	jsii.Close()
	for _, dir := range cleanup {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

var cleanup []string

// synthesized is one synthesized stack.
type synthesized struct {
	props    OkraStackProps
	stack    *OkraStack
	template assertions.Template
	// tmpl is the template as JSON data.
	tmpl map[string]any
}

var (
	synthOnce sync.Once
	synthMain *synthesized
	synthErr  any

	altOnce  sync.Once
	synthAlt *synthesized
	altErr   any
)

// testProps are the props of the main test stack: every optional value
// that changes the template is set, so the golden file shows it.
func testProps(code CodeSource) OkraStackProps {
	return OkraStackProps{
		Code:                         code,
		ControlPlaneClusterName:      "control-plane",
		ClusterRoleArn:               "arn:aws:iam::123456789012:role/argocd-member-clusters",
		ReconcileReservedConcurrency: defaultReconcileConcurrency,
		NotificationEmail:            "platform-team@example.com",
	}
}

// altProps reuse a secret, scope listeners and leave reconcile
// unreserved.
func altProps(code CodeSource) OkraStackProps {
	return OkraStackProps{
		Code: code,
		// No control-plane cluster: okra runs without ArgoCD.
		ArgoCDNamespace:  "gitops",
		DatadogSite:      "datadoghq.eu",
		DatadogSecretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:okra/datadog-AbC123",
		ListenerArns: []string{
			"arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/0123456789abcdef/fedcba9876543210",
			"arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/net/tcp/0123456789abcdef/0011223344556677",
		},
		ReconcileSchedule:    "rate(10 minutes)",
		ClusterActiveTimeout: 12 * time.Minute,
		LogRetentionDays:     90,
		TableName:            "okra-staging",
		// One customer-managed key for the table, logs, environment.
		CustomerManagedKey: true,
	}
}

func synth(props OkraStackProps) (s *synthesized, failure any) {
	defer func() {
		if r := recover(); r != nil {
			failure = r
		}
	}()
	dir, err := os.MkdirTemp("", "okra-placeholder-")
	if err != nil {
		return nil, err
	}
	cleanup = append(cleanup, dir)
	props.Code = PlaceholderCode{Dir: dir}
	props.RepoRoot = ".."
	app := awscdk.NewApp(nil)
	stack := NewOkraStack(app, stackID, &props)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Reports: jsii.Bool(false)}), nil)
	tpl := assertions.Template_FromStack(stack.Stack, nil)
	b, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &synthesized{props: props, stack: stack, template: tpl, tmpl: m}, nil
}

// mainStack returns the stack synthesized from testProps.
func mainStack(t *testing.T) *synthesized {
	t.Helper()
	synthOnce.Do(func() { synthMain, synthErr = synth(testProps(nil)) })
	if synthErr != nil {
		t.Fatalf("synthesizing the stack: %v", synthErr)
	}
	return synthMain
}

// altStack returns the stack synthesized from altProps.
func altStack(t *testing.T) *synthesized {
	t.Helper()
	altOnce.Do(func() { synthAlt, altErr = synth(altProps(nil)) })
	if altErr != nil {
		t.Fatalf("synthesizing the alternative stack: %v", altErr)
	}
	return synthAlt
}

// must runs an assertions call, turning its panic (a failed match) into
// a test error.
func must(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

// resource is one template resource.
type resource struct {
	ID         string
	Type       string
	Properties map[string]any
	Raw        map[string]any
}

func (s *synthesized) resources(typ string) []resource {
	var out []resource
	res, _ := s.tmpl["Resources"].(map[string]any)
	for _, id := range sortedKeys(res) {
		r := res[id].(map[string]any)
		if r["Type"] != typ {
			continue
		}
		props, _ := r["Properties"].(map[string]any)
		out = append(out, resource{ID: id, Type: typ, Properties: props, Raw: r})
	}
	return out
}

func (s *synthesized) resource(id string) resource {
	res, _ := s.tmpl["Resources"].(map[string]any)
	r, ok := res[id].(map[string]any)
	if !ok {
		return resource{}
	}
	props, _ := r["Properties"].(map[string]any)
	typ, _ := r["Type"].(string)
	return resource{ID: id, Type: typ, Properties: props, Raw: r}
}

// function returns the Lambda function deployed as okra-<name>.
func (s *synthesized) function(t *testing.T, name string) resource {
	t.Helper()
	for _, r := range s.resources("AWS::Lambda::Function") {
		if r.Properties["FunctionName"] == "okra-"+name {
			return r
		}
	}
	t.Fatalf("no function okra-%s in the template", name)
	return resource{}
}

// getAttID returns X of {"Fn::GetAtt": [X, attr]}, or "".
func getAttID(v any, attr string) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	ga, ok := m["Fn::GetAtt"].([]any)
	if !ok || len(ga) != 2 || ga[1] != attr {
		return ""
	}
	id, _ := ga[0].(string)
	return id
}

// refID returns X of {"Ref": X}, or "".
func refID(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	id, _ := m["Ref"].(string)
	return id
}

// policyStatement is one statement as the template has it.
type policyStatement struct {
	Sid       string
	Actions   []string
	Resources []any
	Condition map[string]any
	Effect    string
	Principal any
}

func statementsOf(doc any) []policyStatement {
	m, _ := doc.(map[string]any)
	list, _ := m["Statement"].([]any)
	var out []policyStatement
	for _, raw := range list {
		st := raw.(map[string]any)
		ps := policyStatement{Actions: stringsOf(st["Action"]), Resources: listOf(st["Resource"]), Principal: st["Principal"]}
		ps.Sid, _ = st["Sid"].(string)
		ps.Effect, _ = st["Effect"].(string)
		ps.Condition, _ = st["Condition"].(map[string]any)
		out = append(out, ps)
	}
	return out
}

func listOf(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return v
	default:
		return []any{v}
	}
}

func stringsOf(v any) []string {
	var out []string
	for _, x := range listOf(v) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// roleStatements returns the statements of every identity policy attached
// to the role (AWS::IAM::Policy naming it, and the role's inline
// policies).
func (s *synthesized) roleStatements(roleID string) []policyStatement {
	var out []policyStatement
	for _, p := range s.resources("AWS::IAM::Policy") {
		for _, r := range listOf(p.Properties["Roles"]) {
			if refID(r) == roleID {
				out = append(out, statementsOf(p.Properties["PolicyDocument"])...)
			}
		}
	}
	for _, inline := range listOf(s.resource(roleID).Properties["Policies"]) {
		out = append(out, statementsOf(inline.(map[string]any)["PolicyDocument"])...)
	}
	return out
}

// functionRoleID returns the logical ID of the function's role.
func (s *synthesized) functionRoleID(t *testing.T, name string) string {
	t.Helper()
	id := getAttID(s.function(t, name).Properties["Role"], "Arn")
	if id == "" {
		t.Fatalf("okra-%s: role is not a role of this stack", name)
	}
	return id
}

func actionSet(stmts []policyStatement) []string {
	set := map[string]bool{}
	for _, st := range stmts {
		for _, a := range st.Actions {
			set[a] = true
		}
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// diffSets returns what is in got but not want, and in want but not got.
func diffSets(got, want []string) (extra, missing []string) {
	g, w := map[string]bool{}, map[string]bool{}
	for _, x := range got {
		g[x] = true
	}
	for _, x := range want {
		w[x] = true
	}
	for _, x := range got {
		if !w[x] {
			extra = append(extra, x)
		}
	}
	for _, x := range want {
		if !g[x] {
			missing = append(missing, x)
		}
	}
	return extra, missing
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var x, y any
	_ = json.Unmarshal(ja, &x)
	_ = json.Unmarshal(jb, &y)
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

func mustJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return string(b)
}

// repoFile is a path in the repository, from infra/.
func repoFile(parts ...string) string {
	return filepath.Join(append([]string{".."}, parts...)...)
}

// updateGolden says whether to rewrite golden files instead of comparing.
func updateGolden() bool { return os.Getenv("UPDATE_GOLDEN") == "1" }

func containsString(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func hasPrefixAny(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
