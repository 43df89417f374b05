package hubspot

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"tandem/connectors"
)

// The JSON HubSpot's CRM object API sends and receives, under its own names.

// simplePublicObject is one record as HubSpot returns it.
type simplePublicObject struct {
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties"`
	CreatedAt  string         `json:"createdAt,omitempty"`
	UpdatedAt  string         `json:"updatedAt,omitempty"`
	Archived   bool           `json:"archived"`
	// New is set by batch upsert: true when the input created the record.
	New *bool `json:"new,omitempty"`
	// ObjectWriteTraceID echoes the input's trace id on writes, where HubSpot sends it
	// (the SDKs' SimplePublicObject has the field).
	ObjectWriteTraceID string `json:"objectWriteTraceId,omitempty"`
}

// batchInput is one input of a batch endpoint.
type batchInput struct {
	ID                 string            `json:"id,omitempty"`
	IDProperty         string            `json:"idProperty,omitempty"`
	Properties         map[string]string `json:"properties,omitempty"`
	ObjectWriteTraceID string            `json:"objectWriteTraceId,omitempty"`
}

type batchRequest struct {
	Inputs     []batchInput `json:"inputs"`
	Properties []string     `json:"properties,omitempty"`
}

// batchResponse is the answer of a batch endpoint: 200/201 when every input succeeded,
// 207 Multi-Status with numErrors/errors when some failed.
type batchResponse struct {
	Status    string               `json:"status"`
	Results   []simplePublicObject `json:"results"`
	NumErrors int                  `json:"numErrors"`
	Errors    []apiErrorBody       `json:"errors"`
}

// apiErrorBody is HubSpot's error shape [doc: hubspot-api-python error.py], also used
// for the per-input errors of a 207 and for 429s (errorType, policyName). Every field is
// optional; context values are lists of strings.
type apiErrorBody struct {
	Status        string                     `json:"status"`
	Message       string                     `json:"message"`
	CorrelationID string                     `json:"correlationId"`
	Category      string                     `json:"category"`
	SubCategory   json.RawMessage            `json:"subCategory,omitempty"`
	Errors        []errorDetail              `json:"errors,omitempty"`
	Context       map[string]json.RawMessage `json:"context,omitempty"`
	ErrorType     string                     `json:"errorType,omitempty"`
	PolicyName    string                     `json:"policyName,omitempty"`
	// ObjectWriteTraceID and ID name the failed input where HubSpot says so; the trace
	// id may also come in context.objectWriteTraceId.
	ObjectWriteTraceID string `json:"objectWriteTraceId,omitempty"`
	ID                 string `json:"id,omitempty"`
}

type errorDetail struct {
	Message string          `json:"message"`
	Code    string          `json:"code,omitempty"`
	In      string          `json:"in,omitempty"`
	Context json.RawMessage `json:"context,omitempty"`
}

// contextList returns context[key] as strings (HubSpot sends {"ids":["1","2"]}).
func (e apiErrorBody) contextList(key string) []string {
	return stringList(e.Context[key])
}

func stringList(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var one string
	if json.Unmarshal(raw, &one) == nil && one != "" {
		return []string{one}
	}
	return nil
}

// field returns the property an error is about, when it says.
func (e apiErrorBody) field() string {
	if l := e.contextList("propertyName"); len(l) > 0 {
		return l[0]
	}
	for _, d := range e.Errors {
		var ctx map[string]json.RawMessage
		if json.Unmarshal(d.Context, &ctx) == nil {
			if l := stringList(ctx["propertyName"]); len(l) > 0 {
				return l[0]
			}
		}
	}
	return ""
}

// describe is the error's message with its category and correlation id, for messages.
func (e apiErrorBody) describe() string {
	var b strings.Builder
	if e.Category != "" {
		b.WriteString(e.Category)
		b.WriteString(": ")
	} else if e.ErrorType != "" {
		b.WriteString(e.ErrorType)
		b.WriteString(": ")
	}
	msg := e.Message
	if msg == "" && len(e.Errors) > 0 {
		msg = e.Errors[0].Message
	}
	if msg == "" {
		msg = "(no message)"
	}
	b.WriteString(msg)
	if e.CorrelationID != "" {
		fmt.Fprintf(&b, " (correlationId %s)", e.CorrelationID)
	}
	return b.String()
}

type filter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        string   `json:"value,omitempty"`
	Values       []string `json:"values,omitempty"`
}

type filterGroup struct {
	Filters []filter `json:"filters"`
}

type searchSort struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

type searchRequest struct {
	FilterGroups []filterGroup `json:"filterGroups"`
	Sorts        []searchSort  `json:"sorts,omitempty"`
	Properties   []string      `json:"properties,omitempty"`
	Limit        int           `json:"limit"`
	After        string        `json:"after,omitempty"`
}

type searchResponse struct {
	Total   int                  `json:"total"`
	Results []simplePublicObject `json:"results"`
	Paging  *struct {
		Next *struct {
			After string `json:"after"`
		} `json:"next"`
	} `json:"paging"`
}

func (r searchResponse) next() string {
	if r.Paging == nil || r.Paging.Next == nil {
		return ""
	}
	return r.Paging.Next.After
}

// record converts a HubSpot object into a Record. Fields hold the properties as HubSpot
// returns them (strings; nil for a property without a value). UpdatedAt is the modified-
// date property (epoch ms or ISO 8601, millisecond precision), or the object's updatedAt
// when the property is missing.
func record(o objectType, obj simplePublicObject) (connectors.Record, error) {
	r := connectors.Record{ID: obj.ID, Fields: make(map[string]any, len(obj.Properties))}
	for k, v := range obj.Properties {
		switch x := v.(type) {
		case nil, string:
			r.Fields[k] = x
		case float64:
			r.Fields[k] = connectors.KeyString(x)
		default:
			r.Fields[k] = fmt.Sprint(x)
		}
	}
	stamp, _ := r.Fields[o.Modified].(string)
	if stamp == "" {
		stamp = obj.UpdatedAt
	}
	t, err := parseTime(stamp)
	if err != nil {
		return connectors.Record{}, fmt.Errorf("hubspot %s record %s: %s %q: %w", o.Name, obj.ID, o.Modified, stamp, err)
	}
	r.UpdatedAt = t
	return r, nil
}

// parseTime reads a HubSpot date-time: epoch milliseconds or ISO 8601.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("no modified date")
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("not epoch milliseconds or ISO 8601")
	}
	return t.UTC(), nil
}

// propertiesOf turns a record's fields into HubSpot property values: strings, numbers in
// their plain form, nil as "" (which clears the property).
func propertiesOf(fields map[string]any) map[string]string {
	out := make(map[string]string, len(fields))
	for k, v := range fields {
		out[k] = connectors.KeyString(v)
	}
	return out
}
