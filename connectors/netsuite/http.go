package netsuite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"tandem/connectors"
)

const (
	restPrefix = "/services/rest"
	// maxBody bounds what is read of one answer; a SuiteQL page of 1000 wide rows is a
	// few MB at most.
	maxBody = 64 << 20
	// codeRequestLimit is the error code of a request over the concurrency limit where
	// NetSuite answers 400 instead of 429 (RESTlets) [doc: section_1525253248].
	codeRequestLimit = "SSS_REQUEST_LIMIT_EXCEEDED"
)

// response is an answer read in full, its connection slot already given back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// APIError is NetSuite's error body [doc: section_156570709583].
type APIError struct {
	Status  int           `json:"status"`
	Title   string        `json:"title"`
	Type    string        `json:"type"`
	Details []ErrorDetail `json:"o:errorDetails"`
}

// ErrorDetail is one entry of APIError.Details.
type ErrorDetail struct {
	Detail string `json:"detail"`
	Code   string `json:"o:errorCode"`
	Path   string `json:"o:errorPath,omitempty"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.Status)
	if e.Title != "" {
		b.WriteString(" " + e.Title)
	}
	if len(e.Details) > 0 {
		b.WriteString(": " + e.reason())
	}
	return b.String()
}

// reason is the details as one sentence: "detail (CODE); detail (CODE)".
func (e *APIError) reason() string {
	parts := make([]string, 0, len(e.Details))
	for _, d := range e.Details {
		p := strings.TrimSpace(d.Detail)
		if d.Code != "" {
			p += " (" + d.Code + ")"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return e.Title
	}
	return strings.Join(parts, "; ")
}

// path is the first o:errorPath given.
func (e *APIError) path() string {
	for _, d := range e.Details {
		if d.Path != "" {
			return d.Path
		}
	}
	return ""
}

func (e *APIError) hasCode(code string) bool {
	for _, d := range e.Details {
		if d.Code == code {
			return true
		}
	}
	return false
}

// apiError parses an error answer; a body that is not NetSuite's shape is kept as text.
func apiError(resp *response) *APIError {
	e := &APIError{}
	if err := json.Unmarshal(resp.body, e); err != nil || (e.Title == "" && len(e.Details) == 0) {
		e = &APIError{Title: http.StatusText(resp.status)}
		if s := summarize(resp.body); s != "" {
			e.Details = []ErrorDetail{{Detail: s}}
		}
	}
	e.Status = resp.status
	return e
}

// summarize is a body cut to a length fit for an error message.
func summarize(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) > 500 {
		s = s[:500] + "..."
	}
	return s
}

// call is one REST request: path is under /services/rest and already escaped.
type call struct {
	method string
	path   string
	query  [][2]string // in order; values unescaped
	body   any         // JSON-encoded when non-nil
	header map[string]string
}

// do sends a REST request with authentication. It fetches a new m2m token once when
// NetSuite answers 401, and waits out rate limits rate_retries times; any other answer
// is returned for the caller to judge.
func (c *Connector) do(ctx context.Context, cl call) (*response, error) {
	u, err := c.url(cl)
	if err != nil {
		return nil, err
	}
	var body []byte
	if cl.body != nil {
		if body, err = json.Marshal(cl.body); err != nil {
			return nil, fmt.Errorf("encode request body: %w", err)
		}
	}
	refreshed := false
	for limited := 0; ; {
		var bearer string
		if c.m2m != nil {
			if bearer, err = c.m2m.get(ctx); err != nil {
				return nil, err
			}
		}
		auth := func(req *http.Request) {
			if c.tba != nil {
				// Signed per attempt: every request needs a fresh nonce.
				req.Header.Set("Authorization", c.tba.header(req.Method, req.URL))
			} else {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
		}
		resp, err := c.send(ctx, cl.method, u, body, "application/json", cl.header, auth)
		if err != nil {
			return nil, err
		}
		switch {
		case resp.status == http.StatusUnauthorized && c.m2m != nil && !refreshed:
			refreshed = true
			c.m2m.invalidate(bearer)
			continue
		case rateLimited(resp) && limited < c.cfg.RateRetries:
			if err := sleep(ctx, c.retryAfter(resp, limited)); err != nil {
				return nil, err
			}
			limited++
			continue
		}
		return resp, nil
	}
}

func (c *Connector) url(cl call) (*url.URL, error) {
	raw := c.cfg.BaseURL + restPrefix + cl.path
	if len(cl.query) > 0 {
		parts := make([]string, len(cl.query))
		for i, kv := range cl.query {
			parts[i] = percentEncode(kv[0]) + "=" + percentEncode(kv[1])
		}
		raw += "?" + strings.Join(parts, "&")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("request URL %q: %w", raw, err)
	}
	return u, nil
}

// send makes one HTTP request while holding a concurrency slot, and reads the whole
// answer before giving the slot back.
func (c *Connector) send(ctx context.Context, method string, u *url.URL, body []byte, contentType string,
	header map[string]string, auth func(*http.Request)) (*response, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.sem }()

	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if auth != nil {
		auth(req)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("read answer of %s %s: %w", method, u.Path, err)
	}
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		c.serverMu.Lock()
		c.serverNow = t
		c.serverMu.Unlock()
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

// lastServerTime is the account's clock as its last answer's Date header gave it.
func (c *Connector) lastServerTime() time.Time {
	c.serverMu.Lock()
	defer c.serverMu.Unlock()
	return c.serverNow
}

func rateLimited(resp *response) bool {
	if resp.status == http.StatusTooManyRequests {
		return true
	}
	return resp.status == http.StatusBadRequest && bytes.Contains(resp.body, []byte(codeRequestLimit)) &&
		apiError(resp).hasCode(codeRequestLimit)
}

// retryAfter is the wait NetSuite asked for, or retry_after times the attempt when it
// did not say [INF: whether NetSuite sends Retry-After with 429 is not documented].
func (c *Connector) retryAfter(resp *response, attempt int) time.Duration {
	if d, ok := parseRetryAfter(resp.header.Get("Retry-After"), c.now()); ok {
		return d
	}
	return c.cfg.RetryAfter * time.Duration(attempt+1)
}

// parseRetryAfter reads Retry-After: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// callError turns an answer that is not a success into the typed error the engine
// classifies; what names the call ("query customer", "update customer 42").
func (c *Connector) callError(resp *response, what string) error {
	e := apiError(resp)
	switch {
	case resp.status == http.StatusUnauthorized:
		how := "consumer_key, consumer_secret, token_id, token_secret and account_id"
		if c.m2m != nil {
			how = "client_id, certificate_id, private_key and account_id"
		}
		return &connectors.AuthError{Reason: fmt.Sprintf("NetSuite refused %s: %s (check %s)", what, e.reason(), how)}
	case resp.status == http.StatusForbidden:
		return &connectors.AuthError{Reason: fmt.Sprintf("NetSuite forbade %s: %s (the role needs REST web services and the record's permissions)", what, e.reason())}
	case resp.status == http.StatusNotFound:
		return &connectors.NotFoundError{What: fmt.Sprintf("NetSuite %s (%s)", what, e.reason())}
	case rateLimited(resp):
		d, ok := parseRetryAfter(resp.header.Get("Retry-After"), c.now())
		if !ok {
			d = c.cfg.RetryAfter
		}
		return &connectors.RateLimitedError{RetryAfter: d, Reason: fmt.Sprintf("NetSuite %s: %s", what, e.reason())}
	}
	return fmt.Errorf("netsuite %s: %w", what, e)
}
