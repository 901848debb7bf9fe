package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

const (
	deployDoc  = "../docs/deploy.md"
	beginIAM   = "<!-- BEGIN GENERATED IAM: rendered from the synthesized template by infra/docs_test.go; `UPDATE_GOLDEN=1 go test ./...` in infra/ rewrites it -->"
	endIAM     = "<!-- END GENERATED IAM -->"
	pseudoARN  = "arn:aws"
	regionText = "REGION"
	acctText   = "ACCOUNT"
)

// renderer writes template values as an operator reads them.
type renderer struct{ s *synthesized }

func (r renderer) value(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []any:
		var parts []string
		for _, x := range v {
			parts = append(parts, r.value(x))
		}
		return strings.Join(parts, ", ")
	case map[string]any:
		if id, ok := v["Ref"].(string); ok {
			return r.ref(id)
		}
		if ga, ok := v["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			return r.getAtt(ga[0].(string), ga[1].(string))
		}
		if j, ok := v["Fn::Join"].([]any); ok && len(j) == 2 {
			var b strings.Builder
			for _, part := range j[1].([]any) {
				b.WriteString(r.value(part))
			}
			return b.String()
		}
	}
	return mustJSON(v)
}

func (r renderer) ref(id string) string {
	switch id {
	case "AWS::Partition":
		return "aws"
	case "AWS::Region":
		return regionText
	case "AWS::AccountId":
		return acctText
	}
	res := r.s.resource(id)
	switch res.Type {
	case "AWS::SNS::Topic":
		return fmt.Sprintf("%s:sns:%s:%s:%s", pseudoARN, regionText, acctText, res.Properties["TopicName"])
	case "AWS::SecretsManager::Secret":
		return "the Datadog secret (output DatadogSecretArn)"
	case "AWS::DynamoDB::Table":
		return fmt.Sprint(res.Properties["TableName"])
	case "AWS::StepFunctions::StateMachine":
		return fmt.Sprintf("%s:states:%s:%s:stateMachine:%s", pseudoARN, regionText, acctText, res.Properties["StateMachineName"])
	}
	return "{Ref " + id + "}"
}

func (r renderer) getAtt(id, attr string) string {
	res := r.s.resource(id)
	p := res.Properties
	switch {
	case res.Type == "AWS::DynamoDB::Table" && attr == "Arn":
		return fmt.Sprintf("%s:dynamodb:%s:%s:table/%s", pseudoARN, regionText, acctText, p["TableName"])
	case res.Type == "AWS::DynamoDB::Table" && attr == "StreamArn":
		return fmt.Sprintf("%s:dynamodb:%s:%s:table/%s/stream/*", pseudoARN, regionText, acctText, p["TableName"])
	case res.Type == "AWS::Logs::LogGroup":
		return fmt.Sprintf("%s:logs:%s:%s:log-group:%s:*", pseudoARN, regionText, acctText, p["LogGroupName"])
	case res.Type == "AWS::Lambda::Function":
		return fmt.Sprintf("%s:lambda:%s:%s:function:%s", pseudoARN, regionText, acctText, p["FunctionName"])
	case res.Type == "AWS::SQS::Queue":
		return fmt.Sprintf("%s:sqs:%s:%s:%s", pseudoARN, regionText, acctText, p["QueueName"])
	case res.Type == "AWS::KMS::Key":
		return "the KMS key of the " + topicName + " topic"
	}
	return "{GetAtt " + id + "." + attr + "}"
}

func (r renderer) condition(c map[string]any) string {
	var parts []string
	for _, op := range sortedKeys(c) {
		kv := c[op].(map[string]any)
		for _, k := range sortedKeys(kv) {
			parts = append(parts, fmt.Sprintf("%s %s = %s", op, k, r.value(kv[k])))
		}
	}
	return strings.Join(parts, "; ")
}

// iamSection renders every function's policy from the template.
func iamSection(t *testing.T, s *synthesized) string {
	r := renderer{s}
	cell := func(v string) string { return strings.ReplaceAll(v, "|", `\|`) }
	var b strings.Builder
	b.WriteString(beginIAM + "\n\n")
	b.WriteString("Every function has its own role. `REGION` and `ACCOUNT` are the stack's; the table is the default\n")
	b.WriteString("`okra` table; with context `listenerArns` the listener and rule ARNs are the listed ones.\n")
	b.WriteString("Statements without a Sid are added by the CDK (X-Ray tracing, dead-letter queue, stream).\n")
	for _, f := range functions {
		fmt.Fprintf(&b, "\n#### %s\n\n", f.deployedName())
		fmt.Fprintf(&b, "Invoked by %s.\n\n| Sid | Actions | Resources | Condition |\n|---|---|---|---|\n", f.Trigger)
		for _, st := range s.roleStatements(s.functionRoleID(t, f.Name)) {
			actions := append([]string(nil), st.Actions...)
			sort.Strings(actions)
			var resources []string
			for _, res := range st.Resources {
				resources = append(resources, "`"+r.value(res)+"`")
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(st.Sid), cell(strings.Join(actions, ", ")),
				cell(strings.Join(resources, "<br>")), cell(r.condition(st.Condition)))
		}
	}
	b.WriteString("\n" + endIAM)
	return b.String()
}

// TestDeployDocIAM keeps the IAM tables of docs/deploy.md equal to the
// synthesized template.
func TestDeployDocIAM(t *testing.T) {
	s := mainStack(t)
	doc, err := os.ReadFile(deployDoc)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start, end := strings.Index(text, beginIAM), strings.Index(text, endIAM)
	if start < 0 || end < start {
		t.Fatalf("%s lacks the generated IAM section markers", deployDoc)
	}
	want := iamSection(t, s)
	got := text[start : end+len(endIAM)]
	if got == want {
		return
	}
	if updateGolden() {
		if err := os.WriteFile(deployDoc, []byte(text[:start]+want+text[end+len(endIAM):]), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the IAM section of %s", deployDoc)
		return
	}
	t.Errorf("the IAM section of %s is stale; run UPDATE_GOLDEN=1 go test ./... in infra/:\n%s", deployDoc, firstDifference(got, want))
}
