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
