package ingress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"tandem/connectors"
	"tandem/connectors/builtin"
	"tandem/connectors/memory"
	"tandem/connectors/standardwebhooks"
	"tandem/internal/config"
	"tandem/internal/devserver"
	"tandem/internal/ingress"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// These tests send webhooks through the real ingress to SyncWorkflow on a Temporal server
// embedded in the test process, and assert on what the workflow and the target hold.

const (
	liveSecret = "whsec_dGFuZGVtLXRlc3Qtc2VjcmV0LW5ldw=="
	oldSecret  = "whsec_dGFuZGVtLXRlc3Qtc2VjcmV0LW9sZA=="
)

// hooked is a real-time sync: a worker on the embedded server and an ingress in front.
type hooked struct {
	*testenv.Sync
	URL string // the sync's side-a endpoint
}

func newHooked(t testing.TB, name string, source, target *memory.Connector, c client.Client) *hooked {
	t.Helper()
	def := testenv.Def(name)
	def.Webhooks = true
	def.PageSize = 100
	s := testenv.NewSync(t, def, source, target)
	defs := &config.File{
		Path: "test.yaml",
		Connections: map[string]config.Connection{
			"source": {Name: "source", Type: "memory", Settings: map[string]string{
				standardwebhooks.SettingSecret: liveSecret, standardwebhooks.SettingPreviousSecret: oldSecret,
			}},
			"target": {Name: "target", Type: "memory"},
		},
		Syncs: []config.Sync{def},
	}
	if c == nil {
		c = s.Client
	}
	in, err := ingress.New(defs, builtin.Registry(), ingress.NewTemporalSignaler(c, ""), ingress.Options{})
	require.NoError(t, err)
	srv := httptest.NewServer(in.Handler())
	t.Cleanup(srv.Close)
	return &hooked{Sync: s, URL: srv.URL + "/webhooks/" + name + "/a"}
}

// hook is a signed request announcing a change of record id.
type hook struct {
	id, record string
	secret     string
	at         time.Time
	body       []byte // overrides the body
	tamper     func(*http.Request)
}

func post(t testing.TB, url string, e hook) (int, string) {
	t.Helper()
	body := e.body
	if body == nil {
		body, _ = json.Marshal(standardwebhooks.Payload{
			Type:      standardwebhooks.TypeUpdated,
			Timestamp: time.Now().UTC().Format(time.RFC3339),
			Data:      standardwebhooks.PayloadData{Object: "companies", ID: e.record},
		})
	}
	if e.secret == "" {
		e.secret = liveSecret
	}
	if e.at.IsZero() {
		e.at = time.Now()
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	standardwebhooks.SetHeaders(req.Header, e.secret, e.id, e.at, body)
	if e.tamper != nil {
		e.tamper(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	buf := new(bytes.Buffer)
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

// started reports whether the sync's workflow exists (a rejected webhook must not start it).
func started(t *testing.T, c client.Client, sync string) bool {
	t.Helper()
	_, err := c.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(sync), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false
	}
	require.NoError(t, err)
	return true
}

func TestSignatureCases(t *testing.T) {
	cases := []struct {
		name   string
		event  hook
		status int
	}{
		{"valid", hook{}, http.StatusAccepted},
		{"rotated secret still accepted", hook{secret: oldSecret}, http.StatusAccepted},
		{"several signatures, one valid", hook{tamper: func(r *http.Request) {
			r.Header.Set(standardwebhooks.HeaderSignature, "v1,AAAA "+r.Header.Get(standardwebhooks.HeaderSignature))
		}}, http.StatusAccepted},
		{"wrong secret", hook{secret: "whsec_d3Jvbmctc2VjcmV0"}, http.StatusUnauthorized},
		{"body altered", hook{tamper: func(r *http.Request) {
			b, _ := json.Marshal(standardwebhooks.Payload{Type: standardwebhooks.TypeUpdated, Timestamp: time.Now().UTC().Format(time.RFC3339),
				Data: standardwebhooks.PayloadData{Object: "companies", ID: "s-999999"}})
			r.Body = readCloser(b)
			r.ContentLength = int64(len(b))
		}}, http.StatusUnauthorized},
		{"timestamp 6 minutes old", hook{at: time.Now().Add(-6 * time.Minute)}, http.StatusUnauthorized},
		{"timestamp 6 minutes ahead", hook{at: time.Now().Add(6 * time.Minute)}, http.StatusUnauthorized},
		{"no signature header", hook{tamper: func(r *http.Request) { r.Header.Del(standardwebhooks.HeaderSignature) }}, http.StatusUnauthorized},
		{"no id header", hook{tamper: func(r *http.Request) { r.Header.Del(standardwebhooks.HeaderID) }}, http.StatusUnauthorized},
		{"no timestamp header", hook{tamper: func(r *http.Request) { r.Header.Del(standardwebhooks.HeaderTimestamp) }}, http.StatusUnauthorized},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			source := memory.New(memory.Options{IDPrefix: "s-"})
			target := memory.New(memory.Options{IDPrefix: "t-"})
			recs := source.Seed("companies", 1, memory.SampleCompany)
			name := fmt.Sprintf("sig-%d", i)
			h := newHooked(t, name, source, target, nil)
			e := c.event
			e.id, e.record = "msg_"+name, recs[0].ID
			status, body := post(t, h.URL, e)
			require.Equal(t, c.status, status, body)
			if status != http.StatusAccepted {
				assert.False(t, started(t, h.Client, name), "a rejected webhook reached a workflow")
				assert.Zero(t, target.Len("companies"))
				return
			}
			st := h.WaitFor("the event synced", time.Minute, func(st workflows.Status) bool { return st.Events.Batches > 0 })
			assert.Equal(t, 1, st.Events.Received)
			assert.Equal(t, 1, target.Len("companies"))
		})
	}
}

func readCloser(b []byte) *readCloserT { return &readCloserT{bytes.NewReader(b)} }

type readCloserT struct{ *bytes.Reader }

func (readCloserT) Close() error { return nil }

func TestBadRequestsReachNoWorkflow(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	h := newHooked(t, "bad-requests", source, target, nil)
	base := strings.TrimSuffix(h.URL, "/bad-requests/a")

	status, body := post(t, h.URL, hook{id: "m1", body: []byte(`{"type":`)})
	assert.Equal(t, http.StatusBadRequest, status, body)
	// An event of another object is acknowledged (senders post every subscription to one
	// URL and do not retry a 400) and reaches no workflow.
	status, body = post(t, h.URL, hook{id: "m2", body: []byte(`{"type":"record.updated","data":{"object":"invoices","id":"x"}}`)})
	assert.Equal(t, http.StatusOK, status, body)
	assert.JSONEq(t, `{"events":0}`, body)
	status, body = post(t, base+"/nope/a", hook{id: "m3", record: "x"})
	assert.Equal(t, http.StatusNotFound, status, body)
	assert.Contains(t, body, `unknown sync "nope"`)
	status, body = post(t, base+"/bad-requests/c", hook{id: "m4", record: "x"})
	assert.Equal(t, http.StatusNotFound, status, body)
	big := append([]byte(`{"type":"record.updated","data":{"object":"companies","id":"`), bytes.Repeat([]byte("x"), 2<<20)...)
	status, body = post(t, h.URL, hook{id: "m5", body: append(big, `"}}`...)})
	assert.Equal(t, http.StatusRequestEntityTooLarge, status, body)
	assert.NotContains(t, strings.TrimSpace(body), "\n")

	assert.False(t, started(t, h.Client, "bad-requests"), "a rejected webhook reached a workflow")
}

func TestTemporalDownAnswers503(t *testing.T) {
	srv, err := devserver.Start(devserver.Options{
		SearchAttributes: map[string]enumspb.IndexedValueType{workflows.SyncSearchAttribute: enumspb.INDEXED_VALUE_TYPE_KEYWORD},
	})
	require.NoError(t, err)
	c, err := srv.NewClient(context.Background(), client.Options{})
	require.NoError(t, err)
	defer c.Close()
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	h := newHooked(t, "down", source, target, c)
	srv.Stop()

	status, body := post(t, h.URL, hook{id: "m1", record: "s-000001"})
	assert.Equal(t, http.StatusServiceUnavailable, status, body)
	assert.Contains(t, body, "Temporal")
}

// change edits a source record's phone and returns the new value.
func change(t testing.TB, source *memory.Connector, id, phone string) {
	t.Helper()
	res, err := source.Update(context.Background(), "companies", []connectors.Record{{ID: id, Fields: map[string]any{"phone": phone}}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
}

func phoneOf(target *memory.Connector, domain any) any {
	for _, r := range target.All("companies") {
		if r.Fields["domain"] == domain {
			return r.Fields["phone"]
		}
	}
	return nil
}

func TestRedeliveredAndOutOfOrderEventsWriteEachChangeOnce(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	rec := source.Seed("companies", 1, memory.SampleCompany)[0]
	h := newHooked(t, "redelivered", source, target, nil)

	// Change 1, announced three times.
	change(t, source, rec.ID, "+1 555 0001")
	for range 3 {
		status, body := post(t, h.URL, hook{id: "evt-1", record: rec.ID})
		require.Equal(t, http.StatusAccepted, status, body)
	}
	h.WaitFor("change 1", time.Minute, func(workflows.Status) bool { return phoneOf(target, rec.Fields["domain"]) == "+1 555 0001" })

	// Changes 2 and 3, announced out of order, each twice, with a stale redelivery of 1.
	change(t, source, rec.ID, "+1 555 0002")
	change(t, source, rec.ID, "+1 555 0003")
	for _, id := range []string{"evt-3", "evt-1", "evt-2", "evt-3", "evt-2"} {
		status, body := post(t, h.URL, hook{id: id, record: rec.ID})
		require.Equal(t, http.StatusAccepted, status, body)
	}
	st := h.WaitFor("all events handled", time.Minute, func(st workflows.Status) bool {
		return st.Events.Received == 8 && st.Pending == 0 && st.Events.Batches >= 2 && st.Current == nil
	})
	assert.Equal(t, "+1 555 0003", phoneOf(target, rec.Fields["domain"]), "the target ends at the source's latest state")
	assert.Equal(t, 5, st.Events.Duplicates)
	// One create for change 1; changes 2 and 3 were read together as the latest state and
	// written once (by a micro-batch, or by the sync's first scheduled run when it read
	// the record after them); everything else compared equal and wrote nothing.
	assert.Equal(t, 2, target.Writes(), "writes to the target")
	assert.Equal(t, 1, st.Totals.Created)
	assert.Equal(t, 1, st.Totals.Updated)
}

func TestBurstOf1000EventsFor100Records(t *testing.T) {
	source := memory.New(memory.Options{IDPrefix: "s-"})
	target := memory.New(memory.Options{IDPrefix: "t-"})
	recs := source.Seed("companies", 100, memory.SampleCompany)
	h := newHooked(t, "burst", source, target, nil)
	h.Start()
	h.WaitRuns(1, time.Minute)
	target.ResetCounts()
	before, _, err := h.HistoryEvents(context.Background())
	require.NoError(t, err)

	// A bulk edit in the source: 1,000 changes to 100 records, each announced by its own
	// webhook, delivered by 10 senders at once as fast as the ingress answers.
	for i := range 1000 {
		change(t, source, recs[i%100].ID, fmt.Sprintf("+1 555 %04d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for w := range 10 {
		wg.Go(func() {
			for i := w; i < 1000; i += 10 {
				if status, body := post(t, h.URL, hook{id: fmt.Sprintf("burst-%d", i), record: recs[i%100].ID}); status != http.StatusAccepted {
					errs <- fmt.Sprintf("event %d: %d %s", i, status, body)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	st := h.WaitFor("all 1000 events handled", 2*time.Minute, func(st workflows.Status) bool {
		return st.Events.Received == 1000 && st.Pending == 0
	})
	for _, r := range source.All("companies") {
		require.Equal(t, r.Fields["phone"], phoneOf(target, r.Fields["domain"]), "record %s", r.ID)
	}
	calls := target.Calls()
	writeCalls := calls[memory.MethodUpdate] + calls[memory.MethodUpsert] + calls[memory.MethodCreate]
	t.Logf("1000 events for 100 records: %d micro-batches, %d write calls, %d records written", st.Events.Batches, writeCalls, target.Writes())
	// Records are read fresh, so each is written once with its latest state; the other
	// events find both sides equal.
	assert.Equal(t, 100, target.Writes(), "records written")
	assert.Less(t, writeCalls, 50, "write calls")
	// Events gather into batches, and a batch is one workflow task with a marker per step
	// (about nine events of its own, besides each event's signal).
	assert.Less(t, st.Events.Batches, 200, "micro-batches")
	after, _, err := h.HistoryEvents(context.Background())
	require.NoError(t, err)
	t.Logf("%d history events for 1000 events", after-before)
	assert.Less(t, after-before, 3000, "history events")
}
