package ingress_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"tandem/connectors"
	"tandem/connectors/builtin"
	"tandem/connectors/standardwebhooks"
	"tandem/internal/config"
	"tandem/internal/ingress"
	"tandem/workflows"
)

const (
	crmSecret    = "crm-secret"
	crmOldSecret = "whsec_Y3JtLW9sZC1zZWNyZXQ="
	erpSecret    = "erp-secret"
)

// The definitions: a two-way sync with webhooks on both sides, a one-way one from a
// connection of a fake type, and one without webhooks.
const definitions = `
connections:
  crm:   {type: memory, webhook_secret: "${CRM_SECRET}", webhook_secret_previous: "${CRM_OLD_SECRET}"}
  erp:   {type: memory, webhook_secret: ` + erpSecret + `}
  bulk:  {type: fake}
  quiet: {type: memory}
syncs:
  - name: companies
    mode: two-way
    a: {connection: crm, object: companies, key: domain}
    b: {connection: erp, object: accounts,  key: domain}
    fields: [{a: name, b: name}]
    webhooks: true
  - name: imports
    a: {connection: bulk,  object: companies, key: domain}
    b: {connection: quiet, object: companies, key: domain}
    fields: [{a: name, b: name}]
    webhooks: true
  - name: nightly
    a: {connection: quiet, object: companies, key: domain}
    b: {connection: erp,   object: accounts,  key: domain}
    fields: [{a: name, b: name}]
`

func parse(t *testing.T, yaml string) *config.File {
	t.Helper()
	env := map[string]string{"CRM_SECRET": crmSecret, "CRM_OLD_SECRET": crmOldSecret}
	f, err := config.Parse("syncs.yaml", []byte(yaml), []string{"memory", "fake"}, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	require.NoError(t, err)
	return f
}

// fakeVerifier stands for a connector with a scheme of its own; the X-Fake header says
// what it finds.
type fakeVerifier struct{}

func (fakeVerifier) Verify(r *http.Request, _ []byte) ([]connectors.WebhookEvent, error) {
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	switch r.Header.Get("X-Fake") {
	case "none":
		return nil, nil
	case "three":
		return []connectors.WebhookEvent{
			{ID: "e1", Object: "companies", RecordID: "r1", Kind: "created", OccurredAt: at},
			{ID: "e2", RecordID: "r2", Kind: "updated"}, // no object: the endpoint's
			{ID: "e3", Object: "companies", RecordID: "r1", Kind: "updated", OccurredAt: at.Add(time.Second)},
		}, nil
	case "no-record":
		return []connectors.WebhookEvent{{ID: "e1", Object: "companies"}}, nil
	case "broken":
		return nil, errors.New("verifier exploded")
	}
	return nil, fmt.Errorf("%w: no X-Fake header", connectors.ErrBadSignature)
}

// fakeSignaler records the signals it is sent and answers err.
type fakeSignaler struct {
	mu    sync.Mutex
	calls []signalCall
	err   error
	// delivery is what a successful SignalChange answers (Signalled by default).
	delivery ingress.Delivery
	// When block is set, SignalChange says so on entered, then waits for block to close.
	block, entered chan struct{}
}

type signalCall struct {
	Sync string
	Sig  workflows.ChangeSignal
}

func (f *fakeSignaler) SignalChange(ctx context.Context, sync string, sig workflows.ChangeSignal) (ingress.Delivery, error) {
	if f.block != nil {
		f.entered <- struct{}{}
		<-f.block
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, signalCall{sync, sig})
	return f.delivery, f.err
}

func (f *fakeSignaler) Calls() []signalCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]signalCall(nil), f.calls...)
}

type fixture struct {
	srv  *ingress.Server
	h    http.Handler
	sig  *fakeSignaler
	logs *observer.ObservedLogs
}

func newFixture(t *testing.T, sigErr error) *fixture {
	t.Helper()
	reg := builtin.Registry()
	require.NoError(t, reg.RegisterWebhooks("fake", func(string, connectors.Settings) (connectors.WebhookVerifier, error) {
		return fakeVerifier{}, nil
	}))
	core, logs := observer.New(zapcore.DebugLevel)
	sig := &fakeSignaler{err: sigErr}
	srv, err := ingress.New(parse(t, definitions), reg, sig, ingress.Options{Logger: zap.New(core)})
	require.NoError(t, err)
	return &fixture{srv: srv, h: srv.Handler(), sig: sig, logs: logs}
}

// event is a body in Tandem's format.
func event(object, id string) string {
	return fmt.Sprintf(`{"type":"record.updated","timestamp":"2024-05-01T12:00:00Z","data":{"object":%q,"id":%q,"updated_at":"2024-05-01T11:59:59.5Z"}}`, object, id)
}

type request struct {
	method, path, body string
	header             http.Header
}

func signed(secret, id string, ts time.Time, body string) http.Header {
	h := http.Header{}
	standardwebhooks.SetHeaders(h, secret, id, ts, []byte(body))
	return h
}

func (f *fixture) do(rq request) *httptest.ResponseRecorder {
	if rq.method == "" {
		rq.method = http.MethodPost
	}
	r := httptest.NewRequest(rq.method, rq.path, strings.NewReader(rq.body))
	for k, v := range rq.header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func TestRejections(t *testing.T) {
	now := time.Now()
	body := event("companies", "m-000001")
	tampered := strings.Replace(body, "m-000001", "m-000002", 1)
	big := strings.Repeat(" ", ingress.DefaultMaxBody+1)
	header := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	without := func(h http.Header, name string) http.Header {
		h = h.Clone()
		h.Del(name)
		return h
	}
	valid := signed(crmSecret, "msg_1", now, body)

	for _, tc := range []struct {
		name   string
		req    request
		status int
		line   string
	}{
		{"no signature headers", request{path: "/webhooks/companies/a", body: body},
			401, "bad webhook signature: missing webhook-id header"},
		{"missing webhook-timestamp", request{path: "/webhooks/companies/a", body: body, header: without(valid, "webhook-timestamp")},
			401, "bad webhook signature: missing webhook-timestamp header"},
		{"missing webhook-signature", request{path: "/webhooks/companies/a", body: body, header: without(valid, "webhook-signature")},
			401, "bad webhook signature: missing webhook-signature header"},
		{"wrong secret", request{path: "/webhooks/companies/a", body: body, header: signed("guess", "msg_1", now, body)},
			401, "bad webhook signature: no signature matches"},
		{"signed with the other side's secret", request{path: "/webhooks/companies/a", body: body, header: signed(erpSecret, "msg_1", now, body)},
			401, "bad webhook signature: no signature matches"},
		{"body altered", request{path: "/webhooks/companies/a", body: tampered, header: valid},
			401, "bad webhook signature: no signature matches"},
		{"stale", request{path: "/webhooks/companies/a", body: body, header: signed(crmSecret, "msg_1", now.Add(-6*time.Minute), body)},
			401, "bad webhook signature: timestamp outside the 5-minute window"},
		{"from the future", request{path: "/webhooks/companies/a", body: body, header: signed(crmSecret, "msg_1", now.Add(6*time.Minute), body)},
			401, "bad webhook signature: timestamp outside the 5-minute window"},
		{"own scheme refuses", request{path: "/webhooks/imports/a", body: body},
			401, "bad webhook signature: no X-Fake header"},

		{"malformed body", request{path: "/webhooks/companies/a", body: `{"type":"record.updated"`, header: signed(crmSecret, "msg_1", now, `{"type":"record.updated"`)},
			400, "malformed webhook body: not a JSON event object: unexpected end of JSON input"},
		{"unknown event type", request{path: "/webhooks/companies/a", body: `{"type":"record.merged","data":{"id":"1"}}`, header: signed(crmSecret, "msg_1", now, `{"type":"record.merged","data":{"id":"1"}}`)},
			400, `malformed webhook body: unknown type "record.merged" (want record.created, record.updated or record.deleted)`},
		{"event without a record", request{path: "/webhooks/imports/a", header: header("X-Fake", "no-record")},
			400, "event e1 names no record"},

		{"unknown sync", request{path: "/webhooks/contacts/a", body: body, header: valid},
			404, `unknown sync "contacts"`},
		{"unknown side", request{path: "/webhooks/companies/c", body: body, header: valid},
			404, `unknown side "c" of sync "companies" (want a or b)`},
		{"sync without webhooks", request{path: "/webhooks/nightly/a", body: body, header: valid},
			404, `sync "nightly" does not receive webhooks (webhooks: true is not set)`},
		{"target of a one-way sync", request{path: "/webhooks/imports/b", header: header("X-Fake", "three")},
			404, `sync "imports" is one-way: only side a's changes are synced, so side b receives no webhooks`},
		{"no side", request{path: "/webhooks/companies", body: body, header: valid},
			404, "no such endpoint; webhooks are posted to /webhooks/<sync>/<side>"},
		{"extra path", request{path: "/webhooks/companies/a/b", body: body, header: valid},
			404, "no such endpoint; webhooks are posted to /webhooks/<sync>/<side>"},
		{"other path", request{path: "/hooks/companies/a", body: body, header: valid},
			404, "no such endpoint; webhooks are posted to /webhooks/<sync>/<side>"},

		{"GET", request{method: http.MethodGet, path: "/webhooks/companies/a", header: valid},
			405, "method GET not allowed; webhooks are POSTed"},
		{"too large", request{path: "/webhooks/companies/a", body: big, header: signed(crmSecret, "msg_1", now, big)},
			413, "body larger than the limit of 1048576 bytes"},
		{"verifier broken", request{path: "/webhooks/imports/a", header: header("X-Fake", "broken")},
			500, "verifying the webhook failed; the ingress log has the details"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			w := f.do(tc.req)
			assert.Equal(t, tc.status, w.Code)
			assert.Equal(t, tc.line+"\n", w.Body.String())
			assert.Equal(t, "text/plain; charset=utf-8", w.Header().Get("Content-Type"))
			assert.Empty(t, f.sig.Calls(), "a rejected request reaches no workflow")
			if tc.status == 405 {
				assert.Equal(t, "POST", w.Header().Get("Allow"))
			}

			// One log line, at warn (error for a 500), with the reason, and never the body
			// or a secret.
			entries := f.logs.All()
			require.Len(t, entries, 1)
			wantLevel := zapcore.WarnLevel
			if tc.status == 500 {
				wantLevel = zapcore.ErrorLevel
			}
			assert.Equal(t, wantLevel, entries[0].Level)
			logged := fmt.Sprint(entries[0].Message, entries[0].ContextMap())
			if tc.status != 500 {
				assert.Contains(t, logged, tc.line)
			}
			for _, secret := range []string{crmSecret, crmOldSecret, erpSecret, `"data"`} {
				assert.NotContains(t, logged, secret)
			}
		})
	}
}

func TestSignalFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		line   string
	}{
		{"Temporal unavailable", serviceerror.NewUnavailable("connection refused"), 503, "Temporal unavailable, retry later"},
		{"Temporal deadline", serviceerror.NewDeadlineExceeded("deadline exceeded"), 503, "Temporal unavailable, retry later"},
		{"signal timed out", fmt.Errorf("signal change to sync %q: %w", "companies", context.DeadlineExceeded), 503, "Temporal unavailable, retry later"},
		{"Temporal busy", serviceerror.NewResourceExhausted(0, "rps limit"), 503, "Temporal unavailable, retry later"},
		{"namespace missing", serviceerror.NewNamespaceNotFound("default"), 500, "signalling the sync's workflow failed; the ingress log has the details"},
		{"anything else", errors.New("boom"), 500, "signalling the sync's workflow failed; the ingress log has the details"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.err)
			body := event("companies", "m-000001")
			w := f.do(request{path: "/webhooks/companies/a", body: body, header: signed(crmSecret, "msg_1", time.Now(), body)})
			assert.Equal(t, tc.status, w.Code)
			assert.Equal(t, tc.line+"\n", w.Body.String())
			assert.Len(t, f.sig.Calls(), 1)
			entries := f.logs.All()
			require.Len(t, entries, 1)
			assert.Equal(t, tc.err.Error(), entries[0].ContextMap()["error"], "the cause is logged")
		})
	}
}

func TestAccepted(t *testing.T) {
	f := newFixture(t, nil)
	now := time.Now()

	// Side a, signed with the current secret.
	body := event("companies", "m-000001")
	w := f.do(request{path: "/webhooks/companies/a", body: body, header: signed(crmSecret, "msg_1", now, body)})
	assert.Equal(t, http.StatusAccepted, w.Code)
	assert.Equal(t, `{"events":1}`+"\n", w.Body.String())
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))

	// Side a, signed with the previous secret (rotation on our side).
	w = f.do(request{path: "/webhooks/companies/a", body: body, header: signed(crmOldSecret, "msg_2", now, body)})
	assert.Equal(t, http.StatusAccepted, w.Code)

	// Side b, its own secret and object.
	bodyB := event("accounts", "m-000007")
	w = f.do(request{path: "/webhooks/companies/b", body: bodyB, header: signed(erpSecret, "msg_3", now, bodyB)})
	assert.Equal(t, http.StatusAccepted, w.Code)

	// Several events of one request go in one signal.
	w = f.do(request{path: "/webhooks/imports/a", header: http.Header{"X-Fake": {"three"}}})
	assert.Equal(t, http.StatusAccepted, w.Code)
	assert.Equal(t, `{"events":3}`+"\n", w.Body.String())

	// An authentic request without events is answered without a signal.
	w = f.do(request{path: "/webhooks/imports/a", header: http.Header{"X-Fake": {"none"}}})
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, `{"events":0}`+"\n", w.Body.String())

	at := time.Date(2024, 5, 1, 11, 59, 59, 500_000_000, time.UTC)
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	assert.Equal(t, []signalCall{
		{"companies", workflows.ChangeSignal{Side: "a", Events: []workflows.ChangeEvent{{ID: "msg_1", RecordID: "m-000001", Kind: "updated", At: at}}}},
		{"companies", workflows.ChangeSignal{Side: "a", Events: []workflows.ChangeEvent{{ID: "msg_2", RecordID: "m-000001", Kind: "updated", At: at}}}},
		{"companies", workflows.ChangeSignal{Side: "b", Events: []workflows.ChangeEvent{{ID: "msg_3", RecordID: "m-000007", Kind: "updated", At: at}}}},
		{"imports", workflows.ChangeSignal{Side: "a", Events: []workflows.ChangeEvent{
			{ID: "e1", RecordID: "r1", Kind: "created", At: t0},
			{ID: "e2", RecordID: "r2", Kind: "updated"},
			{ID: "e3", RecordID: "r1", Kind: "updated", At: t0.Add(time.Second)},
		}}},
	}, f.sig.Calls())

	// Accepted requests log at debug only.
	for _, e := range f.logs.All() {
		assert.Equal(t, zapcore.DebugLevel, e.Level, e.Message)
	}

	// A few rejections, then the counts.
	f.do(request{path: "/webhooks/companies/a", body: body})
	f.do(request{path: "/webhooks/nope/a"})
	f.do(request{method: http.MethodPut, path: "/webhooks/companies/a"})
	assert.Equal(t, ingress.Stats{Accepted: 4, Empty: 1, Unauthorized: 1, NotFound: 1, MethodNotAllowed: 1, Events: 6}, f.srv.Stats())
	assert.Equal(t, []string{"/webhooks/companies/a", "/webhooks/companies/b", "/webhooks/imports/a"}, f.srv.Endpoints())
}

func TestHealthz(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do(request{method: http.MethodGet, path: "/healthz"})
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "ok\n", w.Body.String())
	w = f.do(request{method: http.MethodPost, path: "/healthz"})
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, "method POST not allowed; use GET\n", w.Body.String())
}

func TestNewErrors(t *testing.T) {
	reg := builtin.Registry()
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{
			name: "missing secret",
			yaml: `
connections:
  crm: {type: memory}
  erp: {type: memory, webhook_secret: s}
syncs:
  - name: companies
    mode: two-way
    a: {connection: erp, object: companies, key: domain}
    b: {connection: crm, object: accounts,  key: domain}
    fields: [{a: name, b: name}]
    webhooks: true
`,
			want: `syncs.yaml: sync "companies" side b: connection "crm" (memory) webhooks: setting webhook_secret: missing; set it to the secret the sender signs with, e.g. webhook_secret: ${CRM_WEBHOOK_SECRET}`,
		},
		{
			name: "type without webhooks",
			yaml: `
connections:
  bulk: {type: fake}
  erp:  {type: memory}
syncs:
  - name: imports
    a: {connection: bulk, object: companies, key: domain}
    b: {connection: erp,  object: accounts,  key: domain}
    fields: [{a: name, b: name}]
    webhooks: true
`,
			want: `syncs.yaml: sync "imports" side a: connection "bulk": type "fake" does not receive webhooks`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ingress.New(parse(t, tc.yaml), reg, &fakeSignaler{}, ingress.Options{})
			assert.EqualError(t, err, tc.want)
			// The worker checks the same at load, before dialling anything, whether or
			// not it serves the ingress (issue 14, finding 10).
			assert.EqualError(t, ingress.Check(parse(t, tc.yaml), reg), tc.want)
		})
	}

	// Without webhooks, no secret is needed; the ingress answers 404 for the sync.
	srv, err := ingress.New(parse(t, `
connections:
  crm: {type: memory}
  erp: {type: memory}
syncs:
  - name: companies
    a: {connection: crm, object: companies, key: domain}
    b: {connection: erp, object: accounts,  key: domain}
    fields: [{a: name, b: name}]
`), reg, &fakeSignaler{}, ingress.Options{})
	require.NoError(t, err)
	assert.Empty(t, srv.Endpoints())
}

// Shutting down lets a request in flight finish with its signal.
func TestServeShutsDownGracefully(t *testing.T) {
	f := newFixture(t, nil)
	f.sig.block, f.sig.entered = make(chan struct{}), make(chan struct{}, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ctx, ln) }()

	base := "http://" + ln.Addr().String()
	resp, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	body := event("companies", "m-000001")
	answered := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/companies/a", strings.NewReader(body))
		req.Header = signed(crmSecret, "msg_1", time.Now(), body)
		resp, err := http.DefaultClient.Do(req)
		assert.NoError(t, err)
		answered <- resp
	}()
	select {
	case <-f.sig.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook never reached the signaler")
	}

	cancel()
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	}, 10*time.Second, 5*time.Millisecond, "no new connections once shutting down")
	close(f.sig.block)

	resp = <-answered
	require.NotNil(t, resp)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusAccepted, resp.StatusCode)
	assert.Equal(t, `{"events":1}`+"\n", string(got))
	select {
	case err := <-served:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	assert.Len(t, f.sig.Calls(), 1)
}

func TestEventsOfOtherObjectsAreAcknowledgedAndSkipped(t *testing.T) {
	f := newFixture(t, nil)
	now := time.Now()
	body := event("companies", "crm-1")
	w := f.do(request{path: "/webhooks/companies/b", body: body, header: signed(erpSecret, "msg_1", now, body)})
	assert.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"events":0}`, w.Body.String())
	assert.Empty(t, f.sig.Calls(), "no signal for events of another object")
}

// ackVerifier is a verifier whose sender wants its own acknowledgement (as Salesforce
// Outbound Messages want a SOAP Ack).
type ackVerifier struct{ fakeVerifier }

func (ackVerifier) AckResponse() (string, []byte) {
	return "text/xml; charset=utf-8", []byte("<Ack>true</Ack>")
}

func TestAcknowledgementOfTheSendersOwnFormAfterTheSignal(t *testing.T) {
	for _, c := range []struct {
		name   string
		sigErr error
		status int
	}{
		{"accepted", nil, http.StatusOK},
		{"Temporal down", serviceerror.NewUnavailable("down"), http.StatusServiceUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg := builtin.Registry()
			require.NoError(t, reg.RegisterWebhooks("fake", func(string, connectors.Settings) (connectors.WebhookVerifier, error) {
				return ackVerifier{}, nil
			}))
			sig := &fakeSignaler{err: c.sigErr}
			srv, err := ingress.New(parse(t, definitions), reg, sig, ingress.Options{Logger: zap.NewNop()})
			require.NoError(t, err)
			r := httptest.NewRequest(http.MethodPost, "/webhooks/imports/a", strings.NewReader("{}"))
			r.Header.Set("X-Fake", "three")
			w := httptest.NewRecorder()
			srv.Handler().ServeHTTP(w, r)
			assert.Equal(t, c.status, w.Code)
			if c.status == http.StatusOK {
				assert.Equal(t, "<Ack>true</Ack>", w.Body.String())
				assert.Equal(t, "text/xml; charset=utf-8", w.Header().Get("Content-Type"))
				assert.Len(t, sig.Calls(), 1)
			} else {
				assert.NotContains(t, w.Body.String(), "Ack", "no acknowledgement before the signal was accepted")
			}
		})
	}
}
