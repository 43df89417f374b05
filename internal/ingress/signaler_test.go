package ingress_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"tandem/internal/ingress"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// The Temporal signaler starts a sync's workflow that is not running (SignalWithStart,
// with the sync's usual start options) and signals one that is; each request is one
// signal in the sync's history.
func TestTemporalSignaler(t *testing.T) {
	c := testenv.ClientWith(t, nil) // no worker: the signals stay in the history as sent
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	signaler := ingress.NewTemporalSignaler(c, "")
	first := workflows.ChangeSignal{Side: "b", Events: []workflows.ChangeEvent{{ID: "msg_1", RecordID: "r1", Kind: "updated"}}}
	second := workflows.ChangeSignal{Side: "a", Events: []workflows.ChangeEvent{{ID: "msg_2", RecordID: "r2"}}}
	for _, sig := range []workflows.ChangeSignal{first, second} {
		d, err := signaler.SignalChange(ctx, "companies", sig)
		require.NoError(t, err)
		assert.Equal(t, ingress.Signalled, d)
	}

	desc, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID("companies"), "")
	require.NoError(t, err)
	assert.Equal(t, "SyncWorkflow", desc.GetWorkflowExecutionInfo().GetType().GetName())
	assert.Equal(t, workflows.TaskQueue, desc.GetWorkflowExecutionInfo().GetTaskQueue())
	var got []workflows.ChangeSignal
	iter := c.GetWorkflowHistory(ctx, workflows.WorkflowID("companies"), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		e, err := iter.Next()
		require.NoError(t, err)
		if a := e.GetWorkflowExecutionSignaledEventAttributes(); a != nil {
			assert.Equal(t, workflows.SignalChange, a.GetSignalName())
			var sig workflows.ChangeSignal
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &sig))
			got = append(got, sig)
		}
	}
	assert.Equal(t, []workflows.ChangeSignal{first, second}, got)
}

// A signal Temporal cannot take (the server unreachable) fails once the context ends,
// with an error naming the sync that the ingress answers 503 for.
func TestTemporalSignalerUnavailable(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = ingress.NewTemporalSignaler(c, "").SignalChange(ctx, "other", workflows.ChangeSignal{Side: "a"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `signal change to sync "other": `)
	assert.True(t, ingress.Unavailable(err), "%v", err)
}
