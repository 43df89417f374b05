package salesforce_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/salesforce"
	"tandem/connectors/salesforce/salesforcefake"
)

// startClocked runs a fake org on clock and opens a client whose clock is the same, and
// returns the query strings of the Get Deleted requests the fake received.
func startClocked(t *testing.T, opts salesforcefake.Options, clock *fixedClock) (env, func() []string) {
	t.Helper()
	opts.Now = clock.Now
	fake := salesforcefake.New(opts)
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/deleted/") {
			mu.Lock()
			asked = append(asked, r.URL.Query().Get("start")+" "+r.URL.Query().Get("end"))
			mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := salesforce.New(salesforce.Config{
		LoginURL:     srv.URL,
		ClientID:     salesforcefake.DefaultClientID,
		ClientSecret: salesforcefake.DefaultClientSecret,
		HTTPClient:   srv.Client(),
		Now:          clock.Now,
	})
	require.NoError(t, err)
	return env{fake: fake, client: c}, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), asked...)
	}
}

func tombstoneIDs(ts []connectors.Tombstone) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func TestDeletesInOrderAfterACursor(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 9, 0, 10, 0, time.UTC)
	clock := &fixedClock{t: t0}
	e, asked := startClocked(t, salesforcefake.Options{}, clock)
	var a []string
	for i := range 8 {
		a = append(a, e.fake.Seed(account, sampleAccount(i)))
	}
	cursor := connectors.Cursor{UpdatedAt: t0}
	// An earlier deletion, before the cursor, in the cursor's own minute.
	clock.Add(-5 * time.Second)
	require.NoError(t, e.fake.Delete(account, a[7]))
	clock.Add(5 * time.Second)

	// Two deletions in one second, the larger id first: read in id order.
	clock.Add(20 * time.Second)
	require.NoError(t, e.fake.Delete(account, a[3]))
	require.NoError(t, e.fake.Delete(account, a[1]))
	clock.Add(10 * time.Second)
	require.NoError(t, e.fake.Delete(account, a[5]))
	clock.Add(3 * time.Minute)
	require.NoError(t, e.fake.Delete(account, a[0]))
	require.NoError(t, e.fake.Delete(account, a[6]))
	clock.Add(5 * time.Minute)
	// In the current minute: not covered yet (latestDateCovered is the minute's start).
	require.NoError(t, e.fake.Delete(account, a[2]))

	var got []connectors.Tombstone
	var more []bool
	for since := cursor; ; {
		page, err := e.client.Deletes(ctx, account, since, 2)
		require.NoError(t, err)
		got = append(got, page.Tombstones...)
		more = append(more, page.More)
		if !page.More {
			break
		}
		since = connectors.CursorOfTombstone(page.Tombstones[len(page.Tombstones)-1])
	}
	assert.Equal(t, []string{a[1], a[3], a[5], a[0], a[6]}, tombstoneIDs(got),
		"(DeletedAt, ID) order, strictly after the cursor, not the open minute")
	assert.Equal(t, []bool{true, true, false}, more)
	deleted := e.fake.Deleted(account)
	for _, ts := range got {
		assert.Equal(t, deleted[ts.ID], ts.DeletedAt, "DeletedAt is the log's deletedDate")
	}
	assert.Equal(t, t0.Add(20*time.Second), got[0].DeletedAt)
	assert.Equal(t, "2025-03-01T09:00:00+00:00 2025-03-01T09:08:00+00:00", asked()[0],
		"start is the cursor's minute, end the current one, written as in the documented example")

	// The open minute's deletion is read once its minute is over.
	clock.Add(time.Minute)
	page, err := e.client.Deletes(ctx, account, connectors.CursorOfTombstone(got[len(got)-1]), 2)
	require.NoError(t, err)
	assert.Equal(t, []string{a[2]}, tombstoneIDs(page.Tombstones))
	assert.False(t, page.More)

	// A cursor less than two minutes old cannot be asked about yet: an empty page, no call.
	n := len(asked())
	page, err = e.client.Deletes(ctx, account, connectors.CursorOfTombstone(page.Tombstones[0]), 2)
	require.NoError(t, err)
	assert.Empty(t, page.Tombstones)
	assert.False(t, page.More)
	assert.Len(t, asked(), n)

	// What the log holds is gone from queries.
	ids, _, err := e.client.ListIDs(ctx, account, "", 100)
	require.NoError(t, err)
	assert.Equal(t, []string{a[4]}, ids)
}

// TestDeletesWaitForDeletionsInProgress: a deletion that began before others but completes
// after them must not be passed by the cursor. Salesforce says so with latestDateCovered.
func TestDeletesWaitForDeletionsInProgress(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := &fixedClock{t: t0}
	e, _ := startClocked(t, salesforcefake.Options{}, clock)
	x, y, z := e.fake.Seed(account, sampleAccount(0)), e.fake.Seed(account, sampleAccount(1)), e.fake.Seed(account, sampleAccount(2))
	since := connectors.Cursor{UpdatedAt: t0}
	clock.Add(20 * time.Second)
	require.NoError(t, e.fake.Delete(account, x))
	clock.Add(20 * time.Second)
	finish, err := e.fake.StartDelete(account, y)
	require.NoError(t, err)
	clock.Add(50 * time.Second)
	require.NoError(t, e.fake.Delete(account, z))
	clock.Add(4 * time.Minute)

	page, err := e.client.Deletes(ctx, account, since, 10)
	require.NoError(t, err)
	assert.Empty(t, page.Tombstones, "x and z wait behind y's deletion, still in progress since 09:00:40")

	finish()
	page, err = e.client.Deletes(ctx, account, since, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{x, y, z}, tombstoneIDs(page.Tombstones))
	assert.Equal(t, t0.Add(40*time.Second), page.Tombstones[1].DeletedAt, "y is dated when its deletion began")
}

func TestDeletesNarrowTheSpanOverTheIDLimit(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := &fixedClock{t: t0}
	e, asked := startClocked(t, salesforcefake.Options{MaxDeletedIDs: 3}, clock)
	var want []string
	for i := range 6 {
		id := e.fake.Seed(account, sampleAccount(i))
		clock.Add(10 * time.Minute)
		require.NoError(t, e.fake.Delete(account, id))
		want = append(want, id)
	}
	clock.Add(10 * time.Minute)
	var got []string
	for since, calls := (connectors.Cursor{UpdatedAt: t0}), 0; ; calls++ {
		require.Less(t, calls, 10)
		page, err := e.client.Deletes(ctx, account, since, 100)
		require.NoError(t, err)
		got = append(got, tombstoneIDs(page.Tombstones)...)
		if !page.More {
			break
		}
		since = connectors.CursorOfTombstone(page.Tombstones[len(page.Tombstones)-1])
	}
	assert.Equal(t, want, got)
	assert.Greater(t, len(asked()), 2, "spans refused with EXCEEDED_ID_LIMIT were halved")
}

func TestDeletesExpiredCursor(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 9, 0, 30, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		opts     salesforcefake.Options
		since    time.Time
		earliest time.Time
	}{
		{
			// The documented answer: 400 INVALID_REPLICATION_DATE, then earliestDateAvailable
			// from the shortest span.
			name:     "refused, 16 days",
			since:    now.Add(-16 * 24 * time.Hour),
			earliest: time.Date(2025, 2, 14, 9, 1, 0, 0, time.UTC),
		},
		{
			name:     "answered with a later earliestDateAvailable",
			opts:     salesforcefake.Options{LenientDeletedStart: true},
			since:    now.Add(-16 * 24 * time.Hour),
			earliest: time.Date(2025, 2, 14, 9, 1, 0, 0, time.UTC),
		},
		{
			name:     "shorter retention",
			opts:     salesforcefake.Options{DeletedRetention: time.Hour},
			since:    now.Add(-90 * time.Minute),
			earliest: time.Date(2025, 3, 1, 8, 1, 0, 0, time.UTC),
		},
		{
			name:     "zero cursor",
			since:    time.Time{},
			earliest: time.Date(2025, 2, 14, 9, 1, 0, 0, time.UTC),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fixedClock{t: now}
			e, _ := startClocked(t, tc.opts, clock)
			_, err := e.client.Deletes(ctx, account, connectors.Cursor{UpdatedAt: tc.since, ID: salesforcefake.MakeID("001", 1)}, 10)
			var expired *connectors.DeleteLogExpiredError
			require.ErrorAs(t, err, &expired)
			assert.Equal(t, account, expired.Object)
			assert.True(t, tc.since.Equal(expired.Since))
			assert.Equal(t, tc.earliest, expired.Earliest)
			assert.Contains(t, err.Error(), tc.earliest.Format(time.RFC3339), "the message names the earliest date")
		})
	}

	t.Run("within the log", func(t *testing.T) {
		clock := &fixedClock{t: now.Add(-14 * 24 * time.Hour)}
		e, _ := startClocked(t, salesforcefake.Options{}, clock)
		id := e.fake.Seed(account, sampleAccount(0))
		since := clock.Now()
		clock.Add(time.Hour)
		require.NoError(t, e.fake.Delete(account, id))
		clock.Add(now.Sub(clock.Now()))
		page, err := e.client.Deletes(ctx, account, connectors.Cursor{UpdatedAt: since}, 10)
		require.NoError(t, err)
		assert.Equal(t, []string{id}, tombstoneIDs(page.Tombstones))
	})
}

func TestListIDsPages(t *testing.T) {
	ctx := context.Background()
	// Batches of 3 rows: each page of 4 follows nextRecordsUrl too.
	e := start(t, salesforcefake.Options{BatchSize: 3}, nil)
	var live []string
	for i := range 11 {
		id := e.fake.Seed(account, sampleAccount(i))
		if i%4 == 1 {
			require.NoError(t, e.fake.Delete(account, id))
			continue
		}
		live = append(live, id)
	}
	sort.Strings(live)

	var got []string
	pages := 0
	for token := ""; ; {
		ids, next, err := e.client.ListIDs(ctx, account, token, 4)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(ids), 4)
		got = append(got, ids...)
		pages++
		if next == "" {
			break
		}
		assert.Equal(t, ids[len(ids)-1], next)
		token = next
	}
	assert.Equal(t, live, got, "every live id once, in id order")
	assert.Equal(t, 2, pages)

	_, _, err := e.client.ListIDs(ctx, account, "'; DELETE", 4)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a Salesforce id")
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	for _, missingCode := range []string{"INVALID_CROSS_REFERENCE_KEY", "ENTITY_IS_DELETED"} {
		t.Run(missingCode, func(t *testing.T) {
			clock := &fixedClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
			e, _ := startClocked(t, salesforcefake.Options{MissingIDCode: missingCode}, clock)
			a := e.fake.Seed(account, sampleAccount(0))
			b := e.fake.Seed(account, sampleAccount(1))
			gone := e.fake.Seed(account, sampleAccount(2))
			locked := e.fake.Seed(account, sampleAccount(3))
			kept := e.fake.Seed(account, sampleAccount(4))
			require.NoError(t, e.fake.Delete(account, gone))
			require.NoError(t, e.fake.Lock(account, locked))
			never := salesforcefake.MakeID("001", 999_999)

			res, err := e.client.Delete(ctx, account, []string{a, gone, locked, b, "not-an-id", never, a})
			require.NoError(t, err)
			require.Len(t, res, 7)
			for _, i := range []int{0, 1, 3, 5, 6} {
				assert.NoError(t, res[i].Err, "result %d", i)
			}
			assert.Equal(t, a, res[0].ID)
			assert.Equal(t, b, res[3].ID)

			var invalid *connectors.InvalidRecordError
			require.ErrorAs(t, res[2].Err, &invalid)
			assert.Equal(t, "Account "+locked, invalid.Record)
			assert.Contains(t, invalid.Reason, "ENTITY_IS_LOCKED")
			assert.Contains(t, invalid.Reason, "This record is locked")
			require.ErrorAs(t, res[4].Err, &invalid)
			assert.Equal(t, "Id", invalid.Field)

			var left []string
			for _, r := range e.fake.Records(account) {
				left = append(left, r.ID)
			}
			assert.ElementsMatch(t, []string{locked, kept}, left, "the rest of the batch went through")
			assert.Contains(t, e.fake.Deleted(account), a)
			assert.Contains(t, e.fake.Deleted(account), b)
		})
	}

	t.Run("over the limit", func(t *testing.T) {
		e := start(t, salesforcefake.Options{}, nil)
		_, err := e.client.Delete(ctx, account, make([]string, 201))
		var invalid *connectors.InvalidRecordError
		require.True(t, errors.As(err, &invalid), "%v", err)
		assert.Contains(t, err.Error(), "limit of 200")
		assert.Zero(t, e.fake.Stats().Writes)
	})
}
