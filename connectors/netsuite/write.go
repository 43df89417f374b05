package netsuite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"tandem/connectors"
)

const recordPath = "/record/v1/"

// Create implements connectors.Connector: one POST per record, up to concurrency at once.
// The new id is the last segment of the Location header of the 204.
func (c *Connector) Create(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	if err := c.check(ctx, "create", object); err != nil {
		return nil, err
	}
	if err := c.checkBatch("create", object, len(records)); err != nil {
		return nil, err
	}
	results := make([]connectors.WriteResult, len(records))
	err := c.parallel(ctx, len(records), func(ctx context.Context, i int) error {
		res, err := c.create(ctx, object, records[i], describe(i, records[i], ""))
		results[i] = res
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netsuite create %s: %w", object, err)
	}
	return results, nil
}

// Update implements connectors.Connector: one PATCH per record, up to concurrency at once.
// A record whose id does not exist fails alone with a not-found error.
func (c *Connector) Update(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	if err := c.check(ctx, "update", object); err != nil {
		return nil, err
	}
	if err := c.checkBatch("update", object, len(records)); err != nil {
		return nil, err
	}
	results := make([]connectors.WriteResult, len(records))
	err := c.parallel(ctx, len(records), func(ctx context.Context, i int) error {
		res, err := c.update(ctx, object, records[i].ID, records[i].Fields)
		results[i] = res
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netsuite update %s: %w", object, err)
	}
	return results, nil
}

// Upsert implements connectors.Connector.
//
// By externalid it is NetSuite's upsert, PUT /record/v1/<object>/eid:<value>, one record
// per request. NetSuite answers 204 whether it created or updated [INF], so the keys are
// looked up first (one SuiteQL query per batch) to tell which; a 201 would be trusted as
// a creation and a 200 as an update should NetSuite ever send them. By any other key it
// finds the keys (one query), then creates (POST) or updates (PATCH); a key that matches
// several records fails that record with an ambiguous-match error.
//
// Records of the batch with the same key are written one after the other, in order, so
// the first creates and the next ones update; different keys run in parallel.
func (c *Connector) Upsert(ctx context.Context, object, key string, records []connectors.Record) ([]connectors.WriteResult, error) {
	if err := c.check(ctx, "upsert", object); err != nil {
		return nil, err
	}
	if err := c.checkBatch("upsert", object, len(records)); err != nil {
		return nil, err
	}
	key = strings.ToLower(key)
	if !identRE.MatchString(key) {
		return nil, fmt.Errorf("netsuite upsert into %s: %q is not a key field name", object, key)
	}
	results := make([]connectors.WriteResult, len(records))
	groups := map[string][]int{}
	var order []string // keys in first-seen order
	for i, r := range records {
		v, _ := r.Value(key)
		k := connectors.KeyString(v)
		if k == "" {
			results[i].Err = &connectors.InvalidRecordError{Record: describe(i, r, ""), Field: key, Reason: "the key field is empty"}
			continue
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}

	// The ids the keys have now.
	existing, err := c.Find(ctx, object, key, order)
	if err != nil {
		return nil, fmt.Errorf("netsuite upsert into %s: look up %s: %w", object, key, err)
	}

	err = c.parallel(ctx, len(order), func(ctx context.Context, g int) error {
		k := order[g]
		desc := fmt.Sprintf("%s=%s", key, k)
		var ids []string
		for _, r := range existing[k] {
			ids = append(ids, r.ID)
		}
		exists := len(ids) > 0
		for _, i := range groups[k] {
			var res connectors.WriteResult
			var err error
			switch {
			case len(ids) > 1:
				res.Err = &connectors.AmbiguousMatchError{Field: key, Value: k, IDs: ids}
			case key == externalID:
				known := ""
				if len(ids) == 1 {
					known = ids[0]
				}
				res, err = c.put(ctx, object, k, records[i].Fields, exists, known, desc)
			case len(ids) == 1:
				res, err = c.update(ctx, object, ids[0], records[i].Fields)
				if res.Err != nil {
					res.Err = renameRecord(res.Err, desc)
				}
			default:
				res, err = c.create(ctx, object, records[i], desc)
			}
			if err != nil {
				return err
			}
			results[i] = res
			if res.Err == nil {
				exists = true // the next record with this key updates this one
				if res.ID != "" {
					ids = []string{res.ID}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("netsuite upsert into %s: %w", object, err)
	}

	// A PUT whose Location did not name an internal id: read the ids by key.
	var unresolved []string
	for i := range results {
		if results[i].Err == nil && results[i].ID == "" {
			v, _ := records[i].Value(key)
			unresolved = append(unresolved, connectors.KeyString(v))
		}
	}
	if len(unresolved) > 0 {
		found, err := c.Find(ctx, object, key, unresolved)
		if err != nil {
			return nil, fmt.Errorf("netsuite upsert into %s: read the ids of upserted records: %w", object, err)
		}
		for i := range results {
			if results[i].Err == nil && results[i].ID == "" {
				v, _ := records[i].Value(key)
				if rs := found[connectors.KeyString(v)]; len(rs) == 1 {
					results[i].ID = rs[0].ID
				} else {
					return nil, fmt.Errorf("netsuite upsert into %s: record %s=%s was written but cannot be found again", object, key, connectors.KeyString(v))
				}
			}
		}
	}
	return results, nil
}

// create POSTs one record. It returns the record's result, or an error that fails the
// whole call (auth, rate limit, 5xx, transport).
func (c *Connector) create(ctx context.Context, object string, r connectors.Record, desc string) (connectors.WriteResult, error) {
	body := c.body(r.Fields, true)
	resp, err := c.do(ctx, call{method: http.MethodPost, path: recordPath + object, body: body})
	if err != nil {
		return connectors.WriteResult{}, err
	}
	switch resp.status {
	case http.StatusNoContent, http.StatusCreated, http.StatusOK:
		id := locationID(resp.header.Get("Location"))
		if id == "" {
			// Created, but the id is unknown: failing the call lets the engine look the
			// key up again instead of creating a second record.
			return connectors.WriteResult{}, fmt.Errorf("record %s was created but NetSuite's answer has no Location with its id", desc)
		}
		return connectors.WriteResult{ID: id, Created: true}, nil
	}
	return c.recordResult(resp, "create "+object+" record "+desc, desc)
}

// update PATCHes one record.
func (c *Connector) update(ctx context.Context, object, id string, fields map[string]any) (connectors.WriteResult, error) {
	what := fmt.Sprintf("%s record %s", object, id)
	if id == "" {
		return connectors.WriteResult{Err: &connectors.InvalidRecordError{Reason: "the record has no id to update"}}, nil
	}
	if !isInternalID(id) {
		return connectors.WriteResult{Err: &connectors.NotFoundError{What: "NetSuite " + what + " (not an internal id)"}}, nil
	}
	resp, err := c.do(ctx, call{method: http.MethodPatch, path: recordPath + object + "/" + id, body: c.body(fields, false)})
	if err != nil {
		return connectors.WriteResult{}, err
	}
	switch resp.status {
	case http.StatusNoContent, http.StatusOK:
		return connectors.WriteResult{ID: id}, nil
	}
	return c.recordResult(resp, "update "+what, id)
}

// put upserts one record by external id; exists says whether the key had a record
// before, known is its internal id when that is known.
func (c *Connector) put(ctx context.Context, object, eid string, fields map[string]any, exists bool, known, desc string) (connectors.WriteResult, error) {
	body := c.body(fields, !exists)
	delete(body, externalID) // the URL carries it
	resp, err := c.do(ctx, call{
		method: http.MethodPut,
		// External ids are letters, digits, "_" and "-" [doc: section_156334828635];
		// anything else is escaped and left for NetSuite to judge.
		path: recordPath + object + "/eid:" + url.PathEscape(eid),
		body: body,
	})
	if err != nil {
		return connectors.WriteResult{}, err
	}
	switch resp.status {
	case http.StatusNoContent, http.StatusCreated, http.StatusOK:
		res := connectors.WriteResult{ID: locationID(resp.header.Get("Location")), Created: !exists}
		switch resp.status {
		case http.StatusCreated:
			res.Created = true
		case http.StatusOK:
			res.Created = false
		}
		if res.ID == "" {
			res.ID = known
		}
		return res, nil // an empty ID is read back by key after the batch
	}
	return c.recordResult(resp, "upsert "+object+" record "+desc, desc)
}

// recordResult judges a write's failure: a 400 is the record's own (invalid), a 404 the
// record's too (not found); anything else fails the call.
func (c *Connector) recordResult(resp *response, what, desc string) (connectors.WriteResult, error) {
	if rateLimited(resp) || resp.status != http.StatusBadRequest && resp.status != http.StatusNotFound {
		return connectors.WriteResult{}, c.callError(resp, what)
	}
	if resp.status == http.StatusNotFound {
		return connectors.WriteResult{Err: c.callError(resp, what)}, nil
	}
	e := apiError(resp)
	return connectors.WriteResult{Err: &connectors.InvalidRecordError{Record: desc, Field: e.path(), Reason: e.reason()}}, nil
}

// body is what is sent of a record's fields: all but the id and the read-only modified
// column (the values of a record read back), plus create_defaults on creation.
func (c *Connector) body(fields map[string]any, creating bool) map[string]any {
	out := make(map[string]any, len(fields)+len(c.cfg.CreateDefaults))
	if creating {
		for k, v := range c.cfg.CreateDefaults {
			out[k] = v
		}
	}
	for k, v := range fields {
		switch strings.ToLower(k) {
		case "id", "links", c.cfg.ModifiedField:
			continue
		}
		out[k] = v
	}
	return out
}

// checkBatch refuses a batch over max_batch, as the engine splits batches by
// Info().MaxBatch: it is a caller's bug, not the service's.
func (c *Connector) checkBatch(op, object string, n int) error {
	if n > c.cfg.MaxBatch {
		return &connectors.InvalidRecordError{Reason: fmt.Sprintf("netsuite %s %s: batch of %d records is over max_batch %d; split it by Info().MaxBatch", op, object, n, c.cfg.MaxBatch)}
	}
	return nil
}

// parallel runs fn for 0..n-1 on up to concurrency goroutines. The first error stops
// the others (no new record is started) and is returned once all have stopped.
func (c *Connector) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	for range min(n, c.cfg.Concurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || inner.Err() != nil {
					return
				}
				if err := fn(inner, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		if ctx.Err() != nil && errors.Is(first, context.Canceled) {
			return ctx.Err() // the caller's cancellation, not ours
		}
		return first
	}
	return ctx.Err()
}

// locationID is the internal id at the end of a Location URL, "" when it does not end
// in one (an eid: URL, say).
func locationID(loc string) string {
	if loc == "" {
		return ""
	}
	if u, err := url.Parse(loc); err == nil {
		loc = u.Path
	}
	id := loc[strings.LastIndexByte(loc, '/')+1:]
	if !isInternalID(id) {
		return ""
	}
	return id
}

// describe names a record in an error: its id, else the key, else its external id or
// name, else its place in the batch.
func describe(i int, r connectors.Record, key string) string {
	if r.ID != "" {
		return r.ID
	}
	for _, f := range []string{key, externalID, "entityid", "companyname"} {
		if f == "" {
			continue
		}
		if v, ok := r.Fields[f]; ok && connectors.KeyString(v) != "" {
			return fmt.Sprintf("%s=%s", f, connectors.KeyString(v))
		}
	}
	return fmt.Sprintf("#%d of the batch", i+1)
}

// renameRecord names the record of an update made for an upsert by its key.
func renameRecord(err error, desc string) error {
	var inv *connectors.InvalidRecordError
	if errors.As(err, &inv) {
		cp := *inv
		cp.Record = desc
		return &cp
	}
	return err
}
