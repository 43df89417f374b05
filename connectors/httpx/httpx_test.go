package httpx_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"tandem/connectors"
	"tandem/connectors/httpx"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, value string
		want        time.Duration
		ok          bool
	}{
		{"seconds", "120", 2 * time.Minute, true},
		{"zero seconds", "0", 0, true},
		{"spaces", "  7 ", 7 * time.Second, true},
		{"HTTP date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"RFC 850 date", now.Add(time.Hour).Format(time.RFC850), time.Hour, true},
		{"date in the past", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"huge", "99999999999999999999", 30 * 24 * time.Hour, true},
		{"absent", "", 0, false},
		{"garbage", "soon", 0, false},
		{"negative", "-5", 0, false},
		{"fraction", "1.5", 0, false},
		{"date without zone", "2026-03-01 12:00:00", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.value != "" {
				h.Set("Retry-After", tc.value)
			}
			got, ok := httpx.RetryAfter(h, now)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

// server answers each request with the next of answers (the last one repeats) and logs
// when each arrived.
type server struct {
	*httptest.Server
	mu      sync.Mutex
	answers []func(http.ResponseWriter, *http.Request)
	at      []time.Time
	auth    []string
}

func newServer(t *testing.T, answers ...func(http.ResponseWriter, *http.Request)) *server {
	s := &server{answers: answers}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.at)
		s.at = append(s.at, time.Now())
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		s.answers[min(n, len(s.answers)-1)](w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.at...)
}

func status(code int, retryAfter string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"n":1}`))
	}
}

func TestDoBuildsTheRequest(t *testing.T) {
	var got *http.Request
	var body map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		_ = json.NewDecoder(r.Body).Decode(&body)
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	c := &httpx.Client{HTTP: srv.Client(), Base: srv.URL, Auth: httpx.Bearer("t0k")}
	resp, err := c.Do(context.Background(), httpx.Request{
		Method: http.MethodPost, URL: "/v1/things", Query: map[string][]string{"a": {"1 2"}},
		Header: http.Header{"X-Extra": {"yes"}}, JSON: map[string]int{"n": 3},
	})
	require.NoError(t, err)
	assert.True(t, resp.OK())
	var out struct{ OK bool }
	require.NoError(t, resp.Decode(&out))
	assert.True(t, out.OK)
	assert.Equal(t, "/v1/things", got.URL.Path)
	assert.Equal(t, "1 2", got.URL.Query().Get("a"))
	assert.Equal(t, "Bearer t0k", got.Header.Get("Authorization"))
	assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
	assert.Equal(t, "application/json", got.Header.Get("Accept"))
	assert.Equal(t, "yes", got.Header.Get("X-Extra"))
	assert.Equal(t, map[string]any{"n": float64(3)}, body)
}

func TestDoWaitsOutRetryAfterWithinThePolicy(t *testing.T) {
	srv := newServer(t, status(429, "1"), status(200, ""))
	c := &httpx.Client{HTTP: srv.Client(), Base: srv.URL, Gate: &httpx.Gate{}, Policy: httpx.Policy{MaxAttempts: 3}}
	resp, err := c.Do(context.Background(), httpx.Request{Method: "GET", URL: "/"})
	require.NoError(t, err)
	assert.Equal(t, 200, resp.Status)
	at := srv.requests()
	require.Len(t, at, 2)
	assert.GreaterOrEqual(t, at[1].Sub(at[0]), time.Second, "the second send waited for Retry-After")
}

func TestDoReturnsTheRateLimitAfterTheLastAttempt(t *testing.T) {
	srv := newServer(t, status(429, "0"))
	c := &httpx.Client{HTTP: srv.Client(), Base: srv.URL, Policy: httpx.Policy{MaxAttempts: 2}}
	resp, err := c.Do(context.Background(), httpx.Request{Method: "GET", URL: "/"})
	require.NoError(t, err)
	assert.Equal(t, 429, resp.Status, "the connector classifies the last answer")
	assert.Len(t, srv.requests(), 2)

	c.Policy.MaxAttempts = 1
	_, err = c.Do(context.Background(), httpx.Request{Method: "GET", URL: "/"})
	require.NoError(t, err)
	assert.Len(t, srv.requests(), 3, "one attempt: never sent again")
}

func TestDoDoesNotSleepAWaitItCannotOutlast(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policy   httpx.Policy
		deadline time.Duration
	}{
		{"over MaxWait", httpx.Policy{MaxAttempts: 3, MaxWait: time.Second}, 0},
		{"past the deadline", httpx.Policy{MaxAttempts: 3}, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, status(429, "3600"), status(200, ""))
			c := &httpx.Client{HTTP: srv.Client(), Base: srv.URL, Gate: &httpx.Gate{}, Policy: tc.policy}
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			_, err := c.Do(ctx, httpx.Request{Method: "GET", URL: "/"})
			var rl *connectors.RateLimitedError
			require.ErrorAs(t, err, &rl)
			assert.InDelta(t, time.Hour.Seconds(), rl.RetryAfter.Seconds(), 1)
			assert.Len(t, srv.requests(), 1)
			// The gate holds the connection's next call too.
			_, err = c.Do(ctx, httpx.Request{Method: "GET", URL: "/"})
			require.ErrorAs(t, err, &rl)
			assert.Len(t, srv.requests(), 1, "nothing is sent while the gate is blocked")
		})
	}
}

func TestDoNeverRetriesServerErrors(t *testing.T) {
	srv := newServer(t, status(503, "1"))
	c := &httpx.Client{HTTP: srv.Client(), Base: srv.URL, Policy: httpx.Policy{MaxAttempts: 5}}
	resp, err := c.Do(context.Background(), httpx.Request{Method: "GET", URL: "/"})
	require.NoError(t, err)
	assert.Equal(t, 503, resp.Status)
	assert.Len(t, srv.requests(), 1, "the activity layer retries a 5xx")
}

// tokenServer issues tokens tok-1, tok-2, ... and refuses API calls with any token in
// refused.
func tokenServer(t *testing.T, expiresIn int) (*httptest.Server, *atomic.Int32, *sync.Map) {
	var issued atomic.Int32
	var refused sync.Map
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			_ = r.ParseForm()
			if r.PostForm.Get("grant_type") != "client_credentials" || r.PostForm.Get("client_id") != "id" || r.PostForm.Get("client_secret") != "secret" {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad credentials"}`))
				return
			}
			n := issued.Add(1)
			w.Header().Set("Content-Type", "application/json")
			ans := map[string]any{"access_token": "tok-" + string(rune('0'+n)), "token_type": "Bearer", "instance_url": srv.URL}
			if expiresIn > 0 {
				ans["expires_in"] = expiresIn
			}
			_ = json.NewEncoder(w).Encode(ans)
			return
		}
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if _, bad := refused.Load(tok); bad {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &issued, &refused
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestTokensAreReusedRenewedBeforeExpiryAndAfterA401(t *testing.T) {
	srv, issued, refused := tokenServer(t, 100)
	clk := &clock{t: time.Now()}
	tokens := httpx.NewTokens(httpx.ClientCredentials(srv.Client(), func() (*clientcredentials.Config, error) {
		return &clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: srv.URL + "/token"}, nil
	}), clk.Now, 0)
	c := &httpx.Client{HTTP: srv.Client(), Base: srv.URL, Auth: tokens}
	get := func() int {
		resp, err := c.Do(context.Background(), httpx.Request{Method: "GET", URL: "/api"})
		require.NoError(t, err)
		return resp.Status
	}

	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() { defer wg.Done(); assert.Equal(t, 200, get()) }()
	}
	wg.Wait()
	assert.EqualValues(t, 1, issued.Load(), "concurrent calls share one fetch")

	clk.Add(89 * time.Second)
	assert.Equal(t, 200, get())
	assert.EqualValues(t, 1, issued.Load(), "not yet due: 100 s less a tenth")
	clk.Add(2 * time.Second)
	assert.Equal(t, 200, get())
	assert.EqualValues(t, 2, issued.Load(), "renewed before it expires")

	refused.Store("tok-2", true)
	assert.Equal(t, 200, get(), "one renewal after a 401, then the call goes through")
	assert.EqualValues(t, 3, issued.Load())

	refused.Store("tok-3", true)
	refused.Store("tok-4", true)
	assert.Equal(t, 401, get(), "a second 401 is the connector's to classify")
	assert.EqualValues(t, 4, issued.Load())
}

func TestTokenErrorNamesTheRefusal(t *testing.T) {
	srv, _, _ := tokenServer(t, 0)
	tokens := httpx.NewTokens(httpx.ClientCredentials(srv.Client(), func() (*clientcredentials.Config, error) {
		return &clientcredentials.Config{ClientID: "id", ClientSecret: "wrong", TokenURL: srv.URL + "/token"}, nil
	}), nil, 0)
	_, err := tokens.Token(context.Background())
	require.Error(t, err)
	status, reason := httpx.TokenError(err)
	assert.Equal(t, 400, status)
	assert.Equal(t, "invalid_client: bad credentials", reason)

	var re *oauth2.RetrieveError
	assert.ErrorAs(t, err, &re)
}
