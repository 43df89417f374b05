package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"tandem/workflows"
)

// status --watch says when an activity is being retried, as status does (issue 14,
// finding 1: a database down for 50 s showed "running" with frozen counters).
func TestWatchLineShowsRetries(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var out bytes.Buffer
	w := &watcher{out: &out, last: map[string]sample{}}
	w.draw([]workflows.Status{{
		Sync: "db", Running: true,
		Current: &workflows.RunSummary{Number: 2, Side: "a", StartedAt: now.Add(-time.Minute), Counts: workflows.Counts{Fetched: 500}},
		Retrying: []workflows.RetryingActivity{{Activity: "FetchChanges", Attempt: 4, NextAttempt: now.Add(8 * time.Second),
			Error: "fetch changes of pg people: dial tcp 127.0.0.1:5432: connect: connection refused"}},
	}, {
		Sync: "gone", Closed: "terminated", ClosedAt: now.Add(-time.Hour),
	}}, now)
	assert.Equal(t, `03:04:05 db: run #2 side a: 500 records read, 8 records/s (total unknown); retrying FetchChanges (attempt 4, next try in 8s): fetch changes of pg people: dial tcp 127.0.0.1:5432: connect: connection refused
03:04:05 gone: stopped: workflow terminated at 2026-01-02T02:04:05Z; `+"`starter start`"+` runs it again
`, out.String())
}

func TestStateLineSaysWhyASyncPausedItself(t *testing.T) {
	st := workflows.Status{State: workflows.StatePaused, Paused: true, PausedFor: "mapping invalid (hubspot.companies.vat_id missing)"}
	assert.Equal(t, "paused: mapping invalid (hubspot.companies.vat_id missing)", stateLine(st))
	st.PausedFor = "" // paused by an operator
	assert.Equal(t, "paused", stateLine(st))
}
