package activities

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"tandem/connectors"
	"tandem/connectors/memory"
)

// createOp asks for an erp account with the given website.
func createOp(website, name string) WriteOp {
	return WriteOp{
		Action: ActionCreate, SourceID: "crm-" + website, Key: website,
		Fields: Payload{"website": website, "company_name": name},
	}
}

// updateOp asks to change an existing erp account.
func updateOp(target connectors.Record, fields Payload) WriteOp {
	key := connectors.KeyString(target.Fields["website"])
	return WriteOp{Action: ActionUpdate, SourceID: "crm-" + key, Key: key, TargetID: target.ID, Fields: fields}
}

// putAccount stores an erp account.
func putAccount(f *fixture, website, name string) connectors.Record {
	return f.erp.Put(erpAccounts, connectors.Record{Fields: map[string]any{"website": website, "company_name": name}})
}

func upsert(t *testing.T, f *fixture, ops ...WriteOp) Written {
	t.Helper()
	w, err := f.acts.Upsert(context.Background(), UpsertInput{Ref: Ref{Sync: "companies"}, Side: SideB, Ops: ops})
	require.NoError(t, err)
	require.Len(t, w.Results, len(ops), "one result per op")
	return w
}

func TestUpsertCreatesAndUpdatesWithResultsInOpOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts memory.Options
	}{
		{"native upsert", memory.Options{}},
		{"no native upsert", memory.Options{NoNativeUpsert: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(tc.opts)
			initech := putAccount(f, "initech.com", "Initech")
			hooli := putAccount(f, "hooli.com", "Hooli")

			w := upsert(t, f,
				createOp("acme.com", "Acme"),
				updateOp(initech, Payload{"company_name": "Initech LLC"}),
				createOp("globex.com", "Globex"),
				updateOp(hooli, Payload{"company_name": "Hooli XYZ"}),
			)

			stored := byField(f.erp.All(erpAccounts), "website")
			require.Len(t, f.erp.All(erpAccounts), 4)
			assert.Equal(t, []OpResult{
				{Action: ActionCreate, TargetID: stored["acme.com"][0].ID},
				{Action: ActionUpdate, TargetID: initech.ID},
				{Action: ActionCreate, TargetID: stored["globex.com"][0].ID},
				{Action: ActionUpdate, TargetID: hooli.ID},
			}, w.Results)
			assert.Equal(t, "Acme", stored["acme.com"][0].Fields["company_name"])
			assert.Equal(t, "Initech LLC", stored["initech.com"][0].Fields["company_name"])
			assert.Equal(t, "Globex", stored["globex.com"][0].Fields["company_name"])
			assert.Equal(t, "Hooli XYZ", stored["hooli.com"][0].Fields["company_name"])
		})
	}
}

func TestUpsertCreatePath(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      memory.Options
		wantCalls map[string]int
	}{
		{
			name:      "native upsert creates through Upsert",
			opts:      memory.Options{},
			wantCalls: map[string]int{memory.MethodUpsert: 1},
		},
		{
			name:      "without native upsert creates go through Create",
			opts:      memory.Options{NoNativeUpsert: true},
			wantCalls: map[string]int{memory.MethodCreate: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(tc.opts)

			w := upsert(t, f, createOp("acme.com", "Acme"), createOp("globex.com", "Globex"))

			assert.Equal(t, tc.wantCalls, f.erp.Calls())
			assert.Equal(t, 2, f.erp.Len(erpAccounts))
			for _, r := range w.Results {
				assert.Equal(t, ActionCreate, r.Action)
				assert.NotEmpty(t, r.TargetID)
			}
		})
	}
}

func TestUpsertSplitsBatchesByMaxBatch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      memory.Options
		creates   int
		updates   int
		wantCalls map[string]int
	}{
		{"10 creates by 3", memory.Options{MaxBatch: 3}, 10, 0, map[string]int{memory.MethodUpsert: 4}},
		{"10 creates by 3 without native upsert", memory.Options{MaxBatch: 3, NoNativeUpsert: true}, 10, 0, map[string]int{memory.MethodCreate: 4}},
		{"5 creates and 5 updates by 3", memory.Options{MaxBatch: 3}, 5, 5, map[string]int{memory.MethodUpsert: 2, memory.MethodUpdate: 2}},
		{"exactly one full batch", memory.Options{MaxBatch: 10}, 10, 0, map[string]int{memory.MethodUpsert: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(tc.opts)
			var ops []WriteOp
			for i := range tc.updates {
				r := putAccount(f, fmt.Sprintf("old%d.com", i), "Old")
				ops = append(ops, updateOp(r, Payload{"company_name": fmt.Sprintf("Renamed %d", i)}))
			}
			for i := range tc.creates {
				ops = append(ops, createOp(fmt.Sprintf("new%d.com", i), fmt.Sprintf("New %d", i)))
			}

			w := upsert(t, f, ops...)

			assert.Equal(t, tc.wantCalls, f.erp.Calls())
			assert.Equal(t, tc.creates+tc.updates, f.erp.Writes(), "every record is written once")
			assert.Equal(t, tc.creates+tc.updates, f.erp.Len(erpAccounts))
			for i, r := range w.Results {
				assert.NotEqual(t, ActionFail, r.Action, "op %d: %s", i, r.Reason)
			}
		})
	}
}

func TestUpsertReportsRejectedRecordsAndWritesTheRest(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts memory.Options
	}{
		{"native upsert", memory.Options{}},
		{"no native upsert", memory.Options{NoNativeUpsert: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(tc.opts)
			initech := putAccount(f, "initech.com", "Initech")
			f.erp.RejectRecords(func(r connectors.Record) string {
				if name, _ := r.Fields["company_name"].(string); name == "" {
					return "company name is required"
				}
				return ""
			})

			w := upsert(t, f,
				createOp("acme.com", "Acme"),
				createOp("blank.com", ""),
				updateOp(initech, Payload{"company_name": ""}),
				createOp("globex.com", "Globex"),
			)

			assert.Equal(t, ActionCreate, w.Results[0].Action)
			assert.Equal(t, OpResult{Action: ActionFail, Reason: "company name is required"}, w.Results[1])
			assert.Equal(t, OpResult{Action: ActionFail, Reason: "company name is required"}, w.Results[2])
			assert.Equal(t, ActionCreate, w.Results[3].Action)

			stored := byField(f.erp.All(erpAccounts), "website")
			assert.Len(t, stored["acme.com"], 1)
			assert.Len(t, stored["globex.com"], 1)
			assert.NotContains(t, stored, "blank.com", "a rejected create is not written")
			assert.Equal(t, "Initech", stored["initech.com"][0].Fields["company_name"], "a rejected update changes nothing")
		})
	}
}

func TestUpsertReportsUpdateOfAVanishedRecord(t *testing.T) {
	f := newFixture(memory.Options{})
	gone := putAccount(f, "gone.com", "Gone")
	f.erp.Remove(erpAccounts, gone.ID)

	w := upsert(t, f, updateOp(gone, Payload{"company_name": "Gone 2"}), createOp("acme.com", "Acme"))

	assert.Equal(t, ActionFail, w.Results[0].Action)
	assert.Contains(t, w.Results[0].Reason, gone.ID)
	assert.Contains(t, w.Results[0].Reason, "not found")
	assert.Equal(t, ActionCreate, w.Results[1].Action)
}

func TestUpsertWholeCallFailure(t *testing.T) {
	transport := errors.New("read tcp: connection reset by peer")
	for _, tc := range []struct {
		name         string
		method       string
		err          error
		ops          func(f *fixture) []WriteOp
		wantType     string // "" for a retryable non-application error
		nonRetryable bool
		wantMsg      []string
	}{
		{
			name:   "auth failure on update",
			method: memory.MethodUpdate,
			err:    &connectors.AuthError{Reason: "token expired"},
			ops: func(f *fixture) []WriteOp {
				return []WriteOp{updateOp(putAccount(f, "initech.com", "Initech"), Payload{"company_name": "Initech LLC"})}
			},
			wantType:     ErrTypeAuth,
			nonRetryable: true,
			wantMsg:      []string{"update 1 records in erp accounts", "token expired"},
		},
		{
			name:   "rate limit on create",
			method: memory.MethodUpsert,
			err:    &connectors.RateLimitedError{Reason: "quota", RetryAfter: 30 * time.Second},
			ops: func(*fixture) []WriteOp {
				return []WriteOp{createOp("acme.com", "Acme")}
			},
			wantType: ErrTypeRateLimited,
			wantMsg:  []string{"create 1 records in erp accounts", "quota"},
		},
		{
			name:   "transport failure on create",
			method: memory.MethodUpsert,
			err:    transport,
			ops: func(*fixture) []WriteOp {
				return []WriteOp{createOp("acme.com", "Acme")}
			},
			wantMsg: []string{"create 1 records in erp accounts", "connection reset"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(memory.Options{})
			ops := tc.ops(f)
			f.erp.FailNext(tc.method, 1, tc.err)

			w, err := f.acts.Upsert(context.Background(), UpsertInput{Ref: Ref{Sync: "companies"}, Side: SideB, Ops: ops})

			require.Error(t, err)
			assert.Empty(t, w.Results)
			assert.ErrorIs(t, err, tc.err)
			for _, m := range tc.wantMsg {
				assert.Contains(t, err.Error(), m)
			}
			var appErr *temporal.ApplicationError
			if tc.wantType == "" {
				if errors.As(err, &appErr) {
					assert.False(t, appErr.NonRetryable(), "a transport error is retried")
				}
				return
			}
			appErr = appError(t, err)
			assert.Equal(t, tc.wantType, appErr.Type())
			assert.Equal(t, tc.nonRetryable, appErr.NonRetryable())
		})
	}
}

func TestUpsertRefusesUnknownAction(t *testing.T) {
	f := newFixture(memory.Options{})

	_, err := f.acts.Upsert(context.Background(), UpsertInput{Ref: Ref{Sync: "companies"}, Side: SideB, Ops: []WriteOp{
		createOp("acme.com", "Acme"),
		{Action: "delete", Key: "globex.com"},
	}})

	appErr := appError(t, err)
	assert.True(t, appErr.NonRetryable())
	assert.Contains(t, appErr.Message(), `"delete"`)
	assert.Zero(t, f.erp.Len(erpAccounts), "nothing of the batch is written")
}
