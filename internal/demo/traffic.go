package demo

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cw "github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/okrahq/okra/internal/cell"
	"github.com/okrahq/okra/internal/checks"
	"github.com/okrahq/okra/internal/weights"
)

// PutMetricDataAPI is the CloudWatch call the traffic simulator makes.
type PutMetricDataAPI interface {
	PutMetricData(ctx context.Context, params *cw.PutMetricDataInput, optFns ...func(*cw.Options)) (*cw.PutMetricDataOutput, error)
}

// ForwardReader reads a Cell's forward action; *listener.Client
// satisfies it.
type ForwardReader interface {
	Read(ctx context.Context, ing cell.Ingress) (weights.Forward, error)
}

// requestsPerTick is how many requests the simulated clients send per
// traffic interval, split by the listener's weights.
const requestsPerTick = 1000

// traffic simulates the clients behind the load balancer: every interval
// it reads the listener's weights and publishes, per target group, the
// ALB metrics AWS would (RequestCount and HTTPCode_Target_5XX_Count, with
// the LoadBalancer and TargetGroup dimensions), errors at the rate of the
// version the group carries.
type traffic struct {
	cw        PutMetricDataAPI
	listener  ForwardReader
	ingress   cell.Ingress
	lb        string
	versionOf map[string]string // target-group ARN -> version
	errorRate map[string]float64
	interval  time.Duration

	mu       sync.Mutex
	ticks    int
	failures int
	lastErr  error
}

func newTraffic(api PutMetricDataAPI, lis ForwardReader, ing cell.Ingress, errorRate map[string]float64) (*traffic, error) {
	lb, err := checks.LoadBalancerDimension(ing.ListenerARN)
	if err != nil {
		return nil, err
	}
	return &traffic{cw: api, listener: lis, ingress: ing, lb: lb, versionOf: map[string]string{}, errorRate: errorRate, interval: trafficInterval}, nil
}

// setGroups says which version each target group carries.
func (t *traffic) setGroups(versionOf map[string]string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for arn, v := range versionOf {
		t.versionOf[arn] = v
	}
}

// run publishes until ctx ends. It closes done when it returns.
func (t *traffic) run(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		err := t.publish(ctx)
		t.mu.Lock()
		t.ticks++
		if err != nil && ctx.Err() == nil {
			t.failures++
			t.lastErr = err
		}
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// publish sends one interval's metrics.
func (t *traffic) publish(ctx context.Context) error {
	fwd, err := t.listener.Read(ctx, t.ingress)
	if err != nil {
		return fmt.Errorf("reading the listener, %w", err)
	}
	total := fwd.Total()
	if total == 0 {
		return nil
	}
	now := time.Now().UTC().Add(-time.Second)
	var data []cwtypes.MetricDatum
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tg := range fwd.TargetGroups {
		version, ok := t.versionOf[tg.ARN]
		if !ok || tg.Weight == 0 {
			continue
		}
		dim, err := checks.TargetGroupDimension(tg.ARN)
		if err != nil {
			return err
		}
		requests := math.Round(requestsPerTick * float64(tg.Weight) / float64(total))
		errors := math.Round(requests * t.errorRate[version])
		dims := []cwtypes.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String(t.lb)}, {Name: aws.String("TargetGroup"), Value: aws.String(dim)}}
		data = append(data,
			cwtypes.MetricDatum{MetricName: aws.String("RequestCount"), Dimensions: dims, Timestamp: aws.Time(now), Value: aws.Float64(requests), Unit: cwtypes.StandardUnitCount},
			cwtypes.MetricDatum{MetricName: aws.String("HTTPCode_Target_5XX_Count"), Dimensions: dims, Timestamp: aws.Time(now), Value: aws.Float64(errors), Unit: cwtypes.StandardUnitCount},
		)
	}
	if len(data) == 0 {
		return nil
	}
	if _, err := t.cw.PutMetricData(ctx, &cw.PutMetricDataInput{Namespace: aws.String("AWS/ApplicationELB"), MetricData: data}); err != nil {
		return fmt.Errorf("publishing the ALB metrics, %w", err)
	}
	return nil
}

// stats returns how many intervals ran, how many failed and the last
// failure.
func (t *traffic) stats() (ticks, failures int, last error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ticks, t.failures, t.lastErr
}
