package hubspot_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/hubspot"
)

// clocked starts a fake and a client that share clk.
func clocked(t *testing.T, clk *clock) *env {
	t.Helper()
	opts := fast
	opts.Now = clk.Now
	return newEnv(t, opts, nil)
}

func tombstoneIDs(ts []connectors.Tombstone) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func company(i int) map[string]string {
	return map[string]string{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%d.example.com", i)}
}

// readDeletes reads the delete log from since to its end, limit a page.
func readDeletes(t *testing.T, e *env, since connectors.Cursor, limit int) ([]connectors.Tombstone, []bool, connectors.DeletesPage) {
	t.Helper()
	var got []connectors.Tombstone
	var more []bool
	for calls := 0; ; calls++ {
		require.Less(t, calls, 50)
		page, err := e.client.Deletes(context.Background(), "companies", since, limit)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(page.Tombstones), limit)
		got = append(got, page.Tombstones...)
		more = append(more, page.More)
		if !page.More {
			return got, more, page
		}
		since = connectors.CursorOfTombstone(page.Tombstones[len(page.Tombstones)-1])
	}
}

func TestDeletesInOrderAfterACursor(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	e := clocked(t, clk)
	var a []string
	for i := range 8 {
		a = append(a, e.fake.Seed("companies", company(i)))
	}
	// More archived records than one page of the list holds, all before the cursor: the
	// client reads every page, as the list is in id order, not archivedAt order.
	var old []string
	for i := range 130 {
		old = append(old, e.fake.Seed("companies", company(100+i)))
	}
	clk.Add(-time.Minute)
	for _, id := range old {
		require.NoError(t, e.fake.Delete("companies", id))
	}
	clk.Add(time.Minute - time.Second)
	require.NoError(t, e.fake.Delete("companies", a[7])) // a second before the cursor
	clk.Add(time.Second)
	cursor := connectors.Cursor{UpdatedAt: t0}

	// Two archives in one millisecond, the larger id first: read in id order.
	clk.Add(20 * time.Second)
	require.NoError(t, e.fake.Delete("companies", a[3]))
	require.NoError(t, e.fake.Delete("companies", a[1]))
	clk.Add(10 * time.Second)
	require.NoError(t, e.fake.Delete("companies", a[5]))
	clk.Add(3 * time.Minute)
	require.NoError(t, e.fake.Delete("companies", a[6]))
	require.NoError(t, e.fake.Delete("companies", a[0]))
	clk.Add(time.Minute)
	// Within the settle margin of the client's clock: held back.
	require.NoError(t, e.fake.Delete("companies", a[2]))
	clk.Add(2 * time.Second)

	e.fake.ResetStats()
	got, more, last := readDeletes(t, e, cursor, 2)
	assert.Equal(t, []string{a[1], a[3], a[5], a[0], a[6]}, tombstoneIDs(got),
		"(archivedAt, id) order, strictly after the cursor, not the settling archive")
	assert.Equal(t, []bool{true, true, false}, more)
	archived := e.fake.Archived("companies")
	for _, ts := range got {
		assert.Equal(t, archived[ts.ID], ts.DeletedAt, "DeletedAt is archivedAt")
	}
	assert.Equal(t, t0.Add(20*time.Second), got[0].DeletedAt)
	assert.Equal(t, clk.Now().Add(-5*time.Second), last.CoveredUntil, "covered up to the settle horizon")
	// Three calls, each reading the whole archived list of 138 records: two pages; and the
	// client's first call asks for one live record to learn HubSpot's clock.
	assert.Equal(t, 7, e.fake.Stats().Requests["GET companies"])

	// The held-back archive is read once its margin has passed.
	clk.Add(4 * time.Second)
	page, err := e.client.Deletes(t.Context(), "companies", connectors.CursorOfTombstone(got[len(got)-1]), 2)
	require.NoError(t, err)
	assert.Equal(t, []string{a[2]}, tombstoneIDs(page.Tombstones))
	assert.False(t, page.More)

	// With nothing new, the page is empty and says how far the log was read.
	clk.Add(time.Hour)
	page, err = e.client.Deletes(t.Context(), "companies", connectors.CursorOfTombstone(page.Tombstones[0]), 2)
	require.NoError(t, err)
	assert.Empty(t, page.Tombstones)
	assert.Equal(t, clk.Now().Add(-5*time.Second), page.CoveredUntil)

	// Archived records are gone from reads.
	ids, _, err := e.client.ListIDs(t.Context(), "companies", "", 100)
	require.NoError(t, err)
	assert.Equal(t, []string{a[4]}, ids)
}

func TestDeletesExpiredCursor(t *testing.T) {
	clk := newClock()
	e := clocked(t, clk)
	id := e.fake.Seed("companies", company(0))
	archivedAt := clk.Now()
	require.NoError(t, e.fake.Delete("companies", id))
	clk.Add(89 * 24 * time.Hour)

	since := connectors.Cursor{UpdatedAt: archivedAt.Add(-time.Hour)}
	page, err := e.client.Deletes(t.Context(), "companies", since, 10)
	require.NoError(t, err, "89 days old: within the 90 days HubSpot keeps archived records")
	assert.Equal(t, []string{id}, tombstoneIDs(page.Tombstones))

	for _, tc := range []struct {
		name  string
		since time.Time
	}{
		{"91 days", clk.Now().Add(-91 * 24 * time.Hour)},
		{"zero cursor", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.Deletes(t.Context(), "companies", connectors.Cursor{UpdatedAt: tc.since, ID: "1"}, 10)
			var expired *connectors.DeleteLogExpiredError
			require.ErrorAs(t, err, &expired)
			assert.Equal(t, "companies", expired.Object)
			assert.True(t, tc.since.Equal(expired.Since))
			assert.Equal(t, clk.Now().Add(-90*24*time.Hour), expired.Earliest)
			assert.Contains(t, err.Error(), "90 days")
		})
	}

	// A day and a millisecond later the archive is 90 days old and purged from the list, and
	// the cursor from before it is expired: the engine falls back to a full id diff.
	clk.Add(24*time.Hour + time.Millisecond)
	assert.Empty(t, e.fake.Archived("companies"))
	_, err = e.client.Deletes(t.Context(), "companies", since, 10)
	var expired *connectors.DeleteLogExpiredError
	require.ErrorAs(t, err, &expired)
	assert.True(t, expired.Earliest.After(archivedAt))
}

func TestListIDsPages(t *testing.T) {
	clk := newClock()
	e := clocked(t, clk)
	var live []string
	for i := range 11 {
		id := e.fake.Seed("companies", company(i))
		if i%4 == 1 {
			require.NoError(t, e.fake.Delete("companies", id))
			continue
		}
		live = append(live, id)
	}

	var got []string
	pages := 0
	for token := ""; ; {
		ids, next, err := e.client.ListIDs(t.Context(), "companies", token, 3)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(ids), 3)
		got = append(got, ids...)
		pages++
		if pages == 1 {
			// Archived between pages: the next page neither skips nor repeats a record.
			require.NoError(t, e.fake.Delete("companies", live[0]))
		}
		if next == "" {
			break
		}
		token = next
	}
	assert.Equal(t, live, got, "every id live at the start once, in id order")
	assert.Equal(t, 3, pages)

	// A limit over HubSpot's page of 100 reads whole pages until it is reached.
	for i := range 230 {
		e.fake.Seed("companies", company(100+i))
	}
	e.fake.ResetStats()
	ids, next, err := e.client.ListIDs(t.Context(), "companies", "", 250)
	require.NoError(t, err)
	assert.Len(t, ids, 237)
	assert.Empty(t, next)
	assert.True(t, sort.SliceIsSorted(ids, func(i, j int) bool { return num(ids[i]) < num(ids[j]) }))
	assert.Equal(t, 3, e.fake.Stats().Requests["GET companies"])

	ids, next, err = e.client.ListIDs(t.Context(), "companies", "", 150)
	require.NoError(t, err)
	assert.Len(t, ids, 150)
	require.NotEmpty(t, next)
	rest, next, err := e.client.ListIDs(t.Context(), "companies", next, 150)
	require.NoError(t, err)
	assert.Len(t, rest, 87)
	assert.Empty(t, next)
}

func num(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

func TestDelete(t *testing.T) {
	clk := newClock()
	e := clocked(t, clk)
	a := e.fake.Seed("companies", company(0))
	b := e.fake.Seed("companies", company(1))
	gone := e.fake.Seed("companies", company(2))
	refused := e.fake.Seed("companies", company(3))
	kept := e.fake.Seed("companies", company(4))
	require.NoError(t, e.fake.Delete("companies", gone))
	e.fake.RefuseArchive("companies", refused, "it is the parent company of 3 companies")
	never := "999999999"

	res, err := e.client.Delete(t.Context(), "companies", []string{a, gone, refused, b, "not-an-id", never, a})
	require.NoError(t, err)
	require.Len(t, res, 7)
	for _, i := range []int{0, 1, 3, 5, 6} {
		assert.NoError(t, res[i].Err, "result %d", i)
	}
	assert.Equal(t, a, res[0].ID)
	assert.Equal(t, gone, res[1].ID, "already archived counts as deleted")
	assert.Equal(t, b, res[3].ID)
	assert.Equal(t, never, res[5].ID, "never there counts as deleted")

	var invalid *connectors.InvalidRecordError
	require.ErrorAs(t, res[2].Err, &invalid)
	assert.Equal(t, "companies "+refused, invalid.Record)
	assert.Contains(t, invalid.Reason, "it is the parent company of 3 companies", "HubSpot's reason")
	assert.Contains(t, invalid.Reason, "VALIDATION_ERROR")
	require.ErrorAs(t, res[4].Err, &invalid)
	assert.Equal(t, "id", invalid.Field)

	var left []string
	for _, r := range e.fake.Records("companies") {
		left = append(left, r.ID)
	}
	assert.ElementsMatch(t, []string{refused, kept}, left, "the rest of the batch went through")
	archived := e.fake.Archived("companies")
	assert.Contains(t, archived, a)
	assert.Contains(t, archived, b)
	assert.Equal(t, clk.Now(), archived[a], "archived, so it shows in the delete log")
}

func TestDeleteSplitsOverTheBatchLimit(t *testing.T) {
	e := clocked(t, newClock())
	var ids []string
	for i := range hubspot.MaxBatch + 20 {
		ids = append(ids, e.fake.Seed("companies", company(i)))
	}
	e.fake.ResetStats()
	res, err := e.client.Delete(t.Context(), "companies", ids)
	require.NoError(t, err)
	for i, r := range res {
		require.NoError(t, r.Err, "result %d", i)
	}
	assert.Empty(t, e.fake.Records("companies"))
	assert.Equal(t, 2, e.fake.Stats().Requests["POST companies/batch/archive"])
}

func TestDeletionWebhooksAreDeleted(t *testing.T) {
	body := []byte(`[
	 {"eventId":1,"subscriptionId":101,"portalId":1,"occurredAt":1714564800123,"subscriptionType":"company.deletion","objectId":5001},
	 {"eventId":2,"subscriptionId":203,"portalId":1,"occurredAt":1714564800456,"subscriptionType":"contact.privacyDeletion","objectId":7001}
	]`)
	events, err := hubspot.ParseEvents(body)
	require.NoError(t, err)
	require.Len(t, events, 2)
	assert.Equal(t, "deleted", events[0].Kind)
	assert.Equal(t, "companies", events[0].Object)
	assert.Equal(t, "deleted", events[1].Kind, "a GDPR delete, which never reaches the archived list")
	assert.Equal(t, "contacts", events[1].Object)
}
