package salesloft

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"tandem/connectors/httpx"
)

// PageCost is what a list request for page p costs: pages 101–150 cost 3, 151–250
// cost 8, 251–500 cost 10, 501 and deeper 30, the rest 1 [doc:
// api-basics/rate-limits]. Every other request is counted as 1 [INF: only page costs are
// documented]; an x-ratelimit-endpoint-cost header, when sent, overrides the guess.
func PageCost(p int) int {
	switch {
	case p > 500:
		return 30
	case p > 250:
		return 10
	case p > 150:
		return 8
	case p > 100:
		return 3
	default:
		return 1
	}
}

// budget keeps the connector within the team's cost budget before Salesloft has to say
// so. It counts what was spent in a rolling window: a request waits until the costs of
// the last window plus its own fit the budget. A rolling window never lets through more
// than a calendar-minute window would, so this holds whichever way Salesloft counts its
// minutes [INF]. golang.org/x/time/rate does not fit: a token bucket lets a full burst
// through at the end of one minute and another at the start of the next.
//
// The budget is per team, shared with other integrations, so what Salesloft reports wins
// where it is stricter: x-ratelimit-remaining-minute below what the connector thinks is
// left is booked as spent by someone else. It is the connection's httpx.Budget; after a
// 429 the connection's httpx.Gate holds every request until its Retry-After (or, without
// one, the reset wait) has passed.
type budget struct {
	limit  int
	window time.Duration
	reset  time.Duration // wait after a 429 without Retry-After; 0: until the next minute

	mu    sync.Mutex
	spent []*spend // oldest first
}

type spend struct {
	at   time.Time
	cost int
}

func newBudget(limit int, window, reset time.Duration) *budget {
	return &budget{limit: limit, window: window, reset: reset}
}

// Take implements httpx.Budget: it waits until a request of r.Cost fits (honouring ctx),
// books it, and books what the answer says.
func (b *budget) Take(ctx context.Context, r *httpx.Request) (func(*httpx.Response), error) {
	s, err := b.take(ctx, r.Cost)
	if err != nil {
		return nil, fmt.Errorf("waiting for the rate budget: %w", err)
	}
	return func(resp *httpx.Response) { b.observe(s, resp) }, nil
}

// take waits until a request of cost fits (honouring ctx) and books it.
func (b *budget) take(ctx context.Context, cost int) (*spend, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b.mu.Lock()
		now := time.Now()
		wait := b.waitLocked(now, cost)
		if wait <= 0 {
			s := &spend{at: now, cost: cost}
			b.spent = append(b.spent, s)
			b.mu.Unlock()
			return s, nil
		}
		b.mu.Unlock()

		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// waitLocked returns how long a request of cost must wait from now. Callers hold b.mu.
func (b *budget) waitLocked(now time.Time, cost int) time.Duration {
	b.pruneLocked(now)
	used := b.usedLocked()
	// A request dearer than the whole budget goes when nothing else is in the window.
	if used == 0 || used+cost <= b.limit {
		return 0
	}
	need := used + cost - b.limit
	for _, s := range b.spent {
		need -= s.cost
		if need <= 0 {
			return s.at.Add(b.window).Sub(now)
		}
	}
	return b.window
}

func (b *budget) pruneLocked(now time.Time) {
	cut := 0
	for cut < len(b.spent) && !b.spent[cut].at.After(now.Add(-b.window)) {
		cut++
	}
	b.spent = b.spent[cut:]
}

func (b *budget) usedLocked() int {
	used := 0
	for _, s := range b.spent {
		used += s.cost
	}
	return used
}

// observe books what a response said about the budget.
func (b *budget) observe(s *spend, resp *httpx.Response) {
	if resp == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if v, ok := httpx.HeaderInt(resp.Header, "x-ratelimit-endpoint-cost"); ok && v >= 0 {
		s.cost = v
	}
	// Salesloft charged the request somewhere between sending and this answer; counting
	// it from the answer keeps it in the window at least as long as Salesloft does (the
	// first request of a connection can take long to arrive). Every entry is appended at
	// the current time, so the list stays in time order.
	if i := slices.Index(b.spent, s); i >= 0 {
		b.spent = slices.Delete(b.spent, i, i+1)
		s.at = now
		b.spent = append(b.spent, s)
	}
	if v, ok := httpx.HeaderInt(resp.Header, "x-ratelimit-remaining-minute"); ok {
		b.pruneLocked(now)
		if left := b.limit - b.usedLocked(); v < left {
			b.spent = append(b.spent, &spend{at: now, cost: left - v})
		}
	}
}

// retryAfter is the wait a 429 asks for: its Retry-After (seconds or an HTTP date) when
// sent, else the reset wait.
func (b *budget) retryAfter(h http.Header) time.Duration {
	now := time.Now()
	if d, ok := httpx.RetryAfter(h, now); ok {
		return d
	}
	if b.reset > 0 {
		return b.reset
	}
	return now.Truncate(time.Minute).Add(time.Minute).Sub(now)
}
