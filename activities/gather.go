package activities

import (
	"context"
	"time"
)

// GatherInput says how long a webhook micro-batch waits, after it is written, for the
// events of the next one.
type GatherInput struct {
	For time.Duration `json:"for"`
}

// Gather waits for in.For, or until its context ends, and returns how long it waited. The
// workflow runs it as a local activity at the end of a small micro-batch while webhooks
// stream in: its workflow task stays open meanwhile, so the signals that arrive are
// delivered together to the next micro-batch instead of each waking the workflow (a
// workflow task is three history events, and each batch's steps a few more).
func (a *Activities) Gather(ctx context.Context, in GatherInput) (time.Duration, error) {
	start := time.Now()
	_ = sleep(ctx, in.For) // a cancelled wait ends the gathering early, nothing more
	return time.Since(start), nil
}

// sleep waits for d, or until ctx ends (its error).
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
