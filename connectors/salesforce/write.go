package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"tandem/connectors"
)

// collectionRequest is the body of the sObject Collections calls [doc].
type collectionRequest struct {
	// AllOrNone is false: one refused record must not block the rest of its page.
	AllOrNone bool             `json:"allOrNone"`
	Records   []map[string]any `json:"records"`
}

// SaveResult is the per-record answer of sObject Collections and of a single-record
// upsert: {id, success, errors, created} (created on upserts only) [doc].
type SaveResult struct {
	ID      string      `json:"id"`
	Success bool        `json:"success"`
	Errors  []SaveError `json:"errors"`
	Created *bool       `json:"created,omitempty"`
}

// SaveError is one reason a record was refused.
type SaveError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

// sobject builds the JSON of one record of object: attributes.type and the fields, less
// "attributes" and any field named in drop.
func sobject(object string, fields map[string]any, drop ...string) map[string]any {
	out := make(map[string]any, len(fields)+1)
	for k, v := range fields {
		if k == "attributes" || containsFold(drop, k) {
			continue
		}
		out[k] = v
	}
	out["attributes"] = map[string]string{"type": object}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// checkBatch refuses a write batch over the 200 records one call takes; the engine splits
// batches by Info().MaxBatch, and splitting here would make one failed call a partial write.
func checkBatch(op, object string, n int) error {
	if n > MaxBatch {
		return &connectors.InvalidRecordError{Record: fmt.Sprintf("%s of %d %s records", op, n, object),
			Reason: fmt.Sprintf("a batch of %d records is over Salesforce's limit of %d a call", n, MaxBatch)}
	}
	return nil
}

// Create implements connectors.Connector with POST /composite/sobjects. Record IDs are
// ignored, and an "Id" field is not sent.
func (c *Client) Create(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	if err := checkObject(object); err != nil {
		return nil, err
	}
	if err := checkBatch("create", object, len(records)); err != nil {
		return nil, err
	}
	names := make([]string, len(records))
	body := make([]map[string]any, len(records))
	for i, r := range records {
		names[i] = fmt.Sprintf("new %s #%d of the batch", object, i+1)
		body[i] = sobject(object, r.Fields, "Id")
	}
	results := make([]connectors.WriteResult, len(records))
	err := c.collection(ctx, http.MethodPost, c.dataPath("/composite/sobjects"), body,
		fmt.Sprintf("create %d %s records", len(records), object),
		func(i int, res SaveResult) {
			if res.Success {
				results[i] = connectors.WriteResult{ID: res.ID, Created: true}
				return
			}
			results[i].Err = recordError(object, names[i], "", "", res.Errors, false)
		})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// Update implements connectors.Connector with PATCH /composite/sobjects. A record whose id
// does not exist gets a *connectors.NotFoundError; one without an id is refused without
// asking.
func (c *Client) Update(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	if err := checkObject(object); err != nil {
		return nil, err
	}
	if err := checkBatch("update", object, len(records)); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("salesforce update %s: %w", object, err)
	}
	results := make([]connectors.WriteResult, len(records))
	var body []map[string]any
	var sent []int // body index → record index
	for i, r := range records {
		name := object + " " + r.ID
		switch {
		case r.ID == "":
			results[i].Err = &connectors.InvalidRecordError{Record: fmt.Sprintf("%s #%d of the batch", object, i+1), Field: "Id", Reason: "an update needs the record's Id"}
		case !IsID(r.ID):
			results[i].Err = &connectors.NotFoundError{What: fmt.Sprintf("Salesforce %s (not a Salesforce id)", name)}
		default:
			rec := sobject(object, r.Fields, "Id")
			rec["id"] = r.ID // "Each object must contain an id field" [doc]
			body = append(body, rec)
			sent = append(sent, i)
		}
	}
	if len(body) == 0 {
		return results, nil
	}
	err := c.collection(ctx, http.MethodPatch, c.dataPath("/composite/sobjects"), body,
		fmt.Sprintf("update %d %s records", len(body), object),
		func(j int, res SaveResult) {
			i := sent[j]
			if res.Success {
				id := res.ID
				if id == "" {
					id = records[i].ID
				}
				results[i] = connectors.WriteResult{ID: id}
				return
			}
			results[i].Err = recordError(object, object+" "+records[i].ID, "", "", res.Errors, true)
		})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// conditionalParallel is how many conditional PATCHes one UpdateIfUnchanged has in flight.
// Each record is an API call of its own; a few at a time keep a batch's wall time near a
// collection call's without opening 200 connections at once.
const conditionalParallel = 4

// UpdateIfUnchanged implements connectors.ConditionalUpdater with one
//
//	PATCH /sobjects/{object}/{id}
//	If-Unmodified-Since: <the record's UpdatedAt as an HTTP-date>
//
// per record, a few at a time: sObject Collections take no conditional headers per
// record, and sObject Rows do. Salesforce documents the header for sObject Rows: "REST API
// processes the request only if the data hasn't changed since the specified date.
// Otherwise, a 412 Precondition Failed status code is returned, and the request isn't
// processed"; weak validators such as If-Unmodified-Since "compare the precondition to the
// last modified date of the record"; and "when you include an invalid header value for
// If-Match, If-None-Match, or If-Unmodified-Since on a PATCH or POST request, a 400 Bad
// Request status code is returned" [doc: REST API Developer Guide, Conditional Request
// Headers, https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/intro_rest_conditional_requests.htm].
// Its status codes page says the same of 412: "the request includes an
// If-Unmodified-Since header, but the data was modified after the specified date" [doc:
// https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm].
//
// Outcomes: 204 written; 412 a *connectors.StaleRecordError (Salesforce does not say when
// the record changed, so its Now is zero); 404 a *connectors.NotFoundError, as Update
// gives for a missing id; 400 the record's errors as Update reports them (an
// *connectors.InvalidRecordError with Salesforce's message), except a field or object
// that does not exist, which fails the call as it does Update's. What fails a whole
// request (transport, 401 after the token refresh, limits, 5xx) fails the call, and no
// further request is sent; records already written stay written, and a retry of the
// call either finds them changed (by this write) and answers them stale, so they are read
// again, or, within the second of the read, writes the same values again.
//
// Limits:
//   - HTTP-dates have whole seconds, so a record changed after it was read but within
//     the same second as its UpdatedAt passes the check and is overwritten. Salesforce
//     keeps SystemModstamp and LastModifiedDate to the second in practice (the API shows
//     .000), which is what makes an unchanged record pass; were they kept finer, a
//     record saved in the same second as the read would still get through.
//   - Salesforce compares LastModifiedDate, while the connector reads SystemModstamp
//     (modstamp_field); SystemModstamp is never earlier, so a user's edit after the read
//     is refused, while a change only the system made (SystemModstamp alone) is not.
//   - Each record costs one API call of the daily allocation, where Update costs one per
//     200 records.
func (c *Client) UpdateIfUnchanged(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	if err := checkObject(object); err != nil {
		return nil, err
	}
	if err := checkBatch("update", object, len(records)); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("salesforce update %s if unchanged: %w", object, err)
	}
	results := make([]connectors.WriteResult, len(records))
	var (
		wg      sync.WaitGroup
		slots   = make(chan struct{}, conditionalParallel)
		errOnce sync.Once
		callErr error
		failed  atomic.Bool
	)
	for i, r := range records {
		switch {
		case r.ID == "":
			results[i].Err = &connectors.InvalidRecordError{Record: fmt.Sprintf("%s #%d of the batch", object, i+1), Field: "Id", Reason: "an update needs the record's Id"}
			continue
		case !IsID(r.ID):
			results[i].Err = &connectors.NotFoundError{What: fmt.Sprintf("Salesforce %s %s (not a Salesforce id)", object, r.ID)}
			continue
		case r.UpdatedAt.IsZero():
			results[i].Err = &connectors.InvalidRecordError{Record: object + " " + r.ID, Field: c.cfg.ModstampField,
				Reason: "a conditional update needs the UpdatedAt the record was read with"}
			continue
		}
		slots <- struct{}{}
		if failed.Load() {
			<-slots
			break // the call fails; send no more
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			res, err := c.updateIfUnmodified(ctx, object, r)
			if err != nil {
				failed.Store(true)
				errOnce.Do(func() { callErr = err })
				return
			}
			results[i] = res
		}()
	}
	wg.Wait()
	if callErr != nil {
		return nil, callErr
	}
	return results, nil
}

// updateIfUnmodified sends one record's conditional PATCH; see UpdateIfUnchanged.
func (c *Client) updateIfUnmodified(ctx context.Context, object string, r connectors.Record) (connectors.WriteResult, error) {
	name := object + " " + r.ID
	what := "update " + name + " if unchanged"
	header := http.Header{"If-Unmodified-Since": {r.UpdatedAt.UTC().Format(http.TimeFormat)}}
	body := sobject(object, r.Fields, "Id")
	delete(body, "attributes") // a record resource's body is the fields alone
	ans, err := c.doWith(ctx, http.MethodPatch, c.dataPath("/sobjects/"+object+"/"+r.ID), header, body, what)
	if err != nil {
		return connectors.WriteResult{}, err
	}
	switch {
	case ans.status == http.StatusNoContent || ans.status == http.StatusOK:
		return connectors.WriteResult{ID: r.ID}, nil
	case ans.status == http.StatusPreconditionFailed:
		return connectors.WriteResult{Err: &connectors.StaleRecordError{ID: r.ID, Read: r.UpdatedAt}}, nil
	case ans.status == http.StatusBadRequest:
		errs := apiErrors(ans)
		if first := errs[0]; first.ErrorCode == "INVALID_TYPE" || first.ErrorCode == "INVALID_FIELD" {
			return connectors.WriteResult{}, c.apiError(ans, what)
		}
		saveErrs := make([]SaveError, len(errs))
		for i, e := range errs {
			saveErrs[i] = SaveError{StatusCode: e.ErrorCode, Message: e.Message, Fields: e.Fields}
		}
		return connectors.WriteResult{Err: recordError(object, name, "", "", saveErrs, true)}, nil
	case ans.status >= 400:
		// 404 (no such record, or deleted) becomes a NotFoundError.
		return connectors.WriteResult{Err: c.apiError(ans, what)}, nil
	default:
		return connectors.WriteResult{}, fmt.Errorf("salesforce %s: unexpected %d: %s", what, ans.status, snippet(ans.body))
	}
}

// Upsert implements connectors.Connector by external id: PATCH
// /composite/sobjects/{object}/{key} for a batch, or, for a batch of one whose value is safe
// in a URL path, PATCH /sobjects/{object}/{key}/{value}, whose 300 answer lists the records
// that match. A key value matching several records is a *connectors.AmbiguousMatchError,
// never a success. Keyed by "Id" (which Collections upsert does not take [doc]), records
// with an Id are updated and the others created.
func (c *Client) Upsert(ctx context.Context, object, key string, records []connectors.Record) ([]connectors.WriteResult, error) {
	if err := checkObject(object); err != nil {
		return nil, err
	}
	if err := checkField(object, key); err != nil {
		return nil, err
	}
	if err := checkBatch("upsert", object, len(records)); err != nil {
		return nil, err
	}
	if strings.EqualFold(key, "id") {
		return c.upsertByID(ctx, object, records)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("salesforce upsert %s by %s: %w", object, key, err)
	}
	results := make([]connectors.WriteResult, len(records))
	values := make([]string, len(records))
	var body []map[string]any
	var sent []int
	for i, r := range records {
		v, _ := lookup(r.Fields, key)
		values[i] = connectors.KeyString(v)
		if values[i] == "" {
			results[i].Err = &connectors.InvalidRecordError{Record: fmt.Sprintf("%s #%d of the batch", object, i+1), Field: key,
				Reason: "no value for the upsert key " + key}
			continue
		}
		body = append(body, sobject(object, r.Fields, "Id"))
		sent = append(sent, i)
	}
	switch {
	case len(body) == 0:
		return results, nil
	case len(body) == 1 && pathSafe.MatchString(values[sent[0]]):
		i := sent[0]
		res, err := c.upsertOne(ctx, object, key, values[i], sobject(object, records[i].Fields, "Id", key))
		if err != nil {
			return nil, err
		}
		results[i] = res
		return results, nil
	}
	err := c.collection(ctx, http.MethodPatch, c.dataPath("/composite/sobjects/"+object+"/"+key), body,
		fmt.Sprintf("upsert %d %s records by %s", len(body), object, key),
		func(j int, res SaveResult) {
			i := sent[j]
			if res.Success {
				results[i] = connectors.WriteResult{ID: res.ID, Created: res.Created != nil && *res.Created}
				return
			}
			results[i].Err = recordError(object, fmt.Sprintf("%s %s=%s", object, key, values[i]), key, values[i], res.Errors, false)
		})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// pathSafe are the values sent in a single-record upsert's URL path. Others go through
// Collections: Salesforce answers 404 for a value whose ending looks like a file
// extension (an email ending in .inc) [doc: resources_sobject_upsert_patch], and a slash
// would split the path.
var pathSafe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// upsertOne upserts one record with PATCH /sobjects/{object}/{key}/{value}: 201 created,
// 200 updated (v46+), 300 multiple matches with the list of matching records, 400 the
// record's errors [doc: dome_upsert]. The key field is left out of the body, as older API
// versions refuse it there [doc].
func (c *Client) upsertOne(ctx context.Context, object, key, value string, body map[string]any) (connectors.WriteResult, error) {
	name := fmt.Sprintf("%s %s=%s", object, key, value)
	what := "upsert " + name
	ans, err := c.do(ctx, http.MethodPatch, c.dataPath("/sobjects/"+object+"/"+key+"/"+url.PathEscape(value)), body, what)
	if err != nil {
		return connectors.WriteResult{}, err
	}
	switch ans.status {
	case http.StatusOK, http.StatusCreated:
		var res SaveResult
		if err := json.Unmarshal(ans.body, &res); err != nil || res.ID == "" {
			return connectors.WriteResult{}, fmt.Errorf("salesforce %s: unexpected answer %d: %s", what, ans.status, snippet(ans.body))
		}
		created := ans.status == http.StatusCreated
		if res.Created != nil {
			created = *res.Created
		}
		return connectors.WriteResult{ID: res.ID, Created: created}, nil
	case http.StatusMultipleChoices:
		return connectors.WriteResult{Err: &connectors.AmbiguousMatchError{Field: key, Value: value, IDs: matchIDs(ans.body)}}, nil
	case http.StatusBadRequest:
		errs := apiErrors(ans)
		saveErrs := make([]SaveError, len(errs))
		for i, e := range errs {
			saveErrs[i] = SaveError{StatusCode: e.ErrorCode, Message: e.Message, Fields: e.Fields}
		}
		return connectors.WriteResult{Err: recordError(object, name, key, value, saveErrs, false)}, nil
	case http.StatusNoContent:
		return connectors.WriteResult{}, fmt.Errorf("salesforce %s: 204 without the record's id (API versions before v46.0 answer so; set %s)", what, SettingAPIVersion)
	default:
		return connectors.WriteResult{}, c.apiError(ans, what)
	}
}

// matchIDs reads the ids of a 300 answer: a list of record URLs
// ["/services/data/v62.0/sobjects/Account/001..."] [doc: dome-upsert], or of objects with
// an Id.
func matchIDs(body []byte) []string {
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil
	}
	var ids []string
	for _, item := range raw {
		var s string
		if json.Unmarshal(item, &s) == nil {
			ids = append(ids, s[strings.LastIndex(s, "/")+1:])
			continue
		}
		var m map[string]any
		if json.Unmarshal(item, &m) == nil {
			if id, _ := lookup(m, "Id"); id != nil {
				ids = append(ids, connectors.KeyString(id))
			}
		}
	}
	return ids
}

// upsertByID updates the records that have an Id and creates the others.
func (c *Client) upsertByID(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	var updates, creates []connectors.Record
	var updIdx, creIdx []int
	for i, r := range records {
		v, _ := lookup(r.Fields, "Id")
		id := connectors.KeyString(v)
		if id == "" {
			creates, creIdx = append(creates, r), append(creIdx, i)
			continue
		}
		updates, updIdx = append(updates, connectors.Record{ID: id, Fields: r.Fields}), append(updIdx, i)
	}
	results := make([]connectors.WriteResult, len(records))
	if len(updates) > 0 {
		res, err := c.Update(ctx, object, updates)
		if err != nil {
			return nil, err
		}
		for j, r := range res {
			results[updIdx[j]] = r
		}
	}
	if len(creates) > 0 {
		res, err := c.Create(ctx, object, creates)
		if err != nil {
			return nil, err
		}
		for j, r := range res {
			results[creIdx[j]] = r
		}
	}
	return results, nil
}

// collection sends one sObject Collections request and hands each per-record result, in
// request order, to each.
func (c *Client) collection(ctx context.Context, method, path string, records []map[string]any, what string, each func(i int, res SaveResult)) error {
	ans, err := c.do(ctx, method, path, collectionRequest{Records: records}, what)
	if err != nil {
		return err
	}
	if ans.status != http.StatusOK {
		return c.apiError(ans, what)
	}
	var results []SaveResult
	if err := json.Unmarshal(ans.body, &results); err != nil {
		return fmt.Errorf("salesforce %s: decoding the answer: %w", what, err)
	}
	if len(results) != len(records) {
		return fmt.Errorf("salesforce %s: %d results for %d records", what, len(results), len(records))
	}
	for i, res := range results {
		each(i, res)
	}
	return nil
}

// multipleMatchRE recognises Salesforce's words for a key matching several records.
var multipleMatchRE = regexp.MustCompile(`(?i)more than one record|multiple (records|matches)`)

// bracketIDsRE finds the id list in "Ext__c: more than one record found for external id
// field: [001..., 001...]".
var bracketIDsRE = regexp.MustCompile(`\[([^\]]*)\]`)

// recordError turns a record's errors into the connector's per-record error:
//   - DUPLICATE_EXTERNAL_ID, or any error saying the key matches more than one record →
//     *connectors.AmbiguousMatchError (never a success: no record was written);
//   - on an update, ENTITY_IS_DELETED, NOT_FOUND, or INVALID_CROSS_REFERENCE_KEY naming no
//     field other than Id → *connectors.NotFoundError. [INF]: which code Collections give
//     for an id that never existed is not documented; a lookup field pointing at a missing
//     record also gives INVALID_CROSS_REFERENCE_KEY, but names that field;
//   - anything else → *connectors.InvalidRecordError{Record, Field: fields[0],
//     Reason: "statusCode: message"}.
func recordError(object, name, key, value string, errs []SaveError, update bool) error {
	if len(errs) == 0 {
		return &connectors.InvalidRecordError{Record: name, Reason: "Salesforce answered success=false without a reason"}
	}
	for _, e := range errs {
		if e.StatusCode == "DUPLICATE_EXTERNAL_ID" || multipleMatchRE.MatchString(e.Message) {
			var ids []string
			if m := bracketIDsRE.FindStringSubmatch(e.Message); m != nil {
				for _, s := range strings.Split(m[1], ",") {
					if s = strings.TrimSpace(s); IsID(s) {
						ids = append(ids, s)
					}
				}
			}
			field := key
			if field == "" && len(e.Fields) > 0 {
				field = e.Fields[0]
			}
			return &connectors.AmbiguousMatchError{Field: field, Value: value, IDs: ids}
		}
	}
	first := errs[0]
	if update && isGone(first) {
		return &connectors.NotFoundError{What: fmt.Sprintf("Salesforce %s (%s: %s)", name, first.StatusCode, first.Message)}
	}
	reasons := make([]string, len(errs))
	for i, e := range errs {
		reasons[i] = e.StatusCode + ": " + e.Message
	}
	field := ""
	if len(first.Fields) > 0 {
		field = first.Fields[0]
	}
	return &connectors.InvalidRecordError{Record: name, Field: field, Reason: strings.Join(reasons, "; ")}
}

// isGone reports whether a record's error says the record does not exist (any more):
// ENTITY_IS_DELETED, NOT_FOUND, or INVALID_CROSS_REFERENCE_KEY naming no field other than
// Id (see recordError).
func isGone(e SaveError) bool {
	switch e.StatusCode {
	case "ENTITY_IS_DELETED", "NOT_FOUND":
		return true
	case "INVALID_CROSS_REFERENCE_KEY":
		return len(e.Fields) == 0 || (len(e.Fields) == 1 && strings.EqualFold(e.Fields[0], "Id"))
	}
	return false
}
