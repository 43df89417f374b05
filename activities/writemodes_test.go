package activities

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/definition"
)

// Write modes and blank values through BuildPayloads, Compare and Plan, as a run, a chunk
// and `starter plan` call them.

// companiesWith is the fixture's one-way "companies" sync (crm -> erp) with side b's
// write mode and the on_empty of notes -> memo set.
func companiesWith(t *testing.T, write definition.WriteMode, notes definition.OnEmpty) *Activities {
	t.Helper()
	acts := newFixture(memory.Options{}).acts
	s, ok := acts.Syncs.Sync("companies")
	require.True(t, ok)
	if write != "" {
		s.Write = map[definition.Side]definition.WriteMode{definition.B: write}
	}
	for i, f := range s.Fields {
		if f.A == "notes" {
			s.Fields[i].OnEmpty = notes
		}
	}
	return acts
}

// decide runs one crm record, against the erp accounts holding its key, through the
// one-way pipeline's decisions.
func decide(t *testing.T, acts *Activities, source connectors.Record, targets ...connectors.Record) (Plan, Decisions, []Item) {
	t.Helper()
	ctx := context.Background()
	items, err := acts.BuildPayloads(ctx, BuildPayloadsInput{Ref: Ref{Sync: "companies"}, From: SideA,
		Source:  Records{Records: []connectors.Record{source}, Keys: []string{"acme.com"}},
		Matches: map[string][]connectors.Record{"acme.com": targets}})
	require.NoError(t, err)
	d, err := acts.Compare(ctx, CompareInput{Ref: Ref{Sync: "companies"}, From: SideA, Items: items.Items})
	require.NoError(t, err)
	return d.Plan(SideA, items.Items), d, items.Items
}

func TestWriteModesOneWay(t *testing.T) {
	renamed := with(acme(), map[string]any{"name": "Acme Corp"})
	for _, tc := range []struct {
		name    string
		write   definition.WriteMode
		source  connectors.Record
		targets []connectors.Record
		ops     []WriteOp
		skipped int
		reason  string // of the skip, when a write mode made it
	}{
		{name: "upsert creates", write: definition.Upsert, source: acme(), ops: []WriteOp{{Action: ActionCreate, SourceID: "crm-1", Key: "acme.com",
			Fields: Payload{"company_name": "Acme", "website": "acme.com", "billing_email": "billing@acme.com", "headcount": float64(50), "memo": "key account"}}}},
		{name: "update-only skips a record with no counterpart", write: definition.UpdateOnly, source: acme(),
			skipped: 1, reason: "side b is update-only: no record on side b has this key, and none is created"},
		{name: "update-only updates a record that exists", write: definition.UpdateOnly, source: renamed, targets: []connectors.Record{acmeAccount("erp-1")},
			ops: []WriteOp{{Action: ActionUpdate, SourceID: "crm-1", Key: "acme.com", TargetID: "erp-1", Fields: Payload{"company_name": "Acme Corp"}}}},
		{name: "create-only creates", write: definition.CreateOnly, source: renamed, ops: []WriteOp{{Action: ActionCreate, SourceID: "crm-1", Key: "acme.com",
			Fields: Payload{"company_name": "Acme Corp", "website": "acme.com", "billing_email": "billing@acme.com", "headcount": float64(50), "memo": "key account"}}}},
		{name: "create-only does not update a record that exists", write: definition.CreateOnly, source: renamed, targets: []connectors.Record{acmeAccount("erp-1")},
			skipped: 1, reason: "side b is create-only: its record exists and is not updated"},
		{name: "create-only: a pair in step is a plain skip", write: definition.CreateOnly, source: acme(), targets: []connectors.Record{acmeAccount("erp-1")},
			skipped: 1},
		{name: "update-only still refuses an ambiguous key", write: definition.UpdateOnly, source: renamed,
			targets: []connectors.Record{acmeAccount("erp-1"), acmeAccount("erp-2")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, d, _ := decide(t, companiesWith(t, tc.write, ""), tc.source, tc.targets...)
			assert.Equal(t, tc.ops, p.Ops)
			assert.Equal(t, tc.skipped, p.Skipped)
			var reasons []string
			for _, dec := range d.Decisions {
				if dec.Action == ActionSkip {
					reasons = append(reasons, dec.Reason)
				}
			}
			if tc.reason != "" {
				assert.Equal(t, []string{tc.reason}, reasons)
			} else {
				assert.Empty(t, reasons)
			}
			if len(tc.targets) > 1 {
				require.Len(t, p.Failures, 1)
				assert.Contains(t, p.Failures[0].Reason, "ambiguous")
			} else {
				assert.Empty(t, p.Failures)
			}
		})
	}
}

func TestOnEmptyOneWay(t *testing.T) {
	held := acmeAccount("erp-1") // memo: "key account"
	for _, tc := range []struct {
		name    string
		onEmpty definition.OnEmpty
		source  connectors.Record
		targets []connectors.Record
		ops     []WriteOp
		skipped int
	}{
		{name: "keep: an empty source does not overwrite", source: with(acme(), map[string]any{"notes": ""}), targets: []connectors.Record{held}, skipped: 1},
		{name: "keep is the default of on_empty: keep", onEmpty: definition.Keep, source: with(acme(), map[string]any{"notes": ""}), targets: []connectors.Record{held}, skipped: 1},
		{name: "keep: spaces are blank", source: with(acme(), map[string]any{"notes": " \t "}), targets: []connectors.Record{held}, skipped: 1},
		{name: "keep: a missing field is blank", source: with(acme(), map[string]any{"notes": nil}), targets: []connectors.Record{held}, skipped: 1},
		{name: "keep: other fields are still written, the blank is not", source: with(acme(), map[string]any{"notes": "", "name": "Acme Corp"}), targets: []connectors.Record{held},
			ops: []WriteOp{{Action: ActionUpdate, SourceID: "crm-1", Key: "acme.com", TargetID: "erp-1", Fields: Payload{"company_name": "Acme Corp"}}}},
		{name: "keep: a create leaves the blank out", source: with(acme(), map[string]any{"notes": ""}),
			ops: []WriteOp{{Action: ActionCreate, SourceID: "crm-1", Key: "acme.com",
				Fields: Payload{"company_name": "Acme", "website": "acme.com", "billing_email": "billing@acme.com", "headcount": float64(50)}}}},
		{name: "keep: a value still replaces a blank", source: acme(), targets: []connectors.Record{with(held, map[string]any{"memo": ""})},
			ops: []WriteOp{{Action: ActionUpdate, SourceID: "crm-1", Key: "acme.com", TargetID: "erp-1", Fields: Payload{"memo": "key account"}}}},
		{name: "clear: an empty source clears the target", onEmpty: definition.Clear, source: with(acme(), map[string]any{"notes": ""}), targets: []connectors.Record{held},
			ops: []WriteOp{{Action: ActionUpdate, SourceID: "crm-1", Key: "acme.com", TargetID: "erp-1", Fields: Payload{"memo": ""}}}},
		{name: "clear: blank on both sides is in step", onEmpty: definition.Clear, source: with(acme(), map[string]any{"notes": ""}), targets: []connectors.Record{with(held, map[string]any{"memo": nil})},
			skipped: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, _ := decide(t, companiesWith(t, "", tc.onEmpty), tc.source, tc.targets...)
			assert.Equal(t, tc.ops, p.Ops)
			assert.Equal(t, tc.skipped, p.Skipped)
			assert.Empty(t, p.Failures)
		})
	}
}

// A linked two-way batch ("contacts", crm a <-> erp b) meeting records by key.
func TestWriteModesLinkedTwoWay(t *testing.T) {
	ann := rec("crm-c1", map[string]any{"email": "ann@acme.com", "name": "Ann", "phone": "+1 100", "status": "lead"})
	annB := rec("erp-p1", map[string]any{"email": "ann@acme.com", "full_name": "Ann Other", "phone": "+1 100", "status": "lead"})
	for _, tc := range []struct {
		name    string
		write   map[definition.Side]definition.WriteMode
		targets []connectors.Record
		action  string
		reason  string
		link    bool // a link is saved for the pair
	}{
		{name: "update-only b: no counterpart, nothing created, no link", write: map[definition.Side]definition.WriteMode{definition.B: definition.UpdateOnly},
			action: ActionSkip, reason: "side b is update-only"},
		{name: "update-only a does not stop creates on b", write: map[definition.Side]definition.WriteMode{definition.A: definition.UpdateOnly},
			action: ActionCreate, link: true},
		{name: "create-only b: the pair is linked, b is not updated", write: map[definition.Side]definition.WriteMode{definition.B: definition.CreateOnly},
			targets: []connectors.Record{annB}, action: ActionSkip, reason: "side b is create-only", link: true},
		{name: "upsert updates", targets: []connectors.Record{annB}, action: ActionUpdate, link: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acts := newFixture(memory.Options{}).acts
			s, _ := acts.Syncs.Sync("contacts")
			s.Write = tc.write
			ctx := context.Background()
			p := Partners{}
			if tc.targets != nil {
				p.Matches = map[string][]connectors.Record{"ann@acme.com": tc.targets}
			}
			items, err := acts.BuildPayloads(ctx, BuildPayloadsInput{Ref: Ref{Sync: "contacts"}, From: SideA,
				Source: Records{Records: []connectors.Record{ann}, Keys: []string{"ann@acme.com"}}, Partners: &p})
			require.NoError(t, err)
			d, err := acts.Compare(ctx, CompareInput{Ref: Ref{Sync: "contacts"}, From: SideA, Items: items.Items, Linked: true, Now: t0})
			require.NoError(t, err)
			require.Len(t, d.Decisions, 1)
			dec := d.Decisions[0]
			assert.Equal(t, tc.action, dec.Action)
			assert.Contains(t, dec.Reason, tc.reason)
			plan := d.Plan(SideA, items.Items)
			if tc.action == ActionSkip {
				assert.Empty(t, plan.Ops)
				assert.Empty(t, plan.BackOps)
				assert.Equal(t, 1, plan.Skipped)
			}
			assert.Equal(t, tc.link, len(plan.Links) == 1, "links: %+v", plan.Links)
		})
	}
}

func TestPlanShowsWhyAWriteModeSkips(t *testing.T) {
	acts := companiesWith(t, definition.UpdateOnly, "")
	_, d, items := decide(t, acts, acme())
	var got []PlanRecord
	describe(verdict{items: items, decisions: d}, SideA, func(r PlanRecord) { got = append(got, r) })
	assert.Equal(t, []PlanRecord{{Side: SideA, Key: "acme.com", Action: PlanSkip, ID: "crm-1",
		Reason: "side b is update-only: no record on side b has this key, and none is created"}}, got)
}

// Two-way batches decided without links (histories recorded before the link store).
func TestWriteModesTwoWayWithoutLinks(t *testing.T) {
	crm := rec("crm-c1", map[string]any{"email": "ann@acme.com", "name": "Ann", "phone": "+1 100", "status": "lead"})
	erp := rec("erp-p1", map[string]any{"email": "ann@acme.com", "full_name": "Ann Other", "phone": "+1 100", "status": "lead"})
	unchanged := connectors.Cursor{UpdatedAt: t0.Add(1)} // erp has not changed since
	changed := connectors.Cursor{UpdatedAt: t0.Add(-1)}  // erp changed after its cursor
	for _, tc := range []struct {
		name    string
		write   map[definition.Side]definition.WriteMode
		cursor  connectors.Cursor
		ops     int
		backOps int
		reason  string
	}{
		{name: "a's change goes to b", cursor: unchanged, ops: 1},
		{name: "create-only b withholds it", write: map[definition.Side]definition.WriteMode{definition.B: definition.CreateOnly}, cursor: unchanged,
			reason: "side b is create-only: its record exists and is not updated"},
		{name: "create-only a withholds b's winning values", write: map[definition.Side]definition.WriteMode{definition.A: definition.CreateOnly}, cursor: changed,
			reason: "side a is create-only: its record exists and is not updated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acts := newFixture(memory.Options{}).acts
			s, _ := acts.Syncs.Sync("contacts")
			s.Write = tc.write
			s.Conflict = definition.BWins
			ctx := context.Background()
			items, err := acts.BuildPayloads(ctx, BuildPayloadsInput{Ref: Ref{Sync: "contacts"}, From: SideA,
				Source:  Records{Records: []connectors.Record{crm}, Keys: []string{"ann@acme.com"}},
				Matches: map[string][]connectors.Record{"ann@acme.com": {erp}}})
			require.NoError(t, err)
			d, err := acts.Compare(ctx, CompareInput{Ref: Ref{Sync: "contacts"}, From: SideA, Items: items.Items, TargetCursor: tc.cursor})
			require.NoError(t, err)
			p := d.Plan(SideA, items.Items)
			assert.Len(t, p.Ops, tc.ops)
			assert.Len(t, p.BackOps, tc.backOps)
			if tc.reason != "" {
				require.Len(t, d.Decisions, 1)
				assert.Equal(t, ActionSkip, d.Decisions[0].Action)
				assert.Equal(t, tc.reason, d.Decisions[0].Reason)
				assert.Equal(t, 1, p.Skipped)
			}
		})
	}
}
