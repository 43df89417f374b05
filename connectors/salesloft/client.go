package salesloft

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"tandem/connectors"
	"tandem/connectors/httpx"
)

// maxPerPage is the largest page Salesloft serves.
const maxPerPage = 100

// call is one API request.
type call struct {
	method string
	path   string // e.g. "/v2/accounts"
	query  url.Values
	body   any
	cost   int // the budget it is booked against
}

// endpoint names the call in messages: "GET /v2/accounts".
func (c call) endpoint() string { return c.method + " " + c.path }

// apiError is an answer Salesloft refused with, other than the ones that have a
// connectors error of their own.
type apiError struct {
	endpoint string
	status   int
	message  string              // the body's "error", or the body itself
	fields   map[string][]string // a 422's "errors"
}

func (e *apiError) Error() string {
	return fmt.Sprintf("salesloft %s: %d %s: %s", e.endpoint, e.status, http.StatusText(e.status), e.message)
}

// do sends a call within the budget and decodes a 2xx answer into out (when non-nil).
// Errors: 401 and 403 are *connectors.AuthError, 404 a *connectors.NotFoundError, 429 a
// *connectors.RateLimitedError (after which the connection's gate holds every request
// until the Retry-After has passed); any other refusal is an *apiError, and a 5xx or a
// transport error is a plain error the caller's retries cover.
func (c *Connector) do(ctx context.Context, cl call, out any) error {
	resp, err := c.api.Do(ctx, httpx.Request{Method: cl.method, URL: cl.path, Query: cl.query, JSON: cl.body, Cost: cl.cost})
	if err != nil {
		return fmt.Errorf("salesloft %s: %w", cl.endpoint(), err)
	}
	if resp.OK() {
		if err := resp.Decode(out); err != nil {
			return fmt.Errorf("salesloft %s: %w", cl.endpoint(), err)
		}
		return nil
	}

	e := &apiError{endpoint: cl.endpoint(), status: resp.Status}
	var parsed struct {
		Error  string              `json:"error"`
		Errors map[string][]string `json:"errors"`
	}
	switch {
	case json.Unmarshal(resp.Body, &parsed) == nil && (parsed.Error != "" || len(parsed.Errors) > 0):
		e.message, e.fields = parsed.Error, parsed.Errors
		if e.message == "" {
			e.message = fieldMessages(parsed.Errors)
		}
	default:
		e.message = strings.TrimSpace(string(resp.Body))
		if len(e.message) > 300 {
			e.message = e.message[:300] + "…"
		}
		if e.message == "" {
			e.message = "(no body)"
		}
	}

	switch {
	case resp.Status == http.StatusUnauthorized:
		return &connectors.AuthError{Reason: e.Error()}
	case resp.Status == http.StatusForbidden:
		return &connectors.AuthError{Reason: e.Error() + " (the token lacks a scope or permission)"}
	case resp.Status == http.StatusNotFound:
		return &connectors.NotFoundError{What: fmt.Sprintf("salesloft %s (%s)", cl.endpoint(), e.message)}
	case resp.Status == http.StatusTooManyRequests:
		return &connectors.RateLimitedError{RetryAfter: c.budget.retryAfter(resp.Header), Reason: e.Error()}
	}
	return e
}

// encodeQuery encodes q with its keys sorted and the brackets of Rails-style parameters
// (ids[], updated_at[gte]) left readable, as Salesloft's own examples write them.
func encodeQuery(q url.Values) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(q)) {
		key := strings.NewReplacer("%5B", "[", "%5D", "]").Replace(url.QueryEscape(k))
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(key)
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String()
}

func fieldMessages(fields map[string][]string) string {
	parts := make([]string, 0, len(fields))
	for _, f := range slices.Sorted(maps.Keys(fields)) {
		parts = append(parts, f+" "+strings.Join(fields[f], ", "))
	}
	return strings.Join(parts, "; ")
}

// invalidRecord turns a 422 (or 400) for one record into the connectors error, naming
// the first field Salesloft complained about (alphabetically) and all its messages.
func invalidRecord(record string, err error) (*connectors.InvalidRecordError, bool) {
	var e *apiError
	if !errors.As(err, &e) || (e.status != http.StatusUnprocessableEntity && e.status != http.StatusBadRequest) {
		return nil, false
	}
	inv := &connectors.InvalidRecordError{Record: record, Reason: e.message}
	if len(e.fields) > 0 {
		fields := slices.Sorted(maps.Keys(e.fields))
		inv.Field = fields[0]
		inv.Reason = fieldMessages(e.fields)
	}
	return inv, true
}

// listAnswer is the envelope of GET /v2/accounts.
type listAnswer struct {
	Data     []json.RawMessage `json:"data"`
	Metadata struct {
		Paging struct {
			PerPage  int             `json:"per_page"`
			NextPage json.RawMessage `json:"next_page"`
		} `json:"paging"`
	} `json:"metadata"`
}

// oneAnswer is the envelope of a single account.
type oneAnswer struct {
	Data json.RawMessage `json:"data"`
}

// listPage fetches one page of GET /v2/accounts with per_page=100. full says a next
// page may hold more.
func (c *Connector) listPage(ctx context.Context, q url.Values, page int) (recs []connectors.Record, full bool, err error) {
	q.Set("per_page", strconv.Itoa(maxPerPage))
	q.Set("page", strconv.Itoa(page))
	var ans listAnswer
	cl := call{method: http.MethodGet, path: "/v2/accounts", query: q, cost: PageCost(page)}
	if err := c.do(ctx, cl, &ans); err != nil {
		return nil, false, err
	}
	recs = make([]connectors.Record, 0, len(ans.Data))
	for i, raw := range ans.Data {
		r, err := decodeAccount(raw)
		if err != nil {
			return nil, false, fmt.Errorf("salesloft %s page %d, account %d: %w", cl.endpoint(), page, i, err)
		}
		recs = append(recs, r)
	}
	// next_page says whether there is more: null at the end. Without it, a full page
	// (of the size Salesloft actually used) may have a next one.
	switch next := strings.TrimSpace(string(ans.Metadata.Paging.NextPage)); {
	case next == "null":
		return recs, false, nil
	case next != "":
		return recs, len(recs) > 0, nil
	}
	perPage := ans.Metadata.Paging.PerPage
	if perPage <= 0 {
		perPage = maxPerPage
	}
	return recs, len(recs) >= perPage, nil
}

// listAll fetches every page of a filtered list (for lookups: each page is 1 unless a
// lookup matches more than 10,000 accounts).
func (c *Connector) listAll(ctx context.Context, q url.Values) ([]connectors.Record, error) {
	var out []connectors.Record
	for page := 1; ; page++ {
		recs, full, err := c.listPage(ctx, q, page)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
		if !full {
			return out, nil
		}
	}
}

// decodeAccount turns an account's JSON into a Record: ID is the account id, UpdatedAt
// its updated_at, Fields every attribute as returned (numbers as float64).
func decodeAccount(raw json.RawMessage) (connectors.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // ids stay exact
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return connectors.Record{}, fmt.Errorf("not an account object: %w", err)
	}
	var id string
	switch v := m["id"].(type) {
	case json.Number:
		id = v.String()
	case string:
		id = v
	}
	if id == "" {
		return connectors.Record{}, fmt.Errorf("the account has no id")
	}
	stamp, _ := m["updated_at"].(string)
	at, err := parseTime(stamp)
	if err != nil {
		return connectors.Record{}, fmt.Errorf("account %s: updated_at %q: %w", id, stamp, err)
	}
	return connectors.Record{ID: id, UpdatedAt: at, Fields: floats(m).(map[string]any)}, nil
}

// parseTime reads Salesloft's ISO-8601 timestamps (microseconds, any offset), in UTC.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// formatTime writes a filter timestamp with Salesloft's precision. Rounding down keeps a
// gte filter from missing a record; the caller drops what is not after its cursor.
func formatTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.000000Z07:00")
}

// floats replaces json.Numbers with float64s, as connectors.Record wants its values.
func floats(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return x.String()
		}
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = floats(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = floats(e)
		}
		return x
	}
	return v
}
