// Package hubspotfake is a local HubSpot for tests, benchmarks and the dev demo: an
// http.Handler speaking the wire format of HubSpot's CRM object API for companies and
// contacts, under both path styles (/crm/v3/objects/... and /crm/objects/<date>/...):
//
//   - bearer-token auth, answering 401 with HubSpot's error body;
//   - POST {object}/search with filterGroups (EQ, NEQ, LT, LTE, GT, GTE, BETWEEN, IN,
//     NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY, CONTAINS_TOKEN on any property; dates as
//     epoch ms or ISO 8601), one sort, limit ≤ 200, `after` paging, and a 400 past the
//     result cap (10,000);
//   - POST {object}/batch/{read,create,update,upsert,archive} with the 100-input limit,
//     207 Multi-Status with per-input errors, and upsert's `new` flag;
//   - GET/PATCH/DELETE {object}/{id}, GET and POST {object}, so the demo can be driven
//     with curl;
//   - the properties API (GET, POST /crm/v3/properties/{object}, GET and DELETE
//     .../{name}): the properties records may carry; a write naming one the object does
//     not have (deleted with DeleteProperty) fails with PROPERTY_DOESNT_EXIST
//     (properties.go);
//   - archived records: DELETE and batch/archive keep them in an archived list, read with
//     GET {object}?archived=true (with archivedAt) and purged after 90 days (archive.go);
//   - the request budget per 10 s and the search budget per second (searches count
//     towards the first only with SearchCountsTowardRate), answered with 429,
//     Retry-After and HubSpot's RATE_LIMIT body, and X-HubSpot-RateLimit-* headers on
//     every response the request budget counted;
//   - injected failures (FailNext) and latency;
//   - webhooks for every change, API writes included (changeSource INTEGRATION, which is
//     what makes a two-way sync loop-prone), POSTed as JSON arrays and signed as HubSpot
//     signs them (v3 and v1 headers), retried on failure.
//
// Where api-notes marks HubSpot's behaviour [doc] the fake follows it; where [INF] it
// makes a documented choice, an option where a test may want the other reading.
package hubspotfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Unlimited, as a budget or cap option, turns that limit off.
const Unlimited = -1

// Options configure a fake. The zero value is a usable default.
type Options struct {
	// Token is the bearer token requests must carry; default "demo-token".
	Token string
	// RatePer10s is how many requests are accepted per RateWindow; default 190 (0),
	// Unlimited for none.
	RatePer10s int
	// RateWindow is the rolling window RatePer10s counts in; default 10s. Tests shorten
	// it; the X-HubSpot-RateLimit-Interval-Milliseconds header says it.
	RateWindow time.Duration
	// SearchPerSecond is how many searches are accepted per SearchWindow; default 4,
	// Unlimited for none.
	SearchPerSecond int
	// SearchCountsTowardRate makes searches count towards RatePer10s as well, and carry
	// its X-HubSpot-RateLimit-* headers. By default they do not: HubSpot documents the
	// search limit as its own, per token [doc: changelog crm-search-api-rate-limit-
	// increase; burst-limits changelog: the burst change "does not affect the CRM Search
	// API"], and search responses are reported to carry no rate-limit headers [3p:
	// community.hubspot.com 399520]. Whether they also count towards the burst is not
	// documented [INF]; this option runs the stricter reading.
	SearchCountsTowardRate bool
	// SearchWindow is the window of SearchPerSecond; default 1s.
	SearchWindow time.Duration
	// IndexLag is how long a write takes to reach searches [INF: HubSpot's search is an
	// index that trails the records; reads by id do not]: a search sees each record as
	// it was IndexLag ago, so a record created since is not found and one changed since
	// is found with its earlier values and modified date. Default 0: at once.
	IndexLag time.Duration
	// IndexDelay, when set, is the index delay of each write of record id instead of
	// IndexLag, so a test can make a later write searchable before an earlier one (an
	// index fed by several workers does not keep the order of the writes).
	IndexDelay func(id string) time.Duration
	// ScrambleTies orders the records a search's sort leaves tied (one modified date) by
	// a hash of their ids instead of by id: HubSpot documents no order among them, and a
	// client must not count on one.
	ScrambleTies bool
	// SearchCap is how many results one search can page through; asking for a page at
	// or past it answers 400. Default 10,000 [3p]; Unlimited for none.
	SearchCap int
	// MaxBatch is the most inputs of one batch call; default 100 [INF].
	MaxBatch int
	// MaxINValues is the most values of one IN or NOT_IN filter; default 100 [INF].
	MaxINValues int
	// RefusedFilters lists filters, as "property OPERATOR" (e.g. "hs_object_id NOT_IN"),
	// that searches answer with 400, for a client's fallback when HubSpot does not take a
	// filter on a property [INF: which operators each property type takes is not fully
	// documented].
	RefusedFilters []string
	// UniqueProperties lists, by object, the properties whose values are unique (a
	// duplicate is a CONFLICT error) and that upsert accepts as idProperty. Default
	// contacts' email; hs_object_id is always one.
	UniqueProperties map[string][]string
	// Properties are property definitions each object has besides HubSpot's defaults
	// (properties.go), such as custom properties for StrictProperties.
	Properties map[string][]Property
	// StrictProperties refuses a write naming a property the object does not have, as
	// HubSpot does (PROPERTY_DOESNT_EXIST). By default the fake defines such a property
	// on first use instead [INF: a convenience for tests and the demo]; see properties.go.
	// A deleted property (DeleteProperty) is refused either way.
	StrictProperties bool
	// NoMultiStatus answers a batch with any failed input by 400 for the whole batch,
	// nothing written, as HubSpot does for batch create without objectWriteTraceIds
	// [doc]; with this option it does so even with them.
	NoMultiStatus bool
	// NoTraceIDInResults leaves objectWriteTraceId out of the results of writes (the
	// SDKs' SimplePublicObject has the field, but whether HubSpot fills it is [INF]).
	NoTraceIDInResults bool
	// Validate, when set, is called for every input of a write after the built-in rules
	// (see validate); a non-empty message fails the input with VALIDATION_ERROR.
	Validate func(object string, props map[string]string) (property, message string)
	// Now stamps records and webhooks; default time.Now. Rate limits always use the
	// real clock.
	Now func() time.Time
	// Latency is slept before answering each API request.
	Latency time.Duration
	// ArchiveRetention is how long an archived record stays in the archived list (GET
	// ?archived=true) before it is purged; default DefaultArchiveRetention, 90 days [doc].
	// Measured by Now.
	ArchiveRetention time.Duration

	// ClientSecret signs webhooks; default "demo-client-secret".
	ClientSecret string
	// WebhookURL receives webhooks; "" sends none.
	WebhookURL string
	// WebhookObjects are the objects subscribed to; default companies and contacts.
	WebhookObjects []string
	// WebhookBatch is the most events of one webhook request; default 100 [INF].
	WebhookBatch int
	// WebhookDelay is how long events wait for more to fill a request; default 50ms.
	WebhookDelay time.Duration
	// WebhookRetries is how many times a failed delivery is retried; default 3 (HubSpot
	// retries up to 10 times over minutes [doc]; the fake is quicker). Like HubSpot it
	// retries on connection errors, timeouts and any status but 2xx, 400, 401, 403, 404
	// and 405, and honours a 429's Retry-After up to WebhookMaxBackoff.
	WebhookRetries int
	// WebhookBackoff is the wait before the first retry, doubled for each next one up to
	// WebhookMaxBackoff; defaults 100ms and 2s.
	WebhookBackoff    time.Duration
	WebhookMaxBackoff time.Duration
	// WebhookTimeout bounds one delivery; default 5s.
	WebhookTimeout time.Duration
	// PortalID and AppID go into every event; defaults 62515 and 1160452.
	PortalID int64
	AppID    int64
	// EventIDBase is where the fake's eventIds start: its first event is EventIDBase+1
	// (default 0: 1, 2, ...). A fake restarted over a saved State (see Restore) can be
	// given a base that grows with time, such as the start time's epoch milliseconds x
	// 1000, so its events never take an eventId an earlier run sent, even when the State
	// it restored is older than that run's last events (a receiver drops a repeated
	// eventId as a duplicate).
	EventIDBase int64

	// Logger logs webhook deliveries that fail; default none.
	Logger *zap.Logger
}

// Record is a record of the fake as tests see it.
type Record struct {
	ID string
	// Properties are the record's stored values (without the computed hs_object_id,
	// createdate and modified date).
	Properties map[string]string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// ArchivedAt is when the record was archived; zero for a live record.
	ArchivedAt time.Time
}

// Request is one API request as the fake received it.
type Request struct {
	// At is when it arrived (real clock).
	At time.Time
	// Endpoint is "<METHOD> <object>/<path>", ids as {id}: "POST companies/search".
	Endpoint string
	Status   int
	// RetryAfter is the Retry-After the fake answered a 429 with.
	RetryAfter time.Duration
}

// Stats count what the fake did.
type Stats struct {
	// Requests by endpoint (see Request.Endpoint), every answer included.
	Requests map[string]int
	// RateLimited is how many 429s the fake sent (injected ones included).
	RateLimited int
	// Writes is how many records API writes created or changed.
	Writes int
	// WebhookEvents were delivered (2xx); WebhookRequests is the number of webhook
	// requests sent (retries included); WebhookFailures were given up on.
	WebhookEvents   int
	WebhookRequests int
	WebhookFailures int
}

// modifiedProperty is each object's modified-date property.
var modifiedProperty = map[string]string{"companies": "hs_lastmodifieddate", "contacts": "lastmodifieddate"}

// defaultProperties are returned when a request names none [doc: search-the-crm lists
// contacts' defaults; companies' by analogy].
var defaultProperties = map[string][]string{
	"companies": {"name", "domain"},
	"contacts":  {"email", "firstname", "lastname"},
}

// Server is a fake HubSpot account. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	log  *zap.Logger

	mu     sync.Mutex
	tables map[string]map[string]*record
	// archived are the archived records of each object, by id; refusals the messages of
	// the archives RefuseArchive refuses, by "object/id" (archive.go).
	archived    map[string]map[string]*record
	refusals    map[string]string
	lastID      int64
	lastEventID int64
	general     []time.Time // accepted requests in the current rate window
	searches    []time.Time
	failures    []int // statuses of the next requests to fail
	stats       Stats
	requests    []Request

	hooks *deliverer

	// props are each object's property definitions by name, archivedProps the deleted
	// ones (properties.go).
	props         map[string]map[string]*propertyDef
	archivedProps map[string]map[string]*propertyDef
}

type record struct {
	id       string
	props    map[string]string
	created  time.Time
	modified time.Time
	// archivedAt is when the record was archived (zero while live).
	archivedAt time.Time
	// versions are what searches may see with IndexLag: copies of the record as each
	// write left it, oldest write first, with when each becomes searchable.
	versions []version
}

type version struct {
	visible time.Time
	rec     *record
}

// indexWrite notes a write for searches to see once its index delay has passed; callers
// hold s.mu.
func (s *Server) indexWrite(r *record) {
	d := s.opts.IndexLag
	if s.opts.IndexDelay != nil {
		d = s.opts.IndexDelay(r.id)
	}
	s.indexWriteAt(r, s.opts.Now().Add(d))
}

func (s *Server) indexWriteAt(r *record, visible time.Time) {
	if s.opts.IndexLag <= 0 && s.opts.IndexDelay == nil {
		return
	}
	cp := &record{id: r.id, props: maps.Clone(r.props), created: r.created, modified: r.modified}
	// Versions before the newest one already visible are never seen again.
	now := s.opts.Now()
	for i := len(r.versions) - 1; i > 0; i-- {
		if !r.versions[i].visible.After(now) {
			r.versions = r.versions[i:]
			break
		}
	}
	r.versions = append(r.versions, version{visible: visible, rec: cp})
}

// searchable is the record as searches see it now: itself, or with an index delay the
// version of its latest write that has become visible (nil when none has); callers hold
// s.mu.
func (s *Server) searchable(r *record) *record {
	if len(r.versions) == 0 {
		return r
	}
	now := s.opts.Now()
	for i := len(r.versions) - 1; i >= 0; i-- {
		if !r.versions[i].visible.After(now) {
			return r.versions[i].rec
		}
	}
	return nil
}

// New returns a fake. Close stops its webhook delivery.
func New(opts Options) *Server {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if opts.Token == "" {
		opts.Token = "demo-token"
	}
	def(&opts.RatePer10s, 190)
	def(&opts.SearchPerSecond, 4)
	def(&opts.SearchCap, 10000)
	def(&opts.MaxBatch, 100)
	def(&opts.MaxINValues, 100)
	def(&opts.WebhookBatch, 100)
	def(&opts.WebhookRetries, 3)
	defDur(&opts.RateWindow, 10*time.Second)
	defDur(&opts.SearchWindow, time.Second)
	defDur(&opts.WebhookDelay, 50*time.Millisecond)
	defDur(&opts.WebhookBackoff, 100*time.Millisecond)
	defDur(&opts.WebhookMaxBackoff, 2*time.Second)
	defDur(&opts.WebhookTimeout, 5*time.Second)
	defDur(&opts.ArchiveRetention, DefaultArchiveRetention)
	if opts.UniqueProperties == nil {
		opts.UniqueProperties = map[string][]string{"contacts": {"email"}}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = "demo-client-secret"
	}
	if opts.WebhookObjects == nil {
		opts.WebhookObjects = []string{"companies", "contacts"}
	}
	if opts.PortalID == 0 {
		opts.PortalID = 62515
	}
	if opts.AppID == 0 {
		opts.AppID = 1160452
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{
		opts:        opts,
		log:         log,
		tables:      map[string]map[string]*record{"companies": {}, "contacts": {}},
		archived:    map[string]map[string]*record{"companies": {}, "contacts": {}},
		refusals:    map[string]string{},
		lastID:      1000000,
		lastEventID: opts.EventIDBase,
		stats:       Stats{Requests: map[string]int{}},
	}
	s.initProperties()
	if opts.WebhookURL != "" {
		s.hooks = newDeliverer(s)
	}
	return s
}

// Handler returns the fake's HTTP handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// Close stops webhook delivery; events not yet delivered are dropped. Calling it again
// is harmless.
func (s *Server) Close() {
	if s.hooks != nil {
		s.hooks.close()
	}
}

// now is the fake's clock at HubSpot's precision, the millisecond.
func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Millisecond) }

// Seed stores a record as if it had always been there: stamped now, no webhook. It
// returns its id. object must be companies or contacts.
func (s *Server) Seed(object string, props map[string]string) string {
	return s.SeedAt(object, props, time.Time{})
}

// SeedAt is Seed with the record created and last modified at at (now when zero), as
// data that was there long before a sync started.
func (s *Server) SeedAt(object string, props map[string]string, at time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tb, ok := s.tables[object]
	if !ok {
		// A misspelt object would silently seed nothing and a test pass for the wrong reason.
		panic(fmt.Sprintf("hubspotfake: cannot seed unknown object %q (companies or contacts)", object))
	}
	if at.IsZero() {
		at = s.now()
	}
	for k := range props {
		if s.propertyMissing(object, k) {
			panic(fmt.Sprintf("hubspotfake: cannot seed property %q: %s has no such property (deleted, or StrictProperties)", k, object))
		}
	}
	s.defineSeen(object, props)
	r := &record{id: s.newID(), props: map[string]string{}, created: at.UTC().Truncate(time.Millisecond)}
	r.modified = r.created
	for k, v := range props {
		if v != "" {
			r.props[k] = v
		}
	}
	tb[r.id] = r
	s.indexWriteAt(r, time.Time{}) // searchable from the start
	return r.id
}

// Records returns object's records, sorted by id (as numbers).
func (s *Server) Records(object string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	tb := s.table(object)
	out := make([]Record, 0, len(tb))
	for _, r := range tb {
		out = append(out, r.export())
	}
	sort.Slice(out, func(i, j int) bool { return idLess(out[i].ID, out[j].ID) })
	return out
}

// Get returns one record.
func (s *Server) Get(object, id string) (Record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.table(object)[id]
	if !ok {
		return Record{}, false
	}
	return r.export(), true
}

// Set changes a record's properties as a user would in HubSpot's UI: the modified date
// moves to now and a propertyChange webhook (changeSource CRM_UI) is sent for each value
// that changed. An empty value clears the property.
func (s *Server) Set(object, id string, props map[string]string) error {
	s.mu.Lock()
	r, ok := s.table(object)[id]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("hubspotfake: no %s record %s", object, id)
	}
	evs := s.update(object, r, props, "CRM_UI")
	s.mu.Unlock()
	s.send(evs)
	return nil
}

// SetModified sets a record's modified date (kept at millisecond precision), without a
// webhook: tests use it to force equal timestamps.
func (s *Server) SetModified(object, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.table(object)[id]
	if !ok {
		return fmt.Errorf("hubspotfake: no %s record %s", object, id)
	}
	r.modified = at.UTC().Truncate(time.Millisecond)
	return nil
}

// FailNext makes the next n API requests (after the auth check) answer status with
// HubSpot's error body; a 429 carries Retry-After: 1 and the RATE_LIMIT body.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, status)
	}
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	out.Requests = make(map[string]int, len(s.stats.Requests))
	for k, v := range s.stats.Requests {
		out.Requests[k] = v
	}
	return out
}

// maxRequestLog bounds the request log of a long-running fake (the dev demo): past it,
// the older half is forgotten.
const maxRequestLog = 100000

// Requests returns the API requests received so far (the last 50,000 to 100,000 of
// them), in order of arrival.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetStats zeroes Stats and forgets Requests.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{Requests: map[string]int{}}
	s.requests = nil
}

func (r *record) export() Record {
	props := make(map[string]string, len(r.props))
	for k, v := range r.props {
		props[k] = v
	}
	return Record{ID: r.id, Properties: props, CreatedAt: r.created, UpdatedAt: r.modified, ArchivedAt: r.archivedAt}
}

// table returns an object's records; callers hold s.mu. Unknown objects get an empty
// table that is not kept.
func (s *Server) table(object string) map[string]*record {
	if tb, ok := s.tables[object]; ok {
		return tb
	}
	return map[string]*record{}
}

func (s *Server) newID() string {
	s.lastID++
	return strconv.FormatInt(s.lastID, 10)
}

func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// correlationID returns a UUID-shaped id for an error body.
func (s *Server) correlationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// apiPath splits an API path into object and the rest: "/crm/v3/objects/companies/search"
// and "/crm/objects/2026-03/companies/search" are ("companies", "search").
var apiPath = regexp.MustCompile(`^/crm/(?:v3/objects|objects/[0-9]{4}-[0-9]{2})/([^/]+)(?:/(.*))?$`)

// statusWriter remembers the status and Retry-After of an answer for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) serve(rw http.ResponseWriter, r *http.Request) {
	at := time.Now()
	// HubSpot's answers carry its clock (RFC 9110's Date): the fake's, the one that stamps
	// the records.
	rw.Header().Set("Date", s.opts.Now().UTC().Format(http.TimeFormat))
	w := &statusWriter{ResponseWriter: rw}
	m := apiPath.FindStringSubmatch(r.URL.Path)
	pm := propertiesPath.FindStringSubmatch(r.URL.Path)
	endpoint := r.Method + " " + r.URL.Path
	var object, rest string
	switch {
	case pm != nil:
		endpoint = r.Method + " properties/" + pm[1]
		if pm[2] != "" {
			endpoint += "/{name}"
		}
	case m != nil:
		object, rest = m[1], m[2]
		endpoint = r.Method + " " + object
		if rest != "" {
			endpoint += "/" + idPattern.ReplaceAllString(rest, "{id}")
		}
	}
	defer func() {
		retry, _ := strconv.Atoi(w.Header().Get("Retry-After"))
		s.mu.Lock()
		s.stats.Requests[endpoint]++
		if w.status == http.StatusTooManyRequests {
			s.stats.RateLimited++
		}
		if len(s.requests) == maxRequestLog {
			s.requests = append(s.requests[:0], s.requests[maxRequestLog/2:]...)
		}
		s.requests = append(s.requests, Request{At: at, Endpoint: endpoint, Status: w.status, RetryAfter: time.Duration(retry) * time.Second})
		s.mu.Unlock()
	}()

	if r.Header.Get("Authorization") != "Bearer "+s.opts.Token {
		s.writeError(w, http.StatusUnauthorized, apiError{
			Category: "INVALID_AUTHENTICATION",
			Message: "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at " +
				"https://developers.hubspot.com/docs/methods/auth/oauth-overview",
		})
		return
	}
	if pm != nil {
		if s.admit(w, false) && !s.injected(w) {
			s.serveProperties(w, r, pm[1], pm[2])
		}
		return
	}
	if m == nil {
		s.writeError(w, http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: "No route for " + r.Method + " " + r.URL.Path})
		return
	}
	search := r.Method == http.MethodPost && rest == "search"
	if !s.admit(w, search) {
		return
	}
	if s.injected(w) {
		return
	}
	if d := s.opts.Latency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if _, ok := modifiedProperty[object]; !ok {
		s.writeError(w, http.StatusBadRequest, apiError{Category: "VALIDATION_ERROR", Message: "Unable to infer object type from: " + object})
		return
	}

	switch {
	case r.Method == http.MethodPost && rest == "search":
		s.search(w, r, object)
	case r.Method == http.MethodPost && strings.HasPrefix(rest, "batch/"):
		s.batch(w, r, object, strings.TrimPrefix(rest, "batch/"))
	case rest == "" && r.Method == http.MethodGet:
		s.list(w, r, object)
	case rest == "" && r.Method == http.MethodPost:
		s.createOne(w, r, object)
	case idPattern.MatchString(rest) && r.Method == http.MethodGet:
		s.getOne(w, r, object, rest)
	case idPattern.MatchString(rest) && r.Method == http.MethodPatch:
		s.updateOne(w, r, object, rest)
	case idPattern.MatchString(rest) && r.Method == http.MethodDelete:
		s.archiveOne(w, object, rest)
	default:
		s.writeError(w, http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: "No route for " + r.Method + " " + r.URL.Path})
	}
}

var idPattern = regexp.MustCompile(`^[0-9]+$`)

// admit applies the request budgets: it counts the request and sets the rate-limit
// headers, or answers 429 and returns false.
func (s *Server) admit(w http.ResponseWriter, search bool) bool {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.general = prune(s.general, now.Add(-s.opts.RateWindow))
	s.searches = prune(s.searches, now.Add(-s.opts.SearchWindow))
	limited := func(log []time.Time, max int) bool { return max > 0 && len(log) >= max }
	general := !search || s.opts.SearchCountsTowardRate
	h := w.Header()
	if general && limited(s.general, s.opts.RatePer10s) {
		s.rateLimited(w, s.general[0].Add(s.opts.RateWindow).Sub(now), "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")
		return false
	}
	if search && limited(s.searches, s.opts.SearchPerSecond) {
		s.rateLimited(w, s.searches[0].Add(s.opts.SearchWindow).Sub(now), "SECONDLY", "You have reached your secondly limit.")
		return false
	}
	if search {
		s.searches = append(s.searches, now)
	}
	if !general {
		return true
	}
	s.general = append(s.general, now)
	if s.opts.RatePer10s > 0 {
		h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(s.opts.RatePer10s))
		h.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(s.opts.RatePer10s-len(s.general)))
		h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", strconv.FormatInt(s.opts.RateWindow.Milliseconds(), 10))
		h.Set("X-HubSpot-RateLimit-Daily", "1000000")
		h.Set("X-HubSpot-RateLimit-Daily-Remaining", "999999")
	}
	return true
}

func prune(log []time.Time, before time.Time) []time.Time {
	i := 0
	for i < len(log) && !log[i].After(before) {
		i++
	}
	return log[i:]
}

// rateLimited answers 429; callers hold s.mu.
func (s *Server) rateLimited(w http.ResponseWriter, wait time.Duration, policy, message string) {
	secs := max(1, int((wait+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	if s.opts.RatePer10s > 0 {
		w.Header().Set("X-HubSpot-RateLimit-Max", strconv.Itoa(s.opts.RatePer10s))
		w.Header().Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(max(0, s.opts.RatePer10s-len(s.general))))
		w.Header().Set("X-HubSpot-RateLimit-Interval-Milliseconds", strconv.FormatInt(s.opts.RateWindow.Milliseconds(), 10))
	}
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"status":        "error",
		"message":       message,
		"errorType":     "RATE_LIMIT",
		"correlationId": s.correlationID(),
		"policyName":    policy,
		"requestId":     s.correlationID(),
	})
}

// injected answers with the next injected failure, if any.
func (s *Server) injected(w http.ResponseWriter) bool {
	s.mu.Lock()
	if len(s.failures) == 0 {
		s.mu.Unlock()
		return false
	}
	status := s.failures[0]
	s.failures = s.failures[1:]
	if status == http.StatusTooManyRequests {
		defer s.mu.Unlock()
		s.rateLimited(w, time.Second, "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")
		return true
	}
	s.mu.Unlock()
	category := "INTERNAL_ERROR"
	if status < 500 {
		category = "VALIDATION_ERROR"
	}
	s.writeError(w, status, apiError{Category: category, Message: fmt.Sprintf("injected failure (HTTP %d)", status)})
	return true
}

// apiError is HubSpot's error body.
type apiError struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId,omitempty"`
	Category      string              `json:"category"`
	SubCategory   string              `json:"subCategory,omitempty"`
	Errors        []errorDetail       `json:"errors,omitempty"`
	Context       map[string][]string `json:"context,omitempty"`
	Links         map[string]string   `json:"links,omitempty"`
}

type errorDetail struct {
	Message string              `json:"message"`
	Code    string              `json:"code,omitempty"`
	In      string              `json:"in,omitempty"`
	Context map[string][]string `json:"context,omitempty"`
}

func (s *Server) writeError(w http.ResponseWriter, status int, e apiError) {
	e.Status = "error"
	if e.CorrelationID == "" {
		e.CorrelationID = s.correlationID()
	}
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// isoMillis formats a time as HubSpot's API does: ISO 8601 UTC with milliseconds.
func isoMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
