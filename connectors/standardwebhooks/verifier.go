package standardwebhooks

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"tandem/connectors"
)

// Event types of the payloads Tandem emits.
const (
	TypeCreated = "record.created"
	TypeUpdated = "record.updated"
	TypeDeleted = "record.deleted"
)

// Payload is the body of a webhook Tandem emits: one event per request, its id in the
// webhook-id header.
//
//	{"type":"record.updated","timestamp":"2024-05-01T12:00:00Z",
//	 "data":{"object":"companies","id":"m-000042","updated_at":"2024-05-01T11:59:59.5Z"}}
type Payload struct {
	// Type is TypeCreated, TypeUpdated or TypeDeleted.
	Type string `json:"type"`
	// Timestamp is when the event was emitted, RFC 3339.
	Timestamp string      `json:"timestamp"`
	Data      PayloadData `json:"data"`
}

// PayloadData names the changed record.
type PayloadData struct {
	Object string `json:"object"`
	ID     string `json:"id"`
	// UpdatedAt is the record's own updated-at, RFC 3339 with nanoseconds.
	UpdatedAt string `json:"updated_at,omitempty"`
}

// Settings a connection's webhook verifier reads.
const (
	SettingSecret = "webhook_secret"
	// SettingPreviousSecret is accepted as well while the sender moves to a new secret.
	SettingPreviousSecret = "webhook_secret_previous"
)

// VerifierOptions configure a Verifier. The zero value is a usable default.
type VerifierOptions struct {
	// Now is the clock the timestamp window is checked against; default time.Now.
	Now func() time.Time
}

// Verifier checks Standard Webhooks signatures and parses Tandem's payload. It implements
// connectors.WebhookVerifier and is safe for concurrent use.
type Verifier struct {
	keys [][]byte
	now  func() time.Time
}

var _ connectors.WebhookVerifier = (*Verifier)(nil)

// NewVerifier returns a verifier that accepts a signature made with any of secrets (the
// current one first; more while a secret is rotated).
func NewVerifier(secrets []string, opts VerifierOptions) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("no webhook secret given")
	}
	v := &Verifier{now: opts.Now}
	if v.now == nil {
		v.now = time.Now
	}
	for i, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("webhook secret %d: %w", i+1, err)
		}
		v.keys = append(v.keys, key)
	}
	return v, nil
}

// FromSettings builds the verifier of connection name from its webhook_secret and optional
// webhook_secret_previous settings. It is a connectors.WebhookFactory.
func FromSettings(name string, settings connectors.Settings) (connectors.WebhookVerifier, error) {
	cur, ok := settings[SettingSecret]
	if !ok || cur == "" {
		return nil, fmt.Errorf("setting %s: missing; set it to the secret the sender signs with, e.g. %s: ${%s}",
			SettingSecret, SettingSecret, envName(name)+"_WEBHOOK_SECRET")
	}
	if _, err := ParseSecret(cur); err != nil {
		return nil, fmt.Errorf("setting %s: %w", SettingSecret, err)
	}
	secrets := []string{cur}
	if prev := settings[SettingPreviousSecret]; prev != "" {
		if _, err := ParseSecret(prev); err != nil {
			return nil, fmt.Errorf("setting %s: %w", SettingPreviousSecret, err)
		}
		secrets = append(secrets, prev)
	}
	return NewVerifier(secrets, VerifierOptions{})
}

var notEnvChar = regexp.MustCompile(`[^A-Z0-9_]+`)

func envName(connection string) string {
	return notEnvChar.ReplaceAllString(strings.ToUpper(connection), "_")
}

// Authenticate checks the request's signature and timestamp and returns its webhook-id.
// The error wraps connectors.ErrBadSignature. Verifiers of other payload formats signed
// with this scheme call it before parsing their own body.
func (v *Verifier) Authenticate(h http.Header, body []byte) (string, error) {
	return checkSignature(h, body, v.keys, v.now())
}

// Verify implements connectors.WebhookVerifier for Tandem's payload.
func (v *Verifier) Verify(r *http.Request, body []byte) ([]connectors.WebhookEvent, error) {
	id, err := v.Authenticate(r.Header, body)
	if err != nil {
		return nil, err
	}
	ev, err := ParseEvent(id, body)
	if err != nil {
		return nil, err
	}
	return []connectors.WebhookEvent{ev}, nil
}

// ParseEvent parses one of Tandem's payloads; id is the request's webhook-id. Errors wrap
// connectors.ErrMalformedWebhook.
func ParseEvent(id string, body []byte) (connectors.WebhookEvent, error) {
	bad := func(format string, args ...any) (connectors.WebhookEvent, error) {
		return connectors.WebhookEvent{}, fmt.Errorf("%w: %s", connectors.ErrMalformedWebhook, fmt.Sprintf(format, args...))
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		return bad("not a JSON event object: %v", err)
	}
	kind, ok := strings.CutPrefix(p.Type, "record.")
	if !ok || (kind != "created" && kind != "updated" && kind != "deleted") {
		return bad("unknown type %q (want %s, %s or %s)", p.Type, TypeCreated, TypeUpdated, TypeDeleted)
	}
	if p.Data.ID == "" {
		return bad("data.id is missing")
	}
	ev := connectors.WebhookEvent{ID: id, Object: p.Data.Object, RecordID: p.Data.ID, Kind: kind}
	// The record's own updated-at says best when the change happened; the emission time
	// stands in for it when a sender leaves it out.
	for _, f := range []struct{ name, value string }{{"data.updated_at", p.Data.UpdatedAt}, {"timestamp", p.Timestamp}} {
		if f.value == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f.value)
		if err != nil {
			return bad("%s %q is not an RFC 3339 time", f.name, f.value)
		}
		if ev.OccurredAt.IsZero() {
			ev.OccurredAt = t
		}
	}
	return ev, nil
}
