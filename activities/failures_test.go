package activities

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/pairs"
)

// A record the service rejects is remembered with its reason; its retry reads it again by
// id, and once the service takes it the write forgets it. A record gone from its source
// is forgotten when retried.
func TestRejectedRecordsAreRememberedAndRetried(t *testing.T) {
	f := newFixture(memory.Options{})
	store, err := pairs.OpenSQLite(":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	f.acts.Links = store
	ctx := context.Background()
	ref := Ref{Sync: "companies"}
	acme := f.crm.Put(crmCompanies, connectors.Record{Fields: map[string]any{"domain": "acme.com", "name": "Acme"}})
	gone := f.crm.Put(crmCompanies, connectors.Record{Fields: map[string]any{"domain": "gone.com", "name": "Gone"}})
	f.erp.RejectRecords(func(r connectors.Record) string {
		if r.Fields["website"] == "acme.com" {
			return "billing_email is required"
		}
		return ""
	})
	ops := []WriteOp{
		{Action: ActionCreate, SourceID: acme.ID, Key: "acme.com", Fields: Payload{"website": "acme.com", "company_name": "Acme"}},
		{Action: ActionCreate, SourceID: gone.ID, Key: "gone.com", Fields: Payload{"website": "gone.com", "company_name": "Gone"}},
	}
	w, err := f.acts.Upsert(ctx, UpsertInput{Ref: ref, Side: SideB, Ops: ops, Batch: "b1", Remember: true})
	require.NoError(t, err)
	require.Equal(t, ActionFail, w.Results[0].Action)
	require.NotNil(t, w.Failing)
	assert.Equal(t, 1, w.Failing.Count)
	require.Len(t, w.Failing.Latest, 1)
	assert.Equal(t, acme.ID, w.Failing.Latest[0].ID)
	assert.Equal(t, SideA, w.Failing.Latest[0].Side, "the record remembered is the source")
	assert.Contains(t, w.Failing.Latest[0].Reason, "billing_email is required")

	// The gone record failed too (say), then left its source.
	require.NoError(t, store.AddFailures(ctx, "companies", []pairs.Failure{{Side: SideA, ID: gone.ID, Reason: "x", LastAt: t0}}))
	f.crm.Remove(crmCompanies, gone.ID)
	page, err := f.acts.FailedPage(ctx, FailedPageInput{Ref: ref, Side: SideA, Limit: 10})
	require.NoError(t, err)
	require.Len(t, page.Page.Records, 1)
	assert.Equal(t, acme.ID, page.Page.Records[0].ID)
	assert.Equal(t, []string{"acme.com"}, page.Page.Keys)
	assert.Equal(t, map[string]int{acme.ID: 1}, page.Attempts)
	assert.Equal(t, 1, page.Gone)
	assert.Empty(t, page.Next, "one page held them all")

	// Retried while still rejected: remembered, attempts 2; settling keeps it.
	w, err = f.acts.Upsert(ctx, UpsertInput{Ref: ref, Side: SideB, Ops: ops[:1], Batch: "b2", Remember: true})
	require.NoError(t, err)
	require.Equal(t, ActionFail, w.Results[0].Action)
	assert.Equal(t, 2, w.Failing.Latest[0].Attempts)
	left, err := f.acts.SettleFailures(ctx, SettleFailuresInput{Ref: ref, Side: SideA, Attempts: page.Attempts})
	require.NoError(t, err)
	assert.Equal(t, 1, left.Count, "a record that failed again is kept")

	// The service takes it now: the write forgets it.
	f.erp.RejectRecords(nil)
	w, err = f.acts.Upsert(ctx, UpsertInput{Ref: ref, Side: SideB, Ops: ops[:1], Batch: "b3", Remember: true})
	require.NoError(t, err)
	require.Equal(t, ActionCreate, w.Results[0].Action)
	require.NotNil(t, w.Failing)
	assert.Equal(t, 0, w.Failing.Count)
	assert.Empty(t, w.Failing.Latest)

	// Without Remember nothing is kept.
	f.erp.RejectRecords(func(connectors.Record) string { return "no" })
	w, err = f.acts.Upsert(ctx, UpsertInput{Ref: ref, Side: SideB, Ops: ops[:1], Batch: "b4"})
	require.NoError(t, err)
	assert.Nil(t, w.Failing)
	n, err := store.CountFailures(ctx, "companies")
	require.NoError(t, err)
	assert.Zero(t, n)
}

// A record retried and found in step (nothing to write) is forgotten by settling.
func TestSettleForgetsRecordsInStep(t *testing.T) {
	f := newFixture(memory.Options{})
	store, err := pairs.OpenSQLite(":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	f.acts.Links = store
	ctx := context.Background()
	require.NoError(t, store.AddFailures(ctx, "companies", []pairs.Failure{{Side: SideA, ID: "crm-1", Reason: "x", LastAt: t0}}))
	left, err := f.acts.SettleFailures(ctx, SettleFailuresInput{Ref: Ref{Sync: "companies"}, Side: SideA, Attempts: map[string]int{"crm-1": 1}})
	require.NoError(t, err)
	assert.Equal(t, Failing{}, left)
	_, err = f.acts.FailedPage(ctx, FailedPageInput{Ref: Ref{Sync: "companies"}, Side: SideA})
	assert.ErrorContains(t, err, "limit 0 is not positive")
}
