package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tandem/connectors"
	"tandem/connectors/memory"
	"tandem/definition"
	"tandem/pairs"
)

// contactsFixture is a fixture with a link store in memory, and the two-way sync
// "contacts".
func contactsFixture(t *testing.T) (*fixture, pairs.Store, *definition.Sync) {
	t.Helper()
	f := newFixture(memory.Options{})
	store, err := pairs.Open(":memory:")
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	f.acts.Links = store
	s, err := f.acts.sync(Ref{Sync: "contacts"})
	require.NoError(t, err)
	return f, store, s
}

// contactFields and person are the fields of a contact of crm and of a person of erp in
// the sync "contacts".
func contactFields(email, name string) map[string]any {
	return map[string]any{"email": email, "name": name, "phone": "+1", "status": "lead"}
}

func person(email, name string) map[string]any {
	return map[string]any{"email": email, "full_name": name, "phone": "+1", "status": "lead"}
}

// SaveLinks reads back what a batch wrote before it saves the links: a record that holds
// what was written is confirmed (WroteAt cleared), so that an edit of it before the next
// read is an edit and not a misread; one that does not, or one that could not be read, is
// left for its next read to judge.
func TestSaveLinksReadsBackWrites(t *testing.T) {
	ctx := context.Background()
	f, store, s := contactsFixture(t)
	ref := Ref{Sync: "contacts"}
	contactOf := contactFields
	// link is the pair of crm record a and erp record b after Tandem wrote wrote to b.
	link := func(a, b connectors.Record, wrote map[string]any) pairs.Link {
		l := pairs.Link{Key: connectors.KeyString(wrote["email"]), SyncedAt: t0, Misreads: 1}
		*l.Half(SideA) = pairs.Half{ID: a.ID, Values: pairs.RecordValues(s, SideA, a, normalize)}
		*l.Half(SideB) = pairs.Half{ID: b.ID, Values: pairs.RecordValues(s, SideB, connectors.Record{Fields: wrote}, normalize), WroteAt: t0}
		return l
	}
	ann := f.crm.Put(crmContacts, connectors.Record{Fields: contactOf("ann@x.com", "Ann")})
	annB := f.erp.Put(erpPeople, connectors.Record{Fields: person("ann@x.com", "Ann")})
	bob := f.crm.Put(crmContacts, connectors.Record{Fields: contactOf("bob@x.com", "Bob")})
	bobB := f.erp.Put(erpPeople, connectors.Record{Fields: person("bob@x.com", "BOB")}) // erp upper-cased it

	links := []pairs.Link{link(ann, annB, person("ann@x.com", "Ann")), link(bob, bobB, person("bob@x.com", "Bob"))}
	require.NoError(t, f.acts.SaveLinks(ctx, SaveLinksInput{Ref: ref, Links: links}))
	got, err := store.Get(ctx, "contacts", SideB, []string{annB.ID, bobB.ID})
	require.NoError(t, err)
	assert.True(t, got[annB.ID].B.WroteAt.IsZero(), "read back as written: confirmed")
	assert.Zero(t, got[annB.ID].Misreads, "a write read back as written ends the misreads in a row")
	assert.Equal(t, t0, got[bobB.ID].B.WroteAt.UTC(), "read back otherwise: left for the next read")
	assert.Equal(t, 1, got[bobB.ID].Misreads)
	assert.Equal(t, t0, links[0].B.WroteAt, "the caller's links are not changed")
	assert.Equal(t, 1, f.erp.Calls()[memory.MethodGet], "one read for the batch's side b")
	assert.Zero(t, f.crm.Calls()[memory.MethodGet], "side a was not written: not read")

	// A read that fails leaves the links as they were, and they are saved.
	f.erp.FailNext(memory.MethodGet, 1, errors.New("boom"))
	require.NoError(t, f.acts.SaveLinks(ctx, SaveLinksInput{Ref: ref, Links: links[:1]}))
	got, err = store.Get(ctx, "contacts", SideB, []string{annB.ID})
	require.NoError(t, err)
	assert.Equal(t, t0, got[annB.ID].B.WroteAt.UTC(), "not read back: saved unconfirmed")
}

// A chunk's FindPartners leaves out a record that holds what its link says the pair held,
// when the pair was left agreeing and nothing is pending: the partner is not read. Any
// other record is decided as before.
func TestFindPartnersLeavesSettledRecordsOut(t *testing.T) {
	ctx := context.Background()
	f, store, s := contactsFixture(t)
	ref := Ref{Sync: "contacts"}
	// pair puts a pair on both sides and links it as last synced; edit changes the link.
	var recs []connectors.Record
	var links []pairs.Link
	pair := func(email string, edit func(*pairs.Link)) {
		b := f.erp.Put(erpPeople, connectors.Record{Fields: person(email, "Name")})
		a := f.crm.Put(crmContacts, connectors.Record{Fields: contactFields(email, "Name")})
		l := pairs.Link{Key: email, SyncedAt: t0}
		*l.Half(SideA) = pairs.Half{ID: a.ID, Values: pairs.RecordValues(s, SideA, a, normalize)}
		*l.Half(SideB) = pairs.Half{ID: b.ID, Values: pairs.RecordValues(s, SideB, b, normalize)}
		if edit != nil {
			edit(&l)
		}
		// As saved: each half's values fingerprinted.
		l.A.FP, l.B.FP = pairs.Fingerprint(s, SideA, l.A.Values), pairs.Fingerprint(s, SideB, l.B.Values)
		recs, links = append(recs, b), append(links, l)
	}
	pair("settled@x.com", nil)
	pair("unconfirmed@x.com", func(l *pairs.Link) { l.A.WroteAt = t0 })
	pair("held@x.com", func(l *pairs.Link) { l.HeldUntil = t0.Add(time.Hour) })
	pair("misread@x.com", func(l *pairs.Link) { l.Misreads = 1 })
	pair("apart@x.com", func(l *pairs.Link) { l.A.Values["name"] = "Other" })
	pair("edited@x.com", func(l *pairs.Link) { l.B.Values["full_name"] = "Before" })
	pair("unprinted@x.com", nil)
	links[len(links)-1].A.FP, links[len(links)-1].B.FP = "", "" // saved without fingerprints: decided
	pair("remapped@x.com", nil)                                 // saved while name mapped to another field of erp's: decided
	remapped := *s
	remapped.Fields = slices.Clone(s.Fields)
	remapped.Fields[1].B = "display_name"
	l := &links[len(links)-1]
	l.A.FP, l.B.FP = pairs.Fingerprint(&remapped, SideA, l.A.Values), pairs.Fingerprint(&remapped, SideA, l.A.Values)
	require.NoError(t, store.Save(ctx, "contacts", links))

	ids, keys := make([]string, len(recs)), make([]string, len(recs))
	for i, r := range recs {
		ids[i], keys[i] = r.ID, connectors.KeyString(r.Fields["email"])
	}
	f.crm.ResetCounts()
	p, err := f.acts.FindPartners(ctx, FindPartnersInput{Ref: ref, Side: SideB, IDs: ids, Keys: keys, Current: recs})
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{recs[0].ID: true}, p.Unchanged)
	assert.Len(t, p.Linked, 7, "every other record is decided with its partner")
	assert.NotContains(t, p.Linked, recs[0].ID)
	assert.Empty(t, p.Matches, "a settled record is not looked up by key")

	// Without Current (the per-step path), nothing is left out.
	p, err = f.acts.FindPartners(ctx, FindPartnersInput{Ref: ref, Side: SideB, IDs: ids, Keys: keys})
	require.NoError(t, err)
	assert.Empty(t, p.Unchanged)
	assert.Len(t, p.Linked, 8)

	// Current must be the records of IDs, in their order: the look-up answers by place.
	swapped := slices.Clone(recs)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	_, err = f.acts.FindPartners(ctx, FindPartnersInput{Ref: ref, Side: SideB, IDs: ids, Keys: keys, Current: swapped})
	require.ErrorContains(t, err, "not those of the ids, in order")
}

// A page read from a side whose search trails its writes holds no record as Tandem wrote
// it after the page's Before: a record whose link says it was written later is read as
// it was before, and is left out (Behind), with the chunk's Current or without (the
// per-step path); one written before Before is decided with its partner. Taken for a
// change, the older version would undo Tandem's write (a user's edit of the other side,
// just carried over, written back over).
func TestFindPartnersLeavesRecordsReadFromBeforeTandemsWriteOut(t *testing.T) {
	ctx := context.Background()
	f, store, s := contactsFixture(t)
	ref := Ref{Sync: "contacts"}
	var recs []connectors.Record
	var links []pairs.Link
	for i, wrote := range []time.Time{t0.Add(time.Minute), t0.Add(-time.Minute), {}} {
		email := fmt.Sprintf("p%d@x.com", i)
		b := f.erp.Put(erpPeople, connectors.Record{Fields: person(email, "Old name")})
		a := f.crm.Put(crmContacts, connectors.Record{Fields: contactFields(email, "New name")})
		l := pairs.Link{Key: email, SyncedAt: t0}
		*l.Half(SideA) = pairs.Half{ID: a.ID, Values: pairs.RecordValues(s, SideA, a, normalize)}
		// Tandem wrote the new name to b at wrote (zero: read, not written).
		*l.Half(SideB) = pairs.Half{ID: b.ID, Values: pairs.RecordValues(s, SideB, connectors.Record{Fields: person(email, "New name")}, normalize), WroteAt: wrote}
		recs, links = append(recs, b), append(links, l)
	}
	require.NoError(t, store.Save(ctx, "contacts", links))
	ids, keys := make([]string, len(recs)), make([]string, len(recs))
	for i, r := range recs {
		ids[i], keys[i] = r.ID, connectors.KeyString(r.Fields["email"])
	}
	for _, current := range [][]connectors.Record{recs, nil} {
		p, err := f.acts.FindPartners(ctx, FindPartnersInput{Ref: ref, Side: SideB, IDs: ids, Keys: keys, Current: current, Before: t0})
		require.NoError(t, err)
		assert.Equal(t, []string{recs[0].ID}, slices.Collect(maps.Keys(p.Behind)), "with Current: %v", current != nil)
		assert.Contains(t, p.Behind[recs[0].ID], "read as it was before Tandem wrote it")
		assert.NotContains(t, p.Linked, recs[0].ID)
		assert.Contains(t, p.Linked, recs[1].ID, "written before the search's bound: decided")
		assert.Contains(t, p.Linked, recs[2].ID)
		assert.Empty(t, p.Matches, "a record left out is not looked up by key")
	}
	// Without Before (a side whose reads are current, or a record read by id), all are
	// decided.
	p, err := f.acts.FindPartners(ctx, FindPartnersInput{Ref: ref, Side: SideB, IDs: ids, Keys: keys})
	require.NoError(t, err)
	assert.Empty(t, p.Behind)
	assert.Len(t, p.Linked, 3)
}

// A delete's partner counts as edited when it no longer holds what its link says: a link
// saved before fingerprints hashed the fields' names holds the old form, which still
// says so.
func TestDeleteConflictReadsLegacyFingerprints(t *testing.T) {
	_, _, s := contactsFixture(t)
	p := connectors.Record{ID: "erp-1", UpdatedAt: t0.Add(time.Hour), Fields: person("ann@x.com", "Ann")}
	d := pairs.PendingDelete{Side: SideA, ID: "crm-1", PartnerID: p.ID, DeletedAt: t0}
	v := pairs.RecordValues(s, SideB, p, normalize)
	for name, fp := range map[string]string{"now": pairs.Fingerprint(s, SideB, v), "legacy": pairs.LegacyFingerprint(s, SideB, v)} {
		l := pairs.Link{A: pairs.Half{ID: "crm-1"}, B: pairs.Half{ID: p.ID, FP: fp}}
		_, reason := deleteConflict(s, SideA, d, l, p)
		assert.Empty(t, reason, "%s: the partner holds what the link says", name)
	}
	edited := pairs.RecordValues(s, SideB, connectors.Record{Fields: person("ann@x.com", "Before")}, normalize)
	l := pairs.Link{A: pairs.Half{ID: "crm-1"}, B: pairs.Half{ID: p.ID, FP: pairs.LegacyFingerprint(s, SideB, edited)}}
	_, reason := deleteConflict(s, SideA, d, l, p)
	assert.NotEmpty(t, reason, "edited after the delete")
}

// The creates of a linked batch take their links from slabs of linkSlabSize: every create
// still has a link of its own, with its own record, past the first slab.
func TestCompareGivesEachCreateItsOwnLink(t *testing.T) {
	acts := newFixture(memory.Options{}).acts
	ctx := context.Background()
	n := 2*linkSlabSize + 3
	var src Records
	for i := range n {
		email := fmt.Sprintf("p%d@acme.com", i)
		src.Records = append(src.Records, rec(fmt.Sprintf("crm-%d", i), map[string]any{"email": email, "name": fmt.Sprint("P", i)}))
		src.Keys = append(src.Keys, email)
	}
	items, err := acts.BuildPayloads(ctx, BuildPayloadsInput{Ref: Ref{Sync: "contacts"}, From: SideA, Source: src, Partners: &Partners{}})
	require.NoError(t, err)
	d, err := acts.Compare(ctx, CompareInput{Ref: Ref{Sync: "contacts"}, From: SideA, Items: items.Items, Linked: true, Now: t0})
	require.NoError(t, err)
	require.Len(t, d.Decisions, n)
	seen := map[*pairs.Link]bool{}
	for i, dec := range d.Decisions {
		require.Equal(t, ActionCreate, dec.Action)
		require.NotNil(t, dec.Link)
		assert.False(t, seen[dec.Link], "decision %d shares a link", i)
		seen[dec.Link] = true
		assert.Equal(t, fmt.Sprintf("crm-%d", i), dec.Link.A.ID)
		assert.Equal(t, fmt.Sprint("P", i), dec.Link.A.Values["name"])
		assert.Equal(t, "created on b", dec.Link.Decision)
	}
	last := fmt.Sprintf("crm-%d", n-1)
	links := d.Plan(SideA, items.Items).SettleLinks(map[string]string{"crm-0": "erp-0", last: "erp-last"}, nil)
	require.Len(t, links, 2)
	assert.Equal(t, "erp-0", links[0].B.ID)
	assert.Equal(t, last, links[1].A.ID)
	assert.Equal(t, "erp-last", links[1].B.ID)
	assert.Empty(t, d.Decisions[0].Link.B.ID, "settling copies: the decision's link is left as it was")
}

// A slab has room for the items left, up to linkSlabSize: a batch of a few creates does not
// allocate a whole one.
func TestLinkSlabIsSizedForTheItemsLeft(t *testing.T) {
	var s linkSlab
	a := s.next(3)
	assert.Len(t, s.free, 2, "room for the two items after it")
	b, c := s.next(2), s.next(1)
	assert.Empty(t, s.free)
	assert.True(t, a != b && b != c && a != c)
	s.next(1000)
	assert.Len(t, s.free, linkSlabSize-1, "a slab at most")
	s = linkSlab{}
	s.next(0)
	assert.Empty(t, s.free, "never an empty slab")
}
