package netsuite

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2/clientcredentials"

	"tandem/connectors"
	"tandem/connectors/httpx"
)

// OAuth 2.0 machine-to-machine [doc: Oracle section_162755359851, section_162790605110]:
// POST /services/rest/auth/oauth2/v1/token with grant_type=client_credentials,
// client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer and
// client_assertion, a JWT whose header has typ JWT, alg PS256/384/512 or ES256/384/512 and
// kid = the certificate id, and whose payload has iss = client id, scope, aud = the token
// URL, iat and exp at most 60 minutes after iat. The answer is a bearer token.
//
// The request is golang.org/x/oauth2/clientcredentials' with the assertion as endpoint
// parameters, the token is kept by httpx.Tokens (oauth2.ReuseTokenSource), and the JWT is
// signed with github.com/golang-jwt/jwt/v5: RSA-PSS and ECDSA's fixed-width r||s encoding
// are easy to get subtly wrong by hand, and the fake verifies with the same well-tested
// code path a real server would accept.

const (
	tokenPath         = "/auth/oauth2/v1/token"
	assertionType     = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	assertionLifetime = 5 * time.Minute // well under the 60 minutes NetSuite allows
	// defaultTokenLifetime is assumed when the answer has no expires_in: NetSuite's
	// access tokens last 60 minutes [3p].
	defaultTokenLifetime = time.Hour
)

// newM2MTokens returns the connection's token source.
func newM2MTokens(c *Connector, creds M2MCredentials, tokenURL string) (*httpx.Tokens, error) {
	method, err := jwtMethod(creds.PrivateKey)
	if err != nil {
		return nil, err
	}
	fetch := httpx.ClientCredentials(c.http, func() (*clientcredentials.Config, error) {
		now := c.now()
		assertion, err := httpx.SignJWT(method, creds.PrivateKey, creds.CertificateID, jwt.MapClaims{
			"iss":   creds.ClientID,
			"scope": creds.Scopes,
			"aud":   tokenURL,
			"iat":   now.Unix(),
			"exp":   now.Add(assertionLifetime).Unix(),
		})
		if err != nil {
			return nil, fmt.Errorf("netsuite m2m: %w", err)
		}
		return &clientcredentials.Config{TokenURL: tokenURL, EndpointParams: url.Values{
			"client_assertion_type": {assertionType},
			"client_assertion":      {assertion},
		}}, nil
	})
	return httpx.NewTokens(fetch, c.now, defaultTokenLifetime), nil
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

// tokenError types a failed token request: 429 is a *connectors.RateLimitedError, an
// OAuth refusal (400, 401, 403: RFC 6749 §5.2's {"error": "invalid_grant", ...}) an
// *connectors.AuthError; anything else (a 5xx, a transport error) stays plain.
func tokenError(err error) error {
	status, reason := httpx.TokenError(err)
	switch status {
	case 0:
		return err
	case http.StatusTooManyRequests:
		return &connectors.RateLimitedError{RetryAfter: DefaultRetryAfter, Reason: "NetSuite token endpoint answered 429"}
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		return &connectors.AuthError{Reason: fmt.Sprintf("NetSuite token endpoint answered %d %s (client_id, certificate_id and private_key must match the integration's certificate mapping)", status, reason)}
	}
	return fmt.Errorf("netsuite m2m token: HTTP %d %s", status, reason)
}
