// Package sqldb connects Tandem to the tables of a SQL database through database/sql: an
// object is a table, a record is a row, a field is a column. Two drivers are built in:
// SQLite (modernc.org/sqlite, pure Go) and PostgreSQL (github.com/jackc/pgx/v5/stdlib).
//
//   - Changes reads rows in (updated column, id column) order after the cursor; the
//     connector sets the updated column on every row it writes. See "Change times" below.
//   - Get and Find are SELECTs with IN lists; Create, Update and Upsert write a batch in one
//     transaction with a few statements for the whole batch (multi-row INSERTs, in
//     PostgreSQL an UPDATE ... FROM the batch's values; see write.go). When the database
//     refuses one for a row's sake (NOT NULL, CHECK, UNIQUE, a bad value), the batch is
//     written again with a SAVEPOINT per row, so that row fails alone, with the
//     database's message, and the rest of the batch is written.
//   - UpdateIfUnchanged is Update WHERE the updated column still has the time the record
//     was read with.
//   - Upsert by a column of key_columns (which must have a UNIQUE constraint) inserts with
//     ON CONFLICT DO UPDATE; by any other column it looks the key up first.
//
// Table and column names are checked to be plain identifiers and double-quoted; values are
// always passed as $n parameters. The SQL text is the same for both drivers, but for the
// updated column.
//
// # Change times
//
// In PostgreSQL the updated column is a timestamp or timestamptz column, compared as one.
//
// SQLite has no time type: the column holds text, in whatever layout its writers chose.
// Text compares as text, so the connector compares, orders and reads it through one
// normalised form (UTC, fixed width, to the nanosecond), which a function it registers
// with the SQLite driver computes for each row (tandem_change_time; see
// parseTextTime). It reads the value's date and time of day (YYYY-MM-DD, then a space or
// a T, then HH:MM:SS), its fractional seconds of any length, and its zone: none (UTC), Z,
// or ±hh:mm, ±hhmm or ±hh, with or without a space before it. That covers what the
// connector writes ("2025-01-01 00:00:00.000000+00:00"), SQLite's CURRENT_TIMESTAMP and
// datetime() ("2025-01-01 00:00:00"), Python's isoformat() ("2025-01-01T00:00:00.123456"
// or "...+00:00") and JavaScript's toISOString() ("2025-01-01T00:00:00.000Z"). The
// normalised form is compared on both sides (the cursor is sent in it) and ordered by, so
// (updated, id) order stays strict whatever the layouts. The price is that SQLite cannot
// use an index on the column: each read of changes scans the table (computing the form
// once per row). A value in another form, or out of range (a number, a date without a
// time, February 30, any other text), stops Changes with a *connectors.InvalidRecordError
// naming the table, the column, the row and the value, whatever the cursor; a NULL is not
// read by Changes (and fails Get).
//
// A column kept to the whole second has an open second: a row saved later in the second
// of the last row read, with a smaller id, sorts before the cursor placed on that row
// and would never be read. Like the Salesforce and NetSuite connectors, Changes then
// leaves out the rows of the current second (and any later time), which the next read
// returns once the second is over. Whether a column is kept to the whole second is the
// hold_back_open_second setting: by default ("auto") it is read from the column's type
// in PostgreSQL (timestamp(0), timestamptz(0)), and from its values in SQLite (a value
// without fractional seconds, as CURRENT_TIMESTAMP writes, means some writer keeps whole
// seconds; looked for on each read of changes until one is seen, then remembered for the
// connection's life). "true" always holds the open second back, for writers that pad
// whole seconds with zeros ("...:05.000"); "false" never does. The current second is the
// database's clock in PostgreSQL (now()) and the machine's in SQLite.
//
// # Deletes
//
// Delete (connectors.Deleter) deletes a batch of ids (up to max_batch) in one
// transaction, one DELETE ... WHERE id IN (...) per 500 ids; an id no row has counts as
// deleted. When the database refuses the statement for one row's sake (a foreign key
// still pointing at it), the batch is deleted again row by row, each under a savepoint,
// and only the refused rows fail, with the database's message. ListIDs
// (connectors.IDLister) lists the live ids in the id column's order, a page at a time
// (WHERE id > the page token, the last id of the page before).
//
// Without deleted_column a deleted row leaves no trace, so the table keeps no log of
// deletions: Deletes (connectors.DeleteReader) fails with an error matching
// errors.ErrUnsupported, and the engine finds deletions with a full id diff (ListIDs
// against the pairs it knows).
//
// With deleted_column rows are soft-deleted: a row whose column is set (not NULL, false
// or 0) is deleted. Changes, CountChanges, Get, Find, ListIDs, Update and Upsert's
// look-ups leave it out, as if it were gone; Delete sets the column, and the updated
// column, instead of deleting the row, so another sync reading the table sees the
// deletion; and Deletes reads the deleted rows as tombstones. What the column holds is
// told by its type (looked up once per table and connection):
//
//   - a time: PostgreSQL timestamp or timestamptz; in SQLite a declared type with DATE,
//     TIME, TEXT or CHAR in it, holding text times as the updated column does (see
//     "Change times"). It is when the row was deleted: Delete sets it to the stamp it
//     writes into the updated column, and it is the tombstone's DeletedAt.
//   - a flag: PostgreSQL boolean, smallint, integer or bigint; in SQLite a declared type
//     with BOOL or INT in it (SQLite's true is 1). Delete sets it to true (1), and the
//     tombstone's DeletedAt is the row's updated column.
//
// Any other type, or a table without the column, fails each call on the table with a
// *connectors.NotFoundError naming the setting, the table and the column. Deletes reads
// the deleted rows after the cursor in (DeletedAt, id) order, DeletedAt compared as
// Changes compares the updated column (in SQLite through tandem_change_time) and its
// open second held back as hold_back_open_second says; rows of one DeletedAt are ordered
// by the id's text, byte by byte, as connectors.Cursor orders them (one statement of
// another writer may soft-delete many rows at one time). A soft-deleted row stays in the
// table, so the log never expires and no page sets CoveredUntil. An Upsert by a unique
// key that a soft-deleted row holds writes that row and makes it live again.
//
// The conformance suite runs against SQLite files always, and against PostgreSQL when the
// machine has its binaries (a throwaway server is started) or TANDEM_POSTGRES_DSN names
// one; see postgres_test.go.
package sqldb

import (
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	// The two database/sql drivers the connector opens, by the names "pgx" and "sqlite".
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"tandem/connectors"
	"tandem/connectors/settings"
)

// Type is the connection type the connector is registered under.
const Type = "sql"

// The settings a sql connection reads (connectors.Settings). driver and dsn are required.
const (
	// SettingDriver is "sqlite" or "postgres".
	SettingDriver = "driver"
	// SettingDSN is the data source name: a file path (or file: URI) for sqlite, a
	// postgres:// URL or key=value string for postgres. It usually holds a password, so
	// set it from the environment (dsn: ${DATABASE_URL}); errors never quote it.
	SettingDSN = "dsn"
	// SettingIDColumn is each table's primary key column; default "id". Record IDs are
	// its values as strings (integers in base 10).
	SettingIDColumn = "id_column"
	// SettingUpdatedColumn is each table's last-changed timestamp column; default
	// "updated_at". The connector writes it (UTC, to the microsecond) on every row it
	// writes, and Changes reads by it.
	SettingUpdatedColumn = "updated_column"
	// SettingKeyColumns lists columns with a UNIQUE constraint (comma separated). Upsert
	// by one of them is a native INSERT ... ON CONFLICT, and Info().NativeUpsert is true
	// when any is set.
	SettingKeyColumns = "key_columns"
	// SettingMaxBatch is the most rows of one write transaction; default 500.
	SettingMaxBatch = "max_batch"
	// SettingHoldBackOpenSecond is "auto" (the default), "true" or "false": whether
	// Changes leaves out the rows of the current second, for an updated column kept to
	// the whole second (see the package comment, "Change times").
	SettingHoldBackOpenSecond = "hold_back_open_second"
	// SettingDeletedColumn names each table's soft-delete column, a timestamp or a
	// boolean; unset by default (Delete deletes rows, and there is no delete log). See
	// the package comment, "Deletes".
	SettingDeletedColumn = "deleted_column"
	// SettingParallelReads is how many spans of a table's changes a bulk run reads at
	// once over PostgreSQL (connectors.RangeReader); default 4, 1 turns it off. SQLite
	// reads through its one connection, one span at a time, whatever it says.
	SettingParallelReads = "parallel_reads"
)

// Defaults of the settings.
const (
	DefaultIDColumn      = "id"
	DefaultUpdatedColumn = "updated_at"
	DefaultMaxBatch      = 500
	DefaultParallelReads = 4
)

// The values of the driver setting.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// The values of the hold_back_open_second setting.
const (
	HoldBackAuto   = "auto"
	HoldBackAlways = "true"
	HoldBackNever  = "false"
)

// sqlDrivers maps the driver setting to the database/sql driver name.
var sqlDrivers = map[string]string{DriverSQLite: "sqlite", DriverPostgres: "pgx"}

// Config is a connection's configuration, the parsed form of its settings.
type Config struct {
	Driver        string
	DSN           string
	IDColumn      string
	UpdatedColumn string
	// KeyColumns have a UNIQUE constraint in every table the connection writes by them.
	KeyColumns []string
	MaxBatch   int
	// HoldBackOpenSecond is HoldBackAuto (or ""), HoldBackAlways or HoldBackNever.
	HoldBackOpenSecond string
	// DeletedColumn is each table's soft-delete column, or "" for none.
	DeletedColumn string
	// ParallelReads is SettingParallelReads (0: the default).
	ParallelReads int
	// Now is the machine's clock: the stamps the connector writes, and the current
	// second of a SQLite database; default time.Now. Tests pass their own.
	Now func() time.Time
}

// Spec declares every setting a sql connection accepts; any other key is an error at
// load, so a misspelt setting does not silently fall back to its default.
var Spec = &settings.Spec[Config]{Type: Type, Check: (*Config).check, Settings: []settings.Setting[Config]{
	{Name: SettingDriver, Required: true, Doc: "`sqlite` or `postgres`",
		Set: settings.OneOf([]string{DriverSQLite, DriverPostgres}, func(c *Config) *string { return &c.Driver })},
	{Name: SettingDSN, Required: true, Secret: true, Doc: "data source name: a file path (or file: URI) for sqlite, a postgres:// URL or key=value string for postgres; usually holds a password, so set it from the environment (`${DATABASE_URL}`)",
		Set: settings.String(func(c *Config) *string { return &c.DSN })},
	{Name: SettingIDColumn, Default: DefaultIDColumn, Doc: "each table's primary key column; record ids are its values as strings",
		Set: settings.String(func(c *Config) *string { return &c.IDColumn })},
	{Name: SettingUpdatedColumn, Default: DefaultUpdatedColumn, Doc: "each table's last-changed timestamp column, set by Tandem on every row it writes and read for changes",
		Set: settings.String(func(c *Config) *string { return &c.UpdatedColumn })},
	{Name: SettingKeyColumns, Doc: "columns with a UNIQUE constraint, comma separated: an upsert by one of them is a native INSERT ... ON CONFLICT",
		Set: settings.List(func(c *Config) *[]string { return &c.KeyColumns })},
	{Name: SettingMaxBatch, Default: strconv.Itoa(DefaultMaxBatch), Doc: "rows per write transaction",
		Set: settings.AtLeast(1, func(c *Config) *int { return &c.MaxBatch })},
	{Name: SettingHoldBackOpenSecond, Default: HoldBackAuto, Doc: "`auto`, `true` or `false`: read the rows of the current second only once it is over, so a row saved later in that second is not missed; `auto` does so when the updated column keeps whole seconds (PostgreSQL `timestamp(0)`, SQLite values without fractions)",
		Set: func(c *Config, v string) error {
			if strings.EqualFold(v, HoldBackAuto) {
				c.HoldBackOpenSecond = "" // auto, as a Config built in code leaves it
				return nil
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("is not auto, true or false")
			}
			c.HoldBackOpenSecond = strconv.FormatBool(b)
			return nil
		}},
	{Name: SettingDeletedColumn, Doc: "soft-delete column (a timestamp, or a boolean or 0/1 flag): rows where it is set are deleted, left out of reads and read as tombstones by the delete log, and Delete sets it instead of deleting rows; without it a delete is a `DELETE` and deletes are found by an id diff",
		Set: settings.String(func(c *Config) *string { return &c.DeletedColumn })},
	{Name: SettingParallelReads, Default: strconv.Itoa(DefaultParallelReads), Doc: "how many spans of a table's changes a bulk run reads at once (postgres; each a connection of the pool); 1 reads one page after another. SQLite always reads one at a time, " + strconv.Itoa(sqliteReadPages) + " pages a read (each read of a SQLite table's changes scans it)",
		Set: settings.AtLeast(1, func(c *Config) *int { return &c.ParallelReads })},
}}

// ParseSettings reads a connection's settings into a Config with defaults applied. Errors
// name the setting.
func ParseSettings(given connectors.Settings) (Config, error) { return Spec.Config(given) }

// check validates a Config and fills the defaults of zero fields.
func (cfg *Config) check() error {
	if cfg.Driver == "" {
		return fmt.Errorf("setting %s: missing; set it to %s or %s", SettingDriver, DriverSQLite, DriverPostgres)
	}
	if _, ok := sqlDrivers[cfg.Driver]; !ok {
		return fmt.Errorf("setting %s: %q is not %s or %s", SettingDriver, cfg.Driver, DriverSQLite, DriverPostgres)
	}
	if cfg.DSN == "" {
		return fmt.Errorf("setting %s: missing; set it to the database's file path (sqlite) or URL (postgres), e.g. %s: ${DATABASE_URL}",
			SettingDSN, SettingDSN)
	}
	if cfg.IDColumn == "" {
		cfg.IDColumn = DefaultIDColumn
	}
	if cfg.UpdatedColumn == "" {
		cfg.UpdatedColumn = DefaultUpdatedColumn
	}
	if cfg.ParallelReads == 0 {
		cfg.ParallelReads = DefaultParallelReads
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxBatch < 0 {
		return fmt.Errorf("setting %s: %d is negative", SettingMaxBatch, cfg.MaxBatch)
	}
	switch cfg.HoldBackOpenSecond {
	case "", HoldBackAuto, HoldBackAlways, HoldBackNever:
	default:
		return fmt.Errorf("setting %s: %q is not auto, true or false", SettingHoldBackOpenSecond, cfg.HoldBackOpenSecond)
	}
	for _, c := range []struct{ setting, name string }{
		{SettingIDColumn, cfg.IDColumn},
		{SettingUpdatedColumn, cfg.UpdatedColumn},
	} {
		if !identifier.MatchString(c.name) {
			return fmt.Errorf("setting %s: %q is not a plain column name (%s)", c.setting, c.name, identifierRule)
		}
	}
	if cfg.IDColumn == cfg.UpdatedColumn {
		return fmt.Errorf("setting %s: %q is also the %s; they must be two columns", SettingUpdatedColumn, cfg.UpdatedColumn, SettingIDColumn)
	}
	if d := cfg.DeletedColumn; d != "" {
		if !identifier.MatchString(d) {
			return fmt.Errorf("setting %s: %q is not a plain column name (%s)", SettingDeletedColumn, d, identifierRule)
		}
		for _, other := range []struct{ setting, name string }{{SettingIDColumn, cfg.IDColumn}, {SettingUpdatedColumn, cfg.UpdatedColumn}} {
			if d == other.name {
				return fmt.Errorf("setting %s: %q is also the %s; the soft-delete column must be a column of its own", SettingDeletedColumn, d, other.setting)
			}
		}
	}
	for _, k := range cfg.KeyColumns {
		if !identifier.MatchString(k) {
			return fmt.Errorf("setting %s: %q is not a plain column name (%s)", SettingKeyColumns, k, identifierRule)
		}
	}
	return nil
}

// identifier is what a table or column name must look like: names are spliced into SQL
// (double-quoted), so anything else is refused rather than escaped.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

const identifierRule = "letters, digits and _, not starting with a digit"

// quote returns name double-quoted for SQL, or an error when it is not a plain identifier.
// Quoted names keep their case: in PostgreSQL a table created without quotes is lower case.
func quote(what, name string) (string, error) {
	if !identifier.MatchString(name) {
		return "", fmt.Errorf("%s %q is not a plain SQL name (%s)", what, name, identifierRule)
	}
	return `"` + name + `"`, nil
}

// Factory opens a sql connection from its settings. It is a connectors.Factory.
var Factory = connectors.Opener(ParseSettings, Open)

// Conn is a connection to one database. It implements connectors.Connector,
// connectors.ChangeCounter, connectors.ConditionalUpdater, connectors.Deleter and
// connectors.IDLister, and connectors.DeleteReader when deleted_column is set (see the
// package comment, "Deletes"); it is safe for concurrent use.
type Conn struct {
	cfg Config
	db  *sql.DB
	// pg is true for PostgreSQL, whose driver is given text for every value (see arg).
	pg bool

	stampMu   sync.Mutex
	lastStamp time.Time

	// wholeSeconds caches, by table and column (wholeKey), whether a time column keeps
	// whole seconds: PostgreSQL's answer (from the column's type) either way, SQLite's
	// only once true (a later write may add a whole-second value; none removes the
	// writer that did).
	wholeMu      sync.Mutex
	wholeSeconds map[string]bool

	// softDeletes caches, by table, how its deleted_column marks deleted rows.
	softMu      sync.Mutex
	softDeletes map[string]*softDelete

	// batches is what the batch statements keep (write.go).
	batches batchState
}

var (
	_ connectors.Connector          = (*Conn)(nil)
	_ connectors.ChangeCounter      = (*Conn)(nil)
	_ connectors.ConditionalUpdater = (*Conn)(nil)
	_ connectors.Deleter            = (*Conn)(nil)
	_ connectors.IDLister           = (*Conn)(nil)
	_ connectors.DeleteReader       = (*Conn)(nil)
	_ connectors.RangeReader        = (*Conn)(nil)
	_ connectors.LongReader         = (*Conn)(nil)
)

// Open returns a connection for cfg (zero fields take their defaults). It does not reach
// the database: database/sql connects on first use.
func Open(cfg Config) (*Conn, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	db, err := sql.Open(sqlDrivers[cfg.Driver], cfg.DSN)
	if err != nil {
		// Not wrapped: the driver's message may quote the DSN, password included.
		return nil, fmt.Errorf("setting %s: the %s driver refused it", SettingDSN, cfg.Driver)
	}
	if cfg.Driver == DriverSQLite {
		// SQLite lets one writer in at a time and answers a second with SQLITE_BUSY;
		// one connection queues the engine's concurrent batches instead.
		db.SetMaxOpenConns(1)
	}
	return &Conn{cfg: cfg, db: db, pg: cfg.Driver == DriverPostgres,
		wholeSeconds: map[string]bool{}, softDeletes: map[string]*softDelete{}}, nil
}

// now is the machine's time by cfg.Now.
func (c *Conn) now() time.Time {
	if c.cfg.Now != nil {
		return c.cfg.Now()
	}
	return time.Now()
}

// Close closes the connection's database handle and its pooled connections.
func (c *Conn) Close() error { return c.db.Close() }

// Info implements connectors.Connector. NativeUpsert is a property of the connection, not
// of a sync's key, so it is true only when key_columns is set: the engine then sends its
// creates through Upsert by the sync's key, which is an INSERT ... ON CONFLICT for a key
// column and a look-up then insert, in the same transaction, for any other column.
func (c *Conn) Info() connectors.Info {
	return connectors.Info{Type: Type, MaxBatch: c.cfg.MaxBatch, NativeUpsert: len(c.cfg.KeyColumns) > 0}
}

// table returns the quoted name of an object's table, with its quoted id and updated
// columns.
func (c *Conn) table(object string) (table, id, updated string, err error) {
	table, err = quote("table", object)
	if err != nil {
		return "", "", "", &connectors.NotFoundError{What: "sql " + err.Error()}
	}
	// The column names were checked by Config.check.
	return table, `"` + c.cfg.IDColumn + `"`, `"` + c.cfg.UpdatedColumn + `"`, nil
}

// stampLayout is how the connector writes its stamps (and sends times to PostgreSQL):
// fixed width in UTC, to the microsecond.
const stampLayout = "2006-01-02 15:04:05.000000-07:00"

func stampArg(t time.Time) string { return t.UTC().Format(stampLayout) }

// stamp returns the time to write into the updated column: now, to the microsecond
// (PostgreSQL's precision), and later than every stamp the connection gave before. Rows of
// a batch then never tie: connectors.Cursor orders a tie by id as text, the database an
// integer id as a number, and distinct stamps keep the two orders the same.
func (c *Conn) stamp() time.Time {
	c.stampMu.Lock()
	defer c.stampMu.Unlock()
	t := c.now().UTC().Truncate(time.Microsecond)
	if !t.After(c.lastStamp) {
		t = c.lastStamp.Add(time.Microsecond)
	}
	c.lastStamp = t
	return t
}
