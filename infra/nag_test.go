package main

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// TestNagAwsSolutions runs cdk-nag's AwsSolutions pack (the test stacks
// carry the aspect) and wants no unsuppressed error or warning.
func TestNagAwsSolutions(t *testing.T) {
	for _, c := range []struct {
		name string
		s    func(*testing.T) *synthesized
	}{{"main", mainStack}, {"alt", altStack}} {
		t.Run(c.name, func(t *testing.T) {
			s := c.s(t)
			ann := assertions.Annotations_FromStack(s.stack.Stack)
			pattern := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
			for level, found := range map[string]int{
				"error":   report(t, "error", *ann.FindError(jsii.String("*"), pattern)),
				"warning": report(t, "warning", *ann.FindWarning(jsii.String("*"), pattern)),
			} {
				if found > 0 {
					t.Errorf("%d unsuppressed AwsSolutions %s(s)", found, level)
				}
			}
		})
	}
}

func report[M any](t *testing.T, level string, msgs []M) int {
	for _, m := range msgs {
		t.Logf("%s: %s", level, mustJSON(m))
	}
	return len(msgs)
}

// TestNagSuppressions lists every suppression with its reason, and wants
// a reason that says something.
func TestNagSuppressions(t *testing.T) {
	s := mainStack(t)
	res, _ := s.tmpl["Resources"].(map[string]any)
	var lines []string
	for _, id := range sortedKeys(res) {
		meta, _ := res[id].(map[string]any)["Metadata"].(map[string]any)
		nag, _ := meta["cdk_nag"].(map[string]any)
		for _, raw := range listOf(nag["rules_to_suppress"]) {
			sup := raw.(map[string]any)
			reason, _ := sup["reason"].(string)
			if len(strings.Fields(reason)) < 5 {
				t.Errorf("%s: suppression %v has no real reason: %q", id, sup["id"], reason)
			}
			lines = append(lines, fmt.Sprintf("%s %v %v: %s", id, sup["id"], sup["applies_to"], reason))
		}
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		t.Fatalf("no suppressions found in the template metadata; the check above checked nothing")
	}
	t.Logf("%d suppressions:\n%s", len(lines), strings.Join(lines, "\n"))
}
