package sqldb_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/activities"
	"tandem/connectors"
	"tandem/connectors/builtin"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// TestSyncIntoSQLite runs a one-way sync from the memory connector into a SQLite table
// through the registry, a worker and the embedded Temporal server, as a user's syncs.yaml
// would: every company arrives once, and a second run writes nothing.
func TestSyncIntoSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crm.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE accounts (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		company TEXT NOT NULL,
		website TEXT UNIQUE,
		phone TEXT,
		updated_at TIMESTAMP NOT NULL)`)
	require.NoError(t, err)

	name := fmt.Sprintf("into-sqlite-%d", time.Now().UnixNano())
	defs := &config.File{
		Path: "test.yaml",
		Connections: map[string]config.Connection{
			"crm": {Name: "crm", Type: "memory", Settings: map[string]string{"seed": "120"}},
			"db":  {Name: "db", Type: "sql", Settings: map[string]string{"driver": "sqlite", "dsn": path, "key_columns": "website"}},
		},
		Syncs: []config.Sync{{
			Name: name, Mode: config.OneWay,
			A: config.Side{Connection: "crm", Object: "companies", Key: "domain"},
			B: config.Side{Connection: "db", Object: "accounts", Key: "website"},
			Fields: []config.Field{
				{A: "name", B: "company", Direction: config.Both},
				{A: "domain", B: "website", Normalize: []string{"domain"}, Direction: config.Both},
				{A: "phone", B: "phone", Direction: config.Both},
			},
			Conflict: config.NewestWins, Schedule: config.Schedule{Every: time.Hour}, PageSize: 50,
		}},
	}
	conns, err := app.OpenConnections(defs, builtin.Registry())
	require.NoError(t, err)
	s := testenv.NewFileSync(t, testenv.Client(t), defs, conns, name)
	s.Start()
	st := s.WaitRuns(1, time.Minute)
	require.Empty(t, st.LastRun.Error)
	assert.Equal(t, workflows.Counts{Fetched: 120, Created: 120}, st.LastRun.Counts)
	var rows, distinct int
	require.NoError(t, db.QueryRow(`SELECT count(*), count(DISTINCT website) FROM accounts WHERE company <> '' AND phone <> ''`).Scan(&rows, &distinct))
	assert.Equal(t, 120, rows)
	assert.Equal(t, 120, distinct)

	// Read everything again: equal rows are skipped, nothing is written.
	s.Signal(workflows.SignalResync, workflows.ResyncSignal{From: time.Time{}})
	st = s.WaitRuns(2, time.Minute)
	assert.Equal(t, workflows.Counts{Fetched: 120, Skipped: 120}, st.LastRun.Counts)
}

// isoTextSync is a one-way sync from a SQLite table that another program writes, its
// updated column TEXT in that program's layout, into the memory connector, pages of 2.
func isoTextSync(t *testing.T, name string, rows ...string) (*sql.DB, *testenv.Sync, connectors.Connector) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.Exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, company TEXT, website TEXT, updated_at TEXT NOT NULL)`)
	require.NoError(t, err)
	for i, at := range rows {
		_, err := db.Exec(`INSERT INTO accounts (company, website, updated_at) VALUES ($1, $2, $3)`,
			fmt.Sprintf("Company %d", i), fmt.Sprintf("c%d.com", i), at)
		require.NoError(t, err)
	}
	name = fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
	defs := &config.File{
		Path: "test.yaml",
		Connections: map[string]config.Connection{
			"app": {Name: "app", Type: "sql", Settings: map[string]string{"driver": "sqlite", "dsn": path}},
			"crm": {Name: "crm", Type: "memory", Settings: map[string]string{}},
		},
		Syncs: []config.Sync{{
			Name: name, Mode: config.OneWay,
			A:        config.Side{Connection: "app", Object: "accounts", Key: "website"},
			B:        config.Side{Connection: "crm", Object: "companies", Key: "domain"},
			Fields:   []config.Field{{A: "company", B: "name", Direction: config.Both}, {A: "website", B: "domain", Direction: config.Both}},
			Conflict: config.NewestWins, Schedule: config.Schedule{Every: time.Hour}, PageSize: 2,
		}},
	}
	conns, err := app.OpenConnections(defs, builtin.Registry())
	require.NoError(t, err)
	return db, testenv.NewFileSync(t, testenv.Client(t), defs, conns, name), conns["crm"]
}

// A SQLite table whose updated column holds ISO text with a 'T' (Python's and JavaScript's
// default) once compared as text after every cursor the connector wrote: wave 1 read its
// first page again and again, for ever. Compared as times, every row is read once, the
// cursor ends on the last one, and the next run reads only what changed since, in
// whatever layout it was written.
func TestSyncFromISOTextTimestamps(t *testing.T) {
	var rows []string
	for i := range 5 {
		rows = append(rows, fmt.Sprintf("2025-01-01T00:00:0%d.000000Z", i))
	}
	db, s, crm := isoTextSync(t, "iso-text", rows...)
	s.Start()
	st := s.WaitRuns(1, time.Minute)
	require.Empty(t, st.LastRun.Error)
	assert.Equal(t, workflows.Counts{Fetched: 5, Created: 5}, st.LastRun.Counts)
	assert.Equal(t, connectors.Cursor{UpdatedAt: time.Date(2025, 1, 1, 0, 0, 4, 0, time.UTC), ID: "5"}, st.Cursors[activities.SideA])
	page, err := crm.Changes(t.Context(), "companies", connectors.Cursor{}, 100)
	require.NoError(t, err)
	assert.Len(t, page.Records, 5)

	// Another program renames Company 0 (JavaScript's layout) and adds a company (Python's,
	// with an offset): the next run reads those two.
	_, err = db.Exec(`UPDATE accounts SET company = 'Company 0 (renamed)', updated_at = '2025-01-01T00:00:06.250Z' WHERE id = 1`)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO accounts (company, website, updated_at) VALUES ('Company 5', 'c5.com', '2025-01-01T02:00:05.5+02:00')`)
	require.NoError(t, err)
	s.Signal(workflows.SignalSyncNow, nil)
	st = s.WaitRuns(2, time.Minute)
	require.Empty(t, st.LastRun.Error)
	assert.Equal(t, workflows.Counts{Fetched: 2, Created: 1, Updated: 1}, st.LastRun.Counts)
	assert.Equal(t, connectors.Cursor{UpdatedAt: time.Date(2025, 1, 1, 0, 0, 6, 250_000_000, time.UTC), ID: "1"}, st.Cursors[activities.SideA])
	page, err = crm.Changes(t.Context(), "companies", connectors.Cursor{}, 100)
	require.NoError(t, err)
	names := map[any]bool{}
	for _, r := range page.Records {
		names[r.Fields["name"]] = true
	}
	assert.Len(t, page.Records, 6)
	assert.True(t, names["Company 0 (renamed)"] && names["Company 5"], "%v", names)
}

// A value of the updated column that is no time stops the run at once with an error that
// names the table, the column and the value, rather than leaving the row out unseen.
func TestSyncFromTextThatIsNoTimeStopsWithAClearError(t *testing.T) {
	_, s, _ := isoTextSync(t, "not-a-time", "2025-01-01T00:00:01Z", "01/02/2025 10:00", "2025-01-01T00:00:03Z")
	s.Start()
	st := s.WaitRuns(1, time.Minute)
	assert.Contains(t, st.LastRun.Error, "app accounts")
	assert.Contains(t, st.LastRun.Error, `table accounts, column updated_at (updated_column): "01/02/2025 10:00" is not a timestamp`)
	assert.Zero(t, st.LastRun.Fetched)
	assert.Empty(t, st.Retrying, "not retried: no retry changes the value")
}
