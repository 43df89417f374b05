package hubspot

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"tandem/connectors/httpx"
)

// kindSearch is the httpx.Request.Kind of a search, which draws on the search budget.
const kindSearch = "search"

// budget keeps a connection's requests within HubSpot's limits before they are hit: a
// token bucket for requests (rate_per_10s; searches too with search_counts_toward_rate)
// and one for search (search_per_s). It is the connection's httpx.Budget; the shared
// "blocked until" that a 429's Retry-After, or a rate-limit header saying nothing
// remains, sets is the connection's httpx.Gate.
type budget struct {
	general *rate.Limiter
	search  *rate.Limiter
	// searchInGeneral spends a general token on each search too.
	searchInGeneral bool
	gate            *httpx.Gate

	mu sync.Mutex
	// max and interval are the budget the general limiter was last set from, to notice
	// when X-HubSpot-RateLimit-Max / -Interval-Milliseconds say otherwise.
	max      int
	interval time.Duration
}

func newBudget(perWindow int, window time.Duration, searchPerWindow int, searchWindow time.Duration, searchInGeneral bool, gate *httpx.Gate) *budget {
	return &budget{
		general:         httpx.Limiter(perWindow, window),
		search:          httpx.Limiter(searchPerWindow, searchWindow),
		searchInGeneral: searchInGeneral,
		gate:            gate,
		max:             perWindow,
		interval:        window,
	}
}

// Take implements httpx.Budget. The tokens are taken one after the other, each when the
// wait for the one before is over. The general token comes first so searches queue with
// the other calls; its count may run ahead of the send by one search interval, which the
// general budget's slack covers. A 429 that arrived while this call waited blocks it
// too; the tokens it took are spent, which only makes the next requests more careful.
func (b *budget) Take(ctx context.Context, r *httpx.Request) (func(*httpx.Response), error) {
	search := r.Kind == kindSearch
	for {
		var lims []*rate.Limiter
		if !search || b.searchInGeneral {
			lims = append(lims, b.general)
		}
		if search {
			lims = append(lims, b.search)
		}
		for _, lim := range lims {
			if err := httpx.Reserve(ctx, lim, httpx.DefaultMaxWait, "the connection's own request budget"); err != nil {
				return nil, err
			}
		}
		if !b.gate.Blocked() {
			return b.observe, nil
		}
		if err := b.gate.Wait(ctx, httpx.DefaultMaxWait); err != nil {
			return nil, err
		}
	}
}

// observe adjusts the budget from a response's rate-limit headers, where HubSpot sends
// them:
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
func (b *budget) observe(resp *httpx.Response) {
	if resp == nil {
		return
	}
	h := resp.Header
	interval := 10 * time.Second
	if ms, ok := httpx.HeaderInt(h, "X-HubSpot-RateLimit-Interval-Milliseconds"); ok && ms > 0 {
		interval = time.Duration(ms) * time.Millisecond
	}
	if n, ok := httpx.HeaderInt(h, "X-HubSpot-RateLimit-Max"); ok && n > 0 {
		b.mu.Lock()
		changed := n != b.max || interval != b.interval
		if changed {
			b.max, b.interval = n, interval
		}
		b.mu.Unlock()
		if changed {
			lim, burst := httpx.LimiterBudget(n, interval)
			b.general.SetLimit(lim)
			b.general.SetBurst(burst)
		}
	}
	if resp.Status == http.StatusTooManyRequests {
		return
	}
	if n, ok := httpx.HeaderInt(h, "X-HubSpot-RateLimit-Remaining"); ok && n <= 0 {
		b.gate.Block(interval, "X-HubSpot-RateLimit-Remaining is 0")
	}
	if n, ok := httpx.HeaderInt(h, "X-HubSpot-RateLimit-Secondly-Remaining"); ok && n <= 0 {
		b.gate.Block(time.Second, "X-HubSpot-RateLimit-Secondly-Remaining is 0")
	}
}

// retryAfter is how long a 429 asks to wait: its Retry-After header (seconds or an HTTP
// date) when sent; otherwise a default by the body's policyName [INF: HubSpot documents
// the policies but not a wait per policy]: a second for SECONDLY, the 10-second window
// for TEN_SECONDLY_ROLLING and anything unknown, an hour for DAILY (the daily budget
// resets at midnight in the account's time zone, which the client does not know; the
// activity layer retries after the hour).
func retryAfter(h http.Header, body apiErrorBody, now time.Time) time.Duration {
	if d, ok := httpx.RetryAfter(h, now); ok {
		return d
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
