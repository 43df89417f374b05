package sqldb

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
)

// openSoftDelete returns a SQLite connection whose companies table has the soft-delete
// column sd, named by deleted_column.
func openSoftDelete(t *testing.T, sd softDeleteColumn) *Conn {
	t.Helper()
	return openSQLite(t, connectors.Settings{"deleted_column": sd.column}, withColumn(companiesTable, sd.sqlite))
}

func TestSoftDeletedRowsAreGone(t *testing.T) {
	for _, sd := range softDeleteColumns {
		t.Run(sd.name, func(t *testing.T) { testSoftDeletedRowsAreGone(t, openSoftDelete(t, sd), sd) })
	}
}

// testSoftDeletedRowsAreGone runs on SQLite and on PostgreSQL (postgres_test.go): c's
// companies table is empty and has the soft-delete column sd.
func testSoftDeletedRowsAreGone(t *testing.T, c *Conn, sd softDeleteColumn) {
	ctx := t.Context()
	res, err := c.Create(ctx, "companies", []connectors.Record{
		{Fields: map[string]any{"name": "Acme", "domain": "acme.example.com"}},
		{Fields: map[string]any{"name": "Beta", "domain": "beta.example.com"}},
		{Fields: map[string]any{"name": "Gamma", "domain": "gamma.example.com"}},
	})
	require.NoError(t, err)
	acme, beta, gamma := res[0].ID, res[1].ID, res[2].ID
	read, err := c.Get(ctx, "companies", []string{beta})
	require.NoError(t, err)
	require.Len(t, read, 1)
	before := read[0]

	del, err := c.Delete(ctx, "companies", []string{beta, "999999"})
	require.NoError(t, err)
	assert.Equal(t, []connectors.WriteResult{{ID: beta}, {ID: "999999"}}, del, "a missing id counts as deleted")

	// Every read leaves the soft-deleted row out.
	page, err := c.Changes(ctx, "companies", connectors.Cursor{}, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{acme, gamma}, recordIDs(page.Records), "Changes")
	n, err := c.CountChanges(ctx, "companies", connectors.Cursor{})
	require.NoError(t, err)
	assert.Equal(t, 2, n, "CountChanges")
	got, err := c.Get(ctx, "companies", []string{acme, beta, gamma})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{acme, gamma}, recordIDs(got), "Get")
	found, err := c.Find(ctx, "companies", "domain", []string{"beta.example.com"})
	require.NoError(t, err)
	assert.Empty(t, found, "Find")
	ids, next, err := c.ListIDs(ctx, "companies", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{acme, gamma}, ids, "ListIDs")
	assert.Empty(t, next)
	upd, err := c.Update(ctx, "companies", []connectors.Record{{ID: beta, Fields: map[string]any{"phone": "1"}}})
	require.NoError(t, err)
	assert.ErrorIs(t, upd[0].Err, connectors.ErrNotFound, "Update of a soft-deleted row")
	upd, err = c.UpdateIfUnchanged(ctx, "companies", []connectors.Record{{ID: beta, UpdatedAt: before.UpdatedAt, Fields: map[string]any{"phone": "1"}}})
	require.NoError(t, err)
	assert.ErrorIs(t, upd[0].Err, connectors.ErrNotFound, "UpdateIfUnchanged of a soft-deleted row")

	// The row is still in the table, as a tombstone another sync reads.
	var rows int
	require.NoError(t, c.db.QueryRowContext(ctx, `SELECT count(*) FROM companies WHERE id = $1`, beta).Scan(&rows))
	assert.Equal(t, 1, rows, "the row is kept")
	since := connectors.Cursor{UpdatedAt: before.UpdatedAt}
	dp, err := c.Deletes(ctx, "companies", since, 10)
	require.NoError(t, err)
	require.Len(t, dp.Tombstones, 1)
	tomb := dp.Tombstones[0]
	assert.Equal(t, beta, tomb.ID)
	assert.True(t, tomb.DeletedAt.After(before.UpdatedAt), "deleted at %s, after the row's last change %s", tomb.DeletedAt, before.UpdatedAt)
	assert.False(t, dp.More)
	assert.True(t, dp.CoveredUntil.IsZero(), "the log never expires")

	// Deleting it again leaves the tombstone as it was.
	del, err = c.Delete(ctx, "companies", []string{beta})
	require.NoError(t, err)
	assert.Equal(t, []connectors.WriteResult{{ID: beta}}, del)
	again, err := c.Deletes(ctx, "companies", since, 10)
	require.NoError(t, err)
	assert.Equal(t, dp, again, "a second delete of a deleted row")

	// An upsert by its unique key brings it back.
	up, err := c.Upsert(ctx, "companies", "domain", []connectors.Record{{Fields: map[string]any{"name": "Beta again", "domain": "beta.example.com"}}})
	require.NoError(t, err)
	require.NoError(t, up[0].Err)
	assert.Equal(t, beta, up[0].ID, "the soft-deleted row holding the key is written")
	got, err = c.Get(ctx, "companies", []string{beta})
	require.NoError(t, err)
	require.Len(t, got, 1, "live again")
	assert.Equal(t, "Beta again", got[0].Fields["name"])
	dp, err = c.Deletes(ctx, "companies", since, 10)
	require.NoError(t, err)
	assert.Empty(t, dp.Tombstones, "a live row is no tombstone")
}

func TestDeletesPagesEqualTimes(t *testing.T) {
	for _, sd := range softDeleteColumns {
		t.Run(sd.name, func(t *testing.T) { testDeletesPagesEqualTimes(t, openSoftDelete(t, sd), sd) })
	}
}

// markDeleted soft-deletes rows at time at, as another writer would: in one statement,
// all at one time.
func markDeleted(t *testing.T, c *Conn, sd softDeleteColumn, at time.Time, ids ...string) {
	t.Helper()
	set := "deleted_at = $1"
	if sd.flag {
		set = "deleted = TRUE, updated_at = $1"
	}
	args := []any{stampArg(at)}
	for _, id := range ids {
		args = append(args, id)
	}
	_, err := c.db.ExecContext(t.Context(), fmt.Sprintf(`UPDATE companies SET %s WHERE id IN (%s)`, set, placeholders(2, len(ids))), args...)
	require.NoError(t, err)
}

// testDeletesPagesEqualTimes runs on SQLite and on PostgreSQL: c's companies table is
// empty and has the soft-delete column sd. Rows another writer soft-deletes in one
// statement share their time; Deletes orders them by the id's text, as
// connectors.Cursor does, so that paging and resuming at any of them neither skips nor
// repeats one (by the integer ids' order, 10 would sort after 9 but its cursor before).
func testDeletesPagesEqualTimes(t *testing.T, c *Conn, sd softDeleteColumn) {
	ctx := t.Context()
	var recs []connectors.Record
	for i := range 13 {
		recs = append(recs, connectors.Record{Fields: map[string]any{"name": fmt.Sprint("Company ", i+1)}})
	}
	res, err := c.Create(ctx, "companies", recs)
	require.NoError(t, err)
	var gone []string
	for _, r := range res[:12] {
		gone = append(gone, r.ID)
	}
	early := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	at := early.Add(time.Second)
	markDeleted(t, c, sd, at, gone[1:]...)
	markDeleted(t, c, sd, early, gone[0])

	want := []connectors.Tombstone{{ID: gone[0], DeletedAt: early}}
	byText := slices.Clone(gone[1:])
	slices.Sort(byText)
	for _, id := range byText {
		want = append(want, connectors.Tombstone{ID: id, DeletedAt: at})
	}
	readAll := func(since connectors.Cursor, limit int) []connectors.Tombstone {
		t.Helper()
		var all []connectors.Tombstone
		for pages := 0; ; pages++ {
			require.Less(t, pages, 100)
			page, err := c.Deletes(ctx, "companies", since, limit)
			require.NoError(t, err, "deletes after %s, limit %d", since, limit)
			require.LessOrEqual(t, len(page.Tombstones), limit)
			for _, ts := range page.Tombstones {
				assert.True(t, since.Before(connectors.Record{ID: ts.ID, UpdatedAt: ts.DeletedAt}), "tombstone %s is not after %s", ts.ID, since)
				since = connectors.CursorOfTombstone(ts)
			}
			all = append(all, page.Tombstones...)
			if !page.More {
				return all
			}
		}
	}
	for _, limit := range []int{1, 2, 5, 100} {
		got := readAll(connectors.Cursor{UpdatedAt: early}, limit)
		require.Len(t, got, len(want), "limit %d", limit)
		for i := range want {
			assert.Equal(t, want[i].ID, got[i].ID, "limit %d: tombstone %d", limit, i)
			assert.True(t, want[i].DeletedAt.Equal(got[i].DeletedAt), "limit %d: tombstone %s at %s", limit, got[i].ID, got[i].DeletedAt)
		}
	}
	// Resuming at the tombstone of id 10 reads the ids after "10" as text: 11, 12, then 2...
	from := slices.Index(byText, "10")
	require.GreaterOrEqual(t, from, 0)
	got := readAll(connectors.Cursor{UpdatedAt: at, ID: "10"}, 3)
	assert.Equal(t, byText[from+1:], tombstoneIDs(got), "resumed at (%s, 10)", at)
	assert.Empty(t, readAll(connectors.CursorOfTombstone(want[len(want)-1]), 3), "after the last tombstone")
}

func tombstoneIDs(ts []connectors.Tombstone) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

// SQLite's deleted times are compared as its updated times are: through their normalised
// form, whatever the layout another writer chose; a value that is no time stops Deletes
// with an error naming the column and the setting.
func TestDeletedTimesInSQLiteLayouts(t *testing.T) {
	c := openSoftDelete(t, softDeleteColumns[0])
	ctx := t.Context()
	var recs []connectors.Record
	for i := range 6 {
		recs = append(recs, connectors.Record{Fields: map[string]any{"name": fmt.Sprint("Company ", i+1)}})
	}
	_, err := c.Create(ctx, "companies", recs)
	require.NoError(t, err)
	for id, v := range map[string]any{
		"1": "2020-01-02T03:04:05.5Z",           // the same instant in four layouts
		"2": "2020-01-02 05:04:05.500+02:00",    //
		"3": "2020-01-02 03:04:05.500000+00:00", //
		"4": "2020-01-02T03:04:05.5",            //
		"5": "2020-01-02 03:04:05",              // half a second before, as CURRENT_TIMESTAMP writes
		"6": 0,                                  // false: not deleted
	} {
		_, err := c.db.ExecContext(ctx, `UPDATE companies SET deleted_at = $1 WHERE id = $2`, v, id)
		require.NoError(t, err)
	}
	page, err := c.Deletes(ctx, "companies", connectors.Cursor{}, 10)
	require.NoError(t, err)
	require.Equal(t, []string{"5", "1", "2", "3", "4"}, tombstoneIDs(page.Tombstones))
	instant := time.Date(2020, 1, 2, 3, 4, 5, 500_000_000, time.UTC)
	for _, ts := range page.Tombstones[1:] {
		assert.True(t, ts.DeletedAt.Equal(instant), "row %s deleted at %s", ts.ID, ts.DeletedAt)
	}
	ids, _, err := c.ListIDs(ctx, "companies", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"6"}, ids, "0 is not deleted")

	_, err = c.db.ExecContext(ctx, `UPDATE companies SET deleted_at = 'yesterday' WHERE id = 6`)
	require.NoError(t, err)
	_, err = c.Deletes(ctx, "companies", connectors.Cursor{UpdatedAt: instant, ID: "4"}, 10)
	var inv *connectors.InvalidRecordError
	require.ErrorAs(t, err, &inv, "a deleted time that is no time")
	assert.Equal(t, "6", inv.Record)
	assert.Equal(t, "deleted_at", inv.Field)
	assert.Contains(t, inv.Reason, `table companies, column deleted_at (deleted_column): "yesterday" is not a timestamp`)
}

// A SQLite flag column declared INTEGER: NULL and 0 are live, anything else deleted; the
// tombstone's time is the row's updated column.
func TestSQLiteIntegerFlag(t *testing.T) {
	c := openSQLite(t, connectors.Settings{"deleted_column": "is_deleted"}, withColumn(companiesTable, "is_deleted INTEGER"))
	ctx := t.Context()
	var recs []connectors.Record
	for i := range 4 {
		recs = append(recs, connectors.Record{Fields: map[string]any{"name": fmt.Sprint("Company ", i+1)}})
	}
	_, err := c.Create(ctx, "companies", recs)
	require.NoError(t, err)
	_, err = c.db.ExecContext(ctx, `UPDATE companies SET is_deleted = id - 2`) // -1, 0, 1, 2
	require.NoError(t, err)
	ids, _, err := c.ListIDs(ctx, "companies", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"2"}, ids)
	page, err := c.Deletes(ctx, "companies", connectors.Cursor{}, 10)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"1", "3", "4"}, tombstoneIDs(page.Tombstones))
	for _, ts := range page.Tombstones {
		var stored string
		require.NoError(t, c.db.QueryRowContext(ctx, `SELECT updated_at FROM companies WHERE id = $1`, ts.ID).Scan(&stored))
		updated, ok := parseTextTime(stored)
		require.True(t, ok, stored)
		assert.True(t, ts.DeletedAt.Equal(updated), "tombstone %s at %s, its row's updated time %s", ts.ID, ts.DeletedAt, updated)
	}

	res, err := c.Delete(ctx, "companies", []string{"2"})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	var flag int
	require.NoError(t, c.db.QueryRowContext(ctx, `SELECT is_deleted FROM companies WHERE id = 2`).Scan(&flag))
	assert.Equal(t, 1, flag, "Delete sets the flag to 1")
}

func TestDeleteWithoutDeletedColumn(t *testing.T) {
	c := openSQLite(t, connectors.Settings{"max_batch": "2"}, companiesTable)
	ctx := t.Context()
	var recs []connectors.Record
	for i := range 5 {
		recs = append(recs, connectors.Record{Fields: map[string]any{"name": fmt.Sprint("Company ", i+1)}})
	}
	_, err := c.Create(ctx, "companies", recs)
	require.NoError(t, err)

	ids := []string{"4", "999999", "1", "2", "1"}
	res, err := c.Delete(ctx, "companies", ids)
	require.NoError(t, err)
	require.Len(t, res, len(ids), "batches of max_batch, one result per id")
	for i, r := range res {
		assert.Equal(t, connectors.WriteResult{ID: ids[i]}, r, "result %d: in request order, a missing id deleted", i)
	}
	var rows int
	require.NoError(t, c.db.QueryRowContext(ctx, `SELECT count(*) FROM companies`).Scan(&rows))
	assert.Equal(t, 2, rows, "the rows are deleted, not marked")
	live, next, err := c.ListIDs(ctx, "companies", "", 1)
	require.NoError(t, err)
	assert.Equal(t, []string{"3"}, live)
	assert.Equal(t, "3", next)
	live, next, err = c.ListIDs(ctx, "companies", next, 1)
	require.NoError(t, err)
	assert.Equal(t, []string{"5"}, live)
	assert.Empty(t, next, "the last page")

	_, err = c.Deletes(ctx, "companies", connectors.Cursor{}, 10)
	assert.ErrorIs(t, err, errors.ErrUnsupported, "no delete log without deleted_column: the engine diffs ids")
	assert.ErrorContains(t, err, "setting deleted_column is not set")
}

// A row the database refuses to delete (a foreign key points at it) fails alone, with the
// database's reason; the rest of the batch is deleted.
func TestDeleteRefusedRowFailsAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tandem.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	for _, q := range []string{companiesTable, contactsTable} {
		_, err = db.Exec(q)
		require.NoError(t, err)
	}
	require.NoError(t, db.Close())
	conn, err := Factory("db", connectors.Settings{"driver": "sqlite", "dsn": path + "?_pragma=foreign_keys(1)"})
	require.NoError(t, err)
	c := conn.(*Conn)
	t.Cleanup(func() { _ = c.Close() })
	testDeleteRefusedRowFailsAlone(t, c, "FOREIGN KEY constraint failed")
}

// contactsTable refers to companies, in SQLite and PostgreSQL.
const contactsTable = `CREATE TABLE contacts (id INTEGER PRIMARY KEY, company_id INTEGER REFERENCES companies(id))`

// testDeleteRefusedRowFailsAlone runs on SQLite and on PostgreSQL: c's companies table is
// empty, and contactsTable refers to it; reason is the database's word for the refusal.
func testDeleteRefusedRowFailsAlone(t *testing.T, c *Conn, reason string) {
	ctx := t.Context()
	res, err := c.Create(ctx, "companies", []connectors.Record{{Fields: map[string]any{"name": "A"}}, {Fields: map[string]any{"name": "B"}}, {Fields: map[string]any{"name": "C"}}})
	require.NoError(t, err)
	a, b, cc := res[0].ID, res[1].ID, res[2].ID
	_, err = c.db.ExecContext(ctx, `INSERT INTO contacts (id, company_id) VALUES (1, $1)`, b)
	require.NoError(t, err)

	del, err := c.Delete(ctx, "companies", []string{a, b, cc})
	require.NoError(t, err)
	require.Len(t, del, 3)
	assert.Equal(t, connectors.WriteResult{ID: a}, del[0])
	assert.Equal(t, connectors.WriteResult{ID: cc}, del[2])
	var inv *connectors.InvalidRecordError
	require.ErrorAs(t, del[1].Err, &inv)
	assert.Equal(t, b, inv.Record)
	assert.Contains(t, inv.Reason, reason)
	ids, _, err := c.ListIDs(ctx, "companies", "", 10)
	require.NoError(t, err)
	assert.Equal(t, []string{b}, ids)
}

// A deleted_column the table lacks, or of a type that is neither a time nor a flag, fails
// every call on the table with an error naming the setting, the table and the column; no
// retry adds the column.
func TestBadDeletedColumn(t *testing.T) {
	ctx := t.Context()
	calls := map[string]func(c *Conn) error{
		"Changes": func(c *Conn) error { _, err := c.Changes(ctx, "companies", connectors.Cursor{}, 10); return err },
		"Get":     func(c *Conn) error { _, err := c.Get(ctx, "companies", []string{"1"}); return err },
		"Update": func(c *Conn) error {
			_, err := c.Update(ctx, "companies", []connectors.Record{{ID: "1", Fields: map[string]any{"name": "x"}}})
			return err
		},
		"ListIDs": func(c *Conn) error { _, _, err := c.ListIDs(ctx, "companies", "", 10); return err },
		"Delete":  func(c *Conn) error { _, err := c.Delete(ctx, "companies", []string{"1"}); return err },
		"Deletes": func(c *Conn) error { _, err := c.Deletes(ctx, "companies", connectors.Cursor{}, 10); return err },
	}
	for _, tc := range []struct {
		name, column, want string
	}{
		{"missing", "", `setting deleted_column: column "deleted_at" of table companies: not found`},
		{"another type", "deleted_at REAL", `setting deleted_column: column "deleted_at" of table companies is REAL; a soft-delete column of a type the connector reads`},
	} {
		ddl := companiesTable
		if tc.column != "" {
			ddl = withColumn(companiesTable, tc.column)
		}
		c := openSQLite(t, connectors.Settings{"deleted_column": "deleted_at"}, ddl)
		for name, call := range calls {
			err := call(c)
			assert.ErrorIs(t, err, connectors.ErrNotFound, "%s, %s", tc.name, name)
			assert.ErrorContains(t, err, tc.want, "%s, %s", tc.name, name)
		}
	}
	c := openSQLite(t, connectors.Settings{"deleted_column": "deleted_at"}, companiesTable)
	_, err := c.Deletes(ctx, "no_such_table", connectors.Cursor{}, 10)
	assert.ErrorIs(t, err, connectors.ErrNotFound)
	assert.ErrorContains(t, err, "sql deletes of no_such_table: table no_such_table: not found")

	cfg, err := ParseSettings(connectors.Settings{"driver": "sqlite", "dsn": "a.db", "deleted_column": " deleted_at "})
	require.NoError(t, err)
	assert.Equal(t, "deleted_at", cfg.DeletedColumn)
}
