package pairs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/ncruces/go-sqlite3"
	// The SQLite database/sql driver, by the name "sqlite3".
	_ "github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/vfs/memdb"

	"tandem/definition"
)

// Open opens the link store dsn names and creates its tables when they are missing (it is
// safe to open a store many times, from many processes). Two backends are built in:
//
//   - PostgreSQL, when dsn is a postgres:// or postgresql:// URL or a key=value string
//     (host=... dbname=...). The tables live in their own schema, tandem_links, so they
//     never collide with other tables of the database; the role needs CREATE on the
//     database the first time (or a DBA creates the schema and tables beforehand). The
//     DSN usually holds a password: errors never quote it. Production sets
//     TANDEM_LINKS_DSN to such a URL.
//   - SQLite otherwise: dsn is a file path (not a file: URI), created on first use with
//     its parent directory (mode 0600 and 0750: the links hold record values). The
//     worker's default is .tandem/links.db under its data directory. The file is in WAL
//     mode with a busy timeout, so another process reading or writing it waits rather
//     than fails. The store writes through one connection, which queues the worker's
//     concurrent writes, and reads through a pool of read-only connections of its own
//     beside it. ":memory:" is a store private to the process, lost on Close (tests), and
//     reads through its one connection.
//
// Both keep times in UTC to the microsecond (finer digits are truncated) and Values as
// JSON text; see OpenSQLite and OpenPostgres for the details.
func Open(dsn string) (Store, error) {
	if isPostgresDSN(dsn) {
		return OpenPostgres(dsn)
	}
	return OpenSQLite(dsn)
}

// pgKeyValue matches the keys of a libpq key=value connection string that a file path
// would hardly hold.
var pgKeyValue = regexp.MustCompile(`(^|\s)(host|hostaddr|dbname|user|port|sslmode|service)=`)

// isPostgresDSN tells a PostgreSQL DSN from a SQLite file path.
func isPostgresDSN(dsn string) bool {
	lower := strings.ToLower(strings.TrimSpace(dsn))
	return strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") ||
		pgKeyValue.MatchString(dsn)
}

// openTimeout bounds each step of the schema set-up of Open, which has no context (but
// the move to sync numbers, numberSyncs).
var openTimeout = 30 * time.Second

// busyTimeout is how long a SQLite connection waits for another process's lock before its
// statement fails as busy (the busy_timeout pragma).
var busyTimeout = 10 * time.Second

// openLockWait is how long Open waits, one busy timeout after another, for a write lock
// another process holds on the file: a worker of a newer version that moves a store to
// sync numbers (numberSyncs) holds it while it copies every link, longer than one busy
// timeout for a store of millions of links.
var openLockWait = 10 * time.Minute

// onOpenLocked, when set (by tests), is called each time a step of Open finds the file
// locked and waits again; onMove when numberSyncs is about to move the links.
var onOpenLocked, onMove func()

// untilUnlocked runs step, again while it fails because another process holds the file's
// write lock (each attempt has waited a busy timeout already), for up to openLockWait.
func untilUnlocked(step func() error) error {
	start := time.Now()
	for {
		err := step()
		if err == nil || !errors.Is(err, sqlite3.BUSY) {
			return err
		}
		if time.Since(start) >= openLockWait {
			return fmt.Errorf("%w: another process has held the file's write lock for over %s (a worker of a newer version moving the links to a new layout takes a while for millions of links; once it is done or stopped, this one opens the file)", err, openLockWait)
		}
		if onOpenLocked != nil {
			onOpenLocked()
		}
	}
}

// OpenSQLite opens (creating when missing) the SQLite link store in the file at path, or a
// private in-memory one for ":memory:". Times are stored as fixed-width RFC 3339 text in
// UTC with six fractional digits ("2006-01-02T15:04:05.000000Z"), which sorts in time order.
func OpenSQLite(path string) (Store, error) {
	if path == "" {
		return nil, errors.New("link store (sqlite): no file path")
	}
	// busy_timeout: how long (ms) a connection waits for another process's lock.
	// _txlock: a transaction takes the write lock when it first writes (BEGIN DEFERRED), as
	// with the earlier driver (this one begins IMMEDIATE by default on a connection that
	// may write): a transaction that only reads never waits for the writer.
	// page_size: the pages of a new database (an existing file keeps its own; see
	// sqlitePageSize).
	pragmas := "?_txlock=deferred&_pragma=busy_timeout(" + strconv.FormatInt(busyTimeout.Milliseconds(), 10) + ")" +
		"&_pragma=page_size(" + strconv.Itoa(sqlitePageSize) + ")"
	var dsn, memory string
	if path == ":memory:" {
		// A database of the memdb VFS, which lives until Close deletes it: database/sql
		// closes a connection whose transaction's context ends (this driver cannot reset
		// one), and a plain in-memory database would go with its one connection.
		memory = "tandem-links-" + rand.Text()
		memdb.Create(memory, nil)
		dsn = "file:/" + memory + pragmas + "&vfs=memdb"
	} else {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("link store (sqlite): %s: %w", path, err)
		}
		if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
			return nil, fmt.Errorf("link store (sqlite): create the directory of %s: %w", path, err)
		}
		// Created here, rather than by SQLite, to keep it private (SQLite gives its -wal and
		// -shm files the same mode).
		f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("link store (sqlite): %w", err)
		}
		_ = f.Close()
		// A file: URI, so that no character of the path is taken for a parameter; SQLite
		// decodes %XX escapes in it.
		uriPath := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
		if !strings.HasPrefix(uriPath, "/") {
			uriPath = "/" + uriPath // C:/x on Windows
		}
		dsn = "file:" + uriPath + pragmas + "&_pragma=journal_mode(WAL)"
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		if memory != "" {
			memdb.Delete(memory)
		}
		return nil, fmt.Errorf("link store (sqlite): open %s: %w", path, err)
	}
	// One connection: SQLite lets one writer in at a time, and an in-memory database lives
	// as long as its connection. database/sql keeps the idle connection open.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s := &sqlStore{db: db, rdb: db, memory: memory, kind: "sqlite", table: "links", deletes: "deletes", failed: "failed", bulkLog: "bulk_log", chunk: 500,
		numbers: map[string]int64{}}
	// Each step that writes waits out another process's write lock (untilUnlocked).
	exec := func(stmt string) error {
		return untilUnlocked(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
			defer cancel()
			_, err := db.ExecContext(ctx, stmt)
			return err
		})
	}
	for _, stmt := range sqliteSchema {
		if err := exec(stmt); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("link store (sqlite): create the tables in %s: %w", path, err)
		}
	}
	// Each read has a time limit of its own too: the steps before it may wait long.
	read := func(query string, dest any) error {
		ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
		defer cancel()
		return db.QueryRowContext(ctx, query).Scan(dest)
	}
	var hasGone int
	if err := read(`SELECT COUNT(*) FROM pragma_table_info('links') WHERE name = 'gone'`, &hasGone); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("link store (sqlite): read the columns of %s: %w", path, err)
	}
	if hasGone == 0 {
		if err := exec(sqliteGone); err != nil && !strings.Contains(err.Error(), "duplicate column") {
			// (Another process may have added it while this one waited for its lock.)
			_ = db.Close()
			return nil, fmt.Errorf("link store (sqlite): add the gone column in %s: %w", path, err)
		}
	}
	// Without Open's time limit: the move copies every link (3,000,000 links, 930 MB, took
	// 14 s on dev-2c), and a move cut short would start again at every open.
	if err := untilUnlocked(func() error { return numberSyncs(context.Background(), db) }); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("link store (sqlite): number the syncs of the links in %s (once, for a store made before Tandem numbered them): %w", path, err)
	}
	var gen int64
	if err := read(`SELECT n FROM counters WHERE name = 'links'`, &gen); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("link store (sqlite): read the links' generation in %s: %w", path, err)
	}
	s.cache = newLinkCache(gen)
	s.hits.New = func() any { return new([]cacheHit) }
	if path != ":memory:" {
		if s.rdb, err = sql.Open("sqlite3", dsn+"&_pragma=query_only(1)"); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("link store (sqlite): open %s to read: %w", path, err)
		}
		s.rdb.SetMaxOpenConns(readConns)
		s.rdb.SetMaxIdleConns(readConns)
	}
	return s, nil
}

// sqlitePageSize is the page size of a new SQLite store, in bytes: 16 KiB rather than
// SQLite's 4. A save writes each page it touched once, and a link lands in a page of the
// table and of both its indexes: with more links a page, a save of links read in no
// order of their ids (a CRM read by last change) or of many fields touches fewer pages
// (BenchmarkSaveTransactions, BenchmarkSaveFloor: BENCHMARKS.md). A file made with
// another page size keeps it (changing it would take a VACUUM out of WAL mode).
const sqlitePageSize = 16384

// readConns is how many connections of a SQLite file's store read at once.
const readConns = 2

var sqliteSchema = []string{
	// A sync's links hold the number this table gives its name, not the name: a name such
	// as salesforce-accounts-to-netsuite-customers would be kept three times a link (the
	// row and both unique indexes) and compared at every step of every index search.
	`CREATE TABLE IF NOT EXISTS syncs (n INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`,
	sqliteLinks("links"),
	`CREATE INDEX IF NOT EXISTS links_held ON links (sync, held_until) WHERE held_until IS NOT NULL`,
	`CREATE TABLE IF NOT EXISTS deletes (
		sync TEXT NOT NULL,
		side TEXT NOT NULL,
		id TEXT NOT NULL,
		"key" TEXT NOT NULL DEFAULT '',
		partner_id TEXT NOT NULL DEFAULT '',
		deleted_at TEXT,
		how TEXT NOT NULL DEFAULT '',
		detected_at TEXT,
		PRIMARY KEY (sync, side, id)
	)`,
	sqliteFailed,
	`CREATE INDEX IF NOT EXISTS failed_latest ON failed (sync, last_at)`,
	sqliteBulkLog,
	sqliteBulkLogIndex,
	// The links' generation: every transaction that changes links adds one (linkcache.go).
	`CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL)`,
	`INSERT OR IGNORE INTO counters (name, n) VALUES ('links', 0)`,
}

// sqliteLinks is the SQLite table of links, named name: sync is the sync's number in
// the syncs table.
func sqliteLinks(name string) string {
	return `CREATE TABLE IF NOT EXISTS ` + name + ` (
		sync INTEGER NOT NULL,
		a_id TEXT NOT NULL,
		b_id TEXT NOT NULL,
		"key" TEXT NOT NULL DEFAULT '',
		a_values TEXT,
		a_fp TEXT NOT NULL DEFAULT '',
		a_wrote_at TEXT,
		b_values TEXT,
		b_fp TEXT NOT NULL DEFAULT '',
		b_wrote_at TEXT,
		held_until TEXT,
		held_reason TEXT NOT NULL DEFAULT '',
		decision TEXT NOT NULL DEFAULT '',
		misreads INTEGER NOT NULL DEFAULT 0,
		synced_at TEXT,
		gone TEXT NOT NULL DEFAULT '',
		PRIMARY KEY (sync, a_id),
		UNIQUE (sync, b_id),
		-- A worker from before the numbers would save a name here: it fails instead of
		-- linking a record a second time beside its numbered link.
		CHECK (typeof(sync) = 'integer')
	)`
}

// sqliteSyncNumber is what a SQLite statement compares the links' sync column with, for
// the sync named by its parameter ph.
func sqliteSyncNumber(ph string) string { return `(SELECT n FROM syncs WHERE name = ` + ph + `)` }

// linksGeneration reads the links' generation and whether sync (its one parameter) has
// any link, in one statement.
var linksGeneration = `SELECT n, EXISTS (SELECT 1 FROM links WHERE sync = ` + sqliteSyncNumber("?") + `) FROM counters WHERE name = 'links'`

// sqliteNumberSyncs turns the links of a store made before the syncs table (each holding
// its sync's name) into links holding their sync's number: a new table, the rows copied,
// the old one dropped. The caller runs it in a transaction that holds the write lock, and
// only after reading in it that the links' sync column is still text.
var sqliteNumberSyncs = []string{
	`INSERT OR IGNORE INTO syncs (name) SELECT DISTINCT sync FROM links ORDER BY sync`,
	sqliteLinks("links_numbered"),
	`INSERT INTO links_numbered (` + insertColumns + `) SELECT ` + sqliteSyncNumber("links.sync") + `, ` +
		strings.TrimPrefix(insertColumns, "sync, ") + ` FROM links`,
	`DROP TABLE links`,
	`ALTER TABLE links_numbered RENAME TO links`,
	`CREATE INDEX IF NOT EXISTS links_held ON links (sync, held_until) WHERE held_until IS NOT NULL`,
	`UPDATE counters SET n = n + 1 WHERE name = 'links'`,
}

// bumpGeneration adds one to the links' generation, in a SQLite transaction that changes
// links, and returns the new number.
const bumpGeneration = `UPDATE counters SET n = n + 1 WHERE name = 'links' RETURNING n`

// sqliteGone adds the links' gone column to a store made before deletes (issue 15).
const sqliteGone = `ALTER TABLE links ADD COLUMN gone TEXT NOT NULL DEFAULT ''`

// pgSchemaName is the PostgreSQL schema of the link store's tables.
const pgSchemaName = "tandem_links"

// pgLockClass is the first key of the advisory locks the store takes (the second is 0 for
// the schema set-up and a hash of the sync for Save): "tand".
const pgLockClass = 0x74616e64

var pgSchema = []string{
	`CREATE SCHEMA IF NOT EXISTS ` + pgSchemaName,
	// COLLATE "C": ids compare and sort byte by byte, as in Go and SQLite.
	`CREATE TABLE IF NOT EXISTS ` + pgSchemaName + `.links (
		sync TEXT COLLATE "C" NOT NULL,
		a_id TEXT COLLATE "C" NOT NULL,
		b_id TEXT COLLATE "C" NOT NULL,
		"key" TEXT NOT NULL DEFAULT '',
		a_values TEXT,
		a_fp TEXT NOT NULL DEFAULT '',
		a_wrote_at TIMESTAMPTZ,
		b_values TEXT,
		b_fp TEXT NOT NULL DEFAULT '',
		b_wrote_at TIMESTAMPTZ,
		held_until TIMESTAMPTZ,
		held_reason TEXT NOT NULL DEFAULT '',
		decision TEXT NOT NULL DEFAULT '',
		misreads INTEGER NOT NULL DEFAULT 0,
		synced_at TIMESTAMPTZ,
		PRIMARY KEY (sync, a_id),
		UNIQUE (sync, b_id)
	)`,
	`CREATE INDEX IF NOT EXISTS links_held ON ` + pgSchemaName + `.links (sync, held_until) WHERE held_until IS NOT NULL`,
	// Added by deletes (issue 15); a store made before gets it here.
	`ALTER TABLE ` + pgSchemaName + `.links ADD COLUMN IF NOT EXISTS gone TEXT NOT NULL DEFAULT ''`,
	`CREATE TABLE IF NOT EXISTS ` + pgSchemaName + `.deletes (
		sync TEXT COLLATE "C" NOT NULL,
		side TEXT COLLATE "C" NOT NULL,
		id TEXT COLLATE "C" NOT NULL,
		"key" TEXT NOT NULL DEFAULT '',
		partner_id TEXT NOT NULL DEFAULT '',
		deleted_at TIMESTAMPTZ,
		how TEXT NOT NULL DEFAULT '',
		detected_at TIMESTAMPTZ,
		PRIMARY KEY (sync, side, id)
	)`,
	// Added by retries of rejected records (issue 18); a store made before gets it here.
	pgFailed,
	`CREATE INDEX IF NOT EXISTS failed_latest ON ` + pgSchemaName + `.failed (sync, last_at)`,
	pgBulkLog,
	pgBulkLogIndex,
}

// OpenPostgres opens the PostgreSQL link store dsn names (a postgres:// URL or a key=value
// string) and creates the schema tandem_links and its tables when they are missing. It
// connects to do so, so an unreachable server is an error here. Times are TIMESTAMPTZ.
// Errors never quote dsn.
func OpenPostgres(dsn string) (Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// Not wrapped: pgx's message quotes the DSN, and its password is redacted only
		// when the URL parses.
		return nil, errors.New("link store (postgres): the DSN does not parse (not shown: it may hold a password)")
	}
	// The INSERTs of Save differ in their number of rows: pgx's default mode would keep a
	// prepared statement on the server for each (up to 512 per connection, some of 14,000
	// parameters). This mode keeps only their parameter types, on the client.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &sqlStore{db: db, rdb: db, pg: true, kind: "postgres", table: pgSchemaName + ".links", deletes: pgSchemaName + ".deletes", failed: pgSchemaName + ".failed", bulkLog: pgSchemaName + ".bulk_log", chunk: 10000}
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	if err := s.createPGSchema(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// createPGSchema creates what is missing of the schema, under an advisory lock (two
// concurrent CREATE ... IF NOT EXISTS may otherwise collide). Nothing is created when
// everything exists, so a role without CREATE privilege can use tables a DBA made.
func (s *sqlStore) createPGSchema(ctx context.Context) error {
	var ready bool
	err := s.db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL
		AND to_regclass($5) IS NOT NULL AND to_regclass($6) IS NOT NULL
		AND to_regclass($7) IS NOT NULL AND to_regclass($8) IS NOT NULL
		AND EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = $4 AND table_name = 'links' AND column_name = 'gone')`,
		pgSchemaName+".links", pgSchemaName+".links_held", pgSchemaName+".deletes", pgSchemaName,
		pgSchemaName+".failed", pgSchemaName+".failed_latest", pgSchemaName+".bulk_log", pgSchemaName+".bulk_log_at").Scan(&ready)
	if err != nil {
		return s.fail(ctx, "connect", err)
	}
	if ready {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, "create the tables", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, int32(pgLockClass)); err != nil {
		return s.fail(ctx, "create the tables", err)
	}
	for _, stmt := range pgSchema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return s.fail(ctx, "create the tables", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, "create the tables", err)
	}
	return nil
}

// sqlStore is the Store of both backends: the SQL text is the same but for the id lists
// (IN lists for SQLite, arrays for PostgreSQL), the placeholders of long statements (see
// ph), the table name and the time values.
type sqlStore struct {
	db *sql.DB
	// rdb reads: db itself but for a SQLite file, where it is a pool of its own whose
	// connections only read, so that a look-up runs while a Save's transaction holds db's
	// one connection (WAL lets readers in beside the writer; they see what was committed).
	rdb *sql.DB
	// pg is true for PostgreSQL.
	pg bool
	// memory names the memdb database of an in-memory SQLite store, which Close deletes.
	memory string
	// kind is "sqlite" or "postgres", for errors.
	kind string
	// table is the links table's name, schema-qualified for PostgreSQL; deletes the
	// pending deletes', failed the remembered failures'.
	table, deletes, failed, bulkLog string
	// chunk is the most ids of one statement's id list.
	chunk int
	// cache holds what Glance reads of the links this process saved (SQLite; see
	// linkcache.go). Nil for PostgreSQL, whose store many workers share.
	cache *linkCache
	// hits are buffers for the links a Glance finds in the cache (*[]cacheHit).
	hits sync.Pool
	// numbers are the syncs' numbers in a SQLite store's syncs table, as read.
	numbersMu sync.Mutex
	numbers   map[string]int64
}

var _ Store = (*sqlStore)(nil)

// fail says what the store failed to do, and why: ctx's error first when ctx ended (cause).
func (s *sqlStore) fail(ctx context.Context, what string, err error) error {
	return fmt.Errorf("link store (%s): %s: %w", s.kind, what, cause(ctx, err))
}

// linkColumns are the columns a link is read from, in query's order.
const linkColumns = `"key", a_id, a_values, a_fp, a_wrote_at, b_id, b_values, b_fp, b_wrote_at, held_until, held_reason, decision, misreads, synced_at, gone`

// glanceColumns are what Glance reads of a link, in glance's order: the ids, the
// fingerprints and what tells a settled pair (write times, misreads, hold, gone).
const glanceColumns = `a_id, a_fp, a_wrote_at, b_id, b_fp, b_wrote_at, held_until, misreads, gone`

// insertColumns are the columns a link is written to: sync, then writeLink's.
const insertColumns = `sync, "key", a_id, a_values, a_fp, a_wrote_at, b_id, b_values, b_fp, b_wrote_at, held_until, held_reason, decision, misreads, synced_at, gone`

// insertArgs is how many parameters a row of an INSERT has.
const insertArgs = 16

func sideColumn(side Side) (string, error) {
	switch side {
	case "a":
		return "a_id", nil
	case "b":
		return "b_id", nil
	}
	return "", fmt.Errorf("link store: side %q is neither a nor b", side)
}

// syncIs is the condition that a link is sync's, for the sync named by parameter ph: the
// name itself in PostgreSQL, the number the syncs table gives it in SQLite.
func (s *sqlStore) syncIs(ph string) string {
	if s.pg {
		return "sync = " + ph
	}
	return "sync = " + sqliteSyncNumber(ph)
}

// syncNumber returns the number the syncs table of a SQLite store gives sync, giving it
// one the first time (a write only then). A number never changes, so the store reads each
// once.
func (s *sqlStore) syncNumber(ctx context.Context, sync string) (int64, error) {
	s.numbersMu.Lock()
	n, ok := s.numbers[sync]
	s.numbersMu.Unlock()
	if ok {
		return n, nil
	}
	const read = `SELECT n FROM syncs WHERE name = ?`
	err := s.rdb.QueryRowContext(ctx, read, sync).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err = s.db.ExecContext(ctx, `INSERT OR IGNORE INTO syncs (name) VALUES (?)`, sync); err == nil {
			err = s.db.QueryRowContext(ctx, read, sync).Scan(&n)
		}
	}
	if err != nil {
		return 0, err
	}
	s.numbersMu.Lock()
	s.numbers[sync] = n
	s.numbersMu.Unlock()
	return n, nil
}

// ph is the placeholder of the nth parameter of a statement whose parameters all appear
// once, in order: $n for PostgreSQL, ? for SQLite.
func (s *sqlStore) ph(n int) string {
	if s.pg {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// idMatch returns the condition that col is one of ids, its parameters numbered from n.
func (s *sqlStore) idMatch(col string, n int, ids []string) (string, []any) {
	if s.pg {
		// An id PostgreSQL's text cannot hold is in no row: it is left out, rather than
		// fail the whole statement.
		if slices.ContainsFunc(ids, notPGText) {
			ids = slices.DeleteFunc(slices.Clone(ids), notPGText)
		}
		return col + " = ANY(" + s.ph(n) + ")", []any{ids}
	}
	// One parameter, a JSON array: the statement's text is the same for any number of ids,
	// and no list runs into SQLite's limit on parameters (32,766).
	if slices.ContainsFunc(ids, func(id string) bool { return !utf8.ValidString(id) }) {
		// JSON has no form for such bytes (encoding/json writes U+FFFD): the ids go in
		// hexadecimal, and back to their bytes as text, which compares them as the column
		// keeps them.
		hexed := make([]string, len(ids))
		for i, id := range ids {
			hexed[i] = hex.EncodeToString([]byte(id))
		}
		list, _ := json.Marshal(hexed)
		return col + " IN (SELECT CAST(unhex(value) AS TEXT) FROM json_each(" + s.ph(n) + "))", []any{string(list)}
	}
	list, _ := json.Marshal(ids) // valid UTF-8: each marshals as itself
	return col + " IN (SELECT value FROM json_each(" + s.ph(n) + "))", []any{string(list)}
}

// notPGText says whether PostgreSQL's text cannot hold s: it is not UTF-8, or holds a
// NUL byte (SQLite keeps either).
func notPGText(s string) bool { return !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 }

// pgTextID checks, for a PostgreSQL store (pg), that record id of side can be kept in
// PostgreSQL's text; what names the write in the error.
func pgTextID(pg bool, what string, side Side, id string) error {
	if pg && notPGText(id) {
		return fmt.Errorf("link store (postgresql): %s: the id %q of a record of side %s is not UTF-8 text or holds a NUL byte, which PostgreSQL's text columns cannot keep", what, id, side)
	}
	return nil
}

// probe is the PostgreSQL subquery that reads columns of sync $1's link whose col is i.id,
// for a LATERAL join over a list of ids i: one probe of the (sync, col) index per id.
// "col = ANY($2)" lets the planner scan all of the sync's links and filter them, which it
// prices lower than 500 probes until the table is large (random_page_cost 4): at 50,000
// links a look-up of 500 took 13 ms, and grew with the table. The LIMIT keeps the
// subquery from being flattened into a join the planner could hash.
func (s *sqlStore) probe(columns, col string) string {
	return `SELECT ` + columns + ` FROM ` + s.table + ` WHERE sync = $1 AND ` + col + ` = i.id LIMIT 1`
}

// chunks splits ids into lists of at most n.
func chunks(ids []string, n int) [][]string {
	var out [][]string
	for len(ids) > n {
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// Get implements Store. Of the ids the cache answers for, only those with a link are
// read.
func (s *sqlStore) Get(ctx context.Context, sync string, side Side, ids []string) (map[string]Link, error) {
	if s.cache == nil || len(ids) == 0 {
		return s.get(ctx, s.rdb, "get", linkColumns, scanLink, sync, side, ids)
	}
	// The cache keeps no values: the links it holds are read whole from the file.
	out, err := s.lookUp(ctx, "get", linkColumns, scanLink, sync, side, ids, func(int, Indexed[cachedLink]) bool { return true })
	if out == nil && err == nil {
		out = map[string]Link{}
	}
	return out, err
}

// Glance implements Store: from the cache what it answers for, the rest from the file.
// The cache's links are gathered under its lock (in a buffer kept for the next look-up)
// and given to each after it.
func (s *sqlStore) Glance(ctx context.Context, sync string, side Side, ids []string, each func(i int, l *Link)) error {
	var read map[string]Link
	var err error
	if s.cache == nil || len(ids) == 0 {
		read, err = s.get(ctx, s.rdb, "glance", glanceColumns, scanGlance, sync, side, ids)
	} else {
		hits := s.hits.Get().(*[]cacheHit)
		defer func() { *hits = (*hits)[:0]; s.hits.Put(hits) }()
		read, err = s.lookUp(ctx, "glance", glanceColumns, scanGlance, sync, side, ids, func(i int, e Indexed[cachedLink]) bool {
			*hits = append(*hits, cacheHit{i, e})
			return false
		})
		if err != nil {
			return err
		}
		var l Link // one for all: each has it during its call only
		for _, h := range *hits {
			l = glancedLink(h.e)
			each(h.i, &l)
		}
	}
	if err != nil || len(read) == 0 {
		return err
	}
	var l Link
	for i, id := range ids {
		var ok bool
		if l, ok = read[id]; ok {
			each(i, &l)
		}
	}
	return nil
}

// cacheHit is a link the cache holds, and its id's place in a look-up's ids.
type cacheHit struct {
	i int
	e Indexed[cachedLink]
}

// lookUp reads the links of sync whose record on side has one of ids through the cache
// (linkcache.go), in one read transaction of the file: the links' generation and whether
// sync has any, then what the cache cannot answer for, from one snapshot. hit is given
// each link the cache holds, by its id's place in ids (under the cache's lock), and says
// whether that link is read from the file too. The links read from the file are returned
// by id.
func (s *sqlStore) lookUp(ctx context.Context, what, columns string, scan func(*sql.Rows, *Link) error,
	sync string, side Side, ids []string, hit func(i int, e Indexed[cachedLink]) (fromFile bool)) (map[string]Link, error) {
	if _, err := sideColumn(side); err != nil {
		return nil, err
	}
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.fail(ctx, what, err)
	}
	defer func() { _ = tx.Rollback() }() // it only read
	var gen int64
	var exists bool
	if err := tx.QueryRowContext(ctx, linksGeneration, sync).Scan(&gen, &exists); err != nil {
		return nil, s.fail(ctx, what, err)
	}
	var again []string
	unknown := s.cache.split(sync, side, ids, gen, exists, func(i int, e Indexed[cachedLink]) {
		if hit(i, e) {
			again = append(again, ids[i])
		}
	})
	unknown = append(unknown, again...)
	if len(unknown) == 0 {
		if err := ctx.Err(); err != nil {
			return nil, s.fail(ctx, what, err)
		}
		return nil, nil
	}
	return s.get(ctx, tx, what, columns, scan, sync, side, unknown)
}

// querier runs a query: the store's read pool, or a transaction of it.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// get reads columns of the links of sync whose record on side has one of ids, by that id,
// with scan: linkColumns with scanLink, or glanceColumns with scanGlance.
func (s *sqlStore) get(ctx context.Context, q querier, what, columns string, scan func(*sql.Rows, *Link) error,
	sync string, side Side, ids []string) (map[string]Link, error) {
	col, err := sideColumn(side)
	if err != nil {
		return nil, err
	}
	out := make(map[string]Link, len(ids))
	if err := ctx.Err(); err != nil {
		return nil, s.fail(ctx, what, err)
	}
	add := func(l Link) { out[l.B.ID] = l }
	if side == "a" {
		add = func(l Link) { out[l.A.ID] = l }
	}
	for _, part := range chunks(ids, s.chunk) {
		cond, args := s.idMatch(col, 2, part)
		query := `SELECT ` + columns + ` FROM ` + s.table + ` WHERE ` + s.syncIs(s.ph(1)) + ` AND ` + cond
		if s.pg {
			query = `SELECT l.* FROM unnest($2::text[]) AS i(id) CROSS JOIN LATERAL (` + s.probe(columns, col) + `) AS l`
		}
		if err := s.each(ctx, q, what, scan, add, query, append([]any{sync}, args...)...); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Save implements Store. It is one transaction that leaves what saving links one after
// the other would: a link replaces the earlier ones that share a record with it, and those
// are gone even when a later link replaces it in turn (a1-b1, a2-b1, a2-b2 leaves a2-b2
// alone). SQLite inserts them in order with OR REPLACE, which deletes the rows a link's
// side a or side b id collides with (the primary key and the unique b_id) as it inserts:
// the probe of those keys an INSERT makes anyway. PostgreSQL (whose ON CONFLICT names one
// constraint) deletes every link of sync holding a record of links, then inserts those
// left of links when saved one after the other (dedupe).
func (s *sqlStore) Save(ctx context.Context, sync string, links []Link) error {
	if len(links) == 0 {
		if err := ctx.Err(); err != nil {
			return s.fail(ctx, "save", err)
		}
		return nil
	}
	if !s.pg {
		n, err := s.syncNumber(ctx, sync)
		if err != nil {
			return s.fail(ctx, "save: number the sync", err)
		}
		return s.saveSQLite(ctx, sync, n, links)
	}
	saved := dedupe(links)
	rows := make([][]any, 0, len(saved))
	var scratch []byte
	for _, l := range saved {
		var args linkArgs
		if err := writeLink(l, true, &scratch, &args); err != nil {
			return err
		}
		rows = append(rows, args.args)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, "save", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := s.pgReplaced(ctx, tx, sync, links); err != nil {
		return err
	}
	if err := s.insert(ctx, tx, sync, rows); err != nil {
		return s.fail(ctx, "save: insert", err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, "save: commit", err)
	}
	return nil
}

// cause puts ctx's error first when ctx ended: a statement cut by it fails with what the
// driver saw (SQLite's "interrupted", a transaction database/sql rolled back fails its next
// statement with sql.ErrTxDone, a PostgreSQL connection closed mid-statement with
// driver.ErrBadConn), which would hide why.
func cause(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}

// pgReplaced deletes, in a PostgreSQL Save's transaction, the links of sync that hold a
// side a or side b record of links: every record of the batch, kept link or not (saving
// them one by one would have removed their earlier links too).
func (s *sqlStore) pgReplaced(ctx context.Context, tx *sql.Tx, sync string, links []Link) error {
	// Saves of one sync take turns: two concurrent delete-then-insert transactions of one
	// record would otherwise both delete, then one insert fail on the other's row.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, int32(pgLockClass), syncLockKey(sync)); err != nil {
		return s.fail(ctx, "save: lock the sync", err)
	}
	aIDs, bIDs := make([]string, 0, len(links)), make([]string, 0, len(links))
	seenA, seenB := make(map[string]bool, len(links)), make(map[string]bool, len(links))
	for _, l := range links {
		if !seenA[l.A.ID] {
			seenA[l.A.ID] = true
			aIDs = append(aIDs, l.A.ID)
		}
		if !seenB[l.B.ID] {
			seenB[l.B.ID] = true
			bIDs = append(bIDs, l.B.ID)
		}
	}
	// The rows by their key, each probed (see probe), then deleted by row address.
	if _, err := tx.ExecContext(ctx, `DELETE FROM `+s.table+` WHERE ctid = ANY(ARRAY(
		SELECT l.ctid FROM unnest($2::text[]) AS i(id) CROSS JOIN LATERAL (`+s.probe("ctid", "a_id")+`) AS l
		UNION SELECT l.ctid FROM unnest($3::text[]) AS i(id) CROSS JOIN LATERAL (`+s.probe("ctid", "b_id")+`) AS l))`,
		sync, aIDs, bIDs); err != nil {
		return s.fail(ctx, "save: delete the replaced links", err)
	}
	return nil
}

// pgInsertRows is the most links of one PostgreSQL INSERT: 16,000 parameters (it takes up
// to 65,535).
const pgInsertRows = 1000

// saveSQLite writes links of sync, whose number is number, in one transaction of the
// SQLite store's writer: one prepared row at a time (SQLite runs in this process, so a
// statement costs no trip). It talks to the driver's SQLite connection directly
// (database/sql's Conn.Raw) and binds each column in place (writeLink to a linkBinds):
// database/sql would take each row as a slice of its own, every value boxed, and watch
// ctx for every statement. ctx is checked between rows instead, and the transaction rolled
// back when it ends.
func (s *sqlStore) saveSQLite(ctx context.Context, sync string, number int64, links []Link) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return s.fail(ctx, "save", err)
	}
	defer func() { _ = conn.Close() }()
	stage := "save"
	err = conn.Raw(func(dc any) (err error) {
		rc, ok := dc.(interface{ Raw() *sqlite3.Conn })
		if !ok {
			return fmt.Errorf("the SQLite driver's connection (%T) gives no SQLite connection", dc)
		}
		c := rc.Raw()
		if err := c.Exec("BEGIN"); err != nil {
			return err
		}
		committed := false
		defer func() {
			if !committed {
				_ = rollbackSave(c)
				if !c.GetAutocommit() {
					// Still in the transaction (the ROLLBACK failed): the connection must
					// not go back to the pool, whose next user would find it open.
					err = errors.Join(err, driver.ErrBadConn)
				}
			}
		}()
		stage = "save: insert"
		st, _, err := c.Prepare(`INSERT OR REPLACE INTO ` + s.table + ` (` + insertColumns + `) VALUES (?` + strings.Repeat(",?", insertArgs-1) + `)`)
		if err != nil {
			return err
		}
		defer func() { _ = st.Close() }()
		if err := st.BindInt64(1, number); err != nil {
			return err
		}
		binds := linkBinds{st: st}
		var scratch []byte
		for i, l := range links {
			if i%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			binds.n = 1 // the sync's, bound once
			if err := writeLink(l, false, &scratch, &binds); err != nil {
				return err
			}
			if err := st.Exec(); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		stage = "save: count the generation"
		gen, err := rawGeneration(c)
		if err != nil {
			return err
		}
		stage = "save: commit"
		if err := s.cache.commit(gen, func() error { return c.Exec("COMMIT") }, func() { s.cache.saved(sync, links) }); err != nil {
			return err // the deferred ROLLBACK ends it: a failed COMMIT (SQLITE_BUSY) leaves it open
		}
		committed = true
		return nil
	})
	if err != nil {
		return s.fail(ctx, stage, err)
	}
	return nil
}

// rollbackSave ends a SQLite save's transaction that did not commit (tests make it fail).
var rollbackSave = func(c *sqlite3.Conn) error { return c.Exec("ROLLBACK") }

// rawGeneration adds one to the links' generation through c, a SQLite connection in a
// transaction, and returns the new number.
func rawGeneration(c *sqlite3.Conn) (int64, error) {
	st, _, err := c.Prepare(bumpGeneration)
	if err != nil {
		return 0, err
	}
	defer func() { _ = st.Close() }()
	if !st.Step() {
		if err := st.Err(); err != nil {
			return 0, err
		}
		return 0, errors.New("no generation row")
	}
	return st.ColumnInt64(0), nil
}

// insert writes rows (linkArgs's) as links of sync, pgInsertRows to a statement
// (PostgreSQL; SQLite saves with saveSQLite).
func (s *sqlStore) insert(ctx context.Context, tx *sql.Tx, sync string, rows [][]any) error {
	row := func(first int) string {
		var b strings.Builder
		b.WriteByte('(')
		for j := range insertArgs {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(s.ph(first + j))
		}
		b.WriteByte(')')
		return b.String()
	}
	for len(rows) > 0 {
		n := min(len(rows), pgInsertRows)
		values := make([]string, n)
		args := make([]any, 0, n*insertArgs)
		for i, r := range rows[:n] {
			values[i] = row(len(args) + 1)
			args = append(append(args, sync), r...)
		}
		q := `INSERT INTO ` + s.table + ` (` + insertColumns + `) VALUES ` + strings.Join(values, ",")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// syncLockKey is the second key of a sync's advisory lock.
func syncLockKey(sync string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(sync))
	return int32(h.Sum32())
}

// dedupe returns what is left of links saved one after the other: each link removes the
// earlier ones holding its side a or side b record. The order is kept.
func dedupe(links []Link) []Link {
	byA := make(map[string]int, len(links))
	byB := make(map[string]int, len(links))
	alive := make([]bool, len(links))
	for i, l := range links {
		if j, ok := byA[l.A.ID]; ok {
			alive[j] = false
			delete(byB, links[j].B.ID)
		}
		if j, ok := byB[l.B.ID]; ok {
			alive[j] = false
			delete(byA, links[j].A.ID)
		}
		byA[l.A.ID], byB[l.B.ID], alive[i] = i, i, true
	}
	out := make([]Link, 0, len(byA))
	for i, l := range links {
		if alive[i] {
			out = append(out, l)
		}
	}
	return out
}

// timeTexts formats times as SQLite keeps them, the last one kept: a batch's links share
// their write and sync times (a page's).
type timeTexts struct {
	t time.Time
	s string
}

func (tt *timeTexts) format(t time.Time) string {
	if tt.s == "" || !t.Equal(tt.t) {
		tt.t, tt.s = t, t.Format(sqliteTimeLayout)
	}
	return tt.s
}

// A linkSink takes the values of a link's columns, in insertColumns's order after sync,
// from writeLink.
type linkSink interface {
	text(v string) error
	// json takes values encoded as JSON, nil for NULL: the bytes are good until the next
	// call only.
	json(v []byte) error
	// time takes a time in UTC to the microsecond, the zero time for NULL.
	time(v time.Time) error
	int(v int64) error
}

// writeLink checks l and gives the values of its columns to w, its values encoded in
// scratch (which the links of a save share).
func writeLink(l Link, pg bool, scratch *[]byte, w linkSink) error {
	if l.A.ID == "" || l.B.ID == "" {
		return fmt.Errorf("link store: a link needs the ids of both records (a %q, b %q)", l.A.ID, l.B.ID)
	}
	if err := pgTextID(pg, "save", "a", l.A.ID); err != nil {
		return err
	}
	if err := pgTextID(pg, "save", "b", l.B.ID); err != nil {
		return err
	}
	var err error
	keep := func(e error) { // the first error
		if err == nil {
			err = e
		}
	}
	values := func(v map[string]any) {
		if len(v) == 0 {
			keep(w.json(nil))
			return
		}
		b, ok := appendValues((*scratch)[:0], v)
		if ok {
			*scratch = b
		} else {
			var e error
			if b, e = marshalValues(v); e != nil {
				keep(fmt.Errorf("link store: the values of link %s-%s: %w", l.A.ID, l.B.ID, e))
			}
		}
		keep(w.json(b))
	}
	at := func(t time.Time) {
		if !t.IsZero() {
			t = t.UTC().Truncate(time.Microsecond)
			if y := t.Year(); y < 1 || y > 9999 {
				keep(fmt.Errorf("link store: time %s of link %s-%s is out of range (years 1 to 9999)", t, l.A.ID, l.B.ID))
				t = time.Time{}
			}
		}
		keep(w.time(t))
	}
	keep(w.text(l.Key))
	keep(w.text(l.A.ID))
	values(l.A.Values)
	keep(w.text(l.A.FP))
	at(l.A.WroteAt)
	keep(w.text(l.B.ID))
	if len(l.A.Values) > 0 && sameValues(l.A.Values, l.B.Values) {
		keep(w.text(sameAsA))
	} else {
		values(l.B.Values)
	}
	keep(w.text(l.B.FP))
	at(l.B.WroteAt)
	at(l.HeldUntil)
	keep(w.text(l.HeldReason))
	keep(w.text(l.Decision))
	keep(w.int(int64(l.Misreads)))
	at(l.SyncedAt)
	keep(w.text(l.Gone))
	return err
}

// linkArgs collects a link's column values as driver values (PostgreSQL's INSERT).
type linkArgs struct{ args []any }

func (a *linkArgs) text(v string) error { a.args = append(a.args, v); return nil }
func (a *linkArgs) int(v int64) error   { a.args = append(a.args, v); return nil }

func (a *linkArgs) json(v []byte) error {
	if v == nil {
		a.args = append(a.args, nil)
	} else {
		a.args = append(a.args, string(v))
	}
	return nil
}

func (a *linkArgs) time(v time.Time) error {
	if v.IsZero() {
		a.args = append(a.args, nil)
	} else {
		a.args = append(a.args, v)
	}
	return nil
}

// linkBinds binds a link's column values to a SQLite INSERT, from parameter n+1 on. A
// statement keeps its parameters' values from one row to the next (sqlite3_reset does not
// clear them), so a value equal to the one bound before is not bound again: the links of a
// save share many (no hold, no write time on one side, a page's write and sync times, the
// decision), and binding text costs a copy into SQLite's memory.
type linkBinds struct {
	st    *sqlite3.Stmt
	n     int
	times timeTexts
	// bound is the value each parameter holds, by its number, when known.
	bound [insertArgs + 1]boundParam
}

// boundParam is the value a statement's parameter holds: text, an integer or NULL (kind),
// or not known (the zero boundParam).
type boundParam struct {
	kind byte
	s    string
	i    int64
}

const (
	boundUnknown byte = iota
	boundText
	boundInt
	boundNull
)

func (b *linkBinds) next() int { b.n++; return b.n }

// held reports whether parameter n holds p already; otherwise it notes p as what bind,
// which binds it, leaves there (nothing known if bind fails).
func (b *linkBinds) held(n int, p boundParam, bind func() error) error {
	if b.bound[n] == p {
		return nil
	}
	err := bind()
	if err != nil {
		p = boundParam{}
	}
	b.bound[n] = p
	return err
}

func (b *linkBinds) text(v string) error {
	n := b.next()
	return b.held(n, boundParam{kind: boundText, s: v}, func() error { return b.st.BindText(n, v) })
}

func (b *linkBinds) int(v int64) error {
	n := b.next()
	return b.held(n, boundParam{kind: boundInt, i: v}, func() error { return b.st.BindInt64(n, v) })
}

func (b *linkBinds) null() error {
	n := b.next()
	return b.held(n, boundParam{kind: boundNull}, func() error { return b.st.BindNull(n) })
}

// json binds values' JSON, whose bytes are not kept: their parameter is bound every time.
// BindText copies the text into SQLite's memory during the call, so the bytes are given
// as a string without a copy of their own (BindRawText makes one).
func (b *linkBinds) json(v []byte) error {
	if v == nil {
		return b.null()
	}
	n := b.next()
	b.bound[n] = boundParam{}
	return b.st.BindText(n, unsafe.String(unsafe.SliceData(v), len(v)))
}

func (b *linkBinds) time(v time.Time) error {
	if v.IsZero() {
		return b.null()
	}
	return b.text(b.times.format(v))
}

// sqliteTimeLayout is how SQLite keeps times: fixed-width text in UTC, which sorts in time
// order.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// dbTime scans a time column: NULL is the zero time; SQLite gives text, PostgreSQL a
// time.Time. The time is in UTC.
type dbTime struct{ t *time.Time }

func (d dbTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*d.t = time.Time{}
	case time.Time:
		*d.t = v.UTC()
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	default:
		return fmt.Errorf("time column holds a %T", v)
	}
	return nil
}

func (d dbTime) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	*d.t = t.UTC()
	return nil
}

// sameAsA is what b_values holds when side b's values are side a's (a pair in step whose
// fields have one name on both sides): they are kept once, in a_values. It is not JSON,
// so no values column holds it otherwise.
const sameAsA = "="

// decodeValues decodes a values column: NULL (nil) is nil, else JSON text.
func decodeValues(b []byte) (map[string]any, error) {
	if b == nil {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("values column: %w", err)
	}
	return m, nil
}

// query runs a SELECT of linkColumns and returns its links.
func (s *sqlStore) query(ctx context.Context, what, query string, args ...any) ([]Link, error) {
	var out []Link
	if err := s.each(ctx, s.rdb, what, scanLink, func(l Link) { out = append(out, l) }, query, args...); err != nil {
		return nil, err
	}
	return out, nil
}

// each runs a SELECT and passes each row's link, read by scan, to add.
func (s *sqlStore) each(ctx context.Context, q querier, what string, scan func(*sql.Rows, *Link) error, add func(Link), query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return s.fail(ctx, what, err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var l Link
		if err := scan(rows, &l); err != nil {
			return s.fail(ctx, what, err)
		}
		add(l)
	}
	if err := rows.Err(); err != nil {
		return s.fail(ctx, what, err)
	}
	return nil
}

// scanLink reads a row of linkColumns into l.
func scanLink(rows *sql.Rows, l *Link) error {
	var av, bv []byte
	if err := rows.Scan(&l.Key,
		&l.A.ID, &av, &l.A.FP, dbTime{&l.A.WroteAt},
		&l.B.ID, &bv, &l.B.FP, dbTime{&l.B.WroteAt},
		dbTime{&l.HeldUntil}, &l.HeldReason, &l.Decision, &l.Misreads, dbTime{&l.SyncedAt}, &l.Gone); err != nil {
		return err
	}
	if string(bv) == sameAsA {
		bv = av // decoded again: each half has its own map
	}
	var err error
	if l.A.Values, err = decodeValues(av); err == nil {
		l.B.Values, err = decodeValues(bv)
	}
	if err != nil {
		return fmt.Errorf("link %s-%s: %w", l.A.ID, l.B.ID, err)
	}
	return nil
}

// scanGlance reads a row of glanceColumns into l: a look-up of every record a two-way
// pass reads, most of them settled, so it reads and converts only what settles them (a
// link's row has fifteen columns; text columns are copied, times parsed).
func scanGlance(rows *sql.Rows, l *Link) error {
	return rows.Scan(&l.A.ID, &l.A.FP, dbTime{&l.A.WroteAt}, &l.B.ID, &l.B.FP, dbTime{&l.B.WroteAt},
		dbTime{&l.HeldUntil}, &l.Misreads, &l.Gone)
}

// Delete implements Store: one transaction.
func (s *sqlStore) Delete(ctx context.Context, sync string, side Side, ids []string) error {
	col, err := sideColumn(side)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		if err := ctx.Err(); err != nil {
			return s.fail(ctx, "delete", err)
		}
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, "delete", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, part := range chunks(ids, s.chunk) {
		cond, args := s.idMatch(col, 2, part)
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+s.table+` WHERE `+s.syncIs(s.ph(1))+` AND `+cond,
			append([]any{sync}, args...)...); err != nil {
			return s.fail(ctx, "delete", err)
		}
	}
	if s.cache == nil {
		if err := tx.Commit(); err != nil {
			return s.fail(ctx, "delete: commit", err)
		}
		return nil
	}
	var gen int64
	if err := tx.QueryRowContext(ctx, bumpGeneration).Scan(&gen); err != nil {
		return s.fail(ctx, "delete: count the generation", err)
	}
	if err := s.cache.commit(gen, tx.Commit, func() { s.cache.deleted(sync, side, ids) }); err != nil {
		return s.fail(ctx, "delete: commit", err)
	}
	return nil
}

// checkLimit refuses a limit that would return nothing: a caller meaning "no limit" or "the
// default" would otherwise see no links and carry on.
func checkLimit(limit int) error {
	if limit <= 0 {
		return fmt.Errorf("link store: limit %d is not positive", limit)
	}
	return nil
}

// Held implements Store: ties on HeldUntil are in side a id order.
func (s *sqlStore) Held(ctx context.Context, sync string, limit int) ([]Link, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	return s.query(ctx, "held", `SELECT `+linkColumns+` FROM `+s.table+
		` WHERE `+s.syncIs("$1")+` AND held_until IS NOT NULL ORDER BY held_until, a_id LIMIT $2`, sync, limit)
}

// Count implements Store.
func (s *sqlStore) Count(ctx context.Context, sync string) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+s.table+` WHERE `+s.syncIs("$1")+` AND gone = ''`, sync).Scan(&n); err != nil {
		return 0, s.fail(ctx, "count", err)
	}
	return n, nil
}

// Scan implements Store. Ids are in byte order (Go's string order) in both backends.
func (s *sqlStore) Scan(ctx context.Context, sync string, afterA string, limit int) ([]Link, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	return s.query(ctx, "scan", `SELECT `+linkColumns+` FROM `+s.table+
		` WHERE `+s.syncIs("$1")+` AND a_id > $2 ORDER BY a_id LIMIT $3`, sync, afterA, limit)
}

// Close implements Store.
func (s *sqlStore) Close() error {
	err := s.db.Close()
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	if s.memory != "" {
		memdb.Delete(s.memory)
	}
	return err
}

// AddDeletes implements Store.
func (s *sqlStore) AddDeletes(ctx context.Context, sync string, ds []PendingDelete) error {
	if len(ds) == 0 {
		return ctx.Err()
	}
	for _, d := range ds {
		if err := pgTextID(s.pg, "add deletes", d.Side, d.ID); err != nil {
			return err
		}
		if err := pgTextID(s.pg, "add deletes", definition.Other(d.Side), d.PartnerID); err != nil {
			return err
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(ctx, "add deletes", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, d := range ds {
		if _, err := sideColumn(d.Side); err != nil {
			return err
		}
		if d.ID == "" {
			return fmt.Errorf("link store: a pending delete of side %s has no id", d.Side)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+s.deletes+` (sync, side, id, "key", partner_id, deleted_at, how, detected_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (sync, side, id) DO NOTHING`,
			sync, d.Side, d.ID, d.Key, d.PartnerID, s.timeArg(d.DeletedAt), d.How, s.timeArg(d.DetectedAt)); err != nil {
			return s.fail(ctx, "add deletes", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return s.fail(ctx, "add deletes: commit", err)
	}
	return nil
}

// timeArg is t as a column value (NULL for the zero time).
func (s *sqlStore) timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = t.UTC().Truncate(time.Microsecond)
	if s.pg {
		return t
	}
	return t.Format(sqliteTimeLayout)
}

// PendingDeletes implements Store.
func (s *sqlStore) PendingDeletes(ctx context.Context, sync string, afterSide Side, afterID string, limit int) ([]PendingDelete, error) {
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT side, id, "key", partner_id, deleted_at, how, detected_at FROM `+s.deletes+`
		WHERE sync = $1 AND (side > $2 OR (side = $2 AND id > $3)) ORDER BY side, id LIMIT $4`, sync, afterSide, afterID, limit)
	if err != nil {
		return nil, s.fail(ctx, "pending deletes", err)
	}
	defer func() { _ = rows.Close() }()
	var out []PendingDelete
	for rows.Next() {
		var d PendingDelete
		if err := rows.Scan(&d.Side, &d.ID, &d.Key, &d.PartnerID, dbTime{&d.DeletedAt}, &d.How, dbTime{&d.DetectedAt}); err != nil {
			return nil, s.fail(ctx, "pending deletes", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(ctx, "pending deletes", err)
	}
	return out, nil
}

// DropDeletes implements Store.
func (s *sqlStore) DropDeletes(ctx context.Context, sync string, side Side, ids []string) error {
	if _, err := sideColumn(side); err != nil {
		return err
	}
	for _, part := range chunks(ids, s.chunk) {
		cond, args := s.idMatch("id", 3, part)
		if _, err := s.db.ExecContext(ctx, `DELETE FROM `+s.deletes+` WHERE sync = `+s.ph(1)+` AND side = `+s.ph(2)+` AND `+cond,
			append([]any{sync, side}, args...)...); err != nil {
			return s.fail(ctx, "drop deletes", err)
		}
	}
	return ctx.Err()
}

// CountDeletes implements Store.
func (s *sqlStore) CountDeletes(ctx context.Context, sync string) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+s.deletes+` WHERE sync = $1`, sync).Scan(&n); err != nil {
		return 0, s.fail(ctx, "count deletes", err)
	}
	return n, nil
}

// ByKey implements Store.
func (s *sqlStore) ByKey(ctx context.Context, sync, key string) ([]Link, error) {
	return s.query(ctx, "by key", `SELECT `+linkColumns+` FROM `+s.table+
		` WHERE `+s.syncIs("$1")+` AND "key" = $2 ORDER BY a_id LIMIT 10`, sync, key)
}

// numberSyncs moves the links of a SQLite store made before the syncs table, which hold
// their sync's name, to their sync's number (sqliteNumberSyncs), once: in a transaction
// that takes the write lock first and checks again, so that of several processes opening
// the store at once one moves them and the others find them moved.
func numberSyncs(ctx context.Context, db *sql.DB) error {
	const syncType = `SELECT type FROM pragma_table_info('links') WHERE name = 'sync'`
	var typ string
	if err := db.QueryRowContext(ctx, syncType).Scan(&typ); err != nil {
		return err
	}
	if !strings.EqualFold(typ, "TEXT") {
		return nil
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
		}
	}()
	if err := conn.QueryRowContext(ctx, syncType).Scan(&typ); err != nil {
		return err
	}
	if strings.EqualFold(typ, "TEXT") {
		if onMove != nil {
			onMove()
		}
		for _, stmt := range sqliteNumberSyncs {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return err
	}
	committed = true
	return nil
}
