package salesforce

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"tandem/connectors"
)

var _ connectors.Describer = (*Client)(nil)

// describeAnswer is the part of an sObject Describe answer Describe reads: each field's
// name, label, type, whether a create or an update may set it, and whether its values are
// unique or an external id [doc: developer.salesforce.com/docs/platform/api-rest/guide/
// dome-sobject-describe; the properties are the SOAP API's DescribeSObjectResult Field].
type describeAnswer struct {
	Name   string `json:"name"`
	Fields []struct {
		Name       string `json:"name"`
		Label      string `json:"label"`
		Type       string `json:"type"`
		Createable bool   `json:"createable"`
		Updateable bool   `json:"updateable"`
		Unique     bool   `json:"unique"`
		ExternalID bool   `json:"externalId"`
	} `json:"fields"`
}

// Describe implements connectors.Describer with sObject Describe: GET
// /services/data/vXX.X/sobjects/{object}/describe. A field is writable when it is
// createable or updateable (a field only one of them allows, such as a master-detail
// reference, is still written by one of the engine's writes); unique when Salesforce says
// unique, when it is an external id (what Upsert keys on), and for Id. Type is
// Salesforce's (id, string, url, picklist, double, datetime, reference, ...). An object
// the org does not have answers 404 NOT_FOUND, a *connectors.NotFoundError.
func (c *Client) Describe(ctx context.Context, object string) ([]connectors.Field, error) {
	if err := checkObject(object); err != nil {
		return nil, err
	}
	what := "describe " + object
	ans, err := c.do(ctx, http.MethodGet, c.dataPath("/sobjects/"+object+"/describe"), nil, what)
	if err != nil {
		return nil, err
	}
	if ans.status != http.StatusOK {
		return nil, c.apiError(ans, what)
	}
	var d describeAnswer
	if err := json.Unmarshal(ans.body, &d); err != nil {
		return nil, fmt.Errorf("salesforce %s: the answer is not an sObject describe: %w", what, err)
	}
	if len(d.Fields) == 0 {
		return nil, fmt.Errorf("salesforce %s: the describe lists no field", what)
	}
	out := make([]connectors.Field, 0, len(d.Fields))
	for _, f := range d.Fields {
		out = append(out, connectors.Field{
			Name:     f.Name,
			Label:    f.Label,
			Type:     f.Type,
			Writable: f.Createable || f.Updateable,
			Unique:   f.Unique || f.ExternalID || f.Type == "id",
		})
	}
	return out, nil
}
