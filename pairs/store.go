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
	// Gone names the side whose record was deleted while the sync archives deletes: the
	// partner was archived and stays linked, so its changes are not taken for a record
	// to create again. Empty for a live pair.
	Gone Side `json:"gone,omitempty"`
}

// PendingDelete is a record deleted on one side whose partner's delete (or archive) is
// still to be done: detected, and not yet done, or held by the mass-delete breaker.
type PendingDelete struct {
	Side Side   `json:"side"`
	ID   string `json:"id"`
	// Key and PartnerID are the pair's key and the partner's id when it was detected.
	Key       string `json:"key,omitempty"`
	PartnerID string `json:"partner_id"`
	// DeletedAt is when the service deleted the record (zero when unknown: found by an id
	// diff); How is how it was found: "log", "webhook" or "diff".
	DeletedAt  time.Time `json:"deleted_at,omitzero"`
	How        string    `json:"how"`
	DetectedAt time.Time `json:"detected_at"`
}

// Failure is a record of one side that a service rejected when Tandem wrote its values:
// remembered until a write of it succeeds, so later runs retry it (its source may never
// change again, and a one-way sync's cursor has moved past it).
type Failure struct {
	Side Side   `json:"side"`
	ID   string `json:"id"`
	Key  string `json:"key,omitempty"`
	// Reason is the service's reason, as it gave it the last time.
	Reason string `json:"reason"`
	// FirstAt and LastAt are when the record first and last failed; Attempts how many
	// writes of it failed.
	FirstAt  time.Time `json:"first_at"`
	LastAt   time.Time `json:"last_at"`
	Attempts int       `json:"attempts"`
	// Write names the write that failed (the same on an activity's retries): a failure
	// saved again by the same write is not counted twice. Not read back.
	Write string `json:"-"`
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
	// Glance is Get reading only the halves' ids, fingerprints and write times, and the
	// link's hold, misreads and gone (Key, Values, Decision, HeldReason and SyncedAt are
	// left zero): enough to tell a record that holds what its link says, at a fraction of
	// Get's cost. It gives each link to each, with its id's place in ids (no map of links
	// is built for the caller: most of a two-way pass's records are settled by a glance);
	// the link is each's during the call only, and each must not call the store.
	Glance(ctx context.Context, sync string, side Side, ids []string, each func(i int, l *Link)) error
	// Save writes links (one transaction). A link replaces any link of sync that holds
	// either of its records (a record is linked at most once per side); when links holds
	// several links with one record, the last one wins. Save keeps neither the slice nor
	// its elements once it returns (a chunk reuses the slice for its next links).
	Save(ctx context.Context, sync string, links []Link) error
	// Delete removes the links of sync whose record on side has one of ids.
	Delete(ctx context.Context, sync string, side Side, ids []string) error
	// Held returns up to limit links of sync held by the loop guard, soonest HeldUntil
	// first.
	Held(ctx context.Context, sync string, limit int) ([]Link, error)
	// Count is how many live links sync has (not Gone).
	Count(ctx context.Context, sync string) (int, error)
	// Scan returns up to limit links of sync in side a id order after afterA ("" from the
	// start), for paging through every pair.
	Scan(ctx context.Context, sync string, afterA string, limit int) ([]Link, error)
	// ByKey returns the links of sync whose key is key (at most 10; normally one), for
	// explain. It reads the sync's links without an index: it is not for the pipeline.
	ByKey(ctx context.Context, sync, key string) ([]Link, error)

	// AddDeletes records pending deletes of sync (one transaction); one already pending
	// for the same side and id is kept as it is.
	AddDeletes(ctx context.Context, sync string, ds []PendingDelete) error
	// PendingDeletes returns up to limit pending deletes of sync in (side, id) order after
	// (afterSide, afterID) ("", "" from the start).
	PendingDeletes(ctx context.Context, sync string, afterSide Side, afterID string, limit int) ([]PendingDelete, error)
	// DropDeletes removes the pending deletes of sync's records of side with ids.
	DropDeletes(ctx context.Context, sync string, side Side, ids []string) error
	// CountDeletes is how many deletes of sync are pending.
	CountDeletes(ctx context.Context, sync string) (int, error)

	// AddFailures remembers records a service rejected (one transaction). A record
	// remembered already takes the new key, reason and LastAt, and its attempts go up by
	// one unless the same write (Failure.Write) saved it before; its FirstAt is kept.
	AddFailures(ctx context.Context, sync string, fs []Failure) error
	// Failures returns up to limit remembered failures of sync's side in id order after
	// afterID ("" from the start).
	Failures(ctx context.Context, sync string, side Side, afterID string, limit int) ([]Failure, error)
	// LatestFailures returns up to limit remembered failures of sync, latest LastAt first.
	LatestFailures(ctx context.Context, sync string, limit int) ([]Failure, error)
	// DropFailures forgets the failures of sync's records of side with ids, and says how
	// many it forgot.
	DropFailures(ctx context.Context, sync string, side Side, ids []string) (int, error)
	// SettleFailures forgets the failures of sync's records of side whose attempts are
	// still those given (by id): a record that failed again since it was read keeps its
	// new failure. It says how many it forgot.
	SettleFailures(ctx context.Context, sync string, side Side, attempts map[string]int) (int, error)
	// CountFailures is how many failures of sync are remembered.
	CountFailures(ctx context.Context, sync string) (int, error)

	// LogBulk keeps the outcomes of pages a chunk of a one-way sync that keeps no links
	// wrote (see bulklog.go; one transaction), and drops the sync's pages older than
	// BulkLogKeep before the first of them.
	LogBulk(ctx context.Context, sync string, pages []BulkPage) error
	// BulkOutcome is the latest outcome the bulk log holds for a record of key, or nil:
	// for explain, not for the pipeline.
	BulkOutcome(ctx context.Context, sync, key string) (*LoggedOutcome, error)
	Close() error
}
