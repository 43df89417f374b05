package hubspotfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Search limits [doc: changelog "expanded filtering" (2024)]: 5 groups, 10 filters per
// group, 25 in all; pages of at most 200 [3p] (default 10 [INF]).
const (
	maxGroups         = 5
	maxFiltersInGroup = 10
	maxFilters        = 25
	maxSearchLimit    = 200
	defaultLimit      = 10
)

type searchFilter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        *string  `json:"value"`
	HighValue    *string  `json:"highValue"`
	Values       []string `json:"values"`

	// lowered is Values lower-cased, for IN and NOT_IN on values that are neither
	// numbers nor dates (see matchFilter); set by compile.
	lowered map[string]bool
}

// compile readies a filter for matching many records.
func (f *searchFilter) compile() {
	if f.Operator != "IN" && f.Operator != "NOT_IN" {
		return
	}
	f.lowered = make(map[string]bool, len(f.Values))
	for _, x := range f.Values {
		f.lowered[strings.ToLower(x)] = true
	}
}

type searchBody struct {
	FilterGroups []struct {
		Filters []searchFilter `json:"filters"`
	} `json:"filterGroups"`
	Sorts      []json.RawMessage `json:"sorts"`
	Properties []string          `json:"properties"`
	Limit      *int              `json:"limit"`
	After      json.RawMessage   `json:"after"`
	Query      string            `json:"query"`
}

// searchSort is one sort rule: {"propertyName","direction"} or the older "-prop" string.
type searchSort struct {
	prop string
	desc bool
}

func parseSort(raw json.RawMessage) (searchSort, error) {
	var obj struct {
		PropertyName string `json:"propertyName"`
		Direction    string `json:"direction"`
	}
	if err := json.Unmarshal(raw, &obj); err == nil && obj.PropertyName != "" {
		switch strings.ToUpper(obj.Direction) {
		case "", "ASCENDING":
			return searchSort{prop: obj.PropertyName}, nil
		case "DESCENDING":
			return searchSort{prop: obj.PropertyName, desc: true}, nil
		default:
			return searchSort{}, fmt.Errorf("sort direction %q is not ASCENDING or DESCENDING", obj.Direction)
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil && strings.TrimPrefix(s, "-") != "" {
		return searchSort{prop: strings.TrimPrefix(s, "-"), desc: strings.HasPrefix(s, "-")}, nil
	}
	return searchSort{}, fmt.Errorf("sort %s is not {\"propertyName\",\"direction\"}", raw)
}

func (s *Server) badRequest(w http.ResponseWriter, format string, args ...any) {
	s.writeError(w, http.StatusBadRequest, apiError{Category: "VALIDATION_ERROR", Message: fmt.Sprintf(format, args...)})
}

// search answers POST {object}/search.
func (s *Server) search(w http.ResponseWriter, r *http.Request, object string) {
	var body searchBody
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&body); err != nil {
		s.badRequest(w, "Invalid input JSON: %v", err)
		return
	}
	limit := defaultLimit
	if body.Limit != nil {
		limit = *body.Limit
	}
	if limit < 0 || limit > maxSearchLimit {
		s.badRequest(w, "limit must be between 0 and %d; got %d", maxSearchLimit, limit)
		return
	}
	after := 0
	if a := strings.Trim(string(bytes.TrimSpace(body.After)), `"`); a != "" && a != "null" {
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 {
			s.badRequest(w, "after %s is not a paging cursor this search returned", body.After)
			return
		}
		after = n
	}
	if s.opts.SearchCap > 0 && after >= s.opts.SearchCap {
		// [3p: a query returns at most 10,000 results; asking for more gives HTTP 400]
		s.badRequest(w, "Search results are limited to %d; after %d is past them. Narrow the search (for example by hs_lastmodifieddate) and page again.",
			s.opts.SearchCap, after)
		return
	}
	if len(body.FilterGroups) > maxGroups {
		s.badRequest(w, "Too many filter groups: %d (the limit is %d)", len(body.FilterGroups), maxGroups)
		return
	}
	total := 0
	for _, g := range body.FilterGroups {
		if len(g.Filters) > maxFiltersInGroup {
			s.badRequest(w, "Too many filters in a group: %d (the limit is %d)", len(g.Filters), maxFiltersInGroup)
			return
		}
		total += len(g.Filters)
		for _, f := range g.Filters {
			if err := s.checkFilter(f); err != nil {
				s.badRequest(w, "%v", err)
				return
			}
		}
	}
	if total > maxFilters {
		s.badRequest(w, "Too many filters: %d (the limit is %d)", total, maxFilters)
		return
	}
	if len(body.Sorts) > 1 {
		s.badRequest(w, "Only one sort is supported; got %d", len(body.Sorts))
		return
	}
	var order *searchSort
	if len(body.Sorts) == 1 {
		o, err := parseSort(body.Sorts[0])
		if err != nil {
			s.badRequest(w, "%v", err)
			return
		}
		order = &o
	}

	for i := range body.FilterGroups {
		for j := range body.FilterGroups[i].Filters {
			body.FilterGroups[i].Filters[j].compile()
		}
	}
	s.mu.Lock()
	var matches []*record
	for _, rec := range s.table(object) {
		if rec = s.searchable(rec); rec != nil && s.matches(object, rec, body) {
			matches = append(matches, rec)
		}
	}
	sort.Slice(matches, func(i, j int) bool {
		if order != nil {
			a, aok := s.value(object, matches[i], order.prop)
			b, bok := s.value(object, matches[j], order.prop)
			if aok != bok {
				return aok // records without the property sort last
			}
			if c := compare(object, order.prop, a, b); c != 0 {
				return (c < 0) != order.desc
			}
			if s.opts.ScrambleTies {
				if a, b := tieRank(matches[i].id), tieRank(matches[j].id); a != b {
					return a < b
				}
			}
		}
		return idLess(matches[i].id, matches[j].id)
	})
	end := min(after+limit, len(matches))
	if s.opts.SearchCap > 0 {
		end = min(end, s.opts.SearchCap)
	}
	results := make([]map[string]any, 0, max(0, end-after))
	for _, rec := range matches[min(after, end):end] {
		results = append(results, s.render(object, rec, body.Properties))
	}
	s.mu.Unlock()

	resp := map[string]any{"total": len(matches), "results": results}
	if end < len(matches) {
		next := strconv.Itoa(end)
		resp["paging"] = map[string]any{"next": map[string]any{"after": next, "link": "?after=" + next}}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) checkFilter(f searchFilter) error {
	if f.PropertyName == "" {
		return fmt.Errorf("a filter has no propertyName")
	}
	if slices.Contains(s.opts.RefusedFilters, f.PropertyName+" "+f.Operator) {
		return fmt.Errorf("operator %s is not supported for property %s", f.Operator, f.PropertyName)
	}
	switch f.Operator {
	case "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN":
		if f.Value == nil {
			return fmt.Errorf("filter on %s with operator %s needs a value", f.PropertyName, f.Operator)
		}
	case "BETWEEN":
		if f.Value == nil || f.HighValue == nil {
			return fmt.Errorf("filter on %s with operator BETWEEN needs value and highValue", f.PropertyName)
		}
	case "IN", "NOT_IN":
		if len(f.Values) == 0 {
			return fmt.Errorf("filter on %s with operator %s needs values", f.PropertyName, f.Operator)
		}
		if s.opts.MaxINValues > 0 && len(f.Values) > s.opts.MaxINValues {
			return fmt.Errorf("filter on %s has %d values; the limit is %d", f.PropertyName, len(f.Values), s.opts.MaxINValues)
		}
	case "HAS_PROPERTY", "NOT_HAS_PROPERTY":
	default:
		return fmt.Errorf("unknown operator %q", f.Operator)
	}
	return nil
}

// matches reports whether a record matches a search: any group (ORed), all of its
// filters (ANDed); no groups match everything. The free-text query matches name, domain,
// email, firstname or lastname containing it.
func (s *Server) matches(object string, rec *record, body searchBody) bool {
	if q := strings.ToLower(strings.TrimSpace(body.Query)); q != "" {
		hit := false
		for _, p := range []string{"name", "domain", "email", "firstname", "lastname"} {
			if strings.Contains(strings.ToLower(rec.props[p]), q) {
				hit = true
			}
		}
		if !hit {
			return false
		}
	}
	if len(body.FilterGroups) == 0 {
		return true
	}
	for _, g := range body.FilterGroups {
		all := true
		for _, f := range g.Filters {
			if !s.matchFilter(object, rec, f) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// matchFilter applies one filter. Strings compare without regard to case [INF: HubSpot's
// search is case-blind for EQ and IN]; dates (createdate and the modified date) compare as
// epoch ms, given as ms or ISO 8601; numbers compare as numbers.
func (s *Server) matchFilter(object string, rec *record, f searchFilter) bool {
	v, has := s.value(object, rec, f.PropertyName)
	val := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	switch f.Operator {
	case "HAS_PROPERTY":
		return has
	case "NOT_HAS_PROPERTY":
		return !has
	case "EQ":
		return has && compare(object, f.PropertyName, v, val(f.Value)) == 0
	case "NEQ":
		return !has || compare(object, f.PropertyName, v, val(f.Value)) != 0
	case "IN", "NOT_IN":
		if f.lowered != nil && has && !numeric(object, f.PropertyName, v) {
			// A stored value that is neither a number nor a date compares as a string
			// with every filter value.
			return f.lowered[strings.ToLower(v)] == (f.Operator == "IN")
		}
		in := false
		for _, x := range f.Values {
			if has && compare(object, f.PropertyName, v, x) == 0 {
				in = true
				break
			}
		}
		return in == (f.Operator == "IN")
	case "LT":
		return has && compare(object, f.PropertyName, v, val(f.Value)) < 0
	case "LTE":
		return has && compare(object, f.PropertyName, v, val(f.Value)) <= 0
	case "GT":
		return has && compare(object, f.PropertyName, v, val(f.Value)) > 0
	case "GTE":
		return has && compare(object, f.PropertyName, v, val(f.Value)) >= 0
	case "BETWEEN":
		return has && compare(object, f.PropertyName, v, val(f.Value)) >= 0 && compare(object, f.PropertyName, v, val(f.HighValue)) <= 0
	case "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN":
		token := strings.ToLower(strings.Trim(val(f.Value), "*"))
		hit := has && strings.Contains(strings.ToLower(v), token)
		return hit == (f.Operator == "CONTAINS_TOKEN")
	}
	return false
}

// numeric says whether compare may read a stored value of prop as a number or a date.
func numeric(object, prop, v string) bool {
	if prop == "createdate" || prop == modifiedProperty[object] {
		if _, ok := parseMillis(v); ok {
			return true
		}
	}
	_, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	return err == nil
}

// compare orders a stored value a and a filter value b of property prop.
func compare(object, prop, a, b string) int {
	if prop == "createdate" || prop == modifiedProperty[object] {
		x, okx := parseMillis(a)
		y, oky := parseMillis(b)
		if okx && oky {
			return cmp(x, y)
		}
	}
	if x, err := strconv.ParseFloat(strings.TrimSpace(a), 64); err == nil {
		if y, err := strconv.ParseFloat(strings.TrimSpace(b), 64); err == nil {
			return cmp(x, y)
		}
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

func cmp[T int64 | float64](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// tieRank is where Options.ScrambleTies puts a record among those its search's sort ties:
// a hash of its id, the same for every search.
func tieRank(id string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return h.Sum64()
}
