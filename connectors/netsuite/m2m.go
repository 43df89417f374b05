package netsuite

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"tandem/connectors"
)

// OAuth 2.0 machine-to-machine [doc: Oracle section_162755359851, section_162790605110]:
// POST /services/rest/auth/oauth2/v1/token with grant_type=client_credentials,
// client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer and
// client_assertion, a JWT whose header has typ JWT, alg PS256/384/512 or ES256/384/512 and
// kid = the certificate id, and whose payload has iss = client id, scope, aud = the token
// URL, iat and exp at most 60 minutes after iat. The answer is a bearer token.
//
// The JWT is signed with github.com/golang-jwt/jwt/v5: RSA-PSS and ECDSA's fixed-width
// r||s encoding are easy to get subtly wrong by hand, and the fake verifies with the same
// well-tested code path a real server would accept.

const (
	tokenPath         = "/auth/oauth2/v1/token"
	assertionType     = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	assertionLifetime = 5 * time.Minute // well under the 60 minutes NetSuite allows
	// defaultTokenLifetime is assumed when the answer has no expires_in: NetSuite's
	// access tokens last 60 minutes [3p].
	defaultTokenLifetime = time.Hour
)

// m2mSource fetches bearer tokens and keeps the current one until shortly before it
// expires. One fetch runs at a time; callers arriving meanwhile wait for its token.
type m2mSource struct {
	c        *Connector
	creds    M2MCredentials
	method   jwt.SigningMethod
	tokenURL string

	lock chan struct{} // held while fetching; a channel so waiting honours ctx

	mu      sync.Mutex
	token   string
	refresh time.Time // fetch a new token from then on
}

func newM2MSource(c *Connector, creds M2MCredentials, tokenURL string) (*m2mSource, error) {
	method, err := jwtMethod(creds.PrivateKey)
	if err != nil {
		return nil, err
	}
	return &m2mSource{c: c, creds: creds, method: method, tokenURL: tokenURL, lock: make(chan struct{}, 1)}, nil
}

// jwtMethod picks the assertion's algorithm from the key: PS256 for RSA (NetSuite takes
// PS256/384/512, not RS256), ES256/384/512 for EC keys by curve.
func jwtMethod(key crypto.Signer) (jwt.SigningMethod, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return jwt.SigningMethodPS256, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return jwt.SigningMethodES256, nil
		case elliptic.P384():
			return jwt.SigningMethodES384, nil
		case elliptic.P521():
			return jwt.SigningMethodES512, nil
		}
		return nil, fmt.Errorf("EC key on curve %s: NetSuite takes P-256, P-384 or P-521", k.Curve.Params().Name)
	default:
		return nil, fmt.Errorf("a %T key cannot sign NetSuite's assertions (want RSA or EC)", key)
	}
}

// get returns a token that is not about to expire, fetching one when needed.
func (m *m2mSource) get(ctx context.Context) (string, error) {
	if tok := m.current(); tok != "" {
		return tok, nil
	}
	select {
	case m.lock <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-m.lock }()
	if tok := m.current(); tok != "" { // fetched while we waited
		return tok, nil
	}
	tok, lifetime, err := m.fetch(ctx)
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	m.token = tok
	// Refresh a tenth of the lifetime (at most a minute) early, so a token never
	// expires between our check and NetSuite's.
	m.refresh = m.c.now().Add(lifetime - min(lifetime/10, time.Minute))
	m.mu.Unlock()
	return tok, nil
}

func (m *m2mSource) current() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.token != "" && m.c.now().Before(m.refresh) {
		return m.token
	}
	return ""
}

// invalidate drops tok after NetSuite refused it, unless another caller already
// replaced it.
func (m *m2mSource) invalidate(tok string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.token == tok {
		m.token = ""
	}
}

// assertion returns a signed client assertion.
func (m *m2mSource) assertion() (string, error) {
	now := m.c.now()
	claims := jwt.MapClaims{
		"iss":   m.creds.ClientID,
		"scope": m.creds.Scopes,
		"aud":   m.tokenURL,
		"iat":   now.Unix(),
		"exp":   now.Add(assertionLifetime).Unix(),
	}
	tok := jwt.NewWithClaims(m.method, claims)
	tok.Header["kid"] = m.creds.CertificateID // typ JWT is set by the library
	return tok.SignedString(m.creds.PrivateKey)
}

// fetch asks the token endpoint for a token. The request counts against the
// concurrency limit like any other.
func (m *m2mSource) fetch(ctx context.Context) (string, time.Duration, error) {
	assertion, err := m.assertion()
	if err != nil {
		return "", 0, fmt.Errorf("netsuite m2m: sign the client assertion: %w", err)
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {assertionType},
		"client_assertion":      {assertion},
	}
	u, err := url.Parse(m.tokenURL)
	if err != nil {
		return "", 0, err
	}
	for attempt := 0; ; attempt++ {
		resp, err := m.c.send(ctx, http.MethodPost, u, []byte(form.Encode()), "application/x-www-form-urlencoded", nil, nil)
		if err != nil {
			return "", 0, fmt.Errorf("netsuite m2m token: %w", err)
		}
		if resp.status == http.StatusTooManyRequests && attempt < m.c.cfg.RateRetries {
			if err := sleep(ctx, m.c.retryAfter(resp, attempt)); err != nil {
				return "", 0, fmt.Errorf("netsuite m2m token: %w", err)
			}
			continue
		}
		return m.parse(resp, attempt)
	}
}

func (m *m2mSource) parse(resp *response, attempt int) (string, time.Duration, error) {
	switch {
	case resp.status == http.StatusOK:
	case resp.status == http.StatusTooManyRequests:
		return "", 0, &connectors.RateLimitedError{RetryAfter: m.c.retryAfter(resp, attempt), Reason: "NetSuite token endpoint answered 429"}
	case resp.status == http.StatusBadRequest || resp.status == http.StatusUnauthorized || resp.status == http.StatusForbidden:
		// An OAuth error body (RFC 6749 §5.2): {"error": "invalid_grant", ...}.
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(resp.body, &e)
		reason := strings.TrimSpace(e.Error + " " + e.Description)
		if reason == "" {
			reason = summarize(resp.body)
		}
		return "", 0, &connectors.AuthError{Reason: fmt.Sprintf("NetSuite token endpoint answered %d %s (client_id, certificate_id and private_key must match the integration's certificate mapping)", resp.status, reason)}
	default:
		return "", 0, fmt.Errorf("netsuite m2m token: HTTP %d: %s", resp.status, summarize(resp.body))
	}
	var body struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(resp.body, &body); err != nil || body.AccessToken == "" {
		return "", 0, fmt.Errorf("netsuite m2m token: answer has no access_token: %s", summarize(resp.body))
	}
	// expires_in is seconds, sent as a number or a string [INF]: accept both.
	lifetime := defaultTokenLifetime
	if s := strings.Trim(string(body.ExpiresIn), `"`); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			lifetime = time.Duration(n) * time.Second
		}
	}
	return body.AccessToken, lifetime, nil
}
