package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"tandem/connectors"
	"tandem/connectors/httpx"
)

// APIError is one entry of Salesforce's error body, a JSON array
// [{"message","errorCode","fields"}] [doc: errorcodes].
type APIError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func (e APIError) String() string {
	s := e.ErrorCode + ": " + e.Message
	if len(e.Fields) > 0 {
		s += " (fields " + strings.Join(e.Fields, ", ") + ")"
	}
	return s
}

// answer is an HTTP answer of the REST API.
type answer struct {
	status int
	body   []byte
	header http.Header
}

// do sends one REST request to the instance, authenticated, and returns the answer. The
// connection's httpx client fetches a new token once and sends the request again when
// Salesforce answers 401 (INVALID_SESSION_ID: sessions end by the org's timeout policy,
// and the token answer says nothing of expiry).
//
// do returns an error, already typed, for what no caller handles itself: transport errors,
// 401 after the refresh (AuthError), 403 REQUEST_LIMIT_EXCEEDED (RateLimitedError), 429
// and 5xx. Every other status is returned for the caller to read; apiError types it.
// what names the operation, object and record for messages ("query Account").
func (c *Client) do(ctx context.Context, method, path string, body any, what string) (answer, error) {
	return c.doWith(ctx, method, path, nil, body, what)
}

// doWith is do with extra request headers (a conditional request's If-Unmodified-Since).
func (c *Client) doWith(ctx context.Context, method, path string, header http.Header, body any, what string) (answer, error) {
	if err := ctx.Err(); err != nil {
		return answer{}, fmt.Errorf("salesforce %s: %w", what, err)
	}
	_, instance, err := c.session(ctx)
	if err != nil {
		return answer{}, fmt.Errorf("salesforce %s: %w", what, err)
	}
	req := httpx.Request{Method: method, URL: instance + path, Header: header.Clone(), JSON: body}
	if c.cfg.QueryBatchSize > 0 && method == http.MethodGet {
		if req.Header == nil {
			req.Header = http.Header{}
		}
		// [INF, from memory]: the header that sets the query batch size.
		req.Header.Set("Sforce-Query-Options", "batchSize="+strconv.Itoa(c.cfg.QueryBatchSize))
	}
	resp, err := c.api.Do(ctx, req)
	if err != nil {
		if status, _ := httpx.TokenError(err); status != 0 {
			err = c.tokenError(err) // the token renewed after a 401 was refused
		}
		return answer{}, fmt.Errorf("salesforce %s: %w", what, err)
	}
	ans := answer{status: resp.Status, body: resp.Body, header: resp.Header}
	switch {
	case ans.status == http.StatusUnauthorized,
		ans.status == http.StatusForbidden,
		ans.status == http.StatusTooManyRequests,
		ans.status >= 500:
		return answer{}, c.apiError(ans, what)
	}
	return ans, nil
}

// observe keeps the usage counters and the org's clock of every answer.
func (c *Client) observe(resp *httpx.Response) {
	c.recordUsage(resp.Header.Get("Sforce-Limit-Info"))
	c.server.Observe(resp.Header)
}

// apiErrors parses Salesforce's error body; a body of another shape becomes one entry
// holding a snippet of it.
func apiErrors(ans answer) []APIError {
	var errs []APIError
	if err := json.Unmarshal(ans.body, &errs); err == nil && len(errs) > 0 {
		return errs
	}
	var one APIError
	if err := json.Unmarshal(ans.body, &one); err == nil && one.ErrorCode != "" {
		return []APIError{one}
	}
	return []APIError{{ErrorCode: strconv.Itoa(ans.status), Message: snippet(ans.body)}}
}

// apiError turns a non-2xx answer into the connector error the activity layer classifies:
// 401 → AuthError; 403 REQUEST_LIMIT_EXCEEDED → RateLimitedError (the sync waits for the
// quota instead of failing); other 403 → AuthError (the user lacks a permission); 404 and
// the 400s that say an object or field does not exist → NotFoundError; other 4xx →
// InvalidRecordError (retrying the same request cannot help); 5xx → a plain error, retried.
func (c *Client) apiError(ans answer, what string) error {
	errs := apiErrors(ans)
	first := errs[0]
	reasons := make([]string, len(errs))
	for i, e := range errs {
		reasons[i] = e.String()
	}
	reason := strings.Join(reasons, "; ")
	switch {
	case ans.status == http.StatusUnauthorized:
		return &connectors.AuthError{Reason: fmt.Sprintf("Salesforce refused the session for %s after a token refresh: %s", what, reason)}
	case ans.status == http.StatusForbidden && first.ErrorCode == "REQUEST_LIMIT_EXCEEDED":
		used := ""
		if u, l, ok := c.APIUsage(); ok {
			used = fmt.Sprintf(", api-usage %d/%d", u, l)
		}
		return &connectors.RateLimitedError{
			RetryAfter: c.cfg.LimitRetryAfter,
			Reason: fmt.Sprintf("Salesforce %s: %s%s; pausing for %s (setting %s)",
				what, reason, used, c.cfg.LimitRetryAfter, SettingLimitRetryAfter),
		}
	case ans.status == http.StatusForbidden:
		return &connectors.AuthError{Reason: fmt.Sprintf("Salesforce %s: %s (check the integration user's permissions)", what, reason)}
	case ans.status == http.StatusTooManyRequests:
		after, _ := httpx.RetryAfter(ans.header, c.cfg.Now())
		return &connectors.RateLimitedError{RetryAfter: after, Reason: fmt.Sprintf("Salesforce %s: %s", what, reason)}
	case ans.status >= 500:
		return fmt.Errorf("salesforce %s: %d %s", what, ans.status, reason)
	case ans.status == http.StatusNotFound || isMissingCode(first):
		return &connectors.NotFoundError{What: fmt.Sprintf("Salesforce %s (%s)", what, reason)}
	case ans.status >= 400:
		field := ""
		if len(first.Fields) > 0 {
			field = first.Fields[0]
		}
		return &connectors.InvalidRecordError{Record: what, Field: field, Reason: reason}
	default:
		return fmt.Errorf("salesforce %s: unexpected %d: %s", what, ans.status, reason)
	}
}

// isMissingCode reports whether a 400 error says the object or a field does not exist.
func isMissingCode(e APIError) bool {
	switch e.ErrorCode {
	case "INVALID_TYPE", "INVALID_FIELD", "NOT_FOUND":
		return true
	}
	return false
}

func snippet(b []byte) string { return httpx.Snippet(b) }
