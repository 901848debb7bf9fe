// Command cluster-events is the cluster-events Lambda function: it handles
// EKS CreateCluster, TagResource, UntagResource and DeleteCluster calls (CloudTrail via EventBridge) with
// onboarding.Onboarder.ClusterEvents. It reads its settings and builds its
// clients once, at cold start.
package main

import (
	"context"

	"github.com/okrahq/okra/internal/lambdamain"
	"github.com/okrahq/okra/internal/onboarding"
)

func main() {
	lambdamain.Run("okra-cluster-events", func(ctx context.Context, env lambdamain.Env) (any, error) {
		h, err := onboarding.NewFromEnv(ctx, env)
		if err != nil {
			return nil, err
		}
		return h.ClusterEvents, nil
	})
}
