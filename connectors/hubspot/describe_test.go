package hubspot_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/connectortest"
	"tandem/connectors/hubspot"
	"tandem/connectors/hubspot/hubspotfake"
)

func TestDescribe(t *testing.T) {
	for _, prefix := range []string{"/crm/v3/objects", "/crm/objects/2026-03"} {
		t.Run(prefix, func(t *testing.T) {
			e := newEnv(t, fast, map[string]string{hubspot.SettingPathPrefix: prefix})
			fields, err := e.client.Describe(t.Context(), "companies")
			require.NoError(t, err)
			byName := connectortest.FieldsByName(fields)
			assert.Equal(t, connectors.Field{Name: "name", Label: "Company name", Type: "string", Writable: true}, byName["name"])
			assert.Equal(t, connectors.Field{Name: "hs_lastmodifieddate", Label: "Last Modified Date", Type: "datetime"}, byName["hs_lastmodifieddate"])
			assert.True(t, byName["hs_object_id"].Unique, "the record id")
			assert.False(t, byName["domain"].Unique, "HubSpot does not keep domains unique")

			contacts, err := e.client.Describe(t.Context(), "contacts")
			require.NoError(t, err)
			assert.True(t, connectortest.FieldsByName(contacts)["email"].Unique, "the fake keeps contacts' email unique")
			assert.Contains(t, connectortest.FieldsByName(contacts), "lastmodifieddate")
		})
	}
}

func TestDescribeUnknownObject(t *testing.T) {
	e := newEnv(t, fast, nil)
	_, err := e.client.Describe(t.Context(), "deals")
	require.ErrorIs(t, err, connectors.ErrNotFound)
	assert.ErrorContains(t, err, `hubspot object "deals"`)
	assert.Empty(t, e.fake.Requests(), "nothing asked of HubSpot")
}

func TestDescribePathPrefixWithoutObjects(t *testing.T) {
	e := newEnv(t, fast, map[string]string{hubspot.SettingPathPrefix: "/proxy/hubspot"})
	_, err := e.client.Describe(t.Context(), "companies")
	require.Error(t, err)
	assert.ErrorContains(t, err, "setting path_prefix")
}

// A property deleted in HubSpot leaves the properties API, and a write naming it is
// refused with HubSpot's PROPERTY_DOESNT_EXIST validation error (400).
func TestDescribeDeletedProperty(t *testing.T) {
	e := newEnv(t, fast, nil)
	ctx := t.Context()
	require.NoError(t, e.fake.DefineProperty("companies", hubspotfake.Property{
		Name: "vat_id", Label: "VAT ID", Type: "string", FieldType: "text", GroupName: "companyinformation"}))
	fields, err := e.client.Describe(ctx, "companies")
	require.NoError(t, err)
	assert.Equal(t, connectors.Field{Name: "vat_id", Label: "VAT ID", Type: "string", Writable: true}, connectortest.FieldsByName(fields)["vat_id"])

	res, err := e.client.Create(ctx, "companies", []connectors.Record{{Fields: map[string]any{"name": "Acme", "vat_id": "GB123"}}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	id := res[0].ID

	require.NoError(t, e.fake.DeleteProperty("companies", "vat_id"))
	fields, err = e.client.Describe(ctx, "companies")
	require.NoError(t, err)
	assert.NotContains(t, connectortest.FieldsByName(fields), "vat_id")
	assert.Contains(t, connectortest.FieldsByName(fields), "name")

	res, err = e.client.Update(ctx, "companies", []connectors.Record{{ID: id, Fields: map[string]any{"vat_id": "GB456"}}})
	require.NoError(t, err)
	var inv *connectors.InvalidRecordError
	require.True(t, errors.As(res[0].Err, &inv), "want an InvalidRecordError, got %v", res[0].Err)
	assert.Equal(t, "vat_id", inv.Field)
	assert.Contains(t, inv.Reason, "PROPERTY_DOESNT_EXIST")
	rec, _ := e.fake.Get("companies", id)
	assert.Equal(t, "GB123", rec.Properties["vat_id"], "the refused write changed nothing")

	got, err := e.client.Get(ctx, "companies", []string{id})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.NotContains(t, got[0].Fields, "vat_id", "a deleted property is not read")

	// What the wire says: HTTP 400, VALIDATION_ERROR, the property named.
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, e.url+"/crm/v3/objects/companies/"+id,
		strings.NewReader(`{"properties":{"vat_id":"GB789"}}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer demo-token")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	var body struct {
		Category string `json:"category"`
		Message  string `json:"message"`
		Errors   []struct {
			Code    string              `json:"code"`
			Context map[string][]string `json:"context"`
		} `json:"errors"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Equal(t, "VALIDATION_ERROR", body.Category)
	require.Len(t, body.Errors, 1)
	assert.Equal(t, "PROPERTY_DOESNT_EXIST", body.Errors[0].Code)
	assert.Equal(t, []string{"vat_id"}, body.Errors[0].Context["propertyName"])
	assert.Contains(t, body.Message, `Property \"vat_id\" does not exist`)

	// Created again, it is back.
	require.NoError(t, e.fake.DefineProperty("companies", hubspotfake.Property{Name: "vat_id", Label: "VAT", Type: "string", FieldType: "text"}))
	res, err = e.client.Update(ctx, "companies", []connectors.Record{{ID: id, Fields: map[string]any{"vat_id": "GB456"}}})
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
}
