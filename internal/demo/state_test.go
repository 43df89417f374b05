package demo_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/hubspot"
	"tandem/connectors/salesloft"
	"tandem/internal/demo"
)

// webhooks stands in for the ingress: it parses the fakes' webhooks with the connectors'
// parsers and keeps the event ids, as the ingress does to drop duplicates.
type webhooks struct {
	t   *testing.T
	URL string

	mu  sync.Mutex
	ids []string
}

func receiveWebhooks(t *testing.T) *webhooks {
	h := &webhooks{t: t}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ids []string
		switch r.URL.Path {
		case "/webhooks/" + demo.Sync + "/a":
			ev, ok, err := salesloft.ParseEvent(r.Header.Get(salesloft.HeaderEvent), body)
			if !assert.NoError(t, err) || !assert.True(t, ok) {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			ids = append(ids, "a/"+ev.ID)
		case "/webhooks/" + demo.Sync + "/b":
			evs, err := hubspot.ParseEvents(body)
			if !assert.NoError(t, err) {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			for _, ev := range evs {
				ids = append(ids, "b/"+ev.ID)
			}
		default:
			t.Errorf("webhook to %s", r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
			return
		}
		h.mu.Lock()
		h.ids = append(h.ids, ids...)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

// wait waits for n events in all and returns the ids of those after the first from.
func (h *webhooks) wait(from, n int) []string {
	h.t.Helper()
	var out []string
	require.Eventually(h.t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		out = append([]string(nil), h.ids...)
		return len(out) >= n
	}, 20*time.Second, 10*time.Millisecond)
	require.Len(h.t, out, n)
	return out[from:]
}

// TestDemoSurvivesARestart: a demo started again on the same StateDir has the records it
// had, changes included, is not seeded again, and its new changes send webhooks with ids
// never sent before, also when it restored a state older than the last events (a kill -9
// between saves).
func TestDemoSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	hooks := receiveWebhooks(t)
	o := demo.Options{SalesloftAddr: "127.0.0.1:0", HubSpotAddr: "127.0.0.1:0", Ingress: hooks.URL, StateDir: dir}
	start := func() *demo.Demo {
		t.Helper()
		d, err := demo.Start(o)
		require.NoError(t, err)
		t.Cleanup(d.Close)
		return d
	}
	path := filepath.Join(dir, demo.StateFile)

	d := start()
	require.Equal(t, 40, d.Salesloft.Len())
	require.Len(t, d.HubSpot.Records("companies"), 20)
	seeded, err := os.ReadFile(path)
	require.NoError(t, err, "the first start saves what it seeded")

	// A user edits a company on each side.
	company, account := d.HubSpot.Records("companies")[0], d.Salesloft.Records()[0]
	require.NoError(t, d.HubSpot.Set("companies", company.ID, map[string]string{"phone": "+1 555 0101"}))
	require.NoError(t, d.Salesloft.Set(account.ID, map[string]any{"phone": "+1 555 0102"}))
	sent := hooks.wait(0, 2)
	d.Close()
	hsBefore, slBefore := d.HubSpot.Records("companies"), d.Salesloft.Records()

	// Started again: the same records, the edits with them, nothing seeded.
	d = start()
	assert.Equal(t, hsBefore, d.HubSpot.Records("companies"))
	assert.Equal(t, slBefore, d.Salesloft.Records())
	got, ok := d.HubSpot.Get("companies", company.ID)
	require.True(t, ok)
	assert.Equal(t, "+1 555 0101", got.Properties["phone"])
	rec, ok := d.Salesloft.Record(account.ID)
	require.True(t, ok)
	assert.Equal(t, "+1 555 0102", rec.Fields["phone"])

	// New edits send events never sent before, and an API create is numbered past
	// every id given before.
	require.NoError(t, d.HubSpot.Set("companies", company.ID, map[string]string{"phone": "+1 555 0201"}))
	require.NoError(t, d.Salesloft.Set(account.ID, map[string]any{"phone": "+1 555 0202"}))
	fresh := hooks.wait(2, 4)
	for _, id := range fresh {
		assert.NotContains(t, sent, id)
	}
	sent = append(sent, fresh...)
	created := createCompany(t, d, "restart.example.com")
	for _, r := range hsBefore {
		assert.Greater(t, number(t, created), number(t, r.ID), "a new company's id is past every earlier one")
	}
	sent = append(sent, hooks.wait(4, 5)...) // the create's own event
	d.Close()

	// A kill -9 right after the first start would leave the state it seeded: the same
	// edits again send events with new ids.
	require.NoError(t, os.WriteFile(path, seeded, 0o644))
	d = start()
	assert.Len(t, d.HubSpot.Records("companies"), 20)
	require.NoError(t, d.HubSpot.Set("companies", company.ID, map[string]string{"phone": "+1 555 0101"}))
	require.NoError(t, d.Salesloft.Set(account.ID, map[string]any{"phone": "+1 555 0102"}))
	for _, id := range hooks.wait(5, 7) {
		assert.NotContains(t, sent, id)
	}
}

// TestDemoSavesWhileRunning: without a Close (a kill -9), the state file catches up with
// a change within SaveEvery.
func TestDemoSavesWhileRunning(t *testing.T) {
	dir := t.TempDir()
	d, err := demo.Start(demo.Options{SalesloftAddr: "127.0.0.1:0", HubSpotAddr: "127.0.0.1:0", StateDir: dir, SaveEvery: 10 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(d.Close)
	acct := d.Salesloft.Records()[3]
	require.NoError(t, d.Salesloft.Set(acct.ID, map[string]any{"phone": "+1 555 0303"}))
	require.Eventually(t, func() bool {
		raw, err := os.ReadFile(filepath.Join(dir, demo.StateFile))
		return err == nil && strings.Contains(string(raw), "+1 555 0303")
	}, 10*time.Second, 10*time.Millisecond)

	// A demo started on a copy of the file, as a killed process leaves it, has the change.
	raw, err := os.ReadFile(filepath.Join(dir, demo.StateFile))
	require.NoError(t, err)
	other := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(other, demo.StateFile), raw, 0o644))
	d3, err := demo.Start(demo.Options{SalesloftAddr: "127.0.0.1:0", HubSpotAddr: "127.0.0.1:0", StateDir: other})
	require.NoError(t, err)
	t.Cleanup(d3.Close)
	rec, ok := d3.Salesloft.Record(acct.ID)
	require.True(t, ok)
	assert.Equal(t, "+1 555 0303", rec.Fields["phone"])
	assert.Equal(t, 40, d3.Salesloft.Len())
}

func TestDemoRefusesAnUnreadableState(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, demo.StateFile), []byte("{not json"), 0o644))
	_, err := demo.Start(demo.Options{SalesloftAddr: "127.0.0.1:0", HubSpotAddr: "127.0.0.1:0", StateDir: dir})
	require.Error(t, err)
	assert.Contains(t, err.Error(), demo.StateFile)
}

// createCompany creates a company through fake HubSpot's API, as the README's curl does,
// and returns its id.
func createCompany(t *testing.T, d *demo.Demo, domain string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.HubSpotURL+"/crm/v3/objects/companies",
		strings.NewReader(`{"properties":{"name":"Restarted","domain":"`+domain+`"}}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+demo.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	var body struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return body.ID
}

func number(t *testing.T, id string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(id, 10, 64)
	require.NoError(t, err)
	return n
}
