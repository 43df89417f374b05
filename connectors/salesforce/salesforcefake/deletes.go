package salesforcefake

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Deletions, as Salesforce documents them:
//
//   - sObject Get Deleted, GET /services/data/vXX.X/sobjects/{Object}/deleted/?start=&end=
//     [doc: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_getdeleted.htm]
//     answers {"deletedRecords":[{"id","deletedDate"}],"earliestDateAvailable",
//     "latestDateCovered"} for the deletions between start and end. "The API ignores the
//     seconds portion" of both, and the span is inclusive ("between 12:30:00 and 12:35:00
//     (UTC), inclusive" [doc: SOAP API, Polling for Changes]). The rules of the SOAP
//     getDeleted() call, to which the REST page refers [doc:
//     https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_getdeleted.htm]:
//     start must precede end "by more than one minute", else INVALID_REPLICATION_DATE;
//     results go back no more than 15 days, and asking before what the log keeps is
//     INVALID_REPLICATION_DATE; more than 600,000 ids is EXCEEDED_ID_LIMIT [doc: REST page].
//     [INF]: the HTTP status of these errors is not documented; the fake answers 400, the
//     status of a request REST cannot serve [doc: errorcodes], with the usual error array.
//     [INF]: earliestDateAvailable ("the timestamp of the last physically deleted object")
//     is, in the fake, the start of its retention window rounded up to the minute (the
//     documented example shows whole minutes). The span served ends at end, or at the
//     current minute when end is later (the documented example covers up to the call's
//     time). latestDateCovered is "the last date covered": deletions that "started after
//     this date but didn't complete before endDate" are not returned [doc:
//     GetDeletedResult]; so it is the span's end, or the minute a deletion still in
//     progress (StartDelete) began, if earlier. Completed deletions after it are returned.
//   - sObject Collections delete, DELETE /services/data/vXX.X/composite/sobjects?ids=a,b
//     &allOrNone=false [doc: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_delete.htm]:
//     up to 200 ids, any objects; 200 with one DeleteResult {id, success, errors} per id in
//     request order; a malformed id is MALFORMED_ID "malformed id X" without an id (the
//     documented example). [INF]: an id in the delete log answers ENTITY_IS_DELETED ("You
//     cannot reference an object that has been deleted" [doc: StatusCode, via 3p
//     transcriptions]), one no record ever had Options.MissingIDCode, a locked record
//     ENTITY_IS_LOCKED; failed results carry the id when it is well formed.

// lockedMessage is Salesforce's words for a record locked by an approval process [INF].
const lockedMessage = "This record is locked. If you need to edit it, contact your admin."

// Delete deletes a record as a user does in the UI: it leaves the object for the delete
// log, at the fake's current time. A locked record is deleted too (an admin may).
func (s *Server) Delete(object, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.find(object, id)
	if err != nil {
		return err
	}
	s.remove(s.table(object), r, s.now())
	return nil
}

// StartDelete begins deleting a record in a transaction that completes only when finish
// is called: the deletion is dated now, but the record stays in queries and out of the
// delete log until then, and Get Deleted's latestDateCovered stops before it.
func (s *Server) StartDelete(object, id string) (finish func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.find(object, id)
	if err != nil {
		return nil, err
	}
	tb := s.table(object)
	began := s.now()
	tb.deleting[r.id] = began
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(tb.deleting, r.id)
		if tb.records[r.id] == r {
			s.remove(tb, r, began)
		}
	}, nil
}

// Lock locks a record as an approval process does: updates and deletes through the API
// are refused with ENTITY_IS_LOCKED.
func (s *Server) Lock(object, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.find(object, id)
	if err != nil {
		return err
	}
	r.locked = true
	return nil
}

// Deleted returns object's delete log: when each record still in it was deleted, by id.
func (s *Server) Deleted(object string) map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	tb := s.table(object)
	s.purge(tb)
	out := make(map[string]time.Time, len(tb.deleted))
	for id, at := range tb.deleted {
		out[id] = at
	}
	return out
}

// remove deletes r from tb into the delete log, dated at, and returns how to undo it.
// Callers hold s.mu.
func (s *Server) remove(tb *table, r *record, at time.Time) func() {
	prev := r.modstamp
	delete(tb.records, r.id)
	tb.deleted[r.id] = at
	// deletedDate "is obtained using the SystemModstamp system field if available" [doc:
	// GetDeletedResult].
	r.modstamp = at
	return func() {
		delete(tb.deleted, r.id)
		r.modstamp = prev
		tb.records[r.id] = r
	}
}

// earliest is the delete log's earliestDateAvailable. Callers hold s.mu.
func (s *Server) earliest() time.Time {
	from := s.opts.Now().UTC().Add(-s.opts.DeletedRetention)
	t := from.Truncate(time.Minute)
	if t.Before(from) {
		t = t.Add(time.Minute)
	}
	return t
}

// purge drops the deletions the log no longer keeps. Callers hold s.mu.
func (s *Server) purge(tb *table) {
	horizon := s.opts.Now().UTC().Add(-s.opts.DeletedRetention)
	for id, at := range tb.deleted {
		if at.Before(horizon) {
			delete(tb.deleted, id)
		}
	}
}

// deletedPath returns the object of a Get Deleted path, "sobjects/{Object}/deleted/" (the
// trailing slash optional), or "".
func deletedPath(rest string) string {
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if len(parts) == 3 && parts[0] == "sobjects" && parts[2] == "deleted" && parts[1] != "" {
		return parts[1]
	}
	return ""
}

type deletedRecord struct {
	ID          string `json:"id"`
	DeletedDate string `json:"deletedDate"`
}

type deletedAnswer struct {
	DeletedRecords        []deletedRecord `json:"deletedRecords"`
	EarliestDateAvailable string          `json:"earliestDateAvailable"`
	LatestDateCovered     string          `json:"latestDateCovered"`
}

// parseReplicationDate reads a start or end parameter: an ISO 8601 datetime, "Z" or an
// offset ("+00:00" as in the documented example, or "+0000").
func parseReplicationDate(v string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func replicationErr(msg string) *apiErr {
	return &apiErr{status: http.StatusBadRequest, code: "INVALID_REPLICATION_DATE", msg: msg}
}

// serveDeleted serves sObject Get Deleted; see the top of this file.
func (s *Server) serveDeleted(w http.ResponseWriter, r *http.Request, object string) error {
	q := r.URL.Query()
	start, okStart := parseReplicationDate(q.Get("start"))
	end, okEnd := parseReplicationDate(q.Get("end"))
	if !okStart || !okEnd {
		// [INF]: the error for a missing or malformed date is not documented.
		return replicationErr(fmt.Sprintf("start %q and end %q must be ISO 8601 datetimes", q.Get("start"), q.Get("end")))
	}
	start, end = start.Truncate(time.Minute), end.Truncate(time.Minute)
	if end.Sub(start) <= time.Minute {
		return replicationErr("startDate must chronologically precede endDate by more than one minute")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name, err := s.objectName(object)
	if err != nil {
		return err
	}
	tb := s.table(name)
	s.purge(tb)
	earliest := s.earliest()
	if start.Before(earliest) && !s.opts.LenientDeletedStart {
		// [INF]: the message is the fake's own.
		return replicationErr(fmt.Sprintf("startDate %s is before the earliest date available, %s",
			render(start), render(earliest)))
	}
	spanEnd := end
	if now := s.opts.Now().UTC().Truncate(time.Minute); now.Before(spanEnd) {
		spanEnd = now
	}
	latest := spanEnd
	for _, began := range tb.deleting {
		if m := began.Truncate(time.Minute); m.Before(latest) {
			latest = m
		}
	}
	ans := deletedAnswer{
		DeletedRecords:        []deletedRecord{},
		EarliestDateAvailable: render(earliest).(string),
		LatestDateCovered:     render(latest).(string),
	}
	for id, at := range tb.deleted {
		if !at.Before(start) && !at.After(spanEnd) {
			ans.DeletedRecords = append(ans.DeletedRecords, deletedRecord{ID: id, DeletedDate: render(at).(string)})
		}
	}
	if len(ans.DeletedRecords) > s.opts.MaxDeletedIDs {
		// [INF]: the status is not documented.
		return &apiErr{status: http.StatusBadRequest, code: "EXCEEDED_ID_LIMIT",
			msg: fmt.Sprintf("More than %d IDs were found. Choose start and end dates that are closer together.", s.opts.MaxDeletedIDs)}
	}
	// Salesforce promises no order; id order keeps the fake repeatable and is not the
	// (deletedDate, id) order a client needs.
	sort.Slice(ans.DeletedRecords, func(i, j int) bool { return ans.DeletedRecords[i].ID < ans.DeletedRecords[j].ID })
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// tableOf returns the table whose key prefix begins id, or nil. Callers hold s.mu.
func (s *Server) tableOf(id string) *table {
	for _, tb := range s.tables {
		if strings.HasPrefix(id, tb.prefix) {
			return tb
		}
	}
	return nil
}

// serveDeleteCollection serves sObject Collections delete; see the top of this file.
func (s *Server) serveDeleteCollection(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("ids") == "" {
		// [INF]: the error for a missing ids parameter is not documented.
		return &apiErr{status: http.StatusBadRequest, code: "MISSING_ARGUMENT", msg: "ids: required parameter missing"}
	}
	ids := strings.Split(q.Get("ids"), ",")
	if len(ids) > MaxRecords {
		return &apiErr{status: http.StatusBadRequest, code: "EXCEEDED_ID_LIMIT",
			msg: fmt.Sprintf("record limit reached. cannot submit more than %d records into this call", MaxRecords)}
	}
	allOrNone := strings.EqualFold(q.Get("allOrNone"), "true")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Writes++

	var undo []func()
	results := make([]saveResult, len(ids))
	failed := false
	for i, raw := range ids {
		id := strings.TrimSpace(raw)
		res := s.deleteOne(id, &undo)
		if !res.Success {
			failed = true
		}
		results[i] = res
	}
	if failed && allOrNone {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		for i := range results {
			if results[i].Success {
				results[i] = saveResult{ID: results[i].ID, Errors: recordErr("ALL_OR_NONE_OPERATION_ROLLED_BACK",
					"Record rolled back because not all records were valid and the request was using AllOrNone header")}
			}
		}
	}
	writeJSON(w, http.StatusOK, results)
	return nil
}

// deleteOne deletes the record with id, recording how to undo it. Callers hold s.mu.
func (s *Server) deleteOne(id string, undo *[]func()) saveResult {
	if !validID(id) {
		return saveResult{Errors: recordErr("MALFORMED_ID", "malformed id "+id)}
	}
	id = to18(id)
	tb := s.tableOf(id)
	if tb == nil {
		return saveResult{ID: id, Errors: recordErr(s.opts.MissingIDCode, "invalid cross reference id")}
	}
	s.purge(tb)
	r := tb.records[id]
	switch {
	case r != nil && r.locked:
		return saveResult{ID: id, Errors: recordErr("ENTITY_IS_LOCKED", lockedMessage)}
	case r != nil:
		*undo = append(*undo, s.remove(tb, r, s.now()))
		return saveResult{ID: id, Success: true, Errors: []saveError{}}
	}
	if _, gone := tb.deleted[id]; gone || s.opts.MissingIDCode == "ENTITY_IS_DELETED" {
		return saveResult{ID: id, Errors: recordErr("ENTITY_IS_DELETED", "entity is deleted")}
	}
	return saveResult{ID: id, Errors: recordErr(s.opts.MissingIDCode, "invalid cross reference id")}
}
