package activities

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/internal/config"
)

// The "contacts" test sync is two-way: email and name go both ways, phone goes a-to-b
// only, status b-to-a only.

// decideTwoWay builds and compares one crm contact (side a) against its erp person.
func decideTwoWay(t *testing.T, policy config.Policy, crm, erp connectors.Record, baselines map[string]string, erpCursor connectors.Cursor) (Plan, Decisions) {
	t.Helper()
	f := newFixture(memory.Options{})
	sync, _ := f.acts.Syncs.Sync("contacts")
	sync.Conflict = policy
	ctx := context.Background()
	m, err := newMapping(sync, SideA)
	require.NoError(t, err)
	items, err := f.acts.BuildPayloads(ctx, BuildPayloadsInput{
		Ref: Ref{Sync: "contacts"}, From: SideA,
		Source:  Records{Records: []connectors.Record{crm}, Keys: []string{m.keyOf(crm)}},
		Matches: map[string][]connectors.Record{m.keyOf(crm): {erp}},
	})
	require.NoError(t, err)
	d, err := f.acts.Compare(ctx, CompareInput{Ref: Ref{Sync: "contacts"}, From: SideA, Items: items.Items, Baselines: baselines, TargetCursor: erpCursor})
	require.NoError(t, err)
	return d.Plan(SideA, items.Items), d
}

func contact(id string, at time.Time, fields map[string]any) connectors.Record {
	return connectors.Record{ID: id, UpdatedAt: at, Fields: fields}
}

func TestTwoWayDecisions(t *testing.T) {
	early, late := t0, t0.Add(time.Hour)
	crmAt := t0.Add(30 * time.Minute)
	crm := contact("crm-1", crmAt, map[string]any{"email": "Ann@Example.com", "name": "Ann A", "phone": "+1 100", "status": "lead"})
	inStep := contact("erp-1", early, map[string]any{"email": "ann@example.com", "full_name": "Ann A", "phone": "+1 100", "status": "lead"})
	erpRenamed := func(at time.Time) connectors.Record {
		return contact("erp-1", at, map[string]any{"email": "ann@example.com", "full_name": "Ann B", "phone": "+1 100", "status": "lead"})
	}
	before := connectors.Cursor{UpdatedAt: early.Add(-time.Minute)}
	after := connectors.Cursor{UpdatedAt: late.Add(time.Minute)}

	t.Run("in step: nothing to write", func(t *testing.T) {
		p, _ := decideTwoWay(t, config.NewestWins, crm, inStep, nil, after)
		assert.Equal(t, 1, p.Skipped)
		assert.Empty(t, p.Ops)
		assert.Empty(t, p.BackOps)
	})
	t.Run("only the source changed: it wins, no conflict", func(t *testing.T) {
		// The target's last change was read already (before its cursor).
		p, _ := decideTwoWay(t, config.BWins, crm, erpRenamed(early), nil, after)
		require.Len(t, p.Ops, 1)
		assert.Equal(t, Payload{"full_name": "Ann A"}, p.Ops[0].Fields)
		assert.Empty(t, p.BackOps)
		assert.Empty(t, p.Conflicts, "b-wins does not apply: b did not change")
	})
	t.Run("both changed, newest wins: the target's later change", func(t *testing.T) {
		p, _ := decideTwoWay(t, config.NewestWins, crm, erpRenamed(late), nil, before)
		assert.Empty(t, p.Ops)
		require.Len(t, p.BackOps, 1)
		assert.Equal(t, "crm-1", p.BackOps[0].TargetID)
		assert.Equal(t, Payload{"name": "Ann B"}, p.BackOps[0].Fields)
		require.Len(t, p.Conflicts, 1)
		assert.Equal(t, SideB, p.Conflicts[0].Winner)
		assert.Equal(t, Payload{"a.name": "Ann A"}, p.Conflicts[0].Lost)
	})
	t.Run("both changed, a wins", func(t *testing.T) {
		p, _ := decideTwoWay(t, config.AWins, crm, erpRenamed(late), nil, before)
		require.Len(t, p.Ops, 1)
		assert.Equal(t, Payload{"full_name": "Ann A"}, p.Ops[0].Fields)
		assert.Empty(t, p.BackOps)
		require.Len(t, p.Conflicts, 1)
		assert.Equal(t, SideA, p.Conflicts[0].Winner)
		assert.Equal(t, Payload{"b.full_name": "Ann B"}, p.Conflicts[0].Lost)
	})
	t.Run("baseline says only the target changed: it wins whatever the policy", func(t *testing.T) {
		// The pair was in step as inStep; crm is unchanged since, erp was renamed.
		sync, _ := testSyncs().Sync("contacts")
		base := fingerprint(sync, SideA, crm) + "/" + fingerprint(sync, SideB, inStep)
		p, _ := decideTwoWay(t, config.AWins, crm, erpRenamed(early), map[string]string{"ann@example.com": base}, after)
		assert.Empty(t, p.Ops)
		require.Len(t, p.BackOps, 1)
		assert.Equal(t, Payload{"name": "Ann B"}, p.BackOps[0].Fields)
		assert.Empty(t, p.Conflicts)
	})
	t.Run("fields that go one way only flow their way", func(t *testing.T) {
		// Both phone (a-to-b) and status (b-to-a) differ; the target is newer and wins
		// the both-ways fields, yet a's phone still goes to b and b's status to a.
		erp := contact("erp-1", late, map[string]any{"email": "ann@example.com", "full_name": "Ann A", "phone": "+9 999", "status": "customer"})
		p, _ := decideTwoWay(t, config.NewestWins, crm, erp, nil, before)
		require.Len(t, p.Ops, 1)
		assert.Equal(t, Payload{"phone": "+1 100"}, p.Ops[0].Fields)
		require.Len(t, p.BackOps, 1)
		assert.Equal(t, Payload{"status": "customer"}, p.BackOps[0].Fields)
	})
	t.Run("an empty one-way value does not clear the other side", func(t *testing.T) {
		erp := contact("erp-1", early, map[string]any{"email": "ann@example.com", "full_name": "Ann A", "phone": "+1 100"})
		p, _ := decideTwoWay(t, config.NewestWins, crm, erp, nil, after)
		assert.Equal(t, 1, p.Skipped)
		assert.Empty(t, p.BackOps, "b has no status yet: a's is kept")
	})
	t.Run("the baseline of a write is what both sides then hold", func(t *testing.T) {
		_, d := decideTwoWay(t, config.NewestWins, crm, erpRenamed(early), nil, after)
		require.Len(t, d.Decisions, 1)
		sync, _ := testSyncs().Sync("contacts")
		written := contact("erp-1", early, map[string]any{"email": "ann@example.com", "full_name": "Ann A", "phone": "+1 100", "status": "lead"})
		assert.Equal(t, fingerprint(sync, SideA, crm)+"/"+fingerprint(sync, SideB, written), d.Decisions[0].Baseline)
	})
}
