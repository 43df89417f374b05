package httpx

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Tokens is a connection's source of OAuth 2.0 access tokens: an oauth2.ReuseTokenSource
// over the fetch (so calls share one token), renewed a tenth of the token's lifetime (at
// most a minute) before it expires by the connection's clock, and when the service
// refuses it (Renew, after a 401). It authenticates requests with "Authorization:
// Bearer" (it is a Renewer). One call at a time asks the ReuseTokenSource, waiting for
// its turn as long as its context allows, and a fetch runs under the context of the call
// that needed it, so a call that gives up does not leave a fetch behind.
//
// The lifetime is the answer's expires_in, else the default given; an answer without
// either (Salesforce says nothing of expiry) keeps its token until it is refused.
type Tokens struct {
	fetch FetchFunc
	now   func() time.Time
	// defaultLifetime applies when the answer has no expires_in; zero: until refused.
	defaultLifetime time.Duration

	turn chan struct{} // held while asking src
	ctx  context.Context

	mu        sync.Mutex
	src       oauth2.TokenSource
	last      string    // the access token src holds
	refreshAt time.Time // by now; zero: never
}

// FetchFunc fetches a token.
type FetchFunc func(ctx context.Context) (*oauth2.Token, error)

// NewTokens returns tokens fetched by fetch. now is the clock expiry is measured by
// (nil: time.Now); defaultLifetime applies to answers without expires_in (0: the token
// lasts until the service refuses it).
func NewTokens(fetch FetchFunc, now func() time.Time, defaultLifetime time.Duration) *Tokens {
	if now == nil {
		now = time.Now
	}
	t := &Tokens{fetch: fetch, now: now, defaultLifetime: defaultLifetime, turn: make(chan struct{}, 1)}
	t.renewLocked()
	return t
}

type tokenFunc func() (*oauth2.Token, error)

func (f tokenFunc) Token() (*oauth2.Token, error) { return f() }

// Token returns a token that is not about to expire, fetching one when needed.
func (t *Tokens) Token(ctx context.Context) (*oauth2.Token, error) {
	select {
	case t.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-t.turn }()
	t.ctx = ctx
	t.mu.Lock()
	if !t.refreshAt.IsZero() && !t.now().Before(t.refreshAt) {
		t.renewLocked()
	}
	src := t.src
	t.mu.Unlock()
	return src.Token()
}

// fetchOne fetches a token (under the turn's context) and notes when to renew it. The
// token handed to the ReuseTokenSource has no Expiry: the connection's clock, not
// oauth2's, decides.
func (t *Tokens) fetchOne() (*oauth2.Token, error) {
	start := t.now()
	tok, err := t.fetch(t.ctx)
	if err != nil {
		return nil, err
	}
	life := t.defaultLifetime
	if n := expiresIn(tok); n > 0 {
		life = n
	}
	t.mu.Lock()
	t.last = tok.AccessToken
	t.refreshAt = time.Time{}
	if life > 0 {
		t.refreshAt = start.Add(life - min(life/10, time.Minute))
	}
	t.mu.Unlock()
	out := *tok
	out.Expiry = time.Time{}
	return &out, nil
}

// expiresIn reads the answer's expires_in, a number or a string of seconds [INF: NetSuite
// is not documented to send either].
func expiresIn(tok *oauth2.Token) time.Duration {
	switch v := tok.Extra("expires_in").(type) {
	case float64:
		return time.Duration(v) * time.Second
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			return time.Duration(n) * time.Second
		}
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return time.Duration(n) * time.Second
		}
	}
	return 0
}

func (t *Tokens) renewLocked() {
	t.src = oauth2.ReuseTokenSource(nil, oauth2.TokenSource(tokenFunc(t.fetchOne)))
	t.refreshAt, t.last = time.Time{}, ""
}

// Invalidate drops token after the service refused it, unless another call has already
// replaced it.
func (t *Tokens) Invalidate(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == token {
		t.renewLocked()
	}
}

// Authorize implements Authorizer.
func (t *Tokens) Authorize(r *http.Request) error {
	tok, err := t.Token(r.Context())
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return nil
}

// Renew implements Renewer: the token r carried is dropped.
func (t *Tokens) Renew(r *http.Request) {
	const prefix = "Bearer "
	if h := r.Header.Get("Authorization"); len(h) > len(prefix) {
		t.Invalidate(h[len(prefix):])
	}
}

// ClientCredentials fetches tokens with a client credentials request (RFC 6749 §4.4,
// through golang.org/x/oauth2/clientcredentials) sent by hc. conf is called for each
// fetch, so a grant whose parameters change (a signed assertion with its own expiry)
// gets fresh ones; its EndpointParams may set grant_type to another grant taking the
// same form (the JWT bearer grant, RFC 7523).
func ClientCredentials(hc *http.Client, conf func() (*clientcredentials.Config, error)) FetchFunc {
	return func(ctx context.Context) (*oauth2.Token, error) {
		cfg, err := conf()
		if err != nil {
			return nil, err
		}
		if cfg.AuthStyle == oauth2.AuthStyleAutoDetect {
			cfg.AuthStyle = oauth2.AuthStyleInParams
		}
		return cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
	}
}

// SignJWT returns claims signed with key by method (golang-jwt), with header kid when
// kid is not empty.
func SignJWT(method jwt.SigningMethod, key crypto.Signer, kid string, claims jwt.MapClaims) (string, error) {
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("signing the JWT assertion: %w", err)
	}
	return s, nil
}

// TokenError describes a token endpoint's refusal: its HTTP status (0 when the request
// did not get an answer) and the OAuth error and description, or a snippet of its body.
func TokenError(err error) (status int, reason string) {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return 0, err.Error()
	}
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	code, desc := re.ErrorCode, re.ErrorDescription
	if code == "" {
		// oauth2 reads the error from a JSON body only when it is labelled JSON.
		var e struct {
			Code string `json:"error"`
			Desc string `json:"error_description"`
		}
		if json.Unmarshal(re.Body, &e) == nil {
			code, desc = e.Code, e.Desc
		}
	}
	reason = code
	if desc != "" {
		reason += ": " + desc
	}
	if reason == "" {
		reason = Snippet(re.Body)
		if re.Response != nil {
			reason = re.Response.Status + ": " + reason
		}
	}
	return status, reason
}
