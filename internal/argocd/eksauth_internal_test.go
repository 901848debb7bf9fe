package argocd

import (
	"context"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

type stubPresigner struct{ calls int }

func (p *stubPresigner) PresignGetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.PresignOptions)) (*v4.PresignedHTTPRequest, error) {
	p.calls++
	return &v4.PresignedHTTPRequest{URL: "https://sts.us-east-1.amazonaws.com/?n=" + string(rune('a'+p.calls))}, nil
}

func TestTokenSourceRenewsBeforeEKSExpiry(t *testing.T) {
	p := &stubPresigner{}
	s := NewTokenSource(p, "cp")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	ctx := context.Background()

	first, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		after     time.Duration
		wantCalls int
	}{
		{after: time.Minute, wantCalls: 1},
		{after: 9*time.Minute + 59*time.Second, wantCalls: 1},
		// 10 minutes after signing: 5 minutes before EKS's 15 would end.
		{after: 10 * time.Minute, wantCalls: 2},
		{after: 11 * time.Minute, wantCalls: 2},
		{after: 20 * time.Minute, wantCalls: 3},
	}
	var last string
	for _, st := range steps {
		now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(st.after)
		tok, err := s.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if p.calls != st.wantCalls {
			t.Fatalf("at +%s: %d presignatures, want %d", st.after, p.calls, st.wantCalls)
		}
		last = tok
	}
	if last == first {
		t.Fatal("the renewed token equals the first one")
	}
	if TokenLifetime-tokenRenewBefore >= TokenLifetime || tokenRenewBefore <= 0 {
		t.Fatal("tokens must be renewed before EKS stops accepting them")
	}
}
