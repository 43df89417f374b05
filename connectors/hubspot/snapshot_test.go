package hubspot_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/hubspot"
	"tandem/connectors/hubspot/hubspotfake"
)

// tenfold are HubSpot's limits ten times over: the client weighs listing against searching
// by them (listPays) as it does by HubSpot's, and the tests do not wait as long.
var tenfold = map[string]string{hubspot.SettingRatePer10s: "1900", hubspot.SettingSearchPerSecond: "40"}

// TestReadFromTheStartListsTheRecords reads 10,000 companies from the zero cursor, as a
// first run does: through the list endpoint (100 a request, the general budget) instead of
// searches (60 of them with snapshot_max 0, at 4 a second against HubSpot's limits).
func TestReadFromTheStartListsTheRecords(t *testing.T) {
	e := newEnv(t, fast, tenfold)
	want := seed(t, e.fake, 10_000, 100)
	e.fake.ResetStats()

	assert.Equal(t, want, readAll(t, e.client, 1000), "every record once, in (UpdatedAt, ID) order")
	calls := e.fake.Stats().Requests
	assert.Equal(t, 100, calls["GET companies"], "the list, 100 a request")
	assert.LessOrEqual(t, calls["POST companies/search"], 3, "two counts before the list, a search after it")

	t.Run("a retried first page lists nothing again", func(t *testing.T) {
		e.fake.ResetStats()
		for range 2 {
			page, err := e.client.Changes(t.Context(), "companies", connectors.Cursor{}, 1000)
			require.NoError(t, err)
			require.Len(t, page.Records, 1000)
			assert.Equal(t, want[:1000], ids(page.Records))
			assert.False(t, page.AsOf.IsZero(), "a page served from the list says when the list was read")
		}
		assert.Equal(t, 100, e.fake.Stats().Requests["GET companies"], "one list read")
	})
}

// TestReadFromTheStartSeesWhatChangesWhileItReads changes, creates and re-stamps records
// after the list was read, while its pages are served: the search that follows the list
// reads each in its latest version.
func TestReadFromTheStartSeesWhatChangesWhileItReads(t *testing.T) {
	e := newEnv(t, fast, tenfold)
	all, first := firstListedPage(t, e)

	early, late := all[10], all[900] // one served already, one the list still holds
	require.NoError(t, e.fake.Set("companies", early, map[string]string{"name": "Early, renamed"}))
	require.NoError(t, e.fake.Set("companies", late, map[string]string{"name": "Late, renamed"}))
	created := e.fake.Seed("companies", map[string]string{"name": "Created meanwhile", "domain": "new.example.com"})

	names := map[string]string{}
	for _, r := range first.Records {
		names[r.ID] = r.Fields["name"].(string)
	}
	cursor := connectors.CursorOf(first.Records[len(first.Records)-1])
	for page := first; page.More; {
		var err error
		page, err = e.client.Changes(t.Context(), "companies", cursor, 100)
		require.NoError(t, err)
		for _, r := range page.Records {
			require.True(t, cursor.Before(r), "record %s is not after %s", r.ID, cursor)
			names[r.ID] = r.Fields["name"].(string) // a later version replaces an earlier one
			cursor = connectors.CursorOf(r)
		}
	}
	assert.Len(t, names, 1001)
	assert.Equal(t, "Early, renamed", names[early])
	assert.Equal(t, "Late, renamed", names[late])
	assert.Equal(t, "Created meanwhile", names[created])
}

// TestReadFromTheStartSearchesWhenListingDoesNotPay: an object of more records than
// snapshot_max is searched (a count tells), snapshot_max 0 never lists, and neither does a
// read that finds most records newer than the snapshot's cutoff (a first read right after
// a bulk write: the searches after the snapshot would read them anyway).
func TestReadFromTheStartSearchesWhenListingDoesNotPay(t *testing.T) {
	for _, c := range []struct {
		name   string
		max    string
		recent bool
	}{{"more than snapshot_max", "500", false}, {"snapshot_max 0", "0", false}, {"most records recent", "100000", true}} {
		t.Run(c.name, func(t *testing.T) {
			settings := map[string]string{hubspot.SettingSnapshotMax: c.max}
			for k, v := range tenfold {
				settings[k] = v
			}
			e := newEnv(t, fast, settings)
			want := seed(t, e.fake, 1000, 1)
			if c.recent {
				for _, id := range want[100:] {
					require.NoError(t, e.fake.SetModified("companies", id, time.Now()))
				}
			}
			e.fake.ResetStats()
			assert.ElementsMatch(t, want, readAll(t, e.client, 300))
			assert.Zero(t, e.fake.Stats().Requests["GET companies"])
		})
	}
}

// TestReadFromTheStartCountsOnceWhereListingIsCheap: listing 300 records takes three
// requests of the general budget, less time than the second count would take as a search,
// so the read lists them after one count; an empty object is searched after one count.
func TestReadFromTheStartCountsOnceWhereListingIsCheap(t *testing.T) {
	e := newEnv(t, fast, tenfold)
	e.fake.ResetStats()
	assert.Empty(t, readAll(t, e.client, 100))
	calls := e.fake.Stats().Requests
	assert.Zero(t, calls["GET companies"], "nothing to list")
	assert.Equal(t, 2, calls["POST companies/search"], "the count, then the read's search")

	want := seed(t, e.fake, 300, 1)
	e.fake.ResetStats()
	assert.Equal(t, want, readAll(t, e.client, 100))
	calls = e.fake.Stats().Requests
	assert.Equal(t, 3, calls["GET companies"], "the list, 100 a request")
	assert.Equal(t, 2, calls["POST companies/search"], "one count before the list, a search after it")

	// Right after a bulk write, every record is newer than the list's cutoff: the list
	// serves none of them and the searches after it read them all.
	for _, id := range want {
		require.NoError(t, e.fake.SetModified("companies", id, time.Now()))
	}
	e.fake.ResetStats()
	assert.ElementsMatch(t, want, readAll(t, e.client, 100))
	assert.Equal(t, 3, e.fake.Stats().Requests["GET companies"], "listed without the second count")
}

func ids(rs []connectors.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// hookedTransport calls hook before each request it sends.
type hookedTransport struct {
	next http.RoundTripper
	hook func(*http.Request)
}

func (h hookedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h.hook(r)
	return h.next.RoundTrip(r)
}

// TestReadFromTheStartKeepsWritesDuringTheListForTheSearch changes two records while the
// list is read: one in a page already read (the list gave its old version), one in a page
// still to come (the list gives its new one). Served in date order, the second would come
// last and take the cursor past the first one's change, which nothing would read again;
// the snapshot leaves out what was modified after its cutoff, and the search after it
// reads both changes. Also with the client's clock a minute ahead of HubSpot's: a cutoff
// by the client's clock alone would keep both changes (it fails so).
func TestReadFromTheStartKeepsWritesDuringTheListForTheSearch(t *testing.T) {
	for _, skew := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprintf("client clock ahead by %s", skew), func(t *testing.T) {
			fake := hubspotfake.New(fast)
			srv := httptest.NewServer(fake.Handler())
			t.Cleanup(func() { srv.Close(); fake.Close() })
			all := seed(t, fake, 1000, 1)
			listed, changedAt := 0, time.Now()
			transport := hookedTransport{next: &http.Transport{}, hook: func(r *http.Request) {
				if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/objects/companies") {
					return
				}
				if listed++; listed == 3 { // two pages read, eight to come
					require.NoError(t, fake.Set("companies", all[50], map[string]string{"name": "Read, then renamed"}))
					require.NoError(t, fake.SetModified("companies", all[50], changedAt))
					require.NoError(t, fake.Set("companies", all[950], map[string]string{"name": "Renamed, then read"}))
					require.NoError(t, fake.SetModified("companies", all[950], changedAt.Add(10*time.Millisecond)))
				}
			}}
			c := newClient(t, srv.URL, tenfold, transport, func() time.Time { return time.Now().Add(skew) })

			names := map[string]string{}
			var cursor connectors.Cursor
			for more := true; more; {
				page, err := c.Changes(t.Context(), "companies", cursor, 100)
				require.NoError(t, err)
				for _, r := range page.Records {
					require.True(t, cursor.Before(r), "record %s is not after %s", r.ID, cursor)
					names[r.ID] = r.Fields["name"].(string)
					cursor = connectors.CursorOf(r)
				}
				more = page.More
			}
			require.Equal(t, 10, listed, "the list was read (and the records changed during it)")
			assert.Equal(t, "Read, then renamed", names[all[50]])
			assert.Equal(t, "Renamed, then read", names[all[950]])
		})
	}
}

// TestReadFromTheStartDropsTheSnapshotOnAWrite writes a record the snapshot still holds:
// its earlier version must not be served (a two-way sync would write it back); the rest
// of the read searches.
func TestReadFromTheStartDropsTheSnapshotOnAWrite(t *testing.T) {
	e := newEnv(t, fast, tenfold)
	all, first := firstListedPage(t, e)
	res, err := e.client.Update(t.Context(), "companies", []connectors.Record{{ID: all[500], Fields: map[string]any{"name": "Written by Tandem"}}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)

	names := map[string][]string{}
	cursor := connectors.CursorOf(first.Records[len(first.Records)-1])
	for page := first; page.More; {
		page, err = e.client.Changes(t.Context(), "companies", cursor, 100)
		require.NoError(t, err)
		for _, r := range page.Records {
			names[r.ID] = append(names[r.ID], r.Fields["name"].(string))
			cursor = connectors.CursorOf(r)
		}
	}
	assert.Equal(t, []string{"Written by Tandem"}, names[all[500]], "only the version written")
	assert.Len(t, names, 900)
}

// TestReadFromTheStartKeepsTheSnapshotForItsReader: another read of the object, from a
// cursor past the snapshot, searches and leaves the snapshot to the read that took it.
func TestReadFromTheStartKeepsTheSnapshotForItsReader(t *testing.T) {
	e := newEnv(t, fast, tenfold)
	all, first := firstListedPage(t, e)
	last, ok := e.fake.Get("companies", all[999])
	require.True(t, ok)
	_, err := e.client.Changes(t.Context(), "companies", connectors.Cursor{UpdatedAt: last.UpdatedAt, ID: all[999]}, 100)
	require.NoError(t, err)

	e.fake.ResetStats()
	cursor := connectors.CursorOf(first.Records[len(first.Records)-1])
	read := len(first.Records)
	for read < 1000 {
		page, err := e.client.Changes(t.Context(), "companies", cursor, 100)
		require.NoError(t, err)
		require.NotEmpty(t, page.Records)
		read += len(page.Records)
		cursor = connectors.CursorOf(page.Records[len(page.Records)-1])
	}
	assert.Zero(t, e.fake.Stats().Requests["POST companies/search"], "the first read's pages come from its snapshot")
}

// TestReadFromTheStartSearchesWhenTheListIsRefused: a list read HubSpot refuses for good
// (here 414, a URL too long for the properties) falls back to searching.
func TestReadFromTheStartSearchesWhenTheListIsRefused(t *testing.T) {
	fake := hubspotfake.New(fast)
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(func() { srv.Close(); fake.Close() })
	want := seed(t, fake, 1000, 1)
	refused := 0
	transport := refusingTransport{next: &http.Transport{}, refuse: func(r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/objects/companies") {
			refused++
			return true
		}
		return false
	}}
	c := newClient(t, srv.URL, tenfold, transport, nil)
	assert.Equal(t, want, readAll(t, c, 300))
	assert.Equal(t, 1, refused, "one list request, refused")
}

// refusingTransport answers 414 to the requests refuse picks, and sends the others.
type refusingTransport struct {
	next   http.RoundTripper
	refuse func(*http.Request) bool
}

func (rt refusingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if rt.refuse(r) {
		body := `{"status":"error","message":"URI Too Long","category":"VALIDATION_ERROR"}`
		return &http.Response{StatusCode: http.StatusRequestURITooLong, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
	}
	return rt.next.RoundTrip(r)
}

// TestReadFromTheStartDropsAnExpiredSnapshot: a snapshot serves its read for 2 minutes;
// a page asked for later comes from a search.
func TestReadFromTheStartDropsAnExpiredSnapshot(t *testing.T) {
	clock := newClock()
	opts := fast
	opts.Now = clock.Now
	e := newEnv(t, opts, tenfold)
	_, first := firstListedPage(t, e)
	cursor := connectors.CursorOf(first.Records[len(first.Records)-1])

	clock.Add(time.Minute)
	page, err := e.client.Changes(t.Context(), "companies", cursor, 100)
	require.NoError(t, err)
	assert.False(t, page.AsOf.IsZero(), "a minute on: still the list's")

	clock.Add(2 * time.Minute)
	e.fake.ResetStats()
	page, err = e.client.Changes(t.Context(), "companies", connectors.CursorOf(page.Records[len(page.Records)-1]), 100)
	require.NoError(t, err)
	assert.True(t, page.AsOf.IsZero(), "three minutes on: searched")
	assert.Positive(t, e.fake.Stats().Requests["POST companies/search"])
	assert.Zero(t, e.fake.Stats().Requests["GET companies"])
}

// firstListedPage seeds 1,000 companies, one a millisecond, and reads the first 100 from
// the zero cursor, served from the list; it returns the ids in order and that page.
func firstListedPage(t *testing.T, e *env) ([]string, connectors.Page) {
	t.Helper()
	all := seed(t, e.fake, 1000, 1)
	first, err := e.client.Changes(t.Context(), "companies", connectors.Cursor{}, 100)
	require.NoError(t, err)
	require.Equal(t, all[:100], ids(first.Records))
	require.False(t, first.AsOf.IsZero(), "served from the list")
	return all, first
}

// TestReadFromTheStartStopsListingPastSnapshotMax: the count said the object was small
// (its search trailed a bulk create), but the list finds it large. The list serves only
// records older than its cutoff, and those stay few; the read stops listing once the list
// has shown more than snapshot_max records, whether it kept them or not, and searches.
func TestReadFromTheStartStopsListingPastSnapshotMax(t *testing.T) {
	var indexDelay atomic.Int64
	opts := fast
	opts.IndexDelay = func(string) time.Duration { return time.Duration(indexDelay.Load()) }
	settings := map[string]string{hubspot.SettingSnapshotMax: "3000"}
	for k, v := range tenfold {
		settings[k] = v
	}
	e := newEnv(t, opts, settings)
	for i := range 2000 { // modified long ago, searchable at once
		e.fake.SeedAt("companies", map[string]string{"name": fmt.Sprintf("Old %d", i)}, time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	}
	indexDelay.Store(int64(time.Hour))
	// Created through the API, modified now, not yet searchable: not in the count.
	created := make([]connectors.Record, 5000)
	for i := range created {
		created[i] = connectors.Record{Fields: map[string]any{"name": fmt.Sprintf("New %d", i), "domain": fmt.Sprintf("new%d.example.com", i)}}
	}
	res, err := e.client.Upsert(t.Context(), "companies", "domain", created)
	require.NoError(t, err)
	for _, r := range res {
		require.Empty(t, r.Err)
	}
	e.fake.ResetStats()
	_, err = e.client.Changes(t.Context(), "companies", connectors.Cursor{}, 100)
	require.NoError(t, err)
	assert.LessOrEqual(t, e.fake.Stats().Requests["GET companies"], 31,
		"the list stops at the page that takes it past 3,000 records, not at its 70th")
}
