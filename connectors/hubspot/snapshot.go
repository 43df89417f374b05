package hubspot

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"tandem/connectors"
)

// A read of changes from the start (a sync's first run, a resync from the zero cursor)
// wants every live record. Searches give 200 records a request at 4 requests a second;
// the list endpoint, GET {prefix}/{object}, gives 100 a request out of the general budget
// (190 per 10 s), over twice as many records a second, and it reads the records
// themselves, not a search index that trails them. It is in id order and cannot filter by
// date, so Changes reads the whole list once, sorts it, and serves the pages of that read
// from the start, then searches from where the list left off. Counts (searches) come
// first: the object must hold some records and at most snapshot_max, and listing them all
// must take less time, by the budgets' settings, than searching those the snapshot would
// serve (a first read right after a bulk write finds most records newer than its cutoff).
// That second count is left out where listing every record takes no longer than it (up
// to 400 records at the default budgets).
//
// The list is read while records change. The snapshot keeps only the records modified
// before its cutoff, the time before the list read began less search_lag (at least
// archiveSettle), by HubSpot's clock (below): a record written during the read has a
// later modified date, whatever version of it the list gave. The search that follows the
// snapshot starts at the last record served, before the cutoff, so it reads every record
// modified since then, the records written during the list read among them, in their
// latest version. A snapshot is dropped once it is served to its end, after snapshotTTL,
// and as soon as this client writes or archives records of its object: a record Tandem
// has written since the list was read must not be served in its earlier version (a
// two-way sync would take that for a change and write it back), nor a record it archived
// as live. A write by another process is not seen here; the pages say when the list was
// read (Page.AsOf), and the engine leaves out a record whose link says Tandem wrote it
// after that (Records.Before). The short TTL bounds the rest (a record archived
// meanwhile by another process is served as live until then).
//
// The records' dates are HubSpot's clock, so the cutoff is bounded by it too
// (clockBound): the margin under the client's clock or under HubSpot's, as its answers'
// Date headers bound it (the count search's among them), whichever is earlier. With the
// client's clock alone, a client ahead of HubSpot by more than the margin would serve a
// record changed during the read in its earlier version, with its change dated before
// the last record served, which the search after the snapshot would not read again.

// snapshotTTL is how long a snapshot serves its read.
const snapshotTTL = 2 * time.Minute

// snapshot is the live records of an object read through the list endpoint.
type snapshot struct {
	props  string    // the properties it holds, comma separated
	taken  time.Time // when the list read began
	cutoff int64     // epoch ms: it holds the records modified before it
	// records are the records modified before cutoff, in (UpdatedAt, ID) order.
	records []connectors.Record
}

// snapshots keeps at most one snapshot per object.
type snapshots struct {
	mu    sync.Mutex
	locks map[string]chan struct{} // per object: one list read at a time (a channel, so a waiter can give up with its context)
	byObj map[string]*snapshot
}

// current returns object's snapshot, dropping every expired one (so that an object no
// longer read does not keep its records).
func (s *snapshots) current(object string, now time.Time) *snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, sn := range s.byObj {
		if now.Sub(sn.taken) > snapshotTTL {
			delete(s.byObj, name)
		}
	}
	return s.byObj[object]
}

func (s *snapshots) set(object string, sn *snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byObj == nil {
		s.byObj = map[string]*snapshot{}
	}
	if sn == nil {
		delete(s.byObj, object)
	} else {
		s.byObj[object] = sn
	}
}

// drop forgets object's snapshot: the client wrote or archived records of it.
func (s *snapshots) drop(object string) { s.set(object, nil) }

// lock takes object's list-read lock, or gives up when ctx ends; unlock releases it.
func (s *snapshots) lock(ctx context.Context, object string) (unlock func(), err error) {
	s.mu.Lock()
	if s.locks == nil {
		s.locks = map[string]chan struct{}{}
	}
	l := s.locks[object]
	if l == nil {
		l = make(chan struct{}, 1)
		s.locks[object] = l
	}
	s.mu.Unlock()
	select {
	case l <- struct{}{}:
		return func() { <-l }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fromSnapshot serves a page of Changes from o's snapshot, taking one when since is the
// zero cursor. ok is false when there is nothing to serve from (snapshots off, no
// snapshot, the object larger than snapshot_max or listing it not worth it, since at or
// past the snapshot's end): the caller searches. A list read that fails for good (a URL
// too long for the properties, say) falls back to searching too.
func (c *Client) fromSnapshot(ctx context.Context, o objectType, props []string, since connectors.Cursor, limit int) (page connectors.Page, ok bool, err error) {
	if c.cfg.SnapshotMax <= 0 {
		return connectors.Page{}, false, nil
	}
	key := strings.Join(props, ",")
	usable := func(s *snapshot) bool { return s != nil && s.props == key }
	s := c.snaps.current(o.Name, c.now())
	if !usable(s) && since.UpdatedAt.IsZero() && since.ID == "" {
		// Only a read from the start waits for (or takes) the list read; others search.
		unlock, err := c.snaps.lock(ctx, o.Name)
		if err != nil {
			return connectors.Page{}, false, fmt.Errorf("hubspot changes of %s: %w", o.Name, err)
		}
		defer unlock()
		if s = c.snaps.current(o.Name, c.now()); !usable(s) { // another read may have taken it
			if s, err = c.takeSnapshot(ctx, o, key); err != nil {
				if !retryable(err) {
					return connectors.Page{}, false, nil
				}
				return connectors.Page{}, false, err
			}
			c.snaps.set(o.Name, s)
		}
	}
	if !usable(s) || since.UpdatedAt.UnixMilli() >= s.cutoff {
		return connectors.Page{}, false, nil
	}
	i := sort.Search(len(s.records), func(i int) bool { return since.Before(s.records[i]) })
	if i == len(s.records) {
		return connectors.Page{}, false, nil // past its end: the search goes on from here
	}
	served := s.records[i:min(i+limit, len(s.records))]
	out := make([]connectors.Record, len(served))
	for j, r := range served {
		r.Fields = maps.Clone(r.Fields) // the caller may change its records
		out[j] = r
	}
	if i+len(served) == len(s.records) {
		c.snaps.drop(o.Name) // served to its end
	}
	// More: the search after the snapshot reads what changed since its cutoff.
	return connectors.Page{Records: out, More: true, AsOf: s.taken}, true, nil
}

// retryable says whether a failed list read may succeed if the call is retried: a
// transport error, a 5xx, a 429 or a cancelled context. Anything else (a 4xx: the
// request itself is refused) will fail again, and the read searches instead.
func retryable(err error) bool {
	var ae *apiError
	if !errors.As(err, &ae) {
		return true
	}
	return ae.Status >= 500 || ae.Status == http.StatusTooManyRequests
}

// takeSnapshot reads o's live records, with props (comma separated), through the list
// endpoint, or returns nil when a search counts none of them or more than snapshot_max,
// or when searching those the snapshot would serve takes less time than listing them all
// (listPays; not counted where listing them all takes no longer than that count).
func (c *Client) takeSnapshot(ctx context.Context, o objectType, props string) (*snapshot, error) {
	taken := c.now()
	total, err := c.count(ctx, o, filter{PropertyName: o.Modified, Operator: "GTE", Value: "0"})
	if err != nil {
		return nil, fmt.Errorf("hubspot changes of %s: count the records: %w", o.Name, err)
	}
	// The count's answer gave HubSpot's clock (clockBound); the list is asked for after.
	s := &snapshot{props: props, taken: taken,
		cutoff: c.clockBound(max(c.cfg.SearchLag, archiveSettle)).UnixMilli()}
	if total == 0 || total > c.cfg.SnapshotMax {
		return nil, nil
	}
	// The second count is a search too: where listing every record takes no longer than
	// that one search, the list is read without it.
	if c.listTime(total) > c.searchTime(1) {
		older, err := c.count(ctx, o, filter{PropertyName: o.Modified, Operator: "LT", Value: strconv.FormatInt(s.cutoff, 10)})
		if err != nil {
			return nil, fmt.Errorf("hubspot changes of %s: count the records: %w", o.Name, err)
		}
		if !c.listPays(total, older) {
			return nil, nil
		}
	}
	q := url.Values{}
	q.Set("limit", strconv.Itoa(maxListLimit))
	q.Set("properties", s.props)
	listed := 0
	for after := ""; ; {
		if after != "" {
			q.Set("after", after)
		}
		var resp searchResponse // the list's answer has the same shape, without a total
		if _, err := c.do(ctx, http.MethodGet, c.cfg.PathPrefix+"/"+o.Name+"?"+q.Encode(), false, nil, &resp); err != nil {
			return nil, fmt.Errorf("hubspot changes of %s: list the records: %w", o.Name, err)
		}
		// The list shows records the count did not (its search trails the writes): those
		// newer than the cutoff are not kept, but they are the object's too.
		if listed += len(resp.Results); listed > c.cfg.SnapshotMax {
			return nil, nil // larger than snapshot_max: search
		}
		for _, obj := range resp.Results {
			r, err := record(o, obj)
			if err != nil {
				return nil, err
			}
			if r.UpdatedAt.UnixMilli() < s.cutoff {
				s.records = append(s.records, r)
			}
		}
		next := resp.next()
		if next == "" || len(resp.Results) == 0 {
			break
		}
		if next == after {
			return nil, nil // a paging token that repeats would never end: search instead
		}
		after = next
	}
	m := make(map[string]connectors.Record, len(s.records))
	for _, r := range s.records {
		m[r.ID] = r // once, should the list give a record twice
	}
	s.records = sorted(m)
	return s, nil
}

// count is how many records of o match all of filters: one search, limit 1, its total.
func (c *Client) count(ctx context.Context, o objectType, filters ...filter) (int, error) {
	var resp searchResponse
	req := searchRequest{FilterGroups: []filterGroup{{Filters: filters}}, Properties: []string{o.Modified}, Limit: 1}
	if _, err := c.do(ctx, "POST", c.path(o, "search"), true, req, &resp); err != nil {
		return 0, err
	}
	return resp.Total, nil
}

// listPays says whether listing total records (100 a request, rate_per_10s) takes less
// time than searching the older of them, those a snapshot would serve (200 a search,
// search_per_s): a first read right after a bulk write finds most records newer than the
// cutoff, which the searches after the snapshot read anyway.
func (c *Client) listPays(total, older int) bool {
	return c.listTime(total) < c.searchTime((older+maxSearchLimit-1)/maxSearchLimit)
}

// listTime is how long listing total records takes by the budgets' settings (100 a
// request, rate_per_10s), searchTime how long n searches take (search_per_s), in seconds.
func (c *Client) listTime(total int) float64 {
	return float64((total+maxListLimit-1)/maxListLimit) * 10 / float64(c.cfg.RatePer10s)
}

func (c *Client) searchTime(n int) float64 {
	return float64(n) / float64(c.cfg.SearchPerSecond)
}
