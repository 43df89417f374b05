package hubspotfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/hubspot"
	"tandem/connectors/hubspot/hubspotfake"
)

// hooks receives a fake's webhooks and keeps their events, parsed by the connector.
type hooks struct {
	t   *testing.T
	URL string

	mu     sync.Mutex
	events []string // eventIds, in arrival order
}

func receive(t *testing.T) *hooks {
	h := &hooks{t: t}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		evs, err := hubspot.ParseEvents(body)
		if !assert.NoError(t, err) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		for _, e := range evs {
			h.events = append(h.events, e.ID)
		}
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// wait waits for n events in all and returns them.
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

// listAll is every record of object through the list endpoint, with properties.
func listAll(t *testing.T, f *hubspotfake.Server, object string) []any {
	t.Helper()
	resp, body := call(t, f, "GET", "/crm/v3/objects/"+object+"?limit=100&properties=name,domain,phone,email", "demo-token", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Nil(t, body["paging"])
	return body["results"].([]any)
}

// TestSnapshotRestore: a fake restored from another's State (through JSON, as the demo
// keeps it in a file) serves the same records, numbers new ones after them, and sends
// events numbered after the saved counter.
func TestSnapshotRestore(t *testing.T) {
	h := receive(t)
	opts := unlimited()
	opts.WebhookURL = h.URL
	opts.WebhookDelay = time.Millisecond
	a := hubspotfake.New(opts)
	defer a.Close()
	old := time.Date(2024, 5, 1, 8, 0, 0, 123456789, time.UTC)
	a.SeedAt("companies", map[string]string{"name": "Old", "domain": "old.example.com"}, old)
	resp, body := call(t, a, "POST", "/crm/v3/objects/companies", "demo-token", `{"properties":{"name":"New","domain":"new.example.com","phone":"1"}}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	created := body["id"].(string)
	resp, _ = call(t, a, "POST", "/crm/v3/objects/contacts", "demo-token", `{"properties":{"email":"a@example.com"}}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.NoError(t, a.Set("companies", created, map[string]string{"phone": "2"}))
	sent := h.wait(3) // two creations and a property change (contacts are subscribed to by default)

	raw, err := json.Marshal(a.Snapshot())
	require.NoError(t, err)
	var st hubspotfake.State
	require.NoError(t, json.Unmarshal(raw, &st))
	assert.Equal(t, a.Snapshot(), st, "the State survives JSON")

	b := hubspotfake.New(opts)
	defer b.Close()
	require.NoError(t, b.Restore(st))
	for _, object := range []string{"companies", "contacts"} {
		assert.Equal(t, listAll(t, a, object), listAll(t, b, object), object)
		assert.Equal(t, a.Records(object), b.Records(object), object)
	}
	assert.Equal(t, old.Truncate(time.Millisecond), b.Records("companies")[0].UpdatedAt, "dates kept, at HubSpot's millisecond")
	_, body = call(t, b, "POST", "/crm/v3/objects/companies/search", "demo-token",
		`{"filterGroups":[{"filters":[{"propertyName":"domain","operator":"EQ","value":"new.example.com"}]}]}`)
	assert.EqualValues(t, 1, body["total"], "restored records are searchable")
	assert.Zero(t, b.Stats().Writes, "a restore writes nothing")

	resp, body = call(t, b, "POST", "/crm/v3/objects/companies", "demo-token", `{"properties":{"name":"Next","domain":"next.example.com"}}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, idAfter(t, st.LastID), body["id"], "ids continue after the saved counter")
	all := h.wait(4)
	assert.Equal(t, idAfter(t, st.LastEventID), all[3], "eventIds continue after the saved counter")
	assert.NotContains(t, sent, all[3])
}

// TestRestoreOfAnOlderStateDoesNotRepeatEventIds: a fake that restores a State saved
// before its predecessor's last events (as after a kill -9 between saves) sends no
// eventId the predecessor sent, given a base that grows with the start time.
func TestRestoreOfAnOlderStateDoesNotRepeatEventIds(t *testing.T) {
	h := receive(t)
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	opts := unlimited()
	opts.WebhookURL, opts.WebhookDelay, opts.Now = h.URL, time.Millisecond, clock
	opts.EventIDBase = now.UnixMilli() * 1000
	a := hubspotfake.New(opts)
	id := a.Seed("companies", map[string]string{"name": "A", "domain": "a.example.com"})
	older := a.Snapshot()
	for _, phone := range []string{"1", "2", "3"} {
		require.NoError(t, a.Set("companies", id, map[string]string{"phone": phone}))
	}
	before := h.wait(3)
	a.Close()

	// The next process starts a second later over the older State.
	now = now.Add(time.Second)
	opts.EventIDBase = now.UnixMilli() * 1000
	b := hubspotfake.New(opts)
	defer b.Close()
	require.NoError(t, b.Restore(older))
	require.NoError(t, b.Set("companies", id, map[string]string{"phone": "1"}))
	require.NoError(t, b.Delete("companies", id))
	after := h.wait(5)[3:]
	for _, e := range after {
		assert.NotContains(t, before, e)
	}
	assert.NotEqual(t, after[0], after[1])

	// A State with a higher counter than the base wins over it.
	st := b.Snapshot()
	st.LastEventID += 1000
	c := hubspotfake.New(opts)
	defer c.Close()
	require.NoError(t, c.Restore(st))
	c.Seed("companies", map[string]string{"name": "C", "domain": "c.example.com"})
	cid := c.Records("companies")[0].ID
	require.NoError(t, c.Set("companies", cid, map[string]string{"phone": "9"}))
	assert.Equal(t, idAfter(t, st.LastEventID), h.wait(6)[5])
}

func TestRestoreRefusesBadStates(t *testing.T) {
	f := hubspotfake.New(unlimited())
	keep := f.Seed("companies", map[string]string{"name": "Kept"})
	for name, st := range map[string]hubspotfake.State{
		"unknown object":  {Objects: map[string][]hubspotfake.Record{"deals": {{ID: "1"}}}},
		"id not a number": {Objects: map[string][]hubspotfake.Record{"companies": {{ID: "x1"}}}},
		"id given twice":  {Objects: map[string][]hubspotfake.Record{"companies": {{ID: "5"}, {ID: "5"}}}},
	} {
		assert.Error(t, f.Restore(st), name)
	}
	recs := f.Records("companies")
	require.Len(t, recs, 1, "a refused State changes nothing")
	assert.Equal(t, keep, recs[0].ID)
}

func idAfter(t *testing.T, n int64) string {
	t.Helper()
	b, err := json.Marshal(n + 1)
	require.NoError(t, err)
	return string(b)
}
