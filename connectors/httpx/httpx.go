// Package httpx is the HTTP toolkit under Tandem's HTTP connectors (hubspot, salesforce,
// salesloft, netsuite): building a request (JSON body, headers, query), sending it within
// the connection's rate budget, authenticating it (a bearer token from an oauth2 token
// source, renewed once when the service answers 401, or a per-request signature), and the
// one retry policy for rate limits. It knows nothing of any service's error bodies: a
// connector gets the status, headers and body of every answer and classifies it into the
// errors of package connectors itself.
//
// # One retry layer
//
// Everything a retry can fix is retried by the activity layer (activities/errors.go turns a
// *connectors.RateLimitedError into Temporal's NextRetryDelay, and a transport error or a
// 5xx into the retry policy's backoff). The client adds exactly one thing inside a call:
// after a rate-limited answer it may wait out the service's Retry-After and send the
// request again, at most Policy.MaxAttempts sends in all, and only while the wait is no
// longer than Policy.MaxWait and ends before the call's context does. A longer wait is
// not slept inside the activity: the connector returns its *connectors.RateLimitedError
// at once, and the activity's retry waits instead, so no activity is held open for a
// wait it cannot outlast. Transport errors and 5xx are never retried here.
//
// Every rate-limited answer also blocks the connection's Gate until its Retry-After has
// passed, so no other call of the connection is sent into the same limit meanwhile.
package httpx

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
)

// Request is one API request.
type Request struct {
	Method string
	// URL is the request's address without its query: Client.Base + URL when URL starts
	// with "/", else URL as it is.
	URL string
	// Query is encoded with url.Values.Encode, or with Client.EncodeQuery when set.
	Query url.Values
	// RawQuery, when set, is sent as the query instead of Query.
	RawQuery string
	Header   http.Header
	// JSON, when non-nil, is encoded as the body with Content-Type application/json.
	JSON any
	// Body, when JSON is nil, is the body as it is, with ContentType.
	Body        []byte
	ContentType string
	// Cost and Kind are for the Budget: what the request spends, and of which budget
	// ("search"); both are the connector's to define.
	Cost int
	Kind string
}

// Response is an answer read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode decodes a JSON body into out; an empty body leaves out as it is.
func (r *Response) Decode(out any) error {
	if out == nil || len(bytes.TrimSpace(r.Body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Body, out); err != nil {
		return fmt.Errorf("HTTP %d with a body that is not the JSON expected: %w", r.Status, err)
	}
	return nil
}

// OK reports whether the status is 2xx.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status <= 299 }

// Snippet is the body cut to a length fit for an error message ("(empty body)" when empty).
func (r *Response) Snippet() string { return Snippet(r.Body) }

// Snippet is b cut to 300 bytes for an error message ("(empty body)" when empty).
func Snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

// A Budget admits requests: Take returns when r may be sent (or the context's error, or
// a *connectors.RateLimitedError when the wait would outlast the call), and done is
// called with the answer once it is read in full (nil when none came).
type Budget interface {
	Take(ctx context.Context, r *Request) (done func(*Response), err error)
}

// An Authorizer authenticates a request just before it is sent (each attempt anew, so a
// signature gets a fresh nonce).
type Authorizer interface {
	Authorize(r *http.Request) error
}

// A Renewer is an Authorizer whose credentials can be renewed after the service refused
// them with 401: Renew drops the credentials r carried, and the request is sent once more.
type Renewer interface {
	Authorizer
	Renew(r *http.Request)
}

// AuthorizerFunc is an Authorizer of a function.
type AuthorizerFunc func(r *http.Request) error

// Authorize implements Authorizer.
func (f AuthorizerFunc) Authorize(r *http.Request) error { return f(r) }

// Bearer authenticates with a fixed token ("Authorization: Bearer <token>").
func Bearer(token string) Authorizer {
	return AuthorizerFunc(func(r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	})
}

// Policy is the in-call retry of rate-limited answers (see the package comment).
type Policy struct {
	// MaxAttempts is how many times one request is sent at most; 1 (or less) never
	// sends it again inside the call.
	MaxAttempts int
	// MaxWait is the longest wait inside a call; a longer one is returned to the caller.
	MaxWait time.Duration
}

// DefaultMaxWait is Policy.MaxWait when zero.
const DefaultMaxWait = 30 * time.Second

// Client sends a connection's requests. Its fields are set once, before the first call;
// it is safe for concurrent use.
type Client struct {
	// HTTP sends the requests.
	HTTP *http.Client
	// Base is what a Request.URL starting with "/" is appended to.
	Base string
	// Auth authenticates each request; nil sends none.
	Auth Authorizer
	// Budget admits each request; nil admits all at once.
	Budget Budget
	// Gate holds every request of the connection while a rate limit lasts; nil: none.
	Gate *Gate
	// Policy is the in-call retry of rate-limited answers.
	Policy Policy
	// RateLimited says whether an answer is a rate limit and how long the service asked
	// to wait; nil reads a 429 with its Retry-After. attempt counts from 1.
	RateLimited func(resp *Response, attempt int) (wait time.Duration, limited bool)
	// EncodeQuery encodes Request.Query; default url.Values.Encode.
	EncodeQuery func(url.Values) string
	// Header is sent with every request (Accept: application/json by default).
	Header http.Header
	// OnResponse sees every answer (usage headers, the server's clock).
	OnResponse func(*Response)
	// MaxBody bounds how much of an answer is read; default 64 MiB.
	MaxBody int64
	// Now is the clock Retry-After dates are read against; default time.Now.
	Now func() time.Time
}

// Do sends r and returns the answer, whatever its status: after a rate-limited answer
// that the policy lets it wait out, the request is sent again, and after a 401 to a
// Renewer's credentials, once more with renewed ones. The error is the transport's, the
// context's, the Budget's or the Gate's (a *connectors.RateLimitedError for a wait the
// call cannot outlast), or the Authorizer's.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	body, contentType := r.Body, r.ContentType
	if r.JSON != nil {
		var err error
		if body, err = json.Marshal(r.JSON); err != nil {
			return nil, fmt.Errorf("encoding the request: %w", err)
		}
		contentType = "application/json"
	}
	renewed := false
	for attempt := 1; ; attempt++ {
		if err := c.Gate.Wait(ctx, c.maxWait()); err != nil {
			return nil, err
		}
		resp, err := c.send(ctx, &r, body, contentType, &renewed)
		if err != nil {
			return nil, err
		}
		wait, limited := c.rateLimited(resp, attempt)
		if !limited {
			return resp, nil
		}
		reason := fmt.Sprintf("a Retry-After of %s", wait)
		c.Gate.Block(wait, reason)
		if attempt >= c.Policy.MaxAttempts {
			return resp, nil
		}
		if c.Gate == nil {
			// Without a gate the wait is this request's alone.
			if err := Sleep(ctx, wait, c.maxWait(), reason); err != nil {
				return nil, err
			}
		}
	}
}

// send makes one request (twice when a Renewer's credentials are refused first).
func (c *Client) send(ctx context.Context, r *Request, body []byte, contentType string, renewed *bool) (*Response, error) {
	for {
		done := func(*Response) {}
		if c.Budget != nil {
			var err error
			if done, err = c.Budget.Take(ctx, r); err != nil {
				return nil, err
			}
		}
		resp, req, err := c.roundTrip(ctx, r, body, contentType)
		done(resp)
		if err != nil {
			return nil, err
		}
		if resp.Status == http.StatusUnauthorized && !*renewed {
			if rn, ok := c.Auth.(Renewer); ok {
				*renewed = true
				rn.Renew(req)
				continue
			}
		}
		return resp, nil
	}
}

func (c *Client) roundTrip(ctx context.Context, r *Request, body []byte, contentType string) (*Response, *http.Request, error) {
	u := r.URL
	if strings.HasPrefix(u, "/") {
		u = c.Base + u
	}
	switch {
	case r.RawQuery != "":
		u += "?" + r.RawQuery
	case len(r.Query) > 0 && c.EncodeQuery != nil:
		u += "?" + c.EncodeQuery(r.Query)
	case len(r.Query) > 0:
		u += "?" + r.Query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	for k, vs := range r.Header {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	if body != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Auth != nil {
		if err := c.Auth.Authorize(req); err != nil {
			return nil, req, err
		}
	}
	hresp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, req, err
	}
	defer hresp.Body.Close()
	limit := c.MaxBody
	if limit <= 0 {
		limit = 64 << 20
	}
	data, err := io.ReadAll(io.LimitReader(hresp.Body, limit))
	if err != nil {
		return nil, req, fmt.Errorf("reading the answer: %w", err)
	}
	resp := &Response{Status: hresp.StatusCode, Header: hresp.Header, Body: data}
	if c.OnResponse != nil {
		c.OnResponse(resp)
	}
	return resp, req, nil
}

func (c *Client) rateLimited(resp *Response, attempt int) (time.Duration, bool) {
	if c.RateLimited != nil {
		return c.RateLimited(resp, attempt)
	}
	if resp.Status != http.StatusTooManyRequests {
		return 0, false
	}
	wait, _ := RetryAfter(resp.Header, c.now())
	return wait, true
}

func (c *Client) maxWait() time.Duration {
	if c.Policy.MaxWait > 0 {
		return c.Policy.MaxWait
	}
	return DefaultMaxWait
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// HeaderInt reads a header holding a whole number (a rate-limit counter).
func HeaderInt(h http.Header, name string) (int, bool) {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}
