package netsuite

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"tandem/connectors"
)

// Changes implements connectors.Connector.
//
// It reads rows with the modified column at or after the cursor's time (SuiteQL compares
// at the format's precision, seconds by default), keeps those after the cursor in
// (UpdatedAt, ID) order, and stops once it holds limit records and every record with
// their timestamps: NetSuite orders ids as numbers within a second, the cursor as
// strings, so a second's records are only ordered once all of them are read. Each page
// after the first restarts at offset 0 from the last timestamp read (the window moves
// forward); only a single second with more rows than a page pages by offset.
func (c *Connector) Changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	if err := c.check(ctx, "changes of", object); err != nil {
		return connectors.Page{}, err
	}
	if limit <= 0 {
		return connectors.Page{}, fmt.Errorf("netsuite changes of %s: limit %d must be positive", object, limit)
	}
	what := "changes of " + object
	cols := c.columns()
	pageSize := min(c.cfg.PageSize, limit+1)
	mod := c.cfg.ModifiedField

	var (
		got       []connectors.Record // after since, in the order read
		seen      = map[string]bool{}
		lower     = since.UpdatedAt // the window's start; zero: from the beginning
		offset    = 0
		exhausted = false
	)
	for {
		q := "SELECT " + c.selectList() + " FROM " + object
		if !lower.IsZero() {
			q += " WHERE " + mod + " >= " + c.timestamp(lower)
		}
		q += " ORDER BY " + mod + ", id"
		page, err := c.suiteql(ctx, what, q, pageSize, offset)
		if err != nil {
			return connectors.Page{}, err
		}
		var last time.Time
		for _, row := range page.Items {
			r, err := c.record(row, cols)
			if err != nil {
				return connectors.Page{}, fmt.Errorf("netsuite %s: %w", what, err)
			}
			last = r.UpdatedAt
			if seen[r.ID] || !since.Before(r) {
				continue
			}
			seen[r.ID] = true
			got = append(got, r)
		}
		if !page.HasMore || len(page.Items) == 0 {
			exhausted = true
			break
		}
		// Rows come in timestamp order, so every record before the last row's timestamp
		// has been read: once limit of them are, the page is decided (and there is more:
		// the last row itself).
		complete := 0
		for _, r := range got {
			if r.UpdatedAt.Before(last) {
				complete++
			}
		}
		if complete >= limit {
			break
		}
		if last.After(lower) || lower.IsZero() {
			lower, offset = last, 0 // move the window; rows at last are read again and skipped
		} else {
			offset += pageSize // one second holds more than a page
		}
		if offset >= maxOffset {
			return connectors.Page{}, fmt.Errorf("netsuite %s: more than %d records changed within %s; NetSuite serves no more rows of one query",
				what, maxOffset, lower.Format(time.RFC3339))
		}
	}

	sort.SliceStable(got, func(i, j int) bool {
		if !got[i].UpdatedAt.Equal(got[j].UpdatedAt) {
			return got[i].UpdatedAt.Before(got[j].UpdatedAt)
		}
		return got[i].ID < got[j].ID
	})
	page := connectors.Page{Records: got, More: !exhausted}
	if len(got) > limit {
		page.Records, page.More = got[:limit], true
	}
	if page.Records == nil {
		page.Records = []connectors.Record{}
	}
	if !c.cfg.ReadOpenSecond {
		page = connectors.HoldBackOpenSecond(page, c.server.Now())
	}
	return page, nil
}

// Get implements connectors.Connector: SuiteQL WHERE id IN (...), in chunks. Ids that
// are not internal ids (numbers) cannot exist and are left out like missing ones.
func (c *Connector) Get(ctx context.Context, object string, ids []string) ([]connectors.Record, error) {
	if err := c.check(ctx, "get", object); err != nil {
		return nil, err
	}
	var want []string
	seen := map[string]bool{}
	for _, id := range ids {
		if isInternalID(id) && !seen[id] {
			seen[id] = true
			want = append(want, id)
		}
	}
	out := make([]connectors.Record, 0, len(want))
	err := c.lookup(ctx, "get "+object, object, "id", want, func(r connectors.Record) {
		out = append(out, r)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Find implements connectors.Connector: SuiteQL WHERE <field> IN ('a', 'b'), in chunks.
// Values compare as SuiteQL compares them (exactly, case included). Each value's records
// are sorted by id.
func (c *Connector) Find(ctx context.Context, object, field string, values []string) (map[string][]connectors.Record, error) {
	if err := c.check(ctx, "find in", object); err != nil {
		return nil, err
	}
	field = strings.ToLower(field)
	if !identRE.MatchString(field) {
		return nil, fmt.Errorf("netsuite find in %s: %q is not a field name", object, field)
	}
	var want []string
	seen := map[string]bool{}
	for _, v := range values {
		if v == "" || seen[v] || (field == "id" && !isInternalID(v)) {
			continue // an empty key matches nothing, as a record without the field has none
		}
		seen[v] = true
		want = append(want, v)
	}
	out := map[string][]connectors.Record{}
	err := c.lookup(ctx, fmt.Sprintf("find %s by %s", object, field), object, field, want, func(r connectors.Record) {
		k := connectors.KeyString(r.Fields[field])
		if field == "id" {
			k = r.ID
		}
		if seen[k] {
			out[k] = append(out[k], r)
		}
	})
	if err != nil {
		return nil, err
	}
	for _, rs := range out {
		sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	}
	return out, nil
}

// lookup reads the records whose column is one of values, in chunks of inChunk values,
// and hands each to found. The column is read too, so a caller can group by it.
func (c *Connector) lookup(ctx context.Context, what, object, column string, values []string, found func(connectors.Record)) error {
	cols := c.columns(column)
	for start := 0; start < len(values); start += inChunk {
		chunk := values[start:min(start+inChunk, len(values))]
		q := "SELECT " + c.selectList(column) + " FROM " + object +
			" WHERE " + column + " IN " + inList(column, chunk) + " ORDER BY id"
		rows, err := c.queryAll(ctx, what, q)
		if err != nil {
			return err
		}
		for _, row := range rows {
			r, err := c.record(row, cols)
			if err != nil {
				return fmt.Errorf("netsuite %s: %w", what, err)
			}
			found(r)
		}
	}
	return nil
}
