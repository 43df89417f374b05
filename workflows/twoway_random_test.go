package workflows_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/builtin"
	"tandem/connectors/memory"
	"tandem/connectors/sqldb"
	"tandem/internal/app"
	"tandem/internal/config"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// The randomized two-way test: a sync runs on a 2 s schedule while users edit and insert
// companies on both sides at random, for rndEditFor. Then the two sides must converge, be
// equal on every mapped field with every key once on each side, hold for every pair the
// values of its newest edit (newest-wins), with no failed or held pair; and a quiet minute
// of runs after that must write nothing.
//
// It runs twice in parallel: between two memory connectors (some edits also announced by
// webhook, so the micro-batch path runs too), and between two SQLite tables through the
// sql connector (edited by SQL statements, as another application of the database would).
//
// The seed is logged and named in every failure; TANDEM_RANDOM_SEED=<seed> replays the same
// choices of operations, records and values (the interleaving with the sync's runs depends
// on timing, so a replay is close to, not exactly, the failed run).
//
// Besides the users editing at their own pace, a user sometimes edits a record just as
// the sync has read it (Changes or Get returned it): the edit lands in the window between
// Tandem's read and its write, or between a batch's write and its link being saved, where
// a sync that is not careful loses it.
//
// Every user edit writes all mutable mapped fields (name and phone; the key, domain, never
// changes) with fresh values, and every stamp a user makes is later than any before it, so
// that under newest-wins, whose winner is a whole record, the newest edit of a pair decides
// every field of it: that is the test's model of each pair's expected end.

const (
	rndEditFor   = 35 * time.Second       // how long users edit while the sync runs
	rndPause     = 140 * time.Millisecond // pauses between operations are uniform in [0, rndPause)
	rndConverge  = 3 * time.Minute        // how long the sides may take to agree once editing stops
	rndQuietRuns = 20                     // runs of the quiet period...
	rndQuietFor  = time.Minute            // ...and its least duration
	rndEvery     = 2 * time.Second        // the sync's schedule
	rndPageSize  = 10                     // small pages, so runs have several and look ahead
	rndCoolDown  = 10 * time.Second       // the loop guard's (see TestTwoWayRandom)
	rndLatency   = 3 * time.Millisecond   // of every call to a memory connector
	rndHot       = 8                      // keys edited much more often than the others...
	rndHotShare  = 3                      // ...by one edit in rndHotShare
	rndRaceOdds  = 4                      // one read of Tandem's in rndRaceOdds is followed by an edit (0: none)
)

func TestTwoWayRandom(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the randomized two-way test edits for 35 s and then waits out a quiet minute")
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("TANDEM_RANDOM_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "TANDEM_RANDOM_SEED")
		seed = n
	}
	t.Logf("seed %d (replay with TANDEM_RANDOM_SEED=%d)", seed, seed)

	// Both syncs share one worker (one task queue, one link store): a second worker on
	// the queue would be handed the other sync's activities without knowing that sync.
	suffix := time.Now().UnixNano()
	memName, sqlName := fmt.Sprintf("random-memory-%d", suffix), fmt.Sprintf("random-sqlite-%d", suffix)

	memClock := &rndClock{}
	ma, mb := newRndMemory("a-", memClock), newRndMemory("b-", memClock)

	dir := t.TempDir()
	sqlClock := &rndClock{micro: true}
	pathA, pathB := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	sa, sb := newRndSQLite(t, pathA, sqlClock), newRndSQLite(t, pathB, sqlClock)

	memDef := rndDef(memName, "rnd-ma", "rnd-mb")
	memDef.Webhooks = true
	sqlDef := rndDef(sqlName, "rnd-sa", "rnd-sb")
	sqlConn := func(path string) config.Connection {
		return config.Connection{Type: "sql", Settings: map[string]string{"driver": "sqlite", "dsn": rndDSN(path)}}
	}
	defs := &config.File{
		Path:        "random.yaml",
		Connections: map[string]config.Connection{"rnd-sa": sqlConn(pathA), "rnd-sb": sqlConn(pathB)},
		Syncs:       []config.Sync{memDef, sqlDef},
	}
	conns, err := app.OpenConnections(&config.File{Path: defs.Path, Connections: defs.Connections}, builtin.Registry())
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, c := range conns {
			if cl, ok := c.(io.Closer); ok {
				_ = cl.Close()
			}
		}
	})
	conns["rnd-ma"], conns["rnd-mb"] = ma.engine, mb.engine
	conns["rnd-sa"], conns["rnd-sb"] = sa.wrap(t, conns["rnd-sa"]), sb.wrap(t, conns["rnd-sb"])
	base := testenv.NewFileSync(t, testenv.Client(t), defs, conns, memName)
	// The loop guard holds a pair whose writes fail to read back as written twice in a row,
	// and a user who edits a pair on one side just after Tandem wrote it, then on the
	// other just after Tandem wrote that, looks the same (package pairs says so). Such a
	// pair is compared afresh (newest wins) when its cool-down ends: a short one lets that
	// happen within the test, which then checks the pair ends as its newest edit says.
	base.Acts.CoolDown = rndCoolDown
	t.Cleanup(func() {
		_ = base.Client.TerminateWorkflow(context.Background(), workflows.WorkflowID(sqlName), "", "test over")
	})
	syncOf := func(t *testing.T, name string) *testenv.Sync {
		return &testenv.Sync{T: t, Name: name, Client: base.Client, Acts: base.Acts}
	}

	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		r := newRndRun(t, seed, 1, syncOf(t, memName), ma, mb)
		r.announce = true
		r.variants = true
		r.exercise()
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		r := newRndRun(t, seed, 2, syncOf(t, sqlName), sa, sb)
		r.exercise()
	})
}

// rndDef is the two-way newest-wins sync of companies by domain between two connections.
func rndDef(name, a, b string) config.Sync {
	d := testenv.Def(name)
	d.Mode = config.TwoWay
	d.Conflict = config.NewestWins
	d.A.Connection, d.B.Connection = a, b
	d.Schedule.Every = rndEvery
	d.PageSize = rndPageSize
	return d
}

// rndClock stamps the users' writes (and, for memory, every write): strictly increasing,
// so no two edits tie, and in microseconds for SQL (the sql connector's precision).
type rndClock struct {
	mu    sync.Mutex
	last  time.Time
	micro bool
}

func (c *rndClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, step := time.Now().UTC().Round(0), time.Nanosecond
	if c.micro {
		t, step = t.Truncate(time.Microsecond), time.Microsecond
	}
	if !t.After(c.last) {
		t = c.last.Add(step)
	}
	c.last = t
	return t
}

// rndRec is a record as the test reads it; Note says, in a history, who wrote it.
type rndRec struct {
	ID, Name, Domain, Phone string
	At                      time.Time
	Note                    string
}

func (r rndRec) String() string {
	s := fmt.Sprintf("%s {name %q, domain %q, phone %q} at %s", r.ID, r.Name, r.Domain, r.Phone, r.At.Format("15:04:05.000000"))
	if r.Note != "" {
		s += " (" + r.Note + ")"
	}
	return s
}

// rndSide is one side of a randomized sync, as its users and the test reach it.
type rndSide interface {
	// insert creates a company, as a user of the service would.
	insert(name, domain, phone string) (rndRec, error)
	// edit sets the name and phone of a record, as a user of the service would.
	edit(id, name, phone string) (rndRec, error)
	// reads is called with the records Tandem's reads return.
	reads() *rndHook
	// records reads every record, sorted by id.
	records(t *testing.T) []rndRec
	// writes counts writes: Tandem's (memory), or everyone's (SQLite).
	writes(t *testing.T) int
	// history lists every write stored to the records with ids, oldest first.
	history(t *testing.T, ids []string) []rndRec
}

// rndHook is called with the records each of Tandem's reads of a side returned.
type rndHook struct {
	mu sync.Mutex
	f  func([]connectors.Record)
}

func (h *rndHook) set(f func([]connectors.Record)) {
	h.mu.Lock()
	h.f = f
	h.mu.Unlock()
}

func (h *rndHook) read(recs []connectors.Record, err error) {
	h.mu.Lock()
	f := h.f
	h.mu.Unlock()
	if f != nil && err == nil && len(recs) > 0 {
		f(recs)
	}
}

// rndMemReader and rndSQLReader are the connectors Tandem is given: the test's, telling
// the hook what each read returned. They embed the connector, so every optional
// interface it implements (conditional updates, change counts, normalized finds) is
// Tandem's to use as before.
type rndMemReader struct {
	*memory.Connector
	hook *rndHook
}

func (c *rndMemReader) Changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	p, err := c.Connector.Changes(ctx, object, since, limit)
	c.hook.read(p.Records, err)
	return p, err
}

func (c *rndMemReader) Get(ctx context.Context, object string, ids []string) ([]connectors.Record, error) {
	recs, err := c.Connector.Get(ctx, object, ids)
	c.hook.read(recs, err)
	return recs, err
}

type rndSQLReader struct {
	*sqldb.Conn
	hook *rndHook
}

func (c *rndSQLReader) Changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	p, err := c.Conn.Changes(ctx, object, since, limit)
	c.hook.read(p.Records, err)
	return p, err
}

func (c *rndSQLReader) Get(ctx context.Context, object string, ids []string) ([]connectors.Record, error) {
	recs, err := c.Conn.Get(ctx, object, ids)
	c.hook.read(recs, err)
	return recs, err
}

// rndMemory is a memory connector and the log of every change stored in it.
type rndMemory struct {
	c      *memory.Connector
	engine *rndMemReader
	hook   rndHook
	mu     sync.Mutex
	log    []rndRec
}

func newRndMemory(prefix string, clock *rndClock) *rndMemory {
	m := &rndMemory{}
	// A little latency on every call, as a service has: reads and writes of concurrent
	// batches then overlap as they do against a real service.
	m.c = memory.New(memory.Options{IDPrefix: prefix, Now: clock.now, Latency: rndLatency, OnChange: func(_ string, r connectors.Record) {
		m.mu.Lock()
		m.log = append(m.log, rndFromRecord(r))
		m.mu.Unlock()
	}})
	m.engine = &rndMemReader{Connector: m.c, hook: &m.hook}
	return m
}

func rndFromRecord(r connectors.Record) rndRec {
	s := func(k string) string { return connectors.KeyString(r.Fields[k]) }
	return rndRec{ID: r.ID, Name: s("name"), Domain: s("domain"), Phone: s("phone"), At: r.UpdatedAt}
}

func (m *rndMemory) insert(name, domain, phone string) (rndRec, error) {
	return rndFromRecord(m.c.Put("companies", connectors.Record{Fields: map[string]any{"name": name, "domain": domain, "phone": phone}})), nil
}

// edit is the test helper edit's (a user's change, stamped by the connector's clock),
// with an error rather than a failed test: it may run on a worker's goroutine.
func (m *rndMemory) edit(id, name, phone string) (rndRec, error) {
	got, err := m.c.Get(context.Background(), "companies", []string{id})
	if err != nil || len(got) != 1 {
		return rndRec{}, fmt.Errorf("read %s to edit it: %d records, %v", id, len(got), err)
	}
	r := got[0]
	r.Fields["name"], r.Fields["phone"] = name, phone
	r.UpdatedAt = time.Time{}
	return rndFromRecord(m.c.Put("companies", r)), nil
}

func (m *rndMemory) reads() *rndHook { return &m.hook }

func (m *rndMemory) records(*testing.T) []rndRec {
	var out []rndRec
	for _, r := range m.c.All("companies") {
		out = append(out, rndFromRecord(r))
	}
	return out
}

func (m *rndMemory) writes(*testing.T) int { return m.c.Writes() }

func (m *rndMemory) history(_ *testing.T, ids []string) []rndRec {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []rndRec
	for _, r := range m.log {
		if slices.Contains(ids, r.ID) {
			out = append(out, r)
		}
	}
	return out
}

// rndSQLite is a SQLite file with a companies table, reached through a handle of the
// test's own (another application of the database). Triggers keep every row written, by
// anyone, in a history table.
type rndSQLite struct {
	db    *sql.DB
	clock *rndClock
	hook  rndHook
}

// wrap gives Tandem the sql connection c, reporting its reads to the hook.
func (s *rndSQLite) wrap(t *testing.T, c connectors.Connector) connectors.Connector {
	conn, ok := c.(*sqldb.Conn)
	require.True(t, ok, "a sql connection is a *sqldb.Conn, not %T", c)
	return &rndSQLReader{Conn: conn, hook: &s.hook}
}

func (s *rndSQLite) reads() *rndHook { return &s.hook }

// rndStampLayout is how the sql connector stores its stamps (connectors/sqldb stampArg):
// fixed width, UTC, microseconds, so that text order is time order.
const rndStampLayout = "2006-01-02 15:04:05.000000-07:00"

// rndDSN opens a SQLite file in WAL mode, waiting for the other handle's locks.
func rndDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
}

func newRndSQLite(t *testing.T, path string, clock *rndClock) *rndSQLite {
	db, err := sql.Open("sqlite", rndDSN(path))
	require.NoError(t, err)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	for _, q := range []string{
		`CREATE TABLE companies (
			id INTEGER PRIMARY KEY AUTOINCREMENT,
			name TEXT,
			domain TEXT,
			phone TEXT,
			updated_at TIMESTAMP NOT NULL)`,
		`CREATE TABLE history (
			seq INTEGER PRIMARY KEY AUTOINCREMENT,
			op TEXT, row_id INTEGER, name TEXT, domain TEXT, phone TEXT, updated_at TEXT)`,
		`CREATE TRIGGER companies_inserted AFTER INSERT ON companies BEGIN
			INSERT INTO history (op, row_id, name, domain, phone, updated_at)
			VALUES ('insert', NEW.id, NEW.name, NEW.domain, NEW.phone, NEW.updated_at); END`,
		`CREATE TRIGGER companies_updated AFTER UPDATE ON companies BEGIN
			INSERT INTO history (op, row_id, name, domain, phone, updated_at)
			VALUES ('update', NEW.id, NEW.name, NEW.domain, NEW.phone, NEW.updated_at); END`,
	} {
		_, err := db.Exec(q)
		require.NoError(t, err)
	}
	return &rndSQLite{db: db, clock: clock}
}

// write runs a user's statement (which returns one value) in a transaction that holds
// the write lock before the stamp is taken: a row stamped earlier than another can then
// never be committed after it, so the connector's cursor (by updated_at) cannot pass
// over it.
func (s *rndSQLite) write(q string, args func(at string) []any) (string, time.Time, error) {
	ctx := context.Background()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return "", time.Time{}, err
	}
	at := s.clock.now()
	var v any
	if err := conn.QueryRowContext(ctx, q, args(at.Format(rndStampLayout))...).Scan(&v); err != nil {
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		return "", time.Time{}, fmt.Errorf("%s: %w", q, err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return "", time.Time{}, err
	}
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	return fmt.Sprint(v), at, nil
}

func (s *rndSQLite) insert(name, domain, phone string) (rndRec, error) {
	id, at, err := s.write(`INSERT INTO companies (name, domain, phone, updated_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		func(at string) []any { return []any{name, domain, phone, at} })
	return rndRec{ID: id, Name: name, Domain: domain, Phone: phone, At: at}, err
}

func (s *rndSQLite) edit(id, name, phone string) (rndRec, error) {
	domain, at, err := s.write(`UPDATE companies SET name = $1, phone = $2, updated_at = $3 WHERE id = $4 RETURNING domain`,
		func(at string) []any { return []any{name, phone, at, id} })
	return rndRec{ID: id, Name: name, Domain: domain, Phone: phone, At: at}, err
}

func (s *rndSQLite) scan(t *testing.T, q string, args ...any) []rndRec {
	rows, err := s.db.Query(q, args...)
	require.NoError(t, err)
	defer rows.Close()
	var out []rndRec
	for rows.Next() {
		var r rndRec
		var name, domain, phone sql.NullString
		var at string
		require.NoError(t, rows.Scan(&r.ID, &name, &domain, &phone, &at, &r.Note))
		r.Name, r.Domain, r.Phone = name.String, domain.String, phone.String
		r.At = rndParseStamp(at)
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// rndParseStamp reads an updated_at as the connector wrote it, or as the driver turned it
// into text; a stamp it cannot read is the zero time (shown, not fatal: it is for reports).
func rndParseStamp(s string) time.Time {
	for _, layout := range []string{rndStampLayout, "2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999 -0700 MST"} {
		if at, err := time.Parse(layout, s); err == nil {
			return at.UTC()
		}
	}
	return time.Time{}
}

func (s *rndSQLite) records(t *testing.T) []rndRec {
	return s.scan(t, `SELECT id, name, domain, phone, CAST(updated_at AS TEXT), '' FROM companies ORDER BY id`)
}

func (s *rndSQLite) writes(t *testing.T) int {
	var n int
	require.NoError(t, s.db.QueryRow(`SELECT count(*) FROM history`).Scan(&n))
	return n
}

func (s *rndSQLite) history(t *testing.T, ids []string) []rndRec {
	var out []rndRec
	for _, id := range ids {
		out = append(out, s.scan(t, `SELECT row_id, name, domain, phone, updated_at, op FROM history WHERE row_id = $1 ORDER BY seq`, id)...)
	}
	slices.SortStableFunc(out, func(a, b rndRec) int { return a.At.Compare(b.At) })
	return out
}

// rndNorm is the domain normalizer's result for the domains the test writes.
func rndNorm(domain string) string {
	return strings.TrimPrefix(strings.ToLower(strings.TrimSpace(domain)), "www.")
}

// rndWant is the newest user edit of a pair: the values the pair must end with.
type rndWant struct {
	Name, Phone string
	At          time.Time
	Side, Op    string
}

// rndRun is one randomized sync and its users.
type rndRun struct {
	t    *testing.T
	seed uint64
	s    *testenv.Sync
	// mu serializes the users (the test's goroutine, and those that edit just after
	// Tandem's reads, on the worker's goroutines): the model, the values and the stamps
	// follow one order.
	mu sync.Mutex
	// rng makes the paced operations, raceRng the edits just after a read (whose number
	// depends on timing: a separate stream keeps the paced ones the seed's).
	rng, raceRng *rand.Rand
	racing       bool
	sides        map[string]rndSide // by "a" and "b"
	// announce sends a webhook event for some of the edits; variants writes some keys
	// differently on the two sides (upper case, a www. prefix), equal once normalized.
	announce, variants bool

	want   map[string]rndWant  // by normalized domain
	ops    map[string][]string // each domain's user operations, for reports
	userAt map[int64]bool      // stamps of user writes, to tell them from Tandem's
	hot    []string            // a few domains edited much more often
	seq    int
	counts map[string]int // user operations by kind and side
}

func newRndRun(t *testing.T, seed, stream uint64, s *testenv.Sync, a, b rndSide) *rndRun {
	r := &rndRun{
		t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, stream)), raceRng: rand.New(rand.NewPCG(seed, stream+100)), s: s,
		sides: map[string]rndSide{"a": a, "b": b},
		want:  map[string]rndWant{}, ops: map[string][]string{}, userAt: map[int64]bool{},
		counts: map[string]int{},
	}
	// Failures of the harness's own waits name the seed too.
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(r.replay())
		}
	})
	return r
}

// replay names the seed, for every failure message.
func (r *rndRun) replay() string {
	return fmt.Sprintf("[seed %d: replay with TANDEM_RANDOM_SEED=%d]", r.seed, r.seed)
}

func (r *rndRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("%s "+format, append([]any{r.replay()}, args...)...)
}

func (r *rndRun) errorf(format string, args ...any) {
	r.t.Helper()
	r.t.Errorf("%s "+format, append([]any{r.replay()}, args...)...)
}

// fresh returns new values for a record's mutable fields.
func (r *rndRun) fresh() (name, phone string) { return r.freshFrom(r.rng) }

func (r *rndRun) freshFrom(rng *rand.Rand) (name, phone string) {
	r.seq++
	return fmt.Sprintf("Company %d-%03d", r.seq, rng.IntN(1000)), fmt.Sprintf("+1 555 %06d", r.seq)
}

// note records a user's write of a pair: it is the pair's newest, so its values win.
func (r *rndRun) note(side, op string, rec rndRec) {
	d := rndNorm(rec.Domain)
	if w, ok := r.want[d]; ok && !rec.At.After(w.At) {
		r.errorf("%s: user stamp %s is not after the previous one %s", d, rec.At, w.At)
	}
	r.want[d] = rndWant{Name: rec.Name, Phone: rec.Phone, At: rec.At, Side: side, Op: op}
	r.ops[d] = append(r.ops[d], fmt.Sprintf("%s %s on %s: %s", rec.At.Format("15:04:05.000000"), op, side, rec))
	r.userAt[rec.At.UnixNano()] = true
	r.counts[op+" "+side]++
}

// setUp writes the companies both sides start with: about 300 keys, a quarter only on a,
// a quarter only on b, a quarter on both with equal values, a quarter on both with
// different values (a conflict of the first run, which the later write wins).
func (r *rndRun) setUp() {
	var both []string
	for i := range 300 {
		d := fmt.Sprintf("c%04d.example.com", i)
		name, phone := r.fresh()
		switch r.rng.IntN(4) {
		case 0:
			r.insert("a", "seed", name, d, phone)
		case 1:
			r.insert("b", "seed", name, d, phone)
		case 2:
			both = append(both, d)
			first, second := r.order()
			r.insert(first, "seed", name, r.variant(d), phone)
			r.insert(second, "seed", name, r.variant(d), phone)
		default:
			both = append(both, d)
			first, second := r.order()
			r.insert(first, "seed", name, r.variant(d), phone)
			name, phone = r.fresh()
			r.insert(second, "seed", name, r.variant(d), phone)
		}
	}
	// A few keys of records on both sides are edited much more often, so that some
	// pairs are edited on both sides between two runs, and edited again right after
	// Tandem wrote them.
	r.hot = both[:min(rndHot, len(both))]
}

// insert creates a company on side as a user would (on the test's goroutine).
func (r *rndRun) insert(side, op, name, domain, phone string) rndRec {
	rec, err := r.sides[side].insert(name, domain, phone)
	if err != nil {
		r.fatalf("insert %s on %s: %v", domain, side, err)
	}
	r.note(side, op, rec)
	return rec
}

func (r *rndRun) order() (string, string) {
	if r.rng.IntN(2) == 0 {
		return "a", "b"
	}
	return "b", "a"
}

// variant writes a key differently, equal once normalized (memory only).
func (r *rndRun) variant(d string) string {
	if !r.variants {
		return d
	}
	switch r.rng.IntN(4) {
	case 0:
		return "www." + d
	case 1:
		return strings.ToUpper(d)
	}
	return d
}

// operate makes one random user operation while the sync runs.
func (r *rndRun) operate() {
	r.mu.Lock()
	defer r.mu.Unlock()
	side := "a"
	if r.rng.IntN(2) == 0 {
		side = "b"
	}
	if r.rng.IntN(5) == 0 { // an insert of a new company
		name, phone := r.fresh()
		d := fmt.Sprintf("new%04d-%s.example.com", r.seq, side)
		rec := r.insert(side, "insert", name, r.variant(d), phone)
		r.maybeAnnounce(side, rec.ID)
		return
	}
	recs := r.sides[side].records(r.t)
	if r.rng.IntN(rndHotShare) == 0 && len(r.hot) > 0 { // an edit of a hot pair
		d := r.hot[r.rng.IntN(len(r.hot))]
		recs = slices.DeleteFunc(recs, func(x rndRec) bool { return rndNorm(x.Domain) != d })
	}
	if len(recs) == 0 {
		return
	}
	target := recs[r.rng.IntN(len(recs))]
	if _, ok := r.want[rndNorm(target.Domain)]; !ok {
		r.fatalf("record %s on %s has a domain no user wrote: %s", target.ID, side, target)
	}
	name, phone := r.fresh()
	rec, err := r.sides[side].edit(target.ID, name, phone)
	if err != nil {
		r.fatalf("edit %s on %s: %v", target, side, err)
	}
	r.note(side, "edit", rec)
	r.maybeAnnounce(side, rec.ID)
}

// race is called with the records one of Tandem's reads of side returned: now and then a
// user edits one of them at once (on the worker's goroutine, hence errors, not Fatal).
func (r *rndRun) race(side string, recs []connectors.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.racing || rndRaceOdds == 0 || r.raceRng.IntN(rndRaceOdds) != 0 {
		return
	}
	target := recs[r.raceRng.IntN(len(recs))]
	name, phone := r.freshFrom(r.raceRng)
	rec, err := r.sides[side].edit(target.ID, name, phone)
	if err != nil {
		r.errorf("edit %s on %s just after Tandem read it: %v", target.ID, side, err)
		return
	}
	r.note(side, "edit just after Tandem read it", rec)
}

func (r *rndRun) maybeAnnounce(side, id string) {
	if r.announce && r.rng.IntN(3) == 0 {
		announce(r.s, side, id)
		r.counts["announced"]++
	}
}

// snapshot reads both sides by normalized domain.
func (r *rndRun) snapshot() map[string]map[string][]rndRec {
	out := map[string]map[string][]rndRec{}
	for _, side := range []string{"a", "b"} {
		by := map[string][]rndRec{}
		for _, rec := range r.sides[side].records(r.t) {
			d := rndNorm(rec.Domain)
			by[d] = append(by[d], rec)
		}
		out[side] = by
	}
	return out
}

// apart lists the keys on which the two sides do not agree (missing on a side, on a
// side more than once, or different values), sorted.
func (r *rndRun) apart(snap map[string]map[string][]rndRec) []string {
	var out []string
	for _, d := range r.allDomains(snap) {
		ra, rb := snap["a"][d], snap["b"][d]
		if len(ra) != 1 || len(rb) != 1 || ra[0].Name != rb[0].Name || ra[0].Phone != rb[0].Phone {
			out = append(out, d)
		}
	}
	return out
}

func (r *rndRun) allDomains(snap map[string]map[string][]rndRec) []string {
	set := map[string]bool{}
	for d := range r.want {
		set[d] = true
	}
	for _, by := range snap {
		for d := range by {
			set[d] = true
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for d := range set {
			if !yield(d) {
				return
			}
		}
	})
}

// report describes a key for a failure: the newest edit, every user operation, both
// sides' records now, every write stored to them (by users and by Tandem), the pair's
// link and the sync's decisions about it.
func (r *rndRun) report(snap map[string]map[string][]rndRec, st workflows.Status, d string) string {
	var b strings.Builder
	w, ok := r.want[d]
	if ok {
		fmt.Fprintf(&b, "\n  key %s: expected name %q phone %q (newest user write: %s on %s at %s)", d, w.Name, w.Phone, w.Op, w.Side, w.At.Format("15:04:05.000000"))
	} else {
		fmt.Fprintf(&b, "\n  key %s: no user ever wrote it", d)
	}
	for _, op := range r.ops[d] {
		fmt.Fprintf(&b, "\n    user: %s", op)
	}
	for _, side := range []string{"a", "b"} {
		var ids []string
		for _, rec := range snap[side][d] {
			fmt.Fprintf(&b, "\n    %s now: %s", side, rec)
			ids = append(ids, rec.ID)
		}
		if len(ids) == 0 {
			fmt.Fprintf(&b, "\n    %s now: no record", side)
		}
		for _, h := range r.sides[side].history(r.t, ids) {
			who := "Tandem"
			if r.userAt[h.At.UnixNano()] {
				who = "user"
			}
			if h.Note != "" {
				who += " " + h.Note
			}
			h.Note = who
			fmt.Fprintf(&b, "\n    %s write: %s", side, h)
		}
		if side == "a" && len(ids) > 0 && r.s.Acts.Links != nil {
			links, err := r.s.Acts.Links.Get(context.Background(), r.s.Name, "a", ids)
			for id, l := range links {
				fmt.Fprintf(&b, "\n    link of a %s: %+v", id, l)
			}
			if err != nil {
				fmt.Fprintf(&b, "\n    link store: %v", err)
			}
		}
	}
	for _, dec := range st.Decisions {
		if dec.Key == d {
			fmt.Fprintf(&b, "\n    decision: %+v", dec)
		}
	}
	for _, f := range st.Failures {
		if f.Key == d {
			fmt.Fprintf(&b, "\n    failure: %+v", f)
		}
	}
	for _, h := range st.Held {
		if h.Key == d {
			fmt.Fprintf(&b, "\n    held: %+v", h)
		}
	}
	return b.String()
}

// reports describes up to 5 keys.
func (r *rndRun) reports(snap map[string]map[string][]rndRec, st workflows.Status, keys []string) string {
	var b strings.Builder
	for i, d := range keys {
		if i == 5 {
			fmt.Fprintf(&b, "\n  ... and %d more keys", len(keys)-i)
			break
		}
		b.WriteString(r.report(snap, st, d))
	}
	return b.String()
}

func rndStatus(st workflows.Status) string {
	s := fmt.Sprintf("runs %d, totals %+v, realtime %+v, events %+v, pending %d, held %d %+v, overflowed %d, failures %+v",
		st.Runs, st.Totals, st.Realtime, st.Events, st.Pending, st.HeldCount, st.Held, st.Overflowed, st.Failures)
	if st.LastRun != nil {
		s += fmt.Sprintf(", last run %+v", *st.LastRun)
	}
	return s
}

// rndFinished is the number of the last run that finished.
func rndFinished(st workflows.Status) int {
	if st.LastRun == nil {
		return 0
	}
	return st.LastRun.Number
}

func (r *rndRun) exercise() {
	t, s := r.t, r.s
	r.setUp()
	for _, side := range []string{"a", "b"} {
		r.sides[side].reads().set(func(recs []connectors.Record) { r.race(side, recs) })
	}
	began := time.Now()
	s.Start()

	// Users edit and insert while the sync runs.
	r.mu.Lock()
	r.racing = true
	r.mu.Unlock()
	for until := time.Now().Add(rndEditFor); time.Now().Before(until); {
		r.operate()
		time.Sleep(time.Duration(r.rng.Int64N(int64(rndPause))))
	}
	r.mu.Lock()
	r.racing = false
	r.mu.Unlock()
	edited := time.Now()

	// The sides converge: they agree on every key, no webhook event waits, no pair is held
	// (a hold ends after rndCoolDown, and the pair is compared again), and a whole run
	// started after they agreed finds them still agreeing.
	deadline := time.Now().Add(rndConverge)
	var snap map[string]map[string][]rndRec
	var st workflows.Status
	for {
		st = s.Status()
		snap = r.snapshot()
		apart := r.apart(snap)
		if len(apart) == 0 && st.Pending == 0 && st.HeldCount == 0 && len(st.Held) == 0 {
			from := rndFinished(st)
			if st.Current != nil {
				from = st.Current.Number
			}
			st = s.WaitFor("a run after the sides agreed", time.Minute, func(st workflows.Status) bool {
				return rndFinished(st) > from && st.Current == nil && st.Pending == 0
			})
			snap = r.snapshot()
			if apart = r.apart(snap); len(apart) == 0 && st.HeldCount == 0 && len(st.Held) == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			r.fatalf("the sides still disagree on %d keys %s after editing stopped: %v\nstatus: %s%s",
				len(apart), rndConverge, apart, rndStatus(st), r.reports(snap, st, apart))
		}
		time.Sleep(200 * time.Millisecond)
	}
	converged := time.Now()

	// Every key once on each side, both equal, with the values of the pair's newest edit.
	var wrong []string
	for _, d := range r.allDomains(snap) {
		ra, rb := snap["a"][d], snap["b"][d]
		w, ok := r.want[d]
		if !ok || len(ra) != 1 || len(rb) != 1 || ra[0].Name != w.Name || ra[0].Phone != w.Phone || rb[0].Name != w.Name || rb[0].Phone != w.Phone {
			wrong = append(wrong, d)
		}
	}
	if len(wrong) > 0 {
		r.errorf("%d of %d keys do not hold the values of their newest edit (or are not once on each side): %v\nstatus: %s%s",
			len(wrong), len(r.want), wrong, rndStatus(st), r.reports(snap, st, wrong))
	}
	if st.Totals.Failed != 0 || len(st.Failures) != 0 {
		r.errorf("%d records failed: %+v", st.Totals.Failed, st.Failures)
	}
	if st.HeldCount != 0 || len(st.Held) != 0 {
		r.errorf("%d pairs held: %+v", st.HeldCount, st.Held)
	}
	if st.LastRun != nil && st.LastRun.Error != "" {
		r.errorf("the last run stopped early: %s", st.LastRun.Error)
	}
	if st.Events.LastError != "" {
		r.errorf("a webhook micro-batch failed: %s", st.Events.LastError)
	}

	// A quiet minute: runs go on every 2 s and write nothing.
	before := r.sides["a"].writes(t) + r.sides["b"].writes(t)
	quiet, from := time.Now(), rndFinished(st)
	st = s.WaitFor(fmt.Sprintf("%d quiet runs", rndQuietRuns), rndQuietFor+2*time.Minute, func(st workflows.Status) bool {
		return rndFinished(st) >= from+rndQuietRuns && time.Since(quiet) >= rndQuietFor
	})
	if after := r.sides["a"].writes(t) + r.sides["b"].writes(t); after != before {
		later := r.snapshot()
		var written []string
		for _, d := range r.allDomains(later) {
			for _, side := range []string{"a", "b"} {
				if !slices.Equal(snap[side][d], later[side][d]) && !slices.Contains(written, d) {
					written = append(written, d)
				}
			}
		}
		r.errorf("%d writes in the quiet %s (%d runs) after the sides agreed, to keys %v; status: %s%s", after-before,
			time.Since(quiet).Round(time.Second), rndFinished(st)-from, written, rndStatus(st), r.reports(later, st, written))
	}
	if st.Totals.Failed != 0 || st.HeldCount != 0 {
		r.errorf("after the quiet period: %d failed, %d held; status: %s", st.Totals.Failed, st.HeldCount, rndStatus(st))
	}
	t.Logf("%s: %d keys, user operations %v; sync and edits %s, converged %s after it, quiet %s (%d runs); %d runs in all, totals %+v, realtime %+v",
		t.Name(), len(r.want), r.counts, edited.Sub(began).Round(time.Second), converged.Sub(edited).Round(100*time.Millisecond),
		time.Since(quiet).Round(time.Second), rndFinished(st)-from, rndFinished(st), st.Totals, st.Realtime)
}
