package workflows

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// A sync's execution refuses signals for a moment each time it continues as new and a
// signal arrived during the task that closes it: that task fails, and the server refuses
// signals (ResourceExhausted, BUSY_WORKFLOW) until the task retrying the close completes,
// after replaying the whole execution (hundreds of milliseconds for a webhook stream's
// execution). The webhook ingress does not make its sender wait that out: it starts a
// HandoffWorkflow holding the request's events, and answers once Temporal has that. The
// handoff signals the events to the sync (its next run) as the ingress would have.

// HandoffInput is a HandoffWorkflow's: the sync and the change signal it is to receive.
type HandoffInput struct {
	Sync   string       `json:"sync"`
	Signal ChangeSignal `json:"signal"`
}

// ActivityDeliverChange is the name of the activity a HandoffWorkflow delivers its signal
// with (registered by the worker: package ingress's Deliverer).
const ActivityDeliverChange = "DeliverChange"

// HandoffWorkflow delivers a change signal that its sync's execution refused while it was
// closing. Its one step is a local activity that sends the signal with SignalWithStart,
// retried until the sync takes it: one marker in a history of six events.
func HandoffWorkflow(ctx workflow.Context, in HandoffInput) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: time.Minute,
		// No maximum of attempts: a webhook's events are not dropped while Temporal or
		// the sync cannot take them; the handoff's pending activity shows why.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	return workflow.ExecuteLocalActivity(ctx, ActivityDeliverChange, in).Get(ctx, nil)
}

// HandoffOptions start the HandoffWorkflow of a sync's change signal. Its id is the
// sync's workflow id, "/handoff/" and a digest of the events' ids, so a sender's retry of
// a request handed off already finds the handoff (ALREADY_EXISTS) rather than starting
// another; a request with an event without id gets an id of its own.
func HandoffOptions(sync string, sig ChangeSignal) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       WorkflowID(sync) + "/handoff/" + handoffKey(sig),
		TaskQueue:                TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}
}

func handoffKey(sig ChangeSignal) string {
	h := sha256.New()
	h.Write([]byte(sig.Side))
	for _, e := range sig.Events {
		if e.ID == "" {
			return rand.Text()
		}
		h.Write([]byte{0})
		h.Write([]byte(e.ID))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
