package standardwebhooks_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/standardwebhooks"
)

const (
	secret    = "plain-old-secret"
	newSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body      = `{"type":"record.updated","timestamp":"2024-05-01T12:00:00Z","data":{"object":"companies","id":"m-000042","updated_at":"2024-05-01T11:59:59.5Z"}}`
)

var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// The scheme's own test vector (standard-webhooks libraries): a whsec_ secret is base64.
func TestSignMatchesTheSpecVector(t *testing.T) {
	got := standardwebhooks.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	assert.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", got)
}

func TestVerify(t *testing.T) {
	v, err := standardwebhooks.NewVerifier([]string{secret}, standardwebhooks.VerifierOptions{Now: func() time.Time { return now }})
	require.NoError(t, err)
	rotated, err := standardwebhooks.NewVerifier([]string{newSecret, secret}, standardwebhooks.VerifierOptions{Now: func() time.Time { return now }})
	require.NoError(t, err)

	signed := func(secret string, ts time.Time) http.Header {
		h := http.Header{}
		standardwebhooks.SetHeaders(h, secret, "msg_1", ts, []byte(body))
		return h
	}
	without := func(name string) http.Header {
		h := signed(secret, now)
		h.Del(name)
		return h
	}
	for _, tc := range []struct {
		name     string
		verifier *standardwebhooks.Verifier
		header   http.Header
		body     string
		wantErr  string // "" means accepted
	}{
		{name: "valid", header: signed(secret, now)},
		{name: "valid within the window", header: signed(secret, now.Add(-4*time.Minute))},
		{name: "wrong secret", header: signed("another-secret", now), wantErr: "no signature matches"},
		{name: "body altered", header: signed(secret, now), body: strings.Replace(body, "m-000042", "m-000043", 1), wantErr: "no signature matches"},
		{name: "timestamp 6 minutes old", header: signed(secret, now.Add(-6*time.Minute)), wantErr: "timestamp outside the 5-minute window"},
		{name: "timestamp 6 minutes ahead", header: signed(secret, now.Add(6*time.Minute)), wantErr: "timestamp outside the 5-minute window"},
		{name: "timestamp not a number", header: func() http.Header {
			h := signed(secret, now)
			h.Set("webhook-timestamp", now.Format(time.RFC3339))
			return h
		}(), wantErr: "webhook-timestamp"},
		{name: "missing webhook-id", header: without("webhook-id"), wantErr: "missing webhook-id header"},
		{name: "missing webhook-timestamp", header: without("webhook-timestamp"), wantErr: "missing webhook-timestamp header"},
		{name: "missing webhook-signature", header: without("webhook-signature"), wantErr: "missing webhook-signature header"},
		{name: "signature of another version only", header: func() http.Header {
			h := signed(secret, now)
			h.Set("webhook-signature", strings.Replace(h.Get("webhook-signature"), "v1,", "v2,", 1))
			return h
		}(), wantErr: "no signature matches"},
		{name: "not base64", header: func() http.Header {
			h := signed(secret, now)
			h.Set("webhook-signature", "v1,!!!")
			return h
		}(), wantErr: "no signature matches"},
		{
			name: "sender rotating: several signatures, one valid", header: func() http.Header {
				h := signed(secret, now)
				h.Set("webhook-signature", strings.Join([]string{
					standardwebhooks.Sign("retired-secret", "msg_1", now, []byte(body)),
					"v1a,c29tZXRoaW5nIGFzeW1tZXRyaWM=",
					h.Get("webhook-signature"),
				}, " "))
				return h
			}(),
		},
		{name: "receiver rotating: signed with the previous secret", verifier: rotated, header: signed(secret, now)},
		{name: "receiver rotating: signed with the new whsec_ secret", verifier: rotated, header: signed(newSecret, now)},
		{name: "receiver rotating: neither secret", verifier: rotated, header: signed("another-secret", now), wantErr: "no signature matches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verifier := v
			if tc.verifier != nil {
				verifier = tc.verifier
			}
			b := body
			if tc.body != "" {
				b = tc.body
			}
			r := httptest.NewRequest(http.MethodPost, "/webhooks/companies/a", strings.NewReader(b))
			r.Header = tc.header
			events, err := verifier.Verify(r, []byte(b))
			if tc.wantErr != "" {
				require.ErrorIs(t, err, connectors.ErrBadSignature)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.NotContains(t, err.Error(), "\n")
				assert.Empty(t, events)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, []connectors.WebhookEvent{{
				ID: "msg_1", Object: "companies", RecordID: "m-000042", Kind: "updated",
				OccurredAt: time.Date(2024, 5, 1, 11, 59, 59, 500_000_000, time.UTC),
			}}, events)
		})
	}
}

func TestParseEvent(t *testing.T) {
	for _, tc := range []struct {
		name, body, wantErr string
		want                connectors.WebhookEvent
	}{
		{
			name: "created, emission time only",
			body: `{"type":"record.created","timestamp":"2024-05-01T12:00:00Z","data":{"object":"accounts","id":"7"}}`,
			want: connectors.WebhookEvent{ID: "msg_1", Object: "accounts", RecordID: "7", Kind: "created", OccurredAt: now},
		},
		{
			name: "deleted, unknown fields ignored",
			body: `{"type":"record.deleted","data":{"object":"accounts","id":"7","name":"Acme"},"extra":1}`,
			want: connectors.WebhookEvent{ID: "msg_1", Object: "accounts", RecordID: "7", Kind: "deleted"},
		},
		{name: "not JSON", body: `type=record.updated`, wantErr: "not a JSON event object"},
		{name: "JSON list", body: `[{"type":"record.updated"}]`, wantErr: "not a JSON event object"},
		{name: "unknown type", body: `{"type":"contact.merged","data":{"id":"7"}}`, wantErr: `unknown type "contact.merged"`},
		{name: "no type", body: `{"data":{"id":"7"}}`, wantErr: `unknown type ""`},
		{name: "no record id", body: `{"type":"record.updated","data":{"object":"accounts"}}`, wantErr: "data.id is missing"},
		{name: "bad timestamp", body: `{"type":"record.updated","timestamp":"yesterday","data":{"id":"7"}}`, wantErr: `timestamp "yesterday" is not an RFC 3339 time`},
		{name: "bad updated_at", body: `{"type":"record.updated","data":{"id":"7","updated_at":"1714564800"}}`, wantErr: `data.updated_at "1714564800"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := standardwebhooks.ParseEvent("msg_1", []byte(tc.body))
			if tc.wantErr != "" {
				require.ErrorIs(t, err, connectors.ErrMalformedWebhook)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, ev)
		})
	}
}

// A signed request with a malformed body is authentic but unparseable: ErrMalformedWebhook,
// not ErrBadSignature.
func TestVerifyMalformedBody(t *testing.T) {
	v, err := standardwebhooks.NewVerifier([]string{secret}, standardwebhooks.VerifierOptions{})
	require.NoError(t, err)
	b := []byte(`{"type":"record.updated"}`)
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	standardwebhooks.SetHeaders(r.Header, secret, "msg_2", time.Now(), b)
	_, err = v.Verify(r, b)
	require.ErrorIs(t, err, connectors.ErrMalformedWebhook)
	assert.NotErrorIs(t, err, connectors.ErrBadSignature)
}

func TestSecrets(t *testing.T) {
	key, err := standardwebhooks.ParseSecret("whsec_aGVsbG8=")
	require.NoError(t, err)
	assert.Equal(t, []byte("hello"), key)
	key, err = standardwebhooks.ParseSecret("hello")
	require.NoError(t, err)
	assert.Equal(t, []byte("hello"), key)

	for _, s := range []string{"", "whsec_", "whsec_not base64!"} {
		_, err := standardwebhooks.ParseSecret(s)
		assert.Error(t, err, "%q", s)
		_, err = standardwebhooks.NewVerifier([]string{s}, standardwebhooks.VerifierOptions{})
		assert.Error(t, err, "%q", s)
	}
	_, err = standardwebhooks.NewVerifier(nil, standardwebhooks.VerifierOptions{})
	assert.Error(t, err)
}

func TestFromSettings(t *testing.T) {
	ts := time.Now()
	b := []byte(body)
	accepts := func(v connectors.WebhookVerifier, secret string) bool {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		standardwebhooks.SetHeaders(r.Header, secret, "msg_"+strconv.Itoa(len(secret)), ts, b)
		_, err := v.Verify(r, b)
		return err == nil
	}

	v, err := standardwebhooks.FromSettings("crm", connectors.Settings{"webhook_secret": newSecret, "webhook_secret_previous": secret})
	require.NoError(t, err)
	assert.True(t, accepts(v, newSecret))
	assert.True(t, accepts(v, secret))
	assert.False(t, accepts(v, "another-secret"))

	v, err = standardwebhooks.FromSettings("crm", connectors.Settings{"webhook_secret": secret, "webhook_secret_previous": ""})
	require.NoError(t, err)
	assert.True(t, accepts(v, secret))

	_, err = standardwebhooks.FromSettings("my-crm", connectors.Settings{"token": "x"})
	require.EqualError(t, err, "setting webhook_secret: missing; set it to the secret the sender signs with, e.g. webhook_secret: ${MY_CRM_WEBHOOK_SECRET}")
	_, err = standardwebhooks.FromSettings("crm", connectors.Settings{"webhook_secret": ""})
	assert.ErrorContains(t, err, "setting webhook_secret: missing")
	_, err = standardwebhooks.FromSettings("crm", connectors.Settings{"webhook_secret": secret, "webhook_secret_previous": "whsec_%%"})
	assert.ErrorContains(t, err, "setting webhook_secret_previous: secret starts with whsec_ but the rest is not base64")
}
