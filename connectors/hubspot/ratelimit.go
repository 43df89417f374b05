package hubspot

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"tandem/connectors"
)

// gate keeps a connection's requests within HubSpot's limits before they are hit: a token
// bucket for requests (rate_per_10s; searches too with search_counts_toward_rate), one
// for search (search_per_s), and a shared
// "blocked until" that a 429's Retry-After, or a rate-limit header saying nothing remains,
// sets. No request passes the gate before blocked-until; a call whose context would end
// first gets a *connectors.RateLimitedError instead of waiting in vain.
type gate struct {
	general *rate.Limiter
	search  *rate.Limiter
	// searchInGeneral spends a general token on each search too.
	searchInGeneral bool

	mu           sync.Mutex
	blockedUntil time.Time
	blockReason  string
	// max and interval are the budget the general limiter was last set from, to notice
	// when X-HubSpot-RateLimit-Max / -Interval-Milliseconds say otherwise.
	max      int
	interval time.Duration
}

func newGate(perWindow int, window time.Duration, searchPerWindow int, searchWindow time.Duration, searchInGeneral bool) *gate {
	g := &gate{max: perWindow, interval: window, searchInGeneral: searchInGeneral}
	g.general = rate.NewLimiter(budget(perWindow, window))
	g.search = rate.NewLimiter(budget(searchPerWindow, searchWindow))
	return g
}

// budget returns a token bucket that sends at most n requests in any window of length w.
// A bucket of burst b and rate r sends at most b-1+ceil(r·w) requests in such a window,
// so r = (n-b+1)/w. The window is taken 5% longer, and at least 100 ms longer, to leave
// room for requests that arrive closer together than they were sent (100 ms is 10% of
// the search's one-second window) and for a search's general token, which is counted
// before the search waits for its own (see wait). The burst is modest (n/20, at most 10)
// so a burst cannot use up a window that other callers sharing the token also draw on.
func budget(n int, w time.Duration) (rate.Limit, int) {
	if n <= 0 {
		return rate.Inf, 1
	}
	b := max(1, min(10, n/20))
	r := float64(n-b+1) / max(w.Seconds()/0.95, w.Seconds()+0.1)
	return rate.Limit(r), b
}

// wait returns when a request may be sent, search says whether it is a search.
func (g *gate) wait(ctx context.Context, search bool) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := time.Now()
		g.mu.Lock()
		until, reason := g.blockedUntil, g.blockReason
		g.mu.Unlock()
		if now.Before(until) {
			if err := sleep(ctx, until.Sub(now), reason); err != nil {
				return err
			}
			continue
		}

		// The tokens are taken one after the other, each when the wait for the one
		// before is over: a token reserved together with a longer wait would count the
		// request as sent before it is, and its bucket would let the next one out too
		// soon. The general token comes first so searches queue with the other calls;
		// its count may run ahead of the send by one search interval, which the general
		// budget's slack covers.
		var lims []*rate.Limiter
		if !search || g.searchInGeneral {
			lims = append(lims, g.general)
		}
		if search {
			lims = append(lims, g.search)
		}
		for _, lim := range lims {
			r := lim.ReserveN(time.Now(), 1)
			if d := r.Delay(); d > 0 {
				if err := sleep(ctx, d, "the connection's own request budget"); err != nil {
					r.CancelAt(time.Now())
					return err
				}
			}
		}
		// A 429 that arrived while this call waited blocks it too; the tokens it took
		// are spent, which only makes the next requests more careful.
		g.mu.Lock()
		blocked := time.Now().Before(g.blockedUntil)
		g.mu.Unlock()
		if !blocked {
			return nil
		}
	}
}

// maxWait is the longest a call waits inside the client. A longer block (a DAILY 429's
// hour) is returned as a RateLimitedError at once, for the activity layer to schedule the
// retry instead of holding an activity open.
const maxWait = 30 * time.Second

// sleep waits d, or returns the context's error, or a RateLimitedError when the context's
// deadline comes before d has passed (waiting would be in vain) or d is over maxWait.
func sleep(ctx context.Context, d time.Duration, reason string) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return &connectors.RateLimitedError{RetryAfter: d, Reason: "waiting for " + reason + " would outlast the call's deadline"}
	}
	if d > maxWait {
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

// block stops every request for d.
func (g *gate) block(d time.Duration, reason string) {
	until := time.Now().Add(d)
	g.mu.Lock()
	defer g.mu.Unlock()
	if until.After(g.blockedUntil) {
		g.blockedUntil, g.blockReason = until, reason
	}
}

// observe adjusts the gate from a response's rate-limit headers, where HubSpot sends them:
//   - X-HubSpot-RateLimit-Max and -Interval-Milliseconds: the account's budget, which the
//     general limiter follows when it differs from the configured one (a capacity pack
//     raises it; a shared token effectively lowers it);
//   - X-HubSpot-RateLimit-Remaining 0: block for the interval (the window is rolling,
//     so waiting a whole interval is the safe reading);
//   - X-HubSpot-RateLimit-Secondly-Remaining 0: block for a second [doc: changelog
//     2018-11-06 names the Secondly headers].
//
// The Remaining rules apply to accepted requests only: a 429's own Retry-After says when
// to try again.
func (g *gate) observe(h http.Header, status int) {
	interval := 10 * time.Second
	if ms, ok := headerInt(h, "X-HubSpot-RateLimit-Interval-Milliseconds"); ok && ms > 0 {
		interval = time.Duration(ms) * time.Millisecond
	}
	if n, ok := headerInt(h, "X-HubSpot-RateLimit-Max"); ok && n > 0 {
		g.mu.Lock()
		changed := n != g.max || interval != g.interval
		if changed {
			g.max, g.interval = n, interval
		}
		g.mu.Unlock()
		if changed {
			lim, burst := budget(n, interval)
			g.general.SetLimit(lim)
			g.general.SetBurst(burst)
		}
	}
	if status == http.StatusTooManyRequests {
		return
	}
	if n, ok := headerInt(h, "X-HubSpot-RateLimit-Remaining"); ok && n <= 0 {
		g.block(interval, "X-HubSpot-RateLimit-Remaining is 0")
	}
	if n, ok := headerInt(h, "X-HubSpot-RateLimit-Secondly-Remaining"); ok && n <= 0 {
		g.block(time.Second, "X-HubSpot-RateLimit-Secondly-Remaining is 0")
	}
}

func headerInt(h http.Header, name string) (int, bool) {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// retryAfter is how long a 429 asks to wait: its Retry-After header (seconds or an HTTP
// date) when sent; otherwise a default by the body's policyName [INF: HubSpot documents
// the policies but not a wait per policy]: a second for SECONDLY, the 10-second window
// for TEN_SECONDLY_ROLLING and anything unknown, an hour for DAILY (the daily budget
// resets at midnight in the account's time zone, which the client does not know; the
// activity layer retries after the hour).
func retryAfter(h http.Header, body apiErrorBody, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 && !math.IsInf(s, 0) {
			return time.Duration(math.Ceil(s * float64(time.Second)))
		}
		if t, err := http.ParseTime(v); err == nil {
			if d := t.Sub(now); d > 0 {
				return d
			}
			return 0
		}
	}
	switch strings.ToUpper(body.PolicyName) {
	case "SECONDLY":
		return time.Second
	case "DAILY":
		return time.Hour
	default:
		return 10 * time.Second
	}
}

func describeWait(d time.Duration) string {
	return fmt.Sprintf("HubSpot's Retry-After of %s", d)
}
