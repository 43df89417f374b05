package sqldb

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"tandem/connectors"
)

// SQLite's primary result codes that mean the row's values were refused
// (https://sqlite.org/rescode.html); extended codes keep the primary one in the low byte.
const (
	sqliteTooBig     = 18
	sqliteConstraint = 19
	sqliteMismatch   = 20
)

// rowError returns the database's refusal of one row's values (a NOT NULL, CHECK or
// UNIQUE constraint, a value of the wrong type), or nil when err is about the statement or
// the connection instead, which no other row would escape either.
func rowError(err error) *connectors.InvalidRecordError {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		// Class 23 is integrity constraint violation, class 22 data exception.
		if strings.HasPrefix(pg.Code, "23") || strings.HasPrefix(pg.Code, "22") {
			reason := pg.Message
			if pg.Detail != "" {
				reason += " (" + pg.Detail + ")"
			}
			return &connectors.InvalidRecordError{Field: pg.ColumnName, Reason: reason}
		}
		return nil
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff {
		case sqliteTooBig, sqliteConstraint, sqliteMismatch:
			return &connectors.InvalidRecordError{Reason: lite.Error()}
		}
	}
	return nil
}

// classify turns an error of a whole call into the connectors error that says whether a
// retry can help: a missing table or column, or refused credentials, cannot.
func classify(what string, err error) error {
	msg := fmt.Sprintf("sql %s: %v", what, err)
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "42P01" || pg.Code == "42703": // undefined_table, undefined_column
			return &connectors.NotFoundError{What: msg}
		case strings.HasPrefix(pg.Code, "28"): // invalid authorization specification
			return &connectors.AuthError{Reason: msg}
		}
		return fmt.Errorf("sql %s: %w", what, err)
	}
	var lite *sqlite.Error
	if errors.As(err, &lite) {
		// SQLite reports these as a generic SQLITE_ERROR; only the message tells them.
		for _, missing := range []string{"no such table", "no such column", "has no column named"} {
			if strings.Contains(lite.Error(), missing) {
				return &connectors.NotFoundError{What: msg}
			}
		}
	}
	return fmt.Errorf("sql %s: %w", what, err)
}
