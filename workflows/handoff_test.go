package workflows

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// A handoff merges what came in into one change signal per side, delivers it, delivers
// again what comes in while it lingers, and ends once nothing has come for the linger.
func TestHandoffMergesBySideAndLingers(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	var mu sync.Mutex
	var delivered []DeliverChangeInput
	env.RegisterWorkflowWithOptions(HandoffWorkflow, workflow.RegisterOptions{Name: HandoffWorkflowType})
	env.RegisterActivityWithOptions(func(_ context.Context, in DeliverChangeInput) error {
		mu.Lock()
		defer mu.Unlock()
		delivered = append(delivered, in)
		return nil
	}, activity.RegisterOptions{Name: ActivityDeliverChange})

	ev := func(id string) ChangeEvent { return ChangeEvent{ID: id, RecordID: "r-" + id} }
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalChange, ChangeSignal{Side: "a", Events: []ChangeEvent{ev("1")}})
		env.SignalWorkflow(SignalChange, ChangeSignal{Side: "b", Events: []ChangeEvent{ev("2")}})
		env.SignalWorkflow(SignalChange, ChangeSignal{Side: "a", Events: []ChangeEvent{ev("3"), ev("4")}})
	}, 0)
	// During the linger: delivered, and the linger starts again.
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(SignalChange, ChangeSignal{Side: "a", Events: []ChangeEvent{ev("5")}})
	}, handoffLinger/2)
	begin := env.Now()
	env.ExecuteWorkflow(HandoffWorkflowType, HandoffInput{Sync: "companies"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, []DeliverChangeInput{
		{Sync: "companies", Signal: ChangeSignal{Side: "a", Events: []ChangeEvent{ev("1"), ev("3"), ev("4")}}},
		{Sync: "companies", Signal: ChangeSignal{Side: "b", Events: []ChangeEvent{ev("2")}}},
		{Sync: "companies", Signal: ChangeSignal{Side: "a", Events: []ChangeEvent{ev("5")}}},
	}, delivered)
	// It ended a linger after the last signal, not before.
	require.GreaterOrEqual(t, env.Now().Sub(begin), handoffLinger/2+handoffLinger)
}
