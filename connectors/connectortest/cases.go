package connectortest

import (
	"context"
	"errors"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
)

// createThenGet: a batch create answers in request order with new ids, and Get returns
// the records as written.
func (s *suite) createThenGet(t *testing.T) {
	c, ctx := s.open(t)
	require.NotEmpty(t, c.Info().Type, "Info().Type")
	n := 3
	if mb := c.Info().MaxBatch; mb > 0 && mb < n {
		n = mb
	}
	fields := s.fields(0, n)

	res, err := c.Create(ctx, s.d.Object, records(fields))
	require.NoError(t, err)
	require.Len(t, res, n, "one result per record")
	created := make([]string, n)
	for i, r := range res {
		require.NoError(t, r.Err, "record %d", i)
		require.NotEmpty(t, r.ID, "record %d has no id", i)
		assert.True(t, r.Created, "record %d: Created=false", i)
		assert.NotContains(t, created[:i], r.ID, "id given twice")
		created[i] = r.ID
	}

	got := s.get(t, ctx, c, created...)
	require.Len(t, got, n)
	for i, id := range created {
		requireFields(t, fields[i], got[id]) // result i is record i of the request
		assert.False(t, got[id].UpdatedAt.IsZero(), "record %s has no UpdatedAt", id)
	}
}

// getLeavesOutMissingIDs: ids that do not exist are left out, not an error.
func (s *suite) getLeavesOutMissingIDs(t *testing.T) {
	c, ctx := s.open(t)
	created := s.create(t, ctx, c, s.fields(0, 2))

	got := s.get(t, ctx, c, created[0], s.d.MissingID, created[1])
	assert.Len(t, got, 2)
	assert.Contains(t, got, created[0])
	assert.Contains(t, got, created[1])

	got = s.get(t, ctx, c, s.d.MissingID)
	assert.Empty(t, got)
}

// changesPagesInOrder: at any page size, paging from the start reads every record once,
// in (UpdatedAt, ID) order, and ends with More=false.
func (s *suite) changesPagesInOrder(t *testing.T) {
	c, ctx := s.open(t)
	created := s.create(t, ctx, c, s.fields(0, 12))

	all := s.changes(t, ctx, c, connectors.Cursor{}, 100)
	assert.ElementsMatch(t, created, ids(all), "changes from the start read every created record once")

	for _, limit := range []int{1, 2, 7, 100} {
		got := s.changes(t, ctx, c, connectors.Cursor{}, limit)
		assert.Equal(t, ids(all), ids(got), "pages of %d", limit)
	}
}

// changesResumeAfterCursor: a cursor resumes strictly after its position, including a
// cursor with a time only and one past the last record.
func (s *suite) changesResumeAfterCursor(t *testing.T) {
	c, ctx := s.open(t)
	s.create(t, ctx, c, s.fields(0, 12))
	all := s.changes(t, ctx, c, connectors.Cursor{}, 100)
	require.Len(t, all, 12)

	for _, k := range []int{0, 5, 10} {
		got := s.changes(t, ctx, c, connectors.CursorOf(all[k]), 3)
		assert.Equal(t, ids(all[k+1:]), ids(got), "resume after record %d", k)
	}

	// A cursor without an id is before every record with its time.
	since := connectors.Cursor{UpdatedAt: all[5].UpdatedAt}
	var want []connectors.Record
	for _, r := range all {
		if since.Before(r) {
			want = append(want, r)
		}
	}
	got := s.changes(t, ctx, c, since, 4)
	assert.Equal(t, ids(want), ids(got), "resume after time %s", since)

	page, err := c.Changes(ctx, s.d.Object, connectors.CursorOf(all[len(all)-1]), 10)
	require.NoError(t, err)
	assert.Empty(t, page.Records, "nothing after the last record")
	assert.False(t, page.More, "More after the last record")
}

// countChanges (connectors.ChangeCounter only): the count after a cursor covers every
// record Changes reads after it, and exceeds it by no more than the records sharing the
// cursor's time (a count for progress may include those).
func (s *suite) countChanges(t *testing.T) {
	c, ctx := s.open(t)
	counter, ok := c.(connectors.ChangeCounter)
	if !ok {
		t.Skip("the connector does not count changes")
	}
	s.create(t, ctx, c, s.fields(0, 12))
	all := s.changes(t, ctx, c, connectors.Cursor{}, 100)
	require.Len(t, all, 12)
	for _, k := range []int{-1, 0, 5, 11} {
		since := connectors.Cursor{}
		if k >= 0 {
			since = connectors.CursorOf(all[k])
		}
		want := len(s.changes(t, ctx, c, since, 100))
		ties := 0
		for _, r := range all {
			if k >= 0 && r.UpdatedAt.Equal(all[k].UpdatedAt) && !since.Before(r) {
				ties++
			}
		}
		n, err := counter.CountChanges(ctx, s.d.Object, since)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, n, want, "count after %s", since)
		assert.LessOrEqual(t, n, want+ties, "count after %s", since)
	}
}

// changesEqualTimestampsAcrossPages: records with equal UpdatedAt are ordered by ID, and
// a page boundary among them neither skips nor repeats one.
func (s *suite) changesEqualTimestampsAcrossPages(t *testing.T) {
	if s.d.SetUpdatedAt == nil {
		t.Skip("Driver.SetUpdatedAt is nil: this connector cannot force timestamps")
	}
	c, ctx := s.open(t)
	created := s.create(t, ctx, c, s.fields(0, 6))
	// Whole seconds, a precision every service keeps; an hour ahead, so the five tied
	// records come after the first one whatever the clock did.
	at := time.Now().UTC().Truncate(time.Second).Add(time.Hour)
	tied := created[1:]
	for _, id := range tied {
		s.d.SetUpdatedAt(t, c, s.d.Object, id, at)
	}
	sortedTied := slices.Clone(tied)
	sort.Strings(sortedTied)
	want := append([]string{created[0]}, sortedTied...)

	for _, limit := range []int{1, 2, 3, 100} {
		got := s.changes(t, ctx, c, connectors.Cursor{}, limit)
		assert.Equal(t, want, ids(got), "pages of %d", limit)
		for _, r := range got[1:] {
			assert.True(t, r.UpdatedAt.Equal(at), "record %s: UpdatedAt %s, set to %s", r.ID, r.UpdatedAt, at)
		}
	}

	// Resuming in the middle of the tie reads the rest of it.
	mid := connectors.Cursor{UpdatedAt: at, ID: sortedTied[1]}
	got := s.changes(t, ctx, c, mid, 2)
	assert.Equal(t, sortedTied[2:], ids(got), "resume after %s", mid)
}

// updateChangesOnlyGivenFields: an update overwrites the given fields, keeps the others,
// leaves other records alone, and moves the record after the cursor read before it.
func (s *suite) updateChangesOnlyGivenFields(t *testing.T) {
	c, ctx := s.open(t)
	fields := s.fields(0, 2)
	created := s.create(t, ctx, c, fields)
	before := s.changes(t, ctx, c, connectors.Cursor{}, 100)
	require.Len(t, before, 2)
	cursor := connectors.CursorOf(before[len(before)-1])

	diff := changed(fields[0], s.d.Mutate(copyMap(fields[0])))
	require.NotEmpty(t, diff, "Driver.Mutate changed no field")
	s.pause()
	res, err := c.Update(ctx, s.d.Object, []connectors.Record{{ID: created[0], Fields: diff}})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.NoError(t, res[0].Err)
	assert.Equal(t, created[0], res[0].ID)
	assert.False(t, res[0].Created, "an update does not create")

	got := s.get(t, ctx, c, created...)
	require.Len(t, got, 2)
	want := copyMap(fields[0])
	for k, v := range diff {
		want[k] = v
	}
	requireFields(t, want, got[created[0]])
	requireFields(t, fields[1], got[created[1]])

	after := s.changes(t, ctx, c, cursor, 100)
	assert.Equal(t, []string{created[0]}, ids(after), "only the updated record is after the old cursor")
}

// updateMissingIDIsPerRecordNotFound: an update of an id that does not exist fails that
// record with a not-found error and writes the rest of the batch.
func (s *suite) updateMissingIDIsPerRecordNotFound(t *testing.T) {
	c, ctx := s.open(t)
	if mb := c.Info().MaxBatch; mb > 0 && mb < 3 {
		t.Skipf("MaxBatch %d is too small for a batch of three", mb)
	}
	fields := s.fields(0, 2)
	created := s.create(t, ctx, c, fields)
	diff0 := changed(fields[0], s.d.Mutate(copyMap(fields[0])))
	diff1 := changed(fields[1], s.d.Mutate(copyMap(fields[1])))
	require.NotEmpty(t, diff0, "Driver.Mutate changed no field")

	s.pause()
	res, err := c.Update(ctx, s.d.Object, []connectors.Record{
		{ID: created[0], Fields: diff0},
		{ID: s.d.MissingID, Fields: diff0},
		{ID: created[1], Fields: diff1},
	})
	require.NoError(t, err, "one missing record does not fail the call")
	require.Len(t, res, 3)
	assert.NoError(t, res[0].Err)
	assert.Equal(t, created[0], res[0].ID)
	require.Error(t, res[1].Err, "update of a missing id")
	assert.ErrorIs(t, res[1].Err, connectors.ErrNotFound)
	assert.NoError(t, res[2].Err)
	assert.Equal(t, created[1], res[2].ID)

	got := s.get(t, ctx, c, created...)
	require.Len(t, got, 2)
	requireFields(t, diff0, got[created[0]])
	requireFields(t, diff1, got[created[1]])
}

// findManyValues: one Find answers many values; a value that matches nothing is absent,
// and a value that several records share maps to all of them.
func (s *suite) findManyValues(t *testing.T) {
	c, ctx := s.open(t)
	fields := s.fields(0, 3)
	created := s.create(t, ctx, c, fields)
	keys := []string{s.key(fields[0]), s.key(fields[1]), s.key(fields[2])}

	// A second record with the first one's key. A service that enforces unique keys
	// refuses it, and then the key simply stays unique.
	dupFields := s.d.NewFields(3)
	dupFields[s.d.KeyField] = fields[0][s.d.KeyField]
	wantFirst := []string{created[0]}
	res, err := c.Create(ctx, s.d.Object, records([]map[string]any{dupFields}))
	require.NoError(t, err)
	require.Len(t, res, 1)
	if res[0].Err != nil {
		t.Logf("the service refused a duplicate key (%v); checking unique keys only", res[0].Err)
	} else {
		wantFirst = append(wantFirst, res[0].ID)
	}

	absent := "tandem-absent-" + keys[0]
	found, err := c.Find(ctx, s.d.Object, s.d.KeyField, []string{keys[0], keys[1], absent, keys[2], keys[1]})
	require.NoError(t, err)
	assert.NotContains(t, found, absent, "a value that matches nothing is absent")
	assert.Len(t, found, 3)
	assert.ElementsMatch(t, wantFirst, ids(found[keys[0]]), "records with key %q", keys[0])
	assert.Equal(t, []string{created[1]}, ids(found[keys[1]]), "records with key %q", keys[1])
	assert.Equal(t, []string{created[2]}, ids(found[keys[2]]), "records with key %q", keys[2])
	for i := 1; i < 3; i++ {
		if rs := found[keys[i]]; len(rs) == 1 {
			requireFields(t, fields[i], rs[0])
		}
	}

	found, err = c.Find(ctx, s.d.Object, s.d.KeyField, []string{absent})
	require.NoError(t, err)
	assert.Empty(t, found)
}

// upsertCreatesThenUpdates: an upsert creates a record for a new key and updates the one
// record with a known key, within one batch too, and never duplicates.
func (s *suite) upsertCreatesThenUpdates(t *testing.T) {
	c, ctx := s.open(t)
	first := s.d.NewFields(0)
	key := s.key(first)

	res, err := c.Upsert(ctx, s.d.Object, s.d.KeyField, []connectors.Record{{Fields: first}})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.NoError(t, res[0].Err)
	require.NotEmpty(t, res[0].ID)
	assert.True(t, res[0].Created, "upsert of a new key creates")
	id := res[0].ID

	s.pause()
	mutated := s.d.Mutate(copyMap(first))
	mutated[s.d.KeyField] = first[s.d.KeyField]
	res, err = c.Upsert(ctx, s.d.Object, s.d.KeyField, []connectors.Record{{Fields: mutated}})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.NoError(t, res[0].Err)
	assert.Equal(t, id, res[0].ID, "upsert of a known key updates that record")
	assert.False(t, res[0].Created, "upsert of a known key does not create")

	found, err := c.Find(ctx, s.d.Object, s.d.KeyField, []string{key})
	require.NoError(t, err)
	require.Len(t, found[key], 1, "one record with key %q", key)
	requireFields(t, mutated, found[key][0])

	// A batch with a known key and a new one.
	if mb := c.Info().MaxBatch; mb > 0 && mb < 2 {
		return
	}
	second := s.d.NewFields(1)
	again := s.d.Mutate(copyMap(mutated))
	again[s.d.KeyField] = first[s.d.KeyField]
	s.pause()
	res, err = c.Upsert(ctx, s.d.Object, s.d.KeyField, records([]map[string]any{again, second}))
	require.NoError(t, err)
	require.Len(t, res, 2)
	require.NoError(t, res[0].Err)
	require.NoError(t, res[1].Err)
	assert.Equal(t, id, res[0].ID)
	assert.False(t, res[0].Created)
	assert.True(t, res[1].Created)
	assert.NotEqual(t, id, res[1].ID)

	all := s.changes(t, ctx, c, connectors.Cursor{}, 100)
	assert.ElementsMatch(t, []string{id, res[1].ID}, ids(all), "no duplicates")
}

// updateIfUnchanged (connectors.ConditionalUpdater only): a record changed after it was
// read is refused with a *StaleRecordError and keeps that change, while the rest of the
// batch is written (a missing id failing alone, as in Update); the record as read again
// is written; a record without UpdatedAt is refused as invalid, not written blindly; and
// a cancelled context fails the call.
func (s *suite) updateIfUnchanged(t *testing.T) {
	c, ctx := s.open(t)
	cu, ok := c.(connectors.ConditionalUpdater)
	if !ok {
		t.Skip("the connector has no conditional update")
	}
	if mb := c.Info().MaxBatch; mb > 0 && mb < 3 {
		t.Skipf("MaxBatch %d is too small for a batch of three", mb)
	}
	fields := s.fields(0, 2)
	created := s.create(t, ctx, c, fields)
	read := s.get(t, ctx, c, created...)
	require.Len(t, read, 2)
	stale, other := read[created[0]], read[created[1]]

	// Another writer changes the first record after the read.
	edited, fresh := s.changeAfter(t, ctx, c, stale, fields[0])

	refused := changed(edited, s.d.Mutate(copyMap(edited)))
	otherDiff := changed(fields[1], s.d.Mutate(copyMap(fields[1])))
	require.NotEmpty(t, refused, "Driver.Mutate changed no field")
	res, err := cu.UpdateIfUnchanged(ctx, s.d.Object, []connectors.Record{
		{ID: stale.ID, UpdatedAt: stale.UpdatedAt, Fields: refused},
		{ID: s.d.MissingID, UpdatedAt: other.UpdatedAt, Fields: otherDiff},
		{ID: other.ID, UpdatedAt: other.UpdatedAt, Fields: otherDiff},
	})
	require.NoError(t, err, "a stale record does not fail the call")
	require.Len(t, res, 3)
	var staleErr *connectors.StaleRecordError
	require.ErrorAs(t, res[0].Err, &staleErr, "record %s changed after it was read", stale.ID)
	assert.Equal(t, stale.ID, staleErr.ID)
	assert.True(t, staleErr.Read.Equal(stale.UpdatedAt), "StaleRecordError.Read %s, read %s", staleErr.Read, stale.UpdatedAt)
	if !staleErr.Now.IsZero() {
		assert.True(t, staleErr.Now.Equal(fresh.UpdatedAt), "StaleRecordError.Now %s, the record's %s", staleErr.Now, fresh.UpdatedAt)
	}
	assert.ErrorIs(t, res[1].Err, connectors.ErrNotFound, "update of a missing id")
	require.NoError(t, res[2].Err, "record %s is as it was read", other.ID)
	assert.Equal(t, other.ID, res[2].ID)
	assert.False(t, res[2].Created, "an update does not create")

	got := s.get(t, ctx, c, created...)
	require.Len(t, got, 2)
	requireFields(t, edited, got[stale.ID])
	assert.True(t, got[stale.ID].UpdatedAt.Equal(fresh.UpdatedAt), "the refused write left record %s alone", stale.ID)
	requireFields(t, otherDiff, got[other.ID])

	// Read again, the same change is written.
	res, err = cu.UpdateIfUnchanged(ctx, s.d.Object, []connectors.Record{{ID: fresh.ID, UpdatedAt: fresh.UpdatedAt, Fields: refused}})
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.NoError(t, res[0].Err, "record %s as read again", fresh.ID)
	assert.Equal(t, fresh.ID, res[0].ID)
	requireFields(t, refused, s.get(t, ctx, c, fresh.ID)[fresh.ID])

	res, err = cu.UpdateIfUnchanged(ctx, s.d.Object, []connectors.Record{{ID: other.ID, Fields: otherDiff}})
	require.NoError(t, err)
	require.Len(t, res, 1)
	var invalid *connectors.InvalidRecordError
	assert.ErrorAs(t, res[0].Err, &invalid, "a record without the UpdatedAt it was read with")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = cu.UpdateIfUnchanged(cancelled, s.d.Object, []connectors.Record{{ID: other.ID, UpdatedAt: other.UpdatedAt, Fields: otherDiff}})
	if assert.Error(t, err, "UpdateIfUnchanged with a cancelled context") {
		assert.True(t, errors.Is(err, context.Canceled), "error %q does not wrap context.Canceled", err)
	}
}

// changeAfter changes record r (whose fields are fields) with plain Updates until the
// service's stamp of it, at Driver.ConditionalResolution, is after r's, as an edit made
// after r was read. It returns the fields written and the record as read back.
func (s *suite) changeAfter(t *testing.T, ctx context.Context, c connectors.Connector, r connectors.Record, fields map[string]any) (map[string]any, connectors.Record) {
	t.Helper()
	step := s.d.ConditionalResolution
	current := copyMap(fields)
	// Polls the service's stamp, not the clock; the deadline only bounds a broken service.
	deadline := time.Now().Add(10*step + 10*time.Second)
	s.pause()
	for {
		next := s.d.Mutate(copyMap(current))
		diff := changed(current, next)
		require.NotEmpty(t, diff, "Driver.Mutate changed no field")
		out, err := c.Update(ctx, s.d.Object, []connectors.Record{{ID: r.ID, Fields: diff}})
		require.NoError(t, err)
		require.Len(t, out, 1)
		require.NoError(t, out[0].Err, "update of %s", r.ID)
		current = next
		got := s.get(t, ctx, c, r.ID)
		require.Contains(t, got, r.ID)
		if got[r.ID].UpdatedAt.Truncate(step).After(r.UpdatedAt.Truncate(step)) {
			return current, got[r.ID]
		}
		require.True(t, time.Now().Before(deadline), "record %s: updates leave its UpdatedAt at %s, read at %s (ConditionalResolution %s)",
			r.ID, got[r.ID].UpdatedAt, r.UpdatedAt, step)
		time.Sleep(max(step/10, 2*s.d.Resolution))
	}
}

// rejectedRecordInBatch: a record the service rejects gets an *InvalidRecordError with
// the service's reason, and the rest of the batch is written.
func (s *suite) rejectedRecordInBatch(t *testing.T) {
	if s.d.Invalid == nil {
		t.Skip("Driver.Invalid is nil")
	}
	c, ctx := s.open(t)
	if mb := c.Info().MaxBatch; mb > 0 && mb < 3 {
		t.Skipf("MaxBatch %d is too small for a batch of three", mb)
	}
	good := s.fields(0, 2)
	res, err := c.Create(ctx, s.d.Object, records([]map[string]any{good[0], s.d.Invalid(), good[1]}))
	require.NoError(t, err, "one invalid record does not fail the call")
	require.Len(t, res, 3)
	require.NoError(t, res[0].Err)
	require.NoError(t, res[2].Err)
	var invalid *connectors.InvalidRecordError
	require.ErrorAs(t, res[1].Err, &invalid)
	assert.NotEmpty(t, invalid.Reason, "the service's reason")

	got := s.get(t, ctx, c, res[0].ID, res[2].ID)
	require.Len(t, got, 2)
	requireFields(t, good[0], got[res[0].ID])
	requireFields(t, good[1], got[res[2].ID])
	all := s.changes(t, ctx, c, connectors.Cursor{}, 100)
	assert.ElementsMatch(t, []string{res[0].ID, res[2].ID}, ids(all), "the rejected record was not written")
}

// fullMaxBatch: a batch of exactly Info().MaxBatch records (200 when unlimited) is
// written in one call.
func (s *suite) fullMaxBatch(t *testing.T) {
	c, ctx := s.open(t)
	n := c.Info().MaxBatch
	require.GreaterOrEqual(t, n, 0, "Info().MaxBatch")
	if n == 0 {
		n = 200
	}
	fields := s.fields(0, n)
	res, err := c.Create(ctx, s.d.Object, records(fields))
	require.NoError(t, err, "a batch of %d", n)
	require.Len(t, res, n)
	created := make([]string, n)
	for i, r := range res {
		require.NoError(t, r.Err, "record %d", i)
		require.True(t, r.Created, "record %d", i)
		created[i] = r.ID
	}
	assert.Len(t, s.get(t, ctx, c, created...), n)
	assert.ElementsMatch(t, created, ids(s.changes(t, ctx, c, connectors.Cursor{}, 100)))
}

// cancelledContext: every call with a cancelled context fails with an error that wraps
// context.Canceled, and writes nothing.
func (s *suite) cancelledContext(t *testing.T) {
	c, live := s.open(t)
	ctx, cancel := context.WithCancel(live)
	cancel()
	newRecord := []connectors.Record{{Fields: s.d.NewFields(0)}}

	calls := map[string]func() error{
		"Changes": func() error {
			_, err := c.Changes(ctx, s.d.Object, connectors.Cursor{}, 10)
			return err
		},
		"Get": func() error {
			_, err := c.Get(ctx, s.d.Object, []string{s.d.MissingID})
			return err
		},
		"Find": func() error {
			_, err := c.Find(ctx, s.d.Object, s.d.KeyField, []string{s.key(newRecord[0].Fields)})
			return err
		},
		"Create": func() error {
			_, err := c.Create(ctx, s.d.Object, newRecord)
			return err
		},
		"Update": func() error {
			_, err := c.Update(ctx, s.d.Object, []connectors.Record{{ID: s.d.MissingID, Fields: newRecord[0].Fields}})
			return err
		},
		"Upsert": func() error {
			_, err := c.Upsert(ctx, s.d.Object, s.d.KeyField, newRecord)
			return err
		},
	}
	for _, name := range []string{"Changes", "Get", "Find", "Create", "Update", "Upsert"} {
		err := calls[name]()
		if assert.Error(t, err, "%s with a cancelled context", name) {
			assert.True(t, errors.Is(err, context.Canceled), "%s: error %q does not wrap context.Canceled", name, err)
		}
	}

	page, err := c.Changes(live, s.d.Object, connectors.Cursor{}, 10)
	require.NoError(t, err)
	assert.Empty(t, page.Records, "calls with a cancelled context wrote nothing")
}
