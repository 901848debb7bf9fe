package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/okrahq/okra/internal/store"
)

// Notification is what okra tells people about a rollout's end.
type Notification struct {
	Cell string `json:"cell"`
	// Event is RolledBack, Superseded or Finalized.
	Event     store.EventType `json:"event"`
	Version   string          `json:"version,omitempty"`
	Stable    string          `json:"stableVersion,omitempty"`
	Execution string          `json:"executionArn,omitempty"`
	Message   string          `json:"message"`
}

// Subject is a one-line summary (SNS subjects are at most 100 characters).
func (n Notification) Subject() string {
	s := fmt.Sprintf("okra: Cell %s %s %s", n.Cell, n.Event, n.Version)
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// Notifier delivers notifications. Delivery is best effort: the handlers
// log a failure and carry on, since the rollout's state is already
// recorded.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// LogNotifier only logs; it is what runs when no topic is configured.
type LogNotifier struct{ Logger *slog.Logger }

// Notify logs n.
func (l LogNotifier) Notify(ctx context.Context, n Notification) error {
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	log.InfoContext(ctx, "rollout notification (no topic configured)", "cell", n.Cell, "event", n.Event, "version", n.Version, "message", n.Message)
	return nil
}

// SNSPublisher is the SNS call SNSNotifier makes; *sns.Client satisfies it.
type SNSPublisher interface {
	Publish(ctx context.Context, params *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// SNSNotifier publishes each notification as JSON to an SNS topic, with
// the Cell and event as message attributes for subscription filters.
type SNSNotifier struct {
	api   SNSPublisher
	topic string
	log   *slog.Logger
}

// NewNotifier returns an SNSNotifier for topicARN, or a LogNotifier when
// topicARN is empty.
func NewNotifier(api SNSPublisher, topicARN string, log *slog.Logger) Notifier {
	if log == nil {
		log = slog.Default()
	}
	if topicARN == "" || api == nil {
		return LogNotifier{Logger: log}
	}
	return &SNSNotifier{api: api, topic: topicARN, log: log}
}

// Notify publishes n.
func (s *SNSNotifier) Notify(ctx context.Context, n Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encoding notification, %w", err)
	}
	s.log.InfoContext(ctx, "publishing notification", "topic", s.topic, "cell", n.Cell, "event", n.Event)
	_, err = s.api.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(s.topic),
		Subject:  aws.String(n.Subject()),
		Message:  aws.String(string(body)),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"cell":  {DataType: aws.String("String"), StringValue: aws.String(n.Cell)},
			"event": {DataType: aws.String("String"), StringValue: aws.String(string(n.Event))},
		},
	})
	if err != nil {
		return fmt.Errorf("publishing to %s, %w", s.topic, err)
	}
	s.log.InfoContext(ctx, "published notification", "topic", s.topic, "cell", n.Cell, "event", n.Event)
	return nil
}

// notify delivers n, logging (not returning) a failure.
func (h *Handlers) notify(ctx context.Context, n Notification) {
	if err := h.notifier.Notify(ctx, n); err != nil {
		h.log.WarnContext(ctx, "notification not delivered", "cell", n.Cell, "event", n.Event, "error", err)
	}
}
