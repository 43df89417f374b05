package connectors

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The errors a connector returns. The activity layer turns them into Temporal errors in
// one place (activities/errors.go): NotFound, InvalidRecord, Auth and AmbiguousMatch are
// not retried; RateLimited is retried after its RetryAfter; anything else (a transport
// error, a 5xx) is retried with backoff.

// ErrNotFound says an object, record or endpoint does not exist.
var ErrNotFound = errors.New("not found")

// NotFoundError names what was not found.
type NotFoundError struct {
	What string
}

func (e *NotFoundError) Error() string        { return e.What + ": not found" }
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// InvalidRecordError is a service's rejection of a record, with the service's reason.
type InvalidRecordError struct {
	// ID or key of the record, when known.
	Record string
	// Field the service complained about, when it said.
	Field string
	// Reason is the service's own message.
	Reason string
}

func (e *InvalidRecordError) Error() string {
	var b strings.Builder
	b.WriteString("invalid record")
	if e.Record != "" {
		fmt.Fprintf(&b, " %s", e.Record)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, " (field %s)", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// AuthError says the service refused the credentials.
type AuthError struct {
	Reason string
}

func (e *AuthError) Error() string {
	return "authentication failed: " + e.Reason + " (check the connection's credentials)"
}

// RateLimitedError says the service asked to slow down. RetryAfter is how long it asked
// to wait (zero if it did not say).
type RateLimitedError struct {
	RetryAfter time.Duration
	Reason     string
}

func (e *RateLimitedError) Error() string {
	msg := "rate limited"
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return msg
}

// AmbiguousMatchError says a key matched more than one record, so no write may pick one.
type AmbiguousMatchError struct {
	Field string
	Value string
	IDs   []string
}

func (e *AmbiguousMatchError) Error() string {
	return fmt.Sprintf("ambiguous match: %s=%q matches %d records (%s)",
		e.Field, e.Value, len(e.IDs), strings.Join(e.IDs, ", "))
}

// ErrBadSignature says a webhook request is not authentic: its signature is missing,
// wrong, or outside the sender's timestamp window.
var ErrBadSignature = errors.New("bad webhook signature")

// ErrMalformedWebhook says a webhook body could not be parsed.
var ErrMalformedWebhook = errors.New("malformed webhook body")

// StaleRecordError is a conditional write the service refused because the record changed
// after it was read (ConditionalUpdater).
type StaleRecordError struct {
	// ID of the record.
	ID string
	// Read is the record's UpdatedAt as it was read; Now, when the service said, is its
	// UpdatedAt now.
	Read time.Time
	Now  time.Time
}

func (e *StaleRecordError) Error() string {
	msg := fmt.Sprintf("record %s changed after it was read (read at version %s", e.ID, e.Read.UTC().Format(time.RFC3339Nano))
	if !e.Now.IsZero() {
		msg += ", now " + e.Now.UTC().Format(time.RFC3339Nano)
	}
	return msg + "); not written"
}
