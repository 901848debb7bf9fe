package lambdamain

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestSetupBuildsOnceWithOptions(t *testing.T) {
	calls := 0
	h, err := Setup(context.Background(), env(map[string]string{"AWS_REGION": "us-east-1", "OKRA_TABLE_NAME": "okra"}), slog.Default(),
		func(_ context.Context, e Env) (any, error) {
			calls++
			if e.Options.TableName != "okra" || e.AWS.AWS.Region != "us-east-1" {
				t.Errorf("env = %+v", e.Options)
			}
			return func() error { return nil }, nil
		})
	if err != nil || h == nil || calls != 1 {
		t.Fatalf("Setup = %v, %v after %d builds; want a handler after 1", h, err, calls)
	}
}

func TestSetupReportsBuildErrors(t *testing.T) {
	_, err := Setup(context.Background(), env(map[string]string{"AWS_REGION": "us-east-1"}), slog.Default(),
		func(context.Context, Env) (any, error) { return nil, errors.New("OKRA_TABLE_NAME: required") })
	if err == nil || !strings.Contains(err.Error(), "building the handler, OKRA_TABLE_NAME: required") {
		t.Fatalf("Setup error = %v", err)
	}
}

func TestSetupReportsBadOptions(t *testing.T) {
	_, err := Setup(context.Background(), env(map[string]string{"AWS_REGION": "us-east-1", "OKRA_CLUSTER_ACTIVE_TIMEOUT": "soon"}), slog.Default(),
		func(context.Context, Env) (any, error) { t.Fatal("built despite bad options"); return nil, nil })
	if err == nil || !strings.Contains(err.Error(), "OKRA_CLUSTER_ACTIVE_TIMEOUT") {
		t.Fatalf("Setup error = %v", err)
	}
}
