package hubspot_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/hubspot"
	"tandem/connectors/hubspot/hubspotfake"
)

// A worker's clock a minute ahead of HubSpot's. Reads that must not pass what HubSpot has
// not shown yet are bounded by HubSpot's clock too, from its answers' Date headers: by the
// client's clock alone, each of these loses a record.

// TestSearchLagHoldsWithTheClientClockAhead: the index shows the first of two writes 1.5 s
// late, within the search lag (2 s). Bounded by the client's clock, a minute ahead, the
// read would take the second and pass the first for good. The writes come at the start of
// HubSpot's second, and again a second in, where a bound that took HubSpot's clock at the
// end of its Date's second (1.3 s on) passed the first write.
func TestSearchLagHoldsWithTheClientClockAhead(t *testing.T) {
	for _, start := range []time.Duration{0, time.Second} {
		clk := newClock()
		clk.Add(start)
		e := newSkewedEnv(t, laggingIndex(clk), map[string]string{hubspot.SettingSearchLag: "2s", hubspot.SettingSnapshotMax: "0"}, time.Minute)
		first, second := writeTwo(t, e, clk)
		want := []string{first, second}

		page, err := e.client.Changes(t.Context(), "companies", connectors.Cursor{}, 10)
		require.NoError(t, err)
		assert.Empty(t, ids(page.Records), "written at %s: nothing is older than the search lag by HubSpot's clock", start)
		clk.Add(1300 * time.Millisecond) // the index does not show the first write yet
		page, err = e.client.Changes(t.Context(), "companies", connectors.Cursor{}, 10)
		require.NoError(t, err)
		assert.Empty(t, ids(page.Records), "written at %s: 1.3 s on, within the search lag", start)
		clk.Add(800 * time.Millisecond)
		page, err = e.client.Changes(t.Context(), "companies", connectors.Cursor{}, 10)
		require.NoError(t, err)
		assert.Equal(t, want, ids(page.Records), "written at %s", start)
	}
}

// TestDeletesHoldWithTheClientClockAhead archives a record while the archived list is
// read, in a page already read. The read's horizon must stay before its archivedAt, so
// that the next read finds it; by the client's clock alone it covered that time.
func TestDeletesHoldWithTheClientClockAhead(t *testing.T) {
	clk := newClock()
	opts := fast
	opts.Now = clk.Now
	fake := hubspotfake.New(opts)
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(func() { srv.Close(); fake.Close() })
	late := fake.Seed("companies", company(0)) // the smallest id: the archived list's first page
	for i := range 150 {
		require.NoError(t, fake.Delete("companies", fake.Seed("companies", company(1+i))))
	}
	cursor := connectors.Cursor{UpdatedAt: clk.Now().Add(30 * time.Second)}
	clk.Add(time.Minute)

	pages := 0
	transport := hookedTransport{next: &http.Transport{}, hook: func(r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Query().Get("archived") != "true" {
			return
		}
		if pages++; pages == 2 { // the first page read, the second asked for
			require.NoError(t, fake.Delete("companies", late))
		}
	}}
	c := newClient(t, srv.URL, nil, transport, func() time.Time { return clk.Now().Add(time.Minute) })

	page, err := c.Deletes(t.Context(), "companies", cursor, 1000)
	require.NoError(t, err)
	require.Equal(t, 2, pages, "the archived list was read, and the record archived during it")
	assert.Empty(t, page.Tombstones)
	archivedAt := fake.Archived("companies")[late]
	assert.True(t, page.CoveredUntil.Before(archivedAt), "covered until %s, past the archive at %s", page.CoveredUntil, archivedAt)

	clk.Add(10 * time.Second)
	page, err = c.Deletes(t.Context(), "companies", connectors.Cursor{UpdatedAt: page.CoveredUntil}, 1000)
	require.NoError(t, err)
	assert.Equal(t, []string{late}, tombstoneIDs(page.Tombstones))
}
