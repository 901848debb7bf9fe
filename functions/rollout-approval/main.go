// Command rollout-approval is the okra-rollout-approval Lambda function: the
// rollout state machine's AwaitApproval task (keeps the task token in the
// Cell status until `okra rollout promote` or `abort` answers it).
// It wires dependencies once at cold start; the handler lives in
// internal/steps, so the local gateway and the tests run the same code.
package main

import (
	"context"

	"github.com/okrahq/okra/internal/lambdamain"
	"github.com/okrahq/okra/internal/steps"
)

func main() {
	lambdamain.Run("okra-rollout-approval", func(_ context.Context, env lambdamain.Env) (any, error) {
		h, err := steps.NewFromConfig(env.AWS, env.Options, env.Logger)
		if err != nil {
			return nil, err
		}
		return h.AwaitApproval, nil
	})
}
