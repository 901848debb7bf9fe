package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/okrahq/okra/internal/demo"
	"github.com/okrahq/okra/internal/discovery"
	"github.com/okrahq/okra/internal/listener"
)

func newDemoCommand(app *App) *cobra.Command {
	var scenario string
	var port int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "demo [--scenario default|bad-canary]",
		Short: "Run a whole cluster hot-swap locally, against the AWS emulator",
		Long: `Start moto behind okra's local Lambda gateway, deploy okra into it, and
play a cluster hot-swap end to end: a VPC, an ALB with an HTTP listener,
the Cell "web" (2 clusters per version; setWeight 20, analysis, pause,
setWeight 60, analysis, 100), two v1 EKS clusters brought to 100% by
okra's cluster-events function, then two v2 clusters whose CreateCluster
events start a rollout. Simulated clients publish the ALB's RequestCount
and HTTPCode_Target_5XX_Count per target group while the rollout state
machine shifts the weights; the status is shown as "okra rollout status
--watch" shows it. At the end: the listener's weights, the ArgoCD cluster
secrets okra would apply, and the Cell's history.

Scenarios:
  default      v2 is healthy: it ends at 100%, v1's target groups leave the listener
  bad-canary   v2 answers 30% 5xx: the first analysis fails, the listener returns
               exactly to where it was, v2 is blocked

The exit status is 1 when the rollout does not end as the scenario says.
Run it inside the okra checkout ("make emulator" installs moto). Ctrl-C
stops everything the demo started.`,
		Example: `  # The happy path
  okra demo

  # A canary that fails its analysis and is rolled back
  okra demo --scenario bad-canary`,
		Args: cobra.NoArgs,
		RunE: app.runE(func(cmd *cobra.Command, _ []string) error {
			if port < 0 || port > 65535 {
				return usageErrorf("--port must be 0..65535, got %d", port)
			}
			known := false
			for _, s := range demo.Scenarios {
				known = known || s == scenario
			}
			if !known {
				return usageErrorf("unknown --scenario %q: the scenarios are %s", scenario, strings.Join(demo.Scenarios, ", "))
			}
			log := slog.New(slog.DiscardHandler)
			var motoLog io.Writer
			if app.Options.Verbose {
				log, motoLog = app.logger(), app.Err
			}
			_, err := demo.Run(cmd.Context(), demo.Options{
				Scenario: scenario, Out: app.Out, Interactive: isTerminal(app.Out),
				NewStatusView: StatusView, Port: port, Logger: log, MotoLog: motoLog, Timeout: timeout,
			})
			if err != nil && cmd.Context().Err() != nil {
				fmt.Fprintln(app.Err, "okra: demo interrupted; everything it started is stopped")
				return nil
			}
			return err
		}),
	}
	cmd.Flags().StringVar(&scenario, "scenario", demo.ScenarioDefault, "what happens: "+strings.Join(demo.Scenarios, " or "))
	cmd.Flags().IntVar(&port, "port", 0, "port of the local endpoint on 127.0.0.1 (0 picks a free one)")
	cmd.Flags().DurationVar(&timeout, "timeout", demo.DefaultTimeout, "give up when the rollout has not ended after this long")
	return cmd
}

// StatusView is `okra rollout status`'s screen over a running demo: the
// same reads and the same pure renderer.
func StatusView(env demo.Env) (demo.StatusView, error) {
	log := slog.New(slog.DiscardHandler)
	elb := env.AWS.ELBv2()
	src := &statusSource{
		name: env.Cell, st: env.Store,
		lis:    listener.New(elb, listener.Options{Logger: log}),
		tgs:    discovery.NewTargetGroups(elb, env.AWS.Tagging(), discovery.Options{Logger: log}),
		events: 100,
	}
	return func(ctx context.Context, now time.Time) (string, error) {
		in, err := src.read(ctx, now)
		if err != nil {
			return "", err
		}
		var b bytes.Buffer
		if err := renderStatus(&b, buildStatusReport(in, defaultMeasurements), in.Now); err != nil {
			return "", err
		}
		return b.String(), nil
	}, nil
}
