package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"tandem/connectors"
)

var _ connectors.Describer = (*Conn)(nil)

// Describe implements connectors.Describer: the columns of object's table, in table order,
// each with its type as the database names it. A column is unique when a unique
// constraint or index covers it alone (a primary key of one column included; a partial
// index, or one over several columns, does not make any one column unique). The id, the
// updated and the deleted column are not writable (the connector sets them, and the id is
// the database's), nor are generated columns and PostgreSQL identity columns GENERATED
// ALWAYS. A table the database does not have is a *connectors.NotFoundError.
//
// SQLite: PRAGMA table_xinfo (table_info with the generated columns), and PRAGMA
// index_list / index_info for the unique indexes, which SQLite makes for UNIQUE and
// PRIMARY KEY constraints too [doc: sqlite.org/pragma.html]. A column declared without a
// type has type "any" (no affinity is forced on it).
//
// PostgreSQL: information_schema.columns of the table to_regclass finds (by the search
// path, as the connector's queries find it), and pg_index for the unique indexes, which
// back every UNIQUE and PRIMARY KEY constraint [doc: postgresql.org/docs/current/
// infoschema-columns.html, catalog-pg-index.html].
func (c *Conn) Describe(ctx context.Context, object string) ([]connectors.Field, error) {
	table, _, _, err := c.table(object)
	if err != nil {
		return nil, err
	}
	what := "describe " + object
	var fields []connectors.Field
	if c.pg {
		fields, err = c.describePostgres(ctx, what, table)
	} else {
		fields, err = c.describeSQLite(ctx, what, object)
	}
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, &connectors.NotFoundError{What: fmt.Sprintf("sql %s: table %s", what, object)}
	}
	for i := range fields {
		if c.managed(fields[i].Name) {
			fields[i].Writable = false
		}
	}
	return fields, nil
}

// managed reports whether the connector, not a record, sets column name.
func (c *Conn) managed(name string) bool {
	for _, col := range []string{c.cfg.IDColumn, c.cfg.UpdatedColumn, c.cfg.DeletedColumn} {
		if col != "" && (name == col || (!c.pg && strings.EqualFold(name, col))) {
			return true
		}
	}
	return false
}

func (c *Conn) describeSQLite(ctx context.Context, what, object string) ([]connectors.Field, error) {
	var fields []connectors.Field
	err := c.each(ctx, what, func(rows *sql.Rows) error {
		var name, typ string
		var hidden int
		if err := rows.Scan(&name, &typ, &hidden); err != nil {
			return err
		}
		if typ == "" {
			typ = "any"
		}
		// hidden is 2 or 3 for a generated column, 1 for a virtual table's hidden one.
		fields = append(fields, connectors.Field{Name: name, Type: strings.ToLower(typ), Writable: hidden == 0})
		return nil
	}, `SELECT name, type, hidden FROM pragma_table_xinfo($1) ORDER BY cid`, object)
	if err != nil || len(fields) == 0 {
		return nil, err
	}
	// The columns that a unique index, not partial, covers alone. An INTEGER PRIMARY KEY
	// is the rowid and has no index: table_info's pk marks it.
	unique := map[string]bool{}
	err = c.each(ctx, what, func(rows *sql.Rows) error {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		unique[strings.ToLower(name)] = true
		return nil
	}, `SELECT ii.name FROM pragma_index_list($1) il, pragma_index_info(il.name) ii
		WHERE il."unique" AND NOT il.partial
		AND (SELECT count(*) FROM pragma_index_info(il.name)) = 1
		UNION
		SELECT name FROM pragma_table_info($1) WHERE pk = 1
		AND (SELECT count(*) FROM pragma_table_info($1) WHERE pk > 0) = 1`, object)
	if err != nil {
		return nil, err
	}
	for i := range fields {
		fields[i].Unique = unique[strings.ToLower(fields[i].Name)]
	}
	return fields, nil
}

func (c *Conn) describePostgres(ctx context.Context, what, table string) ([]connectors.Field, error) {
	var fields []connectors.Field
	err := c.each(ctx, what, func(rows *sql.Rows) error {
		var f connectors.Field
		var generated bool
		if err := rows.Scan(&f.Name, &f.Type, &generated, &f.Unique); err != nil {
			return err
		}
		f.Writable = !generated
		fields = append(fields, f)
		return nil
	}, `SELECT col.column_name, col.data_type,
			col.is_generated = 'ALWAYS' OR coalesce(col.identity_generation = 'ALWAYS', false),
			EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a
				ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
				WHERE i.indrelid = t.oid AND i.indisunique AND i.indnkeyatts = 1 AND i.indpred IS NULL
				AND a.attname = col.column_name)
		FROM (SELECT to_regclass($1) AS oid) t
		JOIN pg_class cl ON cl.oid = t.oid
		JOIN pg_namespace ns ON ns.oid = cl.relnamespace
		JOIN information_schema.columns col ON col.table_schema = ns.nspname AND col.table_name = cl.relname
		ORDER BY col.ordinal_position`, table)
	return fields, err
}

// each runs query q and calls scan for each row.
func (c *Conn) each(ctx context.Context, what string, scan func(*sql.Rows) error, q string, args ...any) error {
	rows, err := c.db.QueryContext(ctx, q, args...)
	if err != nil {
		return c.callError(ctx, what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return c.callError(ctx, what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return c.callError(ctx, what, err)
	}
	return nil
}
