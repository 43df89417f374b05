package netsuite_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/connectortest"
	"tandem/connectors/netsuite/netsuitefake"
)

func TestDescribe(t *testing.T) {
	e := start(t, netsuitefake.Options{}, nil)
	ctx := t.Context()
	e.fake.Seed("customer", map[string]any{"companyname": "Acme", "custentity_sfdc_id": "001A", "custentity_vip": true,
		"custentity_score": 4.5, "subsidiary": map[string]any{"id": "1"}})

	fields, err := e.c.Describe(ctx, "customer")
	require.NoError(t, err)
	byName := connectortest.FieldsByName(fields)
	assert.Equal(t, connectors.Field{Name: "companyname", Label: "Company Name", Type: "string", Writable: true}, byName["companyname"])
	assert.Equal(t, connectors.Field{Name: "lastmodifieddate", Label: "Last Modified Date", Type: "date-time"}, byName["lastmodifieddate"])
	assert.Equal(t, connectors.Field{Name: "id", Label: "Internal ID", Type: "string", Unique: true}, byName["id"])
	assert.Equal(t, connectors.Field{Name: "externalid", Label: "External ID", Type: "string", Writable: true, Unique: true}, byName["externalid"])
	assert.Equal(t, connectors.Field{Name: "custentity_sfdc_id", Label: "custentity_sfdc_id", Type: "string", Writable: true}, byName["custentity_sfdc_id"])
	assert.Equal(t, "boolean", byName["custentity_vip"].Type)
	assert.Equal(t, "double", byName["custentity_score"].Type)
	assert.Equal(t, "object", byName["subsidiary"].Type)
	for i := 1; i < len(fields); i++ {
		assert.Less(t, fields[i-1].Name, fields[i].Name, "sorted by name")
	}
	assert.Equal(t, 1, e.fake.Stats().ByRoute["GET metadata"])
}

func TestDescribeUnknownRecordType(t *testing.T) {
	e := start(t, netsuitefake.Options{}, nil)
	_, err := e.c.Describe(t.Context(), "widget")
	assert.ErrorIs(t, err, connectors.ErrNotFound)
	assert.ErrorContains(t, err, "describe widget")
	_, err = e.c.Describe(t.Context(), "bad name")
	assert.ErrorIs(t, err, connectors.ErrNotFound, "not a record type's name")
	assert.Equal(t, 1, e.fake.Stats().ByRoute["GET metadata"], "the bad name was not sent")
}
