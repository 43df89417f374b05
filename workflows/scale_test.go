package workflows_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/activities"
	"tandem/connectors/builtin"
	"tandem/internal/app"
	"tandem/internal/cli"
	"tandem/internal/config"
	"tandem/internal/testenv"
)

// scalePairs is how many keys the at-scale two-way test spreads over both tables; set
// TANDEM_SCALE_PAIRS to change it.
func scalePairs(t testing.TB) int {
	if v := os.Getenv("TANDEM_SCALE_PAIRS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "TANDEM_SCALE_PAIRS")
		return n
	}
	return 100_000
}

// sqliteTable creates a companies table in a new SQLite file and fills it with the given
// rows (domain -> name), all stamped at the same time.
func sqliteTable(t testing.TB, path string, rows map[string]string, at time.Time) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE companies (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		name TEXT NOT NULL,
		domain TEXT UNIQUE,
		phone TEXT,
		updated_at TIMESTAMP NOT NULL)`)
	require.NoError(t, err)
	tx, err := db.Begin()
	require.NoError(t, err)
	ins, err := tx.Prepare(`INSERT INTO companies (name, domain, phone, updated_at) VALUES ($1, $2, $3, $4)`)
	require.NoError(t, err)
	stamp := at.UTC().Format("2006-01-02 15:04:05.000000-07:00")
	for d, name := range rows {
		_, err := ins.Exec(name, d, "+1 555 0100", stamp)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
}

// A two-way first run between two SQLite tables over 100,000 keys: 40% only on a, 40%
// only on b, 20% on both (half of them with different names). It completes with every key
// once on each side, the two tables equal, and the state carried across continue-as-new
// small whatever the number of pairs: wave 1 carried a loop entry per key written and
// bricked itself at about 21,000 (PayloadsTooLarge).
func TestTwoWayFirstRunAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the at-scale two-way run takes a while")
	}
	firstRunAtScale(t, config.TwoWay)
}

// The same tables synced one way, a to b, for the figure beside the two-way one in
// BENCHMARKS.md; run only when TANDEM_SCALE_PAIRS is set.
func TestOneWayFirstRunAtScale(t *testing.T) {
	if os.Getenv("TANDEM_SCALE_PAIRS") == "" {
		t.Skip("set TANDEM_SCALE_PAIRS to measure the one-way figure")
	}
	firstRunAtScale(t, config.OneWay)
}

func firstRunAtScale(t *testing.T, mode config.Mode) {
	n := scalePairs(t)
	dir := t.TempDir()
	rowsA, rowsB := map[string]string{}, map[string]string{}
	for i := range n {
		d := fmt.Sprintf("c%06d.example.com", i)
		switch i % 10 {
		case 0, 1, 2, 3:
			rowsA[d] = fmt.Sprintf("Company %d", i)
		case 4, 5, 6, 7:
			rowsB[d] = fmt.Sprintf("Company %d", i)
		case 8:
			rowsA[d], rowsB[d] = fmt.Sprintf("Company %d", i), fmt.Sprintf("Company %d", i)
		default:
			rowsA[d], rowsB[d] = fmt.Sprintf("Company %d", i), fmt.Sprintf("Company %d (b)", i)
		}
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pathA, pathB := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	sqliteTable(t, pathA, rowsA, at)
	sqliteTable(t, pathB, rowsB, at.Add(time.Second)) // b's names are newer

	name := fmt.Sprintf("scale-%d", time.Now().UnixNano())
	defs := &config.File{
		Path: "test.yaml",
		Connections: map[string]config.Connection{
			"a": {Name: "a", Type: "sql", Settings: map[string]string{"driver": "sqlite", "dsn": pathA, "key_columns": "domain"}},
			"b": {Name: "b", Type: "sql", Settings: map[string]string{"driver": "sqlite", "dsn": pathB, "key_columns": "domain"}},
		},
		Syncs: []config.Sync{{
			Name: name, Mode: mode,
			A: config.Side{Connection: "a", Object: "companies", Key: "domain"},
			B: config.Side{Connection: "b", Object: "companies", Key: "domain"},
			Fields: []config.Field{
				{A: "name", B: "name", Direction: config.Both},
				{A: "domain", B: "domain", Normalize: []string{"domain"}, Direction: config.Both},
				{A: "phone", B: "phone", Direction: config.Both},
			},
			Conflict: config.NewestWins, PageSize: 1000,
			Schedule: config.Schedule{Every: time.Hour, StartFrom: at.Add(-time.Hour)},
		}},
	}
	conns, err := app.OpenConnections(defs, builtin.Registry())
	require.NoError(t, err)
	s := testenv.NewFileSync(t, testenv.Client(t), defs, conns, name)
	start := time.Now()
	s.Start()
	st := s.WaitRuns(1, 20*time.Minute)
	elapsed := time.Since(start)
	require.Empty(t, st.LastRun.Error)
	assert.Zero(t, st.LastRun.Failed)

	// Every key once on each side (one-way: on b), and the two sides equal.
	paths := []string{pathA, pathB}
	if mode == config.OneWay {
		paths = paths[1:]
	}
	for _, path := range paths {
		db, err := sql.Open("sqlite", path)
		require.NoError(t, err)
		var rows, keys int
		require.NoError(t, db.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT domain) FROM companies`).Scan(&rows, &keys))
		assert.Equal(t, n, rows, "%s: rows", filepath.Base(path))
		assert.Equal(t, n, keys, "%s: distinct keys", filepath.Base(path))
		_, err = db.Exec(`ATTACH DATABASE '` + pathA + `' AS other`)
		require.NoError(t, err)
		var differ int
		require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM companies c JOIN other.companies o ON o.domain = c.domain
			WHERE o.name <> c.name OR IFNULL(o.phone, '') <> IFNULL(c.phone, '')`).Scan(&differ))
		assert.Zero(t, differ, "pairs that differ")
		require.NoError(t, db.Close())
	}
	if mode == config.TwoWay {
		linked, err := s.Acts.Links.Count(context.Background(), name)
		require.NoError(t, err)
		assert.Equal(t, n, linked, "links")
	}

	// The state carried across continue-as-new: the input of every run but the first.
	hs, err := s.Histories(context.Background())
	require.NoError(t, err)
	largest := 0
	for _, h := range hs {
		in := h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetInput()
		size := 0
		for _, p := range in.GetPayloads() {
			size += len(p.GetData())
		}
		largest = max(largest, size)
	}
	_, bytes, err := s.HistoryEvents(context.Background())
	require.NoError(t, err)
	t.Logf("%s, %d keys: first run %s, %.0f keys/s (%d records read, %.0f/s), %d history bytes per key, %d runs of the workflow, largest state carried %d bytes",
		mode, n, elapsed.Round(time.Second), float64(n)/elapsed.Seconds(), st.LastRun.Fetched, float64(st.LastRun.Fetched)/elapsed.Seconds(),
		bytes/n, len(hs), largest)
	assert.Less(t, largest, 256<<10, "state carried across continue-as-new")
}

// TestVerifyAtScale measures a verify of two equal SQLite tables of TANDEM_VERIFY_PAIRS
// keys each (one planted difference): its time and how far the process's heap grows while
// it runs, for BENCHMARKS.md. Memory should not grow with the tables: run it at 10,000 and
// at 100,000.
//
//	TANDEM_VERIFY_PAIRS=100000 go test ./workflows -run TestVerifyAtScale -v
func TestVerifyAtScale(t *testing.T) {
	v := os.Getenv("TANDEM_VERIFY_PAIRS")
	if v == "" {
		t.Skip("set TANDEM_VERIFY_PAIRS to measure a verify at scale")
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "TANDEM_VERIFY_PAIRS")
	dir := t.TempDir()
	rows := map[string]string{}
	for i := range n {
		rows[fmt.Sprintf("c%06d.example.com", i)] = fmt.Sprintf("Company %d", i)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pathA, pathB := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	sqliteTable(t, pathA, rows, at)
	rows["c000007.example.com"] = "Changed on b"
	sqliteTable(t, pathB, rows, at)
	name := fmt.Sprintf("verify-scale-%d", time.Now().UnixNano())
	defs := &config.File{
		Path: "test.yaml",
		Connections: map[string]config.Connection{
			"a": {Name: "a", Type: "sql", Settings: map[string]string{"driver": "sqlite", "dsn": pathA, "key_columns": "domain"}},
			"b": {Name: "b", Type: "sql", Settings: map[string]string{"driver": "sqlite", "dsn": pathB, "key_columns": "domain"}},
		},
		Syncs: []config.Sync{{
			Name: name, Mode: config.OneWay,
			A: config.Side{Connection: "a", Object: "companies", Key: "domain"},
			B: config.Side{Connection: "b", Object: "companies", Key: "domain"},
			Fields: []config.Field{
				{A: "name", B: "name", Direction: config.Both},
				{A: "domain", B: "domain", Direction: config.Both},
				{A: "phone", B: "phone", Direction: config.Both},
			},
			Conflict: config.NewestWins, PageSize: 1000, Schedule: config.Schedule{Every: time.Hour},
		}},
	}
	conns, err := app.OpenConnections(defs, builtin.Registry())
	require.NoError(t, err)
	s := testenv.NewFileSync(t, testenv.Client(t), defs, conns, name)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
			}
		}
	}()
	start := time.Now()
	res, _, err := cli.Verify(context.Background(), s.Client, name, 10, false)
	elapsed := time.Since(start)
	close(done)
	require.NoError(t, err)
	assert.Equal(t, activities.VerifyTotals{Different: 1}, res.Totals)
	assert.Equal(t, map[string]int{"a": n, "b": n}, res.Checked)
	growth := int64(peak.Load()) - int64(before.HeapInuse)
	t.Logf("verify of %d pairs: %s, %.0f pairs/s; heap in use %d MiB before, peak %d MiB (growth %d MiB)",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), before.HeapInuse>>20, peak.Load()>>20, growth>>20)
}
