package pairs

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLinkCacheAnswersAsTheFile saves, replaces and deletes links at random through two
// stores on one file (two workers), and after each step looks ids up on both sides through
// each store's cache and straight from the file: the answers must be the same.
func TestLinkCacheAnswersAsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "links.db")
	open := func() *sqlStore {
		st, err := OpenSQLite(path)
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		return st.(*sqlStore)
	}
	one, two := open(), open()
	ctx := t.Context()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	at := time.Date(2026, 12, 4, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
	id := func(side string) string { return fmt.Sprintf("%s-%d", side, rng.IntN(40)) }
	link := func() Link {
		l := Link{Key: id("k"), A: Half{ID: id("a"), FP: fmt.Sprintf("%016x", rng.Uint64())},
			B: Half{ID: id("b"), FP: fmt.Sprintf("%016x", rng.Uint64())}, SyncedAt: at}
		if rng.IntN(2) == 0 {
			l.B.WroteAt = at.Add(time.Duration(rng.IntN(1000)) * time.Nanosecond)
		}
		if rng.IntN(5) == 0 {
			l.HeldUntil, l.Misreads, l.HeldReason = at.Add(time.Minute), 2, "loop"
		}
		if rng.IntN(7) == 0 {
			l.Gone = "b"
		}
		return l
	}
	ids := func(side string) []string {
		var out []string
		for range 10 {
			out = append(out, id(side))
		}
		return out
	}
	// A new sync every 40 steps, met first by a look-up (complete in the cache), and the
	// one before it; the other worker writes now and then.
	var syncs []string
	for step := range 200 {
		if step%40 == 0 {
			syncs = append(syncs, fmt.Sprintf("s%d", step/40))
			if len(syncs) > 2 {
				syncs = syncs[1:]
			}
			for _, s := range []*sqlStore{one, two} {
				_, err := glance(ctx, t, s, syncs[len(syncs)-1], "a", ids("a"))
				require.NoError(t, err)
			}
		}
		st, other := one, two
		if rng.IntN(8) == 0 {
			st, other = two, one
		}
		sync := syncs[rng.IntN(len(syncs))]
		if rng.IntN(5) == 0 {
			side := []string{"a", "b"}[rng.IntN(2)]
			require.NoError(t, st.Delete(ctx, sync, side, ids(side)), "step %d", step)
		} else {
			var links []Link
			for range 1 + rng.IntN(8) {
				links = append(links, link())
			}
			require.NoError(t, st.Save(ctx, sync, links), "step %d", step)
		}
		for _, s := range []*sqlStore{st, other} {
			for _, sync := range syncs {
				for _, side := range []string{"a", "b"} {
					want := ids(side)
					file, err := s.get(ctx, s.rdb, "glance", glanceColumns, scanGlance, sync, side, want)
					require.NoError(t, err)
					got, err := glance(ctx, t, s, sync, side, want)
					require.NoError(t, err)
					require.Equal(t, comparable(file), comparable(got), "step %d: glance of %s's %s ids %v", step, sync, side, want)
					whole, err := s.get(ctx, s.rdb, "get", linkColumns, scanLink, sync, side, want)
					require.NoError(t, err)
					gotWhole, err := s.Get(ctx, sync, side, want)
					require.NoError(t, err)
					require.Equal(t, whole, gotWhole, "step %d: get of %s's %s ids", step, sync, side)
				}
			}
		}
	}
}

// comparable is a look-up's links with each time as its instant in UTC.
func comparable(links map[string]Link) map[string]string {
	out := map[string]string{}
	for id, l := range links {
		out[id] = fmt.Sprintf("%s %s %s | %s %s %s | %s %d %s", l.A.ID, l.A.FP, l.A.WroteAt.UTC().Format(time.RFC3339Nano),
			l.B.ID, l.B.FP, l.B.WroteAt.UTC().Format(time.RFC3339Nano), l.HeldUntil.UTC().Format(time.RFC3339Nano), l.Misreads, l.Gone)
	}
	return out
}

// TestLinkCacheAnswersAFirstRunWithoutTheFile: a sync with no link when the cache first
// meets it is complete in the cache. Its look-ups are answered from the cache (ids without
// a link included) until another store on the file saves links; then the cache is
// emptied, and the sync answers from the file.
func TestLinkCacheAnswersAFirstRunWithoutTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "links.db")
	st, err := OpenSQLite(path)
	require.NoError(t, err)
	defer func() { _ = st.Close() }()
	s := st.(*sqlStore)
	ctx := t.Context()

	got, err := glance(ctx, t, s, "first", "a", []string{"a-1", "a-2"})
	require.NoError(t, err)
	require.Empty(t, got)
	links := []Link{{Key: "k1", A: Half{ID: "a-1", FP: "f1"}, B: Half{ID: "b-1", FP: "f1"}}}
	require.NoError(t, s.Save(ctx, "first", links))
	hits, unknown := cacheSplit(t, s, "first", "b", []string{"b-1", "b-2"})
	require.Equal(t, []string{"b-1"}, slices.Sorted(maps.Keys(hits)))
	require.Empty(t, unknown, "a complete sync answers for ids without a link too")

	// A store that met the sync with links answers for the links it saved since only.
	other, err := OpenSQLite(path)
	require.NoError(t, err)
	defer func() { _ = other.Close() }()
	o := other.(*sqlStore)
	hits, unknown = cacheSplit(t, o, "first", "a", []string{"a-1"})
	require.Empty(t, hits)
	require.Equal(t, []string{"a-1"}, unknown)

	// The other store's save empties the first store's cache: its look-up reads the file.
	require.NoError(t, o.Save(ctx, "first", []Link{{Key: "k2", A: Half{ID: "a-2", FP: "f2"}, B: Half{ID: "b-2", FP: "f2"}}}))
	hits, unknown = cacheSplit(t, s, "first", "a", []string{"a-1", "a-2"})
	require.Empty(t, hits)
	require.Equal(t, []string{"a-1", "a-2"}, unknown)
	got, err = glance(ctx, t, s, "first", "a", []string{"a-1", "a-2"})
	require.NoError(t, err)
	require.Len(t, got, 2)
}

// TestLinkCacheStopsCachingASyncOverItsSize: a save that takes the cache over its size
// drops its sync from the cache, which then answers from the file.
func TestLinkCacheStopsCachingASyncOverItsSize(t *testing.T) {
	st, err := OpenSQLite(filepath.Join(t.TempDir(), "links.db"))
	require.NoError(t, err)
	defer func() { _ = st.Close() }()
	s := st.(*sqlStore)
	s.cache.max = 3
	ctx := t.Context()
	_, err = glance(ctx, t, s, "big", "a", []string{"a-0"})
	require.NoError(t, err)
	var links []Link
	for i := range 4 {
		links = append(links, Link{A: Half{ID: fmt.Sprintf("a-%d", i)}, B: Half{ID: fmt.Sprintf("b-%d", i)}})
	}
	require.NoError(t, s.Save(ctx, "big", links[:3]))
	hits, unknown := cacheSplit(t, s, "big", "a", []string{"a-0", "a-3"})
	require.Len(t, hits, 1)
	require.Empty(t, unknown)
	require.NoError(t, s.Save(ctx, "big", links[3:]))
	require.Zero(t, s.cache.size)
	hits, unknown = cacheSplit(t, s, "big", "a", []string{"a-0", "a-3"})
	require.Empty(t, hits)
	require.Equal(t, []string{"a-0", "a-3"}, unknown)
	got, err := glance(ctx, t, s, "big", "a", []string{"a-0", "a-3"})
	require.NoError(t, err)
	require.Len(t, got, 2)
}

// cacheSplit is what s's cache answers for ids, as a look-up asks it.
func cacheSplit(t *testing.T, s *sqlStore, sync string, side Side, ids []string) (map[string]Indexed[cachedLink], []string) {
	t.Helper()
	var gen int64
	var exists bool
	require.NoError(t, s.rdb.QueryRowContext(t.Context(), linksGeneration, sync).Scan(&gen, &exists))
	hits := map[string]Indexed[cachedLink]{}
	unknown := s.cache.split(sync, side, ids, gen, exists, func(i int, l Indexed[cachedLink]) { hits[ids[i]] = l })
	return hits, unknown
}

// TestLinkCacheSeesAnotherStoresSaveBeforeItsOwn: another store's save between this
// store's look-up and its save is not hidden by the save: this store's commit finds a
// generation it did not expect, and its cache is emptied.
func TestLinkCacheSeesAnotherStoresSaveBeforeItsOwn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "links.db")
	st, err := OpenSQLite(path)
	require.NoError(t, err)
	defer func() { _ = st.Close() }()
	other, err := OpenSQLite(path)
	require.NoError(t, err)
	defer func() { _ = other.Close() }()
	ctx := t.Context()
	got, err := glance(ctx, t, st, "s", "a", []string{"a-1", "a-2"})
	require.NoError(t, err)
	require.Empty(t, got)
	require.NoError(t, other.Save(ctx, "s", []Link{{A: Half{ID: "a-1"}, B: Half{ID: "b-1"}}}))
	require.NoError(t, st.Save(ctx, "s", []Link{{A: Half{ID: "a-2"}, B: Half{ID: "b-2"}}}))
	got, err = glance(ctx, t, st, "s", "a", []string{"a-1", "a-2"})
	require.NoError(t, err)
	require.Len(t, got, 2)
}

// The cache's generations, step by step: a look-up that reads the generation of this
// process's commit under way (landed, not yet applied; its number may have skipped
// another process's commit) or one older than the cache's is left to the file; a commit
// that skipped a number empties the cache; a failed commit changes nothing.
func TestLinkCacheGenerations(t *testing.T) {
	ids := []string{"a-1", "a-2"}
	l1 := Link{A: Half{ID: "a-1"}, B: Half{ID: "b-1"}}
	c := newLinkCache(0)
	hits, unknown := splitOf(c, ids, 0, false)
	require.Empty(t, hits)
	require.Empty(t, unknown, "complete: no link, no query")

	require.NoError(t, c.commit(1, func() error {
		hits, unknown := splitOf(c, ids, 1, true)
		require.Empty(t, hits)
		require.Equal(t, ids, unknown, "the commit under way has landed: the file answers")
		hits, unknown = splitOf(c, ids, 0, false)
		require.Empty(t, hits)
		require.Empty(t, unknown, "read before the commit: the cache answers as the file did")
		return nil
	}, func() { c.saved("s", []Link{l1}) }))
	hits, unknown = splitOf(c, ids, 1, true)
	require.Len(t, hits, 1)
	require.Empty(t, unknown)
	hits, unknown = splitOf(c, ids, 0, false)
	require.Empty(t, hits)
	require.Equal(t, ids, unknown, "read before a commit the cache has applied: the file answers")

	// Another process committed 2: this process's commit writes 3.
	require.NoError(t, c.commit(3, func() error {
		hits, unknown := splitOf(c, ids, 3, true)
		require.Empty(t, hits)
		require.Equal(t, ids, unknown, "the file answers, not the cache of generation 1")
		return nil
	}, func() { t.Fatal("applied over another process's commit") }))
	hits, unknown = splitOf(c, ids, 3, true)
	require.Empty(t, hits)
	require.Equal(t, ids, unknown, "emptied, and met again with links: not complete")

	boom := errors.New("disk I/O error")
	require.ErrorIs(t, c.commit(4, func() error { return boom }, func() { t.Fatal("applied a failed commit") }), boom)
	require.Zero(t, c.pending)
	require.Equal(t, int64(3), c.gen)
}

// splitOf is c's split of ids of sync "s", side a, its hits by id.
func splitOf(c *linkCache, ids []string, gen int64, exists bool) (map[string]Indexed[cachedLink], []string) {
	hits := map[string]Indexed[cachedLink]{}
	unknown := c.split("s", "a", ids, gen, exists, func(i int, l Indexed[cachedLink]) { hits[ids[i]] = l })
	return hits, unknown
}
