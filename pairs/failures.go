package pairs

import (
	"context"
	"fmt"
	"maps"
	"slices"
)

// The failed table remembers the records a service rejected, by sync, side and record id
// (see Failure). Both backends create it when it is missing, so a store made before it
// gains it when opened.

const sqliteFailed = `CREATE TABLE IF NOT EXISTS failed (
		sync TEXT NOT NULL,
		side TEXT NOT NULL,
		id TEXT NOT NULL,
		"key" TEXT NOT NULL DEFAULT '',
		reason TEXT NOT NULL DEFAULT '',
		first_at TEXT,
		last_at TEXT,
		attempts INTEGER NOT NULL DEFAULT 1,
		write_name TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (sync, side, id)
	)`

const pgFailed = `CREATE TABLE IF NOT EXISTS ` + pgSchemaName + `.failed (
		sync TEXT COLLATE "C" NOT NULL,
		side TEXT COLLATE "C" NOT NULL,
		id TEXT COLLATE "C" NOT NULL,
		"key" TEXT NOT NULL DEFAULT '',
		reason TEXT NOT NULL DEFAULT '',
		first_at TIMESTAMPTZ,
		last_at TIMESTAMPTZ,
		attempts INTEGER NOT NULL DEFAULT 1,
		write_name TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (sync, side, id)
	)`

// failureColumns are the columns a Failure is read from, in scanFailures's order.
const failureColumns = `side, id, "key", reason, first_at, last_at, attempts`

// AddFailures implements Store.
func (s *sqlStore) AddFailures(ctx context.Context, sync string, fs []Failure) error {
	if len(fs) == 0 {
		return ctx.Err()
	}
	for _, f := range fs {
		if _, err := sideColumn(f.Side); err != nil {
			return err
		}
		if f.ID == "" {
			return fmt.Errorf("link store: a failure of side %s has no record id", f.Side)
		}
		if err := pgTextID(s.pg, "add failures", f.Side, f.ID); err != nil {
			return err
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, "add failures", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, f := range fs {
		first := f.FirstAt
		if first.IsZero() {
			first = f.LastAt
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+s.failed+` AS f (sync, side, id, "key", reason, first_at, last_at, attempts, write_name)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)
			ON CONFLICT (sync, side, id) DO UPDATE SET "key" = excluded."key", reason = excluded.reason,
				last_at = excluded.last_at, write_name = excluded.write_name,
				attempts = f.attempts + CASE WHEN f.write_name = excluded.write_name AND excluded.write_name <> '' THEN 0 ELSE 1 END`,
			sync, f.Side, f.ID, f.Key, f.Reason, s.timeArg(first), s.timeArg(f.LastAt), f.Write); err != nil {
			return s.fail(ctx, "add failures", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, "add failures: commit", err)
	}
	return nil
}

// Failures implements Store.
func (s *sqlStore) Failures(ctx context.Context, sync string, side Side, afterID string, limit int) ([]Failure, error) {
	if _, err := sideColumn(side); err != nil {
		return nil, err
	}
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	return s.queryFailures(ctx, "failures", `SELECT `+failureColumns+` FROM `+s.failed+`
		WHERE sync = $1 AND side = $2 AND id > $3 ORDER BY id LIMIT $4`, sync, side, afterID, limit)
}

// LatestFailures implements Store: ties on LastAt are in (side, id) order.
func (s *sqlStore) LatestFailures(ctx context.Context, sync string, limit int) ([]Failure, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	return s.queryFailures(ctx, "latest failures", `SELECT `+failureColumns+` FROM `+s.failed+`
		WHERE sync = $1 ORDER BY last_at DESC, side, id LIMIT $2`, sync, limit)
}

func (s *sqlStore) queryFailures(ctx context.Context, what, query string, args ...any) ([]Failure, error) {
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.fail(ctx, what, err)
	}
	defer func() { _ = rows.Close() }()
	var out []Failure
	for rows.Next() {
		var f Failure
		if err := rows.Scan(&f.Side, &f.ID, &f.Key, &f.Reason, dbTime{&f.FirstAt}, dbTime{&f.LastAt}, &f.Attempts); err != nil {
			return nil, s.fail(ctx, what, err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, what, err)
	}
	return out, nil
}

// DropFailures implements Store.
func (s *sqlStore) DropFailures(ctx context.Context, sync string, side Side, ids []string) (int, error) {
	if _, err := sideColumn(side); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, ctx.Err()
	}
	// Every page of a sync forgets the failures of what it wrote, and most syncs remember
	// none: one look first spares the DELETE its list of ids (a quarter of a millisecond
	// for 500 on SQLite). A failure added after the look is added after the DELETE too.
	var some bool
	if err := s.rdb.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+s.failed+` WHERE sync = `+s.ph(1)+` AND side = `+s.ph(2)+`)`,
		sync, side).Scan(&some); err != nil {
		return 0, s.fail(ctx, "drop failures", err)
	}
	if !some {
		return 0, ctx.Err()
	}
	n := 0
	for _, part := range chunks(ids, s.chunk) {
		cond, args := s.idMatch("id", 3, part)
		res, err := s.db.ExecContext(ctx, `DELETE FROM `+s.failed+` WHERE sync = `+s.ph(1)+` AND side = `+s.ph(2)+` AND `+cond,
			append([]any{sync, side}, args...)...)
		if err != nil {
			return n, s.fail(ctx, "drop failures", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return n, s.fail(ctx, "drop failures", err)
		}
		n += int(k)
	}
	return n, ctx.Err()
}

// SettleFailures implements Store: one transaction.
func (s *sqlStore) SettleFailures(ctx context.Context, sync string, side Side, attempts map[string]int) (int, error) {
	if _, err := sideColumn(side); err != nil {
		return 0, err
	}
	if len(attempts) == 0 {
		return 0, ctx.Err()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.fail(ctx, "settle failures", err)
	}
	defer func() { _ = tx.Rollback() }()
	n := 0
	// In id order, so that two settles of one sync take their row locks in one order.
	ids := slices.Sorted(maps.Keys(attempts))
	for _, id := range ids {
		res, err := tx.ExecContext(ctx, `DELETE FROM `+s.failed+` WHERE sync = $1 AND side = $2 AND id = $3 AND attempts = $4`,
			sync, side, id, attempts[id])
		if err != nil {
			return 0, s.fail(ctx, "settle failures", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, s.fail(ctx, "settle failures", err)
		}
		n += int(k)
	}
	if err := tx.Commit(); err != nil {
		return 0, s.fail(ctx, "settle failures: commit", err)
	}
	return n, nil
}

// CountFailures implements Store.
func (s *sqlStore) CountFailures(ctx context.Context, sync string) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+s.failed+` WHERE sync = $1`, sync).Scan(&n); err != nil {
		return 0, s.fail(ctx, "count failures", err)
	}
	return n, nil
}
