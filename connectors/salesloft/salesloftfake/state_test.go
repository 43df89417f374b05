package salesloftfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/salesloft"
	"tandem/connectors/salesloft/salesloftfake"
)

// hooks receives a fake's webhooks and keeps the event ids the connector gives them.
type hooks struct {
	t   *testing.T
	URL string

	mu     sync.Mutex
	events []string
}

func receive(t *testing.T) *hooks {
	h := &hooks{t: t}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, ok, err := salesloft.ParseEvent(r.Header.Get(salesloft.HeaderEvent), body)
		if !assert.NoError(t, err) || !assert.True(t, ok) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.events = append(h.events, ev.ID)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// wait waits for n events in all and returns their ids.
func (h *hooks) wait(n int) []string {
	h.t.Helper()
	var out []string
	require.Eventually(h.t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		out = append([]string(nil), h.events...)
		return len(out) >= n
	}, 10*time.Second, 5*time.Millisecond)
	require.Len(h.t, out, n)
	return out
}

// clock is a test clock the fakes share.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// serve puts a fake behind an HTTP server and returns a caller of it.
func serve(t *testing.T, fake *salesloftfake.Server) func(method, path, body string) answer {
	t.Helper()
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(func() { srv.Close(); fake.Close() })
	return func(method, path, body string) answer {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer demo-token")
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		a := answer{status: resp.StatusCode, header: resp.Header}
		if len(raw) > 0 {
			require.NoError(t, json.Unmarshal(raw, &a.body), "body %s", raw)
		}
		return a
	}
}

// TestSnapshotRestore: a fake restored from another's State (through JSON, as the demo
// keeps it in a file) serves the same accounts, every attribute type included, and
// numbers new ones after them.
func TestSnapshotRestore(t *testing.T) {
	c := &clock{now: time.Date(2025, 2, 1, 9, 0, 0, 123456789, time.UTC)}
	opts := salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited, Now: c.Now, Location: time.FixedZone("EST", -5*3600)}
	a := salesloftfake.New(opts)
	callA := serve(t, a)
	a.Seed(map[string]any{"name": "Seeded", "domain": "Seeded.example.com"})
	c.Add(time.Minute)
	r := callA("POST", "/v2/accounts", `{"name":"Full","domain":"full.example.com","phone":"+1 555","size":50,
		"do_not_contact":true,"owner_id":42,"company_stage_id":"7","custom_fields":{"tier":"gold","n":3,"gone":null},
		"tags":["a","b"],"crm_id":null}`)
	require.Equal(t, 200, r.status)
	full := strconv.Itoa(int(r.body["data"].(map[string]any)["id"].(float64)))
	c.Add(time.Minute)
	require.Equal(t, 200, callA("PUT", "/v2/accounts/"+full, `{"archived":true}`).status)
	c.Add(time.Minute)
	gone := a.Seed(map[string]any{"name": "Gone", "domain": "gone.example.com"})
	require.True(t, a.Delete(gone), "the highest id is deleted: the counter, not the accounts, numbers the next")

	raw, err := json.Marshal(a.Snapshot())
	require.NoError(t, err)
	var st salesloftfake.State
	require.NoError(t, json.Unmarshal(raw, &st))
	require.Len(t, st.Accounts, 2)

	b := salesloftfake.New(opts)
	callB := serve(t, b)
	require.NoError(t, b.Restore(st))
	list := "/v2/accounts?per_page=100&sort_by=created_at&sort_direction=ASC"
	want := callA("GET", list, "")
	require.Equal(t, 200, want.status)
	assert.Equal(t, want.body["data"], callB("GET", list, "").body["data"], "the same accounts through the API")
	assert.Equal(t, callA("GET", "/v2/accounts/"+full, "").body, callB("GET", "/v2/accounts/"+full, "").body)
	assert.Equal(t, a.Records(), b.Records())
	assert.Zero(t, b.Stats().Writes, "a restore writes nothing")
	assert.Equal(t, 200, callB("GET", "/v2/accounts?domain=full.example.com", "").status)
	assert.Len(t, callB("GET", "/v2/accounts?domain=full.example.com", "").body["data"], 1, "restored accounts are filtered like any")
	assert.Equal(t, 422, callB("POST", "/v2/accounts", `{"name":"Dup","domain":"full.example.com"}`).status, "restored domains are taken")

	r = callB("POST", "/v2/accounts", `{"name":"Next","domain":"next.example.com"}`)
	require.Equal(t, 200, r.status)
	gid, _ := strconv.ParseInt(gone, 10, 64)
	assert.EqualValues(t, gid+1, r.body["data"].(map[string]any)["id"], "ids continue after the saved counter")
}

// TestRestoreOfAnOlderStateDoesNotRepeatEventIds: a fake that restores a State saved
// before its predecessor's last changes (as after a kill -9 between saves) and runs on
// later sends no event the connector would take for one the predecessor sent.
func TestRestoreOfAnOlderStateDoesNotRepeatEventIds(t *testing.T) {
	h := receive(t)
	c := &clock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	opts := salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited, Now: c.Now, WebhookURL: h.URL, CallbackToken: "t"}
	a := salesloftfake.New(opts)
	callA := serve(t, a)
	id := a.Seed(map[string]any{"name": "A", "domain": "a.example.com"})
	older := a.Snapshot()
	c.Add(time.Second)
	require.NoError(t, a.Set(id, map[string]any{"phone": "1"}))
	c.Add(time.Second)
	require.Equal(t, 200, callA("POST", "/v2/accounts", `{"name":"B","domain":"b.example.com"}`).status)
	before := h.wait(2)
	a.Close()

	c.Add(time.Second) // the next process starts later
	b := salesloftfake.New(opts)
	callB := serve(t, b)
	require.NoError(t, b.Restore(older))
	require.NoError(t, b.Set(id, map[string]any{"phone": "1"}))
	c.Add(time.Second)
	require.Equal(t, 200, callB("POST", "/v2/accounts", `{"name":"B","domain":"b.example.com"}`).status)
	after := h.wait(4)[2:]
	for _, e := range after {
		assert.NotContains(t, before, e)
	}
}

func TestRestoreRefusesBadStates(t *testing.T) {
	f := salesloftfake.New(salesloftfake.Options{})
	keep := f.Seed(map[string]any{"name": "Kept", "domain": "kept.example.com"})
	for name, st := range map[string]salesloftfake.State{
		"id not positive": {Accounts: []salesloftfake.Account{{ID: 0}}},
		"id given twice":  {Accounts: []salesloftfake.Account{{ID: 5}, {ID: 5}}},
		"bad field":       {Accounts: []salesloftfake.Account{{ID: 5, Fields: map[string]any{"owner_id": true}}}},
	} {
		assert.Error(t, f.Restore(st), name)
	}
	recs := f.Records()
	require.Len(t, recs, 1, "a refused State changes nothing")
	assert.Equal(t, keep, recs[0].ID)
}
