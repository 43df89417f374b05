package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestGatherTimeWaitsOnlyWhileEventsStream(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name            string
		cycle, gathered time.Duration
		n               int
		want            time.Duration
	}{
		{"not streaming", 0, 0, 1, 0},
		{"a burst: 50 events in 30 ms", 30 * ms, 0, 50, 0},
		{"slower than one event per gatherMax", 900 * ms, 0, 1, 0},
		// 100 events/s (one per 10 ms): 7 events take 70 ms; the batch itself took 15.
		{"100/s, batches of 2 without waiting", 20 * ms, 5 * ms, 2, 55 * ms},
		{"100/s at the steady state", 70 * ms, 55 * ms, 7, 55 * ms},
		{"100/s, a batch of 8", 70 * ms, 60 * ms, 8, 51250 * time.Microsecond},
		{"100/s, a batch of 6", 60 * ms, 45 * ms, 6, 55 * ms},
		// 20 events/s (one per 50 ms): 7 would take 350 ms, more than gatherMax.
		{"20/s is held to gatherMax", 50 * ms, 0, 1, gatherMax},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, gatherTime(c.cycle, c.gathered, c.n))
		})
	}
}
