package activities

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/pairs"
)

// TestChunkLogsEachRecordsOutcome: a one-way chunk that keeps no links logs, page by
// page, what it did with each record (created, updated, skipped, failed with the
// service's reason) in the link store's bulk log; a linked or link-keeping chunk does not
// (its links say it).
func TestChunkLogsEachRecordsOutcome(t *testing.T) {
	f := newFixture(memory.Options{})
	store, err := pairs.OpenSQLite(":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	f.acts.Links = store
	recs := f.crm.Seed(crmCompanies, 120, company)
	f.erp.RejectRecords(func(r connectors.Record) string {
		if r.Fields["website"] == "c007.example" {
			return "headcount: must be a number"
		}
		return ""
	})
	outcome := func(i int) *pairs.LoggedOutcome {
		t.Helper()
		o, err := store.BulkOutcome(t.Context(), "companies", fmt.Sprintf("c%03d.example", i))
		require.NoError(t, err)
		require.NotNil(t, o, "record %d", i)
		return o
	}
	in := SyncChunkInput{Ref: Ref{Sync: "companies"}, Side: SideA, PageSize: 50, Run: 1}
	res, err := f.acts.SyncChunk(t.Context(), in)
	require.NoError(t, err)
	require.Equal(t, 119, res.Counts.Created)

	o := outcome(3)
	assert.Equal(t, "created", o.Action)
	assert.Equal(t, recs[3].ID, o.ID)
	assert.NotEmpty(t, o.TargetID)
	assert.Equal(t, 1, o.Run)
	assert.Equal(t, "a", o.Side)
	assert.Equal(t, "failed", outcome(7).Action)
	assert.Contains(t, outcome(7).Reason, "headcount: must be a number")

	// Read again from the start: one record changed, the rest in step.
	f.erp.RejectRecords(nil)
	renamed := recs[3]
	renamed.Fields = maps.Clone(renamed.Fields)
	renamed.Fields["name"], renamed.UpdatedAt = "Renamed", time.Time{}
	f.crm.Put(crmCompanies, renamed)
	in.Run = 2
	_, err = f.acts.SyncChunk(t.Context(), in)
	require.NoError(t, err)
	assert.Equal(t, "updated", outcome(3).Action)
	assert.Equal(t, 2, outcome(3).Run)
	assert.Equal(t, "skipped", outcome(4).Action)
	assert.Equal(t, "created", outcome(7).Action, "written once the service took it")

	// A chunk that keeps links logs nothing.
	in.KeepLinks = true
	other, err := pairs.OpenSQLite(":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	f.acts.Links = other
	_, err = f.acts.SyncChunk(t.Context(), in)
	require.NoError(t, err)
	got, err := other.BulkOutcome(t.Context(), "companies", "c003.example")
	require.NoError(t, err)
	assert.Nil(t, got)
}
