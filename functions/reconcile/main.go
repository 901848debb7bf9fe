// Command reconcile is the reconcile Lambda function: it handles
// the EventBridge schedule: a full, idempotent reconcile of every cluster and Cell with
// onboarding.Onboarder.Reconcile. It reads its settings and builds its
// clients once, at cold start.
package main

import (
	"context"

	"github.com/okrahq/okra/internal/lambdamain"
	"github.com/okrahq/okra/internal/onboarding"
)

func main() {
	lambdamain.Run("okra-reconcile", func(ctx context.Context, env lambdamain.Env) (any, error) {
		h, err := onboarding.NewFromEnv(ctx, env)
		if err != nil {
			return nil, err
		}
		return h.Reconcile, nil
	})
}
