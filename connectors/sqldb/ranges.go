package sqldb

import (
	"context"
	"fmt"

	"tandem/connectors"
)

// Range reads (connectors.RangeReader): a bulk run asks where every step-th change after
// its cursor is (one query over the (updated, id) order that returns only the marks), then
// reads the spans between the marks on several connections at once, and commits its
// cursor span by span, in order.

// ReadParallelism implements connectors.RangeReader: parallel_reads over PostgreSQL; 1
// over SQLite, whose one connection would queue the reads anyway.
func (c *Conn) ReadParallelism() int {
	if !c.pg {
		return 1
	}
	return c.cfg.ParallelReads
}

// sqliteReadPages is how many pages a bulk run reads from a SQLite table at once.
const sqliteReadPages = 20

// ReadPages implements connectors.LongReader: over SQLite, a read of changes computes
// the change time of every row of the table (see changesFrom), so a bulk run reads
// sqliteReadPages pages at a time; over PostgreSQL a page is read by its index, one.
func (c *Conn) ReadPages() int {
	if c.pg {
		return 1
	}
	return sqliteReadPages
}

// Marks implements connectors.RangeReader. It numbers the first step·n changes after
// since in order and keeps every step-th: only the marks leave the database. It holds
// back the open second as Changes does, so no span ends inside it.
func (c *Conn) Marks(ctx context.Context, object string, since connectors.Cursor, step, n int) ([]connectors.Cursor, error) {
	if step <= 0 || n < 0 {
		return nil, fmt.Errorf("sql marks of %s: step %d must be positive and n %d not negative", object, step, n)
	}
	what := "marks of " + object
	r, err := c.changesAfter(ctx, what, object, since, true)
	if err != nil {
		return nil, err
	}
	args := append(r.args, step*n, step)
	q := fmt.Sprintf(`SELECT k, i FROM (
	SELECT k, i, row_number() OVER (ORDER BY k, i) AS rn
	FROM (SELECT %s AS k, %s AS i FROM %s WHERE %s ORDER BY %s, %s LIMIT $%d) AS first
) AS numbered WHERE rn %% $%d = 0 ORDER BY rn`, r.key, r.id, r.from, r.sd.and(r.cond), r.key, r.id, len(args)-1, len(args))
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, c.callError(ctx, what, err)
	}
	defer rows.Close()
	marks := []connectors.Cursor{}
	for rows.Next() {
		var k, i any
		if err := rows.Scan(&k, &i); err != nil {
			return nil, c.callError(ctx, what, err)
		}
		mark := connectors.Cursor{ID: idString(i)}
		if c.pg {
			mark.UpdatedAt, err = timeValue(k)
		} else {
			mark.UpdatedAt, err = c.keyTime(object, c.cfg.UpdatedColumn, SettingUpdatedColumn, mark.ID, k, k)
		}
		if err != nil {
			return nil, fmt.Errorf("sql %s: column %s: %w", what, c.cfg.UpdatedColumn, err)
		}
		marks = append(marks, mark)
	}
	if err := rows.Err(); err != nil {
		return nil, c.callError(ctx, what, err)
	}
	return marks, nil
}

// ChangesBetween implements connectors.RangeReader: Changes' read, bounded above by
// until. The span ends at a mark, below the open second, so it is not held back again.
func (c *Conn) ChangesBetween(ctx context.Context, object string, since, until connectors.Cursor, limit int) (connectors.Page, error) {
	if limit <= 0 {
		return connectors.Page{}, fmt.Errorf("sql changes of %s: limit %d must be positive", object, limit)
	}
	what := fmt.Sprintf("changes of %s up to %s", object, until)
	r, err := c.changesAfter(ctx, what, object, since, false)
	if err != nil {
		return connectors.Page{}, err
	}
	args := append(r.args, c.timeArg(until.UpdatedAt), until.ID)
	u, uid := len(args)-1, len(args)
	cond := fmt.Sprintf("%s AND (%s < $%d OR (%s = $%d AND %s <= $%d))", r.cond, r.key, u, r.key, u, r.id, uid)
	return c.page(ctx, object, what, r.from, r.sd.and(cond), r.key, r.id, args, limit)
}
