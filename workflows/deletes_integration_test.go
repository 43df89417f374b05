package workflows_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/activities"
	"tandem/connectors"
	"tandem/connectors/connectortest"
	"tandem/connectors/memory"
	"tandem/definition"
	"tandem/internal/app"
	"tandem/internal/cli"
	"tandem/internal/config"
	"tandem/internal/explain"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// Deletes (issue 15), on the embedded server between memory services.

// withDeletes is def acting on deletes by mode.
func withDeletes(def config.Sync, mode definition.DeleteMode) config.Sync {
	def.Deletes = definition.Deletes{Mode: mode, Max: definition.DefaultDeleteMax, MaxPercent: definition.DefaultDeleteMaxPercent}
	if mode == definition.DeleteArchive {
		def.Deletes.Field = map[definition.Side]string{definition.A: "status", definition.B: "status"}
		def.Deletes.Value = "deleted"
	}
	return def
}

// seedCompanies puts n companies on c.
func seedCompanies(c *memory.Connector, n int) []connectors.Record {
	return c.Seed("companies", n, func(i int) map[string]any {
		return map[string]any{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%04d.example", i), "phone": "+1"}
	})
}

// domains returns the sorted domains of c's companies.
func domains(c *memory.Connector) []string {
	var out []string
	for _, r := range c.All("companies") {
		out = append(out, fmt.Sprint(r.Fields["domain"]))
	}
	sort.Strings(out)
	return out
}

// runAgain asks for a run and waits for it.
func runAgain(s *testenv.Sync, n int) workflows.Status {
	s.Signal(workflows.SignalSyncNow, nil)
	return s.WaitRuns(n, time.Minute)
}

// A one-way sync deletes the partners of the source's deleted records, found in its
// delete log, and nothing else.
func TestOneWayDeletesFollowTheSourcesLog(t *testing.T) {
	a := memory.New(memory.Options{IDPrefix: "a-"})
	b := memory.New(memory.Options{IDPrefix: "b-"})
	recs := seedCompanies(a, 20)
	s := testenv.NewSync(t, withDeletes(testenv.Def("del-one-way"), definition.DeleteDelete), a, b)
	s.Start()
	s.WaitRuns(1, time.Minute)
	require.Len(t, b.All("companies"), 20)
	n, err := s.Acts.Links.Count(context.Background(), s.Name)
	require.NoError(t, err)
	assert.Equal(t, 20, n, "a one-way sync acting on deletes keeps its pairs")

	for _, r := range recs[:3] {
		a.Remove("companies", r.ID)
	}
	// The plan lists the three deletes, and does none of them.
	writes := b.Writes()
	plan, _, err := cli.Plan(context.Background(), s.Client, s.Name, 0)
	require.NoError(t, err)
	assert.Equal(t, activities.PlanTotals{Delete: 3}, plan.Totals)
	require.Len(t, plan.Records, 3)
	assert.Equal(t, "b", plan.Records[0].Side)
	assert.Equal(t, "delete", plan.Records[0].Action)
	assert.Equal(t, writes, b.Writes())
	assert.Len(t, b.All("companies"), 20)

	st := runAgain(s, 2)
	assert.Equal(t, domains(a), domains(b), "exactly the deleted records' partners are gone")
	assert.Len(t, b.All("companies"), 17)
	assert.Equal(t, 3, st.LastRun.Deleted)
	assert.Equal(t, 3, st.Totals.Deleted)
	require.NotNil(t, st.Deletes)
	assert.Equal(t, "delete", st.Deletes.Mode)
	assert.Nil(t, st.Deletes.Held)
	require.Len(t, st.Deletes.Recent, 3)
	assert.Equal(t, "deleted", st.Deletes.Recent[0].Action)
	assert.Equal(t, "log", st.Deletes.Recent[0].How)
	n, err = s.Acts.Links.Count(context.Background(), s.Name)
	require.NoError(t, err)
	assert.Equal(t, 17, n)

	// explain tells what was done with a deleted record's partner, and why.
	f, err := explain.Explain(context.Background(), s.Client, s.Name, "c0000.example", 10)
	require.NoError(t, err)
	require.NotNil(t, f)
	assert.Equal(t, "deleted", f.Action)
	assert.Equal(t, recs[0].ID, f.RecordID)
	assert.Equal(t, "b", f.TargetSide)
	assert.Contains(t, f.Reason, "deleted on a (found by log); the partner was deleted on b")

	// Nothing more to delete: the next run deletes nothing.
	writes = b.Writes()
	st = runAgain(s, 3)
	assert.Zero(t, st.LastRun.Deleted)
	assert.Equal(t, writes, b.Writes())
}

// The breaker: 60 % of the pairs deleted at once are held, across runs (and so across
// continue-as-new), until approved; then exactly those are deleted. A second mass delete
// is discarded: nothing is deleted and the pairs are let go.
func TestMassDeleteIsHeldUntilApproved(t *testing.T) {
	ctx := context.Background()
	a := memory.New(memory.Options{IDPrefix: "a-"})
	b := memory.New(memory.Options{IDPrefix: "b-"})
	recs := seedCompanies(a, 300)
	s := testenv.NewSync(t, withDeletes(testenv.Def("del-breaker"), definition.DeleteDelete), a, b)
	s.Start()
	s.WaitRuns(1, time.Minute)
	require.Len(t, b.All("companies"), 300)

	_, err := app.Update(ctx, s.Client, s.Name, workflows.UpdateDeletesApprove, nil)
	require.ErrorContains(t, err, "holds no deletes", "nothing to approve yet")

	for _, r := range recs[:180] {
		a.Remove("companies", r.ID)
	}
	st := runAgain(s, 2)
	require.NotNil(t, st.Deletes)
	require.NotNil(t, st.Deletes.Held, "the breaker trips")
	assert.Equal(t, 180, st.Deletes.Held.Count)
	assert.Equal(t, "180 (60% > 10%)", st.Deletes.Held.String())
	assert.Len(t, b.All("companies"), 300, "nothing deleted while held")

	// Held across another run (a run continues as new at its end).
	st = runAgain(s, 3)
	require.NotNil(t, st.Deletes.Held)
	assert.Equal(t, 180, st.Deletes.Held.Count)
	assert.Len(t, b.All("companies"), 300)

	st, err = app.Update(ctx, s.Client, s.Name, workflows.UpdateDeletesApprove, nil)
	require.NoError(t, err)
	assert.Nil(t, st.Deletes.Held)
	assert.Equal(t, 180, st.Totals.Deleted)
	assert.Equal(t, domains(a), domains(b), "then exactly those")

	// A second mass delete, discarded: nothing deleted, the pairs let go.
	for _, r := range recs[180:300] {
		a.Remove("companies", r.ID)
	}
	st = runAgain(s, 4)
	require.NotNil(t, st.Deletes.Held)
	assert.Equal(t, 120, st.Deletes.Held.Count)
	st, err = app.Update(ctx, s.Client, s.Name, workflows.UpdateDeletesDiscard, nil)
	require.NoError(t, err)
	assert.Nil(t, st.Deletes.Held)
	assert.Equal(t, 120, st.Deletes.Discarded)
	assert.Len(t, b.All("companies"), 120, "discarded: nothing deleted")
	n, err := s.Acts.Links.Count(ctx, s.Name)
	require.NoError(t, err)
	assert.Zero(t, n)
	st = runAgain(s, 5)
	assert.Nil(t, st.Deletes.Held, "discarded deletes do not come back")
	assert.Len(t, b.All("companies"), 120)
}

// A delete log that no longer reaches the cursor: status says so, every id is diffed
// against the pairs, and exactly the missing records' partners are deleted.
func TestExpiredDeleteLogFallsBackToAnIDDiff(t *testing.T) {
	clock := &connectortest.Clock{}
	a := memory.New(memory.Options{IDPrefix: "a-", Now: clock.Now, DeleteLogRetention: 15 * 24 * time.Hour})
	b := memory.New(memory.Options{IDPrefix: "b-"})
	recs := seedCompanies(a, 30)
	s := testenv.NewSync(t, withDeletes(testenv.Def("del-expired"), definition.DeleteDelete), a, b)
	s.Start()
	s.WaitRuns(1, time.Minute)
	require.Len(t, b.All("companies"), 30)

	// 16 days pass; two records are deleted early on, and their log entries are purged.
	clock.Advance(24 * time.Hour)
	a.Remove("companies", recs[0].ID)
	a.Remove("companies", recs[1].ID)
	clock.Advance(15 * 24 * time.Hour)
	st := runAgain(s, 2)
	require.NotNil(t, st.Deletes)
	assert.Contains(t, st.Deletes.Notes["a"], "delete log expired")
	assert.Contains(t, st.Deletes.Notes["a"], "diffed")
	assert.Equal(t, 2, st.LastRun.Deleted)
	assert.Equal(t, domains(a), domains(b))
	require.NotEmpty(t, st.Deletes.Recent)
	assert.Equal(t, "diff", st.Deletes.Recent[0].How)

	// Later deletes are found too.
	a.Remove("companies", recs[2].ID)
	st = runAgain(s, 3)
	assert.Equal(t, 1, st.LastRun.Deleted)
	assert.Equal(t, domains(a), domains(b))
}

// Two-way: a delete that meets a newer edit of the partner is a conflict. newest-wins
// keeps the edit (the record comes back on the deleting side); a-wins deletes the partner.
func TestTwoWayDeleteAgainstANewerEdit(t *testing.T) {
	for _, tc := range []struct {
		policy config.Policy
		kept   bool
	}{{config.NewestWins, true}, {config.AWins, false}} {
		t.Run(string(tc.policy), func(t *testing.T) {
			a := memory.New(memory.Options{IDPrefix: "a-"})
			b := memory.New(memory.Options{IDPrefix: "b-"})
			recs := seedCompanies(a, 5)
			s := testenv.NewSync(t, withDeletes(twoWay("del-conflict-"+string(tc.policy), tc.policy), definition.DeleteDelete), a, b)
			s.Start()
			s.WaitRuns(1, time.Minute)
			partner := byDomain(b)["c0000.example"][0]

			a.Remove("companies", recs[0].ID)
			edit(t, b, partner.ID, map[string]any{"name": "Edited after the delete"})
			st := runAgain(s, 2)
			st = s.WaitFor("no pending events", time.Minute, func(st workflows.Status) bool { return st.Pending == 0 && st.Current == nil })
			require.NotEmpty(t, st.Decisions)
			d := st.Decisions[len(st.Decisions)-1]
			assert.Equal(t, "delete-conflict", d.Kind)
			assert.Contains(t, d.Reason, "conflict: deleted on a")
			if tc.kept {
				assert.Equal(t, "b", d.Winner)
				require.Len(t, byDomain(b)["c0000.example"], 1, "the edit wins: the partner stays")
				back := byDomain(a)["c0000.example"]
				require.Len(t, back, 1, "and is created on a again")
				assert.Equal(t, "Edited after the delete", back[0].Fields["name"])
			} else {
				assert.Equal(t, "a", d.Winner)
				assert.Empty(t, byDomain(b)["c0000.example"], "the delete wins")
				assert.Empty(t, byDomain(a)["c0000.example"])
			}
			assert.Len(t, a.All("companies"), len(b.All("companies")))
		})
	}
}

// archive: a delete on a sets the partner's status; the partner's own change (the archive
// write, read back on b) does not create the deleted record again. A webhook event of kind
// "deleted" is acted on in its micro-batch.
func TestTwoWayArchiveFromAWebhookDelete(t *testing.T) {
	a := memory.New(memory.Options{IDPrefix: "a-"})
	b := memory.New(memory.Options{IDPrefix: "b-"})
	recs := seedCompanies(a, 5)
	def := withDeletes(twoWay("del-archive", config.NewestWins), definition.DeleteArchive)
	s := testenv.NewSync(t, def, a, b)
	s.Start()
	s.WaitRuns(1, time.Minute)
	partner := byDomain(b)["c0001.example"][0]

	a.Remove("companies", recs[1].ID)
	s.Signal(workflows.SignalChange, workflows.ChangeSignal{Side: "a", Events: []workflows.ChangeEvent{{ID: "del-1", RecordID: recs[1].ID, Kind: "deleted"}}})
	st := s.WaitFor("the archive", time.Minute, func(st workflows.Status) bool { return st.Totals.Archived == 1 })
	assert.Equal(t, 1, st.Realtime.Archived, "in the webhook's micro-batch, not a run")
	got := byDomain(b)["c0001.example"]
	require.Len(t, got, 1)
	assert.Equal(t, partner.ID, got[0].ID)
	assert.Equal(t, "deleted", got[0].Fields["status"])

	// The archived partner changes (as the write reads back, or a user edits it): it is
	// not synced, and a's record stays deleted.
	edit(t, b, partner.ID, map[string]any{"name": "Renamed"})
	announce(s, "b", partner.ID)
	settle(s, 2)
	st = runAgain(s, 2)
	assert.Empty(t, byDomain(a)["c0001.example"], "the deleted record is not created again")
	assert.Len(t, a.All("companies"), 4)
	assert.Len(t, b.All("companies"), 5)
	assert.Zero(t, st.Totals.Failed)
}

// verify: {every: ...} runs a verify after a run when due; its totals are in status.
func TestScheduledVerifyAfterARun(t *testing.T) {
	a := memory.New(memory.Options{IDPrefix: "a-"})
	b := memory.New(memory.Options{IDPrefix: "b-"})
	seedCompanies(a, 10)
	def := testenv.Def("scheduled-verify")
	def.Verify.Every = time.Hour
	s := testenv.NewSync(t, def, a, b)
	s.Start()
	s.WaitRuns(1, time.Minute)
	st := s.WaitFor("the scheduled verify", time.Minute, func(st workflows.Status) bool { return st.LastVerify != nil })
	assert.True(t, st.LastVerify.Scheduled)
	assert.Equal(t, activities.VerifyTotals{}, st.LastVerify.Totals)
	assert.Equal(t, map[string]int{"a": 10, "b": 10}, st.LastVerify.Checked)
	first := st.LastVerify.At

	// The next run, within the hour, does not verify again.
	b.Remove("companies", b.All("companies")[0].ID)
	st = runAgain(s, 2)
	assert.Equal(t, first, st.LastVerify.At)
}
