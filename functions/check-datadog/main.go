// Command check-datadog is the rollout state machine's Datadog check
// (CheckDatadog, BackgroundCheckDatadog): it takes the Datadog
// measurements of the analysis at $.analysis that are due and returns the
// updated state. The Datadog keys are read from the Secrets Manager secret
// OKRA_DATADOG_SECRET_ARN on first use (cached, re-read after Datadog
// refuses them) and never logged; the site is OKRA_DATADOG_SITE. The handler is checks.Checker; this main only wires it
// once per execution environment.
package main

import (
	"context"

	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/lambdamain"
)

func main() {
	lambdamain.Run("okra-check-datadog", func(_ context.Context, env lambdamain.Env) (any, error) {
		h, err := checks.NewDatadogFromConfig(env.AWS, env.Options, env.Logger)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	})
}
