package main

import (
	"strings"
	"testing"
	"time"
)

func TestPropsFromContext(t *testing.T) {
	ctx := map[string]string{
		ctxControlPlaneClusterName:      "cp",
		ctxArgoCDNamespace:              "gitops",
		ctxReconcileReservedConcurrency: "0",
		ctxListenerArns:                 " arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/a/0123/4567 ,arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/net/b/89ab/cdef",
		ctxClusterActiveTimeout:         "8m",
		ctxRolloutTimeout:               "48h",
		ctxLogRetentionDays:             "90",
	}
	p, err := PropsFromContext(func(k string) string { return ctx[k] })
	if err != nil {
		t.Fatal(err)
	}
	if p.ControlPlaneClusterName != "cp" || p.ArgoCDNamespace != "gitops" || p.ReconcileReservedConcurrency != 0 ||
		len(p.ListenerArns) != 2 || p.ClusterActiveTimeout != 8*time.Minute || p.RolloutTimeout != 48*time.Hour || p.LogRetentionDays != 90 {
		t.Errorf("props = %+v", p)
	}
	p.Code = PlaceholderCode{Dir: t.TempDir()}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	d, err := PropsFromContext(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if d.ReconcileReservedConcurrency != defaultReconcileConcurrency {
		t.Errorf("default reconcile concurrency = %d, want %d", d.ReconcileReservedConcurrency, defaultReconcileConcurrency)
	}
	w := d.withDefaults()
	if w.ArgoCDNamespace != "argocd" || w.DatadogSite != "datadoghq.com" || w.ReconcileSchedule != "rate(5 minutes)" ||
		w.TableName != "okra" || w.ClusterActiveTimeout != 10*time.Minute || w.LogRetentionDays != 30 || w.RolloutTimeout != 7*24*time.Hour {
		t.Errorf("defaults = %+v", w)
	}
}

func TestPropsFromContextErrors(t *testing.T) {
	for key, value := range map[string]string{
		ctxReconcileReservedConcurrency: "one",
		ctxClusterActiveTimeout:         "10",
		ctxRolloutTimeout:               "a week",
		ctxLogRetentionDays:             "30d",
	} {
		_, err := PropsFromContext(func(k string) string {
			if k == key {
				return value
			}
			return ""
		})
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: error %v, want one naming %s", key, value, err, key)
		}
	}
}

// TestValidate checks that every bad value is refused with its context key
// named, all problems at once.
func TestValidate(t *testing.T) {
	ok := func() OkraStackProps {
		return OkraStackProps{Code: PlaceholderCode{Dir: t.TempDir()}, ControlPlaneClusterName: "cp"}
	}
	if err := ok().Validate(); err != nil {
		t.Fatalf("minimal props: %v", err)
	}
	noArgo := ok()
	noArgo.ControlPlaneClusterName = ""
	if err := noArgo.Validate(); err != nil {
		t.Errorf("without a control-plane cluster (okra runs without ArgoCD): %v", err)
	}
	for _, c := range []struct {
		name string
		mod  func(*OkraStackProps)
		key  string
	}{
		{"no code", func(p *OkraStackProps) { p.Code = nil }, "Code"},
		{"bad cluster name", func(p *OkraStackProps) { p.ControlPlaneClusterName = "-x" }, ctxControlPlaneClusterName},
		{"bad namespace", func(p *OkraStackProps) { p.ArgoCDNamespace = "Argo_CD" }, ctxArgoCDNamespace},
		{"bad role", func(p *OkraStackProps) { p.ClusterRoleArn = "argocd" }, ctxClusterRoleArn},
		{"partial secret ARN", func(p *OkraStackProps) {
			p.DatadogSecretArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:okra/datadog"
		}, ctxDatadogSecretArn},
		{"site with scheme", func(p *OkraStackProps) { p.DatadogSite = "https://datadoghq.eu" }, ctxDatadogSite},
		{"bad schedule", func(p *OkraStackProps) { p.ReconcileSchedule = "every 5 minutes" }, ctxReconcileSchedule},
		{"negative concurrency", func(p *OkraStackProps) { p.ReconcileReservedConcurrency = -1 }, ctxReconcileReservedConcurrency},
		{"target group, not listener", func(p *OkraStackProps) {
			p.ListenerArns = []string{"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123"}
		}, ctxListenerArns},
		{"active timeout too long", func(p *OkraStackProps) { p.ClusterActiveTimeout = 14 * time.Minute }, ctxClusterActiveTimeout},
		{"retention not allowed", func(p *OkraStackProps) { p.LogRetentionDays = 31 }, ctxLogRetentionDays},
		{"table name", func(p *OkraStackProps) { p.TableName = "a b" }, ctxTableName},
		{"rollout timeout", func(p *OkraStackProps) { p.RolloutTimeout = time.Minute }, ctxRolloutTimeout},
		{"email", func(p *OkraStackProps) { p.NotificationEmail = "ops" }, ctxNotificationEmail},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := ok()
			c.mod(&p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), c.key+":") {
				t.Errorf("error %v, want one naming %s", err, c.key)
			}
		})
	}
	p := ok()
	p.ControlPlaneClusterName, p.TableName = "-x", "a b"
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), ctxControlPlaneClusterName) || !strings.Contains(err.Error(), ctxTableName) {
		t.Errorf("want both problems reported, got %v", err)
	}
}

func TestContextString(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{nil, ""}, {"x", "x"}, {float64(1), "1"}, {true, "true"},
		{[]any{"a", "b"}, "a,b"},
	} {
		if got := contextString(c.in); got != c.want {
			t.Errorf("contextString(%#v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestContextFlags(t *testing.T) {
	c := contextFlags{}
	if err := c.Set("a=b=c"); err != nil || c["a"] != "b=c" {
		t.Errorf("Set(a=b=c): %v %v", err, c)
	}
	if err := c.Set("novalue"); err == nil {
		t.Errorf("Set(novalue) accepted")
	}
}
