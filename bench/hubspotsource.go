package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"tandem/activities"
	"tandem/connectors/builtin"
	"tandem/connectors/hubspot/hubspotfake"
	"tandem/connectors/memory"
	"tandem/internal/app"
	"tandem/internal/config"
)

// scenarioHubSpotSource is a first run from HubSpot: -records companies in fake HubSpot
// (modified a day before, under its limits: 190 requests per 10 s, 4 searches a second,
// search_lag 5 s) one-way into an empty in-memory target (so that what is measured is the
// read of HubSpot), page size 1,000. Tandem as it reads a first run (the list endpoint,
// snapshot_max) and reading it by searches alone (snapshot_max 0); not in the default run.
const scenarioHubSpotSource = "hubspot-first-run"

// designSearching is Tandem reading HubSpot by searches alone.
const designSearching = designTandem + " searching"

func (b *bench) hubspotSource(ctx context.Context) ([]result, error) {
	var out []result
	for _, design := range []string{designTandem, designSearching} {
		snapshotMax := "" // the default
		if design == designSearching {
			snapshotMax = "0"
		}
		fx, err := hubspotSourceFixture(uniqueName(scenarioHubSpotSource, design), b.o.records, snapshotMax)
		if err != nil {
			return out, err
		}
		r, err := b.tandem(ctx, fx, false)
		fx.close()
		r.Scenario, r.Design = scenarioHubSpotSource, design
		if err != nil {
			r.Note = "FAILED: " + err.Error()
			return append(out, r), err
		}
		out = append(out, r)
	}
	return out, nil
}

// hubspotSourceFixture seeds n companies in fake HubSpot and syncs them one-way into an
// in-memory target (so that what is measured is the read of HubSpot), with the hubspot
// connection's snapshot_max setting when it is not "".
func hubspotSourceFixture(name string, n int, snapshotMax string) (*fixture, error) {
	hs := hubspotfake.New(hubspotfake.Options{Token: "t"})
	day := time.Now().Add(-24 * time.Hour)
	ids := make([]string, n)
	for j := range n {
		f := memory.SampleCompany(j)
		ids[j] = hs.SeedAt("companies", map[string]string{"name": f["name"].(string), "domain": f["domain"].(string), "phone": f["phone"].(string)},
			day.Add(time.Duration(j)*time.Millisecond))
	}
	hsSrv := httptest.NewServer(hs.Handler())
	hsSettings := map[string]string{"token": "t", "base_url": hsSrv.URL, "find_variants": "{v}"}
	if snapshotMax != "" {
		hsSettings["snapshot_max"] = snapshotMax
	}
	defs := &config.File{
		Path:        "bench",
		Connections: map[string]config.Connection{"hubspot": {Name: "hubspot", Type: "hubspot", Settings: hsSettings}},
		Syncs: []config.Sync{{
			Name: name, Mode: config.OneWay,
			A:      config.Side{Connection: "hubspot", Object: "companies", Key: "domain"},
			B:      config.Side{Connection: "target", Object: "companies", Key: "domain"},
			Fields: companyFields, Conflict: config.NewestWins,
			Schedule: config.Schedule{Every: time.Hour}, PageSize: 1000,
		}},
	}
	conns, err := app.OpenConnections(&config.File{Path: "bench", Connections: defs.Connections}, builtin.Registry())
	if err != nil {
		return nil, fmt.Errorf("open connections: %w", err)
	}
	target := memory.New(memory.Options{IDPrefix: "t-"})
	conns["target"] = target
	return &fixture{
		sync: name, acts: &activities.Activities{Syncs: defs, Connections: conns}, sourceIDs: ids,
		calls:      func() int { return sumCalls(hs.Stats().Requests) },
		resetCalls: hs.ResetStats,
		targetLen:  func() int { return target.Len("companies") },
		writes:     target.Writes,
		shut: func() {
			hsSrv.Close()
			hs.Close()
			closeConns(conns)
		},
	}, nil
}
