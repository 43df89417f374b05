// Command bench is Tandem's performance suite (issue 8): each scenario runs under three
// designs in one process, on one embedded Temporal server, so the figures are comparable
// as ratios:
//
//   - tandem: the real thing, SyncWorkflow and its activities on a worker;
//   - per-event: the article's design, one workflow per changed record, built from the
//     same connectors and the same activities (perEventWorkflow below);
//   - direct: the same connector calls in a plain loop with no Temporal (the ceiling).
//
// Usage:
//
//	go run ./bench [-scenario name] [-records N] [-json] [-memory-check] [-webhook-seconds S]
//
// Scenarios: backfill-memory, salesloft-to-hubspot, rerun-unchanged, webhooks (tandem
// only), backfill-postgres (tandem, direct and COPY between two databases of a throwaway
// PostgreSQL; postgres.go), two-way (a two-way first run against one-way, twoway.go),
// memory-check (tandem backfill at N and 10xN records), salesloft-hubspot-two-way (the
// demo's pair two-way, tandem only, twoway.go), hubspot-first-run (a first run from
// HubSpot, listed and searched, hubspotsource.go); "all"
// runs the first six, and memory-check as well with -memory-check. topology (issue 14, topology.go) runs
// the production topology in separate processes instead, with its own -topology-* flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"tandem/internal/app"
	"tandem/internal/devserver"
	"tandem/internal/logging"
)

// options are the command's flags.
type options struct {
	scenario       string
	records        int
	perEventShare  int // per-event runs records/perEventShare records
	perEventHubMax int // cap on per-event records under HubSpot's 4 searches/s
	webhookSeconds int
	webhookRate    int
	memoryCheck    bool
	json           bool
	// parallelReads is the sql source's parallel_reads in backfill-postgres (0: its default).
	parallelReads int
	// links is where the two-way scenario keeps its link store: sqlite, postgres or map.
	links string
	// readOrder is the order in which the two-way scenario's source gives its records:
	// ids (one after the other) or changed (in no order of their ids).
	readOrder string
	// designs are the designs to run (all three unless -designs says otherwise).
	designs []string
	// rounds is how many times each scenario runs; each design's median run is reported.
	rounds int
}

// pick lists the designs of the -designs flag that are in all, in all's order.
func (o options) pick(all []string) []string {
	if len(o.designs) == 0 {
		return all
	}
	var out []string
	for _, d := range all {
		if slices.Contains(o.designs, d) {
			out = append(out, d)
		}
	}
	return out
}

var scenarioNames = []string{"backfill-memory", "salesloft-to-hubspot", "rerun-unchanged", "webhooks", scenarioPostgres, scenarioTwoWay, "memory-check", scenarioTopology, scenarioHubSpotTwoWay, scenarioHubSpotSource}

func main() {
	var o options
	flag.StringVar(&o.scenario, "scenario", "all", "scenario to run: all, "+strings.Join(scenarioNames, ", "))
	flag.IntVar(&o.records, "records", 10_000, "records per scenario (per-event runs a share of them)")
	flag.IntVar(&o.perEventShare, "per-event-share", 10, "per-event runs records/N records (rates are compared, not totals)")
	flag.IntVar(&o.perEventHubMax, "per-event-hubspot-max", 100, "at most this many per-event records under HubSpot's limits (one search per record at 4/s)")
	flag.IntVar(&o.webhookSeconds, "webhook-seconds", 60, "how long the webhooks scenario sends")
	flag.IntVar(&o.webhookRate, "webhook-rate", 100, "webhook events per second")
	flag.BoolVar(&o.memoryCheck, "memory-check", false, "also run the flat-memory check: tandem backfill at N and 10xN records")
	flag.BoolVar(&o.json, "json", false, "print the results as JSON instead of a table")
	flag.IntVar(&o.rounds, "rounds", 1, "run the scenarios this many times, each round in a process of its own (designs alternate within a round), and report each design's median run: on a machine whose speed varies, a single run's ratio swings by several points")
	flag.StringVar(&o.links, "links", "sqlite", "two-way: the link store, sqlite (a file, the worker's default), postgres (a throwaway server) or map (links in Go maps: the floor of any store, to see two-way's cost apart from the store's)")
	flag.StringVar(&o.readOrder, "read-order", "ids", "two-way: the order in which side a's records are read, ids (in the order of their ids, as seeded one after the other) or changed (in no order of their ids, as a CRM reads records by their last change: their links go to random places of the link store's index)")
	flag.IntVar(&o.parallelReads, "parallel-reads", 0, "backfill-postgres: the source connection's parallel_reads (0: the sql connector's default, 4; 1: one page after another)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run (server, worker and fakes alike) to this file")
	memProfile := flag.String("memprofile", "", "write a profile of what the whole run allocated (pprof's allocs) to this file at its end")
	flag.StringVar(&runProfiles, "runprofile", "", "write a CPU profile of each measured run alone (not the set-up, the seeding or the other designs) to PREFIX-<scenario>-<design>.pprof")
	designs := flag.String("designs", "", "comma-separated designs to run (tandem, per-event, direct; the two-way scenario's are all tandem, or one of \"tandem one-way\", \"tandem one-way keeping links\", \"tandem two-way\"); default all")
	flag.Parse()
	if *designs != "" {
		for _, d := range strings.Split(*designs, ",") {
			d = strings.TrimSpace(d)
			if known := []string{designTandem, designPerEvent, designDirect, designOneWay, designOneWayLinks, designTwoWay}; !slices.Contains(known, d) {
				fmt.Fprintf(os.Stderr, "bench: -designs: unknown design %q (known: %s)\n", d, strings.Join(known, ", "))
				os.Exit(2)
			}
			o.designs = append(o.designs, d)
		}
	}

	if o.rounds < 1 || o.rounds > 1 && (*cpuProfile != "" || *memProfile != "" || runProfiles != "") || *cpuProfile != "" && runProfiles != "" {
		fmt.Fprintf(os.Stderr, "bench: -rounds: %d is not a positive number of rounds, or more than one with a profile (a profile is of one process); or -cpuprofile and -runprofile together (one CPU profile at a time)\n", o.rounds)
		os.Exit(2)
	}
	if o.rounds > 1 {
		if err := runRounds(o); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if o.readOrder != "ids" && o.readOrder != "changed" {
		fmt.Fprintf(os.Stderr, "bench: -read-order: %q is not ids or changed\n", o.readOrder)
		os.Exit(2)
	}
	if o.links != "sqlite" && o.links != "postgres" && o.links != "map" {
		fmt.Fprintf(os.Stderr, "bench: -links: %q is not sqlite, postgres or map\n", o.links)
		os.Exit(2)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -cpuprofile:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(o); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err == nil {
			err = pprof.Lookup("allocs").WriteTo(f, 0)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -memprofile:", err)
			os.Exit(1)
		}
	}
}

func run(o options) error {
	if o.scenario == scenarioTopology || o.scenario == scenarioTopologyServer {
		return runTopology(o) // processes of its own, no embedded server
	}
	var scenarios []string
	switch o.scenario {
	case "all":
		scenarios = scenarioNames[:6]
		if o.memoryCheck {
			scenarios = append(scenarios, "memory-check")
		}
	default:
		known := false
		for _, n := range scenarioNames {
			known = known || n == o.scenario
		}
		if !known {
			return fmt.Errorf("unknown scenario %q (known: all, %s)", o.scenario, strings.Join(scenarioNames, ", "))
		}
		scenarios = []string{o.scenario}
		if o.memoryCheck && o.scenario != "memory-check" {
			scenarios = append(scenarios, "memory-check")
		}
	}

	// One embedded server for every scenario and design: what differs between designs is
	// then only the design. In memory, like the tests' server.
	srv, err := devserver.Start(devserver.Options{SearchAttributes: app.SearchAttributes})
	if err != nil {
		return fmt.Errorf("embedded Temporal server: %w", err)
	}
	defer srv.Stop()
	ctx := context.Background()
	c, err := srv.NewClient(ctx, client.Options{
		Logger: logging.Temporal(benchLogger()),
		// On loopback, gzip costs CPU and saves nothing (as in internal/testenv).
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}},
	})
	if err != nil {
		return fmt.Errorf("client of the embedded server: %w", err)
	}
	defer c.Close()

	b := &bench{c: c, o: o}
	rep := newReport(o)
	var failures []string
	for _, sc := range scenarios {
		if !o.json {
			fmt.Fprintf(os.Stderr, "running %s...\n", sc)
		}
		res, err := b.scenario(ctx, sc)
		rep.Results = append(rep.Results, res...)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", sc, err))
			fmt.Fprintf(os.Stderr, "FAILED %s: %v\n", sc, err)
		}
	}
	return finish(o, rep, failures)
}

// newReport begins the report of this run, and prints its heading unless o.json.
func newReport(o options) report {
	rep := report{Machine: machine(), Command: "go run ./bench " + strings.Join(os.Args[1:], " ")}
	if !o.json {
		fmt.Printf("# %s\n# %s\n\n", rep.Command, rep.Machine)
	}
	return rep
}

// finish adds the checks, targets and ratios to rep and prints it.
func finish(o options, rep report, failures []string) error {
	rep.Checks = checks(rep.Results)
	rep.Targets = targets(rep.Results)
	rep.Ratios = ratios(rep.Results)
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // targets read ">= 40", not "\u003e= 40"
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printTable(os.Stdout, rep)
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d scenario(s) failed:\n  %s", len(failures), strings.Join(failures, "\n  "))
	}
	return nil
}

// scenario runs one scenario under every design it has.
func (b *bench) scenario(ctx context.Context, name string) ([]result, error) {
	switch name {
	case "backfill-memory":
		return b.threeDesigns(ctx, name, b.memoryFixture, false)
	case "salesloft-to-hubspot":
		return b.threeDesigns(ctx, name, b.hubspotFixture, false)
	case "rerun-unchanged":
		return b.threeDesigns(ctx, name, b.memoryFixture, true)
	case "webhooks":
		var out []result
		for _, d := range b.o.pick([]string{designTandem, designPerEvent, designDirect}) {
			var r result
			var err error
			if d == designTandem {
				r, err = b.webhooks(ctx)
			} else {
				r, err = b.webhooksOther(ctx, d)
			}
			if err != nil {
				r.Note = "FAILED: " + err.Error() + "; " + r.Note
			}
			out = append(out, r)
			if err != nil {
				return out, err
			}
		}
		return out, nil
	case scenarioPostgres:
		return b.backfillPostgres(ctx)
	case scenarioTwoWay:
		return b.twoWay(ctx)
	case scenarioHubSpotTwoWay:
		return b.hubspotTwoWay(ctx)
	case scenarioHubSpotSource:
		return b.hubspotSource(ctx)
	case "memory-check":
		return b.memoryCheck(ctx)
	}
	return nil, fmt.Errorf("unknown scenario %q", name)
}

func machine() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("machine: %s, %d CPUs (GOMAXPROCS %d), %s/%s, %s; Temporal server embedded in this process (SQLite in memory)",
		host, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// bench holds what every scenario shares.
type bench struct {
	c client.Client
	o options
}

// uniqueName names a sync (and so its workflows) for one scenario and design only, so no
// scenario sees another's workflows.
func uniqueName(scenario, design string) string {
	return fmt.Sprintf("bench-%s-%s-%d", scenario, design, time.Now().UnixNano())
}

func benchLogger() *zap.Logger {
	if os.Getenv("BENCH_DEBUG") == "" {
		return zap.NewNop()
	}
	l, _ := zap.NewDevelopment()
	return l
}
