package cli_test

import (
	"database/sql"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/builtin"
	"tandem/connectors/memory"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// sqliteSync writes a one-way SQLite -> SQLite sync of n companies to a file and opens it.
func sqliteSync(t *testing.T, name string, n int, extra string) (f *config.File, path, src, dst string) {
	t.Helper()
	dir := t.TempDir()
	src, dst = filepath.Join(dir, "source.db"), filepath.Join(dir, "target.db")
	sqliteCompanies(t, src, n)
	sqliteCompanies(t, dst, 0)
	yaml := fmt.Sprintf(`connections:
  source: {type: sql, driver: sqlite, dsn: %q, key_columns: domain}
  target: {type: sql, driver: sqlite, dsn: %q, key_columns: domain}
syncs:
  - name: %s
    a: {connection: source, object: companies, key: domain}
    b: {connection: target, object: companies, key: domain}
    fields:
      - {a: name, b: name}
      - {a: domain, b: domain}
    schedule: {every: 1h, start_from: 2024-01-01T00:00:00Z}
%s`, src, dst, name, extra)
	path = filepath.Join(dir, "syncs.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	f, err := config.Parse(path, []byte(yaml), builtin.Registry().Types(), os.LookupEnv)
	require.NoError(t, err)
	return f, path, src, dst
}

func execSQL(t *testing.T, path, stmt string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(stmt, args...)
	require.NoError(t, err)
}

// Issue 16: verify after a row is deleted directly in the SQLite target reports it
// missing (and a row edited there different, and a row only there missing on a); --repair
// restores them through the sync's pipeline, and a second verify finds no drift.
func TestVerifyFindsAndRepairsDriftInASQLiteTarget(t *testing.T) {
	f, path, src, dst := sqliteSync(t, "verify-sqlite", 50, "")
	conns, err := app.OpenConnections(f, builtin.Registry())
	require.NoError(t, err)
	s := testenv.NewFileSync(t, testenv.Client(t), f, conns, "verify-sqlite")
	_, err = run(t, "start", "--config", path, "--sync", "verify-sqlite")
	require.NoError(t, err)
	s.WaitRuns(1, time.Minute)

	out, err := run(t, "verify", "--sync", "verify-sqlite")
	require.NoError(t, err)
	assert.Contains(t, out, "checked a 50, b 50: missing_a 0, missing_b 0, different 0, orphaned 0, duplicate_keys 0\n")

	execSQL(t, dst, `DELETE FROM companies WHERE domain = 'c0007.example'`)
	execSQL(t, dst, `UPDATE companies SET name = 'Renamed in the target' WHERE domain = 'c0011.example'`)
	execSQL(t, dst, `INSERT INTO companies (name, domain, updated_at) VALUES ('Stray', 'stray.example', '2025-01-01 00:00:00')`)
	out, err = run(t, "verify", "--sync", "verify-sqlite")
	require.NoError(t, err)
	assert.Contains(t, out, "checked a 50, b 50: missing_a 1, missing_b 1, different 1, orphaned 0, duplicate_keys 0\n")
	assert.Contains(t, out, "missing_b     c0007.example (side a record 8): no record on side b has this key")
	assert.Contains(t, out, `different     c0011.example (side a record 12): the pair's records hold different values: name: "Renamed in the target" -> "Company 11"`)
	assert.Contains(t, out, "missing_a     stray.example (side b record 51): no record on side a has this key")

	out, err = run(t, "verify", "--sync", "verify-sqlite", "--repair", "--json")
	require.NoError(t, err)
	assert.Contains(t, out, `"repaired": 2`)
	st := s.WaitFor("the repair synced", time.Minute, func(st workflows.Status) bool {
		return st.Realtime.Created == 1 && st.Realtime.Updated == 1 && st.Pending == 0
	})
	assert.Equal(t, 1, st.LastVerify.Totals.MissingB, "the verify's totals reached the sync")

	// One-way: the stray row is the target's own; the rest is in step. (The rows the
	// repair wrote may be read by the next verify: a SQLite table of whole-second times
	// holds back the current second.)
	out, err = run(t, "verify", "--sync", "verify-sqlite")
	require.NoError(t, err)
	assert.Contains(t, out, ": missing_a 1, missing_b 0, different 0, orphaned 0, duplicate_keys 0\n")
	execSQL(t, dst, `DELETE FROM companies WHERE domain = 'stray.example'`)
	out, err = run(t, "verify", "--sync", "verify-sqlite")
	require.NoError(t, err)
	assert.Contains(t, out, "missing_a 0, missing_b 0, different 0, orphaned 0, duplicate_keys 0\n")
	assert.Equal(t, sqliteDomains(t, src), sqliteDomains(t, dst))
	out, err = run(t, "status", "--sync", "verify-sqlite")
	require.NoError(t, err)
	assert.Contains(t, out, "(starter verify): drift 0 (missing_a 0, missing_b 0, different 0, orphaned 0, duplicate_keys 0)")
}

// Issue 17: a pair synced in bulk (its records out of history) is still explained, from
// the link store.
func TestExplainAPairSyncedInBulk(t *testing.T) {
	a := memory.New(memory.Options{IDPrefix: "a-"})
	b := memory.New(memory.Options{IDPrefix: "b-"})
	recs := a.Seed("companies", 3000, memory.SampleCompany)
	def := testenv.Def("explain-bulk")
	def.Mode = config.TwoWay
	s := testenv.NewSync(t, def, a, b)
	s.Start()
	st := s.WaitRuns(1, time.Minute)
	require.Positive(t, st.LastRun.Chunks, "the run went on in chunks after its first page")
	require.Equal(t, 3000, b.Len("companies"))

	last := recs[len(recs)-1]
	key := strings.ToLower(fmt.Sprint(last.Fields["domain"]))
	out, err := run(t, "explain", "--sync", "explain-bulk", "--key", key)
	require.NoError(t, err)
	assert.Contains(t, out, "sync explain-bulk, key "+key+": linked\n")
	assert.Contains(t, out, "  record:  side a record "+last.ID+" -> side b record ")
	assert.Contains(t, out, "synced in bulk, records out of history")
	assert.Contains(t, out, "the link store says: created on b") // and confirmed by the batch's read-back
}

// Issue 17: a record a plain one-way sync synced in bulk (no link, its records out of
// history) is explained from the link store's bulk log: created with its partner, or
// refused with the service's reason. Before, explain found it in no recorded step.
func TestExplainARecordOneWaySyncedInBulk(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	recs := source.Seed("companies", 3000, memory.SampleCompany)
	domain := func(i int) string { return strings.ToLower(fmt.Sprint(recs[i].Fields["domain"])) }
	target.RejectRecords(func(r connectors.Record) string {
		if strings.EqualFold(fmt.Sprint(r.Fields["domain"]), domain(2500)) {
			return "phone: INVALID_PHONE"
		}
		return ""
	})
	s := testenv.NewSync(t, testenv.Def("explain-bulk-one-way"), source, target)
	s.Start()
	st := s.WaitRuns(1, time.Minute)
	require.Positive(t, st.LastRun.Chunks, "the run went in chunks")
	require.Equal(t, 2999, target.Len("companies"))

	out, err := run(t, "explain", "--sync", "explain-bulk-one-way", "--key", domain(2999))
	require.NoError(t, err)
	assert.Contains(t, out, "sync explain-bulk-one-way, key "+domain(2999)+": created\n")
	assert.Contains(t, out, "  record:  side a record "+recs[2999].ID+" -> side b record t-")
	assert.Contains(t, out, "synced in bulk (a chunk of run 1, its records out of history); the bulk log says: no record on the other side held its key")
	assert.Contains(t, out, ", run #1, in a chunk (its records out of history)\n")
	assert.NotContains(t, out, "the link's last save")

	out, err = run(t, "explain", "--sync", "explain-bulk-one-way", "--key", domain(2500))
	require.NoError(t, err)
	assert.Contains(t, out, ": failed\n")
	assert.Contains(t, out, "phone: INVALID_PHONE")

	// A small run after it goes per step: its step in history is the newer answer.
	target.RejectRecords(nil)
	renamed := recs[2999]
	renamed.Fields = maps.Clone(renamed.Fields)
	renamed.Fields["name"], renamed.UpdatedAt = "Renamed", time.Time{}
	source.Put("companies", renamed)
	s.Signal(workflows.SignalSyncNow, nil)
	st = s.WaitRuns(2, time.Minute)
	require.Zero(t, st.LastRun.Chunks)
	out, err = run(t, "explain", "--sync", "explain-bulk-one-way", "--key", domain(2999))
	require.NoError(t, err)
	assert.Contains(t, out, ": updated\n")
	assert.NotContains(t, out, "synced in bulk")

	// Then everything read again, in chunks: the bulk log's answer is the newer one.
	s.Signal(workflows.SignalResync, workflows.ResyncSignal{From: time.Time{}})
	st = s.WaitRuns(3, time.Minute)
	require.Positive(t, st.LastRun.Chunks)
	out, err = run(t, "explain", "--sync", "explain-bulk-one-way", "--key", domain(2999))
	require.NoError(t, err)
	assert.Contains(t, out, ": skipped\n")
	assert.Contains(t, out, "synced in bulk (a chunk of run 3")
}
