package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"tandem/connectors"
)

// The batch write endpoints: POST {prefix}/{object}/batch/{create|update|upsert} with
// {"inputs":[...]}, at most MaxBatch inputs per call (larger batches are split).
//
// Every input carries an objectWriteTraceId (its index in the call): HubSpot then reports
// partial failures as 207 Multi-Status, naming the failed inputs by trace id [doc: error
// handling, "multi-status errors"], instead of failing the whole batch. Outcomes are
// matched back to the request in this order of preference: the trace id (on errors at
// the top level or in context.objectWriteTraceId; on results where HubSpot echoes it),
// then context.ids (update: the record id; upsert: the idProperty value), then, for the
// results of a create that carry no trace id, the order of the inputs left [INF: HubSpot
// answers in input order].
//
// A batch HubSpot rejects as a whole (400, 409 or 422; or 404 OBJECT_NOT_FOUND) writes
// nothing, so the client halves it and sends the halves, until the records at fault are
// alone and get the rejection as their own error: one bad record does not block the
// others. A call budget bounds the halving when every record is at fault (a property that
// does not exist, say): past it, the records not yet written all get the error.

const (
	opCreate = "create"
	opUpdate = "update"
	opUpsert = "upsert"
)

// halvingBudget is the most extra calls spent isolating bad records of one batch: enough
// for a few bad records among 100 (about 2·log2(100) calls each).
const halvingBudget = 24

// Create implements connectors.Connector with batch/create. The records' IDs are ignored.
func (c *Client) Create(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	o, err := c.object(object)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hubspot create %s: %w", object, err)
	}
	inputs := make([]batchInput, len(records))
	for i, r := range records {
		inputs[i] = batchInput{Properties: propertiesOf(r.Fields)}
	}
	return c.write(ctx, o, opCreate, inputs, make([]connectors.WriteResult, len(records)))
}

// Update implements connectors.Connector with batch/update, records addressed by ID. An
// id that does not exist fails its record with a *connectors.NotFoundError.
func (c *Client) Update(ctx context.Context, object string, records []connectors.Record) ([]connectors.WriteResult, error) {
	o, err := c.object(object)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hubspot update %s: %w", object, err)
	}
	results := make([]connectors.WriteResult, len(records))
	inputs := make([]batchInput, len(records))
	for i, r := range records {
		switch {
		case r.ID == "":
			results[i].Err = &connectors.InvalidRecordError{Reason: "the record has no id to update"}
		case !isNumber(r.ID):
			results[i].Err = &connectors.NotFoundError{What: fmt.Sprintf("hubspot %s record %q (HubSpot ids are numbers)", o.Name, r.ID)}
		default:
			inputs[i] = batchInput{ID: r.ID, Properties: propertiesOf(r.Fields)}
		}
	}
	return c.write(ctx, o, opUpdate, inputs, results)
}

// Upsert implements connectors.Connector. When key is a property HubSpot keeps unique
// (contacts' email, or one listed in unique_properties) it is HubSpot's batch/upsert with
// idProperty=key, atomic per record; HubSpot refuses any other idProperty [doc: batch
// upsert page]. For other keys, such as companies' domain, the client looks the keys up
// (Find) and then creates the missing records and updates the found ones: not atomic,
// which is why Info reports NativeUpsert=false. A key that matches several records fails
// its record with a *connectors.AmbiguousMatchError; a key given twice in one batch is
// created once, then updated.
func (c *Client) Upsert(ctx context.Context, object, key string, records []connectors.Record) ([]connectors.WriteResult, error) {
	o, err := c.object(object)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("hubspot upsert into %s: empty key property", object)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hubspot upsert %s: %w", object, err)
	}
	if !c.unique(o, key) {
		return c.upsertByLookup(ctx, o, key, records)
	}
	results := make([]connectors.WriteResult, len(records))
	inputs := make([]batchInput, len(records))
	for i, r := range records {
		v, _ := r.Value(key)
		k := connectors.KeyString(v)
		if k == "" {
			results[i].Err = &connectors.InvalidRecordError{Field: key, Reason: "the key property is empty"}
			continue
		}
		inputs[i] = batchInput{ID: k, IDProperty: key, Properties: propertiesOf(r.Fields)}
	}
	return c.write(ctx, o, opUpsert, inputs, results)
}

// upsertByLookup upserts on a property HubSpot does not keep unique.
func (c *Client) upsertByLookup(ctx context.Context, o objectType, key string, records []connectors.Record) ([]connectors.WriteResult, error) {
	results := make([]connectors.WriteResult, len(records))
	keys := make([]string, len(records))
	var values []string
	for i, r := range records {
		v, _ := r.Value(key)
		keys[i] = connectors.KeyString(v)
		if keys[i] == "" {
			results[i].Err = &connectors.InvalidRecordError{Field: key, Reason: "the key property is empty"}
			continue
		}
		values = append(values, keys[i])
	}
	found, err := c.Find(ctx, o.Name, key, values)
	if err != nil {
		return nil, err
	}

	creator := map[string]int{} // key -> the record that creates it
	var creates, updates, later []int
	updateIDs := map[int]string{}
	for i := range records {
		if results[i].Err != nil {
			continue
		}
		switch m := found[keys[i]]; len(m) {
		case 0:
			if _, ok := creator[keys[i]]; ok {
				later = append(later, i)
			} else {
				creator[keys[i]] = i
				creates = append(creates, i)
			}
		case 1:
			updates = append(updates, i)
			updateIDs[i] = m[0].ID
		default:
			ids := make([]string, len(m))
			for j, r := range m {
				ids[j] = r.ID
			}
			results[i].Err = &connectors.AmbiguousMatchError{Field: key, Value: keys[i], IDs: ids}
		}
	}

	run := func(idx []int, call func([]connectors.Record) ([]connectors.WriteResult, error), id func(int) string) error {
		if len(idx) == 0 {
			return nil
		}
		recs := make([]connectors.Record, len(idx))
		for j, i := range idx {
			recs[j] = connectors.Record{ID: id(i), Fields: records[i].Fields}
		}
		res, err := call(recs)
		if err != nil {
			return err
		}
		for j, i := range idx {
			results[i] = res[j]
		}
		return nil
	}
	update := func(recs []connectors.Record) ([]connectors.WriteResult, error) {
		return c.Update(ctx, o.Name, recs)
	}
	if err := run(creates, func(recs []connectors.Record) ([]connectors.WriteResult, error) {
		return c.Create(ctx, o.Name, recs)
	}, func(int) string { return "" }); err != nil {
		return nil, err
	}
	if err := run(updates, update, func(i int) string { return updateIDs[i] }); err != nil {
		return nil, err
	}
	// Records repeating a key created above update what it created.
	var again []int
	for _, i := range later {
		if first := results[creator[keys[i]]]; first.Err != nil {
			results[i].Err = first.Err
		} else {
			again = append(again, i)
		}
	}
	if err := run(again, update, func(i int) string { return results[creator[keys[i]]].ID }); err != nil {
		return nil, err
	}
	return results, nil
}

// write sends the inputs whose result has no error yet, in calls of at most MaxBatch
// inputs that never repeat a record (HubSpot refuses a batch naming one record twice),
// and fills in results.
func (c *Client) write(ctx context.Context, o objectType, op string, inputs []batchInput, results []connectors.WriteResult) ([]connectors.WriteResult, error) {
	defer c.snaps.drop(o.Name) // a snapshot holds what these records were (snapshot.go)
	defer c.ahead.drop(o.Name) // so do the records read ahead (readAhead)
	var chunk []int
	inChunk := map[string]bool{}
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		budget := halvingBudget
		err := c.writeChunk(ctx, o, op, chunk, inputs, results, &budget)
		chunk, inChunk = nil, map[string]bool{}
		return err
	}
	for i := range inputs {
		if results[i].Err != nil {
			continue
		}
		id := strings.ToLower(inputs[i].ID)
		if len(chunk) == MaxBatch || (id != "" && inChunk[id]) {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		chunk = append(chunk, i)
		if id != "" {
			inChunk[id] = true
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return results, nil
}

// writeChunk sends one batch call for the inputs idx and records their outcomes.
func (c *Client) writeChunk(ctx context.Context, o objectType, op string, idx []int, inputs []batchInput, results []connectors.WriteResult, budget *int) error {
	req := batchRequest{Inputs: make([]batchInput, len(idx))}
	for j, i := range idx {
		in := inputs[i]
		in.ObjectWriteTraceID = strconv.Itoa(j)
		req.Inputs[j] = in
	}
	var resp batchResponse
	_, err := c.do(ctx, "POST", c.path(o, "batch/"+op), false, req, &resp)
	var ae *apiError
	if err != nil && errors.As(err, &ae) && wholeBatchRejection(ae) {
		if len(idx) == 1 || *budget < 2 {
			for j, i := range idx {
				results[i].Err = recordError(o, op, req.Inputs[j], ae.Body, ae.Text)
			}
			return nil
		}
		*budget -= 2
		mid := len(idx) / 2
		if err := c.writeChunk(ctx, o, op, idx[:mid], inputs, results, budget); err != nil {
			return err
		}
		return c.writeChunk(ctx, o, op, idx[mid:], inputs, results, budget)
	}
	if err != nil {
		return err
	}
	collate(o, op, req.Inputs, idx, resp, results)
	return nil
}

// wholeBatchRejection reports whether HubSpot refused a batch for what its inputs hold,
// so that smaller batches may succeed.
func wholeBatchRejection(e *apiError) bool {
	switch e.Status {
	case http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity:
		return true
	case http.StatusNotFound:
		return e.Body.Category == "OBJECT_NOT_FOUND"
	}
	return false
}

// collate records the outcome of each input of one call from HubSpot's answer.
func collate(o objectType, op string, inputs []batchInput, idx []int, resp batchResponse, results []connectors.WriteResult) {
	done := make([]bool, len(inputs))
	var unattributed []string
	for _, e := range resp.Errors {
		js := failedInputs(op, e, inputs, done)
		if len(js) == 0 {
			unattributed = append(unattributed, e.describe())
			continue
		}
		for _, j := range js {
			results[idx[j]].Err = recordError(o, op, inputs[j], e, "")
			done[j] = true
		}
	}

	var untraced []simplePublicObject
	for _, obj := range resp.Results {
		j := tracedInput(op, obj, inputs, done)
		if j < 0 {
			untraced = append(untraced, obj)
			continue
		}
		results[idx[j]] = success(op, obj)
		done[j] = true
	}
	var rest []int
	for j := range inputs {
		if !done[j] {
			rest = append(rest, j)
		}
	}
	if len(untraced) > 0 && len(untraced) == len(rest) {
		// As many results as inputs without an outcome: HubSpot answers in input order.
		for k, j := range rest {
			results[idx[j]] = success(op, untraced[k])
			done[j] = true
		}
	} else {
		// Counts differ: take a result only for the one input whose properties it shows.
		for _, obj := range untraced {
			match := -1
			for _, j := range rest {
				if !done[j] && agrees(inputs[j], obj) {
					if match >= 0 {
						match = -2 // more than one: cannot tell
						break
					}
					match = j
				}
			}
			if match >= 0 {
				results[idx[match]] = success(op, obj)
				done[match] = true
			}
		}
	}
	for j := range inputs {
		if done[j] {
			continue
		}
		reason := "HubSpot's answer gave no outcome for this record; read it back before writing it again"
		if len(unattributed) > 0 {
			reason += " (errors not tied to a record: " + strings.Join(unattributed, "; ") + ")"
		}
		results[idx[j]].Err = &connectors.InvalidRecordError{Record: inputs[j].ID, Reason: reason}
	}
}

// failedInputs returns the inputs (not yet done) an error of a 207 is about.
func failedInputs(op string, e apiErrorBody, inputs []batchInput, done []bool) []int {
	var out []int
	traces := e.contextList("objectWriteTraceId")
	if e.ObjectWriteTraceID != "" {
		traces = append(traces, e.ObjectWriteTraceID)
	}
	for _, t := range traces {
		if j, err := strconv.Atoi(t); err == nil && j >= 0 && j < len(inputs) && !done[j] && inputs[j].ObjectWriteTraceID == t {
			out = append(out, j)
		}
	}
	if len(out) > 0 || op == opCreate {
		return out
	}
	ids := e.contextList("ids")
	if e.ID != "" {
		ids = append(ids, e.ID)
	}
	for _, id := range ids {
		for j, in := range inputs {
			if !done[j] && in.ID != "" && strings.EqualFold(in.ID, id) {
				out = append(out, j)
				break
			}
		}
	}
	return out
}

// tracedInput returns the input (not yet done) a result of a write is for, or -1 when
// the result does not say.
func tracedInput(op string, obj simplePublicObject, inputs []batchInput, done []bool) int {
	if t := obj.ObjectWriteTraceID; t != "" {
		if j, err := strconv.Atoi(t); err == nil && j >= 0 && j < len(inputs) && !done[j] {
			return j
		}
	}
	for j, in := range inputs {
		if done[j] {
			continue
		}
		switch op {
		case opUpdate:
			if in.ID == obj.ID {
				return j
			}
		case opUpsert:
			if v, ok := obj.Properties[in.IDProperty].(string); ok && strings.EqualFold(strings.TrimSpace(v), strings.TrimSpace(in.ID)) {
				return j
			}
		}
	}
	return -1
}

// agrees reports whether a result shows the properties an input wrote (compared without
// case and surrounding space; properties the result leaves out do not count).
func agrees(in batchInput, obj simplePublicObject) bool {
	for k, v := range in.Properties {
		got, ok := obj.Properties[k]
		if !ok {
			continue
		}
		s, _ := got.(string)
		if !strings.EqualFold(strings.TrimSpace(s), strings.TrimSpace(v)) {
			return false
		}
	}
	return true
}

func success(op string, obj simplePublicObject) connectors.WriteResult {
	switch op {
	case opCreate:
		return connectors.WriteResult{ID: obj.ID, Created: true}
	case opUpsert:
		return connectors.WriteResult{ID: obj.ID, Created: obj.New != nil && *obj.New}
	default:
		return connectors.WriteResult{ID: obj.ID}
	}
}

// recordError is one record's error from HubSpot's error body; text, when set, is the
// full message of a whole-batch rejection.
func recordError(o objectType, op string, in batchInput, e apiErrorBody, text string) error {
	reason := text
	if reason == "" {
		reason = e.describe()
	}
	name := in.ID
	if e.Category == "OBJECT_NOT_FOUND" && op != opCreate {
		return &connectors.NotFoundError{What: fmt.Sprintf("hubspot %s record %s (%s)", o.Name, name, reason)}
	}
	return &connectors.InvalidRecordError{Record: name, Field: e.field(), Reason: reason}
}
