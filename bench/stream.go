package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"tandem/activities"
	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/devserver"
	"tandem/internal/logging"
)

// The flat-memory check asks whether Tandem streams pages rather than holding a backfill.
// Memory connectors store every record, and an in-memory server keeps every history in
// the heap, so with them the peak grows with the records by construction. The check
// therefore runs with a generated source (records computed from their position, nothing
// stored), a sink target (writes counted, nothing stored) and a server whose SQLite is a
// file: what is left on the heap is Tandem's working set and the server's caches.

// genSource yields n companies in (UpdatedAt, ID) order, computed on demand.
type genSource struct {
	n    int
	base time.Time
}

func (g *genSource) rec(i int) connectors.Record {
	return connectors.Record{
		ID:        fmt.Sprintf("g-%09d", i),
		UpdatedAt: g.base.Add(time.Duration(i) * time.Millisecond),
		Fields:    memory.SampleCompany(i),
	}
}

func (g *genSource) Info() connectors.Info { return connectors.Info{Type: "generated"} }

func (g *genSource) Changes(_ context.Context, _ string, since connectors.Cursor, limit int) (connectors.Page, error) {
	from := sort.Search(g.n, func(i int) bool { return since.Before(g.rec(i)) })
	to := min(g.n, from+limit)
	page := connectors.Page{Records: make([]connectors.Record, 0, to-from), More: to < g.n}
	for i := from; i < to; i++ {
		page.Records = append(page.Records, g.rec(i))
	}
	return page, nil
}

func (g *genSource) CountChanges(_ context.Context, _ string, since connectors.Cursor) (int, error) {
	return g.n - sort.Search(g.n, func(i int) bool { return since.Before(g.rec(i)) }), nil
}

func (g *genSource) Get(_ context.Context, _ string, ids []string) ([]connectors.Record, error) {
	var out []connectors.Record
	for _, id := range ids {
		if i, err := strconv.Atoi(strings.TrimPrefix(id, "g-")); err == nil && i >= 0 && i < g.n {
			out = append(out, g.rec(i))
		}
	}
	return out, nil
}

func (g *genSource) Find(context.Context, string, string, []string) (map[string][]connectors.Record, error) {
	return map[string][]connectors.Record{}, nil
}

func (g *genSource) Create(context.Context, string, []connectors.Record) ([]connectors.WriteResult, error) {
	return nil, fmt.Errorf("the generated source is read-only")
}

func (g *genSource) Update(ctx context.Context, o string, r []connectors.Record) ([]connectors.WriteResult, error) {
	return g.Create(ctx, o, r)
}

func (g *genSource) Upsert(ctx context.Context, o, _ string, r []connectors.Record) ([]connectors.WriteResult, error) {
	return g.Create(ctx, o, r)
}

// sink accepts every write and keeps only a count.
type sink struct{ writes, calls atomic.Int64 }

func (s *sink) Info() connectors.Info { return connectors.Info{Type: "sink", NativeUpsert: true} }
func (s *sink) Changes(context.Context, string, connectors.Cursor, int) (connectors.Page, error) {
	return connectors.Page{}, nil
}
func (s *sink) Get(context.Context, string, []string) ([]connectors.Record, error) { return nil, nil }
func (s *sink) Find(context.Context, string, string, []string) (map[string][]connectors.Record, error) {
	s.calls.Add(1)
	return map[string][]connectors.Record{}, nil
}
func (s *sink) Create(_ context.Context, _ string, recs []connectors.Record) ([]connectors.WriteResult, error) {
	s.calls.Add(1)
	s.writes.Add(int64(len(recs)))
	out := make([]connectors.WriteResult, len(recs))
	for i := range out {
		out[i] = connectors.WriteResult{ID: "sunk", Created: true}
	}
	return out, nil
}
func (s *sink) Update(ctx context.Context, o string, r []connectors.Record) ([]connectors.WriteResult, error) {
	return s.Create(ctx, o, r)
}
func (s *sink) Upsert(ctx context.Context, o, _ string, r []connectors.Record) ([]connectors.WriteResult, error) {
	return s.Create(ctx, o, r)
}

// streamFixture is a one-way sync of n generated companies into a sink.
func streamFixture(name string, n int) *fixture {
	src := &genSource{n: n, base: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	dst := &sink{}
	def := config.Sync{
		Name: name, Mode: config.OneWay,
		A:      config.Side{Connection: "source", Object: "companies", Key: "domain"},
		B:      config.Side{Connection: "target", Object: "companies", Key: "domain"},
		Fields: companyFields, Conflict: config.NewestWins,
		Schedule: config.Schedule{Every: time.Hour}, PageSize: config.DefaultPageSize,
	}
	return &fixture{
		sync: name,
		acts: &activities.Activities{
			Syncs:       &config.File{Path: "bench", Syncs: []config.Sync{def}},
			Connections: map[string]connectors.Connector{"source": src, "target": dst},
		},
		records:    n,
		calls:      func() int { return int(dst.calls.Load()) },
		resetCalls: func() { dst.calls.Store(0); dst.writes.Store(0) },
		targetLen:  func() int { return int(dst.writes.Load()) },
		writes:     func() int { return int(dst.writes.Load()) },
	}
}

// withFileServer runs f with a bench whose client talks to a second embedded server,
// its SQLite in a file of a temporary directory.
func (b *bench) withFileServer(ctx context.Context, f func(*bench) error) error {
	dir, err := os.MkdirTemp("", "tandem-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := devserver.Start(devserver.Options{DBFile: filepath.Join(dir, "temporal.db"), SearchAttributes: app.SearchAttributes})
	if err != nil {
		return fmt.Errorf("file-backed Temporal server: %w", err)
	}
	defer srv.Stop()
	c, err := srv.NewClient(ctx, client.Options{
		Logger:            logging.Temporal(zap.NewNop()),
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}},
	})
	if err != nil {
		return err
	}
	defer c.Close()
	fb := *b
	fb.c = c
	return f(&fb)
}
