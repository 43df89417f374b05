package activities

import (
	"fmt"
	"net/url"
	"strings"

	"tandem/connectors"
	"tandem/definition"
	"tandem/pairs"
)

// Payload is the set of mapped fields of one record, under one side's field names, with
// normalizers applied: the thing that is built and compared (the article's "payload").
type Payload map[string]any

// normalizers are applied to both sides before comparing and to the values written, so a
// service that reformats a value on write does not look like a change.
var normalizers = map[string]func(string) string{
	"trim":   strings.TrimSpace,
	"lower":  strings.ToLower,
	"email":  func(s string) string { return strings.ToLower(strings.TrimSpace(s)) },
	"domain": normalizeDomain,
}

// normalizeDomain turns "HTTPS://www.Acme.com/about" into "acme.com".
func normalizeDomain(s string) string {
	if plainDomain(s) {
		return s
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return s
	}
	if strings.Contains(s, "://") {
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			s = u.Host
		}
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		s = s[i+1:]
	}
	if h, _, ok := strings.Cut(s, ":"); ok {
		s = h
	}
	s = strings.TrimSuffix(s, ".")
	return strings.TrimPrefix(s, "www.")
}

// plainDomain reports whether s is a domain as normalizeDomain leaves it: lower-case
// letters, digits, dots and hyphens, with no leading "www." and no trailing dot. Most
// values of a domain field are (every record read, written and compared is normalized).
func plainDomain(s string) bool {
	if s == "" || strings.HasPrefix(s, "www.") || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// normalize applies the named normalizers to a value. Non-string values are left alone
// unless a normalizer is named, in which case their string form is normalized.
func normalize(v any, names []string) any {
	if len(names) == 0 || v == nil {
		return v
	}
	s := connectors.KeyString(v)
	for _, n := range names {
		if f, ok := normalizers[n]; ok {
			s = f(s)
		}
	}
	if in, ok := v.(string); ok && in == s {
		return v // as it was: no new value (a string in an interface is one more allocation)
	}
	return s
}

// equalValues compares two field values the way services round-trip them: a number may
// come back as a string, and a missing value equals an empty one.
func equalValues(a, b any) bool {
	return connectors.KeyString(a) == connectors.KeyString(b)
}

// mapping is a sync's field mapping seen from one side (from) towards the other (to).
type mapping struct {
	sync     *definition.Sync
	from, to *definition.End
	fromName string // "a" or "b"
	toName   string
	// alike is set when every field has one name on both sides and flows from to to, and
	// both sides' key is one field of that name: a payload (outgoing) then holds a
	// record's mapped values under the names they have on both sides (see values). With
	// keys of different names, outgoing may fill the to side's key field from the from
	// side's key, a value the record's own field does not hold.
	alike bool
}

func newMapping(s *definition.Sync, from string) (mapping, error) {
	var m mapping
	switch from {
	case SideA:
		m = mapping{sync: s, from: &s.A, to: &s.B, fromName: SideA, toName: SideB}
	case SideB:
		m = mapping{sync: s, from: &s.B, to: &s.A, fromName: SideB, toName: SideA}
	default:
		return mapping{}, fmt.Errorf("sync %q: unknown side %q (want a or b)", s.Name, from)
	}
	key := false
	m.alike = len(s.Fields) > 0
	for _, f := range s.Fields {
		from, to := m.names(f)
		m.alike = m.alike && from == to && m.flows(f)
		key = key || to == m.to.Key
	}
	m.alike = m.alike && key && m.from.Key == m.to.Key
	return m, nil
}

// values are a record's mapped values (pairs.RecordValues) on side, given p, the payload
// built from it: outgoing's for a record of the from side, current's for one of the to
// side. When the mapping is alike and p holds every field as read, those are p's values
// (the same fields, normalized alike, under the same names), and p is returned: a pair's
// link and its write share one map (neither is changed once built). A payload that left
// a kept blank out (on_empty: keep) does not hold every field as read: its key may stand
// in for one, and is blank then.
func (m mapping) values(side string, r connectors.Record, p Payload) pairs.Values {
	if m.alike && len(p) == len(m.sync.Fields) && !m.keepsABlank(p) {
		return pairs.Values(p)
	}
	return pairs.RecordValues(m.sync, side, r, normalize)
}

// keepsABlank reports whether p holds a blank that a field keeps (one outgoing leaves out).
func (m mapping) keepsABlank(p Payload) bool {
	for _, f := range m.sync.Fields {
		if _, to := m.names(f); f.Keeps(p[to]) {
			return true
		}
	}
	return false
}

// names returns a field's name on the from and to sides.
func (m mapping) names(f definition.Field) (from, to string) {
	if m.fromName == SideA {
		return f.A, f.B
	}
	return f.B, f.A
}

// flows reports whether field f is written in this mapping's direction.
func (m mapping) flows(f definition.Field) bool {
	switch f.Direction {
	case definition.AToB:
		return m.fromName == SideA
	case definition.BToA:
		return m.fromName == SideB
	}
	return true
}

// keyNormalizers are the normalizers of the field that maps the two keys, if any, so a
// key is matched in the same form it is compared in.
func (m mapping) keyNormalizers() []string {
	for _, f := range m.sync.Fields {
		if from, to := m.names(f); from == m.from.Key && to == m.to.Key {
			return f.Normalize
		}
	}
	return nil
}

// fromKeyNormalizer normalizes a from-side key value as the sync compares keys; its Apply
// is nil when the keys are compared as they are.
func (m mapping) fromKeyNormalizer() connectors.KeyNormalizer {
	names := m.keyNormalizers()
	if len(names) == 0 {
		return connectors.KeyNormalizer{}
	}
	return connectors.KeyNormalizer{Name: strings.Join(names, ","),
		Apply: func(v string) string { return connectors.KeyString(normalize(v, names)) }}
}

// keyOf returns the normalized key of a record of the from side ("" if it has none).
func (m mapping) keyOf(r connectors.Record) string {
	v, _ := r.Value(m.from.Key)
	return connectors.KeyString(normalize(v, m.keyNormalizers()))
}

// outgoing builds the payload a from-side record asks the to side to hold, under the to
// side's field names. The to side's key is always part of it, so a created record is
// found by its key next time. A blank value the field keeps (on_empty: keep) is left
// out: it is neither written nor compared.
func (m mapping) outgoing(r connectors.Record) Payload {
	p := Payload{}
	for _, f := range m.sync.Fields {
		if !m.flows(f) {
			continue
		}
		from, to := m.names(f)
		v, _ := r.Value(from)
		if v = normalize(v, f.Normalize); !f.Keeps(v) {
			p[to] = v
		}
	}
	if _, ok := p[m.to.Key]; !ok {
		p[m.to.Key] = m.keyOf(r)
	}
	return p
}

// current builds the payload a to-side record holds now, over the same fields as
// outgoing, under the to side's names.
func (m mapping) current(r connectors.Record) Payload {
	p := Payload{}
	for _, f := range m.sync.Fields {
		if !m.flows(f) {
			continue
		}
		_, to := m.names(f)
		v, _ := r.Value(to)
		p[to] = normalize(v, f.Normalize)
	}
	if _, ok := p[m.to.Key]; !ok {
		v, _ := r.Value(m.to.Key)
		p[m.to.Key] = connectors.KeyString(normalize(v, m.keyNormalizers()))
	}
	return p
}

// diff returns the fields of want that have differs from, or nil when they are equal.
func diff(want, have Payload) Payload {
	var d Payload
	for k, v := range want {
		if !equalValues(v, have[k]) {
			if d == nil {
				d = Payload{}
			}
			d[k] = v
		}
	}
	return d
}

// projectFields lists the fields of a side a sync reads, so activities return only those
// (history stays small).
func projectFields(s *definition.Sync, side string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(f string) {
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sd := s.A
	if side == SideB {
		sd = s.B
	}
	add(sd.Key)
	for _, f := range s.Fields {
		if side == SideA {
			add(f.A)
		} else {
			add(f.B)
		}
	}
	return out
}

// project returns r with only the named fields.
func project(r connectors.Record, fields []string) connectors.Record {
	out := connectors.Record{ID: r.ID, UpdatedAt: r.UpdatedAt, Fields: make(map[string]any, len(fields))}
	for _, f := range fields {
		if v, ok := r.Fields[f]; ok {
			out.Fields[f] = v
		}
	}
	return out
}
