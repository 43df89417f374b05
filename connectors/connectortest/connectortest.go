// Package connectortest is the conformance suite every connector runs: the in-process
// memory connector, and each service's connector against its local fake server. It checks
// what the sync engine relies on (paging in (UpdatedAt, ID) order without gaps or repeats,
// per-record write outcomes, key lookups, upserts that do not duplicate, conditional
// updates that refuse a stale read, batch limits, cancellation, no leaked goroutines)
// through the Connector interface and the optional interfaces it implements.
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
// Run counts goroutines around each subtest, so the test calling it must not run in
// parallel with other tests of its package.
package connectortest

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"CreateThenGet", s.createThenGet},
		{"GetLeavesOutMissingIDs", s.getLeavesOutMissingIDs},
		{"ChangesPagesInOrder", s.changesPagesInOrder},
		{"ChangesResumeAfterCursor", s.changesResumeAfterCursor},
		{"ChangesEqualTimestampsAcrossPages", s.changesEqualTimestampsAcrossPages},
		{"CountChanges", s.countChanges},
		{"UpdateChangesOnlyGivenFields", s.updateChangesOnlyGivenFields},
		{"UpdateMissingIDIsPerRecordNotFound", s.updateMissingIDIsPerRecordNotFound},
		{"FindManyValues", s.findManyValues},
		{"UpsertCreatesThenUpdates", s.upsertCreatesThenUpdates},
		{"UpdateIfUnchanged", s.updateIfUnchanged},
		{"RejectedRecordInBatch", s.rejectedRecordInBatch},
		{"FullMaxBatch", s.fullMaxBatch},
		{"CancelledContext", s.cancelledContext},
	}
	for _, tc := range cases {
		before := runtime.NumGoroutine()
		t.Run(tc.name, tc.run)
		checkGoroutines(t, tc.name, before)
	}
}

// checkGoroutines fails t when more goroutines run than before the subtest, after a
// grace period for ones that are already on their way out (closed connections).
func checkGoroutines(t *testing.T, name string, before int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%s leaked goroutines: %d before, %d after; the connector, or its driver's cleanup, "+
				"left them running:\n%s", name, before, n, buf)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
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
