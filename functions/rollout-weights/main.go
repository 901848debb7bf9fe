// Command rollout-weights is the okra-rollout-weights Lambda function: the
// rollout state machine's SetWeights and VerifyWeights tasks (set the
// planned weights behind the health gate and limits; read them back).
// It wires dependencies once at cold start; the handler lives in
// internal/steps, so the local gateway and the tests run the same code.
package main

import (
	"context"

	"github.com/okrahq/okra/internal/lambdamain"
	"github.com/okrahq/okra/internal/steps"
)

func main() {
	lambdamain.Run("okra-rollout-weights", func(_ context.Context, env lambdamain.Env) (any, error) {
		h, err := steps.NewFromConfig(env.AWS, env.Options, env.Logger)
		if err != nil {
			return nil, err
		}
		return h.Weights, nil
	})
}
