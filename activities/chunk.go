package activities

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"tandem/connectors"
	"tandem/definition"
	"tandem/pairs"
)

// The bulk path (issue 17). A run's pages go through the pipeline as separate activities
// (FetchChanges, FindByIdentifier or FindPartners, the BuildPayloads and Compare markers,
// Upsert, SaveLinks), every record in history: what `explain` and a replay read. For a
// backfill that costs about 700 bytes of history per record and a tenth of what the
// machine can do. So once a run's first page of a side is full (more follow), the rest of
// that side is read in chunks: SyncChunk runs the same steps (the same functions) for up to
// ChunkRecords records inside one activity, reading the next page while it writes the
// last, and returns only the cursor, the counts, and the few records that need the
// workflow (failures, conflicts, held pairs, refused conditional writes). The workflow
// commits the cursor after each chunk, as it does after each page. A chunk retried after
// a crash starts again from its cursor: its writes are upserts by key and its creates are
// looked up again first (as Upsert does on any retry), so nothing is written twice; the
// records it had written before the crash are counted as skipped the second time.

// ChunkRecords is how many records one chunk reads at most; ChunkTime how long it goes on
// starting pages.
const (
	ChunkRecords = 20_000
	ChunkTime    = 30 * time.Second
)

// maxChunkList bounds each list of records a chunk returns (all are counted).
const maxChunkList = 100

// SyncChunkInput asks for a side's changes after Cursor to be synced, up to a chunk.
type SyncChunkInput struct {
	Ref
	Side         string
	Cursor       connectors.Cursor
	TargetCursor connectors.Cursor
	PageSize     int
	// Run and RunAt name the run (for destinations that store batches); Now stamps links.
	Run      int
	RunAt    time.Time
	Now      time.Time
	CoolDown time.Duration `json:",omitempty"`
	// Linked is set for two-way syncs with a link store; KeepLinks for one-way syncs that
	// act on deletes (they keep their pairs).
	Linked    bool `json:",omitempty"`
	KeepLinks bool `json:",omitempty"`
	// MaxRecords bounds the chunk (0: ChunkRecords).
	MaxRecords int `json:",omitempty"`
	// Remember: as UpsertInput's.
	Remember bool `json:",omitempty"`
	// Written are the other side's recent writes, by key, when its search trails its
	// writes (see chunklag.go).
	Written map[string]RecentWrite `json:",omitempty"`
}

// ChunkCounts are a chunk's outcomes, as a run counts them.
type ChunkCounts struct {
	Fetched   int `json:"fetched"`
	Created   int `json:"created,omitempty"`
	Updated   int `json:"updated,omitempty"`
	Skipped   int `json:"skipped,omitempty"`
	Failed    int `json:"failed,omitempty"`
	Conflicts int `json:"conflicts,omitempty"`
	Held      int `json:"held,omitempty"`
	Stale     int `json:"stale,omitempty"`
}

// ChunkResult is what a chunk did: where the side's cursor now is, the counts, and the
// records the workflow keeps or acts on (each list bounded; every record counted).
type ChunkResult struct {
	Cursor connectors.Cursor `json:"cursor"`
	Counts ChunkCounts       `json:"counts"`
	Pages  int               `json:"pages"`
	// More is set when the side may have more changes.
	More      bool       `json:"more,omitempty"`
	Failures  []Failure  `json:"failures,omitempty"`
	Conflicts []Conflict `json:"conflicts,omitempty"`
	Holds     []Hold     `json:"holds,omitempty"`
	Released  []string   `json:"released,omitempty"`
	// Stale are ids of the side's records whose conditional update was refused: the
	// workflow reads them again in a micro-batch.
	Stale []string `json:"stale,omitempty"`
	// Usage is each service's quota use as last reported, by side.
	Usage map[string]map[string]string `json:"usage,omitempty"`
	// Failing is what the link store remembers of the sync's failures, when the chunk
	// changed it (Remember).
	Failing *Failing `json:"failing,omitempty"`
	// Written are the other side's writes still within its search's lag when the chunk
	// ended, the input's included (see chunklag.go).
	Written map[string]RecentWrite `json:"written,omitempty"`
}

// ChunkProgress is a chunk's heartbeat: how far it has read. The starter's status adds
// Fetched to the run's progress while the chunk runs (from Temporal's description of the
// workflow's pending activities), so `status --watch` moves during a chunk.
type ChunkProgress struct {
	Cursor  connectors.Cursor `json:"cursor"`
	Fetched int               `json:"fetched"`
}

// chunkKey marks a chunk's context: the steps it calls do not heartbeat themselves, so
// the chunk's own heartbeats (with its progress) are the only ones.
type chunkKey struct{}

func inChunk(ctx context.Context) bool { return ctx.Value(chunkKey{}) != nil }

// SyncChunk syncs up to a chunk of a side's changes, page by page, inside one activity.
func (a *Activities) SyncChunk(ctx context.Context, in SyncChunkInput) (ChunkResult, error) {
	actx := ctx // the activity's own, for heartbeats; the steps' is marked
	ctx = context.WithValue(ctx, chunkKey{}, true)
	c, err := a.newChunk(actx, ctx, in)
	if err != nil {
		return ChunkResult{}, err
	}
	if lag := lagOf(c.toConn); lag > 0 && activity.IsActivity(ctx) && activity.GetInfo(ctx).Attempt > 1 {
		// The failed attempt's writes are not in the input (nor, for a linked chunk, the
		// links of those whose answer it lost), and a search that trails them would not
		// find what it created: wait until it has caught up (as a retried Upsert does).
		if err := sleep(ctx, lag); err != nil {
			return ChunkResult{}, err
		}
		ctx = context.WithValue(ctx, laggedOutKey{}, true)
	}
	stop := every(actx, HeartbeatEvery, c.beat)
	defer stop()
	defer c.saves.abandon()
	defer c.bulk.close()
	defer c.ground()
	over, err := c.spans(ctx)
	if err == nil && !over {
		err = c.pages(ctx)
	}
	// The last page's writes (or, after an error, those under way: none outlives the
	// chunk, and the links of what they wrote are saved as far as they go).
	if lerr := c.land(); err == nil {
		err = lerr
	}
	if err != nil {
		return ChunkResult{}, err
	}
	if err := c.saves.wait(); err != nil {
		return ChunkResult{}, err
	}
	c.bulk.close()
	return c.end(), nil
}

// chunk is one SyncChunk: what it syncs, from which side, and what it has done so far.
type chunk struct {
	a    *Activities
	in   SyncChunkInput
	sync *definition.Sync
	from *definition.End
	// fromConn reads the chunk's side; toConn is the other side's.
	fromConn, toConn connectors.Connector
	// limit is the most records the chunk reads; started when it began.
	limit   int
	started time.Time
	out     ChunkResult
	saves   *linkSaves
	// actx is the activity's own context (the steps' is marked: chunkKey), for heartbeats.
	actx     context.Context
	mu       sync.Mutex
	progress ChunkProgress
	// lag is how far the target's search trails its writes (0: it does not, or the
	// chunk is linked); written are its writes within that lag (chunklag.go).
	lag     time.Duration
	written map[string]RecentWrite
	// bulk keeps what the chunk did with each record, when no link will (bulklog.go).
	bulk *bulkLog
	// flying is the page being written while the next is prepared (page), or nil.
	flying *flight
	// readTo is where the spans' reads got to: the chunk reads on page by page after it
	// (the cursor, c.out.Cursor, moves there only once the spans' links are saved).
	readTo connectors.Cursor
}

// to is the side the chunk writes.
func (c *chunk) to() string { return definition.Other(c.in.Side) }

// newChunk sets a chunk up: actx is the activity's context, ctx the steps' (chunkKey).
func (a *Activities) newChunk(actx, ctx context.Context, in SyncChunkInput) (*chunk, error) {
	s, err := a.sync(in.Ref)
	if err != nil {
		return nil, err
	}
	_, from, fromConn, err := a.side(in.Ref, in.Side)
	if err != nil {
		return nil, err
	}
	_, _, toConn, err := a.side(in.Ref, definition.Other(in.Side))
	if err != nil {
		return nil, err
	}
	if in.PageSize <= 0 {
		in.PageSize = s.PageSize
	}
	c := &chunk{a: a, in: in, sync: s, from: from, fromConn: fromConn, toConn: toConn,
		limit: in.MaxRecords, started: time.Now(), out: ChunkResult{Cursor: in.Cursor},
		actx: actx, progress: ChunkProgress{Cursor: in.Cursor}, readTo: in.Cursor}
	if c.limit <= 0 {
		c.limit = ChunkRecords
	}
	if c.lag = c.searchLag(); c.lag > 0 {
		c.written = maps.Clone(in.Written)
	}
	if a.Links != nil && !in.Linked && !in.KeepLinks {
		c.bulk = newBulkLog(ctx, a.Links, in.Sync, in.Side, in.Run)
	}
	// SaveLinks in two stages: a batch's read-back runs while the batch before it is
	// written (the store's one writer), not before its own write on the writer's time.
	c.saves = &linkSaves{
		prepare: func(links []pairs.Link) []pairs.Link { return a.readBack(ctx, in.Ref, links) },
		save:    func(links []pairs.Link) error { return a.storeLinks(ctx, in.Ref, links) },
	}
	return c, nil
}

// beat heartbeats the chunk's progress.
func (c *chunk) beat() {
	c.mu.Lock()
	p := c.progress
	c.mu.Unlock()
	heartbeat(c.actx, p)
}

// committed moves the chunk's cursor past a page (or a span) it has written, once the
// links of the pages before it are saved.
func (c *chunk) committed(cursor connectors.Cursor, more bool) {
	c.then(func() {
		c.out.Cursor, c.out.More = cursor, more
		c.out.Pages++
		c.mu.Lock()
		c.progress = ChunkProgress{Cursor: c.out.Cursor, Fetched: c.out.Counts.Fetched}
		c.mu.Unlock()
		c.beat()
	})
}

// pages syncs the chunk's changes page by page, reading the next pages while it writes
// the last. A LongReader's reads are of several pages, synced one by one.
func (c *chunk) pages(ctx context.Context) error {
	in := &c.in
	type fetched struct {
		page Records
		err  error
	}
	pages := 1
	if lr, ok := c.fromConn.(connectors.LongReader); ok {
		pages = max(1, lr.ReadPages())
	}
	fetch := func(cur connectors.Cursor, n int) chan fetched {
		ch := make(chan fetched, 1)
		go func() {
			p, err := c.a.FetchChanges(ctx, FetchChangesInput{Ref: in.Ref, Side: in.Side, Cursor: cur, Limit: n})
			ch <- fetched{p, err}
		}()
		return ch
	}
	// What the spans read counts against the chunk's limit.
	left := c.limit - c.out.Counts.Fetched
	if left <= 0 {
		return nil // the spans read it all (More stays as their last mark left it)
	}
	next, inFlight := fetch(c.readTo, min(in.PageSize*pages, left)), true
	// A failed page lets the read in flight end before the context does.
	defer func() {
		if inFlight {
			<-next
		}
	}()
	for {
		f := <-next
		inFlight = false
		if f.err != nil {
			return f.err
		}
		read := f.page
		if len(read.Records) == 0 {
			c.then(func() { c.out.More = false })
			return nil
		}
		last := connectors.CursorOf(read.Records[len(read.Records)-1])
		readSoFar := c.out.Counts.Fetched + len(read.Records)
		goOn := read.More && readSoFar < c.limit && time.Since(c.started) < ChunkTime
		if goOn {
			next, inFlight = fetch(last, min(in.PageSize*pages, c.limit-readSoFar)), true
		}
		for i, page := range read.split(in.PageSize) {
			if i > 0 && time.Since(c.started) >= ChunkTime {
				goOn = false // the rest of the read is read again by the next chunk
				break
			}
			if err := c.page(ctx, page); err != nil {
				return err
			}
			c.committed(connectors.CursorOf(page.Records[len(page.Records)-1]), page.More)
		}
		if !goOn {
			return nil
		}
	}
}

// end is the chunk's result, with each side's quota use.
func (c *chunk) end() ChunkResult {
	out := c.out
	out.Usage = map[string]map[string]string{}
	for side, conn := range map[string]connectors.Connector{c.in.Side: c.fromConn, definition.Other(c.in.Side): c.toConn} {
		if u := usage(conn); u != nil {
			out.Usage[side] = u
		}
	}
	if len(out.Usage) == 0 {
		out.Usage = nil
	}
	if c.lag > 0 {
		out.Written = c.recentWrites(time.Now())
	}
	return out
}

// spans syncs a chunk's full pages as spans when the side's connector is a RangeReader
// that reads more than one at once (else it does nothing): it asks where every page-th
// change after the cursor is (the marks), reads the spans between them up to the
// connector's parallelism at once, ahead of the one being written, and writes them in
// order, committing the cursor at each mark. A span the connector did not return whole
// (More: records saved into it since the marks, a service's shorter pages) is read on
// after its last record, up to its mark. It reports whether the chunk is over (its
// records or its time spent); if not, fewer than a page of changes followed the last mark
// when they were looked up, and the chunk reads on page by page.
func (c *chunk) spans(ctx context.Context) (bool, error) {
	in, sd := &c.in, c.from
	rr, ok := c.fromConn.(connectors.RangeReader)
	n := c.limit / in.PageSize
	if !ok || rr.ReadParallelism() < 2 || n < 2 {
		return false, nil
	}
	marks, err := rr.Marks(ctx, sd.Object, in.Cursor, in.PageSize, n)
	if err != nil {
		return false, classifyFor(ctx, sd.Connection, fmt.Sprintf("mark the changes of %s %s after %s", sd.Connection, sd.Object, in.Cursor), err)
	}
	if len(marks) < 2 {
		return false, nil // a page or less: nothing to read at once
	}
	read := func(ctx context.Context, since, until connectors.Cursor) (Records, error) {
		page, err := rr.ChangesBetween(ctx, sd.Object, since, until, in.PageSize)
		if err != nil {
			return Records{}, classifyFor(ctx, sd.Connection, fmt.Sprintf("fetch changes of %s %s after %s up to %s", sd.Connection, sd.Object, since, until), err)
		}
		return c.a.changed(c.sync, sd, in.Side, c.fromConn, page, since, &until, false)
	}
	type span struct {
		page Records
		err  error
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: no read outlives the chunk
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reads := make([]chan span, len(marks))
	start := func(i int) {
		since := in.Cursor
		if i > 0 {
			since = marks[i-1]
		}
		ch := make(chan span, 1)
		reads[i] = ch
		wg.Go(func() {
			p, err := read(rctx, since, marks[i])
			ch <- span{p, err}
		})
	}
	ahead := min(rr.ReadParallelism(), len(marks))
	for i := range ahead {
		start(i)
	}
	for i, mark := range marks {
		r := <-reads[i]
		for page := r.page; ; {
			if r.err != nil {
				return false, r.err
			}
			if len(page.Records) > 0 {
				if err := c.page(ctx, page); err != nil {
					return false, err
				}
			}
			if !page.More || len(page.Records) == 0 {
				break
			}
			page, r.err = read(rctx, connectors.CursorOf(page.Records[len(page.Records)-1]), mark)
		}
		c.readTo = mark
		c.committed(mark, true)
		if time.Since(c.started) >= ChunkTime {
			return true, nil
		}
		if j := i + ahead; j < len(marks) {
			start(j)
		}
	}
	// The chunk reads on page by page after the last mark (readTo), its last span still
	// being written (page waits for it where they share a record or a key).
	return len(marks) == n, nil
}

// A chunk's pages go through find, build, compare and the writes one after the other, but
// a page's writes overlap the next page's look-up: page prepares a page (find and build:
// reads only), lands the page before it (waits for its writes and tallies them, in
// order), decides the new page (compare, plan: its time, and so its links' write times,
// is when its writes start) and only then starts its writes. So one page at a time is
// written, in order, and each page's look-up sees the writes of the pages before it,
// except the one still being written: a page that shares a record or a key with that
// page waits for it to land before it is looked up (touches); one whose look-up found a
// record that page writes waits for it and looks up again (writes). A one-way chunk into
// a side whose search lags does not overlap (its look-ups read what the writes before it
// left, chunklag.go); a linked chunk into one does (its links tell a record read from
// before Tandem's write: FindPartnersInput.Before).

// flight is a page on its way: looked up (prepare), decided (decide), written (launch),
// then tallied (land).
type flight struct {
	page Records
	// skipped are the page's records left out before the decisions (ended pairs,
	// settled records, records read from before Tandem's own write); built is false
	// when that was all of them (nothing to decide or write).
	skipped int
	built   bool
	// batch is the first record the page writes, which names its writes (Failure.Write).
	batch    string
	now      time.Time
	items    Items
	plan     Plan
	outcomes *pageOutcomes
	// writes are the page's two writes (to the other side; two-way, back to this one).
	toOther, toThis chan pageWrite
	// touched names what the page's writes may change: its keys, its records' ids (this
	// side's, those it writes back too), the other side's ids it writes.
	touched map[touch]bool
	// then runs once the page has landed and its links are saved (the cursor's move).
	then []func()
}

// pageWrite is one write of a page: its results, or the error of the whole call.
type pageWrite struct {
	res Written
	err error
}

// A touch is a key (touchKey), or a record of the chunk's side (touchFrom) or of the
// other side (touchTo), by id: what a page in flight may change.
type touch struct {
	kind byte
	v    string
}

const (
	touchKey byte = iota
	touchFrom
	touchTo
)

// touches reports whether a page shares a record or a key with f's.
func (f *flight) touches(page Records) bool {
	for i, r := range page.Records {
		if f.touched[touch{touchFrom, r.ID}] || page.Keys[i] != "" && f.touched[touch{touchKey, page.Keys[i]}] {
			return true
		}
	}
	return false
}

// writes reports whether f writes one of the other side's records ids.
func (f *flight) writes(ids []string) bool {
	if f == nil {
		return false
	}
	for _, id := range ids {
		if f.touched[touch{touchTo, id}] {
			return true
		}
	}
	return false
}

// then runs fn after the pages synced so far have landed and their links are saved.
func (c *chunk) then(fn func()) {
	if c.flying != nil {
		c.flying.then = append(c.flying.then, fn)
		return
	}
	c.saves.after(fn)
}

// page syncs one page, as a run's batch, and adds its outcomes to the chunk's. Its writes
// are still under way when it returns (land ends them); its links are saved as the chunk
// goes on.
func (c *chunk) page(ctx context.Context, page Records) error {
	if f := c.flying; f != nil && (c.lag > 0 || f.touches(page)) {
		if err := c.land(); err != nil {
			return err
		}
	}
	c.out.Counts.Fetched += len(page.Records)
	f, err := c.prepare(ctx, page)
	if err != nil {
		return err
	}
	if err := c.land(); err != nil {
		return err
	}
	// Decided once the page before has landed, just before the page's own writes: the
	// page's time (its links' write times) is when they start.
	if err := c.decide(ctx, f); err != nil {
		return err
	}
	c.launch(ctx, f)
	c.flying = f
	return nil
}

// prepare looks a page's partners or matches up and builds its payloads, without writing
// (see page).
func (c *chunk) prepare(ctx context.Context, page Records) (*flight, error) {
	a, in, saves := c.a, &c.in, c.saves
	from, to := in.Side, definition.Other(in.Side)
	f := &flight{page: page}
	if in.Linked {
		ids := make([]string, len(page.Records))
		for i, r := range page.Records {
			ids[i] = r.ID
		}
		// The look-up reads the link store: a record whose link is still being saved is
		// looked up once it is (its own, or one the look-up found on the other side).
		if saves.holds(from, ids...) {
			if err := saves.wait(); err != nil {
				return nil, err
			}
		}
		find := FindPartnersInput{Ref: in.Ref, Side: from, IDs: ids, Keys: page.Keys, Current: page.Records, Before: page.Before}
		p, err := a.FindPartners(ctx, find)
		if err != nil {
			return nil, err
		}
		if others := p.otherIDs(to); c.flying.writes(others) || saves.holds(to, others...) {
			if err := c.land(); err != nil {
				return nil, err
			}
			if err := saves.wait(); err != nil {
				return nil, err
			}
			if p, err = a.FindPartners(ctx, find); err != nil {
				return nil, err
			}
		}
		if len(p.Behind) > 0 && activity.IsActivity(ctx) {
			activity.GetLogger(ctx).Info("Records read from before Tandem's own write to them left for the next read",
				"sync", in.Sync, "side", from, "records", len(p.Behind))
		}
		if len(p.Gone) > 0 || len(p.Unchanged) > 0 || len(p.Behind) > 0 {
			f.skipped = len(p.Gone) + len(p.Unchanged) + len(p.Behind)
			page = page.Without(p.Gone).Without(p.Behind).Keep(func(r connectors.Record, _ string) bool {
				return !p.Unchanged[r.ID]
			})
			if len(page.Records) == 0 {
				return f, nil
			}
		}
		if f.items, err = a.BuildPayloads(ctx, BuildPayloadsInput{Ref: in.Ref, From: from, Source: page, Partners: &p}); err != nil {
			return nil, err
		}
	} else {
		keys := page.UniqueKeys()
		m, err := a.FindByIdentifier(ctx, FindByIdentifierInput{Ref: in.Ref, Side: to, Values: keys})
		if err != nil {
			return nil, err
		}
		if c.flying.writes(m.ids()) {
			if err := c.land(); err != nil {
				return nil, err
			}
			if m, err = a.FindByIdentifier(ctx, FindByIdentifierInput{Ref: in.Ref, Side: to, Values: keys}); err != nil {
				return nil, err
			}
		}
		if c.lag > 0 {
			if err := c.reread(ctx, keys, &m, time.Now()); err != nil {
				return nil, err
			}
		}
		if f.items, err = a.BuildPayloads(ctx, BuildPayloadsInput{Ref: in.Ref, From: from, Source: page, Matches: m.Matches}); err != nil {
			return nil, err
		}
	}
	f.built, f.batch = true, page.Records[0].ID
	return f, nil
}

// decide compares a prepared page and plans its writes.
func (c *chunk) decide(ctx context.Context, f *flight) error {
	if !f.built {
		return nil
	}
	in, from := &c.in, c.in.Side
	// The page's time on the workflow's clock: the links' times are those of the page's
	// writes, not the chunk's start (a link's write time tells a record read from before
	// it: FindPartnersInput.Before).
	f.now = in.Now.Add(time.Since(c.started))
	dec, err := c.a.Compare(ctx, CompareInput{Ref: in.Ref, From: from, Items: f.items.Items, TargetCursor: in.TargetCursor,
		Linked: in.Linked, Now: f.now, CoolDown: in.CoolDown})
	if err != nil {
		return err
	}
	f.plan = dec.Plan(from, f.items.Items)
	f.outcomes = c.bulk.outcomes(f.items.Items, f.plan.Failures)
	f.touched = make(map[touch]bool, 2*len(f.page.Records)+len(f.plan.Ops)+len(f.plan.BackOps))
	for i, r := range f.page.Records {
		f.touched[touch{touchFrom, r.ID}] = true
		if k := f.page.Keys[i]; k != "" {
			f.touched[touch{touchKey, k}] = true
		}
	}
	for _, op := range f.plan.Ops { // an op's key is its record's, among the page's
		if op.TargetID != "" {
			f.touched[touch{touchTo, op.TargetID}] = true
		}
	}
	for _, op := range f.plan.BackOps {
		if op.TargetID != "" {
			f.touched[touch{touchFrom, op.TargetID}] = true
		}
	}
	return nil
}

// launch starts a prepared page's writes: to the other side and (two-way) back to this
// one, at the same time.
func (c *chunk) launch(ctx context.Context, f *flight) {
	if !f.built {
		return
	}
	in := &c.in
	run := func(side string, ops []WriteOp, batch string) chan pageWrite {
		ch := make(chan pageWrite, 1)
		if len(ops) == 0 {
			ch <- pageWrite{}
			return ch
		}
		go func() {
			w, err := c.a.Upsert(ctx, UpsertInput{Ref: in.Ref, Side: side, Ops: ops, Run: in.Run, Batch: batch, RunAt: in.RunAt,
				Remember: in.Remember, ReadBack: in.Linked && !c.a.searchLags(in.Ref, side)})
			ch <- pageWrite{w, err}
		}()
		return ch
	}
	from := in.Side
	batch := fmt.Sprintf("%s-chunk-%s", from, f.batch)
	f.toOther, f.toThis = run(definition.Other(from), f.plan.Ops, batch), run(from, f.plan.BackOps, batch+"-back")
}

// ground waits for the writes of the page in flight, if any, and drops it: no write
// outlives a chunk that ends on a panic.
func (c *chunk) ground() {
	if f := c.flying; f != nil && f.built {
		<-f.toOther
		<-f.toThis
	}
	c.flying = nil
}

// land waits for the page in flight, if any, to be written, adds its outcomes to the
// chunk's and leaves its links saving.
func (c *chunk) land() error {
	f := c.flying
	if f == nil {
		return nil
	}
	c.flying = nil
	out := &c.out
	counts := &out.Counts
	counts.Skipped += f.skipped + f.plan.Skipped
	for _, fl := range f.plan.Failures {
		counts.Failed++
		appendBounded(&out.Failures, fl)
	}
	for _, k := range f.plan.Conflicts {
		counts.Conflicts++
		appendBounded(&out.Conflicts, k)
	}
	for _, h := range f.plan.Holds {
		counts.Held++
		appendBounded(&out.Holds, h)
	}
	for _, k := range f.plan.Released {
		appendBounded(&out.Released, k)
	}
	if f.built {
		if err := c.landWrites(f); err != nil {
			return err
		}
	}
	for _, fn := range f.then {
		c.saves.after(fn)
	}
	return nil
}

// landWrites waits for a page's writes, adds their outcomes to the chunk's and hands the
// page's links to the saves.
func (c *chunk) landWrites(f *flight) error {
	in, out := &c.in, &c.out
	from, counts := in.Side, &out.Counts
	created, failed := make(map[string]string, len(f.plan.Ops)), map[string]bool{}
	// read: the written records as the writes' answers gave them (a side whose search lags
	// is not asked: see launch), by side and id.
	read := map[string]map[string]*connectors.Record{}
	var firstErr error
	for _, w := range []struct {
		ch      chan pageWrite
		ops     []WriteOp
		side    string // of the records the ops came from
		toOther bool
	}{{f.toOther, f.plan.Ops, from, true}, {f.toThis, f.plan.BackOps, definition.Other(from), false}} {
		r := <-w.ch
		if r.err != nil {
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		if r.res.Failing != nil {
			out.Failing = r.res.Failing
		}
		for i, res := range r.res.Results {
			op := w.ops[i]
			id := op.SourceID
			if !w.toOther {
				id = op.TargetID
			}
			if op.Action == ActionCreate && res.Action != ActionFail {
				created[op.SourceID] = res.TargetID
			}
			if w.toOther && (res.Action == ActionCreate || res.Action == ActionUpdate) {
				c.noteWrite(op.Key, res.TargetID, time.Now())
			}
			if w.toOther {
				f.outcomes.wrote(op, res)
			}
			if res.Read != nil {
				written := definition.Other(w.side)
				if read[written] == nil {
					read[written] = make(map[string]*connectors.Record, len(r.res.Results))
				}
				read[written][res.TargetID] = res.Read
			}
			switch res.Action {
			case ActionCreate:
				counts.Created++
			case ActionUpdate:
				counts.Updated++
			case ActionStale:
				counts.Stale++
				failed[id] = true
				if len(out.Stale) < 10*maxChunkList {
					out.Stale = append(out.Stale, id)
				}
			default:
				counts.Failed++
				failed[id] = true
				appendBounded(&out.Failures, Failure{Side: w.side, RecordID: op.SourceID, Key: op.Key, Reason: res.Reason})
			}
		}
	}
	if firstErr != nil {
		return firstErr
	}
	c.bulk.add(f.outcomes)
	switch {
	case in.Linked:
		// Settled straight into the links gathering for the next save.
		return c.saves.gather(func(dst []pairs.Link) []pairs.Link {
			start := len(dst)
			dst = f.plan.appendSettled(dst, created, failed)
			for side, recs := range read {
				confirmHalves(c.sync, dst[start:], side, recs)
			}
			return dst
		})
	case in.KeepLinks:
		return c.saves.gather(func(dst []pairs.Link) []pairs.Link {
			return appendOneWayLinks(dst, f.items.Items, created, failed, f.now)
		})
	}
	return nil // a chunk that keeps no links saves none
}

// appendBounded appends v to *list unless it holds maxChunkList already.
func appendBounded[T any](list *[]T, v T) {
	if len(*list) < maxChunkList {
		*list = append(*list, v)
	}
}
