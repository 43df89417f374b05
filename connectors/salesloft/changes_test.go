package salesloft_test

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/salesloft"
	"tandem/connectors/salesloft/salesloftfake"
)

// readAll reads every change after since with pages of limit, requiring each record to
// come strictly after the previous one.
func readAll(t *testing.T, c connectors.Connector, since connectors.Cursor, limit int) []connectors.Record {
	t.Helper()
	var all []connectors.Record
	cursor := since
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10000, "Changes never said More=false")
		page, err := c.Changes(context.Background(), accounts, cursor, limit)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Records), limit)
		for _, r := range page.Records {
			require.True(t, cursor.Before(r), "record %s (%s) is not after %s", r.ID, r.UpdatedAt, cursor)
			cursor = connectors.CursorOf(r)
			all = append(all, r)
		}
		if !page.More {
			return all
		}
		require.NotEmpty(t, page.Records, "empty page with More=true")
	}
}

// wantOrder returns the fake's accounts in (UpdatedAt, ID) order.
func wantOrder(fake *salesloftfake.Server) []string {
	recs := fake.Records()
	sort.Slice(recs, func(i, j int) bool { return connectors.CursorOf(recs[i]).Before(recs[j]) })
	return ids(recs)
}

func ids(recs []connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// stepClock returns a clock that moves step on every reading.
func stepClock(step time.Duration) func() time.Time {
	t := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(step)
		return t
	}
}

func TestChangesBackfillOfManyPagesCostsOnePerPage(t *testing.T) {
	c, fake, _ := open(t, salesloftfake.Options{Now: stepClock(time.Millisecond)}, salesloft.Options{})
	for i := range 1000 {
		fake.Seed(sampleAccount(i))
	}
	// A few ties, as bulk edits leave them.
	recs := fake.Records()
	for _, i := range []int{98, 99, 100, 101, 102, 497, 498, 499, 500} {
		fake.SetUpdatedAt(recs[i].ID, recs[97].UpdatedAt.Add(time.Duration(i/400)*time.Hour))
	}

	got := readAll(t, c, connectors.Cursor{}, 100)
	assert.Equal(t, wantOrder(fake), ids(got), "every account once, in (updated_at, id) order")

	st := fake.Stats()
	lists := st.Requests["GET /v2/accounts"]
	assert.Equal(t, 1, st.MaxPage, "no deep pages: the window moves instead")
	assert.Equal(t, lists, st.Cost, "every list request cost 1")
	assert.LessOrEqual(t, lists, 13, "about one request per 100 accounts")
	assert.Zero(t, st.RateLimited)
}

func TestChangesEqualUpdatedAtAcrossPageBoundaries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tied     [2]int // accounts [from, to) get one timestamp
		maxPage  int
		limitSet []int
	}{
		// 30 ties straddling the first page boundary: the window moves to their time.
		{"StraddlingTie", [2]int{85, 115}, 1, []int{100, 7}},
		// 150 ties, more than a page: paged through within their timestamp.
		{"TieLongerThanAPage", [2]int{50, 200}, 2, []int{100, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, fake, _ := open(t, salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited, Now: stepClock(time.Millisecond)}, salesloft.Options{})
			for i := range 250 {
				fake.Seed(sampleAccount(i))
			}
			recs := fake.Records()
			at := recs[tc.tied[0]].UpdatedAt
			for _, r := range recs[tc.tied[0]:tc.tied[1]] {
				fake.SetUpdatedAt(r.ID, at)
			}
			want := wantOrder(fake)

			for _, limit := range tc.limitSet {
				got := readAll(t, c, connectors.Cursor{}, limit)
				assert.Equal(t, want, ids(got), "pages of %d", limit)
			}
			assert.LessOrEqual(t, fake.Stats().MaxPage, tc.maxPage)

			// Resuming from inside the tie reads the rest of it, then what follows.
			tied := slices.Clone(ids(recs[tc.tied[0]:tc.tied[1]]))
			sort.Strings(tied)
			mid := connectors.Cursor{UpdatedAt: at, ID: tied[len(tied)/2]}
			got := readAll(t, c, mid, 100)
			i := slices.Index(want, mid.ID)
			assert.Equal(t, want[i+1:], ids(got), "resume after %s", mid)
		})
	}
}

func TestChangesUnsupportedObject(t *testing.T) {
	c, _, _ := open(t, salesloftfake.Options{}, salesloft.Options{})
	_, err := c.Changes(context.Background(), "people", connectors.Cursor{}, 10)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"people"`)
}

func TestCountChanges(t *testing.T) {
	c, fake, _ := open(t, salesloftfake.Options{Now: stepClock(time.Millisecond)}, salesloft.Options{})
	for i := range 250 {
		fake.Seed(sampleAccount(i))
	}
	n, err := c.CountChanges(context.Background(), accounts, connectors.Cursor{})
	require.NoError(t, err)
	assert.Equal(t, 250, n)

	recs := fake.Records()
	sort.Slice(recs, func(i, j int) bool { return connectors.CursorOf(recs[i]).Before(recs[j]) })
	n, err = c.CountChanges(context.Background(), accounts, connectors.CursorOf(recs[199]))
	require.NoError(t, err)
	assert.Equal(t, 51, n, "the 50 after the cursor, and the cursor's own account (same time)")
	assert.Equal(t, 2, fake.Stats().Cost, "one request of page 1 each")

	_, err = c.CountChanges(context.Background(), "people", connectors.Cursor{})
	assert.Error(t, err)
}
