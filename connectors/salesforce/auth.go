package salesforce

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"tandem/connectors"
	"tandem/connectors/httpx"
)

// GrantTypeJWTBearer is the grant_type of the JWT bearer flow [doc].
const GrantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// jwtLifetime is the exp of an assertion: Salesforce accepts an exp at most three minutes
// ahead [doc: remoteaccess_oauth_jwt_flow].
const jwtLifetime = 3 * 60

// newTokens returns the connection's token source: {login_url}/services/oauth2/token by
// the client credentials grant, or by the JWT bearer grant (RFC 7523: the same form with
// grant_type and an RS256 assertion signed with golang-jwt), through
// golang.org/x/oauth2/clientcredentials, kept by httpx.Tokens. The token answer says
// nothing of expiry [doc; api-notes 3], so a token is kept until Salesforce refuses it
// (401 INVALID_SESSION_ID: sessions end by the org's timeout policy), then fetched once
// more.
func (c *Client) newTokens() *httpx.Tokens {
	endpoint := c.cfg.LoginURL + "/services/oauth2/token"
	fetch := httpx.ClientCredentials(c.http, func() (*clientcredentials.Config, error) {
		if c.cfg.Grant != GrantJWT {
			return &clientcredentials.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, TokenURL: endpoint}, nil
		}
		// iss = client id, sub = username, aud = login URL (or jwt_audience) [doc].
		assertion, err := httpx.SignJWT(jwt.SigningMethodRS256, c.cfg.PrivateKey, "", jwt.MapClaims{
			"iss": c.cfg.ClientID,
			"sub": c.cfg.Username,
			"aud": c.cfg.JWTAudience,
			"exp": c.cfg.Now().Unix() + jwtLifetime,
		})
		if err != nil {
			return nil, err
		}
		return &clientcredentials.Config{TokenURL: endpoint, EndpointParams: url.Values{
			"grant_type": {GrantTypeJWTBearer},
			"assertion":  {assertion},
		}}, nil
	})
	return httpx.NewTokens(fetch, c.cfg.Now, 0)
}

// session returns a token and the instance its API calls go to.
func (c *Client) session(ctx context.Context) (*oauth2.Token, string, error) {
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, "", c.tokenError(err)
	}
	if c.cfg.InstanceURL != "" {
		return tok, c.cfg.InstanceURL, nil
	}
	instance, _ := tok.Extra("instance_url").(string)
	if instance = strings.TrimRight(instance, "/"); instance == "" {
		return nil, "", fmt.Errorf("salesforce token from %s/services/oauth2/token: the answer has no instance_url (set %s)", c.cfg.LoginURL, SettingInstanceURL)
	}
	return tok, instance, nil
}

// tokenError types a failed token request: a refusal (the token endpoint refuses bad
// credentials with 400 invalid_client or invalid_grant [doc: oauth errors]) is an
// *connectors.AuthError, which no retry can fix; a 5xx or a transport error stays plain.
func (c *Client) tokenError(err error) error {
	endpoint := c.cfg.LoginURL + "/services/oauth2/token"
	status, reason := httpx.TokenError(err)
	switch {
	case status == 0:
		return fmt.Errorf("salesforce token from %s: %w", endpoint, err)
	case status >= 500:
		return fmt.Errorf("salesforce token from %s: %d %s", endpoint, status, reason)
	}
	credentials := SettingClientID + " and " + SettingClientSecret
	if c.cfg.Grant == GrantJWT {
		credentials = SettingClientID + ", " + SettingUsername + " and " + SettingPrivateKey
	}
	return &connectors.AuthError{Reason: fmt.Sprintf("Salesforce token endpoint %s refused the %s grant: %s (check %s)",
		endpoint, c.cfg.Grant, reason, credentials)}
}
