package salesloftfake

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"tandem/connectors"
)

// account is one stored account: its own stamps and the writable attributes it was given,
// in canonical form (strings, bools, int64 references, custom fields, tags).
type account struct {
	id       int64
	created  time.Time
	updated  time.Time
	archived *time.Time
	attrs    map[string]any
}

// The writable attributes of an account [3p: the accounts OpenAPI, create and update].
// Others in a request body are ignored, as Rails' strong parameters ignore them [INF].
var stringAttrs = []string{
	"name", "domain", "conversational_name", "description", "phone", "website",
	"linkedin_url", "twitter_handle", "street", "city", "state", "postal_code", "country",
	"locale", "industry", "company_type", "founded", "revenue_range", "size",
	"crm_id_type", "crm_id",
}

// References are written as <name>_id and read back as {"id": n, "_href": ...} objects.
var refAttrs = map[string]string{
	"owner_id":         "owner",
	"company_stage_id": "company_stage",
	"account_tier_id":  "account_tier",
}

// errs collects 422 messages by field.
type errs map[string][]string

func (e errs) add(field, msg string) { e[field] = append(e[field], msg) }

func (e errs) Error() string {
	fields := slices.Sorted(maps.Keys(e))
	parts := make([]string, 0, len(fields))
	for _, f := range fields {
		parts = append(parts, f+" "+strings.Join(e[f], ", "))
	}
	return strings.Join(parts, "; ")
}

// coerce turns a request body into canonical attributes. Strings take numbers and bools
// in their text form (as Rails casts them); anything else of the wrong type is invalid.
func coerce(body map[string]any) (map[string]any, errs) {
	out := map[string]any{}
	bad := errs{}
	for _, k := range stringAttrs {
		v, ok := body[k]
		if !ok {
			continue
		}
		switch x := v.(type) {
		case nil:
			out[k] = nil
		case string:
			out[k] = x
		case float64, bool, json.Number, int, int64:
			out[k] = connectors.KeyString(x)
		default:
			bad.add(k, "is invalid")
		}
	}
	if d, ok := out["domain"].(string); ok {
		// Domains are unique and lowercase [3p: the accounts OpenAPI, domain filter].
		out["domain"] = strings.ToLower(strings.TrimSpace(d))
	}
	if v, ok := body["do_not_contact"]; ok {
		switch x := v.(type) {
		case bool:
			out["do_not_contact"] = x
		case nil:
			out["do_not_contact"] = false
		case string:
			b, err := strconv.ParseBool(x)
			if err != nil {
				bad.add("do_not_contact", "is invalid")
			}
			out["do_not_contact"] = b
		default:
			bad.add("do_not_contact", "is invalid")
		}
	}
	if v, ok := body["archived"]; ok {
		if b, isBool := v.(bool); isBool {
			out["archived"] = b
		} else {
			bad.add("archived", "is invalid")
		}
	}
	for k := range refAttrs {
		v, ok := body[k]
		if !ok {
			continue
		}
		switch x := v.(type) {
		case nil:
			out[k] = nil
		case float64:
			out[k] = int64(x)
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				bad.add(k, "is invalid")
			}
			out[k] = n
		default:
			bad.add(k, "is invalid")
		}
	}
	if v, ok := body["custom_fields"]; ok {
		m, isMap := v.(map[string]any)
		if !isMap && v != nil {
			bad.add("custom_fields", "is invalid")
		}
		cf := map[string]any{}
		for name, val := range m {
			if val == nil {
				cf[name] = nil
			} else {
				cf[name] = connectors.KeyString(val) // custom field values are text
			}
		}
		out["custom_fields"] = cf
	}
	if v, ok := body["tags"]; ok {
		list, isList := v.([]any)
		if !isList && v != nil {
			bad.add("tags", "is invalid")
		}
		tags := []string{}
		for _, t := range list {
			tags = append(tags, connectors.KeyString(t))
		}
		out["tags"] = tags
	}
	if len(bad) > 0 {
		return nil, bad
	}
	return out, nil
}

// validate checks attrs about to be stored on account id (0 for a new one). Callers hold
// s.mu. Name and domain are required on create [INF: the create docs mark name and
// domain required]; a domain with white space in it is invalid; domains are unique per
// team [INF], compared lowercase.
func (s *Server) validate(id int64, attrs map[string]any, creating bool) errs {
	bad := errs{}
	if v, ok := attrs["name"]; ok || creating {
		if str, _ := v.(string); strings.TrimSpace(str) == "" {
			bad.add("name", "can't be blank")
		}
	}
	if v, ok := attrs["domain"]; ok || creating {
		d, _ := v.(string)
		switch {
		case d == "":
			bad.add("domain", "can't be blank")
		case strings.IndexFunc(d, unicode.IsSpace) >= 0:
			bad.add("domain", "is invalid")
		default:
			for oid, a := range s.accounts {
				if oid != id && a.attrs["domain"] == d {
					bad.add("domain", "has already been taken")
					break
				}
			}
		}
	}
	if len(bad) > 0 {
		return bad
	}
	return nil
}

// now stamps a write with Salesloft's precision, microseconds.
func (s *Server) now() time.Time {
	return s.opts.Now().Round(0).Truncate(time.Microsecond)
}

const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

func (s *Server) stamp(t time.Time) string { return t.In(s.opts.Location).Format(timeLayout) }

// view is the account as the API returns it.
func (s *Server) view(a *account) map[string]any {
	out := map[string]any{
		"id":             a.id,
		"created_at":     s.stamp(a.created),
		"updated_at":     s.stamp(a.updated),
		"archived_at":    nil,
		"do_not_contact": false,
		"custom_fields":  map[string]any{},
		"tags":           []string{},
		"counts":         map[string]any{"people": 0},
		"crm_url":        nil,
	}
	if a.archived != nil {
		out["archived_at"] = s.stamp(*a.archived)
	}
	for _, k := range stringAttrs {
		out[k] = nil
		if v, ok := a.attrs[k]; ok {
			out[k] = v
		}
	}
	for k, name := range refAttrs {
		out[name] = nil
		if n, ok := a.attrs[k].(int64); ok {
			out[name] = map[string]any{"id": n, "_href": fmt.Sprintf("https://api.salesloft.com/v2/%ss/%d", hrefKind(name), n)}
		}
	}
	for _, k := range []string{"do_not_contact", "custom_fields", "tags"} {
		if v, ok := a.attrs[k]; ok {
			out[k] = v
		}
	}
	return out
}

func hrefKind(ref string) string {
	if ref == "owner" {
		return "user"
	}
	return ref
}

// apply merges attrs into a and reports whether anything changed. Callers hold s.mu.
func apply(a *account, attrs map[string]any, at time.Time) bool {
	changed := false
	for k, v := range attrs {
		if k == "archived" {
			want := v.(bool)
			if want != (a.archived != nil) {
				changed = true
				if want {
					t := at
					a.archived = &t
				} else {
					a.archived = nil
				}
			}
			continue
		}
		if old, ok := a.attrs[k]; !ok || !reflect.DeepEqual(old, v) {
			a.attrs[k] = v
			changed = true
		}
	}
	return changed
}

func (s *Server) get(w http.ResponseWriter, id int64) {
	s.mu.Lock()
	a, ok := s.accounts[id]
	var v map[string]any
	if ok {
		v = s.view(a)
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": v})
}

func readBody(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "could not read the request body")
		return nil, false
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		writeError(w, http.StatusBadRequest, "the request body is not a JSON object: "+err.Error())
		return nil, false
	}
	return body, true
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	attrs, bad := coerce(body)
	if bad != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"errors": bad})
		return
	}
	s.mu.Lock()
	if bad := s.validate(0, attrs, true); bad != nil {
		s.mu.Unlock()
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"errors": bad})
		return
	}
	a := s.insert(attrs)
	s.stats.Writes++
	v := s.view(a)
	s.mu.Unlock()

	s.notify(EventCreated, v)
	writeJSON(w, http.StatusOK, map[string]any{"data": v})
}

// insert stores a new account. Callers hold s.mu.
func (s *Server) insert(attrs map[string]any) *account {
	s.lastID++
	at := s.now()
	a := &account{id: s.lastID, created: at, updated: at, attrs: map[string]any{}}
	apply(a, attrs, at)
	s.accounts[a.id] = a
	return a
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, id int64) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	v, changed, err := s.edit(id, body)
	var bad errs
	switch {
	case err == errNotFound:
		writeError(w, http.StatusNotFound, "Not Found")
		return
	case asErrs(err, &bad):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"errors": bad})
		return
	}
	if changed {
		s.mu.Lock()
		s.stats.Writes++
		s.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": v})
}

func asErrs(err error, out *errs) bool {
	e, ok := err.(errs)
	if ok {
		*out = e
	}
	return ok
}

var errNotFound = fmt.Errorf("account not found")

// edit applies a change to account id, as a PUT or a user's edit in the app does. An
// edit that changes nothing neither moves updated_at nor sends a webhook [INF: Rails
// skips the UPDATE, its timestamps and its commit callbacks when nothing changed].
func (s *Server) edit(id int64, body map[string]any) (view map[string]any, changed bool, err error) {
	attrs, bad := coerce(body)
	s.mu.Lock()
	a, ok := s.accounts[id]
	if !ok {
		s.mu.Unlock()
		return nil, false, errNotFound
	}
	if bad != nil {
		s.mu.Unlock()
		return nil, false, bad
	}
	if bad := s.validate(id, attrs, false); bad != nil {
		s.mu.Unlock()
		return nil, false, bad
	}
	at := s.now()
	changed = apply(a, attrs, at)
	if changed {
		a.updated = at
	}
	view = s.view(a)
	s.mu.Unlock()

	if changed {
		s.notify(EventUpdated, view)
	}
	return view, changed, nil
}

func (s *Server) delete(w http.ResponseWriter, id int64) {
	if msg, refused := s.refusedDelete(id); refused {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]map[string][]string{"errors": {"base": {msg}}})
		return
	}
	if !s.remove(id) {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	s.mu.Lock()
	s.stats.Writes++
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) remove(id int64) bool {
	s.mu.Lock()
	a, ok := s.accounts[id]
	var v map[string]any
	if ok {
		delete(s.accounts, id)
		v = s.view(a)
	}
	s.mu.Unlock()
	if ok {
		s.notify(EventDeleted, v)
	}
	return ok
}

// Seed stores an account with the given fields, as data the team already had: no webhook
// is sent, nothing is counted, and only the type rules apply (no required or unique
// checks), so tests can set up states the API would refuse. The domain is lowercased as
// Salesloft stores it. It returns the new account's id. It panics on fields of the wrong
// type, a bug in the test.
func (s *Server) Seed(fields map[string]any) string {
	attrs, bad := coerce(fields)
	if bad != nil {
		panic("salesloftfake: Seed: " + bad.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return strconv.FormatInt(s.insert(attrs).id, 10)
}

// Set changes an account as a user editing it in Salesloft would: the fields are
// validated like a PUT, updated_at moves and account_updated is sent (when anything
// changed).
func (s *Server) Set(id string, fields map[string]any) error {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return fmt.Errorf("salesloftfake: account %q: %w", id, errNotFound)
	}
	if _, _, err := s.edit(n, fields); err != nil {
		return fmt.Errorf("salesloftfake: account %s: %w", id, err)
	}
	return nil
}

// SetUpdatedAt sets an account's updated_at (to microseconds), sending nothing, so tests
// can force equal timestamps. It reports whether the account exists.
func (s *Server) SetUpdatedAt(id string, at time.Time) bool {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[n]
	if ok {
		a.updated = at.Round(0).Truncate(time.Microsecond)
	}
	return ok
}

// Delete removes an account as a user would, sending account_deleted. It reports
// whether the account existed.
func (s *Server) Delete(id string) bool {
	n, err := strconv.ParseInt(id, 10, 64)
	return err == nil && s.remove(n)
}

// Records returns every account as the API would return it, sorted by numeric id: ID,
// UpdatedAt, and Fields holding the account's JSON (numbers as float64).
func (s *Server) Records() []connectors.Record {
	s.mu.Lock()
	ids := slices.Sorted(maps.Keys(s.accounts))
	views := make([]map[string]any, len(ids))
	stamps := make([]time.Time, len(ids))
	for i, id := range ids {
		views[i] = s.view(s.accounts[id])
		stamps[i] = s.accounts[id].updated
	}
	s.mu.Unlock()

	out := make([]connectors.Record, len(ids))
	for i, v := range views {
		out[i] = connectors.Record{ID: strconv.FormatInt(ids[i], 10), UpdatedAt: stamps[i].UTC(), Fields: wire(v)}
	}
	return out
}

// Record returns one account as Records does.
func (s *Server) Record(id string) (connectors.Record, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return connectors.Record{}, false
	}
	s.mu.Lock()
	a, ok := s.accounts[n]
	var v map[string]any
	var at time.Time
	if ok {
		v, at = s.view(a), a.updated
	}
	s.mu.Unlock()
	if !ok {
		return connectors.Record{}, false
	}
	return connectors.Record{ID: id, UpdatedAt: at.UTC(), Fields: wire(v)}, true
}

// Len returns how many accounts the fake holds.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.accounts)
}

// wire round-trips v through JSON, so it holds what a client decodes.
func wire(v map[string]any) map[string]any {
	raw, _ := json.Marshal(v)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out
}
