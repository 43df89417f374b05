package hubspot_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/connectortest"
	"tandem/connectors/hubspot"
	"tandem/connectors/hubspot/hubspotfake"
)

// env is a client connected to a fake HubSpot on a local test server.
type env struct {
	fake   *hubspotfake.Server
	client *hubspot.Client
	url    string
}

// fast are fake options without budgets, for tests that are not about them, sorting a
// search's ties in no order a client could count on (HubSpot documents none).
var fast = hubspotfake.Options{RatePer10s: hubspotfake.Unlimited, SearchPerSecond: hubspotfake.Unlimited, ScrambleTies: true}

// newEnv starts a fake with opts and a client with settings (token and base_url are
// filled in). Everything stops when the test ends.
func newEnv(t *testing.T, opts hubspotfake.Options, settings map[string]string) *env {
	t.Helper()
	return newSkewedEnv(t, opts, settings, 0)
}

// newSkewedEnv is newEnv with the client's clock skew ahead of the fake's (opts.Now, or
// the real clock).
func newSkewedEnv(t *testing.T, opts hubspotfake.Options, settings map[string]string, skew time.Duration) *env {
	t.Helper()
	fake := hubspotfake.New(opts)
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(func() {
		srv.Close()
		fake.Close()
	})
	now := opts.Now // one clock for the fake and the client's search lag
	if skew != 0 {
		fakeNow := opts.Now
		if fakeNow == nil {
			fakeNow = time.Now
		}
		now = func() time.Time { return fakeNow().Add(skew) }
	}
	return &env{fake: fake, client: newClient(t, srv.URL, settings, nil, now), url: srv.URL}
}

// newClient is a client of the fake at url: a demo token, budgets far above the tests'
// needs and no search lag (the fake's search has none unless a test gives it one), then
// settings. Its requests go through transport (a new one, closed at the end, when nil);
// its clock is now (the real one when nil).
func newClient(t *testing.T, url string, settings map[string]string, transport http.RoundTripper, now func() time.Time) *hubspot.Client {
	t.Helper()
	s := connectors.Settings{hubspot.SettingToken: "demo-token", hubspot.SettingBaseURL: url,
		hubspot.SettingRatePer10s: "100000", hubspot.SettingSearchPerSecond: "10000", hubspot.SettingSearchLag: "0s"}
	maps.Copy(s, settings)
	cfg, err := hubspot.ParseSettings(s)
	require.NoError(t, err)
	if transport == nil {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		transport = tr
	}
	cfg.HTTPClient = &http.Client{Transport: transport, Timeout: 30 * time.Second}
	cfg.Now = now
	c, err := hubspot.New(cfg)
	require.NoError(t, err)
	return c
}

func TestConformance(t *testing.T) {
	// Each connector a subtest opens has its own fake and clock; SetUpdatedAt and Advance
	// find them here.
	var mu sync.Mutex
	fakes := map[connectors.Connector]*hubspotfake.Server{}
	clocks := map[connectors.Connector]*connectortest.Clock{}
	driver := func(settings map[string]string) func(t *testing.T) connectors.Connector {
		return func(t *testing.T) connectors.Connector {
			clock := &connectortest.Clock{}
			opts := fast
			opts.Now = clock.Now // newEnv gives the client the fake's clock
			e := newEnv(t, opts, settings)
			mu.Lock()
			fakes[e.client] = e.fake
			clocks[e.client] = clock
			mu.Unlock()
			return e.client
		}
	}
	advance := func(t *testing.T, c connectors.Connector, d time.Duration) {
		mu.Lock()
		clock := clocks[c]
		mu.Unlock()
		clock.Advance(d)
	}
	// Deletes reads the archives older than the client's clock less 5 seconds.
	const deleteLag = 10 * time.Second
	setUpdatedAt := func(t *testing.T, c connectors.Connector, object, id string, at time.Time) {
		mu.Lock()
		f := fakes[c]
		mu.Unlock()
		require.NoError(t, f.SetModified(object, id, at))
	}

	t.Run("companies by domain", func(t *testing.T) {
		connectortest.Run(t, connectortest.Driver{
			New:      driver(nil),
			Object:   "companies",
			KeyField: "domain",
			NewFields: func(i int) map[string]any {
				return map[string]any{
					"name":   fmt.Sprintf("Company %d", i),
					"domain": fmt.Sprintf("company%d.example.com", i),
					"phone":  fmt.Sprintf("+1 555 %04d", i),
					"city":   "Springfield",
				}
			},
			Mutate: func(f map[string]any) map[string]any {
				f["phone"] = f["phone"].(string) + "9"
				f["city"] = "Shelbyville"
				return f
			},
			Invalid:      func() map[string]any { return map[string]any{"name": "Bad", "domain": "not a domain.com"} },
			SetUpdatedAt: setUpdatedAt,
			MissingID:    "999999999",
			Advance:      advance,
			DeleteLag:    deleteLag,
		})
	})
	t.Run("contacts by email, dated paths", func(t *testing.T) {
		connectortest.Run(t, connectortest.Driver{
			New:      driver(map[string]string{hubspot.SettingPathPrefix: "/crm/objects/2026-03"}),
			Object:   "contacts",
			KeyField: "email",
			NewFields: func(i int) map[string]any {
				return map[string]any{
					"email":     fmt.Sprintf("person%d@example.com", i),
					"firstname": fmt.Sprintf("Person%d", i),
					"lastname":  "Smith",
				}
			},
			Mutate: func(f map[string]any) map[string]any {
				f["lastname"] = "Jones"
				return f
			},
			Invalid:      func() map[string]any { return map[string]any{"email": "no-at-sign", "lastname": "Bad"} },
			SetUpdatedAt: setUpdatedAt,
			MissingID:    "999999999",
			Advance:      advance,
			DeleteLag:    deleteLag,
		})
	})
}

// seed stores n companies in the fake whose modified dates advance one millisecond every
// tie records, and returns their ids in (UpdatedAt, ID) order.
func seed(t *testing.T, f *hubspotfake.Server, n, tie int) []string {
	t.Helper()
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	ids := make([]string, n)
	for i := range n {
		ids[i] = f.Seed("companies", map[string]string{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%d.example.com", i)})
		require.NoError(t, f.SetModified("companies", ids[i], base.Add(time.Duration(i/tie)*time.Millisecond)))
	}
	return ids // the fake's ids grow with i and have one length, so this is ID order too
}

// readAll pages through every change with pages of limit, requiring each record once and
// in order, and returns the ids read.
func readAll(t *testing.T, c connectors.Connector, limit int) []string {
	t.Helper()
	return readEach(t, c, limit, nil)
}

// readEach is readAll calling each (when set) with every page read.
func readEach(t *testing.T, c connectors.Connector, limit int, each func(connectors.Page)) []string {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	var cursor connectors.Cursor
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10000)
		page, err := c.Changes(t.Context(), "companies", cursor, limit)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Records), limit)
		if each != nil {
			each(page)
		}
		for _, r := range page.Records {
			require.True(t, cursor.Before(r), "record %s is not after %s", r.ID, cursor)
			require.False(t, seen[r.ID], "record %s read twice", r.ID)
			seen[r.ID] = true
			cursor = connectors.CursorOf(r)
			ids = append(ids, r.ID)
		}
		if !page.More {
			return ids
		}
		require.NotEmpty(t, page.Records, "empty page with More")
	}
}

func TestChangesPagesThroughManyRecords(t *testing.T) {
	e := newEnv(t, fast, map[string]string{hubspot.SettingSnapshotMax: "0"}) // searches alone
	want := seed(t, e.fake, 1000, 3)
	e.fake.ResetStats()

	assert.Equal(t, want, readAll(t, e.client, 100))
	searches := e.fake.Stats().Requests["POST companies/search"]
	assert.LessOrEqual(t, searches, 20, "ten pages take about one search each")
}

// TestChangesRestartsWithoutReadingATieAgain reads 10,000 companies stamped in ties of
// 100 (as batch creates stamp them, Tandem's own among them) in pages of 1,000. Each search
// restarts at the last millisecond it read; it used to read that millisecond's records
// again, up to half of every search of 200 (108 searches), and now leaves them out with
// hs_object_id NOT_IN. A HubSpot that refuses the filter gets one refused search, and the
// client restarts as before from then on.
func TestChangesRestartsWithoutReadingATieAgain(t *testing.T) {
	searchOnly := map[string]string{hubspot.SettingSnapshotMax: "0"} // no list read from the start
	t.Run("NOT_IN taken", func(t *testing.T) {
		e := newEnv(t, fast, searchOnly)
		want := seed(t, e.fake, 10_000, 100)
		e.fake.ResetStats()
		assert.Equal(t, want, readAll(t, e.client, 1000))
		searches := e.fake.Stats().Requests["POST companies/search"]
		t.Logf("%d searches", searches)
		assert.LessOrEqual(t, searches, 62, "about 200 new records a search")
	})
	t.Run("pages that end in a tie", func(t *testing.T) {
		// Each page's first search starts in the tie the page before ended in. The client
		// leaves out what it served of that tie (over several pages when a tie spans them);
		// a client new to each page reads it again (and drops it).
		for _, c := range []struct{ n, tie, limit int }{{2000, 100, 100}, {2000, 100, 37}, {3000, 150, 100}} {
			e := newEnv(t, fast, searchOnly)
			want := seed(t, e.fake, c.n, c.tie)
			e.fake.ResetStats()
			assert.Equal(t, want, readAll(t, e.client, c.limit))
			kept := e.fake.Stats().Requests["POST companies/search"]
			e.fake.ResetStats()
			assert.Equal(t, want, readAll(t, newClientEachCall{e.client, func() *hubspot.Client { return newClient(t, e.url, searchOnly, nil, nil) }}, c.limit))
			fresh := e.fake.Stats().Requests["POST companies/search"]
			t.Logf("ties of %d, pages of %d: %d searches, %d with a client new to each page", c.tie, c.limit, kept, fresh)
			assert.Less(t, kept, fresh, "ties of %d, pages of %d: the tie the page before ended in is read again", c.tie, c.limit)
			if c.limit == c.tie {
				assert.Less(t, 10*kept, 6*fresh, "pages as long as the ties: about half the searches")
			}
		}
	})
	t.Run("NOT_IN refused", func(t *testing.T) {
		opts := fast
		opts.RefusedFilters = []string{"hs_object_id NOT_IN"}
		e := newEnv(t, opts, searchOnly)
		want := seed(t, e.fake, 10_000, 100)
		e.fake.ResetStats()
		assert.Equal(t, want, readAll(t, e.client, 1000))
		refused := 0
		for _, r := range e.fake.Requests() {
			if r.Status == http.StatusBadRequest {
				refused++
			}
		}
		assert.Equal(t, 1, refused, "one refused search, then restarts without the filter")
		assert.Greater(t, e.fake.Stats().Requests["POST companies/search"], 100, "every restart reads its millisecond again")
	})
	t.Run("search_restart_reads_again", func(t *testing.T) {
		opts := fast
		opts.RefusedFilters = []string{"hs_object_id NOT_IN"}
		e := newEnv(t, opts, map[string]string{hubspot.SettingSearchRestartReadsAgain: "true", hubspot.SettingSnapshotMax: "0"})
		want := seed(t, e.fake, 2000, 100)
		e.fake.ResetStats()
		assert.Equal(t, want, readAll(t, e.client, 1000))
		for _, r := range e.fake.Requests() {
			assert.Equal(t, http.StatusOK, r.Status, "%s: no NOT_IN is sent", r.Endpoint)
		}
	})
}

// newClientEachCall reads each page of changes with a client of its own, made by next.
type newClientEachCall struct {
	*hubspot.Client
	next func() *hubspot.Client
}

func (n newClientEachCall) Changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	return n.next().Changes(ctx, object, since, limit)
}

// TestChangesStopsAfterATieLargerThanASearch: ties of 250, more than a search's 200, in
// pages of 100. A page ends once it has its records with their ties complete; it used to
// read on, tie after tie, to the end of the data (38 searches for the first page, 640 in
// all).
func TestChangesStopsAfterATieLargerThanASearch(t *testing.T) {
	e := newEnv(t, fast, map[string]string{hubspot.SettingSnapshotMax: "0"})
	want := seed(t, e.fake, 3000, 250)
	page, err := e.client.Changes(t.Context(), "companies", connectors.Cursor{}, 100)
	require.NoError(t, err)
	assert.Equal(t, want[:100], ids(page.Records))
	assert.True(t, page.More)
	assert.LessOrEqual(t, e.fake.Stats().Requests["POST companies/search"], 4, "the first tie's search and its read by id")
	e.fake.ResetStats()
	assert.Equal(t, want, readAll(t, e.client, 100))
	searches := e.fake.Stats().Requests["POST companies/search"]
	t.Logf("%d searches", searches)
	assert.Less(t, searches, 150)
}

func TestChangesCrossesTheSearchCap(t *testing.T) {
	// The fake's cap is 250 results per search; one Changes call reads 1,000 records and
	// a tie of 300 records in one millisecond, more than the cap and than a page.
	opts := fast
	opts.SearchCap = 250
	e := newEnv(t, opts, map[string]string{hubspot.SettingSearchResultCap: "250", hubspot.SettingSnapshotMax: "0"})
	want := seed(t, e.fake, 1000, 1)
	tied := time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)
	for _, id := range want[600:900] {
		require.NoError(t, e.fake.SetModified("companies", id, tied))
	}
	want = append(append(append([]string(nil), want[:600]...), want[900:]...), want[600:900]...)
	e.fake.ResetStats()

	page, err := e.client.Changes(t.Context(), "companies", connectors.Cursor{}, 1000)
	require.NoError(t, err)
	got := make([]string, len(page.Records))
	for i, r := range page.Records {
		got[i] = r.ID
	}
	assert.Equal(t, want, got, "every record once, in (UpdatedAt, ID) order")
	assert.False(t, page.More)
	assert.Equal(t, want, readAll(t, e.client, 150), "the same in pages of 150")
	for _, r := range e.fake.Requests() {
		assert.Equal(t, http.StatusOK, r.Status, "%s answered %d: a search went past the cap", r.Endpoint, r.Status)
	}
}

func TestBatchesAreSplitAtTheLimit(t *testing.T) {
	e := newEnv(t, fast, nil)
	recs := make([]connectors.Record, 250)
	for i := range recs {
		recs[i] = connectors.Record{Fields: map[string]any{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%d.example.com", i)}}
	}
	res, err := e.client.Create(t.Context(), "companies", recs)
	require.NoError(t, err)
	require.Len(t, res, 250)
	ids := make([]string, len(res))
	for i, r := range res {
		require.NoError(t, r.Err)
		ids[i] = r.ID
		stored, ok := e.fake.Get("companies", r.ID)
		require.True(t, ok)
		assert.Equal(t, fmt.Sprintf("c%d.example.com", i), stored.Properties["domain"], "result %d is record %d", i, i)
	}
	got, err := e.client.Get(t.Context(), "companies", ids)
	require.NoError(t, err)
	assert.Len(t, got, 250)

	stats := e.fake.Stats()
	assert.Equal(t, 3, stats.Requests["POST companies/batch/create"], "250 creates take 3 calls of at most 100")
	assert.Equal(t, 3, stats.Requests["POST companies/batch/read"], "250 reads take 3 calls of at most 100")
	assert.Equal(t, 250, stats.Writes)
}

func TestPartialFailureWritesTheRest(t *testing.T) {
	cases := []struct {
		name string
		opts func(*hubspotfake.Options)
	}{
		{"207 with trace ids", func(*hubspotfake.Options) {}},
		{"207 without trace ids in results", func(o *hubspotfake.Options) { o.NoTraceIDInResults = true }},
		{"400 for the whole batch", func(o *hubspotfake.Options) { o.NoMultiStatus = true }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := fast
			tc.opts(&opts)
			e := newEnv(t, opts, nil)
			domains := []string{"a.example.com", "bad domain.com", "c.example.com", "d.example.com", "e.example.com"}
			recs := make([]connectors.Record, len(domains))
			for i, d := range domains {
				recs[i] = connectors.Record{Fields: map[string]any{"name": "Company " + d, "domain": d}}
			}
			recs[3].Fields["Not A Property"] = "x"

			res, err := e.client.Create(t.Context(), "companies", recs)
			require.NoError(t, err, "failed records do not fail the call")
			require.Len(t, res, len(recs))
			for _, i := range []int{1, 3} {
				var invalid *connectors.InvalidRecordError
				require.ErrorAs(t, res[i].Err, &invalid, "record %d", i)
				assert.NotEmpty(t, invalid.Reason)
			}
			assert.Contains(t, res[1].Err.Error(), "not a valid domain")
			assert.Contains(t, res[3].Err.Error(), "does not exist")
			for _, i := range []int{0, 2, 4} {
				require.NoError(t, res[i].Err, "record %d", i)
				assert.True(t, res[i].Created)
				stored, ok := e.fake.Get("companies", res[i].ID)
				require.True(t, ok)
				assert.Equal(t, domains[i], stored.Properties["domain"], "result %d names its own record", i)
			}
			assert.Len(t, e.fake.Records("companies"), 3, "only the valid records were written")
		})
	}
}

func TestRateLimitedWaitsForRetryAfter(t *testing.T) {
	e := newEnv(t, fast, nil)
	id := e.fake.Seed("companies", map[string]string{"domain": "a.example.com"})
	e.fake.FailNext(1, http.StatusTooManyRequests)

	got, err := e.client.Get(t.Context(), "companies", []string{id})
	require.NoError(t, err, "the client waits out the 429 and asks again")
	require.Len(t, got, 1)
	reqs := e.fake.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, http.StatusTooManyRequests, reqs[0].Status)
	assert.Equal(t, time.Second, reqs[0].RetryAfter)
	assertNoRequestBeforeRetryAfter(t, reqs)
}

// assertNoRequestBeforeRetryAfter checks the fake's log: after each 429, no request
// arrived before its Retry-After had passed.
func assertNoRequestBeforeRetryAfter(t *testing.T, reqs []hubspotfake.Request) {
	t.Helper()
	for i, r := range reqs {
		if r.Status != http.StatusTooManyRequests {
			continue
		}
		for _, later := range reqs[i+1:] {
			assert.False(t, later.At.Before(r.At.Add(r.RetryAfter)),
				"%s arrived %s after a 429 that asked for %s", later.Endpoint, later.At.Sub(r.At), r.RetryAfter)
		}
	}
}

func TestSearchBudgetExceededByTheFake(t *testing.T) {
	// The client believes it may search 100 times a second; the fake allows 2. Every
	// call still succeeds, and no request comes before a 429's Retry-After.
	opts := fast
	opts.SearchPerSecond = 2
	e := newEnv(t, opts, map[string]string{hubspot.SettingSearchPerSecond: "100"})
	e.fake.Seed("companies", map[string]string{"domain": "a.example.com"})
	for i := range 5 {
		found, err := e.client.Find(t.Context(), "companies", "domain", []string{"a.example.com"})
		require.NoError(t, err, "find %d", i)
		assert.Len(t, found["a.example.com"], 1)
	}
	assert.Positive(t, e.fake.Stats().RateLimited, "the fake answered 429")
	assertNoRequestBeforeRetryAfter(t, e.fake.Requests())
}

func TestRateLimitHeadersAvoid429(t *testing.T) {
	// The fake allows 5 requests a second and says so in its headers; the client,
	// configured for far more, follows them and is never refused.
	opts := fast
	opts.RatePer10s, opts.RateWindow = 5, time.Second
	e := newEnv(t, opts, map[string]string{hubspot.SettingRatePer10s: "1000"})
	id := e.fake.Seed("companies", map[string]string{"domain": "a.example.com"})
	for i := range 12 {
		_, err := e.client.Get(t.Context(), "companies", []string{id})
		require.NoError(t, err, "get %d", i)
	}
	assert.Zero(t, e.fake.Stats().RateLimited)
}

func TestSearchesCountedTowardTheRequestBudget(t *testing.T) {
	// The fake counts searches towards 10 requests a second as well as 4 searches a
	// second; the client, told so, interleaves searches and reads from several
	// goroutines without a 429.
	opts := fast
	opts.RatePer10s, opts.RateWindow, opts.SearchPerSecond, opts.SearchCountsTowardRate = 10, time.Second, 4, true
	e := newEnv(t, opts, map[string]string{hubspot.SettingRatePer10s: "10", hubspot.SettingSearchPerSecond: "4",
		hubspot.SettingSearchCountsTowardRate: "true"})
	id := e.fake.Seed("companies", map[string]string{"domain": "a.example.com"})
	var g errgroup.Group
	for i := range 4 {
		g.Go(func() error {
			for range 4 {
				var err error
				if i%2 == 0 {
					_, err = e.client.Find(t.Context(), "companies", "domain", []string{"a.example.com"})
				} else {
					_, err = e.client.Get(t.Context(), "companies", []string{id})
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
	assert.Zero(t, e.fake.Stats().RateLimited)
	assertNoRequestBeforeRetryAfter(t, e.fake.Requests())
}

func TestSearchesCountedWithoutTheClientKnowing(t *testing.T) {
	// The fake counts searches towards the request budget; the client does not know. The
	// Remaining header of the other calls and the 429s' Retry-After still carry every
	// call through, and nothing is sent before a Retry-After ends.
	opts := fast
	opts.RatePer10s, opts.RateWindow, opts.SearchPerSecond, opts.SearchCountsTowardRate = 6, time.Second, 4, true
	e := newEnv(t, opts, map[string]string{hubspot.SettingRatePer10s: "6", hubspot.SettingSearchPerSecond: "4"})
	id := e.fake.Seed("companies", map[string]string{"domain": "a.example.com"})
	for range 8 {
		_, err := e.client.Find(t.Context(), "companies", "domain", []string{"a.example.com"})
		require.NoError(t, err)
		_, err = e.client.Get(t.Context(), "companies", []string{id})
		require.NoError(t, err)
	}
	assertNoRequestBeforeRetryAfter(t, e.fake.Requests())
}

// clock is a test's time, moved on by Add only.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// laggingIndex are fake options on clk whose search index takes 1.5 s to show the first
// write and shows the later ones at once, as an index fed by several workers may.
func laggingIndex(clk *clock) hubspotfake.Options {
	var mu sync.Mutex
	n := 0
	opts := fast
	opts.Now = clk.Now
	opts.IndexDelay = func(string) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n == 1 {
			return 1500 * time.Millisecond
		}
		return 0
	}
	return opts
}

// writeTwo creates two companies through the client, the second modified 5 ms after the
// first by clk.
func writeTwo(t *testing.T, e *env, clk *clock) (first, second string) {
	t.Helper()
	var ids []string
	for _, d := range []string{"first.example.com", "second.example.com"} {
		res, err := e.client.Create(t.Context(), "companies", []connectors.Record{{Fields: map[string]any{"name": d, "domain": d}}})
		require.NoError(t, err)
		require.NoError(t, res[0].Err)
		ids = append(ids, res[0].ID)
		clk.Add(5 * time.Millisecond)
	}
	return ids[0], ids[1]
}

func TestSearchLagKeepsTheCursorBehindTheIndex(t *testing.T) {
	// The fake (laggingIndex) and the client share a clock that only the test moves.
	ids := func(p connectors.Page) []string {
		var out []string
		for _, r := range p.Records {
			out = append(out, r.ID)
		}
		return out
	}

	// Without a search lag the cursor passes the first record before the index shows it:
	// it is never read.
	clk := newClock()
	e := newEnv(t, laggingIndex(clk), map[string]string{hubspot.SettingSearchLag: "0s"})
	_, second := writeTwo(t, e, clk)
	page, err := e.client.Changes(t.Context(), "companies", connectors.Cursor{}, 10)
	require.NoError(t, err)
	require.Equal(t, []string{second}, ids(page))
	clk.Add(1600 * time.Millisecond) // the index has caught up
	page, err = e.client.Changes(t.Context(), "companies", connectors.CursorOf(page.Records[0]), 10)
	require.NoError(t, err)
	assert.Empty(t, page.Records, "the first record is lost")

	// With a search lag longer than the index's, both wait until it has caught up.
	clk = newClock()
	e = newEnv(t, laggingIndex(clk), map[string]string{hubspot.SettingSearchLag: "2s"})
	first, second := writeTwo(t, e, clk)
	page, err = e.client.Changes(t.Context(), "companies", connectors.Cursor{}, 10)
	require.NoError(t, err)
	assert.Empty(t, page.Records, "nothing is older than the search lag yet")
	clk.Add(1900 * time.Millisecond) // the index shows both; the search lag is not over
	page, err = e.client.Changes(t.Context(), "companies", connectors.Cursor{}, 10)
	require.NoError(t, err)
	assert.Empty(t, page.Records, "still within the search lag")
	clk.Add(200 * time.Millisecond)
	page, err = e.client.Changes(t.Context(), "companies", connectors.Cursor{}, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{first, second}, ids(page))
	assert.False(t, page.More)
}

func TestCountChanges(t *testing.T) {
	e := newEnv(t, fast, map[string]string{hubspot.SettingSearchLag: "1s"})
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var ids []string
	for i := range 5 {
		id := e.fake.Seed("companies", map[string]string{"domain": fmt.Sprintf("c%d.example.com", i)})
		require.NoError(t, e.fake.SetModified("companies", id, base.Add(time.Duration(i)*time.Second)))
		ids = append(ids, id)
	}
	e.fake.Seed("companies", map[string]string{"domain": "now.example.com"}) // within the search lag

	n, err := e.client.CountChanges(t.Context(), "companies", connectors.Cursor{})
	require.NoError(t, err)
	assert.Equal(t, 5, n, "not the one modified within the search lag")
	n, err = e.client.CountChanges(t.Context(), "companies", connectors.Cursor{UpdatedAt: base.Add(2 * time.Second), ID: ids[2]})
	require.NoError(t, err)
	assert.Equal(t, 3, n, "the two after the cursor, and the cursor's own record (same millisecond)")
	assert.Equal(t, 2, e.fake.Stats().Requests["POST companies/search"])
}

func TestRateLimitedBeyondTheDeadline(t *testing.T) {
	e := newEnv(t, fast, nil)
	e.fake.FailNext(1, http.StatusTooManyRequests)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := e.client.Get(ctx, "companies", []string{"1"})
	var limited *connectors.RateLimitedError
	require.ErrorAs(t, err, &limited, "a wait past the deadline is not waited: %v", err)
	assert.InDelta(t, time.Second, limited.RetryAfter, float64(300*time.Millisecond))
	assert.Len(t, e.fake.Requests(), 1, "nothing sent during the Retry-After")
}

func TestWrongTokenIsAuthError(t *testing.T) {
	e := newEnv(t, fast, map[string]string{hubspot.SettingToken: "wrong-token"})
	_, err := e.client.Changes(t.Context(), "companies", connectors.Cursor{}, 10)
	var auth *connectors.AuthError
	require.ErrorAs(t, err, &auth)
	assert.Contains(t, err.Error(), "POST /crm/v3/objects/companies/search")
	assert.Contains(t, err.Error(), "Authentication credentials not found")
	assert.Contains(t, err.Error(), "correlationId")
}

func TestServerErrorIsRetryable(t *testing.T) {
	e := newEnv(t, fast, nil)
	id := e.fake.Seed("companies", map[string]string{"domain": "a.example.com"})
	e.fake.FailNext(1, http.StatusServiceUnavailable)

	_, err := e.client.Get(t.Context(), "companies", []string{id})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "503")
	var (
		auth     *connectors.AuthError
		invalid  *connectors.InvalidRecordError
		limited  *connectors.RateLimitedError
		notFound *connectors.NotFoundError
	)
	assert.False(t, errors.As(err, &auth) || errors.As(err, &invalid) || errors.As(err, &limited) || errors.As(err, &notFound),
		"a 5xx is a plain error, which the activity layer retries: %v", err)

	got, err := e.client.Get(t.Context(), "companies", []string{id})
	require.NoError(t, err, "the next call succeeds")
	assert.Len(t, got, 1)
}

// normalizeDomain is the sync's domain normalizer, as activities/mapping.go has it.
func normalizeDomain(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimPrefix(s, "www.")
}

func TestFindNormalizedMatchesStoredVariants(t *testing.T) {
	e := newEnv(t, fast, nil)
	acme := e.fake.Seed("companies", map[string]string{"domain": "WWW.Acme.com"})
	e.fake.Seed("companies", map[string]string{"domain": "acme.com.au"})
	beta1 := e.fake.Seed("companies", map[string]string{"domain": "beta.io"})
	beta2 := e.fake.Seed("companies", map[string]string{"domain": "www.beta.io"})

	found, err := e.client.FindNormalized(t.Context(), "companies", "domain", []string{"acme.com", "beta.io", "gamma.org"}, connectors.KeyNormalizer{Name: "domain", Apply: normalizeDomain})
	require.NoError(t, err)
	require.Len(t, found["acme.com"], 1)
	assert.Equal(t, acme, found["acme.com"][0].ID)
	assert.Equal(t, "WWW.Acme.com", found["acme.com"][0].Fields["domain"], "the stored value as HubSpot holds it")
	assert.ElementsMatch(t, []string{beta1, beta2}, []string{found["beta.io"][0].ID, found["beta.io"][1].ID})
	assert.NotContains(t, found, "gamma.org")

	exact, err := e.client.Find(t.Context(), "companies", "domain", []string{"acme.com", "beta.io"})
	require.NoError(t, err)
	assert.NotContains(t, exact, "acme.com", "Find matches exactly")
	assert.Len(t, exact["beta.io"], 1)
}

func TestFindManyValuesInOneCall(t *testing.T) {
	e := newEnv(t, fast, nil)
	var values []string
	for i := range 450 {
		d := fmt.Sprintf("c%d.example.com", i)
		e.fake.Seed("companies", map[string]string{"domain": d})
		values = append(values, d)
	}
	e.fake.ResetStats()
	found, err := e.client.Find(t.Context(), "companies", "domain", values)
	require.NoError(t, err)
	assert.Len(t, found, 450)
	// 450 values, each also lower-cased (the same here): 5 IN filters of 100 in one
	// search, paged by 200 results.
	assert.Equal(t, 3, e.fake.Stats().Requests["POST companies/search"])
}

func TestUnknownObjectIsNamed(t *testing.T) {
	e := newEnv(t, fast, nil)
	_, err := e.client.Changes(t.Context(), "deals", connectors.Cursor{}, 10)
	require.ErrorIs(t, err, connectors.ErrNotFound)
	assert.Contains(t, err.Error(), `"deals"`)
	assert.Empty(t, e.fake.Requests(), "nothing was asked of HubSpot")
}

func TestSettings(t *testing.T) {
	cases := []struct {
		name     string
		settings connectors.Settings
		wantErr  string
	}{
		{"defaults", connectors.Settings{"token": "t"}, ""},
		{"everything", connectors.Settings{"token": "t", "base_url": "http://127.0.0.1:8702", "path_prefix": "/crm/objects/2026-03/",
			"rate_per_10s": "250", "search_per_s": "5", "properties": "numberofemployees, annualrevenue", "webhook_secret": "s",
			"find_variants": "{v},www.{v},https://{v}", "timeout": "10s", "search_counts_toward_rate": "true", "search_lag": "30s"}, ""},
		{"no search lag", connectors.Settings{"token": "t", "search_lag": "0s"}, ""},
		{"bad search lag", connectors.Settings{"token": "t", "search_lag": "-1s"}, "setting search_lag"},
		{"missing token", connectors.Settings{}, "setting token: missing"},
		{"bad rate", connectors.Settings{"token": "t", "rate_per_10s": "many"}, "setting rate_per_10s"},
		{"zero search rate", connectors.Settings{"token": "t", "search_per_s": "0"}, "setting search_per_s"},
		{"bad search counting", connectors.Settings{"token": "t", "search_counts_toward_rate": "maybe"}, "setting search_counts_toward_rate"},
		{"bad base url", connectors.Settings{"token": "t", "base_url": "api.hubapi.com"}, "setting base_url"},
		{"bad prefix", connectors.Settings{"token": "t", "path_prefix": "crm/v3/objects"}, "setting path_prefix"},
		{"bad property", connectors.Settings{"token": "t", "properties": "name, bad name"}, "setting properties"},
		{"bad variant", connectors.Settings{"token": "t", "find_variants": "www."}, "setting find_variants"},
		{"unknown setting", connectors.Settings{"token": "t", "rate": "5"}, `unknown setting "rate"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := hubspot.Factory("hubspot", tc.settings)
			if tc.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, connectors.Info{Type: "hubspot", MaxBatch: 100}, c.Info())
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestUpsertNativeOnlyForUniqueProperties(t *testing.T) {
	e := newEnv(t, fast, nil)
	contact := []connectors.Record{{Fields: map[string]any{"email": "ann@example.com", "firstname": "Ann"}}}
	res, err := e.client.Upsert(t.Context(), "contacts", "email", contact)
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	assert.True(t, res[0].Created)
	contact[0].Fields["firstname"] = "Anne"
	res2, err := e.client.Upsert(t.Context(), "contacts", "email", contact)
	require.NoError(t, err)
	assert.Equal(t, connectors.WriteResult{ID: res[0].ID}, res2[0])
	stats := e.fake.Stats()
	assert.Equal(t, 2, stats.Requests["POST contacts/batch/upsert"], "email is unique: HubSpot's batch upsert")
	assert.Zero(t, stats.Requests["POST contacts/search"])

	// domain is not unique: look up, then create or update.
	e.fake.ResetStats()
	existing := e.fake.Seed("companies", map[string]string{"domain": "a.example.com"})
	res, err = e.client.Upsert(t.Context(), "companies", "domain", []connectors.Record{
		{Fields: map[string]any{"domain": "a.example.com", "name": "A"}},
		{Fields: map[string]any{"domain": "b.example.com", "name": "B"}},
		{Fields: map[string]any{"domain": "b.example.com", "name": "B2"}},
		{Fields: map[string]any{"name": "no key"}},
	})
	require.NoError(t, err)
	assert.Equal(t, connectors.WriteResult{ID: existing}, res[0])
	require.NoError(t, res[1].Err)
	assert.True(t, res[1].Created)
	assert.Equal(t, connectors.WriteResult{ID: res[1].ID}, res[2], "a key given twice is created once, then updated")
	var invalid *connectors.InvalidRecordError
	assert.ErrorAs(t, res[3].Err, &invalid)
	stored, _ := e.fake.Get("companies", res[1].ID)
	assert.Equal(t, "B2", stored.Properties["name"])
	stats = e.fake.Stats()
	assert.Equal(t, 1, stats.Requests["POST companies/search"])
	assert.Zero(t, stats.Requests["POST companies/batch/upsert"])
}
