package activities

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"tandem/connectors"
	"tandem/definition"
	"tandem/pairs"
)

// Two-way syncs: which side's values a pair ends with, as wave 1 decided it (baselines kept
// by the workflow). Runs since the "link-store" version decide by the link store's model
// (package pairs, through linkedItem and compareLinked); this path stays so histories
// recorded before it replay as they ran.
//
// A pair is in step when both records hold the same values over every mapped field
// (after normalizing). When a batch from side X finds its pair out of step, the side that
// changed since the pair was last in step wins. That is known from the pair's baseline, the
// fingerprint of the values it agreed on when Tandem last wrote it (kept by the workflow
// for recently written pairs), or, without one, from the other side's cursor: a record of
// Y changed after Y's cursor is a change Tandem has not read yet. When both sides changed,
// the sync's conflict policy decides. Fields that go one way only always flow their way.

// fingerprint hashes a record's values over every mapped field, under canonical names
// (the field's position), normalized: records of a pair in step have equal fingerprints.
func fingerprint(s *definition.Sync, side string, r connectors.Record) string {
	h := fnv.New64a()
	for i, f := range s.Fields {
		name := f.A
		if side == SideB {
			name = f.B
		}
		v, _ := r.Value(name)
		fmt.Fprintf(h, "%d=%s\x00", i, connectors.KeyString(normalize(v, f.Normalize)))
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// agreedFingerprint is the fingerprint both records of a pair have after a write in which
// winner's values prevailed on the fields that go both ways.
func agreedFingerprint(s *definition.Sync, a, b connectors.Record, winner string) string {
	h := fnv.New64a()
	for i, f := range s.Fields {
		from := winner
		switch f.Direction {
		case definition.AToB:
			from = SideA
		case definition.BToA:
			from = SideB
		}
		var v any
		if from == SideA {
			v, _ = a.Value(f.A)
		} else {
			v, _ = b.Value(f.B)
		}
		fmt.Fprintf(h, "%d=%s\x00", i, connectors.KeyString(normalize(v, f.Normalize)))
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// Pair is what a two-way comparison needs beyond the one-way payloads.
type Pair struct {
	// Back is what the target asks the source to hold over the fields that flow back
	// (the source's field names); BackHave is what the source holds over them.
	Back     Payload `json:"back,omitempty"`
	BackHave Payload `json:"back_have,omitempty"`
	// SourceFP and TargetFP fingerprint both records now; IfSource and IfTarget are the
	// fingerprints the pair agrees on if the source's or the target's values prevail.
	SourceFP string `json:"sfp"`
	TargetFP string `json:"tfp,omitempty"`
	IfSource string `json:"ifs,omitempty"`
	IfTarget string `json:"ift,omitempty"`
	// CreatedFP is the fingerprint of the target a create makes (no target yet).
	CreatedFP string `json:"cfp,omitempty"`

	// Linked two-way syncs: X and Y are both records' mapped values (each under its own
	// side's names; Y absent before a create), Link the pair's link if it has one, and
	// YChanged, for a pair without one, whether Y changed after its side's cursor.
	X        pairs.Values `json:"x,omitempty"`
	Y        pairs.Values `json:"y,omitempty"`
	Link     *pairs.Link  `json:"link,omitempty"`
	YChanged bool         `json:"ych,omitempty"`
}

// linkedItem builds the item of a record of a linked two-way batch.
func (m mapping) linkedItem(r connectors.Record, key string, p *Partners) Item {
	it := Item{SourceID: r.ID, SourceUpdatedAt: r.UpdatedAt, Key: key, Want: m.outgoing(r)}
	it.Pair = &Pair{X: m.values(m.fromName, r, it.Want)}
	var target *connectors.Record
	if found, ok := p.Linked[r.ID]; ok {
		// A copy of its own: a partner found escapes to the heap, and taking found's
		// address would send every record's look-up result there, found or not.
		lp := found
		target, it.Pair.Link = &lp.Record, &lp.Link
	} else {
		ts := p.Matches[key]
		for _, t := range ts {
			it.TargetIDs = append(it.TargetIDs, t.ID)
		}
		if len(ts) == 1 {
			target = &ts[0]
		}
		it.Taken = p.Taken[key]
	}
	if target != nil {
		it.TargetIDs = []string{target.ID}
		it.Have = m.current(*target)
		it.TargetUpdatedAt = target.UpdatedAt
		it.Pair.Y = m.values(m.toName, *target, it.Have)
	}
	return it
}

// Baseline is how a pair was left when Tandem last wrote it: both records' fingerprints.
func baseline(from, sourceFP, targetFP string) string {
	if from == SideA {
		return sourceFP + "/" + targetFP
	}
	return targetFP + "/" + sourceFP
}

// changedSince reports whether each side of a pair differs from its baseline.
func changedSince(base, from string, p *Pair) (source, target bool) {
	a, b, _ := strings.Cut(base, "/")
	if from == SideA {
		return p.SourceFP != a, p.TargetFP != b
	}
	return p.SourceFP != b, p.TargetFP != a
}

// pairForCreate fingerprints a source record with no counterpart, and the target a create
// will make from it.
func (m mapping) pairForCreate(src connectors.Record, want Payload) *Pair {
	return &Pair{
		SourceFP:  fingerprint(m.sync, m.fromName, src),
		CreatedFP: fingerprint(m.sync, m.toName, connectors.Record{Fields: want}),
	}
}

func (m mapping) pair(src, tgt connectors.Record) *Pair {
	back, _ := newMapping(m.sync, m.toName)
	p := &Pair{
		Back:     back.outgoing(tgt),
		BackHave: back.current(src),
		SourceFP: fingerprint(m.sync, m.fromName, src),
		TargetFP: fingerprint(m.sync, m.toName, tgt),
	}
	a, b := src, tgt
	if m.fromName == SideB {
		a, b = tgt, src
	}
	p.IfSource = agreedFingerprint(m.sync, a, b, m.fromName)
	p.IfTarget = agreedFingerprint(m.sync, a, b, m.toName)
	// The keys match already; only the mapped fields are compared back.
	delete(p.Back, m.from.Key)
	delete(p.BackHave, m.from.Key)
	return p
}

// twoWay decides an item of a two-way batch whose counterpart exists.
func (m mapping) twoWay(it Item, i int, in CompareInput) (Decision, bool) {
	p := it.Pair
	toY := diff(it.Want, it.Have)
	toX := diff(p.Back, p.BackHave)
	if toY == nil && toX == nil {
		return Decision{}, false
	}
	var xChanged, yChanged bool
	if base, ok := in.Baselines[it.Key]; ok {
		xChanged, yChanged = changedSince(base, m.fromName, p)
		if !xChanged && !yChanged {
			xChanged = true // cannot be: out of step but both as agreed; trust the change read
		}
	} else {
		xChanged = true
		yChanged = in.TargetCursor.Before(connectors.Record{ID: it.TargetIDs[0], UpdatedAt: it.TargetUpdatedAt})
	}
	winner, conflict := m.fromName, false
	switch {
	case xChanged && yChanged:
		conflict = true
		winner = m.resolve(it.SourceUpdatedAt, it.TargetUpdatedAt)
	case yChanged:
		winner = m.toName
	}

	back, _ := newMapping(m.sync, m.toName)
	d := Decision{Item: i, Action: ActionUpdate}
	lost := Payload{}
	for _, f := range m.sync.Fields {
		xName, yName := m.names(f)
		both := f.Direction == definition.Both || f.Direction == ""
		// A field that goes one way only is written when its side holds a value: a record
		// Tandem created on the other side has none yet, and must not clear it.
		if v, ok := toY[yName]; ok && m.flows(f) && (both && winner == m.fromName || !both && connectors.KeyString(v) != "") {
			if d.Fields == nil {
				d.Fields = Payload{}
			}
			d.Fields[yName] = v
			if conflict && both {
				lost[m.toName+"."+yName] = it.Have[yName]
			}
		}
		if v, ok := toX[xName]; ok && back.flows(f) && (both && winner == m.toName || !both && connectors.KeyString(v) != "") {
			if d.Back == nil {
				d.Back = Payload{}
			}
			d.Back[xName] = v
			if conflict && both {
				lost[m.fromName+"."+xName] = p.BackHave[xName]
			}
		}
	}
	if conflict {
		d.Winner = winner
		if len(lost) > 0 {
			d.Lost = lost
		}
	}
	if d.Fields == nil && d.Back == nil {
		return Decision{}, false
	}
	agreed := p.IfSource
	if winner == m.toName {
		agreed = p.IfTarget
	}
	d.Baseline = baseline(m.fromName, agreed, agreed)
	return d, true
}

// resolve picks the winner of a conflict by the sync's policy.
func (m mapping) resolve(sourceAt, targetAt time.Time) string {
	switch m.sync.Conflict {
	case definition.AWins:
		return SideA
	case definition.BWins:
		return SideB
	}
	if targetAt.After(sourceAt) {
		return m.toName
	}
	return m.fromName
}
