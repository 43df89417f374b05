// Package memory is an in-process connector for engine tests and the dev mode. It keeps
// records in maps, behaves like a well-mannered service (paging in (UpdatedAt, ID) order,
// per-record write errors, batch limits, each record written given back when the caller
// asks: connectors.WithRecordsBack) and lets tests inject failures, slow calls and equal
// timestamps that a real service produces only by chance.
package memory

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"tandem/connectors"
)

// Options configure a memory connector. The zero value is a usable default.
type Options struct {
	// Type is what Info reports; default "memory".
	Type string
	// IDPrefix starts every id the connector assigns; default "m-".
	IDPrefix string
	// Now stamps UpdatedAt on every write; default time.Now. Equal stamps are kept as
	// they are, as a real service keeps them.
	Now func() time.Time
	// MaxBatch is the most records one write accepts; 0 means no limit.
	MaxBatch int
	// NoNativeUpsert makes Info report NativeUpsert=false, so engine tests can drive the
	// lookup-before-create path. Upsert itself still works.
	NoNativeUpsert bool
	// Latency is slept at the start of every interface call (honouring the context).
	Latency time.Duration
	// Rewrite, when set, may change the fields of every record written through the
	// interface before it is stored, as services that reformat values on write do
	// (lower-casing a domain, formatting a phone).
	Rewrite func(object string, fields map[string]any)
	// DeleteLogRetention is how long the delete log keeps a deletion (Deletes); a cursor
	// older than that gets connectors.DeleteLogExpiredError. Zero: for ever.
	DeleteLogRetention time.Duration
	// Fields, when set, declares each object's fields: Describe (connectors.Describer)
	// answers with them, and an object without an entry does not exist. Writes are not
	// checked against them. Nil: Describe answers with the fields the object's records
	// carry (describe.go).
	Fields map[string][]connectors.Field
	// ParallelReads is what ReadParallelism reports (connectors.RangeReader): how many
	// spans of changes a bulk run reads at once. 0 or 1: none.
	ParallelReads int
	// OnChange, when set, is called after each successful write (including Put and Seed)
	// with a copy of the stored record, outside the connector's lock. It is where webhook
	// emission will hook in.
	OnChange func(object string, r connectors.Record)
}

// Method names, as used by Calls, FailNext and FailAfter.
const (
	MethodChanges = "Changes"
	// The range reads (connectors.RangeReader).
	MethodMarks          = "Marks"
	MethodChangesBetween = "ChangesBetween"
	MethodGet            = "Get"
	MethodFind           = "Find"
	MethodCreate         = "Create"
	MethodUpdate         = "Update"
	MethodUpsert         = "Upsert"
	// MethodUpdateIfUnchanged is connectors.ConditionalUpdater's method.
	MethodUpdateIfUnchanged = "UpdateIfUnchanged"
	// The deletes interfaces' methods.
	MethodDeletes = "Deletes"
	MethodListIDs = "ListIDs"
	MethodDelete  = "Delete"
)

// Connector is an in-process connectors.Connector. It is safe for concurrent use.
type Connector struct {
	opts Options

	mu      sync.Mutex
	objects map[string]*table
	lastID  int // counter behind assigned ids, shared by all objects
	calls   map[string]int
	writes  int
	faults  map[string][]*fault
	reject  func(connectors.Record) string
}

// table holds one object's records.
type table struct {
	// records are by ID, deep copies owned by the table. A stored record's fields are
	// never changed: a write stores a new map (merge copies the old one), so a reader
	// copies what it gives its caller after releasing the lock (copyOut), and a batch
	// does not hold up the connector's other calls while it copies. A write's answer
	// (WriteResult.Record, which its caller does not change) is the stored record itself.
	records map[string]connectors.Record
	// order is an index of positions in (UpdatedAt, ID) order so Changes need not sort
	// on every page. Writes append when the new position is after the last one (the
	// common case: time moves forward); an entry whose record has since moved or gone is
	// stale and skipped. Any out-of-order write clears sorted, and the next read rebuilds.
	order  []connectors.Cursor
	sorted bool
	stale  int
	// deleted is the delete log, in the order deletions happened (DeletedAt never goes
	// back: see removeLocked); purged up to the retention.
	deleted []connectors.Tombstone
	// purgedUntil is the time before which the log has been purged.
	purgedUntil time.Time
	// keys are the indexes of (normalized) key values that look-ups built, by field and
	// normalizer name; put and remove keep them.
	keys map[string]*keyIndex
}

// keyIndex maps the key values of a field, normalized by apply when set, to the ids of
// the records holding them, in order (a slice: a key is mostly one record's; a map per
// key made the indexes 75 MB of a 100,000-pair two-way bench run's heap, 14.5 MB now).
type keyIndex struct {
	field string
	apply func(string) string
	ids   map[string][]string
}

// keyIndex returns the index of field's keys normalized by n, building it on first use.
// Callers hold c.mu.
func (tb *table) keyIndex(field string, n connectors.KeyNormalizer) *keyIndex {
	name := field + "\x00" + n.Name
	if n.Apply == nil {
		name = field
	}
	if ix, ok := tb.keys[name]; ok {
		return ix
	}
	ix := &keyIndex{field: field, apply: n.Apply, ids: map[string][]string{}}
	for _, r := range tb.records {
		ix.add(r)
	}
	if tb.keys == nil {
		tb.keys = map[string]*keyIndex{}
	}
	tb.keys[name] = ix
	return ix
}

// key returns r's key in the index, and false when it has none.
func (ix *keyIndex) key(r connectors.Record) (string, bool) {
	k, ok := keyOf(r, ix.field)
	if ok && ix.apply != nil {
		k = ix.apply(k)
	}
	return k, ok && k != ""
}

func (ix *keyIndex) add(r connectors.Record) {
	if k, ok := ix.key(r); ok {
		if i, found := slices.BinarySearch(ix.ids[k], r.ID); !found {
			ix.ids[k] = slices.Insert(ix.ids[k], i, r.ID)
		}
	}
}

func (ix *keyIndex) drop(r connectors.Record) {
	if k, ok := ix.key(r); ok {
		if i, found := slices.BinarySearch(ix.ids[k], r.ID); found {
			ix.ids[k] = slices.Delete(ix.ids[k], i, i+1)
		}
		if len(ix.ids[k]) == 0 {
			delete(ix.ids, k)
		}
	}
}

var (
	_ connectors.Connector          = (*Connector)(nil)
	_ connectors.ConditionalUpdater = (*Connector)(nil)
	_ connectors.DeleteReader       = (*Connector)(nil)
	_ connectors.IDLister           = (*Connector)(nil)
	_ connectors.Deleter            = (*Connector)(nil)
	_ connectors.RangeReader        = (*Connector)(nil)
	_ connectors.NormalizingFinder  = (*Connector)(nil)
)

// New returns an empty connector.
func New(opts Options) *Connector {
	if opts.Type == "" {
		opts.Type = Type
	}
	if opts.IDPrefix == "" {
		opts.IDPrefix = "m-"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Connector{
		opts:    opts,
		objects: map[string]*table{},
		calls:   map[string]int{},
		faults:  map[string][]*fault{},
	}
}

// Info implements connectors.Connector.
func (c *Connector) Info() connectors.Info {
	return connectors.Info{
		Type:         c.opts.Type,
		MaxBatch:     c.opts.MaxBatch,
		NativeUpsert: !c.opts.NoNativeUpsert,
		Schemaless:   c.opts.Fields == nil,
	}
}

// Changes implements connectors.Connector.
func (c *Connector) Changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	return c.changes(ctx, MethodChanges, object, since, nil, limit)
}

// ReadParallelism implements connectors.RangeReader.
func (c *Connector) ReadParallelism() int { return c.opts.ParallelReads }

// ChangesBetween implements connectors.RangeReader.
func (c *Connector) ChangesBetween(ctx context.Context, object string, since, until connectors.Cursor, limit int) (connectors.Page, error) {
	return c.changes(ctx, MethodChangesBetween, object, since, &until, limit)
}

// Marks implements connectors.RangeReader.
func (c *Connector) Marks(ctx context.Context, object string, since connectors.Cursor, step, n int) ([]connectors.Cursor, error) {
	if step <= 0 || n < 0 {
		return nil, fmt.Errorf("memory marks of %s: step %d must be positive and n %d not negative", object, step, n)
	}
	afterErr, err := c.begin(ctx, MethodMarks, object)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	tb := c.table(object)
	tb.index()
	marks := []connectors.Cursor{}
	seen := 0
	for i := tb.after(since); i < len(tb.order) && len(marks) < n; i++ {
		if _, ok := tb.live(tb.order[i]); !ok {
			continue
		}
		if seen++; seen%step == 0 {
			marks = append(marks, tb.order[i])
		}
	}
	c.mu.Unlock()
	if afterErr != nil {
		return nil, afterErr
	}
	return marks, nil
}

// changes reads the records after since, and at or before until when it is set.
func (c *Connector) changes(ctx context.Context, method, object string, since connectors.Cursor, until *connectors.Cursor, limit int) (connectors.Page, error) {
	if limit <= 0 {
		return connectors.Page{}, fmt.Errorf("memory %s of %s: limit %d must be positive", method, object, limit)
	}
	afterErr, err := c.begin(ctx, method, object)
	if err != nil {
		return connectors.Page{}, err
	}

	c.mu.Lock()
	tb := c.table(object)
	tb.index()
	page := connectors.Page{Records: []connectors.Record{}}
	for i := tb.after(since); i < len(tb.order); i++ {
		pos := tb.order[i]
		if until != nil && until.Before(connectors.Record{ID: pos.ID, UpdatedAt: pos.UpdatedAt}) {
			break
		}
		r, ok := tb.live(pos)
		if !ok {
			continue
		}
		if len(page.Records) == limit {
			page.More = true
			break
		}
		page.Records = append(page.Records, r)
	}
	c.mu.Unlock()
	copyOut(page.Records)

	if afterErr != nil {
		return connectors.Page{}, afterErr
	}
	return page, nil
}

// CountChanges implements connectors.ChangeCounter.
func (c *Connector) CountChanges(ctx context.Context, object string, since connectors.Cursor) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, r := range c.table(object).records {
		if since.Before(r) {
			n++
		}
	}
	return n, nil
}

// Get implements connectors.Connector. Ids that do not exist are left out; an id asked
// for twice is returned once.
func (c *Connector) Get(ctx context.Context, object string, ids []string) ([]connectors.Record, error) {
	afterErr, err := c.begin(ctx, MethodGet, object)
	if err != nil {
		return nil, err
	}

	c.mu.Lock()
	tb := c.table(object)
	out := make([]connectors.Record, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if r, ok := tb.records[id]; ok && !seen[id] {
			seen[id] = true
			out = append(out, r)
		}
	}
	c.mu.Unlock()
	copyOut(out)

	if afterErr != nil {
		return nil, afterErr
	}
	return out, nil
}

// Find implements connectors.Connector. Values are compared by connectors.KeyString; an
// empty value matches nothing, as a record without the field has no key. Each value's
// records are sorted by ID.
func (c *Connector) Find(ctx context.Context, object, field string, values []string) (map[string][]connectors.Record, error) {
	return c.FindNormalized(ctx, object, field, values, connectors.KeyNormalizer{})
}

// FindNormalized implements connectors.NormalizingFinder; a nil Apply matches exactly.
// It looks the values up in an index of the field's (normalized) keys, built on the first
// look-up and kept by every write after it, as a service's search index would be.
func (c *Connector) FindNormalized(ctx context.Context, object, field string, values []string, normalize connectors.KeyNormalizer) (map[string][]connectors.Record, error) {
	afterErr, err := c.begin(ctx, MethodFind, object)
	if err != nil {
		return nil, err
	}

	out := map[string][]connectors.Record{}
	c.mu.Lock()
	tb := c.table(object)
	ix := tb.keyIndex(field, normalize)
	for _, v := range values {
		if v == "" || out[v] != nil {
			continue
		}
		for _, id := range ix.ids[v] { // in id order
			out[v] = append(out[v], tb.records[id])
		}
	}
	c.mu.Unlock()
	for _, rs := range out {
		copyOut(rs)
	}

	if afterErr != nil {
		return nil, afterErr
	}
	return out, nil
}

// Create implements connectors.Connector. The records' IDs are ignored.
func (c *Connector) Create(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	return c.write(ctx, MethodCreate, object, records, func(tb *table, r connectors.Record) (connectors.Record, connectors.WriteResult) {
		if reason := c.rejected(r); reason != "" {
			return connectors.Record{}, connectors.WriteResult{Err: &connectors.InvalidRecordError{Reason: reason}}
		}
		stored := connectors.Record{ID: c.newID(tb), UpdatedAt: c.now(), Fields: copyFields(r.Fields)}
		return stored, connectors.WriteResult{ID: stored.ID, Created: true}
	})
}

// Update implements connectors.Connector: the given fields overwrite, the others stay.
func (c *Connector) Update(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	return c.write(ctx, MethodUpdate, object, records, func(tb *table, r connectors.Record) (connectors.Record, connectors.WriteResult) {
		if r.ID == "" {
			return connectors.Record{}, connectors.WriteResult{Err: &connectors.InvalidRecordError{Reason: "record has no id to update"}}
		}
		old, ok := tb.records[r.ID]
		if !ok {
			return connectors.Record{}, connectors.WriteResult{Err: &connectors.NotFoundError{What: fmt.Sprintf("%s record %s", object, r.ID)}}
		}
		if reason := c.rejected(r); reason != "" {
			return connectors.Record{}, connectors.WriteResult{Err: &connectors.InvalidRecordError{Record: r.ID, Reason: reason}}
		}
		stored := c.merge(old, r.Fields)
		return stored, connectors.WriteResult{ID: stored.ID}
	})
}

// UpdateIfUnchanged implements connectors.ConditionalUpdater: Update, where a record is
// written only while the stored record's UpdatedAt is exactly (time.Equal) the one given,
// as it was read; otherwise its result is a *connectors.StaleRecordError with the stored
// UpdatedAt as Now. The check and the write are under one lock, so no write comes between.
// A record without an UpdatedAt has no read version and is refused as invalid.
func (c *Connector) UpdateIfUnchanged(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	return c.write(ctx, MethodUpdateIfUnchanged, object, records, func(tb *table, r connectors.Record) (connectors.Record, connectors.WriteResult) {
		if r.ID == "" {
			return connectors.Record{}, connectors.WriteResult{Err: &connectors.InvalidRecordError{Reason: "record has no id to update"}}
		}
		old, ok := tb.records[r.ID]
		if !ok {
			return connectors.Record{}, connectors.WriteResult{Err: &connectors.NotFoundError{What: fmt.Sprintf("%s record %s", object, r.ID)}}
		}
		if r.UpdatedAt.IsZero() {
			return connectors.Record{}, connectors.WriteResult{Err: &connectors.InvalidRecordError{Record: r.ID, Field: "UpdatedAt",
				Reason: "a conditional update needs the UpdatedAt the record was read with"}}
		}
		if !old.UpdatedAt.Equal(r.UpdatedAt) {
			return connectors.Record{}, connectors.WriteResult{Err: &connectors.StaleRecordError{ID: r.ID, Read: r.UpdatedAt, Now: old.UpdatedAt}}
		}
		if reason := c.rejected(r); reason != "" {
			return connectors.Record{}, connectors.WriteResult{Err: &connectors.InvalidRecordError{Record: r.ID, Reason: reason}}
		}
		stored := c.merge(old, r.Fields)
		return stored, connectors.WriteResult{ID: stored.ID}
	})
}

// Upsert implements connectors.Connector. It is atomic (one lock for the whole batch), so
// it behaves as a native upsert whatever Options.NoNativeUpsert says. Records of the
// same batch see each other: a key given twice creates once, then updates.
func (c *Connector) Upsert(ctx context.Context, object, key string, records []connectors.Record) ([]connectors.WriteResult, error) {
	if key == "" {
		return nil, fmt.Errorf("memory upsert into %s: empty key field", object)
	}
	return c.write(ctx, MethodUpsert, object, records, func(tb *table, r connectors.Record) (connectors.Record, connectors.WriteResult) {
		k, ok := keyOf(r, key)
		if !ok {
			return connectors.Record{}, connectors.WriteResult{Err: &connectors.InvalidRecordError{Field: key, Reason: "the key field is empty"}}
		}
		if reason := c.rejected(r); reason != "" {
			return connectors.Record{}, connectors.WriteResult{Err: &connectors.InvalidRecordError{Record: k, Reason: reason}}
		}
		// The index is kept by each record the batch stores: a key twice in one batch is
		// created once, then updated.
		switch ids := tb.keyIndex(key, connectors.KeyNormalizer{}).ids[k]; len(ids) {
		case 0:
			stored := connectors.Record{ID: c.newID(tb), UpdatedAt: c.now(), Fields: copyFields(r.Fields)}
			return stored, connectors.WriteResult{ID: stored.ID, Created: true}
		case 1:
			stored := c.merge(tb.records[ids[0]], r.Fields)
			return stored, connectors.WriteResult{ID: stored.ID}
		default:
			return connectors.Record{}, connectors.WriteResult{Err: &connectors.AmbiguousMatchError{Field: key, Value: k, IDs: slices.Clone(ids)}}
		}
	})
}

// write runs one batched write: apply is called under the lock for each record in
// order and returns the record to store (when its result has no Err).
func (c *Connector) write(ctx context.Context, method, object string, records []connectors.Record,
	apply func(tb *table, r connectors.Record) (connectors.Record, connectors.WriteResult)) ([]connectors.WriteResult, error) {
	afterErr, err := c.begin(ctx, method, object)
	if err != nil {
		return nil, err
	}
	if limit := c.opts.MaxBatch; limit > 0 && len(records) > limit {
		// A real service answers 400 to an oversized batch: retrying cannot help, so it
		// is an invalid-record error (non-retryable), not a transport error.
		return nil, &connectors.InvalidRecordError{
			Reason: fmt.Sprintf("batch of %d records is over the limit of %d; split it by Info().MaxBatch", len(records), limit),
		}
	}

	results := make([]connectors.WriteResult, len(records))
	var changed []connectors.Record
	back := connectors.RecordsBack(ctx)
	c.mu.Lock()
	tb := c.table(object)
	for i, r := range records {
		stored, res := apply(tb, r)
		results[i] = res
		if res.Err != nil {
			continue
		}
		if c.opts.Rewrite != nil {
			c.opts.Rewrite(object, stored.Fields)
		}
		tb.put(stored)
		c.writes++
		if back {
			results[i].Record = &stored
		}
		if c.opts.OnChange != nil {
			changed = append(changed, stored)
		}
	}
	c.mu.Unlock()
	copyOut(changed)

	for _, r := range changed {
		c.opts.OnChange(object, r)
	}
	if afterErr != nil {
		return nil, afterErr
	}
	return results, nil
}

// begin does what every interface call does first: count it, check the object and the
// context, sleep the latency and take an injected failure. It returns the error to give
// after doing the work (FailAfter), or the error to give instead of it.
func (c *Connector) begin(ctx context.Context, method, object string) (afterErr, err error) {
	c.mu.Lock()
	c.calls[method]++
	c.mu.Unlock()

	if object == "" {
		return nil, fmt.Errorf("memory %s: empty object name", method)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory %s %s: %w", method, object, err)
	}
	if c.opts.Latency > 0 {
		timer := time.NewTimer(c.opts.Latency)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("memory %s %s: %w", method, object, ctx.Err())
		case <-timer.C:
		}
	}

	c.mu.Lock()
	f := c.takeFault(method)
	c.mu.Unlock()
	switch {
	case f == nil:
		return nil, nil
	case f.after:
		return f.err, nil
	default:
		return nil, f.err
	}
}

// table returns object's table, creating it on first use. Callers hold c.mu.
func (c *Connector) table(object string) *table {
	tb, ok := c.objects[object]
	if !ok {
		tb = &table{records: map[string]connectors.Record{}, sorted: true}
		c.objects[object] = tb
	}
	return tb
}

// newID returns a fresh id, skipping any a test stored itself with Put. Callers hold c.mu.
func (c *Connector) newID(tb *table) string {
	for {
		c.lastID++
		id := fmt.Sprintf("%s%06d", c.opts.IDPrefix, c.lastID)
		if _, taken := tb.records[id]; !taken {
			return id
		}
	}
}

// now stamps a write. The monotonic reading is dropped: a service's timestamps are wall
// times, and records must compare equal after a round trip.
func (c *Connector) now() time.Time { return c.opts.Now().Round(0) }

// merge returns old with fields overwritten and a new stamp. Callers hold c.mu.
func (c *Connector) merge(old connectors.Record, fields map[string]any) connectors.Record {
	merged := copyFields(old.Fields)
	if merged == nil {
		merged = map[string]any{}
	}
	for k, v := range fields {
		merged[k] = copyValue(v)
	}
	return connectors.Record{ID: old.ID, UpdatedAt: c.now(), Fields: merged}
}

// rejected returns the reason RejectRecords gives for r, or "". Callers hold c.mu.
func (c *Connector) rejected(r connectors.Record) string {
	if c.reject == nil {
		return ""
	}
	return c.reject(copyRecord(r)) // a copy, so the rule cannot change the caller's record
}

// put stores r (already a private copy) and keeps the order index.
func (tb *table) put(r connectors.Record) {
	if old, existed := tb.records[r.ID]; existed {
		tb.stale++ // the old position, if still indexed, is now stale
		for _, ix := range tb.keys {
			ix.drop(old)
		}
	}
	for _, ix := range tb.keys {
		ix.add(r)
	}
	tb.records[r.ID] = r
	pos := connectors.CursorOf(r)
	if tb.sorted && (len(tb.order) == 0 || tb.order[len(tb.order)-1].Before(r)) {
		tb.order = append(tb.order, pos)
		return
	}
	// Out of order (a Put into the past, an equal stamp on an older id): the next read
	// rebuilds. Requiring strictly-after also keeps positions unique in a sorted index.
	tb.sorted = false
}

// remove deletes a record; its indexed position goes stale.
func (tb *table) remove(id string) {
	if old, ok := tb.records[id]; ok {
		for _, ix := range tb.keys {
			ix.drop(old)
		}
		delete(tb.records, id)
		tb.stale++
	}
}

// index makes order sorted, rebuilding it when writes went out of order or when stale
// entries outnumber live records.
func (tb *table) index() {
	if tb.sorted && tb.stale <= len(tb.records) {
		return
	}
	tb.order = tb.order[:0]
	for _, r := range tb.records {
		tb.order = append(tb.order, connectors.CursorOf(r))
	}
	sort.Slice(tb.order, func(i, j int) bool {
		a := tb.order[j]
		return tb.order[i].Before(connectors.Record{ID: a.ID, UpdatedAt: a.UpdatedAt})
	})
	tb.sorted = true
	tb.stale = 0
}

// after returns the index in the (sorted) order of the first position strictly after
// since.
func (tb *table) after(since connectors.Cursor) int {
	return sort.Search(len(tb.order), func(i int) bool {
		return since.Before(connectors.Record{ID: tb.order[i].ID, UpdatedAt: tb.order[i].UpdatedAt})
	})
}

// live returns the record at pos, unless it has moved or gone since pos was indexed.
func (tb *table) live(pos connectors.Cursor) (connectors.Record, bool) {
	r, ok := tb.records[pos.ID]
	if !ok || !r.UpdatedAt.Equal(pos.UpdatedAt) {
		return connectors.Record{}, false
	}
	return r, true
}

// keyOf returns the key string of r's field, and false when it is empty.
func keyOf(r connectors.Record, field string) (string, bool) {
	v, ok := r.Value(field)
	if !ok {
		return "", false
	}
	k := connectors.KeyString(v)
	return k, k != ""
}

// copyOut replaces each record's fields with a copy of its own (records read under the
// lock, given to a caller after it).
func copyOut(records []connectors.Record) {
	for i := range records {
		records[i].Fields = copyFields(records[i].Fields)
	}
}

func copyRecord(r connectors.Record) connectors.Record {
	r.Fields = copyFields(r.Fields)
	return r
}

// copyFields copies deeply, so no caller can change a stored record through a map or
// slice it handed in or got back.
func copyFields(fields map[string]any) map[string]any {
	if fields == nil {
		return nil
	}
	out := make(map[string]any, len(fields))
	for k, v := range fields {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return copyFields(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyValue(e)
		}
		return out
	default:
		return v
	}
}
