package options

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestFromEnvDefaults(t *testing.T) {
	o, err := FromEnv(env(map[string]string{EnvTableName: "okra"}))
	if err != nil {
		t.Fatal(err)
	}
	if o.ArgoCDNamespace != "argocd" || o.DatadogSite != "datadoghq.com" || o.ClusterActiveTimeout != 10*time.Minute {
		t.Fatalf("defaults not applied: %+v", o)
	}
	if err := o.Validate(FieldTableName); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	o, err := FromEnv(env(map[string]string{EnvStateMachineARN: "rollout"}))
	if err != nil {
		t.Fatal(err)
	}
	err = o.Validate(FieldTableName, FieldDatadogSecretARN)
	if err == nil {
		t.Fatal("Validate succeeded, want errors")
	}
	for _, want := range []string{"OKRA_TABLE_NAME: required", "OKRA_DATADOG_SECRET_ARN: required", `OKRA_STATE_MACHINE_ARN: want an ARN, got "rollout"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestFromEnvRejectsBadTimeout(t *testing.T) {
	if _, err := FromEnv(env(map[string]string{EnvClusterActiveTimeout: "soon"})); err == nil {
		t.Fatal("FromEnv accepted a bad duration")
	}
}

func TestFromEnvListenerOptIn(t *testing.T) {
	o, err := FromEnv(env(map[string]string{}))
	if err != nil || o.ListenerOptIn || o.ListenerARNs != nil {
		t.Fatalf("FromEnv() = %+v, %v; want no opt-in requirement by default", o, err)
	}
	o, err = FromEnv(env(map[string]string{EnvListenerOptIn: ListenerOptInRequired, EnvListenerARNs: "arn:a, arn:b,"}))
	if err != nil {
		t.Fatal(err)
	}
	if !o.ListenerOptIn || strings.Join(o.ListenerARNs, "|") != "arn:a|arn:b" {
		t.Fatalf("FromEnv = %+v, want the opt-in required and listeners [arn:a arn:b]", o)
	}
	if _, err := FromEnv(env(map[string]string{EnvListenerOptIn: "yes"})); err == nil || !strings.Contains(err.Error(), EnvListenerOptIn) {
		t.Fatalf("FromEnv accepted %s=yes (err %v)", EnvListenerOptIn, err)
	}
}
