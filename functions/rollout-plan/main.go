// Command rollout-plan is the okra-rollout-plan Lambda function: the rollout
// state machine's AcquireLease, NextStep, StartAnalysis and
// StartBackgroundAnalysis tasks (the planner's decisions, recorded in the
// Cell status).
// It wires dependencies once at cold start; the handler lives in
// internal/steps, so the local gateway and the tests run the same code.
package main

import (
	"context"

	"github.com/okrahq/okra/internal/lambdamain"
	"github.com/okrahq/okra/internal/steps"
)

func main() {
	lambdamain.Run("okra-rollout-plan", func(_ context.Context, env lambdamain.Env) (any, error) {
		h, err := steps.NewFromConfig(env.AWS, env.Options, env.Logger)
		if err != nil {
			return nil, err
		}
		return h.Plan, nil
	})
}
