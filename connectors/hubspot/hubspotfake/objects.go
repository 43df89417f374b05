package hubspotfake

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// value returns a record's property as searches compare it: hs_object_id is the id,
// createdate and the modified date are epoch ms. ok is false when it has no value.
func (s *Server) value(object string, r *record, prop string) (string, bool) {
	switch prop {
	case "hs_object_id":
		return r.id, true
	case "createdate":
		return strconv.FormatInt(r.created.UnixMilli(), 10), true
	case modifiedProperty[object]:
		return strconv.FormatInt(r.modified.UnixMilli(), 10), true
	}
	v, ok := r.props[prop]
	return v, ok && v != ""
}

// render returns a record as the API returns it (SimplePublicObject): the requested
// properties (null when unset, the object's defaults when none are requested), plus
// hs_object_id, createdate and the modified date, which HubSpot always includes.
func (s *Server) render(object string, r *record, props []string) map[string]any {
	if len(props) == 0 {
		props = defaultProperties[object]
	}
	p := make(map[string]any, len(props)+3)
	for _, name := range props {
		if !s.readable(object, name) {
			continue // a property the object does not have
		}
		if v, ok := r.props[name]; ok {
			p[name] = v
		} else {
			p[name] = nil
		}
	}
	p["hs_object_id"] = r.id
	p["createdate"] = isoMillis(r.created)
	p[modifiedProperty[object]] = isoMillis(r.modified)
	return map[string]any{
		"id":         r.id,
		"properties": p,
		"createdAt":  isoMillis(r.created),
		"updatedAt":  isoMillis(r.modified),
		"archived":   false,
	}
}

// inputError is why one input of a write is refused.
type inputError struct {
	status   int // of a single-object answer
	category string
	code     string
	property string
	message  string
}

func (e *inputError) body(trace, id string) apiError {
	out := apiError{Status: "error", Category: e.category, Message: e.message}
	if e.code != "" || e.property != "" {
		d := errorDetail{Message: e.message, Code: e.code}
		if e.property != "" {
			d.Context = map[string][]string{"propertyName": {e.property}}
		}
		out.Errors = []errorDetail{d}
	}
	switch {
	case trace != "":
		out.Context = map[string][]string{"objectWriteTraceId": {trace}}
	case id != "":
		out.Context = map[string][]string{"ids": {id}}
	}
	return out
}

func invalidProperty(code, property, message string) *inputError {
	detail, _ := json.Marshal([]map[string]any{{"isValid": false, "message": message, "error": code, "name": property}})
	return &inputError{
		status:   400,
		category: "VALIDATION_ERROR",
		code:     code,
		property: property,
		message:  "Property values were not valid: " + string(detail),
	}
}

var (
	internalName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	readOnly     = map[string]bool{"hs_object_id": true, "createdate": true, "hs_lastmodifieddate": true, "lastmodifieddate": true}
)

// validate applies the fake's validation rules to the properties of a write. They are
// simple on purpose, enough for tests to make a record fail:
//   - a property name must be an internal name (lower-case letters, digits, _) of a
//     property the object has (properties.go): others "do not exist"
//     (PROPERTY_DOESNT_EXIST);
//   - hs_object_id, createdate and the modified dates are read-only (READ_ONLY_VALUE);
//   - a domain may not contain white space (INVALID_DOMAIN);
//   - a non-empty email must have an @ and no white space (INVALID_EMAIL);
//   - then Options.Validate, if set (VALIDATION_ERROR).
func (s *Server) validate(object string, props map[string]string) *inputError {
	for _, name := range sortedKeys(props) {
		v := props[name]
		switch {
		case !internalName.MatchString(name) || s.propertyMissing(object, name):
			return invalidProperty("PROPERTY_DOESNT_EXIST", name, fmt.Sprintf("Property %q does not exist", name))
		case readOnly[name]:
			return invalidProperty("READ_ONLY_VALUE", name, fmt.Sprintf("%s is a read only property; its value cannot be set.", name))
		case name == "domain" && strings.ContainsAny(v, " \t\r\n"):
			return invalidProperty("INVALID_DOMAIN", name, fmt.Sprintf("%q is not a valid domain", v))
		case name == "email" && v != "" && (!strings.Contains(v, "@") || strings.ContainsAny(v, " \t\r\n")):
			return invalidProperty("INVALID_EMAIL", name, fmt.Sprintf("Email address %s is invalid", v))
		}
	}
	if s.opts.Validate != nil {
		if prop, msg := s.opts.Validate(object, props); msg != "" {
			return invalidProperty("INVALID_OPTION", prop, msg)
		}
	}
	return nil
}

// uniqueKey is how unique values are compared: without case and surrounding space.
func uniqueKey(v string) string { return strings.ToLower(strings.TrimSpace(v)) }

func (s *Server) uniqueProps(object string) []string { return s.opts.UniqueProperties[object] }

// owner returns the id of the record whose unique property prop holds value, if any.
func (s *Server) owner(object, prop, value string) (string, bool) {
	k := uniqueKey(value)
	if k == "" {
		return "", false
	}
	if prop == "hs_object_id" {
		_, ok := s.table(object)[value]
		return value, ok
	}
	for id, r := range s.table(object) {
		if uniqueKey(r.props[prop]) == k {
			return id, true
		}
	}
	return "", false
}

// claims tracks unique values claimed by the inputs of one batch before they are written.
type claims map[string]string // prop + "\x00" + uniqueKey(value) -> claiming record ("" = new)

// conflict checks the unique properties of a write to record self ("" for a new one)
// against the stored records and the batch's earlier inputs.
func (s *Server) conflict(object string, props map[string]string, self string, c claims) *inputError {
	for _, p := range s.uniqueProps(object) {
		v, ok := props[p]
		if !ok || uniqueKey(v) == "" {
			continue
		}
		key := p + "\x00" + uniqueKey(v)
		if id, taken := s.owner(object, p, v); taken && id != self {
			return &inputError{status: 409, category: "CONFLICT", property: p,
				message: fmt.Sprintf("%s already exists. Existing ID: %s", singular(object), id)}
		}
		if other, taken := c[key]; taken && (other != self || self == "") {
			return &inputError{status: 409, category: "CONFLICT", property: p,
				message: fmt.Sprintf("%s with %s %s is written twice in one batch", singular(object), p, v)}
		}
		c[key] = self
	}
	return nil
}

func singular(object string) string {
	switch object {
	case "companies":
		return "Company"
	case "contacts":
		return "Contact"
	}
	return object
}

// create stores a new record; callers hold s.mu and have validated props.
func (s *Server) create(object string, props map[string]string, source string) (*record, []event) {
	s.defineSeen(object, props)
	now := s.now()
	r := &record{id: s.newID(), props: map[string]string{}, created: now, modified: now}
	for k, v := range props {
		if v != "" {
			r.props[k] = v
		}
	}
	s.tables[object][r.id] = r
	s.indexWrite(r)
	s.stats.Writes++
	return r, []event{s.event(object, "creation", r.id, source, "", "")}
}

// update changes a record's properties ("" clears one); callers hold s.mu and have
// validated props. The modified date moves and events are made only for values that
// change [INF: a write that changes nothing leaves the record as it was].
func (s *Server) update(object string, r *record, props map[string]string, source string) []event {
	s.defineSeen(object, props)
	var evs []event
	for _, k := range sortedKeys(props) {
		v := props[k]
		if r.props[k] == v {
			continue
		}
		if v == "" {
			delete(r.props, k)
		} else {
			r.props[k] = v
		}
		evs = append(evs, s.event(object, "propertyChange", r.id, source, k, v))
	}
	if len(evs) > 0 {
		r.modified = s.now()
		s.indexWrite(r)
		s.stats.Writes++
	}
	return evs
}

// stringProps converts JSON property values to the strings HubSpot stores.
func stringProps(in map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(in))
	for k, v := range in {
		switch x := v.(type) {
		case nil:
			out[k] = ""
		case string:
			out[k] = x
		case bool:
			out[k] = strconv.FormatBool(x)
		case float64:
			out[k] = strconv.FormatFloat(x, 'f', -1, 64)
		case json.Number:
			out[k] = x.String()
		default:
			return nil, fmt.Errorf("property %s: a value must be a string, number or boolean", k)
		}
	}
	return out, nil
}

// parseMillis reads a date filter value: epoch ms or ISO 8601.
func parseMillis(v string) (int64, bool) {
	if ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		return ms, true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
			return t.UnixMilli(), true
		}
	}
	return 0, false
}
