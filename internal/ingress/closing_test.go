package ingress_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commandpb "go.temporal.io/api/command/v1"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"tandem/connectors/memory"
	"tandem/internal/ingress"
	"tandem/internal/replay"
	"tandem/internal/testenv"
	"tandem/workflows"
)

// closingSync drives a sync's execution by hand into the state in which the server refuses
// its signals: its workflow task tried to continue as new while a signal arrived (the task
// fails, UnhandledCommand), and the task that retries the close has started. A worker
// retrying that close replays the whole execution first, which takes hundreds of
// milliseconds for a webhook stream's execution; the server refuses every signal
// meanwhile (ResourceExhausted, BUSY_WORKFLOW, "workflow is closing").
type closingSync struct {
	t    *testing.T
	c    client.Client
	sync string
	// token is the started task retrying the close.
	token []byte
}

func newClosingSync(t *testing.T, c client.Client, sync string) *closingSync {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := &closingSync{t: t, c: c, sync: sync}
	_, err := c.ExecuteWorkflow(ctx, workflows.StartOptions(sync), workflows.SyncWorkflow, workflows.SyncInput{Sync: sync})
	require.NoError(t, err)
	first := cs.poll(ctx)
	cs.signal(ctx, workflows.ChangeSignal{Side: "a", Events: []workflows.ChangeEvent{{ID: "during-close", RecordID: "s-1"}}})
	_, err = c.WorkflowService().RespondWorkflowTaskCompleted(ctx, &workflowservice.RespondWorkflowTaskCompletedRequest{
		Namespace: "default", TaskToken: first.GetTaskToken(), Identity: "closing-test",
		Commands: []*commandpb.Command{cs.continueAsNew()},
	})
	var invalid *serviceerror.InvalidArgument
	require.ErrorAs(t, err, &invalid, "the close should fail on the signal that arrived during its task")
	cs.token = cs.poll(ctx).GetTaskToken()
	return cs
}

func (cs *closingSync) poll(ctx context.Context) *workflowservice.PollWorkflowTaskQueueResponse {
	cs.t.Helper()
	for {
		task, err := cs.c.WorkflowService().PollWorkflowTaskQueue(ctx, &workflowservice.PollWorkflowTaskQueueRequest{
			Namespace: "default", Identity: "closing-test",
			TaskQueue: &taskqueuepb.TaskQueue{Name: workflows.TaskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		})
		require.NoError(cs.t, err)
		if len(task.GetTaskToken()) > 0 {
			require.Equal(cs.t, workflows.WorkflowID(cs.sync), task.GetWorkflowExecution().GetWorkflowId())
			return task
		}
	}
}

func (cs *closingSync) signal(ctx context.Context, sig workflows.ChangeSignal) error {
	input, err := converter.GetDefaultDataConverter().ToPayloads(sig)
	require.NoError(cs.t, err)
	_, err = cs.c.WorkflowService().SignalWorkflowExecution(ctx, &workflowservice.SignalWorkflowExecutionRequest{
		Namespace: "default", WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: workflows.WorkflowID(cs.sync)},
		SignalName: workflows.SignalChange, Input: input, Identity: "closing-test",
	})
	return err
}

func (cs *closingSync) continueAsNew() *commandpb.Command {
	input, err := converter.GetDefaultDataConverter().ToPayloads(workflows.SyncInput{Sync: cs.sync})
	require.NoError(cs.t, err)
	return &commandpb.Command{
		CommandType: enumspb.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
		Attributes: &commandpb.Command_ContinueAsNewWorkflowExecutionCommandAttributes{
			ContinueAsNewWorkflowExecutionCommandAttributes: &commandpb.ContinueAsNewWorkflowExecutionCommandAttributes{
				WorkflowType: &commonpb.WorkflowType{Name: "SyncWorkflow"},
				TaskQueue:    &taskqueuepb.TaskQueue{Name: workflows.TaskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
				Input:        input,
			},
		},
	}
}

// A webhook that arrives while its sync's execution is closing is acknowledged at once, not
// after the close: the signaler hands its events off to the sync's handoff workflow, which
// signals them to the sync's next run. For a moment after a refusal, the sync's requests
// are handed off without trying.
func TestWebhookWhileTheSyncIsClosing(t *testing.T) {
	c := testenv.ClientWith(t, nil)
	s := testenv.NewSyncWith(t, c, testenv.Def("closing"), memory.New(memory.Options{IDPrefix: "s-"}), memory.New(memory.Options{IDPrefix: "t-"}))
	s.StopWorker() // the test plays the worker until the close is stuck
	cs := newClosingSync(t, c, s.Name)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var busy *serviceerror.ResourceExhausted
	require.ErrorAs(t, cs.signal(ctx, workflows.ChangeSignal{Side: "a"}), &busy, "the server should refuse signals now")
	require.Equal(t, enumspb.RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW, busy.Cause)

	sig := workflows.ChangeSignal{Side: "a", Events: []workflows.ChangeEvent{{ID: "while-closing", RecordID: "s-1", Kind: "updated"}}}
	now := time.Now()
	signaler := ingress.NewTemporalSignalerAt(c, "", func() time.Time { return now })
	for range 2 { // the request, and its sender's retry
		// The deadline is longer than a closing task ever takes; the task here stays
		// started until the test answers it, so a signaler that waited for the close
		// would only return when the deadline passed.
		sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
		d, err := signaler.SignalChange(sctx, s.Name, sig)
		scancel()
		require.NoError(t, err)
		require.Equal(t, ingress.HandedOff, d)
	}
	handoff := workflows.HandoffID(s.Name)
	desc, err := c.DescribeWorkflowExecution(ctx, handoff, "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.GetWorkflowExecutionInfo().GetStatus())

	// The close's task fails (as a worker's would that died): the execution takes signals
	// again. For a moment after a refusal the signaler hands requests off without trying;
	// then it signals again.
	_, err = c.WorkflowService().RespondWorkflowTaskFailed(ctx, &workflowservice.RespondWorkflowTaskFailedRequest{
		Namespace: "default", TaskToken: cs.token, Identity: "closing-test",
		Cause: enumspb.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
	})
	require.NoError(t, err)
	soon := workflows.ChangeSignal{Side: "a", Events: []workflows.ChangeEvent{{ID: "just-after", RecordID: "s-1", Kind: "updated"}}}
	d, err := signaler.SignalChange(ctx, s.Name, soon)
	require.NoError(t, err)
	require.Equal(t, ingress.HandedOff, d, "within a moment of the refusal")
	now = now.Add(time.Second)
	later := workflows.ChangeSignal{Side: "a", Events: []workflows.ChangeEvent{{ID: "later", RecordID: "s-1", Kind: "updated"}}}
	d, err = signaler.SignalChange(ctx, s.Name, later)
	require.NoError(t, err)
	require.Equal(t, ingress.Signalled, d, "once the moment has passed")

	// A worker takes over: the sync's execution takes the signals sent to it, and the
	// handoffs deliver theirs.
	s.StartWorker()
	require.NoError(t, c.GetWorkflow(ctx, handoff, "").Get(ctx, nil))
	st := s.WaitFor("all events received", time.Minute, func(st workflows.Status) bool { return st.Events.Received >= 5 })
	require.Equal(t, 5, st.Events.Received, "the event during the close, the three handed off and the one signalled")
	require.Equal(t, 1, st.Events.Duplicates, "the sender's retry of a request is dropped as a duplicate")
	iter := c.GetWorkflowHistory(ctx, handoff, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for iter.HasNext() {
		e, err := iter.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, e)
	}
	require.NoError(t, replay.History(h, nil), "the handoff's history replays")
}
