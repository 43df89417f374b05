package salesloftfake_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/salesloft/salesloftfake"
)

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func start(t *testing.T, opts salesloftfake.Options) (*salesloftfake.Server, func(method, path, body string) answer) {
	t.Helper()
	fake := salesloftfake.New(opts)
	srv := httptest.NewServer(fake.Handler())
	t.Cleanup(func() { srv.Close(); fake.Close() })
	return fake, func(method, path, body string) answer {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer demo-token")
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		a := answer{status: resp.StatusCode, header: resp.Header}
		if len(raw) > 0 {
			require.NoError(t, json.Unmarshal(raw, &a.body), "body %s", raw)
		}
		return a
	}
}

func paging(a answer) map[string]any {
	return a.body["metadata"].(map[string]any)["paging"].(map[string]any)
}

func TestAuth(t *testing.T) {
	fake := salesloftfake.New(salesloftfake.Options{})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v2/accounts")
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	var body map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.NotEmpty(t, body["error"])
}

func TestListPagingAndEnvelope(t *testing.T) {
	fake, call := start(t, salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited})
	for i := range 30 {
		fake.Seed(map[string]any{"name": fmt.Sprint("Account ", i), "domain": fmt.Sprintf("a%d.example.com", i)})
	}

	a := call("GET", "/v2/accounts", "")
	require.Equal(t, 200, a.status)
	assert.Len(t, a.body["data"], 25, "25 per page by default")
	assert.Equal(t, map[string]any{"per_page": 25.0, "current_page": 1.0, "next_page": 2.0, "prev_page": nil,
		"total_pages": nil, "total_count": nil}, paging(a))
	assert.Equal(t, map[string]any{"sort_by": "updated_at", "sort_direction": "DESC"}, a.body["metadata"].(map[string]any)["sorting"])

	for _, tc := range []struct {
		perPage string
		want    float64
	}{{"500", 100}, {"0", 1}, {"-3", 1}, {"abc", 25}} {
		a := call("GET", "/v2/accounts?per_page="+tc.perPage, "")
		assert.Equal(t, tc.want, paging(a)["per_page"], "per_page=%s is corrected and echoed", tc.perPage)
	}

	a = call("GET", "/v2/accounts.json?per_page=20&page=2&include_paging_counts=true", "")
	assert.Len(t, a.body["data"], 10)
	assert.Equal(t, map[string]any{"per_page": 20.0, "current_page": 2.0, "next_page": nil, "prev_page": 1.0,
		"total_pages": 2.0, "total_count": 30.0}, paging(a))

	a = call("GET", "/v2/accounts?page=9", "")
	assert.Equal(t, 200, a.status)
	assert.Empty(t, a.body["data"], "a page past the end is empty")
}

func TestListFilters(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	fake, call := start(t, salesloftfake.Options{Now: func() time.Time { now = now.Add(time.Second); return now }})
	var ids []string
	for i := range 5 {
		ids = append(ids, fake.Seed(map[string]any{"name": fmt.Sprint(i), "domain": fmt.Sprintf("D%d.example.com", i), "crm_id": fmt.Sprint("crm", i)}))
	}
	count := func(query string) []string {
		a := call("GET", "/v2/accounts?sort_direction=ASC&"+query, "")
		require.Equal(t, 200, a.status, query)
		var out []string
		for _, d := range a.body["data"].([]any) {
			out = append(out, strconv.Itoa(int(d.(map[string]any)["id"].(float64))))
		}
		return out
	}
	assert.Equal(t, []string{ids[1], ids[3]}, count("ids[]="+ids[3]+"&ids[]="+ids[1]))
	assert.Equal(t, []string{ids[2]}, count("domain=d2.example.com"))
	assert.Equal(t, []string{ids[2]}, count("domain=D2.Example.com"), "domains compare lowercase")
	assert.Equal(t, []string{ids[0], ids[4]}, count("domain[]=d0.example.com&domain[]=d4.example.com"))
	assert.Equal(t, []string{ids[1], ids[2]}, count("crm_id[]=crm1&crm_id[]=crm2"))
	assert.Equal(t, []string{ids[2], ids[3], ids[4]}, count("updated_at[gte]=2025-01-01T00:00:03.000000Z"))
	assert.Equal(t, []string{ids[3], ids[4]}, count("updated_at[gt]=2025-01-01T00:00:03Z"))
	assert.Equal(t, []string{ids[1]}, count("updated_at[gt]=2025-01-01T00:00:01Z&updated_at[lte]=2025-01-01T00:00:02Z"))
	assert.Equal(t, []string{ids[2]}, count("updated_at[gte]=2024-12-31T19:00:03-05:00&updated_at[lt]=2024-12-31T19:00:04-05:00"), "any offset")
}

func TestPageCostsAndRateLimit(t *testing.T) {
	_, call := start(t, salesloftfake.Options{CostPerMinute: 60})
	for _, tc := range []struct {
		page string
		cost string
	}{{"1", "1"}, {"100", "1"}, {"101", "3"}, {"151", "8"}, {"251", "10"}, {"501", "30"}} {
		a := call("GET", "/v2/accounts?page="+tc.page, "")
		require.Equal(t, 200, a.status)
		assert.Equal(t, tc.cost, a.header.Get("x-ratelimit-endpoint-cost"), "page %s", tc.page)
	}
	a := call("GET", "/v2/accounts", "")
	assert.Equal(t, "6", a.header.Get("x-ratelimit-remaining-minute"), "60 - 1-1-3-8-10-30 - 1")
	a = call("GET", "/v2/accounts?page=200", "")
	assert.Equal(t, http.StatusTooManyRequests, a.status)
	secs, err := strconv.Atoi(a.header.Get("Retry-After"))
	require.NoError(t, err)
	assert.True(t, secs >= 1 && secs <= 60, "Retry-After %d", secs)
	assert.NotEmpty(t, a.body["error"])
}

func TestWritesAndValidation(t *testing.T) {
	fake, call := start(t, salesloftfake.Options{})
	a := call("POST", "/v2/accounts", `{"name":"Acme","domain":"WWW.Acme.com","size":50,"unknown":"ignored"}`)
	require.Equal(t, 200, a.status)
	data := a.body["data"].(map[string]any)
	assert.Equal(t, "www.acme.com", data["domain"], "domains are stored lowercase")
	assert.Equal(t, "50", data["size"], "text attributes take numbers as text")
	assert.NotContains(t, data, "unknown")
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`, data["updated_at"], "microseconds")
	id := strconv.Itoa(int(data["id"].(float64)))

	for _, tc := range []struct {
		body  string
		field string
		msg   string
	}{
		{`{"name":"","domain":"x.example.com"}`, "name", "can't be blank"},
		{`{"name":"X","domain":"bad domain.com"}`, "domain", "is invalid"},
		{`{"name":"X"}`, "domain", "can't be blank"},
		{`{"name":"X","domain":"www.ACME.com"}`, "domain", "has already been taken"},
	} {
		a := call("POST", "/v2/accounts", tc.body)
		require.Equal(t, http.StatusUnprocessableEntity, a.status, tc.body)
		assert.Equal(t, map[string]any{tc.field: []any{tc.msg}}, a.body["errors"], tc.body)
	}

	a = call("PUT", "/v2/accounts/"+id, `{"phone":"+1 555"}`)
	require.Equal(t, 200, a.status)
	assert.Equal(t, "+1 555", a.body["data"].(map[string]any)["phone"])
	assert.Equal(t, "Acme", a.body["data"].(map[string]any)["name"], "other fields stay")
	assert.Equal(t, http.StatusNotFound, call("PUT", "/v2/accounts/424242", `{"phone":"1"}`).status)
	assert.Equal(t, http.StatusNotFound, call("GET", "/v2/accounts/abc", "").status)
	assert.Equal(t, 200, call("GET", "/v2/accounts/"+id, "").status)
	assert.Equal(t, http.StatusNoContent, call("DELETE", "/v2/accounts/"+id, "").status)
	assert.Equal(t, 0, fake.Len())
	assert.Equal(t, 3, fake.Stats().Writes)
}

func TestFailNext(t *testing.T) {
	fake, call := start(t, salesloftfake.Options{})
	fake.FailNext(2, http.StatusBadGateway)
	assert.Equal(t, http.StatusBadGateway, call("GET", "/v2/accounts", "").status)
	assert.Equal(t, http.StatusBadGateway, call("GET", "/v2/accounts", "").status)
	assert.Equal(t, 200, call("GET", "/v2/accounts", "").status)
	assert.Equal(t, 3, fake.Stats().Requests["GET /v2/accounts"])
}
