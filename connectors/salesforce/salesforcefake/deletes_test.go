package salesforcefake

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGetDeletedWire(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 30, 20, 0, time.UTC)
	var clock atomic.Pointer[time.Time]
	set := func(t time.Time) { clock.Store(&t) }
	set(now)
	s := New(Options{Now: func() time.Time { return *clock.Load() }})
	call := fakeServer(t, s)
	a, b := s.Seed("Account", map[string]any{"Name": "A"}), s.Seed("Account", map[string]any{"Name": "B"})
	set(now.Add(-20 * time.Minute))
	require.NoError(t, s.Delete("Account", b))
	set(now.Add(-10 * time.Minute))
	require.NoError(t, s.Delete("Account", a))
	set(now)

	get := func(start, end string) (int, []byte) {
		return call(http.MethodGet, "/services/data/v62.0/sobjects/Account/deleted/?start="+url.QueryEscape(start)+"&end="+url.QueryEscape(end), nil)
	}
	status, body := get("2025-03-01T09:00:00+00:00", "2025-03-01T10:00:00+00:00")
	require.Equal(t, http.StatusOK, status, string(body))
	var ans map[string]any
	require.NoError(t, json.Unmarshal(body, &ans))
	assert.Equal(t, map[string]any{
		"deletedRecords": []any{
			map[string]any{"id": a, "deletedDate": "2025-03-01T09:20:20.000+0000"},
			map[string]any{"id": b, "deletedDate": "2025-03-01T09:10:20.000+0000"},
		},
		"earliestDateAvailable": "2025-02-14T09:31:00.000+0000",
		"latestDateCovered":     "2025-03-01T09:30:00.000+0000",
	}, ans, "the documented shape; latestDateCovered is the call's minute when end is later")

	// Seconds are ignored and the span is inclusive: 09:10:59 is 09:10:00, and 09:20:59 is
	// 09:20:00, before a's deletion at 09:20:20.
	status, body = get("2025-03-01T09:10:59Z", "2025-03-01T09:20:59Z")
	require.Equal(t, http.StatusOK, status, string(body))
	assert.Contains(t, string(body), b)
	assert.NotContains(t, string(body), a)

	for _, tc := range []struct{ name, start, end, code string }{
		{"a minute apart", "2025-03-01T09:00:00Z", "2025-03-01T09:01:59Z", "INVALID_REPLICATION_DATE"},
		{"reversed", "2025-03-01T09:10:00Z", "2025-03-01T09:00:00Z", "INVALID_REPLICATION_DATE"},
		{"before the log", "2025-02-14T09:30:00Z", "2025-03-01T09:00:00Z", "INVALID_REPLICATION_DATE"},
		{"not a date", "yesterday", "2025-03-01T09:00:00Z", "INVALID_REPLICATION_DATE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := get(tc.start, tc.end)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Contains(t, string(body), `"errorCode":"`+tc.code+`"`)
		})
	}

	// Deletions older than the retention are purged.
	set(now.Add(15*24*time.Hour - 15*time.Minute))
	assert.Equal(t, []string{a}, keys(s.Deleted("Account")))
}

func keys(m map[string]time.Time) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestCollectionDeleteWire(t *testing.T) {
	s := New(Options{})
	call := fakeServer(t, s)
	a := s.Seed("Account", map[string]any{"Name": "A"})
	b := s.Seed("Account", map[string]any{"Name": "B"})
	gone := s.Seed("Account", map[string]any{"Name": "Gone"})
	locked := s.Seed("Account", map[string]any{"Name": "Locked"})
	require.NoError(t, s.Delete("Account", gone))
	require.NoError(t, s.Lock("Account", locked))

	del := func(allOrNone bool, ids ...string) []saveResult {
		status, body := call(http.MethodDelete, "/services/data/v62.0/composite/sobjects?ids="+strings.Join(ids, ",")+
			"&allOrNone="+map[bool]string{true: "true", false: "false"}[allOrNone], nil)
		require.Equal(t, http.StatusOK, status, string(body))
		var out []saveResult
		require.NoError(t, json.Unmarshal(body, &out))
		require.Len(t, out, len(ids))
		return out
	}

	// allOrNone: the failure rolls the deletion of a back.
	res := del(true, a, "001RM000003oLrB000")
	assert.Equal(t, "ALL_OR_NONE_OPERATION_ROLLED_BACK", res[0].Errors[0].StatusCode)
	assert.Equal(t, saveResult{Errors: []saveError{{StatusCode: "MALFORMED_ID", Message: "malformed id 001RM000003oLrB000", Fields: []string{}}}}, res[1],
		"the documented example")
	assert.Len(t, s.Records("Account"), 3)

	res = del(false, a, gone, locked, b)
	assert.Equal(t, saveResult{ID: a, Success: true, Errors: []saveError{}}, res[0])
	assert.Equal(t, "ENTITY_IS_DELETED", res[1].Errors[0].StatusCode)
	assert.Equal(t, "ENTITY_IS_LOCKED", res[2].Errors[0].StatusCode)
	assert.True(t, res[3].Success)
	assert.Len(t, s.Records("Account"), 1)

	// A locked record refuses updates too.
	status, body := call(http.MethodPatch, "/services/data/v62.0/sobjects/Account/"+locked, map[string]any{"Name": "X"})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(body), "ENTITY_IS_LOCKED")

	ids := make([]string, 201)
	for i := range ids {
		ids[i] = MakeID("001", uint64(1000+i))
	}
	status, body = call(http.MethodDelete, "/services/data/v62.0/composite/sobjects?ids="+strings.Join(ids, ","), nil)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, string(body), "EXCEEDED_ID_LIMIT")
}
