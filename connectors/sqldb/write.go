package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"tandem/connectors"
)

// Create implements connectors.Connector: one INSERT ... RETURNING id per row.
func (c *Conn) Create(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	return c.write(ctx, "create in", object, records, func(tx *sql.Tx, r connectors.Record, at time.Time) (connectors.WriteResult, error) {
		return c.insert(ctx, tx, object, r, at, "")
	})
}

// Update implements connectors.Connector: one UPDATE of the given columns per row. An id
// no row has (or only a soft-deleted one) fails its record with a
// *connectors.NotFoundError.
func (c *Conn) Update(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	sd, err := c.softDelete(ctx, "update in "+object, object)
	if err != nil {
		return nil, err
	}
	return c.write(ctx, "update in", object, records, func(tx *sql.Tx, r connectors.Record, at time.Time) (connectors.WriteResult, error) {
		return c.update(ctx, tx, object, sd, r, at)
	})
}

// UpdateIfUnchanged implements connectors.ConditionalUpdater: per row,
//
//	UPDATE table SET ..., updated = $now WHERE id = $id AND updated = $read
//
// in Update's per-row savepoints, so the check and the write are one statement no other
// writer can come between. The updated column is compared as Changes compares it: in
// SQLite its normalised form with the record's UpdatedAt in that form, so a time another
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
	return c.write(ctx, "update if unchanged in", object, records, func(tx *sql.Tx, r connectors.Record, at time.Time) (connectors.WriteResult, error) {
		return c.updateIfUnchanged(ctx, tx, object, sd, r, at)
	})
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

// Upsert implements connectors.Connector. Each row's key is looked up first, in the
// batch's transaction, to update the one row that has it (and say Created=false); a key
// no row has is inserted, with ON CONFLICT (key) DO UPDATE when the key is unique (a
// key_columns column or the id column), so a row another writer inserted meanwhile is
// updated rather than duplicated. A key that several rows have fails its record with a
// *connectors.AmbiguousMatchError. Soft-deleted rows (deleted_column) are not looked up;
// one holding a unique key is written by the ON CONFLICT update, which makes it live
// again.
func (c *Conn) Upsert(ctx context.Context, object, key string, records []connectors.Record) ([]connectors.WriteResult, error) {
	keyCol, err := quote("column", key)
	if err != nil {
		return nil, &connectors.NotFoundError{What: "sql upsert key " + err.Error()}
	}
	table, id, updated, err := c.table(object)
	if err != nil {
		return nil, err
	}
	sd, err := c.softDelete(ctx, "upsert in "+object, object)
	if err != nil {
		return nil, err
	}
	unique := key == c.cfg.IDColumn || slices.Contains(c.cfg.KeyColumns, key)
	lookup := fmt.Sprintf("SELECT %s FROM %s WHERE %s", id, table, sd.and(keyCol+" = $1"))
	return c.write(ctx, "upsert in", object, records, func(tx *sql.Tx, r connectors.Record, at time.Time) (connectors.WriteResult, error) {
		v := r.Fields[key]
		if v == nil {
			return connectors.WriteResult{Err: &connectors.InvalidRecordError{Field: key, Reason: "no value for the upsert key"}}, nil
		}
		arg, err := c.arg(v)
		if err != nil {
			return connectors.WriteResult{Err: &connectors.InvalidRecordError{Field: key, Reason: err.Error()}}, nil
		}
		ids, err := queryIDs(ctx, tx, lookup, arg)
		if err != nil {
			return connectors.WriteResult{}, err
		}
		switch len(ids) {
		case 0:
			conflict := ""
			if unique {
				cols, _, _ := c.fieldArgs(r)
				sets := []string{fmt.Sprintf("%s = excluded.%s", updated, updated)}
				for _, col := range cols {
					if col != keyCol {
						sets = append(sets, fmt.Sprintf("%s = excluded.%s", col, col))
					}
				}
				if sd != nil && !slices.Contains(cols, sd.col) {
					sets = append(sets, fmt.Sprintf("%s = %s", sd.col, sd.revive))
				}
				conflict = fmt.Sprintf(" ON CONFLICT (%s) DO UPDATE SET %s", keyCol, strings.Join(sets, ", "))
			}
			return c.insert(ctx, tx, object, r, at, conflict)
		case 1:
			r.ID = ids[0]
			return c.update(ctx, tx, object, sd, r, at)
		default:
			return connectors.WriteResult{Err: &connectors.AmbiguousMatchError{Field: key, Value: connectors.KeyString(v), IDs: ids}}, nil
		}
	})
}

// rowWriter writes one record within its savepoint and returns its outcome. An error is
// the database's: rowError tells whether it refused the row or failed the statement.
type rowWriter func(tx *sql.Tx, r connectors.Record, at time.Time) (connectors.WriteResult, error)

// write writes records in transactions of max_batch rows.
func (c *Conn) write(ctx context.Context, what, object string, records []connectors.Record, one rowWriter) ([]connectors.WriteResult, error) {
	what += " " + object
	if _, _, _, err := c.table(object); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sql %s: %w", what, err)
	}
	results := make([]connectors.WriteResult, 0, len(records))
	for start := 0; start < len(records); start += c.cfg.MaxBatch {
		res, err := c.writeBatch(ctx, what, records[start:min(start+c.cfg.MaxBatch, len(records))], one)
		if err != nil {
			return nil, err
		}
		results = append(results, res...)
	}
	return results, nil
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
	missing := &connectors.NotFoundError{What: fmt.Sprintf("sql %s row with %s %q", object, c.cfg.IDColumn, r.ID)}
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
