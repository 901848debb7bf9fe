package datadog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Keys are a Datadog API key and application key. They print, log and
// marshal as redacted so that they cannot leak through a log line or a
// history item by accident.
type Keys struct {
	APIKey string
	AppKey string
}

const redacted = "[redacted]"

// String hides the keys.
func (Keys) String() string { return "datadog.Keys{" + redacted + "}" }

// GoString hides the keys from %#v.
func (k Keys) GoString() string { return k.String() }

// LogValue hides the keys from slog.
func (Keys) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON hides the keys from JSON encoding.
func (Keys) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// KeySource provides Datadog keys.
type KeySource interface {
	Keys(ctx context.Context) (Keys, error)
}

// StaticKeys is a KeySource that always returns the same keys (tests, local
// runs).
type StaticKeys Keys

// Keys returns k.
func (k StaticKeys) Keys(context.Context) (Keys, error) { return Keys(k), nil }

// GetSecretValueAPI is the one Secrets Manager call okra makes for
// Datadog; *secretsmanager.Client satisfies it.
type GetSecretValueAPI interface {
	GetSecretValue(ctx context.Context, params *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretKeys reads Datadog keys from a Secrets Manager secret whose value
// is JSON {"apiKey": "...", "appKey": "..."}. The secret is fetched on first
// use and cached for the life of the process (one Lambda execution
// environment); a failed fetch is not cached, and Invalidate drops the
// cache so that rotated keys are picked up after Datadog refuses the old
// ones.
type SecretKeys struct {
	api      GetSecretValueAPI
	secretID string

	mu     sync.Mutex
	cached *Keys
}

// NewSecretKeys reads keys from the secret named (or with the ARN) secretID.
func NewSecretKeys(api GetSecretValueAPI, secretID string) *SecretKeys {
	return &SecretKeys{api: api, secretID: secretID}
}

// Keys returns the cached keys, fetching them on first use.
func (s *SecretKeys) Keys(ctx context.Context) (Keys, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != nil {
		return *s.cached, nil
	}
	if s.secretID == "" {
		return Keys{}, errors.New("no Secrets Manager secret is configured for the Datadog keys")
	}
	out, err := s.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.secretID)})
	if err != nil {
		return Keys{}, fmt.Errorf("reading Datadog keys from secret %s, %w", s.secretID, err)
	}
	raw := []byte(aws.ToString(out.SecretString))
	if out.SecretString == nil {
		raw = out.SecretBinary
	}
	var doc struct {
		APIKey string `json:"apiKey"`
		AppKey string `json:"appKey"`
	}
	// The decoder's error could quote the secret; report only where it is.
	if err := json.Unmarshal(raw, &doc); err != nil {
		return Keys{}, fmt.Errorf("secret %s is not JSON of the form {\"apiKey\": \"...\", \"appKey\": \"...\"}", s.secretID)
	}
	var missing []string
	if doc.APIKey == "" {
		missing = append(missing, "apiKey")
	}
	if doc.AppKey == "" {
		missing = append(missing, "appKey")
	}
	if len(missing) > 0 {
		return Keys{}, fmt.Errorf("secret %s lacks %s", s.secretID, strings.Join(missing, " and "))
	}
	s.cached = &Keys{APIKey: doc.APIKey, AppKey: doc.AppKey}
	return *s.cached, nil
}

// Invalidate drops the cached keys; the next Keys call reads the secret
// again.
func (s *SecretKeys) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cached = nil
}
