package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/definition"
	"tandem/internal/config"
	"tandem/internal/pgserver"
	"tandem/pairs"
)

// The two-way scenario's designs: Tandem one-way, one-way keeping a link per pair (as a
// one-way sync that acts on deletes does), and two-way.
const (
	designOneWay      = designTandem + " one-way"
	designOneWayLinks = designTandem + " one-way keeping links"
	designTwoWay      = designTandem + " two-way"
)

// linksInMap ends the name of a design that kept its links in Go maps (-links map): the
// two-way target is not measured on it.
const linksInMap = " (links in a map)"

// scenarioTwoWay is issue 17's two-way first run at scale: -records companies in side a
// of a two-way memory-to-memory sync with a link store (SQLite in a temporary directory, as
// a worker's --data-dir holds it), against the same records one-way. The first run of a
// two-way sync pairs every record: reads both sides, decides each pair against its (absent)
// link, writes, and saves every link. A third run is one-way keeping a link per pair, as a
// one-way sync that acts on deletes does: two-way against it leaves out what the link store
// costs (printed for information; the target compares with plain one-way).
const scenarioTwoWay = "two-way"

func (b *bench) twoWay(ctx context.Context) ([]result, error) {
	// -links postgres: the link store on a throwaway PostgreSQL server, as a deployment of
	// several workers has it. -links map: the links in Go maps (linkfloor.go), the rest of
	// the store in SQLite.
	linksDSN := ""
	if b.o.links == "postgres" {
		pg, err := pgserver.Start()
		if err != nil {
			return nil, fmt.Errorf("-links postgres: %w", err)
		}
		defer pg.Stop()
		linksDSN = pg.URL("postgres")
	}
	var out []result
	type design struct {
		design string
		mode   config.Mode
		// deletes: the sync acts on deletes, so one-way keeps a link per pair too.
		deletes bool
	}
	designs := []design{{designOneWay, config.OneWay, false}, {designOneWayLinks, config.OneWay, true}, {designTwoWay, config.TwoWay, false}}
	// -designs tandem (or none) runs all three; naming them runs those (a profile of one).
	if !slices.Contains(b.o.designs, designTandem) {
		named := b.o.pick([]string{designOneWay, designOneWayLinks, designTwoWay})
		designs = slices.DeleteFunc(designs, func(d design) bool { return !slices.Contains(named, d.design) })
	}
	for _, run := range designs {
		name := uniqueName(scenarioTwoWay, run.design)
		source := memory.New(memory.Options{IDPrefix: "a-"})
		target := memory.New(memory.Options{IDPrefix: "b-"})
		var fx *fixture
		if b.o.readOrder == "changed" {
			fx = memoryFixtureSeeded(name, seedInNoOrder(source, b.o.records), source, target, config.DefaultPageSize, false)
		} else {
			fx = memoryFixtureWith(name, b.o.records, source, target, config.DefaultPageSize, false)
		}
		fx.acts.Syncs.Syncs[0].Mode = run.mode
		if run.deletes {
			fx.acts.Syncs.Syncs[0].Deletes = definition.Deletes{Mode: definition.DeleteDelete,
				Max: definition.DefaultDeleteMax, MaxPercent: definition.DefaultDeleteMaxPercent}
		}
		dir, err := os.MkdirTemp("", "tandem-bench-links-")
		if err != nil {
			return out, err
		}
		dsn := filepath.Join(dir, "links.db")
		if linksDSN != "" {
			dsn = linksDSN
		}
		links, err := pairs.Open(dsn)
		if err != nil {
			return out, err
		}
		fx.acts.Links = links
		if b.o.links == "map" {
			fx.acts.Links = newMapLinks(links)
		}
		r, err := b.tandem(ctx, fx, false)
		fx.close()
		_ = links.Close()
		_ = os.RemoveAll(dir)
		r.Scenario, r.Design = scenarioTwoWay, run.design
		switch b.o.links {
		case "postgres":
			r.Note = "link store on PostgreSQL (-links postgres)"
		case "map":
			if run.design != designOneWay { // plain one-way keeps no links: it is the same run
				r.Design += linksInMap
				r.Note = "links in Go maps (-links map): the floor of any link store, not a setting of Tandem"
			}
		}
		if b.o.readOrder == "changed" {
			r.Note = strings.TrimPrefix(r.Note+"; side a read in no order of its ids (-read-order changed)", "; ")
		}
		if err != nil {
			r.Note = "FAILED: " + err.Error()
			out = append(out, r)
			return out, fmt.Errorf("%s: %w", run.design, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// scenarioHubSpotTwoWay is the demo's pair two-way: -records accounts in fake Salesloft,
// none in fake HubSpot (its limits and its search's lag, search_lag 5 s), a first run with
// a SQLite link store in a temporary directory. Tandem only (no direct two-way copy to
// hold it against); it shows the run's history per record, which a side whose search
// lags kept page by page in history until "lagged-chunks" version 2.
const scenarioHubSpotTwoWay = "salesloft-hubspot-two-way"

func (b *bench) hubspotTwoWay(ctx context.Context) ([]result, error) {
	name := uniqueName(scenarioHubSpotTwoWay, designTandem)
	fx, err := b.hubspotFixtureMode(name, b.o.records, config.TwoWay)
	if err != nil {
		return nil, err
	}
	defer fx.close()
	dir, err := os.MkdirTemp("", "tandem-bench-links-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	links, err := pairs.Open(filepath.Join(dir, "links.db"))
	if err != nil {
		return nil, err
	}
	defer func() { _ = links.Close() }()
	fx.acts.Links = links
	r, err := b.tandem(ctx, fx, false)
	r.Scenario, r.Design = scenarioHubSpotTwoWay, designTandem
	if err != nil {
		r.Note = "FAILED: " + err.Error()
		return []result{r}, err
	}
	return []result{r}, nil
}

// seedInNoOrder seeds n companies in source as memoryFixtureWith does, but gives the
// records ids in a random order (the same each time): source reads them in the order they
// were seeded, so their ids come in no order, as from a CRM read by last change.
func seedInNoOrder(source *memory.Connector, n int) []connectors.Record {
	out := make([]connectors.Record, 0, n)
	for i, j := range rand.New(rand.NewPCG(1, 2)).Perm(n) {
		out = append(out, source.Put("companies", connectors.Record{ID: fmt.Sprintf("a-%06d", j+1), Fields: memory.SampleCompany(i)}))
	}
	return out
}
