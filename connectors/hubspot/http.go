package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"tandem/connectors"
	"tandem/connectors/httpx"
)

// maxRateLimitedAttempts is how many times one request is sent when HubSpot answers 429:
// the client waits out each Retry-After (when the context allows) before giving up with a
// *connectors.RateLimitedError, which the activity layer retries later.
const maxRateLimitedAttempts = 3

// apiError is a non-2xx answer from HubSpot. It unwraps to the connectors error it stands
// for (AuthError, NotFoundError, InvalidRecordError, RateLimitedError, or a plain error
// for a 5xx and anything else, which callers retry), and keeps the status and body for the
// batch writers, which handle a whole-batch rejection record by record.
type apiError struct {
	Endpoint string
	Status   int
	Body     apiErrorBody
	// Text is "hubspot <endpoint>: HTTP <status> <HubSpot's message>".
	Text  string
	typed error
}

func (e *apiError) Error() string { return e.typed.Error() }
func (e *apiError) Unwrap() error { return e.typed }

// newAPIError classifies a HubSpot error answer.
func newAPIError(endpoint string, status int, body apiErrorBody, raw []byte, wait time.Duration) *apiError {
	msg := body.describe()
	if body.Message == "" && body.Category == "" && len(body.Errors) == 0 && len(raw) > 0 {
		msg = string(bytes.TrimSpace(raw[:min(len(raw), 300)]))
	}
	text := fmt.Sprintf("hubspot %s: HTTP %d %s", endpoint, status, msg)
	e := &apiError{Endpoint: endpoint, Status: status, Body: body, Text: text}
	switch {
	case status == http.StatusUnauthorized:
		e.typed = &connectors.AuthError{Reason: text}
	case status == http.StatusForbidden:
		e.typed = &connectors.AuthError{Reason: text + " (the token lacks a scope this call needs, e.g. crm.objects.companies.write)"}
	case status == http.StatusNotFound:
		e.typed = &connectors.NotFoundError{What: text}
	case status == http.StatusTooManyRequests:
		e.typed = &connectors.RateLimitedError{RetryAfter: wait, Reason: text}
	case status == http.StatusBadRequest || status == http.StatusConflict || status == http.StatusUnprocessableEntity ||
		status == http.StatusRequestEntityTooLarge:
		// Sending the same request again cannot help.
		e.typed = &connectors.InvalidRecordError{Field: body.field(), Reason: text}
	default:
		e.typed = errors.New(text)
	}
	return e
}

// do sends one request and decodes a 2xx answer into out (when non-nil), returning the
// status. The connection's httpx client keeps it within the budget, waits out a 429's
// Retry-After (up to maxRateLimitedAttempts sends; see package httpx for the one retry
// layer), and an *apiError is returned for any other non-2xx answer. search says whether
// the request draws on the search budget.
func (c *Client) do(ctx context.Context, method, path string, search bool, in, out any) (int, error) {
	endpoint := method + " " + path
	req := httpx.Request{Method: method, URL: path, JSON: in}
	if search {
		req.Kind = kindSearch
	}
	resp, err := c.api.Do(ctx, req)
	if err != nil {
		// Transport errors (and a cancelled context, which url.Error unwraps to) are
		// plain: the caller retries them.
		return 0, fmt.Errorf("hubspot %s: %w", endpoint, err)
	}
	c.server.Observe(resp.Header)
	if resp.OK() {
		if err := resp.Decode(out); err != nil {
			return resp.Status, fmt.Errorf("hubspot %s: %w", endpoint, err)
		}
		return resp.Status, nil
	}
	var body apiErrorBody
	_ = json.Unmarshal(resp.Body, &body) // a body that is not HubSpot's error JSON keeps its raw text
	var wait time.Duration
	if resp.Status == http.StatusTooManyRequests {
		wait = retryAfter(resp.Header, body, time.Now())
	}
	return resp.Status, newAPIError(endpoint, resp.Status, body, resp.Body, wait)
}

// rateLimited is the httpx client's reading of a 429: its Retry-After, or the wait its
// policy implies.
func rateLimited(resp *httpx.Response, _ int) (time.Duration, bool) {
	if resp.Status != http.StatusTooManyRequests {
		return 0, false
	}
	var body apiErrorBody
	_ = json.Unmarshal(resp.Body, &body)
	return retryAfter(resp.Header, body, time.Now()), true
}
