package salesloft_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/salesloft"
	"tandem/connectors/salesloft/salesloftfake"
)

const callbackToken = "cb-token-1"

// accountBody is an account as a webhook carries it.
const accountBody = `{"id":1234,"name":"Acme","domain":"acme.com","crm_id":null,` +
	`"created_at":"2024-05-01T10:00:00.000000-04:00","updated_at":"2024-05-01T11:59:59.123456-04:00"}`

func webhookRequest(event, signature string, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/companies/a", bytes.NewReader(body))
	if event != "" {
		r.Header.Set("x-salesloft-event", event)
	}
	if signature != "" {
		r.Header.Set("x-salesloft-signature", signature)
	}
	return r
}

func verifier(t *testing.T, settings connectors.Settings) connectors.WebhookVerifier {
	t.Helper()
	v, err := salesloft.WebhookFactory("sl", settings)
	require.NoError(t, err)
	return v
}

func TestWebhookSignature(t *testing.T) {
	body := []byte(accountBody)
	v := verifier(t, connectors.Settings{"webhook_secret": callbackToken, "token": "ignored"})
	for _, tc := range []struct {
		name      string
		signature string
		body      []byte
		ok        bool
	}{
		{"Valid", salesloftfake.Sign(callbackToken, body), body, true},
		{"ValidUpperCaseHex", string(bytes.ToUpper([]byte(salesloftfake.Sign(callbackToken, body)))), body, true},
		{"WrongSecret", salesloftfake.Sign("another-token", body), body, false},
		{"AlteredBody", salesloftfake.Sign(callbackToken, body), bytes.Replace(body, []byte("Acme"), []byte("Acne"), 1), false},
		{"MissingHeader", "", body, false},
		{"NotHex", "sha1=" + salesloftfake.Sign(callbackToken, body), body, false},
		// Third-party pages describe HMAC-SHA256; Salesloft signs with SHA-1.
		{"SHA256IsNotTheScheme", sha256Hex(callbackToken, body), body, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, err := v.Verify(webhookRequest("account_updated", tc.signature, tc.body), tc.body)
			if !tc.ok {
				require.ErrorIs(t, err, connectors.ErrBadSignature)
				assert.Empty(t, events)
				return
			}
			require.NoError(t, err)
			assert.Len(t, events, 1)
		})
	}
}

func TestWebhookPreviousSecretWhileRotating(t *testing.T) {
	body := []byte(accountBody)
	v := verifier(t, connectors.Settings{"webhook_secret": "new-token", "webhook_secret_previous": callbackToken})
	_, err := v.Verify(webhookRequest("account_updated", salesloftfake.Sign(callbackToken, body), body), body)
	assert.NoError(t, err)
	_, err = v.Verify(webhookRequest("account_updated", salesloftfake.Sign("new-token", body), body), body)
	assert.NoError(t, err)
}

func TestWebhookEvents(t *testing.T) {
	body := []byte(accountBody)
	at := time.Date(2024, 5, 1, 15, 59, 59, 123456000, time.UTC)
	v := verifier(t, connectors.Settings{"webhook_secret": callbackToken})
	for _, tc := range []struct{ event, kind string }{
		{"account_created", "created"},
		{"account_updated", "updated"},
		{"account_deleted", "deleted"},
	} {
		t.Run(tc.event, func(t *testing.T) {
			events, err := v.Verify(webhookRequest(tc.event, salesloftfake.Sign(callbackToken, body), body), body)
			require.NoError(t, err)
			assert.Equal(t, []connectors.WebhookEvent{{
				ID:         tc.event + ":1234:2024-05-01T15:59:59.123456Z",
				Object:     "accounts",
				RecordID:   "1234",
				Kind:       tc.kind,
				OccurredAt: at,
			}}, events)
		})
	}

	// Authentic but not what Tandem reads.
	sig := salesloftfake.Sign(callbackToken, body)
	events, err := v.Verify(webhookRequest("person_updated", sig, body), body)
	require.NoError(t, err, "another object's event is acknowledged, not refused")
	assert.Empty(t, events)
	_, err = v.Verify(webhookRequest("", sig, body), body)
	assert.ErrorIs(t, err, connectors.ErrMalformedWebhook, "no event header")
	notJSON := []byte("id=1234")
	_, err = v.Verify(webhookRequest("account_updated", salesloftfake.Sign(callbackToken, notJSON), notJSON), notJSON)
	assert.ErrorIs(t, err, connectors.ErrMalformedWebhook)
	noID := []byte(`{"name":"Acme","updated_at":"2024-05-01T11:59:59.123456-04:00"}`)
	_, err = v.Verify(webhookRequest("account_updated", salesloftfake.Sign(callbackToken, noID), noID), noID)
	assert.ErrorIs(t, err, connectors.ErrMalformedWebhook)
}

func TestWebhookFactoryNeedsTheCallbackToken(t *testing.T) {
	_, err := salesloft.WebhookFactory("sl", connectors.Settings{"token": "x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "webhook_secret")
}

// receiver verifies what the fake sends, failing the first `fail` requests with 500.
type receiver struct {
	v      connectors.WebhookVerifier
	mu     sync.Mutex
	fail   int
	events []connectors.WebhookEvent
	bad    int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.fail > 0 {
		rc.fail--
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	events, err := rc.v.Verify(r, body)
	if err != nil {
		rc.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	rc.events = append(rc.events, events...)
}

func (rc *receiver) got() []connectors.WebhookEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]connectors.WebhookEvent(nil), rc.events...)
}

func TestFakeSendsSignedWebhooksForEveryChange(t *testing.T) {
	rc := &receiver{v: verifier(t, connectors.Settings{"webhook_secret": callbackToken}), fail: 1}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	c, fake, _ := open(t, salesloftfake.Options{
		WebhookURL: hook.URL, CallbackToken: callbackToken, WebhookRetryInterval: 10 * time.Millisecond,
	}, salesloft.Options{})
	ctx := context.Background()

	res, err := c.Create(ctx, accounts, []connectors.Record{{Fields: sampleAccount(0)}})
	require.NoError(t, err)
	id := res[0].ID
	// Writes through the API are announced too: what makes two-way syncs loop-prone.
	_, err = c.Update(ctx, accounts, []connectors.Record{{ID: id, Fields: map[string]any{"name": "Renamed"}}})
	require.NoError(t, err)
	// A PUT that changes nothing moves nothing and announces nothing.
	_, err = c.Update(ctx, accounts, []connectors.Record{{ID: id, Fields: map[string]any{"name": "Renamed"}}})
	require.NoError(t, err)
	require.NoError(t, fake.Set(id, map[string]any{"phone": "+1 212-555-0199"}))
	require.True(t, fake.Delete(id))

	// The fake counts a delivery once the receiver has answered it, a moment after the
	// receiver has the event: wait for both.
	require.Eventually(t, func() bool { return len(rc.got()) == 4 && fake.Stats().Webhooks.Sent == 4 }, 30*time.Second, 5*time.Millisecond)
	events := rc.got()
	kinds := make([]string, len(events))
	for i, ev := range events {
		kinds[i] = ev.Kind
		assert.Equal(t, id, ev.RecordID)
		assert.Equal(t, "accounts", ev.Object)
	}
	// The first delivery failed once and was retried while the others went on, so it
	// may arrive after them.
	assert.ElementsMatch(t, []string{"created", "updated", "updated", "deleted"}, kinds)
	assert.Zero(t, rc.bad, "every webhook verified")
	st := fake.Stats().Webhooks
	assert.Equal(t, 4, st.Sent)
	assert.Equal(t, 1, st.Retried)
}

func TestFakeGivesUpAfterItsRetries(t *testing.T) {
	rc := &receiver{v: verifier(t, connectors.Settings{"webhook_secret": callbackToken}), fail: 100}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	c, fake, _ := open(t, salesloftfake.Options{
		WebhookURL: hook.URL, CallbackToken: callbackToken, WebhookRetryInterval: time.Millisecond,
	}, salesloft.Options{})
	_, err := c.Create(context.Background(), accounts, []connectors.Record{{Fields: sampleAccount(0)}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return fake.Stats().Webhooks.Failed == 1 }, 30*time.Second, time.Millisecond)
	assert.Equal(t, salesloftfake.WebhookStats{Retried: 3, Failed: 1}, fake.Stats().Webhooks, "1 try and 3 more")
}

func sha256Hex(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
