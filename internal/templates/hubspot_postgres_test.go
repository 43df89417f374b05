package templates_test

import (
	"database/sql"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/hubspot/hubspotfake"
	"tandem/workflows"
)

const (
	companiesToPostgresFile = "hubspot-companies-to-postgres.yaml"
	companiesToPostgres     = "hubspot-companies-to-postgres"
)

// TestCompaniesToPostgres runs examples/hubspot-companies-to-postgres.yaml against fake
// HubSpot and a SQLite file holding the example's table (DB_DRIVER=sqlite; PostgreSQL
// runs the same SQL, see connectors/sqldb): every company becomes one row keyed by its
// HubSpot id, a changed company updates its row, and a run with nothing new writes
// nothing.
func TestCompaniesToPostgres(t *testing.T) {
	hs := hubspotfake.New(hubspotfake.Options{})
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(func() { srv.Close(); hs.Close() })
	// Companies that were there before the sync, past the connection's search lag.
	before := time.Now().Add(-time.Hour)
	var ids []string
	for i := range 30 {
		ids = append(ids, hs.SeedAt("companies", map[string]string{
			"name": fmt.Sprintf("Company %02d", i), "domain": fmt.Sprintf("WWW.Company%02d.example.com", i), "phone": fmt.Sprintf("+1 555 %04d", i),
		}, before.Add(time.Duration(i)*time.Second)))
	}

	path := filepath.Join(t.TempDir(), "warehouse.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	// The example's table, in SQLite's words.
	_, err = db.Exec(`CREATE TABLE hubspot_companies (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		hubspot_id TEXT NOT NULL UNIQUE,
		name TEXT, domain TEXT, phone TEXT,
		updated_at TIMESTAMP NOT NULL)`)
	require.NoError(t, err)

	s := startSync(t, parseExample(t, companiesToPostgresFile, map[string]string{
		"HUBSPOT_TOKEN": "demo-token", "HUBSPOT_BASE_URL": srv.URL,
		"DB_DRIVER": "sqlite", "DATABASE_URL": path,
	}))
	rows := func() map[string][3]string {
		out := map[string][3]string{}
		rs, err := db.Query(`SELECT hubspot_id, name, domain, phone FROM hubspot_companies`)
		require.NoError(t, err)
		defer rs.Close()
		for rs.Next() {
			var id string
			var v [3]string
			require.NoError(t, rs.Scan(&id, &v[0], &v[1], &v[2]))
			require.NotContains(t, out, id, "one row per company")
			out[id] = v
		}
		require.NoError(t, rs.Err())
		return out
	}

	run1 := s.waitRun(1)
	assert.Equal(t, workflows.Counts{Fetched: 30, Created: 30}, run1.Counts)
	got := rows()
	require.Len(t, got, 30)
	assert.Equal(t, [3]string{"Company 07", "company07.example.com", "+1 555 0007"}, got[ids[7]], "the domain normalized, keyed by the HubSpot id")

	// Two companies change (their edits a little in the past, older than the search lag).
	for _, i := range []int{3, 21} {
		require.NoError(t, hs.Set("companies", ids[i], map[string]string{"phone": "+44 20 7946 0000"}))
		require.NoError(t, hs.SetModified("companies", ids[i], time.Now().Add(-time.Minute+time.Duration(i)*time.Millisecond)))
	}
	s.Signal(workflows.SignalSyncNow, nil)
	run2 := s.waitRun(2)
	assert.Equal(t, workflows.Counts{Fetched: 2, Updated: 2}, run2.Counts)
	got = rows()
	require.Len(t, got, 30)
	assert.Equal(t, "+44 20 7946 0000", got[ids[21]][2])
	assert.Equal(t, "+1 555 0004", got[ids[4]][2])

	s.Signal(workflows.SignalSyncNow, nil)
	assert.Equal(t, workflows.Counts{}, s.waitRun(3).Counts)
}
