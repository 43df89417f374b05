package main

// The topology scenario (issue 14, "Scale-out, shown") runs Tandem's production topology
// on this machine, every piece in its own process but the ingress:
//
//   - a throwaway PostgreSQL (internal/pgserver) holding Temporal's two databases, the
//     syncs' tables and the link store;
//   - a Temporal server (go.temporal.io/server through internal/devserver) on that
//     PostgreSQL, in a child process (this binary, re-run as -scenario topology-server);
//   - two worker processes: the real worker binary, built once with go build, each with
//     the same definitions file, TEMPORAL_ADDRESS and TANDEM_LINKS_DSN;
//   - the webhook ingress (internal/ingress) in this process, signalling Temporal.
//
// The definitions file has -topology-syncs one-way syncs, src_NNN -> dst_NNN, tables of
// the same PostgreSQL database, so both workers see the same data. The target tables have
// no UNIQUE constraint on the key: a record the engine created twice would show as a
// duplicate instead of being refused by the database. The bench seeds the sources, starts
// every sync and waits for the first copy, then inserts and updates rows for
// -topology-seconds at -topology-rate changes a second, posting a webhook for every other
// change. A third of the way in it kills one worker with SIGKILL and at once inserts one
// probe row in every source table (no webhook: the scheduled run must find it), timing
// when each probe reaches its target: every sync has then run on the surviving worker.
// When the writes stop it waits until every target equals its source and counts what is
// missing, stale, extra or duplicated.
//
// The sql connector receives no webhooks (a database has no webhook scheme of its own), so
// the workers' file says nothing of webhooks and the bench's ingress, on its own copy of
// the definitions, turns them on and verifies Standard Webhooks for the sql connections,
// as a trigger or a change-data-capture relay posting them would be verified. `starter
// webhooks`, the ingress process of production, knows only the connector types that have
// a scheme. A sync's workflow takes change signals whatever its file says of webhooks.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"tandem/connectors/builtin"
	"tandem/connectors/sqldb"
	"tandem/connectors/standardwebhooks"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/devserver"
	"tandem/internal/ingress"
	"tandem/internal/logging"
	"tandem/internal/pgserver"
	"tandem/workflows"
)

const (
	scenarioTopology = "topology"
	// scenarioTopologyServer is the Temporal server child process of the topology
	// scenario; not listed.
	scenarioTopologyServer = "topology-server"

	topoEnvPostgres = "TANDEM_TOPOLOGY_TEMPORAL_DB"
	topoEnvPort     = "TANDEM_TOPOLOGY_TEMPORAL_PORT"
	topoEnvShards   = "TANDEM_TOPOLOGY_SHARDS"
	topoEnvParts    = "TANDEM_TOPOLOGY_PARTITIONS"
	// topoEnvDataDSN is the variable the definitions file reads the data DSN from.
	topoEnvDataDSN = "TOPOLOGY_DATA_DSN"

	topoSecret   = "whsec_dG9wb2xvZ3ktYmVuY2gtc2VjcmV0"
	topoDataDB   = "tandem_data"
	topoTemporal = "temporal"
	topoReady    = "READY "
)

// topologyOptions are the scenario's flags (registered here, parsed by main).
type topologyOptions struct {
	syncs, rows, workers, rate, seconds, shards int
	partitions                                  int
	every                                       time.Duration
	webhookEvery                                int
	converge                                    time.Duration
	keep                                        bool
}

var topo topologyOptions

func init() {
	flag.IntVar(&topo.syncs, "topology-syncs", 100, "topology: number of syncs (one source and one target table each)")
	flag.IntVar(&topo.rows, "topology-rows", 200, "topology: rows seeded in each source table")
	flag.IntVar(&topo.workers, "topology-workers", 2, "topology: worker processes (one is killed)")
	flag.IntVar(&topo.rate, "topology-rate", 40, "topology: source changes a second (inserts and updates), across all tables")
	flag.IntVar(&topo.seconds, "topology-seconds", 60, "topology: how long the changes go on; the kill is a third of the way in")
	flag.IntVar(&topo.shards, "topology-shards", 4, "topology: Temporal history shards")
	flag.IntVar(&topo.partitions, "topology-partitions", 0, "topology: partitions of every task queue (matching.numTaskqueueRead/WritePartitions; 0: the server's default, 4)")
	flag.DurationVar(&topo.every, "topology-every", 5*time.Second, "topology: the syncs' schedule")
	flag.IntVar(&topo.webhookEvery, "topology-webhook-every", 2, "topology: post a webhook for every Nth change (0: none)")
	flag.DurationVar(&topo.converge, "topology-converge-timeout", 3*time.Minute, "topology: how long to wait for the targets to equal the sources")
	flag.BoolVar(&topo.keep, "topology-keep", false, "topology: keep the working directory (logs, definitions) even when the run passes")
}

// topoResult is what the scenario measured.
type topoResult struct {
	Syncs          int     `json:"syncs"`
	Workers        int     `json:"workers"`
	Every          string  `json:"schedule_every"`
	Partitions     int     `json:"task_queue_partitions"`
	SeededRows     int     `json:"seeded_rows"`
	SourceRows     int     `json:"source_rows"`
	TargetRows     int     `json:"target_rows"`
	Inserts        int     `json:"inserts"`
	Updates        int     `json:"updates"`
	Webhooks       int     `json:"webhooks"`
	WebhookFailed  int     `json:"webhooks_failed"`
	FirstCopyS     float64 `json:"first_copy_s"`
	ProbesArrived  int     `json:"probes_arrived"`
	ProbeP50S      float64 `json:"probe_p50_s"`
	ProbeMaxS      float64 `json:"probe_max_s"`
	KillToConvS    float64 `json:"kill_to_converged_s"`
	LastWriteConvS float64 `json:"last_write_to_converged_s"`
	Missing        int     `json:"rows_missing"`
	Stale          int     `json:"rows_stale"`
	Extra          int     `json:"rows_extra"`
	Duplicated     int     `json:"rows_duplicated"`
	SyncsRunning   int     `json:"syncs_running_at_end"`
	SyncsFailing   int     `json:"syncs_failing_at_end"`
	// Failing says why, for the first few syncs not running or failing.
	Failing []string `json:"failing,omitempty"`
	// Answered is how many status queries were answered (in 30 s), in how long, at the
	// end; Before* the same before the changes and the kill (two workers).
	BeforeAnswered int     `json:"status_queries_answered_before"`
	BeforeP50S     float64 `json:"status_query_p50_s_before"`
	BeforeMaxS     float64 `json:"status_query_max_s_before"`
	Answered       int     `json:"status_queries_answered"`
	QueryP50S      float64 `json:"status_query_p50_s"`
	QueryMaxS      float64 `json:"status_query_max_s"`
	Created        int     `json:"tandem_created"`
	Updated        int     `json:"tandem_updated"`
	BeforeKill     []int64 `json:"records_written_per_worker_before_kill"`
	SurvivorTotal  int64   `json:"records_written_by_survivor"`
	// Mean schedule-to-start latencies (ms) of workflow tasks and activities: each
	// worker's from the start of the changes to the kill, worker 2's from the kill to
	// convergence.
	WFTWaitBeforeMs []float64 `json:"wft_schedule_to_start_ms_before_kill"`
	ActWaitBeforeMs []float64 `json:"activity_schedule_to_start_ms_before_kill"`
	WFTWaitAfterMs  float64   `json:"wft_schedule_to_start_ms_after_kill"`
	ActWaitAfterMs  float64   `json:"activity_schedule_to_start_ms_after_kill"`
	// CPU seconds used from the start of the changes to convergence (the killed worker's
	// until the kill), over CPUWallS seconds of wall time.
	CPUWorkers  []float64 `json:"cpu_s_workers"`
	CPUTemporal float64   `json:"cpu_s_temporal"`
	CPUPostgres float64   `json:"cpu_s_postgres"`
	CPUBench    float64   `json:"cpu_s_bench"`
	CPUWallS    float64   `json:"cpu_wall_s"`
	BuildS      float64   `json:"worker_build_s"`
	TotalS      float64   `json:"total_s"`
}

// runTopology runs the topology scenario, or, as its child process, the Temporal server.
func runTopology(o options) error {
	if o.scenario == scenarioTopologyServer {
		return serveTopologyTemporal()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t := &topology{o: topo, start: time.Now()}
	loadBefore := loadAverage()
	res, err := t.run(ctx)
	rep := topoReport{
		Command: "go run ./bench " + strings.Join(os.Args[1:], " "),
		Machine: topoMachine(),
		Load:    loadBefore + "; " + loadAverage(),
		Result:  res,
		Checks:  topoChecks(res, err),
	}
	passed := err == nil
	for _, c := range rep.Checks {
		passed = passed && c.Pass
	}
	t.cleanup(passed && !topo.keep)
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if e := enc.Encode(rep); e != nil {
			return e
		}
	} else {
		printTopology(os.Stdout, rep)
	}
	if err != nil {
		return fmt.Errorf("topology: %w (logs in %s)", err, t.dir)
	}
	for _, c := range rep.Checks {
		if !c.Pass {
			return fmt.Errorf("topology: %s: %s, want %s (logs in %s)", c.Name, c.Value, c.Target, t.dir)
		}
	}
	return nil
}

// topology is one run of the scenario: its processes and connections.
type topology struct {
	o     topologyOptions
	start time.Time
	dir   string

	pg       *pgserver.Server
	temporal *exec.Cmd
	workers  []*topoWorker
	c        client.Client
	db       *sql.DB
	hookURL  string

	tables  []*topoTable
	inserts atomic.Int64
	updates atomic.Int64
	hooks   atomic.Int64
	hookErr atomic.Int64
}

type topoWorker struct {
	cmd     *exec.Cmd
	metrics string
	killed  bool
}

// topoTable is one sync's pair of tables and the source keys written so far.
type topoTable struct {
	n       int
	sync    string
	src     string
	dst     string
	refs    []string
	counter int
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (t *topology) run(ctx context.Context) (topoResult, error) {
	res := topoResult{Syncs: t.o.syncs, Workers: t.o.workers, Every: t.o.every.String(), Partitions: t.o.partitions}
	if t.o.syncs < 1 || t.o.workers < 2 || t.o.rate < 1 || t.o.seconds < 3 {
		return res, errors.New("need -topology-syncs >= 1, -topology-workers >= 2, -topology-rate >= 1, -topology-seconds >= 3")
	}
	var err error
	if t.dir, err = os.MkdirTemp("", "tandem-topology-"); err != nil {
		return res, err
	}
	logf("working directory %s", t.dir)

	// The worker binary builds while PostgreSQL and Temporal start.
	built := make(chan error, 1)
	go func() {
		begin := time.Now()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(t.dir, "worker"), "./worker")
		out, err := cmd.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build ./worker (run the bench from the module's root): %v: %s", err, out)
		}
		res.BuildS = time.Since(begin).Seconds()
		built <- err
	}()

	if t.pg, err = pgserver.Start("max_connections=400"); err != nil {
		return res, err
	}
	logf("PostgreSQL on %s", t.pg.Addr())
	if t.db, err = sql.Open("pgx", t.pg.URL("postgres")); err != nil {
		return res, err
	}
	if _, err := t.db.ExecContext(ctx, "CREATE DATABASE "+topoDataDB); err != nil {
		return res, fmt.Errorf("create database: %w", err)
	}
	_ = t.db.Close()
	dataDSN := t.pg.URL(topoDataDB)
	if t.db, err = sql.Open("pgx", dataDSN); err != nil {
		return res, err
	}
	t.db.SetMaxOpenConns(32)

	addr, err := t.startTemporal(ctx)
	if err != nil {
		return res, err
	}
	logf("Temporal server (child process %d) on %s, persisted in PostgreSQL", t.temporal.Process.Pid, addr)
	if t.c, err = client.DialContext(ctx, client.Options{HostPort: addr, Namespace: app.DefaultNamespace, Logger: logging.Temporal(zap.NewNop())}); err != nil {
		return res, err
	}

	if err := t.createTables(ctx); err != nil {
		return res, err
	}
	res.SeededRows = t.o.syncs * t.o.rows
	defs, err := t.writeDefinitions()
	if err != nil {
		return res, err
	}
	logf("%d source tables seeded with %d rows each; definitions in %s", t.o.syncs, t.o.rows, defs)

	if err := <-built; err != nil {
		return res, err
	}
	logf("worker binary built in %.0f s", res.BuildS)
	for i := range t.o.workers {
		w, err := t.startWorker(ctx, i, addr, defs, dataDSN)
		if err != nil {
			return res, err
		}
		t.workers = append(t.workers, w)
	}
	if err := t.awaitPollers(ctx); err != nil {
		return res, err
	}
	logf("%d worker processes polling task queue %s", t.o.workers, workflows.TaskQueue)

	if err := t.startIngress(ctx, defs, dataDSN); err != nil {
		return res, err
	}
	logf("webhook ingress on %s", t.hookURL)

	begin := time.Now()
	for _, tb := range t.tables {
		// What `starter start` does: a sync is a workflow with a fixed id.
		if _, err := t.c.ExecuteWorkflow(ctx, workflows.StartOptions(tb.sync), workflows.SyncWorkflow, workflows.SyncInput{Sync: tb.sync}); err != nil {
			return res, fmt.Errorf("start sync %s: %w", tb.sync, err)
		}
	}
	logf("%d syncs started", t.o.syncs)
	if _, err := t.awaitConverged(ctx, 3*time.Minute); err != nil {
		return res, fmt.Errorf("first copy: %w", err)
	}
	res.FirstCopyS = time.Since(begin).Seconds()
	logf("first copy of %d rows done in %.1f s", res.SeededRows, res.FirstCopyS)

	res.BeforeAnswered, res.BeforeP50S, res.BeforeMaxS = answered(t.queryStatuses(ctx))
	logf("status queries with both workers: %d of %d answered, p50 %.1f s, max %.1f s", res.BeforeAnswered, t.o.syncs, res.BeforeP50S, res.BeforeMaxS)

	// Changes, the kill, the probes.
	victim := t.workers[0]
	killAfter := time.Duration(t.o.seconds) * time.Second / 3
	var killAt time.Time
	probes := make(chan probe, len(t.tables))
	m0 := t.scrapeAll()
	cpu0, loadStart := t.cpu(), time.Now()
	load := t.startLoad(ctx, probes)
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(killAfter):
	}
	mk := t.scrapeAll()
	cpuK := t.cpu()
	for i := range t.workers {
		res.BeforeKill = append(res.BeforeKill, int64(mk[i].written))
		wft, act := waits(m0[i], mk[i])
		res.WFTWaitBeforeMs = append(res.WFTWaitBeforeMs, wft)
		res.ActWaitBeforeMs = append(res.ActWaitBeforeMs, act)
	}
	killAt = time.Now()
	if err := victim.cmd.Process.Kill(); err != nil { // SIGKILL
		return res, fmt.Errorf("kill worker: %w", err)
	}
	victim.killed = true
	logf("killed worker 1 (pid %d) with SIGKILL; records it had written: %d", victim.cmd.Process.Pid, res.BeforeKill[0])
	load.probe <- struct{}{}
	arrivals := t.watchProbes(ctx, probes, len(t.tables))

	if err := load.wait(ctx, time.Duration(t.o.seconds)*time.Second-killAfter); err != nil {
		return res, err
	}
	lastWrite := time.Now()
	res.Inserts, res.Updates = int(t.inserts.Load()), int(t.updates.Load())
	res.Webhooks, res.WebhookFailed = int(t.hooks.Load()), int(t.hookErr.Load())
	logf("changes stopped: %d inserts, %d updates, %d webhooks (%d not acknowledged)",
		res.Inserts, res.Updates, res.Webhooks, res.WebhookFailed)

	st, err := t.awaitConverged(ctx, t.o.converge)
	converged := time.Now()
	res.SourceRows, res.TargetRows = st.source, st.target
	res.Missing, res.Stale, res.Extra, res.Duplicated = st.missing, st.stale, st.extra, st.dup
	if err != nil {
		return res, err
	}
	res.KillToConvS = converged.Sub(killAt).Seconds()
	res.LastWriteConvS = converged.Sub(lastWrite).Seconds()
	logf("every target equals its source, %.1f s after the last write", res.LastWriteConvS)

	lat := <-arrivals
	res.ProbesArrived = len(lat)
	if len(lat) > 0 {
		res.ProbeP50S = topoPct(lat, 50).Seconds()
		res.ProbeMaxS = topoPct(lat, 100).Seconds()
	}
	me, cpuE := t.scrapeAll(), t.cpu()
	res.CPUWallS = converged.Sub(loadStart).Seconds()
	res.SurvivorTotal = int64(me[1].written)
	res.WFTWaitAfterMs, res.ActWaitAfterMs = waits(mk[1], me[1])
	for i := range t.workers {
		end := cpuE.workers[i]
		if t.workers[i].killed {
			end = cpuK.workers[i]
		}
		res.CPUWorkers = append(res.CPUWorkers, end-cpu0.workers[i])
	}
	res.CPUTemporal, res.CPUPostgres, res.CPUBench = cpuE.temporal-cpu0.temporal, cpuE.pg-cpu0.pg, cpuE.self-cpu0.self
	t.syncStates(ctx, &res)
	res.TotalS = time.Since(t.start).Seconds()
	return res, nil
}

// startTemporal runs the Temporal server child process and waits for its READY line.
func (t *topology) startTemporal(ctx context.Context) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	port, err := topoFreePort()
	if err != nil {
		return "", err
	}
	logFile, err := os.Create(filepath.Join(t.dir, "temporal.log"))
	if err != nil {
		return "", err
	}
	cmd := exec.Command(exe, "-scenario", scenarioTopologyServer)
	cmd.Env = append(os.Environ(),
		topoEnvPostgres+"="+t.pg.URL(topoTemporal),
		topoEnvPort+"="+strconv.Itoa(port),
		topoEnvShards+"="+strconv.Itoa(t.o.shards),
		topoEnvParts+"="+strconv.Itoa(t.o.partitions))
	cmd.Stderr = logFile
	cmd.SysProcAttr = childAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start Temporal server process: %w", err)
	}
	t.temporal = cmd
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), topoReady); ok {
				ready <- a
			}
		}
		close(ready)
	}()
	select {
	case a, ok := <-ready:
		if !ok {
			return "", fmt.Errorf("Temporal server process exited before it was ready (see %s)", logFile.Name())
		}
		return a, nil
	case <-time.After(2 * time.Minute):
		return "", fmt.Errorf("Temporal server not ready after 2 minutes (see %s)", logFile.Name())
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// serveTopologyTemporal is the Temporal server process: devserver on PostgreSQL until
// SIGTERM (or its parent's death).
func serveTopologyTemporal() error {
	port, _ := strconv.Atoi(os.Getenv(topoEnvPort))
	shards, _ := strconv.Atoi(os.Getenv(topoEnvShards))
	var dc map[string]any
	if parts, _ := strconv.Atoi(os.Getenv(topoEnvParts)); parts > 0 {
		dc = map[string]any{"matching.numTaskqueueReadPartitions": parts, "matching.numTaskqueueWritePartitions": parts}
	}
	logger, err := logging.New("warn", false)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := devserver.Start(devserver.Options{
		Postgres:         os.Getenv(topoEnvPostgres),
		Port:             port,
		HistoryShards:    shards,
		DynamicConfig:    dc,
		SearchAttributes: app.SearchAttributes,
		Logger:           logger,
	})
	if err != nil {
		return err
	}
	fmt.Println(topoReady + srv.FrontendAddress())
	<-ctx.Done()
	srv.Stop()
	return nil
}

// createTables creates and seeds src_NNN (key ref UNIQUE) and dst_NNN (ref indexed, not
// unique) for every sync.
func (t *topology) createTables(ctx context.Context) error {
	for i := 1; i <= t.o.syncs; i++ {
		tb := &topoTable{n: i, sync: fmt.Sprintf("table-%03d", i), src: fmt.Sprintf("src_%03d", i), dst: fmt.Sprintf("dst_%03d", i)}
		stmts := []string{
			`CREATE TABLE ` + tb.src + ` (id BIGSERIAL PRIMARY KEY, ref TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
				amount INTEGER NOT NULL, updated_at TIMESTAMPTZ NOT NULL)`,
			`CREATE INDEX ON ` + tb.src + ` (updated_at, id)`,
			`CREATE TABLE ` + tb.dst + ` (id BIGSERIAL PRIMARY KEY, ref TEXT NOT NULL, name TEXT,
				amount INTEGER, updated_at TIMESTAMPTZ NOT NULL)`,
			`CREATE INDEX ON ` + tb.dst + ` (ref)`,
			// Distinct stamps, a millisecond apart, an hour ago.
			fmt.Sprintf(`INSERT INTO %s (ref, name, amount, updated_at)
				SELECT 't%03d-' || lpad(g::text, 6, '0'), 'Name ' || g, g, now() - interval '1 hour' + g * interval '1 millisecond'
				FROM generate_series(1, %d) g`, tb.src, i, t.o.rows),
		}
		for _, s := range stmts {
			if _, err := t.db.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("table %s: %w", tb.src, err)
			}
		}
		for g := 1; g <= t.o.rows; g++ {
			tb.refs = append(tb.refs, fmt.Sprintf("t%03d-%06d", i, g))
		}
		tb.counter = t.o.rows
		t.tables = append(t.tables, tb)
	}
	return nil
}

// writeDefinitions writes the workers' definitions file; the DSN is read from the
// environment, as a production file would.
func (t *topology) writeDefinitions() (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "# %d one-way syncs between tables of one PostgreSQL database (bench -scenario topology).\n", t.o.syncs)
	fmt.Fprintf(&b, "# No webhooks: true, as type sql has no webhook scheme; the bench's ingress adds them.\n")
	fmt.Fprintf(&b, "connections:\n")
	for _, c := range []string{"src", "dst"} {
		fmt.Fprintf(&b, "  %s: {type: sql, driver: postgres, dsn: ${%s}}\n", c, topoEnvDataDSN)
	}
	fmt.Fprintf(&b, "syncs:\n")
	for _, tb := range t.tables {
		fmt.Fprintf(&b, `  - name: %s
    mode: one-way
    a: {connection: src, object: %s, key: ref}
    b: {connection: dst, object: %s, key: ref}
    fields:
      - {a: ref, b: ref}
      - {a: name, b: name}
      - {a: amount, b: amount}
    schedule: {every: %s, start_from: 2000-01-01T00:00:00Z}
`, tb.sync, tb.src, tb.dst, t.o.every)
	}
	path := filepath.Join(t.dir, "syncs.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

func (t *topology) startWorker(ctx context.Context, i int, addr, defs, dataDSN string) (*topoWorker, error) {
	mport, err := topoFreePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(t.dir, fmt.Sprintf("worker%d.log", i+1)))
	if err != nil {
		return nil, err
	}
	w := &topoWorker{metrics: fmt.Sprintf("127.0.0.1:%d", mport)}
	w.cmd = exec.Command(filepath.Join(t.dir, "worker"),
		"--config", defs,
		"--data-dir", filepath.Join(t.dir, fmt.Sprintf("worker%d", i+1)),
		"--metrics", w.metrics,
		"--log-level", "warn")
	w.cmd.Env = append(os.Environ(),
		"TEMPORAL_ADDRESS="+addr,
		"TEMPORAL_NAMESPACE="+app.DefaultNamespace,
		"TANDEM_LINKS_DSN="+dataDSN,
		topoEnvDataDSN+"="+dataDSN)
	w.cmd.Stdout, w.cmd.Stderr = logFile, logFile
	w.cmd.SysProcAttr = childAttr()
	if err := w.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker %d: %w", i+1, err)
	}
	logf("worker %d: pid %d, metrics on %s", i+1, w.cmd.Process.Pid, w.metrics)
	return w, nil
}

// awaitPollers waits until every worker process polls the task queue, by the pid in the
// SDK's default worker identity (pid@host@).
func (t *topology) awaitPollers(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := t.c.DescribeTaskQueue(ctx, workflows.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		seen := 0
		if err == nil {
			for _, w := range t.workers {
				for _, p := range resp.GetPollers() {
					if strings.HasPrefix(p.GetIdentity(), strconv.Itoa(w.cmd.Process.Pid)+"@") {
						seen++
						break
					}
				}
			}
		}
		if seen == len(t.workers) {
			return nil
		}
		for i, w := range t.workers {
			if w.cmd.ProcessState != nil {
				return fmt.Errorf("worker %d exited (see %s)", i+1, filepath.Join(t.dir, fmt.Sprintf("worker%d.log", i+1)))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d workers polling after a minute (err %v; logs in %s)", seen, len(t.workers), err, t.dir)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startIngress serves the webhook ingress on a loopback port, with the workers'
// definitions and Standard Webhooks verification for the sql connections (see above).
func (t *topology) startIngress(ctx context.Context, defs, dataDSN string) error {
	if err := os.Setenv(topoEnvDataDSN, dataDSN); err != nil {
		return err
	}
	reg := builtin.Registry()
	if err := reg.RegisterWebhooks(sqldb.Type, standardwebhooks.FromSettings); err != nil {
		return err
	}
	f, err := config.Load(defs, reg.Types())
	if err != nil {
		return err
	}
	for i := range f.Syncs {
		f.Syncs[i].Webhooks = true
	}
	for name, c := range f.Connections {
		settings := map[string]string{standardwebhooks.SettingSecret: topoSecret}
		for k, v := range c.Settings {
			settings[k] = v
		}
		c.Settings = settings
		f.Connections[name] = c
	}
	in, err := ingress.New(f, reg, ingress.NewTemporalSignaler(t.c, ""), ingress.Options{})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = in.Serve(ctx, ln) }()
	t.hookURL = "http://" + ln.Addr().String()
	return nil
}

// probe is one row inserted just after the kill.
type probe struct {
	tb  *topoTable
	ref string
	at  time.Time
}

// topoLoad is the running change generator.
type topoLoad struct {
	probe     chan struct{}
	stop      chan struct{}
	done      chan error
	hooksWait func()
}

// startLoad starts one writer per group of tables: each table is written by one
// goroutine only, one statement at a time, so its rows commit in updated_at order (the
// order a cursor on updated_at needs; concurrent writers of one table could commit an
// older stamp after a newer one, which no updated_at cursor can see). A value on
// l.probe makes every writer insert one probe row in each of its tables, sent to probes.
func (t *topology) startLoad(ctx context.Context, probes chan<- probe) *topoLoad {
	const writers = 4
	l := &topoLoad{probe: make(chan struct{}), stop: make(chan struct{}), done: make(chan error, writers)}
	probeReq := make([]chan struct{}, writers)
	var hooks sync.WaitGroup
	for k := range writers {
		probeReq[k] = make(chan struct{}, 1)
		var mine []*topoTable
		for i, tb := range t.tables {
			if i%writers == k {
				mine = append(mine, tb)
			}
		}
		go func() {
			l.done <- t.write(ctx, mine, time.Second*writers/time.Duration(t.o.rate), probeReq[k], probes, l.stop, &hooks)
		}()
	}
	go func() {
		<-l.probe
		for _, c := range probeReq {
			c <- struct{}{}
		}
	}()
	// Hooks in flight are waited for by wait, through the writers' WaitGroup.
	l.hooksWait = hooks.Wait
	return l
}

// wait lets the load run for d, stops it and waits for the writers and the webhooks
// in flight.
func (l *topoLoad) wait(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	close(l.stop)
	var first error
	for range cap(l.done) {
		if err := <-l.done; err != nil && first == nil {
			first = err
		}
	}
	l.hooksWait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// write changes tables, one change every interval: half inserts, half updates of a random
// existing row, with a webhook for every webhookEvery-th change.
func (t *topology) write(ctx context.Context, tables []*topoTable, interval time.Duration, probeReq <-chan struct{}, probes chan<- probe, stop <-chan struct{}, hooks *sync.WaitGroup) error {
	if len(tables) == 0 {
		return nil
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	rng := rand.New(rand.NewPCG(uint64(tables[0].n), 14))
	n := 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return nil
		case <-probeReq:
			for _, tb := range tables {
				ref := fmt.Sprintf("t%03d-probe", tb.n)
				if _, err := t.db.ExecContext(ctx, `INSERT INTO `+tb.src+` (ref, name, amount, updated_at) VALUES ($1, 'probe', 0, clock_timestamp())`, ref); err != nil {
					return fmt.Errorf("probe %s: %w", tb.src, err)
				}
				tb.refs = append(tb.refs, ref)
				probes <- probe{tb: tb, ref: ref, at: time.Now()}
			}
			continue
		case <-tick.C:
		}
		tb := tables[rng.IntN(len(tables))]
		n++
		var id int64
		kind := standardwebhooks.TypeUpdated
		if rng.IntN(2) == 0 {
			tb.counter++
			ref := fmt.Sprintf("t%03d-%06d", tb.n, tb.counter)
			err := t.db.QueryRowContext(ctx, `INSERT INTO `+tb.src+` (ref, name, amount, updated_at)
				VALUES ($1, $2, $3, clock_timestamp()) RETURNING id`, ref, "Name "+ref, tb.counter).Scan(&id)
			if err != nil {
				return fmt.Errorf("insert into %s: %w", tb.src, err)
			}
			tb.refs = append(tb.refs, ref)
			t.inserts.Add(1)
			kind = standardwebhooks.TypeCreated
		} else {
			ref := tb.refs[rng.IntN(len(tb.refs))]
			err := t.db.QueryRowContext(ctx, `UPDATE `+tb.src+` SET name = $1, amount = amount + 1, updated_at = clock_timestamp()
				WHERE ref = $2 RETURNING id`, fmt.Sprintf("Name %s v%d", ref, n), ref).Scan(&id)
			if err != nil {
				return fmt.Errorf("update %s: %w", tb.src, err)
			}
			t.updates.Add(1)
		}
		if t.o.webhookEvery > 0 && n%t.o.webhookEvery == 0 {
			url := t.hookURL + "/webhooks/" + tb.sync + "/a"
			eventID := fmt.Sprintf("%s-%d", tb.sync, n)
			obj, rec := tb.src, strconv.FormatInt(id, 10)
			hooks.Go(func() {
				t.hooks.Add(1)
				if !postTopoWebhook(url, eventID, kind, obj, rec) {
					t.hookErr.Add(1)
				}
			})
		}
	}
}

// postTopoWebhook posts a signed Standard Webhooks event, retrying a 5xx or a failed
// request three times as a webhook sender does; it reports whether it was acknowledged.
func postTopoWebhook(url, eventID, kind, object, id string) bool {
	body, _ := json.Marshal(standardwebhooks.Payload{
		Type:      kind,
		Timestamp: time.Now().UTC().Format(time.RFC3339Nano),
		Data:      standardwebhooks.PayloadData{Object: object, ID: id},
	})
	for attempt := range 4 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 500 * time.Millisecond)
		}
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return false
		}
		standardwebhooks.SetHeaders(req.Header, topoSecret, eventID, time.Now(), body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return true
		}
		if resp.StatusCode < 500 {
			return false
		}
	}
	return false
}

// watchProbes times each probe until its row is in the target; the result is sent once
// every probe arrived or the context ends.
func (t *topology) watchProbes(ctx context.Context, probes <-chan probe, n int) <-chan []time.Duration {
	out := make(chan []time.Duration, 1)
	go func() {
		var lat []time.Duration
		var waiting []probe
		for len(lat) < n {
			for drained := false; !drained; {
				select {
				case p := <-probes:
					waiting = append(waiting, p)
				default:
					drained = true
				}
			}
			var still []probe
			for _, p := range waiting {
				var one int
				err := t.db.QueryRowContext(ctx, `SELECT 1 FROM `+p.tb.dst+` WHERE ref = $1 LIMIT 1`, p.ref).Scan(&one)
				if err == nil {
					lat = append(lat, time.Since(p.at))
					continue
				}
				still = append(still, p)
			}
			waiting = still
			select {
			case <-ctx.Done():
				out <- lat
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
		out <- lat
	}()
	return out
}

// tableState sums the comparison of every source with its target.
type tableState struct {
	source, target, missing, stale, extra, dup int
}

func (s tableState) behind() int { return s.missing + s.stale + s.extra + s.dup }

func (t *topology) compare(ctx context.Context) (tableState, error) {
	var sum tableState
	for _, tb := range t.tables {
		var st tableState
		err := t.db.QueryRowContext(ctx, fmt.Sprintf(`SELECT
			(SELECT count(*) FROM %[1]s),
			(SELECT count(*) FROM %[2]s),
			(SELECT count(*) FROM %[1]s s WHERE NOT EXISTS (SELECT 1 FROM %[2]s d WHERE d.ref = s.ref)),
			(SELECT count(*) FROM %[1]s s WHERE EXISTS (SELECT 1 FROM %[2]s d WHERE d.ref = s.ref)
				AND NOT EXISTS (SELECT 1 FROM %[2]s d WHERE d.ref = s.ref AND d.name = s.name AND d.amount = s.amount)),
			(SELECT count(*) FROM %[2]s d WHERE NOT EXISTS (SELECT 1 FROM %[1]s s WHERE s.ref = d.ref)),
			(SELECT count(*) - count(DISTINCT ref) FROM %[2]s)`, tb.src, tb.dst)).
			Scan(&st.source, &st.target, &st.missing, &st.stale, &st.extra, &st.dup)
		if err != nil {
			return sum, fmt.Errorf("compare %s and %s: %w", tb.src, tb.dst, err)
		}
		sum.source += st.source
		sum.target += st.target
		sum.missing += st.missing
		sum.stale += st.stale
		sum.extra += st.extra
		sum.dup += st.dup
	}
	return sum, nil
}

// awaitConverged waits until every target equals its source. Duplicates never go away,
// so they end the wait at once.
func (t *topology) awaitConverged(ctx context.Context, timeout time.Duration) (tableState, error) {
	deadline := time.Now().Add(timeout)
	last := time.Time{}
	for {
		st, err := t.compare(ctx)
		if err != nil {
			return st, err
		}
		if st.behind() == 0 {
			return st, nil
		}
		if st.dup > 0 {
			return st, fmt.Errorf("%d duplicated rows in the targets", st.dup)
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("targets not equal to sources after %v: %d missing, %d stale, %d extra", timeout, st.missing, st.stale, st.extra)
		}
		if time.Since(last) > 5*time.Second {
			logf("  waiting: %d source rows, %d target rows, %d missing, %d stale", st.source, st.target, st.missing, st.stale)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// queried is one sync's answer to the status query.
type queried struct {
	st   workflows.Status
	err  error
	took time.Duration
}

// queryStatuses asks every sync's workflow for its status, ten at a time, each in 30 s
// at most, as `starter status` does; the worker holding the workflow answers.
func (t *topology) queryStatuses(ctx context.Context) []queried {
	out := make([]queried, len(t.tables))
	sem := make(chan struct{}, 10)
	var wg sync.WaitGroup
	for i, tb := range t.tables {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			begin := time.Now()
			v, err := t.c.QueryWorkflow(qctx, workflows.WorkflowID(tb.sync), "", workflows.QueryStatus)
			if err == nil {
				err = v.Get(&out[i].st)
			}
			out[i].err, out[i].took = err, time.Since(begin)
		})
	}
	wg.Wait()
	return out
}

// answered counts the answers and times them.
func answered(qs []queried) (n int, p50, max float64) {
	var took []time.Duration
	for _, q := range qs {
		if q.err == nil {
			took = append(took, q.took)
		}
	}
	if len(took) == 0 {
		return 0, 0, 0
	}
	return len(took), topoPct(took, 50).Seconds(), topoPct(took, 100).Seconds()
}

// syncStates reads every sync's state at the end. Whether it runs and whether an
// activity of it is failing come from Temporal's description of the workflow; the last
// run's error and Tandem's write counts from the status query, which the surviving
// worker answers (timed: a busy worker answers late).
func (t *topology) syncStates(ctx context.Context, res *topoResult) {
	why := func(sync, reason string) {
		if len(res.Failing) < 5 {
			res.Failing = append(res.Failing, sync+": "+reason)
		}
	}
	for _, tb := range t.tables {
		desc, err := t.c.DescribeWorkflowExecution(ctx, workflows.WorkflowID(tb.sync), "")
		if err != nil {
			res.SyncsFailing++
			why(tb.sync, "describe: "+err.Error())
			continue
		}
		if desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			res.SyncsRunning++
		} else {
			why(tb.sync, "workflow "+desc.GetWorkflowExecutionInfo().GetStatus().String())
		}
		for _, pa := range desc.GetPendingActivities() {
			if f := pa.GetLastFailure(); f != nil && pa.GetAttempt() > 1 {
				res.SyncsFailing++
				why(tb.sync, fmt.Sprintf("retrying %s (attempt %d): %s", pa.GetActivityType().GetName(), pa.GetAttempt(), f.GetMessage()))
				break
			}
		}
	}
	qs := t.queryStatuses(ctx)
	res.Answered, res.QueryP50S, res.QueryMaxS = answered(qs)
	for i, q := range qs {
		switch {
		case q.err != nil:
			why(t.tables[i].sync, "status query: "+q.err.Error())
		case q.st.LastRun != nil && q.st.LastRun.Error != "":
			res.SyncsFailing++
			why(t.tables[i].sync, "last run: "+q.st.LastRun.Error)
		default:
			res.Created += q.st.Totals.Created
			res.Updated += q.st.Totals.Updated
		}
	}
}

// workerMetrics are figures read off a worker's /metrics (Prometheus text).
type workerMetrics struct {
	// written is tandem_records_total{outcome="created"|"updated"}.
	written float64
	// Sum and count of the SDK's schedule-to-start latencies: how long a task waited in
	// the task queue for a worker slot, the sign that workers are too few.
	wftSum, wftCount, actSum, actCount float64
	ok                                 bool
}

func scrapeWorker(addr string) workerMetrics {
	var m workerMetrics
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	m.ok = true
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name, _, _ := strings.Cut(line[:i], "{")
		switch name {
		case "tandem_records_total":
			if strings.Contains(line, `outcome="created"`) || strings.Contains(line, `outcome="updated"`) {
				m.written += v
			}
		case "temporal_workflow_task_schedule_to_start_latency_seconds_sum":
			m.wftSum += v
		case "temporal_workflow_task_schedule_to_start_latency_seconds_count":
			m.wftCount += v
		case "temporal_activity_schedule_to_start_latency_seconds_sum":
			m.actSum += v
		case "temporal_activity_schedule_to_start_latency_seconds_count":
			m.actCount += v
		}
	}
	return m
}

// waits returns the mean workflow-task and activity schedule-to-start latency, in ms,
// between two scrapes of one worker.
func waits(from, to workerMetrics) (wft, act float64) {
	if n := to.wftCount - from.wftCount; n > 0 {
		wft = (to.wftSum - from.wftSum) / n * 1000
	}
	if n := to.actCount - from.actCount; n > 0 {
		act = (to.actSum - from.actSum) / n * 1000
	}
	return wft, act
}

// cpuSeconds is the CPU time (user and system) process pid used, with its waited-for
// children's when children; -1 when it cannot be read (Linux only).
func cpuSeconds(pid int, children bool) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return -1
	}
	var ticks float64
	n := 2 // utime, stime (fields 14, 15: f[11], f[12])
	if children {
		n = 4 // and cutime, cstime
	}
	for k := range n {
		v, _ := strconv.ParseFloat(f[11+k], 64)
		ticks += v
	}
	return ticks / 100 // USER_HZ
}

// pgCPU is the CPU time of the PostgreSQL server: its postmaster with every backend it
// has reaped, and its live backends.
func pgCPU(postmaster int) float64 {
	total := cpuSeconds(postmaster, true)
	if total < 0 {
		return -1
	}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if f := strings.Fields(string(b[i+1:])); i > 0 && len(f) > 1 && f[1] == strconv.Itoa(postmaster) {
			total += cpuSeconds(pid, false)
		}
	}
	return total
}

// cpuSnapshot is the CPU time of each part of the topology at one moment.
type cpuSnapshot struct {
	workers            []float64
	temporal, pg, self float64
}

func (t *topology) cpu() cpuSnapshot {
	var s cpuSnapshot
	for _, w := range t.workers {
		v := -1.0
		if !w.killed {
			v = cpuSeconds(w.cmd.Process.Pid, false)
		}
		s.workers = append(s.workers, v)
	}
	s.temporal = cpuSeconds(t.temporal.Process.Pid, false)
	s.pg = pgCPU(t.pg.Pid())
	s.self = cpuSeconds(os.Getpid(), false)
	return s
}

// cleanup stops every process the scenario started (by its own handle) and removes the
// working directory when removeDir, else only the worker binary.
func (t *topology) cleanup(removeDir bool) {
	if t.c != nil {
		// The syncs would go on in the database, which is thrown away with it.
		t.c.Close()
	}
	for _, w := range t.workers {
		if !w.killed && w.cmd.Process != nil {
			_ = w.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, w := range t.workers {
		waitOrKill(w.cmd, 20*time.Second)
	}
	if t.temporal != nil {
		_ = t.temporal.Process.Signal(syscall.SIGTERM)
		waitOrKill(t.temporal, 30*time.Second)
	}
	if t.db != nil {
		_ = t.db.Close()
	}
	if t.pg != nil {
		if err := t.pg.Stop(); err != nil {
			logf("stopping PostgreSQL: %v", err)
		}
	}
	if t.dir == "" {
		return
	}
	if removeDir {
		_ = os.RemoveAll(t.dir)
	} else {
		_ = os.Remove(filepath.Join(t.dir, "worker"))
	}
}

// waitOrKill waits for a started process to exit, killing it after d.
func waitOrKill(cmd *exec.Cmd, d time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
	}
}

func topoFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func topoPct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func fmtMs(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// scrapeAll reads every worker's metrics (a killed one's read as zero).
func (t *topology) scrapeAll() []workerMetrics {
	out := make([]workerMetrics, len(t.workers))
	for i, w := range t.workers {
		if !w.killed {
			out[i] = scrapeWorker(w.metrics)
		}
	}
	return out
}

type topoReport struct {
	Command string     `json:"command"`
	Machine string     `json:"machine"`
	Load    string     `json:"load_average"`
	Result  topoResult `json:"result"`
	Checks  []check    `json:"checks"`
}

// loadAverage is the 1, 5 and 15 minute load averages (other work on the machine
// changes the figures), or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

func topoMachine() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("machine: %s, %d CPUs (GOMAXPROCS %d), %s/%s, %s; PostgreSQL, the Temporal server, %d workers and this process (seeding, webhooks, ingress, checks) on it",
		host, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(), topo.workers)
}

func topoChecks(r topoResult, err error) []check {
	ok := err == nil
	return []check{
		{"topology: rows lost (missing or stale in a target)", strconv.Itoa(r.Missing + r.Stale), "0", ok && r.Missing+r.Stale == 0},
		{"topology: rows duplicated in a target", strconv.Itoa(r.Duplicated), "0", ok && r.Duplicated == 0},
		{"topology: rows in a target and not in its source", strconv.Itoa(r.Extra), "0", ok && r.Extra == 0},
		{"topology: syncs that synced a row inserted after the kill", fmt.Sprintf("%d/%d", r.ProbesArrived, r.Syncs), fmt.Sprintf("%d/%d", r.Syncs, r.Syncs), ok && r.ProbesArrived == r.Syncs},
		{"topology: syncs running and not failing at the end", fmt.Sprintf("%d/%d", r.SyncsRunning-r.SyncsFailing, r.Syncs), fmt.Sprintf("%d/%d", r.Syncs, r.Syncs), ok && r.SyncsRunning == r.Syncs && r.SyncsFailing == 0},
		{"topology: webhooks not acknowledged", strconv.Itoa(r.WebhookFailed), "0", ok && r.WebhookFailed == 0},
	}
}

func printTopology(w io.Writer, rep topoReport) {
	r := rep.Result
	fmt.Fprintf(w, "# %s\n# %s\n\n", rep.Command, rep.Machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, v) }
	parts := "4 (default)"
	if r.Partitions > 0 {
		parts = strconv.Itoa(r.Partitions)
	}
	row("syncs / worker processes", fmt.Sprintf("%d / %d (one killed with SIGKILL); schedule every %s, task queue partitions %s", r.Syncs, r.Workers, r.Every, parts))
	row("rows seeded, first copy", fmt.Sprintf("%d in %.1f s", r.SeededRows, r.FirstCopyS))
	row("changes while running", fmt.Sprintf("%d inserts, %d updates; %d webhooks, %d not acknowledged", r.Inserts, r.Updates, r.Webhooks, r.WebhookFailed))
	row("rows at the end", fmt.Sprintf("%d in the sources, %d in the targets", r.SourceRows, r.TargetRows))
	row("records written by worker (before the kill)", fmt.Sprint(r.BeforeKill))
	row("records written by the survivor (in all)", fmt.Sprint(r.SurvivorTotal))
	row("task wait before the kill, per worker (ms)", fmt.Sprintf("workflow tasks %s, activities %s", fmtMs(r.WFTWaitBeforeMs), fmtMs(r.ActWaitBeforeMs)))
	row("task wait on worker 2 after the kill (ms)", fmt.Sprintf("workflow tasks %.0f, activities %.0f", r.WFTWaitAfterMs, r.ActWaitAfterMs))
	row("CPU seconds, changes to convergence", fmt.Sprintf("workers %s, Temporal %.0f, PostgreSQL %.0f, bench %.0f; %.0f s of wall time on %d cores",
		fmtMs(r.CPUWorkers), r.CPUTemporal, r.CPUPostgres, r.CPUBench, r.CPUWallS, runtime.NumCPU()))
	row("status queries answered, p50, max (two workers)", fmt.Sprintf("%d of %d; %.1f s, %.1f s", r.BeforeAnswered, r.Syncs, r.BeforeP50S, r.BeforeMaxS))
	row("status queries answered, p50, max (at the end)", fmt.Sprintf("%d of %d; %.1f s, %.1f s", r.Answered, r.Syncs, r.QueryP50S, r.QueryMaxS))
	row("Tandem's counts (syncs that answered)", fmt.Sprintf("%d created, %d updated", r.Created, r.Updated))
	row("row inserted after the kill, to its target", fmt.Sprintf("%d of %d syncs; p50 %.1f s, max %.1f s", r.ProbesArrived, r.Syncs, r.ProbeP50S, r.ProbeMaxS))
	row("converged", fmt.Sprintf("%.1f s after the kill, %.1f s after the last write", r.KillToConvS, r.LastWriteConvS))
	row("lost / stale / extra / duplicated", fmt.Sprintf("%d / %d / %d / %d", r.Missing, r.Stale, r.Extra, r.Duplicated))
	row("wall time (worker build)", fmt.Sprintf("%.0f s (%.0f s)", r.TotalS, r.BuildS))
	row("load average at the start, at the end", rep.Load)
	tw.Flush()
	for _, f := range r.Failing {
		fmt.Fprintf(w, "  failing: %s\n", f)
	}
	fmt.Fprintln(w, "\ntargets (issue 14):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range rep.Checks {
		verdict := "PASS"
		if !c.Pass {
			verdict = "MISS"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Name, c.Value, c.Target, verdict)
	}
	tw.Flush()
}
