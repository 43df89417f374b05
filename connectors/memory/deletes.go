package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"tandem/connectors"
)

// Deletes implements connectors.DeleteReader: the deletions of object strictly after
// since, in (DeletedAt, ID) order. With Options.DeleteLogRetention, deletions older than
// it are purged, and a cursor from before the purge is refused.
func (c *Connector) Deletes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.DeletesPage, error) {
	if limit <= 0 {
		return connectors.DeletesPage{}, fmt.Errorf("memory deletes of %s: limit %d must be positive", object, limit)
	}
	afterErr, err := c.begin(ctx, MethodDeletes, object)
	if err != nil {
		return connectors.DeletesPage{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tb := c.table(object)
	c.purge(tb)
	if !tb.purgedUntil.IsZero() && since.UpdatedAt.Before(tb.purgedUntil) {
		return connectors.DeletesPage{}, &connectors.DeleteLogExpiredError{Object: object, Since: since.UpdatedAt, Earliest: tb.purgedUntil}
	}
	i := sort.Search(len(tb.deleted), func(i int) bool {
		return since.Before(connectors.Record{ID: tb.deleted[i].ID, UpdatedAt: tb.deleted[i].DeletedAt})
	})
	end := min(len(tb.deleted), i+limit)
	page := connectors.DeletesPage{Tombstones: slices.Clone(tb.deleted[i:end]), More: end < len(tb.deleted)}
	if !page.More {
		// Deletions are stamped by the clock, and never before the last one.
		page.CoveredUntil = c.now()
		if n := len(tb.deleted); n > 0 && page.CoveredUntil.Before(tb.deleted[n-1].DeletedAt) {
			page.CoveredUntil = tb.deleted[n-1].DeletedAt
		}
	}
	return page, afterErr
}

// purge drops deletions older than the retention. Callers hold c.mu.
func (c *Connector) purge(tb *table) {
	if c.opts.DeleteLogRetention <= 0 {
		return
	}
	horizon := c.now().Add(-c.opts.DeleteLogRetention)
	n := 0
	for n < len(tb.deleted) && tb.deleted[n].DeletedAt.Before(horizon) {
		n++
	}
	tb.deleted = tb.deleted[n:]
	if horizon.After(tb.purgedUntil) {
		tb.purgedUntil = horizon
	}
}

// ListIDs implements connectors.IDLister: the ids of object's records in id order, a
// page at a time; the token is the last id of the previous page.
func (c *Connector) ListIDs(ctx context.Context, object, token string, limit int) ([]string, string, error) {
	if limit <= 0 {
		return nil, "", fmt.Errorf("memory list ids of %s: limit %d must be positive", object, limit)
	}
	afterErr, err := c.begin(ctx, MethodListIDs, object)
	if err != nil {
		return nil, "", err
	}
	c.mu.Lock()
	ids := make([]string, 0, len(c.table(object).records))
	for id := range c.table(object).records {
		if id > token {
			ids = append(ids, id)
		}
	}
	c.mu.Unlock()
	sort.Strings(ids)
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	return ids, next, afterErr
}

// Delete implements connectors.Deleter: the records are removed and logged as deleted;
// an id that does not exist counts as deleted. A record RejectRecords refuses is kept,
// with the reason.
func (c *Connector) Delete(ctx context.Context, object string, ids []string) ([]connectors.WriteResult, error) {
	afterErr, err := c.begin(ctx, MethodDelete, object)
	if err != nil {
		return nil, err
	}
	if c.opts.MaxBatch > 0 && len(ids) > c.opts.MaxBatch {
		return nil, fmt.Errorf("memory delete of %s: %d records exceed the batch limit of %d", object, len(ids), c.opts.MaxBatch)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tb := c.table(object)
	results := make([]connectors.WriteResult, len(ids))
	for i, id := range ids {
		results[i].ID = id
		if r, ok := tb.records[id]; ok {
			if reason := c.rejected(r); reason != "" {
				results[i].Err = &connectors.InvalidRecordError{Record: id, Reason: reason}
				continue
			}
		}
		if c.removeLocked(object, id) {
			c.writes++
		}
	}
	return results, afterErr
}

// removeLocked removes a record and logs its deletion; false if it did not exist.
// Callers hold c.mu.
func (c *Connector) removeLocked(object, id string) bool {
	tb := c.table(object)
	if _, ok := tb.records[id]; !ok {
		return false
	}
	tb.remove(id)
	at := c.now()
	// The log is in time order: a clock that went back stamps the last time again.
	if n := len(tb.deleted); n > 0 && at.Before(tb.deleted[n-1].DeletedAt) {
		at = tb.deleted[n-1].DeletedAt
	}
	// Equal times are ordered by id, as the cursor reads them.
	t := connectors.Tombstone{ID: id, DeletedAt: at}
	i := len(tb.deleted)
	for i > 0 && tb.deleted[i-1].DeletedAt.Equal(at) && tb.deleted[i-1].ID > id {
		i--
	}
	tb.deleted = slices.Insert(tb.deleted, i, t)
	return true
}
