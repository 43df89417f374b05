// Package netsuite is Tandem's connector for NetSuite's REST web services: a thin client
// of SuiteQL (reads) and the record service (writes), authenticated with token-based
// authentication (OAuth 1.0a) or OAuth 2.0 machine-to-machine.
//
// # Reading
//
// Changes, Get and Find run SuiteQL: POST /services/rest/query/v1/suiteql?limit=&offset=
// with "Prefer: transient" and {"q": "SELECT ... FROM <object> WHERE ... ORDER BY ..."}
// [doc: section_158394344595]. Changes reads
//
//	SELECT <fields>, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS lastmodifieddate
//	FROM customer
//	WHERE lastmodifieddate >= TO_TIMESTAMP('<cursor time>', 'YYYY-MM-DD HH24:MI:SS')
//	ORDER BY lastmodifieddate, id
//
// The modified column goes through TO_CHAR because SuiteQL otherwise answers a datetime in
// the user's display format, often without its time [3p]; the same format model, in the
// timezone setting's zone, is used to compare and to parse, so the two always agree. The
// seconds of that format are the cursor's precision: records in one second are ordered by
// id locally (as strings, the connectors.Cursor order, which SuiteQL's numeric id order is
// not), and a page never ends in the middle of a second's records without reading all of
// them. Paging restarts at offset 0 from the last timestamp read instead of growing the
// offset, so offsets stay small (NetSuite serves at most 100,000 rows of one query and
// wants offsets that are multiples of limit [doc: section_156414087576; 3p]) and a record
// that changes while pages are read is not skipped.
//
// Record.ID is the internal id, UpdatedAt the modified column, and Fields the columns
// under SuiteQL's lower-case names. SuiteQL leaves empty columns out of a row [3p]; they
// are nil in Fields.
//
// # Writing
//
// NetSuite has no bulk writes [doc: section_1545141395]: each record is one request, up to
// the concurrency setting at once (a semaphore shared by every call of the connection, as
// NetSuite's concurrency limit is per account). Create is POST /record/v1/<object> (204,
// the new id at the end of the Location header), Update is PATCH /record/v1/<object>/<id>.
// Upsert by externalid is PUT /record/v1/<object>/eid:<value> [doc: section_156335203191],
// which is atomic; Info reports NativeUpsert when the upsert_key setting is externalid.
// NetSuite answers 204 both when it created and when it updated [INF], so Upsert looks the
// keys up in one SuiteQL query first to report Created. Upsert by any other key finds the
// keys, then creates or updates: not atomic, which is why Info does not report it native.
// Field names are sent as they are read (lower case); NetSuite's own examples use both
// "companyname" and "companyName" [doc: section_1545141395, article_161581923822].
//
// # Deletes
//
// Deletes reads NetSuite's log of deleted records (SuiteQL's DeletedRecord table), ListIDs
// lists live ids by SuiteQL for a full diff, and Delete deletes with the record service,
// one request per record (deletes.go).
//
// # Errors
//
// A rejected record ({"type","title","status","o:errorDetails":[{"detail","o:errorCode",
// "o:errorPath"}]} [doc: section_156570709583]) is an *connectors.InvalidRecordError naming
// the record and o:errorPath; 404 is *connectors.NotFoundError; 401 and 403 are
// *connectors.AuthError (m2m fetches a new token once first); 429 and 400
// SSS_REQUEST_LIMIT_EXCEEDED are retried rate_retries times, then are
// *connectors.RateLimitedError with Retry-After (or retry_after when NetSuite sends none
// [INF]); 5xx and transport failures are plain errors.
package netsuite

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"tandem/connectors"
	"tandem/connectors/httpx"
)

// Type is the connection type this package implements.
const Type = "netsuite"

// Connector is a connection to one NetSuite account. It is safe for concurrent use.
type Connector struct {
	name   string
	cfg    Config
	layout string // Go layout of cfg.ModifiedFormat
	http   *http.Client
	own    bool // http is ours to close
	api    *httpx.Client

	tba *tbaSigner
	m2m *httpx.Tokens

	now func() time.Time

	// server is the account's clock as its last answer's Date header gave it.
	server httpx.ServerClock

	// selected are the columns the syncs map (ReadFields), read from every record type.
	selectedMu sync.Mutex
	selected   []string
}

// ReadFields implements connectors.FieldSelector: the columns are read too.
func (c *Connector) ReadFields(_ string, fields []string) {
	c.selectedMu.Lock()
	defer c.selectedMu.Unlock()
	for _, f := range fields {
		if strings.EqualFold(f, "id") {
			continue
		}
		c.selected = append(c.selected, strings.ToLower(f))
	}
}

var _ connectors.Connector = (*Connector)(nil)

// Factory opens a netsuite connection from its settings; it is a connectors.Factory.
func Factory(name string, settings connectors.Settings) (connectors.Connector, error) {
	cfg, err := ParseSettings(settings)
	if err != nil {
		return nil, err
	}
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	c.name = name
	return c, nil
}

// New returns a connector for cfg, filling the defaults of its zero fields.
func New(cfg Config) (*Connector, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	layout, _ := goLayout(cfg.ModifiedFormat) // validated above
	c := &Connector{
		name:   Type,
		cfg:    cfg,
		layout: layout,
		http:   cfg.HTTPClient,
		now:    time.Now,
	}
	if cfg.Now != nil {
		c.now = cfg.Now
	}
	if c.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.Concurrency // keep a connection per slot
		c.http = &http.Client{Transport: tr, Timeout: cfg.RequestTimeout}
		c.own = true
	}
	c.api = &httpx.Client{
		HTTP:        c.http,
		Base:        cfg.BaseURL,
		Budget:      make(slots, cfg.Concurrency),
		Policy:      httpx.Policy{MaxAttempts: cfg.RateRetries + 1},
		RateLimited: c.limited,
		OnResponse:  c.observe,
		Now:         c.clock,
	}
	switch cfg.Auth {
	case AuthTBA:
		c.tba = &tbaSigner{realm: realm(cfg.AccountID), creds: cfg.TBA, now: c.clock, nonce: randomNonce}
		c.api.Auth = httpx.AuthorizerFunc(func(r *http.Request) error {
			// Signed per attempt: every request needs a fresh nonce.
			r.Header.Set("Authorization", c.tba.header(r.Method, r.URL))
			return nil
		})
	case AuthM2M:
		m, err := newM2MTokens(c, cfg.M2M, cfg.BaseURL+restPrefix+tokenPath)
		if err != nil {
			return nil, fmt.Errorf("setting private_key: %w", err)
		}
		c.m2m = m
		c.api.Auth = m
	}
	return c, nil
}

func (c *Connector) clock() time.Time { return c.now() }

// Info implements connectors.Connector.
func (c *Connector) Info() connectors.Info {
	return connectors.Info{
		Type:     Type,
		MaxBatch: c.cfg.MaxBatch,
		// PUT .../eid:VALUE is NetSuite's own upsert; any other key is find-then-write.
		NativeUpsert: c.cfg.UpsertKey == externalID,
	}
}

// Config returns the connection's configuration with its defaults filled in.
func (c *Connector) Config() Config { return c.cfg }

// CloseIdleConnections closes the connector's idle HTTP connections (tests call it on
// cleanup, so no connection goroutine outlives them).
func (c *Connector) CloseIdleConnections() { c.http.CloseIdleConnections() }

// check is what every call does first: a cancelled call writes nothing.
func (c *Connector) check(ctx context.Context, op, object string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("netsuite %s %s: %w", op, object, err)
	}
	if !identRE.MatchString(object) {
		return fmt.Errorf("netsuite %s: %q is not a record type name", op, object)
	}
	return nil
}
