package netsuite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"tandem/connectors"
	"tandem/connectors/httpx"
)

const (
	restPrefix = "/services/rest"
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

// do sends a REST request with authentication through the connection's httpx client: m2m
// fetches a new token once when NetSuite answers 401, and a rate limit is waited out up
// to rate_retries times (package httpx keeps it the one retry layer); any other answer is
// returned for the caller to judge.
func (c *Connector) do(ctx context.Context, cl call) (*response, error) {
	req := httpx.Request{Method: cl.method, URL: restPrefix + cl.path, JSON: cl.body, Header: http.Header{}}
	if len(cl.query) > 0 {
		parts := make([]string, len(cl.query))
		for i, kv := range cl.query {
			parts[i] = percentEncode(kv[0]) + "=" + percentEncode(kv[1])
		}
		req.RawQuery = strings.Join(parts, "&")
	}
	for k, v := range cl.header {
		req.Header.Set(k, v)
	}
	resp, err := c.api.Do(ctx, req)
	if err != nil {
		if c.m2m != nil {
			return nil, tokenError(err)
		}
		return nil, err
	}
	return &response{status: resp.Status, header: resp.Header, body: resp.Body}, nil
}

// slots is the connection's httpx.Budget: a request holds one of concurrency slots until
// its answer is read in full.
type slots chan struct{}

func (s slots) Take(ctx context.Context, _ *httpx.Request) (func(*httpx.Response), error) {
	select {
	case s <- struct{}{}:
		return func(*httpx.Response) { <-s }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// observe keeps the account's clock from an answer's Date header.
func (c *Connector) observe(resp *httpx.Response) { c.server.Observe(resp.Header) }

func rateLimited(resp *response) bool {
	if resp.status == http.StatusTooManyRequests {
		return true
	}
	return resp.status == http.StatusBadRequest && bytes.Contains(resp.body, []byte(codeRequestLimit)) &&
		apiError(resp).hasCode(codeRequestLimit)
}

// retryAfter is the wait NetSuite asked for, or retry_after times the attempt (from 1)
// when it did not say [INF: whether NetSuite sends Retry-After with 429 is not
// documented].
func (c *Connector) retryAfter(h http.Header, attempt int) time.Duration {
	if d, ok := httpx.RetryAfter(h, c.now()); ok {
		return d
	}
	return c.cfg.RetryAfter * time.Duration(attempt)
}

// limited is the httpx client's reading of a rate limit.
func (c *Connector) limited(r *httpx.Response, attempt int) (time.Duration, bool) {
	if !rateLimited(&response{status: r.Status, header: r.Header, body: r.Body}) {
		return 0, false
	}
	return c.retryAfter(r.Header, attempt), true
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
		return &connectors.RateLimitedError{RetryAfter: c.retryAfter(resp.header, 1), Reason: fmt.Sprintf("NetSuite %s: %s", what, e.reason())}
	}
	return fmt.Errorf("netsuite %s: %w", what, e)
}
