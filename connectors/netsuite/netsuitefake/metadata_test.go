package netsuitefake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetadataCatalog(t *testing.T) {
	s := New(Options{})
	s.Seed("customer", map[string]any{"companyname": "Acme", "custentity_integer": 7.0})
	get := func(typ, accept string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, restPrefix+"/record/v1/metadata-catalog/"+typ, nil)
		r.SetPathValue("type", typ)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		s.metadataCatalog(w, r)
		return w
	}

	w := get("customer", "application/schema+json")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "application/schema+json; charset=UTF-8", w.Header().Get("Content-Type"))
	var schema struct {
		Type       string                    `json:"type"`
		Schema     string                    `json:"$schema"`
		Properties map[string]schemaProperty `json:"properties"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &schema))
	assert.Equal(t, "object", schema.Type)
	assert.Equal(t, "https://json-schema.org/draft-06/hyper-schema#", schema.Schema)
	assert.Equal(t, schemaProperty{Title: "Company Name", Type: "string"}, schema.Properties["companyName"], "required, so not nullable")
	assert.Equal(t, schemaProperty{Title: "custentity_integer", Type: "number", Format: "double", Nullable: true, CustomField: true},
		schema.Properties["custentity_integer"])
	assert.True(t, schema.Properties["lastModifiedDate"].ReadOnly)
	assert.NotContains(t, schema.Properties, "companyname", "one property per field, in the record service's spelling")

	w = get("contact", "application/schema+json")
	assert.Equal(t, http.StatusOK, w.Code, "a standard record type without records")
	w = get("widget", "application/schema+json")
	assert.Equal(t, http.StatusNotFound, w.Code)
	assert.Contains(t, w.Body.String(), "NONEXISTENT_ID")
	for _, accept := range []string{"", "application/json", "application/swagger+json"} {
		w = get("customer", accept)
		assert.Equal(t, http.StatusNotAcceptable, w.Code, "Accept %q", accept)
	}
	_, made := s.types["widget"]
	assert.False(t, made, "asking for a type does not make it")
}
