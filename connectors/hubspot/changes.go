package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"tandem/connectors"
)

// Changes implements connectors.Connector with POST {prefix}/{object}/search: records whose
// modified-date property is at or after the cursor's millisecond, and older than the
// search lag (search_lag), sorted ascending on it. A read from the zero cursor (a first
// run) of an object of at most snapshot_max records lists them instead, and searches from
// where the list left off (snapshot.go).
//
// HubSpot sorts on the date only, so the client restores (UpdatedAt, ID) order itself:
// it reads from the cursor's millisecond on (GTE, never GT) and drops what is at or
// before the cursor, and it returns a record only once every record of its millisecond
// has been read (a later millisecond was seen, or the results ended), so a page boundary
// inside a tie neither skips nor repeats a record.
//
// A search pages through at most 10,000 results [3p]. Rather than paging with `after`
// until near that cap, every next page restarts the search at the last millisecond read
// (`after` empty): the later milliseconds (GT), and that one's records less those it has
// (EQ, hs_object_id NOT_IN them, when they fit one such filter). Otherwise, once HubSpot
// answered that filter with 400, or with search_restart_reads_again, it reads the
// millisecond again and drops what it has, which cost records stamped in ties of 100 (a
// batch's) up to half of every search of 200 (10,000 such records: 108 searches, 60 with
// NOT_IN). Either way a record written twice within one millisecond, between two of its
// searches, is read as it was first; the cursor passes the second write (as it would once
// the next page starts after that millisecond). Restarting keeps every query far
// from the cap, and it cannot skip a record the way offset paging over a live result set
// does when a record read earlier is modified meanwhile and moves to the end, shifting the
// offsets of the rest. A tie larger than a whole page (a bulk import stamps many records
// with one millisecond) is read in hs_object_id order with an EQ filter on the millisecond
// and GT on the last id, so no tie is too large either. A call from where the page before
// ended is served what that page's read searched past it, when the client has it
// (readAhead).
func (c *Client) Changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	if limit <= 0 {
		return connectors.Page{}, fmt.Errorf("hubspot changes of %s: limit %d must be positive", object, limit)
	}
	o, err := c.object(object)
	if err != nil {
		return connectors.Page{}, err
	}
	if err := ctx.Err(); err != nil {
		return connectors.Page{}, fmt.Errorf("hubspot changes of %s: %w", object, err)
	}

	props := c.properties(o)
	page, ok, err := c.fromSnapshot(ctx, o, props, since, limit)
	if err == nil && !ok {
		page, ok = c.ahead.take(o.Name, props, since, limit, c.now())
	}
	if err == nil && !ok {
		page, err = c.search(ctx, o, props, since, limit)
	}
	if err != nil {
		return connectors.Page{}, err
	}
	if c.notIn() {
		c.ties.served(o.Name, since, page.Records, c.cfg.SearchINValues)
	}
	return page, nil
}

// search reads a page of changes through searches (Changes).
func (c *Client) search(ctx context.Context, o objectType, props []string, since connectors.Cursor, limit int) (connectors.Page, error) {
	got := map[string]connectors.Record{}
	var maxMs int64 = -1 // the latest millisecond read so far
	add := func(results []simplePublicObject) error {
		for _, obj := range results {
			r, err := record(o, obj)
			if err != nil {
				return err
			}
			maxMs = max(maxMs, r.UpdatedAt.UnixMilli())
			if since.Before(r) {
				got[r.ID] = r // a record read twice keeps its latest state
			}
		}
		return nil
	}
	// enough reports whether the first limit records in order are final: each tie of
	// theirs is complete because a later millisecond has been read.
	enough := func() bool {
		if len(got) < limit {
			return false
		}
		return maxMs > sorted(got)[limit-1].UpdatedAt.UnixMilli()
	}

	window := max(0, since.UpdatedAt.UnixMilli()) // a zero cursor is before 1970
	size := min(maxSearchLimit, limit+1)          // one more than asked tells whether there is more
	settled, bound := c.settled(ctx, o)
	if settled != nil && window >= bound {
		return connectors.Page{}, nil
	}
	exhausted := false
	// read holds the ids read at window's millisecond when a search restarts there: the
	// restart leaves them out (hs_object_id NOT_IN) rather than reading them again. The
	// first search starts at the cursor's millisecond, whose records up to the cursor an
	// earlier call served: those this client served are left out too (ties).
	var read []string
	if c.notIn() && since.UpdatedAt.UnixMilli() == window {
		read = c.ties.at(o.Name, since)
	}
	refused := false // the last search was a restart whose NOT_IN HubSpot answered with 400
	for !exhausted {
		from := strconv.FormatInt(window, 10)
		groups := []filterGroup{{Filters: append([]filter{{PropertyName: o.Modified, Operator: "GTE", Value: from}}, settled...)}}
		if len(read) > 0 {
			groups = []filterGroup{
				{Filters: append([]filter{{PropertyName: o.Modified, Operator: "GT", Value: from}}, settled...)},
				{Filters: append([]filter{{PropertyName: o.Modified, Operator: "EQ", Value: from},
					{PropertyName: "hs_object_id", Operator: "NOT_IN", Values: read}}, settled...)},
			}
		}
		req := searchRequest{
			FilterGroups: groups,
			Sorts:        []searchSort{{PropertyName: o.Modified, Direction: "ASCENDING"}},
			Properties:   props,
			Limit:        size,
		}
		var resp searchResponse
		if _, err := c.do(ctx, "POST", c.path(o, "search"), true, req, &resp); err != nil {
			var ae *apiError
			if len(read) > 0 && errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
				// HubSpot may refuse the restart's NOT_IN: restart as before, reading the
				// millisecond's records again; if that is taken, from now on.
				read, refused = nil, true
				continue
			}
			return connectors.Page{}, err
		}
		if refused {
			c.noNotIn.Store(true)
			refused = false
		}
		if err := add(resp.Results); err != nil {
			return connectors.Page{}, err
		}
		size = maxSearchLimit
		read = nil
		switch {
		case resp.next() == "" || len(resp.Results) == 0:
			exhausted = true
		case maxMs > window:
			window = maxMs // restart at the last millisecond read
			read = c.readAt(got, window)
		default:
			// The whole page is one millisecond: read that tie by id, then go on after it.
			if err := c.readTie(ctx, o, props, window, add); err != nil {
				return connectors.Page{}, err
			}
			window++
			maxMs = max(maxMs, window) // the tie is complete: a page may end in it
		}
		if !exhausted && enough() {
			break
		}
	}

	all := sorted(got)
	page := connectors.Page{Records: all[:min(limit, len(all))], More: len(all) > limit || !exhausted}
	if settled != nil && len(all) > limit {
		// What was read past the page, up to a tie not known complete, is the next page.
		n := len(all)
		if !exhausted {
			n = sort.Search(n, func(i int) bool { return all[i].UpdatedAt.UnixMilli() >= maxMs })
		}
		c.ahead.keep(o.Name, props, all[limit-1], all[limit:max(n, limit)], time.UnixMilli(bound), c.now())
	}
	return page, nil
}

// CountChanges implements connectors.ChangeCounter with one search for the records
// Changes would read (modified at or after the cursor's millisecond and older than the
// search lag), limit 1, reading its total. Records at the cursor's own millisecond that
// were read already are counted too: a count for progress, not for paging.
func (c *Client) CountChanges(ctx context.Context, object string, since connectors.Cursor) (int, error) {
	o, err := c.object(object)
	if err != nil {
		return 0, err
	}
	settled, _ := c.settled(ctx, o)
	return c.count(ctx, o, append([]filter{{PropertyName: o.Modified, Operator: "GTE", Value: strconv.FormatInt(max(0, since.UpdatedAt.UnixMilli()), 10)}}, settled...)...)
}

// settled is the filter that leaves out records modified within the search lag, and its
// bound in epoch ms (nil without a lag): the index may not hold them all yet, and the
// cursor must not pass one it has not seen; the next run reads them. The lag is HubSpot's,
// so the bound is by its clock too (clockBound): a client ahead of it would otherwise
// pass records the index does not hold yet.
func (c *Client) settled(ctx context.Context, o objectType) ([]filter, int64) {
	if c.cfg.SearchLag <= 0 {
		return nil, 0
	}
	c.readClock(ctx, o)
	bound := c.clockBound(c.cfg.SearchLag).UnixMilli()
	return []filter{{PropertyName: o.Modified, Operator: "LT", Value: strconv.FormatInt(bound, 10)}}, bound
}

// notIn says whether searches leave out by id what they have read (hs_object_id NOT_IN):
// not once HubSpot refused it, nor with search_restart_reads_again.
func (c *Client) notIn() bool { return !c.cfg.SearchRestartReadsAgain && !c.noNotIn.Load() }

// readTie reads every record modified at millisecond ms, in hs_object_id order.
func (c *Client) readTie(ctx context.Context, o objectType, props []string, ms int64, add func([]simplePublicObject) error) error {
	last := ""
	for {
		filters := []filter{{PropertyName: o.Modified, Operator: "EQ", Value: strconv.FormatInt(ms, 10)}}
		if last != "" {
			filters = append(filters, filter{PropertyName: "hs_object_id", Operator: "GT", Value: last})
		}
		req := searchRequest{
			FilterGroups: []filterGroup{{Filters: filters}},
			Sorts:        []searchSort{{PropertyName: "hs_object_id", Direction: "ASCENDING"}},
			Properties:   props,
			Limit:        maxSearchLimit,
		}
		var resp searchResponse
		if _, err := c.do(ctx, "POST", c.path(o, "search"), true, req, &resp); err != nil {
			return err
		}
		if err := add(resp.Results); err != nil {
			return err
		}
		if resp.next() == "" || len(resp.Results) == 0 {
			return nil
		}
		last = resp.Results[len(resp.Results)-1].ID
	}
}

// readAt returns the ids of the records of got modified at millisecond ms, for a search
// that restarts there to leave out; nil when they are more than one NOT_IN filter takes
// (search_in_values), HubSpot refused the filter before, or search_restart_reads_again.
func (c *Client) readAt(got map[string]connectors.Record, ms int64) []string {
	if !c.notIn() {
		return nil
	}
	var ids []string
	for id, r := range got {
		if r.UpdatedAt.UnixMilli() == ms {
			if len(ids) == c.cfg.SearchINValues {
				return nil
			}
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// sorted returns the records in (UpdatedAt, ID) order, the order of connectors.Cursor.
func sorted(m map[string]connectors.Record) []connectors.Record {
	out := make([]connectors.Record, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].UpdatedAt.Equal(out[j].UpdatedAt) {
			return out[i].UpdatedAt.Before(out[j].UpdatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// maxTies is how many cursors' ties a client keeps (tieMemo): one per read of changes in
// flight is enough; past it, all are forgotten (a read then reads its tie again).
const maxTies = 256

// tieMemo keeps, for the cursor each page of changes ended on, the ids of the records it
// served at that cursor's millisecond: the next page's first search starts at that
// millisecond, and leaves them out (NOT_IN) rather than reading them again. It only saves
// reading: every id it holds for a cursor is of a record served at or before that cursor
// at its millisecond, which the read drops anyway while the record is still there (one
// modified since has another millisecond, which the NOT_IN does not touch), and a record
// it misses is read and dropped as before. Safe for concurrent use; the zero value is
// ready.
type tieMemo struct {
	mu  sync.Mutex
	ids map[tieKey][]string
}

type tieKey struct {
	object string
	ms     int64
	id     string
}

// at returns the ids this client served at since's millisecond up to since, or nil.
func (t *tieMemo) at(object string, since connectors.Cursor) []string {
	if since.UpdatedAt.IsZero() {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ids[tieKey{object, since.UpdatedAt.UnixMilli(), since.ID}]
}

// served notes a page read from since: the ids of its records at its last record's
// millisecond, then those served before at that millisecond when the page began in it,
// as many as fit one IN filter (most): any of them will do. The entry of since is
// dropped (the reads go on from the page's end).
func (t *tieMemo) served(object string, since connectors.Cursor, records []connectors.Record, most int) {
	if len(records) == 0 {
		return
	}
	last := records[len(records)-1]
	ms := last.UpdatedAt.UnixMilli()
	var ids []string
	for i := len(records) - 1; i >= 0 && records[i].UpdatedAt.UnixMilli() == ms; i-- {
		ids = append(ids, records[i].ID)
	}
	if !since.UpdatedAt.IsZero() && since.UpdatedAt.UnixMilli() == ms {
		ids = append(ids, t.at(object, since)...)
	}
	ids = ids[:min(len(ids), most)]
	slices.Sort(ids)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ids == nil || len(t.ids) >= maxTies {
		t.ids = map[tieKey][]string{}
	}
	if !since.UpdatedAt.IsZero() {
		delete(t.ids, tieKey{object, since.UpdatedAt.UnixMilli(), since.ID})
	}
	t.ids[tieKey{object, ms, last.ID}] = ids
}

// maxAhead is how many pages read ahead a client keeps (readAhead); past it, all are
// forgotten (the next read of each searches again).
const maxAhead = 256

// maxAheadRecords is the most records a page read ahead keeps: the first of them (a tie
// read by id may be any size; the rest are searched again).
const maxAheadRecords = 4 * maxSearchLimit

// aheadTTL is how long a page read ahead is served: the next call from its cursor comes
// as soon as the page before is synced, and a record another process changes meanwhile
// is served as read until then (its change is read later, as any change).
const aheadTTL = 30 * time.Second

// readAhead keeps, for the cursor each page of changes read by search ended on, the
// records that search read past the page: to tell that a page's last tie is complete, a
// read goes on to a later millisecond, one search more, and the next page would search
// them again. The next call from that cursor is served them instead, as a page of its
// own (readAhead.take), without a search.
//
// Such a page holds records as they were when read, modified before the earlier call's
// search lag bound. As with a snapshot (snapshot.go), what is kept of an object is
// dropped as soon as this client writes or archives records of it, and is not served
// after aheadTTL; a write by another process is not seen here, so the page's AsOf is
// that bound, and the engine leaves out a record whose link says Tandem wrote it after
// (its write is read later, as a change after the bound). Only records of complete ties
// are kept (before the last millisecond read, unless the read reached the end), so a
// page of them is final, as a searched page is. Kept only with a search lag, whose bound
// dates them. Safe for concurrent use; the zero value is ready.
type readAhead struct {
	mu    sync.Mutex
	pages map[aheadKey]aheadPage
}

type aheadKey struct {
	object string
	// props are the properties read, joined: a page read with others is not served.
	props string
	ms    int64
	id    string
}

type aheadPage struct {
	records []connectors.Record
	asOf    time.Time // the search lag's bound of the read
	kept    time.Time // by the client's clock
}

func aheadKeyOf(object string, props []string, at connectors.Cursor) aheadKey {
	return aheadKey{object, strings.Join(props, ","), at.UpdatedAt.UnixMilli(), at.ID}
}

// keep notes records read past a page that ended on last, as of asOf, at now (at most
// maxAheadRecords of them), and forgets the pages kept longer than aheadTTL. Nothing is
// kept for an empty list.
func (a *readAhead) keep(object string, props []string, last connectors.Record, records []connectors.Record, asOf, now time.Time) {
	if len(records) == 0 {
		return
	}
	records = records[:min(len(records), maxAheadRecords)]
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, p := range a.pages {
		if now.Sub(p.kept) > aheadTTL {
			delete(a.pages, k)
		}
	}
	if a.pages == nil || len(a.pages) >= maxAhead {
		a.pages = map[aheadKey]aheadPage{}
	}
	a.pages[aheadKeyOf(object, props, connectors.CursorOf(last))] = aheadPage{records: slices.Clone(records), asOf: asOf, kept: now}
}

// drop forgets what is kept of object: the client wrote or archived records of it.
func (a *readAhead) drop(object string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k := range a.pages {
		if k.object == object {
			delete(a.pages, k)
		}
	}
}

// take returns, and forgets, the page kept for since (at most limit records of it; the
// rest are kept for the page's end), and whether there was one not older than aheadTTL
// at now.
func (a *readAhead) take(object string, props []string, since connectors.Cursor, limit int, now time.Time) (connectors.Page, bool) {
	if since.UpdatedAt.IsZero() {
		return connectors.Page{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	k := aheadKeyOf(object, props, since)
	p, ok := a.pages[k]
	if !ok {
		return connectors.Page{}, false
	}
	delete(a.pages, k)
	if now.Sub(p.kept) > aheadTTL {
		return connectors.Page{}, false
	}
	records := p.records
	if len(records) > limit {
		records = slices.Clip(p.records[:limit]) // the caller's own: appends do not reach rest
		rest := p.records[limit:]
		a.pages[aheadKeyOf(object, props, connectors.CursorOf(records[limit-1]))] = aheadPage{records: rest, asOf: p.asOf, kept: p.kept}
	}
	return connectors.Page{Records: records, More: true, AsOf: p.asOf}, true
}
