package activities

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"tandem/connectors"
	"tandem/connectors/memory"
)

// upsertWorkflow runs the real Upsert activity with a retry policy, so a test sees what a
// retried attempt (activity.GetInfo(ctx).Attempt > 1) does. TestActivityEnvironment
// cannot run an activity as a retry; the workflow environment retries it for real.
func upsertWorkflow(ctx workflow.Context, in UpsertInput) (Written, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
	})
	var acts *Activities
	var out Written
	err := workflow.ExecuteActivity(ctx, acts.Upsert, in).Get(ctx, &out)
	return out, err
}

// A create that times out after the service wrote must not create twice when retried.
func TestUpsertRetriedAfterAWriteDoesNotDuplicate(t *testing.T) {
	timeout := errors.New("read tcp 10.0.0.7:443: i/o timeout")
	for _, tc := range []struct {
		name string
		opts memory.Options
		// fail injects the failure of the first attempt.
		fail       func(c *memory.Connector)
		wantAction string
		wantCalls  map[string]int
	}{
		{
			name:       "no native upsert: the retry finds the created records and updates them",
			opts:       memory.Options{NoNativeUpsert: true},
			fail:       func(c *memory.Connector) { c.FailAfter(memory.MethodCreate, 1, timeout) },
			wantAction: ActionUpdate,
			wantCalls:  map[string]int{memory.MethodCreate: 1, memory.MethodFind: 1, memory.MethodUpdate: 1},
		},
		{
			name:       "native upsert: the retry upserts onto the created records",
			opts:       memory.Options{},
			fail:       func(c *memory.Connector) { c.FailAfter(memory.MethodUpsert, 1, timeout) },
			wantAction: ActionUpdate,
			wantCalls:  map[string]int{memory.MethodUpsert: 2},
		},
		{
			name:       "no native upsert: a first attempt that wrote nothing creates on the retry",
			opts:       memory.Options{NoNativeUpsert: true},
			fail:       func(c *memory.Connector) { c.FailNext(memory.MethodCreate, 1, timeout) },
			wantAction: ActionCreate,
			wantCalls:  map[string]int{memory.MethodCreate: 2, memory.MethodFind: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(tc.opts)
			tc.fail(f.erp)
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(upsertWorkflow)
			env.RegisterActivity(f.acts)
			ops := []WriteOp{createOp("acme.com", "Acme"), createOp("globex.com", "Globex"), createOp("initech.com", "Initech")}

			env.ExecuteWorkflow(upsertWorkflow, UpsertInput{Ref: Ref{Sync: "companies"}, Side: SideB, Ops: ops})

			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())
			var w Written
			require.NoError(t, env.GetWorkflowResult(&w))

			stored := byField(f.erp.All(erpAccounts), "website")
			require.Len(t, f.erp.All(erpAccounts), len(ops), "exactly one record per key")
			require.Len(t, w.Results, len(ops))
			for i, op := range ops {
				require.Len(t, stored[op.Key], 1, "records with key %s", op.Key)
				assert.Equal(t, OpResult{Action: tc.wantAction, TargetID: stored[op.Key][0].ID}, w.Results[i], "op %d (%s)", i, op.Key)
				assert.Equal(t, op.Fields["company_name"], stored[op.Key][0].Fields["company_name"])
			}
			assert.Equal(t, tc.wantCalls, f.erp.Calls())
		})
	}
}

// A batch of creates and updates whose updates fail after the creates were written: the
// retry turns the written creates into updates and still applies the updates.
func TestUpsertRetriedAfterPartialBatch(t *testing.T) {
	f := newFixture(memory.Options{NoNativeUpsert: true})
	initech := putAccount(f, "initech.com", "Initech")
	f.erp.FailNext(memory.MethodUpdate, 1, errors.New("503 Service Unavailable"))
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(upsertWorkflow)
	env.RegisterActivity(f.acts)
	ops := []WriteOp{
		updateOp(initech, Payload{"company_name": "Initech LLC"}),
		createOp("acme.com", "Acme"),
	}

	env.ExecuteWorkflow(upsertWorkflow, UpsertInput{Ref: Ref{Sync: "companies"}, Side: SideB, Ops: ops})

	require.NoError(t, env.GetWorkflowError())
	var w Written
	require.NoError(t, env.GetWorkflowResult(&w))
	stored := byField(f.erp.All(erpAccounts), "website")
	require.Len(t, stored["acme.com"], 1, "the create is not repeated")
	assert.Equal(t, "Initech LLC", stored["initech.com"][0].Fields["company_name"])
	assert.Equal(t, []OpResult{
		{Action: ActionUpdate, TargetID: initech.ID},
		{Action: ActionUpdate, TargetID: stored["acme.com"][0].ID},
	}, w.Results)
}

// A non-retryable failure is not retried: one attempt, and the workflow sees its type.
func TestUpsertAuthFailureIsNotRetried(t *testing.T) {
	f := newFixture(memory.Options{})
	initech := putAccount(f, "initech.com", "Initech")
	f.erp.FailNext(memory.MethodUpdate, 2, &connectors.AuthError{Reason: "token expired"})
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(upsertWorkflow)
	env.RegisterActivity(f.acts)

	env.ExecuteWorkflow(upsertWorkflow, UpsertInput{Ref: Ref{Sync: "companies"}, Side: SideB, Ops: []WriteOp{
		updateOp(initech, Payload{"company_name": "Initech LLC"}),
	}})

	err := env.GetWorkflowError()
	appErr := appError(t, err)
	assert.Equal(t, ErrTypeAuth, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	assert.Equal(t, 1, f.erp.Calls()[memory.MethodUpdate], "no retry")
}
