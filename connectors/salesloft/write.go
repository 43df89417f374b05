package salesloft

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"tandem/connectors"
)

// readOnly are attributes Salesloft sets itself; they are never sent, so a record read
// from Salesloft can be written back as it is.
var readOnly = map[string]bool{"id": true, "created_at": true, "updated_at": true}

func requestBody(fields map[string]any) map[string]any {
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		if !readOnly[k] {
			out[k] = v
		}
	}
	return out
}

// Create implements connectors.Connector: one POST /v2/accounts per record, as Salesloft
// has no bulk JSON write. A record Salesloft refuses (422) gets an
// *connectors.InvalidRecordError and the rest of the batch goes on. Any other failure
// ends the call with an error for the whole batch; records before it were created, which
// is safe because Info().NativeUpsert is false, so a retry looks keys up before creating.
func (c *Connector) Create(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	if err := checkObject("create", object); err != nil {
		return nil, err
	}
	results := make([]connectors.WriteResult, len(records))
	for i, r := range records {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("salesloft create %s: %w", object, err)
		}
		res, err := c.createOne(ctx, r.Fields)
		if err != nil {
			return nil, err
		}
		results[i] = res
	}
	return results, nil
}

// createOne creates one account; a refusal of the record itself is in the result.
func (c *Connector) createOne(ctx context.Context, fields map[string]any) (connectors.WriteResult, error) {
	var ans oneAnswer
	err := c.do(ctx, call{method: http.MethodPost, path: "/v2/accounts", body: requestBody(fields), cost: 1}, &ans)
	if err != nil {
		if inv, ok := invalidRecord(name(fields), err); ok {
			return connectors.WriteResult{Err: inv}, nil
		}
		return connectors.WriteResult{}, err
	}
	r, err := decodeAccount(ans.Data)
	if err != nil {
		return connectors.WriteResult{}, fmt.Errorf("salesloft POST /v2/accounts: %w", err)
	}
	return connectors.WriteResult{ID: r.ID, Created: true}, nil
}

// Update implements connectors.Connector: one PUT /v2/accounts/{id} per record, with the
// given fields only. A missing account is that record's *connectors.NotFoundError, a
// refused one its *connectors.InvalidRecordError; other failures end the call (a PUT
// repeated by a retry is harmless).
func (c *Connector) Update(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	if err := checkObject("update", object); err != nil {
		return nil, err
	}
	results := make([]connectors.WriteResult, len(records))
	for i, r := range records {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("salesloft update %s: %w", object, err)
		}
		res, err := c.updateOne(ctx, r)
		if err != nil {
			return nil, err
		}
		results[i] = res
	}
	return results, nil
}

func (c *Connector) updateOne(ctx context.Context, r connectors.Record) (connectors.WriteResult, error) {
	if r.ID == "" {
		return connectors.WriteResult{Err: &connectors.InvalidRecordError{Reason: "record has no id to update"}}, nil
	}
	notFound := &connectors.NotFoundError{What: "salesloft account " + r.ID}
	if _, err := strconv.ParseInt(r.ID, 10, 64); err != nil {
		return connectors.WriteResult{Err: notFound}, nil // not a Salesloft id
	}
	var ans oneAnswer
	err := c.do(ctx, call{method: http.MethodPut, path: "/v2/accounts/" + r.ID, body: requestBody(r.Fields), cost: 1}, &ans)
	if err != nil {
		if _, ok := err.(*connectors.NotFoundError); ok {
			return connectors.WriteResult{Err: notFound}, nil
		}
		if inv, ok := invalidRecord(r.ID, err); ok {
			return connectors.WriteResult{Err: inv}, nil
		}
		return connectors.WriteResult{}, err
	}
	return connectors.WriteResult{ID: r.ID}, nil
}

// Upsert implements connectors.Connector by finding the records' keys (domain or
// crm_id) first, then updating the one account with a key and creating the rest; a key
// that matches several accounts is that record's *connectors.AmbiguousMatchError. Records
// of one batch see each other: a key given twice creates once, then updates.
//
// It is not atomic (Info().NativeUpsert is false): POST /v2/account_upserts exists [3p],
// but which key it matches on is not documented, and the engine's lookup before retried
// creates already gives what a native upsert would.
func (c *Connector) Upsert(ctx context.Context, object, key string, records []connectors.Record) ([]connectors.WriteResult, error) {
	if err := checkObject("upsert", object); err != nil {
		return nil, err
	}
	if err := checkKey("upsert", key); err != nil {
		return nil, err
	}
	keys := make([]string, len(records))
	for i, r := range records {
		if v, ok := r.Fields[key]; ok && v != nil {
			keys[i] = keyForm(key, connectors.KeyString(v))
		}
	}
	found, err := c.Find(ctx, object, key, distinct(keys))
	if err != nil {
		return nil, err
	}
	byKey := map[string][]string{}
	for v, recs := range found {
		for _, r := range recs {
			byKey[keyForm(key, v)] = append(byKey[keyForm(key, v)], r.ID)
		}
	}

	results := make([]connectors.WriteResult, len(records))
	for i, r := range records {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("salesloft upsert %s: %w", object, err)
		}
		k := keys[i]
		if k == "" {
			results[i].Err = &connectors.InvalidRecordError{Field: key, Reason: "the key field is empty"}
			continue
		}
		var res connectors.WriteResult
		switch ids := byKey[k]; len(ids) {
		case 0:
			res, err = c.createOne(ctx, r.Fields)
			if err == nil && res.Err == nil {
				byKey[k] = []string{res.ID}
			}
		case 1:
			res, err = c.updateOne(ctx, connectors.Record{ID: ids[0], Fields: r.Fields})
		default:
			sorted := append([]string(nil), ids...)
			sort.Strings(sorted)
			res.Err = &connectors.AmbiguousMatchError{Field: key, Value: k, IDs: sorted}
		}
		if err != nil {
			return nil, err
		}
		results[i] = res
	}
	return results, nil
}

// keyForm is a key value as Salesloft compares it: domains without regard to case.
func keyForm(field, v string) string {
	if field == "domain" {
		return strings.ToLower(strings.TrimSpace(v))
	}
	return v
}

// name is how a message names a record not yet created: its domain, else its name.
func name(fields map[string]any) string {
	for _, k := range []string{"domain", "name"} {
		if v, ok := fields[k].(string); ok && v != "" {
			return v
		}
	}
	return ""
}
