package activities

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/internal/config"
)

// Objects of the test syncs.
const (
	crmCompanies = "companies" // side a of "companies"
	erpAccounts  = "accounts"  // side b of "companies"
	crmAccounts  = "accounts"  // side a of "by-id"
	erpCustomers = "customers" // side b of "by-id"
	crmContacts  = "contacts"  // side a of "contacts"
	erpPeople    = "people"    // side b of "contacts"
)

// testSyncs are the sync definitions the tests run. Field names differ on the two sides
// of "companies" so a value written under the wrong side's name shows.
func testSyncs() *config.File {
	return &config.File{
		Path: "test.yaml",
		Syncs: []config.Sync{
			{
				Name: "companies",
				Mode: config.OneWay,
				A:    config.Side{Connection: "crm", Object: crmCompanies, Key: "domain"},
				B:    config.Side{Connection: "erp", Object: erpAccounts, Key: "website"},
				Fields: []config.Field{
					{A: "name", B: "company_name", Normalize: []string{"trim"}, Direction: config.Both},
					{A: "domain", B: "website", Normalize: []string{"domain"}, Direction: config.Both},
					{A: "email", B: "billing_email", Normalize: []string{"email"}, Direction: config.Both},
					{A: "employees", B: "headcount", Direction: config.Both},
					{A: "notes", B: "memo", Direction: config.Both},
				},
				PageSize: 50,
			},
			{
				// Keyed on the source's own id, kept in a field of the target that is not
				// otherwise mapped.
				Name:     "by-id",
				Mode:     config.OneWay,
				A:        config.Side{Connection: "crm", Object: crmAccounts, Key: "id"},
				B:        config.Side{Connection: "erp", Object: erpCustomers, Key: "ext_id"},
				Fields:   []config.Field{{A: "name", B: "name", Direction: config.Both}},
				PageSize: 50,
			},
			{
				Name: "contacts",
				Mode: config.TwoWay,
				A:    config.Side{Connection: "crm", Object: crmContacts, Key: "email"},
				B:    config.Side{Connection: "erp", Object: erpPeople, Key: "email"},
				Fields: []config.Field{
					{A: "email", B: "email", Normalize: []string{"email"}, Direction: config.Both},
					{A: "name", B: "full_name", Direction: config.Both},
					{A: "phone", B: "phone", Direction: config.AToB},
					{A: "status", B: "status", Direction: config.BToA},
				},
				Conflict: config.NewestWins,
				PageSize: 50,
			},
		},
	}
}

var t0 = time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)

// ticker is a fake clock: each reading is one second after the previous one, so every
// write gets its own UpdatedAt and pages come back in a known order.
type ticker struct {
	mu sync.Mutex
	t  time.Time
}

func (c *ticker) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// fixture is an *Activities over two memory services: crm (side a) and erp (side b).
type fixture struct {
	acts *Activities
	crm  *memory.Connector
	erp  *memory.Connector
}

// newFixture opens crm with default options and erp with erpOpts.
func newFixture(erpOpts memory.Options) *fixture {
	clock := &ticker{t: t0}
	erpOpts.Now = clock.Now
	if erpOpts.IDPrefix == "" {
		erpOpts.IDPrefix = "erp-"
	}
	f := &fixture{
		crm: memory.New(memory.Options{Now: clock.Now, IDPrefix: "crm-"}),
		erp: memory.New(erpOpts),
	}
	f.acts = &Activities{
		Syncs:       testSyncs(),
		Connections: map[string]connectors.Connector{"crm": f.crm, "erp": f.erp},
	}
	return f
}

// rec builds a record with the given id and fields.
func rec(id string, fields map[string]any) connectors.Record {
	return connectors.Record{ID: id, UpdatedAt: t0, Fields: fields}
}

// plan runs a batch of source records through BuildPayloads and Compare, as the
// workflow does.
func plan(t *testing.T, acts *Activities, sync, from string, source Records, matches map[string][]connectors.Record) Plan {
	t.Helper()
	ctx := context.Background()
	items, err := acts.BuildPayloads(ctx, BuildPayloadsInput{Ref: Ref{Sync: sync}, From: from, Source: source, Matches: matches})
	require.NoError(t, err)
	d, err := acts.Compare(ctx, CompareInput{Ref: Ref{Sync: sync}, From: from, Items: items.Items})
	require.NoError(t, err)
	return d.Plan(from, items.Items)
}

// appError returns err as an *temporal.ApplicationError, failing the test if it is not one.
func appError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "want a *temporal.ApplicationError, got %T: %v", err, err)
	return appErr
}

// byField indexes records by the string value of a field.
func byField(recs []connectors.Record, field string) map[string][]connectors.Record {
	out := map[string][]connectors.Record{}
	for _, r := range recs {
		k := connectors.KeyString(r.Fields[field])
		out[k] = append(out[k], r)
	}
	return out
}
