package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/pairs"
)

// spanFixture is a fixture whose crm reads ranges, ahead at a time.
func spanFixture(t *testing.T, ahead int, companies int, fields func(i int) map[string]any) *fixture {
	t.Helper()
	f := newFixture(memory.Options{})
	crm := memory.New(memory.Options{IDPrefix: "crm-", ParallelReads: ahead})
	f.crm = crm
	crm.Seed(crmCompanies, companies, fields)
	f.acts.Connections["crm"] = &barrierReader{Connector: crm, want: ahead}
	return f
}

func company(i int) map[string]any {
	return map[string]any{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%03d.example", i)}
}

// barrierReader holds the first want span reads until want of them are in progress at
// once: a chunk that read spans one after another would never get past the first.
type barrierReader struct {
	*memory.Connector
	want int

	mu      sync.Mutex
	waiting int
	open    chan struct{}
}

func (b *barrierReader) ChangesBetween(ctx context.Context, object string, since, until connectors.Cursor, limit int) (connectors.Page, error) {
	b.mu.Lock()
	if b.open == nil {
		b.open = make(chan struct{})
	}
	b.waiting++
	if b.waiting == b.want {
		close(b.open)
	}
	open := b.open
	b.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
		return connectors.Page{}, ctx.Err()
	case <-time.After(time.Minute):
		return connectors.Page{}, fmt.Errorf("only %d of %d span reads ever ran at once", b.waiting, b.want)
	}
	return b.Connector.ChangesBetween(ctx, object, since, until, limit)
}

// TestSyncChunkReadsSpansAtOnce: a chunk over a source that reads ranges marks its pages,
// reads three spans at once, writes them in order and reads the tail after the last mark
// page by page; every record is written once.
func TestSyncChunkReadsSpansAtOnce(t *testing.T) {
	f := spanFixture(t, 3, 230, company)
	res, err := f.acts.SyncChunk(t.Context(), SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 50, MaxRecords: 1000})
	require.NoError(t, err)

	all := f.crm.All(crmCompanies)
	last := all[0]
	for _, r := range all {
		if connectors.CursorOf(last).Before(r) {
			last = r
		}
	}
	assert.Equal(t, connectors.CursorOf(last), res.Cursor, "the cursor is at the last record")
	assert.False(t, res.More)
	assert.Equal(t, ChunkCounts{Fetched: 230, Created: 230}, res.Counts)
	assert.Equal(t, 5, res.Pages, "four spans and the tail")
	assert.Equal(t, 230, f.erp.Len(erpAccounts))
	calls := f.crm.Calls()
	assert.Equal(t, 1, calls[memory.MethodMarks])
	assert.Equal(t, 4, calls[memory.MethodChangesBetween], "one read per span")
	assert.Equal(t, 1, calls[memory.MethodChanges], "the 30 after the last mark")
	websites := map[string]bool{}
	for _, r := range f.erp.All(erpAccounts) {
		websites[r.Fields["website"].(string)] = true
	}
	assert.Len(t, websites, 230, "each company written once")
}

// TestSyncChunkSpansEndAtItsBudget: a chunk of 100 records ends at its second mark with
// more to come, and chunks from there sync the rest, each record once.
func TestSyncChunkSpansEndAtItsBudget(t *testing.T) {
	f := spanFixture(t, 2, 230, company)
	cursor := connectors.Cursor{}
	var total ChunkCounts
	for chunks := 1; ; chunks++ {
		require.Less(t, chunks, 10)
		res, err := f.acts.SyncChunk(t.Context(), SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, Cursor: cursor, PageSize: 50, MaxRecords: 100})
		require.NoError(t, err)
		if chunks <= 2 {
			assert.True(t, res.More, "chunk %d: more after its budget", chunks)
			assert.Equal(t, 100, res.Counts.Fetched, "chunk %d", chunks)
		}
		total.Fetched += res.Counts.Fetched
		total.Created += res.Counts.Created
		total.Updated += res.Counts.Updated
		total.Skipped += res.Counts.Skipped
		cursor = res.Cursor
		if !res.More {
			break
		}
	}
	assert.Equal(t, ChunkCounts{Fetched: 230, Created: 230}, total)
	assert.Equal(t, 230, f.erp.Len(erpAccounts))
}

// TestSyncChunkReadsOnInASpan: a span the connector returns in shorter pages (More) is
// read on after the last record returned, up to its mark, before the next span is written.
func TestSyncChunkReadsOnInASpan(t *testing.T) {
	f := spanFixture(t, 2, 120, company)
	f.acts.Connections["crm"] = shortSpans{f.crm}
	res, err := f.acts.SyncChunk(t.Context(), SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 50, MaxRecords: 1000})
	require.NoError(t, err)
	assert.Equal(t, ChunkCounts{Fetched: 120, Created: 120}, res.Counts)
	assert.Equal(t, 120, f.erp.Len(erpAccounts))
	assert.Equal(t, 8, f.crm.Calls()[memory.MethodChangesBetween], "two spans of 50 in pages of 15, 15, 15, 5")
	assert.False(t, res.More)
}

// shortSpans returns spans in pages of at most 15 records.
type shortSpans struct{ *memory.Connector }

func (s shortSpans) ChangesBetween(ctx context.Context, object string, since, until connectors.Cursor, limit int) (connectors.Page, error) {
	return s.Connector.ChangesBetween(ctx, object, since, until, min(limit, 15))
}

// TestSyncChunkSpanReadFails: a span read that fails fails the chunk with its error, and
// a retry of the chunk syncs every record.
func TestSyncChunkSpanReadFails(t *testing.T) {
	f := spanFixture(t, 3, 230, company)
	f.crm.FailNext(memory.MethodChangesBetween, 1, fmt.Errorf("connection reset"))
	_, err := f.acts.SyncChunk(t.Context(), SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 50, MaxRecords: 1000})
	require.ErrorContains(t, err, "connection reset")

	res, err := f.acts.SyncChunk(t.Context(), SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 50, MaxRecords: 1000})
	require.NoError(t, err)
	assert.Equal(t, 230, res.Counts.Fetched)
	assert.Equal(t, 230, f.erp.Len(erpAccounts))
}

// BenchmarkSyncChunk syncs a chunk of 10,000 records from a source whose every read of
// changes (and look-up of marks) takes 50 ms (a slow export query, a service far away)
// into a target whose calls take 2 ms, reading one page after another (reads=1: the next
// page while this one is written) and spans at once (reads=2, 4, 8):
//
//	go test ./activities -run '^$' -bench SyncChunk -benchtime 5x
func BenchmarkSyncChunk(b *testing.B) {
	const n = 10_000
	for _, reads := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("reads=%d", reads), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				f := newFixture(memory.Options{Latency: 2 * time.Millisecond})
				crm := memory.New(memory.Options{IDPrefix: "crm-", ParallelReads: reads})
				crm.Seed(crmCompanies, n, company)
				f.acts.Connections["crm"] = slowReads{Connector: crm, latency: 50 * time.Millisecond}
				b.StartTimer()
				res, err := f.acts.SyncChunk(b.Context(), SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 500})
				if err != nil || res.Counts.Created != n {
					b.Fatalf("chunk: %v, %+v", err, res.Counts)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkSyncChunkSlowTarget syncs a chunk of 10,000 records into a target whose every
// call takes 20 ms (a database or a service far away): each page's look-up of keys and
// its write cost a round trip, and the next page's look-up runs while a page is written.
//
//	go test ./activities -run '^$' -bench SyncChunkSlowTarget -benchtime 3x
func BenchmarkSyncChunkSlowTarget(b *testing.B) {
	const n = 10_000
	for b.Loop() {
		b.StopTimer()
		f := newFixture(memory.Options{Latency: 20 * time.Millisecond})
		f.crm.Seed(crmCompanies, n, company)
		b.StartTimer()
		res, err := f.acts.SyncChunk(b.Context(), SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 500})
		if err != nil || res.Counts.Created != n {
			b.Fatalf("chunk: %v, %+v", err, res.Counts)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}

// slowReads adds latency to a memory connector's reads of changes.
type slowReads struct {
	*memory.Connector
	latency time.Duration
}

func (s slowReads) wait(ctx context.Context) error {
	select {
	case <-time.After(s.latency):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s slowReads) Changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	if err := s.wait(ctx); err != nil {
		return connectors.Page{}, err
	}
	return s.Connector.Changes(ctx, object, since, limit)
}

func (s slowReads) ChangesBetween(ctx context.Context, object string, since, until connectors.Cursor, limit int) (connectors.Page, error) {
	if err := s.wait(ctx); err != nil {
		return connectors.Page{}, err
	}
	return s.Connector.ChangesBetween(ctx, object, since, until, limit)
}

func (s slowReads) Marks(ctx context.Context, object string, since connectors.Cursor, step, n int) ([]connectors.Cursor, error) {
	if err := s.wait(ctx); err != nil {
		return nil, err
	}
	return s.Connector.Marks(ctx, object, since, step, n)
}

// overlapStore is a link store whose first Save waits until a look-up of side b records
// (whether they are linked) has answered: a chunk that did not look its next page up
// while a page's links save would never end.
type overlapStore struct {
	pairs.Store
	saves  atomic.Int32
	once   sync.Once
	looked chan struct{}
}

func (s *overlapStore) Save(ctx context.Context, sync string, links []pairs.Link) error {
	if s.saves.Add(1) == 1 {
		select {
		case <-s.looked:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Store.Save(ctx, sync, links)
}

func (s *overlapStore) Get(ctx context.Context, sync string, side pairs.Side, ids []string) (map[string]pairs.Link, error) {
	links, err := s.Store.Get(ctx, sync, side, ids)
	if side == SideB && len(ids) > 0 {
		s.once.Do(func() { close(s.looked) })
	}
	return links, err
}

// A two-way chunk looks its next page up while the last page's links save; when the
// look-up finds a record whose link is among them (here the record the last page created,
// found by the next page's record of the same key), it waits for the save and looks up
// again, so the record is seen as taken rather than matched a second time.
func TestTwoWayChunkLooksUpBesideASaveAndWaitsForItsRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, store, _ := contactsFixture(t)
	slow := &overlapStore{Store: store, looked: make(chan struct{})}
	f.acts.Links = slow
	first := f.crm.Put(crmContacts, connectors.Record{Fields: contactFields("same@x.com", "First")})
	second := f.crm.Put(crmContacts, connectors.Record{Fields: contactFields("same@x.com", "Second")})

	res, err := f.acts.SyncChunk(ctx, SyncChunkInput{Ref: Ref{Sync: "contacts"}, Side: SideA, PageSize: 1, Linked: true, Now: t0})
	require.NoError(t, err)
	assert.Equal(t, 2, res.Counts.Fetched)
	assert.Equal(t, 1, res.Counts.Created)
	assert.Equal(t, connectors.CursorOf(second), res.Cursor)
	assert.Equal(t, 2, res.Pages)

	created := f.erp.All(erpPeople)
	require.Len(t, created, 1, "one person for the key")
	links, err := store.Get(ctx, "contacts", SideB, []string{created[0].ID})
	require.NoError(t, err)
	assert.Equal(t, first.ID, links[created[0].ID].A.ID, "the person stays linked to the contact it was created for")
}

// failingSaves is a link store whose saves fail.
type failingSaves struct{ pairs.Store }

func (failingSaves) Save(context.Context, string, []pairs.Link) error {
	return errors.New("disk full")
}

// A page's links save while the chunk goes on; a save that fails fails the chunk, which
// leaves its cursor where it was for the retry.
func TestTwoWayChunkFailsWhenALinkSaveFails(t *testing.T) {
	ctx := context.Background()
	f, store, _ := contactsFixture(t)
	f.acts.Links = failingSaves{store}
	for i := range 3 {
		f.crm.Put(crmContacts, connectors.Record{Fields: contactFields(fmt.Sprintf("p%d@x.com", i), "P")})
	}
	_, err := f.acts.SyncChunk(ctx, SyncChunkInput{Ref: Ref{Sync: "contacts"}, Side: SideA, PageSize: 1, Linked: true, Now: t0})
	require.ErrorContains(t, err, "disk full")
}

// longReads is a memory service that reads pages of changes several at a time; limits
// records what each read of changes asked for.
type longReads struct {
	*memory.Connector
	pages  int
	limits *[]int
}

func (l longReads) ReadPages() int { return l.pages }

func (l longReads) Changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	*l.limits = append(*l.limits, limit)
	return l.Connector.Changes(ctx, object, since, limit)
}

// A chunk over a LongReader reads several pages at once and syncs them page by page:
// each page is a batch of its own, and the cursor moves past each.
func TestSyncChunkReadsPagesAtOnceFromALongReader(t *testing.T) {
	f := newFixture(memory.Options{})
	f.crm.Seed(crmCompanies, 23, company)
	var limits []int
	f.acts.Connections["crm"] = longReads{f.crm, 4, &limits}
	res, err := f.acts.SyncChunk(t.Context(), SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 5, MaxRecords: 1000})
	require.NoError(t, err)
	assert.Equal(t, ChunkCounts{Fetched: 23, Created: 23}, res.Counts)
	assert.Equal(t, 23, f.erp.Len(erpAccounts))
	assert.Equal(t, 5, res.Pages, "pages of 5, 5, 5, 5 and 3")
	assert.Equal(t, []int{20, 20}, limits, "two reads of four pages")
	assert.Equal(t, 5, f.erp.Calls()[memory.MethodUpsert], "a write per page")
	assert.False(t, res.More)
	var newest connectors.Cursor
	for _, r := range f.crm.All(crmCompanies) {
		if newest.Before(r) {
			newest = connectors.CursorOf(r)
		}
	}
	assert.Equal(t, newest, res.Cursor)

	// The chunk's budget bounds a read: 12 records are read as 12, synced as 5, 5 and 2.
	g := newFixture(memory.Options{})
	g.crm.Seed(crmCompanies, 23, company)
	limits = nil
	g.acts.Connections["crm"] = longReads{g.crm, 4, &limits}
	res, err = g.acts.SyncChunk(t.Context(), SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 5, MaxRecords: 12})
	require.NoError(t, err)
	assert.Equal(t, 12, res.Counts.Fetched)
	assert.Equal(t, 3, res.Pages)
	assert.Equal(t, []int{12}, limits)
	assert.True(t, res.More)
}

// A two-way chunk stamps each page's links with the page's time on the workflow's clock
// (the chunk's Now, plus the time it has run), not the chunk's start: a link's time is
// that of its write, which tells a record read from before the write
// (FindPartnersInput.Before). Each call to erp takes 20 ms here, so the second page's
// links are at least that much later than the first's.
func TestTwoWayChunkStampsLinksWithThePagesTime(t *testing.T) {
	ctx := context.Background()
	const latency = 20 * time.Millisecond
	f := newFixture(memory.Options{Latency: latency})
	store, err := pairs.Open(":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	f.acts.Links = store
	var recs []connectors.Record
	for i := range 2 {
		recs = append(recs, f.crm.Put(crmContacts, connectors.Record{Fields: contactFields(fmt.Sprintf("p%d@x.com", i), "P")}))
	}
	res, err := f.acts.SyncChunk(ctx, SyncChunkInput{Ref: Ref{Sync: "contacts"}, Side: SideA, PageSize: 1, Linked: true, Now: t0})
	require.NoError(t, err)
	require.Equal(t, 2, res.Counts.Created)
	links, err := store.Get(ctx, "contacts", SideA, []string{recs[0].ID, recs[1].ID})
	require.NoError(t, err)
	first, second := links[recs[0].ID].SyncedAt, links[recs[1].ID].SyncedAt
	assert.False(t, first.Before(t0), "at or after the chunk's Now")
	assert.GreaterOrEqual(t, second.Sub(first), latency, "the second page's links are its own time")
}

// A two-way chunk confirms its writes from the service's answers to them: a record the
// answer shows as written is confirmed without a read. One the service changed as it
// stored it (here erp upper-cases names) shows otherwise in the answer, and is read back
// as before: still otherwise, it stays unconfirmed for its next read to judge.
func TestTwoWayChunkConfirmsWritesFromTheirAnswers(t *testing.T) {
	ctx := context.Background()
	for _, reformats := range []bool{false, true} {
		t.Run(fmt.Sprintf("reformats=%v", reformats), func(t *testing.T) {
			var opts memory.Options
			if reformats {
				opts.Rewrite = func(_ string, f map[string]any) { f["full_name"] = strings.ToUpper(fmt.Sprint(f["full_name"])) }
			}
			f := newFixture(opts)
			store, err := pairs.Open(":memory:")
			require.NoError(t, err)
			t.Cleanup(func() { _ = store.Close() })
			f.acts.Links = store
			for i := range 3 {
				f.crm.Put(crmContacts, connectors.Record{Fields: contactFields(fmt.Sprintf("p%d@x.com", i), "Pat")})
			}
			res, err := f.acts.SyncChunk(ctx, SyncChunkInput{Ref: Ref{Sync: "contacts"}, Side: SideA, PageSize: 2, Linked: true, Now: t0})
			require.NoError(t, err)
			assert.Equal(t, 3, res.Counts.Created)
			people := f.erp.All(erpPeople)
			require.Len(t, people, 3)
			links, err := store.Get(ctx, "contacts", SideB, []string{people[0].ID, people[1].ID, people[2].ID})
			require.NoError(t, err)
			require.Len(t, links, 3)
			for _, l := range links {
				assert.Equal(t, reformats, !l.B.WroteAt.IsZero(), "link %s-%s confirmed unless reformatted", l.A.ID, l.B.ID)
			}
			if reformats {
				assert.NotZero(t, f.erp.Calls()[memory.MethodGet], "read back")
			} else {
				assert.Zero(t, f.erp.Calls()[memory.MethodGet], "confirmed from the answers: not read")
			}
		})
	}
}

// lateArrivals is a memory service that reads ranges and long pages (three pages a read),
// and gets more records just after a chunk marks its spans.
type lateArrivals struct {
	*memory.Connector
	arrive func()
	once   sync.Once
}

func (l *lateArrivals) ReadPages() int { return 3 }

func (l *lateArrivals) Marks(ctx context.Context, object string, since connectors.Cursor, step, n int) ([]connectors.Cursor, error) {
	marks, err := l.Connector.Marks(ctx, object, since, step, n)
	l.once.Do(l.arrive)
	return marks, err
}

// A chunk that reads on page by page after its spans reads no more than what its limit
// leaves after them, though more records arrived after its marks than that: 35 records
// at most, 20 of them in spans, then 15 (not three pages of 10).
func TestChunkReadsOnlyWhatItsLimitLeavesAfterItsSpans(t *testing.T) {
	f := newFixture(memory.Options{})
	crm := memory.New(memory.Options{IDPrefix: "crm-", ParallelReads: 2})
	f.crm = crm
	crm.Seed(crmCompanies, 25, company)
	f.acts.Connections["crm"] = &lateArrivals{Connector: crm, arrive: func() {
		crm.Seed(crmCompanies, 30, func(i int) map[string]any { return company(100 + i) })
	}}
	res, err := f.acts.SyncChunk(t.Context(), SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 10, MaxRecords: 35})
	require.NoError(t, err)
	assert.Equal(t, 35, res.Counts.Fetched)
	assert.Equal(t, 35, res.Counts.Created)
	assert.True(t, res.More)
}
