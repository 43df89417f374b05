package connectors

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Deletes: how a connector tells the engine that records are gone, and removes records.
// A service announces deletions in one of three ways, and a connector implements what its
// service offers:
//
//   - a delete log read like changes, after a cursor in pages (HubSpot's archived records,
//     Salesforce's getDeleted, NetSuite's deleted-record search, a SQL soft-delete
//     column): DeleteReader;
//   - webhooks whose events are of Kind "deleted" (WebhookEvent);
//   - nothing: the engine lists every live id (IDLister) and diffs it with the pairs it
//     knows, also when a delete log has expired for the cursor (DeleteLogExpiredError).

// Tombstone is a record deleted (or archived) on a service.
type Tombstone struct {
	// ID is the service's id of the record that was deleted.
	ID string `json:"id"`
	// DeletedAt is when the service deleted it (the delete log's time).
	DeletedAt time.Time `json:"deleted_at"`
}

// CursorOfTombstone is the cursor positioned at t, in a side's stream of deletions.
func CursorOfTombstone(t Tombstone) Cursor { return Cursor{UpdatedAt: t.DeletedAt, ID: t.ID} }

// DeletesPage is one page of a delete log.
type DeletesPage struct {
	// Tombstones are strictly after the request's cursor, in (DeletedAt, ID) order.
	Tombstones []Tombstone `json:"tombstones"`
	// More is true when deletions after the last one of this page may exist.
	More bool `json:"more"`
	// CoveredUntil, when set on a page with More false, is how far the log was read:
	// no deletion before it is missing. The engine moves its delete cursor there even
	// when the page is empty, so a side without deletions does not fall out of the
	// log's window.
	CoveredUntil time.Time `json:"covered_until,omitzero"`
}

// DeleteReader is implemented by connectors whose service keeps a log of deletions.
// A Deletes error matching errors.Is(err, errors.ErrUnsupported) says this connection keeps
// none after all (a sql table without deleted_column): the engine then uses the full id diff.
type DeleteReader interface {
	// Deletes returns the records of object deleted strictly after since, oldest first
	// in (DeletedAt, ID) order, at most limit of them. When since is older than what the
	// service's log keeps, it returns an error wrapping *DeleteLogExpiredError.
	Deletes(ctx context.Context, object string, since Cursor, limit int) (DeletesPage, error)
}

// DeleteLogExpiredError says a delete log no longer reaches back to the cursor asked for
// (Salesforce keeps about 15 days, HubSpot purges archived records after 90): deletions
// before Earliest may be missing from it.
type DeleteLogExpiredError struct {
	Object   string
	Since    time.Time
	Earliest time.Time
}

func (e *DeleteLogExpiredError) Error() string {
	return fmt.Sprintf("the delete log of %s starts at %s, after the cursor %s: deletions in between are not in it",
		e.Object, e.Earliest.UTC().Format(time.RFC3339), e.Since.UTC().Format(time.RFC3339))
}

// IDLister is implemented by connectors that can list every live id of an object, for a
// full id diff where the service has no delete log or it has expired.
type IDLister interface {
	// ListIDs returns one page of the ids of object's live records, at most limit, and
	// the token of the next page ("" after the last). An empty token asks for the first.
	ListIDs(ctx context.Context, object, token string, limit int) (ids []string, next string, err error)
}

// Deleter is implemented by connectors that can delete records (HubSpot archives them,
// as its API's DELETE does).
type Deleter interface {
	// Delete deletes the records with the given ids, in a batch. A record that does not
	// exist any more counts as deleted (no error); per-record refusals are in the
	// WriteResults, in request order.
	Delete(ctx context.Context, object string, ids []string) ([]WriteResult, error)
}

// TombstonePage orders tombstones as a delete log is read, by (DeletedAt, ID), and keeps
// the first limit of them, with More set when it left some out.
func TombstonePage(tombs []Tombstone, limit int) DeletesPage {
	slices.SortFunc(tombs, func(a, b Tombstone) int {
		if c := a.DeletedAt.Compare(b.DeletedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	page := DeletesPage{Tombstones: tombs}
	if len(tombs) > limit {
		page.Tombstones, page.More = tombs[:limit], true
	}
	return page
}
