package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// A sync's execution refuses signals for a moment each time it continues as new and a
// signal arrived during the task that closes it: that task fails, and the server refuses
// signals (ResourceExhausted, BUSY_WORKFLOW) until the task retrying the close completes,
// after replaying the whole execution (hundreds of milliseconds for a webhook stream's
// execution). The webhook ingress does not make its senders wait that out: it signals
// their events to the sync's HandoffWorkflow (starting it if need be), and answers once
// Temporal has them. The handoff gathers what comes in during the close and signals it
// to the sync's next run as one change signal per side.

// HandoffWorkflowType is the name HandoffWorkflow is registered under.
const HandoffWorkflowType = "HandoffWorkflow"

// HandoffID is the id of a sync's HandoffWorkflow.
func HandoffID(sync string) string { return WorkflowID(sync) + "/handoff" }

// HandoffInput is a HandoffWorkflow's input: the sync it hands events off to. The events
// come as SignalChange signals, as they would to the sync.
type HandoffInput struct {
	Sync string `json:"sync"`
}

// DeliverChangeInput is the input of the activity that delivers handed-off events.
type DeliverChangeInput struct {
	Sync   string       `json:"sync"`
	Signal ChangeSignal `json:"signal"`
}

// ActivityDeliverChange is the name of the activity a HandoffWorkflow delivers its events
// with (registered by the worker: package ingress's Deliverer).
const ActivityDeliverChange = "DeliverChange"

// handoffLinger is how long a HandoffWorkflow with nothing left to deliver waits for more
// before it ends. A close refuses signals for well under a second, and the ingress goes
// back to the sync once a signal to it succeeds, so by then nothing more comes.
const handoffLinger = 2 * time.Second

// HandoffWorkflow delivers the change signals its sync's execution refused while it was
// closing. It takes what has come in, merges it into one change signal per side and
// delivers each with a local activity (SignalWithStart, retried until the sync's next run
// takes it); then again with what came in meanwhile, until nothing has come for
// handoffLinger. The sync drops events it has seen, as it does a sender's redelivery.
func HandoffWorkflow(ctx workflow.Context, in HandoffInput) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: time.Minute,
		// No maximum of attempts: a webhook's events are not dropped while Temporal or
		// the sync cannot take them; the handoff's pending activity shows why.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	ch := workflow.GetSignalChannel(ctx, SignalChange)
	for {
		bySide := map[string]*ChangeSignal{}
		for {
			var sig ChangeSignal
			if !ch.ReceiveAsync(&sig) {
				break
			}
			if merged := bySide[sig.Side]; merged != nil {
				merged.Events = append(merged.Events, sig.Events...)
			} else {
				bySide[sig.Side] = &sig
			}
		}
		if len(bySide) == 0 {
			// Waiting on a timer ends the task, so the close goes in a fresh task of its
			// own (the one exposed to a signal landing during it).
			more, err := workflow.AwaitWithTimeout(ctx, handoffLinger, func() bool { return ch.Len() > 0 })
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
			continue
		}
		for _, side := range workflow.DeterministicKeys(bySide) {
			if err := workflow.ExecuteLocalActivity(ctx, ActivityDeliverChange, DeliverChangeInput{Sync: in.Sync, Signal: *bySide[side]}).Get(ctx, nil); err != nil {
				return err
			}
		}
	}
}
