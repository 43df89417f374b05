package connectortest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
)

// The cases of the delete interfaces (issue 15): each runs for a connector that implements
// its interface and skips, naming the interface, for one that does not.

// deleteRemovesRecords (connectors.Deleter only): deleted records are gone from Get; an id
// deleted already is deleted again without an error; the results are in request order,
// each with the id it deleted.
func (s *suite) deleteRemovesRecords(t *testing.T) {
	c, ctx := s.open(t)
	d, ok := c.(connectors.Deleter)
	if !ok {
		t.Skip("the connector does not implement connectors.Deleter")
	}
	if mb := c.Info().MaxBatch; mb > 0 && mb < 3 {
		t.Skipf("MaxBatch %d is too small for a batch of three", mb)
	}
	created := s.create(t, ctx, c, s.fields(0, 4))

	// Not in creation order, so request order shows.
	first := []string{created[2], created[0]}
	requireDeleted(t, first, s.deleteBatch(t, ctx, d, first))
	got := s.get(t, ctx, c, created...)
	assert.ElementsMatch(t, []string{created[1], created[3]}, mapKeys(got), "Get after deleting %v", first)

	// A record deleted already, between two live ones.
	second := []string{created[3], created[2], created[1]}
	requireDeleted(t, second, s.deleteBatch(t, ctx, d, second))
	assert.Empty(t, s.get(t, ctx, c, created...), "Get after deleting every record")
}

// deleteBatch calls Delete once with ids and requires one result per id.
func (s *suite) deleteBatch(t *testing.T, ctx context.Context, d connectors.Deleter, ids []string) []connectors.WriteResult {
	t.Helper()
	res, err := d.Delete(ctx, s.d.Object, ids)
	require.NoError(t, err, "delete %v", ids)
	require.Len(t, res, len(ids), "delete %v: one result per id", ids)
	return res
}

// requireDeleted requires result i to say that ids[i] was deleted.
func requireDeleted(t *testing.T, ids []string, res []connectors.WriteResult) {
	t.Helper()
	for i, r := range res {
		require.NoError(t, r.Err, "delete %v: result %d (%s)", ids, i, ids[i])
		require.Equal(t, ids[i], r.ID, "delete %v: result %d is not for the id asked in its place", ids, i)
		assert.False(t, r.Created, "delete %v: result %d says Created", ids, i)
	}
}

// remover returns how the suite deletes records of c: connectors.Deleter, or else
// Driver.Remove; nil when neither can.
func (s *suite) remover(t *testing.T, ctx context.Context, c connectors.Connector) func(ids ...string) {
	if d, ok := c.(connectors.Deleter); ok {
		return func(ids ...string) {
			t.Helper()
			size := c.Info().MaxBatch
			if size <= 0 {
				size = len(ids)
			}
			for start := 0; start < len(ids); start += size {
				batch := ids[start:min(start+size, len(ids))]
				requireDeleted(t, batch, s.deleteBatch(t, ctx, d, batch))
			}
		}
	}
	if s.d.Remove != nil {
		return func(ids ...string) {
			t.Helper()
			for _, id := range ids {
				s.d.Remove(t, c, s.d.Object, id)
			}
		}
	}
	return nil
}

// deletesReadAfterCursor (connectors.DeleteReader only): deletions after a cursor taken
// before them are read, exactly those, strictly after the cursor, in (DeletedAt, ID)
// order, across pages of a small limit (More set until the last page); the log read again
// after the last tombstone has nothing new; and CoveredUntil, when a last page sets it,
// is not before that page's last tombstone. A connector whose Deletes answers
// errors.ErrUnsupported keeps no delete log as configured (a sql table without
// deleted_column), and the case skips.
func (s *suite) deletesReadAfterCursor(t *testing.T) {
	c, ctx := s.open(t)
	dr, ok := c.(connectors.DeleteReader)
	if !ok {
		t.Skip("the connector does not implement connectors.DeleteReader")
	}
	remove := s.remover(t, ctx, c)
	if remove == nil {
		t.Skip("the connector is no connectors.Deleter and Driver.Remove is nil: the suite cannot delete a record")
	}
	if s.d.DeleteLag > 0 && s.d.Advance == nil {
		t.Skipf("the delete log trails by %s (Driver.DeleteLag) and Driver.Advance is nil: the suite cannot move the clock past it", s.d.DeleteLag)
	}
	created := s.create(t, ctx, c, s.fields(0, 7))
	// A cursor before every deletion of this test: the service's time of the first record
	// written (a cursor without an id is before every record of its time).
	var since connectors.Cursor
	for _, r := range s.get(t, ctx, c, created...) {
		if since.UpdatedAt.IsZero() || r.UpdatedAt.Before(since.UpdatedAt) {
			since = connectors.Cursor{UpdatedAt: r.UpdatedAt}
		}
	}
	require.False(t, since.UpdatedAt.IsZero(), "the created records have no UpdatedAt")

	// A first deletion, read as the engine reads the log: its tombstone is the cursor the
	// later deletions are read from.
	remove(created[0])
	s.settleDeletes(t, c)
	first := s.deletes(t, ctx, dr, since, 100)
	require.Equal(t, []string{created[0]}, tombstoneIDs(first), "deletes after %s", since)
	cursor := connectors.CursorOfTombstone(first[0])

	// Five more, not in id order; created[6] stays. They come after the cursor by the
	// service's clock, as deletions made after a read do, and not in its stamp (a
	// deletion stamped alike with a smaller id would sort before the cursor).
	gone := []string{created[4], created[1], created[5], created[3], created[2]}
	s.pause()
	remove(gone...)
	s.settleDeletes(t, c)
	all := s.deletes(t, ctx, dr, cursor, 2)
	assert.ElementsMatch(t, gone, tombstoneIDs(all), "deletes after %s, the first deletion's tombstone, in pages of 2", cursor)
	if t.Failed() {
		return
	}
	// The same, one page.
	assert.Equal(t, all, s.deletes(t, ctx, dr, cursor, 100), "deletes after %s in one page", cursor)
	// Resuming within the log reads the rest of it.
	for _, k := range []int{0, 2} {
		at := connectors.CursorOfTombstone(all[k])
		assert.Equal(t, all[k+1:], s.deletes(t, ctx, dr, at, 2), "deletes after tombstone %d (%s)", k, at)
	}
	// Nothing new after the last one.
	last := connectors.CursorOfTombstone(all[len(all)-1])
	page, err := dr.Deletes(ctx, s.d.Object, last, 2)
	require.NoError(t, err, "deletes after the last tombstone %s", last)
	assert.Empty(t, page.Tombstones, "deletes after the last tombstone %s", last)
	assert.False(t, page.More, "More after the last tombstone %s", last)
}

// settleDeletes moves c's clock past Driver.DeleteLag, so that its delete log returns the
// deletions made so far.
func (s *suite) settleDeletes(t *testing.T, c connectors.Connector) {
	t.Helper()
	if s.d.DeleteLag > 0 {
		s.d.Advance(t, c, s.d.DeleteLag)
	}
}

// deletes reads the delete log after since with pages of limit tombstones, requiring what
// the engine relies on of each page, and returns the tombstones in the order read.
func (s *suite) deletes(t *testing.T, ctx context.Context, dr connectors.DeleteReader, since connectors.Cursor, limit int) []connectors.Tombstone {
	t.Helper()
	var all []connectors.Tombstone
	cursor := since
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10000, "Deletes never said More=false")
		page, err := dr.Deletes(ctx, s.d.Object, cursor, limit)
		if errors.Is(err, errors.ErrUnsupported) {
			t.Skipf("Deletes says errors.ErrUnsupported, no delete log as configured: %v", err)
		}
		require.NoError(t, err, "deletes after %s, limit %d", cursor, limit)
		require.LessOrEqual(t, len(page.Tombstones), limit, "page after %s is over the limit", cursor)
		for _, ts := range page.Tombstones {
			require.NotEmpty(t, ts.ID, "deletes after %s: a tombstone without an id", cursor)
			require.False(t, ts.DeletedAt.IsZero(), "deletes after %s: tombstone %s has no DeletedAt", cursor, ts.ID)
			require.True(t, cursor.Before(connectors.Record{ID: ts.ID, UpdatedAt: ts.DeletedAt}),
				"deletes with limit %d: tombstone %s (%s) is not after %s: out of (DeletedAt, ID) order or repeated",
				limit, ts.ID, ts.DeletedAt.UTC().Format(time.RFC3339Nano), cursor)
			cursor = connectors.CursorOfTombstone(ts)
			all = append(all, ts)
		}
		if !page.More {
			if n := len(page.Tombstones); n > 0 && !page.CoveredUntil.IsZero() {
				lastAt := page.Tombstones[n-1].DeletedAt
				require.False(t, page.CoveredUntil.Before(lastAt),
					"deletes after %s, limit %d: the last page's CoveredUntil %s is before its last tombstone %s (%s)",
					since, limit, page.CoveredUntil.UTC().Format(time.RFC3339Nano),
					page.Tombstones[n-1].ID, lastAt.UTC().Format(time.RFC3339Nano))
			}
			return all
		}
		// An empty page that asks for more would stall a sync at the same cursor forever.
		require.NotEmpty(t, page.Tombstones, "deletes with limit %d: empty page with More=true", limit)
	}
}

// listIDsPagesEveryLiveID (connectors.IDLister only): at any page size, the pages list
// every live id once, none deleted, and the last page's token is "".
func (s *suite) listIDsPagesEveryLiveID(t *testing.T) {
	c, ctx := s.open(t)
	l, ok := c.(connectors.IDLister)
	if !ok {
		t.Skip("the connector does not implement connectors.IDLister")
	}
	created := s.create(t, ctx, c, s.fields(0, 9))
	live := created
	if remove := s.remover(t, ctx, c); remove != nil {
		remove(created[2], created[5], created[8])
		live = []string{created[0], created[1], created[3], created[4], created[6], created[7]}
	} else {
		t.Log("the connector is no connectors.Deleter and Driver.Remove is nil: listing without deletions")
	}
	for _, limit := range []int{1, 2, 4, 100} {
		assert.ElementsMatch(t, live, s.listIDs(t, ctx, l, limit), "ids in pages of %d", limit)
	}
}

// listIDs reads every page of ids with limit, requiring no id twice, and returns them in
// the order read.
func (s *suite) listIDs(t *testing.T, ctx context.Context, l connectors.IDLister, limit int) []string {
	t.Helper()
	var all []string
	seen := map[string]int{}
	token := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10000, "ListIDs never returned an empty next token")
		ids, next, err := l.ListIDs(ctx, s.d.Object, token, limit)
		require.NoError(t, err, "list ids after token %q, limit %d", token, limit)
		require.LessOrEqual(t, len(ids), limit, "page after token %q is over the limit", token)
		for _, id := range ids {
			p, dup := seen[id]
			require.False(t, dup, "list ids with limit %d: %s on page %d and again on page %d", limit, id, p, pages)
			seen[id] = pages
			all = append(all, id)
		}
		if next == "" {
			return all
		}
		require.NotEqual(t, token, next, "list ids with limit %d: the same token %q again", limit, next)
		token = next
	}
}

func tombstoneIDs(ts []connectors.Tombstone) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
