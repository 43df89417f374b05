package netsuitefake

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
)

// The metadata catalog: GET /services/rest/record/v1/metadata-catalog/{type} with
// "Accept: application/schema+json" answers the record type's JSON Schema (draft 06):
// {"type": "object", "properties": {name: {"title", "type", "format"?, "nullable",
// "readOnly"?, "x-ns-custom-field"?}}, "$schema": "https://json-schema.org/draft-06/hyper-schema#"}
// [doc: section_1545129726, "Working with JSON Schema Metadata", whose example shows
// custentity_integer {"title", "type": "integer", "format": "int64", "nullable": true,
// "x-ns-custom-field": true} and startDate {"type": "string", "format": "date"}].
//
// [INF] choices of the fake:
//   - Property names are the record service's: camelCase for standard fields
//     (companyName, lastModifiedDate), as written for custom ones (custentity_...). The
//     fake stores fields in lower case; standardFields spells them.
//   - Read-only fields (id, dateCreated, lastModifiedDate) carry "readOnly": true.
//   - The record types are customer, contact, vendor and employee, and any type records
//     were stored under; another answers 404 NONEXISTENT_ID, as a record that does not exist
//     does. Its properties are the standard fields of the type, its required fields,
//     the custom fields Options.CustomFields declares, and those its records hold (typed
//     by their values).
//   - Only application/schema+json is served; another Accept (the OpenAPI form, or
//     application/json) answers 406.

// schemaProperty is one property of a record type's JSON Schema.
type schemaProperty struct {
	Title       string `json:"title"`
	Type        string `json:"type"`
	Format      string `json:"format,omitempty"`
	Nullable    bool   `json:"nullable"`
	ReadOnly    bool   `json:"readOnly,omitempty"`
	CustomField bool   `json:"x-ns-custom-field,omitempty"`
}

// standardField is a standard field of a record type, by its lower-case name.
type standardField struct {
	name string // as the record service spells it
	prop schemaProperty
}

func str(name, title string) standardField {
	return standardField{name, schemaProperty{Title: title, Type: "string", Nullable: true}}
}

// entityFields are fields of every entity record type the fake knows [doc: the REST API
// Browser's customer, contact, vendor and employee records].
var entityFields = []standardField{
	{"id", schemaProperty{Title: "Internal ID", Type: "string", ReadOnly: true}},
	str("entityId", "ID"),
	str("externalId", "External ID"),
	str("email", "Email"),
	str("phone", "Phone"),
	str("comments", "Comments"),
	{"isInactive", schemaProperty{Title: "Inactive", Type: "boolean", Nullable: true}},
	{"dateCreated", schemaProperty{Title: "Date Created", Type: "string", Format: "date-time", Nullable: true, ReadOnly: true}},
	{"lastModifiedDate", schemaProperty{Title: "Last Modified Date", Type: "string", Format: "date-time", Nullable: true, ReadOnly: true}},
}

var recordTypeFields = map[string][]standardField{
	"customer": {str("companyName", "Company Name"), str("url", "Web Address"),
		{"isPerson", schemaProperty{Title: "Type", Type: "boolean", Nullable: true}}},
	"contact":  {str("firstName", "First Name"), str("lastName", "Last Name"), str("title", "Job Title")},
	"vendor":   {str("companyName", "Company Name")},
	"employee": {str("firstName", "First Name"), str("lastName", "Last Name")},
}

// metadataCatalog answers GET .../metadata-catalog/{type}.
func (s *Server) metadataCatalog(w http.ResponseWriter, r *http.Request) {
	typ := strings.ToLower(r.PathValue("type"))
	if !strings.Contains(r.Header.Get("Accept"), "application/schema+json") {
		writeError(w, http.StatusNotAcceptable, "",
			"The fake serves the metadata catalog as JSON Schema only: send Accept: application/schema+json.", "INVALID_HEADER")
		return
	}
	s.mu.Lock()
	props, ok := s.schema(typ)
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "",
			"Record type '"+r.PathValue("type")+"' does not exist.", "NONEXISTENT_ID")
		return
	}
	w.Header().Set("Content-Type", "application/schema+json; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type":       "object",
		"properties": props,
		"$schema":    "https://json-schema.org/draft-06/hyper-schema#",
	})
}

// schema returns typ's properties, and false when the account has no such record type.
// Callers hold s.mu.
func (s *Server) schema(typ string) (map[string]schemaProperty, bool) {
	standard, known := recordTypeFields[typ]
	t := s.types[typ]
	if !known && t == nil {
		return nil, false
	}
	props := map[string]schemaProperty{}
	lower := map[string]bool{}
	for _, f := range append(append([]standardField{}, entityFields...), standard...) {
		props[f.name] = f.prop
		lower[strings.ToLower(f.name)] = true
	}
	required := map[string]bool{}
	for _, f := range s.opts.Required[typ] {
		required[f] = true
		if !lower[f] {
			props[f] = schemaProperty{Title: f, Type: "string"}
			lower[f] = true
		}
	}
	for _, f := range s.opts.CustomFields[typ] {
		if !lower[f] {
			props[f] = schemaProperty{Title: f, Type: "string", Nullable: true, CustomField: true}
			lower[f] = true
		}
	}
	for name, p := range props {
		if required[strings.ToLower(name)] {
			p.Nullable = false
			props[name] = p
		}
	}
	if t != nil {
		ids := make([]int, 0, len(t.records))
		for id := range t.records {
			ids = append(ids, id)
		}
		sort.Ints(ids)
		for _, id := range ids {
			for name, v := range t.records[id].fields {
				if lower[name] || name == "links" {
					continue
				}
				lower[name] = true
				p := schemaProperty{Title: name, Type: "string", Nullable: true, CustomField: strings.HasPrefix(name, "cust")}
				switch v.(type) {
				case bool:
					p.Type = "boolean"
				case float64, int:
					p.Type, p.Format = "number", "double"
				case map[string]any:
					p.Type = "object" // a reference, {"id": ...}
				}
				props[name] = p
			}
		}
	}
	return props, true
}
