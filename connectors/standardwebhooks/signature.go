// Package standardwebhooks implements the Standard Webhooks scheme
// (https://www.standardwebhooks.com): requests carry webhook-id, webhook-timestamp and
// webhook-signature headers, the signature being "v1," + base64(HMAC-SHA256(secret,
// id + "." + timestamp + "." + body)). Tandem verifies it for the memory connector and for
// any source without a scheme of its own, and emits it (Emitter) for the memory
// connector's changes, so the dev mode shows a real-time sync.
package standardwebhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"tandem/connectors"
)

// The scheme's headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a request's timestamp may be from the receiver's clock, either way;
// an older request is a possible replay and is refused.
const Tolerance = 5 * time.Minute

// secretPrefix marks a secret serialized as base64, as the scheme's senders hand them out.
const secretPrefix = "whsec_"

// ParseSecret returns the HMAC key of a secret: the decoded bytes of "whsec_<base64>", or
// the bytes of any other string as written.
func ParseSecret(secret string) ([]byte, error) {
	if secret == "" {
		return nil, errors.New("secret is empty")
	}
	b64, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return []byte(secret), nil
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("secret starts with %s but the rest is not base64", secretPrefix)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("secret %s has no key after the prefix", secretPrefix)
	}
	return key, nil
}

// Sign returns the webhook-signature header value ("v1,<base64>") of a request, for
// senders and tests. A secret that ParseSecret rejects is used as written; NewVerifier
// rejects it, so such a mistake surfaces when the receiver is configured.
func Sign(secret, id string, ts time.Time, body []byte) string {
	key, err := ParseSecret(secret)
	if err != nil {
		key = []byte(secret)
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, strconv.FormatInt(ts.Unix(), 10), body))
}

// SetHeaders sets the three headers of a request signed with secret at ts.
func SetHeaders(h http.Header, secret, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Sign(secret, id, ts, body))
}

func mac(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// checkSignature verifies h's signature of body against each key and returns the
// request's webhook-id. Any signature of the header may match any key: the sender may
// sign with several secrets while it rotates, and the receiver may hold the previous
// secret while it does.
func checkSignature(h http.Header, body []byte, keys [][]byte, now time.Time) (string, error) {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	for _, hv := range []struct{ name, value string }{{HeaderID, id}, {HeaderTimestamp, ts}, {HeaderSignature, sigs}} {
		if hv.value == "" {
			return "", fmt.Errorf("%w: missing %s header", connectors.ErrBadSignature, hv.name)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: %s %q is not unix seconds", connectors.ErrBadSignature, HeaderTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return "", fmt.Errorf("%w: timestamp outside the 5-minute window", connectors.ErrBadSignature)
	}
	var given [][]byte
	for _, s := range strings.Fields(sigs) {
		b64, ok := strings.CutPrefix(s, "v1,")
		if !ok {
			continue // another version of the scheme (v1a is asymmetric): not ours to check
		}
		if sig, err := base64.StdEncoding.DecodeString(b64); err == nil {
			given = append(given, sig)
		}
	}
	for _, key := range keys {
		want := mac(key, id, ts, body)
		for _, sig := range given {
			if hmac.Equal(sig, want) {
				return id, nil
			}
		}
	}
	return "", fmt.Errorf("%w: no signature matches", connectors.ErrBadSignature)
}
