package netsuitefake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDeleteAndTheDeletedRecordTable(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	s := New(Options{Now: clock, DeletedRetention: 48 * time.Hour})
	a := s.Seed("customer", map[string]any{"companyname": "Acme"})
	b := s.Seed("customer", map[string]any{"companyname": "Globex", "externalid": "G-1"})
	c := s.Seed("customer", map[string]any{"companyname": "Initech"})
	contact := s.Seed("contact", map[string]any{"entityid": "Jo"})

	del := func(typ, id string) (int, map[string]any) {
		r := httptest.NewRequest(http.MethodDelete, "/services/rest/record/v1/"+typ+"/"+id, nil)
		r.SetPathValue("type", typ)
		r.SetPathValue("id", id)
		w := httptest.NewRecorder()
		s.deleteRecord(w, r)
		var body map[string]any
		if w.Body.Len() > 0 {
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		}
		return w.Code, body
	}
	query := func(q string) []map[string]any {
		parsed, err := parseQuery(q)
		require.NoError(t, err, q)
		s.mu.Lock()
		rows := s.deletedRows()
		s.mu.Unlock()
		items, err := s.run(parsed, rows)
		require.NoError(t, err, q)
		for _, it := range items {
			delete(it, "links")
		}
		return items
	}

	s.RefuseDelete("customer", c, "This record cannot be deleted because it has dependent records.", "")
	status, body := del("customer", c)
	assert.Equal(t, http.StatusBadRequest, status)
	detail := body["o:errorDetails"].([]any)[0].(map[string]any)
	assert.Equal(t, "USER_ERROR", detail["o:errorCode"])
	assert.Contains(t, detail["detail"], "dependent records")

	status, _ = del("customer", b)
	assert.Equal(t, http.StatusNoContent, status)
	advance(time.Hour)
	status, _ = del("Customer", "eid:G-1")
	assert.Equal(t, http.StatusNotFound, status, "gone")
	require.True(t, s.Delete("customer", a))
	require.True(t, s.Delete("contact", contact))
	assert.Len(t, s.Records("customer"), 1)

	assert.Equal(t, []map[string]any{
		{"recordid": b, "deleteddate": "2025-03-04 05:06:07", "name": "Globex"},
		{"recordid": a, "deleteddate": "2025-03-04 06:06:07", "name": "Acme"},
	}, query("SELECT recordid, TO_CHAR(deleteddate, 'YYYY-MM-DD HH24:MI:SS') AS deleteddate, name FROM DeletedRecord "+
		"WHERE UPPER(type) = UPPER('CUSTOMER') AND deleteddate >= TO_TIMESTAMP('2025-03-04 05:00:00', 'YYYY-MM-DD HH24:MI:SS') "+
		"ORDER BY deleteddate, recordid"))
	assert.Equal(t, []map[string]any{{"recordid": contact, "type": "contact"}},
		query("SELECT recordid, type FROM deletedrecord WHERE type = 'contact'"))

	// The log keeps DeletedRetention.
	advance(47*time.Hour + time.Millisecond)
	assert.Len(t, s.Deleted("customer"), 1, "the first deletion is over 48 hours old")
	assert.Contains(t, s.Deleted("customer"), a)
}
