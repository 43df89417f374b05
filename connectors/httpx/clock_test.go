package httpx_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors/httpx"
)

// TestServerClockReckons: Reckon is the local clock plus the most an answer's Date was
// ahead of it when the answer came, whatever the local clock's own time of day; nothing
// before any Date. An answer that shows less (a Date late in its second, or an answer
// long on the way) does not pull it back.
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

	// 2.5 s on, an answer dated 10:15:32 (truncated from up to 10:15:32.999) shows less.
	s.Observe(http.Header{"Date": {"Tue, 03 Mar 2026 10:15:32 GMT"}})
	got, _ = s.Reckon()
	assert.Equal(t, time.Date(2026, 3, 3, 10, 15, 32, 500_000_000, time.UTC), got.UTC(), "the closer bound stays")
	assert.Equal(t, time.Date(2026, 3, 3, 10, 15, 32, 0, time.UTC), s.Now().UTC(), "Now is the latest Date itself")

	// An answer dated 10:15:33 at 10:15:32.6 by the earlier bound: HubSpot's second had
	// begun, so the bound moves up to it.
	local = local.Add(100 * time.Millisecond)
	s.Observe(http.Header{"Date": {"Tue, 03 Mar 2026 10:15:33 GMT"}})
	got, _ = s.Reckon()
	assert.Equal(t, time.Date(2026, 3, 3, 10, 15, 33, 0, time.UTC), got.UTC())
}
