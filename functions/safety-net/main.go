// Command safety-net is the okra-safety-net Lambda function: it receives
// the rollout state machine's "Step Functions Execution Status Change"
// events (FAILED, TIMED_OUT, ABORTED) and, when the ended execution still
// holds its Cell's lease, restores the stable weights. It wires
// dependencies once at cold start; the handler lives in internal/safetynet.
package main

import (
	"context"

	"github.com/okrahq/okra/internal/lambdamain"
	"github.com/okrahq/okra/internal/safetynet"
)

func main() {
	lambdamain.Run("okra-safety-net", func(_ context.Context, env lambdamain.Env) (any, error) {
		h, err := safetynet.NewFromConfig(env.AWS, env.Options, env.Logger)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
}
