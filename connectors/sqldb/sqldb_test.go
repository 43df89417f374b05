package sqldb

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/connectortest"
)

const companiesTable = `CREATE TABLE companies (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	name TEXT NOT NULL CHECK (name <> ''),
	domain TEXT UNIQUE,
	phone TEXT,
	employees INTEGER,
	updated_at TIMESTAMP NOT NULL
)`

// open returns a connection to a new SQLite file holding an empty companies table.
func open(t *testing.T, extra connectors.Settings) *Conn {
	t.Helper()
	return openSQLite(t, extra, companiesTable)
}

// openSQLite returns a connection to a new SQLite file made by the statements ddl.
func openSQLite(t testing.TB, extra connectors.Settings, ddl ...string) *Conn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tandem.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	for _, q := range ddl {
		_, err = db.Exec(q)
		require.NoError(t, err)
	}
	require.NoError(t, db.Close())

	settings := connectors.Settings{"driver": "sqlite", "dsn": path, "key_columns": "domain"}
	for k, v := range extra {
		settings[k] = v
	}
	c, err := Factory("db", settings)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.(*Conn).Close() })
	return c.(*Conn)
}

// setUpdatedAt writes a row's updated_at as another writer would, in the connector's form.
func setUpdatedAt(t *testing.T, c *Conn, id string, at time.Time) {
	t.Helper()
	_, err := c.db.Exec(`UPDATE companies SET updated_at = $1 WHERE id = $2`, stampArg(at), id)
	require.NoError(t, err)
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, companiesDriver(func(t *testing.T) *Conn { return open(t, nil) }))
}

// TestConformanceSoftDelete runs the suite on tables with a soft-delete column
// (deleted_column), one of each kind: a time and a flag.
func TestConformanceSoftDelete(t *testing.T) {
	for _, sd := range softDeleteColumns {
		t.Run(sd.name, func(t *testing.T) {
			connectortest.Run(t, companiesDriver(func(t *testing.T) *Conn {
				return openSQLite(t, connectors.Settings{"deleted_column": sd.column}, withColumn(companiesTable, sd.sqlite))
			}))
		})
	}
}

// softDeleteColumns are the soft-delete columns the tests add to the companies table,
// declared for SQLite and for PostgreSQL.
var softDeleteColumns = []softDeleteColumn{
	{name: "Time", column: "deleted_at", sqlite: "deleted_at TIMESTAMP", postgres: "deleted_at TIMESTAMPTZ"},
	{name: "Flag", column: "deleted", sqlite: "deleted BOOLEAN NOT NULL DEFAULT FALSE", postgres: "deleted BOOLEAN NOT NULL DEFAULT FALSE", flag: true},
}

type softDeleteColumn struct {
	name, column, sqlite, postgres string
	// flag is true for a flag column, false for a time column.
	flag bool
}

// withColumn returns a CREATE TABLE statement with one more column, declared by decl.
func withColumn(create, decl string) string {
	i := strings.LastIndex(create, ")")
	return strings.TrimRight(create[:i], "\n\t ") + ",\n\t" + decl + "\n)"
}

// companiesDriver is the conformance suite's driver for a companies table of a
// connection newConn opens (SQLite, or PostgreSQL in postgres_test.go).
func companiesDriver(newConn func(t *testing.T) *Conn) connectortest.Driver {
	return connectortest.Driver{
		New:      func(t *testing.T) connectors.Connector { return newConn(t) },
		Object:   "companies",
		KeyField: "domain",
		NewFields: func(i int) map[string]any {
			return map[string]any{
				"name":      fmt.Sprintf("Company %d", i),
				"domain":    fmt.Sprintf("company-%d.example.com", i),
				"phone":     fmt.Sprintf("+1 555 %04d", i),
				"employees": float64(10 + i), // as a number arrives from JSON
			}
		},
		Mutate: func(f map[string]any) map[string]any {
			f["name"] = fmt.Sprint(f["name"], " (renamed)")
			f["employees"] = f["employees"].(float64) + 1
			return f
		},
		// Refused by the CHECK constraint.
		Invalid: func() map[string]any { return map[string]any{"name": "", "domain": "invalid.example.com"} },
		SetUpdatedAt: func(t *testing.T, c connectors.Connector, object, id string, at time.Time) {
			setUpdatedAt(t, c.(*Conn), id, at)
		},
		MissingID: "999999",
	}
}

func TestUpdateIfUnchanged(t *testing.T) {
	testUpdateIfUnchanged(t, open(t, nil))
}

// testUpdateIfUnchanged runs on SQLite and on PostgreSQL (postgres_test.go): c's
// companies table is empty.
func testUpdateIfUnchanged(t *testing.T, c *Conn) {
	ctx := t.Context()
	var recs []connectors.Record
	for _, name := range []string{"Acme", "Beta", "Gamma", "Delta"} {
		recs = append(recs, connectors.Record{Fields: map[string]any{"name": name, "domain": strings.ToLower(name) + ".example.com"}})
	}
	res, err := c.Create(ctx, "companies", recs)
	require.NoError(t, err)
	page, err := c.Changes(ctx, "companies", connectors.Cursor{}, 10)
	require.NoError(t, err)
	require.Len(t, page.Records, 4)
	read := map[string]connectors.Record{}
	for _, r := range page.Records {
		read[r.Fields["name"].(string)] = r
	}
	acme, beta, gamma, delta := read["Acme"], read["Beta"], read["Gamma"], read["Delta"]
	require.Equal(t, res[0].ID, acme.ID)

	// Another writer edits Acme after the read, and rewrites Beta's time, unchanged, in a
	// form of its own.
	edited := time.Date(2031, 5, 6, 7, 8, 9, 123456000, time.UTC)
	_, err = c.db.ExecContext(ctx, `UPDATE companies SET name = 'Acme (edited)', updated_at = $1 WHERE id = $2`, stampArg(edited), acme.ID)
	require.NoError(t, err)
	foreign := beta.UpdatedAt.UTC().Format(time.RFC3339Nano)
	_, err = c.db.ExecContext(ctx, `UPDATE companies SET updated_at = $1 WHERE id = $2`, foreign, beta.ID)
	require.NoError(t, err)
	got, err := c.Get(ctx, "companies", []string{beta.ID})
	require.NoError(t, err)
	require.True(t, got[0].UpdatedAt.Equal(beta.UpdatedAt), "Beta reads back at %s, was %s (stored as %q)", got[0].UpdatedAt, beta.UpdatedAt, foreign)

	res, err = c.UpdateIfUnchanged(ctx, "companies", []connectors.Record{
		{ID: acme.ID, UpdatedAt: acme.UpdatedAt, Fields: map[string]any{"phone": "1"}},
		{ID: beta.ID, UpdatedAt: beta.UpdatedAt, Fields: map[string]any{"phone": "2"}},
		{ID: gamma.ID, UpdatedAt: gamma.UpdatedAt, Fields: map[string]any{"name": ""}}, // CHECK
		{ID: "999999", UpdatedAt: delta.UpdatedAt, Fields: map[string]any{"phone": "4"}},
		{ID: delta.ID, UpdatedAt: delta.UpdatedAt, Fields: map[string]any{"phone": "5"}},
		{ID: delta.ID, UpdatedAt: delta.UpdatedAt, Fields: map[string]any{"phone": "6"}}, // moved by the one before
	})
	require.NoError(t, err)
	require.Len(t, res, 6)
	var stale *connectors.StaleRecordError
	require.ErrorAs(t, res[0].Err, &stale)
	assert.Equal(t, acme.ID, stale.ID)
	assert.True(t, stale.Read.Equal(acme.UpdatedAt))
	assert.True(t, stale.Now.Equal(edited), "Now is the row's time now: %s", stale.Now)
	assert.Equal(t, connectors.WriteResult{ID: beta.ID}, res[1], "an unchanged time in another form is unchanged")
	var inv *connectors.InvalidRecordError
	require.ErrorAs(t, res[2].Err, &inv)
	assert.Equal(t, gamma.ID, inv.Record)
	assert.ErrorIs(t, res[3].Err, connectors.ErrNotFound)
	assert.Equal(t, connectors.WriteResult{ID: delta.ID}, res[4])
	require.ErrorAs(t, res[5].Err, &stale)

	got, err = c.Get(ctx, "companies", []string{acme.ID, beta.ID, gamma.ID, delta.ID})
	require.NoError(t, err)
	after := map[string]connectors.Record{}
	for _, r := range got {
		after[r.ID] = r
	}
	assert.Equal(t, map[string]any{"name": "Acme (edited)", "domain": "acme.example.com", "phone": nil, "employees": nil}, after[acme.ID].Fields)
	assert.True(t, after[acme.ID].UpdatedAt.Equal(edited))
	assert.Equal(t, "2", after[beta.ID].Fields["phone"])
	assert.True(t, after[beta.ID].UpdatedAt.After(beta.UpdatedAt))
	assert.Equal(t, gamma, after[gamma.ID], "the refused row is as it was")
	assert.Equal(t, "5", after[delta.ID].Fields["phone"])

	// The version Changes reads is the one UpdateIfUnchanged holds a record to.
	page, err = c.Changes(ctx, "companies", connectors.CursorOf(delta), 10)
	require.NoError(t, err)
	for _, r := range page.Records {
		res, err := c.UpdateIfUnchanged(ctx, "companies", []connectors.Record{{ID: r.ID, UpdatedAt: r.UpdatedAt, Fields: map[string]any{"employees": float64(7)}}})
		require.NoError(t, err)
		assert.NoError(t, res[0].Err, "record %s as Changes read it at %s", r.ID, r.UpdatedAt)
	}
}

func TestSettings(t *testing.T) {
	cfg, err := ParseSettings(connectors.Settings{"driver": "postgres", "dsn": "postgres://u:p@db/x"})
	require.NoError(t, err)
	assert.Equal(t, Config{Driver: "postgres", DSN: "postgres://u:p@db/x", IDColumn: "id", UpdatedColumn: "updated_at", MaxBatch: 500, ParallelReads: 4}, cfg)

	cfg, err = ParseSettings(connectors.Settings{"driver": "sqlite", "dsn": "a.db", "id_column": "company_id",
		"updated_column": "modified", "key_columns": "domain, crm_id,domain", "max_batch": "50", "parallel_reads": "2"})
	require.NoError(t, err)
	assert.Equal(t, Config{Driver: "sqlite", DSN: "a.db", IDColumn: "company_id", UpdatedColumn: "modified",
		KeyColumns: []string{"domain", "crm_id"}, MaxBatch: 50, ParallelReads: 2}, cfg)
	_, err = ParseSettings(connectors.Settings{"driver": "postgres", "dsn": "x", "parallel_reads": "0"})
	assert.ErrorContains(t, err, "parallel_reads")

	for v, want := range map[string]string{"auto": "", "AUTO": "", "": "", "true": "true", "1": "true", "false": "false", "FALSE": "false"} {
		cfg, err = ParseSettings(connectors.Settings{"driver": "sqlite", "dsn": "a.db", "hold_back_open_second": v})
		require.NoError(t, err, v)
		assert.Equal(t, want, cfg.HoldBackOpenSecond, "hold_back_open_second %q", v)
	}

	valid := func(k, v string) connectors.Settings {
		s := connectors.Settings{"driver": "sqlite", "dsn": "a.db"}
		if v == "" {
			delete(s, k)
		} else {
			s[k] = v
		}
		return s
	}
	for _, tc := range []struct {
		settings connectors.Settings
		want     string
	}{
		{valid("driver", ""), "setting driver: missing"},
		{valid("driver", "mysql"), `setting driver: "mysql" is not sqlite or postgres`},
		{valid("dsn", ""), "setting dsn: missing"},
		{valid("dsn", "  "), "setting dsn: missing"},
		{valid("id_column", "company id"), `setting id_column: "company id" is not a plain column name`},
		{valid("id_column", `id"; DROP TABLE companies; --`), "setting id_column"},
		{valid("updated_column", "1st"), `setting updated_column: "1st" is not a plain column name`},
		{valid("updated_column", "id"), `setting updated_column: "id" is also the id_column`},
		{valid("key_columns", `domain,"crm"`), `setting key_columns: "\"crm\"" is not a plain column name`},
		{valid("max_batch", "0"), `setting max_batch: "0" is not a positive whole number`},
		{valid("max_batch", "many"), `setting max_batch: "many"`},
		{valid("hold_back_open_second", "sometimes"), `setting hold_back_open_second: "sometimes" is not auto, true or false`},
		{valid("deleted_column", "deleted at"), `setting deleted_column: "deleted at" is not a plain column name`},
		{valid("deleted_column", "updated_at"), `setting deleted_column: "updated_at" is also the updated_column`},
		{valid("deleted_column", "id"), `setting deleted_column: "id" is also the id_column`},
		{valid("table", "companies"), `unknown setting "table" (sql accepts deleted_column, driver, dsn, hold_back_open_second, id_column, key_columns, max_batch, parallel_reads, updated_column)`},
	} {
		_, err := Factory("db", tc.settings)
		if assert.Error(t, err, "%v", tc.settings) {
			assert.Contains(t, err.Error(), tc.want)
		}
	}
}

func TestNamesAreRefusedNotEscaped(t *testing.T) {
	c := open(t, nil)
	ctx := t.Context()
	for _, table := range []string{"compa nies", `companies"; DROP TABLE companies; --`} {
		_, err := c.Changes(ctx, table, connectors.Cursor{}, 10)
		assert.ErrorIs(t, err, connectors.ErrNotFound, "table %q", table)
	}
	_, err := c.Find(ctx, "companies", "domain'", []string{"a"})
	assert.ErrorIs(t, err, connectors.ErrNotFound)

	res, err := c.Create(ctx, "companies", []connectors.Record{{Fields: map[string]any{"name": "A", "bad name": "x"}}})
	require.NoError(t, err)
	var inv *connectors.InvalidRecordError
	require.ErrorAs(t, res[0].Err, &inv)
	assert.Equal(t, "bad name", inv.Field)

	_, err = c.Get(ctx, "no_such_table", []string{"1"})
	assert.ErrorIs(t, err, connectors.ErrNotFound, "a missing table is not retried")
}

func TestBatchWithRefusedRowsWritesTheRest(t *testing.T) {
	c := open(t, nil)
	ctx := t.Context()
	_, err := c.Create(ctx, "companies", []connectors.Record{{Fields: map[string]any{"name": "Taken", "domain": "taken.example.com"}}})
	require.NoError(t, err)

	res, err := c.Create(ctx, "companies", []connectors.Record{
		{Fields: map[string]any{"name": "Acme", "domain": "acme.example.com"}},
		{Fields: map[string]any{"domain": "nameless.example.com"}},             // NOT NULL
		{Fields: map[string]any{"name": "Dup", "domain": "taken.example.com"}}, // UNIQUE
		{Fields: map[string]any{"name": "Globex", "domain": "globex.example.com"}},
	})
	require.NoError(t, err)
	require.Len(t, res, 4)
	require.NoError(t, res[0].Err)
	require.NoError(t, res[3].Err)
	for i, want := range map[int]string{1: "NOT NULL constraint failed: companies.name", 2: "UNIQUE constraint failed: companies.domain"} {
		var inv *connectors.InvalidRecordError
		require.ErrorAs(t, res[i].Err, &inv, "record %d", i)
		assert.Contains(t, inv.Reason, want, "record %d: the database's reason", i)
	}

	page, err := c.Changes(ctx, "companies", connectors.Cursor{}, 100)
	require.NoError(t, err)
	var names []any
	for _, r := range page.Records {
		names = append(names, r.Fields["name"])
	}
	assert.Equal(t, []any{"Taken", "Acme", "Globex"}, names)
}

func TestChangesOrdersIntegerIDsNumerically(t *testing.T) {
	c := open(t, nil)
	ctx := t.Context()
	var recs []connectors.Record
	for i := range 12 {
		recs = append(recs, connectors.Record{Fields: map[string]any{"name": fmt.Sprint("Company ", i+1)}})
	}
	res, err := c.Create(ctx, "companies", recs)
	require.NoError(t, err)
	at := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	for _, r := range res {
		setUpdatedAt(t, c, r.ID, at)
	}

	page, err := c.Changes(ctx, "companies", connectors.Cursor{}, 100)
	require.NoError(t, err)
	var ids []string
	for _, r := range page.Records {
		ids = append(ids, r.ID)
		assert.True(t, r.UpdatedAt.Equal(at), "record %s: UpdatedAt %s", r.ID, r.UpdatedAt)
	}
	assert.Equal(t, []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}, ids)

	// Resuming at id 9 reads 10, 11 and 12: compared as text, "10" would not be after "9".
	since := connectors.Cursor{UpdatedAt: at, ID: "9"}
	page, err = c.Changes(ctx, "companies", since, 2)
	require.NoError(t, err)
	require.Len(t, page.Records, 2)
	assert.Equal(t, "10", page.Records[0].ID)
	assert.Equal(t, "11", page.Records[1].ID)
	assert.True(t, page.More)
	n, err := c.CountChanges(ctx, "companies", since)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

func TestFieldValues(t *testing.T) {
	c := open(t, nil)
	ctx := t.Context()
	res, err := c.Create(ctx, "companies", []connectors.Record{{Fields: map[string]any{
		"name": "Acme", "phone": float64(5550100), "employees": float64(250), "updated_at": "ignored",
	}}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	got, err := c.Get(ctx, "companies", []string{res[0].ID})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, map[string]any{"name": "Acme", "domain": nil, "phone": "5550100", "employees": float64(250)}, got[0].Fields,
		"a whole number is written to a TEXT column without a decimal point, and read back as JSON carries it")
	assert.WithinDuration(t, time.Now(), got[0].UpdatedAt, time.Minute, "the connector sets updated_at")
	assert.Equal(t, time.UTC, got[0].UpdatedAt.Location())
}

func TestUpsertByNonUniqueColumn(t *testing.T) {
	c := open(t, nil)
	ctx := t.Context()
	res, err := c.Upsert(ctx, "companies", "phone", []connectors.Record{{Fields: map[string]any{"name": "A", "phone": "1"}}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	assert.True(t, res[0].Created)
	res, err = c.Upsert(ctx, "companies", "phone", []connectors.Record{{Fields: map[string]any{"name": "B", "phone": "1"}}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	assert.False(t, res[0].Created, "the row with the key is updated")

	_, err = c.Create(ctx, "companies", []connectors.Record{{Fields: map[string]any{"name": "C", "phone": "1"}}})
	require.NoError(t, err)
	res, err = c.Upsert(ctx, "companies", "phone", []connectors.Record{{Fields: map[string]any{"name": "D", "phone": "1"}}, {Fields: map[string]any{"name": "E"}}})
	require.NoError(t, err)
	var amb *connectors.AmbiguousMatchError
	assert.ErrorAs(t, res[0].Err, &amb, "two rows have the key")
	var inv *connectors.InvalidRecordError
	assert.ErrorAs(t, res[1].Err, &inv, "no key")
}

func TestInfo(t *testing.T) {
	assert.Equal(t, connectors.Info{Type: "sql", MaxBatch: 500, NativeUpsert: true}, open(t, nil).Info())
	assert.False(t, open(t, connectors.Settings{"key_columns": ""}).Info().NativeUpsert, "no unique key column to upsert on")
}
