// Command rollout-finalize is the okra-rollout-finalize Lambda function: the
// rollout state machine's Finalize task (after the rollback window, drop the
// old target groups from the forward action and make the canary stable).
// It wires dependencies once at cold start; the handler lives in
// internal/steps, so the local gateway and the tests run the same code.
package main

import (
	"context"

	"github.com/okrahq/okra/internal/lambdamain"
	"github.com/okrahq/okra/internal/steps"
)

func main() {
	lambdamain.Run("okra-rollout-finalize", func(_ context.Context, env lambdamain.Env) (any, error) {
		h, err := steps.NewFromConfig(env.AWS, env.Options, env.Logger)
		if err != nil {
			return nil, err
		}
		return h.Finalize, nil
	})
}
