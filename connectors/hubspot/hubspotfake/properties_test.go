package hubspotfake_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/hubspot/hubspotfake"
)

// names lists the names of a properties answer's results.
func names(t *testing.T, body map[string]any) []string {
	t.Helper()
	var out []string
	for _, r := range body["results"].([]any) {
		out = append(out, r.(map[string]any)["name"].(string))
	}
	return out
}

func TestPropertiesAPI(t *testing.T) {
	f := hubspotfake.New(unlimited())
	for _, path := range []string{"/crm/v3/properties/companies", "/crm/properties/2026-03/companies"} {
		resp, body := call(t, f, "GET", path, "demo-token", "")
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		assert.Contains(t, names(t, body), "domain", path)
		assert.Contains(t, names(t, body), "hs_lastmodifieddate", path)
	}
	resp, body := call(t, f, "GET", "/crm/v3/properties/companies/hs_lastmodifieddate", "demo-token", "")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "datetime", body["type"])
	assert.Equal(t, true, body["modificationMetadata"].(map[string]any)["readOnlyValue"])
	assert.Equal(t, true, body["hubspotDefined"])

	resp, body = call(t, f, "POST", "/crm/v3/properties/companies", "demo-token",
		`{"name":"vat_id","label":"VAT ID","type":"string","fieldType":"text","groupName":"companyinformation","hasUniqueValue":true}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	assert.Equal(t, true, body["hasUniqueValue"])
	assert.Equal(t, false, body["modificationMetadata"].(map[string]any)["readOnlyValue"])
	resp, body = call(t, f, "POST", "/crm/v3/properties/companies", "demo-token",
		`{"name":"vat_id","label":"VAT ID","type":"string","fieldType":"text","groupName":"companyinformation"}`)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, body)
	resp, _ = call(t, f, "POST", "/crm/v3/properties/companies", "demo-token", `{"name":"Bad Name","label":"x"}`)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	resp, _ = call(t, f, "DELETE", "/crm/v3/properties/companies/vat_id", "demo-token", "")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	_, body = call(t, f, "GET", "/crm/v3/properties/companies", "demo-token", "")
	assert.NotContains(t, names(t, body), "vat_id")
	_, body = call(t, f, "GET", "/crm/v3/properties/companies?archived=true", "demo-token", "")
	assert.Equal(t, []string{"vat_id"}, names(t, body))
	assert.Equal(t, true, body["results"].([]any)[0].(map[string]any)["archived"])
	resp, _ = call(t, f, "GET", "/crm/v3/properties/companies/vat_id", "demo-token", "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	resp, body = call(t, f, "DELETE", "/crm/v3/properties/companies/name", "demo-token", "")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "HubSpot's own properties stay")
	assert.Equal(t, "VALIDATION_ERROR", body["category"])
	resp, body = call(t, f, "GET", "/crm/v3/properties/deals", "demo-token", "")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, body["message"], "deals")
	resp, _ = call(t, f, "GET", "/crm/v3/properties/companies", "", "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, 5, f.Stats().Requests["GET properties/companies"], "both path styles")
}

// By default a write may name a property the object does not have yet, and defines it;
// with StrictProperties it is refused, as HubSpot refuses it. A deleted property is
// refused either way, in every write endpoint, and left out of reads.
func TestPropertiesOfWrites(t *testing.T) {
	lenient := hubspotfake.New(unlimited())
	resp, body := call(t, lenient, "POST", "/crm/v3/objects/companies", "demo-token", `{"properties":{"name":"Acme","tier":"gold"}}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	_, body = call(t, lenient, "GET", "/crm/v3/properties/companies/tier", "demo-token", "")
	assert.Equal(t, "tier", body["name"], "defined by the write")

	strictOpts := unlimited()
	strictOpts.StrictProperties = true
	strictOpts.Properties = map[string][]hubspotfake.Property{"companies": {{Name: "tier", Label: "Tier", Type: "string", FieldType: "text"}}}
	strict := hubspotfake.New(strictOpts)
	resp, body = call(t, strict, "POST", "/crm/v3/objects/companies", "demo-token", `{"properties":{"name":"Acme","vat_id":"GB1"}}`)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "VALIDATION_ERROR", body["category"])
	resp, _ = call(t, strict, "POST", "/crm/v3/objects/companies", "demo-token", `{"properties":{"name":"Acme","tier":"gold"}}`)
	assert.Equal(t, http.StatusCreated, resp.StatusCode, "a property of Options.Properties")
	assert.Panics(t, func() { strict.Seed("companies", map[string]string{"vat_id": "GB1"}) }, "seeding an unknown property is a test's mistake")

	id := lenient.Seed("companies", map[string]string{"name": "Beta", "tier": "silver"})
	require.NoError(t, lenient.DeleteProperty("companies", "tier"))
	assert.Error(t, lenient.DeleteProperty("companies", "tier"), "deleted already")
	assert.Error(t, lenient.DeleteProperty("companies", "domain"), "HubSpot's own")
	for _, w := range []struct{ method, path, body string }{
		{"PATCH", "/crm/v3/objects/companies/" + id, `{"properties":{"tier":"gold"}}`},
		{"POST", "/crm/v3/objects/companies", `{"properties":{"name":"C","tier":"gold"}}`},
		{"POST", "/crm/v3/objects/companies/batch/create", `{"inputs":[{"properties":{"name":"C","tier":"gold"}}]}`},
	} {
		resp, body := call(t, lenient, w.method, w.path, "demo-token", w.body)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s %s", w.method, w.path)
		assert.Contains(t, body["message"], "PROPERTY_DOESNT_EXIST", "%s %s", w.method, w.path)
	}
	resp, body = call(t, lenient, "POST", "/crm/v3/objects/companies/batch/update", "demo-token",
		`{"inputs":[{"id":"`+id+`","objectWriteTraceId":"t1","properties":{"tier":"gold"}}]}`)
	assert.Equal(t, http.StatusMultiStatus, resp.StatusCode, "one input of a traced batch: %v", body)
	rec, _ := lenient.Get("companies", id)
	assert.Equal(t, "silver", rec.Properties["tier"], "no write went through")

	_, body = call(t, lenient, "GET", "/crm/v3/objects/companies/"+id+"?properties=name,tier", "demo-token", "")
	props := body["properties"].(map[string]any)
	assert.Equal(t, "Beta", props["name"])
	assert.NotContains(t, props, "tier", "a deleted property is not read")
	for _, p := range lenient.Properties("companies") {
		assert.NotEqual(t, "tier", p.Name)
	}
}
