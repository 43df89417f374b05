package netsuitefake

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSuiteQLSubset(t *testing.T) {
	s := New(Options{})
	at := time.Date(2025, 3, 4, 5, 6, 7, 890_000_000, time.UTC)
	for i, f := range []map[string]any{
		{"companyname": "Acme", "email": "a@acme.example", "balance": 10.0, "isinactive": false},
		{"companyname": "Globex", "balance": 250.0, "isinactive": true},
		{"companyname": "O'Hara", "email": "o@ohara.example", "subsidiary": map[string]any{"id": "3"}},
	} {
		id := s.Seed("customer", f)
		s.SetLastModified("customer", id, at.Add(time.Duration(i)*time.Hour))
	}
	rows := func() []*row {
		var out []*row
		for _, r := range s.tableOf("customer").records {
			out = append(out, s.rowOf(r))
		}
		return out
	}

	for _, tc := range []struct {
		q    string
		want []map[string]any
	}{
		{"SELECT id FROM customer WHERE companyname = 'Acme' OR companyname = 'O''Hara' ORDER BY id DESC",
			[]map[string]any{{"id": "3"}, {"id": "1"}}},
		{"select id from customer where id not in (1, 3)", []map[string]any{{"id": "2"}}},
		{"SELECT id FROM customer WHERE email IS NULL", []map[string]any{{"id": "2"}}},
		{"SELECT id FROM customer WHERE NOT (email IS NOT NULL AND balance > 5)", []map[string]any{{"id": "2"}}},
		{"SELECT id FROM customer WHERE id IN ('2')", []map[string]any{{"id": "2"}}},
		{"SELECT id, isinactive, subsidiary FROM customer WHERE balance >= 10 AND balance < 251 ORDER BY balance DESC",
			[]map[string]any{{"id": "2", "isinactive": "T"}, {"id": "1", "isinactive": "F"}}},
		{"SELECT id, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS.FF3') AS m, lastmodifieddate FROM customer " +
			"WHERE lastmodifieddate >= TO_TIMESTAMP('2025-03-04 06:06:07', 'YYYY-MM-DD HH24:MI:SS') ORDER BY m",
			[]map[string]any{
				{"id": "2", "m": "2025-03-04 06:06:07.890", "lastmodifieddate": "3/4/2025"},
				{"id": "3", "m": "2025-03-04 07:06:07.890", "lastmodifieddate": "3/4/2025"},
			}},
		{"SELECT UPPER(companyname) name FROM customer WHERE subsidiary = '3'", []map[string]any{{"name": "O'HARA"}}},
	} {
		q, err := parseQuery(tc.q)
		require.NoError(t, err, tc.q)
		items, err := s.run(q, rows())
		require.NoError(t, err, tc.q)
		for _, it := range items {
			delete(it, "links")
		}
		assert.Equal(t, tc.want, items, tc.q)
	}

	for _, bad := range []string{
		"SELECT id FROM customer WHERE companyname = 1", // ORA-01722: 'Acme' is not a number
		"SELECT id FROM customer WHERE lastmodifieddate > 'yesterday'",
		"SELECT id FROM customer WHERE TO_TIMESTAMP('2025-13-01', 'YYYY-MM-DD') < lastmodifieddate",
	} {
		q, err := parseQuery(bad)
		require.NoError(t, err, bad)
		_, err = s.run(q, rows())
		assert.Error(t, err, bad)
	}
	for _, bad := range []string{"SELECT FROM customer", "SELECT id customer", "SELECT id FROM customer WHERE", "SELECT id FROM customer WHERE a = 'x"} {
		_, err := parseQuery(bad)
		assert.Error(t, err, bad)
	}
}

// TestRequestChecks: what the fake refuses before running a query.
func TestRequestChecks(t *testing.T) {
	s := New(Options{TBA: &TBACredentials{ConsumerKey: "k", ConsumerSecret: "s", TokenID: "t", TokenSecret: "u"}})
	srv := httptest.NewServer(s)
	defer srv.Close()
	post := func(auth string) int {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/services/rest/query/v1/suiteql", strings.NewReader(`{"q":"SELECT id FROM customer"}`))
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("Prefer", "transient")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	badSignature := `OAuth realm="123456_SB1", oauth_consumer_key="k", oauth_token="t", oauth_signature_method="HMAC-SHA256", ` +
		`oauth_timestamp="` + strconv.FormatInt(time.Now().Unix(), 10) + `", oauth_nonce="n", oauth_version="1.0", oauth_signature="bm9wZQ%3D%3D"`
	assert.Equal(t, http.StatusUnauthorized, post(""), "no credentials")
	assert.Equal(t, http.StatusUnauthorized, post(badSignature), "a wrong signature")
	assert.Equal(t, http.StatusUnauthorized, post("Bearer made-up"), "an unknown token")
	assert.Equal(t, 3, s.Stats().AuthFailures)

	for _, tc := range []struct {
		query string
		ok    bool
	}{
		{"", true},
		{"limit=1000&offset=2000", true},
		{"limit=1001", false},
		{"limit=0", false},
		{"limit=10&offset=15", false},
		{"limit=1000&offset=100000", false},
	} {
		rec := httptest.NewRecorder()
		_, _, ok := s.paging(rec, httptest.NewRequest(http.MethodPost, "/services/rest/query/v1/suiteql?"+tc.query, nil))
		assert.Equal(t, tc.ok, ok, tc.query)
		if !tc.ok {
			assert.Equal(t, http.StatusBadRequest, rec.Code, tc.query)
			assert.Contains(t, rec.Body.String(), "INVALID_PARAMETER", tc.query)
		}
	}
}
