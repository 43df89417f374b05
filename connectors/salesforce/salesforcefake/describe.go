package salesforcefake

import (
	"net/http"
	"sort"
	"strings"
)

// sObject Describe: GET /services/data/vXX.X/sobjects/{Object}/describe answers the
// object's metadata, {"name", "label", "keyPrefix", "custom", "createable", "updateable",
// "fields": [...]}, each field with name, label, type, createable, updateable, nillable,
// unique, externalId, custom and length [doc: developer.salesforce.com/docs/platform/
// api-rest/guide/dome-sobject-describe; the field properties are DescribeSObjectResult's
// Field in the SOAP API guide]. An object the org does not have answers 404 NOT_FOUND
// "The requested resource does not exist" [INF: the answer of any unknown REST resource].
//
// The fields are Id, the system fields (CreatedDate, CreatedById, LastModifiedDate,
// LastModifiedById, SystemModstamp, IsDeleted: not createable or updateable), and the
// object's Schema entry when it has one; else its required fields, a few standard fields
// of the standard objects (standardFields), and every field a record of it was written
// with. [INF] A field's type is its standard type, or else told by the values records
// hold (boolean, double, string); externalId follows ExternalIDFields, unique is
// externalId with UniqueExternalIDs.

// describedField is one entry of a describe's fields.
type describedField struct {
	Name       string `json:"name"`
	Label      string `json:"label"`
	Type       string `json:"type"`
	Length     int    `json:"length"`
	Createable bool   `json:"createable"`
	Updateable bool   `json:"updateable"`
	Nillable   bool   `json:"nillable"`
	Unique     bool   `json:"unique"`
	ExternalID bool   `json:"externalId"`
	IDLookup   bool   `json:"idLookup"`
	Custom     bool   `json:"custom"`
}

// standardField is a standard field's label and type [doc: Object Reference, Account and
// Contact].
type standardField struct{ label, typ string }

var standardFields = map[string]map[string]standardField{
	"Account": {
		"Name": {"Account Name", "string"}, "Website": {"Website", "url"}, "Phone": {"Account Phone", "phone"},
		"Industry": {"Industry", "picklist"}, "NumberOfEmployees": {"Employees", "int"},
		"Description": {"Account Description", "textarea"}, "BillingCity": {"Billing City", "string"},
		"BillingCountry": {"Billing Country", "string"}, "AccountNumber": {"Account Number", "string"},
	},
	"Contact": {
		"FirstName": {"First Name", "string"}, "LastName": {"Last Name", "string"}, "Email": {"Email", "email"},
		"Phone": {"Business Phone", "phone"}, "Title": {"Title", "string"}, "AccountId": {"Account ID", "reference"},
	},
}

// systemFields are on every object and set by Salesforce alone.
var systemFields = []describedField{
	{Name: "IsDeleted", Label: "Deleted", Type: "boolean"},
	{Name: "CreatedDate", Label: "Created Date", Type: "datetime"},
	{Name: "CreatedById", Label: "Created By ID", Type: "reference", Length: 18},
	{Name: "LastModifiedDate", Label: "Last Modified Date", Type: "datetime"},
	{Name: "LastModifiedById", Label: "Last Modified By ID", Type: "reference", Length: 18},
	{Name: "SystemModstamp", Label: "System Modstamp", Type: "datetime"},
}

// describePath returns the object of a describe path ("sobjects/Account/describe"), or "".
func describePath(rest string) string {
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if len(parts) == 3 && parts[0] == "sobjects" && parts[2] == "describe" && parts[1] != "" {
		return parts[1]
	}
	return ""
}

func (s *Server) serveDescribe(w http.ResponseWriter, object string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	name, err := s.objectName(object)
	if err != nil {
		return &apiErr{status: http.StatusNotFound, code: "NOT_FOUND", msg: "The requested resource does not exist"}
	}
	tb := s.tables[strings.ToLower(name)]
	prefix := keyPrefixes[strings.ToLower(name)]
	if tb != nil {
		prefix = tb.prefix
	}
	custom := strings.HasSuffix(strings.ToLower(name), "__c")
	writeJSON(w, http.StatusOK, map[string]any{
		"name":       name,
		"label":      label(name),
		"keyPrefix":  prefix,
		"custom":     custom,
		"createable": true,
		"updateable": true,
		"queryable":  true,
		"fields":     s.describeFields(name, tb),
	})
	return nil
}

// describeFields lists object name's fields; tb is its table, nil before any write.
// Callers hold s.mu.
func (s *Server) describeFields(name string, tb *table) []describedField {
	out := []describedField{{Name: "Id", Label: label(name) + " ID", Type: "id", Length: 18, IDLookup: true}}
	seen := map[string]bool{"id": true}
	for _, f := range systemFields {
		out = append(out, f)
		seen[strings.ToLower(f.Name)] = true
	}
	var names []string
	schema, strict := s.schemaOf(name)
	if strict {
		names = schema
	} else {
		for f := range standardFields[name] {
			names = append(names, f)
		}
		for o, fields := range s.opts.RequiredFields {
			if strings.EqualFold(o, name) {
				names = append(names, fields...)
			}
		}
		if tb != nil {
			for _, f := range tb.names {
				names = append(names, f)
			}
		}
		sort.Strings(names)
	}
	required := map[string]bool{}
	for o, fields := range s.opts.RequiredFields {
		if strings.EqualFold(o, name) {
			for _, f := range fields {
				required[strings.ToLower(f)] = true
			}
		}
	}
	for _, f := range names {
		key := strings.ToLower(f)
		if seen[key] || f == "attributes" {
			continue
		}
		seen[key] = true
		if tb != nil {
			f = tb.fieldName(f)
		}
		d := describedField{Name: f, Label: label(f), Type: "string", Length: 255, Createable: true, Updateable: true,
			Nillable: !required[key], Custom: strings.HasSuffix(key, "__c")}
		if std, ok := standardFields[name][f]; ok {
			d.Label, d.Type = std.label, std.typ
		} else if tb != nil {
			d.Type = valueType(tb, f)
		}
		if d.Type != "string" && d.Type != "textarea" && d.Type != "url" && d.Type != "phone" && d.Type != "email" {
			d.Length = 0
		}
		d.ExternalID = s.isExternalID(&table{name: name}, f) // it reads the object's name only
		d.Unique = d.ExternalID && s.opts.UniqueExternalIDs
		d.IDLookup = d.ExternalID || f == "Name"
		out = append(out, d)
	}
	return out
}

// schemaOf returns object name's Schema entry, if it has one.
func (s *Server) schemaOf(name string) ([]string, bool) {
	for o, f := range s.opts.Schema {
		if strings.EqualFold(o, name) {
			return f, true
		}
	}
	return nil, false
}

// valueType is the type the values of field tell: boolean, double, or string.
func valueType(tb *table, field string) string {
	for _, r := range tb.records {
		switch tb.get(r, field).(type) {
		case bool:
			return "boolean"
		case float64:
			return "double"
		case string:
			return "string"
		}
	}
	return "string"
}

// label is a field's or object's label made from its API name: "Ext__c" is "Ext",
// "NumberOfEmployees" is "Number Of Employees".
func label(api string) string {
	api = strings.TrimSuffix(api, "__c")
	var b strings.Builder
	for i, r := range api {
		if r == '_' {
			b.WriteByte(' ')
			continue
		}
		if i > 0 && r >= 'A' && r <= 'Z' && api[i-1] >= 'a' && api[i-1] <= 'z' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
