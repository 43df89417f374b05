package salesloft

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"tandem/connectors"
)

// Get implements connectors.Connector: GET /v2/accounts?ids[]=…, 100 ids per request.
// Ids that are not numbers name no Salesloft account and are left out without asking.
func (c *Connector) Get(ctx context.Context, object string, ids []string) ([]connectors.Record, error) {
	if err := checkObject("get", object); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("salesloft get %s: %w", object, err)
	}
	var want []string
	seen := map[string]bool{}
	for _, id := range ids {
		if _, err := strconv.ParseInt(id, 10, 64); err == nil && !seen[id] {
			seen[id] = true
			want = append(want, id)
		}
	}
	out := make([]connectors.Record, 0, len(want))
	for _, chunk := range chunks(want, maxPerPage) {
		recs, err := c.listAll(ctx, url.Values{"ids[]": chunk})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if seen[r.ID] { // what was asked for, once
				seen[r.ID] = false
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// Find implements connectors.Connector for the fields Salesloft filters accounts by:
// "domain" and "crm_id". Matches are checked here as well, so a filter the service
// ignored cannot return strangers: crm_id exactly, domain without regard to case
// (Salesloft keeps domains lowercase [3p]).
//
// crm_id[] takes many values, 100 per request. The domain filter is documented as one
// value (domain=acme.com [3p]), so by default each domain is one request; the
// domain_filter setting "array" sends up to 100 per request as domain[] [INF].
func (c *Connector) Find(ctx context.Context, object, field string, values []string) (map[string][]connectors.Record, error) {
	if err := checkObject("find", object); err != nil {
		return nil, err
	}
	if err := checkKey("find", field); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("salesloft find %s by %s: %w", object, field, err)
	}
	values = distinct(values)
	recs, err := c.lookup(ctx, field, values)
	if err != nil {
		return nil, err
	}
	out := map[string][]connectors.Record{}
	for _, v := range values {
		for _, r := range recs {
			if matches(field, r, v) {
				out[v] = append(out[v], r)
			}
		}
	}
	return sortByID(out), nil
}

// FindNormalized implements connectors.NormalizingFinder: a record matches a value when
// normalize of its field equals it. For domains it asks for each value and its "www."
// form (Salesloft keeps domains lowercase, so case needs no variants), which finds
// "WWW.Acme.com" for "acme.com". A domain stored with a scheme or a path is not found:
// the filter matches whole domains only. For crm_id it asks for the values as given.
func (c *Connector) FindNormalized(ctx context.Context, object, field string, values []string, n connectors.KeyNormalizer) (map[string][]connectors.Record, error) {
	normalize := n.Apply
	if normalize == nil {
		return c.Find(ctx, object, field, values)
	}
	if err := checkObject("find", object); err != nil {
		return nil, err
	}
	if err := checkKey("find", field); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("salesloft find %s by %s: %w", object, field, err)
	}
	values = distinct(values)
	want := make(map[string]bool, len(values))
	query := make([]string, 0, 2*len(values))
	for _, v := range values {
		want[v] = true
		query = append(query, v)
		if field == "domain" && !strings.HasPrefix(strings.ToLower(v), "www.") {
			query = append(query, "www."+v)
		}
	}
	recs, err := c.lookup(ctx, field, distinct(query))
	if err != nil {
		return nil, err
	}
	out := map[string][]connectors.Record{}
	for _, r := range recs {
		v, ok := r.Value(field)
		if !ok || v == nil {
			continue
		}
		if k := normalize(connectors.KeyString(v)); want[k] {
			out[k] = append(out[k], r)
		}
	}
	return sortByID(out), nil
}

// lookup returns the accounts whose field is one of values, each once.
func (c *Connector) lookup(ctx context.Context, field string, values []string) ([]connectors.Record, error) {
	if field == "domain" {
		// Stored lowercase [3p], so asked for lowercase.
		lower := make([]string, len(values))
		for i, v := range values {
			lower[i] = strings.ToLower(strings.TrimSpace(v))
		}
		values = distinct(lower)
	}
	var queries []url.Values
	switch {
	case field == "domain" && c.opts.DomainFilter == DomainFilterSingle:
		for _, v := range values {
			queries = append(queries, url.Values{"domain": {v}})
		}
	default:
		for _, chunk := range chunks(values, maxPerPage) {
			queries = append(queries, url.Values{field + "[]": chunk})
		}
	}
	var out []connectors.Record
	seen := map[string]bool{}
	for _, q := range queries {
		recs, err := c.listAll(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if !seen[r.ID] {
				seen[r.ID] = true
				out = append(out, r)
			}
		}
	}
	return out, nil
}

func checkKey(op, field string) error {
	if field != "domain" && field != "crm_id" {
		return fmt.Errorf("salesloft %s: accounts cannot be looked up by %q (Salesloft filters accounts by domain or crm_id)", op, field)
	}
	return nil
}

// matches reports whether r's field equals v as the filter compares them.
func matches(field string, r connectors.Record, v string) bool {
	got, ok := r.Value(field)
	if !ok || got == nil {
		return false
	}
	s := connectors.KeyString(got)
	if field == "domain" {
		return strings.EqualFold(s, strings.TrimSpace(v))
	}
	return s == v
}

// distinct returns the non-empty values, each once, in order. An empty value matches
// nothing: a record without the field has no key.
func distinct(values []string) []string {
	out := make([]string, 0, len(values))
	seen := make(map[string]bool, len(values))
	for _, v := range values {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func sortByID(m map[string][]connectors.Record) map[string][]connectors.Record {
	for _, rs := range m {
		sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	}
	return m
}

func chunks[T any](s []T, n int) [][]T {
	var out [][]T
	for len(s) > 0 {
		k := min(n, len(s))
		out = append(out, s[:k])
		s = s[k:]
	}
	return out
}
