package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"tandem/connectors"
	"tandem/connectors/hubspot/hubspotfake"
	"tandem/connectors/netsuite/netsuitefake"
	"tandem/connectors/salesforce/salesforcefake"
	"tandem/connectors/salesloft/salesloftfake"
	"tandem/internal/cli"
)

// runOffline runs the starter with args and a dialer that fails the test: the verb must
// not need Temporal.
func runOffline(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := cli.Starter(&out, func(context.Context) (client.Client, error) {
		t.Error("the verb dialled Temporal")
		return nil, fmt.Errorf("no Temporal in this test")
	})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// fieldsEnv is a definitions file with a connection to each fake, a SQLite table, a
// seeded memory connection and an S3 destination, and the fakes behind it.
type fieldsEnv struct {
	config  string
	hubspot *hubspotfake.Server
}

func newFieldsEnv(t *testing.T) fieldsEnv {
	t.Helper()
	serve := func(h http.Handler) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	hs := hubspotfake.New(hubspotfake.Options{Token: "hs-token"})
	t.Cleanup(hs.Close)
	sf := salesforcefake.New(salesforcefake.Options{})
	tba := netsuitefake.TBACredentials{ConsumerKey: "ck", ConsumerSecret: "cs", TokenID: "ti", TokenSecret: "ts"}
	ns := netsuitefake.New(netsuitefake.Options{TBA: &tba})
	sl := salesloftfake.New(salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited})
	t.Cleanup(sl.Close)

	dir := t.TempDir()
	dbPath := filepath.Join(dir, "crm.db")
	db, err := sql.Open("sqlite", dbPath)
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE companies (id INTEGER PRIMARY KEY, name TEXT NOT NULL, domain TEXT UNIQUE, updated_at TIMESTAMP NOT NULL)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	t.Setenv("TANDEM_TEST_HUBSPOT_TOKEN", "hs-token")
	config := fmt.Sprintf(`connections:
  hs: {type: hubspot, token: "${TANDEM_TEST_HUBSPOT_TOKEN}", base_url: %q}
  sf: {type: salesforce, login_url: %q, client_id: %q, client_secret: %q}
  ns: {type: netsuite, account_id: 123456_SB1, base_url: %q, consumer_key: ck, consumer_secret: cs, token_id: ti, token_secret: ts}
  sl: {type: salesloft, token: %q, base_url: %q}
  db: {type: sql, driver: sqlite, dsn: %q}
  mem: {type: memory, seed: "3"}
  export: {type: s3, bucket: exports, region: us-east-1, endpoint: "http://127.0.0.1:1", access_key_id: k, secret_access_key: s}
syncs:
  - name: demo
    a: {connection: mem, object: companies, key: domain}
    b: {connection: db, object: companies, key: domain}
    fields:
      - {a: name, b: name}
`, serve(hs.Handler()), serve(sf), salesforcefake.DefaultClientID, salesforcefake.DefaultClientSecret,
		serve(ns), salesloftfake.DefaultToken, serve(sl), dbPath)
	path := filepath.Join(dir, "syncs.yaml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	return fieldsEnv{config: path, hubspot: hs}
}

// Against each fake (and a table, and memory), `starter fields` prints the object's
// fields as a table and, with --json, as connectors.Field values.
func TestFieldsOfEachConnection(t *testing.T) {
	e := newFieldsEnv(t)
	for _, tc := range []struct {
		connection, object string
		// want are lines the table must hold, columns separated by any spaces.
		want []string
	}{
		{"hs", "companies", []string{"name string yes no Company name", "hs_lastmodifieddate datetime no no Last Modified Date", "hs_object_id number no yes Record ID"}},
		{"sf", "Account", []string{"Id id no yes Account ID", "Name string yes no Account Name", "SystemModstamp datetime no no System Modstamp"}},
		{"ns", "customer", []string{"companyname string yes no Company Name", "externalid string yes yes External ID", "lastmodifieddate date-time no no Last Modified Date"}},
		{"sl", "accounts", []string{"domain string yes yes Domain", "updated_at datetime no no Updated at"}},
		{"db", "companies", []string{"id integer no yes", "name text yes no", "domain text yes yes", "updated_at timestamp no no"}},
		{"mem", "companies", []string{"id string no yes", "employees number yes no", "name string yes no"}},
	} {
		t.Run(tc.connection, func(t *testing.T) {
			out, err := runOffline(t, "fields", "--config", e.config, "--connection", tc.connection, "--object", tc.object)
			require.NoError(t, err)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			require.NotEmpty(t, lines)
			assert.Equal(t, "NAME TYPE WRITABLE UNIQUE LABEL", strings.Join(strings.Fields(lines[0]), " "))
			var rows []string
			for _, l := range lines[1:] {
				rows = append(rows, strings.Join(strings.Fields(l), " "))
			}
			for _, w := range tc.want {
				assert.Contains(t, rows, w, "%s %s", tc.connection, tc.object)
			}

			out, err = runOffline(t, "fields", "--config", e.config, "--connection", tc.connection, "--object", tc.object, "--json")
			require.NoError(t, err)
			var fields []connectors.Field
			require.NoError(t, json.Unmarshal([]byte(out), &fields), out)
			assert.Len(t, fields, len(rows), "one JSON field per table row")
		})
	}
}

// A property deleted in HubSpot is no longer listed.
func TestFieldsAfterAPropertyIsDeleted(t *testing.T) {
	e := newFieldsEnv(t)
	require.NoError(t, e.hubspot.DefineProperty("companies", hubspotfake.Property{Name: "vat_id", Label: "VAT ID", Type: "string", FieldType: "text"}))
	out, err := runOffline(t, "fields", "--config", e.config, "--connection", "hs", "--object", "companies")
	require.NoError(t, err)
	assert.Contains(t, out, "vat_id")
	require.NoError(t, e.hubspot.DeleteProperty("companies", "vat_id"))
	out, err = runOffline(t, "fields", "--config", e.config, "--connection", "hs", "--object", "companies")
	require.NoError(t, err)
	assert.NotContains(t, out, "vat_id")
}

func TestFieldsFailuresSayWhatWasWrong(t *testing.T) {
	e := newFieldsEnv(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--connection", "mems", "--object", "companies"}, []string{`unknown connection "mems"`, `did you mean "mem"?`, "db, export, hs, mem, ns, sf, sl"}},
		{[]string{"--connection", "hs", "--object", "deals"}, []string{`connection "hs" has no object "deals"`}},
		{[]string{"--connection", "sf", "--object", "Widget"}, []string{`connection "sf" has no object "Widget"`, "NOT_FOUND"}},
		{[]string{"--connection", "ns", "--object", "widget"}, []string{`connection "ns" has no object "widget"`}},
		{[]string{"--connection", "db", "--object", "contacts"}, []string{`connection "db" has no object "contacts"`, "table contacts"}},
		{[]string{"--connection", "sl", "--object", "people"}, []string{`connection "sl" has no object "people"`}},
		{[]string{"--connection", "mem", "--object", "contacts"}, []string{`connection "mem" has no object "contacts"`}},
		{[]string{"--connection", "export", "--object", "companies"}, []string{`connection "export" (type s3) cannot list fields`}},
		{[]string{"--object", "companies"}, []string{`"connection" not set`}},
	} {
		_, err := runOffline(t, append([]string{"fields", "--config", e.config}, tc.args...)...)
		require.Error(t, err, "%v", tc.args)
		for _, w := range tc.want {
			assert.ErrorContains(t, err, w, "%v", tc.args)
		}
	}

	_, err := runOffline(t, "fields", "--connection", "hs", "--object", "companies")
	assert.ErrorContains(t, err, "--config: required")

	// The connection needs its secrets: an unset ${VAR} is named.
	t.Setenv("TANDEM_TEST_HUBSPOT_TOKEN", "")
	os.Unsetenv("TANDEM_TEST_HUBSPOT_TOKEN")
	_, err = runOffline(t, "fields", "--config", e.config, "--connection", "hs", "--object", "companies")
	assert.ErrorContains(t, err, "TANDEM_TEST_HUBSPOT_TOKEN")
}
