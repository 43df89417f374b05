package netsuite_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/netsuite"
	"tandem/connectors/netsuite/netsuitefake"
)

func tombstoneIDs(ts []connectors.Tombstone) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// readDeletes reads the delete log from since to its end, limit a page.
func readDeletes(t *testing.T, e env, since connectors.Cursor, limit int) ([]connectors.Tombstone, []bool, connectors.DeletesPage) {
	t.Helper()
	var got []connectors.Tombstone
	var more []bool
	for calls := 0; ; calls++ {
		require.Less(t, calls, 50)
		page, err := e.c.Deletes(context.Background(), customer, since, limit)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Tombstones), limit)
		got = append(got, page.Tombstones...)
		more = append(more, page.More)
		if !page.More {
			return got, more, page
		}
		since = connectors.CursorOfTombstone(page.Tombstones[len(page.Tombstones)-1])
	}
}

// clocked starts a fake and a connector on one clock, near the real time (the fake
// checks OAuth timestamps), holding back the open second as by default.
func clocked(t *testing.T, opts netsuitefake.Options, extra map[string]string) (env, *clock) {
	t.Helper()
	clk := newClock(time.Now().UTC().Truncate(time.Second))
	opts.Now = clk.Now
	settings := map[string]string{"hold_back_open_second": ""}
	for k, v := range extra {
		settings[k] = v
	}
	return start(t, opts, settings), clk
}

func TestDeletesInOrderAfterACursor(t *testing.T) {
	e, clk := clocked(t, netsuitefake.Options{}, map[string]string{"page_size": "2"})
	var a []string
	for i := range 8 {
		a = append(a, e.fake.Seed(customer, sampleCustomer(i)))
	}
	contact := e.fake.Seed("contact", map[string]any{"entityid": "Jo"})
	t0 := clk.Now()
	clk.Add(-2 * time.Second)
	require.True(t, e.fake.Delete(customer, a[7])) // before the cursor
	clk.Add(2 * time.Second)
	cursor := connectors.Cursor{UpdatedAt: t0}

	// Two deletions in one second, the larger id first: read in id order.
	clk.Add(20 * time.Second)
	require.True(t, e.fake.Delete(customer, a[3]))
	require.True(t, e.fake.Delete(customer, a[1]))
	clk.Add(10 * time.Second)
	require.True(t, e.fake.Delete(customer, a[5]))
	clk.Add(3 * time.Minute)
	require.True(t, e.fake.Delete(customer, a[6]))
	require.True(t, e.fake.Delete(customer, a[0]))
	require.True(t, e.fake.Delete("contact", contact), "another record type's deletion is not a customer's")
	clk.Add(time.Minute)
	// In the account's current second: held back until it is over.
	require.True(t, e.fake.Delete(customer, a[2]))

	got, more, last := readDeletes(t, e, cursor, 2)
	assert.Equal(t, []string{a[1], a[3], a[5], a[0], a[6]}, tombstoneIDs(got),
		"(DeletedAt, ID) order, strictly after the cursor, not the open second")
	assert.Equal(t, []bool{true, true, false}, more)
	deleted := e.fake.Deleted(customer)
	for _, ts := range got {
		assert.Equal(t, deleted[ts.ID].Truncate(time.Second), ts.DeletedAt, "DeletedAt is deleteddate, to the second")
	}
	assert.Equal(t, clk.Now(), last.CoveredUntil, "covered up to the account's current second")

	// Later in that second a customer with a smaller id is deleted; both are read once
	// the second is over.
	require.True(t, e.fake.Delete(customer, a[4]))
	page, err := e.c.Deletes(t.Context(), customer, connectors.CursorOfTombstone(got[len(got)-1]), 10)
	require.NoError(t, err)
	assert.Empty(t, page.Tombstones)
	clk.Add(time.Second)
	page, err = e.c.Deletes(t.Context(), customer, connectors.CursorOfTombstone(got[len(got)-1]), 10)
	require.NoError(t, err)
	assert.Equal(t, []string{a[2], a[4]}, tombstoneIDs(page.Tombstones))
	assert.False(t, page.More)

	ids, _, err := e.c.ListIDs(t.Context(), customer, "", 100)
	require.NoError(t, err)
	assert.Empty(t, ids, "what the log holds is gone from queries")
}

// TestDeletesLargeTie: more deletions in one second than a SuiteQL page holds are all
// read, in id order, with a page limit smaller than the tie.
func TestDeletesLargeTie(t *testing.T) {
	e, clk := clocked(t, netsuitefake.Options{}, map[string]string{"page_size": "3"})
	since := connectors.Cursor{UpdatedAt: clk.Now()}
	clk.Add(time.Second)
	var want []string
	for i := range 12 {
		id := e.fake.Seed(customer, sampleCustomer(i))
		require.True(t, e.fake.Delete(customer, id))
		want = append(want, id)
	}
	clk.Add(time.Second)
	got, _, _ := readDeletes(t, e, since, 5)
	assert.ElementsMatch(t, want, tombstoneIDs(got))
	for i := 1; i < len(got); i++ {
		assert.Less(t, got[i-1].ID, got[i].ID, "one second, ids in string order")
	}
}

func TestDeletesExpiredCursor(t *testing.T) {
	e, clk := clocked(t, netsuitefake.Options{DeletedRetention: 48 * time.Hour}, map[string]string{"deleted_retention": "48h"})
	id := e.fake.Seed(customer, sampleCustomer(0))
	since := connectors.Cursor{UpdatedAt: clk.Now()}
	clk.Add(time.Hour)
	deletedAt := clk.Now()
	require.True(t, e.fake.Delete(customer, id))
	clk.Add(46 * time.Hour)

	page, err := e.c.Deletes(t.Context(), customer, since, 10)
	require.NoError(t, err, "47 hours old: within the log's 48")
	assert.Equal(t, []string{id}, tombstoneIDs(page.Tombstones))

	for _, tc := range []struct {
		name  string
		since time.Time
	}{
		{"older than the retention", clk.Now().Add(-49 * time.Hour)},
		{"zero cursor", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.c.Deletes(t.Context(), customer, connectors.Cursor{UpdatedAt: tc.since, ID: "1"}, 10)
			var expired *connectors.DeleteLogExpiredError
			require.ErrorAs(t, err, &expired)
			assert.Equal(t, customer, expired.Object)
			assert.True(t, tc.since.Equal(expired.Since))
			assert.Equal(t, clk.Now().Add(-48*time.Hour), expired.Earliest)
		})
	}

	// Two hours and a second later the deletion is purged from the account's log, and the cursor from
	// before it has expired: the engine diffs ids instead.
	clk.Add(2*time.Hour + time.Second)
	assert.Empty(t, e.fake.Deleted(customer))
	_, err = e.c.Deletes(t.Context(), customer, since, 10)
	var expired *connectors.DeleteLogExpiredError
	require.ErrorAs(t, err, &expired)
	assert.True(t, expired.Earliest.After(deletedAt))

	// Without a known retention only the zero cursor is expired.
	e2, clk2 := clocked(t, netsuitefake.Options{}, nil)
	_, err = e2.c.Deletes(t.Context(), customer, connectors.Cursor{}, 10)
	require.ErrorAs(t, err, &expired)
	assert.Equal(t, clk2.Now(), expired.Earliest)
	_, err = e2.c.Deletes(t.Context(), customer, connectors.Cursor{UpdatedAt: clk2.Now().Add(-1000 * time.Hour)}, 10)
	require.NoError(t, err)
}

func TestDeletesTypeSetting(t *testing.T) {
	e, clk := clocked(t, netsuitefake.Options{}, map[string]string{"deleted_types": "customer=custjob"})
	since := connectors.Cursor{UpdatedAt: clk.Now()}
	clk.Add(time.Second)
	id := e.fake.Seed("custjob", map[string]any{"companyname": "Acme"})
	require.True(t, e.fake.Delete("custjob", id))
	other := e.fake.Seed(customer, sampleCustomer(1))
	require.True(t, e.fake.Delete(customer, other))
	clk.Add(time.Second)
	page, err := e.c.Deletes(t.Context(), customer, since, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{id}, tombstoneIDs(page.Tombstones), "the log's type as deleted_types names it")
}

func TestListIDsPages(t *testing.T) {
	e := start(t, netsuitefake.Options{}, map[string]string{"page_size": "3"})
	var live []string
	for i := range 11 {
		id := e.fake.Seed(customer, sampleCustomer(i))
		if i%4 == 1 {
			require.True(t, e.fake.Delete(customer, id))
			continue
		}
		live = append(live, id)
	}
	var got []string
	pages := 0
	for token := ""; ; {
		ids, next, err := e.c.ListIDs(t.Context(), customer, token, 4)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(ids), 4)
		got = append(got, ids...)
		pages++
		if pages == 1 {
			// Deleted between pages: the next page neither skips nor repeats a record.
			require.True(t, e.fake.Delete(customer, live[0]))
		}
		if next == "" {
			break
		}
		assert.Equal(t, ids[len(ids)-1], next)
		token = next
	}
	assert.Equal(t, live, got, "every id live at the start once, in id order")
	assert.Equal(t, 2, pages)
	assert.Zero(t, e.fake.Stats().MaxOffset, "keyset paging: every query at offset 0")

	_, _, err := e.c.ListIDs(t.Context(), customer, "1 OR 1=1", 4)
	assert.ErrorContains(t, err, "not an internal id")
}

func TestDelete(t *testing.T) {
	e := start(t, netsuitefake.Options{}, nil)
	a := e.fake.Seed(customer, sampleCustomer(0))
	b := e.fake.Seed(customer, sampleCustomer(1))
	gone := e.fake.Seed(customer, sampleCustomer(2))
	refused := e.fake.Seed(customer, sampleCustomer(3))
	kept := e.fake.Seed(customer, sampleCustomer(4))
	require.True(t, e.fake.Delete(customer, gone))
	e.fake.RefuseDelete(customer, refused, "This record cannot be deleted because it has dependent records.", "")
	never := "999999"

	before := e.fake.Stats().ByRoute["DELETE record"]
	res, err := e.c.Delete(t.Context(), customer, []string{a, gone, refused, b, "x1", never, a})
	require.NoError(t, err)
	require.Len(t, res, 7)
	for _, i := range []int{0, 1, 3, 5, 6} {
		assert.NoError(t, res[i].Err, "result %d", i)
	}
	assert.Equal(t, []string{a, gone, b, never, a}, []string{res[0].ID, res[1].ID, res[3].ID, res[5].ID, res[6].ID})

	var invalid *connectors.InvalidRecordError
	require.ErrorAs(t, res[2].Err, &invalid)
	assert.Equal(t, customer+" "+refused, invalid.Record)
	assert.Contains(t, invalid.Reason, "dependent records", "NetSuite's detail")
	assert.Contains(t, invalid.Reason, "USER_ERROR")
	require.ErrorAs(t, res[4].Err, &invalid)
	assert.Equal(t, "id", invalid.Field)

	var left []string
	for _, r := range e.fake.Records(customer) {
		left = append(left, r.ID)
	}
	assert.ElementsMatch(t, []string{refused, kept}, left, "the rest of the batch went through")
	assert.Contains(t, e.fake.Deleted(customer), a)
	assert.Contains(t, e.fake.Deleted(customer), b)
	assert.Equal(t, 5, e.fake.Stats().ByRoute["DELETE record"]-before, "one request per record, each id once")

	// A failure that is not about one record fails the call.
	e.fake.FailNext(1, http.StatusInternalServerError, 0)
	_, err = e.c.Delete(t.Context(), customer, []string{kept})
	require.Error(t, err)
	res, err = e.c.Delete(t.Context(), customer, []string{kept})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)

	_, err = e.c.Delete(t.Context(), customer, make([]string, 101))
	assert.ErrorContains(t, err, fmt.Sprint("max_batch ", 100))
}

func TestDeleteSettings(t *testing.T) {
	base := connectors.Settings{"account_id": "123456_SB1", "consumer_key": "a", "consumer_secret": "b", "token_id": "c", "token_secret": "d"}
	with := func(k, v string) connectors.Settings {
		s := connectors.Settings{k: v}
		for bk, bv := range base {
			s[bk] = bv
		}
		return s
	}
	for _, tc := range []struct{ key, value string }{
		{"deleted_retention", "90 days"},
		{"deleted_types", "customer"},
		{"deleted_types", "customer=cust job"},
	} {
		_, err := netsuite.Factory("ns", with(tc.key, tc.value))
		require.Error(t, err, tc.value)
		assert.Contains(t, err.Error(), tc.key)
	}
	c, err := netsuite.Factory("ns", with("deleted_types", "Customer=CustJob, contact=contact"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"customer": "CustJob", "contact": "contact"}, c.(*netsuite.Connector).Config().DeletedTypes)
}
