package main

// The backfill-postgres scenario (issue 17) copies -records rows of a PostgreSQL table
// one-way into a table of a second database on the same throwaway server
// (internal/pgserver, from the machine's binaries), under three designs:
//
//   - tandem: the sql connector on both sides through Tandem's sync, the first run awaited;
//   - direct: the same connector calls in a plain loop, no Temporal (directCopy);
//   - copy: COPY (SELECT ...) TO STDOUT piped into COPY ... FROM STDIN with pgx, the lower
//     bound for moving these rows between two databases.
//
// The source is seeded once (binary COPY), vacuumed so no design pays for setting its
// rows' hint bits, and read by every design; each design writes a fresh table of its own
// with the same columns and the same UNIQUE key.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/activities"
	"tandem/connectors/builtin"
	"tandem/connectors/memory"
	"tandem/connectors/sqldb"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/pgserver"
)

const (
	scenarioPostgres = "backfill-postgres"
	designCopy       = "copy"

	pgSourceDB = "bench_source"
	pgTargetDB = "bench_target"
	// pgSource is the source table; each design's target table is pgSource_<design>.
	pgSource = "companies"
	// pgPageSize is the sync's page size, for Tandem and the direct loop alike.
	pgPageSize = 1000
)

// backfillPostgres runs the scenario; without PostgreSQL binaries it is skipped with a
// result that says so.
func (b *bench) backfillPostgres(ctx context.Context) ([]result, error) {
	pg, err := pgserver.Start()
	if errors.Is(err, pgserver.ErrNoBinaries) {
		msg := "SKIPPED: " + err.Error() + "; install PostgreSQL (Debian: apt-get install postgresql) to run this scenario"
		fmt.Fprintf(os.Stderr, "%s %s\n", scenarioPostgres, msg)
		return []result{{Scenario: scenarioPostgres, Design: designTandem, HistoryEvents: -1, HistoryBytes: -1, BytesPerRecord: -1, CPUSeconds: -1, Note: msg}}, nil
	}
	if err != nil {
		return nil, err
	}
	defer pg.Stop()

	n := b.o.records
	begin := time.Now()
	if err := pgSeed(ctx, pg, n); err != nil {
		return nil, err
	}
	if !b.o.json {
		fmt.Fprintf(os.Stderr, "%s: %d rows seeded in %.1f s (PostgreSQL on %s)\n", scenarioPostgres, n, time.Since(begin).Seconds(), pg.Addr())
	}
	target, err := sql.Open("pgx", pg.URL(pgTargetDB))
	if err != nil {
		return nil, err
	}
	defer target.Close()

	var out []result
	var errs []error
	for _, design := range []string{designTandem, designDirect, designCopy} {
		table := pgSource + "_" + design
		fx, err := pgFixture(ctx, pg, target, uniqueName(scenarioPostgres, design), table, n, b.o.parallelReads)
		if err != nil {
			return out, err
		}
		var r result
		switch design {
		case designTandem:
			r, err = b.tandem(ctx, fx, false)
			if err == nil {
				reads := b.o.parallelReads
				if reads == 0 {
					reads = sqldb.DefaultParallelReads
				}
				r.Note = fmt.Sprintf("sql connector both sides, page_size %d, max_batch %d (its default), parallel_reads %d", pgPageSize, sqldb.DefaultMaxBatch, reads)
			}
		case designDirect:
			r, err = b.direct(ctx, fx, false)
			if err == nil {
				r.Note = "no Temporal: the same connector calls in a plain loop"
			}
		case designCopy:
			r, err = pgCopy(ctx, pg, fx, table, n)
		}
		fx.close()
		r.Scenario, r.Design = scenarioPostgres, design
		if err != nil {
			r.Note = "FAILED: " + err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", design, err))
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// pgSeed creates the two databases and n source rows (memory.SampleCompany's fields,
// updated a millisecond apart), indexed as a table read by its changes is.
func pgSeed(ctx context.Context, pg *pgserver.Server, n int) error {
	admin, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", pg.Addr(), err)
	}
	defer admin.Close(ctx)
	for _, db := range []string{pgSourceDB, pgTargetDB} {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			return fmt.Errorf("create database %s: %w", db, err)
		}
	}
	src, err := pgx.Connect(ctx, pg.URL(pgSourceDB))
	if err != nil {
		return err
	}
	defer src.Close(ctx)
	if _, err := src.Exec(ctx, `CREATE TABLE `+pgSource+` (id BIGSERIAL PRIMARY KEY, domain TEXT NOT NULL,
		name TEXT NOT NULL, phone TEXT, industry TEXT, employees INTEGER, updated_at TIMESTAMPTZ NOT NULL)`); err != nil {
		return fmt.Errorf("create source table: %w", err)
	}
	base := time.Now().Add(-time.Duration(n+3_600_000) * time.Millisecond) // all in the past
	i := 0
	rows := pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		f := memory.SampleCompany(i)
		row := []any{f["domain"], f["name"], f["phone"], f["industry"], int32(f["employees"].(float64)), base.Add(time.Duration(i) * time.Millisecond)}
		i++
		return row, nil
	})
	got, err := src.CopyFrom(ctx, pgx.Identifier{pgSource}, []string{"domain", "name", "phone", "industry", "employees", "updated_at"}, rows)
	if err != nil {
		return fmt.Errorf("seed %d rows: %w", n, err)
	}
	if got != int64(n) {
		return fmt.Errorf("seeded %d rows, want %d", got, n)
	}
	for _, s := range []string{
		`ALTER TABLE ` + pgSource + ` ADD UNIQUE (domain)`,
		`CREATE INDEX ON ` + pgSource + ` (updated_at, id)`,
		`VACUUM ANALYZE ` + pgSource,
	} {
		if _, err := src.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
	}
	return nil
}

// pgFixture creates the design's target table and the one-way sync into it. The sql
// connector counts no calls, so the fixture has none; writes are the rows the target
// gained since resetCalls.
func pgFixture(ctx context.Context, pg *pgserver.Server, target *sql.DB, name, table string, n, parallelReads int) (*fixture, error) {
	if _, err := target.ExecContext(ctx, `CREATE TABLE `+table+` (id BIGSERIAL PRIMARY KEY, domain TEXT NOT NULL UNIQUE,
		name TEXT, phone TEXT, updated_at TIMESTAMPTZ NOT NULL)`); err != nil {
		return nil, fmt.Errorf("create target table %s: %w", table, err)
	}
	source := map[string]string{sqldb.SettingDriver: sqldb.DriverPostgres, sqldb.SettingDSN: pg.URL(pgSourceDB)}
	if parallelReads > 0 {
		source[sqldb.SettingParallelReads] = strconv.Itoa(parallelReads)
	}
	defs := &config.File{
		Path: "bench",
		Connections: map[string]config.Connection{
			"source": {Name: "source", Type: sqldb.Type, Settings: source},
			"target": {Name: "target", Type: sqldb.Type, Settings: map[string]string{
				sqldb.SettingDriver: sqldb.DriverPostgres, sqldb.SettingDSN: pg.URL(pgTargetDB), sqldb.SettingKeyColumns: "domain"}},
		},
		Syncs: []config.Sync{{
			Name: name, Mode: config.OneWay,
			A:      config.Side{Connection: "source", Object: pgSource, Key: "domain"},
			B:      config.Side{Connection: "target", Object: table, Key: "domain"},
			Fields: companyFields, Conflict: config.NewestWins,
			Schedule: config.Schedule{Every: time.Hour}, PageSize: pgPageSize,
		}},
	}
	conns, err := app.OpenConnections(defs, builtin.Registry())
	if err != nil {
		return nil, fmt.Errorf("open connections: %w", err)
	}
	count := func() int {
		var c int
		if err := target.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&c); err != nil {
			return -1
		}
		return c
	}
	atReset := 0
	return &fixture{
		sync: name, acts: &activities.Activities{Syncs: defs, Connections: conns},
		records:    n,
		resetCalls: func() { atReset = count() },
		targetLen:  count,
		writes:     func() int { return count() - atReset },
		shut: func() {
			closeConns(conns)
		},
	}, nil
}

// pgCopy is the lower bound: the source's mapped columns streamed out with COPY TO and
// into the design's table with COPY FROM, through a pipe, on two connections.
func pgCopy(ctx context.Context, pg *pgserver.Server, fx *fixture, table string, n int) (result, error) {
	src, err := pgx.Connect(ctx, pg.URL(pgSourceDB))
	if err != nil {
		return result{}, err
	}
	defer src.Close(ctx)
	dst, err := pgx.Connect(ctx, pg.URL(pgTargetDB))
	if err != nil {
		return result{}, err
	}
	defer dst.Close(ctx)
	r, err := measured(fx, n, func() error {
		pr, pw := io.Pipe()
		out := make(chan error, 1)
		go func() {
			_, err := src.PgConn().CopyTo(ctx, pw, "COPY (SELECT domain, name, phone, now() FROM "+pgSource+") TO STDOUT")
			pw.CloseWithError(err) // nil: the reader sees EOF
			out <- err
		}()
		tag, err := dst.PgConn().CopyFrom(ctx, pr, "COPY "+table+" (domain, name, phone, updated_at) FROM STDIN")
		pr.CloseWithError(err) // unblocks COPY TO if COPY FROM stopped early
		if errOut := <-out; err == nil && errOut != nil {
			err = fmt.Errorf("copy out: %w", errOut)
		} else if err != nil {
			err = fmt.Errorf("copy in: %w", err)
		}
		if err == nil && tag.RowsAffected() != int64(n) {
			err = fmt.Errorf("copied %d rows, want %d", tag.RowsAffected(), n)
		}
		return err
	})
	if err != nil {
		return r, err
	}
	if got := fx.targetLen(); got != n {
		return r, fmt.Errorf("target holds %d rows, want %d", got, n)
	}
	r.Note = "COPY (SELECT ...) TO STDOUT piped into COPY ... FROM STDIN (pgx), no Temporal, no connector: the fastest these rows move"
	return r, nil
}
