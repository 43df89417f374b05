package httpx

import (
	"net/http"
	"sync"
	"time"
)

// ServerClock is a service's clock as its latest answer's Date header gave it: services
// that keep updated-at to the second hold back the records of a second their clock has
// not left yet (connectors.HoldBackOpenSecond), and a read that must not pass what the
// service changes while it reads bounds itself by the service's clock, not the worker's
// (Reckon). The zero value is ready; it is safe for concurrent use.
type ServerClock struct {
	// Clock is the local clock Reckon measures the time since an answer by; default
	// time.Now (whose monotonic reading the worker's wall clock, however wrong, does not
	// move). Tests that move a clock of their own pass it.
	Clock func() time.Time

	mu  sync.Mutex
	now time.Time
	// at is when the answer with now came, by Clock.
	at time.Time
}

// Observe keeps the time of an answer's Date header, when it has one that parses.
func (s *ServerClock) Observe(h http.Header) {
	t, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return
	}
	at := s.local()
	s.mu.Lock()
	s.now, s.at = t, at
	s.mu.Unlock()
}

// Now is the time of the latest answer's Date header; zero before any.
func (s *ServerClock) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}

// Reckon is the service's clock now, reckoned from the latest answer's Date and the time
// since that answer came (by Clock: the worker's wall clock, however wrong, plays no
// part); false before any answer. It is not ahead of the service's clock:
// Date is truncated to the second and was written before the answer came. It is behind
// by at most that second, the answer's time on the way, and how far the service's clock
// has moved on its own since.
func (s *ServerClock) Reckon() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.now.IsZero() {
		return time.Time{}, false
	}
	return s.now.Add(s.local().Sub(s.at)), true
}

func (s *ServerClock) local() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}
