package testenv_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/okrahq/okra/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestSTSCallerIdentity(t *testing.T) {
	cfg, counter := testenv.AWS(t)
	out, err := cfg.STS().GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if got := aws.ToString(out.Account); got != testenv.AccountID {
		t.Fatalf("account = %q, want %q", got, testenv.AccountID)
	}
	if n := counter.Count("STS.GetCallerIdentity"); n != 1 {
		t.Fatalf("counted %d GetCallerIdentity calls, want 1 (counts: %v)", n, counter.Snapshot())
	}
}
