package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"tandem/connectors"
)

var _ connectors.Describer = (*Client)(nil)

// property is one property definition of HubSpot's CRM properties API [doc:
// https://developers.hubspot.com/docs/api-reference/legacy/crm/properties/get-properties].
type property struct {
	Name                 string `json:"name"`
	Label                string `json:"label"`
	Type                 string `json:"type"`
	HasUniqueValue       bool   `json:"hasUniqueValue"`
	Calculated           bool   `json:"calculated"`
	ModificationMetadata struct {
		ReadOnlyValue bool `json:"readOnlyValue"`
	} `json:"modificationMetadata"`
}

// Describe implements connectors.Describer with the properties API: GET
// /crm/v3/properties/{object} ({"results": [property, ...]}, every property of the
// object, without paging [doc]). A field is writable unless its
// modificationMetadata.readOnlyValue is set (HubSpot computes it: createdate, the
// modified dates, calculated properties) [doc]; unique when HubSpot says hasUniqueValue,
// for hs_object_id (the record id), and for what the connector upserts by (contacts'
// email, unique_properties). Type is HubSpot's type (string, number, date, datetime,
// enumeration, bool, phone_number).
//
// The properties path follows path_prefix: /crm/v3/objects reads /crm/v3/properties,
// the date-versioned /crm/objects/2026-03 reads /crm/properties/2026-03 [doc:
// .../latest/crm/properties/get-properties]. An object the connector does not sync is a
// *connectors.NotFoundError without a request.
func (c *Client) Describe(ctx context.Context, object string) ([]connectors.Field, error) {
	o, err := c.object(object)
	if err != nil {
		return nil, err
	}
	base, err := c.propertiesPrefix()
	if err != nil {
		return nil, err
	}
	var resp struct {
		Results []property `json:"results"`
	}
	if _, err := c.do(ctx, http.MethodGet, base+"/"+o.Name, false, nil, &resp); err != nil {
		return nil, err
	}
	if len(resp.Results) == 0 {
		return nil, fmt.Errorf("hubspot describe %s: the properties API listed no property", o.Name)
	}
	out := make([]connectors.Field, 0, len(resp.Results))
	for _, p := range resp.Results {
		out = append(out, connectors.Field{
			Name:     p.Name,
			Label:    p.Label,
			Type:     p.Type,
			Writable: !p.ModificationMetadata.ReadOnlyValue && !p.Calculated,
			Unique:   p.HasUniqueValue || p.Name == "hs_object_id" || c.unique(o, p.Name),
		})
	}
	return out, nil
}

// propertiesPrefix is the properties API's path for the configured object API path: its
// last "/objects" segment becomes "/properties".
func (c *Client) propertiesPrefix() (string, error) {
	p := c.cfg.PathPrefix
	i := strings.LastIndex(p, "/objects")
	if i < 0 || (i+len("/objects") < len(p) && p[i+len("/objects")] != '/') {
		return "", fmt.Errorf("hubspot describe: setting %s: %q has no /objects segment to find the properties API by "+
			"(use %s or /crm/objects/2026-03)", SettingPathPrefix, p, DefaultPathPrefix)
	}
	return p[:i] + "/properties" + p[i+len("/objects"):], nil
}
