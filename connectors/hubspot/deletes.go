package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"tandem/connectors"
)

// The deletes of issue 15: Deletes (connectors.DeleteReader) reads HubSpot's archived
// records, ListIDs (connectors.IDLister) lists live ids for a full diff, Delete
// (connectors.Deleter) archives records.
//
// What HubSpot documents, and what the client does with it:
//
//   - Deleting a record archives it: "Delete a company by ID. Deleted companies can be
//     restored within 90 days of deletion" [doc:
//     https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/companies/delete-company];
//     records "can be restored up to 90 days after they were deleted" [doc:
//     https://knowledge.hubspot.com/records/restore-deleted-records]. After 90 days they are
//     gone for good, so the archived list is a delete log with a 90-day window
//     (ArchiveRetention). Permanent (GDPR) deletions "aren't held in the recycle bin" [same
//     page]: they never appear in it, only in a privacyDeletion webhook (webhooks.go maps
//     it to Kind "deleted").
//   - GET {prefix}/{object}?archived=true lists them: "Whether to return only results that
//     have been archived", each result with "archived" and "archivedAt"; paging.next.after is
//     "the paging cursor token of the last successfully read resource" [doc:
//     https://developers.hubspot.com/docs/api-reference/latest/crm/objects/companies/get-companies].
//     The list cannot filter or sort by archivedAt.
//   - Batch archive "will return a 204 No Content response on success regardless of the
//     initial state of the object (e.g. active, already archived, non-existent)" [doc:
//     HubSpot's generated client, hubspot-api-nodejs, BatchApi.archive].

const (
	// ArchiveRetention is how long HubSpot keeps archived records: 90 days [doc].
	ArchiveRetention = 90 * 24 * time.Hour
	// maxListLimit is the largest page of GET {object}: 100 [INF: the page size HubSpot's
	// own Python client pages with, PAGE_MAX_SIZE in hubspot/utils/objects.py].
	maxListLimit = 100
	// archiveSettle is how far behind the client's clock Deletes stops reading. The archived
	// list is read page by page in id order: a record archived while the pages are read may
	// sit in a page already read, and the cursor must not pass it. It was archived after
	// the read began, so no earlier than the client's clock at the start of the read, give
	// or take the skew between HubSpot's clock and the client's, which this margin covers
	// [INF]; once an answer has given HubSpot's clock, the horizon is bounded by that clock
	// too (Client.clockBound), whatever the skew. Deletions after it are read by the next call.
	archiveSettle = 5 * time.Second
)

// listResponse is the answer of GET {prefix}/{object}.
type listResponse struct {
	Results []struct {
		ID         string `json:"id"`
		Archived   bool   `json:"archived"`
		ArchivedAt string `json:"archivedAt"`
	} `json:"results"`
	Paging *struct {
		Next *struct {
			After string `json:"after"`
		} `json:"next"`
	} `json:"paging"`
}

func (r listResponse) next() string {
	if r.Paging == nil || r.Paging.Next == nil {
		return ""
	}
	return r.Paging.Next.After
}

// list reads one page of GET {prefix}/{object}: the live records, or with archived the
// archived ones, asking only for hs_object_id (the default properties are not needed).
func (c *Client) list(ctx context.Context, o objectType, archived bool, after string, limit int) (listResponse, error) {
	q := url.Values{}
	q.Set("limit", strconv.Itoa(limit))
	q.Set("properties", "hs_object_id")
	if archived {
		q.Set("archived", "true")
	}
	if after != "" {
		q.Set("after", after)
	}
	var resp listResponse
	_, err := c.do(ctx, http.MethodGet, c.cfg.PathPrefix+"/"+o.Name+"?"+q.Encode(), false, nil, &resp)
	return resp, err
}

// Deletes implements connectors.DeleteReader with the archived list, GET
// {prefix}/{object}?archived=true (see the top of this file). The list is in no order of
// archivedAt, so every call reads all of it, 100 a page; keeps the records archived
// strictly after the cursor in (archivedAt, id) order and before the settle horizon (the
// client's clock or HubSpot's, whichever is earlier, less archiveSettle); and returns
// limit of them with More set when there are more. A backlog of n deletions read limit
// at a time costs n/limit reads of the whole list: fine for deletion volumes within 90
// days.
//
// A cursor older than 90 days (ArchiveRetention), the zero cursor included, may have
// missed deletions HubSpot has purged since: it gets an error wrapping
// *connectors.DeleteLogExpiredError with Earliest the client's clock less 90 days. A page
// with More false sets CoveredUntil to the horizon: no archive before it is missing.
func (c *Client) Deletes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.DeletesPage, error) {
	if limit <= 0 {
		return connectors.DeletesPage{}, fmt.Errorf("hubspot deletes of %s: limit %d must be positive", object, limit)
	}
	o, err := c.object(object)
	if err != nil {
		return connectors.DeletesPage{}, err
	}
	what := fmt.Sprintf("deletes of %s after %s", object, since)
	if err := ctx.Err(); err != nil {
		return connectors.DeletesPage{}, fmt.Errorf("hubspot %s: %w", what, err)
	}
	now := c.now().UTC()
	if earliest := now.Add(-ArchiveRetention); since.UpdatedAt.Before(earliest) {
		return connectors.DeletesPage{}, fmt.Errorf("hubspot %s: archived records are purged after 90 days: %w", what,
			&connectors.DeleteLogExpiredError{Object: object, Since: since.UpdatedAt, Earliest: earliest})
	}
	// Bounded by HubSpot's clock too (an earlier answer's Date, before the first page is
	// asked for): a worker's clock ahead of HubSpot's by more than archiveSettle would
	// otherwise pass a record archived during the read.
	c.readClock(ctx, o)
	horizon := c.clockBound(archiveSettle).UTC().Truncate(time.Millisecond)
	if !horizon.After(since.UpdatedAt) {
		return connectors.DeletesPage{}, nil
	}
	var tombs []connectors.Tombstone
	seen := map[string]bool{}
	for after, pages := "", 0; ; pages++ {
		resp, err := c.list(ctx, o, true, after, maxListLimit)
		if err != nil {
			return connectors.DeletesPage{}, err
		}
		for _, r := range resp.Results {
			at, err := parseTime(r.ArchivedAt)
			if err != nil || r.ID == "" {
				return connectors.DeletesPage{}, fmt.Errorf("hubspot %s: archived record %q with archivedAt %q", what, r.ID, r.ArchivedAt)
			}
			t := connectors.Tombstone{ID: r.ID, DeletedAt: at}
			if seen[r.ID] || !at.Before(horizon) || !since.Before(connectors.Record{ID: t.ID, UpdatedAt: t.DeletedAt}) {
				continue
			}
			seen[r.ID] = true
			tombs = append(tombs, t)
		}
		next := resp.next()
		if next == "" || len(resp.Results) == 0 {
			break
		}
		if next == after {
			return connectors.DeletesPage{}, fmt.Errorf("hubspot %s: the archived list gave the same paging token %q twice", what, next)
		}
		after = next
	}
	page := connectors.TombstonePage(tombs, limit)
	if !page.More {
		page.CoveredUntil = horizon
	}
	return page, nil
}

// ListIDs implements connectors.IDLister with GET {prefix}/{object}, pages of up to 100;
// the token is HubSpot's paging.next.after, a cursor on the last record read [doc] rather
// than an offset, so records archived between pages do not shift the next one. A limit
// over 100 reads several pages, each whole, so the token returned is always HubSpot's own.
func (c *Client) ListIDs(ctx context.Context, object, token string, limit int) ([]string, string, error) {
	if limit <= 0 {
		return nil, "", fmt.Errorf("hubspot list ids of %s: limit %d must be positive", object, limit)
	}
	o, err := c.object(object)
	if err != nil {
		return nil, "", err
	}
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("hubspot list ids of %s: %w", object, err)
	}
	ids := make([]string, 0, min(limit, 10*maxListLimit))
	for len(ids) < limit {
		resp, err := c.list(ctx, o, false, token, min(maxListLimit, limit-len(ids)))
		if err != nil {
			return nil, "", err
		}
		for _, r := range resp.Results {
			if r.ID == "" {
				return nil, "", fmt.Errorf("hubspot list ids of %s: a result has no id", object)
			}
			ids = append(ids, r.ID)
		}
		next := resp.next()
		if next == "" || len(resp.Results) == 0 {
			return ids, "", nil
		}
		if next == token {
			return nil, "", fmt.Errorf("hubspot list ids of %s: the list gave the same paging token %q twice", object, next)
		}
		token = next
	}
	return ids, token, nil
}

// Delete implements connectors.Deleter with POST {prefix}/{object}/batch/archive, 100 ids a
// call. HubSpot archives (see the top of this file); a record already archived, or that
// never existed, answers 204 like the others and counts as deleted, as the contract
// wants. HubSpot documents no per-record result of a batch archive: a batch refused as a
// whole (400, 409, 422) is halved, as the batch writes are, until each refused record is
// alone and gets HubSpot's reason as a *connectors.InvalidRecordError, while the other
// halves go through. An id that is not a number cannot be a HubSpot id and is refused
// without asking; an id given twice is sent once.
func (c *Client) Delete(ctx context.Context, object string, ids []string) ([]connectors.WriteResult, error) {
	o, err := c.object(object)
	if err != nil {
		return nil, err
	}
	defer c.snaps.drop(o.Name) // a snapshot holds these records as live (snapshot.go)
	defer c.ahead.drop(o.Name) // so do the records read ahead (readAhead)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hubspot delete %s: %w", object, err)
	}
	results := make([]connectors.WriteResult, len(ids))
	var send []string
	at := map[string][]int{} // id → its positions in ids
	for i, id := range ids {
		if !isNumber(id) {
			results[i].Err = &connectors.InvalidRecordError{Record: fmt.Sprintf("%s %q", object, id), Field: "id",
				Reason: "not a HubSpot record id (a number)"}
			continue
		}
		if _, dup := at[id]; !dup {
			send = append(send, id)
		}
		at[id] = append(at[id], i)
	}
	outcome := map[string]error{}
	for start := 0; start < len(send); start += MaxBatch {
		budget := halvingBudget
		if err := c.archiveChunk(ctx, o, send[start:min(start+MaxBatch, len(send))], outcome, &budget); err != nil {
			return nil, err
		}
	}
	for id, pos := range at {
		for _, i := range pos {
			if err := outcome[id]; err != nil {
				results[i].Err = err
			} else {
				results[i].ID = id
			}
		}
	}
	return results, nil
}

// archiveChunk archives ids with one batch call, halving a batch refused as a whole, and
// records each refused id's error in outcome.
func (c *Client) archiveChunk(ctx context.Context, o objectType, ids []string, outcome map[string]error, budget *int) error {
	req := batchRequest{Inputs: make([]batchInput, len(ids))}
	for j, id := range ids {
		req.Inputs[j] = batchInput{ID: id}
	}
	_, err := c.do(ctx, http.MethodPost, c.path(o, "batch/archive"), false, req, nil)
	var ae *apiError
	if err == nil || !errors.As(err, &ae) || !wholeBatchRejection(ae) {
		return err
	}
	if len(ids) == 1 || *budget < 2 {
		for _, id := range ids {
			if ae.Status == http.StatusNotFound {
				continue // gone: deleted, as the contract counts it [INF: HubSpot documents 204]
			}
			outcome[id] = &connectors.InvalidRecordError{Record: o.Name + " " + id, Field: ae.Body.field(), Reason: ae.Text}
		}
		return nil
	}
	*budget -= 2
	mid := len(ids) / 2
	if err := c.archiveChunk(ctx, o, ids[:mid], outcome, budget); err != nil {
		return err
	}
	return c.archiveChunk(ctx, o, ids[mid:], outcome, budget)
}

var (
	_ connectors.DeleteReader = (*Client)(nil)
	_ connectors.IDLister     = (*Client)(nil)
	_ connectors.Deleter      = (*Client)(nil)
)
