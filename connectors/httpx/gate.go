package httpx

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"tandem/connectors"
)

// Gate holds every request of a connection while a rate limit lasts: a rate-limited
// answer (or a header saying nothing of the budget remains) blocks it until a time, and
// no request passes before then. A nil *Gate never blocks.
type Gate struct {
	mu     sync.Mutex
	until  time.Time
	reason string
}

// Block holds requests for d from now (a longer block already set stays).
func (g *Gate) Block(d time.Duration, reason string) {
	if g == nil || d <= 0 {
		return
	}
	until := time.Now().Add(d)
	g.mu.Lock()
	defer g.mu.Unlock()
	if until.After(g.until) {
		g.until, g.reason = until, reason
	}
}

// Blocked reports whether the gate holds requests now.
func (g *Gate) Blocked() bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return time.Now().Before(g.until)
}

// Wait returns once the gate is open, or Sleep's error.
func (g *Gate) Wait(ctx context.Context, maxWait time.Duration) error {
	if g == nil {
		return ctx.Err()
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		g.mu.Lock()
		d, reason := time.Until(g.until), g.reason
		g.mu.Unlock()
		if d <= 0 {
			return nil
		}
		if err := Sleep(ctx, d, maxWait, reason); err != nil {
			return err
		}
	}
}

// Sleep waits d for reason, or returns the context's error, or a
// *connectors.RateLimitedError (RetryAfter d) without waiting when d is over maxWait or
// the context's deadline comes first: a wait the call cannot outlast is the activity
// layer's to schedule.
func Sleep(ctx context.Context, d, maxWait time.Duration, reason string) error {
	if d <= 0 {
		return ctx.Err()
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return &connectors.RateLimitedError{RetryAfter: d, Reason: "waiting for " + reason + " would outlast the call's deadline"}
	}
	if maxWait > 0 && d > maxWait {
		return &connectors.RateLimitedError{RetryAfter: d, Reason: "waiting for " + reason}
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

// Limiter returns a token bucket that sends at most n requests in any window of length
// w. A bucket of burst b and rate r sends at most b-1+ceil(r·w) requests in such a
// window, so r = (n-b+1)/w. The window is taken 5% longer, and at least 100 ms longer, to
// leave room for requests that arrive closer together than they were sent. The burst is
// modest (n/20, at most 10) so a burst cannot use up a window that other callers sharing
// the budget also draw on. n <= 0 is no limit.
func Limiter(n int, w time.Duration) *rate.Limiter {
	lim, burst := LimiterBudget(n, w)
	return rate.NewLimiter(lim, burst)
}

// LimiterBudget is the rate and burst of Limiter(n, w), for SetLimit and SetBurst.
func LimiterBudget(n int, w time.Duration) (rate.Limit, int) {
	if n <= 0 {
		return rate.Inf, 1
	}
	b := max(1, min(10, n/20))
	r := float64(n-b+1) / max(w.Seconds()/0.95, w.Seconds()+0.1)
	return rate.Limit(r), b
}

// Reserve takes a token of lim, waiting for it (Sleep's rules) when it is not there yet.
// The token is taken only once the wait for it is over: a token reserved together with
// a longer wait would count the request as sent before it is.
func Reserve(ctx context.Context, lim *rate.Limiter, maxWait time.Duration, reason string) error {
	r := lim.ReserveN(time.Now(), 1)
	if d := r.Delay(); d > 0 {
		if err := Sleep(ctx, d, maxWait, reason); err != nil {
			r.CancelAt(time.Now())
			return err
		}
	}
	return nil
}
