// Package definition says what a sync is: its two ends, the fields it maps between them,
// its mode, its conflict policy and its schedule. It holds values only: no YAML, no I/O.
// internal/config reads a definitions file into these values; the engine (workflows,
// activities, pairs) works on them.
package definition

import (
	"strings"
	"time"
)

// Mode says which way a sync copies.
type Mode string

// Modes.
const (
	OneWay Mode = "one-way" // a -> b
	TwoWay Mode = "two-way"
)

// Side names one end of a sync.
type Side = string

// The two sides. Side a is the source of a one-way sync.
const (
	A Side = "a"
	B Side = "b"
)

// Other returns the side opposite s.
func Other(s Side) Side {
	if s == A {
		return B
	}
	return A
}

// Direction says which way a field goes in a two-way sync.
type Direction string

// Field directions.
const (
	Both Direction = "both"
	AToB Direction = "a-to-b"
	BToA Direction = "b-to-a"
)

// Flows reports whether a field of direction d is written towards side to.
func (d Direction) Flows(to Side) bool {
	switch d {
	case AToB:
		return to == B
	case BToA:
		return to == A
	}
	return true
}

// Policy decides a two-way conflict: a pair both of whose records changed since they were
// last synced.
type Policy string

// Conflict policies.
const (
	// NewestWins keeps the values of the record changed last.
	NewestWins Policy = "newest-wins"
	AWins      Policy = "a-wins"
	BWins      Policy = "b-wins"
	// FieldMerge keeps, field by field, the side that changed it; a field changed on both
	// sides goes by newest-wins, or by the side Sync.MergePrefer names.
	FieldMerge Policy = "field-merge"
)

// Defaults.
const (
	DefaultEvery    = 15 * time.Minute
	DefaultPageSize = 500
	MaxPageSize     = 5000
)

// Sync is one sync definition.
type Sync struct {
	Name     string
	Mode     Mode
	A        End
	B        End
	Fields   []Field
	Conflict Policy
	// MergePrefer is the side whose value a field-merge keeps when both sides changed the
	// field ("" : the newer record's).
	MergePrefer Side
	Schedule    Schedule
	Webhooks    bool
	// PageSize is how many records one page of changes holds.
	PageSize int
	// Deletes says what a delete on one side does to the other (default: nothing).
	Deletes Deletes
	// Verify schedules a full comparison of both sides (starter verify); zero: none.
	Verify Verify `json:",omitzero"`
	// Write says which writes each side takes, by side written (missing: Upsert). A
	// one-way sync writes side b only.
	Write map[Side]WriteMode `json:",omitempty"`
}

// WriteMode says which writes a side of a sync takes.
type WriteMode string

// Write modes.
const (
	// Upsert creates the records a side lacks and updates those it has (the default).
	Upsert WriteMode = "upsert"
	// UpdateOnly updates records that exist and never creates one: a record with no
	// counterpart is skipped.
	UpdateOnly WriteMode = "update-only"
	// CreateOnly creates the records a side lacks and never updates one that exists.
	CreateOnly WriteMode = "create-only"
)

// Creates reports whether the sync may create records on side to.
func (s *Sync) Creates(to Side) bool { return s.Write[to] != UpdateOnly }

// Updates reports whether the sync may update records of side to.
func (s *Sync) Updates(to Side) bool { return s.Write[to] != CreateOnly }

// Withheld says why a write to side to is not made under its write mode: "" when the
// mode allows it. create says whether the write is a create or an update.
func (s *Sync) Withheld(to Side, create bool) string {
	switch {
	case create && !s.Creates(to):
		return "side " + to + " is " + string(UpdateOnly) + ": no record on side " + to + " has this key, and none is created"
	case !create && !s.Updates(to):
		return "side " + to + " is " + string(CreateOnly) + ": its record exists and is not updated"
	}
	return ""
}

// Verify is a sync's verify schedule.
type Verify struct {
	// Every is how often the sync compares both sides in full (between runs).
	Every time.Duration `json:",omitempty"`
}

// End returns the end of side s.
func (s *Sync) End(side Side) *End {
	if side == B {
		return &s.B
	}
	return &s.A
}

// End is one end of a sync: an object of a connection.
type End struct {
	Connection string
	Object     string
	// Key is the field that identifies the record across both services (on the source
	// of a one-way sync, "id" may name the record's own id).
	Key string
}

// Field maps one field of A to one field of B.
type Field struct {
	A         string
	B         string
	Normalize []string // normalizer names, applied in order
	Direction Direction
	// OnEmpty says whether a blank source value is written ("": Keep).
	OnEmpty OnEmpty `json:",omitempty"`
}

// OnEmpty says what a blank value (nil, "" or only spaces) of a field does to the other
// side's value.
type OnEmpty string

// What a blank does.
const (
	// Keep leaves the other side's value as it is: the blank is not written, and a pair
	// that differs only by it is not out of step (the default).
	Keep OnEmpty = "keep"
	// Clear writes the blank: the other side's value is cleared.
	Clear OnEmpty = "clear"
)

// Blank reports whether v is a blank value: nil, or a string of nothing but spaces.
func Blank(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	}
	return false
}

// Keeps reports whether v, a value of f on the side read, is left out of the writes: it
// is blank and f keeps the other side's value.
func (f Field) Keeps(v any) bool { return f.OnEmpty != Clear && Blank(v) }

// Name is the field's name on side s.
func (f Field) Name(s Side) string {
	if s == B {
		return f.B
	}
	return f.A
}

// Schedule says when a sync pulls changes.
type Schedule struct {
	Every time.Duration
	// StartFrom backdates the first run: changes since this time are read.
	StartFrom time.Time
}
