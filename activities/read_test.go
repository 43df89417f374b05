package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
)

// seedCompanies stores n crm companies, one second apart, and returns them in change order.
func seedCompanies(f *fixture, n int) []connectors.Record {
	return f.crm.Seed(crmCompanies, n, func(i int) map[string]any {
		return map[string]any{
			"name":     fmt.Sprintf("Company %d", i),
			"domain":   fmt.Sprintf("https://WWW.Company%d.com/about", i),
			"email":    fmt.Sprintf("AP@Company%d.com", i),
			"industry": "Software", // not mapped by any sync
		}
	})
}

func idsOf(recs []connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func TestFetchChangesProjectsAndKeys(t *testing.T) {
	f := newFixture(memory.Options{})
	seeded := seedCompanies(f, 3)

	got, err := f.acts.FetchChanges(context.Background(), FetchChangesInput{Ref: Ref{Sync: "companies"}, Side: SideA, Limit: 10})
	require.NoError(t, err)

	require.Equal(t, idsOf(seeded), idsOf(got.Records))
	assert.Equal(t, []string{"company0.com", "company1.com", "company2.com"}, got.Keys, "keys are normalized, one per record, in order")
	assert.Equal(t, map[string]any{
		"name": "Company 0", "domain": "https://WWW.Company0.com/about", "email": "AP@Company0.com",
	}, got.Records[0].Fields, "only mapped fields are returned, as the service holds them")
	assert.Equal(t, seeded[0].UpdatedAt, got.Records[0].UpdatedAt)
	assert.False(t, got.More)
}

func TestFetchChangesPaging(t *testing.T) {
	f := newFixture(memory.Options{})
	seeded := seedCompanies(f, 3)
	for _, tc := range []struct {
		name     string
		after    connectors.Cursor
		limit    int
		wantIDs  []string
		wantMore bool
	}{
		{"first page of two", connectors.Cursor{}, 2, idsOf(seeded[:2]), true},
		{"all in one page", connectors.Cursor{}, 3, idsOf(seeded), false},
		{"after the first record", connectors.CursorOf(seeded[0]), 10, idsOf(seeded[1:]), false},
		{"after the last record", connectors.CursorOf(seeded[2]), 10, []string{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.acts.FetchChanges(context.Background(), FetchChangesInput{Ref: Ref{Sync: "companies"}, Side: SideA, Cursor: tc.after, Limit: tc.limit})
			require.NoError(t, err)
			assert.Equal(t, tc.wantIDs, idsOf(got.Records))
			assert.Len(t, got.Keys, len(got.Records))
			assert.Equal(t, tc.wantMore, got.More)
		})
	}
}

func TestFetchChangesKeyedOnSourceID(t *testing.T) {
	f := newFixture(memory.Options{})
	r := f.crm.Put(crmAccounts, connectors.Record{ID: "001A000001", Fields: map[string]any{"name": "Acme", "industry": "Software"}})

	got, err := f.acts.FetchChanges(context.Background(), FetchChangesInput{Ref: Ref{Sync: "by-id"}, Side: SideA, Limit: 10})
	require.NoError(t, err)

	require.Len(t, got.Records, 1)
	assert.Equal(t, []string{r.ID}, got.Keys, "the key of a sync keyed on id is the record's own id")
	assert.Equal(t, map[string]any{"name": "Acme"}, got.Records[0].Fields)
}

// Records with ~100 KB of mapped text would make a page of 50 about 5 MB, over Temporal's
// 2 MB payload limit: the activity must return fewer, say there is more, and lose none.
func TestFetchChangesSplitsLargePages(t *testing.T) {
	f := newFixture(memory.Options{})
	const n = 30
	big := strings.Repeat("x", 100<<10)
	seeded := f.crm.Seed(crmCompanies, n, func(i int) map[string]any {
		return map[string]any{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%d.com", i), "notes": big}
	})

	var (
		read   []string
		cursor connectors.Cursor
		pages  int
	)
	for {
		pages++
		require.LessOrEqual(t, pages, n, "paging does not end")
		got, err := f.acts.FetchChanges(context.Background(), FetchChangesInput{Ref: Ref{Sync: "companies"}, Side: SideA, Cursor: cursor, Limit: 50})
		require.NoError(t, err)
		require.NotEmpty(t, got.Records, "a page after a cursor with records behind it must make progress")
		require.Len(t, got.Keys, len(got.Records))

		encoded, err := json.Marshal(got)
		require.NoError(t, err)
		assert.Less(t, len(encoded), 2<<20, "page %d is over Temporal's 2 MB payload limit", pages)
		if pages == 1 {
			assert.Less(t, len(got.Records), n, "the first page must be cut short")
			assert.True(t, got.More, "a page cut short must say there is more")
		}

		read = append(read, idsOf(got.Records)...)
		cursor = connectors.CursorOf(got.Records[len(got.Records)-1])
		if !got.More {
			break
		}
	}
	assert.Equal(t, idsOf(seeded), read, "every record is read once, in order")
	assert.Greater(t, pages, 1)
}

func TestGetRecords(t *testing.T) {
	f := newFixture(memory.Options{})
	seeded := seedCompanies(f, 3)

	// Asked for out of order, with an id that does not exist.
	got, err := f.acts.GetRecords(context.Background(), GetRecordsInput{
		Ref: Ref{Sync: "companies"}, Side: SideA, IDs: []string{seeded[2].ID, "crm-missing", seeded[0].ID},
	})
	require.NoError(t, err)

	assert.Equal(t, []string{seeded[0].ID, seeded[2].ID}, idsOf(got.Records), "records come back in change order; missing ids are left out")
	assert.Equal(t, []string{"company0.com", "company2.com"}, got.Keys)
	for _, r := range got.Records {
		assert.NotContains(t, r.Fields, "industry", "unmapped fields are not returned")
		assert.Contains(t, r.Fields, "name")
	}
}

func TestFindByIdentifier(t *testing.T) {
	f := newFixture(memory.Options{})
	acme := f.erp.Put(erpAccounts, connectors.Record{Fields: map[string]any{"company_name": "Acme", "website": "acme.com", "industry": "Software"}})
	dup1 := f.erp.Put(erpAccounts, connectors.Record{Fields: map[string]any{"company_name": "Dup 1", "website": "dup.com"}})
	dup2 := f.erp.Put(erpAccounts, connectors.Record{Fields: map[string]any{"company_name": "Dup 2", "website": "dup.com"}})

	got, err := f.acts.FindByIdentifier(context.Background(), FindByIdentifierInput{
		Ref: Ref{Sync: "companies"}, Side: SideB, Values: []string{"acme.com", "dup.com", "nobody.com"},
	})
	require.NoError(t, err)

	require.Len(t, got.Matches["acme.com"], 1)
	assert.Equal(t, acme.ID, got.Matches["acme.com"][0].ID)
	assert.Equal(t, map[string]any{"company_name": "Acme", "website": "acme.com"}, got.Matches["acme.com"][0].Fields,
		"only mapped fields are returned")
	assert.ElementsMatch(t, []string{dup1.ID, dup2.ID}, idsOf(got.Matches["dup.com"]), "a key held twice returns both")
	assert.NotContains(t, got.Matches, "nobody.com")
	assert.Equal(t, 1, f.erp.Calls()[memory.MethodFind], "one lookup for the whole batch")
}

func TestFindByIdentifierWithNoValuesCallsNothing(t *testing.T) {
	f := newFixture(memory.Options{})

	got, err := f.acts.FindByIdentifier(context.Background(), FindByIdentifierInput{Ref: Ref{Sync: "companies"}, Side: SideB})
	require.NoError(t, err)

	assert.NotNil(t, got.Matches)
	assert.Empty(t, got.Matches)
	assert.Zero(t, f.erp.Calls()[memory.MethodFind])
}

func TestReadsRefuseUnknownSyncSideOrConnection(t *testing.T) {
	f := newFixture(memory.Options{})
	noERP := &Activities{Syncs: testSyncs(), Connections: map[string]connectors.Connector{"crm": f.crm}}
	ctx := context.Background()

	for _, tc := range []struct {
		name    string
		call    func() error
		wantMsg []string
	}{
		{
			name: "fetch from an unknown sync",
			call: func() error {
				_, err := f.acts.FetchChanges(ctx, FetchChangesInput{Ref: Ref{Sync: "nope"}, Side: SideA, Limit: 10})
				return err
			},
			wantMsg: []string{`"nope"`, "test.yaml", "companies", "by-id", "contacts"},
		},
		{
			name: "get from an unknown sync",
			call: func() error {
				_, err := f.acts.GetRecords(ctx, GetRecordsInput{Ref: Ref{Sync: "nope"}, Side: SideA, IDs: []string{"x"}})
				return err
			},
			wantMsg: []string{`"nope"`, "companies", "by-id", "contacts"},
		},
		{
			name: "find on an unknown sync",
			call: func() error {
				_, err := f.acts.FindByIdentifier(ctx, FindByIdentifierInput{Ref: Ref{Sync: "nope"}, Side: SideB, Values: []string{"x"}})
				return err
			},
			wantMsg: []string{`"nope"`, "companies", "by-id", "contacts"},
		},
		{
			name: "fetch from an unknown side",
			call: func() error {
				_, err := f.acts.FetchChanges(ctx, FetchChangesInput{Ref: Ref{Sync: "companies"}, Side: "c", Limit: 10})
				return err
			},
			wantMsg: []string{`"companies"`, `"c"`, "a or b"},
		},
		{
			name: "upsert to an unknown side",
			call: func() error {
				_, err := f.acts.Upsert(ctx, UpsertInput{Ref: Ref{Sync: "companies"}, Side: "B"})
				return err
			},
			wantMsg: []string{`"companies"`, `"B"`, "a or b"},
		},
		{
			name: "fetch through a connection this worker has not opened",
			call: func() error {
				_, err := noERP.FetchChanges(ctx, FetchChangesInput{Ref: Ref{Sync: "companies"}, Side: SideB, Limit: 10})
				return err
			},
			wantMsg: []string{`"companies"`, `"erp"`, "not open"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			appErr := appError(t, tc.call())
			assert.True(t, appErr.NonRetryable(), "no retry can fix a definition mistake")
			want := ErrTypeConfig
			if strings.Contains(tc.name, "unknown sync") {
				want = ErrUnknownSync
			}
			assert.Equal(t, want, appErr.Type())
			for _, w := range tc.wantMsg {
				assert.Contains(t, appErr.Message(), w)
			}
		})
	}
	assert.Zero(t, f.crm.Calls()[memory.MethodChanges]+f.erp.Calls()[memory.MethodChanges], "nothing is read")
}

func TestReadErrorsAreClassified(t *testing.T) {
	f := newFixture(memory.Options{})
	f.crm.FailNext(memory.MethodChanges, 1, &connectors.AuthError{Reason: "token revoked"})

	_, err := f.acts.FetchChanges(context.Background(), FetchChangesInput{Ref: Ref{Sync: "companies"}, Side: SideA, Limit: 10})

	appErr := appError(t, err)
	assert.True(t, appErr.NonRetryable())
	assert.Equal(t, ErrTypeAuth, appErr.Type())
	assert.Contains(t, appErr.Message(), "crm companies")
	assert.Contains(t, appErr.Message(), "token revoked")
}

// GetRecords shares FetchChanges' 1 MiB cap: the records past it are named in Rest, to be
// asked for again, never dropped.
func TestGetRecordsDoesNotSilentlyDropLargeRecords(t *testing.T) {
	f := newFixture(memory.Options{})
	big := strings.Repeat("x", 100<<10)
	seeded := f.crm.Seed(crmCompanies, 30, func(i int) map[string]any {
		return map[string]any{"name": fmt.Sprintf("Company %d", i), "domain": fmt.Sprintf("c%d.com", i), "notes": big}
	})

	got, err := f.acts.GetRecords(context.Background(), GetRecordsInput{Ref: Ref{Sync: "companies"}, Side: SideA, IDs: idsOf(seeded)})
	require.NoError(t, err)

	require.Less(t, len(got.Records), len(seeded), "the cap applies")
	assert.True(t, got.More, "returned %d of %d records without saying more remain", len(got.Records), len(seeded))
	var all []string
	for _, r := range got.Records {
		all = append(all, r.ID)
	}
	all = append(all, got.Rest...)
	assert.ElementsMatch(t, idsOf(seeded), all, "every id is either returned or named in Rest")
}

// unordered is a connector whose Changes ignores the cursor, as the sql connector did on a
// SQLite column of ISO text with a 'T' (compared as text, every row is "after" the cursor).
type unordered struct{ *memory.Connector }

func (u unordered) Changes(ctx context.Context, object string, _ connectors.Cursor, limit int) (connectors.Page, error) {
	return u.Connector.Changes(ctx, object, connectors.Cursor{}, limit)
}

func TestFetchChangesRefusesAPageNotAfterTheCursor(t *testing.T) {
	f := newFixture(memory.Options{})
	seeded := seedCompanies(f, 3)
	f.acts.Connections["crm"] = unordered{f.crm}
	cursor := connectors.CursorOf(seeded[1])
	_, err := f.acts.FetchChanges(context.Background(), FetchChangesInput{Ref: Ref{Sync: "companies"}, Side: SideA, Cursor: cursor, Limit: 10})
	app := appError(t, err)
	assert.True(t, app.NonRetryable(), "reading it again cannot help")
	assert.Contains(t, app.Error(), "crm companies returned record "+seeded[0].ID)
	assert.Contains(t, app.Error(), "after cursor "+cursor.String())
	assert.Contains(t, app.Error(), "strictly after the cursor")
}

// asOfPages serves its memory connector's pages as from an earlier read, made at asOf.
type asOfPages struct {
	*memory.Connector
	asOf time.Time
}

func (c asOfPages) Changes(ctx context.Context, object string, since connectors.Cursor, limit int) (connectors.Page, error) {
	p, err := c.Connector.Changes(ctx, object, since, limit)
	p.AsOf = c.asOf
	return p, err
}

// TestFetchChangesTakesAPageAsOfItsRead: a page served from an earlier read (HubSpot's
// first-run list) carries that read's time as Before, so a record Tandem wrote after it is
// not taken for a change (FindPartnersInput.Before).
func TestFetchChangesTakesAPageAsOfItsRead(t *testing.T) {
	f := newFixture(memory.Options{})
	seedCompanies(f, 3)
	asOf := time.Now().Add(-time.Minute)
	f.acts.Connections["crm"] = asOfPages{Connector: f.crm, asOf: asOf}

	got, err := f.acts.FetchChanges(context.Background(), FetchChangesInput{Ref: Ref{Sync: "companies"}, Side: SideA, Limit: 10})
	require.NoError(t, err)
	require.Len(t, got.Records, 3)
	assert.True(t, got.Before.Equal(asOf), "Before %s, want the read's time %s", got.Before, asOf)

	f.acts.Connections["crm"] = f.crm // as of the call: no Before without a lag
	got, err = f.acts.FetchChanges(context.Background(), FetchChangesInput{Ref: Ref{Sync: "companies"}, Side: SideA, Limit: 10})
	require.NoError(t, err)
	assert.True(t, got.Before.IsZero())
}
