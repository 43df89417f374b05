package activities

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
)

// acme is a "companies" source record (side a) keyed acme.com.
func acme() connectors.Record {
	return rec("crm-1", map[string]any{
		"name": "Acme", "domain": "acme.com", "email": "billing@acme.com", "employees": float64(50), "notes": "key account",
		"industry": "Software", // not mapped
	})
}

// acmeAccount is the erp account (side b) that holds what acme asks for, each value in
// the form the erp happens to return it.
func acmeAccount(id string) connectors.Record {
	return rec(id, map[string]any{
		"company_name": "  Acme ", "website": "WWW.ACME.COM", "billing_email": "Billing@Acme.com", "headcount": "50", "memo": "key account",
	})
}

// with returns r with fields overwritten.
func with(r connectors.Record, fields map[string]any) connectors.Record {
	out := map[string]any{}
	for k, v := range r.Fields {
		out[k] = v
	}
	for k, v := range fields {
		out[k] = v
	}
	r.Fields = out
	return r
}

func TestBuildAndCompare(t *testing.T) {
	acts := newFixture(memory.Options{}).acts
	for _, tc := range []struct {
		name    string
		sync    string
		source  Records
		matches map[string][]connectors.Record
		want    Plan
		// reasonHas are words every failure's reason must hold (reasons are compared by
		// these, not verbatim).
		reasonHas []string
	}{
		{
			name:    "equal after normalization is skipped",
			sync:    "companies",
			source:  Records{Records: []connectors.Record{acme()}, Keys: []string{"acme.com"}},
			matches: map[string][]connectors.Record{"acme.com": {acmeAccount("erp-1")}},
			want:    Plan{Skipped: 1},
		},
		{
			name:    "a differing field is an update of that field only",
			sync:    "companies",
			source:  Records{Records: []connectors.Record{with(acme(), map[string]any{"name": "Acme Corp"})}, Keys: []string{"acme.com"}},
			matches: map[string][]connectors.Record{"acme.com": {acmeAccount("erp-1")}},
			want: Plan{Ops: []WriteOp{{
				Action: ActionUpdate, SourceID: "crm-1", Key: "acme.com", TargetID: "erp-1",
				Fields: Payload{"company_name": "Acme Corp"},
			}}},
		},
		{
			name:    "a number that differs is an update",
			sync:    "companies",
			source:  Records{Records: []connectors.Record{with(acme(), map[string]any{"employees": float64(51)})}, Keys: []string{"acme.com"}},
			matches: map[string][]connectors.Record{"acme.com": {acmeAccount("erp-1")}},
			want: Plan{Ops: []WriteOp{{
				Action: ActionUpdate, SourceID: "crm-1", Key: "acme.com", TargetID: "erp-1",
				Fields: Payload{"headcount": float64(51)},
			}}},
		},
		{
			name:   "no target is a create of every mapped field, normalized",
			sync:   "companies",
			source: Records{Records: []connectors.Record{with(acme(), map[string]any{"domain": "https://www.Acme.com/", "email": " Billing@ACME.com"})}, Keys: []string{"acme.com"}},
			want: Plan{Ops: []WriteOp{{
				Action: ActionCreate, SourceID: "crm-1", Key: "acme.com",
				Fields: Payload{
					"company_name": "Acme", "website": "acme.com", "billing_email": "billing@acme.com",
					"headcount": float64(50), "memo": "key account",
				},
			}}},
		},
		{
			name:      "a key held by two targets fails naming both and writes nothing",
			sync:      "companies",
			source:    Records{Records: []connectors.Record{acme()}, Keys: []string{"acme.com"}},
			matches:   map[string][]connectors.Record{"acme.com": {acmeAccount("erp-1"), acmeAccount("erp-2")}},
			want:      Plan{Failures: []Failure{{Side: SideA, RecordID: "crm-1", Key: "acme.com"}}},
			reasonHas: []string{"ambiguous", "acme.com", "erp-1", "erp-2"},
		},
		{
			name:      "a record without a key fails",
			sync:      "companies",
			source:    Records{Records: []connectors.Record{rec("crm-9", map[string]any{"name": "Nameless"})}, Keys: []string{""}},
			want:      Plan{Failures: []Failure{{Side: SideA, RecordID: "crm-9"}}},
			reasonHas: []string{"no value for the sync's key field"},
		},
		{
			name: "two changed records with one key both fail",
			sync: "companies",
			source: Records{
				Records: []connectors.Record{acme(), rec("crm-2", map[string]any{"name": "Acme (dup)", "domain": "www.acme.com"})},
				Keys:    []string{"acme.com", "acme.com"},
			},
			want: Plan{Failures: []Failure{
				{Side: SideA, RecordID: "crm-1", Key: "acme.com"},
				{Side: SideA, RecordID: "crm-2", Key: "acme.com"},
			}},
			reasonHas: []string{"ambiguous", `"acme.com"`, "2 changed records"},
		},
		{
			name:   "a sync keyed on the source id creates with the id in the target's key field",
			sync:   "by-id",
			source: Records{Records: []connectors.Record{rec("001A000001", map[string]any{"name": "Acme"})}, Keys: []string{"001A000001"}},
			want: Plan{Ops: []WriteOp{{
				Action: ActionCreate, SourceID: "001A000001", Key: "001A000001",
				Fields: Payload{"name": "Acme", "ext_id": "001A000001"},
			}}},
		},
		{
			name:    "a sync keyed on the source id skips a target that holds the same values",
			sync:    "by-id",
			source:  Records{Records: []connectors.Record{rec("001A000001", map[string]any{"name": "Acme"})}, Keys: []string{"001A000001"}},
			matches: map[string][]connectors.Record{"001A000001": {rec("c-7", map[string]any{"name": "Acme", "ext_id": "001A000001"})}},
			want:    Plan{Skipped: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := plan(t, acts, tc.sync, SideA, tc.source, tc.matches)
			for i := range got.Failures {
				for _, w := range tc.reasonHas {
					assert.Contains(t, got.Failures[i].Reason, w)
				}
				got.Failures[i].Reason = ""
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestCompareMixedBatch(t *testing.T) {
	acts := newFixture(memory.Options{}).acts
	source := Records{
		Records: []connectors.Record{
			acme(), // unchanged
			rec("crm-2", map[string]any{"name": "Globex", "domain": "globex.com"}),     // new
			rec("crm-3", map[string]any{"name": "Initech 2", "domain": "initech.com"}), // renamed
			rec("crm-4", map[string]any{"name": "No Domain"}),                          // no key
		},
		Keys: []string{"acme.com", "globex.com", "initech.com", ""},
	}
	matches := map[string][]connectors.Record{
		"acme.com":    {acmeAccount("erp-1")},
		"initech.com": {rec("erp-3", map[string]any{"company_name": "Initech", "website": "initech.com"})},
	}

	got := plan(t, acts, "companies", SideA, source, matches)

	assert.Equal(t, 1, got.Skipped)
	require.Len(t, got.Ops, 2)
	assert.Equal(t, ActionCreate, got.Ops[0].Action)
	assert.Equal(t, "crm-2", got.Ops[0].SourceID)
	assert.Equal(t, ActionUpdate, got.Ops[1].Action)
	assert.Equal(t, "erp-3", got.Ops[1].TargetID)
	assert.Equal(t, Payload{"company_name": "Initech 2"}, got.Ops[1].Fields)
	require.Len(t, got.Failures, 1)
	assert.Equal(t, "crm-4", got.Failures[0].RecordID)
}

func TestBuildPayloadsFollowsFieldDirection(t *testing.T) {
	acts := newFixture(memory.Options{}).acts
	ctx := context.Background()
	contactA := rec("crm-c1", map[string]any{"email": "Ann@Acme.com", "name": "Ann", "phone": "+1 555 0100", "status": "lead"})
	personB := rec("erp-p1", map[string]any{"email": "ann@acme.com", "full_name": "Ann", "phone": "+1 555 0199", "status": "customer"})

	for _, tc := range []struct {
		name   string
		from   string
		source connectors.Record
		target connectors.Record
		want   Payload // what the source asks the other side to hold
	}{
		{
			name: "a to b carries a-to-b fields, not b-to-a ones",
			from: SideA, source: contactA, target: personB,
			want: Payload{"email": "ann@acme.com", "full_name": "Ann", "phone": "+1 555 0100"},
		},
		{
			name: "b to a carries b-to-a fields, not a-to-b ones",
			from: SideB, source: personB, target: contactA,
			want: Payload{"email": "ann@acme.com", "name": "Ann", "status": "customer"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, err := acts.BuildPayloads(ctx, BuildPayloadsInput{
				Ref: Ref{Sync: "contacts"}, From: tc.from,
				Source:  Records{Records: []connectors.Record{tc.source}, Keys: []string{"ann@acme.com"}},
				Matches: map[string][]connectors.Record{"ann@acme.com": {tc.target}},
			})
			require.NoError(t, err)
			require.Len(t, items.Items, 1)
			it := items.Items[0]
			assert.Equal(t, tc.want, it.Want)
			assert.Equal(t, []string{tc.target.ID}, it.TargetIDs)
			assert.ElementsMatch(t, keys(tc.want), keys(it.Have), "what the target holds is compared over the same fields")
		})
	}
}

func TestCompareIgnoresFieldsFlowingTheOtherWay(t *testing.T) {
	acts := newFixture(memory.Options{}).acts
	// The two contacts differ only in phone (a-to-b) and status (b-to-a).
	contactA := rec("crm-c1", map[string]any{"email": "ann@acme.com", "name": "Ann", "phone": "+1 555 0100", "status": "lead"})
	personB := rec("erp-p1", map[string]any{"email": "ann@acme.com", "full_name": "Ann", "phone": "+1 555 0199", "status": "customer"})

	fromA := plan(t, acts, "contacts", SideA,
		Records{Records: []connectors.Record{contactA}, Keys: []string{"ann@acme.com"}},
		map[string][]connectors.Record{"ann@acme.com": {personB}})
	require.Len(t, fromA.Ops, 1)
	assert.Equal(t, Payload{"phone": "+1 555 0100"}, fromA.Ops[0].Fields, "a writes its phone to b, never its status")

	fromB := plan(t, acts, "contacts", SideB,
		Records{Records: []connectors.Record{personB}, Keys: []string{"ann@acme.com"}},
		map[string][]connectors.Record{"ann@acme.com": {contactA}})
	require.Len(t, fromB.Ops, 1)
	assert.Equal(t, Payload{"status": "customer"}, fromB.Ops[0].Fields, "b writes its status to a, never its phone")
}

func TestBuildPayloadsRefusesUnknownSyncAndSide(t *testing.T) {
	acts := newFixture(memory.Options{}).acts
	ctx := context.Background()

	_, err := acts.BuildPayloads(ctx, BuildPayloadsInput{Ref: Ref{Sync: "nope"}, From: SideA})
	appErr := appError(t, err)
	assert.True(t, appErr.NonRetryable())
	assert.Equal(t, ErrUnknownSync, appErr.Type())
	assert.Contains(t, appErr.Message(), `"nope"`)

	_, err = acts.BuildPayloads(ctx, BuildPayloadsInput{Ref: Ref{Sync: "companies"}, From: "c"})
	appErr = appError(t, err)
	assert.True(t, appErr.NonRetryable())
	assert.Contains(t, appErr.Message(), `unknown side "c"`)
}

func keys(p Payload) []string {
	out := make([]string, 0, len(p))
	for k := range p {
		out = append(out, k)
	}
	return out
}
