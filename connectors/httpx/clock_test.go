package httpx_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/httpx"
)

// TestServerClockReckons: Reckon is the latest Date plus the time since it came by the
// local clock, whatever that clock's own time of day; nothing before any Date.
func TestServerClockReckons(t *testing.T) {
	local := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC) // a worker clock years off
	s := httpx.ServerClock{Clock: func() time.Time { return local }}
	_, ok := s.Reckon()
	assert.False(t, ok, "no answer yet")

	s.Observe(http.Header{"Date": {"garbage"}})
	_, ok = s.Reckon()
	assert.False(t, ok, "a Date that does not parse is not kept")

	s.Observe(http.Header{"Date": {"Tue, 03 Mar 2026 10:15:30 GMT"}})
	local = local.Add(2500 * time.Millisecond)
	got, ok := s.Reckon()
	require.True(t, ok)
	assert.Equal(t, time.Date(2026, 3, 3, 10, 15, 32, 500_000_000, time.UTC), got.UTC())
	assert.Equal(t, time.Date(2026, 3, 3, 10, 15, 30, 0, time.UTC), s.Now().UTC(), "Now is the Date itself")
}
