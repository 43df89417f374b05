// Package pairs is Tandem's two-way model: how the two records of a pair are kept in step,
// in one place.
//
// A pair is a record on side a and its partner on side b. Once Tandem has synced them it
// keeps a Link in a Store (SQLite under the data dir, or PostgreSQL): both record ids and,
// for each side, the mapped values that side held when the pair was last synced. The link
// is the pair's memory, kept outside the workflow, so a sync remembers every pair however
// many there are. With it:
//
//   - Pairing. A record with a link is paired with its partner by id, whatever its key
//     has become since (an edited email updates its partner, key field included, instead
//     of creating a second record). Only records without a link are matched by key, and
//     only with records that have no link either; a key held by several records is
//     refused, never guessed.
//   - Echoes. A record whose mapped values equal what its link says was last synced on its
//     side has not changed: Tandem's own write coming back, or nothing new. It is skipped;
//     nothing is written.
//   - Three-way conflicts. Each side is compared with its half of the link, not only with
//     the other side. When only one side differs from the link, its change goes across.
//     When both do, the sync's policy decides: newest-wins, a-wins, b-wins, or field-merge
//     (each field goes the way of the side that changed it; a field both sides changed goes
//     by newest-wins or by MergePrefer). Every conflict is reported field by field.
//   - The loop guard. Two services can only write a pair back and forth forever if one of
//     them does not keep a value as it was written (a phone reformatted, a name trimmed).
//     Tandem notes on the link what it wrote and when, and reads the record back as soon
//     as the write is made, before the link is saved (Confirm): a record that holds what
//     was written is confirmed then, so a later edit of it is an edit. One that does not
//     stays noted, and the next read of it finds what was written (confirmed) or not (a
//     misread). Misreads in a row on one pair are not edits but a service reformatting:
//     the pair is held for a cool-down with the field and both values as its reason,
//     listed in status, and compared afresh when the cool-down ends (a normalizer added
//     meanwhile settles it). A single misread is taken for what it may well be, an edit
//     made just after Tandem's write. Without the read-back, "the next read" could come a
//     whole schedule later, and a user's edits of both sides in that time, each after
//     Tandem's write of it, were taken for a loop.
//   - Write modes and blanks. A create-only side is not updated, and a blank that a field
//     keeps (on_empty: keep) is not written over a value: the write is withheld, and the
//     link records each side as it is, so the next read is an echo, not a change. A field
//     left apart this way goes across again only when the winning side changes it.
//
// Without a link (the first time two existing records meet by key) there is no memory of
// the pair: the changed record is taken as changed, and its partner as changed when it
// changed after its side's cursor (a change Tandem has not read yet).
package pairs

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"tandem/connectors"
	"tandem/definition"
)

// Values are the mapped fields of one record under its own side's field names, normalized.
type Values = map[string]any

// MaxMisreads is how many writes of a pair in a row may fail to read back as written
// before the pair is held.
const MaxMisreads = 2

// DefaultCoolDown is how long the loop guard holds a pair.
const DefaultCoolDown = 5 * time.Minute

// Fingerprint hashes a side's values over every mapped field of the sync, in field order,
// each with the names the field has on both sides: two halves with equal values have
// equal fingerprints, and a change to the sync's fields (a field added, dropped or mapped
// to another name) changes every fingerprint, so a link saved before it never looks as
// though it agreed under the new mapping.
func Fingerprint(s *definition.Sync, side definition.Side, v Values) string {
	return fingerprint(s, func(f definition.Field) any { return v[f.Name(side)] })
}

// RecordFingerprint is Fingerprint of RecordValues(s, side, r, norm), without building
// the values: a two-way pass fingerprints every record it reads to tell the settled ones.
func RecordFingerprint(s *definition.Sync, side definition.Side, r connectors.Record, norm func(any, []string) any) string {
	return fingerprint(s, func(f definition.Field) any {
		val, _ := r.Value(f.Name(side))
		return norm(val, f.Normalize)
	})
}

// fingerprint is Fingerprint with each field's value given by value: FNV-1a, 64 bits,
// over "i:a:b=value\x00" for each field i (its names on sides a and b), in 16
// hexadecimal digits. Links keep it, so it must not change; it is computed without fmt or
// a hash.Hash, whose Write takes its bytes to the heap (every record read).
func fingerprint(s *definition.Sync, value func(definition.Field) any) string {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	add := func(b string) {
		for j := 0; j < len(b); j++ {
			h = (h ^ uint64(b[j])) * prime
		}
	}
	for i, f := range s.Fields {
		add(strconv.Itoa(i)) // no allocation below 100
		add(":")
		add(f.Name(definition.A))
		add(":")
		add(f.Name(definition.B))
		add("=")
		add(connectors.KeyString(value(f)))
		add("\x00")
	}
	var out [16]byte
	const digits = "0123456789abcdef"
	for j := 15; j >= 0; j-- {
		out[j] = digits[h&0xf]
		h >>= 4
	}
	return string(out[:])
}

// LegacyFingerprint is Fingerprint as links saved before wave 2, session 6 hold it: by
// field position only.
func LegacyFingerprint(s *definition.Sync, side definition.Side, v Values) string {
	h := fnv.New64a()
	for i, f := range s.Fields {
		fmt.Fprintf(h, "%d=%s\x00", i, connectors.KeyString(v[f.Name(side)]))
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// Equal compares two field values the way services round-trip them: a number may come
// back as a string, and a missing value equals an empty one.
func Equal(a, b any) bool { return connectors.KeyString(a) == connectors.KeyString(b) }

// Case is one pair to decide: a changed record of side From (X), its partner on the other
// side (Y) as read now, and their link.
type Case struct {
	From definition.Side
	// X and Y are the mapped values of both records, each under its own side's names.
	X, Y     Values
	XAt, YAt time.Time
	XID, YID string
	Key      string
	Link     *Link
	// YChanged says, for a pair without a link, whether Y changed after its side's cursor.
	YChanged bool
}

// FieldDecision is how one field of a conflict was decided.
type FieldDecision struct {
	// Field is the field's name on side a (its name on b follows from the mapping).
	Field  string `json:"field"`
	A      any    `json:"a"`
	B      any    `json:"b"`
	Winner string `json:"winner"` // "a" or "b"
	// Why names the rule: "a changed", "b changed", "both changed: newest", a policy.
	Why string `json:"why"`
}

// Misread is a value that did not read back as Tandem wrote it.
type Misread struct {
	Side  string `json:"side"`
	Field string `json:"field"`
	Wrote any    `json:"wrote"`
	Read  any    `json:"read"`
}

func (m Misread) String() string {
	return fmt.Sprintf("%s.%s was written as %q and reads back as %q", m.Side, m.Field,
		connectors.KeyString(m.Wrote), connectors.KeyString(m.Read))
}

// Outcome is the decision on one pair.
type Outcome struct {
	// ToY and ToX are the fields to write to Y and back to X (each side's own names).
	ToY, ToX Values
	// Echo is set when neither record changed since the pair was last synced.
	Echo bool
	// Conflict is set when both had; Winner is the side whose values prevailed (for
	// field-merge, the side that won the most fields), Fields how each differing field
	// went.
	Conflict bool
	Winner   definition.Side
	Fields   []FieldDecision
	// Held is set when the pair is held by the loop guard (nothing is written); Reason
	// says why.
	Held   bool
	Reason string
	// Misreads are the values that did not read back as written.
	Misreads []Misread
	// Withheld says why writes the pair called for were not made: the written side's
	// write mode (definition.Sync.Write) refuses updates.
	Withheld string
	// Link is the pair's link once the writes are made (ids of records still to be
	// created are filled in by the caller); nil when the link need not change.
	Link *Link
}

// Decide decides a pair of records that both exist. now stamps the link.
func Decide(s *definition.Sync, c Case, now time.Time, coolDown time.Duration) Outcome {
	x, y := c.From, definition.Other(c.From)
	var lx, ly *Half
	if c.Link != nil {
		lx, ly = half(c.Link, x), half(c.Link, y)
	}
	var out Outcome

	// The loop guard: what Tandem wrote last time, read back now.
	misreads, afresh := 0, false
	if c.Link != nil {
		misreads = c.Link.Misreads
		out.Misreads = append(misread(s, x, c.X, lx), misread(s, y, c.Y, ly)...)
		switch {
		case len(out.Misreads) > 0:
			misreads++
		case !lx.WroteAt.IsZero() || !ly.WroteAt.IsZero():
			misreads = 0
		}
		if !c.Link.HeldUntil.IsZero() {
			if now.Before(c.Link.HeldUntil) {
				out.Held, out.Reason = true, c.Link.HeldReason
				return out
			}
			// The cool-down is over: compare afresh, as two records that both changed.
			misreads, afresh = 0, true
		}
	}
	if misreads >= MaxMisreads {
		reasons := make([]string, len(out.Misreads))
		for i, m := range out.Misreads {
			reasons[i] = m.String()
		}
		out.Held = true
		out.Reason = fmt.Sprintf("loop guard: %s (%d writes in a row did not read back as written); held until %s, then compared again: add a normalizer to the field, or make it one-way",
			strings.Join(reasons, "; "), misreads, now.Add(coolDown).UTC().Format(time.RFC3339))
		l := *c.Link
		l.HeldUntil, l.HeldReason, l.Misreads = now.Add(coolDown), out.Reason, 0
		// What each side holds now is what the pair is compared against after the hold.
		setHalf(&l, x, c.XID, c.X, s, time.Time{})
		setHalf(&l, y, c.YID, c.Y, s, time.Time{})
		l.Decision = "held"
		l.SyncedAt = now
		out.Link = &l
		return out
	}

	// Which side changed since the pair was last synced.
	changedX, changedY := map[string]bool{}, map[string]bool{}
	xChanged, yChanged := true, c.YChanged
	if c.Link != nil {
		xChanged, yChanged = false, false
		for _, f := range s.Fields {
			if afresh || !Equal(c.X[f.Name(x)], lx.Values[f.Name(x)]) {
				changedX[f.Name(x)], xChanged = true, true
			}
			if afresh || !Equal(c.Y[f.Name(y)], ly.Values[f.Name(y)]) {
				changedY[f.Name(y)], yChanged = true, true
			}
		}
	}
	out.Echo = !xChanged && !yChanged
	out.Conflict = xChanged && yChanged
	winner := x
	switch {
	case out.Conflict:
		winner = resolve(s.Conflict, c.From, c.XAt, c.YAt)
	case yChanged:
		winner = y
	}
	won := map[definition.Side]int{}
	for _, f := range s.Fields {
		xn, yn := f.Name(x), f.Name(y)
		xv, yv := c.X[xn], c.Y[yn]
		if Equal(xv, yv) {
			continue
		}
		// A field the pair was left apart on when last synced (a write withheld: a
		// create-only side, a kept blank) goes the winner's way only if the winner changed
		// it since: the other side's value is not undone by the winner's older one.
		apart := c.Link != nil && !afresh && !Equal(lx.Values[xn], ly.Values[yn])
		keepApart := apart && !(winner == x && changedX[xn] || winner == y && changedY[yn])
		toY, toX := f.Direction.Flows(y), f.Direction.Flows(x)
		var w definition.Side
		why := ""
		switch {
		// A field that goes one way only carries a blank only when its side cleared it
		// since the pair was last synced and the field clears (on_empty: clear): a record
		// Tandem created on the other side has no value yet, and must not clear it.
		case toY && !toX:
			if !definition.Blank(xv) || f.OnEmpty == definition.Clear && changedX[xn] {
				w, why = x, "one-way field"
			}
		case toX && !toY:
			if !definition.Blank(yv) || f.OnEmpty == definition.Clear && changedY[yn] {
				w, why = y, "one-way field"
			}
		case out.Echo:
			// Neither changed since the last sync, yet they differ (a pair left apart by a
			// hold or a failed write): nothing new to go by; leave them.
		case out.Conflict && s.Conflict == definition.FieldMerge:
			switch cx, cy := changedX[xn], changedY[yn]; {
			case cx && !cy:
				w, why = x, x+" changed"
			case cy && !cx:
				w, why = y, y+" changed"
			case cx && cy:
				w, why = resolve(definition.NewestWins, c.From, c.XAt, c.YAt), "both changed: newest"
				if s.MergePrefer != "" {
					w, why = s.MergePrefer, "both changed: "+s.MergePrefer+" preferred"
				}
			case !apart:
				// Neither side changed this field, and no link says it was left apart
				// (there is none yet): keep the newer record's value.
				w, why = resolve(definition.NewestWins, c.From, c.XAt, c.YAt), "unchanged on both: newest"
			}
		case keepApart:
		case out.Conflict:
			w, why = winner, string(s.Conflict)
		default:
			w, why = winner, winner+" changed"
		}
		// What the written side takes: nothing if it is not updated (create-only), and
		// not a blank it would keep (on_empty: keep), so the pair stays as it is.
		if w != "" {
			to, v := y, xv
			if w == y {
				to, v = x, yv
			}
			if reason := s.Withheld(to, false); reason != "" {
				out.Withheld = reason
				continue
			}
			if f.Keeps(v) {
				continue
			}
		}
		switch w {
		case x:
			if out.ToY == nil {
				out.ToY = Values{}
			}
			out.ToY[yn] = xv
		case y:
			if out.ToX == nil {
				out.ToX = Values{}
			}
			out.ToX[xn] = yv
		default:
			continue
		}
		won[w]++
		if out.Conflict {
			fd := FieldDecision{Field: f.A, Winner: w, Why: why}
			fd.A, fd.B = xv, yv
			if x == definition.B {
				fd.A, fd.B = yv, xv
			}
			out.Fields = append(out.Fields, fd)
		}
	}
	if out.Conflict {
		out.Winner = winner
		if s.Conflict == definition.FieldMerge {
			out.Winner = x
			if won[y] > won[x] {
				out.Winner = y
			}
		}
	}

	// The link once the writes are made.
	l := Link{Key: c.Key, Misreads: misreads, SyncedAt: now}
	if c.Link != nil {
		l.Decision = c.Link.Decision
	}
	setHalf(&l, x, c.XID, apply(c.X, out.ToX), s, wroteAt(out.ToX, now))
	setHalf(&l, y, c.YID, apply(c.Y, out.ToY), s, wroteAt(out.ToY, now))
	l.Decision = describe(out)
	if c.Link != nil && sameLink(*c.Link, l) {
		return out // an echo with nothing to confirm: the link stays as it is
	}
	out.Link = &l
	return out
}

// Confirm is the read-back of Tandem's write to side of the link, made just after it with
// read, the record's values as read then: when Tandem wrote that half (WroteAt) and the
// record holds what was written, the write is confirmed (WroteAt cleared), and once no half
// of the link awaits its read-back, the pair's misreads in a row end (a write read back as
// written breaks them, as in Decide). It reports whether the half was confirmed; otherwise
// the link is left as it is, for the next read to judge.
func Confirm(s *definition.Sync, l *Link, side Side, read Values) bool {
	return confirm(s, l, side, func(f definition.Field) any { return read[f.Name(side)] })
}

// ConfirmRecord is Confirm of record r's values (RecordValues(s, side, r, norm)), compared
// field by field without building them.
func ConfirmRecord(s *definition.Sync, l *Link, side Side, r connectors.Record, norm func(any, []string) any) bool {
	return confirm(s, l, side, func(f definition.Field) any {
		v, _ := r.Value(f.Name(side))
		return norm(v, f.Normalize)
	})
}

// confirm is Confirm with each field's value read now given by value.
func confirm(s *definition.Sync, l *Link, side Side, value func(definition.Field) any) bool {
	h := half(l, side)
	if h.WroteAt.IsZero() {
		return false
	}
	for _, f := range s.Fields {
		if !Equal(value(f), h.Values[f.Name(side)]) {
			return false
		}
	}
	h.WroteAt = time.Time{}
	if l.A.WroteAt.IsZero() && l.B.WroteAt.IsZero() {
		l.Misreads = 0
	}
	return true
}

// Created is the link of a pair whose Y Tandem is creating from X: payload is what the
// create writes (Y's names), and Y's half holds its values over the sync's fields (nil
// where it has none). The caller fills in Y's id once it is known. When those are X's
// values (each field has one name on both sides, and the payload holds X's value of
// each), both halves share x's map and fingerprint: a link's values are not changed once
// built.
func Created(s *definition.Sync, from definition.Side, xID, key string, x Values, payload map[string]any, now time.Time) Link {
	y := definition.Other(from)
	l := Link{Key: key, SyncedAt: now, Decision: createdOn(y)}
	setHalf(&l, from, xID, x, s, time.Time{})
	if sameAsX(s, from, x, payload) {
		h := half(&l, y)
		h.Values, h.FP, h.WroteAt = x, half(&l, from).FP, now
		return l
	}
	v := make(Values, len(s.Fields))
	for _, f := range s.Fields {
		v[f.Name(y)] = payload[f.Name(y)]
	}
	setHalf(&l, y, "", v, s, now)
	return l
}

// createdOn is the decision of a pair created on side y: one string a side, not one a link.
func createdOn(y definition.Side) string {
	switch y {
	case definition.A:
		return "created on a"
	case definition.B:
		return "created on b"
	}
	return "created on " + y
}

// sameAsX reports whether a create's payload holds x, X's values, on every field of the
// sync under the same names: Y's half of the pair's link would hold x's values then.
func sameAsX(s *definition.Sync, from definition.Side, x Values, payload map[string]any) bool {
	if len(x) != len(s.Fields) {
		return false
	}
	y := definition.Other(from)
	for _, f := range s.Fields {
		n := f.Name(from)
		if f.Name(y) != n {
			return false
		}
		v, ok := payload[n]
		if !ok || !sameValue(v, x[n]) {
			return false
		}
	}
	return true
}

// Values of a record: its mapped fields under its side's names, normalized by norm.
func RecordValues(s *definition.Sync, side definition.Side, r connectors.Record, norm func(any, []string) any) Values {
	v := make(Values, len(s.Fields))
	for _, f := range s.Fields {
		val, _ := r.Value(f.Name(side))
		v[f.Name(side)] = norm(val, f.Normalize)
	}
	return v
}

// Half returns the half of l on side.
func (l *Link) Half(side definition.Side) *Half { return half(l, side) }

func half(l *Link, side definition.Side) *Half {
	if side == definition.B {
		return &l.B
	}
	return &l.A
}

func setHalf(l *Link, side definition.Side, id string, v Values, s *definition.Sync, wrote time.Time) {
	h := half(l, side)
	h.ID, h.Values, h.FP, h.WroteAt = id, v, Fingerprint(s, side, v), wrote
}

func wroteAt(w Values, now time.Time) time.Time {
	if len(w) == 0 {
		return time.Time{}
	}
	return now
}

func apply(v, w Values) Values {
	out := maps.Clone(v)
	if out == nil {
		out = Values{}
	}
	maps.Copy(out, w)
	return out
}

// misread lists the fields of a record that Tandem wrote (h.WroteAt set) and that do not
// read back as written.
func misread(s *definition.Sync, side definition.Side, now Values, h *Half) []Misread {
	if h.WroteAt.IsZero() {
		return nil
	}
	var out []Misread
	for _, f := range s.Fields {
		n := f.Name(side)
		if !Equal(now[n], h.Values[n]) {
			out = append(out, Misread{Side: side, Field: n, Wrote: h.Values[n], Read: now[n]})
		}
	}
	return out
}

// resolve picks the side a policy prefers; newest-wins takes X on a tie.
func resolve(p definition.Policy, from definition.Side, xAt, yAt time.Time) definition.Side {
	switch p {
	case definition.AWins:
		return definition.A
	case definition.BWins:
		return definition.B
	}
	if yAt.After(xAt) {
		return definition.Other(from)
	}
	return from
}

func describe(o Outcome) string {
	switch {
	case o.Conflict:
		return "conflict: " + o.Winner + " won"
	case len(o.ToY)+len(o.ToX) == 0:
		return "in step"
	case len(o.ToX) == 0 && len(o.ToY) > 0:
		return "updated the partner"
	default:
		return "updated both"
	}
}

// sameLink reports whether saving l over old would change nothing but its time.
func sameLink(old, l Link) bool {
	return old.Key == l.Key && old.Misreads == l.Misreads && old.HeldUntil.IsZero() &&
		sameHalf(old.A, l.A) && sameHalf(old.B, l.B)
}

func sameHalf(a, b Half) bool {
	return a.ID == b.ID && a.FP == b.FP && a.WroteAt.IsZero() && b.WroteAt.IsZero() &&
		slices.Equal(slices.Sorted(maps.Keys(a.Values)), slices.Sorted(maps.Keys(b.Values)))
}
