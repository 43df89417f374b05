package sqldb

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/connectortest"
)

// TestPostgresConformance runs the conformance suite against a live PostgreSQL: the one
// TANDEM_POSTGRES_DSN names (a database the test may create and drop a companies table
// in), or else a throwaway server it starts from the machine's PostgreSQL binaries
// (Debian's postgresql package). With neither it is skipped.
func TestPostgresConformance(t *testing.T) {
	dsn := connectortest.PostgresDSN(t)
	openPG := func(t *testing.T) *Conn {
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		defer db.Close()
		_, err = db.Exec(`DROP TABLE IF EXISTS companies`)
		require.NoError(t, err)
		_, err = db.Exec(`CREATE TABLE companies (
			id BIGSERIAL PRIMARY KEY,
			name TEXT NOT NULL CHECK (name <> ''),
			domain TEXT UNIQUE,
			phone TEXT,
			employees INTEGER,
			updated_at TIMESTAMPTZ NOT NULL)`)
		require.NoError(t, err)
		c, err := Factory("db", connectors.Settings{"driver": "postgres", "dsn": dsn, "key_columns": "domain"})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.(*Conn).Close() })
		return c.(*Conn)
	}
	connectortest.Run(t, connectortest.Driver{
		New:      func(t *testing.T) connectors.Connector { return openPG(t) },
		Object:   "companies",
		KeyField: "domain",
		NewFields: func(i int) map[string]any {
			return map[string]any{
				"name":      fmt.Sprintf("Company %d", i),
				"domain":    fmt.Sprintf("company-%d.example.com", i),
				"phone":     fmt.Sprintf("+1 555 %04d", i),
				"employees": float64(10 + i),
			}
		},
		Mutate: func(f map[string]any) map[string]any {
			f["name"] = fmt.Sprint(f["name"], " (renamed)")
			f["employees"] = f["employees"].(float64) + 1
			return f
		},
		Invalid: func() map[string]any { return map[string]any{"name": "", "domain": "invalid.example.com"} },
		SetUpdatedAt: func(t *testing.T, c connectors.Connector, object, id string, at time.Time) {
			_, err := c.(*Conn).db.Exec(`UPDATE companies SET updated_at = $1 WHERE id = $2`, stampArg(at), id)
			require.NoError(t, err)
		},
		MissingID: "999999",
	})
	t.Run("UpdateIfUnchangedRows", func(t *testing.T) { testUpdateIfUnchanged(t, openPG(t)) })
}
