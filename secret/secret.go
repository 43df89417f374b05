// Package secret removes secrets from text by value: every value a definitions file reads
// from the environment (${VAR}), and the password inside one that is a connection URL or
// DSN, is replaced by "[redacted]" wherever Tandem writes text: activity errors (and so
// run summaries, status and workflow history), and log lines. Scrubbing by value catches a
// secret whatever library quoted it, in whatever message.
package secret

import (
	"cmp"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces a secret.
const Redacted = "[redacted]"

// minLen is the shortest value scrubbed: shorter ones ("1", "on") are not secrets and
// would garble every message.
const minLen = 4

// Scrubber replaces known secret values in text. The zero value and nil scrub nothing.
type Scrubber struct {
	r *strings.Replacer
}

// New returns a scrubber of values and of the secrets inside them (see Parts).
func New(values []string) *Scrubber {
	var all []string
	for _, v := range values {
		all = append(all, Parts(v)...)
	}
	all = slices.DeleteFunc(all, func(s string) bool { return len(s) < minLen })
	// The longest first, so a secret is replaced whole before a part of it is.
	slices.SortFunc(all, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	all = slices.Compact(all)
	if len(all) == 0 {
		return &Scrubber{}
	}
	pairs := make([]string, 0, 2*len(all))
	for _, s := range all {
		pairs = append(pairs, s, Redacted)
	}
	return &Scrubber{r: strings.NewReplacer(pairs...)}
}

// String returns s with every secret replaced.
func (s *Scrubber) String(text string) string {
	if s == nil || s.r == nil {
		return text
	}
	return s.r.Replace(text)
}

// Active reports whether the scrubber knows any secret.
func (s *Scrubber) Active() bool { return s != nil && s.r != nil }

var kvPassword = regexp.MustCompile(`(?i)\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// Parts are a value and the secrets inside it: for a URL with a password, the password as
// written, decoded, and each of its ':'-separated pieces (a library that misreads a
// password holding ':' prints the rest of it); for a key=value DSN, its password value.
func Parts(v string) []string {
	out := []string{v}
	add := func(p string) {
		out = append(out, p)
		if d, err := url.PathUnescape(p); err == nil && d != p {
			out = append(out, d)
		}
		for _, piece := range strings.Split(p, ":") {
			out = append(out, piece)
		}
	}
	// user:password@ in a URL, found by hand: a password with a bad %-escape does not
	// parse as a URL, and that is when libraries quote it.
	if i := strings.Index(v, "://"); i >= 0 {
		rest := v[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok && pw != "" {
				add(pw)
			}
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(v, -1) {
		add(strings.Trim(m[1], "'"))
	}
	return out
}
