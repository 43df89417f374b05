// Package demo is what `worker --dev` runs when no --config is given: two in-process
// services seeded with sample companies and a sync between them, with a few records edited
// every so often so every run has something to show.
package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/internal/config"
)

// Records is how many sample companies the demo's source starts with.
const Records = 500

// Demo is the built-in sync and its services.
type Demo struct {
	Syncs       *config.File
	Connections map[string]connectors.Connector
	source      *memory.Connector
}

// New builds the demo: a one-way sync "companies" from an in-process CRM "source" to an
// in-process CRM "target", matched by domain, every 30 seconds.
func New() *Demo {
	source := memory.New(memory.Options{IDPrefix: "src-"})
	target := memory.New(memory.Options{IDPrefix: "dst-"})
	source.Seed("companies", Records, memory.SampleCompany)
	return &Demo{
		Syncs: &config.File{
			Path: "(built-in demo)",
			Connections: map[string]config.Connection{
				"source": {Name: "source", Type: "memory"},
				"target": {Name: "target", Type: "memory"},
			},
			Syncs: []config.Sync{{
				Name: "companies",
				Mode: config.OneWay,
				A:    config.Side{Connection: "source", Object: "companies", Key: "domain"},
				B:    config.Side{Connection: "target", Object: "companies", Key: "domain"},
				Fields: []config.Field{
					{A: "name", B: "name", Direction: config.Both},
					{A: "domain", B: "domain", Normalize: []string{"domain"}, Direction: config.Both},
					{A: "phone", B: "phone", Direction: config.Both},
					{A: "industry", B: "industry", Direction: config.Both},
				},
				Conflict: config.NewestWins,
				Schedule: config.Schedule{Every: 30 * time.Second},
				PageSize: 100,
			}},
		},
		Connections: map[string]connectors.Connector{"source": source, "target": target},
		source:      source,
	}
}

// Edit changes a few source records every interval until ctx ends, like users of a CRM.
func (d *Demo) Edit(ctx context.Context, every time.Duration, logger *zap.Logger) {
	rng := rand.New(rand.NewPCG(1, 2))
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		all := d.source.All("companies")
		if len(all) == 0 {
			continue
		}
		n := 1 + rng.IntN(5)
		recs := make([]connectors.Record, 0, n)
		for range n {
			r := all[rng.IntN(len(all))]
			recs = append(recs, connectors.Record{ID: r.ID, Fields: map[string]any{
				"phone": fmt.Sprintf("+1 555 %04d", rng.IntN(10000)),
			}})
		}
		if _, err := d.source.Update(ctx, "companies", recs); err != nil {
			logger.Warn("demo edit failed", zap.Error(err))
			continue
		}
		logger.Info("demo: edited source records", zap.Int("records", n))
	}
}
