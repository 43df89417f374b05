package netsuitefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// External ids are letters, digits, "_" and "-" [doc: section_156334828635].
var externalIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// readOnly fields are ignored on writes: "the id field is read-only"
// [doc: section_1545141395]; the dates are the server's.
var readOnly = map[string]bool{"id": true, "links": true, "lastmodifieddate": true, "datecreated": true}

// rejection is a write the server refuses, answered with NetSuite's error body.
type rejection struct {
	status          int
	path, msg, code string
}

// createRecord: POST /record/v1/{type} -> 204 with the new record's URL in Location
// [doc: section_1545141395].
func (s *Server) createRecord(w http.ResponseWriter, r *http.Request) {
	typ := strings.ToLower(r.PathValue("type"))
	fields, ok := readBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	rec, rej := s.create(typ, fields)
	s.mu.Unlock()
	if rej != nil {
		writeError(w, rej.status, rej.path, rej.msg, rej.code)
		return
	}
	s.located(w, r, typ, rec, http.StatusNoContent)
}

// patchRecord: PATCH /record/v1/{type}/{id} (id or eid:value) -> 204 [INF, standard].
func (s *Server) patchRecord(w http.ResponseWriter, r *http.Request) {
	typ := strings.ToLower(r.PathValue("type"))
	fields, ok := readBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	rec := s.resolve(typ, r.PathValue("id"))
	var rej *rejection
	if rec == nil {
		rej = notFound()
	} else {
		rej = s.update(typ, rec, fields)
	}
	s.mu.Unlock()
	if rej != nil {
		writeError(w, rej.status, rej.path, rej.msg, rej.code)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// putRecord: PUT /record/v1/{type}/eid:{value} creates the record with that external
// id or updates the one that has it [doc: section_156335203191]. Both answer 204 with
// Location unless Options.UpsertCreatedStatus says otherwise for a creation [INF].
func (s *Server) putRecord(w http.ResponseWriter, r *http.Request) {
	typ := strings.ToLower(r.PathValue("type"))
	ref := r.PathValue("id")
	eid, isEID := strings.CutPrefix(ref, "eid:")
	switch {
	case !isEID:
		writeError(w, http.StatusBadRequest, "", "The upsert operation (PUT) needs an external ID in the URL: .../eid:VALUE.", "INVALID_REQUEST")
		return
	case !externalIDRE.MatchString(eid):
		writeError(w, http.StatusBadRequest, "externalid",
			fmt.Sprintf("Invalid external ID %q: use letters, numbers, underscores and hyphens.", eid), "INVALID_ID")
		return
	}
	fields, ok := readBody(w, r)
	if !ok {
		return
	}
	fields["externalid"] = eid
	s.mu.Lock()
	rec := s.byExternalID(typ, eid)
	status := http.StatusNoContent
	var rej *rejection
	if rec != nil {
		rej = s.update(typ, rec, fields)
	} else {
		rec, rej = s.create(typ, fields)
		status = s.opts.UpsertCreatedStatus
	}
	s.mu.Unlock()
	if rej != nil {
		writeError(w, rej.status, rej.path, rej.msg, rej.code)
		return
	}
	s.located(w, r, typ, rec, status)
}

// getRecord: GET /record/v1/{type}/{id} -> the record's fields.
func (s *Server) getRecord(w http.ResponseWriter, r *http.Request) {
	typ := strings.ToLower(r.PathValue("type"))
	s.mu.Lock()
	rec := s.resolve(typ, r.PathValue("id"))
	var body map[string]any
	if rec != nil {
		body = copyFields(rec.fields)
		body["id"] = strconv.Itoa(rec.id)
		body["lastModifiedDate"] = rec.modified.UTC().Format(time.RFC3339)
		body["dateCreated"] = rec.created.UTC().Format(time.RFC3339)
		body["links"] = []map[string]string{{"rel": "self", "href": s.baseURL(r) + restPrefix + "/record/v1/" + typ + "/" + strconv.Itoa(rec.id)}}
	}
	s.mu.Unlock()
	if rec == nil {
		rej := notFound()
		writeError(w, rej.status, rej.path, rej.msg, rej.code)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) located(w http.ResponseWriter, r *http.Request, typ string, rec *stored, status int) {
	w.Header().Set("Location", s.baseURL(r)+restPrefix+"/record/v1/"+typ+"/"+strconv.Itoa(rec.id))
	w.WriteHeader(status)
}

// create validates and stores a new record. Callers hold s.mu.
func (s *Server) create(typ string, fields map[string]any) (*stored, *rejection) {
	for k := range readOnly {
		delete(fields, k)
	}
	if rej := s.validate(typ, nil, fields); rej != nil {
		return nil, rej
	}
	return s.insert(typ, fields), nil
}

// update validates and applies fields to rec. Callers hold s.mu.
func (s *Server) update(typ string, rec *stored, fields map[string]any) *rejection {
	for k := range readOnly {
		delete(fields, k)
	}
	merged := copyFields(rec.fields)
	for k, v := range fields {
		merged[k] = v
	}
	if rej := s.validate(typ, rec, merged); rej != nil {
		return rej
	}
	rec.fields = merged
	rec.modified = s.stamp()
	return nil
}

// validate checks a record's fields as it would be stored: required fields set, the
// external id unique. self is the record being updated (nil for a new one).
func (s *Server) validate(typ string, self *stored, fields map[string]any) *rejection {
	required := append([]string(nil), s.opts.Required[typ]...)
	sort.Strings(required)
	for _, f := range required {
		if v, ok := fields[f]; !ok || v == nil || v == "" {
			// NetSuite's words for a missing mandatory field [3p].
			return &rejection{status: http.StatusBadRequest, path: f,
				msg: fmt.Sprintf("Please enter value(s) for: %s", f), code: "USER_ERROR"}
		}
	}
	if eid, ok := fields["externalid"].(string); ok && eid != "" {
		if other := s.byExternalID(typ, eid); other != nil && other != self {
			return &rejection{status: http.StatusBadRequest, path: "externalid",
				msg:  fmt.Sprintf("A %s record with the external ID %s already exists (internal ID %d).", typ, eid, other.id),
				code: "DUP_RCRD"}
		}
	}
	return nil
}

// resolve finds a record by internal id or eid:value. Callers hold s.mu.
func (s *Server) resolve(typ, ref string) *stored {
	if eid, ok := strings.CutPrefix(ref, "eid:"); ok {
		return s.byExternalID(typ, eid)
	}
	return s.find(typ, ref)
}

// byExternalID finds a record by external id. Callers hold s.mu.
func (s *Server) byExternalID(typ, eid string) *stored {
	for _, rec := range s.tableOf(typ).records {
		if v, ok := rec.fields["externalid"]; ok && fmt.Sprint(v) == eid {
			return rec
		}
	}
	return nil
}

func notFound() *rejection {
	return &rejection{status: http.StatusNotFound,
		msg: "The record instance does not exist. Provide a valid record instance ID.", code: "NONEXISTENT_ID"}
}

// readBody decodes a JSON object body with field names in lower case: NetSuite reads
// "companyName" and "companyname" alike [doc: both spellings in Oracle's examples].
func readBody(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	var fields map[string]any
	if err := json.NewDecoder(r.Body).Decode(&fields); err != nil || fields == nil {
		writeError(w, http.StatusBadRequest, "", "The request body must be a JSON object.", "INVALID_CONTENT")
		return nil, false
	}
	return lowerKeys(fields), true
}
