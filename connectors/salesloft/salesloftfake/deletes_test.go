package salesloftfake_test

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/salesloft/salesloftfake"
)

func TestDeleteAndRefusal(t *testing.T) {
	fake, call := start(t, salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited})
	a := fake.Seed(map[string]any{"name": "A", "domain": "a.example.com"})
	b := fake.Seed(map[string]any{"name": "B", "domain": "b.example.com"})
	fake.RefuseDelete(b, "Account has open opportunities")

	ans := call("DELETE", "/v2/accounts/"+b, "")
	assert.Equal(t, http.StatusUnprocessableEntity, ans.status)
	assert.Equal(t, map[string]any{"base": []any{"Account has open opportunities"}}, ans.body["errors"])
	assert.Equal(t, 2, fake.Len())

	assert.Equal(t, http.StatusNoContent, call("DELETE", "/v2/accounts/"+a, "").status)
	ans = call("DELETE", "/v2/accounts/"+a, "")
	assert.Equal(t, http.StatusNotFound, ans.status, "gone")
	assert.Equal(t, "Not Found", ans.body["error"])
	assert.Equal(t, http.StatusNotFound, call("GET", "/v2/accounts/"+a, "").status)

	fake.RefuseDelete(b, "")
	assert.Equal(t, http.StatusNoContent, call("DELETE", "/v2/accounts/"+b, "").status)
	assert.Equal(t, 0, fake.Len())
}

func TestListCreatedAtAndArchivedFilters(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	fake, call := start(t, salesloftfake.Options{CostPerMinute: salesloftfake.Unlimited, Now: clock})
	var ids []string
	for i := range 3 {
		ids = append(ids, fake.Seed(map[string]any{"name": "N", "domain": string(rune('a'+i)) + ".example.com"}))
		mu.Lock()
		now = now.Add(time.Second)
		mu.Unlock()
	}
	require.NoError(t, fake.Set(ids[0], map[string]any{"archived": true}))
	idsOf := func(a answer) []string {
		var out []string
		for _, d := range a.body["data"].([]any) {
			out = append(out, jsonID(d.(map[string]any)["id"]))
		}
		return out
	}
	ans := call("GET", "/v2/accounts?sort_by=created_at&sort_direction=ASC&created_at[gte]=2025-03-01T09:00:01.000000Z", "")
	require.Equal(t, 200, ans.status)
	assert.Equal(t, ids[1:], idsOf(ans))
	assert.Equal(t, map[string]any{"gte": "2025-03-01T09:00:01.000000Z"}, ans.body["metadata"].(map[string]any)["filtering"].(map[string]any)["created_at"])
	ans = call("GET", "/v2/accounts?sort_by=created_at&sort_direction=ASC&created_at[lt]=2025-03-01T09:00:01Z", "")
	assert.Equal(t, ids[:1], idsOf(ans), "created_at, not updated_at (the archive moved it)")
	assert.Equal(t, ids[:1], idsOf(call("GET", "/v2/accounts?archived=true", "")))
	assert.ElementsMatch(t, ids[1:], idsOf(call("GET", "/v2/accounts?archived=false", "")))
	assert.Len(t, idsOf(call("GET", "/v2/accounts", "")), 3, "archived accounts still exist")
	assert.Equal(t, http.StatusUnprocessableEntity, call("GET", "/v2/accounts?created_at[gt]=yesterday", "").status)
}

// jsonID is an id as a JSON answer decodes it (a number), in its string form.
func jsonID(v any) string {
	return strconv.FormatInt(int64(v.(float64)), 10)
}
