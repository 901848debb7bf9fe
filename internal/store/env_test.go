package store_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/okrahq/okra/internal/store"
	"github.com/okrahq/okra/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var tables atomic.Int64

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type env struct {
	ctx   context.Context
	db    *dynamodb.Client
	table string
	clock *clock
	store *store.Store
}

// newEnv creates a table of its own on the shared moto and a Store over
// it.
func newEnv(t *testing.T, o store.Options) *env {
	t.Helper()
	cfg, _ := testenv.AWS(t)
	e := &env{ctx: context.Background(), db: cfg.DynamoDB(), table: fmt.Sprintf("okra-test-%d", tables.Add(1))}
	if err := store.CreateTable(e.ctx, e.db, e.table); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	e.clock = &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)}
	if o.Now == nil {
		o.Now = e.clock.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e.store = store.New(e.db, e.table, o)
	return e
}
