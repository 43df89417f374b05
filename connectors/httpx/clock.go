package httpx

import (
	"net/http"
	"sync"
	"time"
)

// ServerClock is a service's clock as its latest answer's Date header gave it: services
// that keep updated-at to the second hold back the records of a second their clock has
// not left yet (connectors.HoldBackOpenSecond). The zero value is ready; it is safe for
// concurrent use.
type ServerClock struct {
	mu  sync.Mutex
	now time.Time
}

// Observe keeps the time of an answer's Date header, when it has one that parses.
func (s *ServerClock) Observe(h http.Header) {
	t, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return
	}
	s.mu.Lock()
	s.now = t
	s.mu.Unlock()
}

// Now is the time of the latest answer's Date header; zero before any.
func (s *ServerClock) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now
}
