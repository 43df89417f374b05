package sqldb

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/connectortest"
)

// database is one of the two databases the write tests run on: open returns a
// connection to an empty companies table (companiesTable or pgCompaniesTable).
type database struct {
	open func(t *testing.T, extra connectors.Settings) *Conn
	// The database's words for a refused row.
	notNull, check string
}

var sqliteDB = database{
	open:    func(t *testing.T, extra connectors.Settings) *Conn { return openSQLite(t, extra, companiesTable) },
	notNull: "NOT NULL constraint failed: companies.name",
	check:   "CHECK constraint failed",
}

// postgresDB is the PostgreSQL at dsn (connectortest.PostgresDSN).
func postgresDB(dsn string) database {
	return database{
		open: func(t *testing.T, extra connectors.Settings) *Conn {
			return openPostgres(t, dsn, extra, pgCompaniesTable)
		},
		notNull: `null value in column "name" of relation "companies" violates not-null constraint`,
		check:   `violates check constraint "companies_name_check"`,
	}
}

func TestBatchWithARefusedRow(t *testing.T)    { testBatchWithARefusedRow(t, sqliteDB) }
func TestBatchWithAKeyTwice(t *testing.T)      { testBatchWithAKeyTwice(t, sqliteDB) }
func TestBatchIDsAreTheirRecords(t *testing.T) { testBatchIDsAreTheirRecords(t, sqliteDB) }
func TestBatchUpdateIfUnchanged(t *testing.T)  { testBatchUpdateIfUnchanged(t, sqliteDB) }

// The batch tests on PostgreSQL (see TestPostgresConformance), and an updated column
// kept to the whole second.
func TestPostgresBatches(t *testing.T) {
	dsn := connectortest.PostgresDSN(t)
	db := postgresDB(dsn)
	t.Run("WithARefusedRow", func(t *testing.T) { testBatchWithARefusedRow(t, db) })
	t.Run("WithAKeyTwice", func(t *testing.T) { testBatchWithAKeyTwice(t, db) })
	t.Run("IDsAreTheirRecords", func(t *testing.T) { testBatchIDsAreTheirRecords(t, db) })
	t.Run("UpdateIfUnchanged", func(t *testing.T) { testBatchUpdateIfUnchanged(t, db) })
	// The stamps of a batch's new rows cannot tell them apart in a column kept to the
	// whole second: the batch is written row by row, each id its record's.
	t.Run("WholeSecondUpdatedColumn", func(t *testing.T) {
		c := openPostgres(t, dsn, connectors.Settings{"hold_back_open_second": "false"}, `CREATE TABLE companies (
			id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, domain TEXT UNIQUE, updated_at TIMESTAMPTZ(0) NOT NULL)`)
		res, err := c.Create(t.Context(), "companies", []connectors.Record{
			{Fields: company("A", "a.example.com")}, {Fields: company("B", "b.example.com")}, {Fields: company("C", "c.example.com")},
		})
		require.NoError(t, err)
		for _, r := range res {
			require.NoError(t, r.Err)
		}
		assert.Equal(t, map[string]any{res[0].ID: "A", res[1].ID: "B", res[2].ID: "C"}, namesByID(t, c))
		assert.Equal(t, int64(1), c.batches.rowByRow.Load())
	})
}

// company is the fields of a companies row.
func company(name, domain string) map[string]any {
	return map[string]any{"name": name, "domain": domain}
}

// namesByID reads every live row's name by its id.
func namesByID(t *testing.T, c *Conn) map[string]any {
	t.Helper()
	page, err := c.Changes(t.Context(), "companies", connectors.Cursor{}, 100_000)
	require.NoError(t, err)
	out := map[string]any{}
	for _, r := range page.Records {
		out[r.ID] = r.Fields["name"]
	}
	return out
}

// requireReason requires res to be an *connectors.InvalidRecordError whose reason has
// the database's words.
func requireReason(t *testing.T, res connectors.WriteResult, words, what string) {
	t.Helper()
	var inv *connectors.InvalidRecordError
	require.ErrorAs(t, res.Err, &inv, what)
	assert.Contains(t, inv.Reason, words, "%s: the database's reason", what)
}

// A batch with a row the database refuses (a CHECK, a NOT NULL) is written again row
// by row: that row fails with the database's reason, the others are written. A batch
// with no refused row is written by its batch statements alone.
func testBatchWithARefusedRow(t *testing.T, db database) {
	c := db.open(t, nil)
	ctx := t.Context()

	res, err := c.Create(ctx, "companies", []connectors.Record{
		{Fields: company("Acme", "acme.example.com")},
		{Fields: company("", "blank.example.com")}, // CHECK
		{Fields: company("Globex", "globex.example.com")},
	})
	require.NoError(t, err)
	require.Len(t, res, 3)
	require.NoError(t, res[0].Err)
	require.NoError(t, res[2].Err)
	requireReason(t, res[1], db.check, "create")
	acme, globex := res[0].ID, res[2].ID
	assert.Equal(t, map[string]any{acme: "Acme", globex: "Globex"}, namesByID(t, c))
	assert.Equal(t, int64(1), c.batches.rowByRow.Load(), "the batch with the refused row")

	res, err = c.Update(ctx, "companies", []connectors.Record{
		{ID: acme, Fields: map[string]any{"name": "Acme 2"}},
		{ID: globex, Fields: map[string]any{"name": nil}}, // NOT NULL
	})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	requireReason(t, res[1], db.notNull, "update")
	assert.Equal(t, map[string]any{acme: "Acme 2", globex: "Globex"}, namesByID(t, c))

	res, err = c.Upsert(ctx, "companies", "domain", []connectors.Record{
		{Fields: company("Initech", "initech.example.com")},
		{Fields: company("", "acme.example.com")}, // CHECK, on the row that has the key
		{Fields: company("Globex 2", "globex.example.com")},
	})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	assert.True(t, res[0].Created)
	requireReason(t, res[1], db.check, "upsert")
	require.NoError(t, res[2].Err)
	assert.Equal(t, connectors.WriteResult{ID: globex}, res[2])
	assert.Equal(t, map[string]any{acme: "Acme 2", globex: "Globex 2", res[0].ID: "Initech"}, namesByID(t, c))
	assert.Equal(t, int64(3), c.batches.rowByRow.Load())

	res, err = c.Upsert(ctx, "companies", "domain", []connectors.Record{
		{Fields: company("Initech 2", "initech.example.com")},
		{Fields: company("Umbrella", "umbrella.example.com")},
	})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	require.NoError(t, res[1].Err)
	assert.Equal(t, int64(3), c.batches.rowByRow.Load(), "a batch the database takes whole is not written row by row")
}

// A key twice in an Upsert's batch (or an id twice in an Update's) is written as if the
// records came one after the other: the second updates the row the first wrote, which
// ends with the second's fields; on a unique key column and on any other.
func testBatchWithAKeyTwice(t *testing.T, db database) {
	for _, key := range []string{"domain", "phone"} {
		t.Run(key, func(t *testing.T) {
			c := db.open(t, nil)
			ctx := t.Context()
			rec := func(name, k string) connectors.Record {
				return connectors.Record{Fields: map[string]any{"name": name, key: k}}
			}
			res, err := c.Upsert(ctx, "companies", key, []connectors.Record{rec("Old", "b")})
			require.NoError(t, err)
			require.NoError(t, res[0].Err)
			old := res[0].ID

			res, err = c.Upsert(ctx, "companies", key, []connectors.Record{
				rec("A1", "a"), rec("B1", "b"), rec("A2", "a"), rec("C", "c"), rec("B2", "b"), rec("A3", "a"),
			})
			require.NoError(t, err)
			require.Len(t, res, 6)
			for i, r := range res {
				require.NoError(t, r.Err, "record %d", i)
			}
			a, c1 := res[0].ID, res[3].ID
			assert.True(t, res[0].Created, "the first a creates")
			assert.Equal(t, []connectors.WriteResult{{ID: old}, {ID: a}, {ID: c1, Created: true}, {ID: old}, {ID: a}},
				res[1:], "the later ones update")
			assert.Equal(t, map[string]any{old: "B2", a: "A3", c1: "C"}, namesByID(t, c))

			res, err = c.Update(ctx, "companies", []connectors.Record{
				{ID: a, Fields: map[string]any{"name": "A4"}},
				{ID: c1, Fields: map[string]any{"name": "C2", "employees": float64(5)}},
				{ID: a, Fields: map[string]any{"name": "A5"}},
			})
			require.NoError(t, err)
			assert.Equal(t, []connectors.WriteResult{{ID: a}, {ID: c1}, {ID: a}}, res)
			assert.Equal(t, map[string]any{old: "B2", a: "A5", c1: "C2"}, namesByID(t, c))
			assert.Zero(t, c.batches.rowByRow.Load(), "no batch was written row by row")
		})
	}
}

// The ids a batch's INSERTs return are each given to its own record: every row read back
// by its id has the fields of the record the id was returned for. The batch has records
// of two sets of columns, and more rows than one statement's parameters allow
// (maxParams). Update and Upsert then write the same rows by id and by key, an id no row
// has failing its record alone.
func testBatchIDsAreTheirRecords(t *testing.T, db database) {
	const n = 14_000 // 5 parameters a row: two INSERTs of the larger set of columns in PostgreSQL, more in SQLite
	c := db.open(t, connectors.Settings{"max_batch": fmt.Sprint(n)})
	ctx := t.Context()
	recs := make([]connectors.Record, n)
	for i := range recs {
		recs[i].Fields = company(fmt.Sprint("Company ", i), fmt.Sprintf("c%d.example.com", i))
		if i%3 == 0 {
			recs[i].Fields["phone"] = fmt.Sprint(i)
		}
	}
	res, err := c.Create(ctx, "companies", recs)
	require.NoError(t, err)
	require.Len(t, res, n)
	names := namesByID(t, c)
	require.Len(t, names, n)
	for i, r := range res {
		require.NoError(t, r.Err)
		require.True(t, r.Created)
		require.Equal(t, recs[i].Fields["name"], names[r.ID], "record %d, id %s", i, r.ID)
	}

	updates := make([]connectors.Record, n)
	for i, r := range res {
		updates[i] = connectors.Record{ID: r.ID, Fields: map[string]any{"name": fmt.Sprint("Renamed ", i)}}
	}
	updates[5].ID = "999999999"
	res, err = c.Update(ctx, "companies", updates)
	require.NoError(t, err)
	assert.ErrorIs(t, res[5].Err, connectors.ErrNotFound)
	names = namesByID(t, c)
	for i, r := range updates {
		if i != 5 {
			require.NoError(t, res[i].Err)
			require.Equal(t, connectors.WriteResult{ID: r.ID}, res[i])
			require.Equal(t, r.Fields["name"], names[r.ID], "record %d", i)
		}
	}

	upserts := []connectors.Record{
		{Fields: company("New", "new.example.com")},
		{Fields: company("Again", "c42.example.com")},
	}
	got, err := c.Upsert(ctx, "companies", "domain", upserts)
	require.NoError(t, err)
	require.NoError(t, got[0].Err)
	assert.True(t, got[0].Created)
	assert.Equal(t, connectors.WriteResult{ID: updates[42].ID}, got[1])
	names = namesByID(t, c)
	assert.Equal(t, "New", names[got[0].ID])
	assert.Equal(t, "Again", names[updates[42].ID])
	assert.Zero(t, c.batches.rowByRow.Load(), "no batch was written row by row")
}

// UpdateIfUnchanged's batch, with no row the database refuses, is written by its batch
// statements alone, and each record has UpdateIfUnchanged's outcome: a row changed
// since it was read is stale (with its time now), an id no row has is not found, an id
// twice is stale the second time (the first moved it), a record without UpdatedAt is
// invalid, and the rest are written.
func testBatchUpdateIfUnchanged(t *testing.T, db database) {
	c := db.open(t, nil)
	ctx := t.Context()
	res, err := c.Create(ctx, "companies", []connectors.Record{
		{Fields: company("A", "a.example.com")}, {Fields: company("B", "b.example.com")}, {Fields: company("C", "c.example.com")},
	})
	require.NoError(t, err)
	page, err := c.Get(ctx, "companies", []string{res[0].ID, res[1].ID, res[2].ID})
	require.NoError(t, err)
	read := map[any]connectors.Record{}
	for _, r := range page {
		read[r.Fields["name"]] = r
	}
	a, b, cc := read["A"], read["B"], read["C"]
	edited := a.UpdatedAt.Add(time.Hour).Truncate(time.Microsecond)
	setUpdatedAt(t, c, a.ID, edited)

	got, err := c.UpdateIfUnchanged(ctx, "companies", []connectors.Record{
		{ID: a.ID, UpdatedAt: a.UpdatedAt, Fields: map[string]any{"name": "A2"}},
		{ID: b.ID, UpdatedAt: b.UpdatedAt, Fields: map[string]any{"name": "B2"}},
		{ID: "999999", UpdatedAt: b.UpdatedAt, Fields: map[string]any{"name": "X"}},
		{ID: cc.ID, UpdatedAt: cc.UpdatedAt, Fields: map[string]any{"name": "C2"}},
		{ID: cc.ID, UpdatedAt: cc.UpdatedAt, Fields: map[string]any{"name": "C3"}},
		{ID: b.ID, Fields: map[string]any{"name": "B3"}},
	})
	require.NoError(t, err)
	require.Len(t, got, 6)
	var stale *connectors.StaleRecordError
	require.ErrorAs(t, got[0].Err, &stale)
	assert.True(t, stale.Now.Equal(edited), "the row's time now: %s, want %s", stale.Now, edited)
	assert.Equal(t, connectors.WriteResult{ID: b.ID}, got[1])
	assert.ErrorIs(t, got[2].Err, connectors.ErrNotFound)
	assert.Equal(t, connectors.WriteResult{ID: cc.ID}, got[3])
	assert.ErrorAs(t, got[4].Err, &stale, "moved by the record before")
	var inv *connectors.InvalidRecordError
	assert.ErrorAs(t, got[5].Err, &inv, "no UpdatedAt")
	assert.Equal(t, map[string]any{a.ID: "A", b.ID: "B2", cc.ID: "C2"}, namesByID(t, c))
	assert.Zero(t, c.batches.rowByRow.Load(), "no batch was written row by row")
}

// A row of more columns than a SQLite batch statement's parameters (maxParams) is
// inserted by a statement of its own.
func TestBatchRowWiderThanAStatement(t *testing.T) {
	c := openSQLite(t, nil, companiesTable)
	n := c.maxParams() + 1
	cols := make([]string, n)
	for i := range cols {
		cols[i] = fmt.Sprintf("c%d TEXT", i)
	}
	_, err := c.db.ExecContext(t.Context(), "CREATE TABLE wide (id INTEGER PRIMARY KEY, updated_at TEXT NOT NULL, "+strings.Join(cols, ", ")+")")
	require.NoError(t, err)
	recs := make([]connectors.Record, 2)
	for r := range recs {
		recs[r].Fields = map[string]any{}
		for i := range n {
			recs[r].Fields[fmt.Sprint("c", i)] = fmt.Sprint(r, "-", i)
		}
	}
	res, err := c.Create(t.Context(), "wide", recs)
	require.NoError(t, err)
	got, err := c.Get(t.Context(), "wide", []string{res[0].ID, res[1].ID})
	require.NoError(t, err)
	require.Len(t, got, 2)
	for _, g := range got {
		r := recs[0]
		if g.ID == res[1].ID {
			r = recs[1]
		}
		assert.Equal(t, r.Fields, g.Fields)
	}
	assert.Zero(t, c.batches.rowByRow.Load())
}
