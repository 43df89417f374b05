package httpx

import (
	"net/http"
	"sync"
	"time"
)

// ServerClock is a service's clock as its answers' Date headers give it: services that
// keep updated-at to the second hold back the records of a second their clock has not
// left yet (connectors.HoldBackOpenSecond, by Now), and a read that must not pass what the
// service changes while it reads bounds itself by the service's clock, not the worker's
// (Reckon). The zero value is ready; it is safe for concurrent use.
type ServerClock struct {
	// Clock is the local clock Reckon measures the time since an answer by; default
	// time.Now. Its times must carry a monotonic reading (time.Now's do; .UTC() and
	// .Round(0) drop it), so that the worker's wall clock, however wrong or however it is
	// stepped, plays no part. Tests that move a clock of their own pass it.
	Clock func() time.Time

	mu  sync.Mutex
	now time.Time
	// ahead is the most any answer has shown the service's clock ahead of Clock: its Date
	// less Clock when it came. Each answer's is a lower bound (its Date is truncated to the
	// second and was written before the answer came); the most of them is the closest.
	// Both are unset until now is.
	ahead time.Duration
}

// Observe keeps the time of an answer's Date header, when it has one that parses.
func (s *ServerClock) Observe(h http.Header) {
	t, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return
	}
	ahead := t.Sub(s.local())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.now.IsZero() || ahead > s.ahead {
		s.ahead = ahead
	}
	s.now = t
}

// Now is the time of the latest answer's Date header; zero before any.
func (s *ServerClock) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Reckon is the service's clock now as the answers so far bound it from below: Clock plus
// the most an answer has shown the service's clock ahead of it (false before any answer).
// It is not ahead of the service's clock, and it is behind by at most a second (Date's
// truncation) plus an answer's time on the way, less as answers come at other fractions
// of a second.
func (s *ServerClock) Reckon() (time.Time, bool) {
	s.mu.Lock()
	ahead, known := s.ahead, !s.now.IsZero()
	s.mu.Unlock()
	if !known {
		return time.Time{}, false
	}
	return s.local().Add(ahead), true
}

func (s *ServerClock) local() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}
