package pairs

import (
	"math"
	"sync"
	"time"
)

// A SQLite store keeps, beside the file, what Glance reads of the links this process
// saved: the two passes of a two-way run look every record up, and most look-ups are of
// links the run itself saved a moment before (the pass over the side Tandem just wrote
// finds each of its writes) or of records that have no link at all (a first run). From
// the cache both cost a map look-up instead of a query (BenchmarkGlance: about 4 µs an id
// by query).
//
// The file stays the truth, and the cache answers only for what it knows to be the file's
// state:
//
//   - Every transaction that changes links (Save, Delete) also adds one to a generation
//     counter in the file (the counters table), and learns the number it wrote. The cache
//     holds the generation it reflects. When this process's transaction writes the next
//     number, nobody else has changed links since, and the cache applies the
//     transaction's links; any other number means another process (another worker on the
//     same file) changed links meanwhile, and the cache is emptied.
//   - Every look-up first reads the generation from the file, in the same statement as
//     whether the sync has any link, and in the same read transaction as what it then
//     reads of the file (one snapshot). A newer generation than the cache's empties the
//     cache. An older one (read before a commit the cache has applied), or that of this
//     process's commit under way, which has landed but is not in the cache yet, leaves the
//     look-up to the file.
//   - A sync is complete in the cache when it had no link in the file when the cache first
//     saw it: every link it has since came through this process's saves (the generation
//     says so), so an id the cache does not hold has no link, without a query. A sync the
//     cache met with links already answers from the cache only for the links saved since;
//     other ids are read from the file.
//   - The cache holds at most maxCachedLinks links. A save that would go over stops
//     caching its sync (dropped, and read from the file from then on).
//
// A process that writes the file without the counter (an older Tandem, the sqlite3 shell)
// is not seen: the file is the worker's, and is edited with the worker stopped.
type linkCache struct {
	// committing makes this process's commits of links take turns from begin to end (a
	// Delete's transaction gives its connection back when it commits).
	committing sync.Mutex
	mu         sync.Mutex
	// gen is the file's generation the cache reflects; pending, when not 0, is the
	// generation of this process's commit under way (a look-up that finds it in the
	// file answers as from before that commit, which it may: they run side by side).
	gen, pending int64
	syncs        map[string]*cachedSync
	// size is how many links the cache holds, at most max.
	size, max int
}

// maxCachedLinks is how many links a store's cache holds at most: about 200 bytes each
// with the maps' share (an entry's fields are 112, their strings the links' own).
const maxCachedLinks = 200_000

// cachedSync is one sync's links in the cache, as Glance reads them (glanceColumns).
type cachedSync struct {
	// complete: the cache holds every link of the sync (see linkCache). off: the sync
	// went over the cache's size and is not cached.
	complete, off bool
	links         *Index[cachedLink]
}

// cachedLink is what Glance reads of a link (glanceColumns) beside its ids, times in
// microseconds since 1970 in UTC (zeroTime: the zero time).
type cachedLink struct {
	aFP, bFP, gone       string
	aWrote, bWrote, held int64
	misreads             int
}

// zeroTime stands for the zero time in a cachedLink.
const zeroTime = math.MinInt64

func newLinkCache(gen int64) *linkCache {
	return &linkCache{gen: gen, syncs: map[string]*cachedSync{}, max: maxCachedLinks}
}

// reset empties the cache, which then reflects generation gen.
func (c *linkCache) reset(gen int64) {
	c.gen, c.syncs, c.size = gen, map[string]*cachedSync{}, 0
}

// split answers a look-up of ids of sync's side from the cache, given the file's
// generation and whether sync has links, both read in one statement (linksGeneration):
// hit is called for each link it holds, with its id's place in ids (under the cache's
// lock), unknown are the ids it cannot answer for; the others have no link.
func (c *linkCache) split(sync string, side Side, ids []string, gen int64, exists bool, hit func(i int, l Indexed[cachedLink])) (unknown []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case gen < c.gen || c.pending != 0 && gen == c.pending:
		// Read before a commit the cache has applied since, or once this process's commit
		// under way has landed and before the cache took it in (its number may have
		// skipped another process's commit): the file answers.
		return ids
	case gen != c.gen:
		c.reset(gen)
	}
	cs := c.syncs[sync]
	if cs == nil {
		cs = &cachedSync{complete: !exists, links: NewIndex[cachedLink]()}
		c.syncs[sync] = cs
	}
	if cs.off {
		return ids
	}
	for i, id := range ids {
		if l, ok := cs.links.Get(side, id); ok {
			hit(i, l)
		} else if !cs.complete {
			unknown = append(unknown, id)
		}
	}
	return unknown
}

// commit runs commit, the commit of a transaction of this process that changed links and
// wrote generation gen, and then changes the cache by apply when the commit followed the
// cache's generation; any other generation empties the cache, and a failed commit leaves
// it as it was. Commits take turns through it.
func (c *linkCache) commit(gen int64, commit func() error, apply func()) error {
	c.committing.Lock()
	defer c.committing.Unlock()
	c.mu.Lock()
	c.pending = gen
	c.mu.Unlock()
	err := commit()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = 0
	switch {
	case err != nil:
	case gen != c.gen+1:
		c.reset(gen)
	default:
		c.gen = gen
		apply()
	}
	return err
}

// saved applies a committed Save of links of sync, in order, as the file has them: a
// link replaces those holding either of its records. Under c.mu (commit's apply).
func (c *linkCache) saved(sync string, links []Link) {
	cs := c.syncs[sync]
	if cs == nil {
		// First met by a save: whether it had links before is not known.
		cs = &cachedSync{links: NewIndex[cachedLink]()}
		c.syncs[sync] = cs
	}
	if cs.off {
		return
	}
	for _, l := range links {
		c.size += 1 - cs.links.Put(l.A.ID, l.B.ID, glanced(l))
	}
	if c.size > c.max {
		c.size -= cs.links.Len()
		*cs = cachedSync{off: true}
	}
}

// deleted applies a committed Delete of the links of sync whose record on side has one
// of ids. Under c.mu (commit's apply).
func (c *linkCache) deleted(sync string, side Side, ids []string) {
	cs := c.syncs[sync]
	if cs == nil || cs.off {
		return
	}
	for _, id := range ids {
		if cs.links.Remove(side, id) {
			c.size--
		}
	}
}

// glanced is what Glance reads of l from the file, beside its ids.
func glanced(l Link) cachedLink {
	return cachedLink{aFP: l.A.FP, bFP: l.B.FP, gone: l.Gone,
		aWrote: micros(l.A.WroteAt), bWrote: micros(l.B.WroteAt), held: micros(l.HeldUntil), misreads: l.Misreads}
}

// glancedLink is the link of a cache entry as Glance reads it from the file: times in UTC
// to the microsecond.
func glancedLink(e Indexed[cachedLink]) Link {
	c := e.Item
	return Link{
		A:         Half{ID: e.A, FP: c.aFP, WroteAt: fromMicros(c.aWrote)},
		B:         Half{ID: e.B, FP: c.bFP, WroteAt: fromMicros(c.bWrote)},
		HeldUntil: fromMicros(c.held), Misreads: c.misreads, Gone: c.gone,
	}
}

// micros is t in microseconds since 1970 (truncated, as the store keeps it), or zeroTime.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return zeroTime
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == zeroTime {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
