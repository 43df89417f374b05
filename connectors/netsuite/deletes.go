package netsuite

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"tandem/connectors"
)

// The deletes of issue 15: Deletes (connectors.DeleteReader) reads NetSuite's log of
// deleted records with SuiteQL, ListIDs (connectors.IDLister) lists live ids with SuiteQL,
// Delete (connectors.Deleter) deletes with the record service.
//
// What NetSuite documents, and what the client does with it:
//
//   - "Deleted records in NetSuite are tracked by internalID and record type"; SOAP's
//     getDeleted returns each one's type, name, internal id, external id and "the date the
//     record was deleted", and needs the Deleted Records permission [doc:
//     https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_N3497592.html].
//     SuiteQL reads the same log as the DeletedRecord table, columns DeletedDate, Type,
//     RecordID, Name, DeletedBy, Context [3p: Tim Dietrich's SuiteQL library,
//     deleted-records.sql; https://timdietrich.me/blog/netsuite-suiteql-query-deleted-records/].
//     The role needs the Deleted Records permission for it [INF: as getDeleted does].
//   - How long the log keeps a deletion is not in the sources found [INF]: the
//     deleted_retention setting says it when it is known; without it, only a zero cursor
//     is treated as expired.
//   - DELETE /services/rest/record/v1/{type}/{id} deletes one record and answers 204 [doc:
//     https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545142287.html];
//     there is no bulk delete in REST web services (each record is one request, as every
//     write is [doc: section_1545141395]).

// deletedType is the DeletedRecord type of object: deleted_types, else its own name.
func (c *Connector) deletedType(object string) string {
	if t, ok := c.cfg.DeletedTypes[object]; ok {
		return t
	}
	return object
}

// Deletes implements connectors.DeleteReader with
//
//	SELECT recordid, TO_CHAR(deleteddate, '<modified_format>') AS deleteddate
//	FROM deletedrecord
//	WHERE UPPER(type) = UPPER('<type>') AND deleteddate >= TO_TIMESTAMP('<cursor>', ...)
//	ORDER BY deleteddate, recordid
//
// read the way Changes reads (see there): at the format's precision, each page after the
// first restarting at offset 0 from the last timestamp read, and a second's deletions
// ordered by (DeletedAt, ID) here once all of them are read. The type is compared
// without case [INF: the sources show the column, not its values' case]; deleted_types
// names it when it differs from the record type's name.
//
// With deleted_retention set, a cursor older than it gets an error wrapping
// *connectors.DeleteLogExpiredError (Earliest is the client's clock less the retention);
// a zero cursor always does (Earliest the client's clock, when the retention is not
// known): the log is not known to hold every deletion ever.
//
// A page with More false sets CoveredUntil to the start of the account's current second
// (its clock from the Date header of the last answer), and leaves out the deletions of that second unless
// hold_back_open_second is false: a deletion later in the second, with a smaller id,
// would otherwise sort before a cursor placed on them and never be read.
func (c *Connector) Deletes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.DeletesPage, error) {
	if err := c.check(ctx, "deletes of", object); err != nil {
		return connectors.DeletesPage{}, err
	}
	if limit <= 0 {
		return connectors.DeletesPage{}, fmt.Errorf("netsuite deletes of %s: limit %d must be positive", object, limit)
	}
	what := fmt.Sprintf("deletes of %s after %s", object, since)
	now := c.now().UTC()
	earliest := time.Time{}
	if c.cfg.DeletedRetention > 0 {
		earliest = now.Add(-c.cfg.DeletedRetention)
	}
	if since.UpdatedAt.IsZero() || since.UpdatedAt.Before(earliest) {
		if earliest.IsZero() {
			earliest = now
		}
		return connectors.DeletesPage{}, fmt.Errorf("netsuite %s: %w", what,
			&connectors.DeleteLogExpiredError{Object: object, Since: since.UpdatedAt, Earliest: earliest})
	}

	pageSize := min(c.cfg.PageSize, limit+1)
	var (
		got       []connectors.Tombstone // after since, in the order read
		seen      = map[string]bool{}
		lower     = since.UpdatedAt
		offset    = 0
		exhausted = false
		served    time.Time // the account's clock at the last answer
	)
	for {
		q := "SELECT recordid, TO_CHAR(deleteddate, " + quote(c.cfg.ModifiedFormat) + ") AS deleteddate FROM deletedrecord" +
			" WHERE UPPER(type) = UPPER(" + quote(c.deletedType(object)) + ") AND deleteddate >= " + c.timestamp(lower) +
			" ORDER BY deleteddate, recordid"
		page, err := c.suiteql(ctx, what, q, pageSize, offset)
		if err != nil {
			return connectors.DeletesPage{}, err
		}
		served = page.served
		var last time.Time
		for _, row := range page.Items {
			t, err := c.tombstone(row)
			if err != nil {
				return connectors.DeletesPage{}, fmt.Errorf("netsuite %s: %w", what, err)
			}
			last = t.DeletedAt
			if seen[t.ID] || !since.Before(connectors.Record{ID: t.ID, UpdatedAt: t.DeletedAt}) {
				continue
			}
			seen[t.ID] = true
			got = append(got, t)
		}
		if !page.HasMore || len(page.Items) == 0 {
			exhausted = true
			break
		}
		complete := 0
		for _, t := range got {
			if t.DeletedAt.Before(last) {
				complete++
			}
		}
		if complete >= limit {
			break
		}
		if last.After(lower) {
			lower, offset = last, 0
		} else {
			offset += pageSize // one second holds more than a page
		}
		if offset >= maxOffset {
			return connectors.DeletesPage{}, fmt.Errorf("netsuite %s: more than %d deletions within %s; NetSuite serves no more rows of one query",
				what, maxOffset, lower.Format(time.RFC3339))
		}
	}

	sort.SliceStable(got, func(i, j int) bool {
		if !got[i].DeletedAt.Equal(got[j].DeletedAt) {
			return got[i].DeletedAt.Before(got[j].DeletedAt)
		}
		return got[i].ID < got[j].ID
	})
	out := connectors.DeletesPage{Tombstones: got, More: !exhausted}
	if len(got) > limit {
		out.Tombstones, out.More = got[:limit], true
	}
	if out.Tombstones == nil {
		out.Tombstones = []connectors.Tombstone{}
	}
	if !out.More && !served.IsZero() {
		open := served.UTC().Truncate(time.Second)
		if !c.cfg.ReadOpenSecond {
			n := len(out.Tombstones)
			for n > 0 && !out.Tombstones[n-1].DeletedAt.Before(open) {
				n--
			}
			out.Tombstones = out.Tombstones[:n]
		}
		// Read with the open second, the page may hold deletions inside it: the log is
		// covered up to the last of them at least.
		covered := open
		if n := len(out.Tombstones); n > 0 && out.Tombstones[n-1].DeletedAt.After(covered) {
			covered = out.Tombstones[n-1].DeletedAt
		}
		if covered.After(since.UpdatedAt) {
			out.CoveredUntil = covered
		}
	}
	return out, nil
}

// tombstone reads a deletedrecord row: recordid and deleteddate in the modified column's
// format and zone.
func (c *Connector) tombstone(row map[string]any) (connectors.Tombstone, error) {
	id := connectors.KeyString(row["recordid"])
	raw, _ := row["deleteddate"].(string)
	if id == "" || raw == "" {
		return connectors.Tombstone{}, fmt.Errorf("a deletedrecord row without recordid or deleteddate: %v", row)
	}
	at, err := time.ParseInLocation(c.layout, raw, c.cfg.Location)
	if err != nil {
		return connectors.Tombstone{}, fmt.Errorf("deleted record %s: deleteddate %q is not in the format %s: %w", id, raw, c.cfg.ModifiedFormat, err)
	}
	return connectors.Tombstone{ID: id, DeletedAt: at.UTC()}, nil
}

// ListIDs implements connectors.IDLister with
//
//	SELECT id FROM <object> [WHERE id > <token>] ORDER BY id
//
// page_size rows a request, always at offset 0: the token is the last id read, so records
// created or deleted between pages shift nothing, and offsets never grow towards
// NetSuite's 100,000-row limit. Ids come in NetSuite's numeric order.
func (c *Connector) ListIDs(ctx context.Context, object, token string, limit int) ([]string, string, error) {
	if err := c.check(ctx, "list ids of", object); err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		return nil, "", fmt.Errorf("netsuite list ids of %s: limit %d must be positive", object, limit)
	}
	if token != "" && !isInternalID(token) {
		return nil, "", fmt.Errorf("netsuite list ids of %s: page token %q is not an internal id (it is the last id of the previous page)", object, token)
	}
	what := fmt.Sprintf("list ids of %s after %q", object, token)
	ids := make([]string, 0, min(limit, c.cfg.PageSize))
	for len(ids) < limit {
		q := "SELECT id FROM " + object
		if token != "" {
			q += " WHERE id > " + token
		}
		q += " ORDER BY id"
		page, err := c.suiteql(ctx, what, q, min(c.cfg.PageSize, limit-len(ids)), 0)
		if err != nil {
			return nil, "", err
		}
		for _, row := range page.Items {
			id := connectors.KeyString(row["id"])
			if !isInternalID(id) {
				return nil, "", fmt.Errorf("netsuite %s: a row's id %v is not an internal id", what, row["id"])
			}
			ids = append(ids, id)
		}
		if !page.HasMore || len(page.Items) == 0 {
			return ids, "", nil
		}
		token = ids[len(ids)-1]
	}
	return ids, token, nil
}

// Delete implements connectors.Deleter with DELETE /record/v1/<object>/<id>, one request
// per record, up to concurrency at once. 204 is deleted; 404 (the record is gone
// already) counts as deleted; a 400 is the record's own refusal, a
// *connectors.InvalidRecordError with NetSuite's detail and code; anything else (auth,
// rate limit, 5xx) fails the call, and a retry finds the records deleted before it gone.
// An id that is not an internal id is refused without asking; an id given twice is sent
// once.
func (c *Connector) Delete(ctx context.Context, object string, ids []string) ([]connectors.WriteResult, error) {
	if err := c.check(ctx, "delete", object); err != nil {
		return nil, err
	}
	if err := c.checkBatch("delete", object, len(ids)); err != nil {
		return nil, err
	}
	results := make([]connectors.WriteResult, len(ids))
	var send []string
	at := map[string][]int{}
	for i, id := range ids {
		if !isInternalID(id) {
			results[i].Err = &connectors.InvalidRecordError{Record: fmt.Sprintf("%s %q", object, id), Field: "id", Reason: "not a NetSuite internal id"}
			continue
		}
		if _, dup := at[id]; !dup {
			send = append(send, id)
		}
		at[id] = append(at[id], i)
	}
	outcome := make([]connectors.WriteResult, len(send))
	err := c.parallel(ctx, len(send), func(ctx context.Context, j int) error {
		id := send[j]
		resp, err := c.do(ctx, call{method: http.MethodDelete, path: recordPath + object + "/" + id})
		if err != nil {
			return err
		}
		switch resp.status {
		case http.StatusNoContent, http.StatusOK, http.StatusNotFound:
			outcome[j] = connectors.WriteResult{ID: id}
			return nil
		}
		res, err := c.recordResult(resp, "delete "+object+" record "+id, object+" "+id)
		outcome[j] = res
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netsuite delete %s: %w", object, err)
	}
	for j, id := range send {
		for _, i := range at[id] {
			results[i] = outcome[j]
		}
	}
	return results, nil
}

var (
	_ connectors.DeleteReader = (*Connector)(nil)
	_ connectors.IDLister     = (*Connector)(nil)
	_ connectors.Deleter      = (*Connector)(nil)
)
