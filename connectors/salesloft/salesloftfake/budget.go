package salesloftfake

import (
	"net/http"
	"strconv"
	"time"
)

// PageCost is what a list request for page p costs against the team's budget: pages
// 101–150 cost 3, 151–250 cost 8, 251–500 cost 10, 501 and deeper 30, the rest 1 [doc:
// developers.salesloft.com/docs/platform/api-basics/rate-limits]. Every other request
// costs 1 [INF: only the page costs are documented].
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

type charge struct {
	at   time.Time
	cost int
}

// charge spends cost from the budget, or answers 429 when that would exceed it. The
// window is rolling [INF: Salesloft says "per minute" and no more]: a request is refused
// when the costs charged in the last Window plus its own exceed CostPerMinute. A request
// that costs more than the whole budget is let through when nothing else was spent in
// the window, so tiny test budgets cannot wedge a deep page forever. A refused request
// costs nothing [INF].
func (s *Server) charge(w http.ResponseWriter, rec *Request, cost int) bool {
	w.Header().Set("x-ratelimit-endpoint-cost", strconv.Itoa(cost))
	limit := s.opts.CostPerMinute
	s.mu.Lock()
	defer s.mu.Unlock()
	if limit < 0 {
		s.spend(rec, cost)
		return true
	}
	now := rec.At
	cut := 0
	for cut < len(s.budget) && !s.budget[cut].at.After(now.Add(-s.opts.Window)) {
		cut++
	}
	s.budget = s.budget[cut:]
	used := 0
	for _, c := range s.budget {
		used += c.cost
	}
	if used == 0 || used+cost <= limit {
		s.budget = append(s.budget, charge{at: now, cost: cost})
		s.spend(rec, cost)
		w.Header().Set("x-ratelimit-remaining-minute", strconv.Itoa(max(limit-used-cost, 0)))
		return true
	}

	// Refused: Retry-After is when enough of the window's charges will have expired, in
	// whole seconds rounded up (at least 1).
	need := used + cost - limit
	wait := s.opts.Window
	for _, c := range s.budget {
		need -= c.cost
		if need <= 0 {
			wait = c.at.Add(s.opts.Window).Sub(now)
			break
		}
	}
	secs := int((wait + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	s.stats.RateLimited++
	w.Header().Set("x-ratelimit-remaining-minute", strconv.Itoa(max(limit-used, 0)))
	if !s.opts.OmitRetryAfter {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	writeError(w, http.StatusTooManyRequests, "Rate limit exceeded: the team's cost budget for this minute is spent")
	return false
}

// spend records a request's cost. Callers hold s.mu.
func (s *Server) spend(rec *Request, cost int) {
	rec.Cost = cost
	s.stats.Cost += cost
	if rec.Page > s.stats.MaxPage {
		s.stats.MaxPage = rec.Page
	}
}
