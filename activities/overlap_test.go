package activities

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/pairs"
)

// watchedTarget is a target whose first write waits for a second look-up of keys (the
// next page's; the first is its own page's), at most until patience runs out: it reports
// the keys of the look-ups made before that write ended, but the first.
type watchedTarget struct {
	*memory.Connector
	patience time.Duration

	mu      sync.Mutex
	looks   int
	writes  int
	written bool     // the first write has ended
	during  []string // keys looked up (but the first look-up's) before it ended
	second  chan struct{}
}

func newWatchedTarget(c *memory.Connector, patience time.Duration) *watchedTarget {
	return &watchedTarget{Connector: c, patience: patience, second: make(chan struct{})}
}

func (w *watchedTarget) look(values []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.looks++
	if w.looks == 2 {
		close(w.second)
	}
	if w.looks >= 2 && !w.written {
		w.during = append(w.during, values...)
	}
}

func (w *watchedTarget) Find(ctx context.Context, object, field string, values []string) (map[string][]connectors.Record, error) {
	w.look(values)
	return w.Connector.Find(ctx, object, field, values)
}

func (w *watchedTarget) FindNormalized(ctx context.Context, object, field string, values []string, n connectors.KeyNormalizer) (map[string][]connectors.Record, error) {
	w.look(values)
	return w.Connector.FindNormalized(ctx, object, field, values, n)
}

func (w *watchedTarget) write(ctx context.Context) {
	w.mu.Lock()
	w.writes++
	first := w.writes == 1
	w.mu.Unlock()
	if !first {
		return
	}
	select {
	case <-w.second:
	case <-ctx.Done():
	case <-time.After(w.patience):
	}
	w.mu.Lock()
	w.written = true
	w.mu.Unlock()
}

func (w *watchedTarget) Create(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	w.write(ctx)
	return w.Connector.Create(ctx, object, records)
}

func (w *watchedTarget) Update(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	w.write(ctx)
	return w.Connector.Update(ctx, object, records)
}

func (w *watchedTarget) Upsert(ctx context.Context, object, key string, records []connectors.Record) ([]connectors.WriteResult, error) {
	w.write(ctx)
	return w.Connector.Upsert(ctx, object, key, records)
}

// TestChunkLooksUpWhileWriting: a chunk looks the next page's keys up while the page
// before it is written (the first write waits for that look-up: a chunk that looked up
// only after each write would keep it waiting until its patience ran out, and look up
// nothing meanwhile), and syncs every record once.
func TestChunkLooksUpWhileWriting(t *testing.T) {
	f := newFixture(memory.Options{})
	f.crm.Seed(crmCompanies, 150, company)
	target := newWatchedTarget(f.erp, 10*time.Second)
	f.acts.Connections["erp"] = target
	res, err := f.acts.SyncChunk(t.Context(), SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 50})
	require.NoError(t, err)
	assert.Equal(t, ChunkCounts{Fetched: 150, Created: 150}, res.Counts)
	assert.Equal(t, 150, f.erp.Len(erpAccounts))
	assert.Equal(t, 50, len(target.during), "the second page's keys were looked up while the first was written")
	assert.Equal(t, 3, res.Pages)
}

// TestChunkWaitsForAPageWithItsKeys: a page that holds a key of the page being written
// is looked up once that write has landed, so the record the write created is found, not
// created again.
func TestChunkWaitsForAPageWithItsKeys(t *testing.T) {
	f := newFixture(memory.Options{})
	// Records 0-49 are the first page; record 50 (in the second) has record 10's domain.
	f.crm.Seed(crmCompanies, 100, func(i int) map[string]any {
		if i == 50 {
			return map[string]any{"name": "Company 50", "domain": "c010.example"}
		}
		return company(i)
	})
	// Patience: how long the first write waits for a look-up that must not come. A
	// broken guard is seen whenever the second page is prepared within it.
	target := newWatchedTarget(f.erp, time.Second)
	f.acts.Connections["erp"] = target
	res, err := f.acts.SyncChunk(t.Context(), SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 50})
	require.NoError(t, err)
	assert.Empty(t, target.during, "no look-up while the first page was written")
	assert.Equal(t, 99, f.erp.Len(erpAccounts), "c010.example once")
	assert.Equal(t, 100, res.Counts.Fetched)
	assert.Equal(t, 99, res.Counts.Created)
	assert.Equal(t, 1, res.Counts.Updated+res.Counts.Skipped, "record 50 found record 10's account")
}

// TestFlightTouches: what a page in flight holds back: a page sharing a record or a key
// with it, and a look-up that found a record it writes.
func TestFlightTouches(t *testing.T) {
	f := &flight{touched: map[touch]bool{{touchFrom, "a1"}: true, {touchKey, "acme.com"}: true, {touchTo, "b7"}: true}}
	page := func(ids, keys []string) Records {
		var rs []connectors.Record
		for _, id := range ids {
			rs = append(rs, connectors.Record{ID: id})
		}
		return Records{Records: rs, Keys: keys}
	}
	for _, c := range []struct {
		ids, keys []string
		want      bool
	}{
		{[]string{"a2", "a3"}, []string{"x.com", "y.com"}, false},
		{[]string{"a2", "a1"}, []string{"x.com", "z.com"}, true},
		{[]string{"a2", "a3"}, []string{"", "acme.com"}, true},
		{[]string{"a2"}, []string{""}, false},
	} {
		assert.Equal(t, c.want, f.touches(page(c.ids, c.keys)), fmt.Sprint(c.ids, c.keys))
	}
	assert.True(t, f.writes([]string{"b1", "b7"}))
	assert.False(t, f.writes([]string{"b1", "a1"}), "a1 is a record of the page's own side")
	var none *flight
	assert.False(t, none.writes([]string{"b7"}), "no page in flight")
}

// TestFlightTouched: what a decided page holds back while it is written: its records, its
// keys, and the other side's records it updates.
func TestFlightTouched(t *testing.T) {
	f := newFixture(memory.Options{})
	f.crm.Seed(crmCompanies, 3, company)
	_, err := f.erp.Create(t.Context(), erpAccounts, []connectors.Record{{Fields: map[string]any{"website": "c001.example", "name": "Old name"}}})
	require.NoError(t, err)
	in := SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 50}
	c, err := f.acts.newChunk(t.Context(), t.Context(), in)
	require.NoError(t, err)
	page, err := f.acts.FetchChanges(t.Context(), FetchChangesInput{Ref: in.Ref, Side: SideA, Limit: 50})
	require.NoError(t, err)
	require.Len(t, page.Records, 3)
	fl, err := c.prepare(t.Context(), page)
	require.NoError(t, err)
	require.NoError(t, c.decide(t.Context(), fl))
	account := f.erp.All(erpAccounts)[0].ID
	for _, r := range page.Records {
		assert.True(t, fl.touched[touch{touchFrom, r.ID}], r.ID)
	}
	for _, k := range []string{"c000.example", "c001.example", "c002.example"} {
		assert.True(t, fl.touched[touch{touchKey, k}], k)
	}
	assert.True(t, fl.writes([]string{account}), "the account it updates")
	assert.True(t, fl.touches(Records{Records: []connectors.Record{{ID: "other"}}, Keys: []string{"c002.example"}}))
	assert.False(t, fl.touches(Records{Records: []connectors.Record{{ID: "other"}}, Keys: []string{"c003.example"}}))
}

// TestChunkReadsOnAfterItsLastSpan: a chunk that keeps links reads on page by page after
// its last span's mark, not from its cursor, which moves there only once the span's links
// are saved (here the save waits for that read to begin): no record is read twice.
func TestChunkReadsOnAfterItsLastSpan(t *testing.T) {
	f := spanFixture(t, 2, 35, company)
	source := &changesWatch{Connector: f.acts.Connections["crm"].(*barrierReader), read: make(chan struct{})}
	f.acts.Connections["crm"] = source
	store, err := pairs.OpenSQLite(":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	f.acts.Links = waitingSaves{Store: store, until: source.read}
	res, err := f.acts.SyncChunk(t.Context(), SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 10, KeepLinks: true})
	require.NoError(t, err)
	assert.Equal(t, ChunkCounts{Fetched: 35, Created: 35}, res.Counts, "each record read once")
	assert.Equal(t, 35, f.erp.Len(erpAccounts))
	n, err := store.Count(t.Context(), "companies")
	require.NoError(t, err)
	assert.Equal(t, 35, n)
	all := f.crm.All(crmCompanies)
	slices.SortFunc(all, func(x, y connectors.Record) int {
		return cmp.Or(x.UpdatedAt.Compare(y.UpdatedAt), cmp.Compare(x.ID, y.ID))
	})
	require.NotEmpty(t, source.since)
	assert.Equal(t, connectors.CursorOf(all[29]), source.since[0], "read on after the third mark")
}

// changesWatch reports the cursors its reads of changes (page by page, not spans) began
// after, and closes read at the first.
type changesWatch struct {
	connectors.Connector
	read  chan struct{}
	once  sync.Once
	since []connectors.Cursor
}

func (c *changesWatch) Changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	c.since = append(c.since, since)
	c.once.Do(func() { close(c.read) })
	return c.Connector.Changes(ctx, object, since, limit)
}

func (c *changesWatch) ReadParallelism() int {
	return c.Connector.(connectors.RangeReader).ReadParallelism()
}

func (c *changesWatch) Marks(ctx context.Context, object string, since connectors.Cursor, step, n int) ([]connectors.Cursor, error) {
	return c.Connector.(connectors.RangeReader).Marks(ctx, object, since, step, n)
}

func (c *changesWatch) ChangesBetween(ctx context.Context, object string, since, until connectors.Cursor, limit int) (connectors.Page, error) {
	return c.Connector.(connectors.RangeReader).ChangesBetween(ctx, object, since, until, limit)
}

// waitingSaves is a link store whose saves wait until a channel is closed (at most a
// minute).
type waitingSaves struct {
	pairs.Store
	until chan struct{}
}

func (w waitingSaves) Save(ctx context.Context, sync string, links []pairs.Link) error {
	select {
	case <-w.until:
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
	}
	return w.Store.Save(ctx, sync, links)
}
