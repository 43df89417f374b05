package pairs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/definition"
)

// Write modes and blank values in the two-way model: what is withheld is neither written
// nor recorded as written, so the next read of the pair is an echo, not a new change.

// peopleWith returns people with the write modes given and on_empty set on some fields
// (by their name on a).
func peopleWith(write map[definition.Side]definition.WriteMode, onEmpty map[string]definition.OnEmpty) *definition.Sync {
	s := people(definition.NewestWins)
	s.Write = write
	for i, f := range s.Fields {
		s.Fields[i].OnEmpty = onEmpty[f.A]
	}
	return s
}

func TestDecideWriteModesAndBlanks(t *testing.T) {
	createOnlyB := map[definition.Side]definition.WriteMode{definition.B: definition.CreateOnly}
	createOnlyA := map[definition.Side]definition.WriteMode{definition.A: definition.CreateOnly}
	noPhone := func(v Values) Values { delete(v, "phone"); return v }
	bState := func(v Values, state any) Values { v["state"] = state; return v }
	for _, tc := range []struct {
		name     string
		s        *definition.Sync
		from     string
		x, y     Values
		toY, toX Values
		withheld string
	}{
		{name: "create-only b: a's change is not written to b", s: peopleWith(createOnlyB, nil),
			from: "a", x: ann("Anne", "1"), y: annB("Ann", "1"), withheld: "side b is create-only"},
		{name: "create-only b: b's change still goes to a", s: peopleWith(createOnlyB, nil),
			from: "a", x: ann("Ann", "1"), y: annB("Ann", "2"), toX: Values{"phone": "2"}},
		{name: "create-only a: b's change is not written back to a", s: peopleWith(createOnlyA, nil),
			from: "a", x: ann("Ann", "1"), y: annB("Ann", "2"), withheld: "side a is create-only"},
		{name: "keep: a blanked on a does not wipe b", s: peopleWith(nil, nil),
			from: "a", x: ann("Ann", ""), y: annB("Ann", "1")},
		{name: "keep: spaces are blank", s: peopleWith(nil, nil),
			from: "a", x: ann("Ann", "  "), y: annB("Ann", "1")},
		{name: "keep: a value goes across beside a kept blank", s: peopleWith(nil, nil),
			from: "a", x: noPhone(ann("Anne", "")), y: annB("Ann", "1"), toY: Values{"full_name": "Anne"}},
		{name: "clear: a blanked on a clears b", s: peopleWith(nil, map[string]definition.OnEmpty{"phone": definition.Clear}),
			from: "a", x: ann("Ann", ""), y: annB("Ann", "1"), toY: Values{"tel": ""}},
		{name: "one-way field, keep: b's blank does not wipe a", s: peopleWith(nil, nil),
			from: "a", x: ann("Ann", "1"), y: bState(annB("Ann", "1"), "")},
		{name: "one-way field, clear: b cleared it, so a is cleared", s: peopleWith(nil, map[string]definition.OnEmpty{"status": definition.Clear}),
			from: "a", x: ann("Ann", "1"), y: bState(annB("Ann", "1"), ""), toX: Values{"status": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			link := synced(tc.s, ann("Ann", "1"), annB("Ann", "1"))
			x, y := tc.x, tc.y
			if tc.from == "b" {
				x, y = y, x
			}
			o := Decide(tc.s, Case{From: tc.from, X: x, Y: y, XAt: t0, YAt: t0, XID: "a1", YID: "b1", Key: "ann@x.com", Link: link}, t0, DefaultCoolDown)
			assert.Equal(t, tc.toY, o.ToY, "to y")
			assert.Equal(t, tc.toX, o.ToX, "to x")
			if tc.withheld != "" {
				assert.Contains(t, o.Withheld, tc.withheld)
			} else {
				assert.Empty(t, o.Withheld)
			}
			assert.False(t, o.Held)
			// The pair read again as the writes leave it is an echo: nothing more to write.
			require.NotNil(t, o.Link, "the link records what each side now holds")
			again := Decide(tc.s, Case{From: tc.from, X: apply(x, o.ToX), Y: apply(y, o.ToY), XAt: t0, YAt: t0, XID: "a1", YID: "b1", Key: "ann@x.com", Link: o.Link}, t0, DefaultCoolDown)
			assert.True(t, again.Echo, "the next read is an echo")
			assert.Empty(t, again.ToY)
			assert.Empty(t, again.ToX)
			assert.Empty(t, again.Misreads, "what was withheld is not taken for a write that did not read back")
		})
	}

	t.Run("one-way field, clear: a partner that never held the value is not cleared", func(t *testing.T) {
		// b was created by Tandem from a: its state is blank, and was blank when linked.
		s := peopleWith(nil, map[string]definition.OnEmpty{"status": definition.Clear})
		link := synced(s, ann("Ann", "1"), bState(annB("Ann", "1"), nil))
		o := Decide(s, Case{From: "b", X: bState(annB("Ann", "2"), nil), Y: ann("Ann", "1"), XAt: t0, YAt: t0, XID: "b1", YID: "a1", Key: "ann@x.com", Link: link}, t0, DefaultCoolDown)
		assert.Equal(t, Values{"phone": "2"}, o.ToY, "only the changed phone goes to a, not the blank state")
	})
}

func TestDecideLeavesWithheldFieldsApart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		s        *definition.Sync
		linkA, x Values // a as last synced, and now
		linkB, y Values
		toX, toY Values
	}{
		{
			// b is create-only: a's rename was withheld. b's new phone comes to a, and b's
			// old name does not undo a's rename.
			name:  "create-only b: b's other change comes without its stale name",
			s:     peopleWith(map[definition.Side]definition.WriteMode{definition.B: definition.CreateOnly}, nil),
			linkA: ann("Anne", "1"), x: ann("Anne", "1"),
			linkB: annB("Ann", "1"), y: annB("Ann", "2"),
			toX: Values{"phone": "2"},
		},
		{
			name:  "keep: b's other change does not fill a's kept blank",
			s:     peopleWith(nil, nil),
			linkA: ann("Ann", ""), x: ann("Ann", ""),
			linkB: annB("Ann", "1"), y: annB("Bob", "1"),
			toX: Values{"name": "Bob"},
		},
		{
			name:  "keep: b changing the field itself does fill it",
			s:     peopleWith(nil, nil),
			linkA: ann("Ann", ""), x: ann("Ann", ""),
			linkB: annB("Ann", "1"), y: annB("Ann", "2"),
			toX: Values{"phone": "2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			link := synced(tc.s, tc.linkA, tc.linkB)
			o := Decide(tc.s, Case{From: "a", X: tc.x, Y: tc.y, XAt: t0, YAt: t0, XID: "a1", YID: "b1", Key: "ann@x.com", Link: link}, t0, DefaultCoolDown)
			assert.Equal(t, tc.toY, o.ToY, "to b")
			assert.Equal(t, tc.toX, o.ToX, "to a")
		})
	}
}
