package httpx

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryAfter reads a Retry-After header [RFC 9110 §10.2.3]: delay-seconds ("120") or an
// HTTP date ("Fri, 31 Dec 1999 23:59:59 GMT", and the two obsolete date forms
// http.ParseTime reads), as a wait from now. A date in the past is a wait of zero. ok is
// false when the header is absent or is neither form, so the caller can fall back to a
// wait of its own; a fractional or negative number is not delay-seconds.
func RetryAfter(h http.Header, now time.Time) (wait time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(maxRetryAfter/time.Second) {
			// Too long to be meant; a wait of this size is the cap.
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// maxRetryAfter bounds a Retry-After in seconds, so an absurd value cannot overflow.
const maxRetryAfter = 30 * 24 * time.Hour

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
