// Package netsuitefake is a local NetSuite REST web services server for tests and demos.
// It speaks the wire format the netsuite connector uses, and checks what NetSuite checks:
//
//   - token-based authentication: the OAuth 1.0a HMAC-SHA256 signature is recomputed from
//     the request (method, URL, query, oauth_ parameters) and compared; the realm, keys,
//     timestamp window and nonce reuse are checked. A failure is 401 INVALID_LOGIN with
//     NetSuite's error body.
//   - OAuth 2.0 machine-to-machine: POST /services/rest/auth/oauth2/v1/token verifies the
//     client assertion (signature against the configured public key, kid, iss, aud, scope,
//     iat/exp at most 60 minutes apart) and issues bearer tokens that expire.
//   - SuiteQL (POST /services/rest/query/v1/suiteql, "Prefer: transient"): a subset big
//     enough for a client: SELECT columns, *, TO_CHAR(col, 'fmt') [AS alias] FROM type
//     [WHERE conditions with = != <> < <= > >=, [NOT] IN (...), IS [NOT] NULL, AND, OR,
//     NOT, parentheses, TO_TIMESTAMP / TO_DATE / TO_CHAR / UPPER / LOWER] [ORDER BY
//     expressions ASC|DESC], with limit (at most 1000), offset (a multiple of limit),
//     hasMore, count, offset, totalResults and links. Values come back as strings, booleans
//     as "T"/"F", empty columns left out, as SuiteQL answers [3p].
//   - records: POST /record/v1/{type} (204 + Location), PATCH /record/v1/{type}/{id},
//     PUT /record/v1/{type}/eid:{value} (upsert), GET /record/v1/{type}/{id}, DELETE
//     /record/v1/{type}/{id} (204); required fields and unique external ids are validated,
//     with NetSuite's error body naming the field in o:errorPath.
//   - the deletion log, read by SuiteQL as the deletedrecord table (deletes.go).
//   - the metadata catalog: GET /record/v1/metadata-catalog/{type} with Accept:
//     application/schema+json answers the record type's JSON Schema (metadata.go).
//   - the account's concurrency limit: a request beyond Options.ConcurrencyLimit in
//     flight is answered 429, exactly what a client must avoid.
//
// Tests can inject failures (FailNext) and latency (SetLatency), seed and inspect records
// (Seed, Records, Set, SetLastModified) and read counters (Stats).
package netsuitefake

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. The zero value is usable: account 123456_SB1, no
// credentials accepted until TBA or M2M is set.
type Options struct {
	// AccountID is the account, e.g. "123456_SB1"; the OAuth 1.0a realm must equal it.
	AccountID string
	// TBA, when set, accepts token-based authentication with these secrets.
	TBA *TBACredentials
	// M2M, when set, accepts bearer tokens issued to this client.
	M2M *M2MClient
	// TokenLifetime is how long an issued bearer token lasts; default one hour [3p].
	TokenLifetime time.Duration

	// ConcurrencyLimit is how many requests may be in flight; one more is answered 429.
	// Default 5 (a shared-tier account [doc: section_1525253248]); negative: no limit.
	ConcurrencyLimit int
	// RetryAfter, when positive, is sent as Retry-After with every 429 [INF: NetSuite
	// does not document one].
	RetryAfter time.Duration
	// Latency is slept inside every request, while it counts as in flight.
	Latency time.Duration

	// Precision is what lastmodifieddate keeps of a write's time; default a millisecond
	// [INF: NetSuite's own precision is not documented].
	Precision time.Duration
	// Location is the session time zone TO_CHAR and TO_TIMESTAMP work in (the user's
	// preference in NetSuite); default UTC.
	Location *time.Location
	// DateDisplay is the layout a datetime column selected without TO_CHAR is answered
	// in; default "1/2/2006", a date without its time, as SuiteQL often answers [3p].
	DateDisplay string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// FirstID is the internal id of the first record created; default 1.
	FirstID int

	// Required lists the fields a record type must have; default customer: companyname.
	Required map[string][]string
	// CustomFields lists the custom fields an administrator created on each record type
	// (lower case, custentity_...): the metadata catalog lists them (as strings) before
	// any record holds a value for them.
	CustomFields map[string][]string
	// MaxResults is how many rows of one query can be reached by paging; default
	// 100,000 [doc: section_156414087576].
	MaxResults int
	// LaxOffset accepts offsets that are not a multiple of limit [3p: NetSuite wants a
	// multiple].
	LaxOffset bool
	// UpsertCreatedStatus is the status of a PUT eid: that created the record; default
	// 204, the same as an update [INF].
	UpsertCreatedStatus int
	// DeletedRetention is how long the deletion log (SuiteQL's deletedrecord) keeps a
	// deletion; default 0, for ever [INF: not documented] (deletes.go).
	DeletedRetention time.Duration
	// PublicURL is the scheme and host clients address the server by (the OAuth 1.0a
	// base string URI, the token audience, Location headers); default the request's Host
	// over http.
	PublicURL string
}

// TBACredentials are the secrets a TBA request must be signed with.
type TBACredentials struct {
	ConsumerKey, ConsumerSecret, TokenID, TokenSecret string
}

// Server is the fake. It is an http.Handler, safe for concurrent use.
type Server struct {
	opts Options
	mux  *http.ServeMux

	mu       sync.Mutex
	types    map[string]*table
	nextID   int
	inFlight int
	stats    Stats
	faults   []fault
	latency  time.Duration
	nonces   map[string]time.Time
	tokens   map[string]time.Time // bearer token -> expiry
	// deleted is the deletion log, oldest first; refusals the deletes RefuseDelete
	// refuses, by "type/id" (deletes.go).
	deleted  []deletion
	refusals map[string]deleteRefusal
}

// Stats are the server's counters.
type Stats struct {
	// Requests counts every request, by "METHOD route" too (e.g. "POST suiteql").
	Requests int
	ByRoute  map[string]int
	// MaxInFlight is the most requests that were in flight at once.
	MaxInFlight int
	// TooMany counts requests answered 429 for being over the concurrency limit;
	// Injected counts FailNext answers.
	TooMany  int
	Injected int
	// AuthFailures counts requests answered 401; TokensIssued the bearer tokens issued.
	AuthFailures int
	TokensIssued int
	// MaxOffset is the largest SuiteQL offset asked for.
	MaxOffset int
}

type fault struct {
	status     int
	retryAfter time.Duration
}

// New returns a server with no records.
func New(opts Options) *Server {
	if opts.AccountID == "" {
		opts.AccountID = "123456_SB1"
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.ConcurrencyLimit == 0 {
		opts.ConcurrencyLimit = 5
	}
	if opts.Precision <= 0 {
		opts.Precision = time.Millisecond
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.DateDisplay == "" {
		opts.DateDisplay = "1/2/2006"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FirstID <= 0 {
		opts.FirstID = 1
	}
	if opts.Required == nil {
		opts.Required = map[string][]string{"customer": {"companyname"}}
	}
	if opts.MaxResults <= 0 {
		opts.MaxResults = 100000
	}
	if opts.UpsertCreatedStatus == 0 {
		opts.UpsertCreatedStatus = http.StatusNoContent
	}
	opts.PublicURL = strings.TrimSuffix(opts.PublicURL, "/")
	s := &Server{
		opts:     opts,
		types:    map[string]*table{},
		nextID:   opts.FirstID,
		latency:  opts.Latency,
		nonces:   map[string]time.Time{},
		tokens:   map[string]time.Time{},
		refusals: map[string]deleteRefusal{},
		stats:    Stats{ByRoute: map[string]int{}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+restPrefix+tokenPath, s.token)
	mux.HandleFunc("POST "+restPrefix+"/query/v1/suiteql", s.authed(s.suiteql))
	mux.HandleFunc("GET "+restPrefix+"/record/v1/metadata-catalog/{type}", s.authed(s.metadataCatalog))
	mux.HandleFunc("POST "+restPrefix+"/record/v1/{type}", s.authed(s.createRecord))
	mux.HandleFunc("GET "+restPrefix+"/record/v1/{type}/{id}", s.authed(s.getRecord))
	mux.HandleFunc("PATCH "+restPrefix+"/record/v1/{type}/{id}", s.authed(s.patchRecord))
	mux.HandleFunc("PUT "+restPrefix+"/record/v1/{type}/{id}", s.authed(s.putRecord))
	mux.HandleFunc("DELETE "+restPrefix+"/record/v1/{type}/{id}", s.authed(s.deleteRecord))
	mux.HandleFunc("/", s.authed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", "Invalid URL: the request path is not a REST web services resource.", "INVALID_URL")
	}))
	s.mux = mux
	return s
}

const (
	restPrefix = "/services/rest"
	tokenPath  = "/auth/oauth2/v1/token"
)

// ServeHTTP implements http.Handler. A request counts as in flight until its answer is
// complete: the answer is buffered and only sent once the request no longer counts, so
// a client that waits for an answer before sending the next request never appears to be
// over the limit.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The account's clock, as NetSuite's answers carry it.
	w.Header().Set("Date", s.opts.Now().UTC().Format(http.TimeFormat))
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	s.serve(rec, r)
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.Requests++
	s.stats.ByRoute[r.Method+" "+route(r.URL.Path)]++
	s.inFlight++
	over := s.opts.ConcurrencyLimit > 0 && s.inFlight > s.opts.ConcurrencyLimit
	if s.inFlight > s.stats.MaxInFlight {
		s.stats.MaxInFlight = s.inFlight
	}
	if over {
		s.stats.TooMany++
	}
	var f *fault
	if !over && len(s.faults) > 0 {
		f = &s.faults[0]
		s.faults = s.faults[1:]
		s.stats.Injected++
	}
	latency := s.latency
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	switch {
	case over:
		s.setRetryAfter(w, s.opts.RetryAfter)
		writeError(w, http.StatusTooManyRequests, "",
			fmt.Sprintf("Too many concurrent requests: the account allows %d at once.", s.opts.ConcurrencyLimit), "CONCURRENCY_LIMIT_EXCEEDED")
	case f != nil:
		s.setRetryAfter(w, f.retryAfter)
		code, msg := "UNEXPECTED_ERROR", "An unexpected error occurred (injected)."
		switch f.status {
		case http.StatusTooManyRequests:
			code, msg = "CONCURRENCY_LIMIT_EXCEEDED", "Too many concurrent requests (injected)."
		case http.StatusBadRequest:
			// How RESTlets answer a request over the concurrency limit [doc: section_1525253248].
			code, msg = "SSS_REQUEST_LIMIT_EXCEEDED", "Request limit exceeded (injected)."
		}
		writeError(w, f.status, "", msg, code)
	default:
		s.mux.ServeHTTP(w, r)
	}
}

func (s *Server) setRetryAfter(w http.ResponseWriter, d time.Duration) {
	if d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
	}
}

// route names a path for Stats.ByRoute: token, suiteql, metadata, record, or the path.
func route(path string) string {
	switch {
	case strings.HasSuffix(path, tokenPath):
		return "token"
	case strings.HasSuffix(path, "/query/v1/suiteql"):
		return "suiteql"
	case strings.Contains(path, "/record/v1/metadata-catalog/"):
		return "metadata"
	case strings.Contains(path, "/record/v1/"):
		return "record"
	}
	return path
}

// FailNext makes the next n requests fail with status: a 5xx, 429 (with retryAfter as
// Retry-After when positive), or 400 SSS_REQUEST_LIMIT_EXCEEDED.
func (s *Server) FailNext(n, status int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, fault{status: status, retryAfter: retryAfter})
	}
}

// SetLatency changes the latency of the next requests.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByRoute = make(map[string]int, len(s.stats.ByRoute))
	for k, v := range s.stats.ByRoute {
		st.ByRoute[k] = v
	}
	return st
}

// ResetStats zeroes the counters.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{ByRoute: map[string]int{}}
}

// baseURL is the scheme and host clients address the server by.
func (s *Server) baseURL(r *http.Request) string {
	if s.opts.PublicURL != "" {
		return s.opts.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// recorder buffers an answer (see ServeHTTP).
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}

// Record is a stored record as tests see it.
type Record struct {
	ID           string
	Fields       map[string]any
	LastModified time.Time
	Created      time.Time
}

// table holds one record type's records by internal id.
type table struct {
	records map[int]*stored
}

type stored struct {
	id       int
	fields   map[string]any // lower-case names
	modified time.Time
	created  time.Time
}

// tableOf returns a type's table, creating it. Callers hold s.mu.
func (s *Server) tableOf(typ string) *table {
	typ = strings.ToLower(typ)
	t, ok := s.types[typ]
	if !ok {
		t = &table{records: map[int]*stored{}}
		s.types[typ] = t
	}
	return t
}

// stamp is the current time at the configured precision. Callers hold s.mu.
func (s *Server) stamp() time.Time {
	return s.opts.Now().Round(0).Truncate(s.opts.Precision)
}

// Seed stores a record of typ with fields, without validation, and returns its id.
func (s *Server) Seed(typ string, fields map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strconv.Itoa(s.insert(typ, lowerKeys(fields)).id)
}

// insert stores a new record. Callers hold s.mu.
func (s *Server) insert(typ string, fields map[string]any) *stored {
	now := s.stamp()
	rec := &stored{id: s.nextID, fields: fields, modified: now, created: now}
	s.nextID++
	if _, ok := fields["entityid"]; !ok && strings.EqualFold(typ, "customer") {
		// Without auto-numbering NetSuite names a company customer after it.
		if name, ok := fields["companyname"]; ok {
			fields["entityid"] = name
		}
	}
	s.tableOf(typ).records[rec.id] = rec
	return rec
}

// Records returns typ's records ordered by id.
func (s *Server) Records(typ string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tableOf(typ)
	out := make([]Record, 0, len(t.records))
	for _, r := range t.records {
		out = append(out, Record{ID: strconv.Itoa(r.id), Fields: copyFields(r.fields), LastModified: r.modified, Created: r.created})
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.Atoi(out[i].ID)
		b, _ := strconv.Atoi(out[j].ID)
		return a < b
	})
	return out
}

// Set overwrites fields of a record, as a user editing it in NetSuite would, and bumps
// its lastmodifieddate. It reports whether the record exists.
func (s *Server) Set(typ, id string, fields map[string]any) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.find(typ, id)
	if r == nil {
		return false
	}
	for k, v := range lowerKeys(fields) {
		r.fields[k] = v
	}
	r.modified = s.stamp()
	return true
}

// SetLastModified sets a record's lastmodifieddate, so tests can make timestamps equal.
func (s *Server) SetLastModified(typ, id string, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.find(typ, id)
	if r == nil {
		return false
	}
	r.modified = at.Round(0)
	return true
}

// find returns a record by internal id. Callers hold s.mu.
func (s *Server) find(typ, id string) *stored {
	n, err := strconv.Atoi(id)
	if err != nil {
		return nil
	}
	return s.tableOf(typ).records[n]
}

func lowerKeys(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

func copyFields(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
