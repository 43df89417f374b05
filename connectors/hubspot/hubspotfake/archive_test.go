package hubspotfake_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/hubspot/hubspotfake"
)

// resultIDs returns the ids of a list answer's results.
func resultIDs(body map[string]any) []string {
	var out []string
	for _, r := range body["results"].([]any) {
		out = append(out, r.(map[string]any)["id"].(string))
	}
	return out
}

func nextAfter(body map[string]any) string {
	p, ok := body["paging"].(map[string]any)
	if !ok {
		return ""
	}
	return p["next"].(map[string]any)["after"].(string)
}

// TestArchive: the documented archive endpoints and the archived list on the wire.
func TestArchive(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	opts := unlimited()
	opts.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	f := hubspotfake.New(opts)
	var ids []string
	for i := range 6 {
		ids = append(ids, f.Seed("companies", map[string]string{"name": fmt.Sprintf("C%d", i)}))
	}

	resp, _ := call(t, f, "DELETE", "/crm/v3/objects/companies/"+ids[4], "demo-token", "")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	advance(time.Second)
	resp, _ = call(t, f, "POST", "/crm/v3/objects/companies/batch/archive", "demo-token",
		fmt.Sprintf(`{"inputs":[{"id":%q},{"id":%q},{"id":"999999999"}]}`, ids[1], ids[4]))
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "204 whatever the state: already archived, non-existent")
	resp, _ = call(t, f, "DELETE", "/crm/v3/objects/companies/"+ids[4], "demo-token", "")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "an archived record again")

	_, body := call(t, f, "GET", "/crm/v3/objects/companies?limit=100", "demo-token", "")
	assert.Equal(t, []string{ids[0], ids[2], ids[3], ids[5]}, resultIDs(body), "archived records leave the list")
	_, body = call(t, f, "GET", "/crm/v3/objects/companies?archived=true", "demo-token", "")
	assert.Equal(t, []string{ids[1], ids[4]}, resultIDs(body), "the archived list, in id order")
	first := body["results"].([]any)[0].(map[string]any)
	assert.Equal(t, true, first["archived"])
	assert.Equal(t, "2025-03-01T09:00:01.000Z", first["archivedAt"])
	assert.Equal(t, "2025-03-01T09:00:00.000Z", body["results"].([]any)[1].(map[string]any)["archivedAt"],
		"archiving again keeps the first archivedAt")

	resp, _ = call(t, f, "GET", "/crm/v3/objects/companies/"+ids[1], "demo-token", "")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	resp, body = call(t, f, "GET", "/crm/v3/objects/companies/"+ids[1]+"?archived=true", "demo-token", "")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, true, body["archived"])
	_, body = call(t, f, "POST", "/crm/v3/objects/companies/batch/read", "demo-token", fmt.Sprintf(`{"inputs":[{"id":%q}]}`, ids[1]))
	assert.Empty(t, body["results"], "batch read does not see archived records")

	// Purged after 90 days.
	advance(90 * 24 * time.Hour)
	_, body = call(t, f, "GET", "/crm/v3/objects/companies?archived=true", "demo-token", "")
	assert.Equal(t, []string{ids[1]}, resultIDs(body), "the first archive is 90 days old")
	advance(time.Millisecond)
	_, body = call(t, f, "GET", "/crm/v3/objects/companies?archived=true", "demo-token", "")
	assert.Empty(t, resultIDs(body))
}

func TestArchiveRefused(t *testing.T) {
	f := hubspotfake.New(unlimited())
	a := f.Seed("companies", map[string]string{"name": "A"})
	b := f.Seed("companies", map[string]string{"name": "B"})
	f.RefuseArchive("companies", b, "it is the parent of 3 companies")

	resp, body := call(t, f, "POST", "/crm/v3/objects/companies/batch/archive", "demo-token",
		fmt.Sprintf(`{"inputs":[{"id":%q},{"id":%q}]}`, a, b))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "VALIDATION_ERROR", body["category"])
	assert.Contains(t, body["message"], "it is the parent of 3 companies")
	assert.Equal(t, []any{b}, body["context"].(map[string]any)["ids"])
	assert.Len(t, f.Records("companies"), 2, "nothing of the batch archived")

	resp, body = call(t, f, "DELETE", "/crm/v3/objects/companies/"+b, "demo-token", "")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, body["message"], "it is the parent of 3 companies")
	resp, _ = call(t, f, "DELETE", "/crm/v3/objects/companies/"+a, "demo-token", "")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)

	f.RefuseArchive("companies", b, "")
	resp, _ = call(t, f, "DELETE", "/crm/v3/objects/companies/"+b, "demo-token", "")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Empty(t, f.Records("companies"))
}

// TestListPagesByID: the list's paging token survives records archived between pages.
func TestListPagesByID(t *testing.T) {
	f := hubspotfake.New(unlimited())
	var ids []string
	for i := range 7 {
		ids = append(ids, f.Seed("companies", map[string]string{"name": fmt.Sprintf("C%d", i)}))
	}
	_, body := call(t, f, "GET", "/crm/v3/objects/companies?limit=3&properties=hs_object_id", "demo-token", "")
	assert.Equal(t, ids[:3], resultIDs(body))
	after := nextAfter(body)
	require.NotEmpty(t, after)
	require.NoError(t, f.Delete("companies", ids[0]))
	require.NoError(t, f.Delete("companies", ids[1]))
	_, body = call(t, f, "GET", "/crm/v3/objects/companies?limit=3&after="+after, "demo-token", "")
	assert.Equal(t, ids[3:6], resultIDs(body), "no record skipped for the two archived before it")
	_, body = call(t, f, "GET", "/crm/v3/objects/companies?limit=3&after="+nextAfter(body), "demo-token", "")
	assert.Equal(t, ids[6:], resultIDs(body))
	assert.Empty(t, nextAfter(body))

	resp, _ := call(t, f, "GET", "/crm/v3/objects/companies?limit=101", "demo-token", "")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

func TestStateKeepsArchived(t *testing.T) {
	f := hubspotfake.New(unlimited())
	a := f.Seed("companies", map[string]string{"name": "A"})
	require.NoError(t, f.Delete("companies", a))
	g := hubspotfake.New(unlimited())
	require.NoError(t, g.Restore(f.Snapshot()))
	assert.Equal(t, f.Archived("companies"), g.Archived("companies"))
	assert.Empty(t, g.Records("companies"))
}
