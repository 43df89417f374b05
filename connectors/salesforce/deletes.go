package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"tandem/connectors"
)

// The deletes of issue 15: Deletes (connectors.DeleteReader) reads Salesforce's delete log,
// ListIDs (connectors.IDLister) lists live ids for a full diff, Delete (connectors.Deleter)
// deletes records.

// minDeletedWindow is the shortest span sObject Get Deleted takes: its start "must
// chronologically precede the specified endDate value by more than one minute" [doc:
// getDeleted()], and both lose their seconds.
const minDeletedWindow = 2 * time.Minute

// deletedAnswer is the answer of sObject Get Deleted [doc].
type deletedAnswer struct {
	DeletedRecords []struct {
		ID          string `json:"id"`
		DeletedDate string `json:"deletedDate"`
	} `json:"deletedRecords"`
	EarliestDateAvailable string `json:"earliestDateAvailable"`
	LatestDateCovered     string `json:"latestDateCovered"`
}

// Deletes implements connectors.DeleteReader with sObject Get Deleted,
//
//	GET /services/data/vXX.X/sobjects/{object}/deleted/?start=<since>&end=<now>
//
// [doc: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_getdeleted.htm,
// and for its rules the SOAP call it wraps, getDeleted():
// https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_getdeleted.htm].
// What the docs say, and what the client does with it:
//
//   - Results go back "no more than 15 days previous to the day the call is executed (or
//     earlier if an administrator has purged the Recycle Bin)", and a start before what the
//     log keeps is refused with INVALID_REPLICATION_DATE; the answer's
//     earliestDateAvailable is "the timestamp of the last physically deleted object". A
//     cursor before earliestDateAvailable, or refused so, gives an error wrapping
//     *connectors.DeleteLogExpiredError. When refused, the client asks once more with the
//     shortest window ending now to learn earliestDateAvailable for the error. A zero
//     cursor (every deletion ever) is expired without asking with it.
//   - "The API ignores the seconds portion" of start and end, and start must precede end
//     "by more than one minute". start is the cursor's minute, end the current minute by
//     the client's clock (Config.Now); a cursor less than two minutes old asks nothing and
//     gets an empty page (its deletions are read by a later call).
//   - latestDateCovered is "the last date covered"; deletions that "started after this
//     date but didn't complete before endDate" were not returned. Tombstones at or after
//     min(end, latestDateCovered) are left for the next call, so a deletion that completes
//     late with an earlier date is not passed by the cursor.
//   - The answer holds the whole span, unordered and unpaged, up to 600,000 ids
//     (EXCEEDED_ID_LIMIT beyond, "choose start and end dates that are closer together"):
//     the client sorts by (deletedDate, id), keeps those strictly after the cursor, and
//     returns limit of them with More set. On EXCEEDED_ID_LIMIT it halves the span until
//     it fits. Each page asks again from the cursor's minute, so a backlog of n deletions
//     read limit at a time transfers up to n²/limit ids: fine for deletion volumes, and
//     each call is one API call of the daily allocation.
//
// Why not queryAll with IsDeleted = true, which pages in the API: it reads the Recycle Bin,
// which an admin or its capacity can empty at any time, and it has no earliestDateAvailable,
// so it cannot tell a quiet object from deletions it lost. The delete log says when it
// does not reach back to the cursor, and that is what lets the engine fall back to a full
// id diff (ListIDs) instead of missing deletions.
//
// [INF]: the docs give no HTTP status for INVALID_REPLICATION_DATE and EXCEEDED_ID_LIMIT;
// the client recognises the codes in any 4xx answer.
func (c *Client) Deletes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.DeletesPage, error) {
	if limit <= 0 {
		return connectors.DeletesPage{}, fmt.Errorf("salesforce deletes of %s: limit %d must be positive", object, limit)
	}
	if err := checkObject(object); err != nil {
		return connectors.DeletesPage{}, err
	}
	what := fmt.Sprintf("deletes of %s after %s", object, since)
	end := c.cfg.Now().UTC().Truncate(time.Minute)
	if since.UpdatedAt.IsZero() {
		return connectors.DeletesPage{}, c.deleteLogExpired(ctx, object, since, end, nil, what)
	}
	start := since.UpdatedAt.UTC().Truncate(time.Minute)
	if end.Sub(start) < minDeletedWindow {
		return connectors.DeletesPage{}, nil
	}
	narrowed := false
	var ans deletedAnswer
	for {
		var refused *APIError
		var err error
		ans, refused, err = c.getDeleted(ctx, object, start, end, what)
		if err != nil {
			return connectors.DeletesPage{}, err
		}
		if refused == nil {
			break
		}
		if refused.ErrorCode == "INVALID_REPLICATION_DATE" {
			return connectors.DeletesPage{}, c.deleteLogExpired(ctx, object, since, end, refused, what)
		}
		// EXCEEDED_ID_LIMIT: half the span.
		half := start.Add(end.Sub(start) / 2).Truncate(time.Minute)
		if half.Sub(start) < minDeletedWindow {
			return connectors.DeletesPage{}, fmt.Errorf("salesforce %s: %s, even for %s to %s", what, refused, start.Format(time.RFC3339), end.Format(time.RFC3339))
		}
		end, narrowed = half, true
	}
	if earliest, err := ParseDatetime(ans.EarliestDateAvailable); err == nil && since.UpdatedAt.Before(earliest) {
		return connectors.DeletesPage{}, fmt.Errorf("salesforce %s: %w", what,
			&connectors.DeleteLogExpiredError{Object: object, Since: since.UpdatedAt, Earliest: earliest})
	}
	covered := end
	if latest, err := ParseDatetime(ans.LatestDateCovered); err == nil && latest.Before(covered) {
		covered = latest
	}
	var tombs []connectors.Tombstone
	seen := map[connectors.Tombstone]bool{}
	for _, d := range ans.DeletedRecords {
		at, err := ParseDatetime(d.DeletedDate)
		if err != nil || d.ID == "" {
			return connectors.DeletesPage{}, fmt.Errorf("salesforce %s: deleted record %q with deletedDate %q", what, d.ID, d.DeletedDate)
		}
		t := connectors.Tombstone{ID: d.ID, DeletedAt: at}
		if seen[t] || !at.Before(covered) || !since.Before(connectors.Record{ID: t.ID, UpdatedAt: t.DeletedAt}) {
			continue
		}
		seen[t] = true
		tombs = append(tombs, t)
	}
	page := connectors.TombstonePage(tombs, limit)
	// A narrowed span left deletions after it; with none in it, More would only ask for the
	// same empty page again.
	if narrowed && len(page.Tombstones) > 0 {
		page.More = true
	}
	if !page.More {
		// Everything deleted before covered was in the answer: the cursor may move there.
		page.CoveredUntil = covered
	}
	return page, nil
}

// getDeleted asks sObject Get Deleted for start to end. An INVALID_REPLICATION_DATE or
// EXCEEDED_ID_LIMIT answer is returned as refused, for the caller to act on.
func (c *Client) getDeleted(ctx context.Context, object string, start, end time.Time, what string) (deletedAnswer, *APIError, error) {
	// The documented example writes 2013-05-05T00:00:00+00:00, URL-encoded.
	const layout = "2006-01-02T15:04:05-07:00"
	path := c.dataPath("/sobjects/" + object + "/deleted/?start=" + url.QueryEscape(start.UTC().Format(layout)) +
		"&end=" + url.QueryEscape(end.UTC().Format(layout)))
	ans, err := c.do(ctx, http.MethodGet, path, nil, what)
	if err != nil {
		return deletedAnswer{}, nil, err
	}
	if ans.status >= 400 && ans.status < 500 {
		if first := apiErrors(ans)[0]; first.ErrorCode == "INVALID_REPLICATION_DATE" || first.ErrorCode == "EXCEEDED_ID_LIMIT" {
			return deletedAnswer{}, &first, nil
		}
	}
	if ans.status != http.StatusOK {
		return deletedAnswer{}, nil, c.apiError(ans, what)
	}
	var out deletedAnswer
	if err := json.Unmarshal(ans.body, &out); err != nil {
		return deletedAnswer{}, nil, fmt.Errorf("salesforce %s: decoding the answer: %w", what, err)
	}
	return out, nil, nil
}

// deleteLogExpired returns the error wrapping *connectors.DeleteLogExpiredError for a
// cursor the log does not reach back to (refused is Salesforce's refusal, when there was
// one). Its Earliest is earliestDateAvailable, asked for with the shortest span ending at
// end; should the log claim to reach back to the cursor while refusing it, Earliest is
// the first minute after the cursor, so the error still reads true.
func (c *Client) deleteLogExpired(ctx context.Context, object string, since connectors.Cursor, end time.Time, refused *APIError, what string) error {
	ans, probeRefused, err := c.getDeleted(ctx, object, end.Add(-minDeletedWindow), end, what)
	if err != nil {
		return err
	}
	earliest := end
	if probeRefused == nil {
		if t, err := ParseDatetime(ans.EarliestDateAvailable); err == nil {
			earliest = t
		}
	}
	if !earliest.After(since.UpdatedAt) {
		earliest = since.UpdatedAt.UTC().Truncate(time.Minute).Add(time.Minute)
	}
	expired := &connectors.DeleteLogExpiredError{Object: object, Since: since.UpdatedAt, Earliest: earliest}
	if refused != nil {
		return fmt.Errorf("salesforce %s: %s: %w", what, refused, expired)
	}
	return fmt.Errorf("salesforce %s: %w", what, expired)
}

// ListIDs implements connectors.IDLister with
//
//	SELECT Id FROM <object> [WHERE Id > '<token>'] ORDER BY Id LIMIT <limit+1>
//
// following nextRecordsUrl within the page. The token is the last id of the previous page:
// unlike a nextRecordsUrl (a query locator, which expires when left idle and of which an
// org keeps few open [INF]), it survives a worker restart and a retried activity, and the
// server compares it with the same order it sorts by. The extra row only tells whether
// more follow.
func (c *Client) ListIDs(ctx context.Context, object, token string, limit int) ([]string, string, error) {
	if limit <= 0 {
		return nil, "", fmt.Errorf("salesforce list ids of %s: limit %d must be positive", object, limit)
	}
	if err := checkObject(object); err != nil {
		return nil, "", err
	}
	if token != "" && !IsID(token) {
		return nil, "", fmt.Errorf("salesforce list ids of %s: page token %q is not a Salesforce id (it is the last id of the previous page)", object, token)
	}
	soql := "SELECT Id FROM " + object
	if token != "" {
		soql += " WHERE Id > " + soqlString(token)
	}
	soql += " ORDER BY Id LIMIT " + fmt.Sprint(limit+1)
	what := fmt.Sprintf("list ids of %s after %q", object, token)
	rows, err := c.query(ctx, soql, limit+1, what)
	if err != nil {
		return nil, "", err
	}
	ids := make([]string, 0, min(len(rows), limit+1))
	for _, row := range rows {
		id, _ := row["Id"].(string)
		if id == "" {
			return nil, "", fmt.Errorf("salesforce %s: a row has no Id", what)
		}
		ids = append(ids, id)
	}
	if len(ids) > limit {
		return ids[:limit], ids[limit-1], nil
	}
	return ids, "", nil
}

// Delete implements connectors.Deleter with sObject Collections delete,
//
//	DELETE /services/data/vXX.X/composite/sobjects?ids=a,b,c&allOrNone=false
//
// [doc: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_delete.htm]:
// up to 200 ids a call, one DeleteResult {id, success, errors} per id in request order,
// 200 when the request is well formed. allOrNone is false, so one refused record does not
// keep the others. A record that is gone already (ENTITY_IS_DELETED, NOT_FOUND, or
// INVALID_CROSS_REFERENCE_KEY on the id; see isGone) counts as deleted; other refusals are
// a *connectors.InvalidRecordError with Salesforce's code and message. An empty or
// malformed id is refused without asking; an id given twice is sent once.
//
// The ids are deleted whatever their object: the resource takes ids alone ("The IDs can
// belong to different object types"); object names the batch in messages.
func (c *Client) Delete(ctx context.Context, object string, ids []string) ([]connectors.WriteResult, error) {
	if err := checkObject(object); err != nil {
		return nil, err
	}
	if err := checkBatch("delete", object, len(ids)); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("salesforce delete %s: %w", object, err)
	}
	results := make([]connectors.WriteResult, len(ids))
	var send []string
	at := map[string][]int{} // id → its positions in ids
	for i, id := range ids {
		switch {
		case id == "":
			results[i].Err = &connectors.InvalidRecordError{Record: fmt.Sprintf("%s #%d of the batch", object, i+1), Field: "Id", Reason: "a delete needs the record's Id"}
		case !IsID(id):
			results[i].Err = &connectors.InvalidRecordError{Record: object + " " + id, Field: "Id", Reason: "not a Salesforce id"}
		default:
			if _, dup := at[id]; !dup {
				send = append(send, id)
			}
			at[id] = append(at[id], i)
		}
	}
	if len(send) == 0 {
		return results, nil
	}
	what := fmt.Sprintf("delete %d %s records", len(send), object)
	// Ids are alphanumeric (IsID), so the list needs no escaping.
	ans, err := c.do(ctx, http.MethodDelete, c.dataPath("/composite/sobjects?ids="+strings.Join(send, ",")+"&allOrNone=false"), nil, what)
	if err != nil {
		return nil, err
	}
	if ans.status != http.StatusOK {
		return nil, c.apiError(ans, what)
	}
	var saved []SaveResult
	if err := json.Unmarshal(ans.body, &saved); err != nil {
		return nil, fmt.Errorf("salesforce %s: decoding the answer: %w", what, err)
	}
	if len(saved) != len(send) {
		return nil, fmt.Errorf("salesforce %s: %d results for %d ids", what, len(saved), len(send))
	}
	for j, res := range saved {
		id := send[j]
		r := connectors.WriteResult{ID: id}
		if !res.Success && (len(res.Errors) == 0 || !isGone(res.Errors[0])) {
			r = connectors.WriteResult{Err: recordError(object, object+" "+id, "", "", res.Errors, false)}
		}
		for _, i := range at[id] {
			results[i] = r
		}
	}
	return results, nil
}
