package pairs

import (
	"context"
	"time"
)

// Link is one linked pair of a sync: a record on side a and its partner on side b, and
// what Tandem last synced on each side.
type Link struct {
	// Key is the pair's (normalized) key when it was last synced.
	Key string `json:"key"`
	A   Half   `json:"a"`
	B   Half   `json:"b"`
	// HeldUntil and HeldReason are set while the loop guard holds the pair: nothing is
	// written to it until HeldUntil, then it is compared again.
	HeldUntil  time.Time `json:"held_until,omitzero"`
	HeldReason string    `json:"held_reason,omitempty"`
	// Misreads counts the pair's writes in a row that did not read back as written
	// (the loop guard).
	Misreads int `json:"misreads,omitempty"`
	// Decision is the pair's last decision in words (for explain and status).
	Decision string `json:"decision,omitempty"`
	// SyncedAt is when the link was last saved.
	SyncedAt time.Time `json:"synced_at"`
}

// Half is one side of a link.
type Half struct {
	// ID is the record's id in its service.
	ID string `json:"id"`
	// Values are the mapped values the side held when the pair was last synced, under the
	// side's own field names, normalized; FP is their fingerprint.
	Values map[string]any `json:"values,omitempty"`
	FP     string         `json:"fp,omitempty"`
	// WroteAt is when Tandem wrote Values to this side; zero once they have been read back
	// as written (or when they were read, not written). The loop guard uses it: a value
	// that does not read back as written is the service reformatting it.
	WroteAt time.Time `json:"wrote_at,omitzero"`
}

// Side names the half of a link a record id belongs to: "a" or "b".
type Side = string

// Store keeps the links of every sync. Implementations are safe for concurrent use;
// every call works on a batch and is idempotent, so an activity retried after a crash
// leaves the same rows.
type Store interface {
	// Get returns the links of sync whose record on side has one of ids, by that id.
	// Ids without a link are absent.
	Get(ctx context.Context, sync string, side Side, ids []string) (map[string]Link, error)
	// Save writes links (one transaction). A link replaces any link of sync that holds
	// either of its records (a record is linked at most once per side); when links holds
	// several links with one record, the last one wins.
	Save(ctx context.Context, sync string, links []Link) error
	// Delete removes the links of sync whose record on side has one of ids.
	Delete(ctx context.Context, sync string, side Side, ids []string) error
	// Held returns up to limit links of sync held by the loop guard, soonest HeldUntil
	// first.
	Held(ctx context.Context, sync string, limit int) ([]Link, error)
	// Count is how many links sync has.
	Count(ctx context.Context, sync string) (int, error)
	// Scan returns up to limit links of sync in side a id order after afterA ("" from the
	// start), for paging through every pair.
	Scan(ctx context.Context, sync string, afterA string, limit int) ([]Link, error)
	Close() error
}
