package netsuite_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the timezone test names an IANA zone

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/connectortest"
	"tandem/connectors/netsuite"
	"tandem/connectors/netsuite/netsuitefake"
)

const customer = "customer"

var tbaCreds = netsuitefake.TBACredentials{
	ConsumerKey: "consumer-key", ConsumerSecret: "consumer&secret", TokenID: "token-id", TokenSecret: "token secret",
}

// env is a connector talking to a fake NetSuite over HTTP.
type env struct {
	c    *netsuite.Connector
	fake *netsuitefake.Server
	url  string
}

// start runs a fake with opts (TBA credentials unless opts has M2M) and opens a
// connector on it with the TBA settings plus extra (an empty value removes a setting).
func start(t *testing.T, opts netsuitefake.Options, extra map[string]string) env {
	t.Helper()
	if opts.TBA == nil && opts.M2M == nil {
		opts.TBA = &tbaCreds
	}
	fake := netsuitefake.New(opts)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	settings := connectors.Settings{
		"account_id":      "123456_SB1",
		"base_url":        srv.URL,
		"consumer_key":    tbaCreds.ConsumerKey,
		"consumer_secret": tbaCreds.ConsumerSecret,
		"token_id":        tbaCreds.TokenID,
		"token_secret":    tbaCreds.TokenSecret,
		// The tests write and read at once; holding back the open second has its own test.
		"hold_back_open_second": "false",
	}
	for k, v := range extra {
		if v == "" {
			delete(settings, k)
		} else {
			settings[k] = v
		}
	}
	cfg, err := netsuite.ParseSettings(settings)
	require.NoError(t, err)
	cfg.Now = opts.Now // one clock for the fake and the connector
	nc, err := netsuite.New(cfg)
	require.NoError(t, err)
	t.Cleanup(nc.CloseIdleConnections)
	return env{c: nc, fake: fake, url: srv.URL}
}

func sampleCustomer(i int) map[string]any {
	return map[string]any{
		"companyname": fmt.Sprintf("Company %03d", i),
		"email":       fmt.Sprintf("ap%03d@company%03d.example.com", i, i),
		"phone":       fmt.Sprintf("+1 555 %04d", i),
		"externalid":  fmt.Sprintf("CID-%03d", i),
	}
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name       string
		key        string
		settings   map[string]string
		resolution time.Duration
		knownBugs  map[string]string
	}{
		// Keyed by externalid: upserts are NetSuite's PUT .../eid:VALUE. lastmodifieddate
		// is read to the second (the default modified_format).
		{"ExternalID", "externalid", map[string]string{"upsert_key": "externalid"}, time.Second, nil},
		// Keyed by a custom field (the article's custentity_sfdc_id): find, then write;
		// small pages and batches; lastmodifieddate read to the millisecond the fake keeps.
		{"CustomKey", "custentity_sfdc_id", map[string]string{
			"custom_fields": "custentity_sfdc_id", "page_size": "3", "max_batch": "7", "concurrency": "3",
			"modified_format": "YYYY-MM-DD HH24:MI:SS.FF3",
		}, time.Millisecond, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			fakes := map[connectors.Connector]*netsuitefake.Server{}
			connectortest.Run(t, connectortest.Driver{
				New: func(t *testing.T) connectors.Connector {
					// Ids from 8, so a test's records cross from one digit to two and the
					// string order of ids differs from NetSuite's numeric one.
					e := start(t, netsuitefake.Options{FirstID: 8}, tc.settings)
					mu.Lock()
					fakes[e.c] = e.fake
					mu.Unlock()
					return e.c
				},
				Object:   customer,
				KeyField: tc.key,
				NewFields: func(i int) map[string]any {
					f := sampleCustomer(i)
					if tc.key != "externalid" {
						f[tc.key] = fmt.Sprintf("001Ux%06dAAA", i)
					}
					return f
				},
				Mutate: func(f map[string]any) map[string]any {
					f["companyname"] = f["companyname"].(string) + " (renamed)"
					f["phone"] = "+1 555 9999"
					return f
				},
				Invalid: func() map[string]any {
					return map[string]any{"email": "nameless@example.com", "externalid": "CID-NAMELESS"}
				},
				SetUpdatedAt: func(t *testing.T, c connectors.Connector, object, id string, at time.Time) {
					mu.Lock()
					fake := fakes[c]
					mu.Unlock()
					require.True(t, fake.SetLastModified(object, id, at), "record %s", id)
				},
				MissingID:  "999999",
				Resolution: tc.resolution,
				KnownBugs:  tc.knownBugs,
			})
		})
	}
}

// TestChangesQuery shows the SuiteQL a page of changes sends.
func TestChangesQuery(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	var prefer []string
	fake := netsuitefake.New(netsuitefake.Options{TBA: &tbaCreds})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/suiteql") {
			body, _ := io.ReadAll(r.Body)
			var q struct{ Q string }
			_ = json.Unmarshal(body, &q)
			mu.Lock()
			queries = append(queries, r.URL.RawQuery+" "+q.Q)
			prefer = append(prefer, r.Header.Get("Prefer"))
			mu.Unlock()
			r.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := netsuite.Factory("ns", connectors.Settings{
		"account_id": "123456_SB1", "base_url": srv.URL, "consumer_key": tbaCreds.ConsumerKey,
		"consumer_secret": tbaCreds.ConsumerSecret, "token_id": tbaCreds.TokenID, "token_secret": tbaCreds.TokenSecret,
	})
	require.NoError(t, err)
	defer c.(*netsuite.Connector).CloseIdleConnections()

	since := connectors.Cursor{UpdatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), ID: "7"}
	_, err = c.Changes(context.Background(), customer, since, 100)
	require.NoError(t, err)
	require.Len(t, queries, 1)
	assert.Equal(t, "limit=101&offset=0 SELECT id, entityid, companyname, email, phone, externalid, "+
		"TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS lastmodifieddate FROM customer "+
		"WHERE lastmodifieddate >= TO_TIMESTAMP('2024-01-02 03:04:05', 'YYYY-MM-DD HH24:MI:SS') "+
		"ORDER BY lastmodifieddate, id", queries[0])
	assert.Equal(t, []string{"transient"}, prefer)
}

// TestChangesManyPages reads 120 records, in groups of four sharing a second, with pages
// of 7 rows: every record once, in (UpdatedAt, ID) order, with offsets that stay small.
func TestChangesManyPages(t *testing.T) {
	e := start(t, netsuitefake.Options{}, map[string]string{"page_size": "7"})
	base := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	var want []connectors.Record
	for i := range 120 {
		id := e.fake.Seed(customer, sampleCustomer(i))
		at := base.Add(time.Duration(i/4)*time.Second + time.Duration(i%4)*time.Millisecond)
		require.True(t, e.fake.SetLastModified(customer, id, at))
		want = append(want, connectors.Record{ID: id, UpdatedAt: at.Truncate(time.Second)})
	}
	sort.Slice(want, func(i, j int) bool {
		if !want[i].UpdatedAt.Equal(want[j].UpdatedAt) {
			return want[i].UpdatedAt.Before(want[j].UpdatedAt)
		}
		return want[i].ID < want[j].ID
	})

	for _, limit := range []int{5, 50, 500} {
		e.fake.ResetStats()
		var got []connectors.Record
		cursor := connectors.Cursor{}
		for pages := 0; ; pages++ {
			require.Less(t, pages, 200)
			page, err := e.c.Changes(context.Background(), customer, cursor, limit)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page.Records), limit)
			for _, r := range page.Records {
				require.True(t, cursor.Before(r), "record %s is not after %s", r.ID, cursor)
				cursor = connectors.CursorOf(r)
			}
			got = append(got, page.Records...)
			if !page.More {
				break
			}
		}
		require.Len(t, got, len(want), "limit %d", limit)
		for i := range want {
			assert.Equal(t, want[i].ID, got[i].ID, "limit %d, record %d", limit, i)
			assert.True(t, want[i].UpdatedAt.Equal(got[i].UpdatedAt), "limit %d, record %s", limit, got[i].ID)
		}
		st := e.fake.Stats()
		assert.Greater(t, st.ByRoute["POST suiteql"], 120/7, "limit %d: many pages", limit)
		// The window moves forward instead of the offset growing.
		assert.Less(t, st.MaxOffset, 2*7, "limit %d: offsets stay small", limit)
	}
}

// TestChangesLargeTie: 30 records in one second, more than a page, are still read in
// id order without a gap or a repeat.
func TestChangesLargeTie(t *testing.T) {
	e := start(t, netsuitefake.Options{FirstID: 95}, map[string]string{"page_size": "4"})
	at := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 30 {
		id := e.fake.Seed(customer, sampleCustomer(i))
		require.True(t, e.fake.SetLastModified(customer, id, at.Add(time.Duration(i%7)*time.Millisecond)))
		ids = append(ids, id)
	}
	sort.Strings(ids) // "100" < "95"
	var got []string
	cursor := connectors.Cursor{}
	for {
		page, err := e.c.Changes(context.Background(), customer, cursor, 3)
		require.NoError(t, err)
		for _, r := range page.Records {
			got = append(got, r.ID)
			cursor = connectors.CursorOf(r)
		}
		if !page.More {
			break
		}
	}
	assert.Equal(t, ids, got)
}

// TestTimezone: the modified column is read and compared in the integration user's time
// zone, so UpdatedAt is the true instant.
func TestTimezone(t *testing.T) {
	zone, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	e := start(t, netsuitefake.Options{Location: zone}, map[string]string{"timezone": "America/New_York"})
	at := time.Date(2025, 7, 1, 15, 30, 0, 0, time.UTC)
	id := e.fake.Seed(customer, sampleCustomer(1))
	require.True(t, e.fake.SetLastModified(customer, id, at))

	page, err := e.c.Changes(context.Background(), customer, connectors.Cursor{UpdatedAt: at.Add(-time.Second)}, 10)
	require.NoError(t, err)
	require.Len(t, page.Records, 1)
	assert.True(t, page.Records[0].UpdatedAt.Equal(at), "UpdatedAt %s, want %s", page.Records[0].UpdatedAt, at)
	assert.Equal(t, "2025-07-01 11:30:00", page.Records[0].Fields["lastmodifieddate"], "as SuiteQL answered it")

	page, err = e.c.Changes(context.Background(), customer, connectors.CursorOf(page.Records[0]), 10)
	require.NoError(t, err)
	assert.Empty(t, page.Records)
}

func TestUpsertByExternalID(t *testing.T) {
	for _, tc := range []struct {
		name          string
		createdStatus int
	}{
		{"204 both ways", 0},
		{"201 when created", http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, netsuitefake.Options{UpsertCreatedStatus: tc.createdStatus}, map[string]string{"upsert_key": "externalid"})
			assert.True(t, e.c.Info().NativeUpsert)
			ctx := context.Background()

			res, err := e.c.Upsert(ctx, customer, "externalid", []connectors.Record{{Fields: sampleCustomer(1)}})
			require.NoError(t, err)
			require.Len(t, res, 1)
			require.NoError(t, res[0].Err)
			assert.True(t, res[0].Created, "created answer")
			id := res[0].ID
			require.NotEmpty(t, id)

			changed := sampleCustomer(1)
			changed["companyname"] = "Renamed Inc"
			res, err = e.c.Upsert(ctx, customer, "externalid", []connectors.Record{{Fields: changed}, {Fields: sampleCustomer(2)}})
			require.NoError(t, err)
			require.Len(t, res, 2)
			require.NoError(t, res[0].Err)
			assert.Equal(t, connectors.WriteResult{ID: id}, res[0], "updated answer")
			require.NoError(t, res[1].Err)
			assert.True(t, res[1].Created)

			recs := e.fake.Records(customer)
			require.Len(t, recs, 2, "no duplicate")
			assert.Equal(t, id, recs[0].ID)
			assert.Equal(t, "Renamed Inc", recs[0].Fields["companyname"])
			assert.Equal(t, "CID-001", recs[0].Fields["externalid"])
			st := e.fake.Stats()
			assert.Equal(t, 3, st.ByRoute["PUT record"], "one PUT per record")
			assert.Zero(t, st.ByRoute["POST record"]+st.ByRoute["PATCH record"], "no POST or PATCH")
		})
	}
}

func TestUpsertByCustomKey(t *testing.T) {
	e := start(t, netsuitefake.Options{}, map[string]string{"custom_fields": "custentity_sfdc_id"})
	assert.False(t, e.c.Info().NativeUpsert, "find-then-write is not atomic")
	ctx := context.Background()
	rec := func(i int, sfdc string) connectors.Record {
		f := sampleCustomer(i)
		f["custentity_sfdc_id"] = sfdc
		return connectors.Record{Fields: f}
	}
	e.fake.Seed(customer, rec(90, "001DUP").Fields)
	e.fake.Seed(customer, rec(91, "001DUP").Fields)

	res, err := e.c.Upsert(ctx, customer, "custentity_sfdc_id", []connectors.Record{
		rec(1, "001A"), rec(2, "001B"), rec(3, "001DUP"), rec(4, "001A"), {Fields: map[string]any{"companyname": "No key"}},
	})
	require.NoError(t, err)
	require.Len(t, res, 5)
	require.NoError(t, res[0].Err)
	assert.True(t, res[0].Created)
	require.NoError(t, res[1].Err)
	assert.True(t, res[1].Created)
	var amb *connectors.AmbiguousMatchError
	require.ErrorAs(t, res[2].Err, &amb)
	assert.Len(t, amb.IDs, 2)
	require.NoError(t, res[3].Err, "the same key again in the batch updates")
	assert.Equal(t, res[0].ID, res[3].ID)
	assert.False(t, res[3].Created)
	var inv *connectors.InvalidRecordError
	require.ErrorAs(t, res[4].Err, &inv)
	assert.Equal(t, "custentity_sfdc_id", inv.Field)

	found, err := e.c.Find(ctx, customer, "custentity_sfdc_id", []string{"001A"})
	require.NoError(t, err)
	require.Len(t, found["001A"], 1)
	assert.Equal(t, "Company 004", found["001A"][0].Fields["companyname"])
}

// TestConcurrencyLimit: 50 parallel creates never put more requests in flight than the
// concurrency setting, even from two calls at once, and NetSuite never says 429.
func TestConcurrencyLimit(t *testing.T) {
	for _, n := range []int{5, 3} {
		t.Run(fmt.Sprintf("concurrency %d", n), func(t *testing.T) {
			e := start(t, netsuitefake.Options{ConcurrencyLimit: n, Latency: 10 * time.Millisecond},
				map[string]string{"concurrency": fmt.Sprint(n)})
			var wg sync.WaitGroup
			for call := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					recs := make([]connectors.Record, 25)
					for i := range recs {
						recs[i] = connectors.Record{Fields: sampleCustomer(call*100 + i)}
					}
					res, err := e.c.Create(context.Background(), customer, recs)
					assert.NoError(t, err)
					for i, r := range res {
						assert.NoError(t, r.Err, "record %d", i)
						assert.True(t, r.Created)
					}
				}()
			}
			wg.Wait()
			st := e.fake.Stats()
			assert.Len(t, e.fake.Records(customer), 50)
			assert.LessOrEqual(t, st.MaxInFlight, n)
			assert.Equal(t, n, st.MaxInFlight, "the limit is used in full")
			assert.Zero(t, st.TooMany, "no request was over NetSuite's limit")
		})
	}
}

// TestRateLimited: a 429 (or 400 SSS_REQUEST_LIMIT_EXCEEDED) is retried after the wait
// NetSuite asked for; when it persists the call fails with a rate-limit error carrying
// that wait.
func TestRateLimited(t *testing.T) {
	ctx := context.Background()

	t.Run("account limit below the setting", func(t *testing.T) {
		// Another integration uses part of the account's limit: NetSuite answers 429.
		e := start(t, netsuitefake.Options{ConcurrencyLimit: 2, Latency: 5 * time.Millisecond},
			map[string]string{"concurrency": "5", "retry_after": "5ms", "rate_retries": "50"})
		recs := make([]connectors.Record, 20)
		for i := range recs {
			recs[i] = connectors.Record{Fields: sampleCustomer(i)}
		}
		res, err := e.c.Create(ctx, customer, recs)
		require.NoError(t, err)
		for i, r := range res {
			require.NoError(t, r.Err, "record %d", i)
		}
		assert.Len(t, e.fake.Records(customer), 20, "each record once")
		assert.Positive(t, e.fake.Stats().TooMany)
	})

	for _, status := range []int{http.StatusTooManyRequests, http.StatusBadRequest} {
		t.Run(fmt.Sprintf("retried %d", status), func(t *testing.T) {
			e := start(t, netsuitefake.Options{}, map[string]string{"retry_after": "5ms"})
			e.fake.FailNext(2, status, 0)
			res, err := e.c.Create(ctx, customer, []connectors.Record{{Fields: sampleCustomer(1)}})
			require.NoError(t, err)
			require.NoError(t, res[0].Err)
			assert.Equal(t, 2, e.fake.Stats().Injected)
			assert.Len(t, e.fake.Records(customer), 1)
		})
	}

	t.Run("persistent", func(t *testing.T) {
		e := start(t, netsuitefake.Options{}, map[string]string{"rate_retries": "0"})
		e.fake.FailNext(1, http.StatusTooManyRequests, 7*time.Second)
		_, err := e.c.Changes(ctx, customer, connectors.Cursor{}, 10)
		var rl *connectors.RateLimitedError
		require.ErrorAs(t, err, &rl)
		assert.Equal(t, 7*time.Second, rl.RetryAfter, "Retry-After")

		e.fake.FailNext(1, http.StatusTooManyRequests, 0)
		_, err = e.c.Create(ctx, customer, []connectors.Record{{Fields: sampleCustomer(1)}})
		require.ErrorAs(t, err, &rl, "a write's rate limit fails the call")
		assert.Equal(t, netsuite.DefaultRetryAfter, rl.RetryAfter, "retry_after when NetSuite sends none")
	})
}

// TestRecordErrors: NetSuite's error bodies become messages that name the record and the
// field.
func TestRecordErrors(t *testing.T) {
	e := start(t, netsuitefake.Options{}, nil)
	ctx := context.Background()
	nameless := map[string]any{"email": "x@example.com", "externalid": "CID-X"}

	res, err := e.c.Create(ctx, customer, []connectors.Record{{Fields: sampleCustomer(1)}, {Fields: nameless}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	var inv *connectors.InvalidRecordError
	require.ErrorAs(t, res[1].Err, &inv)
	assert.Equal(t, "externalid=CID-X", inv.Record)
	assert.Equal(t, "companyname", inv.Field)
	assert.Equal(t, "invalid record externalid=CID-X (field companyname): Please enter value(s) for: companyname (USER_ERROR)", inv.Error())

	id := res[0].ID
	res, err = e.c.Update(ctx, customer, []connectors.Record{{ID: id, Fields: map[string]any{"companyname": ""}}})
	require.NoError(t, err)
	require.ErrorAs(t, res[0].Err, &inv)
	assert.Equal(t, "invalid record "+id+" (field companyname): Please enter value(s) for: companyname (USER_ERROR)", inv.Error())

	res, err = e.c.Upsert(ctx, customer, "externalid", []connectors.Record{{Fields: map[string]any{"externalid": "CID-001", "email": "dup@example.com"}}, {Fields: nameless}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err, "an update by external id needs no companyname")
	require.ErrorAs(t, res[1].Err, &inv)
	assert.Equal(t, "externalid=CID-X", inv.Record)
	assert.Equal(t, "companyname", inv.Field)

	res, err = e.c.Create(ctx, customer, []connectors.Record{{Fields: sampleCustomer(1)}})
	require.NoError(t, err)
	require.ErrorAs(t, res[0].Err, &inv, "a duplicate external id")
	assert.Equal(t, "externalid", inv.Field)
	assert.Contains(t, inv.Reason, "DUP_RCRD")

	res, err = e.c.Update(ctx, customer, []connectors.Record{{ID: "424242", Fields: map[string]any{"phone": "1"}}})
	require.NoError(t, err)
	assert.ErrorIs(t, res[0].Err, connectors.ErrNotFound)
	assert.Contains(t, res[0].Err.Error(), "customer record 424242")
}

func TestServerErrors(t *testing.T) {
	e := start(t, netsuitefake.Options{}, nil)
	ctx := context.Background()
	e.fake.FailNext(1, http.StatusServiceUnavailable, 0)
	_, err := e.c.Changes(ctx, customer, connectors.Cursor{}, 10)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HTTP 503")
	var api *netsuite.APIError
	require.ErrorAs(t, err, &api, "a plain error, retried with backoff")
	var rl *connectors.RateLimitedError
	assert.False(t, errors.As(err, &rl))

	e.fake.FailNext(1, http.StatusInternalServerError, 0)
	_, err = e.c.Create(ctx, customer, []connectors.Record{{Fields: sampleCustomer(1)}})
	require.ErrorAs(t, err, &api)
	assert.Equal(t, 500, api.Status)
}

func TestTBAUnauthorized(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings map[string]string
	}{
		{"wrong token secret", map[string]string{"token_secret": "not the secret"}},
		{"wrong consumer key", map[string]string{"consumer_key": "someone-else"}},
		{"wrong account", map[string]string{"account_id": "654321"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := start(t, netsuitefake.Options{}, tc.settings)
			_, err := e.c.Changes(context.Background(), customer, connectors.Cursor{}, 10)
			var auth *connectors.AuthError
			require.ErrorAs(t, err, &auth)
			assert.Contains(t, err.Error(), "INVALID_LOGIN")
			assert.Contains(t, err.Error(), "token_secret", "the message names what to check")

			_, err = e.c.Create(context.Background(), customer, []connectors.Record{{Fields: sampleCustomer(1)}})
			require.ErrorAs(t, err, &auth, "a write's auth failure fails the call")
			assert.Empty(t, e.fake.Records(customer))
		})
	}

	// The account id's case and separator do not matter: realm 123456_SB1, host 123456-sb1.
	e := start(t, netsuitefake.Options{}, map[string]string{"account_id": "123456-sb1"})
	_, err := e.c.Changes(context.Background(), customer, connectors.Cursor{}, 10)
	require.NoError(t, err)
}

// clock is a test's time, moved on by Add only.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

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

// m2mKeys returns a PEM private key of kind and its public key.
func m2mKeys(t *testing.T, kind string) (string, crypto.PublicKey) {
	t.Helper()
	var key crypto.Signer
	var err error
	switch kind {
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ec":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), key.Public()
}

func m2mSettings(pemKey string) map[string]string {
	return map[string]string{
		"consumer_key": "", "consumer_secret": "", "token_id": "", "token_secret": "",
		"auth": "m2m", "client_id": "client-1", "certificate_id": "cert-1", "private_key": pemKey,
	}
}

func TestM2M(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []string{"rsa", "ec"} {
		t.Run(kind, func(t *testing.T) {
			pemKey, pub := m2mKeys(t, kind)
			clock := newClock(time.Now())
			e := start(t, netsuitefake.Options{
				M2M:           &netsuitefake.M2MClient{ClientID: "client-1", CertificateID: "cert-1", PublicKey: pub},
				TokenLifetime: time.Second, // refreshed 100ms early
				Now:           clock.Now,
			}, m2mSettings(strings.ReplaceAll(pemKey, "\n", `\n`))) // as one line in an env var

			id := e.fake.Seed(customer, sampleCustomer(1))
			recs, err := e.c.Get(ctx, customer, []string{id})
			require.NoError(t, err)
			require.Len(t, recs, 1)
			res, err := e.c.Create(ctx, customer, []connectors.Record{{Fields: sampleCustomer(2)}})
			require.NoError(t, err)
			require.NoError(t, res[0].Err)
			st := e.fake.Stats()
			assert.Equal(t, 1, st.TokensIssued, "one token for both calls")
			assert.Zero(t, st.AuthFailures)

			// Past the refresh time, before the token expires: the connector fetches a new
			// one rather than send the old one, and no request is refused.
			clock.Add(950 * time.Millisecond)
			_, err = e.c.Get(ctx, customer, []string{id})
			require.NoError(t, err)
			st = e.fake.Stats()
			assert.Equal(t, 2, st.TokensIssued, "a new token before the old one expired")
			assert.Zero(t, st.AuthFailures)

			// A token NetSuite no longer accepts: one refresh on 401, then the call succeeds.
			e.fake.RevokeTokens()
			_, err = e.c.Get(ctx, customer, []string{id})
			require.NoError(t, err)
			st = e.fake.Stats()
			assert.Equal(t, 3, st.TokensIssued)
			assert.Equal(t, 1, st.AuthFailures)
		})
	}

	t.Run("assertion refused", func(t *testing.T) {
		pemKey, _ := m2mKeys(t, "rsa")
		_, otherPub := m2mKeys(t, "rsa")
		for name, fake := range map[string]*netsuitefake.M2MClient{
			"other key":         {ClientID: "client-1", CertificateID: "cert-1", PublicKey: otherPub},
			"other certificate": {ClientID: "client-1", CertificateID: "cert-2", PublicKey: otherPub},
			"other client":      {ClientID: "client-2", CertificateID: "cert-1", PublicKey: otherPub},
		} {
			e := start(t, netsuitefake.Options{M2M: fake}, m2mSettings(pemKey))
			_, err := e.c.Changes(ctx, customer, connectors.Cursor{}, 10)
			var auth *connectors.AuthError
			require.ErrorAs(t, err, &auth, name)
			assert.Contains(t, err.Error(), "invalid_client", name)
			assert.Equal(t, 0, e.fake.Stats().TokensIssued, name)
		}
	})

	t.Run("every token refused", func(t *testing.T) {
		pemKey, pub := m2mKeys(t, "ec")
		e := start(t, netsuitefake.Options{M2M: &netsuitefake.M2MClient{ClientID: "client-1", CertificateID: "cert-1", PublicKey: pub}, TokenLifetime: time.Nanosecond},
			m2mSettings(pemKey))
		_, err := e.c.Changes(ctx, customer, connectors.Cursor{}, 10)
		var auth *connectors.AuthError
		require.ErrorAs(t, err, &auth, "401 after one refresh")
		assert.Equal(t, 2, e.fake.Stats().TokensIssued, "refreshed once, not forever")
	})
}

func TestFindEscapesValues(t *testing.T) {
	e := start(t, netsuitefake.Options{}, nil)
	ctx := context.Background()
	f := sampleCustomer(1)
	f["companyname"] = "O'Brien & Sons, Ltd."
	id := e.fake.Seed(customer, f)
	e.fake.Seed(customer, sampleCustomer(2))

	found, err := e.c.Find(ctx, customer, "companyname", []string{"O'Brien & Sons, Ltd.", "x') OR (1=1", ""})
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Len(t, found["O'Brien & Sons, Ltd."], 1)
	assert.Equal(t, id, found["O'Brien & Sons, Ltd."][0].ID)

	_, err = e.c.Find(ctx, customer, "companyname = 'x' OR id", []string{"1"})
	assert.ErrorContains(t, err, "not a field name")
}

func TestGetManyIDs(t *testing.T) {
	e := start(t, netsuitefake.Options{}, map[string]string{"page_size": "100"})
	var ids []string
	for i := range 1200 {
		ids = append(ids, e.fake.Seed(customer, sampleCustomer(i)))
	}
	recs, err := e.c.Get(context.Background(), customer, append(ids, "999999", "not-an-id"))
	require.NoError(t, err)
	assert.Len(t, recs, 1200)
	assert.Equal(t, "Company 000", recs[0].Fields["companyname"])
}

func TestSettings(t *testing.T) {
	pemKey, _ := m2mKeys(t, "ec")
	base := func(extra map[string]string) connectors.Settings {
		s := connectors.Settings{"account_id": "123456_SB1", "consumer_key": "a", "consumer_secret": "b", "token_id": "c", "token_secret": "d"}
		for k, v := range extra {
			if v == "" {
				delete(s, k)
			} else {
				s[k] = v
			}
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		settings connectors.Settings
		names    string // the setting the error must name
	}{
		{"no account", base(map[string]string{"account_id": ""}), "account_id"},
		{"unknown setting", base(map[string]string{"acount": "x"}), "acount"},
		{"no credentials", connectors.Settings{"account_id": "1"}, "auth"},
		{"bad auth", base(map[string]string{"auth": "basic"}), "auth"},
		{"tba without token secret", base(map[string]string{"token_secret": ""}), "token_secret"},
		{"m2m without certificate", base(map[string]string{"auth": "m2m", "client_id": "x", "private_key": pemKey}), "certificate_id"},
		{"m2m bad key", base(map[string]string{"auth": "m2m", "client_id": "x", "certificate_id": "y", "private_key": "not a key"}), "private_key"},
		{"concurrency zero", base(map[string]string{"concurrency": "0"}), "concurrency"},
		{"page size over 1000", base(map[string]string{"page_size": "5000"}), "page_size"},
		{"bad field", base(map[string]string{"fields": "id, name;drop"}), "fields"},
		{"bad format", base(map[string]string{"modified_format": "DD-MON-YY"}), "modified_format"},
		{"bad zone", base(map[string]string{"timezone": "Mars/Olympus"}), "timezone"},
		{"bad defaults", base(map[string]string{"create_defaults": "subsidiary=1"}), "create_defaults"},
		{"bad duration", base(map[string]string{"retry_after": "soon"}), "retry_after"},
		{"bad base url", base(map[string]string{"base_url": "ftp://x"}), "base_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := netsuite.Factory("ns", tc.settings)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.names)
		})
	}

	c, err := netsuite.Factory("ns", base(map[string]string{"custom_fields": "custentity_sfdc_id", "modified_field": "LastModifiedDate"}))
	require.NoError(t, err)
	cfg := c.(*netsuite.Connector).Config()
	assert.Equal(t, "https://123456-sb1.suitetalk.api.netsuite.com", cfg.BaseURL)
	assert.Equal(t, []string{"id", "entityid", "companyname", "email", "phone", "externalid", "lastmodifieddate", "custentity_sfdc_id"}, cfg.Fields)
	assert.Equal(t, connectors.Info{Type: "netsuite", MaxBatch: netsuite.DefaultMaxBatch}, c.Info())
	assert.Equal(t, netsuite.DefaultConcurrency, cfg.Concurrency)
}

// TestCreateDefaults: create_defaults go into creations only (a OneWorld account needs a
// subsidiary on every new customer).
func TestCreateDefaults(t *testing.T) {
	e := start(t, netsuitefake.Options{}, map[string]string{"create_defaults": `{"subsidiary": {"id": "1"}}`})
	ctx := context.Background()
	res, err := e.c.Create(ctx, customer, []connectors.Record{{Fields: sampleCustomer(1)}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	e.fake.Set(customer, res[0].ID, map[string]any{"subsidiary": map[string]any{"id": "2"}})
	_, err = e.c.Update(ctx, customer, []connectors.Record{{ID: res[0].ID, Fields: map[string]any{"phone": "1"}}})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"id": "2"}, e.fake.Records(customer)[0].Fields["subsidiary"], "an update keeps it")
}

// TestTBAReplay: the fake checks each signature for real, so a correctly signed request
// sent again (same nonce and timestamp) is refused, and one whose URL was changed after
// signing is too.
func TestTBAReplay(t *testing.T) {
	fake := netsuitefake.New(netsuitefake.Options{TBA: &tbaCreds})
	var mu sync.Mutex
	var captured *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if captured == nil {
			body, _ = io.ReadAll(r.Body)
			captured = r.Clone(context.Background())
			r.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		mu.Unlock()
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := netsuite.Factory("ns", connectors.Settings{
		"account_id": "123456_SB1", "base_url": srv.URL, "consumer_key": tbaCreds.ConsumerKey,
		"consumer_secret": tbaCreds.ConsumerSecret, "token_id": tbaCreds.TokenID, "token_secret": tbaCreds.TokenSecret,
	})
	require.NoError(t, err)
	defer c.(*netsuite.Connector).CloseIdleConnections()
	_, err = c.Changes(context.Background(), customer, connectors.Cursor{}, 10)
	require.NoError(t, err)
	require.NotNil(t, captured)

	send := func(rawQuery string) (int, string) {
		req, err := http.NewRequest(captured.Method, srv.URL+captured.URL.Path+"?"+rawQuery, strings.NewReader(string(body)))
		require.NoError(t, err)
		req.Header = captured.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Fake-Auth-Error")
	}
	status, why := send(captured.URL.RawQuery)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "nonce used before", why)
	require.Equal(t, "limit=11&offset=0", captured.URL.RawQuery)
	status, why = send("limit=12&offset=0")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "signature does not match", why)
}

// A customer saved in the same second as the last one read, with a smaller id, would sort
// before a cursor placed on that record: the open second is held back until it is over.
func TestChangesHoldsBackTheOpenSecond(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	// Near the real time: the fake checks OAuth timestamps against its clock.
	now := time.Now().UTC().Truncate(time.Second)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func() { mu.Lock(); now = now.Add(time.Second); mu.Unlock() }
	e := start(t, netsuitefake.Options{Now: clock}, map[string]string{"hold_back_open_second": ""})
	early := e.fake.Seed(customer, sampleCustomer(0))
	advance()
	first := e.fake.Seed(customer, sampleCustomer(1))
	second := e.fake.Seed(customer, sampleCustomer(2))

	// The second the two were saved in is still the account's current one: only the
	// earlier record is read.
	page, err := e.c.Changes(ctx, customer, connectors.Cursor{}, 100)
	require.NoError(t, err)
	var got []string
	for _, r := range page.Records {
		got = append(got, r.ID)
	}
	require.Equal(t, []string{early}, got)
	cursor := connectors.CursorOf(page.Records[0])

	// Later in that second, a customer with a smaller id is saved.
	require.True(t, e.fake.Set(customer, first, map[string]any{"phone": "+1 555 0100"}))
	advance()
	page, err = e.c.Changes(ctx, customer, cursor, 100)
	require.NoError(t, err)
	got = nil
	for _, r := range page.Records {
		got = append(got, r.ID)
	}
	assert.ElementsMatch(t, []string{first, second}, got, "every record of the second, once it is over")
}
