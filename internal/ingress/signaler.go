package ingress

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"tandem/workflows"
)

// Delivery says how a signaler gave Temporal a request's events.
type Delivery int

const (
	// Signalled: the sync's workflow took the change signal.
	Signalled Delivery = iota
	// HandedOff: the sync's execution was closing (continuing as new) and refused
	// signals, so the events went to the sync's HandoffWorkflow (started if need be),
	// which signals them to the sync's next run.
	HandedOff
)

// Signaler hands a request's verified events to its sync's workflow.
type Signaler interface {
	SignalChange(ctx context.Context, sync string, sig workflows.ChangeSignal) (Delivery, error)
}

// NewTemporalSignaler returns a Signaler of the Temporal namespace the client is dialled
// to (its name is needed for the service calls the signaler makes itself; "" is
// "default").
//
// It signals the sync's workflow, and starts it (SignalWithStart) when it is not running.
// When the sync's execution refuses the signal because it is closing, it signals the
// sync's HandoffWorkflow instead (starting it if need be) rather than wait: the server
// refuses signals until the task closing the execution has replayed it all, and the
// client's own retries wait 200 ms, then 400 ms, more; a webhook sender would wait that
// long for its answer three times a minute at 100 events a second.
func NewTemporalSignaler(c client.Client, namespace string) Signaler {
	if namespace == "" {
		namespace = "default"
	}
	return &temporalSignaler{c: c, namespace: namespace, now: time.Now}
}

// closingFor is how long after a refusal the signaler hands a sync's requests off without
// trying the signal first: a close refuses signals for hundreds of milliseconds, and
// each refused attempt costs a round trip while the server is busiest. A request after
// that tries the signal again.
const closingFor = 50 * time.Millisecond

type temporalSignaler struct {
	c         client.Client
	namespace string
	now       func() time.Time
	// closing holds, by sync, when its last refusal stops counting (a time.Time).
	closing sync.Map
}

func (t *temporalSignaler) SignalChange(ctx context.Context, sync string, sig workflows.ChangeSignal) (Delivery, error) {
	d, err := t.signal(ctx, sync, sig)
	if err != nil {
		return d, fmt.Errorf("signal %s to sync %q: %w", workflows.SignalChange, sync, err)
	}
	return d, nil
}

func (t *temporalSignaler) signal(ctx context.Context, name string, sig workflows.ChangeSignal) (Delivery, error) {
	input, err := converter.GetDefaultDataConverter().ToPayloads(sig)
	if err != nil {
		return Signalled, err
	}
	if until, ok := t.closing.Load(name); ok && t.now().Before(until.(time.Time)) {
		return HandedOff, t.handOff(ctx, name, input)
	}
	// The service call, not the client's SignalWorkflow: that one retries a refusal
	// after 200 ms. The request id stays the same across attempts, so the server
	// never takes the signal twice.
	req := &workflowservice.SignalWorkflowExecutionRequest{
		Namespace:         t.namespace,
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: workflows.WorkflowID(name)},
		SignalName:        workflows.SignalChange,
		Input:             input,
		Identity:          identity,
		RequestId:         rand.Text(),
	}
	err = retry(ctx, false, func() error {
		_, err := t.c.WorkflowService().SignalWorkflowExecution(ctx, req)
		return err
	})
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		return Signalled, nil
	case closing(err):
		t.closing.Store(name, t.now().Add(closingFor))
		return HandedOff, t.handOff(ctx, name, input)
	case errors.As(err, &notFound):
		// Not running (never started, or ended): start it with the signal.
		return Signalled, signalWithStart(ctx, t.c, name, sig)
	}
	return Signalled, err
}

// identity is the ingress's identity in the histories it signals.
const identity = "tandem-ingress"

// handOff signals a refused change signal (input) to the sync's HandoffWorkflow, starting
// it if it is not running. A handoff refuses signals only for the moment of its own
// close, which replays a short history: that is retried at once.
func (t *temporalSignaler) handOff(ctx context.Context, sync string, input *commonpb.Payloads) error {
	start, err := converter.GetDefaultDataConverter().ToPayloads(workflows.HandoffInput{Sync: sync})
	if err != nil {
		return err
	}
	req := &workflowservice.SignalWithStartWorkflowExecutionRequest{
		Namespace:                t.namespace,
		WorkflowId:               workflows.HandoffID(sync),
		WorkflowType:             &commonpb.WorkflowType{Name: workflows.HandoffWorkflowType},
		TaskQueue:                &taskqueuepb.TaskQueue{Name: workflows.TaskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		Input:                    start,
		SignalName:               workflows.SignalChange,
		SignalInput:              input,
		Identity:                 identity,
		RequestId:                rand.Text(),
		WorkflowIdConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIdReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}
	err = retry(ctx, true, func() error {
		_, err := t.c.WorkflowService().SignalWithStartWorkflowExecution(ctx, req)
		return err
	})
	if err != nil {
		return fmt.Errorf("the sync's execution is closing, and handing the events off failed: %w", err)
	}
	return nil
}

// retry makes a service call until it succeeds, fails for good or ctx ends, waiting 10
// ms after the first failure and twice as long after each next (at most a second). A
// refusal because the workflow is closing is retried only when retryClosing is set.
func retry(ctx context.Context, retryClosing bool, call func() error) error {
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := call()
		if err == nil || !retryable(err) || (closing(err) && !retryClosing) {
			return err
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
	}
}

// signalWithStart sends the change signal with the client's SignalWithStart (and its
// retries), starting the sync's workflow if it is not running.
func signalWithStart(ctx context.Context, c client.Client, sync string, sig workflows.ChangeSignal) error {
	_, err := c.SignalWithStartWorkflow(ctx, workflows.WorkflowID(sync), workflows.SignalChange, sig,
		workflows.StartOptions(sync), workflows.SyncWorkflow, workflows.SyncInput{Sync: sync})
	return err
}

// closing reports whether err is the server refusing a signal to an execution that is
// closing (or too busy to take it now).
func closing(err error) bool {
	var busy *serviceerror.ResourceExhausted
	return errors.As(err, &busy) && busy.Cause == enumspb.RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW
}

// retryable reports whether a failed signal may succeed if sent again: the server was
// unreachable, overloaded or briefly unable (the codes the client retries).
func retryable(err error) bool {
	var (
		unavail   *serviceerror.Unavailable
		exhausted *serviceerror.ResourceExhausted
		aborted   *serviceerror.Aborted
		internal  *serviceerror.Internal
	)
	return errors.As(err, &unavail) || errors.As(err, &exhausted) || errors.As(err, &aborted) || errors.As(err, &internal)
}

// Deliverer is the activity by which a HandoffWorkflow signals its events to the sync
// (registered by the worker as workflows.ActivityDeliverChange).
type Deliverer struct{ c client.Client }

// NewDeliverer returns the Deliverer of a client.
func NewDeliverer(c client.Client) *Deliverer { return &Deliverer{c: c} }

// DeliverChange signals handed-off events to their sync, starting it if it is not
// running. The client retries a refusal while the sync's execution is still closing.
func (d *Deliverer) DeliverChange(ctx context.Context, in workflows.DeliverChangeInput) error {
	err := signalWithStart(ctx, d.c, in.Sync, in.Signal)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("signal %s to sync %q: %w", workflows.SignalChange, in.Sync, err)
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) {
		// E.g. the execution's limit of signals: sending it again cannot help.
		return temporal.NewNonRetryableApplicationError(err.Error(), "SignalRefused", err)
	}
	return err
}

// unavailable reports whether err means Temporal cannot take the signal now, so the sender
// should retry later (it will: a 503 is retried by every webhook sender).
func unavailable(err error) bool {
	var (
		unavail   *serviceerror.Unavailable
		deadline  *serviceerror.DeadlineExceeded
		exhausted *serviceerror.ResourceExhausted
		nsUnavail *serviceerror.NamespaceUnavailable
	)
	return errors.As(err, &unavail) || errors.As(err, &deadline) || errors.As(err, &exhausted) ||
		errors.As(err, &nsUnavail) || errors.Is(err, context.DeadlineExceeded)
}
