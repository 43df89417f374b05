package salesloft

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"time"

	"tandem/connectors"
)

// maxChangeRequests bounds the requests of one Changes call, against a service that
// keeps answering full pages of one timestamp.
const maxChangeRequests = 200

// Changes implements connectors.Connector. It follows Salesloft's cursor-poller guide
// (sort_by=updated_at, ASC, per_page=100 [doc]) with two differences:
//
//   - The filter is updated_at[gte], not [gt]: accounts changed in the same microsecond
//     as the cursor but after it in id order would be skipped by gt. What is not after
//     the cursor in (updated_at, id) order is dropped here.
//   - Salesloft sorts by updated_at only, in an order of its own among equal timestamps,
//     so the connector orders by (updated_at, id) itself, and never returns accounts
//     with the last timestamp of a full page (more with that timestamp may be on the next
//     page). Instead of asking for page 2 it starts a new window at that timestamp, on
//     page 1 again: every request costs 1, where deep pages cost 3 to 30. Only when a
//     whole page shares one timestamp does it page on within that window.
//
// A page of more than 100 accounts is read in several requests of 100 (the engine's
// page, not Salesloft's, is the unit the rest of a sync works on: fewer, larger batches
// mean fewer lookups and writes on the other side). More is true when more may follow.
func (c *Connector) Changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	var out connectors.Page
	for {
		p, err := c.changes(ctx, object, since, limit-len(out.Records))
		if err != nil {
			return connectors.Page{}, err
		}
		out.Records = append(out.Records, p.Records...)
		out.More = p.More
		// Another request only while a whole Salesloft page still fits.
		if !p.More || len(p.Records) == 0 || limit-len(out.Records) < maxPerPage {
			return out, nil
		}
		since = connectors.CursorOf(p.Records[len(p.Records)-1])
	}
}

// CountChanges implements connectors.ChangeCounter with one request of one account and
// include_paging_counts=true, reading metadata.paging.total_count: the accounts updated
// at or after the cursor's time (those at that very time already read are counted too: a
// count for progress, not for paging).
func (c *Connector) CountChanges(ctx context.Context, object string, since connectors.Cursor) (int, error) {
	if err := checkObject("count changes", object); err != nil {
		return 0, err
	}
	q := changesQuery(windowStart(since))
	q.Set("per_page", "1")
	q.Set("page", "1")
	q.Set("include_paging_counts", "true")
	var ans struct {
		Metadata struct {
			Paging struct {
				TotalCount *int `json:"total_count"`
			} `json:"paging"`
		} `json:"metadata"`
	}
	cl := call{method: http.MethodGet, path: "/v2/accounts", query: q, cost: PageCost(1)}
	if err := c.do(ctx, cl, &ans); err != nil {
		return 0, err
	}
	if ans.Metadata.Paging.TotalCount == nil {
		return 0, fmt.Errorf("salesloft count of %s: %s answered without metadata.paging.total_count", object, cl.endpoint())
	}
	return *ans.Metadata.Paging.TotalCount, nil
}

// changes reads at most min(limit, 100) accounts after since.
func (c *Connector) changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	if err := checkObject("changes", object); err != nil {
		return connectors.Page{}, err
	}
	if limit <= 0 {
		return connectors.Page{}, fmt.Errorf("salesloft changes of %s: limit %d must be positive", object, limit)
	}
	if err := ctx.Err(); err != nil {
		return connectors.Page{}, fmt.Errorf("salesloft changes of %s: %w", object, err)
	}
	return c.window(ctx, "updated_at", "changes of "+object, since, min(limit, maxPerPage))
}

// window reads at most limit (up to 100) accounts after since in (field, id) order, field
// being a timestamp attribute the list sorts and filters on (updated_at, created_at):
// the reads of Changes described above. The records it returns carry field's time as
// their UpdatedAt. what names the read in errors.
func (c *Connector) window(ctx context.Context, field, what string, since connectors.Cursor, limit int) (connectors.Page, error) {
	var (
		lower    = windowStart(since)
		page     = 1
		fetched  []connectors.Record
		seen     = map[string]bool{}
		requests = 0
	)
	for {
		if requests++; requests > maxChangeRequests {
			return connectors.Page{}, fmt.Errorf("salesloft %s after %s: gave up after %d requests of full pages at one timestamp (%s)",
				what, since, maxChangeRequests, formatTime(lower))
		}
		recs, full, err := c.listPage(ctx, windowQuery(field, lower), page)
		if err != nil {
			return connectors.Page{}, err
		}
		for _, r := range recs {
			if field != "updated_at" {
				stamp, _ := r.Fields[field].(string)
				if r.UpdatedAt, err = parseTime(stamp); err != nil {
					return connectors.Page{}, fmt.Errorf("salesloft %s: account %s: %s %q: %w", what, r.ID, field, stamp, err)
				}
			}
			// A tie can come back on two pages when Salesloft orders it differently
			// from one request to the next.
			if !seen[r.ID] {
				seen[r.ID] = true
				fetched = append(fetched, r)
			}
		}

		if !full { // everything from lower on is in fetched
			return pageOf(after(fetched, since, time.Time{}), limit, false), nil
		}
		last := latest(fetched)
		// Accounts before the last timestamp are complete; ones at it may continue on
		// the next page.
		if ready := after(fetched, since, last); len(ready) > 0 {
			return pageOf(ready, limit, true), nil
		}
		if last.After(lower) || lower.IsZero() {
			// Nothing before last is after the cursor: move the window to last.
			lower, page, fetched, seen = last, 1, nil, map[string]bool{}
			continue
		}
		page++ // a whole page at lower: page on through the tie
	}
}

// windowStart is the inclusive start of the reads after since, to Salesloft's microsecond
// (zero: from the beginning).
func windowStart(since connectors.Cursor) time.Time {
	return since.UpdatedAt.Round(0).Truncate(time.Microsecond)
}

// changesQuery lists accounts updated at or after lower (all when zero), oldest first.
func changesQuery(lower time.Time) url.Values { return windowQuery("updated_at", lower) }

// windowQuery lists accounts whose field is at or after lower (all when zero), oldest
// first.
func windowQuery(field string, lower time.Time) url.Values {
	q := url.Values{"sort_by": {field}, "sort_direction": {"ASC"}}
	if !lower.IsZero() {
		q.Set(field+"[gte]", formatTime(lower))
	}
	return q
}

// after returns the records of recs that are after since and, unless before is zero,
// before that time, in (UpdatedAt, ID) order.
func after(recs []connectors.Record, since connectors.Cursor, before time.Time) []connectors.Record {
	var out []connectors.Record
	for _, r := range recs {
		if since.Before(r) && (before.IsZero() || r.UpdatedAt.Before(before)) {
			out = append(out, r)
		}
	}
	sortRecords(out)
	return out
}

func sortRecords(recs []connectors.Record) {
	sort.Slice(recs, func(i, j int) bool {
		return connectors.CursorOf(recs[i]).Before(recs[j])
	})
}

func latest(recs []connectors.Record) time.Time {
	var t time.Time
	for _, r := range recs {
		if r.UpdatedAt.After(t) {
			t = r.UpdatedAt
		}
	}
	return t
}

func pageOf(recs []connectors.Record, limit int, more bool) connectors.Page {
	if len(recs) > limit {
		recs, more = recs[:limit], true
	}
	if recs == nil {
		recs = []connectors.Record{}
	}
	return connectors.Page{Records: recs, More: more}
}
