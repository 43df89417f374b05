package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"tandem/connectors"
)

// Writes. Create, Update, UpdateIfUnchanged and Upsert write max_batch records at a time,
// each batch in one transaction (writeMany) with a few statements for the whole batch:
//
//   - Upsert looks every key of the batch up in one SELECT (a join with the batch's keys);
//   - the rows to insert are one multi-row INSERT ... RETURNING per set of columns (with
//     ON CONFLICT (key) DO UPDATE when Upsert's key is unique), as many as the statement's
//     parameters allow (maxParams);
//   - in PostgreSQL the rows to update are one UPDATE ... FROM the batch's values per set
//     of columns (UpdateIfUnchanged's with its condition); in SQLite, where a statement
//     costs no round trip, one prepared UPDATE run for each row.
//
// A key or an id that occurs twice in a batch is written in a second round of the same
// statements, after the first, as if the records had been written one after the other.
// When the database refuses one of those statements for a row's sake (a NOT NULL, CHECK
// or UNIQUE constraint, a bad value), the transaction is rolled back and the batch written
// again a row at a time, each row under a savepoint (writeBatch): the refused row fails
// alone, with the database's reason, and the rest of the batch is written.

// maxParams is the most parameters a batch statement is given: PostgreSQL takes 65535.
// SQLite takes 32766 (since 3.32), but modernc's driver finds each parameter's argument
// by a search of the arguments, a cost that grows with the square of their number, so its
// statements keep to 999 (SQLite's limit before 3.32) and to ? parameters (params).
func (c *Conn) maxParams() int {
	if c.pg {
		return 65535
	}
	return 999
}

// params returns n parameters from the from-th, in the form the batch statements use:
// $n in PostgreSQL, ? in SQLite (see maxParams).
func (c *Conn) params(from, n int) string {
	if c.pg {
		return placeholders(from, n)
	}
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// errRowByRow means that a batch's statements did not write it as a whole, and the batch
// is to be written again a row at a time (see writeMany).
var errRowByRow = errors.New("sql: the batch is written again row by row")

// Create implements connectors.Connector: one multi-row INSERT ... RETURNING id per set of
// columns (see "Writes" above).
func (c *Conn) Create(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	many := func(tx *sql.Tx, records []connectors.Record, results []connectors.WriteResult) error {
		return c.insertRows(ctx, tx, object, c.prepare(records, results), nil, results)
	}
	return c.write(ctx, "create in", object, records, many, func(tx *sql.Tx, r connectors.Record, at time.Time) (connectors.WriteResult, error) {
		return c.insert(ctx, tx, object, r, at, "")
	})
}

// Update implements connectors.Connector: the given columns of the rows with the records'
// ids are set (see "Writes" above). An id no row has (or only a soft-deleted one) fails
// its record with a *connectors.NotFoundError.
func (c *Conn) Update(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	sd, err := c.softDelete(ctx, "update in "+object, object)
	if err != nil {
		return nil, err
	}
	many := func(tx *sql.Tx, records []connectors.Record, results []connectors.WriteResult) error {
		return c.updateRows(ctx, tx, object, sd, c.prepare(records, results), results)
	}
	return c.write(ctx, "update in", object, records, many, func(tx *sql.Tx, r connectors.Record, at time.Time) (connectors.WriteResult, error) {
		return c.update(ctx, tx, object, sd, r, at)
	})
}

// UpdateIfUnchanged implements connectors.ConditionalUpdater: per row,
//
//	UPDATE table SET ..., updated = $now WHERE id = $id AND updated = $read
//
// in the batch's transaction, so the check and the write are one statement no other
// writer can come between; in PostgreSQL one UPDATE ... FROM the batch's values per set
// of columns, as Update's, then this per row for the rows it did not write. A row the
// database refuses sends the batch row by row under savepoints, as Update's. The
// updated column is compared as Changes compares it: in SQLite its normalised form with the record's UpdatedAt in that form, so a time another
// program wrote in a layout of its own matches the UpdatedAt it was read as; in
// PostgreSQL the column with the UpdatedAt in the form the connector writes (stampArg).
// When no row matches, the row is looked up in the same transaction: gone, it is
// Update's *connectors.NotFoundError; changed, a *connectors.StaleRecordError with its
// updated time now. A PostgreSQL text column whose time is the read one but stored in
// another form is updated on the stored form instead, so it is not stale forever. A
// record without an UpdatedAt has no version to hold it to and is refused as invalid.
func (c *Conn) UpdateIfUnchanged(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	sd, err := c.softDelete(ctx, "update if unchanged in "+object, object)
	if err != nil {
		return nil, err
	}
	one := func(tx *sql.Tx, r connectors.Record, at time.Time) (connectors.WriteResult, error) {
		return c.updateIfUnchanged(ctx, tx, object, sd, r, at)
	}
	many := func(tx *sql.Tx, records []connectors.Record, results []connectors.WriteResult) error {
		var versioned []connectors.Record
		var at []int
		for i, r := range records {
			if c.pg && r.ID != "" && !r.UpdatedAt.IsZero() {
				versioned, at = append(versioned, r), append(at, i)
				continue
			}
			res, err := one(tx, r, c.stamp())
			if err != nil {
				return err
			}
			results[i] = res
		}
		return c.updateRowsIf(ctx, tx, object, sd, c.prepareAt(versioned, at, results), true, results)
	}
	return c.write(ctx, "update if unchanged in", object, records, many, one)
}

func (c *Conn) updateIfUnchanged(ctx context.Context, tx *sql.Tx, object string, sd *softDelete, r connectors.Record, at time.Time) (connectors.WriteResult, error) {
	table, id, updated, _ := c.table(object)
	if r.ID != "" && r.UpdatedAt.IsZero() {
		return connectors.WriteResult{Err: &connectors.InvalidRecordError{Record: r.ID, Field: c.cfg.UpdatedColumn,
			Reason: "a conditional update needs the UpdatedAt the record was read with"}}, nil
	}
	res, err := c.updateWhere(ctx, tx, object, sd, r, at, c.timeArg(r.UpdatedAt))
	if err != nil || res.Err == nil || r.ID == "" {
		return res, err
	}
	if _, missing := res.Err.(*connectors.NotFoundError); !missing {
		return res, nil
	}
	// No row has the id and the read time: is the row gone, or changed?
	stale := &connectors.StaleRecordError{ID: r.ID, Read: r.UpdatedAt}
	if !c.pg {
		var key sql.NullString
		q := fmt.Sprintf("SELECT %s FROM %s WHERE %s", c.orderKey(updated), table, sd.and(id+" = $1"))
		switch err := tx.QueryRowContext(ctx, q, r.ID).Scan(&key); {
		case errors.Is(err, sql.ErrNoRows):
			return res, nil
		case err != nil:
			return connectors.WriteResult{}, err
		}
		if now, err := time.Parse(keyLayout, key.String); key.Valid && err == nil {
			stale.Now = now.UTC()
		}
		return connectors.WriteResult{Err: stale}, nil
	}
	var stored sql.NullString
	q := fmt.Sprintf("SELECT CAST(%s AS TEXT) FROM %s WHERE %s", updated, table, sd.and(id+" = $1"))
	switch err := tx.QueryRowContext(ctx, q, r.ID).Scan(&stored); {
	case errors.Is(err, sql.ErrNoRows):
		return res, nil
	case err != nil:
		return connectors.WriteResult{}, err
	}
	now, err := timeValue(stored.String)
	if !stored.Valid || err != nil {
		return connectors.WriteResult{Err: stale}, nil
	}
	if !now.Equal(r.UpdatedAt) {
		stale.Now = now
		return connectors.WriteResult{Err: stale}, nil
	}
	res, err = c.updateWhere(ctx, tx, object, sd, r, at, stored.String)
	if err == nil && res.Err != nil {
		res.Err = stale // changed between the two statements
	}
	return res, err
}

// Upsert implements connectors.Connector. The batch's keys are looked up first, in one
// statement of the batch's transaction, to update the one row that has each (and say
// Created=false); a key no row has is inserted, with ON CONFLICT (key) DO UPDATE when the
// key is unique (a key_columns column or the id column), so a row another writer inserted
// meanwhile is updated rather than duplicated. A key that several rows have fails its
// record with a *connectors.AmbiguousMatchError. A key twice in the batch is written in a
// second round, after the first: the second record updates the row the first wrote.
// Soft-deleted rows (deleted_column) are not looked up; one holding a unique key is
// written by the ON CONFLICT update, which makes it live again.
func (c *Conn) Upsert(ctx context.Context, object, key string, records []connectors.Record) ([]connectors.WriteResult, error) {
	keyCol, err := quote("column", key)
	if err != nil {
		return nil, &connectors.NotFoundError{What: "sql upsert key " + err.Error()}
	}
	table, id, _, err := c.table(object)
	if err != nil {
		return nil, err
	}
	sd, err := c.softDelete(ctx, "upsert in "+object, object)
	if err != nil {
		return nil, err
	}
	// conflict is the ON CONFLICT clause of an insert with the columns cols, if any.
	conflict := func([]string) string { return "" }
	if key == c.cfg.IDColumn || slices.Contains(c.cfg.KeyColumns, key) {
		conflict = func(cols []string) string { return c.upsertConflict(keyCol, cols, sd) }
	}
	// keyArg is the record's key as a statement argument, or its error.
	keyArg := func(r connectors.Record) (any, *connectors.InvalidRecordError) {
		v := r.Fields[key]
		if v == nil {
			return nil, &connectors.InvalidRecordError{Field: key, Reason: "no value for the upsert key"}
		}
		arg, err := c.arg(v)
		if err != nil {
			return nil, &connectors.InvalidRecordError{Field: key, Reason: err.Error()}
		}
		return arg, nil
	}

	many := func(tx *sql.Tx, records []connectors.Record, results []connectors.WriteResult) error {
		var keyed []int
		args := make([]any, len(records))
		for i, r := range records {
			arg, bad := keyArg(r)
			if bad != nil {
				results[i] = connectors.WriteResult{Err: bad}
				continue
			}
			keyed, args[i] = append(keyed, i), arg
		}
		for _, round := range rounds(keyed, func(i int) string { return connectors.KeyString(records[i].Fields[key]) }) {
			keys := make([]any, len(round))
			for j, i := range round {
				keys[j] = args[i]
			}
			found, err := c.lookup(ctx, tx, object, key, sd, keys)
			if err != nil {
				return err
			}
			var inserts, updates []connectors.Record
			var insertAt, updateAt []int
			for j, i := range round {
				switch ids := found[j]; len(ids) {
				case 0:
					inserts, insertAt = append(inserts, records[i]), append(insertAt, i)
				case 1:
					r := records[i]
					r.ID = ids[0]
					updates, updateAt = append(updates, r), append(updateAt, i)
				default:
					results[i] = connectors.WriteResult{Err: &connectors.AmbiguousMatchError{Field: key, Value: connectors.KeyString(records[i].Fields[key]), IDs: ids}}
				}
			}
			if err := c.insertRows(ctx, tx, object, c.prepareAt(inserts, insertAt, results), conflict, results); err != nil {
				return err
			}
			if err := c.updateRows(ctx, tx, object, sd, c.prepareAt(updates, updateAt, results), results); err != nil {
				return err
			}
		}
		return nil
	}

	lookup := fmt.Sprintf("SELECT %s FROM %s WHERE %s", id, table, sd.and(keyCol+" = $1"))
	return c.write(ctx, "upsert in", object, records, many, func(tx *sql.Tx, r connectors.Record, at time.Time) (connectors.WriteResult, error) {
		arg, bad := keyArg(r)
		if bad != nil {
			return connectors.WriteResult{Err: bad}, nil
		}
		ids, err := queryIDs(ctx, tx, lookup, arg)
		if err != nil {
			return connectors.WriteResult{}, err
		}
		switch len(ids) {
		case 0:
			cols, _, _ := c.fieldArgs(r)
			return c.insert(ctx, tx, object, r, at, conflict(cols))
		case 1:
			r.ID = ids[0]
			return c.update(ctx, tx, object, sd, r, at)
		default:
			return connectors.WriteResult{Err: &connectors.AmbiguousMatchError{Field: key, Value: connectors.KeyString(r.Fields[key]), IDs: ids}}, nil
		}
	})
}

// upsertConflict is the ON CONFLICT clause of an upsert by the unique quoted column
// keyCol of a row with the quoted columns cols: the row that has the key is given the
// record's columns and the updated column, and made live again when soft-deleted.
func (c *Conn) upsertConflict(keyCol string, cols []string, sd *softDelete) string {
	updated := `"` + c.cfg.UpdatedColumn + `"` // checked by Config.check
	sets := []string{fmt.Sprintf("%s = excluded.%s", updated, updated)}
	for _, col := range cols {
		if col != keyCol {
			sets = append(sets, fmt.Sprintf("%s = excluded.%s", col, col))
		}
	}
	if sd != nil && !slices.Contains(cols, sd.col) {
		sets = append(sets, fmt.Sprintf("%s = %s", sd.col, sd.revive))
	}
	return fmt.Sprintf(" ON CONFLICT (%s) DO UPDATE SET %s", keyCol, strings.Join(sets, ", "))
}

// pending is a record on its way into a batch statement.
type pending struct {
	// at is the record's place in the batch, and of its result.
	at int
	r  connectors.Record
	// cols and args are the record's quoted columns and arguments (fieldArgs).
	cols []string
	args []any
	// stamp is the time written into the row's updated column.
	stamp time.Time
}

// prepare returns the records with their columns, arguments and stamps; a record with a
// field no column takes gets its error in results and is left out.
func (c *Conn) prepare(records []connectors.Record, results []connectors.WriteResult) []pending {
	return c.prepareAt(records, nil, results)
}

// prepareAt is prepare of records whose places in the batch are at (nil: 0, 1, ...).
func (c *Conn) prepareAt(records []connectors.Record, at []int, results []connectors.WriteResult) []pending {
	out := make([]pending, 0, len(records))
	for i, r := range records {
		if at != nil {
			i = at[i]
		}
		cols, args, bad := c.fieldArgs(r)
		if bad != nil {
			results[i] = connectors.WriteResult{Err: bad}
			continue
		}
		out = append(out, pending{at: i, r: r, cols: cols, args: args, stamp: c.stamp()})
	}
	return out
}

// rounds splits idx by key: the first of each key in round one, the second in round two,
// and so on, each round in idx's order. A statement writes a round: no row twice.
func rounds(idx []int, key func(int) string) [][]int {
	var out [][]int
	seen := make(map[string]int, len(idx))
	for _, i := range idx {
		k := key(i)
		n := seen[k]
		seen[k] = n + 1
		if n == len(out) {
			out = append(out, nil)
		}
		out[n] = append(out[n], i)
	}
	return out
}

// byColumns groups rows (their indexes, all of rows when idx is nil) by their columns, in
// the order each set of columns first occurs: one statement writes a group.
func byColumns(rows []pending, idx []int) [][]int {
	if idx == nil {
		idx = make([]int, len(rows))
		for i := range idx {
			idx[i] = i
		}
	}
	var out [][]int
	group := map[string]int{}
	for _, i := range idx {
		k := strings.Join(rows[i].cols, ",")
		g, ok := group[k]
		if !ok {
			g = len(out)
			group[k] = g
			out = append(out, nil)
		}
		out[g] = append(out[g], i)
	}
	return out
}

// insertRows inserts rows with multi-row INSERTs, each followed by conflict(its columns)
// when conflict is not nil, and sets their results (Created, with the new ids). The ids
// come back in no promised order, so each is told by the updated column's value, the
// row's distinct stamp; a table whose column keeps less than the microsecond cannot tell
// them apart, and its batch is written row by row (errRowByRow).
func (c *Conn) insertRows(ctx context.Context, tx *sql.Tx, object string, rows []pending, conflict func(cols []string) string, results []connectors.WriteResult) error {
	table, id, updated, _ := c.table(object)
	for _, group := range byColumns(rows, nil) {
		fieldCols := rows[group[0]].cols
		cols := append(slices.Clone(fieldCols), updated)
		tail := ""
		if conflict != nil {
			tail = conflict(fieldCols)
		}
		per := max(1, c.maxParams()/len(cols)) // a row of more columns is a statement of its own
		for start := 0; start < len(group); start += per {
			part := group[start:min(start+per, len(group))]
			values := make([]string, len(part))
			args := make([]any, 0, len(part)*len(cols))
			byStamp := make(map[int64]int, len(part))
			for n, i := range part {
				values[n] = "(" + c.params(len(args)+1, len(cols)) + ")"
				args = append(append(args, rows[i].args...), stampArg(rows[i].stamp))
				byStamp[rows[i].stamp.UnixMicro()] = i
			}
			q := fmt.Sprintf("INSERT INTO %s (%s) VALUES %s%s RETURNING %s, %s",
				table, strings.Join(cols, ", "), strings.Join(values, ", "), tail, id, updated)
			got, err := c.returned(ctx, tx, q, args, func(newID, at any) bool {
				t, err := timeValue(at)
				i, ok := byStamp[t.UnixMicro()]
				if err != nil || !ok {
					return false
				}
				delete(byStamp, t.UnixMicro())
				results[rows[i].at] = connectors.WriteResult{ID: idString(newID), Created: true}
				return true
			})
			if err != nil {
				return err
			}
			if got != len(part) {
				return errRowByRow
			}
		}
	}
	return nil
}

// returned runs q, a statement returning two columns, and calls each for each row it
// returns; each returning false (a row it cannot place) is errRowByRow. It returns the
// number of rows.
func (c *Conn) returned(ctx context.Context, tx *sql.Tx, q string, args []any, each func(a, b any) bool) (int, error) {
	rs, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	n := 0
	for rs.Next() {
		var a, b any
		if err := rs.Scan(&a, &b); err != nil {
			return n, err
		}
		if !each(a, b) {
			return n, errRowByRow
		}
		n++
	}
	return n, rs.Err()
}

// updateRows updates rows (each by its record's id) and sets their results: in SQLite
// one prepared UPDATE per set of columns, run for each row, in PostgreSQL one UPDATE ... FROM the rows' values per set of
// columns and round of ids. A row no live row has the id of is Update's
// *connectors.NotFoundError.
func (c *Conn) updateRows(ctx context.Context, tx *sql.Tx, object string, sd *softDelete, rows []pending, results []connectors.WriteResult) error {
	return c.updateRowsIf(ctx, tx, object, sd, rows, false, results)
}

// updateRowsIf is updateRows, and when ifUnchanged is true UpdateIfUnchanged's
// (PostgreSQL only): a row is written only while its updated column has the record's
// UpdatedAt, and a row not written is looked into by updateIfUnchanged.
func (c *Conn) updateRowsIf(ctx context.Context, tx *sql.Tx, object string, sd *softDelete, rows []pending, ifUnchanged bool, results []connectors.WriteResult) error {
	var withID []int
	for i, p := range rows {
		if p.r.ID == "" {
			results[p.at] = connectors.WriteResult{Err: c.missingRow(object, p.r.ID)}
			continue
		}
		withID = append(withID, i)
	}
	if !c.pg {
		for _, group := range byColumns(rows, withID) {
			if err := c.updateEach(ctx, tx, object, sd, rows, group, results); err != nil {
				return err
			}
		}
		return nil
	}
	for _, round := range rounds(withID, func(i int) string { return rows[i].r.ID }) {
		for _, group := range byColumns(rows, round) {
			if err := c.updateGroup(ctx, tx, object, sd, rows, group, ifUnchanged, results); err != nil {
				return err
			}
		}
	}
	return nil
}

// updateEach is updateRows' statement for the rows of group, which have the same
// columns, in SQLite: prepared once, run for each row in turn.
func (c *Conn) updateEach(ctx context.Context, tx *sql.Tx, object string, sd *softDelete, rows []pending, group []int, results []connectors.WriteResult) error {
	table, id, updated, _ := c.table(object)
	cols := append(slices.Clone(rows[group[0]].cols), updated)
	sets := make([]string, len(cols))
	for k, col := range cols {
		sets[k] = col + " = ?"
	}
	stmt, err := tx.PrepareContext(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE %s", table, strings.Join(sets, ", "), sd.and(id+" = ?")))
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, i := range group {
		p := rows[i]
		res, err := stmt.ExecContext(ctx, append(append(slices.Clone(p.args), stampArg(p.stamp)), p.r.ID)...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			results[p.at] = connectors.WriteResult{Err: c.missingRow(object, p.r.ID)}
		} else {
			results[p.at] = connectors.WriteResult{ID: p.r.ID}
		}
	}
	return nil
}

// pgRow is the column of the batch's rows in PostgreSQL's batch statements: a JSON array
// of the row's number in the batch and its values as text, as PostgreSQL is sent every
// value (arg). It is no plain identifier, so no column of the table has its name.
const pgRow = `j."tandem:row"`

// pgRows is the FROM item of pgRow: the elements of the statement's one parameter.
const pgRows = `json_array_elements(CAST($1 AS json)) AS j("tandem:row")`

// updateGroup is updateRowsIf's statement for the rows of group, which have the same
// columns and distinct ids, in PostgreSQL: each value is cast to its column's type, as a
// parameter would be typed by the column.
func (c *Conn) updateGroup(ctx context.Context, tx *sql.Tx, object string, sd *softDelete, rows []pending, group []int, ifUnchanged bool, results []connectors.WriteResult) error {
	table, id, updated, _ := c.table(object)
	names := append(unquoted(rows[group[0]].cols), c.cfg.UpdatedColumn)
	types, err := c.pgTypes(ctx, tx, table, append(slices.Clone(names), c.cfg.IDColumn))
	if err != nil {
		return err
	}
	sets := make([]string, len(names))
	for k, name := range names {
		sets[k] = fmt.Sprintf(`"%s" = CAST(%s->>%d AS %s)`, name, pgRow, k+2, types[name])
	}
	where := fmt.Sprintf("%s.%s = CAST(%s->>1 AS %s)", table, id, pgRow, types[c.cfg.IDColumn])
	if ifUnchanged {
		where += fmt.Sprintf(" AND %s.%s = CAST(%s->>%d AS %s)", table, updated, pgRow, len(names)+2, types[c.cfg.UpdatedColumn])
	}
	where = sd.and(where)
	q := fmt.Sprintf("UPDATE %s SET %s FROM %s WHERE %s RETURNING CAST(%s->>0 AS integer), 0",
		table, strings.Join(sets, ", "), pgRows, where, pgRow)
	values := make([][]any, len(group))
	for n, i := range group {
		values[n] = append(append([]any{n, rows[i].r.ID}, rows[i].args...), stampArg(rows[i].stamp))
		if ifUnchanged {
			values[n] = append(values[n], c.timeArg(rows[i].r.UpdatedAt))
		}
	}
	doc, err := jsonRows(values)
	if err != nil {
		return err
	}
	written := make([]bool, len(group))
	if _, err := c.returned(ctx, tx, q, []any{doc}, func(n, _ any) bool {
		k, ok := n.(int64)
		if !ok || k < 0 || int(k) >= len(group) || written[k] {
			return false
		}
		written[k] = true
		return true
	}); err != nil {
		return err
	}
	for n, i := range group {
		p := rows[i]
		switch {
		case written[n]:
			results[p.at] = connectors.WriteResult{ID: p.r.ID}
		case ifUnchanged:
			res, err := c.updateIfUnchanged(ctx, tx, object, sd, p.r, p.stamp)
			if err != nil {
				return err
			}
			results[p.at] = res
		default:
			results[p.at] = connectors.WriteResult{Err: c.missingRow(object, p.r.ID)}
		}
	}
	return nil
}

// lookup returns, for each of keys (statement arguments, as arg makes them), the ids of
// the live rows whose column key has it, in one statement per maxInValues keys (fewer in
// SQLite, maxParams): a join with the keys, compared as a parameter is with the column.
func (c *Conn) lookup(ctx context.Context, tx *sql.Tx, object, key string, sd *softDelete, keys []any) ([][]string, error) {
	table, id, _, _ := c.table(object)
	keyCol := `"` + key + `"` // checked by Upsert
	found := make([][]string, len(keys))
	per := min(maxInValues, c.maxParams()/2)
	for start := 0; start < len(keys); start += per {
		part := keys[start:min(start+per, len(keys))]
		var q string
		var args []any
		if c.pg {
			types, err := c.pgTypes(ctx, tx, table, []string{key})
			if err != nil {
				return nil, err
			}
			values := make([][]any, len(part))
			for n, k := range part {
				values[n] = []any{n, k}
			}
			doc, err := jsonRows(values)
			if err != nil {
				return nil, err
			}
			on := sd.and(fmt.Sprintf("%s.%s = CAST(%s->>1 AS %s)", table, keyCol, pgRow, types[key]))
			q = fmt.Sprintf("SELECT CAST(%s->>0 AS integer), %s.%s FROM %s JOIN %s ON %s", pgRow, table, id, pgRows, table, on)
			args = []any{doc}
		} else {
			values := make([]string, len(part))
			for n, k := range part {
				values[n] = "(" + c.params(len(args)+1, 2) + ")"
				args = append(args, int64(n), k)
			}
			on := sd.and(fmt.Sprintf("%s.%s = v.column2", table, keyCol))
			q = fmt.Sprintf("SELECT v.column1, %s.%s FROM (VALUES %s) AS v JOIN %s ON %s", table, id, strings.Join(values, ", "), table, on)
		}
		if _, err := c.returned(ctx, tx, q, args, func(n, rowID any) bool {
			k, ok := n.(int64)
			if !ok || k < 0 || int(k) >= len(part) {
				return false
			}
			found[start+int(k)] = append(found[start+int(k)], idString(rowID))
			return true
		}); err != nil {
			return nil, err
		}
	}
	return found, nil
}

// jsonRows is values as the JSON of pgRows' parameter. Text that is not UTF-8 would be
// changed by the encoding; its batch is written row by row, where PostgreSQL refuses it.
func jsonRows(values [][]any) (string, error) {
	for _, row := range values {
		for _, v := range row {
			if s, ok := v.(string); ok && !utf8.ValidString(s) {
				return "", errRowByRow
			}
		}
	}
	b, err := json.Marshal(values)
	return string(b), err
}

// batchState is what a connection keeps for its batch statements.
type batchState struct {
	// types caches, by quoted table, PostgreSQL's type of each of its columns.
	mu    sync.Mutex
	types map[string]map[string]string
	// rowByRow counts the batches written again row by row (tests read it).
	rowByRow atomic.Int64
}

// pgTypes returns the types of table's columns, which must include names: each type as
// format_type names it without its modifier, so that a value cast to it is then checked
// against the column's length or precision as a parameter's would be (a cast to
// varchar(10) would cut a longer text short instead). A column the types lack, after
// reading them again, is the statement's to report: errRowByRow.
func (c *Conn) pgTypes(ctx context.Context, tx *sql.Tx, table string, names []string) (map[string]string, error) {
	has := func(types map[string]string) bool {
		for _, n := range names {
			if _, ok := types[n]; !ok {
				return false
			}
		}
		return true
	}
	c.batches.mu.Lock()
	types := c.batches.types[table]
	c.batches.mu.Unlock()
	if has(types) {
		return types, nil
	}
	rs, err := tx.QueryContext(ctx, `SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a
		WHERE a.attrelid = CAST($1 AS regclass) AND a.attnum > 0 AND NOT a.attisdropped`, table)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	types = map[string]string{}
	for rs.Next() {
		var name, typ string
		if err := rs.Scan(&name, &typ); err != nil {
			return nil, err
		}
		types[name] = typ
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	c.batches.mu.Lock()
	if c.batches.types == nil {
		c.batches.types = map[string]map[string]string{}
	}
	c.batches.types[table] = types
	c.batches.mu.Unlock()
	if !has(types) {
		return nil, errRowByRow
	}
	return types, nil
}

// unquoted returns the names of quoted columns.
func unquoted(cols []string) []string {
	out := make([]string, len(cols))
	for i, col := range cols {
		out[i] = strings.Trim(col, `"`)
	}
	return out
}

// rowWriter writes one record within its savepoint and returns its outcome. An error is
// the database's: rowError tells whether it refused the row or failed the statement.
type rowWriter func(tx *sql.Tx, r connectors.Record, at time.Time) (connectors.WriteResult, error)

// batchWriter writes a batch of records in tx with statements for the whole batch (see
// "Writes" above), setting each record's result. An error the database gives for a row's
// sake, or errRowByRow, has the batch written again by a rowWriter.
type batchWriter func(tx *sql.Tx, records []connectors.Record, results []connectors.WriteResult) error

// write writes records in transactions of max_batch rows, each with many, or with one
// row by row when many cannot write it whole.
func (c *Conn) write(ctx context.Context, what, object string, records []connectors.Record, many batchWriter, one rowWriter) ([]connectors.WriteResult, error) {
	what += " " + object
	if _, _, _, err := c.table(object); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sql %s: %w", what, err)
	}
	results := make([]connectors.WriteResult, 0, len(records))
	for start := 0; start < len(records); start += c.cfg.MaxBatch {
		batch := records[start:min(start+c.cfg.MaxBatch, len(records))]
		res, err := c.writeMany(ctx, what, batch, many)
		if errors.Is(err, errRowByRow) {
			c.batches.rowByRow.Add(1)
			res, err = c.writeBatch(ctx, what, batch, one)
		}
		if err != nil {
			return nil, err
		}
		results = append(results, res...)
	}
	return results, nil
}

// writeMany writes records in one transaction with many. When the database refuses a
// statement for a row's sake, or many cannot place what a statement returned, the
// transaction is rolled back and errRowByRow returned; any other error fails the call.
func (c *Conn) writeMany(ctx context.Context, what string, records []connectors.Record, many batchWriter) ([]connectors.WriteResult, error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, c.callError(ctx, what, err)
	}
	defer func() { _ = tx.Rollback() }() // does nothing once committed
	results := make([]connectors.WriteResult, len(records))
	err = many(tx, records, results)
	if err == nil {
		err = tx.Commit()
	}
	switch {
	case err == nil:
		return results, nil
	case ctx.Err() != nil:
		return nil, c.callError(ctx, what, err)
	case errors.Is(err, errRowByRow), rowError(err) != nil, twiceInStatement(err):
		return nil, errRowByRow
	}
	return nil, c.callError(ctx, what, err)
}

// twiceInStatement tells PostgreSQL's refusal of an INSERT ... ON CONFLICT DO UPDATE that
// would write one row twice (keys that differ as the batch tells them apart but are equal
// to the column, such as in a case-insensitive column): row by row, the second record
// updates the row the first wrote.
func twiceInStatement(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "21000" // cardinality_violation
}

// writeBatch writes records in one transaction, each row under a savepoint: a row the
// database refuses is rolled back to its savepoint and fails alone (a PostgreSQL
// transaction accepts no further statement after a failed one otherwise), and the rest is
// committed. Any other error rolls the whole batch back and fails the call.
func (c *Conn) writeBatch(ctx context.Context, what string, records []connectors.Record, one rowWriter) ([]connectors.WriteResult, error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, c.callError(ctx, what, err)
	}
	defer func() { _ = tx.Rollback() }() // does nothing once committed
	exec := func(q string) error {
		_, err := tx.ExecContext(ctx, q)
		return err
	}
	results := make([]connectors.WriteResult, len(records))
	for i, r := range records {
		if err := exec("SAVEPOINT tandem_row"); err != nil {
			return nil, c.callError(ctx, what, err)
		}
		res, err := one(tx, r, c.stamp())
		if err != nil {
			inv := rowError(err)
			if inv == nil || ctx.Err() != nil {
				return nil, c.callError(ctx, what, err)
			}
			inv.Record = r.ID
			res = connectors.WriteResult{Err: inv}
		}
		if res.Err != nil {
			if err := exec("ROLLBACK TO SAVEPOINT tandem_row"); err != nil {
				return nil, c.callError(ctx, what, err)
			}
		}
		if err := exec("RELEASE SAVEPOINT tandem_row"); err != nil {
			return nil, c.callError(ctx, what, err)
		}
		results[i] = res
	}
	if err := tx.Commit(); err != nil {
		return nil, c.callError(ctx, what, err)
	}
	return results, nil
}

// insert inserts one row with the record's fields and the updated column, then conflict
// (an ON CONFLICT clause, or nothing), and returns its id.
func (c *Conn) insert(ctx context.Context, tx *sql.Tx, object string, r connectors.Record, at time.Time, conflict string) (connectors.WriteResult, error) {
	table, id, updated, _ := c.table(object)
	cols, args, bad := c.fieldArgs(r)
	if bad != nil {
		return connectors.WriteResult{Err: bad}, nil
	}
	cols, args = append(cols, updated), append(args, stampArg(at))
	q := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)%s RETURNING %s",
		table, strings.Join(cols, ", "), placeholders(1, len(args)), conflict, id)
	var newID any
	if err := tx.QueryRowContext(ctx, q, args...).Scan(&newID); err != nil {
		return connectors.WriteResult{}, err
	}
	return connectors.WriteResult{ID: idString(newID), Created: true}, nil
}

// update sets the record's fields and the updated column of the live row with its id.
func (c *Conn) update(ctx context.Context, tx *sql.Tx, object string, sd *softDelete, r connectors.Record, at time.Time) (connectors.WriteResult, error) {
	return c.updateWhere(ctx, tx, object, sd, r, at, nil)
}

// updateWhere is update of the live row (sd) with the record's id and, when read is not
// nil, with read in its updated column as orderKey has it. No such row fails the record
// with a *connectors.NotFoundError.
func (c *Conn) updateWhere(ctx context.Context, tx *sql.Tx, object string, sd *softDelete, r connectors.Record, at time.Time, read any) (connectors.WriteResult, error) {
	table, id, updated, _ := c.table(object)
	missing := c.missingRow(object, r.ID)
	if r.ID == "" {
		return connectors.WriteResult{Err: missing}, nil
	}
	cols, args, bad := c.fieldArgs(r)
	if bad != nil {
		return connectors.WriteResult{Err: bad}, nil
	}
	cols, args = append(cols, updated), append(args, stampArg(at))
	sets := make([]string, len(cols))
	for i, col := range cols {
		sets[i] = fmt.Sprintf("%s = $%d", col, i+1)
	}
	q := fmt.Sprintf("UPDATE %s SET %s WHERE %s = $%d", table, strings.Join(sets, ", "), id, len(args)+1)
	args = append(args, r.ID)
	if read != nil {
		q += fmt.Sprintf(" AND %s = $%d", c.orderKey(updated), len(args)+1)
		args = append(args, read)
	}
	if sd != nil {
		q += " AND " + sd.live
	}
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return connectors.WriteResult{}, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return connectors.WriteResult{}, err
	}
	if n == 0 {
		return connectors.WriteResult{Err: missing}, nil
	}
	return connectors.WriteResult{ID: r.ID}, nil
}

// fieldArgs returns the quoted columns and the arguments of a record's fields, sorted by
// name so that records with the same fields make the same statement. The updated column
// is the connector's to set and is left out. A field that is no plain column name, or a
// value no column takes, is the record's error.
func (c *Conn) fieldArgs(r connectors.Record) (cols []string, args []any, bad *connectors.InvalidRecordError) {
	for _, name := range slices.Sorted(maps.Keys(r.Fields)) {
		if name == c.cfg.UpdatedColumn {
			continue
		}
		col, err := quote("column", name)
		if err != nil {
			return nil, nil, &connectors.InvalidRecordError{Record: r.ID, Field: name, Reason: err.Error()}
		}
		v, err := c.arg(r.Fields[name])
		if err != nil {
			return nil, nil, &connectors.InvalidRecordError{Record: r.ID, Field: name, Reason: err.Error()}
		}
		cols, args = append(cols, col), append(args, v)
	}
	return cols, args, nil
}

// queryIDs returns the ids of the rows a one-column query selects.
func queryIDs(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		ids = append(ids, idString(v))
	}
	return ids, rows.Err()
}

// missingRow is the error of an update of a row no live row has the id of.
func (c *Conn) missingRow(object, id string) *connectors.NotFoundError {
	return &connectors.NotFoundError{What: fmt.Sprintf("sql %s row with %s %q", object, c.cfg.IDColumn, id)}
}
