package memory

import (
	"fmt"
	"sort"

	"tandem/connectors"
)

// This file holds what tests use beyond the Connector interface: direct access to the
// stored records, call counts and failure injection. None of it is counted by Calls.

// Put stores r exactly as given, replacing any record with its ID, so a test can set up
// states a service produces only by chance (equal timestamps, writes in the past). An
// empty ID gets a fresh id and a zero UpdatedAt gets Now(); only UpdatedAt's monotonic
// clock reading is dropped, as on every write. It returns the stored record.
func (c *Connector) Put(object string, r connectors.Record) connectors.Record {
	c.mu.Lock()
	tb := c.table(object)
	if r.ID == "" {
		r.ID = c.newID(tb)
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = c.now()
	} else {
		r.UpdatedAt = r.UpdatedAt.Round(0)
	}
	r.Fields = copyFields(r.Fields)
	tb.put(r)
	c.mu.Unlock()

	out := copyRecord(r)
	if c.opts.OnChange != nil {
		c.opts.OnChange(object, copyRecord(r))
	}
	return out
}

// Seed stores n new records with fields gen(0) ... gen(n-1), stamped by Now, and returns
// them in order.
func (c *Connector) Seed(object string, n int, gen func(i int) map[string]any) []connectors.Record {
	out := make([]connectors.Record, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, c.Put(object, connectors.Record{Fields: gen(i)}))
	}
	return out
}

// All returns copies of object's records, sorted by ID.
func (c *Connector) All(object string) []connectors.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	tb := c.table(object)
	out := make([]connectors.Record, 0, len(tb.records))
	for _, r := range tb.records {
		out = append(out, copyRecord(r))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Len returns how many records object has.
func (c *Connector) Len(object string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.table(object).records)
}

// Remove deletes a record, if it exists, as a user of the service would: it stops
// appearing in Changes and Get, and its deletion is in the delete log (Deletes).
func (c *Connector) Remove(object, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(object, id)
}

// Calls returns how many times each interface method was called (by method name, see
// the Method constants), failed calls included.
func (c *Connector) Calls() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.calls))
	for m, n := range c.calls {
		out[m] = n
	}
	return out
}

// Writes returns how many records Create, Update, Upsert and UpdateIfUnchanged wrote
// successfully.
func (c *Connector) Writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// ResetCounts zeroes Calls and Writes.
func (c *Connector) ResetCounts() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = map[string]int{}
	c.writes = 0
}

// fault is an injected failure of the next n calls of one method.
type fault struct {
	n     int
	err   error
	after bool // do the work, then fail
}

// FailNext makes the next n calls of method return err without doing anything, as a
// service that is down or refuses the request. Injections for one method queue up in the
// order they were made.
func (c *Connector) FailNext(method string, n int, err error) {
	c.addFault(method, &fault{n: n, err: err})
}

// FailAfter makes the next n calls of method do their work and then return err, as a
// call that times out after the service already wrote: a retry must not write twice.
func (c *Connector) FailAfter(method string, n int, err error) {
	c.addFault(method, &fault{n: n, err: err, after: true})
}

func (c *Connector) addFault(method string, f *fault) {
	switch method {
	case MethodChanges, MethodGet, MethodFind, MethodCreate, MethodUpdate, MethodUpsert, MethodUpdateIfUnchanged,
		MethodDeletes, MethodListIDs, MethodDelete, MethodDescribe, MethodMarks, MethodChangesBetween:
	default:
		// A misspelt method would silently inject nothing and the test would pass for
		// the wrong reason.
		panic(fmt.Sprintf("memory: cannot inject a failure into unknown method %q", method))
	}
	if f.n <= 0 {
		return
	}
	if f.err == nil {
		panic("memory: cannot inject a nil error")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults[method] = append(c.faults[method], f)
}

// takeFault consumes one call of method's first queued fault. Callers hold c.mu.
func (c *Connector) takeFault(method string) *fault {
	queue := c.faults[method]
	if len(queue) == 0 {
		return nil
	}
	f := queue[0]
	f.n--
	if f.n == 0 {
		c.faults[method] = queue[1:]
	}
	return f
}

// RejectRecords installs a validation rule for writes: a record for which pred returns a
// non-empty reason is not written and its result gets an *connectors.InvalidRecordError
// with that reason; the rest of the batch is written. pred sees the record as the caller
// sent it and runs under the connector's lock, so it must not call the connector. A nil
// pred removes the rule.
func (c *Connector) RejectRecords(pred func(connectors.Record) string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reject = pred
}
