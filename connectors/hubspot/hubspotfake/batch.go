package hubspotfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

type batchInput struct {
	ID                 string         `json:"id"`
	IDProperty         string         `json:"idProperty"`
	Properties         map[string]any `json:"properties"`
	ObjectWriteTraceID string         `json:"objectWriteTraceId"`
}

type batchBody struct {
	Inputs     []batchInput `json:"inputs"`
	Properties []string     `json:"properties"`
	IDProperty string       `json:"idProperty"`
}

// batch answers POST {object}/batch/{op}.
func (s *Server) batch(w http.ResponseWriter, r *http.Request, object, op string) {
	var body batchBody
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		s.badRequest(w, "Invalid input JSON: %v", err)
		return
	}
	if len(body.Inputs) == 0 {
		s.badRequest(w, "inputs must not be empty")
		return
	}
	if s.opts.MaxBatch > 0 && len(body.Inputs) > s.opts.MaxBatch {
		s.badRequest(w, "Batch input size of %d exceeds the limit of %d inputs", len(body.Inputs), s.opts.MaxBatch)
		return
	}
	switch op {
	case "read":
		s.batchRead(w, object, body)
	case "create", "update", "upsert":
		s.batchWrite(w, object, op, body)
	case "archive":
		s.batchArchive(w, object, body)
	default:
		s.writeError(w, http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: "No batch operation " + op})
	}
}

func (s *Server) batchRead(w http.ResponseWriter, object string, body batchBody) {
	idProp := body.IDProperty
	if idProp != "" && idProp != "hs_object_id" && !contains(s.uniqueProps(object), idProp) {
		s.badRequest(w, "%s is not a unique identifier property of %s", idProp, object)
		return
	}
	started := time.Now()
	s.mu.Lock()
	results := []map[string]any{}
	var missing []string
	seen := map[string]bool{}
	for _, in := range body.Inputs {
		id := in.ID
		if idProp != "" && idProp != "hs_object_id" {
			id, _ = s.owner(object, idProp, in.ID)
		}
		rec, ok := s.table(object)[id]
		switch {
		case !ok:
			missing = append(missing, in.ID)
		case !seen[id]:
			seen[id] = true
			results = append(results, s.render(object, rec, body.Properties))
		}
	}
	s.mu.Unlock()
	resp := batchAnswer(results, started)
	status := http.StatusOK
	if len(missing) > 0 {
		status = http.StatusMultiStatus
		resp["numErrors"] = 1
		resp["errors"] = []apiError{{
			Status:   "error",
			Category: "OBJECT_NOT_FOUND",
			Message:  fmt.Sprintf("Could not get some %s objects, they may be deleted or not exist. Check that ids are valid.", strings.ToUpper(singular(object))),
			Context:  map[string][]string{"ids": missing},
		}}
	}
	writeJSON(w, status, resp)
}

func batchAnswer(results []map[string]any, started time.Time) map[string]any {
	return map[string]any{
		"status":      "COMPLETE",
		"results":     results,
		"startedAt":   isoMillis(started),
		"completedAt": isoMillis(time.Now()),
	}
}

// planned is one input of a batch write, validated, before it is applied.
type planned struct {
	in    batchInput
	props map[string]string
	rec   *record // the record to update; nil to create
	err   *inputError
}

// batchWrite answers batch create, update and upsert. Every input is validated first
// (rules in validate, unique properties, existence); then, when some failed:
//   - create without an objectWriteTraceId on every input, or any batch with
//     Options.NoMultiStatus, answers 400 for the whole batch and writes nothing [doc:
//     multi-status responses are enabled by objectWriteTraceIds];
//   - otherwise the valid inputs are written and the answer is 207 Multi-Status with one
//     error per failed input, its objectWriteTraceId in context (or the record id in
//     context.ids when the input had none).
//
// All good: 201 for create, 200 for update and upsert.
func (s *Server) batchWrite(w http.ResponseWriter, object, op string, body batchBody) {
	idProp := ""
	if op == "upsert" {
		for _, in := range body.Inputs {
			p := in.IDProperty
			if p == "" {
				p = body.IDProperty
			}
			if p == "" {
				s.badRequest(w, "upsert inputs need an idProperty")
				return
			}
			if idProp != "" && p != idProp {
				s.badRequest(w, "all upsert inputs must use the same idProperty; got %s and %s", idProp, p)
				return
			}
			idProp = p
		}
		if idProp != "hs_object_id" && !contains(s.uniqueProps(object), idProp) {
			// [doc: batch upsert: idProperty must name a property with unique values]
			s.badRequest(w, "Property %s cannot be used as idProperty: it is not a unique identifier property of %s", idProp, object)
			return
		}
	}
	if op != "create" {
		seen := map[string]bool{}
		var dups []string
		for _, in := range body.Inputs {
			k := uniqueKey(in.ID)
			if seen[k] {
				dups = append(dups, in.ID)
			}
			seen[k] = true
		}
		if len(dups) > 0 {
			s.badRequest(w, "Duplicate IDs found in batch input: %v. IDs must be unique", dups)
			return
		}
	}
	started := time.Now()

	s.mu.Lock()
	plans := make([]planned, len(body.Inputs))
	c := claims{}
	failed, traced := 0, true
	for i, in := range body.Inputs {
		p := planned{in: in}
		if in.ObjectWriteTraceID == "" {
			traced = false
		}
		props, err := stringProps(in.Properties)
		switch {
		case err != nil:
			p.err = &inputError{status: 400, category: "VALIDATION_ERROR", message: err.Error()}
		case op == "update":
			rec, ok := s.table(object)[in.ID]
			if !ok {
				p.err = &inputError{status: 404, category: "OBJECT_NOT_FOUND", message: fmt.Sprintf("Object %s not found", in.ID)}
				break
			}
			p.rec = rec
		case op == "upsert":
			if strings.TrimSpace(in.ID) == "" {
				p.err = &inputError{status: 400, category: "VALIDATION_ERROR", property: idProp, message: "id must not be empty"}
				break
			}
			if id, ok := s.owner(object, idProp, in.ID); ok {
				p.rec = s.tables[object][id]
			} else if idProp != "hs_object_id" {
				if _, given := props[idProp]; !given {
					props[idProp] = in.ID
				}
			} else {
				p.err = &inputError{status: 404, category: "OBJECT_NOT_FOUND", message: fmt.Sprintf("Object %s not found", in.ID)}
			}
		}
		p.props = props
		if p.err == nil {
			p.err = s.validate(object, props)
		}
		if p.err == nil {
			self := ""
			if p.rec != nil {
				self = p.rec.id
			}
			p.err = s.conflict(object, props, self, c)
		}
		if p.err != nil {
			failed++
		}
		plans[i] = p
	}
	if failed > 0 && (s.opts.NoMultiStatus || (op == "create" && !traced)) {
		s.mu.Unlock()
		var first *inputError
		var details []errorDetail
		for i, p := range plans {
			if p.err == nil {
				continue
			}
			if first == nil {
				first = p.err
			}
			d := errorDetail{Message: fmt.Sprintf("input %d: %s", i, p.err.message), Code: p.err.code}
			if p.err.property != "" {
				d.Context = map[string][]string{"propertyName": {p.err.property}}
			}
			details = append(details, d)
		}
		status := first.status
		s.writeError(w, status, apiError{Category: first.category, Message: first.message, Errors: details})
		return
	}

	var evs []event
	results := []map[string]any{}
	var errs []apiError
	for _, p := range plans {
		if p.err != nil {
			id := ""
			if op != "create" {
				id = p.in.ID
			}
			errs = append(errs, p.err.body(p.in.ObjectWriteTraceID, id))
			continue
		}
		created := p.rec == nil
		rec := p.rec
		if created {
			var e []event
			rec, e = s.create(object, p.props, "INTEGRATION")
			evs = append(evs, e...)
		} else {
			evs = append(evs, s.update(object, rec, p.props, "INTEGRATION")...)
		}
		names := make([]string, 0, len(p.props))
		for k := range p.props {
			names = append(names, k)
		}
		out := s.render(object, rec, names)
		if op == "upsert" {
			out["new"] = created
		}
		if p.in.ObjectWriteTraceID != "" && !s.opts.NoTraceIDInResults {
			out["objectWriteTraceId"] = p.in.ObjectWriteTraceID
		}
		results = append(results, out)
	}
	s.mu.Unlock()
	s.send(evs)

	resp := batchAnswer(results, started)
	status := http.StatusOK
	if op == "create" {
		status = http.StatusCreated
	}
	if len(errs) > 0 {
		status = http.StatusMultiStatus
		resp["numErrors"] = len(errs)
		resp["errors"] = errs
	}
	writeJSON(w, status, resp)
}

// The single-object endpoints, for curl in the demo, and the list.

// list answers GET {object}: a page of the records in id order, limit 1 to 100 (default
// 10) [INF: 100 is the page size HubSpot's own client pages with, PAGE_MAX_SIZE in
// hubspot-api-python utils/objects.py], archived=true for the archived list (archive.go).
// paging.next.after is "the paging cursor token of the last successfully read resource"
// [doc: https://developers.hubspot.com/docs/api-reference/latest/crm/objects/companies/get-companies]:
// the fake's token is the last id of the page and the next page starts after that id, so
// records created or archived between pages neither shift nor repeat the others.
func (s *Server) list(w http.ResponseWriter, r *http.Request, object string) {
	q := r.URL.Query()
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			s.badRequest(w, "limit must be between 1 and 100; got %q", v)
			return
		}
		limit = n
	}
	after := q.Get("after")
	if after != "" && !idPattern.MatchString(after) {
		s.badRequest(w, "after %q is not a paging cursor", after)
		return
	}
	archived := false
	if v := q.Get("archived"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.badRequest(w, "archived must be true or false; got %q", v)
			return
		}
		archived = b
	}
	props := splitProps(q.Get("properties"))
	s.mu.Lock()
	recs := s.listed(object, archived)
	start := 0
	if after != "" {
		start = sort.Search(len(recs), func(i int) bool { return idLess(after, recs[i].id) })
	}
	end := min(start+limit, len(recs))
	results := []map[string]any{}
	for _, rec := range recs[start:end] {
		if archived {
			results = append(results, s.renderArchived(object, rec, props))
		} else {
			results = append(results, s.render(object, rec, props))
		}
	}
	s.mu.Unlock()
	resp := map[string]any{"results": results}
	if end < len(recs) {
		next := recs[end-1].id
		link := "?after=" + next
		if archived {
			link += "&archived=true"
		}
		resp["paging"] = map[string]any{"next": map[string]any{"after": next, "link": link}}
	}
	writeJSON(w, http.StatusOK, resp)
}

func splitProps(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (s *Server) getOne(w http.ResponseWriter, r *http.Request, object, id string) {
	archived := r.URL.Query().Get("archived") == "true"
	s.mu.Lock()
	var rec *record
	var ok bool
	var out map[string]any
	if archived {
		s.purgeArchived(object)
		if rec, ok = s.archived[object][id]; ok {
			out = s.renderArchived(object, rec, splitProps(r.URL.Query().Get("properties")))
		}
	} else if rec, ok = s.tables[object][id]; ok {
		out = s.render(object, rec, splitProps(r.URL.Query().Get("properties")))
	}
	s.mu.Unlock()
	if !ok {
		s.writeError(w, http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: "resource not found"})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// oneBody is the body of a single-object create or update.
type oneBody struct {
	Properties map[string]any `json:"properties"`
}

func (s *Server) readOne(w http.ResponseWriter, r *http.Request, object string) (map[string]string, bool) {
	var body oneBody
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		s.badRequest(w, "Invalid input JSON: %v", err)
		return nil, false
	}
	props, err := stringProps(body.Properties)
	if err != nil {
		s.badRequest(w, "%v", err)
		return nil, false
	}
	if e := s.validate(object, props); e != nil {
		s.writeError(w, e.status, e.body("", ""))
		return nil, false
	}
	return props, true
}

func (s *Server) createOne(w http.ResponseWriter, r *http.Request, object string) {
	props, ok := s.readOne(w, r, object)
	if !ok {
		return
	}
	s.mu.Lock()
	if e := s.conflict(object, props, "", claims{}); e != nil {
		s.mu.Unlock()
		s.writeError(w, e.status, e.body("", ""))
		return
	}
	rec, evs := s.create(object, props, "INTEGRATION")
	out := s.render(object, rec, sortedKeys(props))
	s.mu.Unlock()
	s.send(evs)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) updateOne(w http.ResponseWriter, r *http.Request, object, id string) {
	props, ok := s.readOne(w, r, object)
	if !ok {
		return
	}
	s.mu.Lock()
	rec, found := s.tables[object][id]
	if !found {
		s.mu.Unlock()
		s.writeError(w, http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: "resource not found"})
		return
	}
	if e := s.conflict(object, props, id, claims{}); e != nil {
		s.mu.Unlock()
		s.writeError(w, e.status, e.body("", ""))
		return
	}
	evs := s.update(object, rec, props, "INTEGRATION")
	out := s.render(object, rec, sortedKeys(props))
	s.mu.Unlock()
	s.send(evs)
	writeJSON(w, http.StatusOK, out)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
