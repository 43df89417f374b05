package sqldb

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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

// A PostgreSQL column of whole-second precision (timestamp(0), timestamptz(0)) has its
// current second held back, by the database's clock: a row stamped an hour ahead stands
// for the rows of that second, which are read only once it is over. A column of the
// default precision is read to its end.
func TestPostgresHoldsBackTheOpenSecond(t *testing.T) {
	dsn := connectortest.PostgresDSN(t)
	ctx := t.Context()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	read := func(table string, settings connectors.Settings) []string {
		t.Helper()
		s := connectors.Settings{"driver": "postgres", "dsn": dsn}
		for k, v := range settings {
			s[k] = v
		}
		c, err := Factory("db", s)
		require.NoError(t, err)
		defer c.(*Conn).Close()
		page, err := c.Changes(ctx, table, connectors.Cursor{}, 100)
		require.NoError(t, err)
		n, err := c.(*Conn).CountChanges(ctx, table, connectors.Cursor{})
		require.NoError(t, err)
		assert.Equal(t, len(page.Records), n, "%s: CountChanges counts what Changes reads", table)
		return recordIDs(page.Records)
	}
	for _, tc := range []struct {
		table, typ, now string
		whole           bool
	}{
		{"whole_tz", "TIMESTAMPTZ(0)", "now()", true},
		{"whole_local", "TIMESTAMP(0)", "(now() AT TIME ZONE 'UTC')", true},
		{"fine_tz", "TIMESTAMPTZ", "now()", false},
		{"fine_local", "TIMESTAMP(3)", "(now() AT TIME ZONE 'UTC')", false},
	} {
		_, err := db.ExecContext(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %s`, tc.table))
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = db.Exec(fmt.Sprintf(`DROP TABLE IF EXISTS %s`, tc.table)) })
		_, err = db.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE %s (id BIGINT PRIMARY KEY, name TEXT, updated_at %s NOT NULL)`, tc.table, tc.typ))
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (id, name, updated_at) VALUES
			(3, 'an hour ago', %s - interval '1 hour'),
			(2, 'the second before this one', date_trunc('second', %s) - interval '1 second'),
			(1, 'an hour ahead', %s + interval '1 hour')`, tc.table, tc.now, tc.now, tc.now))
		require.NoError(t, err)

		if tc.whole {
			assert.Equal(t, []string{"3", "2"}, read(tc.table, nil), "%s: the current second and later are held back", tc.typ)
			assert.Equal(t, []string{"3", "2", "1"}, read(tc.table, connectors.Settings{"hold_back_open_second": "false"}), tc.typ)
		} else {
			assert.Equal(t, []string{"3", "2", "1"}, read(tc.table, nil), "%s: nothing is held back", tc.typ)
			assert.Equal(t, []string{"3", "2"}, read(tc.table, connectors.Settings{"hold_back_open_second": "true"}), tc.typ)
		}
	}
}
