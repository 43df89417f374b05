package memory_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/connectortest"
	"tandem/connectors/memory"
)

const companies = "companies"

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts memory.Options
	}{
		{"Defaults", memory.Options{}},
		{"SmallBatches", memory.Options{MaxBatch: 5, NoNativeUpsert: true, IDPrefix: "acct-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			connectortest.Run(t, connectortest.Driver{
				New: func(t *testing.T) connectors.Connector {
					c := memory.New(tc.opts)
					c.RejectRecords(func(r connectors.Record) string {
						if r.Fields["name"] == "" {
							return "name is required"
						}
						return ""
					})
					return c
				},
				Object:    companies,
				KeyField:  "domain",
				NewFields: memory.SampleCompany,
				Mutate: func(f map[string]any) map[string]any {
					f["name"] = f["name"].(string) + " (renamed)"
					f["employees"] = f["employees"].(float64) + 1
					return f
				},
				Invalid: func() map[string]any { return map[string]any{"name": "", "domain": "nameless.example.com"} },
				SetUpdatedAt: func(t *testing.T, c connectors.Connector, object, id string, at time.Time) {
					recs, err := c.Get(context.Background(), object, []string{id})
					require.NoError(t, err)
					require.Len(t, recs, 1)
					recs[0].UpdatedAt = at
					c.(*memory.Connector).Put(object, recs[0])
				},
			})
		})
	}
}

// clock is a fake time source; each reading is step after the previous one.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func newClock(step time.Duration) *clock {
	return &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC), step: step}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

func create(t *testing.T, c *memory.Connector, fields ...map[string]any) []connectors.WriteResult {
	t.Helper()
	recs := make([]connectors.Record, len(fields))
	for i, f := range fields {
		recs[i] = connectors.Record{Fields: f}
	}
	res, err := c.Create(context.Background(), companies, recs)
	require.NoError(t, err)
	return res
}

// readAll pages through every change from the start.
func readAll(t *testing.T, c *memory.Connector, limit int) []connectors.Record {
	t.Helper()
	var out []connectors.Record
	var cursor connectors.Cursor
	for {
		page, err := c.Changes(context.Background(), companies, cursor, limit)
		require.NoError(t, err)
		out = append(out, page.Records...)
		if !page.More {
			return out
		}
		cursor = connectors.CursorOf(page.Records[len(page.Records)-1])
	}
}

func TestIDsArePrefixedAndUnique(t *testing.T) {
	c := memory.New(memory.Options{})
	// A test may Put a record under an id the counter would give next.
	c.Put(companies, connectors.Record{ID: "m-000002", Fields: memory.SampleCompany(0)})
	res := create(t, c, memory.SampleCompany(1), memory.SampleCompany(2))
	assert.Equal(t, "m-000001", res[0].ID)
	assert.Equal(t, "m-000003", res[1].ID, "m-000002 is taken")
	assert.Equal(t, 3, c.Len(companies))

	other := memory.New(memory.Options{IDPrefix: "hs-"})
	assert.Equal(t, "hs-000001", create(t, other, memory.SampleCompany(0))[0].ID)
}

func TestPutKeepsIDAndTimestamp(t *testing.T) {
	clk := newClock(time.Second)
	c := memory.New(memory.Options{Now: clk.Now})
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Put(companies, connectors.Record{ID: "b", UpdatedAt: at, Fields: map[string]any{"name": "B"}})
	c.Put(companies, connectors.Record{ID: "a", UpdatedAt: at, Fields: map[string]any{"name": "A"}})
	fresh := c.Put(companies, connectors.Record{Fields: map[string]any{"name": "C"}})
	assert.Equal(t, "m-000001", fresh.ID)
	assert.Equal(t, time.Date(2025, 3, 1, 9, 0, 1, 0, time.UTC), fresh.UpdatedAt, "zero UpdatedAt gets Now()")

	assert.Equal(t, []string{"a", "b", "m-000001"}, ids(c.All(companies)), "All is sorted by ID")
	assert.Equal(t, []string{"a", "b", "m-000001"}, ids(readAll(t, c, 1)), "equal stamps are read in ID order")

	c.Remove(companies, "a")
	c.Remove(companies, "no-such-id")
	assert.Equal(t, 2, c.Len(companies))
	assert.Equal(t, []string{"b", "m-000001"}, ids(readAll(t, c, 1)))
}

func TestEqualTimestampsFromNow(t *testing.T) {
	// A clock that never moves: every write has the same stamp, so order is by ID alone,
	// and an update can move a record earlier in the stream.
	c := memory.New(memory.Options{Now: newClock(0).Now})
	res := create(t, c, memory.SampleCompany(0), memory.SampleCompany(1), memory.SampleCompany(2))
	_, err := c.Update(context.Background(), companies, []connectors.Record{{ID: res[0].ID, Fields: map[string]any{"name": "X"}}})
	require.NoError(t, err)
	assert.Equal(t, []string{res[0].ID, res[1].ID, res[2].ID}, ids(readAll(t, c, 2)))
}

func TestUpdateMergesFields(t *testing.T) {
	clk := newClock(time.Second)
	c := memory.New(memory.Options{Now: clk.Now})
	id := create(t, c, map[string]any{"name": "Acme", "phone": "1", "domain": "acme.com"})[0].ID
	before := c.All(companies)[0]

	res, err := c.Update(context.Background(), companies, []connectors.Record{
		{ID: id, Fields: map[string]any{"phone": "2", "industry": nil}},
		{Fields: map[string]any{"phone": "3"}},
	})
	require.NoError(t, err)
	assert.Equal(t, connectors.WriteResult{ID: id}, res[0])
	var invalid *connectors.InvalidRecordError
	assert.ErrorAs(t, res[1].Err, &invalid, "an update without an id")

	after := c.All(companies)[0]
	assert.Equal(t, map[string]any{"name": "Acme", "phone": "2", "domain": "acme.com", "industry": nil}, after.Fields)
	assert.True(t, after.UpdatedAt.After(before.UpdatedAt))
	assert.Equal(t, 2, c.Writes(), "the create and one update")
}

func TestUpdateIfUnchanged(t *testing.T) {
	ctx := context.Background()
	clk := newClock(time.Second)
	var changed []connectors.Record
	c := memory.New(memory.Options{
		Now:      clk.Now,
		Rewrite:  func(_ string, f map[string]any) { f["phone"] = "+1 " + fmt.Sprint(f["phone"]) },
		OnChange: func(_ string, r connectors.Record) { changed = append(changed, r) },
	})
	res := create(t, c, map[string]any{"name": "Acme", "phone": "1"}, map[string]any{"name": "Globex", "phone": "2"})
	read := c.All(companies)
	acme, globex := read[0], read[1]
	_, err := c.Update(ctx, companies, []connectors.Record{{ID: acme.ID, Fields: map[string]any{"name": "Acme Corp"}}})
	require.NoError(t, err)
	edited := c.All(companies)[0]
	c.ResetCounts()
	changed = nil

	res, err = c.UpdateIfUnchanged(ctx, companies, []connectors.Record{
		{ID: acme.ID, UpdatedAt: acme.UpdatedAt, Fields: map[string]any{"phone": "3"}},
		{ID: globex.ID, UpdatedAt: globex.UpdatedAt, Fields: map[string]any{"phone": "4"}},
		{ID: "no-such-id", UpdatedAt: globex.UpdatedAt, Fields: map[string]any{"phone": "5"}},
		{ID: globex.ID, Fields: map[string]any{"phone": "6"}},
		{ID: globex.ID, UpdatedAt: globex.UpdatedAt, Fields: map[string]any{"phone": "7"}}, // moved by record 1
	})
	require.NoError(t, err)
	require.Len(t, res, 5)
	var stale *connectors.StaleRecordError
	require.ErrorAs(t, res[0].Err, &stale)
	assert.Equal(t, connectors.StaleRecordError{ID: acme.ID, Read: acme.UpdatedAt, Now: edited.UpdatedAt}, *stale)
	assert.Equal(t, connectors.WriteResult{ID: globex.ID}, res[1])
	var notFound *connectors.NotFoundError
	assert.ErrorAs(t, res[2].Err, &notFound, "as Update answers for a missing id")
	var invalid *connectors.InvalidRecordError
	assert.ErrorAs(t, res[3].Err, &invalid, "no read version")
	assert.ErrorAs(t, res[4].Err, &stale, "the batch's own write moved the record")

	after := c.All(companies)
	assert.Equal(t, edited, after[0], "the stale write changed nothing")
	assert.Equal(t, map[string]any{"name": "Globex", "phone": "+1 4"}, after[1].Fields, "Rewrite applies")
	assert.Equal(t, 1, c.Writes())
	assert.Equal(t, map[string]int{memory.MethodUpdateIfUnchanged: 1}, c.Calls())
	assert.Equal(t, []connectors.Record{after[1]}, changed, "OnChange sees the written record only")

	boom := errors.New("503 service unavailable")
	c.FailNext(memory.MethodUpdateIfUnchanged, 1, boom)
	c.FailAfter(memory.MethodUpdateIfUnchanged, 1, boom)
	retry := []connectors.Record{{ID: globex.ID, UpdatedAt: after[1].UpdatedAt, Fields: map[string]any{"name": "Globex Ltd"}}}
	_, err = c.UpdateIfUnchanged(ctx, companies, retry)
	require.ErrorIs(t, err, boom)
	assert.Equal(t, after[1], c.All(companies)[1], "FailNext writes nothing")
	_, err = c.UpdateIfUnchanged(ctx, companies, retry)
	require.ErrorIs(t, err, boom)
	assert.Equal(t, "Globex Ltd", c.All(companies)[1].Fields["name"], "FailAfter writes, then fails")
	res, err = c.UpdateIfUnchanged(ctx, companies, retry)
	require.NoError(t, err)
	assert.ErrorAs(t, res[0].Err, &stale, "the retry of a write that went through is stale, not written twice")
	assert.Equal(t, 2, c.Writes())
}

func TestUpsert(t *testing.T) {
	ctx := context.Background()
	c := memory.New(memory.Options{})
	a := c.Put(companies, connectors.Record{Fields: map[string]any{"domain": "dup.com"}})
	b := c.Put(companies, connectors.Record{Fields: map[string]any{"domain": "dup.com"}})
	c.Put(companies, connectors.Record{Fields: map[string]any{"domain": "one.com", "employees": float64(7)}})

	res, err := c.Upsert(ctx, companies, "domain", []connectors.Record{
		{Fields: map[string]any{"domain": "dup.com", "name": "D"}},
		{Fields: map[string]any{"domain": "one.com", "name": "O"}},
		{Fields: map[string]any{"domain": "new.com", "name": "N"}},
		{Fields: map[string]any{"domain": "new.com", "name": "N2"}}, // sees the one just created
		{Fields: map[string]any{"name": "no key"}},
		{Fields: map[string]any{"domain": "", "name": "empty key"}},
	})
	require.NoError(t, err)
	require.Len(t, res, 6)

	var ambiguous *connectors.AmbiguousMatchError
	require.ErrorAs(t, res[0].Err, &ambiguous)
	assert.Equal(t, []string{a.ID, b.ID}, ambiguous.IDs)
	assert.Equal(t, "dup.com", ambiguous.Value)
	assert.False(t, res[1].Created)
	assert.True(t, res[2].Created)
	assert.Equal(t, connectors.WriteResult{ID: res[2].ID}, res[3])
	for _, r := range res[4:] {
		var invalid *connectors.InvalidRecordError
		assert.ErrorAs(t, r.Err, &invalid)
	}

	found, err := c.Find(ctx, companies, "domain", []string{"one.com", "new.com"})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"domain": "one.com", "employees": float64(7), "name": "O"}, found["one.com"][0].Fields)
	assert.Equal(t, "N2", found["new.com"][0].Fields["name"])
	assert.Len(t, found["new.com"], 1)
	assert.Equal(t, 3, c.Writes())

	// Keys compare in their KeyString form, and "id" names the record's own id.
	found, err = c.Find(ctx, companies, "employees", []string{"7"})
	require.NoError(t, err)
	assert.Len(t, found["7"], 1)
	found, err = c.Find(ctx, companies, "id", []string{a.ID, ""})
	require.NoError(t, err)
	assert.Equal(t, []string{a.ID}, ids(found[a.ID]))
	assert.Len(t, found, 1)
}

func TestFailNext(t *testing.T) {
	c := memory.New(memory.Options{})
	boom := errors.New("503 service unavailable")
	c.FailNext(memory.MethodCreate, 2, boom)

	for i := 0; i < 2; i++ {
		_, err := c.Create(context.Background(), companies, []connectors.Record{{Fields: memory.SampleCompany(0)}})
		assert.ErrorIs(t, err, boom)
	}
	assert.Equal(t, 0, c.Len(companies), "a failed call writes nothing")
	res := create(t, c, memory.SampleCompany(0))
	assert.True(t, res[0].Created)
	assert.Equal(t, 3, c.Calls()[memory.MethodCreate], "failed calls count")
	assert.Equal(t, 1, c.Writes())

	// Failures of one method leave the others alone.
	c.FailNext(memory.MethodGet, 1, boom)
	_, err := c.Changes(context.Background(), companies, connectors.Cursor{}, 10)
	assert.NoError(t, err)
	_, err = c.Get(context.Background(), companies, []string{res[0].ID})
	assert.ErrorIs(t, err, boom)

	assert.Panics(t, func() { c.FailNext("Craete", 1, boom) }, "a misspelt method")
}

func TestFailAfterRetryDoesNotDuplicate(t *testing.T) {
	ctx := context.Background()
	c := memory.New(memory.Options{})
	timeout := context.DeadlineExceeded
	c.FailAfter(memory.MethodUpsert, 1, timeout)
	rec := []connectors.Record{{Fields: memory.SampleCompany(0)}}

	_, err := c.Upsert(ctx, companies, "domain", rec)
	require.ErrorIs(t, err, timeout)
	assert.Equal(t, 1, c.Len(companies), "the service wrote before the call failed")

	res, err := c.Upsert(ctx, companies, "domain", rec)
	require.NoError(t, err)
	assert.False(t, res[0].Created, "the retry finds the record the failed call wrote")
	assert.Equal(t, 1, c.Len(companies))
	assert.Equal(t, 2, c.Writes())

	// A create that fails after writing is what the engine guards against by looking
	// up the key before creating again: the lookup finds the record.
	c.FailAfter(memory.MethodCreate, 1, timeout)
	domain := memory.SampleCompany(1)["domain"].(string)
	_, err = c.Create(ctx, companies, []connectors.Record{{Fields: memory.SampleCompany(1)}})
	require.ErrorIs(t, err, timeout)
	found, err := c.Find(ctx, companies, "domain", []string{domain})
	require.NoError(t, err)
	assert.Len(t, found[domain], 1)
}

func TestFaultsQueueInOrder(t *testing.T) {
	c := memory.New(memory.Options{})
	first, second := errors.New("first"), errors.New("second")
	c.FailNext(memory.MethodFind, 1, first)
	c.FailAfter(memory.MethodFind, 1, second)
	_, err := c.Find(context.Background(), companies, "domain", []string{"x"})
	assert.ErrorIs(t, err, first)
	_, err = c.Find(context.Background(), companies, "domain", []string{"x"})
	assert.ErrorIs(t, err, second)
	_, err = c.Find(context.Background(), companies, "domain", []string{"x"})
	assert.NoError(t, err)
}

func TestRejectRecords(t *testing.T) {
	ctx := context.Background()
	var changed []string
	c := memory.New(memory.Options{OnChange: func(object string, r connectors.Record) {
		changed = append(changed, r.Fields["domain"].(string))
	}})
	c.RejectRecords(func(r connectors.Record) string {
		if _, ok := r.Fields["phone"].(float64); ok {
			return "phone must be text"
		}
		return ""
	})

	res := create(t, c,
		map[string]any{"domain": "a.com"},
		map[string]any{"domain": "b.com", "phone": float64(5)},
		map[string]any{"domain": "c.com"})
	var invalid *connectors.InvalidRecordError
	require.ErrorAs(t, res[1].Err, &invalid)
	assert.Equal(t, "phone must be text", invalid.Reason)
	assert.NoError(t, res[0].Err)
	assert.NoError(t, res[2].Err)

	upd, err := c.Update(ctx, companies, []connectors.Record{{ID: res[0].ID, Fields: map[string]any{"phone": float64(1)}}})
	require.NoError(t, err)
	require.ErrorAs(t, upd[0].Err, &invalid)
	assert.Equal(t, res[0].ID, invalid.Record)

	ups, err := c.Upsert(ctx, companies, "domain", []connectors.Record{{Fields: map[string]any{"domain": "d.com", "phone": float64(1)}}})
	require.NoError(t, err)
	require.ErrorAs(t, ups[0].Err, &invalid)

	assert.Equal(t, 2, c.Len(companies))
	assert.Equal(t, 2, c.Writes())
	assert.Equal(t, []string{"a.com", "c.com"}, changed, "OnChange follows successful writes only")

	c.RejectRecords(nil)
	res = create(t, c, map[string]any{"domain": "b.com", "phone": float64(5)})
	assert.NoError(t, res[0].Err)
}

func TestCallsAndReset(t *testing.T) {
	ctx := context.Background()
	c := memory.New(memory.Options{})
	create(t, c, memory.SampleCompany(0), memory.SampleCompany(1))
	_, _ = c.Changes(ctx, companies, connectors.Cursor{}, 10)
	_, _ = c.Changes(ctx, companies, connectors.Cursor{}, 10)
	_, _ = c.Get(ctx, companies, nil)
	_, _ = c.Update(ctx, companies, []connectors.Record{{ID: "missing"}})
	c.All(companies) // helpers are not calls

	assert.Equal(t, map[string]int{"Create": 1, "Changes": 2, "Get": 1, "Update": 1}, c.Calls())
	assert.Equal(t, 2, c.Writes(), "the update of a missing id wrote nothing")

	calls := c.Calls()
	calls["Create"] = 100
	assert.Equal(t, 1, c.Calls()["Create"], "Calls returns a copy")

	c.ResetCounts()
	assert.Empty(t, c.Calls())
	assert.Zero(t, c.Writes())
	assert.Equal(t, 2, c.Len(companies), "resetting counts keeps the records")
}

func TestStoresCopies(t *testing.T) {
	ctx := context.Background()
	c := memory.New(memory.Options{})
	fields := map[string]any{"name": "Acme", "tags": []any{"a"}, "address": map[string]any{"city": "Oslo"}}
	id := create(t, c, fields)[0].ID

	fields["name"] = "changed by caller"
	fields["tags"].([]any)[0] = "changed"
	fields["address"].(map[string]any)["city"] = "changed"

	got, err := c.Get(ctx, companies, []string{id})
	require.NoError(t, err)
	got[0].Fields["name"] = "changed by reader"
	got[0].Fields["address"].(map[string]any)["city"] = "changed"

	want := map[string]any{"name": "Acme", "tags": []any{"a"}, "address": map[string]any{"city": "Oslo"}}
	assert.Equal(t, want, c.All(companies)[0].Fields)
}

func TestMaxBatch(t *testing.T) {
	c := memory.New(memory.Options{MaxBatch: 2})
	assert.Equal(t, connectors.Info{Type: "memory", MaxBatch: 2, NativeUpsert: true, Schemaless: true}, c.Info())
	_, err := c.Create(context.Background(), companies, []connectors.Record{{}, {}, {}})
	var invalid *connectors.InvalidRecordError
	require.ErrorAs(t, err, &invalid)
	assert.Contains(t, invalid.Reason, "limit of 2")
	assert.Zero(t, c.Len(companies), "an oversized batch writes nothing")

	c = memory.New(memory.Options{Type: "salesloft-like", NoNativeUpsert: true})
	assert.Equal(t, connectors.Info{Type: "salesloft-like", NativeUpsert: false, Schemaless: true}, c.Info())
}

func TestArguments(t *testing.T) {
	ctx := context.Background()
	c := memory.New(memory.Options{})
	_, err := c.Changes(ctx, companies, connectors.Cursor{}, 0)
	assert.Error(t, err, "limit 0")
	_, err = c.Get(ctx, "", []string{"x"})
	assert.Error(t, err, "empty object")
	_, err = c.Upsert(ctx, companies, "", []connectors.Record{{}})
	assert.Error(t, err, "empty key field")

	// Any other object name is valid and starts empty.
	page, err := c.Changes(ctx, "contacts", connectors.Cursor{}, 10)
	require.NoError(t, err)
	assert.Empty(t, page.Records)
	assert.False(t, page.More)
}

func TestLatencyHonoursContext(t *testing.T) {
	c := memory.New(memory.Options{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := c.Create(ctx, companies, []connectors.Record{{Fields: memory.SampleCompany(0)}})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Zero(t, c.Len(companies))

	c = memory.New(memory.Options{Latency: time.Millisecond})
	create(t, c, memory.SampleCompany(0))
	assert.Equal(t, 1, c.Len(companies))
}

// TestChangesAfterMixedWrites checks the order index against a full sort after writes
// in every order: appends, updates, Puts into the past and deletes.
func TestChangesAfterMixedWrites(t *testing.T) {
	ctx := context.Background()
	clk := newClock(time.Millisecond)
	c := memory.New(memory.Options{Now: clk.Now})
	rng := rand.New(rand.NewSource(1))
	base := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

	for step := 0; step < 400; step++ {
		all := c.All(companies)
		switch op := rng.Intn(5); {
		case op == 0 || len(all) == 0:
			create(t, c, memory.SampleCompany(step))
		case op == 1:
			_, err := c.Update(ctx, companies, []connectors.Record{{ID: all[rng.Intn(len(all))].ID, Fields: map[string]any{"n": float64(step)}}})
			require.NoError(t, err)
		case op == 2:
			r := all[rng.Intn(len(all))]
			r.UpdatedAt = base.Add(time.Duration(rng.Intn(50)) * time.Millisecond) // often equal stamps
			c.Put(companies, r)
		case op == 3:
			c.Remove(companies, all[rng.Intn(len(all))].ID)
		default:
			since := connectors.Cursor{}
			if len(all) > 0 {
				since = connectors.CursorOf(all[rng.Intn(len(all))])
			}
			want := []connectors.Record{}
			for _, r := range byPosition(c.All(companies)) {
				if since.Before(r) {
					want = append(want, r)
				}
			}
			limit := 1 + rng.Intn(10)
			page, err := c.Changes(ctx, companies, since, limit)
			require.NoError(t, err)
			n := min(limit, len(want))
			assert.Equal(t, want[:n], page.Records, "step %d", step)
			assert.Equal(t, len(want) > limit, page.More, "step %d", step)
		}
	}
}

func TestSeedAndSampleCompany(t *testing.T) {
	assert.Equal(t, memory.SampleCompany(42), memory.SampleCompany(42), "deterministic")
	domains := map[string]bool{}
	for i := 0; i < 20000; i++ {
		f := memory.SampleCompany(i)
		d := f["domain"].(string)
		require.False(t, domains[d], "domain %s repeats at %d", d, i)
		domains[d] = true
		require.IsType(t, float64(0), f["employees"])
		require.NotEmpty(t, f["name"])
		require.NotEmpty(t, f["phone"])
		require.NotEmpty(t, f["industry"])
	}

	c := memory.New(memory.Options{})
	seeded := c.Seed(companies, 25, memory.SampleCompany)
	require.Len(t, seeded, 25)
	assert.Equal(t, memory.SampleCompany(0), seeded[0].Fields)
	assert.Equal(t, ids(seeded), ids(readAll(t, c, 10)), "seeded records are in change order")
	assert.Zero(t, c.Writes(), "seeding is set-up, not counted")
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	c := memory.New(memory.Options{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				f := memory.SampleCompany(w*1000 + i)
				res, err := c.Upsert(ctx, companies, "domain", []connectors.Record{{Fields: f}})
				if !assert.NoError(t, err) || !assert.NoError(t, res[0].Err) {
					return
				}
				_, err = c.Update(ctx, companies, []connectors.Record{{ID: res[0].ID, Fields: map[string]any{"i": float64(i)}}})
				assert.NoError(t, err)
				_, err = c.Changes(ctx, companies, connectors.Cursor{}, 7)
				assert.NoError(t, err)
				_, err = c.Find(ctx, companies, "domain", []string{f["domain"].(string)})
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 400, c.Len(companies))
	assert.Len(t, readAll(t, c, 33), 400)
}

// BenchmarkChanges reads a 10,000-record backfill in pages of 500, as a first sync does.
func BenchmarkChanges(b *testing.B) {
	ctx := context.Background()
	c := memory.New(memory.Options{})
	c.Seed(companies, 10000, memory.SampleCompany)
	b.ResetTimer()
	for b.Loop() {
		var cursor connectors.Cursor
		n := 0
		for {
			page, err := c.Changes(ctx, companies, cursor, 500)
			if err != nil {
				b.Fatal(err)
			}
			n += len(page.Records)
			if !page.More {
				break
			}
			cursor = connectors.CursorOf(page.Records[len(page.Records)-1])
		}
		if n != 10000 {
			b.Fatalf("read %d records, want 10000", n)
		}
	}
}

func ids(recs []connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// byPosition sorts records in change order, the slow obvious way.
func byPosition(recs []connectors.Record) []connectors.Record {
	sort.Slice(recs, func(i, j int) bool {
		return connectors.CursorOf(recs[i]).Before(recs[j])
	})
	return recs
}

func ExampleConnector_FailAfter() {
	c := memory.New(memory.Options{})
	c.FailAfter(memory.MethodCreate, 1, errors.New("timeout"))
	_, err := c.Create(context.Background(), "companies", []connectors.Record{{Fields: memory.SampleCompany(0)}})
	fmt.Println(err, c.Len("companies"))
	// Output: timeout 1
}

// Asked (connectors.WithRecordsBack), a write gives back each record as stored, after the
// service's own rewrite, in a copy of its own; unasked, it gives none.
func TestWritesGiveBackTheRecordsWhenAsked(t *testing.T) {
	c := memory.New(memory.Options{Rewrite: func(_ string, f map[string]any) { f["phone"] = "+1 " + fmt.Sprint(f["phone"]) }})
	recs := []connectors.Record{{Fields: map[string]any{"name": "Acme", "phone": "1"}}}
	res, err := c.Create(context.Background(), companies, recs)
	require.NoError(t, err)
	assert.Nil(t, res[0].Record)

	res, err = c.Create(connectors.WithRecordsBack(context.Background()), companies, recs)
	require.NoError(t, err)
	require.NotNil(t, res[0].Record)
	assert.Equal(t, res[0].ID, res[0].Record.ID)
	assert.Equal(t, "+1 1", res[0].Record.Fields["phone"])
	assert.False(t, res[0].Record.UpdatedAt.IsZero())
	got, err := c.Get(context.Background(), companies, []string{res[0].ID})
	require.NoError(t, err)
	assert.Equal(t, got[0], *res[0].Record, "the record as stored (the caller's to read, not to change)")
	// What Get gives is the caller's own: changing it changes nothing stored.
	got[0].Fields["phone"] = "changed by the caller"
	again, err := c.Get(context.Background(), companies, []string{res[0].ID})
	require.NoError(t, err)
	assert.Equal(t, "+1 1", again[0].Fields["phone"])
	assert.Equal(t, "+1 1", res[0].Record.Fields["phone"])
}
