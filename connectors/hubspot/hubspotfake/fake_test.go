package hubspotfake_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/hubspot/hubspotfake"
)

// call sends one request to the fake and decodes its JSON answer.
func call(t *testing.T, f *hubspotfake.Server, method, path, token, body string) (*http.Response, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.Handler().ServeHTTP(w, r)
	var out map[string]any
	if w.Body.Len() > 0 {
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &out), w.Body.String())
	}
	return w.Result(), out
}

func unlimited() hubspotfake.Options {
	return hubspotfake.Options{RatePer10s: hubspotfake.Unlimited, SearchPerSecond: hubspotfake.Unlimited}
}

func TestAuth(t *testing.T) {
	f := hubspotfake.New(unlimited())
	for _, token := range []string{"", "wrong"} {
		resp, body := call(t, f, "POST", "/crm/v3/objects/companies/search", token, `{}`)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Equal(t, "error", body["status"])
		assert.Equal(t, "INVALID_AUTHENTICATION", body["category"])
		assert.NotEmpty(t, body["correlationId"])
	}
	resp, _ := call(t, f, "POST", "/crm/objects/2026-03/companies/search", "demo-token", `{}`)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "dated paths work too")
}

func TestSearch(t *testing.T) {
	f := hubspotfake.New(func() hubspotfake.Options { o := unlimited(); o.SearchCap = 20; return o }())
	for i := range 30 {
		f.Seed("companies", map[string]string{"name": fmt.Sprintf("C%02d", i), "domain": fmt.Sprintf("C%d.Example.com", i)})
	}
	ids := func(body map[string]any) []string {
		var out []string
		for _, r := range body["results"].([]any) {
			out = append(out, r.(map[string]any)["properties"].(map[string]any)["name"].(string))
		}
		return out
	}

	_, body := call(t, f, "POST", "/crm/v3/objects/companies/search", "demo-token",
		`{"filterGroups":[{"filters":[{"propertyName":"domain","operator":"IN","values":["c3.example.com","c5.example.com"]}]},
		  {"filters":[{"propertyName":"name","operator":"EQ","value":"c07"}]}],
		  "sorts":[{"propertyName":"name","direction":"DESCENDING"}],"properties":["name"]}`)
	assert.Equal(t, []string{"C07", "C05", "C03"}, ids(body), "groups ORed, strings without case, sorted")
	assert.Nil(t, body["paging"])

	_, body = call(t, f, "POST", "/crm/v3/objects/companies/search", "demo-token", `{"limit":15,"properties":["name"]}`)
	assert.Len(t, ids(body), 15)
	assert.EqualValues(t, 30, body["total"])
	assert.Equal(t, "15", body["paging"].(map[string]any)["next"].(map[string]any)["after"])

	_, body = call(t, f, "POST", "/crm/v3/objects/companies/search", "demo-token", `{"limit":15,"after":"15","properties":["name"]}`)
	assert.Len(t, ids(body), 5, "results stop at the cap of 20")

	resp, body := call(t, f, "POST", "/crm/v3/objects/companies/search", "demo-token", `{"limit":10,"after":"20"}`)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "paging past the cap")
	assert.Equal(t, "VALIDATION_ERROR", body["category"])

	resp, _ = call(t, f, "POST", "/crm/v3/objects/companies/search", "demo-token", `{"limit":201}`)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "limit over 200")
}

func TestBatchWrites(t *testing.T) {
	f := hubspotfake.New(unlimited())
	inputs := make([]string, 101)
	for i := range inputs {
		inputs[i] = `{"properties":{"name":"x"}}`
	}
	resp, _ := call(t, f, "POST", "/crm/v3/objects/companies/batch/create", "demo-token", `{"inputs":[`+strings.Join(inputs, ",")+`]}`)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "101 inputs")

	const mixed = `{"inputs":[{"properties":{"domain":"a.com"}%s},{"properties":{"domain":"b c.com"}%s}]}`
	resp, body := call(t, f, "POST", "/crm/v3/objects/companies/batch/create", "demo-token", fmt.Sprintf(mixed, "", ""))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "without trace ids a failed input fails the batch")
	assert.Contains(t, body["message"], "not a valid domain")
	assert.Empty(t, f.Records("companies"))

	resp, body = call(t, f, "POST", "/crm/v3/objects/companies/batch/create", "demo-token",
		fmt.Sprintf(mixed, `,"objectWriteTraceId":"t0"`, `,"objectWriteTraceId":"t1"`))
	assert.Equal(t, http.StatusMultiStatus, resp.StatusCode)
	assert.EqualValues(t, 1, body["numErrors"])
	e := body["errors"].([]any)[0].(map[string]any)
	assert.Equal(t, "VALIDATION_ERROR", e["category"])
	assert.Equal(t, []any{"t1"}, e["context"].(map[string]any)["objectWriteTraceId"])
	assert.Len(t, f.Records("companies"), 1)

	resp, _ = call(t, f, "POST", "/crm/v3/objects/companies/batch/upsert", "demo-token",
		`{"inputs":[{"id":"a.com","idProperty":"domain","properties":{"name":"A"}}]}`)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "domain is not a unique property")

	const upsert = `{"inputs":[{"id":"ann@example.com","idProperty":"email","properties":{"firstname":"%s"}}]}`
	for i, wantNew := range []bool{true, false} {
		resp, body = call(t, f, "POST", "/crm/v3/objects/contacts/batch/upsert", "demo-token", fmt.Sprintf(upsert, fmt.Sprint("Ann", i)))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, wantNew, body["results"].([]any)[0].(map[string]any)["new"])
	}
	require.Len(t, f.Records("contacts"), 1)
	assert.Equal(t, map[string]string{"email": "ann@example.com", "firstname": "Ann1"}, f.Records("contacts")[0].Properties)

	resp, body = call(t, f, "POST", "/crm/v3/objects/contacts/batch/create", "demo-token",
		`{"inputs":[{"properties":{"email":"ANN@example.com"},"objectWriteTraceId":"0"}]}`)
	assert.Equal(t, http.StatusMultiStatus, resp.StatusCode)
	assert.Equal(t, "CONFLICT", body["errors"].([]any)[0].(map[string]any)["category"], "email is unique")
}

func TestRateLimit(t *testing.T) {
	f := hubspotfake.New(hubspotfake.Options{RatePer10s: 3, SearchPerSecond: hubspotfake.Unlimited})
	for i := range 3 {
		resp, _ := call(t, f, "GET", "/crm/v3/objects/companies", "demo-token", "")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "3", resp.Header.Get("X-HubSpot-RateLimit-Max"))
		assert.Equal(t, fmt.Sprint(2-i), resp.Header.Get("X-HubSpot-RateLimit-Remaining"))
		assert.Equal(t, "10000", resp.Header.Get("X-HubSpot-RateLimit-Interval-Milliseconds"))
	}
	resp, body := call(t, f, "GET", "/crm/v3/objects/companies", "demo-token", "")
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "10", resp.Header.Get("Retry-After"))
	assert.Equal(t, "RATE_LIMIT", body["errorType"])
	assert.Equal(t, "TEN_SECONDLY_ROLLING", body["policyName"])
	reqs := f.Requests()
	require.Len(t, reqs, 4)
	assert.Equal(t, 10*time.Second, reqs[3].RetryAfter)
	assert.Equal(t, 1, f.Stats().RateLimited)
}

func TestSearchesCountTowardTheRequestBudgetOnlyWhenSet(t *testing.T) {
	search := func(f *hubspotfake.Server) *http.Response {
		resp, _ := call(t, f, "POST", "/crm/v3/objects/companies/search", "demo-token", `{}`)
		return resp
	}
	get := func(f *hubspotfake.Server) *http.Response {
		resp, _ := call(t, f, "GET", "/crm/v3/objects/companies", "demo-token", "")
		return resp
	}

	// By default the search budget is its own: searches leave the 2 requests per 10 s
	// untouched and carry none of its headers.
	f := hubspotfake.New(hubspotfake.Options{RatePer10s: 2, SearchPerSecond: hubspotfake.Unlimited})
	for range 3 {
		resp := search(f)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Empty(t, resp.Header.Get("X-HubSpot-RateLimit-Remaining"))
	}
	assert.Equal(t, "1", get(f).Header.Get("X-HubSpot-RateLimit-Remaining"))
	assert.Equal(t, http.StatusOK, get(f).StatusCode)
	assert.Equal(t, http.StatusTooManyRequests, get(f).StatusCode)

	// With SearchCountsTowardRate they spend it.
	f = hubspotfake.New(hubspotfake.Options{RatePer10s: 2, SearchPerSecond: hubspotfake.Unlimited, SearchCountsTowardRate: true})
	resp := search(f)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("X-HubSpot-RateLimit-Remaining"))
	assert.Equal(t, http.StatusOK, search(f).StatusCode)
	assert.Equal(t, http.StatusTooManyRequests, search(f).StatusCode)
	assert.Equal(t, http.StatusTooManyRequests, get(f).StatusCode)
}

func TestSearchINComparesLikeEQ(t *testing.T) {
	// IN and NOT_IN match a value when EQ would: strings without case, numbers as numbers.
	f := hubspotfake.New(unlimited())
	f.Seed("companies", map[string]string{"name": "a", "domain": "Acme.COM", "numberofemployees": "10"})
	f.Seed("companies", map[string]string{"name": "b", "domain": "beta.io", "numberofemployees": "25"})
	f.Seed("companies", map[string]string{"name": "c", "domain": "gamma.dev"})
	names := func(filter string) []string {
		_, body := call(t, f, "POST", "/crm/v3/objects/companies/search", "demo-token",
			`{"filterGroups":[{"filters":[`+filter+`]}],"sorts":[{"propertyName":"name","direction":"ASCENDING"}],"properties":["name"]}`)
		var out []string
		for _, r := range body["results"].([]any) {
			out = append(out, r.(map[string]any)["properties"].(map[string]any)["name"].(string))
		}
		return out
	}
	assert.Equal(t, []string{"a", "b"}, names(`{"propertyName":"domain","operator":"IN","values":["acme.com","BETA.IO","nope.org"]}`))
	assert.Equal(t, []string{"c"}, names(`{"propertyName":"domain","operator":"NOT_IN","values":["acme.com","beta.io"]}`))
	assert.Equal(t, []string{"a"}, names(`{"propertyName":"numberofemployees","operator":"IN","values":["10.0","7"]}`))
	assert.Equal(t, []string{"b", "c"}, names(`{"propertyName":"numberofemployees","operator":"NOT_IN","values":["1e1"]}`))
}

func TestIndexLag(t *testing.T) {
	// Searches see each record as it was IndexLag ago; reads by id see it as it is.
	var mu sync.Mutex
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	opts := unlimited()
	opts.IndexLag = time.Second
	opts.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	f := hubspotfake.New(opts)
	seeded := f.Seed("companies", map[string]string{"name": "Old", "domain": "old.example.com"})
	names := func() []string {
		_, body := call(t, f, "POST", "/crm/v3/objects/companies/search", "demo-token",
			`{"sorts":[{"propertyName":"hs_object_id","direction":"ASCENDING"}],"properties":["name"]}`)
		var out []string
		for _, r := range body["results"].([]any) {
			out = append(out, r.(map[string]any)["properties"].(map[string]any)["name"].(string))
		}
		return out
	}
	assert.Equal(t, []string{"Old"}, names(), "seeded records are searchable at once")

	resp, body := call(t, f, "POST", "/crm/v3/objects/companies", "demo-token", `{"properties":{"name":"New","domain":"new.example.com"}}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	created := body["id"].(string)
	resp, _ = call(t, f, "PATCH", "/crm/v3/objects/companies/"+seeded, "demo-token", `{"properties":{"name":"Renamed"}}`)
	require.Equal(t, http.StatusOK, resp.StatusCode)

	assert.Equal(t, []string{"Old"}, names(), "the create is not searchable yet, the update shows the old name")
	_, body = call(t, f, "GET", "/crm/v3/objects/companies/"+created+"?properties=name", "demo-token", "")
	assert.Equal(t, "New", body["properties"].(map[string]any)["name"], "reads by id are current")
	advance(999 * time.Millisecond)
	assert.Equal(t, []string{"Old"}, names(), "not yet IndexLag later")
	advance(time.Millisecond)
	assert.Equal(t, []string{"Renamed", "New"}, names())
}
