// Command config-change is the config-change Lambda function: it handles
// Cell spec changes from the table's DynamoDB stream with
// onboarding.Onboarder.ConfigChange. It reads its settings and builds its
// clients once, at cold start.
package main

import (
	"context"

	"github.com/okrahq/okra/internal/lambdamain"
	"github.com/okrahq/okra/internal/onboarding"
)

func main() {
	lambdamain.Run("okra-config-change", func(ctx context.Context, env lambdamain.Env) (any, error) {
		h, err := onboarding.NewFromEnv(ctx, env)
		if err != nil {
			return nil, err
		}
		return h.ConfigChange, nil
	})
}
