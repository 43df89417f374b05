package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"tandem/connectors"
)

// maxRateLimitedAttempts is how many times one request is sent when HubSpot answers 429:
// the client waits out each Retry-After (when the context allows) before giving up with a
// *connectors.RateLimitedError, which the activity layer retries later.
const maxRateLimitedAttempts = 3

// maxResponse bounds a response body read into memory.
const maxResponse = 64 << 20

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
// status. It waits for the gate before every attempt, answers a 429 by waiting out its
// Retry-After (up to maxRateLimitedAttempts), and returns an *apiError for any other
// non-2xx answer. search says whether the request draws on the search budget.
func (c *Client) do(ctx context.Context, method, path string, search bool, in, out any) (int, error) {
	endpoint := method + " " + path
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return 0, fmt.Errorf("hubspot %s: encoding the request: %w", endpoint, err)
		}
	}
	for attempt := 1; ; attempt++ {
		if err := c.gate.wait(ctx, search); err != nil {
			return 0, fmt.Errorf("hubspot %s: %w", endpoint, err)
		}
		req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, bytes.NewReader(payload))
		if err != nil {
			return 0, fmt.Errorf("hubspot %s: %w", endpoint, err)
		}
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
		req.Header.Set("Accept", "application/json")
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			// Transport errors (and a cancelled context, which url.Error unwraps to)
			// are plain: the caller retries them.
			return 0, fmt.Errorf("hubspot %s: %w", endpoint, err)
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		resp.Body.Close()
		if err != nil {
			return 0, fmt.Errorf("hubspot %s: reading the answer: %w", endpoint, err)
		}
		c.gate.observe(resp.Header, resp.StatusCode)

		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			if out != nil && len(bytes.TrimSpace(raw)) > 0 {
				if err := json.Unmarshal(raw, out); err != nil {
					return resp.StatusCode, fmt.Errorf("hubspot %s: HTTP %d with a body that is not the expected JSON: %w", endpoint, resp.StatusCode, err)
				}
			}
			return resp.StatusCode, nil
		}

		var body apiErrorBody
		_ = json.Unmarshal(raw, &body) // a body that is not HubSpot's error JSON keeps its raw text
		var wait time.Duration
		if resp.StatusCode == http.StatusTooManyRequests {
			wait = retryAfter(resp.Header, body, time.Now())
			c.gate.block(wait, describeWait(wait))
			if attempt < maxRateLimitedAttempts {
				continue
			}
		}
		return resp.StatusCode, newAPIError(endpoint, resp.StatusCode, body, raw, wait)
	}
}
