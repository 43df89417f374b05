package netsuitefake

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Deletes (issue 15), as NetSuite documents them:
//
//   - DELETE /services/rest/record/v1/{type}/{id} deletes one record instance and answers
//     204 with no body [doc: https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545142287.html];
//     an id that names no record is 404 NONEXISTENT_ID, as the other record requests
//     answer one (records.go) [INF]. eid:{value} addresses a record too, as in PATCH.
//   - NetSuite logs deletions: "Deleted records in NetSuite are tracked by internalID and
//     record type", and the SOAP getDeleted operation returns, for each, "the record's
//     type, the record's name, the record's internal ID, the record's external ID, the
//     date the record was deleted" [doc: https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_N3497592.html].
//     SuiteQL reads the same log as the DeletedRecord table, with the columns DeletedDate,
//     Type, RecordID, Name, DeletedBy and Context [3p: Tim Dietrich's SuiteQL query library,
//     deleted-records.sql: SELECT TO_CHAR(DeletedDate, ...), Type AS RecordType, RecordID,
//     BUILTIN.DF(DeletedBy), BUILTIN.DF(Context) FROM DeletedRecord, and
//     https://timdietrich.me/blog/netsuite-suiteql-query-deleted-records/]. The fake serves
//     deletedrecord rows with recordid (a number), type (the record type as the REST path
//     names it, in lower case [INF]), name (entityid, else companyname, as NetSuite names
//     an entity [INF]) and deleteddate (the deletion's time at Options.Precision).
//   - [INF]: how long NetSuite keeps the log is not in the sources found. The fake keeps
//     it for Options.DeletedRetention (default: for ever) and then purges the older rows.
//   - [INF]: a record NetSuite refuses to delete (one with dependent transactions, say)
//     answers 400 with NetSuite's error body, as any rejected write (records.go);
//     RefuseDelete sets the detail and code.

type deletion struct {
	typ      string
	recordID int
	name     string
	at       time.Time
}

type deleteRefusal struct{ detail, code string }

// deleteRecord: DELETE /record/v1/{type}/{id} -> 204.
func (s *Server) deleteRecord(w http.ResponseWriter, r *http.Request) {
	typ := strings.ToLower(r.PathValue("type"))
	s.mu.Lock()
	rec := s.resolve(typ, r.PathValue("id"))
	if rec == nil {
		s.mu.Unlock()
		rej := notFound()
		writeError(w, rej.status, rej.path, rej.msg, rej.code)
		return
	}
	if ref, refused := s.refusals[refusalKey(typ, rec.id)]; refused {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "", ref.detail, ref.code)
		return
	}
	s.remove(typ, rec)
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// remove deletes rec and logs the deletion. Callers hold s.mu.
func (s *Server) remove(typ string, rec *stored) {
	delete(s.tableOf(typ).records, rec.id)
	name, _ := rec.fields["entityid"].(string)
	if name == "" {
		name, _ = rec.fields["companyname"].(string)
	}
	s.deleted = append(s.deleted, deletion{typ: strings.ToLower(typ), recordID: rec.id, name: name, at: s.stamp()})
}

// purgeDeleted drops log rows older than Options.DeletedRetention. Callers hold s.mu.
func (s *Server) purgeDeleted() {
	if s.opts.DeletedRetention <= 0 {
		return
	}
	horizon := s.opts.Now().Add(-s.opts.DeletedRetention)
	kept := s.deleted[:0]
	for _, d := range s.deleted {
		if !d.at.Before(horizon) {
			kept = append(kept, d)
		}
	}
	s.deleted = kept
}

// deletedRows are the rows of the deletedrecord table. Callers hold s.mu.
func (s *Server) deletedRows() []*row {
	s.purgeDeleted()
	rows := make([]*row, 0, len(s.deleted))
	for _, d := range s.deleted {
		cols := map[string]any{
			"recordid":    float64(d.recordID),
			"type":        d.typ,
			"deleteddate": d.at,
		}
		if d.name != "" {
			cols["name"] = d.name
		}
		rows = append(rows, &row{cols: cols})
	}
	return rows
}

// Delete deletes a record as a user in NetSuite's UI would, logging the deletion. It
// reports whether the record existed.
func (s *Server) Delete(typ, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.find(typ, id)
	if rec == nil {
		return false
	}
	s.remove(typ, rec)
	return true
}

// RefuseDelete makes DELETE of a record answer 400 with detail and code (USER_ERROR when
// empty); an empty detail lifts the refusal.
func (s *Server) RefuseDelete(typ, id, detail, code string) {
	n, err := strconv.Atoi(id)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := refusalKey(strings.ToLower(typ), n)
	if detail == "" {
		delete(s.refusals, key)
		return
	}
	if code == "" {
		code = "USER_ERROR"
	}
	s.refusals[key] = deleteRefusal{detail: detail, code: code}
}

// Deleted returns when each record of typ still in the deletion log was deleted, by id.
func (s *Server) Deleted(typ string) map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeDeleted()
	out := map[string]time.Time{}
	for _, d := range s.deleted {
		if d.typ == strings.ToLower(typ) {
			out[strconv.Itoa(d.recordID)] = d.at
		}
	}
	return out
}

// SetDeletedAt sets when a logged deletion happened, so tests can make deletion times
// equal. It reports whether the log holds the record.
func (s *Server) SetDeletedAt(typ, id string, at time.Time) bool {
	n, err := strconv.Atoi(id)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.deleted {
		if d := &s.deleted[i]; d.typ == strings.ToLower(typ) && d.recordID == n {
			d.at = at.Round(0)
			sort.SliceStable(s.deleted, func(i, j int) bool { return s.deleted[i].at.Before(s.deleted[j].at) })
			return true
		}
	}
	return false
}

func refusalKey(typ string, id int) string { return typ + "/" + strconv.Itoa(id) }
