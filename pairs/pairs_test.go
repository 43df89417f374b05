package pairs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/definition"
)

// people is a two-way sync of crm contacts (a) and erp people (b): name and phone go both
// ways under different names on b; status goes b-to-a only.
func people(p definition.Policy) *definition.Sync {
	return &definition.Sync{
		Name: "people", Mode: definition.TwoWay, Conflict: p,
		A: definition.End{Connection: "crm", Object: "contacts", Key: "email"},
		B: definition.End{Connection: "erp", Object: "people", Key: "mail"},
		Fields: []definition.Field{
			{A: "email", B: "mail", Direction: definition.Both},
			{A: "name", B: "full_name", Direction: definition.Both},
			{A: "phone", B: "tel", Direction: definition.Both},
			{A: "status", B: "state", Direction: definition.BToA},
		},
	}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ann(name, phone string) Values {
	return Values{"email": "ann@x.com", "name": name, "phone": phone, "status": "active"}
}
func annB(name, tel string) Values {
	return Values{"mail": "ann@x.com", "full_name": name, "tel": tel, "state": "active"}
}

// synced is the link of a pair last synced holding a and b.
func synced(s *definition.Sync, a, b Values) *Link {
	l := &Link{Key: "ann@x.com", SyncedAt: t0}
	setHalf(l, definition.A, "a1", a, s, time.Time{})
	setHalf(l, definition.B, "b1", b, s, time.Time{})
	return l
}

func TestDecide(t *testing.T) {
	base := synced(people(definition.NewestWins), ann("Ann", "1"), annB("Ann", "1"))
	for _, tc := range []struct {
		name     string
		policy   definition.Policy
		prefer   string
		from     string
		x, y     Values
		xAt, yAt time.Time
		link     *Link
		toY, toX Values
		echo     bool
		conflict bool
		winner   string
	}{
		{name: "echo: both as last synced", from: "a", x: ann("Ann", "1"), y: annB("Ann", "1"), link: base, echo: true},
		{name: "only a changed goes across", from: "a", x: ann("Anne", "1"), y: annB("Ann", "1"), link: base, toY: Values{"full_name": "Anne"}},
		{name: "only b changed comes back, read from a's batch", from: "a", x: ann("Ann", "1"), y: annB("Ann", "2"), link: base, toX: Values{"phone": "2"}},
		{name: "only b changed, read from b's batch", from: "b", x: annB("Ann", "2"), y: ann("Ann", "1"), link: base, toY: Values{"phone": "2"}},
		{name: "both changed, newest wins (b newer)", policy: definition.NewestWins, from: "a", x: ann("Anne", "1"), y: annB("Ann", "2"), xAt: t0, yAt: t0.Add(time.Second), link: base,
			toX: Values{"name": "Ann", "phone": "2"}, conflict: true, winner: "b"},
		{name: "both changed, a wins", policy: definition.AWins, from: "b", x: annB("Ann", "2"), y: ann("Anne", "1"), xAt: t0.Add(time.Second), yAt: t0, link: base,
			toX: Values{"full_name": "Anne", "tel": "1"}, conflict: true, winner: "a"},
		{name: "field-merge keeps both sides' changes", policy: definition.FieldMerge, from: "a", x: ann("Ann", "2"), y: annB("Bob", "1"), xAt: t0.Add(time.Second), yAt: t0, link: base,
			toY: Values{"tel": "2"}, toX: Values{"name": "Bob"}, conflict: true, winner: "a"},
		{name: "field-merge: a field both changed goes to the newest", policy: definition.FieldMerge, from: "a", x: ann("Anne", "2"), y: annB("Bob", "1"), xAt: t0, yAt: t0.Add(time.Second), link: base,
			toY: Values{"tel": "2"}, toX: Values{"name": "Bob"}, conflict: true, winner: "a"},
		{name: "field-merge: prefer a on a field both changed", policy: definition.FieldMerge, prefer: "a", from: "a", x: ann("Anne", "2"), y: annB("Bob", "1"), xAt: t0, yAt: t0.Add(time.Second), link: base,
			toY: Values{"tel": "2", "full_name": "Anne"}, conflict: true, winner: "a"},
		{name: "no link: the changed record wins unless its partner changed after the cursor", from: "a", x: ann("Anne", "1"), y: annB("Ann", "1"),
			toY: Values{"full_name": "Anne"}},
		{name: "a key change updates the partner's key field", from: "a", x: Values{"email": "ann@y.com", "name": "Ann", "phone": "1", "status": "active"}, y: annB("Ann", "1"), link: base,
			toY: Values{"mail": "ann@y.com"}},
		{name: "a one-way field flows its way whatever changed", from: "a", x: ann("Ann", "1"), y: Values{"mail": "ann@x.com", "full_name": "Ann", "tel": "1", "state": "gone"},
			link: synced(people(definition.NewestWins), ann("Ann", "1"), annB("Ann", "1")), toX: Values{"status": "gone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.policy
			if p == "" {
				p = definition.NewestWins
			}
			s := people(p)
			s.MergePrefer = tc.prefer
			xID, yID := "a1", "b1"
			if tc.from == "b" {
				xID, yID = "b1", "a1"
			}
			o := Decide(s, Case{From: tc.from, X: tc.x, Y: tc.y, XAt: tc.xAt, YAt: tc.yAt, XID: xID, YID: yID, Key: "ann@x.com", Link: tc.link}, t0.Add(time.Minute), time.Minute)
			assert.Equal(t, tc.toY, o.ToY, "to y")
			assert.Equal(t, tc.toX, o.ToX, "to x")
			assert.Equal(t, tc.echo, o.Echo, "echo")
			assert.Equal(t, tc.conflict, o.Conflict, "conflict")
			assert.Equal(t, tc.winner, o.Winner, "winner")
			if tc.conflict {
				assert.NotEmpty(t, o.Fields, "a conflict is reported field by field")
			}
			if tc.echo {
				assert.Nil(t, o.Link, "an echo leaves the link as it is")
			} else {
				require.NotNil(t, o.Link)
				// The link holds what each side holds after the writes.
				x := apply(tc.x, o.ToX)
				assert.Equal(t, Fingerprint(s, tc.from, x), o.Link.Half(tc.from).FP)
				assert.Equal(t, xID, o.Link.Half(tc.from).ID)
			}
		})
	}
}

func TestFieldMergeReportsEachField(t *testing.T) {
	s := people(definition.FieldMerge)
	o := Decide(s, Case{From: "a", X: ann("Ann", "2"), Y: annB("Bob", "1"), XID: "a1", YID: "b1", Link: synced(s, ann("Ann", "1"), annB("Ann", "1"))}, t0, time.Minute)
	assert.ElementsMatch(t, []FieldDecision{
		{Field: "name", A: "Ann", B: "Bob", Winner: "b", Why: "b changed"},
		{Field: "phone", A: "2", B: "1", Winner: "a", Why: "a changed"},
	}, o.Fields)
}

// A service that reformats what Tandem writes: the first misread is taken for an edit, the
// second in a row holds the pair with the field and both values, and after the cool-down
// the pair is compared afresh; once a normalizer makes both read alike, it is in step.
func TestLoopGuard(t *testing.T) {
	s := people(definition.NewestWins)
	now := t0
	link := synced(s, ann("Ann", "1"), annB("Ann", "1"))

	// a's phone changes to "+1 555"; it goes to b.
	o := Decide(s, Case{From: "a", X: ann("Ann", "+1 555"), Y: annB("Ann", "1"), XID: "a1", YID: "b1", Link: link}, now, time.Minute)
	require.Equal(t, Values{"tel": "+1 555"}, o.ToY)
	link = o.Link
	assert.Equal(t, now, link.B.WroteAt)

	// b reformats it to "(555)": read back, a misread, taken for an edit of b's: it comes to a.
	now = now.Add(time.Second)
	o = Decide(s, Case{From: "b", X: annB("Ann", "(555)"), Y: ann("Ann", "+1 555"), XID: "b1", YID: "a1", Link: link}, now, time.Minute)
	require.Len(t, o.Misreads, 1)
	assert.False(t, o.Held)
	require.Equal(t, Values{"phone": "(555)"}, o.ToY)
	link = o.Link
	assert.Equal(t, 1, link.Misreads)

	// a reformats it back to "+1 555": the second misread in a row holds the pair.
	now = now.Add(time.Second)
	o = Decide(s, Case{From: "a", X: ann("Ann", "+1 555"), Y: annB("Ann", "(555)"), XID: "a1", YID: "b1", Link: link}, now, time.Minute)
	require.True(t, o.Held)
	assert.Empty(t, o.ToY)
	assert.Empty(t, o.ToX)
	assert.Contains(t, o.Reason, `a.phone was written as "(555)" and reads back as "+1 555"`)
	link = o.Link
	assert.Equal(t, now.Add(time.Minute), link.HeldUntil)

	// While held, nothing is written.
	o = Decide(s, Case{From: "b", X: annB("Ann", "(555)"), Y: ann("Ann", "+1 555"), XID: "b1", YID: "a1", Link: link}, now.Add(30*time.Second), time.Minute)
	assert.True(t, o.Held)
	assert.Nil(t, o.Link)

	// After the cool-down, with a normalizer that makes both read alike (digits only,
	// applied by the caller before Decide), the pair is in step and the hold is lifted.
	now = now.Add(2 * time.Minute)
	o = Decide(s, Case{From: "a", X: ann("Ann", "555"), Y: annB("Ann", "555"), XID: "a1", YID: "b1", Link: link}, now, time.Minute)
	assert.False(t, o.Held)
	assert.Empty(t, o.ToY)
	assert.Empty(t, o.ToX)
	require.NotNil(t, o.Link)
	assert.True(t, o.Link.HeldUntil.IsZero())
}

// Genuine edits in alternation are never taken for a loop (wave 1 stopped a pair after
// four): each write is read back as written before the next edit.
func TestAlternatingEditsAreNotALoop(t *testing.T) {
	s := people(definition.NewestWins)
	link := synced(s, ann("Ann", "0"), annB("Ann", "0"))
	now := t0
	for i := 1; i <= 10; i++ {
		now = now.Add(time.Second)
		phone := string(rune('0' + i))
		if i%2 == 1 { // an edit on a goes to b, and b's echo confirms it
			o := Decide(s, Case{From: "a", X: ann("Ann", phone), Y: annB("Ann", link.B.Values["tel"].(string)), XID: "a1", YID: "b1", Link: link}, now, time.Minute)
			require.Equal(t, Values{"tel": phone}, o.ToY, "edit %d", i)
			link = o.Link
			o = Decide(s, Case{From: "b", X: annB("Ann", phone), Y: ann("Ann", phone), XID: "b1", YID: "a1", Link: link}, now, time.Minute)
			require.True(t, o.Echo, "echo %d", i)
			require.NotNil(t, o.Link, "the echo confirms the write")
			link = o.Link
		} else {
			o := Decide(s, Case{From: "b", X: annB("Ann", phone), Y: ann("Ann", link.A.Values["phone"].(string)), XID: "b1", YID: "a1", Link: link}, now, time.Minute)
			require.Equal(t, Values{"phone": phone}, o.ToY, "edit %d", i)
			require.False(t, o.Held)
			link = o.Link
			o = Decide(s, Case{From: "a", X: ann("Ann", phone), Y: annB("Ann", phone), XID: "a1", YID: "b1", Link: link}, now, time.Minute)
			require.True(t, o.Echo, "echo %d", i)
			link = o.Link
		}
		assert.Zero(t, link.Misreads)
	}
}
