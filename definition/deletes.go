package definition

import "time"

// DeleteMode says what a sync does when a record it synced is deleted on one side.
type DeleteMode string

// Delete modes.
const (
	// DeleteIgnore leaves the partner as it is (the default).
	DeleteIgnore DeleteMode = "ignore"
	// DeleteArchive sets a field of the partner (Deletes.Field to Deletes.Value): a flag
	// or a status that says the record is gone on the other side.
	DeleteArchive DeleteMode = "archive"
	// DeleteDelete deletes the partner (HubSpot archives it).
	DeleteDelete DeleteMode = "delete"
)

// Defaults of the mass-delete breaker.
const (
	DefaultDeleteMax        = 100
	DefaultDeleteMaxPercent = 10
)

// Deletes is a sync's delete policy and its mass-delete breaker.
type Deletes struct {
	Mode DeleteMode
	// Field and Value are what DeleteArchive sets on the partner, by side written (the
	// field is named as that side names it): Field[A] is set on side a's records.
	Field map[Side]string `json:",omitempty"`
	Value string          `json:",omitempty"`
	// Max and MaxPercent arm the breaker: when a run would delete (or archive) more than
	// Max records AND more than MaxPercent of the sync's linked pairs, none of that run's
	// deletes is done: they are held until approved or discarded.
	Max        int
	MaxPercent float64
	// DiffEvery is how often a side without a delete log is diffed in full (every live
	// id against the pairs); zero: every run.
	DiffEvery time.Duration `json:",omitempty"`
}

// Active reports whether the sync acts on deletes at all.
func (d Deletes) Active() bool { return d.Mode == DeleteArchive || d.Mode == DeleteDelete }
