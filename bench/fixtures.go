package main

import (
	"fmt"
	"net/http/httptest"
	"time"

	"tandem/activities"
	"tandem/connectors"
	"tandem/connectors/builtin"
	"tandem/connectors/hubspot/hubspotfake"
	"tandem/connectors/memory"
	"tandem/connectors/salesloft/salesloftfake"
	"tandem/internal/app"
	"tandem/internal/config"
)

// fixture is one fresh pair of services seeded with n source records, and the sync
// between them. Every design of every scenario gets its own, so none sees another's
// writes.
type fixture struct {
	sync string
	acts *activities.Activities
	// sourceIDs are the seeded source records' ids, in seeding order (per-event runs a
	// share of them, as if each had been announced by an event); nil where only their
	// number is known (records).
	sourceIDs []string
	// records is how many records the source holds when sourceIDs is nil: a fixture of
	// millions of generated records keeps no ids, which the flat-memory check would count
	// as Tandem's heap (16 bytes a record).
	records int
	// calls is the number of API calls both services received since resetCalls.
	calls      func() int
	resetCalls func()
	// targetLen is how many records the target holds; writes how many it wrote since
	// resetCalls.
	targetLen func() int
	writes    func() int
	// shut closes what the fixture opened (servers, connections); close calls it.
	shut func()
}

// close ends a fixture once its design has run: it closes what the fixture opened and
// empties its activities. A stopped worker's activities stay reachable (its last workflow
// execution's coroutine stays in the process, waiting where the sync waits for its next
// run, and holds what the worker registered), and with them the fixture's connections and
// every record of their fakes: the designs run after it would otherwise collect that
// heap with their own garbage, on every cycle (two-way, 100,000 pairs: 288 MB live at its
// start after the two designs before it, 42 MB with them emptied).
func (fx *fixture) close() {
	if fx.shut != nil {
		fx.shut()
	}
	*fx.acts = activities.Activities{}
}

// companyFields is the mapping every scenario syncs: name, domain (normalized) and phone.
var companyFields = []config.Field{
	{A: "name", B: "name", Direction: config.Both},
	{A: "domain", B: "domain", Normalize: []string{"domain"}, Direction: config.Both},
	{A: "phone", B: "phone", Direction: config.Both},
}

// memoryFixture is a one-way memory-to-memory sync of n companies, as the workflows'
// backfill benchmark sets it up (page size 500, the default).
func (b *bench) memoryFixture(name string, n int) (*fixture, error) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	return memoryFixtureWith(name, n, source, target, config.DefaultPageSize, false), nil
}

func memoryFixtureWith(name string, n int, source, target *memory.Connector, pageSize int, webhooks bool) *fixture {
	return memoryFixtureSeeded(name, source.Seed("companies", n, memory.SampleCompany), source, target, pageSize, webhooks)
}

// memoryFixtureSeeded is memoryFixtureWith over recs, the records seeded in source.
func memoryFixtureSeeded(name string, recs []connectors.Record, source, target *memory.Connector, pageSize int, webhooks bool) *fixture {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	def := config.Sync{
		Name: name, Mode: config.OneWay,
		A:      config.Side{Connection: "source", Object: "companies", Key: "domain"},
		B:      config.Side{Connection: "target", Object: "companies", Key: "domain"},
		Fields: companyFields, Conflict: config.NewestWins,
		// An hour: only the first run (and signalled ones) happen while we measure.
		Schedule: config.Schedule{Every: time.Hour},
		PageSize: pageSize, Webhooks: webhooks,
	}
	acts := &activities.Activities{
		Syncs:       &config.File{Path: "bench", Syncs: []config.Sync{def}},
		Connections: map[string]connectors.Connector{"source": source, "target": target},
	}
	return &fixture{
		sync: name, acts: acts, sourceIDs: ids,
		calls:      func() int { return sumCalls(source.Calls()) + sumCalls(target.Calls()) },
		resetCalls: func() { source.ResetCounts(); target.ResetCounts() },
		targetLen:  func() int { return target.Len("companies") },
		writes:     target.Writes,
	}
}

// hubspotFixture is fake Salesloft to fake HubSpot through the real connectors, as
// internal/demo's benchmark sets it up: HubSpot's default limits (190 requests per 10 s,
// 4 searches per second) enforced by the fake, Salesloft's budget off so HubSpot's limit
// is the only one, page size 1,000, one spelling per key in searches.
func (b *bench) hubspotFixture(name string, n int) (*fixture, error) {
	return b.hubspotFixtureMode(name, n, config.OneWay)
}

// hubspotFixtureMode is hubspotFixture one-way or two-way.
func (b *bench) hubspotFixtureMode(name string, n int, mode config.Mode) (*fixture, error) {
	sl := salesloftfake.New(salesloftfake.Options{Token: "t", CostPerMinute: salesloftfake.Unlimited})
	hs := hubspotfake.New(hubspotfake.Options{Token: "t"})
	ids := make([]string, n)
	for j := range n {
		f := memory.SampleCompany(j)
		ids[j] = sl.Seed(map[string]any{"name": f["name"], "domain": f["domain"], "phone": f["phone"]})
	}
	slSrv, hsSrv := httptest.NewServer(sl.Handler()), httptest.NewServer(hs.Handler())
	defs := &config.File{
		Path: "bench",
		Connections: map[string]config.Connection{
			// The client needs a positive budget; a generous one stands for none.
			"salesloft": {Name: "salesloft", Type: "salesloft", Settings: map[string]string{"token": "t", "base_url": slSrv.URL, "cost_per_minute": "1000000"}},
			"hubspot":   {Name: "hubspot", Type: "hubspot", Settings: map[string]string{"token": "t", "base_url": hsSrv.URL, "find_variants": "{v}"}},
		},
		Syncs: []config.Sync{{
			Name: name, Mode: mode,
			A:      config.Side{Connection: "salesloft", Object: "accounts", Key: "domain"},
			B:      config.Side{Connection: "hubspot", Object: "companies", Key: "domain"},
			Fields: companyFields, Conflict: config.NewestWins,
			Schedule: config.Schedule{Every: time.Hour}, PageSize: 1000,
		}},
	}
	conns, err := app.OpenConnections(defs, builtin.Registry())
	if err != nil {
		return nil, fmt.Errorf("open connections: %w", err)
	}
	return &fixture{
		sync: name, acts: &activities.Activities{Syncs: defs, Connections: conns}, sourceIDs: ids,
		calls:      func() int { return sumCalls(hs.Stats().Requests) + sumCalls(sl.Stats().Requests) },
		resetCalls: func() { hs.ResetStats(); sl.ResetStats() },
		targetLen:  func() int { return len(hs.Records("companies")) },
		writes:     func() int { return hs.Stats().Writes },
		shut: func() {
			slSrv.Close()
			hsSrv.Close()
			sl.Close()
			hs.Close()
			closeConns(conns)
		},
	}, nil
}

// sumCalls is the number of calls in a fake's per-endpoint counts.
func sumCalls(byEndpoint map[string]int) int {
	t := 0
	for _, n := range byEndpoint {
		t += n
	}
	return t
}

// closeConns closes the connections that hold resources (a client's idle HTTP
// connections, a database pool).
func closeConns(conns map[string]connectors.Connector) {
	for _, cn := range conns {
		if cl, ok := cn.(interface{ Close() }); ok {
			cl.Close()
		}
	}
}

// n is how many records the fixture's source holds.
func (fx *fixture) n() int {
	if fx.sourceIDs == nil {
		return fx.records
	}
	return len(fx.sourceIDs)
}
