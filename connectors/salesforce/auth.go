package salesforce

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"tandem/connectors"
)

// GrantTypeJWTBearer is the grant_type of the JWT bearer flow [doc].
const GrantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// jwtLifetime is the exp of an assertion: Salesforce accepts an exp at most three minutes
// ahead [doc: remoteaccess_oauth_jwt_flow].
const jwtLifetime = 3 * time.Minute

// tokenAnswer is the token endpoint's answer [doc; api-notes 3].
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	InstanceURL string `json:"instance_url"`
	ID          string `json:"id"`
	TokenType   string `json:"token_type"`
	IssuedAt    string `json:"issued_at"`
	Signature   string `json:"signature"`
	Scope       string `json:"scope"`
	// OAuth errors: {"error":"invalid_client","error_description":"invalid client credentials"}.
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// session returns the current token and instance URL, fetching a token on first use.
func (c *Client) session(ctx context.Context) (token, instance string, err error) {
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if c.token == "" {
		if err := c.fetchTokenLocked(ctx); err != nil {
			return "", "", err
		}
	}
	return c.token, c.instance, nil
}

// refresh replaces the token stale that Salesforce refused. When another call has already
// replaced it, the newer token is returned without a second fetch.
func (c *Client) refresh(ctx context.Context, stale string) (token, instance string, err error) {
	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if c.token == "" || c.token == stale {
		c.token = ""
		if err := c.fetchTokenLocked(ctx); err != nil {
			return "", "", err
		}
	}
	return c.token, c.instance, nil
}

func (c *Client) fetchTokenLocked(ctx context.Context) error {
	form := url.Values{}
	credentials := SettingClientID + " and " + SettingClientSecret
	switch c.cfg.Grant {
	case GrantJWT:
		assertion, err := c.assertion()
		if err != nil {
			return fmt.Errorf("salesforce token: %w", err)
		}
		form.Set("grant_type", GrantTypeJWTBearer)
		form.Set("assertion", assertion)
		credentials = SettingClientID + ", " + SettingUsername + " and " + SettingPrivateKey
	default:
		form.Set("grant_type", "client_credentials")
		form.Set("client_id", c.cfg.ClientID)
		form.Set("client_secret", c.cfg.ClientSecret)
	}
	endpoint := c.cfg.LoginURL + "/services/oauth2/token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("salesforce token: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("salesforce token from %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("salesforce token from %s: reading the answer: %w", endpoint, err)
	}
	var ans tokenAnswer
	_ = json.Unmarshal(body, &ans) // an unparsable body is reported by status below
	switch {
	case resp.StatusCode >= 500:
		return fmt.Errorf("salesforce token from %s: %s: %s", endpoint, resp.Status, snippet(body))
	case resp.StatusCode != http.StatusOK || ans.AccessToken == "":
		reason := ans.Error
		if ans.ErrorDescription != "" {
			reason += ": " + ans.ErrorDescription
		}
		if reason == "" {
			reason = resp.Status + ": " + snippet(body)
		}
		// The token endpoint refuses bad credentials with 400 invalid_client or
		// invalid_grant [doc: oauth errors]; nothing a retry can fix.
		return &connectors.AuthError{Reason: fmt.Sprintf("Salesforce token endpoint %s refused the %s grant: %s (check %s)",
			endpoint, c.cfg.Grant, reason, credentials)}
	}
	instance := strings.TrimRight(ans.InstanceURL, "/")
	if c.cfg.InstanceURL != "" {
		instance = c.cfg.InstanceURL
	}
	if instance == "" {
		return fmt.Errorf("salesforce token from %s: the answer has no instance_url (set %s)", endpoint, SettingInstanceURL)
	}
	c.token, c.instance = ans.AccessToken, instance
	return nil
}

// assertion returns the signed JWT of the bearer grant: RS256, iss = client id, sub =
// username, aud = login URL (or jwt_audience), exp three minutes ahead [doc].
func (c *Client) assertion() (string, error) {
	return SignJWT(c.cfg.PrivateKey, map[string]any{
		"iss": c.cfg.ClientID,
		"sub": c.cfg.Username,
		"aud": c.cfg.JWTAudience,
		"exp": c.cfg.Now().Add(jwtLifetime).Unix(),
	})
}

// SignJWT returns the compact RS256 JWS of claims. The bearer grant needs nothing more of
// JWT than this, so it is written here on the standard library rather than with a JWT
// dependency.
func SignJWT(key *rsa.PrivateKey, claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwt claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signingInput := enc.EncodeToString(header) + "." + enc.EncodeToString(payload)
	sum := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("signing the jwt assertion: %w", err)
	}
	return signingInput + "." + enc.EncodeToString(sig), nil
}
