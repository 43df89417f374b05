package sqldb

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"tandem/connectors"
)

// maxInValues is the most values of one IN list; longer lists are read in chunks, well
// within SQLite's and PostgreSQL's limits on parameters.
const maxInValues = 500

// after returns the condition of the rows after since, and its arguments. The id is
// passed as text and compared in the column's own type (PostgreSQL infers the parameter's
// type from the column; SQLite converts it by the column's affinity), so integer ids
// compare as numbers: 9 before 10.
func after(since connectors.Cursor, id, updated string) (string, []any) {
	at := stampArg(since.UpdatedAt)
	if since.ID == "" {
		// A cursor without an id is before every row with its time.
		return fmt.Sprintf("%s >= $1", updated), []any{at}
	}
	return fmt.Sprintf("%s > $1 OR (%s = $1 AND %s > $2)", updated, updated, id), []any{at, since.ID}
}

// Changes implements connectors.Connector: the rows after since in (updated, id) order,
// one more than limit asked for to learn whether more follow.
func (c *Conn) Changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	if limit <= 0 {
		return connectors.Page{}, fmt.Errorf("sql changes of %s: limit %d must be positive", object, limit)
	}
	table, id, updated, err := c.table(object)
	if err != nil {
		return connectors.Page{}, err
	}
	cond, args := after(since, id, updated)
	q := fmt.Sprintf("SELECT * FROM %s WHERE %s ORDER BY %s, %s LIMIT $%d", table, cond, updated, id, len(args)+1)
	recs, err := c.query(ctx, "changes of "+object, q, append(args, limit+1)...)
	if err != nil {
		return connectors.Page{}, err
	}
	page := connectors.Page{Records: recs, More: len(recs) > limit}
	if page.More {
		page.Records = recs[:limit]
	}
	return page, nil
}

// CountChanges implements connectors.ChangeCounter with Changes' condition.
func (c *Conn) CountChanges(ctx context.Context, object string, since connectors.Cursor) (int, error) {
	table, id, updated, err := c.table(object)
	if err != nil {
		return 0, err
	}
	cond, args := after(since, id, updated)
	var n int
	q := fmt.Sprintf("SELECT count(*) FROM %s WHERE %s", table, cond)
	if err := c.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, c.callError(ctx, "count changes of "+object, err)
	}
	return n, nil
}

// Get implements connectors.Connector.
func (c *Conn) Get(ctx context.Context, object string, ids []string) ([]connectors.Record, error) {
	_, id, _, err := c.table(object)
	if err != nil {
		return nil, err
	}
	return c.in(ctx, "get from "+object, object, id, ids)
}

// Find implements connectors.Connector with an exact match on the column field.
func (c *Conn) Find(ctx context.Context, object, field string, values []string) (map[string][]connectors.Record, error) {
	col, err := quote("column", field)
	if err != nil {
		return nil, &connectors.NotFoundError{What: "sql " + err.Error()}
	}
	recs, err := c.in(ctx, "find in "+object+" by "+field, object, col, values)
	if err != nil {
		return nil, err
	}
	wanted := make(map[string]bool, len(values))
	for _, v := range values {
		wanted[v] = true
	}
	out := map[string][]connectors.Record{}
	for _, r := range recs {
		// Compared as the engine compares keys; a column of numbers reads as float64.
		v, _ := r.Value(field)
		if k := connectors.KeyString(v); wanted[k] {
			out[k] = append(out[k], r)
		}
	}
	return out, nil
}

// in reads the rows of object whose quoted column col is one of values.
func (c *Conn) in(ctx context.Context, what, object, col string, values []string) ([]connectors.Record, error) {
	table, _, _, err := c.table(object)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sql %s: %w", what, err)
	}
	seen := make(map[string]bool, len(values))
	var distinct []any
	for _, v := range values {
		if !seen[v] {
			seen[v] = true
			distinct = append(distinct, v)
		}
	}
	var out []connectors.Record
	for start := 0; start < len(distinct); start += maxInValues {
		chunk := distinct[start:min(start+maxInValues, len(distinct))]
		q := fmt.Sprintf("SELECT * FROM %s WHERE %s IN (%s)", table, col, placeholders(1, len(chunk)))
		recs, err := c.query(ctx, what, q, chunk...)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

// placeholders returns "$from, $from+1, ..." for n parameters.
func placeholders(from, n int) string {
	ps := make([]string, n)
	for i := range ps {
		ps[i] = "$" + strconv.Itoa(from+i)
	}
	return strings.Join(ps, ", ")
}

// query runs a SELECT * and returns its rows as records.
func (c *Conn) query(ctx context.Context, what, q string, args ...any) ([]connectors.Record, error) {
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, c.callError(ctx, what, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, c.callError(ctx, what, err)
	}
	idAt, updatedAt := -1, -1
	for i, name := range cols {
		switch name {
		case c.cfg.IDColumn:
			idAt = i
		case c.cfg.UpdatedColumn:
			updatedAt = i
		}
	}
	if idAt < 0 || updatedAt < 0 {
		return nil, &connectors.NotFoundError{What: fmt.Sprintf("sql %s: columns %q (%s) and %q (%s)",
			what, c.cfg.IDColumn, SettingIDColumn, c.cfg.UpdatedColumn, SettingUpdatedColumn)}
	}
	out := []connectors.Record{}
	values := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range values {
		ptrs[i] = &values[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, c.callError(ctx, what, err)
		}
		at, err := timeValue(values[updatedAt])
		if err != nil {
			return nil, fmt.Errorf("sql %s: column %s: %w", what, c.cfg.UpdatedColumn, err)
		}
		r := connectors.Record{ID: idString(values[idAt]), UpdatedAt: at, Fields: make(map[string]any, len(cols)-2)}
		for i, name := range cols {
			if i != idAt && i != updatedAt {
				r.Fields[name] = fieldValue(values[i])
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, c.callError(ctx, what, err)
	}
	return out, nil
}

// idString is an id value as Record.ID carries it.
func idString(v any) string {
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case []byte:
		return string(x)
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

// timeLayouts are the forms a timestamp may have when SQLite hands it over as text (a
// column not declared TIMESTAMP or DATETIME): ours first, then SQLite's own, then what
// the driver writes by default; and PostgreSQL's text form of a timestamptz (the offset
// in hours), which UpdateIfUnchanged reads.
var timeLayouts = []string{
	stampLayout,
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999-07",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999 -0700 MST",
}

// timeValue reads the updated column, in UTC.
func timeValue(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case []byte:
		return timeValue(string(x))
	case string:
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, x); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, fmt.Errorf("%q is not a timestamp such as %s", x, stampLayout)
	case nil:
		return time.Time{}, fmt.Errorf("is NULL; every row needs a last-changed time")
	default:
		return time.Time{}, fmt.Errorf("%v (%T) is not a timestamp", x, x)
	}
}

// fieldValue converts a column's value to what a Record carries, the values JSON carries:
// text as strings, numbers as float64 (an integer too large for one exactly as a string, so
// it is not rounded), times as RFC 3339 strings in UTC, as the other connectors read them.
func fieldValue(v any) any {
	switch x := v.(type) {
	case nil, string, bool, float64:
		return x
	case []byte:
		return string(x)
	case int64:
		if x > 1<<53 || x < -(1<<53) {
			return strconv.FormatInt(x, 10)
		}
		return float64(x)
	case float32:
		return float64(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	default:
		return fmt.Sprint(x)
	}
}

// arg converts a field's value to a statement argument. A whole float64 (how JSON numbers
// arrive) is sent as an integer, or SQLite would store 42 in a TEXT column as "42.0". For
// PostgreSQL every value is sent as text: pgx will not encode a Go number into a text
// column, while PostgreSQL parses text input for every type, inferring each parameter's
// type from its column.
func (c *Conn) arg(v any) (any, error) {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
			v = int64(x)
		}
	case time.Time:
		v = x.UTC().Format(time.RFC3339Nano)
	case nil, string, bool, int64:
	case int:
		v = int64(x)
	default:
		return nil, fmt.Errorf("a %T value cannot be written to a column", v)
	}
	if !c.pg {
		return v, nil
	}
	switch x := v.(type) {
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return v, nil
}

// callError is the error of a whole call. The context's error, when it ended the call,
// is wrapped as it is (the SQLite driver reports an interrupted statement in words of its
// own).
func (c *Conn) callError(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("sql %s: %w", what, ctxErr)
	}
	return classify(what, err)
}
