package netsuite

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Token-based authentication is OAuth 1.0a (RFC 5849) with HMAC-SHA256 and the account
// id as realm [3p: npm nsoauth1, n8n's NetSuite credential]. The signing key is
// consumerSecret&tokenSecret, as RFC 5849 §3.4.2 defines it for HMAC [INF: the standard,
// which NetSuite follows for HMAC-SHA1 too]. The header carries realm, oauth_consumer_key,
// oauth_token, oauth_signature_method, oauth_timestamp, oauth_nonce, oauth_version and
// oauth_signature.
//
// The signer is written here rather than taken from a library: no maintained OAuth 1.0a
// signer is served by the module proxy this project builds from (golang.org/x/oauth2 has
// only OAuth 2.0; the one NetSuite-specific package, felipechang/suiteauth-go, is a
// small unmaintained header generator), and RFC 5849's signature is a page of code that
// oauth1_test.go checks against the RFC's own worked example. It plugs into the
// connection's httpx client as its Authorizer, signing each attempt anew.

type tbaSigner struct {
	realm string
	creds TBACredentials
	now   func() time.Time
	nonce func() string
}

// header returns the Authorization header of a request to u.
func (s *tbaSigner) header(method string, u *url.URL) string {
	params := map[string]string{
		"oauth_consumer_key":     s.creds.ConsumerKey,
		"oauth_token":            s.creds.TokenID,
		"oauth_signature_method": "HMAC-SHA256",
		"oauth_timestamp":        strconv.FormatInt(s.now().Unix(), 10),
		"oauth_nonce":            s.nonce(),
		"oauth_version":          "1.0",
	}
	base := signatureBase(method, u, nil, params)
	params["oauth_signature"] = hmacSHA256(s.creds.ConsumerSecret, s.creds.TokenSecret, base)

	var b strings.Builder
	b.WriteString(`OAuth realm="`)
	b.WriteString(s.realm)
	b.WriteString(`"`)
	for _, k := range []string{"oauth_consumer_key", "oauth_token", "oauth_signature_method",
		"oauth_timestamp", "oauth_nonce", "oauth_version", "oauth_signature"} {
		// §3.5.1: names and values are percent-encoded and quoted.
		b.WriteString(", ")
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(percentEncode(params[k]))
		b.WriteString(`"`)
	}
	return b.String()
}

// signatureBase is the signature base string of RFC 5849 §3.4.1: the upper-case method,
// the base string URI and the normalized parameters (the query's, form's and the oauth_
// ones but realm and oauth_signature), each percent-encoded and joined by "&". NetSuite's
// bodies are JSON, so form is nil for them; it is there for RFC 5849's own example.
func signatureBase(method string, u *url.URL, form url.Values, oauth map[string]string) string {
	type pair struct{ k, v string }
	var pairs []pair
	add := func(k, v string) { pairs = append(pairs, pair{percentEncode(k), percentEncode(v)}) }
	// §3.4.1.3.1: the query is decoded as application/x-www-form-urlencoded.
	query, _ := url.ParseQuery(u.RawQuery)
	for k, vs := range query {
		for _, v := range vs {
			add(k, v)
		}
	}
	for k, vs := range form {
		for _, v := range vs {
			add(k, v)
		}
	}
	for k, v := range oauth {
		if k != "realm" && k != "oauth_signature" {
			add(k, v)
		}
	}
	// §3.4.1.3.2: sorted by encoded name, then encoded value, in byte order.
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.ToUpper(method) + "&" + percentEncode(baseStringURI(u)) + "&" + percentEncode(strings.Join(parts, "&"))
}

// baseStringURI is §3.4.1.2's: lower-case scheme and host, the port only when it is not
// the scheme's default, the path as sent, no query or fragment.
func baseStringURI(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if port := u.Port(); port != "" && !(scheme == "http" && port == "80") && !(scheme == "https" && port == "443") {
		host += ":" + port
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path
}

// percentEncode is §3.6's encoding: every byte but ALPHA, DIGIT, "-", ".", "_" and "~"
// becomes %XX with upper-case hex digits.
func percentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// hmacSHA256 signs base with the key consumerSecret&tokenSecret (each percent-encoded,
// §3.4.2) and returns the signature base64-encoded.
func hmacSHA256(consumerSecret, tokenSecret, base string) string {
	mac := hmac.New(sha256.New, []byte(percentEncode(consumerSecret)+"&"+percentEncode(tokenSecret)))
	mac.Write([]byte(base))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// randomNonce returns 32 random alphanumeric characters: unique per request, as
// NetSuite refuses a nonce it has seen with the same timestamp.
func randomNonce() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		panic("netsuite: no randomness for an OAuth nonce: " + err.Error())
	}
	for i, c := range buf {
		buf[i] = alphabet[int(c)%len(alphabet)]
	}
	return string(buf)
}
