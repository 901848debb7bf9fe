// Command check-cloudwatch is the rollout state machine's CloudWatch check
// (CheckCloudWatch, BackgroundCheckCloudWatch): it takes the CloudWatch
// measurements of the analysis at $.analysis that are due and returns the
// updated state. The handler is checks.Checker; this main only wires it
// once per execution environment.
package main

import (
	"context"

	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/lambdamain"
)

func main() {
	lambdamain.Run("okra-check-cloudwatch", func(_ context.Context, env lambdamain.Env) (any, error) {
		h, err := checks.NewCloudWatchFromConfig(env.AWS, env.Options, env.Logger)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
}
