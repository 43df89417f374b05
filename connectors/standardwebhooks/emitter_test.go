package standardwebhooks_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/connectors/standardwebhooks"
)

// receiver is a webhook endpoint that verifies what it gets and answers the statuses it is
// told to, in order, then 204.
type receiver struct {
	t        *testing.T
	verifier *standardwebhooks.Verifier
	mu       sync.Mutex
	statuses []int
	events   []connectors.WebhookEvent
	ids      []string // webhook-id of every request, retries included
	rejected int
}

func newReceiver(t *testing.T, statuses ...int) (*receiver, string) {
	v, err := standardwebhooks.NewVerifier([]string{secret}, standardwebhooks.VerifierOptions{})
	require.NoError(t, err)
	rc := &receiver{t: t, verifier: v, statuses: statuses}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv.URL
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.ids = append(rc.ids, r.Header.Get("webhook-id"))
	if len(rc.statuses) > 0 {
		status := rc.statuses[0]
		rc.statuses = rc.statuses[1:]
		w.WriteHeader(status)
		return
	}
	events, err := rc.verifier.Verify(r, body)
	if err != nil {
		rc.rejected++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	rc.events = append(rc.events, events...)
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) snapshot() ([]connectors.WebhookEvent, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]connectors.WebhookEvent(nil), rc.events...), append([]string(nil), rc.ids...)
}

func fastRetries() standardwebhooks.EmitterOptions {
	return standardwebhooks.EmitterOptions{Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

func TestEmitterDeliversSignedEvents(t *testing.T) {
	rc, url := newReceiver(t)
	e := standardwebhooks.NewEmitter(url, secret, fastRetries())
	// The emitter plugs into a memory connector as its change hook.
	src := memory.New(memory.Options{OnChange: e.OnChange})
	recs := src.Seed("companies", 3, memory.SampleCompany)
	e.Emit("companies", recs[1], "deleted")
	e.Close()

	events, ids := rc.snapshot()
	assert.Equal(t, 0, rc.rejected)
	require.Len(t, events, 4)
	for i, r := range recs {
		assert.Equal(t, connectors.WebhookEvent{
			ID: ids[i], Object: "companies", RecordID: r.ID, Kind: "updated", OccurredAt: r.UpdatedAt.UTC(),
		}, events[i])
	}
	assert.Equal(t, "deleted", events[3].Kind)
	assert.Regexp(t, `^msg_[A-Z2-7]{26}$`, ids[0])
	assert.Len(t, uniq(ids), 4, "each event has its own id")
	assert.Equal(t, standardwebhooks.EmitterStats{Sent: 4}, e.Stats())
}

func TestEmitterRetriesWithTheSameID(t *testing.T) {
	rc, url := newReceiver(t, http.StatusServiceUnavailable, http.StatusTooManyRequests)
	e := standardwebhooks.NewEmitter(url, secret, fastRetries())
	e.Emit("companies", connectors.Record{ID: "c-1"}, "created")
	e.Close()

	events, ids := rc.snapshot()
	require.Len(t, events, 1)
	assert.Equal(t, "c-1", events[0].RecordID)
	assert.Equal(t, "created", events[0].Kind)
	require.Len(t, ids, 3, "503, 429, then delivered")
	assert.Equal(t, []string{ids[0]}, uniq(ids), "a retry repeats the event id")
	assert.Equal(t, standardwebhooks.EmitterStats{Sent: 1}, e.Stats())
}

func TestEmitterGivesUp(t *testing.T) {
	// A refusal other than 429 or 5xx is final; a receiver that keeps failing is given up on
	// after Attempts.
	rc, url := newReceiver(t, http.StatusBadRequest,
		http.StatusInternalServerError, http.StatusBadGateway, http.StatusInternalServerError)
	opts := fastRetries()
	opts.Attempts = 3
	e := standardwebhooks.NewEmitter(url, secret, opts)
	e.Emit("companies", connectors.Record{ID: "c-1"}, "updated")
	e.Emit("companies", connectors.Record{ID: "c-2"}, "updated")
	e.Close()

	_, ids := rc.snapshot()
	assert.Len(t, ids, 4, "one try for the 400, three for the 5xx")
	assert.Equal(t, standardwebhooks.EmitterStats{Failed: 2}, e.Stats())
}

func TestEmitterDropsWhenFullAndStopsOnClose(t *testing.T) {
	// The receiver holds the first request until released, so the queue fills up.
	release := make(chan struct{})
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got.Add(1) == 1 {
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)

	opts := fastRetries()
	opts.QueueSize = 2
	e := standardwebhooks.NewEmitter(srv.URL, secret, opts)
	e.Emit("companies", connectors.Record{ID: "c-0"}, "updated")
	require.Eventually(t, func() bool { return got.Load() == 1 }, 5*time.Second, time.Millisecond)
	for i := range 5 { // two fit in the queue, three are dropped; none blocks
		e.Emit("companies", connectors.Record{ID: "c-" + string(rune('1'+i))}, "updated")
	}
	assert.Equal(t, int64(3), e.Stats().Dropped)
	close(release)

	e.Close()
	assert.Equal(t, standardwebhooks.EmitterStats{Sent: 3, Dropped: 3}, e.Stats())
	e.Emit("companies", connectors.Record{ID: "late"}, "updated") // after Close: dropped, no panic
	e.Close()
	assert.Equal(t, int64(4), e.Stats().Dropped)
	assert.Equal(t, int64(3), got.Load())
}

func TestEmitterCloseAbandonsAnUnreachableReceiver(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	opts := standardwebhooks.EmitterOptions{Backoff: time.Hour, MaxBackoff: time.Hour, DrainTimeout: 50 * time.Millisecond}
	e := standardwebhooks.NewEmitter(srv.URL, secret, opts)
	e.Emit("companies", connectors.Record{ID: "c-1"}, "updated")
	e.Emit("companies", connectors.Record{ID: "c-2"}, "updated")

	done := make(chan struct{})
	go func() { e.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while the receiver kept failing")
	}
	assert.Equal(t, standardwebhooks.EmitterStats{Failed: 2}, e.Stats())
}

func TestEmitterPayload(t *testing.T) {
	var mu sync.Mutex
	var payload standardwebhooks.Payload
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		assert.NoError(t, json.NewDecoder(r.Body).Decode(&payload))
	}))
	t.Cleanup(srv.Close)
	opts := fastRetries()
	opts.Now = func() time.Time { return time.Now() }
	e := standardwebhooks.NewEmitter(srv.URL, secret, opts)
	e.Emit("accounts", connectors.Record{ID: "a-1", UpdatedAt: time.Date(2024, 5, 1, 11, 59, 59, 500, time.UTC)}, "record.updated")
	e.Emit("accounts", connectors.Record{ID: "a-2"}, "merged") // not a kind: not sent
	e.Close()

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, "record.updated", payload.Type)
	assert.Equal(t, standardwebhooks.PayloadData{Object: "accounts", ID: "a-1", UpdatedAt: "2024-05-01T11:59:59.0000005Z"}, payload.Data)
	_, err := time.Parse(time.RFC3339, payload.Timestamp)
	assert.NoError(t, err)
	assert.Equal(t, standardwebhooks.EmitterStats{Sent: 1, Failed: 1}, e.Stats())
}

func uniq(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
