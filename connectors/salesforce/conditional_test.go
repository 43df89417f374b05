package salesforce_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/salesforce/salesforcefake"
)

// conditionalPatches records the If-Unmodified-Since of every PATCH of one record
// (/sobjects/{object}/{id}), by id, in the order they arrive.
type conditionalPatches struct {
	mu   sync.Mutex
	sent map[string][]string
}

func (p *conditionalPatches) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(r.URL.Path, "/") // "", services, data, vXX.X, sobjects, Object, id
		if r.Method == http.MethodPatch && len(parts) == 7 && parts[4] == "sobjects" {
			p.mu.Lock()
			if p.sent == nil {
				p.sent = map[string][]string{}
			}
			p.sent[parts[6]] = append(p.sent[parts[6]], r.Header.Get("If-Unmodified-Since"))
			p.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (p *conditionalPatches) headers() map[string][]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string][]string{}
	for k, v := range p.sent {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func byID(recs []connectors.Record) map[string]connectors.Record {
	out := make(map[string]connectors.Record, len(recs))
	for _, r := range recs {
		out[r.ID] = r
	}
	return out
}

func TestUpdateIfUnchanged(t *testing.T) {
	ctx := context.Background()
	clock := &fixedClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	var patches conditionalPatches
	e := startWrapped(t, salesforcefake.Options{Now: clock.Now}, patches.wrap, nil)
	var seeded []string
	for i := range 4 {
		seeded = append(seeded, e.fake.Seed(account, sampleAccount(i)))
	}
	a, b, c, d := seeded[0], seeded[1], seeded[2], seeded[3]
	got, err := e.client.Get(ctx, account, seeded)
	require.NoError(t, err)
	read := byID(got)

	// A user edits A a second after the sync read it.
	clock.Add(time.Second)
	require.NoError(t, e.fake.Set(account, a, map[string]any{"Phone": "+1 555 0000"}))

	missing := salesforcefake.MakeID("001", 999_999)
	res, err := e.client.UpdateIfUnchanged(ctx, account, []connectors.Record{
		{ID: a, UpdatedAt: read[a].UpdatedAt, Fields: map[string]any{"Phone": "+1 555 1111"}},
		{ID: b, UpdatedAt: read[b].UpdatedAt, Fields: map[string]any{"Phone": "+1 555 2222", "Id": b}},
		{ID: c, UpdatedAt: read[c].UpdatedAt, Fields: map[string]any{"Name": ""}},
		{ID: missing, UpdatedAt: read[b].UpdatedAt, Fields: map[string]any{"Phone": "x"}},
		{ID: "not-an-id", UpdatedAt: read[b].UpdatedAt, Fields: map[string]any{"Phone": "x"}},
		{ID: d, Fields: map[string]any{"Phone": "x"}},
	})
	require.NoError(t, err, "per-record outcomes do not fail the call")
	require.Len(t, res, 6)

	var stale *connectors.StaleRecordError
	require.ErrorAs(t, res[0].Err, &stale)
	assert.Equal(t, connectors.StaleRecordError{ID: a, Read: read[a].UpdatedAt}, *stale, "Salesforce does not say when it changed")
	assert.Equal(t, connectors.WriteResult{ID: b}, res[1])
	var invalid *connectors.InvalidRecordError
	require.ErrorAs(t, res[2].Err, &invalid)
	assert.Equal(t, "Name", invalid.Field)
	assert.Contains(t, invalid.Reason, "REQUIRED_FIELD_MISSING: Required fields are missing: [Name]", "Salesforce's own words")
	assert.ErrorIs(t, res[3].Err, connectors.ErrNotFound)
	assert.ErrorIs(t, res[4].Err, connectors.ErrNotFound)
	require.ErrorAs(t, res[5].Err, &invalid, "no UpdatedAt to send")

	stored := byID(e.fake.Records(account))
	assert.Equal(t, "+1 555 0000", stored[a].Fields["Phone"], "the user's edit stays")
	assert.Equal(t, "+1 555 2222", stored[b].Fields["Phone"])
	assert.Equal(t, sampleAccount(2)["Name"], stored[c].Fields["Name"])
	assert.Equal(t, sampleAccount(3)["Phone"], stored[d].Fields["Phone"])

	// On the wire: one PATCH per record with an id and a read time, the read time as an
	// HTTP-date; malformed ids and records without a time are not sent.
	readAt := "Sat, 01 Mar 2025 09:00:00 GMT"
	assert.Equal(t, map[string][]string{a: {readAt}, b: {readAt}, c: {readAt}, missing: {readAt}}, patches.headers())

	// Read again, A is written.
	got, err = e.client.Get(ctx, account, []string{a})
	require.NoError(t, err)
	res, err = e.client.UpdateIfUnchanged(ctx, account, []connectors.Record{{ID: a, UpdatedAt: got[0].UpdatedAt, Fields: map[string]any{"Phone": "+1 555 1111"}}})
	require.NoError(t, err)
	assert.Equal(t, []connectors.WriteResult{{ID: a}}, res)
	assert.Equal(t, "+1 555 1111", byID(e.fake.Records(account))[a].Fields["Phone"])
	assert.Equal(t, []string{readAt, "Sat, 01 Mar 2025 09:00:01 GMT"}, patches.headers()[a])
}

// TestUpdateIfUnchangedWithinTheReadSecond pins down the limit of If-Unmodified-Since: its
// date has whole seconds, so a change in the second of the read is not seen, while
// millisecond stamps of an unchanged record read back do not make it look stale.
func TestUpdateIfUnchangedWithinTheReadSecond(t *testing.T) {
	ctx := context.Background()
	clock := &fixedClock{t: time.Date(2025, 3, 1, 9, 0, 0, 100_000_000, time.UTC)}
	e := start(t, salesforcefake.Options{Now: clock.Now, Precision: time.Millisecond}, nil)
	a := e.fake.Seed(account, sampleAccount(0))
	b := e.fake.Seed(account, sampleAccount(1))
	got, err := e.client.Get(ctx, account, []string{a, b})
	require.NoError(t, err)
	read := byID(got)
	require.Equal(t, clock.Now(), read[a].UpdatedAt, "milliseconds read back")

	clock.Add(500 * time.Millisecond)
	require.NoError(t, e.fake.Set(account, a, map[string]any{"Phone": "+1 555 0000"}))
	res, err := e.client.UpdateIfUnchanged(ctx, account, []connectors.Record{
		{ID: a, UpdatedAt: read[a].UpdatedAt, Fields: map[string]any{"Phone": "+1 555 1111"}},
		{ID: b, UpdatedAt: read[b].UpdatedAt, Fields: map[string]any{"Phone": "+1 555 2222"}},
	})
	require.NoError(t, err)
	assert.Equal(t, []connectors.WriteResult{{ID: a}, {ID: b}}, res,
		"A changed 500ms after the read, within its second: If-Unmodified-Since cannot tell")
	assert.Equal(t, "+1 555 1111", byID(e.fake.Records(account))[a].Fields["Phone"], "the user's edit is overwritten")
}

// TestUpdateIfUnchangedCallErrors: what fails a request fails the call, through the same
// plumbing as every other call (one token refresh on 401), and a retry is safe.
func TestUpdateIfUnchangedCallErrors(t *testing.T) {
	ctx := context.Background()
	clock := &fixedClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	var patches conditionalPatches
	e := startWrapped(t, salesforcefake.Options{Now: clock.Now}, patches.wrap, nil)
	a := e.fake.Seed(account, sampleAccount(0))
	got, err := e.client.Get(ctx, account, []string{a})
	require.NoError(t, err)
	rec := []connectors.Record{{ID: a, UpdatedAt: got[0].UpdatedAt, Fields: map[string]any{"Phone": "+1 555 1111"}}}

	e.fake.FailNext(1, http.StatusServiceUnavailable)
	_, err = e.client.UpdateIfUnchanged(ctx, account, rec)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "503 SERVER_UNAVAILABLE")
	assert.Equal(t, sampleAccount(0)["Phone"], e.fake.Records(account)[0].Fields["Phone"])

	e.fake.ExpireTokens()
	res, err := e.client.UpdateIfUnchanged(ctx, account, rec)
	require.NoError(t, err, "401, a new token, the same conditional PATCH again")
	assert.Equal(t, []connectors.WriteResult{{ID: a}}, res)
	readAt := "Sat, 01 Mar 2025 09:00:00 GMT"
	assert.Equal(t, []string{readAt, readAt, readAt}, patches.headers()[a], "the retry carries the condition too")

	e.fake.FailNext(1, http.StatusForbidden)
	_, err = e.client.UpdateIfUnchanged(ctx, account, rec)
	var limited *connectors.RateLimitedError
	assert.ErrorAs(t, err, &limited, "REQUEST_LIMIT_EXCEEDED pauses the sync")

	_, err = e.client.UpdateIfUnchanged(ctx, "Not An Object", rec)
	assert.ErrorIs(t, err, connectors.ErrNotFound)
	e2 := start(t, salesforcefake.Options{Schema: map[string][]string{
		account: {"Name", "Website", "Phone", "Industry", "BillingCity", "Ext__c", "NumberOfEmployees"}}}, nil)
	b := e2.fake.Seed(account, map[string]any{"Name": "B"})
	got, err = e2.client.Get(ctx, account, []string{b})
	require.NoError(t, err)
	_, err = e2.client.UpdateIfUnchanged(ctx, account, []connectors.Record{{ID: b, UpdatedAt: got[0].UpdatedAt, Fields: map[string]any{"Nope__c": "x"}}})
	assert.ErrorIs(t, err, connectors.ErrNotFound, "a field the object does not have fails the call, as in Update")
}

// TestUpdateIfUnchangedFullBatch: 200 records, every third changed after the read, come
// back in request order however the requests interleave.
func TestUpdateIfUnchangedFullBatch(t *testing.T) {
	ctx := context.Background()
	clock := &fixedClock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	e := start(t, salesforcefake.Options{Now: clock.Now}, nil)
	recs := make([]connectors.Record, 200)
	for i := range recs {
		recs[i].ID = e.fake.Seed(account, sampleAccount(i))
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	got, err := e.client.Get(ctx, account, ids)
	require.NoError(t, err)
	read := byID(got)
	clock.Add(time.Second)
	for i := range recs {
		recs[i].UpdatedAt = read[recs[i].ID].UpdatedAt
		recs[i].Fields = map[string]any{"Phone": fmt.Sprint("sync ", i)}
		if i%3 == 0 {
			require.NoError(t, e.fake.Set(account, recs[i].ID, map[string]any{"Phone": "user"}))
		}
	}
	res, err := e.client.UpdateIfUnchanged(ctx, account, recs)
	require.NoError(t, err)
	require.Len(t, res, 200)
	stored := byID(e.fake.Records(account))
	for i, r := range res {
		if i%3 == 0 {
			var stale *connectors.StaleRecordError
			require.ErrorAs(t, r.Err, &stale, "record %d", i)
			assert.Equal(t, recs[i].ID, stale.ID)
			assert.Equal(t, "user", stored[recs[i].ID].Fields["Phone"])
			continue
		}
		require.NoError(t, r.Err, "record %d", i)
		assert.Equal(t, recs[i].ID, r.ID)
		assert.Equal(t, fmt.Sprint("sync ", i), stored[recs[i].ID].Fields["Phone"])
	}

	_, err = e.client.UpdateIfUnchanged(ctx, account, append(recs, recs[0]))
	var invalid *connectors.InvalidRecordError
	assert.ErrorAs(t, err, &invalid, "over 200 records a call, as Update")
}
