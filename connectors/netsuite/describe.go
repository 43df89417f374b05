package netsuite

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"tandem/connectors"
)

var _ connectors.Describer = (*Connector)(nil)

// schemaProperty is the part of a metadata catalog property Describe reads.
type schemaProperty struct {
	Title    string `json:"title"`
	Type     string `json:"type"`
	Format   string `json:"format"`
	ReadOnly bool   `json:"readOnly"`
	Ref      string `json:"$ref"`
}

// Describe implements connectors.Describer with the REST metadata catalog: GET
// /services/rest/record/v1/metadata-catalog/{object} with "Accept:
// application/schema+json", which answers the record type's JSON Schema, custom fields
// included [doc: section_1545129726]. Each property is a field:
//
//   - Name is the property's name in lower case: the connector reads and writes the
//     SuiteQL column names, which are the record service's names in lower case
//     (companyName is companyname) [INF: the record service reads both spellings, see the
//     package comment].
//   - Type is the property's format when it has one (date, date-time, int64, ...), else its
//     JSON type (string, integer, number, boolean, object for a reference or a sublist).
//   - Writable unless the property is readOnly [INF: the JSON Schema keyword, for
//     fields NetSuite sets itself].
//   - Unique for id and externalid: NetSuite keeps internal and external ids unique per
//     record type [doc: section_156334828635].
//
// Fields are sorted by name. A record type the account does not have answers 404, a
// *connectors.NotFoundError.
func (c *Connector) Describe(ctx context.Context, object string) ([]connectors.Field, error) {
	if err := c.check(ctx, "describe", object); err != nil {
		if ctx.Err() == nil {
			err = &connectors.NotFoundError{What: err.Error()} // not a record type's name
		}
		return nil, err
	}
	what := "describe " + object
	resp, err := c.do(ctx, call{
		method: http.MethodGet,
		path:   "/record/v1/metadata-catalog/" + object,
		header: map[string]string{"Accept": "application/schema+json"},
	})
	if err != nil {
		return nil, fmt.Errorf("netsuite %s: %w", what, err)
	}
	if resp.status != http.StatusOK {
		return nil, c.callError(resp, what)
	}
	var schema struct {
		Properties map[string]schemaProperty `json:"properties"`
	}
	if err := json.Unmarshal(resp.body, &schema); err != nil {
		return nil, fmt.Errorf("netsuite %s: the answer is not a JSON Schema: %w", what, err)
	}
	if len(schema.Properties) == 0 {
		return nil, fmt.Errorf("netsuite %s: the metadata catalog lists no property", what)
	}
	out := make([]connectors.Field, 0, len(schema.Properties))
	for name, p := range schema.Properties {
		lower := strings.ToLower(name)
		typ := p.Type
		switch {
		case p.Format != "":
			typ = p.Format
		case typ == "" && p.Ref != "":
			typ = "object"
		}
		out = append(out, connectors.Field{
			Name:     lower,
			Label:    p.Title,
			Type:     typ,
			Writable: !p.ReadOnly,
			Unique:   lower == "id" || lower == externalID,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
