// Package connectortest is the conformance suite every connector runs: the in-process
// memory connector, and each service's connector against its local fake server. It checks
// what the sync engine relies on (paging in (UpdatedAt, ID) order without gaps or repeats,
// per-record write outcomes, key lookups, upserts that do not duplicate, conditional
// updates that refuse a stale read, batch limits, cancellation, no leaked goroutines)
// through the Connector interface and the optional interfaces it implements: the delete
// interfaces (connectors.Deleter, connectors.DeleteReader, connectors.IDLister) are held to
// one contract wherever a connector implements them, and their cases skip, naming the
// interface, where it does not.
//
// A connector's test calls Run with a Driver:
//
//	func TestConformance(t *testing.T) {
//		connectortest.Run(t, connectortest.Driver{
//			New:       func(t *testing.T) connectors.Connector { ... },
//			Object:    "companies",
//			KeyField:  "domain",
//			NewFields: func(i int) map[string]any { ... },
//			Mutate:    func(f map[string]any) map[string]any { ... },
//		})
//	}
//
// Run checks with go.uber.org/goleak that each subtest leaves no goroutine behind that
// was not running before it, so the test calling it must not run in parallel with other
// tests of its package.
package connectortest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"tandem/connectors"
)

// Driver tells the suite how to open a connector and what records to write.
type Driver struct {
	// New returns a fresh, empty connector for one subtest; anything it starts (a fake
	// server, idle HTTP connections) is stopped with t.Cleanup.
	New func(t *testing.T) connectors.Connector
	// Object to test on, e.g. "companies".
	Object string
	// KeyField is a field usable as a unique key, e.g. "domain".
	KeyField string
	// NewFields returns valid fields for new record number i; they include KeyField,
	// whose value is unique per i.
	NewFields func(i int) map[string]any
	// Mutate returns a changed copy of fields (for updates); at least one value must
	// differ.
	Mutate func(fields map[string]any) map[string]any
	// Invalid returns fields the service must reject (for per-record errors), or is nil
	// to skip that case.
	Invalid func() map[string]any
	// SetUpdatedAt, when non-nil, sets a record's UpdatedAt so the suite can force equal
	// timestamps (memory can; fakes may); nil skips that case.
	SetUpdatedAt func(t *testing.T, c connectors.Connector, object, id string, at time.Time)

	// MissingID is an id no record has, shaped like the service's own ids (a fake may
	// reject a malformed id outright). Default "tandem-missing-id".
	MissingID string
	// Resolution is the service's timestamp granularity. Before an update the suite
	// waits twice this long, so the update's stamp is after the create's. Default 1ms.
	Resolution time.Duration
	// ConditionalResolution is the granularity at which the service's conditional update
	// (connectors.ConditionalUpdater) tells that a record changed, when it is coarser than
	// Resolution: Salesforce's If-Unmodified-Since carries whole seconds whatever the
	// stamps keep. The conditional case changes a record until its stamp, at this
	// granularity, is after the stamp it was read with. Default Resolution.
	ConditionalResolution time.Duration

	// Advance, when non-nil, moves the clock of connector c, and of the service (the fake)
	// behind it, forward by d; Clock is one such clock. The delete log case uses it to move
	// past the time a delete log holds back (DeleteLag).
	Advance func(t *testing.T, c connectors.Connector, d time.Duration)
	// DeleteLag is how far the service's clock must move past a deletion before Deletes
	// (connectors.DeleteReader) returns it, for a log that trails in time: HubSpot's settle
	// horizon, Salesforce's whole minutes. After deleting, the delete log case calls
	// Advance with it; with a lag and no Advance the case skips. Zero: deletions are read
	// at once.
	DeleteLag time.Duration
	// Remove, when non-nil, deletes a record through the service itself (the fake), for a
	// connector that reads a delete log but is no connectors.Deleter. Nil: the suite
	// deletes through connectors.Deleter, and skips what needs a deletion without one.
	Remove func(t *testing.T, c connectors.Connector, object, id string)

	// ReadBack, when non-nil, marks a write-only destination (S3: Changes and Get fail,
	// Find finds nothing) and returns the fields of every record written to c
	// so far, read from the service. The suite then runs the cases that apply to a
	// destination (a full batch, a rejected record, a cancelled context, Describe), and
	// checks what was written through ReadBack.
	ReadBack func(t *testing.T, c connectors.Connector) []map[string]any

	// KnownBugs names cases (as Run names its subtests) that fail for this connector
	// because of a bug in it, each with the failure it shows. Such a case is skipped with
	// "known bug: <failure>", so the bug stays visible while the build is green; remove
	// the entry with the fix.
	KnownBugs map[string]string
}

// Run runs the conformance suite against the connector d opens, one subtest per case.
func Run(t *testing.T, d Driver) {
	t.Helper()
	require.NotNil(t, d.New, "Driver.New")
	require.NotEmpty(t, d.Object, "Driver.Object")
	require.NotEmpty(t, d.KeyField, "Driver.KeyField")
	require.NotNil(t, d.NewFields, "Driver.NewFields")
	require.NotNil(t, d.Mutate, "Driver.Mutate")
	if d.MissingID == "" {
		d.MissingID = "tandem-missing-id"
	}
	if d.Resolution <= 0 {
		d.Resolution = time.Millisecond
	}
	if d.ConditionalResolution <= 0 {
		d.ConditionalResolution = d.Resolution
	}
	s := &suite{d: d}

	cases := []testCase{
		{"CreateThenGet", s.createThenGet},
		{"GetLeavesOutMissingIDs", s.getLeavesOutMissingIDs},
		{"ChangesPagesInOrder", s.changesPagesInOrder},
		{"ChangesResumeAfterCursor", s.changesResumeAfterCursor},
		{"ChangesEqualTimestampsAcrossPages", s.changesEqualTimestampsAcrossPages},
		{"CountChanges", s.countChanges},
		{"RangeReads", s.rangeReads},
		{"RangeReadsEqualTimestamps", s.rangeReadsEqualTimestamps},
		{"UpdateChangesOnlyGivenFields", s.updateChangesOnlyGivenFields},
		{"UpdateMissingIDIsPerRecordNotFound", s.updateMissingIDIsPerRecordNotFound},
		{"FindManyValues", s.findManyValues},
		{"UpsertCreatesThenUpdates", s.upsertCreatesThenUpdates},
		{"UpdateIfUnchanged", s.updateIfUnchanged},
		{"RejectedRecordInBatch", s.rejectedRecordInBatch},
		{"FullMaxBatch", s.fullMaxBatch},
		{"CancelledContext", s.cancelledContext},
		{"DeleteRemovesRecords", s.deleteRemovesRecords},
		{"DeletesReadAfterCursor", s.deletesReadAfterCursor},
		{"ListIDsPagesEveryLiveID", s.listIDsPagesEveryLiveID},
		{"Describe", s.describe},
	}
	if d.ReadBack != nil {
		cases = []testCase{
			{"FullMaxBatch", s.writeOnlyFullBatch},
			{"RejectedRecordInBatch", s.writeOnlyRejected},
			{"CancelledContext", s.writeOnlyCancelled},
			{"NotReadable", s.writeOnlyReads},
			{"Describe", s.describe},
		}
	}
	for name := range d.KnownBugs {
		require.True(t, slices.ContainsFunc(cases, func(c testCase) bool { return c.name == name }),
			"Driver.KnownBugs names no case %q", name)
	}
	for _, tc := range cases {
		run := tc.run
		if bug, ok := d.KnownBugs[tc.name]; ok {
			run = func(t *testing.T) { t.Skipf("known bug: %s", bug) }
		}
		running := goleak.IgnoreCurrent()
		t.Run(tc.name, run)
		// goleak retries for a while, so goroutines already on their way out (closed
		// connections) are not counted.
		if err := goleak.Find(running); err != nil {
			t.Errorf("%s leaked goroutines; the connector, or its driver's cleanup, left them running: %v", tc.name, err)
		}
	}
}

// testCase is one case of the suite, run as a subtest of its name.
type testCase struct {
	name string
	run  func(t *testing.T)
}

type suite struct {
	d Driver
}

// open returns a fresh connector and a context that ends with the subtest.
func (s *suite) open(t *testing.T) (connectors.Connector, context.Context) {
	t.Helper()
	c := s.d.New(t)
	require.NotNil(t, c, "Driver.New returned nil")
	return c, t.Context()
}

// fields returns NewFields(i) for each i in [from, from+n).
func (s *suite) fields(from, n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = s.d.NewFields(from + i)
	}
	return out
}

// create creates records with the given fields, in batches the connector accepts, and
// requires each to succeed; it returns their ids in order.
func (s *suite) create(t *testing.T, ctx context.Context, c connectors.Connector, fields []map[string]any) []string {
	t.Helper()
	size := c.Info().MaxBatch
	if size <= 0 {
		size = len(fields)
	}
	ids := make([]string, 0, len(fields))
	for start := 0; start < len(fields); start += size {
		end := min(start+size, len(fields))
		res, err := c.Create(ctx, s.d.Object, records(fields[start:end]))
		require.NoError(t, err, "create")
		require.Len(t, res, end-start, "one result per record")
		for i, r := range res {
			require.NoError(t, r.Err, "create record %d", start+i)
			require.NotEmpty(t, r.ID, "create record %d: no id", start+i)
			require.True(t, r.Created, "create record %d: Created=false", start+i)
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// changes reads every change after since with pages of limit records, requiring what
// the engine relies on of each page, and returns the records in the order read.
func (s *suite) changes(t *testing.T, ctx context.Context, c connectors.Connector, since connectors.Cursor, limit int) []connectors.Record {
	t.Helper()
	var all []connectors.Record
	cursor := since
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100000, "Changes never said More=false")
		page, err := c.Changes(ctx, s.d.Object, cursor, limit)
		require.NoError(t, err, "changes after %s, limit %d", cursor, limit)
		require.LessOrEqual(t, len(page.Records), limit, "page after %s is over the limit", cursor)
		for _, r := range page.Records {
			require.True(t, cursor.Before(r),
				"changes with limit %d: record %s (%s) is not after %s: out of (UpdatedAt, ID) order or repeated",
				limit, r.ID, r.UpdatedAt.UTC().Format(time.RFC3339Nano), cursor)
			cursor = connectors.CursorOf(r)
			all = append(all, r)
		}
		if !page.More {
			return all
		}
		// An empty page that asks for more would stall a sync at the same cursor forever.
		require.NotEmpty(t, page.Records, "changes with limit %d: empty page with More=true", limit)
	}
}

// get reads records by id and returns them by id.
func (s *suite) get(t *testing.T, ctx context.Context, c connectors.Connector, ids ...string) map[string]connectors.Record {
	t.Helper()
	recs, err := c.Get(ctx, s.d.Object, ids)
	require.NoError(t, err, "get")
	out := make(map[string]connectors.Record, len(recs))
	for _, r := range recs {
		_, dup := out[r.ID]
		require.False(t, dup, "get returned %s twice", r.ID)
		out[r.ID] = r
	}
	return out
}

// key returns the key value of fields as the engine matches it.
func (s *suite) key(fields map[string]any) string {
	return connectors.KeyString(fields[s.d.KeyField])
}

// pause lets the service's clock move past the last write.
func (s *suite) pause() { time.Sleep(2 * s.d.Resolution) }

// requireFields requires every field of want to have its value in r. Values are compared
// in their key-string form: services return numbers as strings, and r may hold fields
// the service adds itself.
func requireFields(t *testing.T, want map[string]any, r connectors.Record) {
	t.Helper()
	for k, v := range want {
		got, ok := r.Value(k)
		require.True(t, ok, "record %s has no field %q", r.ID, k)
		require.Equal(t, connectors.KeyString(v), connectors.KeyString(got), "record %s field %q", r.ID, k)
	}
}

// changed returns the fields of after whose values differ from before's.
func changed(before, after map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range after {
		old, ok := before[k]
		if !ok || connectors.KeyString(old) != connectors.KeyString(v) {
			out[k] = v
		}
	}
	return out
}

func records(fields []map[string]any) []connectors.Record {
	out := make([]connectors.Record, len(fields))
	for i, f := range fields {
		out[i] = connectors.Record{Fields: f}
	}
	return out
}

func ids(recs []connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Clock is a time source for a connector and the fake behind it: the real clock plus
// however far Advance has moved it. It keeps moving with real time, so the suite's
// waits (Driver.Resolution) work as they do on the real clock, and a delete log that holds
// back recent deletions can be moved past them (Driver.Advance). The zero Clock reads the
// real time.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// Now returns the real time plus the offset Advance has added.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
