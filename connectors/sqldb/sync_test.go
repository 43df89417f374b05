package sqldb_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
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

// A SQLite table whose updated column holds ISO text with a 'T' (Python's and JavaScript's
// default) compares as text after every cursor the connector writes: wave 1 read its first
// page again and again, for ever, with status "running". The engine's invariant stops the
// run with an error that names the connection, the object and both positions.
func TestSyncFromISOTextTimestampsStopsWithAClearError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE accounts (id INTEGER PRIMARY KEY, company TEXT, website TEXT, updated_at TEXT NOT NULL)`)
	require.NoError(t, err)
	for i := range 5 {
		_, err := db.Exec(`INSERT INTO accounts (company, website, updated_at) VALUES ($1, $2, $3)`,
			fmt.Sprintf("Company %d", i), fmt.Sprintf("c%d.com", i), fmt.Sprintf("2025-01-01T00:00:0%d.000000Z", i))
		require.NoError(t, err)
	}
	name := fmt.Sprintf("iso-text-%d", time.Now().UnixNano())
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
	s := testenv.NewFileSync(t, testenv.Client(t), defs, conns, name)
	s.Start()
	st := s.WaitRuns(1, time.Minute)
	assert.Contains(t, st.LastRun.Error, "app accounts returned record")
	assert.Contains(t, st.LastRun.Error, "strictly after the cursor")
	assert.Contains(t, st.LastRun.Error, "after cursor 2025-01-01T00:00:01Z/2")
	assert.LessOrEqual(t, st.LastRun.Fetched, 2, "the first page only, once")
}
