package salesloft

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tandem/connectors"
)

// The deletes of issue 15. Salesloft offers no delete log to read (so the connector is no
// connectors.DeleteReader):
//
//   - No endpoint of the v2 API lists deleted accounts [3p: none among the 85 API
//     descriptions of api-evangelist/salesloft, openapi/]; a deleted account is not
//     archived: archived_at and the list's archived filter are about accounts that still
//     exist [3p: openapi/salesloft-accounts-api-openapi.yml lists archived as a filter and
//     as an attribute of an update].
//   - Deletions are announced by the account_deleted webhook, "When an account is deleted,
//     receive the deleted account object" [doc:
//     https://developers.salesloft.com/docs/platform/webhooks/event-types/]; ParseEvent
//     gives it Kind "deleted" (webhook.go). A webhook that failed its four tries is lost
//     [doc: same page, "retried three additional times, spaced 15 seconds apart, before
//     being marked as failed"].
//
// So the engine finds deletions by webhook, and otherwise by a full id diff: ListIDs
// (connectors.IDLister) lists every account id. Delete (connectors.Deleter) deletes
// accounts with DELETE /v2/accounts/{id} [3p: the same OpenAPI, "Delete an Account"], one
// request per account: the API has no bulk delete.

// ListIDs implements connectors.IDLister. It reads GET /v2/accounts sorted by created_at
// ascending, 100 a page, windowed the way Changes windows updated_at (see Changes): each
// request is page 1 of created_at[gte]=<the last account read>, so every request costs 1
// where page numbers would cost up to 30 a page on a large team [doc: rate limits, via
// api-notes 2], and, created_at never changing, an account deleted or created between
// two pages shifts no other account out of the listing, as it would with page numbers.
// Archived accounts are listed: they still exist.
//
// The token is the (created_at, id) of the last id returned, in the form of
// connectors.Cursor.String; limit may exceed 100 (several requests).
func (c *Connector) ListIDs(ctx context.Context, object, token string, limit int) ([]string, string, error) {
	if err := checkObject("list ids", object); err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		return nil, "", fmt.Errorf("salesloft list ids of %s: limit %d must be positive", object, limit)
	}
	since, err := parseIDToken(token)
	if err != nil {
		return nil, "", fmt.Errorf("salesloft list ids of %s: %w", object, err)
	}
	what := "ids of " + object
	ids := make([]string, 0, min(limit, 10*maxPerPage))
	for len(ids) < limit {
		if err := ctx.Err(); err != nil {
			return nil, "", fmt.Errorf("salesloft list %s: %w", what, err)
		}
		p, err := c.window(ctx, "created_at", what, since, min(limit-len(ids), maxPerPage))
		if err != nil {
			return nil, "", err
		}
		for _, r := range p.Records {
			ids = append(ids, r.ID)
		}
		if !p.More || len(p.Records) == 0 {
			return ids, "", nil
		}
		since = connectors.CursorOf(p.Records[len(p.Records)-1])
	}
	return ids, since.String(), nil
}

// parseIDToken reads a ListIDs token, "<created_at>/<id>" ("" is the start).
func parseIDToken(token string) (connectors.Cursor, error) {
	if token == "" {
		return connectors.Cursor{}, nil
	}
	i := strings.LastIndex(token, "/")
	if i < 0 || !isNumber(token[i+1:]) {
		return connectors.Cursor{}, fmt.Errorf("page token %q is not <created_at>/<account id>", token)
	}
	at, err := time.Parse(time.RFC3339Nano, token[:i])
	if err != nil {
		return connectors.Cursor{}, fmt.Errorf("page token %q is not <created_at>/<account id>: %w", token, err)
	}
	return connectors.Cursor{UpdatedAt: at.UTC(), ID: token[i+1:]}, nil
}

// Delete implements connectors.Deleter with DELETE /v2/accounts/{id}, one request (cost 1)
// per account, in order. An account that is gone already (404) counts as deleted. A
// refusal of one account (422 or 400) is a *connectors.InvalidRecordError with
// Salesloft's messages, and the others are deleted. Any other error (401, 403, 429, 5xx)
// stops the call: what was deleted before it stays deleted, and a retry finds those gone
// (404), so it is safe. An id that is not a number names no account and is refused
// without asking; an id given twice is sent once.
func (c *Connector) Delete(ctx context.Context, object string, ids []string) ([]connectors.WriteResult, error) {
	if err := checkObject("delete", object); err != nil {
		return nil, err
	}
	results := make([]connectors.WriteResult, len(ids))
	done := map[string]connectors.WriteResult{}
	for i, id := range ids {
		if !isNumber(id) {
			results[i].Err = &connectors.InvalidRecordError{Record: fmt.Sprintf("account %q", id), Field: "id", Reason: "not a Salesloft account id (a number)"}
			continue
		}
		if r, ok := done[id]; ok {
			results[i] = r
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("salesloft delete %s: %w", object, err)
		}
		err := c.do(ctx, call{method: http.MethodDelete, path: "/v2/accounts/" + id, cost: 1}, nil)
		var gone *connectors.NotFoundError
		switch inv, refused := invalidRecord("account "+id, err); {
		case err == nil, errors.As(err, &gone):
			results[i] = connectors.WriteResult{ID: id}
		case refused:
			results[i].Err = inv
		default:
			return nil, err
		}
		done[id] = results[i]
	}
	return results, nil
}

var (
	_ connectors.IDLister = (*Connector)(nil)
	_ connectors.Deleter  = (*Connector)(nil)
)

// isNumber reports whether id can be a Salesloft id, a positive whole number.
func isNumber(id string) bool {
	n, err := strconv.ParseInt(id, 10, 64)
	return err == nil && n > 0 && strconv.FormatInt(n, 10) == id
}
