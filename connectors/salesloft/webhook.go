package salesloft

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"tandem/connectors"
)

// Webhook headers and the account event types [doc: webhooks/delivery-headers,
// webhooks/event-types].
const (
	HeaderEvent     = "x-salesloft-event"
	HeaderSignature = "x-salesloft-signature"

	EventAccountCreated = "account_created"
	EventAccountUpdated = "account_updated"
	EventAccountDeleted = "account_deleted"
)

// Verifier checks Salesloft's webhook signatures and parses account events. It
// implements connectors.WebhookVerifier and is safe for concurrent use.
//
// Salesloft signs the raw body only: x-salesloft-signature is hex(HMAC-SHA1(key=the
// subscription's callback_token, msg=body)). There is no timestamp header, so there is no
// replay window to check; a replayed request is caught by the event id instead.
type Verifier struct {
	keys [][]byte
}

var _ connectors.WebhookVerifier = (*Verifier)(nil)

// NewVerifier returns a verifier that accepts a signature made with any of the callback
// tokens (the current one first; the previous one too while rotating).
func NewVerifier(callbackTokens ...string) (*Verifier, error) {
	v := &Verifier{}
	for _, t := range callbackTokens {
		if t != "" {
			v.keys = append(v.keys, []byte(t))
		}
	}
	if len(v.keys) == 0 {
		return nil, fmt.Errorf("no webhook callback token given")
	}
	return v, nil
}

// WebhookFactory builds a connection's verifier from its webhook_secret (the
// subscription's callback_token) and optional webhook_secret_previous settings. It is a
// connectors.WebhookFactory; the connection's other settings are ignored.
func WebhookFactory(name string, settings connectors.Settings) (connectors.WebhookVerifier, error) {
	cur := settings[SettingWebhookSecret]
	if cur == "" {
		return nil, fmt.Errorf("setting %s: missing; set it to the callback_token of the Salesloft webhook subscription", SettingWebhookSecret)
	}
	return NewVerifier(cur, settings[SettingWebhookSecretPrevious])
}

// Sign returns the x-salesloft-signature of body under callbackToken.
func Sign(callbackToken string, body []byte) string {
	m := hmac.New(sha1.New, []byte(callbackToken))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify implements connectors.WebhookVerifier. An authentic request whose event is not
// an account event (a person_updated on the same URL) yields no events and no error, so
// Salesloft does not retry it.
func (v *Verifier) Verify(r *http.Request, body []byte) ([]connectors.WebhookEvent, error) {
	sig := strings.TrimSpace(r.Header.Get(HeaderSignature))
	if sig == "" {
		return nil, fmt.Errorf("%w: no %s header", connectors.ErrBadSignature, HeaderSignature)
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not hex", connectors.ErrBadSignature, HeaderSignature)
	}
	ok := false
	for _, key := range v.keys {
		m := hmac.New(sha1.New, key)
		m.Write(body)
		if hmac.Equal(got, m.Sum(nil)) {
			ok = true
		}
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s does not match the body (check the callback token in %s)",
			connectors.ErrBadSignature, HeaderSignature, SettingWebhookSecret)
	}
	ev, isAccount, err := ParseEvent(r.Header.Get(HeaderEvent), body)
	if err != nil {
		return nil, err
	}
	if !isAccount {
		return nil, nil
	}
	return []connectors.WebhookEvent{ev}, nil
}

// ParseEvent parses one webhook: event is the x-salesloft-event header, body the account
// object itself. isAccount is false for events of other objects. Errors wrap
// connectors.ErrMalformedWebhook.
//
// Salesloft sends no event id, so the id is derived from what the event says:
// "<event>:<account id>:<updated_at>". A redelivery of the same change (Salesloft's
// retries, or a replayed request) repeats it and is dropped as a duplicate; any new change
// moves updated_at and gets a new id.
func ParseEvent(event string, body []byte) (ev connectors.WebhookEvent, isAccount bool, err error) {
	bad := func(format string, args ...any) (connectors.WebhookEvent, bool, error) {
		return connectors.WebhookEvent{}, false, fmt.Errorf("%w: %s", connectors.ErrMalformedWebhook, fmt.Sprintf(format, args...))
	}
	event = strings.TrimSpace(event)
	var kind string
	switch event {
	case EventAccountCreated:
		kind = "created"
	case EventAccountUpdated:
		kind = "updated"
	case EventAccountDeleted:
		kind = "deleted"
	case "":
		return bad("no %s header", HeaderEvent)
	default:
		return connectors.WebhookEvent{}, false, nil
	}
	r, err := decodeAccount(body)
	if err != nil {
		return bad("%s body: %v", event, err)
	}
	stamp := ""
	if !r.UpdatedAt.IsZero() {
		stamp = formatTime(r.UpdatedAt)
	}
	return connectors.WebhookEvent{
		ID:         event + ":" + r.ID + ":" + stamp,
		Object:     Object,
		RecordID:   r.ID,
		Kind:       kind,
		OccurredAt: r.UpdatedAt,
	}, true, nil
}
