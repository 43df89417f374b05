// Package demo is what `worker --dev` runs when no --config is given: two in-process
// services seeded with sample companies and a sync between them, with a few records edited
// every so often so every run has something to show. The source sends a signed webhook
// (Standard Webhooks) for every change, so edits arrive in real time between the
// scheduled runs.
package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/connectors/standardwebhooks"
	"tandem/internal/config"
)

// Records is how many sample companies the demo's source starts with.
const Records = 500

// Secret signs the demo source's webhooks. It is not a secret: the demo runs on loopback.
const Secret = "whsec_dGFuZGVtLWRldi1kZW1vLXdlYmhvb2stc2VjcmV0"

// Demo is the built-in sync and its services.
type Demo struct {
	Syncs       *config.File
	Connections map[string]connectors.Connector
	source      *memory.Connector
	emitter     *standardwebhooks.Emitter
}

// New builds the demo: a one-way sync "companies" from an in-process CRM "source" to an
// in-process CRM "target", matched by domain, every 30 seconds. When ingress is not
// empty (the ingress's base URL, e.g. http://127.0.0.1:8080), the source sends its changes
// there as signed webhooks.
func New(ingress string, logger *zap.Logger) *Demo {
	var hook atomic.Pointer[func(string, connectors.Record)]
	source := memory.New(memory.Options{IDPrefix: "src-", OnChange: func(object string, r connectors.Record) {
		if h := hook.Load(); h != nil {
			(*h)(object, r)
		}
	}})
	target := memory.New(memory.Options{IDPrefix: "dst-"})
	// Seeded before the hook is set: the first run reads these, no webhooks needed.
	source.Seed("companies", Records, memory.SampleCompany)
	var emitter *standardwebhooks.Emitter
	if ingress != "" {
		emitter = standardwebhooks.NewEmitter(ingress+"/webhooks/companies/a", Secret, standardwebhooks.EmitterOptions{Logger: logger})
		h := emitter.OnChange
		hook.Store(&h)
	}
	return &Demo{
		Syncs: &config.File{
			Path: "(built-in demo)",
			Connections: map[string]config.Connection{
				"source": {Name: "source", Type: "memory", Settings: map[string]string{"webhook_secret": Secret}},
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
				Webhooks: ingress != "",
			}},
		},
		Connections: map[string]connectors.Connector{"source": source, "target": target},
		source:      source,
		emitter:     emitter,
	}
}

// Close stops the webhook sender.
func (d *Demo) Close() {
	if d.emitter != nil {
		d.emitter.Close()
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
