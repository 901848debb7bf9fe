package main

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/okrahq/okra/internal/events"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/store"
)

func TestResourceCounts(t *testing.T) {
	s := mainStack(t)
	for typ, n := range map[string]int{
		"AWS::DynamoDB::Table":             1,
		"AWS::Lambda::Function":            len(functions),
		"AWS::Logs::LogGroup":              len(functions) + 1,
		"AWS::IAM::Role":                   len(functions) + 1,
		"AWS::StepFunctions::StateMachine": 1,
		"AWS::Events::Rule":                3,
		"AWS::Lambda::EventSourceMapping":  1,
		"AWS::SQS::Queue":                  4,
		"AWS::SNS::Topic":                  1,
		"AWS::SNS::Subscription":           1,
		"AWS::KMS::Key":                    1,
		"AWS::SecretsManager::Secret":      1,
		// failed, timed out, aborted; errors and throttles per function;
		// one per dead-letter queue; the stream's iterator age.
		"AWS::CloudWatch::Alarm": 3 + 2*len(functions) + 4 + 1,
	} {
		must(t, typ, func() { s.template.ResourceCountIs(jsii.String(typ), jsii.Number(float64(n))) })
	}
}

// TestTable checks the table against store.Schema() and against the
// CreateTable request local runs use, so the two cannot disagree.
func TestTable(t *testing.T) {
	s := mainStack(t)
	tables := s.resources("AWS::DynamoDB::Table")
	if len(tables) != 1 {
		t.Fatalf("want one table, got %d", len(tables))
	}
	tb := tables[0]
	schema := store.Schema()
	def := store.TableDefinition("okra")
	p := tb.Properties

	if p["TableName"] != "okra" {
		t.Errorf("TableName = %v, want okra (the default)", p["TableName"])
	}
	if p["BillingMode"] != string(schema.BillingMode) {
		t.Errorf("BillingMode = %v, want %s", p["BillingMode"], schema.BillingMode)
	}
	if !jsonEqual(p["KeySchema"], def.KeySchema) {
		t.Errorf("KeySchema = %s, want %s", mustJSON(p["KeySchema"]), mustJSON(def.KeySchema))
	}
	if !sameElements(p["AttributeDefinitions"], def.AttributeDefinitions) {
		t.Errorf("AttributeDefinitions = %s, want %s", mustJSON(p["AttributeDefinitions"]), mustJSON(def.AttributeDefinitions))
	}
	if !jsonEqual(p["GlobalSecondaryIndexes"], dropNulls(def.GlobalSecondaryIndexes)) {
		t.Errorf("GlobalSecondaryIndexes = %s, want %s", mustJSON(p["GlobalSecondaryIndexes"]), mustJSON(def.GlobalSecondaryIndexes))
	}
	want := map[string]any{
		"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": schema.PointInTimeRecovery},
		"SSESpecification":                 map[string]any{"SSEEnabled": schema.Encrypted},
		"StreamSpecification":              map[string]any{"StreamViewType": string(schema.StreamView)},
		"TimeToLiveSpecification":          map[string]any{"AttributeName": schema.TTLAttribute, "Enabled": true},
		"DeletionProtectionEnabled":        true,
	}
	for k, v := range want {
		if !jsonEqual(p[k], v) {
			t.Errorf("%s = %s, want %s", k, mustJSON(p[k]), mustJSON(v))
		}
	}
	if !schema.PointInTimeRecovery || !schema.Encrypted {
		t.Errorf("store.Schema() turned off point-in-time recovery or encryption; DESIGN.md requires both")
	}
	for _, k := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
		if tb.Raw[k] != "Retain" {
			t.Errorf("table %s = %v, want Retain", k, tb.Raw[k])
		}
	}
}

// dropNulls returns v as JSON data without null members (unset SDK
// fields).
func dropNulls(v any) any {
	raw, _ := json.Marshal(v)
	var data any
	_ = json.Unmarshal(raw, &data)
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			for k, v := range x {
				if v == nil {
					delete(x, k)
				} else {
					x[k] = walk(v)
				}
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		}
		return x
	}
	return walk(data)
}

// sameElements compares two JSON arrays as multisets.
func sameElements(a, b any) bool {
	norm := func(v any) []string {
		raw, _ := json.Marshal(v)
		var list []any
		_ = json.Unmarshal(raw, &list)
		var out []string
		for _, x := range list {
			j, _ := json.Marshal(x)
			out = append(out, string(j))
		}
		sort.Strings(out)
		return out
	}
	return strings.Join(norm(a), "\n") == strings.Join(norm(b), "\n")
}

// fakeEnv resolves a function's environment the way CloudFormation would,
// with stand-ins for intrinsics.
func fakeEnv(vars map[string]any) func(string) string {
	return func(k string) string {
		switch v := vars[k].(type) {
		case nil:
			return ""
		case string:
			return v
		default:
			switch k {
			case options.EnvTableName:
				return "okra"
			default:
				return "arn:aws:service:us-east-1:123456789012:resolved"
			}
		}
	}
}

func TestFunctions(t *testing.T) {
	s := mainStack(t)
	known := []string{
		options.EnvTableName, options.EnvStateMachineARN, options.EnvArgoCDNamespace, options.EnvControlPlaneCluster,
		options.EnvClusterRoleARN, options.EnvDatadogSecretARN, options.EnvDatadogSite, options.EnvNotificationTopicARN,
		options.EnvClusterActiveTimeout, options.EnvListenerOptIn, options.EnvListenerARNs,
	}
	for _, f := range functions {
		t.Run(f.Name, func(t *testing.T) {
			fn := s.function(t, f.Name)
			p := fn.Properties
			checks := map[string]any{
				"Runtime":       "provided.al2023",
				"Architectures": []any{"arm64"},
				"Handler":       "bootstrap",
				"TracingConfig": map[string]any{"Mode": "Active"},
				"MemorySize":    float64(f.MemoryMB),
				"Timeout":       f.Timeout(s.props.withDefaults()).Seconds(),
			}
			for k, v := range checks {
				if !jsonEqual(p[k], v) {
					t.Errorf("%s = %s, want %s", k, mustJSON(p[k]), mustJSON(v))
				}
			}
			lc, _ := p["LoggingConfig"].(map[string]any)
			if lc["LogFormat"] != "JSON" {
				t.Errorf("LoggingConfig.LogFormat = %v, want JSON", lc["LogFormat"])
			}
			lg := s.resource(refID(lc["LogGroup"]))
			if lg.Type != "AWS::Logs::LogGroup" {
				t.Fatalf("LoggingConfig.LogGroup is not a log group of the stack: %v", lc["LogGroup"])
			}
			if lg.Properties["LogGroupName"] != "/aws/lambda/okra-"+f.Name || lg.Properties["RetentionInDays"] != float64(defaultLogRetentionDays) {
				t.Errorf("log group = %s, want /aws/lambda/okra-%s kept %d days", mustJSON(lg.Properties), f.Name, defaultLogRetentionDays)
			}
			rc, reserved := p["ReservedConcurrentExecutions"]
			switch f.Name {
			case "reconcile":
				if rc != float64(1) {
					t.Errorf("ReservedConcurrentExecutions = %v, want 1 (one full scan at a time)", rc)
				}
			case "cluster-events", "safety-net":
				// A runaway of asynchronous events is capped (throttled
				// events are retried for their whole age).
				if want := float64(map[string]int{"cluster-events": 5, "safety-net": 2}[f.Name]); rc != want {
					t.Errorf("ReservedConcurrentExecutions = %v, want %v", rc, want)
				}
			default:
				if reserved {
					t.Errorf("ReservedConcurrentExecutions = %v, want unreserved", rc)
				}
			}

			env, _ := p["Environment"].(map[string]any)
			vars, _ := env["Variables"].(map[string]any)
			for k := range vars {
				if !containsString(known, k) {
					t.Errorf("environment %s is not an internal/options name", k)
				}
			}
			wantEnv := []string{options.EnvTableName}
			required := []options.Field{options.FieldTableName}
			if f.has(startRollouts) || f.has(describeRollouts) {
				wantEnv = append(wantEnv, options.EnvStateMachineARN)
				required = append(required, options.FieldStateMachineARN)
			}
			if f.has(registerInArgoCD) {
				wantEnv = append(wantEnv, options.EnvArgoCDNamespace, options.EnvControlPlaneCluster, options.EnvClusterRoleARN)
				required = append(required, options.FieldControlPlaneCluster)
			}
			if f.Name == "safety-net" && !containsString(wantEnv, options.EnvStateMachineARN) {
				t.Errorf("safety-net filters events by OKRA_STATE_MACHINE_ARN (internal/safetynet) but does not get it")
			}
			if f.has(notify) {
				wantEnv = append(wantEnv, options.EnvNotificationTopicARN)
			}
			if f.has(readDatadogKeys) {
				wantEnv = append(wantEnv, options.EnvDatadogSecretARN, options.EnvDatadogSite)
				required = append(required, options.FieldDatadogSecretARN)
			}
			if f.Name == "cluster-events" {
				wantEnv = append(wantEnv, options.EnvClusterActiveTimeout)
			}
			if f.has(setWeights) {
				// The ingress check knows the roles want the opt-in tag.
				wantEnv = append(wantEnv, options.EnvListenerOptIn)
				if vars[options.EnvListenerOptIn] != options.ListenerOptInRequired {
					t.Errorf("%s = %v, want %s", options.EnvListenerOptIn, vars[options.EnvListenerOptIn], options.ListenerOptInRequired)
				}
			}
			if extra, missing := diffSets(sortedKeys(vars), wantEnv); len(extra)+len(missing) > 0 {
				t.Errorf("environment: extra %v, missing %v", extra, missing)
			}
			opts, err := options.FromEnv(fakeEnv(vars))
			if err != nil {
				t.Fatalf("options.FromEnv: %v", err)
			}
			if err := opts.Validate(required...); err != nil {
				t.Errorf("options.Validate: %v", err)
			}
			if f.Name == "cluster-events" {
				// The wait for ACTIVE must end before the function does.
				if timeout := time.Duration(p["Timeout"].(float64)) * time.Second; opts.ClusterActiveTimeout >= timeout {
					t.Errorf("cluster active timeout %s >= function timeout %s", opts.ClusterActiveTimeout, timeout)
				}
			}
		})
	}
}

// TestEnvironmentValues pins the values the props put in the environment.
func TestEnvironmentValues(t *testing.T) {
	for _, c := range []struct {
		name string
		s    func(*testing.T) *synthesized
		want map[string]map[string]string
	}{
		{"main", mainStack, map[string]map[string]string{
			"cluster-events": {options.EnvArgoCDNamespace: "argocd", options.EnvControlPlaneCluster: "control-plane",
				options.EnvClusterRoleARN: "arn:aws:iam::123456789012:role/argocd-member-clusters", options.EnvClusterActiveTimeout: "10m0s"},
			"check-datadog": {options.EnvDatadogSite: "datadoghq.com"},
		}},
		{"alt", altStack, map[string]map[string]string{
			"reconcile":      {options.EnvArgoCDNamespace: "gitops"},
			"cluster-events": {options.EnvClusterActiveTimeout: "12m0s"},
			"check-datadog": {options.EnvDatadogSite: "datadoghq.eu",
				options.EnvDatadogSecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:okra/datadog-AbC123"},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := c.s(t)
			for fn, want := range c.want {
				vars := s.function(t, fn).Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
				for k, v := range want {
					if vars[k] != v {
						t.Errorf("okra-%s %s = %v, want %q", fn, k, vars[k], v)
					}
				}
			}
		})
	}
	alt := altStack(t)
	for _, env := range []string{options.EnvClusterRoleARN, options.EnvControlPlaneCluster} {
		if _, ok := alt.function(t, "cluster-events").Properties["Environment"].(map[string]any)["Variables"].(map[string]any)[env]; ok {
			t.Errorf("%s set although its context value was not given", env)
		}
	}
	if _, reserved := alt.function(t, "reconcile").Properties["ReservedConcurrentExecutions"]; reserved {
		t.Errorf("reconcile is reserved although reconcileReservedConcurrency is 0")
	}
	if n := len(alt.resources("AWS::SecretsManager::Secret")); n != 0 {
		t.Errorf("a Datadog secret was created although datadogSecretArn was given")
	}
	if tb := alt.resources("AWS::DynamoDB::Table")[0]; tb.Properties["TableName"] != "okra-staging" {
		t.Errorf("TableName = %v, want okra-staging", tb.Properties["TableName"])
	}
}

// TestFunctionTable checks the table of functions itself: every
// functions/ directory is deployed, names fit Lambda, and the state
// machine's placeholders have functions.
func TestFunctionTable(t *testing.T) {
	entries, err := os.ReadDir(repoFile("functions"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if _, ok := functionByName(e.Name()); !ok {
				t.Errorf("functions/%s is not deployed: add it to infra/functions.go", e.Name())
			}
		}
	}
	seen := map[string]bool{}
	for _, f := range functions {
		if seen[f.Name] {
			t.Errorf("function %s listed twice", f.Name)
		}
		seen[f.Name] = true
		if len(f.deployedName()) > 64 {
			t.Errorf("%s: name longer than Lambda's 64 characters", f.deployedName())
		}
		if len(f.Access) == 0 || !f.has(readStore) {
			t.Errorf("%s: every function reads the store", f.Name)
		}
		if (f.ASLArn != "") != (f.Trigger == byStateMachine) {
			t.Errorf("%s: ASLArn %q but trigger %q", f.Name, f.ASLArn, f.Trigger)
		}
	}
	def, err := os.ReadFile(repoFile(aslPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range placeholder.FindAllStringSubmatch(string(def), -1) {
		found := false
		for _, f := range functions {
			found = found || f.ASLArn == m[1]
		}
		if !found {
			t.Errorf("%s: ${%s} has no function", aslPath, m[1])
		}
	}
}

func TestStateMachine(t *testing.T) {
	s := mainStack(t)
	sms := s.resources("AWS::StepFunctions::StateMachine")
	if len(sms) != 1 {
		t.Fatalf("want one state machine, got %d", len(sms))
	}
	p := sms[0].Properties
	if p["StateMachineName"] != stateMachineName || p["StateMachineType"] != "STANDARD" {
		t.Errorf("name/type = %v/%v, want %s/STANDARD", p["StateMachineName"], p["StateMachineType"], stateMachineName)
	}
	if !jsonEqual(p["TracingConfiguration"], map[string]any{"Enabled": true}) {
		t.Errorf("TracingConfiguration = %s", mustJSON(p["TracingConfiguration"]))
	}
	lc, _ := p["LoggingConfiguration"].(map[string]any)
	if lc["Level"] != "ALL" || lc["IncludeExecutionData"] != true {
		t.Errorf("LoggingConfiguration = %s, want level ALL with execution data", mustJSON(lc))
	}
	dests := listOf(lc["Destinations"])
	if len(dests) != 1 {
		t.Fatalf("log destinations = %s", mustJSON(dests))
	}
	lgID := getAttID(dests[0].(map[string]any)["CloudWatchLogsLogGroup"].(map[string]any)["LogGroupArn"], "Arn")
	if lg := s.resource(lgID); lg.Properties["LogGroupName"] != "/aws/vendedlogs/states/"+stateMachineName {
		t.Errorf("state machine log group = %s", mustJSON(lg.Properties))
	}

	// The definition is the file, and every placeholder is substituted
	// by the right function's ARN.
	defString, ok := p["DefinitionString"].(string)
	if !ok {
		t.Fatalf("DefinitionString is not a plain string: %s", mustJSON(p["DefinitionString"]))
	}
	file, err := os.ReadFile(repoFile(aslPath))
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal([]byte(defString), &a); err != nil {
		t.Fatalf("definition is not JSON: %v", err)
	}
	_ = json.Unmarshal(file, &b)
	if !jsonEqual(a, b) {
		t.Errorf("the deployed definition differs from %s", aslPath)
	}
	subs, _ := p["DefinitionSubstitutions"].(map[string]any)
	resolved := defString
	for _, m := range placeholder.FindAllStringSubmatch(defString, -1) {
		name := m[1]
		v, ok := subs[name]
		if !ok {
			t.Errorf("${%s} has no substitution", name)
			continue
		}
		var fnName string
		for _, f := range functions {
			if f.ASLArn == name {
				fnName = f.Name
			}
		}
		if got := getAttID(v, "Arn"); got == "" || s.resource(got).Properties["FunctionName"] != "okra-"+fnName {
			t.Errorf("${%s} = %s, want the ARN of okra-%s", name, mustJSON(v), fnName)
		}
		resolved = strings.ReplaceAll(resolved, m[0], "arn:aws:lambda:us-east-1:123456789012:function:okra-"+fnName)
	}
	for name := range subs {
		if !strings.Contains(defString, "${"+name+"}") {
			t.Errorf("substitution %s is not used by the definition", name)
		}
	}
	if strings.Contains(resolved, "${") {
		t.Errorf("a ${...} is left after substitution")
	}

	// The ARN the functions get is built from the same name.
	env := s.function(t, "reconcile").Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	if arn, _ := json.Marshal(env[options.EnvStateMachineARN]); !strings.Contains(string(arn), `:stateMachine:`+stateMachineName+`"]]}`) {
		t.Errorf("OKRA_STATE_MACHINE_ARN = %s, want the ARN of %s", mustJSON(env[options.EnvStateMachineARN]), stateMachineName)
	}
	if p["DefinitionS3Location"] != nil {
		t.Errorf("the definition is an S3 asset; want it inline")
	}
}

func TestRules(t *testing.T) {
	s := mainStack(t)
	rules := map[string]resource{}
	for _, r := range s.resources("AWS::Events::Rule") {
		rules[r.Properties["Name"].(string)] = r
	}
	smID := s.resources("AWS::StepFunctions::StateMachine")[0].ID
	clusterPattern, _ := events.ClusterEventPattern().JSON()
	statusPattern, _ := events.ExecutionStatusPattern("STATE_MACHINE").JSON()
	statusPattern = strings.Replace(statusPattern, `"STATE_MACHINE"`, `{"Ref":"`+smID+`"}`, 1)
	for _, c := range []struct {
		rule, fn, pattern, schedule string
	}{
		{"okra-cluster-events", "cluster-events", clusterPattern, ""},
		{"okra-reconcile", "reconcile", "", "rate(5 minutes)"},
		{"okra-safety-net", "safety-net", statusPattern, ""},
	} {
		t.Run(c.rule, func(t *testing.T) {
			r, ok := rules[c.rule]
			if !ok {
				t.Fatalf("no rule %s", c.rule)
			}
			if c.pattern != "" {
				var want any
				if err := json.Unmarshal([]byte(c.pattern), &want); err != nil {
					t.Fatal(err)
				}
				if !jsonEqual(r.Properties["EventPattern"], want) {
					t.Errorf("EventPattern = %s, want the events package's %s", mustJSON(r.Properties["EventPattern"]), c.pattern)
				}
			}
			if r.Properties["ScheduleExpression"] != nil || c.schedule != "" {
				if r.Properties["ScheduleExpression"] != c.schedule {
					t.Errorf("ScheduleExpression = %v, want %q", r.Properties["ScheduleExpression"], c.schedule)
				}
			}
			targets := listOf(r.Properties["Targets"])
			if len(targets) != 1 {
				t.Fatalf("targets = %s", mustJSON(targets))
			}
			tg := targets[0].(map[string]any)
			fnID := s.function(t, c.fn).ID
			if getAttID(tg["Arn"], "Arn") != fnID {
				t.Errorf("target = %s, want okra-%s", mustJSON(tg["Arn"]), c.fn)
			}
			dlq := getAttID(tg["DeadLetterConfig"].(map[string]any)["Arn"], "Arn")
			if q := s.resource(dlq); q.Properties["QueueName"] != "okra-"+c.fn+"-dlq" {
				t.Errorf("dead-letter queue = %s, want okra-%s-dlq", mustJSON(q.Properties), c.fn)
			}
			rp, _ := tg["RetryPolicy"].(map[string]any)
			if rp["MaximumRetryAttempts"] == nil || rp["MaximumEventAgeInSeconds"] == nil {
				t.Errorf("RetryPolicy = %s, want attempts and event age", mustJSON(rp))
			}
			// The function's own asynchronous failures land in the same
			// queue: its on-failure destination, in the EventInvokeConfig
			// that names it by the ARN the rule's permission names.
			var dest string
			for _, eic := range s.resources("AWS::Lambda::EventInvokeConfig") {
				if getAttID(eic.Properties["FunctionName"], "Arn") == fnID {
					dc, _ := eic.Properties["DestinationConfig"].(map[string]any)
					of, _ := dc["OnFailure"].(map[string]any)
					dest = getAttID(of["Destination"], "Arn")
				}
			}
			if dest != dlq {
				t.Errorf("function on-failure destination %q, want the rule's %s", dest, dlq)
			}
		})
	}
	for _, r := range altStack(t).resources("AWS::Events::Rule") {
		if r.Properties["Name"] == "okra-reconcile" && r.Properties["ScheduleExpression"] != "rate(10 minutes)" {
			t.Errorf("reconcileSchedule not applied: %v", r.Properties["ScheduleExpression"])
		}
	}
}

func TestStreamMapping(t *testing.T) {
	s := mainStack(t)
	esm := s.resources("AWS::Lambda::EventSourceMapping")
	if len(esm) != 1 {
		t.Fatalf("want one event source mapping, got %d", len(esm))
	}
	p := esm[0].Properties
	tableID := s.resources("AWS::DynamoDB::Table")[0].ID
	if getAttID(p["EventSourceArn"], "StreamArn") != tableID {
		t.Errorf("EventSourceArn = %s, want the table's stream", mustJSON(p["EventSourceArn"]))
	}
	if refID(p["FunctionName"]) != s.function(t, "config-change").ID {
		t.Errorf("FunctionName = %s, want okra-config-change", mustJSON(p["FunctionName"]))
	}
	for k, v := range map[string]any{
		"BatchSize":                  10.0,
		"BisectBatchOnFunctionError": true,
		"FunctionResponseTypes":      []any{"ReportBatchItemFailures"},
		"MaximumRetryAttempts":       5.0,
		"StartingPosition":           "TRIM_HORIZON",
		"ParallelizationFactor":      1.0,
	} {
		if !jsonEqual(p[k], v) {
			t.Errorf("%s = %s, want %s", k, mustJSON(p[k]), mustJSON(v))
		}
	}
	dest := p["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)["Destination"]
	if q := s.resource(getAttID(dest, "Arn")); q.Properties["QueueName"] != "okra-config-change-dlq" {
		t.Errorf("on-failure destination = %s", mustJSON(dest))
	}
	filters := listOf(p["FilterCriteria"].(map[string]any)["Filters"])
	if len(filters) != 1 {
		t.Fatalf("filters = %s", mustJSON(filters))
	}
	var pattern any
	if err := json.Unmarshal([]byte(filters[0].(map[string]any)["Pattern"].(string)), &pattern); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"dynamodb": map[string]any{"Keys": map[string]any{store.AttrSK: map[string]any{"S": []any{store.SKSpec}}}}}
	if !jsonEqual(pattern, want) {
		t.Errorf("filter = %s, want %s", mustJSON(pattern), mustJSON(want))
	}
	// The filter must let the sample spec changes through and keep the
	// rest out: check it against events/dynamodb-cell-spec-change.json.
	raw, err := os.ReadFile(repoFile("events", "dynamodb-cell-spec-change.json"))
	if err != nil {
		t.Fatal(err)
	}
	var batch struct {
		Records []struct {
			Dynamodb struct {
				Keys map[string]map[string]string `json:"Keys"`
			} `json:"dynamodb"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(raw, &batch); err != nil {
		t.Fatal(err)
	}
	passed := 0
	for _, r := range batch.Records {
		if r.Dynamodb.Keys[store.AttrSK]["S"] == store.SKSpec {
			passed++
		}
	}
	if passed != 3 {
		t.Errorf("the filter passes %d records of the sample batch, want its 3 spec changes", passed)
	}
}

func TestQueues(t *testing.T) {
	s := mainStack(t)
	var names []string
	for _, q := range s.resources("AWS::SQS::Queue") {
		names = append(names, q.Properties["QueueName"].(string))
		if q.Properties["SqsManagedSseEnabled"] != true {
			t.Errorf("%s: not encrypted (SqsManagedSseEnabled)", q.Properties["QueueName"])
		}
		if q.Properties["MessageRetentionPeriod"] != float64(14*24*3600) {
			t.Errorf("%s: retention %v, want 14 days", q.Properties["QueueName"], q.Properties["MessageRetentionPeriod"])
		}
	}
	sort.Strings(names)
	want := []string{"okra-cluster-events-dlq", "okra-config-change-dlq", "okra-reconcile-dlq", "okra-safety-net-dlq"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("queues = %v, want %v", names, want)
	}
	for _, qp := range s.resources("AWS::SQS::QueuePolicy") {
		if !denyInsecureTransport(statementsOf(qp.Properties["PolicyDocument"])) {
			t.Errorf("%s: no statement denying requests without TLS", qp.ID)
		}
	}
}

func denyInsecureTransport(stmts []policyStatement) bool {
	for _, st := range stmts {
		if st.Effect == "Deny" && jsonEqual(st.Condition, map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}}) {
			return true
		}
	}
	return false
}

func TestTopicKeySecret(t *testing.T) {
	s := mainStack(t)
	topic := s.resources("AWS::SNS::Topic")[0]
	keyID := getAttID(topic.Properties["KmsMasterKeyId"], "Arn")
	key := s.resource(keyID)
	if key.Type != "AWS::KMS::Key" || key.Properties["EnableKeyRotation"] != true {
		t.Errorf("topic key = %s, want a rotated KMS key of the stack", mustJSON(topic.Properties["KmsMasterKeyId"]))
	}
	if topic.Properties["TopicName"] != topicName {
		t.Errorf("TopicName = %v", topic.Properties["TopicName"])
	}
	cwCanUse := false
	for _, st := range statementsOf(key.Properties["KeyPolicy"]) {
		if jsonEqual(st.Principal, map[string]any{"Service": "cloudwatch.amazonaws.com"}) &&
			containsString(st.Actions, "kms:GenerateDataKey") && containsString(st.Actions, "kms:Decrypt") {
			cwCanUse = true
		}
	}
	if !cwCanUse {
		t.Errorf("the key policy does not let CloudWatch alarms publish to the encrypted topic")
	}
	tps := s.resources("AWS::SNS::TopicPolicy")
	if len(tps) != 1 || !denyInsecureTransport(statementsOf(tps[0].Properties["PolicyDocument"])) {
		t.Errorf("topic policy does not deny requests without TLS")
	}
	sub := s.resources("AWS::SNS::Subscription")
	if len(sub) != 1 || sub[0].Properties["Protocol"] != "email" || sub[0].Properties["Endpoint"] != "platform-team@example.com" {
		t.Errorf("subscription = %s", mustJSON(sub))
	}

	secret := s.resources("AWS::SecretsManager::Secret")[0]
	var value map[string]string
	if err := json.Unmarshal([]byte(secret.Properties["SecretString"].(string)), &value); err != nil {
		t.Fatalf("SecretString: %v", err)
	}
	if len(value) != 2 || value["apiKey"] != "" || value["appKey"] != "" {
		t.Errorf(`SecretString = %v, want {"apiKey":"","appKey":""}`, value)
	}
	if secret.Raw["DeletionPolicy"] != "Retain" {
		t.Errorf("secret DeletionPolicy = %v, want Retain", secret.Raw["DeletionPolicy"])
	}
	vars := s.function(t, "check-datadog").Properties["Environment"].(map[string]any)["Variables"].(map[string]any)
	if refID(vars[options.EnvDatadogSecretARN]) != secret.ID {
		t.Errorf("OKRA_DATADOG_SECRET_ARN = %s, want the stack's secret", mustJSON(vars[options.EnvDatadogSecretARN]))
	}
}

func TestAlarms(t *testing.T) {
	s := mainStack(t)
	topicID := s.resources("AWS::SNS::Topic")[0].ID
	byName := map[string]resource{}
	for _, a := range s.resources("AWS::CloudWatch::Alarm") {
		byName[a.Properties["AlarmName"].(string)] = a
		if actions := listOf(a.Properties["AlarmActions"]); len(actions) != 1 || refID(actions[0]) != topicID {
			t.Errorf("%s: actions %s, want the notification topic", a.Properties["AlarmName"], mustJSON(actions))
		}
		if a.Properties["TreatMissingData"] != "notBreaching" {
			t.Errorf("%s: TreatMissingData %v", a.Properties["AlarmName"], a.Properties["TreatMissingData"])
		}
	}
	want := map[string]string{
		"okra-rollouts-failed":            "ExecutionsFailed",
		"okra-rollouts-timed-out":         "ExecutionsTimedOut",
		"okra-rollouts-aborted":           "ExecutionsAborted",
		"okra-config-change-iterator-age": "IteratorAge",
	}
	for _, f := range functions {
		want[f.deployedName()+"-errors"] = "Errors"
		want[f.deployedName()+"-throttles"] = "Throttles"
	}
	for _, q := range []string{"cluster-events", "reconcile", "config-change", "safety-net"} {
		want["okra-"+q+"-dead-letters"] = "ApproximateNumberOfMessagesVisible"
	}
	for name, metric := range want {
		a, ok := byName[name]
		if !ok {
			t.Errorf("no alarm %s", name)
			continue
		}
		if a.Properties["MetricName"] != metric {
			t.Errorf("%s: metric %v, want %s", name, a.Properties["MetricName"], metric)
		}
	}
	if len(byName) != len(want) {
		t.Errorf("%d alarms, want %d", len(byName), len(want))
	}
}

func TestTagsAndOutputs(t *testing.T) {
	s := mainStack(t)
	taggable := []string{"AWS::DynamoDB::Table", "AWS::Lambda::Function", "AWS::StepFunctions::StateMachine", "AWS::SQS::Queue",
		"AWS::SNS::Topic", "AWS::KMS::Key", "AWS::SecretsManager::Secret", "AWS::IAM::Role", "AWS::Logs::LogGroup", "AWS::Events::Rule",
		"AWS::CloudWatch::Alarm", "AWS::Lambda::EventSourceMapping"}
	for _, typ := range taggable {
		for _, r := range s.resources(typ) {
			if !hasManagedTag(r.Properties) {
				t.Errorf("%s %s: not tagged okra:managed=true", typ, r.ID)
			}
		}
	}
	outputs, _ := s.tmpl["Outputs"].(map[string]any)
	for _, name := range []string{"TableName", "StateMachineArn", "NotificationTopicArn", "DatadogSecretArn",
		"ClusterEventsRoleArn", "ReconcileRoleArn", "ConfigChangeRoleArn"} {
		if _, ok := outputs[name]; !ok {
			t.Errorf("no output %s", name)
		}
	}
}

func hasManagedTag(props map[string]any) bool {
	switch tags := props["Tags"].(type) {
	case []any:
		for _, tag := range tags {
			m := tag.(map[string]any)
			if m["Key"] == managedTag && m["Value"] == managedValue {
				return true
			}
		}
	case map[string]any: // AWS::StepFunctions::StateMachine uses a list too; some types use a map
		return tags[managedTag] == managedValue
	}
	return false
}

// TestHasResourceProperties spot-checks with the CDK's own matchers what
// the JSON checks above cover, so a template-reading bug cannot hide a
// wrong property.
func TestHasResourceProperties(t *testing.T) {
	s := mainStack(t)
	must(t, "table", func() {
		s.template.HasResourceProperties(jsii.String("AWS::DynamoDB::Table"), &map[string]any{
			"BillingMode":                      "PAY_PER_REQUEST",
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
			"SSESpecification":                 map[string]any{"SSEEnabled": true},
			"StreamSpecification":              map[string]any{"StreamViewType": "NEW_AND_OLD_IMAGES"},
			"TimeToLiveSpecification":          map[string]any{"AttributeName": store.AttrExpiresAt, "Enabled": true},
		})
	})
	must(t, "rollout-plan", func() {
		s.template.HasResourceProperties(jsii.String("AWS::Lambda::Function"), &map[string]any{
			"FunctionName":  "okra-rollout-plan",
			"Runtime":       "provided.al2023",
			"Architectures": []any{"arm64"},
			"TracingConfig": map[string]any{"Mode": "Active"},
			"LoggingConfig": assertions.Match_ObjectLike(&map[string]any{"LogFormat": "JSON"}),
		})
	})
	must(t, "state machine", func() {
		s.template.HasResourceProperties(jsii.String("AWS::StepFunctions::StateMachine"), &map[string]any{
			"StateMachineType":     "STANDARD",
			"TracingConfiguration": map[string]any{"Enabled": true},
			"LoggingConfiguration": assertions.Match_ObjectLike(&map[string]any{"Level": "ALL"}),
		})
	})
	must(t, "topic", func() {
		s.template.HasResourceProperties(jsii.String("AWS::SNS::Topic"), &map[string]any{
			"KmsMasterKeyId": assertions.Match_AnyValue(),
		})
	})
}
