package hubspot

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"tandem/connectors"
)

// Get implements connectors.Connector with POST {prefix}/{object}/batch/read, up to
// MaxBatch ids per call. Ids that do not exist come back as OBJECT_NOT_FOUND errors of a
// 207 and are left out; ids that are not numbers cannot be HubSpot ids and are left out
// without asking. Records are returned in the order of ids, each once.
func (c *Client) Get(ctx context.Context, object string, ids []string) ([]connectors.Record, error) {
	o, err := c.object(object)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hubspot get %s: %w", object, err)
	}
	var uniq []string
	for _, id := range ids {
		if isNumber(id) && !slices.Contains(uniq, id) {
			uniq = append(uniq, id)
		}
	}
	props := c.properties(o)
	byID := make(map[string]connectors.Record, len(uniq))
	for start := 0; start < len(uniq); start += MaxBatch {
		chunk := uniq[start:min(start+MaxBatch, len(uniq))]
		req := batchRequest{Inputs: make([]batchInput, len(chunk)), Properties: props}
		for i, id := range chunk {
			req.Inputs[i] = batchInput{ID: id}
		}
		var resp batchResponse
		if _, err := c.do(ctx, "POST", c.path(o, "batch/read"), false, req, &resp); err != nil {
			return nil, err
		}
		for _, e := range resp.Errors {
			if e.Category != "OBJECT_NOT_FOUND" {
				return nil, fmt.Errorf("hubspot POST %s: reading %d records: %s", c.path(o, "batch/read"), len(chunk), e.describe())
			}
		}
		for _, obj := range resp.Results {
			r, err := record(o, obj)
			if err != nil {
				return nil, err
			}
			byID[r.ID] = r
		}
	}
	out := make([]connectors.Record, 0, len(byID))
	for _, id := range uniq {
		if r, ok := byID[id]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Find implements connectors.Connector: a search with an IN filter on the property, the
// values split over up to five ORed filter groups per call and search_in_values values
// per filter, paged when more than a page matches. HubSpot's IN matches strings without
// regard to case [INF]; the values are sent as given and lower-cased (so either reading
// finds them) and the results are then kept only where the property equals the value
// exactly, as the contract says. The field "id" searches hs_object_id.
func (c *Client) Find(ctx context.Context, object, field string, values []string) (map[string][]connectors.Record, error) {
	return c.find(ctx, object, field, values, nil)
}

// FindNormalized implements connectors.NormalizingFinder. HubSpot cannot compare in
// normalized form, so for each value the search asks for the stored forms that normalize
// to it: the find_variants templates over {v} (default "{v},www.{v}"; add
// "http://{v},https://{v},https://www.{v}" where domains are stored as URLs), keeping
// only the variants that normalize back to the value (so the www. form is not asked for
// an email), each as given and lower-cased. Case is left to HubSpot's case-blind IN
// [INF]. A record is then kept for a value when normalize of its stored property equals
// the value, so "WWW.Acme.com" is found for "acme.com" and "acme.com.au" is not.
func (c *Client) FindNormalized(ctx context.Context, object, field string, values []string, normalize connectors.KeyNormalizer) (map[string][]connectors.Record, error) {
	return c.find(ctx, object, field, values, normalize.Apply)
}

func (c *Client) find(ctx context.Context, object, field string, values []string, normalize func(string) string) (map[string][]connectors.Record, error) {
	o, err := c.object(object)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hubspot find %s by %s: %w", object, field, err)
	}
	prop := field
	if strings.EqualFold(field, "id") {
		prop = "hs_object_id"
	}
	want := map[string]bool{}
	var candidates []string
	addCandidate := func(s string) {
		for _, v := range []string{s, strings.ToLower(s)} {
			if v != "" && !slices.Contains(candidates, v) {
				candidates = append(candidates, v)
			}
		}
	}
	for _, v := range values {
		if v == "" || want[v] {
			continue
		}
		want[v] = true
		addCandidate(v)
		if normalize != nil {
			for _, tmpl := range c.cfg.FindVariants {
				if cand := strings.ReplaceAll(tmpl, "{v}", v); normalize(cand) == v {
					addCandidate(cand)
				}
			}
		}
	}
	out := map[string][]connectors.Record{}
	if len(want) == 0 {
		return out, nil
	}
	keyOf := func(r connectors.Record) (string, bool) {
		stored := connectors.KeyString(r.Fields[prop])
		if prop == "hs_object_id" && stored == "" {
			stored = r.ID
		}
		if normalize != nil {
			stored = normalize(stored)
		}
		return stored, want[stored]
	}

	props := c.properties(o, prop)
	perCall := c.cfg.SearchINValues * maxFilterGroups
	seen := map[string]map[string]bool{} // value -> ids already in out
	for start := 0; start < len(candidates); start += perCall {
		chunk := candidates[start:min(start+perCall, len(candidates))]
		var groups []filterGroup
		for i := 0; i < len(chunk); i += c.cfg.SearchINValues {
			groups = append(groups, filterGroup{Filters: []filter{{
				PropertyName: prop, Operator: "IN", Values: chunk[i:min(i+c.cfg.SearchINValues, len(chunk))],
			}}})
		}
		after, size := "", min(maxSearchLimit, c.cfg.SearchResultCap)
		for {
			req := searchRequest{
				FilterGroups: groups,
				Sorts:        []searchSort{{PropertyName: "hs_object_id", Direction: "ASCENDING"}},
				Properties:   props,
				Limit:        size,
				After:        after,
			}
			var resp searchResponse
			if _, err := c.do(ctx, "POST", c.path(o, "search"), true, req, &resp); err != nil {
				return nil, err
			}
			for _, obj := range resp.Results {
				r, err := record(o, obj)
				if err != nil {
					return nil, err
				}
				k, ok := keyOf(r)
				if !ok || seen[k][r.ID] {
					continue
				}
				if seen[k] == nil {
					seen[k] = map[string]bool{}
				}
				seen[k][r.ID] = true
				out[k] = append(out[k], r)
			}
			after = resp.next()
			if after == "" || len(resp.Results) == 0 {
				break
			}
			// Never page past the search's result cap, which HubSpot answers with a 400.
			if n, err := strconv.Atoi(after); err == nil {
				if size = min(maxSearchLimit, c.cfg.SearchResultCap-n); size <= 0 {
					return nil, fmt.Errorf("hubspot find %s by %s: more than %d records match %d values; search for fewer values at a time",
						object, field, c.cfg.SearchResultCap, len(chunk))
				}
			}
		}
	}
	for _, rs := range out {
		sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	}
	return out, nil
}
