// Command rollout-rollback is the okra-rollout-rollback Lambda function: the
// rollout state machine's Rollback and Supersede tasks (restore the snapshot
// taken at AcquireLease, then block the version or start the newer rollout).
// It wires dependencies once at cold start; the handler lives in
// internal/steps, so the local gateway and the tests run the same code.
package main

import (
	"context"

	"github.com/okrahq/okra/internal/lambdamain"
	"github.com/okrahq/okra/internal/steps"
)

func main() {
	lambdamain.Run("okra-rollout-rollback", func(_ context.Context, env lambdamain.Env) (any, error) {
		h, err := steps.NewFromConfig(env.AWS, env.Options, env.Logger)
		if err != nil {
			return nil, err
		}
		return h.RollbackHandler, nil
	})
}
