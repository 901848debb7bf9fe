package cli

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/okrahq/okra/internal/listener"
	"github.com/okrahq/okra/internal/options"
	"github.com/okrahq/okra/internal/rollout"
	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
)

var listenerLine = regexp.MustCompile(`listenerARN: \S+`)

// withListener returns the example at path with its listener ARN replaced.
func withListener(t *testing.T, path, arn string) string {
	t.Helper()
	doc := mustRead(t, path)
	if !listenerLine.MatchString(doc) {
		t.Fatalf("%s has no listenerARN line", path)
	}
	return listenerLine.ReplaceAllString(doc, "listenerARN: "+arn)
}

// TestCellApplyChecksTheIngressAgainstAWS: the listener must exist, be of
// the ingress's type, and a rule priority must be free or the Cell's own;
// each refusal names the field, and nothing is stored.
func TestCellApplyChecksTheIngressAgainstAWS(t *testing.T) {
	e := newAWSEnv(t)
	e.checkIngress = true
	lb := e.newLoadBalancer(testenv.UniqueName("alb"))
	tg := lb.targetGroup(testenv.UniqueName("tg"), 1, nil)
	alb := lb.forwardListener(80, tg, 100)
	missing := alb[:strings.LastIndex(alb, "/")+1] + "0123456789abcdef"

	// A rule nobody tagged for okra holds priority 100 on a second listener.
	taken := lb.forwardListener(81, tg, 100)
	if _, err := lb.elb.CreateRule(e.ctx, &elbv2.CreateRuleInput{
		ListenerArn: aws.String(taken), Priority: aws.Int32(100),
		Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/other/*"}}},
		Actions:    []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: aws.String(tg)}},
	}); err != nil {
		t.Fatalf("CreateRule: %v", err)
	}

	for _, tc := range []struct {
		name, doc, cell, want string
	}{
		{"a listener that does not exist", withListener(t, examples+"/alb-basic.yaml", missing), "web",
			"<stdin>: spec.ingress.listenerARN: listener " + missing + " does not exist"},
		{"an ALB listener for an NLB Cell", withListener(t, examples+"/nlb.yaml", alb), "tcp-echo",
			"<stdin>: spec.ingress.listenerARN: names an Application Load Balancer listener (listener/app/...) but spec.ingress.type is AWSNetworkLoadBalancer"},
		{"a rule priority held by a rule okra did not create", withListener(t, examples+"/alb-listener-rule.yaml", taken), "api-v1",
			"<stdin>: spec.ingress.rule.priority: priority 100 of listener " + taken + " is taken by rule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run(tc.doc, "cell", "apply", "-f", "-")
			if r.code != ExitFailure || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "nothing was applied") {
				t.Errorf("exit %d, want 1 with %q\nstdout: %s\nstderr: %s", r.code, tc.want, r.stdout, r.stderr)
			}
			var notFound *store.NotFoundError
			if _, err := e.store.GetCell(e.ctx, tc.cell); !errors.As(err, &notFound) {
				t.Errorf("cell %s was stored although its ingress was refused (GetCell: %v)", tc.cell, err)
			}
		})
	}

	// The same documents pointed at a fitting listener are taken.
	r := e.mustRun(withListener(t, examples+"/alb-basic.yaml", alb), "cell", "apply", "-f", "-")
	if r.stdout != "cell \"web\" created (revision 1)\n" {
		t.Errorf("apply with a listener that exists printed %q", r.stdout)
	}
	r = e.mustRun(withListener(t, examples+"/alb-listener-rule.yaml", alb), "cell", "apply", "-f", "-")
	if r.stdout != "cell \"api-v1\" created (revision 1)\n" {
		t.Errorf("apply with a free priority printed %q", r.stdout)
	}
}

// TestCellApplyRefusesAnIngressChangeMidRollout: while a rollout holds the
// Cell, a change to its ingress is refused naming the rollout and stores
// nothing; a change elsewhere in the spec is taken.
func TestCellApplyRefusesAnIngressChangeMidRollout(t *testing.T) {
	e := newAWSEnv(t)
	e.checkIngress = true
	lb := e.newLoadBalancer(testenv.UniqueName("alb"))
	tg := lb.targetGroup(testenv.UniqueName("tg"), 1, nil)
	first := lb.forwardListener(80, tg, 100)
	second := lb.forwardListener(81, tg, 100)
	doc := withListener(t, examples+"/alb-basic.yaml", first)
	e.mustRun(doc, "cell", "apply", "-f", "-")

	exec := "arn:aws:states:us-east-1:123456789012:execution:okra-rollout:web--v2--1"
	running := func(context.Context, string) (bool, error) { return true, nil }
	if _, err := e.store.AcquireLease(e.ctx, "web", exec, running); err != nil {
		t.Fatalf("AcquireLease: %v", err)
	}
	if _, err := e.store.UpdateStatus(e.ctx, "web", exec, func(s *rollout.Status) error {
		s.Phase, s.StableVersion, s.CanaryVersion, s.StepIndex, s.StepCount = rollout.PhasePaused, "v1", "v2", 1, 3
		return nil
	}); err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}

	r := e.run(withListener(t, examples+"/alb-basic.yaml", second), "cell", "apply", "-f", "-")
	want := "<stdin>: spec.ingress: cannot change while rollout web--v2--1 of v2 runs (step 2 of 3)"
	if r.code != ExitFailure || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "changed: ingress.listenerARN") {
		t.Errorf("ingress change mid-rollout: exit %d, want 1 with %q\n%s", r.code, want, r.stderr)
	}
	rec, err := e.store.GetCell(e.ctx, "web")
	if err != nil || rec.Revision != 1 || rec.Cell.Spec.Ingress.ListenerARN != first {
		t.Errorf("after the refused apply the stored Cell is revision %d on %s (err %v), want revision 1 on %s", rec.Revision, rec.Cell.Spec.Ingress.ListenerARN, err, first)
	}

	r = e.mustRun(strings.Replace(doc, "setWeight: 50", "setWeight: 60", 1), "cell", "apply", "-f", "-")
	if r.stdout != "cell \"web\" configured (revision 2)\n" {
		t.Errorf("a step change mid-rollout printed %q, want it configured", r.stdout)
	}
}

// A template apply is a TemplateApplied event, with what changed, in the
// history of each Cell that names the template, and of no other.
func TestTemplateApplyIsInTheHistoryOfItsCells(t *testing.T) {
	e := newAWSEnv(t)
	e.mustRun("", "template", "apply", "-f", templates+"/datadog-error-rate.yaml")
	e.mustRun("", "cell", "apply", "-f", examples+"/shared-template-step.yaml", "-f", examples+"/alb-basic.yaml")
	changed := strings.Replace(mustRead(t, templates+"/datadog-error-rate.yaml"), "    count: 3", "    count: 4", 1)
	if r := e.mustRun(changed, "template", "apply", "-f", "-"); r.stdout != "template \"datadog-error-rate\" configured (revision 2)\n" {
		t.Fatalf("template apply printed %q", r.stdout)
	}
	evs, err := e.store.ListEvents(e.ctx, "orders", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		if ev.Type == store.EventTemplateApplied {
			got = append(got, ev.Message)
		}
	}
	if want := "template datadog-error-rate revision 2: metrics[0].count 3→4"; len(got) != 1 || got[0] != want {
		t.Errorf("TemplateApplied events of orders %q, want [%q]", got, want)
	}
	if evs, _ := e.store.ListEvents(e.ctx, "web", 0, false); len(evs) != 0 {
		t.Errorf("cell web, which does not use the template, got events %+v", evs)
	}
}

// TestCellApplyRequiresTheListenerOptIn: with the deploy's opt-in
// requirement in the environment, a listener without okra's opt-in tag is
// refused, naming the field and the add-tags command, and nothing is
// stored; tagged as told, the same document is taken.
func TestCellApplyRequiresTheListenerOptIn(t *testing.T) {
	e := newAWSEnv(t)
	e.checkIngress = true
	lb := e.newLoadBalancer(testenv.UniqueName("alb"))
	tg := lb.targetGroup(testenv.UniqueName("tg"), 1, nil)
	alb := lb.forwardListener(80, tg, 100)
	required := func(a *App) {
		a.getenv = func(k string) string {
			if k == options.EnvListenerOptIn {
				return options.ListenerOptInRequired
			}
			return ""
		}
	}
	doc := withListener(t, examples+"/alb-basic.yaml", alb)
	r := e.runApp(required, doc, "cell", "apply", "-f", "-")
	want := "<stdin>: spec.ingress.listenerARN: " + listener.OptInMissingReason(alb)
	if r.code != ExitFailure || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "aws elbv2 add-tags --resource-arns "+alb+" --tags Key=okra:opt-in,Value=true") {
		t.Fatalf("exit %d, want 1 with %q\nstderr: %s", r.code, want, r.stderr)
	}
	var notFound *store.NotFoundError
	if _, err := e.store.GetCell(e.ctx, "web"); !errors.As(err, &notFound) {
		t.Errorf("cell web was stored although its listener lacks the opt-in tag (GetCell: %v)", err)
	}
	if _, err := lb.elb.AddTags(e.ctx, &elbv2.AddTagsInput{
		ResourceArns: []string{alb},
		Tags:         []elbtypes.Tag{{Key: aws.String("okra:opt-in"), Value: aws.String("true")}},
	}); err != nil {
		t.Fatalf("AddTags: %v", err)
	}
	if r := e.runApp(required, doc, "cell", "apply", "-f", "-"); r.code != ExitOK || r.stdout != "cell \"web\" created (revision 1)\n" {
		t.Errorf("after tagging the listener: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
}
