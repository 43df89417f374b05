package hubspot

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tandem/connectors"
)

// HubSpot's webhook headers.
const (
	HeaderSignatureV3      = "X-HubSpot-Signature-v3"
	HeaderRequestTimestamp = "X-HubSpot-Request-Timestamp"
	HeaderSignature        = "X-HubSpot-Signature"
	HeaderSignatureVersion = "X-HubSpot-Signature-Version"
)

// MaxWebhookAge is how old a v3 request's timestamp may be [doc: hubspot-api-nodejs
// signature.ts rejects now - timestamp > 300000 ms]. A timestamp as far in the future is
// refused too (a clock that far off is as suspect).
const MaxWebhookAge = 5 * time.Minute

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Secrets are the app's client secrets: the current one first, the previous one
	// while it is rotated.
	Secrets []string
	// URL, when set, is the webhook target URL as configured in the HubSpot app, used
	// for the v3 and v2 signatures instead of the URL rebuilt from the request.
	URL string
	// RequireV3 refuses requests that carry only a v1 or v2 signature.
	RequireV3 bool
	// Now is the clock the timestamp is checked against; default time.Now.
	Now func() time.Time
}

// Verifier checks HubSpot's webhook signatures and parses the event arrays. It implements
// connectors.WebhookVerifier and is safe for concurrent use.
//
// A request with an X-HubSpot-Signature-v3 header is checked by v3 only:
// base64(HMAC-SHA256(client secret, METHOD + URI + body + X-HubSpot-Request-Timestamp)),
// the timestamp (epoch ms) within MaxWebhookAge [doc: hubspot-api-nodejs signature.ts].
// Without it, X-HubSpot-Signature-Version says the scheme of X-HubSpot-Signature: v1 is
// hex(SHA-256(secret + body)), v2 hex(SHA-256(secret + METHOD + URI + body)) [doc:
// validating-requests]. CRM object webhooks carry both v1 and v3 headers; v3 wins
// because it has a timestamp.
type Verifier struct {
	secrets   [][]byte
	url       string
	requireV3 bool
	now       func() time.Time
}

var _ connectors.WebhookVerifier = (*Verifier)(nil)

// NewVerifier returns a verifier for cfg.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	v := &Verifier{url: cfg.URL, requireV3: cfg.RequireV3, now: cfg.Now}
	for _, s := range cfg.Secrets {
		if s != "" {
			v.secrets = append(v.secrets, []byte(s))
		}
	}
	if len(v.secrets) == 0 {
		return nil, fmt.Errorf("no client secret given")
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// WebhookFactory builds a hubspot connection's webhook verifier from its settings
// (webhook_secret, and optionally webhook_secret_previous, webhook_url and
// webhook_require_v3; the connection's other settings are left alone). It is a
// connectors.WebhookFactory.
func WebhookFactory(name string, settings connectors.Settings) (connectors.WebhookVerifier, error) {
	secret := settings[SettingWebhookSecret]
	if secret == "" {
		return nil, fmt.Errorf("setting %s: missing; set it to the HubSpot app's client secret, e.g. %s: ${HUBSPOT_CLIENT_SECRET}",
			SettingWebhookSecret, SettingWebhookSecret)
	}
	cfg := VerifierConfig{Secrets: []string{secret, settings[SettingWebhookSecretPrevious]}, URL: settings[SettingWebhookURL]}
	if cfg.URL != "" && !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("setting %s: %q is not an http(s) URL", SettingWebhookURL, cfg.URL)
	}
	if v, ok := settings[SettingWebhookRequireV3]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("setting %s: %q is not true or false", SettingWebhookRequireV3, v)
		}
		cfg.RequireV3 = b
	}
	return NewVerifier(cfg)
}

// Verify implements connectors.WebhookVerifier.
func (v *Verifier) Verify(r *http.Request, body []byte) ([]connectors.WebhookEvent, error) {
	if err := v.Authenticate(r, body); err != nil {
		return nil, err
	}
	return ParseEvents(body)
}

// Authenticate checks the request's signature; the error wraps connectors.ErrBadSignature.
func (v *Verifier) Authenticate(r *http.Request, body []byte) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", connectors.ErrBadSignature, fmt.Sprintf(format, args...))
	}
	if sig := r.Header.Get(HeaderSignatureV3); sig != "" {
		ts := r.Header.Get(HeaderRequestTimestamp)
		if ts == "" {
			return bad("missing %s header", HeaderRequestTimestamp)
		}
		ms, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return bad("%s %q is not epoch milliseconds", HeaderRequestTimestamp, ts)
		}
		if age := v.now().Sub(time.UnixMilli(ms)); age > MaxWebhookAge || age < -MaxWebhookAge {
			return bad("timestamp is %s from now, outside the 5-minute window (a replay, or a clock far off)", age.Round(time.Second))
		}
		given, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			return bad("%s is not base64", HeaderSignatureV3)
		}
		uri := v.uri(r)
		for _, key := range v.secrets {
			if hmac.Equal(given, SignatureV3(key, r.Method, uri, body, ts)) {
				return nil
			}
		}
		return bad("v3 signature does not match for URI %s (if a proxy changes the URL HubSpot calls, set %s to it)", uri, SettingWebhookURL)
	}
	if v.requireV3 {
		return bad("missing %s header (webhook_require_v3 is set)", HeaderSignatureV3)
	}
	sig := r.Header.Get(HeaderSignature)
	if sig == "" {
		return bad("missing %s and %s headers", HeaderSignatureV3, HeaderSignature)
	}
	given, err := hex.DecodeString(strings.ToLower(strings.TrimSpace(sig)))
	if err != nil {
		return bad("%s is not hex", HeaderSignature)
	}
	version := strings.ToLower(strings.TrimSpace(r.Header.Get(HeaderSignatureVersion)))
	for _, key := range v.secrets {
		var want []byte
		switch version {
		case "v1", "":
			want = SignatureV1(key, body)
		case "v2":
			want = SignatureV2(key, r.Method, v.uri(r), body)
		default:
			return bad("unknown %s %q", HeaderSignatureVersion, version)
		}
		if subtle.ConstantTimeCompare(given, want) == 1 {
			return nil
		}
	}
	if version == "" {
		version = "v1"
	}
	return bad("%s signature does not match", version)
}

// SignatureV3 is the v3 signature of a request: HMAC-SHA256 keyed with the client secret
// of method + uri + body + timestamp (the X-HubSpot-Request-Timestamp value as sent).
// Base64 of it is the X-HubSpot-Signature-v3 header.
func SignatureV3(secret []byte, method, uri string, body []byte, timestamp string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(method))
	m.Write([]byte(uri))
	m.Write(body)
	m.Write([]byte(timestamp))
	return m.Sum(nil)
}

// SignatureV1 is SHA-256 of secret + body; hex of it is a v1 X-HubSpot-Signature.
func SignatureV1(secret, body []byte) []byte {
	h := sha256.New()
	h.Write(secret)
	h.Write(body)
	return h.Sum(nil)
}

// SignatureV2 is SHA-256 of secret + method + uri + body; hex of it is a v2
// X-HubSpot-Signature.
func SignatureV2(secret []byte, method, uri string, body []byte) []byte {
	h := sha256.New()
	h.Write(secret)
	h.Write([]byte(method))
	h.Write([]byte(uri))
	h.Write(body)
	return h.Sum(nil)
}

// uri is the URL HubSpot called, as it signs it: the configured webhook_url when set,
// else rebuilt from the request (behind an ingress): the scheme from X-Forwarded-Proto or
// the connection's TLS, the host from X-Forwarded-Host or Host, then the path and query as
// the request line carried them. HubSpot decodes a few percent-escapes before signing
// (DecodeURI).
func (v *Verifier) uri(r *http.Request) string {
	if v.url != "" {
		return DecodeURI(v.url)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p != "" {
		scheme = strings.ToLower(p)
	}
	host := r.Host
	if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
		host = h
	}
	path := r.RequestURI
	if path == "" || !strings.HasPrefix(path, "/") {
		path = r.URL.RequestURI()
	}
	return DecodeURI(scheme + "://" + host + path)
}

func firstValue(h string) string {
	first, _, _ := strings.Cut(h, ",")
	return strings.TrimSpace(first)
}

// uriEscapes are the escapes HubSpot decodes in the URI before signing with v3 [3p code
// citing HubSpot's validating-requests doc].
var uriEscapes = strings.NewReplacer(
	"%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$", "%27", "'",
	"%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";",
	"%3a", ":", "%2f", "/", "%3f", "?", "%2a", "*", "%2c", ",", "%3b", ";",
)

// DecodeURI decodes the percent-escapes HubSpot decodes before signing a URI: %3A %2F %3F
// %40 %21 %24 %27 %28 %29 %2A %2C %3B (either case of hex digit); others stay.
func DecodeURI(uri string) string { return uriEscapes.Replace(uri) }

// webhookEvent is one event of a webhook body [doc: v1-request-validation example].
type webhookEvent struct {
	EventID          json.Number `json:"eventId"`
	SubscriptionID   json.Number `json:"subscriptionId"`
	PortalID         json.Number `json:"portalId"`
	AppID            json.Number `json:"appId"`
	OccurredAt       json.Number `json:"occurredAt"`
	SubscriptionType string      `json:"subscriptionType"`
	AttemptNumber    json.Number `json:"attemptNumber"`
	ObjectID         json.Number `json:"objectId"`
	ObjectTypeID     string      `json:"objectTypeId"`
	ChangeSource     string      `json:"changeSource"`
	PropertyName     string      `json:"propertyName"`
}

// objectTypeIDs name the objects of the generic "object.*" subscriptions.
var objectTypeIDs = map[string]string{"0-1": "contacts", "0-2": "companies", "0-3": "deals", "0-5": "tickets"}

// ParseEvents parses a webhook body, a JSON array of events, into connectors.WebhookEvents:
// ID is eventId; Object is the plural of subscriptionType's object ("company.creation" ->
// "companies", "contact.*" -> "contacts"; "object.*" by objectTypeId); RecordID is
// objectId; Kind is "created" for creation and restore, "deleted" for deletion and
// privacyDeletion, and "updated" for everything else (propertyChange, merge,
// associationChange: the receiver reads the record fresh anyway); OccurredAt is
// occurredAt (epoch ms). Errors wrap connectors.ErrMalformedWebhook.
func ParseEvents(body []byte) ([]connectors.WebhookEvent, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", connectors.ErrMalformedWebhook, fmt.Sprintf(format, args...))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var events []webhookEvent
	if err := dec.Decode(&events); err != nil {
		return nil, bad("not a JSON array of HubSpot events: %v", err)
	}
	out := make([]connectors.WebhookEvent, 0, len(events))
	for i, e := range events {
		if e.EventID == "" {
			return nil, bad("event %d has no eventId", i)
		}
		if e.ObjectID == "" {
			return nil, bad("event %s has no objectId", e.EventID)
		}
		typ, action, ok := strings.Cut(e.SubscriptionType, ".")
		if !ok || typ == "" || action == "" {
			return nil, bad("event %s: subscriptionType %q is not <object>.<action>", e.EventID, e.SubscriptionType)
		}
		object := plural(typ)
		if typ == "object" {
			if object = objectTypeIDs[e.ObjectTypeID]; object == "" {
				object = "objects/" + e.ObjectTypeID
			}
		}
		ev := connectors.WebhookEvent{ID: e.EventID.String(), Object: object, RecordID: e.ObjectID.String(), Kind: kind(action)}
		if e.OccurredAt != "" {
			ms, err := e.OccurredAt.Int64()
			if err != nil {
				return nil, bad("event %s: occurredAt %q is not epoch milliseconds", e.EventID, e.OccurredAt)
			}
			ev.OccurredAt = time.UnixMilli(ms).UTC()
		}
		out = append(out, ev)
	}
	return out, nil
}

func plural(object string) string {
	if strings.HasSuffix(object, "y") {
		return strings.TrimSuffix(object, "y") + "ies"
	}
	return object + "s"
}

func kind(action string) string {
	switch action {
	case "creation", "restore":
		return "created"
	case "deletion", "privacyDeletion":
		return "deleted"
	default:
		return "updated"
	}
}
