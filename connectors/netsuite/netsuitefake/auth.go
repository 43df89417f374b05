package netsuitefake

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// M2MClient is an OAuth 2.0 client credentials (machine-to-machine) mapping: the
// integration's client id and the certificate uploaded for it.
type M2MClient struct {
	ClientID      string
	CertificateID string
	// PublicKey is the certificate's key (*rsa.PublicKey or *ecdsa.PublicKey).
	PublicKey crypto.PublicKey
}

// tbaWindow is how far a TBA timestamp may be from the server's clock [INF: NetSuite
// rejects stale timestamps; the exact window is not documented].
const tbaWindow = 5 * time.Minute

// authed wraps a handler with NetSuite's authentication: an OAuth 1.0a header (TBA) or
// a bearer token (M2M). Anything else is 401 INVALID_LOGIN.
func (s *Server) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var err error
		h := r.Header.Get("Authorization")
		switch {
		case strings.HasPrefix(h, "OAuth "):
			err = s.checkTBA(r, h)
		case strings.HasPrefix(h, "Bearer "):
			err = s.checkBearer(strings.TrimPrefix(h, "Bearer "))
		default:
			err = errors.New("no OAuth or Bearer Authorization header")
		}
		if err != nil {
			s.mu.Lock()
			s.stats.AuthFailures++
			s.mu.Unlock()
			w.Header().Set("X-Fake-Auth-Error", err.Error()) // the fake's own hint; NetSuite says no more than INVALID_LOGIN
			invalidLogin(w)
			return
		}
		next(w, r)
	}
}

// checkTBA verifies an OAuth 1.0a request: the signature is recomputed per RFC 5849
// from the request as received.
func (s *Server) checkTBA(r *http.Request, header string) error {
	creds := s.opts.TBA
	if creds == nil {
		return errors.New("token-based authentication is not enabled")
	}
	params := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(header, "OAuth "), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("malformed OAuth parameter %q", part)
		}
		v, err := url.PathUnescape(strings.Trim(v, `"`))
		if err != nil {
			return fmt.Errorf("OAuth parameter %s: %w", k, err)
		}
		params[k] = v
	}
	switch {
	case !strings.EqualFold(params["realm"], s.opts.AccountID):
		return fmt.Errorf("realm %q is not the account %s", params["realm"], s.opts.AccountID)
	case params["oauth_signature_method"] != "HMAC-SHA256":
		return fmt.Errorf("signature method %q is not HMAC-SHA256", params["oauth_signature_method"])
	case params["oauth_consumer_key"] != creds.ConsumerKey:
		return errors.New("unknown consumer key")
	case params["oauth_token"] != creds.TokenID:
		return errors.New("unknown token")
	case params["oauth_version"] != "" && params["oauth_version"] != "1.0":
		return fmt.Errorf("oauth_version %q is not 1.0", params["oauth_version"])
	case params["oauth_nonce"] == "":
		return errors.New("no nonce")
	}
	ts, err := strconv.ParseInt(params["oauth_timestamp"], 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q is not a number", params["oauth_timestamp"])
	}
	now := s.opts.Now()
	if d := now.Sub(time.Unix(ts, 0)); d > tbaWindow || d < -tbaWindow {
		return fmt.Errorf("timestamp %d is %s from the server's clock", ts, d)
	}

	want := s.tbaSignature(r, params, creds)
	got, err := base64.StdEncoding.DecodeString(params["oauth_signature"])
	if err != nil || !hmac.Equal(got, want) {
		return errors.New("signature does not match")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	nonceKey := params["oauth_nonce"] + "/" + params["oauth_timestamp"]
	if _, used := s.nonces[nonceKey]; used {
		return errors.New("nonce used before")
	}
	for k, at := range s.nonces {
		if now.Sub(at) > 2*tbaWindow {
			delete(s.nonces, k)
		}
	}
	s.nonces[nonceKey] = now
	return nil
}

// tbaSignature is the HMAC-SHA256 of the request's signature base string (RFC 5849
// §3.4.1) with the key consumerSecret&tokenSecret (§3.4.2).
func (s *Server) tbaSignature(r *http.Request, oauth map[string]string, creds *TBACredentials) []byte {
	var pairs [][2]string
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			pairs = append(pairs, [2]string{rfc3986(k), rfc3986(v)})
		}
	}
	for k, v := range oauth {
		if k != "realm" && k != "oauth_signature" {
			pairs = append(pairs, [2]string{rfc3986(k), rfc3986(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] == pairs[j][0] {
			return pairs[i][1] < pairs[j][1]
		}
		return pairs[i][0] < pairs[j][0]
	})
	joined := make([]string, len(pairs))
	for i, p := range pairs {
		joined[i] = p[0] + "=" + p[1]
	}

	base, _ := url.Parse(s.baseURL(r))
	host := strings.ToLower(base.Host)
	switch {
	case base.Scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	case base.Scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	}
	uri := strings.ToLower(base.Scheme) + "://" + host + r.URL.EscapedPath()

	text := r.Method + "&" + rfc3986(uri) + "&" + rfc3986(strings.Join(joined, "&"))
	mac := hmac.New(sha256.New, []byte(rfc3986(creds.ConsumerSecret)+"&"+rfc3986(creds.TokenSecret)))
	mac.Write([]byte(text))
	return mac.Sum(nil)
}

// rfc3986 percent-encodes all but the unreserved characters. url.QueryEscape does the
// same except for writing a space as "+".
func rfc3986(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func (s *Server) checkBearer(token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[token]
	switch {
	case !ok:
		return errors.New("unknown bearer token")
	case !s.opts.Now().Before(exp):
		return errors.New("bearer token expired")
	}
	return nil
}

// RevokeTokens forgets every issued bearer token, so the next request with one is 401.
func (s *Server) RevokeTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]time.Time{}
}

// token is the OAuth 2.0 token endpoint for client credentials with a JWT assertion.
// Errors are RFC 6749 §5.2 bodies: {"error": "invalid_client"} and the like.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	fail := func(code, why string) {
		s.mu.Lock()
		s.stats.AuthFailures++
		s.mu.Unlock()
		status := http.StatusBadRequest
		if code == "invalid_client" {
			status = http.StatusUnauthorized
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, "{\"error\":%q,\"error_description\":%q}\n", code, why)
	}
	if err := r.ParseForm(); err != nil {
		fail("invalid_request", err.Error())
		return
	}
	switch {
	case s.opts.M2M == nil:
		fail("unauthorized_client", "machine-to-machine authentication is not enabled")
		return
	case r.PostForm.Get("grant_type") != "client_credentials":
		fail("unsupported_grant_type", "grant_type must be client_credentials")
		return
	case r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
		fail("invalid_request", "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		return
	}
	if err := s.checkAssertion(r, r.PostForm.Get("client_assertion")); err != nil {
		fail("invalid_client", err.Error())
		return
	}
	buf := make([]byte, 24)
	_, _ = rand.Read(buf)
	tok := "fake-" + hex.EncodeToString(buf)
	s.mu.Lock()
	s.tokens[tok] = s.opts.Now().Add(s.opts.TokenLifetime)
	s.stats.TokensIssued++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	// expires_in as a string of seconds [INF: as NetSuite's token answers are reported].
	fmt.Fprintf(w, "{\"access_token\":%q,\"expires_in\":\"%d\",\"token_type\":\"bearer\"}\n",
		tok, int(s.opts.TokenLifetime/time.Second))
}

// checkAssertion verifies the client assertion [doc: section_162755359851]: header typ
// JWT, alg PS256/384/512 or ES256/384/512, kid the certificate id; payload iss the client
// id, scope including rest_webservices, aud the token URL, iat, and exp at most 60
// minutes after iat.
func (s *Server) checkAssertion(r *http.Request, assertion string) error {
	c := s.opts.M2M
	if assertion == "" {
		return errors.New("no client_assertion")
	}
	aud := s.baseURL(r) + restPrefix + tokenPath
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(assertion, claims, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, "JWT") {
			return nil, fmt.Errorf("header typ %q is not JWT", typ)
		}
		if kid, _ := t.Header["kid"].(string); kid != c.CertificateID {
			return nil, fmt.Errorf("kid %q is not the certificate id", kid)
		}
		return c.PublicKey, nil
	},
		jwt.WithValidMethods([]string{"PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}),
		jwt.WithIssuer(c.ClientID),
		jwt.WithAudience(aud),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.opts.Now),
		jwt.WithLeeway(time.Minute),
	)
	if err != nil {
		return fmt.Errorf("client assertion: %w", err)
	}
	iat, err1 := claims.GetIssuedAt()
	exp, err2 := claims.GetExpirationTime()
	if err1 != nil || err2 != nil || iat == nil || exp == nil {
		return errors.New("client assertion needs iat and exp")
	}
	if exp.Sub(iat.Time) > time.Hour {
		return fmt.Errorf("client assertion: exp is %s after iat; at most 60 minutes", exp.Sub(iat.Time))
	}
	if !hasScope(claims["scope"], "rest_webservices") {
		return fmt.Errorf("client assertion: scope %v does not include rest_webservices", claims["scope"])
	}
	return nil
}

// hasScope reads scope as NetSuite takes it: a list, or a string of comma-separated
// scopes.
func hasScope(v any, want string) bool {
	var scopes []string
	switch x := v.(type) {
	case string:
		scopes = strings.Split(x, ",")
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				scopes = append(scopes, s)
			}
		}
	}
	for _, sc := range scopes {
		if strings.TrimSpace(sc) == want {
			return true
		}
	}
	return false
}
