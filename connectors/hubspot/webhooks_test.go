package hubspot_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/hubspot"
	"tandem/connectors/hubspot/hubspotfake"
)

const (
	secret    = "client-secret-1234"
	eventBody = `[{"eventId":1001,"subscriptionId":101,"portalId":62515,"appId":1160452,"occurredAt":1714564800123,` +
		`"subscriptionType":"company.creation","attemptNumber":0,"objectId":5001,"changeSource":"CRM_UI","changeFlag":"CREATED"}]`
)

var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func verifier(t *testing.T, settings connectors.Settings) connectors.WebhookVerifier {
	t.Helper()
	s := connectors.Settings{hubspot.SettingWebhookSecret: secret, hubspot.SettingToken: "ignored by the verifier"}
	for k, v := range settings {
		s[k] = v
	}
	v, err := hubspot.WebhookFactory("hubspot", s)
	require.NoError(t, err)
	cfg := hubspot.VerifierConfig{Secrets: []string{secret, s[hubspot.SettingWebhookSecretPrevious]}, URL: s[hubspot.SettingWebhookURL],
		RequireV3: s[hubspot.SettingWebhookRequireV3] == "true", Now: func() time.Time { return now }}
	require.IsType(t, &hubspot.Verifier{}, v)
	v, err = hubspot.NewVerifier(cfg) // the same verifier, on the test's clock
	require.NoError(t, err)
	return v
}

func TestWebhookSignatures(t *testing.T) {
	body := []byte(eventBody)
	signed := func(target, signedURL, key string, at time.Time, b []byte) *http.Request {
		r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(b))
		hubspotfake.SignRequest(r.Header, key, http.MethodPost, signedURL, body, at)
		return r
	}
	const public = "https://hooks.example.com/webhooks/companies/b"
	cases := []struct {
		name     string
		settings connectors.Settings
		req      func() *http.Request
		wantErr  error
	}{
		{"v3 valid", nil, func() *http.Request { return signed(public, public, secret, now, body) }, nil},
		{"v3 wrong secret", nil, func() *http.Request { return signed(public, public, "another-secret", now, body) }, connectors.ErrBadSignature},
		{"v3 altered body", nil, func() *http.Request {
			return signed(public, public, secret, now, bytes.Replace(body, []byte("5001"), []byte("5002"), 1))
		}, connectors.ErrBadSignature},
		{"v3 stale timestamp", nil, func() *http.Request { return signed(public, public, secret, now.Add(-6*time.Minute), body) }, connectors.ErrBadSignature},
		{"v3 four minutes old", nil, func() *http.Request { return signed(public, public, secret, now.Add(-4*time.Minute), body) }, nil},
		{"v3 from the future", nil, func() *http.Request { return signed(public, public, secret, now.Add(6*time.Minute), body) }, connectors.ErrBadSignature},
		{"v3 other path", nil, func() *http.Request {
			return signed(public, "https://hooks.example.com/webhooks/other/b", secret, now, body)
		}, connectors.ErrBadSignature},
		{"v3 behind an ingress", nil, func() *http.Request {
			r := signed("http://10.0.0.7:8080/webhooks/companies/b", public, secret, now, body)
			r.Host = "hooks.example.com"
			r.Header.Set("X-Forwarded-Proto", "https")
			return r
		}, nil},
		{"v3 escapes HubSpot decodes", nil, func() *http.Request {
			const u = "https://hooks.example.com/webhooks/companies/b?at=12%3A00%2C%40x&q=a%20b"
			return signed(u, u, secret, now, body)
		}, nil},
		{"v3 against webhook_url", connectors.Settings{hubspot.SettingWebhookURL: public}, func() *http.Request {
			return signed("http://127.0.0.1:8080/hubspot-in", public, secret, now, body)
		}, nil},
		{"v3 previous secret while rotating", connectors.Settings{hubspot.SettingWebhookSecret: "new-secret", hubspot.SettingWebhookSecretPrevious: secret},
			func() *http.Request { return signed(public, public, secret, now, body) }, nil},
		{"v1 valid", nil, func() *http.Request {
			r := signed(public, public, secret, now, body)
			r.Header.Del(hubspot.HeaderSignatureV3)
			return r
		}, nil},
		{"v1 wrong secret", nil, func() *http.Request {
			r := signed(public, public, "another-secret", now, body)
			r.Header.Del(hubspot.HeaderSignatureV3)
			return r
		}, connectors.ErrBadSignature},
		{"v1 refused when v3 is required", connectors.Settings{hubspot.SettingWebhookRequireV3: "true"}, func() *http.Request {
			r := signed(public, public, secret, now, body)
			r.Header.Del(hubspot.HeaderSignatureV3)
			return r
		}, connectors.ErrBadSignature},
		{"v2 valid", nil, func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, public, bytes.NewReader(body))
			r.Header.Set(hubspot.HeaderSignatureVersion, "v2")
			r.Header.Set(hubspot.HeaderSignature, hexOf(hubspot.SignatureV2([]byte(secret), http.MethodPost, public, body)))
			return r
		}, nil},
		{"no signature", nil, func() *http.Request { return httptest.NewRequest(http.MethodPost, public, bytes.NewReader(body)) }, connectors.ErrBadSignature},
		{"valid signature, malformed body", nil, func() *http.Request {
			b := []byte(`{"not":"an array"}`)
			r := httptest.NewRequest(http.MethodPost, public, bytes.NewReader(b))
			hubspotfake.SignRequest(r.Header, secret, http.MethodPost, public, b, now)
			return r
		}, connectors.ErrMalformedWebhook},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req()
			b, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			events, err := verifier(t, tc.settings).Verify(r, b)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				assert.Nil(t, events)
				return
			}
			require.NoError(t, err)
			assert.Len(t, events, 1)
		})
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

func TestParseEvents(t *testing.T) {
	body := []byte(`[
	 {"eventId":1,"subscriptionId":101,"portalId":1,"occurredAt":1714564800123,"subscriptionType":"company.creation","attemptNumber":0,"objectId":5001},
	 {"eventId":2,"subscriptionId":102,"portalId":1,"occurredAt":1714564800456,"subscriptionType":"company.propertyChange","objectId":5001,"propertyName":"phone","propertyValue":"1"},
	 {"eventId":3,"subscriptionId":203,"portalId":1,"occurredAt":1714564800789,"subscriptionType":"contact.deletion","objectId":7001},
	 {"eventId":4,"subscriptionId":301,"portalId":1,"occurredAt":1714564800999,"subscriptionType":"object.propertyChange","objectTypeId":"0-2","objectId":5002},
	 {"eventId":18446744073709551,"occurredAt":1714564801000,"subscriptionType":"contact.merge","objectId":7002}
	]`)
	events, err := hubspot.ParseEvents(body)
	require.NoError(t, err)
	at := func(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
	assert.Equal(t, []connectors.WebhookEvent{
		{ID: "1", Object: "companies", RecordID: "5001", Kind: "created", OccurredAt: at(1714564800123)},
		{ID: "2", Object: "companies", RecordID: "5001", Kind: "updated", OccurredAt: at(1714564800456)},
		{ID: "3", Object: "contacts", RecordID: "7001", Kind: "deleted", OccurredAt: at(1714564800789)},
		{ID: "4", Object: "companies", RecordID: "5002", Kind: "updated", OccurredAt: at(1714564800999)},
		{ID: "18446744073709551", Object: "contacts", RecordID: "7002", Kind: "updated", OccurredAt: at(1714564801000)},
	}, events)

	empty, err := hubspot.ParseEvents([]byte(`[]`))
	require.NoError(t, err)
	assert.Empty(t, empty)

	for _, bad := range []string{`{}`, `[{"eventId":1,"subscriptionType":"company.creation"}]`, `[{"eventId":1,"objectId":2,"subscriptionType":"nodot"}]`, `not json`} {
		_, err := hubspot.ParseEvents([]byte(bad))
		assert.ErrorIs(t, err, connectors.ErrMalformedWebhook, "%s", bad)
	}
}

func TestFakeSendsSignedWebhooksForAPIWrites(t *testing.T) {
	// A receiver that verifies as the ingress does; it refuses the first delivery, which
	// the fake retries.
	var (
		mu       sync.Mutex
		events   []connectors.WebhookEvent
		attempts int
		verr     error
	)
	v, err := hubspot.WebhookFactory("hubspot", connectors.Settings{hubspot.SettingWebhookSecret: "demo-client-secret"})
	require.NoError(t, err)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		evs, err := v.Verify(r, body)
		if err != nil {
			verr = err
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		events = append(events, evs...)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	opts := fast
	opts.WebhookURL = receiver.URL + "/webhooks/companies/b?src=hubspot"
	opts.WebhookDelay = 20 * time.Millisecond
	opts.WebhookBackoff = 20 * time.Millisecond
	e := newEnv(t, opts, nil)

	res, err := e.client.Create(t.Context(), "companies", []connectors.Record{
		{Fields: map[string]any{"name": "A", "domain": "a.example.com"}},
		{Fields: map[string]any{"name": "B", "domain": "b.example.com"}},
	})
	require.NoError(t, err)
	_, err = e.client.Update(t.Context(), "companies", []connectors.Record{{ID: res[0].ID, Fields: map[string]any{"phone": "+1 555 0100"}}})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) >= 3 || verr != nil
	}, 5*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.NoError(t, verr, "the fake's signatures verify")
	kinds := map[string][]string{}
	for _, ev := range events {
		assert.Equal(t, "companies", ev.Object)
		kinds[ev.RecordID] = append(kinds[ev.RecordID], ev.Kind)
	}
	assert.Equal(t, map[string][]string{res[0].ID: {"created", "updated"}, res[1].ID: {"created"}}, kinds)
	assert.GreaterOrEqual(t, attempts, 2, "the refused delivery was retried")
	assert.Equal(t, 3, e.fake.Stats().WebhookEvents)
}
