// Package salesloftfake is a local stand-in for Salesloft's API v2 accounts endpoints, for
// tests, benchmarks and the dev demo. It speaks the same wire format as the real service
// (see connectors/salesloft and ../shared/api-notes.md, section 2):
//
//   - Bearer-token auth (401 {"error": ...} otherwise);
//   - GET /v2/accounts with the ids[], domain / domain[], crm_id[], archived,
//     updated_at[gt|gte|lt|lte] and created_at[gt|gte|lt|lte] filters, sort_by /
//     sort_direction, per_page (1..100, out-of-range values silently corrected and
//     echoed back) and page (a page past the end is empty), in the {"data": [...],
//     "metadata": {"filtering", "paging", "sorting"}} envelope;
//   - GET, PUT and DELETE /v2/accounts/{id} and POST /v2/accounts, single records in
//     {"data": {...}}, validation failures as 422 {"errors": {"field": ["message"]}};
//     DELETE removes an account for good (there is no delete log to read; see
//     deletes.go);
//   - the per-minute cost budget with Salesloft's deep-page costs, the
//     x-ratelimit-endpoint-cost and x-ratelimit-remaining-minute headers, and 429 with
//     Retry-After once the budget is spent;
//   - webhooks for every change (API writes included, which is what makes two-way syncs
//     loop-prone): one event per POST, the account object as the body, x-salesloft-event
//     and x-salesloft-signature = hex(HMAC-SHA1(callback token, body)), retried 3 more
//     times 15 s apart.
//
// Where the real behaviour is not documented the fake picks one and says so at the spot
// ([INF] in the comments, as in api-notes.md).
package salesloftfake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultToken          = "demo-token"
	DefaultCostPerMinute  = 600
	DefaultWebhookRetries = 3
	DefaultRetryInterval  = 15 * time.Second
)

// Unlimited as Options.CostPerMinute turns the cost budget off.
const Unlimited = -1

// Options configure a fake. The zero value is a usable default.
type Options struct {
	// Token is the bearer token requests must carry; default DefaultToken.
	Token string
	// CostPerMinute is the team's cost budget per Window; 0 means DefaultCostPerMinute
	// (Salesloft's 600), Unlimited (or any negative value) turns it off.
	CostPerMinute int
	// Window is the length of the budget window; default one minute. Tests shorten it
	// (and the client's Options.BudgetWindow with it) so they run in seconds.
	Window time.Duration
	// OmitRetryAfter leaves the Retry-After header out of 429 answers. Salesloft does not
	// document that it sends one [INF], so clients must cope without it.
	OmitRetryAfter bool
	// Now is the fake's clock: it stamps records and times the budget and the request
	// log. Default time.Now.
	Now func() time.Time
	// Location is the time zone of the timestamps the fake writes (the instants are the
	// same in any zone); default UTC.
	Location *time.Location
	// Latency is slept at the start of every request (honouring the request's context).
	Latency time.Duration

	// WebhookURL receives a webhook for every change; "" sends none.
	WebhookURL string
	// CallbackToken is the subscription's callback_token, the key webhooks are signed
	// with.
	CallbackToken string
	// WebhookRetries is how many more times a failed delivery is tried; default
	// DefaultWebhookRetries (Salesloft's 3), negative for none.
	WebhookRetries int
	// WebhookRetryInterval is the wait between tries; default DefaultRetryInterval
	// (Salesloft's 15 s). Tests shorten it.
	WebhookRetryInterval time.Duration
	// WebhookClient posts the webhooks; default a client with a 10 s timeout.
	WebhookClient *http.Client
}

// Request is one request the fake received, as its request log keeps it.
type Request struct {
	At       time.Time
	Method   string
	Endpoint string // e.g. "GET /v2/accounts", "PUT /v2/accounts/{id}"
	Query    string // the raw query string
	Page     int    // the page asked for (list requests), else 0
	Status   int
	Cost     int // what the request was charged; 0 when refused
}

// Stats count what the fake did.
type Stats struct {
	// Requests by endpoint ("GET /v2/accounts", "POST /v2/accounts", ...), refused ones
	// included.
	Requests map[string]int
	// RateLimited is how many requests were answered 429 because of the budget.
	RateLimited int
	// Cost is the budget spent, over the fake's lifetime.
	Cost int
	// MaxPage is the deepest page any list request asked for.
	MaxPage int
	// Writes counts records created, updated and deleted through the API.
	Writes int
	// Webhooks count deliveries.
	Webhooks WebhookStats
}

// WebhookStats count webhook deliveries.
type WebhookStats struct {
	Sent    int // accepted by the receiver (2xx)
	Retried int // attempts after the first
	Failed  int // given up after every attempt
	Dropped int // not queued: the queue was full or the fake closed
}

// Server is the fake. It is an http.Handler and safe for concurrent use.
type Server struct {
	opts Options

	mu       sync.Mutex
	accounts map[int64]*account
	lastID   int64
	budget   []charge
	failures []injected
	refusals map[int64]string // deletes RefuseDelete refuses, with their message
	log      []Request
	stats    Stats

	hooks *sender // nil without a WebhookURL
}

type injected struct {
	n      int
	status int
}

// New returns an empty fake. Close stops its webhook sender.
func New(opts Options) *Server {
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.CostPerMinute == 0 {
		opts.CostPerMinute = DefaultCostPerMinute
	}
	if opts.Window <= 0 {
		opts.Window = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.WebhookRetries == 0 {
		opts.WebhookRetries = DefaultWebhookRetries
	}
	if opts.WebhookRetryInterval <= 0 {
		opts.WebhookRetryInterval = DefaultRetryInterval
	}
	s := &Server{
		opts:     opts,
		accounts: map[int64]*account{},
		refusals: map[int64]string{},
		stats:    Stats{Requests: map[string]int{}},
	}
	if opts.WebhookURL != "" {
		s.hooks = newSender(opts)
	}
	return s
}

// Handler returns the fake's HTTP handler (the Server itself).
func (s *Server) Handler() http.Handler { return s }

// Close stops the webhook sender: deliveries not yet made are dropped. Calling it again
// is harmless.
func (s *Server) Close() {
	if s.hooks != nil {
		s.hooks.close()
	}
}

// FailNext makes the next n API requests (after the auth check) answer status with
// {"error": "injected failure"} without doing anything; a 429 carries Retry-After: 1.
// Injections queue up in the order they were made.
func (s *Server) FailNext(n, status int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, injected{n: n, status: status})
}

// Stats returns the fake's counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	out := s.stats
	out.Requests = make(map[string]int, len(s.stats.Requests))
	for k, v := range s.stats.Requests {
		out.Requests[k] = v
	}
	s.mu.Unlock()
	if s.hooks != nil {
		out.Webhooks = s.hooks.stats()
	}
	return out
}

// Requests returns the request log, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// ResetStats clears the counts and the request log (not the budget).
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{Requests: map[string]int{}}
	s.log = nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.Latency > 0 {
		t := time.NewTimer(s.opts.Latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}

	endpoint, id, ok := route(r.Method, r.URL.Path)
	rec := &Request{At: s.opts.Now(), Method: r.Method, Endpoint: endpoint, Query: r.URL.RawQuery}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		rec.Status = sw.status
		s.mu.Lock()
		s.log = append(s.log, *rec)
		s.stats.Requests[endpoint]++
		s.mu.Unlock()
	}()

	if !s.authorized(r) {
		writeError(sw, http.StatusUnauthorized, "Unauthorized: missing or invalid bearer token")
		return
	}
	if !ok {
		writeError(sw, http.StatusNotFound, "Not Found")
		return
	}
	if status := s.takeFailure(); status != 0 {
		if status == http.StatusTooManyRequests {
			sw.Header().Set("Retry-After", "1")
		}
		writeError(sw, status, "injected failure")
		return
	}

	cost := 1
	if endpoint == epList {
		rec.Page = pageParam(r.URL.Query())
		cost = PageCost(rec.Page)
	}
	if !s.charge(sw, rec, cost) {
		return
	}

	switch endpoint {
	case epList:
		s.list(sw, r)
	case epGet:
		s.get(sw, id)
	case epCreate:
		s.create(sw, r)
	case epUpdate:
		s.update(sw, r, id)
	case epDelete:
		s.delete(sw, id)
	}
}

// Endpoints, as the request log and Stats name them.
const (
	epList   = "GET /v2/accounts"
	epGet    = "GET /v2/accounts/{id}"
	epCreate = "POST /v2/accounts"
	epUpdate = "PUT /v2/accounts/{id}"
	epDelete = "DELETE /v2/accounts/{id}"
)

// route maps a request to its endpoint. Salesloft answers both /v2/accounts and
// /v2/accounts.json; an id that is not a number names no account (404).
func route(method, path string) (endpoint string, id int64, ok bool) {
	path = strings.TrimSuffix(strings.TrimSuffix(path, "/"), ".json")
	rest, found := strings.CutPrefix(path, "/v2/accounts")
	if !found {
		return method + " " + path, 0, false
	}
	if rest == "" {
		switch method {
		case http.MethodGet:
			return epList, 0, true
		case http.MethodPost:
			return epCreate, 0, true
		}
		return method + " /v2/accounts", 0, false
	}
	raw, found := strings.CutPrefix(rest, "/")
	if !found || strings.Contains(raw, "/") {
		return method + " " + path, 0, false
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	switch method {
	case http.MethodGet:
		endpoint = epGet
	case http.MethodPut, http.MethodPatch:
		endpoint = epUpdate
	case http.MethodDelete:
		endpoint = epDelete
	default:
		return method + " /v2/accounts/{id}", 0, false
	}
	if err != nil {
		return endpoint, 0, true // a valid endpoint; the id matches nothing
	}
	return endpoint, n, true
}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && tok == s.opts.Token
}

func (s *Server) takeFailure() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) == 0 {
		return 0
	}
	f := &s.failures[0]
	f.n--
	status := f.status
	if f.n == 0 {
		s.failures = s.failures[1:]
	}
	return status
}

// statusWriter remembers the status written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers Salesloft's {"error": "..."} body, as 401, 403, 404 and 429 carry.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// writeInvalid answers 422 {"errors": {"field": ["message"]}}.
func writeInvalid(w http.ResponseWriter, field, msg string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]map[string][]string{"errors": {field: {msg}}})
}

func pageParam(q map[string][]string) int {
	p := 1
	if v := first(q, "page"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 1 {
			p = n
		}
	}
	return p
}

func first(q map[string][]string, k string) string {
	if v := q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}
