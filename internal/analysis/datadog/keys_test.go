package datadog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/okrahq/okra/internal/analysis"
	"github.com/okrahq/okra/internal/analysis/datadog"
	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/testenv"
)

func createSecret(t *testing.T, sm *secretsmanager.Client, name, value string) string {
	t.Helper()
	out, err := sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	return aws.ToString(out.ARN)
}

func TestSecretKeysFromSecretsManager(t *testing.T) {
	cfg, counter := testenv.AWS(t)
	sm := cfg.SecretsManager()
	ctx := context.Background()
	arn := createSecret(t, sm, "okra/datadog-"+t.Name(), fmt.Sprintf(`{"apiKey":%q,"appKey":%q}`, apiKey, appKey))

	keys := datadog.NewSecretKeys(sm, arn)
	for i := 0; i < 3; i++ {
		got, err := keys.Keys(ctx)
		if err != nil {
			t.Fatalf("Keys: %v", err)
		}
		if got.APIKey != apiKey || got.AppKey != appKey {
			t.Fatalf("keys %q/%q", got.APIKey, got.AppKey)
		}
	}
	if n := counter.Count("Secrets Manager.GetSecretValue"); n != 1 {
		t.Fatalf("%d GetSecretValue calls for three lookups, want 1 (%v)", n, counter.Snapshot())
	}

	// Rotation: the cache holds until Invalidate.
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(`{"apiKey":"new-api","appKey":"new-app"}`)}); err != nil {
		t.Fatalf("PutSecretValue: %v", err)
	}
	if got, _ := keys.Keys(ctx); got.APIKey != apiKey {
		t.Fatalf("cached keys changed before Invalidate")
	}
	keys.Invalidate()
	if got, err := keys.Keys(ctx); err != nil || got.APIKey != "new-api" || got.AppKey != "new-app" {
		t.Fatalf("after Invalidate: %v", err)
	}
}

func TestSecretKeysRefusesBadSecrets(t *testing.T) {
	cfg, _ := testenv.AWS(t)
	sm := cfg.SecretsManager()
	const secretish = "s3cr3t-value-that-must-not-leak"
	cases := []struct {
		name  string
		value string
		want  string
	}{
		{"not JSON", "apiKey=" + secretish, "is not JSON"},
		{"missing appKey", fmt.Sprintf(`{"apiKey":%q}`, secretish), "lacks appKey"},
		{"wrong field names", fmt.Sprintf(`{"api-key":%q,"app-key":%q}`, secretish, secretish), "lacks apiKey and appKey"},
		{"wrong types", `{"apiKey":12345,"appKey":67890}`, "is not JSON"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("okra/bad-datadog-%d", i)
			createSecret(t, sm, name, tc.value)
			_, err := datadog.NewSecretKeys(sm, name).Keys(context.Background())
			if err == nil {
				t.Fatal("Keys succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), name) {
				t.Fatalf("error %q lacks %q or the secret's name", err, tc.want)
			}
			if strings.Contains(err.Error(), secretish) || strings.Contains(err.Error(), "12345") {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
	if _, err := datadog.NewSecretKeys(sm, "okra/no-such-secret").Keys(context.Background()); err == nil {
		t.Fatal("missing secret: Keys succeeded")
	}
}

// TestProviderWithSecretsManagerKeys sends the keys read from the secret.
func TestProviderWithSecretsManagerKeys(t *testing.T) {
	cfg, _ := testenv.AWS(t)
	arn := createSecret(t, cfg.SecretsManager(), "okra/datadog-e2e", fmt.Sprintf(`{"apiKey":%q,"appKey":%q}`, apiKey, appKey))
	srv, ts := newServer(t, ok(v1Body(60, [2]float64{float64(ms(-time.Minute)), 0.01})))
	p := newProvider(t, ts.URL, datadog.NewSecretKeys(cfg.SecretsManager(), arn))
	run, _ := drive(t, template(cell.DatadogMetric{Query: "avg:errors{service:{{args.service}}}"}, "result < 0.05", ""), p, srv, 3)
	if run.Phase != analysis.PhaseSuccessful {
		t.Fatalf("run %s: %s", run.Phase, run.Message)
	}
}

func TestKeysAreRedacted(t *testing.T) {
	k := datadog.Keys{APIKey: apiKey, AppKey: appKey}
	holder := struct{ Keys datadog.Keys }{k}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("loaded", "keys", k)
	encoded, err := json.Marshal(holder)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", k),
		"%+v":  fmt.Sprintf("%+v", holder),
		"%#v":  fmt.Sprintf("%#v", k),
		"%s":   fmt.Sprintf("%s", k),
		"slog": logged.String(),
		"json": string(encoded),
	}
	for how, out := range outputs {
		if strings.Contains(out, apiKey) || strings.Contains(out, appKey) || !strings.Contains(out, "redacted") {
			t.Errorf("%s shows %q", how, out)
		}
	}
}
