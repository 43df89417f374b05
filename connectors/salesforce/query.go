package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"tandem/connectors"
)

const (
	// getChunk is how many ids one Get query names.
	getChunk = 200
	// maxURL bounds the length of a query URL: Salesforce refuses URIs over 16,384 bytes
	// (and SOQL statements over 100,000 characters, which a URL this short cannot reach).
	maxURL = 16000
)

// queryAnswer is one batch of a query [doc: resources_query; query-more-results].
type queryAnswer struct {
	TotalSize      int              `json:"totalSize"`
	Done           bool             `json:"done"`
	NextRecordsURL string           `json:"nextRecordsUrl"`
	Records        []map[string]any `json:"records"`
}

// query runs soql and follows nextRecordsUrl until Salesforce says done or max rows are
// read (max <= 0 reads all).
func (c *Client) query(ctx context.Context, soql string, max int, what string) ([]map[string]any, error) {
	path := c.dataPath("/query?q=" + url.QueryEscape(soql))
	var rows []map[string]any
	for {
		ans, err := c.do(ctx, http.MethodGet, path, nil, what)
		if err != nil {
			return nil, err
		}
		if ans.status != http.StatusOK {
			return nil, c.apiError(ans, what)
		}
		var batch queryAnswer
		if err := json.Unmarshal(ans.body, &batch); err != nil {
			return nil, fmt.Errorf("salesforce %s: decoding the answer: %w", what, err)
		}
		rows = append(rows, batch.Records...)
		if batch.Done || batch.NextRecordsURL == "" || (max > 0 && len(rows) >= max) {
			return rows, nil
		}
		// nextRecordsUrl is a path on the instance, "/services/data/v62.0/query/01g...-2000".
		if !strings.HasPrefix(batch.NextRecordsURL, "/services/data/") {
			return nil, fmt.Errorf("salesforce %s: unexpected nextRecordsUrl %q", what, batch.NextRecordsURL)
		}
		path = batch.NextRecordsURL
	}
}

// Changes implements connectors.Connector with
//
//	SELECT <fields> FROM <object>
//	WHERE SystemModstamp > T OR (SystemModstamp = T AND Id > 'lastId')
//	ORDER BY SystemModstamp, Id LIMIT <limit+1>
//
// Salesforce's own replication call keys on SystemModstamp [doc: resources_getupdated];
// modstamp_field may name another datetime field. Datetime literals go unquoted [doc: soql
// dateformats]. The extra row only tells whether more follow. Ordering ties by Id relies on
// Salesforce ordering ids as their ASCII strings, as Tandem's cursor does [INF]: ids of one
// object are fixed-width base-62 with digits < upper < lower case.
func (c *Client) Changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	if limit <= 0 {
		return connectors.Page{}, fmt.Errorf("salesforce changes of %s: limit %d must be positive", object, limit)
	}
	if err := checkObject(object); err != nil {
		return connectors.Page{}, err
	}
	stamp := c.cfg.ModstampField
	soql := "SELECT " + strings.Join(c.fieldsFor(object), ", ") + " FROM " + object +
		sinceClause(stamp, since) + " ORDER BY " + stamp + ", Id LIMIT " + fmt.Sprint(limit+1)
	what := fmt.Sprintf("changes of %s after %s", object, since)
	rows, err := c.query(ctx, soql, limit+1, what)
	if err != nil {
		return connectors.Page{}, err
	}
	page := connectors.Page{Records: make([]connectors.Record, 0, min(len(rows), limit))}
	for _, row := range rows {
		r, err := c.record(object, row)
		if err != nil {
			return connectors.Page{}, fmt.Errorf("salesforce %s: %w", what, err)
		}
		if !since.Before(r) {
			continue // cannot happen with the WHERE above; the contract is strict
		}
		if len(page.Records) == limit {
			page.More = true
			break
		}
		page.Records = append(page.Records, r)
	}
	if c.cfg.ReadOpenSecond {
		return page, nil
	}
	return connectors.HoldBackOpenSecond(page, c.server.Now()), nil
}

// sinceClause is the WHERE clause of records after since. Salesforce keeps datetimes to the
// second [3p: "Datetime fields do not store milliseconds"]; a cursor from a record has no
// fraction, and one with a fraction (a start_from) is written with milliseconds.
func sinceClause(stamp string, since connectors.Cursor) string {
	if since.UpdatedAt.IsZero() {
		return ""
	}
	at := since.UpdatedAt.UTC()
	lit := at.Truncate(time.Millisecond)
	t := soqlDatetime(lit)
	switch {
	case !lit.Equal(at):
		// Below a millisecond: every record at lit is before the cursor.
		return " WHERE " + stamp + " > " + t
	case since.ID == "":
		// A cursor without an id is before every record of its time.
		return " WHERE " + stamp + " >= " + t
	default:
		return " WHERE (" + stamp + " > " + t + " OR (" + stamp + " = " + t + " AND Id > " + soqlString(since.ID) + "))"
	}
}

// soqlDatetime writes t as a SOQL datetime literal, unquoted, in UTC.
func soqlDatetime(t time.Time) string {
	if t.Nanosecond() == 0 {
		return t.UTC().Format("2006-01-02T15:04:05Z")
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// soqlString quotes s as a SOQL string literal: backslash escapes for quotes, backslash and
// control characters [doc: soql quotedstringescapes].
func soqlString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'', '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// record converts a query row: ID = Id, UpdatedAt = the modstamp field, Fields = the row
// without "attributes", relationship fields flattened ("Owner": {"Name": "x"} becomes
// "Owner.Name": "x", the name the query used).
func (c *Client) record(object string, row map[string]any) (connectors.Record, error) {
	fields := make(map[string]any, len(row))
	flatten("", row, fields)
	id, _ := fields["Id"].(string)
	if id == "" {
		return connectors.Record{}, fmt.Errorf("a %s row has no Id", object)
	}
	raw, _ := lookup(fields, c.cfg.ModstampField)
	s, _ := raw.(string)
	at, err := ParseDatetime(s)
	if err != nil {
		return connectors.Record{}, fmt.Errorf("%s %s: field %s: %w", object, id, c.cfg.ModstampField, err)
	}
	return connectors.Record{ID: id, UpdatedAt: at, Fields: fields}, nil
}

func flatten(prefix string, row map[string]any, out map[string]any) {
	for k, v := range row {
		if k == "attributes" {
			continue
		}
		if m, ok := v.(map[string]any); ok {
			if _, sobject := m["attributes"]; sobject {
				flatten(prefix+k+".", m, out)
				continue
			}
		}
		out[prefix+k] = v
	}
}

// lookup returns the value of field in fields, matching the name case-insensitively as
// SOQL does when the exact spelling is absent.
func lookup(fields map[string]any, field string) (any, bool) {
	if v, ok := fields[field]; ok {
		return v, true
	}
	for k, v := range fields {
		if strings.EqualFold(k, field) {
			return v, true
		}
	}
	return nil, false
}

// ParseDatetime parses a Salesforce datetime, "2024-05-01T12:00:00.000+0000".
func ParseDatetime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a Salesforce datetime", s)
}

// Get implements connectors.Connector with SOQL WHERE Id IN (...), 200 ids a query. Strings
// that are not shaped like Salesforce ids cannot exist and are left out before asking
// (Salesforce refuses a query naming a malformed id).
func (c *Client) Get(ctx context.Context, object string, ids []string) ([]connectors.Record, error) {
	if err := checkObject(object); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("salesforce get %s: %w", object, err)
	}
	var valid []string
	seen := map[string]bool{}
	for _, id := range ids {
		if IsID(id) && !seen[id] {
			seen[id] = true
			valid = append(valid, id)
		}
	}
	out := make([]connectors.Record, 0, len(valid))
	got := map[string]bool{}
	for start := 0; start < len(valid); start += getChunk {
		chunk := valid[start:min(start+getChunk, len(valid))]
		quoted := make([]string, len(chunk))
		for i, id := range chunk {
			quoted[i] = soqlString(id)
		}
		soql := "SELECT " + strings.Join(c.fieldsFor(object), ", ") + " FROM " + object +
			" WHERE Id IN (" + strings.Join(quoted, ",") + ")"
		what := fmt.Sprintf("get %d %s records", len(chunk), object)
		rows, err := c.query(ctx, soql, 0, what)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			r, err := c.record(object, row)
			if err != nil {
				return nil, fmt.Errorf("salesforce %s: %w", what, err)
			}
			// A 15- and an 18-character spelling of one id find the record once.
			if !got[r.ID] {
				got[r.ID] = true
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// Find implements connectors.Connector with SOQL WHERE field IN ('a','b'), in as many
// queries as keep each URL under 16,000 bytes. SOQL compares strings case-insensitively, so
// a record is returned for every asked value equal to its field up to case. Values are
// always quoted: a number or boolean field would need them unquoted, which Salesforce says
// in an INVALID_FIELD error naming the field.
func (c *Client) Find(ctx context.Context, object, field string, values []string) (map[string][]connectors.Record, error) {
	want := map[string]bool{}
	for _, v := range values {
		if v != "" {
			want[v] = true
		}
	}
	isID := strings.EqualFold(field, "id")
	keysOf := func(stored string) []string {
		var keys []string
		for v := range want {
			if (isID && SameID(v, stored)) || (!isID && strings.EqualFold(v, stored)) {
				keys = append(keys, v)
			}
		}
		return keys
	}
	return c.find(ctx, object, field, sortedKeys(want), keysOf)
}

// FindNormalized implements connectors.NormalizingFinder. SOQL cannot apply Tandem's
// normalizers, so it asks for the spellings a service commonly stores for a value and
// keeps the records whose normalized field equals it. For a domain ("acme.com") these are
// the domain with and without http:// or https://, www. and a trailing slash (a Website
// field holds "https://www.acme.com/"); case needs no variants, SOQL equality ignores it.
// Other values are asked for as they are. A spelling outside these (a path after the
// domain, say) is not found: SOQL has no index for a suffix match and LIKE '%x%' scans
// the whole object.
func (c *Client) FindNormalized(ctx context.Context, object, field string, values []string, n connectors.KeyNormalizer) (map[string][]connectors.Record, error) {
	normalize := n.Apply
	if normalize == nil {
		return c.Find(ctx, object, field, values)
	}
	want := map[string]bool{}
	variants := map[string]bool{}
	for _, v := range values {
		if v == "" {
			continue
		}
		want[v] = true
		for _, s := range spellings(v) {
			variants[s] = true
		}
	}
	keysOf := func(stored string) []string {
		if k := normalize(stored); want[k] {
			return []string{k}
		}
		return nil
	}
	return c.find(ctx, object, field, sortedKeys(variants), keysOf)
}

// spellings returns v and, when v looks like a bare domain, the ways a URL field may
// store it.
func spellings(v string) []string {
	out := []string{v}
	if !strings.Contains(v, ".") || strings.ContainsAny(v, "/: @") {
		return out
	}
	for _, scheme := range []string{"", "http://", "https://"} {
		for _, www := range []string{"", "www."} {
			for _, slash := range []string{"", "/"} {
				if s := scheme + www + v + slash; s != v {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// find queries object for records whose field is one of values, chunked to keep URLs
// short, and files each record under keysOf(its field value).
func (c *Client) find(ctx context.Context, object, field string, values []string, keysOf func(string) []string) (map[string][]connectors.Record, error) {
	if err := checkObject(object); err != nil {
		return nil, err
	}
	if strings.EqualFold(field, "id") {
		// connectors.Record.Value's "id": the record's own Id.
		field = "Id"
		var ids []string
		for _, v := range values {
			if IsID(v) {
				ids = append(ids, v)
			}
		}
		values = ids
	}
	if err := checkField(object, field); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("salesforce find %s by %s: %w", object, field, err)
	}
	head := "SELECT " + strings.Join(c.fieldsFor(object, field), ", ") + " FROM " + object + " WHERE " + field + " IN ("
	// The instance URL is not known before the first token; 200 bytes stand in for it.
	base := 200 + len(c.dataPath("/query?q=")) + len(url.QueryEscape(head+")"))

	out := map[string][]connectors.Record{}
	seen := map[string]bool{}
	for start := 0; start < len(values); {
		size, end := base, start
		var quoted []string
		for end < len(values) {
			q := soqlString(values[end])
			n := len(url.QueryEscape(q + ","))
			if size+n > maxURL {
				break
			}
			size += n
			quoted = append(quoted, q)
			end++
		}
		if end == start {
			return nil, &connectors.InvalidRecordError{Record: fmt.Sprintf("%s %s=%.40q...", object, field, values[start]),
				Field: field, Reason: "the value is too long for a query URL"}
		}
		what := fmt.Sprintf("find %s by %s (%d values)", object, field, end-start)
		rows, err := c.query(ctx, head+strings.Join(quoted, ",")+")", 0, what)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			r, err := c.record(object, row)
			if err != nil {
				return nil, fmt.Errorf("salesforce %s: %w", what, err)
			}
			if seen[r.ID] {
				continue // one record matched by two spellings of a value
			}
			seen[r.ID] = true
			v, _ := lookup(r.Fields, field)
			for _, k := range keysOf(connectors.KeyString(v)) {
				out[k] = append(out[k], r)
			}
		}
		start = end
	}
	for k := range out {
		sort.Slice(out[k], func(i, j int) bool { return out[k][i].ID < out[k][j].ID })
	}
	return out, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
