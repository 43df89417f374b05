// Package salesforcefake is a local Salesforce for tests and the demo: an http.Handler that
// speaks the REST API's wire format as the salesforce connector uses it.
//
//   - POST /services/oauth2/token: client_credentials (client id and secret, in the form or
//     HTTP Basic) and the JWT bearer grant (iss and sub checked; the RS256 signature too
//     when Options.JWTPublicKey is set). Tokens last until ExpireTokens, after which calls
//     answer 401 INVALID_SESSION_ID.
//   - GET /services/data/vXX.X/query?q=SOQL and the nextRecordsUrl it returns: the SOQL
//     subset described in soql.go, in batches of Options.BatchSize.
//   - POST and PATCH /composite/sobjects, PATCH /composite/sobjects/{Object}/{ExtField}
//     and PATCH /sobjects/{Object}/{ExtField}/{value}: per-record results in request order,
//     validation (required fields, read-only fields, unique values), allOrNone, and several
//     records matching an external id (300, or DUPLICATE_EXTERNAL_ID in a collection).
//   - PATCH /sobjects/{Object}/{id}, with If-Unmodified-Since honoured: 412 when the
//     record changed after the date (compared to the second), 400 for a malformed date.
//   - Sforce-Limit-Info on every answer, and 403 REQUEST_LIMIT_EXCEEDED once
//     Options.DailyLimit calls are used; injectable failures (FailNext) and latency.
//   - GET /sobjects/{Object}/describe (sObject Describe): Id, the system fields and the
//     object's fields, with type, createable/updateable and externalId (describe.go).
//   - GET /sobjects/{Object}/deleted/?start=&end= (sObject Get Deleted) over a delete log
//     kept for Options.DeletedRetention, and DELETE /composite/sobjects?ids= (sObject
//     Collections delete); see deletes.go. Delete removes a record as a user would,
//     StartDelete begins a deletion that completes later, and Lock locks a record as an
//     approval process does.
//
// Records get Salesforce-shaped 18-character ids (001... for Account) and a SystemModstamp
// kept to Options.Precision (a second by default, as Salesforce keeps datetimes).
package salesforcefake

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"tandem/connectors"
)

// Defaults of Options.
const (
	DefaultClientID     = "tandem-fake-consumer-key"
	DefaultClientSecret = "tandem-fake-consumer-secret"
	DefaultUsername     = "integration@tandem.example"
	// DefaultBatchSize is the most rows a query batch holds [doc: 2000].
	DefaultBatchSize = 2000
	// DefaultDailyLimit is the org's daily API allocation [3p: 100k plus per-license].
	DefaultDailyLimit = 100000
	// MaxRecords is the most records one collection call takes [doc].
	MaxRecords = 200
	// DefaultDeletedRetention is how long the delete log keeps deletions [doc: 15 days].
	DefaultDeletedRetention = 15 * 24 * time.Hour
	// DefaultMaxDeletedIDs is the most ids one Get Deleted answers [doc: 600,000].
	DefaultMaxDeletedIDs = 600_000
)

// DefaultOrgID is the fake org's id.
var DefaultOrgID = MakeID("00D", 4242)

// Options configure a Server. The zero value is a usable default.
type Options struct {
	ClientID     string // default DefaultClientID
	ClientSecret string // default DefaultClientSecret
	// Username is the user the JWT bearer grant may log in as; default DefaultUsername.
	Username string
	// JWTPublicKey, when set, verifies the RS256 signature of JWT assertions.
	JWTPublicKey *rsa.PublicKey
	// Audience, when set, is the aud a JWT assertion must carry.
	Audience string
	// OrgID is the organization id, in tokens and Outbound Messages; default DefaultOrgID.
	OrgID string
	// InstanceURL is the instance_url of token answers; default the URL the token request
	// came to.
	InstanceURL string
	// BatchSize is the most rows of a query batch; default 2000. A request's
	// Sforce-Query-Options: batchSize=N (200-2000) may lower it [INF, from memory].
	BatchSize int
	// DailyLimit is the API calls allowed before REQUEST_LIMIT_EXCEEDED; default 100000.
	DailyLimit int
	// Precision is what SystemModstamp is truncated to; default a second [3p: Salesforce
	// datetime fields do not store milliseconds].
	Precision time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// RequiredFields are the fields a record of an object must have, by object; nil
	// means Account: Name, Contact: LastName, Lead: LastName and Company, Opportunity:
	// Name, StageName and CloseDate.
	RequiredFields map[string][]string
	// ExternalIDFields are the fields upserts may key on, by object; nil means every
	// custom field (ending in __c).
	ExternalIDFields map[string][]string
	// UniqueExternalIDs refuses a write that would give two records one external id
	// value (DUPLICATE_VALUE), as a field marked Unique does. Off by default, so that
	// several records can match an upsert.
	UniqueExternalIDs bool
	// Schema, when it has an entry for an object, is the object's fields beyond Id and the
	// datetime system fields; naming another is an INVALID_FIELD error. Objects without an
	// entry take any field.
	Schema map[string][]string
	// Objects are objects that exist besides the standard ones (Account, Contact, Lead,
	// Opportunity, Case, User) and any custom one (ending in __c); others are INVALID_TYPE.
	Objects []string
	// MissingIDCode is the statusCode a collection update or delete answers for an id that
	// no record has (nor the delete log). [INF]: undocumented; default
	// INVALID_CROSS_REFERENCE_KEY, with no fields.
	MissingIDCode string
	// DeletedRetention is how long the delete log keeps a deletion; default 15 days ("Results
	// are returned for no more than 15 days previous to the day the call is executed" [doc:
	// sObject Get Deleted]). [INF]: the fake keeps a rolling window, to the minute.
	DeletedRetention time.Duration
	// LenientDeletedStart answers a Get Deleted whose start is before earliestDateAvailable
	// with 200 and what the log still holds, instead of 400 INVALID_REPLICATION_DATE, which
	// is what the getDeleted() rules document [doc] and the fake does by default. [INF]:
	// the REST page documents no error of its own.
	LenientDeletedStart bool
	// MaxDeletedIDs is the most ids one Get Deleted answers; more is EXCEEDED_ID_LIMIT.
	// Default 600,000 [doc: sObject Get Deleted].
	MaxDeletedIDs int
}

var defaultRequired = map[string][]string{
	"Account":     {"Name"},
	"Contact":     {"LastName"},
	"Lead":        {"LastName", "Company"},
	"Opportunity": {"Name", "StageName", "CloseDate"},
}

// readOnlyFields are refused in writes.
var readOnlyFields = []string{"SystemModstamp", "LastModifiedDate", "CreatedDate", "CreatedById", "LastModifiedById", "IsDeleted"}

// Stats counts what the fake served.
type Stats struct {
	// TokenRequests counts calls to the token endpoint, refused ones included.
	TokenRequests int
	// APIRequests counts REST calls that were authorized and counted toward the limit.
	APIRequests int
	// Queries counts query calls, nextRecordsUrl calls included.
	Queries int
	// Writes counts collection and single-record write calls.
	Writes int
	// Unauthorized counts 401 answers; LimitExceeded 403 REQUEST_LIMIT_EXCEEDED answers.
	Unauthorized  int
	LimitExceeded int
	// LongestURL is the length of the longest request URI seen.
	LongestURL int
}

// Server is a fake Salesforce org. It is safe for concurrent use and starts no goroutines.
type Server struct {
	opts Options

	mu       sync.Mutex
	tables   map[string]*table // by lower-case object name
	counter  uint64
	custom   int // custom objects seen, for their key prefixes
	tokens   map[string]bool
	used     int
	failures []int // statuses of the next failed calls
	latency  time.Duration
	locators map[string]*locator
	stats    Stats
	queries  []string
}

type table struct {
	name    string // the object's API name
	prefix  string
	records map[string]*record
	names   map[string]string // lower-case field name → the spelling first written
	// deleted is the delete log: when each deleted record was deleted, by id.
	deleted map[string]time.Time
	// deleting are deletions still in progress (StartDelete): when each began, by id.
	deleting map[string]time.Time
}

type record struct {
	id       string
	fields   map[string]any // by canonical name; "" is stored as nil, as Salesforce does
	created  time.Time
	modstamp time.Time
	// locked records refuse updates and deletes (ENTITY_IS_LOCKED), as a record in an
	// approval process does.
	locked bool
}

// locator is an open query cursor behind a nextRecordsUrl.
type locator struct {
	rows []map[string]any
	size int
}

// New returns an empty org.
func New(opts Options) *Server {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.Username == "" {
		opts.Username = DefaultUsername
	}
	if opts.OrgID == "" {
		opts.OrgID = DefaultOrgID
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.DailyLimit <= 0 {
		opts.DailyLimit = DefaultDailyLimit
	}
	if opts.Precision <= 0 {
		opts.Precision = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RequiredFields == nil {
		opts.RequiredFields = defaultRequired
	}
	if opts.MissingIDCode == "" {
		opts.MissingIDCode = "INVALID_CROSS_REFERENCE_KEY"
	}
	if opts.DeletedRetention <= 0 {
		opts.DeletedRetention = DefaultDeletedRetention
	}
	if opts.MaxDeletedIDs <= 0 {
		opts.MaxDeletedIDs = DefaultMaxDeletedIDs
	}
	return &Server{
		opts:     opts,
		tables:   map[string]*table{},
		tokens:   map[string]bool{},
		locators: map[string]*locator{},
	}
}

// OrgID returns the organization id.
func (s *Server) OrgID() string { return s.opts.OrgID }

// now returns the current SystemModstamp. Callers hold s.mu.
func (s *Server) now() time.Time {
	return s.opts.Now().UTC().Truncate(s.opts.Precision)
}

// ---- test controls ----

// ExpireTokens ends every issued session: the next call with one answers 401
// INVALID_SESSION_ID, as when a session times out.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = map[string]bool{}
}

// FailNext makes the next n authorized REST calls answer status (500 UNKNOWN_EXCEPTION,
// 503 SERVER_UNAVAILABLE, 401 INVALID_SESSION_ID, 403 REQUEST_LIMIT_EXCEEDED, ...) without
// doing anything. They count toward the limit.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, status)
	}
}

// SetLatency makes every request wait d before it is served (honouring its context).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetAPIUsage sets the calls used of the daily limit.
func (s *Server) SetAPIUsage(used int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used = used
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Queries returns the SOQL statements received, in order.
func (s *Server) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

// Seed stores a record of object as a user would create it (no validation) and returns its
// id.
func (s *Server) Seed(object string, fields map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tb := s.table(object)
	now := s.now()
	r := &record{id: s.newID(tb), fields: map[string]any{}, created: now, modstamp: now}
	tb.merge(r, fields)
	tb.records[r.id] = r
	return r.id
}

// Set changes fields of a record as a user edit does, moving its SystemModstamp to now.
func (s *Server) Set(object, id string, fields map[string]any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.find(object, id)
	if err != nil {
		return err
	}
	s.table(object).merge(r, fields)
	r.modstamp = s.now()
	return nil
}

// SetModstamp sets a record's SystemModstamp (and LastModifiedDate), so a test can make
// equal timestamps that Salesforce produces only by chance.
func (s *Server) SetModstamp(object, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.find(object, id)
	if err != nil {
		return err
	}
	r.modstamp = at.UTC().Round(0)
	return nil
}

// Records returns object's records sorted by id: ID, UpdatedAt = SystemModstamp, and the
// fields written to them (not the system fields).
func (s *Server) Records(object string) []connectors.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	tb := s.table(object)
	out := make([]connectors.Record, 0, len(tb.records))
	for _, r := range tb.records {
		f := make(map[string]any, len(r.fields))
		for k, v := range r.fields {
			f[k] = v
		}
		out = append(out, connectors.Record{ID: r.id, UpdatedAt: r.modstamp, Fields: f})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *Server) find(object, id string) (*record, error) {
	r := s.table(object).records[to18IfValid(id)]
	if r == nil {
		return nil, fmt.Errorf("salesforcefake: no %s %s", object, id)
	}
	return r, nil
}

func to18IfValid(id string) string {
	if validID(id) {
		return to18(id)
	}
	return id
}

// ---- tables ----

// objectName returns the API name of object, or an INVALID_TYPE error when the org has no
// such object.
func (s *Server) objectName(object string) (string, error) {
	for _, o := range standardObjects {
		if strings.EqualFold(o, object) {
			return o, nil
		}
	}
	for _, o := range s.opts.Objects {
		if strings.EqualFold(o, object) {
			return o, nil
		}
	}
	if tb, ok := s.tables[strings.ToLower(object)]; ok {
		return tb.name, nil
	}
	if strings.HasSuffix(strings.ToLower(object), "__c") && len(object) > 3 {
		return object, nil
	}
	return "", &apiErr{status: http.StatusBadRequest, code: "INVALID_TYPE",
		msg: fmt.Sprintf("sObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name.", object)}
}

// table returns object's table, creating it. Callers hold s.mu.
func (s *Server) table(object string) *table {
	key := strings.ToLower(object)
	if tb, ok := s.tables[key]; ok {
		return tb
	}
	name := object
	if n, err := s.objectName(object); err == nil {
		name = n
	}
	prefix, ok := keyPrefixes[key]
	if !ok {
		prefix = "a0" + string(base62[s.custom%62])
		s.custom++
	}
	tb := &table{name: name, prefix: prefix, records: map[string]*record{}, names: map[string]string{}, deleted: map[string]time.Time{}, deleting: map[string]time.Time{}}
	s.tables[key] = tb
	return tb
}

func (s *Server) newID(tb *table) string {
	s.counter++
	return MakeID(tb.prefix, s.counter)
}

// canon returns the stored spelling of field name, recording it on first use.
func (tb *table) canon(name string) string {
	key := strings.ToLower(name)
	if c, ok := tb.names[key]; ok {
		return c
	}
	tb.names[key] = name
	return name
}

// merge writes fields into r; an empty string clears a field, as in Salesforce.
func (tb *table) merge(r *record, fields map[string]any) {
	for k, v := range fields {
		if k == "attributes" || strings.EqualFold(k, "Id") {
			continue
		}
		if v == "" {
			v = nil
		}
		r.fields[tb.canon(k)] = v
	}
}

// get returns r's value of field: Id, the datetime system fields (as time.Time), or a
// written field (nil when absent).
func (tb *table) get(r *record, field string) any {
	switch strings.ToLower(field) {
	case "id":
		return r.id
	case "systemmodstamp", "lastmodifieddate":
		return r.modstamp
	case "createddate":
		return r.created
	case "isdeleted":
		return false // deleted records leave the table for the delete log
	}
	if c, ok := tb.names[strings.ToLower(field)]; ok {
		field = c
	}
	return r.fields[field]
}

// fieldName is the spelling of field in answers.
func (tb *table) fieldName(field string) string {
	for _, f := range append([]string{"Id"}, datetimeFields...) {
		if strings.EqualFold(f, field) {
			return f
		}
	}
	if c, ok := tb.names[strings.ToLower(field)]; ok {
		return c
	}
	return field
}

// checkFields refuses fields outside the object's Schema entry, if it has one.
func (s *Server) checkFields(tb *table, fields []string) error {
	var schema []string
	var strict bool
	for o, f := range s.opts.Schema {
		if strings.EqualFold(o, tb.name) {
			schema, strict = f, true
		}
	}
	if !strict {
		return nil
	}
outer:
	for _, f := range fields {
		if strings.EqualFold(f, "Id") || isDatetimeField(f) || f == "attributes" {
			continue
		}
		for _, ok := range append(schema, readOnlyFields...) {
			if strings.EqualFold(ok, f) {
				continue outer
			}
		}
		return &apiErr{status: http.StatusBadRequest, code: "INVALID_FIELD", fields: []string{f},
			msg: fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name.", f, tb.name)}
	}
	return nil
}

func (s *Server) isExternalID(tb *table, field string) bool {
	if s.opts.ExternalIDFields == nil {
		return strings.HasSuffix(strings.ToLower(field), "__c")
	}
	for o, fields := range s.opts.ExternalIDFields {
		if strings.EqualFold(o, tb.name) {
			for _, f := range fields {
				if strings.EqualFold(f, field) {
					return true
				}
			}
		}
	}
	return false
}

// matches returns the ids of records whose field equals value, without case (external
// ids are case-insensitive unless marked case-sensitive [INF]).
func (tb *table) matches(field, value string) []string {
	var ids []string
	for _, r := range tb.records {
		if v := tb.get(r, field); v != nil && strings.EqualFold(connectors.KeyString(v), value) {
			ids = append(ids, r.id)
		}
	}
	sort.Strings(ids)
	return ids
}

// ---- HTTP ----

// apiErr is an error answer: Salesforce's JSON array [{message, errorCode, fields}].
type apiErr struct {
	status int
	code   string
	msg    string
	fields []string
}

func (e *apiErr) Error() string { return e.code + ": " + e.msg }

type errorBody struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, e *apiErr) {
	fields := e.fields
	if fields == nil {
		fields = []string{}
	}
	writeJSON(w, e.status, []errorBody{{Message: e.msg, ErrorCode: e.code, Fields: fields}})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The org's clock, as Salesforce's answers carry it (the client reads it to know
	// which second is still open).
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	s.mu.Lock()
	latency := s.latency
	if n := len(r.URL.RequestURI()); n > s.stats.LongestURL {
		s.stats.LongestURL = n
	}
	s.mu.Unlock()
	if latency > 0 {
		// Read the body first: the server notices a client that went away (and cancels
		// r.Context) only once the request body has been consumed.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case r.URL.Path == "/services/oauth2/token":
		s.serveToken(w, r)
	case strings.HasPrefix(r.URL.Path, "/services/data/"):
		s.serveAPI(w, r)
	default:
		writeErr(w, &apiErr{status: http.StatusNotFound, code: "NOT_FOUND", msg: "The requested resource does not exist"})
	}
}

// tokenAnswer is the token endpoint's answer.
type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	Signature   string `json:"signature"`
	Scope       string `json:"scope"`
	InstanceURL string `json:"instance_url"`
	ID          string `json:"id"`
	TokenType   string `json:"token_type"`
	IssuedAt    string `json:"issued_at"`
}

func oauthError(w http.ResponseWriter, code, desc string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": desc})
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stats.TokenRequests++
	s.mu.Unlock()
	if r.Method != http.MethodPost {
		oauthError(w, "invalid_request", "must use HTTP POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, "invalid_request", "malformed form body")
		return
	}
	switch r.PostForm.Get("grant_type") {
	case "client_credentials":
		id, secret, basic := r.BasicAuth()
		if !basic {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		if id != s.opts.ClientID || secret != s.opts.ClientSecret {
			oauthError(w, "invalid_client", "invalid client credentials")
			return
		}
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		if code, desc := s.checkAssertion(r.PostForm.Get("assertion")); code != "" {
			oauthError(w, code, desc)
			return
		}
	case "":
		oauthError(w, "unsupported_grant_type", "grant type not specified")
		return
	default:
		oauthError(w, "unsupported_grant_type", "grant type not supported")
		return
	}

	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	token := s.opts.OrgID[:15] + "!AQ" + hex.EncodeToString(raw)
	instance := s.opts.InstanceURL
	if instance == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		instance = scheme + "://" + r.Host
	}
	s.mu.Lock()
	s.tokens[token] = true
	now := s.opts.Now()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, tokenAnswer{
		AccessToken: token,
		Signature:   base64.StdEncoding.EncodeToString(raw[:12]),
		Scope:       "api",
		InstanceURL: instance,
		ID:          instance + "/id/" + s.opts.OrgID + "/" + MakeID("005", 1),
		TokenType:   "Bearer",
		IssuedAt:    strconv.FormatInt(now.UnixMilli(), 10),
	})
}

// checkAssertion checks a JWT bearer assertion: iss is the client id, sub the user, aud
// Options.Audience when set, exp in the future, and the RS256 signature when
// Options.JWTPublicKey is set. It returns an OAuth error code and description, or "".
func (s *Server) checkAssertion(assertion string) (code, desc string) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "invalid_grant", "invalid assertion"
	}
	enc := base64.RawURLEncoding
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp int64           `json:"exp"`
	}
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return "invalid_grant", "invalid assertion"
	}
	if header.Alg != "RS256" {
		return "invalid_grant", "invalid assertion: alg must be RS256"
	}
	if s.opts.JWTPublicKey != nil {
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if rsa.VerifyPKCS1v15(s.opts.JWTPublicKey, crypto.SHA256, sum[:], sig) != nil {
			return "invalid_grant", "invalid assertion: signature does not verify"
		}
	}
	if claims.Iss != s.opts.ClientID {
		return "invalid_client_id", "client identifier invalid"
	}
	if claims.Sub != s.opts.Username {
		return "invalid_grant", "user hasn't approved this consumer"
	}
	if s.opts.Audience != "" {
		var aud string
		if json.Unmarshal(claims.Aud, &aud) != nil || aud != s.opts.Audience {
			return "invalid_grant", "audience is invalid"
		}
	}
	s.mu.Lock()
	now := s.opts.Now()
	s.mu.Unlock()
	if claims.Exp == 0 || time.Unix(claims.Exp, 0).Before(now) {
		return "invalid_grant", "expired authorization code"
	}
	return "", ""
}

// serveAPI serves /services/data/vXX.X/...: session check, limit, injected failures,
// then the resource.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/services/data/")
	version, rest, _ := strings.Cut(rest, "/")
	if !strings.HasPrefix(version, "v") {
		writeErr(w, &apiErr{status: http.StatusNotFound, code: "NOT_FOUND", msg: "The requested resource does not exist"})
		return
	}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")

	s.mu.Lock()
	if !s.tokens[token] {
		s.stats.Unauthorized++
		s.mu.Unlock()
		writeErr(w, &apiErr{status: http.StatusUnauthorized, code: "INVALID_SESSION_ID", msg: "Session expired or invalid"})
		return
	}
	if s.used >= s.opts.DailyLimit {
		s.stats.LimitExceeded++
		w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", s.used, s.opts.DailyLimit))
		s.mu.Unlock()
		writeErr(w, &apiErr{status: http.StatusForbidden, code: "REQUEST_LIMIT_EXCEEDED", msg: "TotalRequests Limit exceeded."})
		return
	}
	s.used++
	s.stats.APIRequests++
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", s.used, s.opts.DailyLimit))
	var failure int
	if len(s.failures) > 0 {
		failure, s.failures = s.failures[0], s.failures[1:]
	}
	s.mu.Unlock()

	if failure != 0 {
		writeErr(w, injected(failure))
		return
	}
	var err error
	switch {
	case r.Method == http.MethodGet && rest == "query":
		err = s.serveQuery(w, r, version)
	case r.Method == http.MethodGet && strings.HasPrefix(rest, "query/"):
		err = s.serveQueryMore(w, version, strings.TrimPrefix(rest, "query/"))
	case r.Method == http.MethodPost && rest == "composite/sobjects":
		err = s.serveCollection(w, r, version, opCreate, "", "")
	case r.Method == http.MethodPatch && rest == "composite/sobjects":
		err = s.serveCollection(w, r, version, opUpdate, "", "")
	case r.Method == http.MethodPatch && strings.HasPrefix(rest, "composite/sobjects/"):
		object, field, ok := strings.Cut(strings.TrimPrefix(rest, "composite/sobjects/"), "/")
		if !ok || field == "" || strings.Contains(field, "/") {
			err = &apiErr{status: http.StatusNotFound, code: "NOT_FOUND", msg: "The requested resource does not exist"}
			break
		}
		err = s.serveCollection(w, r, version, opUpsert, object, field)
	case r.Method == http.MethodPatch && strings.HasPrefix(rest, "sobjects/") && strings.Count(rest, "/") == 2:
		object, id, _ := strings.Cut(strings.TrimPrefix(rest, "sobjects/"), "/")
		err = s.servePatchRecord(w, r, object, id)
	case r.Method == http.MethodDelete && rest == "composite/sobjects":
		err = s.serveDeleteCollection(w, r)
	case r.Method == http.MethodGet && describePath(rest) != "":
		err = s.serveDescribe(w, describePath(rest))
	case r.Method == http.MethodGet && deletedPath(rest) != "":
		err = s.serveDeleted(w, r, deletedPath(rest))
	case r.Method == http.MethodPatch && strings.HasPrefix(rest, "sobjects/") && strings.Count(rest, "/") == 3:
		parts := strings.SplitN(strings.TrimPrefix(rest, "sobjects/"), "/", 3)
		err = s.serveUpsertOne(w, r, version, parts[0], parts[1], parts[2])
	default:
		err = &apiErr{status: http.StatusNotFound, code: "NOT_FOUND", msg: "The requested resource does not exist"}
	}
	if err != nil {
		if e, ok := err.(*apiErr); ok {
			writeErr(w, e)
			return
		}
		writeErr(w, &apiErr{status: http.StatusInternalServerError, code: "UNKNOWN_EXCEPTION", msg: err.Error()})
	}
}

func injected(status int) *apiErr {
	e := &apiErr{status: status, code: "UNKNOWN_EXCEPTION", msg: "An unexpected error occurred. Please include this ErrorId if you contact support: 1234567890-12345 (-1234567890)"}
	switch status {
	case http.StatusUnauthorized:
		e.code, e.msg = "INVALID_SESSION_ID", "Session expired or invalid"
	case http.StatusForbidden:
		e.code, e.msg = "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		e.code, e.msg = "SERVER_UNAVAILABLE", "Server temporarily unavailable, please try again later"
	}
	return e
}

// ---- query ----

type queryAnswer struct {
	TotalSize      int              `json:"totalSize"`
	Done           bool             `json:"done"`
	NextRecordsURL string           `json:"nextRecordsUrl,omitempty"`
	Records        []map[string]any `json:"records"`
}

func (s *Server) batchSize(r *http.Request) int {
	size := s.opts.BatchSize
	for _, opt := range strings.Split(r.Header.Get("Sforce-Query-Options"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(opt), "batchSize="); ok {
			if n, err := strconv.Atoi(v); err == nil && n >= 200 && n <= 2000 && n < size {
				size = n
			}
		}
	}
	return size
}

func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request, version string) error {
	soql := r.URL.Query().Get("q")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Queries++
	s.queries = append(s.queries, soql)
	q, err := parseSOQL(soql)
	if err != nil {
		return asAPIErr(err)
	}
	object, err := s.objectName(q.object)
	if err != nil {
		return err
	}
	tb := s.table(object)
	if err := s.checkFields(tb, append(append(q.fields, condFields(q.where)...), orderFields(q.order)...)); err != nil {
		return err
	}
	var matched []*record
	get := func(r *record) getter { return func(f string) any { return tb.get(r, f) } }
	for _, rec := range tb.records {
		ok := true
		if q.where != nil {
			if ok, err = q.where.eval(get(rec)); err != nil {
				return asAPIErr(err)
			}
		}
		if ok {
			matched = append(matched, rec)
		}
	}
	// Without ORDER BY Salesforce promises no order; id order keeps the fake repeatable.
	sort.Slice(matched, func(i, j int) bool { return matched[i].id < matched[j].id })
	sortRows(matched, q.order, func(r *record, f string) any { return tb.get(r, f) })
	if q.limit >= 0 && len(matched) > q.limit {
		matched = matched[:q.limit]
	}
	rows := make([]map[string]any, len(matched))
	for i, rec := range matched {
		row := map[string]any{"attributes": map[string]string{
			"type": tb.name, "url": "/services/data/" + version + "/sobjects/" + tb.name + "/" + rec.id}}
		for _, f := range q.fields {
			if head, _, dotted := strings.Cut(f, "."); dotted {
				row[head] = nil // the fake has no relationships
				continue
			}
			row[tb.fieldName(f)] = render(tb.get(rec, f))
		}
		rows[i] = row
	}
	writeJSON(w, http.StatusOK, s.batch(version, rows, 0, s.batchSize(r), ""))
	return nil
}

// batch returns the batch of rows from offset, opening a locator for the rest. Callers
// hold s.mu.
func (s *Server) batch(version string, rows []map[string]any, offset, size int, locatorID string) queryAnswer {
	if loc := s.locators[locatorID]; loc != nil {
		size = loc.size
	}
	end := min(offset+size, len(rows))
	ans := queryAnswer{TotalSize: len(rows), Done: end == len(rows), Records: rows[offset:end]}
	if !ans.Done {
		if locatorID == "" {
			s.counter++
			locatorID = MakeID("01g", s.counter)
			s.locators[locatorID] = &locator{rows: rows, size: size}
		}
		ans.NextRecordsURL = fmt.Sprintf("/services/data/%s/query/%s-%d", version, locatorID, end)
	} else if locatorID != "" {
		delete(s.locators, locatorID)
	}
	if ans.Records == nil {
		ans.Records = []map[string]any{}
	}
	return ans
}

func (s *Server) serveQueryMore(w http.ResponseWriter, version, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Queries++
	id, off, ok := strings.Cut(ref, "-")
	offset, err := strconv.Atoi(off)
	loc := s.locators[id]
	if !ok || err != nil || loc == nil || offset < 0 || offset > len(loc.rows) {
		return &apiErr{status: http.StatusBadRequest, code: "INVALID_QUERY_LOCATOR", msg: "invalid query locator"}
	}
	writeJSON(w, http.StatusOK, s.batch(version, loc.rows, offset, loc.size, id))
	return nil
}

func asAPIErr(err error) error {
	if q, ok := err.(*queryError); ok {
		return &apiErr{status: http.StatusBadRequest, code: q.code, msg: q.msg}
	}
	return err
}

func condFields(c cond) []string {
	switch c := c.(type) {
	case andCond:
		return append(condFields(c.a), condFields(c.b)...)
	case orCond:
		return append(condFields(c.a), condFields(c.b)...)
	case notCond:
		return condFields(c.c)
	case cmpCond:
		return []string{c.field}
	case inCond:
		return []string{c.field}
	case likeCond:
		return []string{c.field}
	}
	return nil
}

func orderFields(keys []orderKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.field
	}
	return out
}

// render writes a value as the API does: datetimes as 2024-05-01T12:00:00.000+0000.
func render(v any) any {
	if t, ok := v.(time.Time); ok {
		return t.UTC().Format("2006-01-02T15:04:05.000+0000")
	}
	return v
}

// ---- writes ----

type op int

const (
	opCreate op = iota
	opUpdate
	opUpsert
)

type saveError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

type saveResult struct {
	ID      string      `json:"id,omitempty"`
	Success bool        `json:"success"`
	Errors  []saveError `json:"errors"`
	Created *bool       `json:"created,omitempty"`
}

func recordErr(code, msg string, fields ...string) []saveError {
	if fields == nil {
		fields = []string{}
	}
	return []saveError{{StatusCode: code, Message: msg, Fields: fields}}
}

type collectionRequest struct {
	AllOrNone bool             `json:"allOrNone"`
	Records   []map[string]any `json:"records"`
}

func (s *Server) serveCollection(w http.ResponseWriter, r *http.Request, version string, o op, object, keyField string) error {
	var req collectionRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return &apiErr{status: http.StatusBadRequest, code: "JSON_PARSER_ERROR", msg: "Unexpected character in the request body: " + err.Error()}
	}
	if len(req.Records) > MaxRecords {
		return &apiErr{status: http.StatusBadRequest, code: "EXCEEDED_ID_LIMIT",
			msg: fmt.Sprintf("record limit reached. cannot submit more than %d records into this call", MaxRecords)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Writes++

	var upsertTable *table
	if o == opUpsert {
		name, err := s.objectName(object)
		if err != nil {
			return err
		}
		upsertTable = s.table(name)
		if !s.isExternalID(upsertTable, keyField) {
			return &apiErr{status: http.StatusBadRequest, code: "INVALID_FIELD", fields: []string{keyField},
				msg: fmt.Sprintf("Field name provided, %s is not an External ID or indexed field for %s", keyField, upsertTable.name)}
		}
	}
	// Whole-request checks first, as Salesforce refuses a malformed request outright.
	tables := make([]*table, len(req.Records))
	for i, rec := range req.Records {
		attrs, _ := rec["attributes"].(map[string]any)
		typ, _ := attrs["type"].(string)
		if typ == "" {
			return &apiErr{status: http.StatusBadRequest, code: "INVALID_TYPE", msg: "Must send a concrete entity type."}
		}
		name, err := s.objectName(typ)
		if err != nil {
			return err
		}
		tables[i] = s.table(name)
		if upsertTable != nil && tables[i] != upsertTable {
			return &apiErr{status: http.StatusBadRequest, code: "INVALID_TYPE",
				msg: fmt.Sprintf("The sObject type %s of the record does not match the URI's %s", typ, upsertTable.name)}
		}
		names := make([]string, 0, len(rec))
		for k := range rec {
			names = append(names, k)
		}
		if err := s.checkFields(tables[i], names); err != nil {
			return err
		}
	}

	var undo []func()
	results := make([]saveResult, len(req.Records))
	failed := false
	for i, rec := range req.Records {
		tb := tables[i]
		var res saveResult
		switch o {
		case opCreate:
			res = s.save(tb, nil, rec, true, &undo)
		case opUpdate:
			res = s.update(tb, rec, &undo)
		case opUpsert:
			res = s.upsert(tb, keyField, rec, &undo)
		}
		if !res.Success {
			failed = true
		}
		results[i] = res
	}
	if failed && req.AllOrNone {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		for i := range results {
			if results[i].Success {
				results[i] = saveResult{Errors: recordErr("ALL_OR_NONE_OPERATION_ROLLED_BACK",
					"Record rolled back because not all records were valid and the request was using AllOrNone header")}
			}
		}
	}
	writeJSON(w, http.StatusOK, results)
	return nil
}

func (s *Server) update(tb *table, rec map[string]any, undo *[]func()) saveResult {
	var id string
	for k, v := range rec {
		if strings.EqualFold(k, "id") {
			id, _ = v.(string)
		}
	}
	switch {
	case id == "":
		return saveResult{Errors: recordErr("MISSING_ARGUMENT", "Id not specified in an update call", "Id")}
	case !validID(id):
		return saveResult{Errors: recordErr("MALFORMED_ID", "malformed id "+id, "Id")}
	}
	existing := tb.records[to18(id)]
	if existing == nil {
		msg := "invalid cross reference id"
		if s.opts.MissingIDCode == "ENTITY_IS_DELETED" {
			msg = "entity is deleted"
		}
		return saveResult{Errors: recordErr(s.opts.MissingIDCode, msg)}
	}
	return s.save(tb, existing, rec, false, undo)
}

func (s *Server) upsert(tb *table, keyField string, rec map[string]any, undo *[]func()) saveResult {
	var value string
	for k, v := range rec {
		if strings.EqualFold(k, keyField) {
			value = connectors.KeyString(v)
		}
	}
	if value == "" {
		return saveResult{Errors: recordErr("MISSING_ARGUMENT", keyField+" not specified", keyField)}
	}
	created := false
	switch ids := tb.matches(keyField, value); len(ids) {
	case 0:
		res := s.save(tb, nil, rec, true, undo)
		created = res.Success
		res.Created = &created
		return res
	case 1:
		res := s.save(tb, tb.records[ids[0]], rec, false, undo)
		res.Created = &created
		return res
	default:
		// The Bulk API's wording of a multiple match [3p]; Collections' is undocumented.
		return saveResult{Errors: recordErr("DUPLICATE_EXTERNAL_ID",
			fmt.Sprintf("%s: more than one record found for external id field: [%s]", keyField, strings.Join(ids, ", ")))}
	}
}

// save validates fields for a new record (existing nil) or an existing one, and writes
// them, recording how to undo the write. Callers hold s.mu.
func (s *Server) save(tb *table, existing *record, fields map[string]any, create bool, undo *[]func()) saveResult {
	if existing != nil && existing.locked {
		return saveResult{Errors: recordErr("ENTITY_IS_LOCKED", lockedMessage)}
	}
	for k := range fields {
		if create && strings.EqualFold(k, "Id") {
			return saveResult{Errors: recordErr("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", "Id")}
		}
		for _, ro := range readOnlyFields {
			if strings.EqualFold(ro, k) {
				return saveResult{Errors: recordErr("INVALID_FIELD_FOR_INSERT_UPDATE",
					fmt.Sprintf("Unable to create/update fields: %s. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", ro), ro)}
			}
		}
	}
	next := &record{fields: map[string]any{}}
	if existing != nil {
		*next = *existing
		next.fields = make(map[string]any, len(existing.fields))
		for k, v := range existing.fields {
			next.fields[k] = v
		}
	}
	tb.merge(next, fields)

	var missing []string
	for o, req := range s.opts.RequiredFields {
		if strings.EqualFold(o, tb.name) {
			for _, f := range req {
				if tb.get(next, f) == nil {
					missing = append(missing, f)
				}
			}
		}
	}
	if len(missing) > 0 {
		return saveResult{Errors: recordErr("REQUIRED_FIELD_MISSING",
			"Required fields are missing: ["+strings.Join(missing, ", ")+"]", missing...)}
	}
	if s.opts.UniqueExternalIDs {
		for k, v := range next.fields {
			if v == nil || !s.isExternalID(tb, k) {
				continue
			}
			for _, id := range tb.matches(k, connectors.KeyString(v)) {
				if existing == nil || id != existing.id {
					return saveResult{Errors: recordErr("DUPLICATE_VALUE",
						fmt.Sprintf("duplicate value found: %s duplicates value on record with id: %s", k, id))}
				}
			}
		}
	}

	now := s.now()
	next.modstamp = now
	if existing == nil {
		next.id = s.newID(tb)
		next.created = now
		tb.records[next.id] = next
		id := next.id
		*undo = append(*undo, func() { delete(tb.records, id) })
	} else {
		prev := *existing
		*existing = *next
		*undo = append(*undo, func() { *existing = prev })
		next = existing
	}
	return saveResult{ID: next.id, Success: true, Errors: []saveError{}}
}

// servePatchRecord serves PATCH /sobjects/{object}/{id} (sObject Rows): 204 updated
// [api-notes 3(d)], 400 with the record's errors, 404 for an id no record has [doc:
// errorcodes; the body's wording is INF, the fake's usual NOT_FOUND], and the conditional
// header If-Unmodified-Since [doc: REST API Developer Guide, Conditional Request Headers;
// errorcodes, 412]: processed only if the record has not changed since the date, else 412
// Precondition Failed and nothing written; a header that is not an HTTP-date is 400. As HTTP has it (RFC 9110, 13.1.4 and 13.2.2), the record's last
// modification date is compared at the header's whole-second precision, and a missing
// record answers 404 whatever the header says.
func (s *Server) servePatchRecord(w http.ResponseWriter, r *http.Request, object, id string) error {
	var fields map[string]any
	if err := json.NewDecoder(r.Body).Decode(&fields); err != nil {
		return &apiErr{status: http.StatusBadRequest, code: "JSON_PARSER_ERROR", msg: "Unexpected character in the request body: " + err.Error()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Writes++
	name, err := s.objectName(object)
	if err != nil {
		return err
	}
	tb := s.table(name)
	var existing *record
	if validID(id) {
		existing = tb.records[to18(id)]
	}
	if existing == nil {
		return &apiErr{status: http.StatusNotFound, code: "NOT_FOUND", msg: "The requested resource does not exist"}
	}
	if h := r.Header.Get("If-Unmodified-Since"); h != "" {
		since, err := http.ParseTime(h)
		if err != nil {
			// [INF]: the documented answer is 400; the body's errorCode is not documented.
			return &apiErr{status: http.StatusBadRequest, code: "MALFORMED_HEADER",
				msg: fmt.Sprintf("If-Unmodified-Since: %q is not an HTTP-date", h)}
		}
		// The fake keeps one change time, SystemModstamp, which it also answers as
		// LastModifiedDate (the field Salesforce compares).
		if existing.modstamp.Truncate(time.Second).After(since) {
			// [INF]: Salesforce documents the 412 but not its body. Its REST errors are the
			// JSON array [{message, errorCode}] [doc: errorcodes], so the fake answers one,
			// with a code named after the status; the connector reads only the status.
			return &apiErr{status: http.StatusPreconditionFailed, code: "PRECONDITION_FAILED",
				msg: fmt.Sprintf("The record was modified after %s (If-Unmodified-Since)", h)}
		}
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	if err := s.checkFields(tb, names); err != nil {
		return err
	}
	var undo []func()
	if res := s.save(tb, existing, fields, false, &undo); !res.Success {
		out := make([]errorBody, len(res.Errors))
		for i, e := range res.Errors {
			out[i] = errorBody{Message: e.Message, ErrorCode: e.StatusCode, Fields: e.Fields}
		}
		writeJSON(w, http.StatusBadRequest, out)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// serveUpsertOne serves PATCH /sobjects/{object}/{field}/{value}: 201 created, 200 updated,
// 300 with the matching records' URLs, 400 with the record's errors, 404 for a field that
// is not an external id [doc: dome_upsert; resources_sobject_upsert_patch].
func (s *Server) serveUpsertOne(w http.ResponseWriter, r *http.Request, version, object, field, value string) error {
	var fields map[string]any
	if err := json.NewDecoder(r.Body).Decode(&fields); err != nil {
		return &apiErr{status: http.StatusBadRequest, code: "JSON_PARSER_ERROR", msg: "Unexpected character in the request body: " + err.Error()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Writes++
	name, err := s.objectName(object)
	if err != nil {
		return err
	}
	tb := s.table(name)
	if !s.isExternalID(tb, field) {
		return &apiErr{status: http.StatusNotFound, code: "NOT_FOUND",
			msg: "Provided external ID field does not exist or is not accessible: " + field}
	}
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	if err := s.checkFields(tb, names); err != nil {
		return err
	}
	for k, v := range fields {
		if strings.EqualFold(k, field) && connectors.KeyString(v) != value {
			return &apiErr{status: http.StatusBadRequest, code: "INVALID_FIELD", fields: []string{field},
				msg: fmt.Sprintf("The value of %s in the request body does not match the URL's", field)}
		}
	}
	var undo []func()
	ids := tb.matches(field, value)
	var res saveResult
	status := http.StatusOK
	switch len(ids) {
	case 0:
		withKey := map[string]any{field: value}
		for k, v := range fields {
			withKey[k] = v
		}
		res = s.save(tb, nil, withKey, true, &undo)
		status = http.StatusCreated
	case 1:
		res = s.save(tb, tb.records[ids[0]], fields, false, &undo)
	default:
		urls := make([]string, len(ids))
		for i, id := range ids {
			urls[i] = "/services/data/" + version + "/sobjects/" + tb.name + "/" + id
		}
		writeJSON(w, http.StatusMultipleChoices, urls)
		return nil
	}
	if !res.Success {
		out := make([]errorBody, len(res.Errors))
		for i, e := range res.Errors {
			out[i] = errorBody{Message: e.Message, ErrorCode: e.StatusCode, Fields: e.Fields}
		}
		writeJSON(w, http.StatusBadRequest, out)
		return nil
	}
	created := status == http.StatusCreated
	res.Created = &created
	writeJSON(w, status, res)
	return nil
}

// ---- outbound messages ----

// OutboundMessage returns the SOAP body of an Outbound Message announcing the given records
// of object, with their current fields, as Salesforce would POST it to a listener.
func (s *Server) OutboundMessage(object string, ids ...string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name, err := s.objectName(object)
	if err != nil {
		return nil, err
	}
	tb := s.table(name)
	org15 := s.opts.OrgID[:15]
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
`)
	fmt.Fprintf(&b, "   <OrganizationId>%s</OrganizationId>\n", s.opts.OrgID)
	fmt.Fprintf(&b, "   <ActionId>%s</ActionId>\n", MakeID("04k", 1))
	b.WriteString("   <SessionId xsi:nil=\"true\"/>\n")
	fmt.Fprintf(&b, "   <EnterpriseUrl>https://tandem-fake.my.salesforce.com/services/Soap/c/62.0/%s</EnterpriseUrl>\n", org15)
	fmt.Fprintf(&b, "   <PartnerUrl>https://tandem-fake.my.salesforce.com/services/Soap/u/62.0/%s</PartnerUrl>\n", org15)
	for _, id := range ids {
		r := tb.records[to18IfValid(id)]
		if r == nil {
			return nil, fmt.Errorf("salesforcefake: no %s %s", name, id)
		}
		s.counter++
		b.WriteString("   <Notification>\n")
		fmt.Fprintf(&b, "    <Id>%s</Id>\n", MakeID("04l", s.counter))
		fmt.Fprintf(&b, "    <sObject xsi:type=\"sf:%s\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\">\n", name)
		fmt.Fprintf(&b, "     <sf:Id>%s</sf:Id>\n", r.id)
		keys := make([]string, 0, len(r.fields))
		for k := range r.fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if v := r.fields[k]; v == nil {
				fmt.Fprintf(&b, "     <sf:%s xsi:nil=\"true\"/>\n", k)
			} else {
				fmt.Fprintf(&b, "     <sf:%s>%s</sf:%s>\n", k, xmlEscape(connectors.KeyString(v)), k)
			}
		}
		fmt.Fprintf(&b, "     <sf:SystemModstamp>%s</sf:SystemModstamp>\n", r.modstamp.UTC().Format("2006-01-02T15:04:05.000Z"))
		b.WriteString("    </sObject>\n   </Notification>\n")
	}
	b.WriteString("  </notifications>\n </soapenv:Body>\n</soapenv:Envelope>\n")
	return []byte(b.String()), nil
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}
