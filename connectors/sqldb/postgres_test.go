package sqldb

import (
	"database/sql"
	"fmt"
	"testing"

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
	openPG := func(t *testing.T) *Conn { return openPostgres(t, dsn, nil, pgCompaniesTable) }
	connectortest.Run(t, companiesDriver(openPG))
	t.Run("UpdateIfUnchangedRows", func(t *testing.T) { testUpdateIfUnchanged(t, openPG(t)) })
	for _, sd := range softDeleteColumns {
		t.Run("SoftDelete"+sd.name, func(t *testing.T) {
			connectortest.Run(t, companiesDriver(func(t *testing.T) *Conn {
				return openPostgres(t, dsn, connectors.Settings{"deleted_column": sd.column}, withColumn(pgCompaniesTable, sd.postgres))
			}))
		})
	}
}

// The delete tests of deletes_test.go, on PostgreSQL; and a flag column of integers, and
// a column of a type that is neither a time nor a flag.
func TestPostgresDeletes(t *testing.T) {
	dsn := connectortest.PostgresDSN(t)
	for _, sd := range softDeleteColumns {
		openSD := func(t *testing.T) *Conn {
			return openPostgres(t, dsn, connectors.Settings{"deleted_column": sd.column}, withColumn(pgCompaniesTable, sd.postgres))
		}
		t.Run("SoftDeletedRowsAreGone"+sd.name, func(t *testing.T) { testSoftDeletedRowsAreGone(t, openSD(t), sd) })
		t.Run("DeletesPagesEqualTimes"+sd.name, func(t *testing.T) { testDeletesPagesEqualTimes(t, openSD(t), sd) })
	}
	t.Run("RefusedRowFailsAlone", func(t *testing.T) {
		testDeleteRefusedRowFailsAlone(t, openPostgres(t, dsn, nil, pgCompaniesTable, contactsTable), "violates foreign key constraint")
	})
	t.Run("IntegerFlag", func(t *testing.T) {
		c := openPostgres(t, dsn, connectors.Settings{"deleted_column": "is_deleted"}, withColumn(pgCompaniesTable, "is_deleted SMALLINT"))
		ctx := t.Context()
		res, err := c.Create(ctx, "companies", []connectors.Record{{Fields: map[string]any{"name": "A"}}, {Fields: map[string]any{"name": "B"}}})
		require.NoError(t, err)
		_, err = c.db.ExecContext(ctx, `UPDATE companies SET is_deleted = 0 WHERE id = $1`, res[1].ID)
		require.NoError(t, err)
		del, err := c.Delete(ctx, "companies", []string{res[0].ID})
		require.NoError(t, err)
		require.NoError(t, del[0].Err)
		ids, _, err := c.ListIDs(ctx, "companies", "", 10)
		require.NoError(t, err)
		assert.Equal(t, []string{res[1].ID}, ids, "NULL and 0 are live")
		page, err := c.Deletes(ctx, "companies", connectors.Cursor{}, 10)
		require.NoError(t, err)
		require.Len(t, page.Tombstones, 1)
		assert.Equal(t, res[0].ID, page.Tombstones[0].ID)
		var flag int
		require.NoError(t, c.db.QueryRowContext(ctx, `SELECT is_deleted FROM companies WHERE id = $1`, res[0].ID).Scan(&flag))
		assert.Equal(t, 1, flag)
	})
	t.Run("AnotherType", func(t *testing.T) {
		c := openPostgres(t, dsn, connectors.Settings{"deleted_column": "deleted_at"}, withColumn(pgCompaniesTable, "deleted_at TEXT"))
		_, err := c.Changes(t.Context(), "companies", connectors.Cursor{}, 10)
		assert.ErrorIs(t, err, connectors.ErrNotFound)
		assert.ErrorContains(t, err, `setting deleted_column: column "deleted_at" of table companies is text;`)
		c = openPostgres(t, dsn, connectors.Settings{"deleted_column": "deleted_at"}, pgCompaniesTable)
		_, err = c.Deletes(t.Context(), "companies", connectors.Cursor{}, 10)
		assert.ErrorContains(t, err, `setting deleted_column: column "deleted_at" of table companies: not found`)
	})
}

const pgCompaniesTable = `CREATE TABLE companies (
	id BIGSERIAL PRIMARY KEY,
	name TEXT NOT NULL CHECK (name <> ''),
	domain TEXT UNIQUE,
	phone TEXT,
	employees INTEGER,
	updated_at TIMESTAMPTZ NOT NULL
)`

// openPostgres returns a connection to the PostgreSQL at dsn, with the settings extra,
// after dropping the tables companies and contacts and running the statements ddl.
func openPostgres(t testing.TB, dsn string, extra connectors.Settings, ddl ...string) *Conn {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`DROP TABLE IF EXISTS contacts, companies`)
	require.NoError(t, err)
	for _, q := range ddl {
		_, err = db.Exec(q)
		require.NoError(t, err)
	}
	settings := connectors.Settings{"driver": "postgres", "dsn": dsn, "key_columns": "domain"}
	for k, v := range extra {
		settings[k] = v
	}
	c, err := Factory("db", settings)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.(*Conn).Close() })
	return c.(*Conn)
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
