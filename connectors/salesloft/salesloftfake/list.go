package salesloftfake

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// listValues returns a filter's values, given as name[]=a&name[]=b or name=a (both are
// accepted; Salesloft documents domain as a single value and ids, crm_id as arrays [3p]).
func listValues(q url.Values, name string) ([]string, bool) {
	vals := append(append([]string(nil), q[name+"[]"]...), q[name]...)
	_, arr := q[name+"[]"]
	_, one := q[name]
	return vals, arr || one
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filtering := map[string]any{}
	var keep []func(a *account) bool

	if vals, ok := listValues(q, "ids"); ok {
		want := map[int64]bool{}
		for _, v := range vals {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				want[n] = true
			}
		}
		filtering["ids"] = vals
		keep = append(keep, func(a *account) bool { return want[a.id] })
	}
	if vals, ok := listValues(q, "crm_id"); ok {
		want := map[string]bool{}
		for _, v := range vals {
			want[v] = true
		}
		filtering["crm_id"] = vals
		keep = append(keep, func(a *account) bool {
			id, _ := a.attrs["crm_id"].(string)
			return id != "" && want[id]
		})
	}
	if vals, ok := listValues(q, "domain"); ok {
		want := map[string]bool{}
		for _, v := range vals {
			want[strings.ToLower(strings.TrimSpace(v))] = true
		}
		filtering["domain"] = vals
		keep = append(keep, func(a *account) bool {
			d, _ := a.attrs["domain"].(string)
			return d != "" && want[d]
		})
	}
	// updated_at[gt|gte|lt|lte] and created_at[...] take ISO 8601 times [3p: the accounts
	// OpenAPI lists both].
	for _, field := range []string{"updated_at", "created_at"} {
		stampFilter := map[string]string{}
		for _, op := range []string{"gt", "gte", "lt", "lte"} {
			raw := q.Get(field + "[" + op + "]")
			if raw == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339Nano, raw)
			if err != nil {
				writeInvalid(w, field, "is not an iso8601 timestamp")
				return
			}
			stampFilter[op] = raw
			stamp := func(a *account) time.Time { return a.updated }
			if field == "created_at" {
				stamp = func(a *account) time.Time { return a.created }
			}
			keep = append(keep, func(a *account) bool {
				switch at := stamp(a); op {
				case "gt":
					return at.After(t)
				case "gte":
					return !at.Before(t)
				case "lt":
					return at.Before(t)
				default:
					return !at.After(t)
				}
			})
		}
		if len(stampFilter) > 0 {
			filtering[field] = stampFilter
		}
	}
	// archived=true keeps archived accounts, false the others; without it, both [3p: the
	// accounts OpenAPI lists the filter; INF: what it does, from its name and archived_at].
	if v := q.Get("archived"); v != "" {
		want, err := strconv.ParseBool(v)
		if err != nil {
			writeInvalid(w, "archived", "is not a boolean")
			return
		}
		filtering["archived"] = want
		keep = append(keep, func(a *account) bool { return (a.archived != nil) == want })
	}

	// Defaults and corrections as the list docs give them: sort by updated_at, DESC; 25
	// per page, corrected into 1..100 and echoed back; pages from 1 [3p].
	sortBy := q.Get("sort_by")
	if sortBy == "" {
		sortBy = "updated_at"
	}
	if sortBy != "updated_at" && sortBy != "created_at" && sortBy != "name" {
		writeInvalid(w, "sort_by", "is not included in the list")
		return
	}
	dir := strings.ToUpper(q.Get("sort_direction"))
	if dir != "ASC" {
		dir = "DESC"
	}
	perPage := 25
	if v := q.Get("per_page"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			perPage = min(max(n, 1), 100)
		}
	}
	page := pageParam(q)

	s.mu.Lock()
	matched := make([]*account, 0, len(s.accounts))
	for _, a := range s.accounts {
		ok := true
		for _, f := range keep {
			if !f(a) {
				ok = false
				break
			}
		}
		if ok {
			matched = append(matched, a)
		}
	}
	// Salesloft sorts by the sort key only; equal keys come back in an order of its own
	// choosing. The fake breaks ties by numeric id, which differs from the string order
	// Tandem's cursors use once ids reach two digits, so clients must order ties
	// themselves.
	slices.SortFunc(matched, func(a, b *account) int {
		c := compareKey(a, b, sortBy)
		if c == 0 {
			c = cmpInt(a.id, b.id)
		}
		if dir == "DESC" {
			c = -c
		}
		return c
	})
	total := len(matched)
	start := min((page-1)*perPage, total)
	end := min(start+perPage, total)
	data := make([]map[string]any, 0, end-start)
	for _, a := range matched[start:end] {
		data = append(data, s.view(a))
	}
	s.mu.Unlock()

	paging := map[string]any{
		"per_page":     perPage,
		"current_page": page,
		"next_page":    nil,
		"prev_page":    nil,
		"total_pages":  nil,
		"total_count":  nil,
	}
	if end < total {
		paging["next_page"] = page + 1
	}
	if page > 1 {
		paging["prev_page"] = page - 1
	}
	// Totals only on request [INF: include_paging_counts defaults to false].
	if q.Get("include_paging_counts") == "true" {
		paging["total_count"] = total
		paging["total_pages"] = (total + perPage - 1) / perPage
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"data": data,
		"metadata": map[string]any{
			"filtering": filtering,
			"paging":    paging,
			"sorting":   map[string]any{"sort_by": sortBy, "sort_direction": dir},
		},
	})
}

func compareKey(a, b *account, key string) int {
	switch key {
	case "created_at":
		return a.created.Compare(b.created)
	case "name":
		an, _ := a.attrs["name"].(string)
		bn, _ := b.attrs["name"].(string)
		return strings.Compare(an, bn)
	default:
		return a.updated.Compare(b.updated)
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
