package hubspot_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/hubspot"
)

// lagged is a search-only client with a search lag: read-ahead needs the lag's bound to
// date the records it keeps.
var lagged = map[string]string{hubspot.SettingSnapshotMax: "0", hubspot.SettingSearchLag: "1s"}

// pageRead is one page of readPages.
type pageRead struct {
	page     connectors.Page
	searches int
}

// readPages is readAll returning each page too, with the searches it took.
func readPages(t *testing.T, e *env, c connectors.Connector, limit int) ([]string, []pageRead) {
	t.Helper()
	var pages []pageRead
	searches := func() int { return e.fake.Stats().Requests["POST companies/search"] }
	last := searches()
	got := readEach(t, c, limit, func(p connectors.Page) {
		n := searches()
		pages = append(pages, pageRead{p, n - last})
		last = n
	})
	return got, pages
}

// TestChangesServesWhatItReadPastAPage: to know a page's last tie is complete, a read
// searches on to a later millisecond; the next call is served what that read past the
// page, dated by the earlier search's bound, instead of searching it again.
func TestChangesServesWhatItReadPastAPage(t *testing.T) {
	for _, c := range []struct {
		n, tie, limit int
		scramble      bool
	}{{10_000, 100, 1000, false}, {10_000, 1, 1000, false}, {3000, 1, 250, false}, {3000, 150, 100, false},
		{10_000, 100, 1000, true}, {3000, 7, 250, true}, {3000, 150, 100, true}} {
		opts := fast
		opts.ScrambleTies = c.scramble // ties by id, or in no order (fast's)
		e := newEnv(t, opts, lagged)
		want := seed(t, e.fake, c.n, c.tie)
		e.fake.ResetStats()
		start := time.Now()
		got, pages := readPages(t, e, e.client, c.limit)
		require.Equal(t, want, got, "ties of %d, pages of %d", c.tie, c.limit)
		ahead, searches, total := 0, 0, len(pages)
		for _, p := range pages {
			searches += p.searches
			if p.page.AsOf.IsZero() {
				continue
			}
			ahead++
			assert.Zero(t, p.searches, "a page read ahead takes no search")
			assert.False(t, p.page.AsOf.After(time.Now().Add(-time.Second)), "dated by its search's bound, the search lag before it: %v", p.page.AsOf)
			assert.True(t, p.page.AsOf.After(start.Add(-2*time.Second)), "%v", p.page.AsOf)
		}
		// The same pages with read-ahead off (no search lag: nothing dates what it read).
		off := newClient(t, e.url, map[string]string{hubspot.SettingSnapshotMax: "0"}, nil, nil)
		e.fake.ResetStats()
		got, pages = readPages(t, e, off, c.limit)
		require.Equal(t, want, got)
		before := e.fake.Stats().Requests["POST companies/search"]
		for _, p := range pages {
			assert.True(t, p.page.AsOf.IsZero())
		}
		t.Logf("ties of %d (scrambled %v), pages of %d: %d searches (%d of %d pages read ahead), %d without read-ahead",
			c.tie, c.scramble, c.limit, searches, ahead, total, before)
		if c.limit >= 250 {
			assert.Positive(t, ahead, "ties of %d, pages of %d", c.tie, c.limit)
			assert.Less(t, searches, before, "ties of %d, pages of %d", c.tie, c.limit)
		}
	}
}

// TestReadAheadServesRecordsAsRead: a record read past a page and modified by another
// process before the next call is served as read, dated before the change; the change is
// read later, after the search lag, as any change is. Pages of another size split what
// was read ahead. A client reading other properties, writing the object, or called after
// snapshotTTL searches again.
func TestReadAheadServesRecordsAsRead(t *testing.T) {
	clk := newClock()
	opts := fast
	opts.Now = clk.Now
	e := newEnv(t, opts, lagged)
	want := seed(t, e.fake, 1000, 1) // in 2024, long before the clock
	ctx := t.Context()
	count := func() int { return e.fake.Stats().Requests["POST companies/search"] }

	// Pages of 250 search 200 records at a time: the second search reads 150 past the page.
	page, err := e.client.Changes(ctx, "companies", connectors.Cursor{}, 250)
	require.NoError(t, err)
	require.Equal(t, want[:250], ids(page.Records))
	assert.Equal(t, 2, count())

	// Another process renames a record read past the page (this client's own write would
	// drop what it read ahead; below).
	renamed := want[260]
	other := newClient(t, e.url, lagged, nil, clk.Now)
	res, err := other.Update(ctx, "companies", []connectors.Record{{ID: renamed, Fields: map[string]any{"name": "Renamed"}}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	clk.Add(5 * time.Second) // past the search lag: a search would read the change

	e.fake.ResetStats()
	page, err = e.client.Changes(ctx, "companies", connectors.CursorOf(page.Records[249]), 100)
	require.NoError(t, err)
	assert.Zero(t, count(), "served from what the first call read")
	assert.Equal(t, want[250:350], ids(page.Records), "the first 100 of what was read ahead")
	assert.True(t, page.More)
	assert.False(t, page.AsOf.IsZero())
	assert.True(t, page.AsOf.Before(clk.Now().Add(-5*time.Second)), "dated before the rename: %v", page.AsOf)
	assert.NotEqual(t, "Renamed", page.Records[10].Fields["name"], "served as read")

	last := page.Records[99]
	_ = append(page.Records, connectors.Record{ID: "appended"}) // the caller's page is its own
	page, err = e.client.Changes(ctx, "companies", connectors.CursorOf(last), 100)
	require.NoError(t, err)
	assert.Zero(t, count())
	assert.Equal(t, want[350:399], ids(page.Records), "the rest, up to the millisecond the read stopped in")

	// The next call searches, from that millisecond on; the rename comes at the end.
	var rest []connectors.Record
	since := connectors.CursorOf(page.Records[len(page.Records)-1])
	for {
		page, err = e.client.Changes(ctx, "companies", since, 250)
		require.NoError(t, err)
		rest = append(rest, page.Records...)
		if len(page.Records) > 0 {
			since = connectors.CursorOf(page.Records[len(page.Records)-1])
		}
		if !page.More {
			break
		}
	}
	require.Len(t, rest, 602)
	assert.Equal(t, want[399:], ids(rest[:601]))
	assert.Equal(t, renamed, rest[601].ID)
	assert.Equal(t, "Renamed", rest[601].Fields["name"])

	// Another client's properties: what was read ahead with others is not served.
	e2 := newEnv(t, fast, lagged)
	want = seed(t, e2.fake, 1000, 1)
	page, err = e2.client.Changes(ctx, "companies", connectors.Cursor{}, 250)
	require.NoError(t, err)
	e2.client.ReadFields("companies", []string{"annualrevenue"})
	e2.fake.ResetStats()
	page, err = e2.client.Changes(ctx, "companies", connectors.CursorOf(page.Records[249]), 250)
	require.NoError(t, err)
	assert.Equal(t, want[250:500], ids(page.Records))
	assert.True(t, page.AsOf.IsZero())
	assert.Positive(t, e2.fake.Stats().Requests["POST companies/search"], "read again with the new properties")

	// The client's own write or archive, the page served once already, or 30 seconds gone
	// by: read again.
	for name, between := range map[string]func(e *env, clk *clock, since connectors.Cursor){
		"write": func(e *env, _ *clock, _ connectors.Cursor) {
			res, err := e.client.Update(ctx, "companies", []connectors.Record{{ID: want[900], Fields: map[string]any{"name": "Written"}}})
			require.NoError(t, err)
			require.NoError(t, res[0].Err)
		},
		"archive": func(e *env, _ *clock, _ connectors.Cursor) {
			res, err := e.client.Delete(ctx, "companies", []string{want[900]})
			require.NoError(t, err)
			require.NoError(t, res[0].Err)
		},
		"served before": func(e *env, _ *clock, since connectors.Cursor) {
			page, err := e.client.Changes(ctx, "companies", since, 250)
			require.NoError(t, err)
			require.False(t, page.AsOf.IsZero())
		},
		"after 30 seconds": func(_ *env, clk *clock, _ connectors.Cursor) { clk.Add(31 * time.Second) },
	} {
		clk := newClock()
		opts := fast
		opts.Now = clk.Now
		e := newEnv(t, opts, lagged)
		want = seed(t, e.fake, 1000, 1)
		page, err := e.client.Changes(ctx, "companies", connectors.Cursor{}, 250)
		require.NoError(t, err)
		between(e, clk, connectors.CursorOf(page.Records[249]))
		e.fake.ResetStats()
		page, err = e.client.Changes(ctx, "companies", connectors.CursorOf(page.Records[249]), 250)
		require.NoError(t, err)
		assert.Equal(t, want[250:500], ids(page.Records), name)
		assert.True(t, page.AsOf.IsZero(), name)
		assert.Positive(t, e.fake.Stats().Requests["POST companies/search"], name)
	}
}

// TestReadAheadSplitInATieThenExpired: a page read ahead is split inside a tie by a
// smaller page, the rest expires, and the next call searches from inside that tie: the
// tie's records served are left out (NOT_IN), the others read, each record once.
func TestReadAheadSplitInATieThenExpired(t *testing.T) {
	clk := newClock()
	opts := fast
	opts.Now = clk.Now
	e := newEnv(t, opts, lagged)
	want := seed(t, e.fake, 1000, 7)
	ctx := t.Context()
	page, err := e.client.Changes(ctx, "companies", connectors.Cursor{}, 250)
	require.NoError(t, err)
	require.Equal(t, want[:250], ids(page.Records))
	got := ids(page.Records)
	since := connectors.CursorOf(page.Records[249])

	e.fake.ResetStats()
	page, err = e.client.Changes(ctx, "companies", since, 10)
	require.NoError(t, err)
	require.False(t, page.AsOf.IsZero(), "served from what was read ahead")
	require.Zero(t, e.fake.Stats().Requests["POST companies/search"])
	require.Equal(t, want[250:260], ids(page.Records))
	last := page.Records[9] // records 252-258 and 259-265 share a millisecond: the split is inside a tie
	got = append(got, ids(page.Records)...)
	since = connectors.CursorOf(last)

	clk.Add(31 * time.Second) // the rest expires
	for first := true; ; first = false {
		page, err = e.client.Changes(ctx, "companies", since, 100)
		require.NoError(t, err)
		if first {
			require.True(t, page.AsOf.IsZero(), "searched: what was read ahead has expired")
		}
		for _, r := range page.Records {
			require.True(t, since.Before(r), "record %s is not after %s", r.ID, since)
			since = connectors.CursorOf(r)
		}
		got = append(got, ids(page.Records)...)
		if !page.More {
			break
		}
	}
	assert.Equal(t, want, got)
}
