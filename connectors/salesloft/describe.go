package salesloft

import (
	"context"
	"fmt"
	"slices"

	"tandem/connectors"
)

var _ connectors.Describer = (*Connector)(nil)

// accountFields are an account's attributes as Salesloft's API reference documents them
// (Salesloft has no describe endpoint, and accounts have no per-team standard fields to
// discover): the attributes of the account object that GET /v2/accounts/{id} returns, and
// the parameters of POST /v2/accounts and PUT /v2/accounts/{id}, which are the writable
// ones [doc: developers.salesloft.com/docs/api/accounts-create, accounts-update,
// accounts-show; 3p transcription: api-evangelist/salesloft
// json-schema/salesloft-account-schema.json and openapi/salesloft-accounts-api-openapi.yml].
// References are written by id (owner_id) and read back as objects ({"id", "_href"}).
// Team custom fields are in custom_fields, one object [doc]; a mapping names the whole
// object.
//
// Unique: id, and domain, which Salesloft keeps unique per team [INF: api-notes 2(b);
// creating a second account with a domain is refused "has already been taken"]. crm_id is
// not documented as unique.
var accountFields = []connectors.Field{
	{Name: "id", Label: "ID", Type: "integer", Unique: true},
	{Name: "created_at", Label: "Created at", Type: "datetime"},
	{Name: "updated_at", Label: "Updated at", Type: "datetime"},
	{Name: "archived_at", Label: "Archived at", Type: "datetime"},
	{Name: "name", Label: "Name", Type: "string", Writable: true},
	{Name: "domain", Label: "Domain", Type: "string", Writable: true, Unique: true},
	{Name: "conversational_name", Label: "Conversational name", Type: "string", Writable: true},
	{Name: "description", Label: "Description", Type: "string", Writable: true},
	{Name: "phone", Label: "Phone", Type: "string", Writable: true},
	{Name: "website", Label: "Website", Type: "string", Writable: true},
	{Name: "linkedin_url", Label: "LinkedIn URL", Type: "string", Writable: true},
	{Name: "twitter_handle", Label: "Twitter handle", Type: "string", Writable: true},
	{Name: "street", Label: "Street", Type: "string", Writable: true},
	{Name: "city", Label: "City", Type: "string", Writable: true},
	{Name: "state", Label: "State", Type: "string", Writable: true},
	{Name: "postal_code", Label: "Postal code", Type: "string", Writable: true},
	{Name: "country", Label: "Country", Type: "string", Writable: true},
	{Name: "locale", Label: "Locale", Type: "string", Writable: true},
	{Name: "industry", Label: "Industry", Type: "string", Writable: true},
	{Name: "company_type", Label: "Company type", Type: "string", Writable: true},
	{Name: "founded", Label: "Founded", Type: "string", Writable: true},
	{Name: "revenue_range", Label: "Revenue range", Type: "string", Writable: true},
	{Name: "size", Label: "Size", Type: "string", Writable: true},
	{Name: "do_not_contact", Label: "Do not contact", Type: "boolean", Writable: true},
	{Name: "custom_fields", Label: "Custom fields", Type: "object", Writable: true},
	{Name: "tags", Label: "Tags", Type: "array", Writable: true},
	{Name: "crm_id", Label: "CRM ID", Type: "string", Writable: true},
	{Name: "crm_id_type", Label: "CRM ID type", Type: "string", Writable: true},
	{Name: "crm_url", Label: "CRM URL", Type: "string"},
	{Name: "owner_id", Label: "Owner ID", Type: "integer", Writable: true},
	{Name: "owner", Label: "Owner", Type: "object"},
	{Name: "company_stage_id", Label: "Company stage ID", Type: "integer", Writable: true},
	{Name: "company_stage", Label: "Company stage", Type: "object"},
	{Name: "account_tier_id", Label: "Account tier ID", Type: "integer", Writable: true},
	{Name: "account_tier", Label: "Account tier", Type: "object"},
	{Name: "last_contacted_at", Label: "Last contacted at", Type: "datetime"},
	{Name: "last_contacted_by", Label: "Last contacted by", Type: "object"},
	{Name: "last_contacted_type", Label: "Last contacted type", Type: "string"},
	{Name: "counts", Label: "Counts", Type: "object"},
}

// Describe implements connectors.Describer with the documented account attributes
// (accountFields), without a request: Salesloft has no describe endpoint. Any object but
// accounts is a *connectors.NotFoundError.
func (c *Connector) Describe(ctx context.Context, object string) ([]connectors.Field, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("salesloft describe %s: %w", object, err)
	}
	if err := checkObject("describe", object); err != nil {
		return nil, &connectors.NotFoundError{What: err.Error()}
	}
	return slices.Clone(accountFields), nil
}
