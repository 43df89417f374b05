package activities

import (
	"context"
	"slices"
	"sort"
	"time"

	"tandem/connectors"
)

// A chunk whose target's search trails its writes (HubSpot's index: connectors.IndexLagger)
// does what the workflow does for such a side page by page (workflows' reread): a key it
// wrote less than the lag ago is read by id, not looked up, or a record the search does
// not show yet would be created twice. The writes of the run before the chunk come in its
// input, and those still within the lag go back in its result for what follows.

// laggedOutKey marks the context of a retried chunk's steps once the chunk has waited out
// its target's search lag: its Upserts, which see the chunk's attempt, need not wait again
// before they look their creates up.
type laggedOutKey struct{}

func laggedOut(ctx context.Context) bool { return ctx.Value(laggedOutKey{}) != nil }

// RecentWrite is a recent write of one key on a side whose search trails its writes: the
// ids written and when.
type RecentWrite struct {
	IDs []string  `json:"ids"`
	At  time.Time `json:"at"`
}

// Add is w with id written (once) at at.
func (w RecentWrite) Add(id string, at time.Time) RecentWrite {
	if !slices.Contains(w.IDs, id) {
		w.IDs = append(slices.Clone(w.IDs), id)
	}
	w.At = at
	return w
}

// MaxRecentWrites bounds the recent writes kept per side (the newest).
const MaxRecentWrites = 2_000

// searchLag is how far c's target's search may trail its writes for the chunk's recent
// writes: 0 for a linked chunk, which reads what it wrote through the links.
func (c *chunk) searchLag() time.Duration {
	if c.in.Linked {
		return 0
	}
	return lagOf(c.toConn)
}

// lagOf is how far c's search may trail its writes (connectors.IndexLagger); 0 when it
// does not.
func lagOf(c connectors.Connector) time.Duration {
	if l, ok := c.(connectors.IndexLagger); ok {
		return max(0, l.SearchLag())
	}
	return 0
}

// noteWrite remembers that id was written for key on the chunk's target.
func (c *chunk) noteWrite(key, id string, at time.Time) {
	if c.lag <= 0 || key == "" || id == "" {
		return
	}
	if c.written == nil {
		c.written = map[string]RecentWrite{}
	}
	c.written[key] = c.written[key].Add(id, at)
}

// reread replaces the matches of the keys the chunk's target was written for less than
// its lag ago by those records read by id (with the ones the look-up found).
func (c *chunk) reread(ctx context.Context, keys []string, m *Matches, now time.Time) error {
	stale, ids := StaleMatches(keys, *m, func(k string) ([]string, bool) {
		w, ok := c.written[k]
		return w.IDs, ok && now.Sub(w.At) < c.lag
	})
	return RereadMatches(m, stale, ids, func(ids []string) (Records, error) {
		return c.a.GetRecords(ctx, GetRecordsInput{Ref: c.in.Ref, Side: c.to(), IDs: ids, Counterparts: true})
	})
}

// StaleMatches returns those of keys whose matches in m may be stale (written says, for a
// key, the ids written for it and whether that was recent enough to doubt its look-up),
// and the ids to read again for them, each once: those written, then those found. The
// workflow's page-by-page pipeline and a chunk both use it.
func StaleMatches(keys []string, m Matches, written func(key string) (ids []string, stale bool)) (stale, ids []string) {
	seen := map[string]bool{}
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, k := range keys {
		w, ok := written(k)
		if !ok {
			continue
		}
		stale = append(stale, k)
		for _, id := range w {
			add(id)
		}
		for _, r := range m.Matches[k] {
			add(r.ID)
		}
	}
	return stale, ids
}

// RereadMatches reads ids with read (again for the Rest it leaves out) and replaces the
// matches of the stale keys in m by the records read, in id order; a stale key with
// nothing read has no match.
func RereadMatches(m *Matches, stale, ids []string, read func(ids []string) (Records, error)) error {
	if len(stale) == 0 {
		return nil
	}
	fresh := map[string][]connectors.Record{}
	for len(ids) > 0 {
		recs, err := read(ids)
		if err != nil {
			return err
		}
		for i, r := range recs.Records {
			fresh[recs.Keys[i]] = append(fresh[recs.Keys[i]], r)
		}
		if len(recs.Rest) >= len(ids) {
			break // nothing read: do not ask again for ever
		}
		ids = recs.Rest
	}
	if m.Matches == nil {
		m.Matches = map[string][]connectors.Record{}
	}
	for _, k := range stale {
		rs := fresh[k]
		if len(rs) == 0 {
			delete(m.Matches, k)
			continue
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
		m.Matches[k] = rs
	}
	return nil
}

// recentWrites are the chunk's target writes still within its lag at now, the newest
// MaxRecentWrites.
func (c *chunk) recentWrites(now time.Time) map[string]RecentWrite {
	keys := make([]string, 0, len(c.written))
	for k, w := range c.written {
		if now.Sub(w.At) < c.lag {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if len(keys) > MaxRecentWrites {
		sort.Slice(keys, func(i, j int) bool { return c.written[keys[i]].At.After(c.written[keys[j]].At) })
		keys = keys[:MaxRecentWrites]
	}
	out := make(map[string]RecentWrite, len(keys))
	for _, k := range keys {
		out[k] = c.written[k]
	}
	return out
}
