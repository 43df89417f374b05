package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"tandem/connectors"
)

// The deletes of issue 15 (connectors/deletes.go): Delete (connectors.Deleter), ListIDs
// (connectors.IDLister), and Deletes (connectors.DeleteReader) for a table with a
// soft-delete column. See the package comment, "Deletes".

// softDelete is how a table's deleted_column marks its deleted rows. A nil *softDelete is
// a connection without deleted_column: every row is live.
type softDelete struct {
	// col is the quoted column.
	col string
	// flag is true for a boolean (or 0/1) column, whose rows' deletion time is their
	// updated column; false for a time column, which holds the deletion time itself.
	flag bool
	// live is the SQL condition of the rows not deleted; never NULL.
	live string
	// mark is the SQL value Delete sets in a flag column (a time column gets the stamp).
	mark string
	// revive is the SQL value that makes a row live again.
	revive string
}

// and returns cond restricted to the live rows.
func (sd *softDelete) and(cond string) string {
	if sd == nil {
		return cond
	}
	return "(" + cond + ") AND " + sd.live
}

// softDelete returns how object's table marks deleted rows, nil without deleted_column.
// It looks the column's type up once per table: a table without the column, or with one
// of a type that is neither a time nor a flag, is a *connectors.NotFoundError naming the
// setting, the table and the column (no retry adds the column). what names the call in
// errors.
func (c *Conn) softDelete(ctx context.Context, what, object string) (*softDelete, error) {
	name := c.cfg.DeletedColumn
	if name == "" {
		return nil, nil
	}
	table, _, _, err := c.table(object)
	if err != nil {
		return nil, err
	}
	c.softMu.Lock()
	sd, known := c.softDeletes[table]
	c.softMu.Unlock()
	if known {
		return sd, nil
	}
	typ, err := c.columnType(ctx, what, object, table, name)
	if err != nil {
		return nil, err
	}
	col := `"` + name + `"` // checked by Config.check
	flagLive := fmt.Sprintf("(%s IS NULL OR %s = 0)", col, col)
	switch upper := strings.ToUpper(typ); {
	case c.pg && typ == "boolean":
		sd = &softDelete{col: col, flag: true, live: fmt.Sprintf("(%s IS NOT TRUE)", col), mark: "TRUE", revive: "FALSE"}
	case c.pg && (typ == "smallint" || typ == "integer" || typ == "bigint"),
		!c.pg && (strings.Contains(upper, "BOOL") || strings.Contains(upper, "INT")):
		sd = &softDelete{col: col, flag: true, live: flagLive, mark: "1", revive: "0"}
	case c.pg && (typ == "timestamp without time zone" || typ == "timestamp with time zone"):
		sd = &softDelete{col: col, live: fmt.Sprintf("(%s IS NULL)", col), revive: "NULL"}
	case !c.pg && (strings.Contains(upper, "DATE") || strings.Contains(upper, "TIME") ||
		strings.Contains(upper, "TEXT") || strings.Contains(upper, "CHAR")):
		// SQLite values have no type of their own: 0 (false) is not deleted either.
		sd = &softDelete{col: col, live: flagLive, revive: "NULL"}
	default:
		if typ == "" {
			typ = "declared without a type"
		}
		return nil, &connectors.NotFoundError{What: fmt.Sprintf(
			"sql %s: setting %s: column %q of table %s is %s; a soft-delete column of a type the connector reads "+
				"(a timestamp, or a boolean or integer flag; see the sql connector's Deletes)",
			what, SettingDeletedColumn, name, object, typ)}
	}
	c.softMu.Lock()
	c.softDeletes[table] = sd
	c.softMu.Unlock()
	return sd, nil
}

// columnType returns the type of column name of table (quoted; object unquoted):
// PostgreSQL's name of it, or SQLite's declared type as written. A missing table or
// column is a *connectors.NotFoundError.
func (c *Conn) columnType(ctx context.Context, what, object, table, name string) (string, error) {
	missing := func() error {
		return &connectors.NotFoundError{What: fmt.Sprintf("sql %s: setting %s: column %q of table %s", what, SettingDeletedColumn, name, object)}
	}
	lookup := what + ": look up the type of column " + name
	if c.pg {
		var exists bool
		var typ sql.NullString
		// to_regclass resolves the quoted name by the search path, as the queries do.
		err := c.db.QueryRowContext(ctx, `SELECT t.oid IS NOT NULL, a.atttypid::regtype::text
			FROM (SELECT to_regclass($1) AS oid) t
			LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
			table, name).Scan(&exists, &typ)
		switch {
		case err != nil:
			return "", c.callError(ctx, lookup, err)
		case !exists:
			return "", &connectors.NotFoundError{What: fmt.Sprintf("sql %s: table %s", what, object)}
		case !typ.Valid:
			return "", missing()
		}
		return typ.String, nil
	}
	rows, err := c.db.QueryContext(ctx, `SELECT name, type FROM pragma_table_info($1)`, object)
	if err != nil {
		return "", c.callError(ctx, lookup, err)
	}
	defer rows.Close()
	found, typ, hasColumns := false, "", false
	for rows.Next() {
		var col, t string
		if err := rows.Scan(&col, &t); err != nil {
			return "", c.callError(ctx, lookup, err)
		}
		hasColumns = true
		// SQLite's names are case-insensitive, quoted or not.
		if strings.EqualFold(col, name) {
			found, typ = true, t
		}
	}
	if err := rows.Err(); err != nil {
		return "", c.callError(ctx, lookup, err)
	}
	switch {
	case !hasColumns:
		return "", &connectors.NotFoundError{What: fmt.Sprintf("sql %s: table %s", what, object)}
	case !found:
		return "", missing()
	}
	return typ, nil
}

// Deletes implements connectors.DeleteReader for a connection with deleted_column: the
// soft-deleted rows of object after since, in (DeletedAt, id as text) order. DeletedAt is
// the deleted column of a time column, the updated column of a flag column. Without
// deleted_column it fails with an error matching errors.ErrUnsupported: the table keeps
// no log of deletions, and the engine diffs ids (ListIDs) instead.
func (c *Conn) Deletes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.DeletesPage, error) {
	what := "deletes of " + object
	if c.cfg.DeletedColumn == "" {
		return connectors.DeletesPage{}, fmt.Errorf("sql %s: setting %s is not set, so deleted rows leave no trace to read "+
			"(set it to read soft-deleted rows; the engine lists ids instead): %w", what, SettingDeletedColumn, errors.ErrUnsupported)
	}
	if limit <= 0 {
		return connectors.DeletesPage{}, fmt.Errorf("sql %s: limit %d must be positive", what, limit)
	}
	table, id, updated, err := c.table(object)
	if err != nil {
		return connectors.DeletesPage{}, err
	}
	sd, err := c.softDelete(ctx, what, object)
	if err != nil {
		return connectors.DeletesPage{}, err
	}
	atName, atCol, setting := c.cfg.DeletedColumn, sd.col, SettingDeletedColumn
	if sd.flag {
		atName, atCol, setting = c.cfg.UpdatedColumn, updated, SettingUpdatedColumn
	}
	cutoff, err := c.openSecond(ctx, what, table, atName)
	if err != nil {
		return connectors.DeletesPage{}, err
	}
	// Ties are ordered by the id's text, byte by byte, as connectors.Cursor orders them.
	idText := fmt.Sprintf("CAST(%s AS TEXT)", id)
	if c.pg {
		idText += ` COLLATE "C"`
	}
	var q string
	var args []any
	if c.pg {
		var cond string
		cond, args = c.after(since, idText, atCol, cutoff)
		q = fmt.Sprintf("SELECT %s, %s FROM %s WHERE NOT %s AND %s ORDER BY %s, %s LIMIT $%d",
			id, atCol, table, sd.live, cond, atCol, idText, len(args)+1)
	} else {
		// As in Changes: the normalised time computed once per row, and the rows whose
		// time is no timestamp first, so that the read stops at them with an error.
		from := fmt.Sprintf("(SELECT %s, %s, %s AS %s FROM %s WHERE NOT %s LIMIT -1)", id, atCol, sqliteKey(atCol), keyName, table, sd.live)
		var cond string
		cond, args = c.after(since, idText, keyName, cutoff)
		q = fmt.Sprintf("SELECT %s, %s, %s FROM %s WHERE (%s) OR (%s IS NOT NULL AND %s IS NULL) ORDER BY %s, %s LIMIT $%d",
			id, atCol, keyName, from, cond, atCol, keyName, keyName, idText, len(args)+1)
	}
	rows, err := c.db.QueryContext(ctx, q, append(args, limit+1)...)
	if err != nil {
		return connectors.DeletesPage{}, c.callError(ctx, what, err)
	}
	defer rows.Close()
	var page connectors.DeletesPage
	for rows.Next() {
		var idv, raw, key any
		dest := []any{&idv, &raw}
		if !c.pg {
			dest = append(dest, &key)
		}
		if err := rows.Scan(dest...); err != nil {
			return connectors.DeletesPage{}, c.callError(ctx, what, err)
		}
		t := connectors.Tombstone{ID: idString(idv)}
		if c.pg {
			t.DeletedAt, err = timeValue(raw)
			if err != nil {
				err = fmt.Errorf("column %s: %w", atName, err)
			}
		} else {
			t.DeletedAt, err = c.keyTime(object, atName, setting, t.ID, key, raw)
		}
		if err != nil {
			return connectors.DeletesPage{}, fmt.Errorf("sql %s: row %s: %w", what, t.ID, err)
		}
		page.Tombstones = append(page.Tombstones, t)
	}
	if err := rows.Err(); err != nil {
		return connectors.DeletesPage{}, c.callError(ctx, what, err)
	}
	if len(page.Tombstones) > limit {
		page.Tombstones, page.More = page.Tombstones[:limit], true
	}
	// No CoveredUntil: soft-deleted rows stay in the table, so the log never expires and
	// the engine's cursor need not move without a deletion.
	return page, nil
}

// ListIDs implements connectors.IDLister: the ids of object's live rows in the id
// column's order, after token (the last id of the page before), ids only.
func (c *Conn) ListIDs(ctx context.Context, object, token string, limit int) ([]string, string, error) {
	what := "list ids of " + object
	if limit <= 0 {
		return nil, "", fmt.Errorf("sql %s: limit %d must be positive", what, limit)
	}
	table, id, _, err := c.table(object)
	if err != nil {
		return nil, "", err
	}
	sd, err := c.softDelete(ctx, what, object)
	if err != nil {
		return nil, "", err
	}
	// The token is compared in the column's own type, as Changes compares ids.
	cond, args := "TRUE", []any{}
	if token != "" {
		cond, args = id+" > $1", []any{token}
	}
	q := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT $%d", id, table, sd.and(cond), id, len(args)+1)
	rows, err := c.db.QueryContext(ctx, q, append(args, limit+1)...)
	if err != nil {
		return nil, "", c.callError(ctx, what, err)
	}
	defer rows.Close()
	ids := make([]string, 0, min(limit+1, 1000))
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return nil, "", c.callError(ctx, what, err)
		}
		ids = append(ids, idString(v))
	}
	if err := rows.Err(); err != nil {
		return nil, "", c.callError(ctx, what, err)
	}
	if len(ids) <= limit {
		return ids, "", nil
	}
	return ids[:limit], ids[limit-1], nil
}

// Delete implements connectors.Deleter: the rows with the given ids are deleted, or
// soft-deleted with deleted_column (the column and the updated column set, rows deleted
// already left as they are), in transactions of max_batch ids. An id no row has counts as
// deleted. The results are in request order, each with its id.
func (c *Conn) Delete(ctx context.Context, object string, ids []string) ([]connectors.WriteResult, error) {
	what := "delete from " + object
	if _, _, _, err := c.table(object); err != nil {
		return nil, err
	}
	sd, err := c.softDelete(ctx, what, object)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sql %s: %w", what, err)
	}
	results := make([]connectors.WriteResult, 0, len(ids))
	for start := 0; start < len(ids); start += c.cfg.MaxBatch {
		res, err := c.deleteBatch(ctx, what, object, sd, ids[start:min(start+c.cfg.MaxBatch, len(ids))])
		if err != nil {
			return nil, err
		}
		results = append(results, res...)
	}
	return results, nil
}

// deleteBatch deletes ids in one transaction, with a statement per maxInValues ids. When
// the database refuses a statement for a row's sake (a foreign key pointing at it), the
// batch is deleted again a row at a time, each under writeBatch's savepoint, so that the
// refused rows fail alone.
func (c *Conn) deleteBatch(ctx context.Context, what, object string, sd *softDelete, ids []string) ([]connectors.WriteResult, error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, c.callError(ctx, what, err)
	}
	defer func() { _ = tx.Rollback() }() // does nothing once committed
	at := c.stamp()
	for start := 0; start < len(ids); start += maxInValues {
		q, args := c.deleteStatement(object, sd, ids[start:min(start+maxInValues, len(ids))], at)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			if rowError(err) == nil || ctx.Err() != nil {
				return nil, c.callError(ctx, what, err)
			}
			_ = tx.Rollback()
			return c.writeBatch(ctx, what, idRecords(ids), func(tx *sql.Tx, r connectors.Record, at time.Time) (connectors.WriteResult, error) {
				q, args := c.deleteStatement(object, sd, []string{r.ID}, at)
				if _, err := tx.ExecContext(ctx, q, args...); err != nil {
					return connectors.WriteResult{}, err
				}
				return connectors.WriteResult{ID: r.ID}, nil
			})
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, c.callError(ctx, what, err)
	}
	results := make([]connectors.WriteResult, len(ids))
	for i, id := range ids {
		results[i] = connectors.WriteResult{ID: id}
	}
	return results, nil
}

// deleteStatement returns the statement deleting the rows with ids, or soft-deleting
// the live ones at time at, and its arguments.
func (c *Conn) deleteStatement(object string, sd *softDelete, ids []string, at time.Time) (string, []any) {
	table, id, updated, _ := c.table(object)
	var args []any
	var q string
	switch {
	case sd == nil:
		q = fmt.Sprintf("DELETE FROM %s WHERE %s IN (%s)", table, id, placeholders(1, len(ids)))
	case sd.flag:
		args = append(args, stampArg(at))
		q = fmt.Sprintf("UPDATE %s SET %s = %s, %s = $1 WHERE %s", table, sd.col, sd.mark, updated,
			sd.and(fmt.Sprintf("%s IN (%s)", id, placeholders(2, len(ids)))))
	default:
		// Two parameters of one value: PostgreSQL gives each one the type of its column.
		args = append(args, stampArg(at), stampArg(at))
		q = fmt.Sprintf("UPDATE %s SET %s = $1, %s = $2 WHERE %s", table, sd.col, updated,
			sd.and(fmt.Sprintf("%s IN (%s)", id, placeholders(3, len(ids)))))
	}
	for _, v := range ids {
		args = append(args, v)
	}
	return q, args
}

// idRecords returns a record with each id, for writeBatch.
func idRecords(ids []string) []connectors.Record {
	out := make([]connectors.Record, len(ids))
	for i, id := range ids {
		out[i] = connectors.Record{ID: id}
	}
	return out
}
