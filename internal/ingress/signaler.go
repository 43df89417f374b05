package ingress

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"tandem/workflows"
)

// Signaler hands a request's verified events to its sync's workflow.
type Signaler interface {
	SignalChange(ctx context.Context, sync string, sig workflows.ChangeSignal) error
}

// NewTemporalSignaler returns a Signaler that sends the change signal with
// SignalWithStart, so a sync whose workflow is not running yet starts.
func NewTemporalSignaler(c client.Client) Signaler { return temporalSignaler{c} }

type temporalSignaler struct{ c client.Client }

func (t temporalSignaler) SignalChange(ctx context.Context, sync string, sig workflows.ChangeSignal) error {
	_, err := t.c.SignalWithStartWorkflow(ctx, workflows.WorkflowID(sync), workflows.SignalChange, sig,
		workflows.StartOptions(sync), workflows.SyncWorkflow, workflows.SyncInput{Sync: sync})
	if err != nil {
		return fmt.Errorf("signal %s to sync %q: %w", workflows.SignalChange, sync, err)
	}
	return nil
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
