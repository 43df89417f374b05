package pairs

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// The bulk log keeps what a chunk did with each record of a one-way sync that keeps no
// links (issue 17): its records are out of history and no link holds their last
// decision, so without it `explain` had nothing to say about a record synced in bulk. A
// row is one page a chunk wrote: the run, when, and each record's outcome, as gzipped
// JSON (a page of 1,000 outcomes is a few kilobytes). Rows older than BulkLogKeep are
// dropped as new ones come. Both backends create the table when it is missing.

// BulkLogKeep is how long the bulk log keeps a page's outcomes.
const BulkLogKeep = 7 * 24 * time.Hour

const sqliteBulkLog = `CREATE TABLE IF NOT EXISTS bulk_log (
		sync TEXT NOT NULL,
		at TEXT NOT NULL,
		run INTEGER NOT NULL,
		side TEXT NOT NULL,
		outcomes BLOB NOT NULL
	)`

const sqliteBulkLogIndex = `CREATE INDEX IF NOT EXISTS bulk_log_at ON bulk_log (sync, at)`

const pgBulkLog = `CREATE TABLE IF NOT EXISTS ` + pgSchemaName + `.bulk_log (
		sync TEXT COLLATE "C" NOT NULL,
		at TIMESTAMPTZ NOT NULL,
		run INTEGER NOT NULL,
		side TEXT NOT NULL,
		outcomes BYTEA NOT NULL
	)`

const pgBulkLogIndex = `CREATE INDEX IF NOT EXISTS bulk_log_at ON ` + pgSchemaName + `.bulk_log (sync, at)`

// The actions of a RecordOutcome.
const (
	OutcomeCreated = "created"
	OutcomeUpdated = "updated"
	OutcomeSkipped = "skipped"
	OutcomeStale   = "stale"
	OutcomeFailed  = "failed"
)

// RecordOutcome is what a chunk did with one record: Action is one of the Outcome*
// constants, Reason the service's reason for a failure (the other actions' reasons go
// without saying, and a page of them repeated would be most of its bytes), TargetID the
// partner written or matched.
type RecordOutcome struct {
	Key      string `json:"k"`
	ID       string `json:"i"`
	TargetID string `json:"t,omitempty"`
	Action   string `json:"a"`
	Reason   string `json:"r,omitempty"`
}

// BulkPage is a page of outcomes a chunk of run Run wrote, from Side, at At.
type BulkPage struct {
	Run      int
	Side     Side
	At       time.Time
	Outcomes []RecordOutcome
}

// LoggedOutcome is an outcome found in the bulk log, with its page's run, side and time.
type LoggedOutcome struct {
	RecordOutcome
	Run  int
	Side Side
	At   time.Time
}

// LogBulk implements Store.
func (s *sqlStore) LogBulk(ctx context.Context, sync string, pages []BulkPage) error {
	type row struct {
		p    BulkPage
		blob []byte
	}
	var rows []row
	for _, p := range pages {
		if len(p.Outcomes) == 0 {
			continue
		}
		if _, err := sideColumn(p.Side); err != nil {
			return err
		}
		blob, err := packOutcomes(p.Outcomes)
		if err != nil {
			return fmt.Errorf("link store: bulk log of sync %s: %w", sync, err)
		}
		rows = append(rows, row{p, blob})
	}
	if len(rows) == 0 {
		return ctx.Err()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, "log bulk outcomes", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+s.bulkLog+` WHERE sync = `+s.ph(1)+` AND at < `+s.ph(2),
		sync, s.timeArg(rows[0].p.At.Add(-BulkLogKeep))); err != nil {
		return s.fail(ctx, "drop old bulk outcomes", err)
	}
	for _, r := range rows {
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+s.bulkLog+` (sync, at, run, side, outcomes) VALUES (`+s.ph(1)+`, `+s.ph(2)+`, `+s.ph(3)+`, `+s.ph(4)+`, `+s.ph(5)+`)`,
			sync, s.timeArg(r.p.At), r.p.Run, r.p.Side, r.blob); err != nil {
			return s.fail(ctx, "log bulk outcomes", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, "log bulk outcomes: commit", err)
	}
	return nil
}

// packOutcomes is a page's outcomes as gzipped JSON.
func packOutcomes(outs []RecordOutcome) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if err := json.NewEncoder(zw).Encode(outs); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// BulkOutcome implements Store. It reads the sync's pages newest first and unpacks each
// until one holds key: an answer for explain, not for the pipeline.
func (s *sqlStore) BulkOutcome(ctx context.Context, sync, key string) (*LoggedOutcome, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT at, run, side, outcomes FROM `+s.bulkLog+` WHERE sync = `+s.ph(1)+` ORDER BY at DESC`, sync)
	if err != nil {
		return nil, s.fail(ctx, "read the bulk log", err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var (
			at   time.Time
			run  int
			side string
			blob []byte
		)
		if err := rows.Scan(dbTime{&at}, &run, &side, &blob); err != nil {
			return nil, s.fail(ctx, "read the bulk log", err)
		}
		outs, err := unpackOutcomes(blob)
		if err != nil {
			return nil, fmt.Errorf("link store: bulk log of sync %s at %s: %w", sync, at.Format(time.RFC3339), err)
		}
		// The page's last outcome for the key: a key on a page twice was written twice.
		for i := len(outs) - 1; i >= 0; i-- {
			if outs[i].Key == key {
				return &LoggedOutcome{RecordOutcome: outs[i], Run: run, Side: side, At: at}, nil
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "read the bulk log", err)
	}
	return nil, nil
}

// gzipWriters are the bulk log's compressors: a new one allocates over a megabyte.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error
	return zw
}}

func unpackOutcomes(blob []byte) ([]RecordOutcome, error) {
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	var outs []RecordOutcome
	if err := json.Unmarshal(b, &outs); err != nil {
		return nil, err
	}
	return outs, nil
}
