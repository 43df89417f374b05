package cli_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/builtin"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// sqliteCompanies creates a companies table of n rows in a new SQLite file.
func sqliteCompanies(t *testing.T, path string, n int) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE companies (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
		domain TEXT UNIQUE, updated_at TIMESTAMP NOT NULL)`)
	require.NoError(t, err)
	tx, err := db.Begin()
	require.NoError(t, err)
	stamp := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Format("2006-01-02 15:04:05.000000-07:00")
	for i := range n {
		_, err := tx.Exec(`INSERT INTO companies (name, domain, updated_at) VALUES ($1, $2, $3)`,
			fmt.Sprintf("Company %d", i), fmt.Sprintf("c%04d.example", i), stamp)
		require.NoError(t, err)
	}
	require.NoError(t, tx.Commit())
}

// sqliteDomains returns the sorted domains of a SQLite file's companies.
func sqliteDomains(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT domain FROM companies`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		require.NoError(t, rows.Scan(&d))
		out = append(out, d)
	}
	require.NoError(t, rows.Err())
	sort.Strings(out)
	return out
}

// Issue 15's breaker end to end: 60 % of a SQLite source's rows are deleted; the next run
// finds them by an id diff (a plain table keeps no delete log) and holds them; nothing is
// deleted until `starter deletes approve`, and then exactly those.
func TestSixtyPercentOfASQLiteTableDeletedWaitsForApproval(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "source.db"), filepath.Join(dir, "target.db")
	sqliteCompanies(t, src, 1000)
	db, err := sql.Open("sqlite", dst)
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE companies (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL,
		domain TEXT UNIQUE, updated_at TIMESTAMP NOT NULL)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	yaml := fmt.Sprintf(`connections:
  source: {type: sql, driver: sqlite, dsn: %q, key_columns: domain}
  target: {type: sql, driver: sqlite, dsn: %q, key_columns: domain}
syncs:
  - name: sqlite-deletes
    a: {connection: source, object: companies, key: domain}
    b: {connection: target, object: companies, key: domain}
    fields:
      - {a: name, b: name}
      - {a: domain, b: domain}
    schedule: {every: 1h, start_from: 2024-01-01T00:00:00Z}
    deletes: {mode: delete}
`, src, dst)
	path := filepath.Join(dir, "syncs.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	f, err := config.Parse(path, []byte(yaml), builtin.Registry().Types(), os.LookupEnv)
	require.NoError(t, err)
	conns, err := app.OpenConnections(f, builtin.Registry())
	require.NoError(t, err)
	s := testenv.NewFileSync(t, testenv.Client(t), f, conns, "sqlite-deletes")

	_, err = run(t, "start", "--config", path, "--sync", "sqlite-deletes")
	require.NoError(t, err)
	st := s.WaitRuns(1, time.Minute)
	require.Empty(t, st.LastRun.Error)
	require.Len(t, sqliteDomains(t, dst), 1000)

	db, err = sql.Open("sqlite", src)
	require.NoError(t, err)
	_, err = db.Exec(`DELETE FROM companies WHERE id % 5 IN (0, 1, 2)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	kept := sqliteDomains(t, src)
	require.Len(t, kept, 400)

	_, err = run(t, "sync-now", "--sync", "sqlite-deletes")
	require.NoError(t, err)
	st = s.WaitRuns(2, time.Minute)
	require.Empty(t, st.LastRun.Error)
	out, err := run(t, "status", "--sync", "sqlite-deletes")
	require.NoError(t, err)
	assert.Contains(t, out, "): idle, deletes held: 600 (60% > 10%)")
	assert.Contains(t, out, "deletes a:  no delete log: every id is diffed against the pairs every run")
	assert.Len(t, sqliteDomains(t, dst), 1000, "nothing deleted while held")

	out, err = run(t, "deletes", "approve", "--sync", "sqlite-deletes")
	require.NoError(t, err)
	assert.Contains(t, out, "sync sqlite-deletes: deletes-approve done; now idle\n")
	assert.Equal(t, kept, sqliteDomains(t, dst), "then exactly those")
	st = s.Status()
	assert.Equal(t, 600, st.Totals.Deleted)
	assert.Equal(t, workflows.StateIdle, st.State)
}
