// Package connectors defines what Tandem needs from a service it keeps in sync: the
// Connector interface, the Record it moves, the typed errors a connector returns and the
// explicit registry of connector types. Each service lives in a sub-package of its own and
// imports nothing of Tandem but this package.
package connectors

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Record is one object of a service (an account, a company, a customer).
type Record struct {
	// ID is the service's own identifier of the record.
	ID string `json:"id"`
	// UpdatedAt is when the service last changed the record; changes are read in
	// (UpdatedAt, ID) order.
	UpdatedAt time.Time `json:"updated_at"`
	// Fields holds the record's values under the service's own field names. Values are
	// what JSON carries: strings, float64 numbers, bools, nil.
	Fields map[string]any `json:"fields,omitempty"`
}

// Value returns the value of a field. The name "id" (any case) names the record's own
// identifier when the record has no field of that name, so a sync can key on a source
// record's id (the article's Salesforce Id kept in a NetSuite custom field).
func (r Record) Value(field string) (any, bool) {
	if v, ok := r.Fields[field]; ok {
		return v, true
	}
	if strings.EqualFold(field, "id") && r.ID != "" {
		return r.ID, true
	}
	return nil, false
}

// Cursor is a position in a side's stream of changes: the (updated-at, id) of the last
// record that was committed. Records with the same UpdatedAt are ordered by ID, so a page
// boundary between equal timestamps neither skips nor repeats a record.
type Cursor struct {
	UpdatedAt time.Time `json:"updated_at"`
	ID        string    `json:"id,omitempty"`
}

// Before reports whether c comes before the position of record r.
func (c Cursor) Before(r Record) bool {
	if !r.UpdatedAt.Equal(c.UpdatedAt) {
		return c.UpdatedAt.Before(r.UpdatedAt)
	}
	return c.ID < r.ID
}

// CursorOf returns the cursor positioned at r.
func CursorOf(r Record) Cursor { return Cursor{UpdatedAt: r.UpdatedAt, ID: r.ID} }

func (c Cursor) String() string {
	if c.ID == "" {
		return c.UpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%s/%s", c.UpdatedAt.UTC().Format(time.RFC3339Nano), c.ID)
}

// Page is one page of changes.
type Page struct {
	// Records are strictly after the request's cursor, in (UpdatedAt, ID) order.
	Records []Record `json:"records"`
	// More is true when records after the last one of this page may exist.
	More bool `json:"more"`
	// AsOf, when set, is when the service gave these records, for a page served from an
	// earlier read (HubSpot's first-run list): a record Tandem wrote after it shows here as
	// it was before that write, and is not taken for a change. Zero: as of the call.
	AsOf time.Time `json:"as_of,omitzero"`
}

// WriteResult is the outcome of one record of a batched write, in request order.
type WriteResult struct {
	// ID is the service's id of the written record (set when Err is nil).
	ID string `json:"id,omitempty"`
	// Created is true when the write created the record.
	Created bool `json:"created,omitempty"`
	// Err is the service's reason for rejecting this record, typically an
	// *InvalidRecordError; nil when the record was written.
	Err error `json:"-"`
	// Record is the record as the service holds it once written, every field, when the
	// caller asked for it (WithRecordsBack) and the service's answer to the write holds
	// it; nil otherwise (the caller reads it with Get if it needs it). The caller reads
	// it and does not change it: a connector may give what it keeps (the memory
	// connector gives its stored record, whose fields it never changes).
	Record *Record `json:"-"`
}

// Info describes what a connector can do.
type Info struct {
	// Type is the connection type the connector was registered under.
	Type string
	// MaxBatch is the most records one Create, Update or Upsert call accepts; callers
	// split larger batches. Zero means no limit.
	MaxBatch int
	// NativeUpsert is true when Upsert is atomic in the service (an upsert-by-key
	// endpoint), so a retried create cannot duplicate a record.
	NativeUpsert bool
	// Schemaless is true when the service keeps no schema of its own (a memory connection
	// without declared fields): its Describe tells only what its records carry now, and
	// mappings are not checked against it.
	Schemaless bool
}

// Connector is one connection to a service. Implementations are safe for concurrent use.
//
// Every call works on a batch: the engine never asks for one record at a time. An error
// returned by a call applies to the whole call; per-record outcomes of writes are in the
// WriteResults.
type Connector interface {
	Info() Info
	// Changes returns the records of object changed strictly after since, oldest first
	// in (UpdatedAt, ID) order, at most limit of them.
	Changes(ctx context.Context, object string, since Cursor, limit int) (Page, error)
	// Get returns the records with the given ids; ids that do not exist are left out.
	Get(ctx context.Context, object string, ids []string) ([]Record, error)
	// Find returns, for each of values, the records whose field equals it. A value that
	// matches nothing is absent from the map; one that matches several maps to all of them.
	Find(ctx context.Context, object, field string, values []string) (map[string][]Record, error)
	// Create creates the records (their IDs are ignored).
	Create(ctx context.Context, object string, records []Record) ([]WriteResult, error)
	// Update changes the given fields of existing records, addressed by ID.
	Update(ctx context.Context, object string, records []Record) ([]WriteResult, error)
	// Upsert updates the record whose key field equals the record's value for it, or
	// creates one when none does. A connector without a native upsert still implements
	// it, and says so in Info.
	Upsert(ctx context.Context, object, key string, records []Record) ([]WriteResult, error)
}

// NormalizingFinder is implemented by connectors that can match keys the way a sync
// compares them: a value stored as "WWW.Acme.com" is found for "acme.com" when the sync
// normalizes domains. Find with exact values is used for connectors without it.
type NormalizingFinder interface {
	// FindNormalized is Find where a record matches a value when normalize.Apply of its
	// field equals the value (values are already normalized).
	FindNormalized(ctx context.Context, object, field string, values []string, normalize KeyNormalizer) (map[string][]Record, error)
}

// KeyNormalizer is how a sync compares keys. Apply puts a stored value in the form keys
// are compared in ("WWW.Acme.com" -> "acme.com"); Name names that normalization (the
// sync's normalizers, "domain" or "trim,email"): one name, one function, so a connector
// may keep what Apply gave (an index of normalized keys) from one call to the next.
type KeyNormalizer struct {
	Name  string
	Apply func(string) string
}

// ChangeCounter is implemented by connectors that can tell how many records changed after
// a cursor (HubSpot's search total, Salesloft's paging counts), so a backfill can show its
// progress.
type ChangeCounter interface {
	CountChanges(ctx context.Context, object string, since Cursor) (int, error)
}

// RangeReader is implemented by connectors that can read the changes between two
// positions and say where spans of a given size end, so a bulk run reads several spans
// at once (a database by its (updated, id) index) and commits its cursor in order.
type RangeReader interface {
	// ReadParallelism is how many spans the connector reads at once within the
	// service's limits (its pool, its quota); 1 or less turns range reads off.
	ReadParallelism() int
	// Marks returns the positions of the step-th, 2·step-th, ... change after since, at
	// most n of them, in order; fewer when the changes end. Each span between two marks
	// then holds step changes, unless records change meanwhile.
	Marks(ctx context.Context, object string, since Cursor, step, n int) ([]Cursor, error)
	// ChangesBetween returns the records changed strictly after since and at or before
	// until, oldest first in (UpdatedAt, ID) order, at most limit of them (More when
	// more of the span follow). A record that changed again since the marks were read
	// has moved past until: it is read with the changes after the span.
	ChangesBetween(ctx context.Context, object string, since, until Cursor, limit int) (Page, error)
}

// LongReader is implemented by connectors whose read of changes costs about as much for
// one page as for many (a SQLite table's: finding the changes after a cursor computes
// every row's change time, whatever the page's size). A bulk run asks it for ReadPages
// pages in one read and syncs them page by page.
type LongReader interface {
	ReadPages() int
}

// KeyString is the string form of a key value used to match records across services.
func KeyString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprintf("%v", x)
	default:
		return fmt.Sprint(x)
	}
}

// WebhookEvent is one change a service announced in a webhook.
type WebhookEvent struct {
	// ID is the sender's id of the event (redeliveries repeat it).
	ID string
	// Object and RecordID name the changed record.
	Object   string
	RecordID string
	// Kind is "created", "updated" or "deleted".
	Kind       string
	OccurredAt time.Time
}

// WebhookVerifier checks that a webhook request comes from the service, by the service's
// own signature scheme, and parses its events. It returns an error wrapping
// ErrBadSignature when the request is not authentic (missing, wrong or stale signature),
// and one wrapping ErrMalformedWebhook when it is authentic but cannot be parsed.
type WebhookVerifier interface {
	Verify(r *http.Request, body []byte) ([]WebhookEvent, error)
}

// FieldSelector is implemented by connectors that read a chosen set of fields (SOQL
// columns, HubSpot properties, SuiteQL columns): the worker tells them, at start, every
// field its syncs map on an object, so a mapped field is read even when it is not in the
// connector's default set (a field missing from a read would look empty, and be written
// as empty to the other side).
type FieldSelector interface {
	ReadFields(object string, fields []string)
}

// IndexLagger is implemented by connectors whose Find is a search over an index that
// trails their writes (HubSpot's): a record written less than SearchLag ago may be
// missing from Find's results, or found with its old values, while Get reads it as it
// is. The engine reads by id the records it wrote that recently instead of trusting
// Find for them.
type IndexLagger interface {
	SearchLag() time.Duration
}

// UsageReporter is implemented by connectors that learn their quota use from the service
// (Salesforce's Sforce-Limit-Info: {"api-usage": "18/5000"}); the engine shows the latest
// in the sync's status.
type UsageReporter interface {
	Usage() map[string]string
}

// WebhookAcknowledger is implemented by verifiers whose senders need a particular answer
// to stop retrying (Salesforce Outbound Messages want a SOAP Ack). The ingress sends it,
// with status 200, only after the request's events were accepted.
type WebhookAcknowledger interface {
	AckResponse() (contentType string, body []byte)
}

// WebhookFactory builds a connection's verifier from its settings (its webhook secret).
type WebhookFactory func(name string, settings Settings) (WebhookVerifier, error)

// BatchInfo names the batch a write belongs to. Most connectors ignore it; a destination
// that stores each batch as an object of its own (S3) names the object from it, so that a
// retried write replaces its object instead of adding another.
type BatchInfo struct {
	Sync string
	// Run is the sync's run number (0 for real-time micro-batches).
	Run int
	// Batch identifies the batch within the sync, the same on every retry.
	Batch string
	// At is when the run started (for date-partitioned keys).
	At time.Time
}

type batchInfoKey struct{}

// WithRecordsBack asks the writes made with ctx to give back each record written
// (WriteResult.Record), as HTTP's "Prefer: return=representation" does: a caller that
// would read what it wrote spares the read where the write's answer holds it.
func WithRecordsBack(ctx context.Context) context.Context {
	return context.WithValue(ctx, recordsBackKey{}, true)
}

// RecordsBack says whether ctx asks writes to give back the records written.
func RecordsBack(ctx context.Context) bool {
	b, _ := ctx.Value(recordsBackKey{}).(bool)
	return b
}

type recordsBackKey struct{}

// WithBatchInfo returns ctx carrying b.
func WithBatchInfo(ctx context.Context, b BatchInfo) context.Context {
	return context.WithValue(ctx, batchInfoKey{}, b)
}

// BatchInfoFrom returns the BatchInfo in ctx, if any.
func BatchInfoFrom(ctx context.Context) (BatchInfo, bool) {
	b, ok := ctx.Value(batchInfoKey{}).(BatchInfo)
	return b, ok
}

// HoldBackOpenSecond leaves out, at the end of a read of changes, the records of a second
// the service's clock (serverNow, e.g. from its Date header) has not left yet. Services that
// keep updated-at to the second (Salesforce's SystemModstamp, NetSuite's lastmodifieddate as
// read) may save another record later in that second with a smaller id; it would sort before
// a cursor placed on these records and never be read. Held back now, they are read by the
// next run, once their second is over. A page with more to come, or an unknown clock, is
// returned as it is.
func HoldBackOpenSecond(page Page, serverNow time.Time) Page {
	if page.More || len(page.Records) == 0 || serverNow.IsZero() {
		return page
	}
	open := serverNow.Truncate(time.Second)
	n := len(page.Records)
	for n > 0 && !page.Records[n-1].UpdatedAt.Before(open) {
		n--
	}
	page.Records = page.Records[:n]
	return page
}

// ConditionalUpdater is implemented by connectors whose service can refuse a write to a
// record that changed since it was read (an UPDATE ... WHERE on the read version, an HTTP
// If-Unmodified-Since). Two-way syncs use it so a write planned from a read never clobbers
// an edit made after that read: the refused record is read again and planned afresh.
type ConditionalUpdater interface {
	// UpdateIfUnchanged is Update where each record is written only if the service's
	// record still has the UpdatedAt given in the record (as it was read). A record that
	// changed since gets a WriteResult whose Err is a *StaleRecordError, and the rest of the
	// batch is written. A record without an UpdatedAt is refused with an
	// *InvalidRecordError rather than written unchecked. The check is as fine as the
	// service's: Salesforce's If-Unmodified-Since has whole seconds, so a change within the
	// second of the read's UpdatedAt is not seen (see each connector).
	UpdateIfUnchanged(ctx context.Context, object string, records []Record) ([]WriteResult, error)
}

// Field is one field of an object as its service describes it.
type Field struct {
	// Name is the field's name as records carry it (the name a mapping uses).
	Name string `json:"name"`
	// Label is the service's display name, when it has one.
	Label string `json:"label,omitempty"`
	// Type is the service's own type name (string, number, datetime, enumeration, ...).
	Type string `json:"type"`
	// Writable is true when a Create or Update may set the field.
	Writable bool `json:"writable"`
	// Unique is true when the service keeps the field's values unique within the object
	// (an external id, a unique index), so a sync may key on it.
	Unique bool `json:"unique,omitempty"`
}

// Describer is implemented by connectors that can list an object's fields (HubSpot's
// properties API, Salesforce's describe, a table's columns). The engine checks every
// mapping against it, at worker start and before every run, so a field the service does
// not have, or cannot write, stops the sync with its name instead of being read and
// written as empty. An object the service does not have is an error wrapping ErrNotFound.
type Describer interface {
	Describe(ctx context.Context, object string) ([]Field, error)
}
