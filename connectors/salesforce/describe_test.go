package salesforce_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/connectortest"
	"tandem/connectors/salesforce/salesforcefake"
)

func TestDescribe(t *testing.T) {
	e := start(t, salesforcefake.Options{UniqueExternalIDs: true}, nil)
	ctx := t.Context()
	e.fake.Seed("Account", map[string]any{"Name": "Acme", "Ext__c": "TND-1", "Active__c": true, "Score__c": 4.5})

	fields, err := e.client.Describe(ctx, "Account")
	require.NoError(t, err)
	byName := connectortest.FieldsByName(fields)
	assert.Equal(t, connectors.Field{Name: "Id", Label: "Account ID", Type: "id", Unique: true}, byName["Id"])
	assert.Equal(t, connectors.Field{Name: "Name", Label: "Account Name", Type: "string", Writable: true}, byName["Name"])
	assert.Equal(t, connectors.Field{Name: "Website", Label: "Website", Type: "url", Writable: true}, byName["Website"])
	assert.Equal(t, connectors.Field{Name: "SystemModstamp", Label: "System Modstamp", Type: "datetime"}, byName["SystemModstamp"])
	assert.Equal(t, connectors.Field{Name: "Ext__c", Label: "Ext", Type: "string", Writable: true, Unique: true}, byName["Ext__c"])
	assert.Equal(t, "boolean", byName["Active__c"].Type)
	assert.Equal(t, "double", byName["Score__c"].Type)
	assert.False(t, byName["LastModifiedById"].Writable)

	// A strict schema lists what it says, and nothing a record was not written with.
	e = start(t, salesforcefake.Options{Schema: map[string][]string{"Account": {"Name", "Vat__c"}}}, nil)
	fields, err = e.client.Describe(ctx, "account")
	require.NoError(t, err)
	var names []string
	for _, f := range fields {
		names = append(names, f.Name)
	}
	assert.Equal(t, []string{"Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp", "Name", "Vat__c"}, names)
}

func TestDescribeUnknownObject(t *testing.T) {
	e := start(t, salesforcefake.Options{}, nil)
	for _, object := range []string{"Widget", "Bad Name"} {
		_, err := e.client.Describe(t.Context(), object)
		assert.ErrorIs(t, err, connectors.ErrNotFound, object)
	}
}

// The fake's describe answers in Salesforce's wire format: 200 with the object's name,
// keyPrefix and fields; 404 NOT_FOUND as a JSON array for an object the org does not have.
func TestDescribeWire(t *testing.T) {
	fake := salesforcefake.New(salesforcefake.Options{})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	token := func() string {
		resp, err := srv.Client().PostForm(srv.URL+"/services/oauth2/token", map[string][]string{
			"grant_type": {"client_credentials"}, "client_id": {salesforcefake.DefaultClientID}, "client_secret": {salesforcefake.DefaultClientSecret}})
		require.NoError(t, err)
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
		return tok.AccessToken
	}()
	get := func(path string) (int, any) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body
	}
	status, body := get("/services/data/v65.0/sobjects/Contact/describe/")
	require.Equal(t, http.StatusOK, status)
	d := body.(map[string]any)
	assert.Equal(t, "Contact", d["name"])
	assert.Equal(t, "003", d["keyPrefix"])
	var lastName map[string]any
	for _, f := range d["fields"].([]any) {
		if f.(map[string]any)["name"] == "LastName" {
			lastName = f.(map[string]any)
		}
	}
	require.NotNil(t, lastName, "LastName, required on Contact")
	assert.Equal(t, false, lastName["nillable"])
	assert.Equal(t, true, lastName["createable"])

	status, body = get("/services/data/v65.0/sobjects/Widget/describe")
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, "NOT_FOUND", body.([]any)[0].(map[string]any)["errorCode"])
}
