package salesforcefake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIDs(t *testing.T) {
	// A real pair: 001A0000006Vm9r is 001A0000006Vm9rIAC in 18 characters.
	assert.Equal(t, "IAC", idSuffix("001A0000006Vm9r"))
	assert.True(t, validID("001A0000006Vm9rIAC"))
	assert.True(t, validID("001A0000006Vm9r"))
	assert.False(t, validID("001A0000006Vm9rAAA"), "wrong suffix")
	assert.False(t, validID("tandem-missing-id"))

	a, b := MakeID("001", 61), MakeID("001", 62)
	assert.Len(t, a, 18)
	assert.True(t, strings.HasPrefix(a, "001"))
	assert.True(t, validID(a))
	assert.Less(t, a, b, "ids sort in the order they were made")
	assert.Equal(t, "00Q", New(Options{}).table("lead").prefix)
}

// fakeServer runs s and returns a client function that sends authorized REST requests.
func fakeServer(t *testing.T, s *Server) func(method, path string, body any) (int, []byte) {
	call := fakeServerHeaders(t, s)
	return func(method, path string, body any) (int, []byte) { return call(method, path, nil, body) }
}

// fakeServerHeaders is fakeServer whose requests carry extra headers.
func fakeServerHeaders(t *testing.T, s *Server) func(method, path string, header http.Header, body any) (int, []byte) {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	resp, err := srv.Client().PostForm(srv.URL+"/services/oauth2/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}})
	require.NoError(t, err)
	var tok tokenAnswer
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tok))
	resp.Body.Close()
	require.Equal(t, srv.URL, tok.InstanceURL)
	return func(method, path string, header http.Header, body any) (int, []byte) {
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			require.NoError(t, err)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, srv.URL+path, rd)
		require.NoError(t, err)
		for k, vs := range header {
			req.Header[k] = vs
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, out
	}
}

func query(t *testing.T, call func(string, string, any) (int, []byte), soql string) (int, []byte) {
	return call(http.MethodGet, "/services/data/v62.0/query?q="+url.QueryEscape(soql), nil)
}

func TestSOQL(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := at
	s := New(Options{Now: func() time.Time { return clock }})
	acme := s.Seed("Account", map[string]any{"Name": "Acme", "Website": "acme.com", "NumberOfEmployees": 50.0})
	clock = clock.Add(time.Second)
	beta := s.Seed("Account", map[string]any{"Name": "Beta", "NumberOfEmployees": 5.0})
	gamma := s.Seed("Account", map[string]any{"Name": "O'Gamma", "Website": "gamma.io"})
	call := fakeServer(t, s)

	for _, tc := range []struct {
		soql string
		want []string
	}{
		{"SELECT Id FROM Account ORDER BY Id", []string{acme, beta, gamma}},
		{"select id from account where name = 'ACME'", []string{acme}},
		{"SELECT Id FROM Account WHERE SystemModstamp > 2025-03-01T09:00:00Z ORDER BY SystemModstamp, Id", []string{beta, gamma}},
		{"SELECT Id FROM Account WHERE SystemModstamp >= 2025-03-01T10:00:00+01:00 ORDER BY Id", []string{acme, beta, gamma}},
		{"SELECT Id FROM Account WHERE SystemModstamp > 2025-03-01T09:00:00.999Z ORDER BY Id", []string{beta, gamma}},
		{fmt.Sprintf("SELECT Id FROM Account WHERE (SystemModstamp > 2025-03-01T09:00:01Z OR (SystemModstamp = 2025-03-01T09:00:01Z AND Id > '%s'))", beta), []string{gamma}},
		{fmt.Sprintf("SELECT Id FROM Account WHERE Id IN ('%s', '%s') ORDER BY Id DESC", acme, gamma[:15]), []string{gamma, acme}},
		{fmt.Sprintf("SELECT Id FROM Account WHERE Id NOT IN ('%s')", acme), []string{beta, gamma}},
		{`SELECT Id FROM Account WHERE Name = 'O\'Gamma'`, []string{gamma}},
		{"SELECT Id FROM Account WHERE Website = null", []string{beta}},
		{"SELECT Id FROM Account WHERE Website != null AND NOT Name LIKE 'ac%'", []string{gamma}},
		{"SELECT Id FROM Account WHERE NumberOfEmployees > 10", []string{acme}},
		{"SELECT Id FROM Account WHERE Name = 'Beta' OR Name = 'Acme' AND Website = 'x'", []string{beta}},
		{"SELECT Id FROM Account ORDER BY Website DESC NULLS LAST, Id LIMIT 2", []string{gamma, acme}},
		{"SELECT Id FROM Account ORDER BY Website, Id", []string{beta, acme, gamma}},
		{"SELECT Id FROM Account LIMIT 0", nil},
	} {
		t.Run(tc.soql, func(t *testing.T) {
			status, body := query(t, call, tc.soql)
			require.Equal(t, http.StatusOK, status, "%s", body)
			var ans queryAnswer
			require.NoError(t, json.Unmarshal(body, &ans))
			var got []string
			for _, r := range ans.Records {
				got = append(got, r["Id"].(string))
			}
			assert.Equal(t, tc.want, got)
		})
	}

	status, body := query(t, call, "SELECT Id, Name, SystemModstamp, Missing__c FROM Account WHERE Id = '"+acme+"'")
	require.Equal(t, http.StatusOK, status)
	var ans queryAnswer
	require.NoError(t, json.Unmarshal(body, &ans))
	assert.Equal(t, map[string]any{
		"attributes":     map[string]any{"type": "Account", "url": "/services/data/v62.0/sobjects/Account/" + acme},
		"Id":             acme,
		"Name":           "Acme",
		"SystemModstamp": "2025-03-01T09:00:00.000+0000",
		"Missing__c":     nil,
	}, ans.Records[0])

	for _, tc := range []struct{ soql, code string }{
		{"SELECT Id FROM Account WHERE SystemModstamp > '2025-03-01T09:00:00Z'", "INVALID_FIELD"},
		{"SELECT Id FROM Account WHERE Name > 2025-03-01T09:00:00Z", "INVALID_FIELD"},
		{"SELECT Id FROM Account WHERE Id = 'nope'", "INVALID_QUERY_FILTER_OPERATOR"},
		{"SELECT Id FROM Acount", "INVALID_TYPE"},
		{"SELECT Id FROM Account WHERE", "MALFORMED_QUERY"},
		{"SELECT Id FROM Account WHERE Name = 'open", "MALFORMED_QUERY"},
		{`SELECT Id FROM Account WHERE Name = 'a\q'`, "MALFORMED_QUERY"},
		{"SELECT Id FROM Account LIMIT 5 extra", "MALFORMED_QUERY"},
	} {
		status, body := query(t, call, tc.soql)
		assert.Equal(t, http.StatusBadRequest, status, tc.soql)
		var errs []errorBody
		require.NoError(t, json.Unmarshal(body, &errs), "%s", body)
		assert.Equal(t, tc.code, errs[0].ErrorCode, "%s: %s", tc.soql, errs[0].Message)
	}
}

func TestQueryPaging(t *testing.T) {
	s := New(Options{BatchSize: 3})
	for i := range 7 {
		s.Seed("Account", map[string]any{"Name": fmt.Sprint(i)})
	}
	call := fakeServer(t, s)
	status, body := query(t, call, "SELECT Id FROM Account ORDER BY Id")
	require.Equal(t, http.StatusOK, status)
	var got []string
	for pages := 1; ; pages++ {
		var ans queryAnswer
		require.NoError(t, json.Unmarshal(body, &ans))
		assert.Equal(t, 7, ans.TotalSize)
		for _, r := range ans.Records {
			got = append(got, r["Id"].(string))
		}
		if ans.Done {
			assert.Equal(t, 3, pages)
			assert.Empty(t, ans.NextRecordsURL)
			break
		}
		assert.Regexp(t, `^/services/data/v62.0/query/01g\w{15}-\d+$`, ans.NextRecordsURL)
		status, body = call(http.MethodGet, ans.NextRecordsURL, nil)
		require.Equal(t, http.StatusOK, status)
	}
	assert.Len(t, got, 7)
	status, _ = call(http.MethodGet, "/services/data/v62.0/query/01gXXXXXXXXXXXXXXX-3", nil)
	assert.Equal(t, http.StatusBadRequest, status, "a finished locator is gone")
}

func TestCollections(t *testing.T) {
	s := New(Options{ExternalIDFields: map[string][]string{"Account": {"Ext__c"}}, UniqueExternalIDs: true})
	call := fakeServer(t, s)
	rec := func(fields map[string]any) map[string]any {
		fields["attributes"] = map[string]any{"type": "Account"}
		return fields
	}

	// allOrNone rolls back the valid records too.
	status, body := call(http.MethodPost, "/services/data/v62.0/composite/sobjects", map[string]any{
		"allOrNone": true,
		"records":   []any{rec(map[string]any{"Name": "A"}), rec(map[string]any{"Phone": "1"})},
	})
	require.Equal(t, http.StatusOK, status)
	var results []saveResult
	require.NoError(t, json.Unmarshal(body, &results))
	assert.Equal(t, "ALL_OR_NONE_OPERATION_ROLLED_BACK", results[0].Errors[0].StatusCode)
	assert.Equal(t, "REQUIRED_FIELD_MISSING", results[1].Errors[0].StatusCode)
	assert.Equal(t, []string{"Name"}, results[1].Errors[0].Fields)
	assert.Empty(t, s.Records("Account"))

	// More than 200 records is refused whole.
	many := make([]any, 201)
	for i := range many {
		many[i] = rec(map[string]any{"Name": "x"})
	}
	status, body = call(http.MethodPost, "/services/data/v62.0/composite/sobjects", map[string]any{"records": many})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(body), "EXCEEDED_ID_LIMIT")

	// Unique external ids refuse a duplicate value.
	status, body = call(http.MethodPost, "/services/data/v62.0/composite/sobjects", map[string]any{
		"records": []any{rec(map[string]any{"Name": "A", "Ext__c": "E1"}), rec(map[string]any{"Name": "B", "Ext__c": "e1"})},
	})
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, json.Unmarshal(body, &results))
	assert.True(t, results[0].Success)
	assert.Equal(t, "DUPLICATE_VALUE", results[1].Errors[0].StatusCode)

	// Upsert only by an external id field.
	status, body = call(http.MethodPatch, "/services/data/v62.0/composite/sobjects/Account/Name", map[string]any{
		"records": []any{rec(map[string]any{"Name": "A"})},
	})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(body), "not an External ID")
	status, _ = call(http.MethodPatch, "/services/data/v62.0/sobjects/Account/Name/A", map[string]any{"Phone": "1"})
	assert.Equal(t, http.StatusNotFound, status)

	// Single-record upsert: 200 updated, 201 created.
	status, body = call(http.MethodPatch, "/services/data/v62.0/sobjects/Account/Ext__c/E1", map[string]any{"Phone": "2"})
	assert.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, fmt.Sprintf(`{"id":%q,"success":true,"errors":[],"created":false}`, results[0].ID), string(body))
	status, body = call(http.MethodPatch, "/services/data/v62.0/sobjects/Account/Ext__c/E2", map[string]any{"Name": "C"})
	assert.Equal(t, http.StatusCreated, status)
	assert.Contains(t, string(body), `"created":true`)
	assert.Len(t, s.Records("Account"), 2)
}

func TestConditionalRecordPatch(t *testing.T) {
	var clock atomic.Int64 // the handler reads it in the server's goroutine
	clock.Store(time.Date(2025, 3, 1, 9, 0, 0, 400_000_000, time.UTC).UnixNano())
	s := New(Options{Precision: time.Millisecond, Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() }})
	id := s.Seed("Account", map[string]any{"Name": "Acme", "Phone": "1"})
	call := fakeServerHeaders(t, s)
	path := "/services/data/v62.0/sobjects/Account/" + id
	since := func(v string) http.Header { return http.Header{"If-Unmodified-Since": {v}} }
	phone := func() any { return s.Records("Account")[0].Fields["Phone"] }

	// Stamped 09:00:00.400: unchanged since 09:00:00, to the header's second.
	status, body := call(http.MethodPatch, path, since("Sat, 01 Mar 2025 09:00:00 GMT"), map[string]any{"Phone": "2"})
	assert.Equal(t, http.StatusNoContent, status, "%s", body)
	assert.Empty(t, body)
	assert.Equal(t, "2", phone())

	clock.Add(int64(time.Second)) // a user's edit at 09:00:01.400
	require.NoError(t, s.Set("Account", id, map[string]any{"Phone": "user"}))
	status, body = call(http.MethodPatch, path, since("Sat, 01 Mar 2025 09:00:00 GMT"), map[string]any{"Phone": "3"})
	assert.Equal(t, http.StatusPreconditionFailed, status)
	var errs []errorBody
	require.NoError(t, json.Unmarshal(body, &errs), "%s", body)
	require.Len(t, errs, 1)
	assert.Equal(t, "PRECONDITION_FAILED", errs[0].ErrorCode)
	assert.Equal(t, "user", phone(), "a failed precondition writes nothing")
	status, _ = call(http.MethodPatch, path, since("Sat, 01 Mar 2025 09:00:01 GMT"), map[string]any{"Phone": "3"})
	assert.Equal(t, http.StatusNoContent, status)
	assert.Equal(t, "3", phone())

	// The other HTTP-date forms parse; anything else is 400.
	status, _ = call(http.MethodPatch, path, since("Saturday, 01-Mar-25 09:00:01 GMT"), map[string]any{"Phone": "4"})
	assert.Equal(t, http.StatusNoContent, status)
	for _, bad := range []string{"2025-03-01T09:00:01Z", "yesterday"} {
		status, body = call(http.MethodPatch, path, since(bad), map[string]any{"Phone": "5"})
		assert.Equal(t, http.StatusBadRequest, status, "If-Unmodified-Since: %s", bad)
		assert.Contains(t, string(body), "not an HTTP-date")
	}
	assert.Equal(t, "4", phone())

	// A missing record is 404 whatever the condition; without one the write is plain; a
	// refused value is 400 with the record's errors.
	status, body = call(http.MethodPatch, "/services/data/v62.0/sobjects/Account/"+MakeID("001", 999), since("yesterday"), map[string]any{"Phone": "6"})
	assert.Equal(t, http.StatusNotFound, status)
	assert.Contains(t, string(body), "NOT_FOUND")
	status, _ = call(http.MethodPatch, "/services/data/v62.0/sobjects/Account/not-an-id", nil, map[string]any{"Phone": "6"})
	assert.Equal(t, http.StatusNotFound, status)
	status, _ = call(http.MethodPatch, path, nil, map[string]any{"Phone": "7"})
	assert.Equal(t, http.StatusNoContent, status)
	status, body = call(http.MethodPatch, path, since("Sat, 01 Mar 2025 09:00:01 GMT"), map[string]any{"Name": ""})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(body), "REQUIRED_FIELD_MISSING")
	assert.Equal(t, "7", phone())
}

func TestMultipleMatchSingleUpsert(t *testing.T) {
	s := New(Options{})
	a := s.Seed("Account", map[string]any{"Name": "A", "Ext__c": "D"})
	b := s.Seed("Account", map[string]any{"Name": "B", "Ext__c": "D"})
	call := fakeServer(t, s)
	status, body := call(http.MethodPatch, "/services/data/v62.0/sobjects/Account/Ext__c/D", map[string]any{"Name": "X"})
	assert.Equal(t, http.StatusMultipleChoices, status)
	var urls []string
	require.NoError(t, json.Unmarshal(body, &urls))
	assert.Equal(t, []string{"/services/data/v62.0/sobjects/Account/" + a, "/services/data/v62.0/sobjects/Account/" + b}, urls)
}

func TestLimitsAndFailures(t *testing.T) {
	s := New(Options{DailyLimit: 2})
	call := fakeServer(t, s)
	s.FailNext(1, http.StatusServiceUnavailable)
	status, body := query(t, call, "SELECT Id FROM Account")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Contains(t, string(body), "SERVER_UNAVAILABLE")
	status, _ = query(t, call, "SELECT Id FROM Account")
	assert.Equal(t, http.StatusOK, status)
	status, body = query(t, call, "SELECT Id FROM Account")
	assert.Equal(t, http.StatusForbidden, status)
	assert.Contains(t, string(body), "REQUEST_LIMIT_EXCEEDED")
	assert.Equal(t, Stats{TokenRequests: 1, APIRequests: 2, Queries: 1, LimitExceeded: 1, LongestURL: s.Stats().LongestURL}, s.Stats())

	s.SetAPIUsage(0)
	s.ExpireTokens()
	status, body = query(t, call, "SELECT Id FROM Account")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, string(body), "INVALID_SESSION_ID")
}

func TestTokenEndpoint(t *testing.T) {
	srv := httptest.NewServer(New(Options{}))
	defer srv.Close()
	for _, tc := range []struct {
		form url.Values
		code string
	}{
		{url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {"x"}}, "invalid_client"},
		{url.Values{"grant_type": {"password"}}, "unsupported_grant_type"},
		{url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"a.b"}}, "invalid_grant"},
	} {
		resp, err := srv.Client().PostForm(srv.URL+"/services/oauth2/token", tc.form)
		require.NoError(t, err)
		var ans map[string]string
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&ans))
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Equal(t, tc.code, ans["error"])
	}
}
