package sqldb

import (
	"context"
	"database/sql"
	"errors"
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

// sqliteKey returns the SQL expression of a SQLite change time's normalised form:
// changeTimeFunc of the column.
func sqliteKey(col string) string { return changeTimeFunc + "(" + col + ")" }

// keyName is the column the normalised time is read as in SQLite. It is no plain
// identifier, so no column the connector writes has its name.
const keyName = `"tandem:updated"`

// changesFrom returns what Changes and CountChanges read from, and the updated time
// they compare and order by. In PostgreSQL that is the table and its updated column; in
// SQLite the table with the normalised time as keyName, computed once per row: a
// subquery with a LIMIT is neither flattened into the query nor given its conditions,
// either of which would compute the time again for each use.
func (c *Conn) changesFrom(table, updated string) (from, key string) {
	if c.pg {
		return table, updated
	}
	return fmt.Sprintf("(SELECT *, %s AS %s FROM %s LIMIT -1)", sqliteKey(updated), keyName, table), keyName
}

// orderKey is the updated time of a row of table, as changesFrom's key has it.
func (c *Conn) orderKey(updated string) string {
	if c.pg {
		return updated
	}
	return sqliteKey(updated)
}

// timeArg is a time as it is compared with orderKey.
func (c *Conn) timeArg(t time.Time) string {
	if c.pg {
		return stampArg(t)
	}
	return keyArg(t)
}

// columns is what Get and Find select: every column, and in SQLite the updated
// column's normalised form last, which query reads the record's UpdatedAt from.
func (c *Conn) columns(updated string) string {
	if c.pg {
		return "*"
	}
	return "*, " + sqliteKey(updated)
}

// after returns the condition of the rows after since and before cutoff (when not zero),
// key being their updated time (changesFrom), and its arguments. The id is passed as text
// and compared in the column's own type (PostgreSQL infers the parameter's type from the
// column; SQLite converts it by the column's affinity), so integer ids compare as
// numbers: 9 before 10.
func (c *Conn) after(since connectors.Cursor, id, key string, cutoff time.Time) (string, []any) {
	args := []any{c.timeArg(since.UpdatedAt)}
	var cond string
	if since.ID == "" {
		// A cursor without an id is before every row with its time.
		cond = fmt.Sprintf("%s >= $1", key)
	} else {
		cond = fmt.Sprintf("(%s > $1 OR (%s = $1 AND %s > $2))", key, key, id)
		args = append(args, since.ID)
	}
	if !cutoff.IsZero() {
		args = append(args, c.timeArg(cutoff))
		cond += fmt.Sprintf(" AND %s < $%d", key, len(args))
	}
	return cond, args
}

// Changes implements connectors.Connector: the rows after since in (updated, id) order,
// one more than limit asked for to learn whether more follow. In SQLite the rows whose
// updated value is not a timestamp come first, so that query stops at them with an error
// naming one, rather than their being skipped for ever.
func (c *Conn) Changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	if limit <= 0 {
		return connectors.Page{}, fmt.Errorf("sql changes of %s: limit %d must be positive", object, limit)
	}
	what := "changes of " + object
	r, err := c.changesAfter(ctx, what, object, since, true)
	if err != nil {
		return connectors.Page{}, err
	}
	cond := r.cond
	if !c.pg {
		cond = fmt.Sprintf("(%s) OR (%s IS NOT NULL AND %s IS NULL)", cond, r.updated, r.key)
	}
	return c.page(ctx, object, what, r.from, r.sd.and(cond), r.key, r.id, r.args, limit)
}

// changeRead is what every read of a table's changes after a cursor shares: the rows to
// read from (changesFrom) with their order key, id and updated columns, the condition
// that a row is after the cursor (after) with its parameters, and the table's soft
// deletes (whose and the condition still goes through).
type changeRead struct {
	from, key, id, updated, cond string
	args                         []any
	sd                           *softDelete
}

// changesAfter prepares a read of object's changes after since; hold holds the open
// second back (see openSecond). what names the read in errors.
func (c *Conn) changesAfter(ctx context.Context, what, object string, since connectors.Cursor, hold bool) (changeRead, error) {
	table, id, updated, err := c.table(object)
	if err != nil {
		return changeRead{}, err
	}
	sd, err := c.softDelete(ctx, what, object)
	if err != nil {
		return changeRead{}, err
	}
	var cutoff time.Time
	if hold {
		if cutoff, err = c.openSecond(ctx, what, table, c.cfg.UpdatedColumn); err != nil {
			return changeRead{}, err
		}
	}
	from, key := c.changesFrom(table, updated)
	cond, args := c.after(since, id, key, cutoff)
	return changeRead{from: from, key: key, id: id, updated: updated, cond: cond, args: args, sd: sd}, nil
}

// page reads up to limit rows of from where cond holds (its parameters args), in (key, id)
// order, and one more to learn whether more follow.
func (c *Conn) page(ctx context.Context, object, what, from, cond, key, id string, args []any, limit int) (connectors.Page, error) {
	q := fmt.Sprintf("SELECT * FROM %s WHERE %s ORDER BY %s, %s LIMIT $%d", from, cond, key, id, len(args)+1)
	recs, err := c.query(ctx, object, what, q, append(args, limit+1)...)
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
	what := "count changes of " + object
	r, err := c.changesAfter(ctx, what, object, since, true)
	if err != nil {
		return 0, err
	}
	var n int
	q := fmt.Sprintf("SELECT count(*) FROM %s WHERE %s", r.from, r.sd.and(r.cond))
	if err := c.db.QueryRowContext(ctx, q, r.args...).Scan(&n); err != nil {
		return 0, c.callError(ctx, what, err)
	}
	return n, nil
}

// openSecond returns the start of the current second when a read ordered by the time
// column (unquoted) of table holds it back (see the package comment, "Change times"), or
// the zero time. what names the read in errors.
func (c *Conn) openSecond(ctx context.Context, what, table, column string) (time.Time, error) {
	switch c.cfg.HoldBackOpenSecond {
	case HoldBackNever:
		return time.Time{}, nil
	case HoldBackAlways:
	default:
		whole, err := c.keepsWholeSeconds(ctx, what, table, column)
		if err != nil || !whole {
			return time.Time{}, err
		}
	}
	if !c.pg {
		return c.now().UTC().Truncate(time.Second), nil
	}
	// The database's clock, read before the rows: a row saved after they are read has a
	// time at or after it.
	var now time.Time
	if err := c.db.QueryRowContext(ctx, "SELECT now()").Scan(&now); err != nil {
		return time.Time{}, c.callError(ctx, what+": read the database's clock", err)
	}
	return now.UTC().Truncate(time.Second), nil
}

// keepsWholeSeconds reports whether a time column (unquoted) of table keeps whole
// seconds: in PostgreSQL a timestamp(0) or timestamptz(0) column, in SQLite one holding a
// value without fractional seconds.
func (c *Conn) keepsWholeSeconds(ctx context.Context, what, table, column string) (bool, error) {
	cached := table + "." + column
	c.wholeMu.Lock()
	whole, known := c.wholeSeconds[cached]
	c.wholeMu.Unlock()
	if known {
		return whole, nil
	}
	what += ": look up the resolution of column " + column
	if c.pg {
		var typ string
		var mod int
		// to_regclass resolves the quoted name by the search path, as the queries do.
		err := c.db.QueryRowContext(ctx, `SELECT a.atttypid::regtype::text, a.atttypmod FROM pg_attribute a
			WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
			table, column).Scan(&typ, &mod)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return false, nil // no such column (yet): the read says so
		case err != nil:
			return false, c.callError(ctx, what, err)
		}
		// The type modifier of a timestamp is its precision, -1 when not given (6).
		whole = mod == 0 && (typ == "timestamp without time zone" || typ == "timestamp with time zone")
	} else {
		var one int
		col := `"` + column + `"` // a name checked by Config.check
		q := fmt.Sprintf("SELECT 1 FROM %s WHERE %s IS NOT NULL AND substr(CAST(%s AS TEXT), 20, 1) <> '.' LIMIT 1", table, col, col)
		switch err := c.db.QueryRowContext(ctx, q).Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
			return false, nil // looked for again on the next read
		case err != nil:
			return false, c.callError(ctx, what, err)
		}
		whole = true
	}
	c.wholeMu.Lock()
	c.wholeSeconds[cached] = whole
	c.wholeMu.Unlock()
	return whole, nil
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
	table, _, updated, err := c.table(object)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sql %s: %w", what, err)
	}
	sd, err := c.softDelete(ctx, what, object)
	if err != nil {
		return nil, err
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
		q := fmt.Sprintf("SELECT %s FROM %s WHERE %s", c.columns(updated), table,
			sd.and(fmt.Sprintf("%s IN (%s)", col, placeholders(1, len(chunk)))))
		recs, err := c.query(ctx, object, what, q, chunk...)
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

// query runs a SELECT of every column of object's table (and in SQLite its normalised
// updated time last) and returns its rows as records.
func (c *Conn) query(ctx context.Context, object, what, q string, args ...any) ([]connectors.Record, error) {
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, c.callError(ctx, what, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, c.callError(ctx, what, err)
	}
	values := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range values {
		ptrs[i] = &values[i]
	}
	keyAt := -1 // SQLite's normalised updated time, last (columns, changesFrom)
	if !c.pg {
		keyAt = len(cols) - 1
		cols = cols[:keyAt]
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
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, c.callError(ctx, what, err)
		}
		id := idString(values[idAt])
		var at time.Time
		if keyAt >= 0 {
			at, err = c.keyTime(object, c.cfg.UpdatedColumn, SettingUpdatedColumn, id, values[keyAt], values[updatedAt])
		} else {
			at, err = timeValue(values[updatedAt])
		}
		var inv *connectors.InvalidRecordError
		switch {
		case errors.As(err, &inv):
			return nil, fmt.Errorf("sql %s: %w", what, err) // it names the column
		case err != nil:
			return nil, fmt.Errorf("sql %s: column %s: %w", what, c.cfg.UpdatedColumn, err)
		}
		r := connectors.Record{ID: id, UpdatedAt: at, Fields: make(map[string]any, len(cols)-2)}
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

// keyTime reads a SQLite time from its normalised form key (sqliteKey) of column (the
// updated column, or the deleted column set by setting); raw is the column's value,
// which an error quotes. A value that is not a timestamp fails with a
// *connectors.InvalidRecordError naming the table, the column, the row and the value: no
// retry changes it.
func (c *Conn) keyTime(object, column, setting, id string, key, raw any) (time.Time, error) {
	if b, ok := key.([]byte); ok {
		key = string(b)
	}
	if k, ok := key.(string); ok {
		if t, err := time.Parse(keyLayout, k); err == nil {
			return t.UTC(), nil
		}
	}
	if raw == nil {
		return time.Time{}, fmt.Errorf("is NULL; every row needs a last-changed time")
	}
	shown := fmt.Sprintf("%v", raw)
	switch x := raw.(type) {
	case string:
		shown = strconv.Quote(x)
	case []byte:
		shown = strconv.Quote(string(x))
	}
	return time.Time{}, &connectors.InvalidRecordError{Record: id, Field: column, Reason: fmt.Sprintf(
		"table %s, column %s (%s): %s is not a timestamp the connector can order; the column must hold text such as "+
			"2025-01-01 00:00:00, 2025-01-01T00:00:00.123Z or 2025-01-01T00:00:00.123456+02:00 (date, time, fractional seconds, zone)",
		object, column, setting, shown)}
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

// timeLayouts are the forms a timestamp may have when PostgreSQL hands it over as text (a
// text column): ours first, then other ISO forms, then what the Go drivers write by
// default; and PostgreSQL's text form of a timestamptz (the offset in hours), which
// UpdateIfUnchanged reads. SQLite's times are read from their normalised form instead
// (keyTime).
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
