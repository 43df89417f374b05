package pairs

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // another SQLite build, by the driver name "sqlite"
)

func openSQLiteFile(t *testing.T) Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "data", ".tandem", "links.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSQLiteStore(t *testing.T) {
	t.Parallel()
	testStore(t, openSQLiteFile)
}

// TestSQLiteStoreKeepsAgreeingValuesOnce: the row of a pair whose halves hold the same
// values has them in a_values alone.
func TestSQLiteStoreKeepsAgreeingValuesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "links.db")
	s, err := OpenSQLite(path)
	require.NoError(t, err)
	v := map[string]any{"name": "Ada", "employees": 12.0}
	require.NoError(t, s.Save(context.Background(), "s", []Link{
		{A: Half{ID: "a1", Values: v}, B: Half{ID: "b1", Values: maps.Clone(v)}},
		{A: Half{ID: "a2", Values: v}, B: Half{ID: "b2", Values: map[string]any{"name": "Ada", "employees": 13.0}}},
	}))
	require.NoError(t, s.Close())
	db, err := sql.Open("sqlite3", "file:"+path)
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	rows := map[string]string{}
	r, err := db.Query(`SELECT a_id, b_values FROM links`)
	require.NoError(t, err)
	for r.Next() {
		var id, b string
		require.NoError(t, r.Scan(&id, &b))
		rows[id] = b
	}
	require.NoError(t, r.Err())
	assert.Equal(t, map[string]string{"a1": "=", "a2": `{"employees":13,"name":"Ada"}`}, rows)
}

// TestSQLiteStoreSavesEachLinksOwnColumns: a SQLite save binds a column only when its
// value differs from the link before's (the statement keeps the last); links that take
// turns between a full link, a bare one and ones sharing some columns read back each as
// saved, and so does a second save over the same statement's values.
func TestSQLiteStoreSavesEachLinksOwnColumns(t *testing.T) {
	inMemoryAndOnFile(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		var want []Link
		for i := range 12 {
			a, b := fmt.Sprintf("a%02d", i), fmt.Sprintf("b%02d", i)
			var l Link
			switch i % 4 {
			case 0:
				l = fullLink(a, b)
			case 1:
				l = testLink(a, b)
			case 2: // the full link's times and decision, no hold, B's values as A's
				l = fullLink(a, b)
				l.HeldUntil, l.HeldReason, l.Misreads = time.Time{}, "", 0
				l.B.Values, l.B.WroteAt = maps.Clone(l.A.Values), at(2*time.Second)
			case 3: // a bare link that ended
				l = testLink(a, b)
				l.Gone, l.Misreads, l.B.FP = "a", 1, "fp-b"
			}
			want = append(want, l)
		}
		require.NoError(t, s.Save(ctx, "s", want))
		// Saved again in another order: each replaces its row.
		again := slices.Clone(want)
		slices.Reverse(again)
		again[0].Decision, again[5].Decision = "saved again", "saved again"
		require.NoError(t, s.Save(ctx, "s", again))
		all := make([]string, len(want))
		for i, l := range want {
			all[i] = l.A.ID
		}
		got, err := s.Get(ctx, "s", "a", all)
		require.NoError(t, err)
		require.Len(t, got, len(again))
		for _, l := range again {
			requireSameLink(t, l, got[l.A.ID])
		}
	})
}

func TestSQLiteStoreMemory(t *testing.T) {
	t.Parallel()
	testStore(t, func(t *testing.T) Store {
		s, err := Open(":memory:")
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// TestSQLiteStoreReopen checks that links outlive the store: a second Open of the file
// finds them, and creating the tables again is harmless.
// TestSQLiteStoreOutlivesCutLookUps: look-ups cut by their context, at any point of
// their read transaction, fail with the context's error, and leave the store as it was.
// database/sql closes a connection whose transaction's context ends (the driver cannot
// reset one): an in-memory store's database lived in its one connection, and was gone
// after such a look-up ("no such table: links"); and SQLite says "interrupted", which
// hid why.
func TestSQLiteStoreOutlivesCutLookUps(t *testing.T) {
	inMemoryAndOnFile(t, func(t *testing.T, s Store) {
		links, ids := benchLinks(20_000)
		require.NoError(t, s.Save(t.Context(), "s", links))
		cut := 0
		for i := 0; i < 500 && cut < 20; i++ {
			ctx, cancel := context.WithTimeout(t.Context(), time.Duration(1+i%3)*time.Millisecond)
			_, err := s.Get(ctx, "s", "a", ids)
			cancel()
			if err != nil {
				cut++
				require.ErrorIs(t, err, context.DeadlineExceeded)
			}
		}
		require.Positive(t, cut, "no look-up was cut")
		n, err := s.Count(t.Context(), "s")
		require.NoError(t, err)
		assert.Equal(t, 20_000, n)
		got, err := s.Get(t.Context(), "s", "a", ids[:1])
		require.NoError(t, err)
		assert.Equal(t, links[0].B.ID, got[ids[0]].B.ID)
	})
}

// TestSQLiteStoreSavesAfterAFailedRollback: a save that fails and cannot roll its
// transaction back (its ROLLBACK fails: here it is skipped) gives its connection up rather
// than hand it back to the pool inside the transaction, where the next save failed with
// "cannot start a transaction within a transaction".
func TestSQLiteStoreSavesAfterAFailedRollback(t *testing.T) {
	inMemoryAndOnFile(t, func(t *testing.T, s Store) {
		links, _ := benchLinks(10)
		bad := slices.Clone(links)
		bad[5].B.ID = "" // fails the save after five rows

		rollback := rollbackSave
		t.Cleanup(func() { rollbackSave = rollback })
		rollbackSave = func(*sqlite3.Conn) error { return errors.New("disk I/O error") }
		require.ErrorContains(t, s.Save(t.Context(), "s", bad), "needs the ids of both records")
		rollbackSave = rollback

		require.NoError(t, s.Save(t.Context(), "s", links))
		n, err := s.Count(t.Context(), "s")
		require.NoError(t, err)
		assert.Equal(t, 10, n, "the failed save left none of its rows")
	})
}

// inMemoryAndOnFile runs test on a SQLite store in memory, then on one in a file.
func inMemoryAndOnFile(t *testing.T, test func(t *testing.T, s Store)) {
	for _, path := range []string{":memory:", filepath.Join(t.TempDir(), "links.db")} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			s, err := OpenSQLite(path)
			require.NoError(t, err)
			defer func() { _ = s.Close() }()
			test(t, s)
		})
	}
}

// A new SQLite store has pages of sqlitePageSize; a file made with SQLite's own page size
// (an older Tandem's) keeps it and works as before.
func TestSQLiteStorePageSize(t *testing.T) {
	ctx := context.Background()
	pageSize := func(path string) int {
		db, err := sql.Open("sqlite3", "file:"+path)
		require.NoError(t, err)
		defer func() { _ = db.Close() }()
		var n int
		require.NoError(t, db.QueryRow(`PRAGMA page_size`).Scan(&n))
		return n
	}
	fresh := filepath.Join(t.TempDir(), "links.db")
	s, err := OpenSQLite(fresh)
	require.NoError(t, err)
	require.NoError(t, s.Save(ctx, "s", []Link{testLink("a1", "b1")}))
	require.NoError(t, s.Close())
	assert.Equal(t, sqlitePageSize, pageSize(fresh))

	older := filepath.Join(t.TempDir(), "links.db")
	db, err := sql.Open("sqlite3", "file:"+older+"?_pragma=page_size(4096)&_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE other (x)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	s, err = OpenSQLite(older)
	require.NoError(t, err)
	links := make([]Link, 2000)
	for i := range links {
		links[i] = fullLink(fmt.Sprintf("a%04d", i), fmt.Sprintf("b%04d", i))
	}
	require.NoError(t, s.Save(ctx, "s", links))
	got, err := s.Get(ctx, "s", "b", []string{"b0000", "b1999"})
	require.NoError(t, err)
	requireSameLink(t, links[1999], got["b1999"])
	require.NoError(t, s.Close())
	assert.Equal(t, 4096, pageSize(older))
}

func TestSQLiteStoreReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "odd dir ?#%", "links.db")
	s, err := OpenSQLite(path)
	require.NoError(t, err)
	want := fullLink("a1", "b1")
	require.NoError(t, s.Save(ctx, "s", []Link{want, testLink("a2", "b2")}))
	require.NoError(t, s.Close())

	info, err := os.Stat(path)
	require.NoError(t, err, "the file is at the path given, not a URI-decoded one")
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	s, err = Open(path)
	require.NoError(t, err)
	defer func() { _ = s.Close() }()
	got, err := s.Get(ctx, "s", "a", []string{"a1"})
	require.NoError(t, err)
	requireSameLink(t, want, got["a1"])
	n, err := s.Count(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	var mode string
	require.NoError(t, s.(*sqlStore).db.QueryRow(`PRAGMA journal_mode`).Scan(&mode))
	assert.Equal(t, "wal", mode)
	var busy int
	require.NoError(t, s.(*sqlStore).db.QueryRow(`PRAGMA busy_timeout`).Scan(&busy))
	assert.Positive(t, busy)
}

// TestSQLiteStoreReadsBesideAWrite holds a file store's writer in an open transaction, as
// a Save of a page's links does, and looks links up meanwhile (a two-way chunk does that
// for its next page): the look-up answers at once, with what was committed only.
func TestSQLiteStoreReadsBesideAWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openSQLiteFile(t)
	require.NoError(t, s.Save(ctx, "s", []Link{testLink("a1", "b1")}))
	tx, err := s.(*sqlStore).db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	_, err = tx.ExecContext(ctx, `DELETE FROM links WHERE a_id = 'a1'`)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `INSERT INTO links (sync, a_id, b_id) VALUES ((SELECT n FROM syncs WHERE name = 's'), 'a2', 'b2')`)
	require.NoError(t, err)

	rctx, cancel := context.WithTimeout(ctx, time.Minute) // what blocks waits for the rollback
	defer cancel()
	got, err := s.Get(rctx, "s", "a", []string{"a1", "a2"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a1"}, slices.Sorted(maps.Keys(got)))
	n, err := s.Count(rctx, "s")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = s.(*sqlStore).rdb.ExecContext(rctx, `DELETE FROM links`)
	require.ErrorContains(t, err, "readonly", "the reading connections only read")
}

// TestSQLiteStoreGainsTheGoneColumn opens a store made before deletes existed (no gone
// column, no deletes table): its links are kept and read as live.
func TestSQLiteStoreGainsTheGoneColumn(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "links.db")
	s, err := OpenSQLite(path)
	require.NoError(t, err)
	require.NoError(t, s.Save(ctx, "s", []Link{testLink("a1", "b1")}))
	db := s.(*sqlStore).db
	_, err = db.Exec(`ALTER TABLE links DROP COLUMN gone`)
	require.NoError(t, err)
	_, err = db.Exec(`DROP TABLE deletes`)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = OpenSQLite(path)
	require.NoError(t, err)
	defer func() { _ = s.Close() }()
	got, err := s.Get(ctx, "s", "a", []string{"a1"})
	require.NoError(t, err)
	assert.Equal(t, "", got["a1"].Gone)
	n, err := s.Count(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	require.NoError(t, s.AddDeletes(ctx, "s", []PendingDelete{{Side: "a", ID: "a1", How: "diff"}}))
}

func TestOpenChoosesBackend(t *testing.T) {
	for dsn, pg := range map[string]bool{
		"postgres://u:p@h/db":              true,
		"postgresql://h/db":                true,
		"POSTGRES://h/db":                  true,
		"host=localhost dbname=x user=u":   true,
		"dbname=x":                         true,
		"/var/lib/tandem/.tandem/links.db": false,
		".tandem/links.db":                 false,
		":memory:":                         false,
		"ghost=1.db":                       false,
	} {
		assert.Equal(t, pg, isPostgresDSN(dsn), dsn)
	}
	_, err := Open("")
	assert.Error(t, err)
}

// at is a fixed instant with microseconds, plus d.
func at(d time.Duration) time.Time {
	return time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC).Add(d)
}

// testLink is a link with a key and a SyncedAt.
func testLink(a, b string) Link {
	return Link{Key: a + "|" + b, A: Half{ID: a}, B: Half{ID: b}, SyncedAt: at(0)}
}

// fullLink is a link with every field set.
func fullLink(a, b string) Link {
	paris := time.FixedZone("CET", 3600)
	return Link{
		Key: "key of " + a,
		A: Half{
			ID:      a,
			Values:  map[string]any{"name": "Ada <&> Lovelace", "employees": 12.5, "active": true, "phone": nil, "tags": []any{"x", 1.0}},
			FP:      "fp-a",
			WroteAt: at(time.Second).In(paris),
		},
		B: Half{
			ID:     b,
			Values: map[string]any{"Name": "Ada", "Count": -3.0, "Big": 1e300, "Off": false, "Nested": map[string]any{"k": "v"}},
			FP:     "fp-b",
		},
		HeldUntil:  at(time.Hour),
		HeldReason: "ping-pong on name",
		Misreads:   2,
		Decision:   "update b: name changed on a",
		SyncedAt:   at(0).Add(123 * time.Nanosecond), // stored to the microsecond
	}
}

// requireSameLink checks that got is want as stored: times to the microsecond, in UTC, and
// empty Values as nil.
func requireSameLink(t *testing.T, want, got Link) {
	t.Helper()
	times := func(l *Link) []*time.Time {
		return []*time.Time{&l.A.WroteAt, &l.B.WroteAt, &l.HeldUntil, &l.SyncedAt}
	}
	wt, gt := times(&want), times(&got)
	for i := range wt {
		w := wt[i].Truncate(time.Microsecond)
		assert.True(t, w.Equal(*gt[i]), "time %d: want %v, got %v", i, w, *gt[i])
		if !gt[i].IsZero() {
			assert.Equal(t, time.UTC, gt[i].Location(), "time %d", i)
		}
		*wt[i], *gt[i] = time.Time{}, time.Time{}
	}
	for _, h := range []*Half{&want.A, &want.B} {
		if len(h.Values) == 0 {
			h.Values = nil
		}
	}
	require.Equal(t, want, got)
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	return out
}

// glance is s's Glance of ids by id, each link checked to be given with its id's place,
// once a place (an id given twice has its link given twice).
func glance(ctx context.Context, t *testing.T, s Store, sync string, side Side, ids []string) (map[string]Link, error) {
	t.Helper()
	out := map[string]Link{}
	places := map[int]bool{}
	err := s.Glance(ctx, sync, side, ids, func(i int, l *Link) {
		require.Equal(t, ids[i], l.Half(side).ID, "the link given with id %d", i)
		require.False(t, places[i], "place %d given twice", i)
		places[i] = true
		if prev, ok := out[ids[i]]; ok {
			require.Equal(t, prev, *l, "id %s's places", ids[i])
		}
		out[ids[i]] = *l
	})
	return out, err
}

// testStore runs the behaviour every Store must have against fresh, empty stores open
// gives.
func testStore(t *testing.T, open func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("AgreeingValuesOnce", func(t *testing.T) {
		// Side b's values equal to side a's are kept once; each comes back whole, and as a
		// map of its own. Values that differ only in -0 or a type, or are on one side
		// only, are kept apart.
		s := open(t)
		vals := func() map[string]any {
			return map[string]any{"name": "Ada", "employees": 12.0, "tags": []any{"x", 1.0}, "at": map[string]any{"k": "v"}, "none": nil}
		}
		same := Link{Key: "k1", A: Half{ID: "a1", Values: vals(), FP: "fp"}, B: Half{ID: "b1", Values: vals(), FP: "fp"}, SyncedAt: at(0)}
		negZero := Link{Key: "k2", A: Half{ID: "a2", Values: map[string]any{"n": 0.0}}, B: Half{ID: "b2", Values: map[string]any{"n": math.Copysign(0, -1)}}}
		typed := Link{Key: "k3", A: Half{ID: "a3", Values: map[string]any{"n": "1", "l": []any{0.0}}}, B: Half{ID: "b3", Values: map[string]any{"n": 1.0, "l": []any{math.Copysign(0, -1)}}}}
		nestedZero := Link{Key: "k6", A: Half{ID: "a6", Values: map[string]any{"l": []any{0.0}, "m": map[string]any{"z": 0.0}}},
			B: Half{ID: "b6", Values: map[string]any{"l": []any{math.Copysign(0, -1)}, "m": map[string]any{"z": 0.0}}}}
		bOnly := Link{Key: "k4", A: Half{ID: "a4"}, B: Half{ID: "b4", Values: vals()}}
		aOnly := Link{Key: "k5", A: Half{ID: "a5", Values: vals()}, B: Half{ID: "b5"}}
		require.NoError(t, s.Save(ctx, "s", []Link{same, negZero, typed, bOnly, aOnly, nestedZero}))
		got, err := s.Get(ctx, "s", "a", []string{"a1", "a2", "a3", "a4", "a5", "a6"})
		require.NoError(t, err)
		for _, want := range []Link{same, negZero, typed, bOnly, aOnly, nestedZero} {
			requireSameLink(t, want, got[want.A.ID])
		}
		assert.True(t, math.Signbit(got["a2"].B.Values["n"].(float64)), "b's -0 is its own")
		assert.True(t, math.Signbit(got["a6"].B.Values["l"].([]any)[0].(float64)), "b's -0 in a list is its own")
		g := got["a1"]
		g.A.Values["name"] = "changed"
		g.A.Values["tags"].([]any)[0] = "changed"
		assert.Equal(t, vals(), g.B.Values, "b's values are not a's map")
	})

	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		full := fullLink("a1", "b1")
		bare := Link{A: Half{ID: "a2", Values: map[string]any{}}, B: Half{ID: "b2"}}
		unicode := testLink("ä/ü 1", "ß'\"; DROP TABLE links; --")
		require.NoError(t, s.Save(ctx, "s", []Link{full, bare, unicode}))

		byA, err := s.Get(ctx, "s", "a", []string{"a1", "a2", "ä/ü 1", "missing"})
		require.NoError(t, err)
		require.Len(t, byA, 3)
		requireSameLink(t, full, byA["a1"])
		requireSameLink(t, bare, byA["a2"])
		requireSameLink(t, unicode, byA["ä/ü 1"])
		assert.Nil(t, byA["a2"].A.Values, "empty Values come back nil")
		assert.IsType(t, float64(0), byA["a1"].A.Values["employees"])
		assert.True(t, byA["a2"].SyncedAt.IsZero())
		assert.True(t, byA["a2"].HeldUntil.IsZero())

		byB, err := s.Get(ctx, "s", "b", []string{"b1", "ß'\"; DROP TABLE links; --", "a2"})
		require.NoError(t, err)
		require.Len(t, byB, 2, "keyed by side b id; a2 is not a side b id")
		requireSameLink(t, full, byB["b1"])
		requireSameLink(t, unicode, byB["ß'\"; DROP TABLE links; --"])

		// Glance: what settles a link (ids, fingerprints, write times, hold, misreads,
		// gone), and nothing else.
		glanced, err := glance(ctx, t, s, "s", "b", []string{"b1", "b2", "missing"})
		require.NoError(t, err)
		require.Len(t, glanced, 2)
		for id, want := range map[string]Link{"b1": full, "b2": bare} {
			want.Key, want.A.Values, want.B.Values = "", nil, nil
			want.Decision, want.HeldReason, want.SyncedAt = "", "", time.Time{}
			requireSameLink(t, want, glanced[id])
			assert.Nil(t, glanced[id].A.Values)
			assert.Nil(t, glanced[id].B.Values)
		}
		assert.Equal(t, "fp-a", glanced["b1"].A.FP)
		_, err = glance(ctx, t, s, "s", "c", []string{"a1"})
		assert.Error(t, err)

		got, err := s.Get(ctx, "s", "a", nil)
		require.NoError(t, err)
		assert.Empty(t, got)
		_, err = s.Get(ctx, "s", "c", []string{"a1"})
		assert.Error(t, err)
		assert.Error(t, s.Delete(ctx, "s", "", []string{"a1"}))
	})

	t.Run("InvalidLinks", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.Save(ctx, "s", []Link{testLink("a1", "b1")}))
		assert.Error(t, s.Save(ctx, "s", []Link{testLink("a1", "b2"), testLink("a3", "")}))
		bad := testLink("a1", "b2")
		bad.A.Values = map[string]any{"ch": make(chan int)}
		assert.Error(t, s.Save(ctx, "s", []Link{bad}))
		bad = testLink("a1", "b2")
		bad.HeldUntil = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		assert.Error(t, s.Save(ctx, "s", []Link{bad}))
		got, err := s.Get(ctx, "s", "a", []string{"a1"})
		require.NoError(t, err)
		assert.Equal(t, "b1", got["a1"].B.ID, "a refused batch writes nothing")
		require.NoError(t, s.Save(ctx, "s", nil))
		require.NoError(t, s.Delete(ctx, "s", "a", nil))
	})

	t.Run("Relink", func(t *testing.T) {
		s := open(t)
		linked := func(side Side, id string) string {
			t.Helper()
			got, err := s.Get(ctx, "s", side, []string{id})
			require.NoError(t, err)
			l, ok := got[id]
			if !ok {
				return ""
			}
			return l.A.ID + "-" + l.B.ID
		}
		require.NoError(t, s.Save(ctx, "s", []Link{testLink("a1", "b1")}))
		require.NoError(t, s.Save(ctx, "s", []Link{testLink("a1", "b2")}))
		assert.Equal(t, "", linked("b", "b1"), "b1 is no longer linked")
		assert.Equal(t, "a1-b2", linked("a", "a1"))

		require.NoError(t, s.Save(ctx, "s", []Link{testLink("a2", "b1")}))
		assert.Equal(t, "a1-b2", linked("a", "a1"), "the a1-b2 link stays")
		assert.Equal(t, "a2-b1", linked("b", "b1"))

		// a3-b2 holds a record of a1-b2 and a2-b3 one of a2-b1: both are removed.
		require.NoError(t, s.Save(ctx, "s", []Link{testLink("a3", "b2"), testLink("a2", "b3")}))
		assert.Equal(t, "", linked("a", "a1"))
		assert.Equal(t, "", linked("b", "b1"))
		assert.Equal(t, "a3-b2", linked("b", "b2"))
		assert.Equal(t, "a2-b3", linked("a", "a2"))

		// One link holding the records of two.
		require.NoError(t, s.Save(ctx, "s", []Link{testLink("a3", "b3")}))
		assert.Equal(t, "a3-b3", linked("a", "a3"))
		assert.Equal(t, "", linked("a", "a2"))
		assert.Equal(t, "", linked("b", "b2"))
		n, err := s.Count(ctx, "s")
		require.NoError(t, err)
		assert.Equal(t, 1, n)

		// Saving the same pair again replaces it (new values).
		l := testLink("a3", "b3")
		l.Decision = "again"
		require.NoError(t, s.Save(ctx, "s", []Link{l}))
		got, err := s.Get(ctx, "s", "a", []string{"a3"})
		require.NoError(t, err)
		assert.Equal(t, "again", got["a3"].Decision)
	})

	t.Run("DedupeWithinBatch", func(t *testing.T) {
		s := open(t)
		first, second := testLink("a1", "b1"), testLink("a1", "b2")
		first.Decision, second.Decision = "first", "second"
		require.NoError(t, s.Save(ctx, "s", []Link{
			first, testLink("a3", "b3"), second, testLink("a4", "b3"), testLink("a5", "b5"),
		}))
		all, err := s.Scan(ctx, "s", "", 100)
		require.NoError(t, err)
		var pairs []string
		for _, l := range all {
			pairs = append(pairs, l.A.ID+"-"+l.B.ID+l.Decision)
		}
		assert.Equal(t, []string{"a1-b2second", "a4-b3", "a5-b5"}, pairs)

		// savedInTurn saves stored, then batch, and lists the links left.
		savedInTurn := func(stored, batch []Link) []string {
			s := open(t)
			require.NoError(t, s.Save(ctx, "s", stored))
			require.NoError(t, s.Save(ctx, "s", batch))
			all, err := s.Scan(ctx, "s", "", 100)
			require.NoError(t, err)
			var pairs []string
			for _, l := range all {
				pairs = append(pairs, l.A.ID+"-"+l.B.ID)
			}
			return pairs
		}
		// A chain: each link replaces the one before it, as if saved one by one; the
		// records of the replaced links lose their earlier links too.
		assert.Equal(t, []string{"a2-b2", "a7-b7"}, savedInTurn(
			[]Link{testLink("a9", "b1"), testLink("a7", "b7")},
			[]Link{testLink("a1", "b1"), testLink("a2", "b1"), testLink("a2", "b2")}))
		// A stored link whose record's new link is replaced within the batch is gone too:
		// a1-b1 stored, then a1-b2 and a3-b2 leave a3-b2, with a1 and b1 unlinked.
		assert.Equal(t, []string{"a3-b2", "a7-b7"}, savedInTurn(
			[]Link{testLink("a1", "b1"), testLink("a7", "b7")},
			[]Link{testLink("a1", "b2"), testLink("a3", "b2")}))
	})

	t.Run("IdempotentSave", func(t *testing.T) {
		s := open(t)
		batch := []Link{fullLink("a1", "b1"), testLink("a2", "b2"), testLink("a2", "b3"), testLink("a4", "b4")}
		require.NoError(t, s.Save(ctx, "s", batch))
		once, err := s.Scan(ctx, "s", "", 100)
		require.NoError(t, err)
		require.NoError(t, s.Save(ctx, "s", batch))
		twice, err := s.Scan(ctx, "s", "", 100)
		require.NoError(t, err)
		require.Len(t, twice, 3)
		for i := range once {
			requireSameLink(t, once[i], twice[i])
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.Save(ctx, "s", []Link{testLink("a1", "b1"), testLink("a2", "b2"), testLink("a3", "b3")}))
		require.NoError(t, s.Delete(ctx, "s", "a", []string{"a1", "b2", "nope"}))
		require.NoError(t, s.Delete(ctx, "s", "b", []string{"b3"}))
		require.NoError(t, s.Delete(ctx, "s", "b", []string{"b3"}), "idempotent")
		all, err := s.Scan(ctx, "s", "", 10)
		require.NoError(t, err)
		require.Len(t, all, 1)
		assert.Equal(t, "a2", all[0].A.ID)
	})

	t.Run("Held", func(t *testing.T) {
		s := open(t)
		var batch []Link
		for i, d := range []time.Duration{3, 1, 2, 1, 0, -1} {
			l := testLink(fmt.Sprintf("a%d", 9-i), fmt.Sprintf("b%d", i))
			if d >= 0 {
				l.HeldUntil = at(d*time.Minute + time.Microsecond)
				l.HeldReason = fmt.Sprint("reason ", i)
			}
			batch = append(batch, l)
		}
		require.NoError(t, s.Save(ctx, "s", batch))
		held, err := s.Held(ctx, "s", 10)
		require.NoError(t, err)
		var order []string
		for _, l := range held {
			order = append(order, l.A.ID)
		}
		// a5 (0m), a6 and a8 (1m, by id), a7 (2m), a9 (3m); a4 is not held.
		assert.Equal(t, []string{"a5", "a6", "a8", "a7", "a9"}, order)
		assert.Equal(t, "reason 4", held[0].HeldReason)
		assert.True(t, at(time.Microsecond).Equal(held[0].HeldUntil))

		held, err = s.Held(ctx, "s", 2)
		require.NoError(t, err)
		require.Len(t, held, 2)
		assert.Equal(t, "a6", held[1].A.ID)
		held, err = s.Held(ctx, "other", 2)
		require.NoError(t, err)
		assert.Empty(t, held)
		_, err = s.Held(ctx, "s", 0)
		assert.Error(t, err)
	})

	t.Run("ScanPages", func(t *testing.T) {
		s := open(t)
		as, bs := ids("a", 2500), ids("b", 2500)
		order := rand.New(rand.NewPCG(1, 2)).Perm(2500)
		var batch []Link
		for _, i := range order {
			batch = append(batch, testLink(as[i], bs[i]))
			if len(batch) == 1000 {
				require.NoError(t, s.Save(ctx, "s", batch))
				batch = nil
			}
		}
		require.NoError(t, s.Save(ctx, "s", batch))

		var seen []string
		after := ""
		for pages := 0; ; pages++ {
			require.Less(t, pages, 4)
			page, err := s.Scan(ctx, "s", after, 1000)
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			assert.LessOrEqual(t, len(page), 1000)
			for _, l := range page {
				seen = append(seen, l.A.ID)
			}
			after = page[len(page)-1].A.ID
		}
		assert.Equal(t, as, seen, "every link once, in id order")
		n, err := s.Count(ctx, "s")
		require.NoError(t, err)
		assert.Equal(t, 2500, n)
		_, err = s.Scan(ctx, "s", "", -1)
		assert.Error(t, err)
	})

	t.Run("Count", func(t *testing.T) {
		s := open(t)
		n, err := s.Count(ctx, "s")
		require.NoError(t, err)
		assert.Zero(t, n)
		require.NoError(t, s.Save(ctx, "s", []Link{testLink("a1", "b1"), testLink("a2", "b2")}))
		n, err = s.Count(ctx, "s")
		require.NoError(t, err)
		assert.Equal(t, 2, n)
	})

	t.Run("GoneLinksAreKeptButNotCounted", func(t *testing.T) {
		s := open(t)
		gone := testLink("a1", "b1")
		gone.Gone = "a"
		require.NoError(t, s.Save(ctx, "s", []Link{gone, testLink("a2", "b2")}))
		got, err := s.Get(ctx, "s", "b", []string{"b1"})
		require.NoError(t, err)
		assert.Equal(t, "a", got["b1"].Gone)
		n, err := s.Count(ctx, "s")
		require.NoError(t, err)
		assert.Equal(t, 1, n, "a gone pair is not a linked pair")
	})

	t.Run("PendingDeletes", func(t *testing.T) {
		s := open(t)
		del := func(side, id string) PendingDelete {
			return PendingDelete{Side: side, ID: id, Key: "k" + id, PartnerID: "p" + id, DeletedAt: at(time.Minute), How: "log", DetectedAt: at(time.Hour)}
		}
		require.NoError(t, s.AddDeletes(ctx, "s", []PendingDelete{del("b", "1"), del("a", "2"), del("a", "1")}))
		again := del("a", "1")
		again.How = "diff"
		require.NoError(t, s.AddDeletes(ctx, "s", []PendingDelete{again}), "adding one again is no error")
		require.NoError(t, s.AddDeletes(ctx, "other", []PendingDelete{del("a", "9")}))
		n, err := s.CountDeletes(ctx, "s")
		require.NoError(t, err)
		assert.Equal(t, 3, n)

		first, err := s.PendingDeletes(ctx, "s", "", "", 2)
		require.NoError(t, err)
		require.Len(t, first, 2)
		assert.Equal(t, del("a", "1"), first[0], "the first one is kept, with its times in UTC")
		assert.Equal(t, "2", first[1].ID)
		rest, err := s.PendingDeletes(ctx, "s", first[1].Side, first[1].ID, 2)
		require.NoError(t, err)
		require.Len(t, rest, 1)
		assert.Equal(t, PendingDelete{Side: "b", ID: "1", Key: "k1", PartnerID: "p1", DeletedAt: at(time.Minute), How: "log", DetectedAt: at(time.Hour)}, rest[0])

		require.NoError(t, s.DropDeletes(ctx, "s", "a", []string{"1", "2", "missing"}))
		left, err := s.PendingDeletes(ctx, "s", "", "", 10)
		require.NoError(t, err)
		assert.Equal(t, []string{"1"}, []string{left[0].ID})
		assert.Equal(t, "b", left[0].Side)
		n, err = s.CountDeletes(ctx, "other")
		require.NoError(t, err)
		assert.Equal(t, 1, n, "syncs are isolated")
		assert.Error(t, s.AddDeletes(ctx, "s", []PendingDelete{{Side: "c", ID: "1"}}))
		assert.Error(t, s.DropDeletes(ctx, "s", "c", []string{"1"}))
	})

	t.Run("Failures", func(t *testing.T) {
		s := open(t)
		fail := func(side, id, reason string, last time.Duration, write string) Failure {
			return Failure{Side: side, ID: id, Key: "k" + id, Reason: reason, LastAt: at(last), Write: write}
		}
		require.NoError(t, s.AddFailures(ctx, "s", []Failure{fail("a", "2", "bad email", time.Minute, "w1"), fail("a", "1", "too long", 2*time.Minute, "w1"), fail("b", "1", "locked", 3*time.Minute, "w1")}))
		require.NoError(t, s.AddFailures(ctx, "other", []Failure{fail("a", "9", "x", time.Hour, "w1")}))
		// The same write saved again (an activity retried) is not a new attempt; a later
		// write is, with its reason.
		require.NoError(t, s.AddFailures(ctx, "s", []Failure{fail("a", "2", "bad email", time.Minute, "w1")}))
		require.NoError(t, s.AddFailures(ctx, "s", []Failure{fail("a", "1", "still too long", 4*time.Minute, "w2")}))
		n, err := s.CountFailures(ctx, "s")
		require.NoError(t, err)
		assert.Equal(t, 3, n)

		page, err := s.Failures(ctx, "s", "a", "", 1)
		require.NoError(t, err)
		assert.Equal(t, []Failure{{Side: "a", ID: "1", Key: "k1", Reason: "still too long", FirstAt: at(2 * time.Minute), LastAt: at(4 * time.Minute), Attempts: 2}}, page,
			"the new reason, the first failure's time kept")
		page, err = s.Failures(ctx, "s", "a", "1", 10)
		require.NoError(t, err)
		require.Len(t, page, 1)
		assert.Equal(t, "2", page[0].ID)
		assert.Equal(t, 1, page[0].Attempts, "the same write counted once")

		latest, err := s.LatestFailures(ctx, "s", 2)
		require.NoError(t, err)
		require.Len(t, latest, 2)
		assert.Equal(t, []string{"a/1", "b/1"}, []string{latest[0].Side + "/" + latest[0].ID, latest[1].Side + "/" + latest[1].ID})

		// Settling forgets the records whose attempts are as read: a/1 failed again since.
		dropped, err := s.SettleFailures(ctx, "s", "a", map[string]int{"1": 1, "2": 1})
		require.NoError(t, err)
		assert.Equal(t, 1, dropped)
		dropped, err = s.DropFailures(ctx, "s", "b", []string{"1", "missing"})
		require.NoError(t, err)
		assert.Equal(t, 1, dropped)
		left, err := s.LatestFailures(ctx, "s", 10)
		require.NoError(t, err)
		require.Len(t, left, 1)
		assert.Equal(t, "1", left[0].ID)
		assert.Equal(t, "a", left[0].Side)
		n, err = s.CountFailures(ctx, "other")
		require.NoError(t, err)
		assert.Equal(t, 1, n, "syncs are isolated")

		// Each side's failures are its own: a drop of side a's ids does not reach side b's,
		// nor the other way round, whichever side holds any.
		require.NoError(t, s.AddFailures(ctx, "s", []Failure{fail("b", "5", "locked", time.Minute, "w1")}))
		for _, c := range []struct {
			side Side
			id   string
			want int
		}{{"a", "5", 0}, {"b", "1", 0}, {"a", "1", 1}, {"a", "5", 0}, {"b", "5", 1}, {"b", "5", 0}} {
			dropped, err = s.DropFailures(ctx, "s", c.side, []string{c.id})
			require.NoError(t, err)
			assert.Equal(t, c.want, dropped, "%s/%s", c.side, c.id)
		}
		n, err = s.CountFailures(ctx, "s")
		require.NoError(t, err)
		assert.Zero(t, n)
		dropped, err = s.DropFailures(ctx, "s", "a", nil)
		require.NoError(t, err)
		assert.Zero(t, dropped)

		assert.Error(t, s.AddFailures(ctx, "s", []Failure{{Side: "c", ID: "1"}}))
		assert.Error(t, s.AddFailures(ctx, "s", []Failure{{Side: "a"}}))
		_, err = s.Failures(ctx, "s", "a", "", 0)
		assert.Error(t, err)
		_, err = s.DropFailures(ctx, "s", "c", []string{"1"})
		assert.Error(t, err)
	})

	t.Run("BulkLog", func(t *testing.T) {
		s := open(t)
		at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
		page := func(run int, at time.Time, outs ...RecordOutcome) {
			t.Helper()
			require.NoError(t, s.LogBulk(ctx, "s", []BulkPage{{Run: run, Side: "a", At: at, Outcomes: outs}}))
		}
		page(1, at, RecordOutcome{Key: "acme.com", ID: "a1", TargetID: "b1", Action: "created", Reason: "new"},
			RecordOutcome{Key: "bad.com", ID: "a2", Action: "failed", Reason: "INVALID_EMAIL"})
		page(2, at.Add(time.Hour), RecordOutcome{Key: "acme.com", ID: "a1", TargetID: "b1", Action: "updated", Reason: "differed"})
		require.NoError(t, s.LogBulk(ctx, "other", []BulkPage{{Run: 9, Side: "a", At: at.Add(2 * time.Hour),
			Outcomes: []RecordOutcome{{Key: "acme.com", ID: "x", Action: "skipped"}}}}))

		got, err := s.BulkOutcome(ctx, "s", "acme.com")
		require.NoError(t, err)
		require.NotNil(t, got)
		assert.Equal(t, LoggedOutcome{RecordOutcome: RecordOutcome{Key: "acme.com", ID: "a1", TargetID: "b1", Action: "updated", Reason: "differed"},
			Run: 2, Side: "a", At: at.Add(time.Hour)}, *got, "the newest page's, of this sync")
		got, err = s.BulkOutcome(ctx, "s", "bad.com")
		require.NoError(t, err)
		require.NotNil(t, got)
		assert.Equal(t, "INVALID_EMAIL", got.Reason)
		got, err = s.BulkOutcome(ctx, "s", "nowhere.com")
		require.NoError(t, err)
		assert.Nil(t, got)

		// A page a week newer than the first drops it (and keeps the one within the week).
		page(3, at.Add(BulkLogKeep+time.Minute), RecordOutcome{Key: "new.com", ID: "a3", Action: "created"})
		got, err = s.BulkOutcome(ctx, "s", "bad.com")
		require.NoError(t, err)
		assert.Nil(t, got, "older than BulkLogKeep: dropped")
		got, err = s.BulkOutcome(ctx, "s", "acme.com")
		require.NoError(t, err)
		require.NotNil(t, got)
		assert.Equal(t, 2, got.Run)
		require.Error(t, s.LogBulk(ctx, "s", []BulkPage{{Side: "c", At: at, Outcomes: []RecordOutcome{{Key: "k"}}}}), "side c")
	})

	t.Run("SyncsAreIsolated", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.Save(ctx, "s1", []Link{testLink("a1", "b1"), testLink("a2", "b2")}))
		held := testLink("a1", "b2")
		held.HeldUntil = at(0)
		require.NoError(t, s.Save(ctx, "s2", []Link{held}))

		got, err := s.Get(ctx, "s1", "a", []string{"a1", "a2"})
		require.NoError(t, err)
		assert.Equal(t, "b1", got["a1"].B.ID, "s2's a1-b2 leaves s1 alone")
		assert.Equal(t, "b2", got["a2"].B.ID)
		h, err := s.Held(ctx, "s1", 10)
		require.NoError(t, err)
		assert.Empty(t, h)

		require.NoError(t, s.Delete(ctx, "s1", "a", []string{"a1"}))
		got, err = s.Get(ctx, "s2", "b", []string{"b2"})
		require.NoError(t, err)
		assert.Equal(t, "a1", got["b2"].A.ID)
		for name, want := range map[string]int{"s1": 1, "s2": 1, "s3": 0} {
			n, err := s.Count(ctx, name)
			require.NoError(t, err)
			assert.Equal(t, want, n, name)
			all, err := s.Scan(ctx, name, "", 10)
			require.NoError(t, err)
			assert.Len(t, all, want, name)
		}
	})

	t.Run("TenThousandIDs", func(t *testing.T) {
		s := open(t)
		// Every 7th of 10,000 records is linked: each chunk of a 10,000-id look-up finds some.
		as, bs := ids("a", 10000), ids("b", 10000)
		var batch []Link
		for i := 0; i < len(as); i += 7 {
			batch = append(batch, testLink(as[i], bs[i]))
		}
		require.NoError(t, s.Save(ctx, "s", batch))
		got, err := s.Get(ctx, "s", "a", as)
		require.NoError(t, err)
		require.Len(t, got, len(batch))
		for _, l := range batch {
			assert.Equal(t, l.B.ID, got[l.A.ID].B.ID)
		}
		got, err = s.Get(ctx, "s", "b", bs)
		require.NoError(t, err)
		require.Len(t, got, len(batch))
		assert.Equal(t, "a09996", got["b09996"].A.ID)

		require.NoError(t, s.Delete(ctx, "s", "b", bs[:9990]))
		n, err := s.Count(ctx, "s")
		require.NoError(t, err)
		assert.Equal(t, 1, n, "b09996 is left")
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 8 {
			wg.Go(func() {
				for i := range 10 {
					// Goroutines relink the same records, in two syncs.
					batch := make([]Link, 20)
					for j := range batch {
						batch[j] = testLink(fmt.Sprintf("a%d", (g+i+j)%25), fmt.Sprintf("b%d", (g*i+j)%25))
					}
					name := fmt.Sprint("s", g%2)
					if err := s.Save(ctx, name, batch); err != nil {
						errs <- err
						return
					}
					if _, err := s.Get(ctx, name, "b", []string{"b1", "b2"}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		for _, name := range []string{"s0", "s1"} {
			all, err := s.Scan(ctx, name, "", 100)
			require.NoError(t, err)
			seenB := map[string]bool{}
			for _, l := range all {
				assert.False(t, seenB[l.B.ID], "b %s linked twice", l.B.ID)
				seenB[l.B.ID] = true
			}
		}
	})

	t.Run("Context", func(t *testing.T) {
		s := open(t)
		require.NoError(t, s.Save(ctx, "s", []Link{testLink("a1", "b1")}))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := s.Get(cctx, "s", "a", []string{"a1"})
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, s.Save(cctx, "s", []Link{testLink("a1", "b2")}), context.Canceled)
		assert.ErrorIs(t, s.Delete(cctx, "s", "a", []string{"a1"}), context.Canceled)
		_, err = s.Held(cctx, "s", 1)
		assert.ErrorIs(t, err, context.Canceled)
		_, err = s.Count(cctx, "s")
		assert.ErrorIs(t, err, context.Canceled)
		_, err = s.Scan(cctx, "s", "", 1)
		assert.ErrorIs(t, err, context.Canceled)
		got, err := s.Get(ctx, "s", "a", []string{"a1"})
		require.NoError(t, err)
		assert.Equal(t, "b1", got["a1"].B.ID, "the store still works")
	})

	// A Save whose context ends while it writes says why and leaves its batch whole or
	// absent (SQLite's rows run without the context's cancel; the transaction still ends
	// with it). The cancel comes at a later point of each try, so some tries end before
	// the commit and some after.
	t.Run("CancelledWhileSaving", func(t *testing.T) {
		s := open(t)
		links, _ := benchLinks(2000)
		var cut, saved int
		for i := range 12 {
			sync := fmt.Sprintf("s%d", i)
			cctx, cancel := context.WithCancel(ctx)
			stop := time.AfterFunc(time.Duration(i*i)*time.Millisecond, cancel)
			err := s.Save(cctx, sync, links)
			stop.Stop()
			cancel()
			n, cerr := s.Count(ctx, sync)
			require.NoError(t, cerr)
			if err != nil {
				cut++
				assert.ErrorIs(t, err, context.Canceled, "try %d", i)
				// A commit the cancel races may have landed (PostgreSQL's, cut on the
				// wire): the batch is whole either way, and saving it again is harmless.
				assert.Contains(t, []int{0, len(links)}, n, "try %d: a cut Save leaves no part of its batch", i)
			} else {
				saved++
				assert.Equal(t, len(links), n, "try %d", i)
			}
		}
		t.Logf("%d saves cut, %d saved", cut, saved)
		require.NoError(t, s.Save(ctx, "after", links), "the store still works")
		n, err := s.Count(ctx, "after")
		require.NoError(t, err)
		assert.Equal(t, len(links), n)
	})
}

// preNumbersLinks is the links table of a SQLite store made before the syncs table (and,
// without its last column, before deletes): each link holds its sync's name.
const preNumbersLinks = `CREATE TABLE links_old (
	sync TEXT NOT NULL, a_id TEXT NOT NULL, b_id TEXT NOT NULL, "key" TEXT NOT NULL DEFAULT '',
	a_values TEXT, a_fp TEXT NOT NULL DEFAULT '', a_wrote_at TEXT,
	b_values TEXT, b_fp TEXT NOT NULL DEFAULT '', b_wrote_at TEXT,
	held_until TEXT, held_reason TEXT NOT NULL DEFAULT '', decision TEXT NOT NULL DEFAULT '',
	misreads INTEGER NOT NULL DEFAULT 0, synced_at TEXT,
	gone TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (sync, a_id), UNIQUE (sync, b_id))`

// TestSQLiteStoreNumbersTheSyncsOfAnOlderFile opens stores made before the syncs table,
// whose links hold their sync's name (one made after deletes, one before: no gone
// column): their links move to their sync's number, once, and read as they did; the
// links' generation moves, so a cache of another worker empties. A worker of before, which
// would save a name, fails.
func TestSQLiteStoreNumbersTheSyncsOfAnOlderFile(t *testing.T) {
	t.Run("with gone", func(t *testing.T) { testNumbersTheSyncs(t, true) })
	t.Run("before deletes", func(t *testing.T) { testNumbersTheSyncs(t, false) })
}

func testNumbersTheSyncs(t *testing.T, withGone bool) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "links.db")
	const long = "salesforce-accounts-to-netsuite-customers"
	s, err := OpenSQLite(path)
	require.NoError(t, err)
	full, other := fullLink("a1", "b1"), testLink("a1", "b9")
	require.NoError(t, s.Save(ctx, long, []Link{full, testLink("a2", "b2")}))
	require.NoError(t, s.Save(ctx, "other", []Link{other}))
	// Back to the older shape: each link's sync name in a text column, no syncs table.
	db := s.(*sqlStore).db
	columns := insertColumns
	ddl := preNumbersLinks
	if !withGone {
		columns = strings.TrimSuffix(columns, ", gone")
		ddl = strings.Replace(ddl, "\n\tgone TEXT NOT NULL DEFAULT '',", "", 1)
		require.NotContains(t, ddl, "gone")
	}
	for _, stmt := range []string{
		ddl,
		`INSERT INTO links_old (` + columns + `) SELECT (SELECT name FROM syncs WHERE n = links.sync), ` +
			strings.TrimPrefix(columns, "sync, ") + ` FROM links`,
		`DROP TABLE links`,
		`ALTER TABLE links_old RENAME TO links`,
		`CREATE INDEX links_held ON links (sync, held_until) WHERE held_until IS NOT NULL`,
		`DROP TABLE syncs`,
	} {
		_, err := db.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	var gen int64
	require.NoError(t, db.QueryRow(`SELECT n FROM counters WHERE name = 'links'`).Scan(&gen))
	require.NoError(t, s.Close())

	reopen := func() (Store, *sql.DB) {
		s, err := OpenSQLite(path)
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s, s.(*sqlStore).db
	}
	s, db = reopen()
	var typ string
	require.NoError(t, db.QueryRow(`SELECT type FROM pragma_table_info('links') WHERE name = 'sync'`).Scan(&typ))
	assert.Equal(t, "INTEGER", typ)
	var syncs int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM syncs WHERE name IN (?, ?)`, long, "other").Scan(&syncs))
	assert.Equal(t, 2, syncs)
	var moved int64
	require.NoError(t, db.QueryRow(`SELECT n FROM counters WHERE name = 'links'`).Scan(&moved))
	assert.Equal(t, gen+1, moved)

	got, err := s.Get(ctx, long, "b", []string{"b1", "b2", "b9"})
	require.NoError(t, err)
	require.Len(t, got, 2)
	requireSameLink(t, full, got["b1"])
	got, err = s.Get(ctx, "other", "a", []string{"a1"})
	require.NoError(t, err)
	requireSameLink(t, other, got["a1"])
	glanced, err := glance(ctx, t, s, long, "a", []string{"a1", "a2"})
	require.NoError(t, err)
	assert.Len(t, glanced, 2)
	n, err := s.Count(ctx, long)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	held, err := s.Held(ctx, long, 10)
	require.NoError(t, err)
	require.Len(t, held, 1)
	assert.Equal(t, "b1", held[0].B.ID)
	byKey, err := s.ByKey(ctx, long, full.Key)
	require.NoError(t, err)
	assert.Len(t, byKey, 1)
	scanned, err := s.Scan(ctx, "other", "", 10)
	require.NoError(t, err)
	assert.Len(t, scanned, 1)

	// The moved links take new saves and deletes as any; the next open moves nothing.
	require.NoError(t, s.Save(ctx, long, []Link{testLink("a3", "b3")}))
	require.NoError(t, s.Delete(ctx, "other", "a", []string{"a1"}))
	require.NoError(t, db.QueryRow(`SELECT n FROM counters WHERE name = 'links'`).Scan(&gen))
	require.NoError(t, s.Close())
	s, db = reopen()
	require.NoError(t, db.QueryRow(`SELECT n FROM counters WHERE name = 'links'`).Scan(&moved))
	assert.Equal(t, gen, moved, "moved once")
	n, err = s.Count(ctx, long)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	n, err = s.Count(ctx, "other")
	require.NoError(t, err)
	assert.Zero(t, n)
	_, err = db.Exec(`INSERT INTO links (sync, a_id, b_id) VALUES (?, 'a9', 'b99')`, long)
	require.ErrorContains(t, err, "CHECK constraint failed", "a worker of before saves a name")
}

// TestSQLiteStoreMatchesIDsThatAreNotUTF8: a service's id is bytes to the store, valid
// UTF-8 or not. The lists of ids SQLite's statements match were JSON arrays, in which
// encoding/json turns an invalid byte into U+FFFD, so such a record's link, failure and
// delete were never found again (its pair created a second time on the next run).
func TestSQLiteStoreMatchesIDsThatAreNotUTF8(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "links.db")
	odd, oddB := "a-\xff\xfe1", "b-\xc3("
	s, err := OpenSQLite(path)
	require.NoError(t, err)
	require.NoError(t, s.Save(ctx, "s", []Link{testLink(odd, oddB), testLink("a-2", "b-2")}))
	require.NoError(t, s.AddFailures(ctx, "s", []Failure{{Side: "a", ID: odd, Reason: "rejected", LastAt: at(0), Write: "w1"}}))
	require.NoError(t, s.AddDeletes(ctx, "s", []PendingDelete{{Side: "a", ID: odd, PartnerID: oddB, How: "diff", DetectedAt: at(0)}}))
	require.NoError(t, s.Close())

	// Opened again, the store's cache knows nothing: every answer is the file's.
	s, err = OpenSQLite(path)
	require.NoError(t, err)
	defer func() { _ = s.Close() }()
	for _, side := range []Side{"a", "b"} {
		id := map[Side]string{"a": odd, "b": oddB}[side]
		got, err := s.Get(ctx, "s", side, []string{id, "x-absent"})
		require.NoError(t, err)
		require.Contains(t, got, id, "Get on side %s", side)
		assert.Equal(t, odd, got[id].A.ID)
		assert.Equal(t, oddB, got[id].B.ID)
		glanced, err := glance(ctx, t, s, "s", side, []string{id})
		require.NoError(t, err)
		assert.Contains(t, glanced, id, "Glance on side %s", side)
	}
	dropped, err := s.DropFailures(ctx, "s", "a", []string{odd})
	require.NoError(t, err)
	assert.Equal(t, 1, dropped)
	require.NoError(t, s.DropDeletes(ctx, "s", "a", []string{odd}))
	n, err := s.CountDeletes(ctx, "s")
	require.NoError(t, err)
	assert.Zero(t, n)
	require.NoError(t, s.Delete(ctx, "s", "b", []string{oddB}))
	n, err = s.Count(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the odd pair's link is deleted, the other kept")
}

// TestSQLiteStoreOpenWaitsOutAnotherProcesssLock: a worker that opens the file while
// another holds its write lock for longer than SQLite's busy timeout (a worker of a newer
// version moving a large store to sync numbers, 14 s for 3,000,000 links) waits for it
// instead of failing with "database is locked"; a lock held past openLockWait is an error
// that says what holds it.
//
// The other process is another worker (this SQLite, on a connection of its own) or another
// build of SQLite in a process of its own (modernc.org/sqlite, in a copy of this test
// binary: holdLockProcess), as a sqlite3 shell would be: its locks are POSIX record
// locks, which conflict with the OFD locks of the store's SQLite.
func TestSQLiteStoreOpenWaitsOutAnotherProcesssLock(t *testing.T) {
	t.Run("another worker", func(t *testing.T) {
		openWaitsOutALock(t, func(t *testing.T, path string) lockHolder { return connHolder(t, path) })
	})
	t.Run("another SQLite", func(t *testing.T) { openWaitsOutALock(t, processHolder) })
}

// A lockHolder takes the file's write lock (BEGIN IMMEDIATE) and lets go of it (COMMIT),
// each done when it returns.
type lockHolder interface {
	hold(t *testing.T)
	release(t *testing.T)
}

func openWaitsOutALock(t *testing.T, holder func(t *testing.T, path string) lockHolder) {
	path := filepath.Join(t.TempDir(), "links.db")
	s, err := OpenSQLite(path)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	busy, wait := busyTimeout, openLockWait
	t.Cleanup(func() { busyTimeout, openLockWait, onOpenLocked = busy, wait, nil })
	busyTimeout = 20 * time.Millisecond

	h := holder(t, path)
	h.hold(t)
	waits := 0
	onOpenLocked = func() {
		if waits++; waits == 3 { // three busy timeouts: longer than one
			h.release(t)
		}
	}
	s, err = OpenSQLite(path)
	require.NoError(t, err, "opened once the other process let go")
	require.NoError(t, s.Close())
	assert.Equal(t, 3, waits)

	h.hold(t)
	openLockWait, waits = 0, 0
	_, err = OpenSQLite(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "another process has held the file's write lock")
	h.release(t)
}

// connHolder holds the lock on a connection of this SQLite.
func connHolder(t *testing.T, path string) lockHolder {
	db, err := sql.Open("sqlite3", "file:"+path+"?_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	c, err := db.Conn(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return sqlConnHolder{c}
}

type sqlConnHolder struct{ c *sql.Conn }

func (h sqlConnHolder) hold(t *testing.T) {
	_, err := h.c.ExecContext(t.Context(), `BEGIN IMMEDIATE`)
	require.NoError(t, err)
}

func (h sqlConnHolder) release(t *testing.T) {
	_, err := h.c.ExecContext(t.Context(), `COMMIT`)
	require.NoError(t, err)
}

// holdLockEnv names the file TestHoldLockProcess holds the lock of, when it runs as
// processHolder's process.
const holdLockEnv = "TANDEM_TEST_HOLD_LOCK"

// processHolder holds the lock in a process of its own: this test binary running
// TestHoldLockProcess, which takes commands on its standard input ("hold", "release")
// and answers each with a line once done.
func processHolder(t *testing.T, path string) lockHolder {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run", "^TestHoldLockProcess$")
	cmd.Env = append(os.Environ(), holdLockEnv+"="+path)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = in.Close(); _ = cmd.Wait() })
	return &procHolder{in: in, out: bufio.NewScanner(out)}
}

type procHolder struct {
	in  io.Writer
	out *bufio.Scanner
}

func (h *procHolder) do(t *testing.T, command string) {
	_, err := fmt.Fprintln(h.in, command)
	require.NoError(t, err)
	for h.out.Scan() { // the test binary's own lines (PASS) may follow
		if line := h.out.Text(); strings.HasPrefix(line, "lock: ") {
			require.Equal(t, "lock: "+command+" done", line)
			return
		}
	}
	t.Fatalf("the lock's process ended before %q: %v", command, h.out.Err())
}

func (h *procHolder) hold(t *testing.T)    { h.do(t, "hold") }
func (h *procHolder) release(t *testing.T) { h.do(t, "release") }

// TestHoldLockProcess is processHolder's process (it does nothing in a test run): it
// holds and lets go of the write lock of the file holdLockEnv names, through
// modernc.org/sqlite, as its standard input says.
func TestHoldLockProcess(t *testing.T) {
	path := os.Getenv(holdLockEnv)
	if path == "" {
		t.Skip("runs as processHolder's process only")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	c, err := db.Conn(t.Context())
	require.NoError(t, err)
	defer func() { _ = c.Close() }()
	commands := bufio.NewScanner(os.Stdin)
	for commands.Scan() {
		stmt := map[string]string{"hold": "BEGIN IMMEDIATE", "release": "COMMIT"}[commands.Text()]
		require.NotEmpty(t, stmt, "command %q", commands.Text())
		_, err := c.ExecContext(t.Context(), stmt)
		require.NoError(t, err)
		fmt.Printf("lock: %s done\n", commands.Text())
	}
}

// TestSQLiteStoreOpenOutlastsAMoveLongerThanItsTimeLimit: the move of an older store's
// links to sync numbers has no time limit, and the steps of Open after it have their own:
// they used to share one begun before the move, so a move longer than it (6,500,000 links
// at 30 s on dev-2c) was committed and then Open failed reading the generation.
func TestSQLiteStoreOpenOutlastsAMoveLongerThanItsTimeLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "links.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	for _, stmt := range []string{
		strings.Replace(preNumbersLinks, "links_old", "links", 1),
		`CREATE INDEX links_held ON links (sync, held_until) WHERE held_until IS NOT NULL`,
		`CREATE TABLE counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL)`,
		`INSERT INTO counters (name, n) VALUES ('links', 7)`,
		`INSERT INTO links (sync, a_id, b_id, a_fp, b_fp) VALUES ('companies', 'a-1', 'b-1', 'fp', 'fp')`,
	} {
		_, err := db.Exec(stmt)
		require.NoError(t, err, stmt)
	}
	require.NoError(t, db.Close())

	limit := openTimeout
	t.Cleanup(func() { openTimeout, onMove = limit, nil })
	openTimeout = time.Second // far above what each other step takes, on a loaded machine too
	moved := false
	onMove = func() { // a move of millions of links: longer than the time limit
		moved = true
		<-time.After(openTimeout + 100*time.Millisecond)
	}
	s, err := OpenSQLite(path)
	require.NoError(t, err)
	defer func() { _ = s.Close() }()
	require.True(t, moved)
	n, err := s.Count(context.Background(), "companies")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}
