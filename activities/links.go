package activities

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"

	"tandem/connectors"
	"tandem/definition"
	"tandem/pairs"
)

// Two-way syncs keep a link per pair in the link store (package pairs explains the model).
// The pipeline touches it twice per batch: FindPartners reads the batch's links with its
// partners, and SaveLinks writes the links of the pairs the batch synced.

// FindPartnersInput is a batch of one side's changed records (ids and keys, in order).
type FindPartnersInput struct {
	Ref
	Side string
	IDs  []string
	Keys []string
	// Current are the batch's records as read (those of IDs, in their order), given by a
	// chunk (never in history): a record that holds what its link says it held when the
	// pair was last synced, with nothing pending on the pair, is in Unchanged instead of
	// having its partner read.
	Current []connectors.Record `json:"-"`
	// Before is the batch's Records.Before: a record whose link says Tandem wrote it
	// after then is read from before that write (a search that trails the writes shows
	// the record as it was), and is in Partners.Behind. Its partner was read by id when the
	// write was decided, so the version read was seen then; taken for a change now, it
	// would undo the write. The write comes back as a change once the search has it.
	Before time.Time `json:",omitzero"`
}

// Partners are the counterparts of a batch: by link for records that have one, by key
// for the others.
type Partners struct {
	// Linked are, by the batch's record id, the record's link and its partner as read now.
	Linked map[string]Partner `json:"linked,omitempty"`
	// Matches are, by key, the other side's unlinked records holding a key of a batch
	// record that has no link.
	Matches map[string][]connectors.Record `json:"matches,omitempty"`
	// Taken are, by key, other-side records that hold a key of an unlinked batch record
	// but are linked to some other record: the key is refused for them, not matched.
	Taken map[string][]string `json:"taken,omitempty"`
	// Gone are, by the batch's record id, the records of pairs ended by a delete while
	// the sync archives deletes (the link's Gone side is set): they are not synced, or
	// the archived partner would create the deleted record again. The value says why.
	Gone map[string]string `json:"gone,omitempty"`
	// Behind are, by the batch's record id, records read from before a write Tandem made
	// to them (FindPartnersInput.Before): not synced now, as that write comes back as a
	// change once the side's search has it. The value says why.
	Behind map[string]string `json:"behind,omitempty"`
	// Unchanged are the ids of the batch's records (of Current) whose pair has nothing to
	// do from this side: the record is as the pair was last synced, both halves are
	// confirmed, and nothing is held. Its partner's own changes are in its side's stream.
	// The typical one is Tandem's own write, read back, seen again by its side's pass.
	Unchanged map[string]bool `json:"-"`
}

// otherIDs are the ids of side to's records that p holds: linked partners, matches and
// the records whose keys were refused.
func (p Partners) otherIDs(to string) []string {
	var ids []string
	for _, pt := range p.Linked {
		ids = append(ids, pt.Record.ID) // read by its link's id
	}
	for _, rs := range p.Matches {
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
	}
	for _, taken := range p.Taken {
		ids = append(ids, taken...)
	}
	return ids
}

// Partner is a linked record's link and partner.
type Partner struct {
	Link   pairs.Link        `json:"link"`
	Record connectors.Record `json:"record"`
}

func (a *Activities) links() (pairs.Store, error) {
	if a.Links == nil {
		return nil, nonRetryable(fmt.Errorf("two-way syncs need a link store and this worker has none (set TANDEM_LINKS_DSN, or let the worker use its data dir)"))
	}
	return a.Links, nil
}

// FindPartners reads the links of a batch and the linked partners by id, and looks the
// keys of the unlinked records up on the other side: one read of the link store for the
// batch (from a chunk, a glance and a read of the links not settled: batchLinks), and one
// for the records the look-up found (whether they are linked already).
func (a *Activities) FindPartners(ctx context.Context, in FindPartnersInput) (Partners, error) {
	defer keepAlive(ctx)()
	store, err := a.links()
	if err != nil {
		return Partners{}, err
	}
	to := definition.Other(in.Side)
	s, sd, c, err := a.side(in.Ref, to)
	if err != nil {
		return Partners{}, err
	}
	m, err := newMapping(s, to)
	if err != nil {
		return Partners{}, nonRetryable(err)
	}
	out := Partners{}
	links, err := a.batchLinks(ctx, store, s, in, &out)
	if err != nil {
		return Partners{}, err
	}
	fields := projectFields(s, to)
	if len(links) > 0 {
		ids := make([]string, 0, len(links))
		asked := make(map[string]bool, len(links))
		for _, id := range in.IDs {
			if l, ok := links[id]; ok && l.Half(to).ID != "" && !asked[l.Half(to).ID] {
				asked[l.Half(to).ID] = true
				ids = append(ids, l.Half(to).ID)
			}
		}
		var recs []connectors.Record
		if len(ids) > 0 {
			if recs, err = c.Get(ctx, sd.Object, ids); err != nil {
				return Partners{}, classifyFor(ctx, sd.Connection, fmt.Sprintf("get %d linked records of %s %s", len(ids), sd.Connection, sd.Object), err)
			}
		}
		byID := make(map[string]connectors.Record, len(recs))
		for _, r := range recs {
			byID[r.ID] = project(r, fields)
		}
		for id, l := range links {
			if r, ok := byID[l.Half(to).ID]; ok {
				if out.Linked == nil {
					out.Linked = map[string]Partner{}
				}
				out.Linked[id] = Partner{Link: l, Record: r}
			}
			// A partner that is gone leaves its record unlinked: it is matched by key
			// (a sync that acts on deletes has dropped the link or holds it pending).
		}
	}
	var keys []string
	var seen map[string]bool
	for i, id := range in.IDs {
		_, gone := out.Gone[id]
		_, behind := out.Behind[id]
		if gone || behind || out.Unchanged[id] {
			continue
		}
		if _, ok := out.Linked[id]; !ok && in.Keys[i] != "" && !seen[in.Keys[i]] {
			if seen == nil {
				// Sized for the ids left: on a first run's pass, none has a link.
				seen = make(map[string]bool, len(in.IDs)-i)
				keys = make([]string, 0, len(in.IDs)-i)
			}
			seen[in.Keys[i]] = true
			keys = append(keys, in.Keys[i])
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	found, err := a.find(ctx, c, sd, keys, m.fromKeyNormalizer())
	if err != nil {
		return Partners{}, err
	}
	var foundIDs []string
	for _, rs := range found {
		for _, r := range rs {
			foundIDs = append(foundIDs, r.ID)
		}
	}
	taken, err := store.Get(ctx, in.Sync, to, foundIDs)
	if err != nil {
		return Partners{}, fmt.Errorf("sync %q: read links: %w", in.Sync, err)
	}
	for k, rs := range found {
		for _, r := range rs {
			if _, ok := taken[r.ID]; ok {
				if out.Taken == nil {
					out.Taken = map[string][]string{}
				}
				out.Taken[k] = append(out.Taken[k], r.ID)
				continue
			}
			if out.Matches == nil {
				out.Matches = map[string][]connectors.Record{}
			}
			out.Matches[k] = append(out.Matches[k], project(r, fields))
		}
	}
	return out, nil
}

// batchLinks reads the links of a batch's records, but for those of pairs ended by a delete
// (out.Gone) and, when the batch's records are given (Current), of settled ones
// (out.Unchanged): it glances at the links first (no values) and reads whole only those of
// the records that are not settled.
func (a *Activities) batchLinks(ctx context.Context, store pairs.Store, s *definition.Sync, in FindPartnersInput, out *Partners) (map[string]pairs.Link, error) {
	ids := in.IDs
	if len(in.Current) > 0 {
		if len(in.Current) != len(in.IDs) {
			return nil, nonRetryable(fmt.Errorf("sync %q: find partners: %d records given for %d ids", in.Sync, len(in.Current), len(in.IDs)))
		}
		var misplaced error
		ids = nil
		err := store.Glance(ctx, in.Sync, in.Side, in.IDs, func(i int, l *pairs.Link) {
			r := in.Current[i]
			switch {
			case r.ID != in.IDs[i]:
				misplaced = nonRetryable(fmt.Errorf("sync %q: find partners: the records given are not those of the ids, in order (record %d is %q)", in.Sync, i, r.ID))
			case behind(in, *l, out):
			case settled(s, in.Side, *l, r):
				if out.Unchanged == nil {
					// Sized for the batch: on the pass over the side Tandem just wrote, all
					// of it is.
					out.Unchanged = make(map[string]bool, len(in.Current)-i)
				}
				out.Unchanged[r.ID] = true
			default:
				ids = append(ids, r.ID)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("sync %q: read links: %w", in.Sync, err)
		}
		if misplaced != nil {
			return nil, misplaced
		}
		if len(ids) == 0 {
			return nil, nil
		}
	}
	links, err := store.Get(ctx, in.Sync, in.Side, ids)
	if err != nil {
		return nil, fmt.Errorf("sync %q: read links: %w", in.Sync, err)
	}
	for _, id := range ids {
		l, ok := links[id]
		switch {
		case !ok:
		case l.Gone != "":
			if out.Gone == nil {
				out.Gone = map[string]string{}
			}
			out.Gone[id] = fmt.Sprintf("the pair ended when its record on %s was deleted (%s)", l.Gone, l.Decision)
			delete(links, id)
		case behind(in, l, out): // without Current (with it, those are not in ids)
			delete(links, id)
		}
	}
	return links, nil
}

// behind says whether the batch read l's record on its side from before Tandem last wrote
// it (see FindPartnersInput.Before), and notes it in out.Behind.
func behind(in FindPartnersInput, l pairs.Link, out *Partners) bool {
	h := l.Half(in.Side)
	if in.Before.IsZero() || h.WroteAt.IsZero() || !h.WroteAt.After(in.Before) {
		return false
	}
	if out.Behind == nil {
		out.Behind = map[string]string{}
	}
	out.Behind[h.ID] = fmt.Sprintf("read as it was before Tandem wrote it at %s: its search shows writes from before %s; the write comes back as a change",
		h.WroteAt.UTC().Format(time.RFC3339), in.Before.UTC().Format(time.RFC3339))
	return true
}

// settled reports whether record r of side holds what its link l says the pair held when
// last synced, the pair was left agreeing on every field, and nothing is pending on it: no
// write awaiting its read-back on either side, no misread counted, no hold. It needs no
// values, only fingerprints (Glance's links): r's values fingerprint as the link's half,
// and the halves' fingerprints are equal (field i's value under either side's name is
// hashed alike, so equal fingerprints are equal values but for a 64-bit hash's
// collision). A link saved under another mapping of the fields fingerprints otherwise
// (pairs.Fingerprint hashes the names), so it is decided in full. Deciding the
// pair from r would then find r unchanged and its partner either unchanged too (equal
// values: nothing to write) or changed, which the partner's side reads and decides.
func settled(s *definition.Sync, side string, l pairs.Link, r connectors.Record) bool {
	if !l.A.WroteAt.IsZero() || !l.B.WroteAt.IsZero() || l.Misreads > 0 || !l.HeldUntil.IsZero() || l.Gone != "" {
		return false
	}
	h := l.Half(side)
	if h.ID != r.ID || h.FP == "" || l.A.FP != l.B.FP {
		return false
	}
	return pairs.RecordFingerprint(s, side, r, normalize) == h.FP
}

// linkSlab hands out the links of a batch's creates from a few allocations, not one a
// link: a first run creates a pair for nearly every record it reads.
type linkSlab struct {
	free []pairs.Link
}

// linkSlabSize is how many links a slab allocates at once at most (64 KiB).
const linkSlabSize = 256

// next returns a link of its own, from a slab of room for the items left (left, this
// one's included) or linkSlabSize, whichever is fewer: a batch of a few creates does not
// allocate (and keep alive) a whole slab.
func (s *linkSlab) next(left int) *pairs.Link {
	if len(s.free) == 0 {
		s.free = make([]pairs.Link, max(1, min(linkSlabSize, left)))
	}
	l := &s.free[0]
	s.free = s.free[1:]
	return l
}

// compareLinked decides the items of a two-way batch whose pairs the link store knows of
// (or that have no counterpart yet), by the model of package pairs; left is how many of
// the batch's items are left, this one's included, and links the slab of its creates.
func (m mapping) compareLinked(it Item, i, left int, now time.Time, coolDown time.Duration, links *linkSlab) (Decision, bool) {
	p := it.Pair
	s := m.sync
	if len(it.TargetIDs) == 0 {
		if reason := s.Withheld(m.toName, true); reason != "" {
			return Decision{Item: i, Action: ActionSkip, Reason: reason}, true
		}
		l := links.next(left)
		*l = pairs.Created(s, m.fromName, it.SourceID, it.Key, p.X, it.Want, now)
		return Decision{Item: i, Action: ActionCreate, Link: l}, true
	}
	o := pairs.Decide(s, pairs.Case{
		From: m.fromName, X: p.X, Y: p.Y, XAt: it.SourceUpdatedAt, YAt: it.TargetUpdatedAt,
		XID: it.SourceID, YID: it.TargetIDs[0], Key: it.Key, Link: p.Link, YChanged: p.YChanged,
	}, now, coolDown)
	d := Decision{Item: i, Action: ActionUpdate, Link: o.Link, Misreads: o.Misreads}
	d.Released = p.Link != nil && !p.Link.HeldUntil.IsZero() && !o.Held
	if o.Held {
		d.Action, d.Reason = ActionHold, o.Reason
		if o.Link != nil {
			d.HeldUntil = o.Link.HeldUntil
		}
		return d, true
	}
	if len(o.ToY) > 0 {
		d.Fields = Payload(o.ToY)
	}
	if len(o.ToX) > 0 {
		d.Back = Payload(o.ToX)
	}
	if o.Conflict {
		d.Winner, d.Merge = o.Winner, o.Fields
		for _, f := range o.Fields {
			if f.Winner == definition.A {
				d.addLost("b."+f.Field, f.B)
			} else {
				d.addLost("a."+f.Field, f.A)
			}
		}
	}
	if d.Fields == nil && d.Back == nil && o.Withheld != "" {
		// The side written is create-only; the link is kept, so the pair stays in step.
		d.Action, d.Reason, d.Winner, d.Merge, d.Lost = ActionSkip, o.Withheld, "", nil, nil
		return d, true
	}
	if d.Fields == nil && d.Back == nil {
		if o.Link == nil && !d.Released {
			return Decision{}, false
		}
		d.Action = ActionLink
	}
	return d, true
}

func (d *Decision) addLost(k string, v any) {
	if d.Lost == nil {
		d.Lost = Payload{}
	}
	d.Lost[k] = v
}

// SettleLinks are the links to save once a batch's writes are done: those of the pairs
// whose writes all succeeded (created records get their new ids), and those whose only
// change is the link. created maps a batch record id to the id of the record created for
// it; failed holds the batch record ids with a failed write. Workflow code calls it.
func (p Plan) SettleLinks(created map[string]string, failed map[string]bool) []pairs.Link {
	var out []pairs.Link
	if len(p.Links) > 0 {
		out = make([]pairs.Link, 0, len(p.Links))
	}
	return p.appendSettled(out, created, failed)
}

// appendSettled appends SettleLinks' links to out.
func (p Plan) appendSettled(out []pairs.Link, created map[string]string, failed map[string]bool) []pairs.Link {
	for _, pl := range p.Links {
		if failed[pl.SourceID] {
			continue
		}
		var id string
		if pl.Create {
			var ok bool
			if id, ok = created[pl.SourceID]; !ok {
				continue
			}
		}
		out = append(out, *pl.Link)
		if pl.Create {
			out[len(out)-1].Half(definition.Other(pl.From)).ID = id
		}
	}
	return out
}

// SaveLinksInput are the links of a batch's pairs.
type SaveLinksInput struct {
	Ref
	Links []pairs.Link
}

// SaveLinks writes a batch's links in one transaction, after reading back the records the
// batch wrote (readBack). A retry reads them again and writes the same rows, but for a
// write confirmed on one attempt and found edited since on the next.
func (a *Activities) SaveLinks(ctx context.Context, in SaveLinksInput) error {
	defer keepAlive(ctx)()
	if _, err := a.links(); err != nil {
		return err
	}
	return a.storeLinks(ctx, in.Ref, a.readBack(ctx, in.Ref, in.Links))
}

// storeLinks writes links, read back already, in one transaction (SaveLinks's second
// half: a chunk reads a batch back while the batch before it is written).
func (a *Activities) storeLinks(ctx context.Context, ref Ref, links []pairs.Link) error {
	store, err := a.links()
	if err != nil {
		return err
	}
	if err := store.Save(ctx, ref.Sync, links); err != nil {
		return fmt.Errorf("sync %q: save %d links: %w", ref.Sync, len(links), err)
	}
	return nil
}

// searchLags says whether side's connector reads its changes from a search that trails
// its writes, in a two-way sync (a one-way sync does not read its target's changes).
func (a *Activities) searchLags(ref Ref, side string) bool {
	s, _, c, err := a.side(ref, side)
	return err == nil && s.Mode == definition.TwoWay && lagOf(c) > 0
}

// readBack reads by id, one call per side, the records Tandem has just written (the halves
// of links with WroteAt set) and confirms those that hold what was written (pairs.ConfirmRecord):
// the loop guard's read-back is made now, not at the next read of the record, which may
// come a schedule later and find a user's edit made meanwhile. A record that reads back
// otherwise, or a read that fails, leaves its link as it was, for the next read to judge.
// It returns links with the confirmed halves (in itself when nothing was read back); in
// is not changed.
func (a *Activities) readBack(ctx context.Context, ref Ref, in []pairs.Link) []pairs.Link {
	var links []pairs.Link // a copy, made once a record is read back
	for _, side := range []string{SideA, SideB} {
		var ids []string
		asked := map[string]bool{}
		for i := range in {
			if h := in[i].Half(side); !h.WroteAt.IsZero() && h.ID != "" && !asked[h.ID] {
				asked[h.ID] = true
				ids = append(ids, h.ID)
			}
		}
		if len(ids) == 0 || a.searchLags(ref, side) {
			// A side whose changes come from a search that trails its writes keeps the
			// write unconfirmed until that search shows it: a version of the record read
			// from before the write is then known for one (FindPartnersInput.Before).
			continue
		}
		s, read, err := a.readRecords(ctx, ref, side, ids)
		if err != nil {
			if activity.IsActivity(ctx) {
				activity.GetLogger(ctx).Warn("Reading back written records failed; their next read confirms the writes",
					"sync", ref.Sync, "side", side, "records", len(ids), "error", err)
			}
			continue
		}
		if links == nil {
			links = slices.Clone(in)
		}
		confirmHalves(s, links, side, read)
	}
	if links == nil {
		return in
	}
	return links
}

// confirmHalves confirms (pairs.ConfirmRecord) side's halves of links whose records read
// holds, by id: as readBack read them, or as a chunk's writes' answers gave them
// (landWrites), which leaves to readBack what they show otherwise than written.
func confirmHalves(s *definition.Sync, links []pairs.Link, side string, read map[string]*connectors.Record) {
	for i := range links {
		if r, ok := read[links[i].Half(side).ID]; ok {
			pairs.ConfirmRecord(s, &links[i], side, *r, normalize)
		}
	}
}

// readRecords reads records of side by id and returns them by id; ids that are gone are
// absent.
func (a *Activities) readRecords(ctx context.Context, ref Ref, side string, ids []string) (*definition.Sync, map[string]*connectors.Record, error) {
	s, sd, c, err := a.side(ref, side)
	if err != nil {
		return nil, nil, err
	}
	recs, err := c.Get(ctx, sd.Object, ids)
	if err != nil {
		return nil, nil, err
	}
	read := make(map[string]*connectors.Record, len(recs))
	for i := range recs {
		read[recs[i].ID] = &recs[i]
	}
	return s, read, nil
}

// DueHeldInput asks for the pairs of a sync whose hold is over at Now.
type DueHeldInput struct {
	Ref
	Now   time.Time
	Limit int
}

// DueHeld are held pairs to compare again, by their side a ids; Next is when the next hold
// ends (zero: none held), Held how many pairs are held (at most Limit counted).
type DueHeld struct {
	IDs  []string  `json:"ids,omitempty"`
	Next time.Time `json:"next,omitzero"`
	Held int       `json:"held"`
}

// DueHeld lists the held pairs whose cool-down is over.
func (a *Activities) DueHeld(ctx context.Context, in DueHeldInput) (DueHeld, error) {
	defer keepAlive(ctx)()
	store, err := a.links()
	if err != nil {
		return DueHeld{}, err
	}
	held, err := store.Held(ctx, in.Sync, in.Limit)
	if err != nil {
		return DueHeld{}, fmt.Errorf("sync %q: read held pairs: %w", in.Sync, err)
	}
	out := DueHeld{Held: len(held)}
	for _, l := range held {
		if l.HeldUntil.After(in.Now) {
			out.Next = l.HeldUntil
			break
		}
		out.IDs = append(out.IDs, l.A.ID)
	}
	return out, nil
}

// LinksByKeyInput names a pair by its key.
type LinksByKeyInput struct {
	Sync string
	Key  string
}

// LinksByKey returns the links of a sync with a key: what explain says of a pair whose
// steps are not in history (synced in bulk, or in runs older than it reads).
func (a *Activities) LinksByKey(ctx context.Context, in LinksByKeyInput) ([]pairs.Link, error) {
	store, err := a.links()
	if err != nil {
		return nil, err
	}
	links, err := store.ByKey(ctx, in.Sync, in.Key)
	if err != nil {
		return nil, fmt.Errorf("sync %q: read the links of key %q: %w", in.Sync, in.Key, err)
	}
	return links, nil
}

// BulkOutcome returns the latest outcome the link store's bulk log holds for a sync's
// key (nil when none): what explain says of a record a one-way chunk synced without a
// link.
func (a *Activities) BulkOutcome(ctx context.Context, in LinksByKeyInput) (*pairs.LoggedOutcome, error) {
	store, err := a.links()
	if err != nil {
		return nil, err
	}
	o, err := store.BulkOutcome(ctx, in.Sync, in.Key)
	if err != nil {
		return nil, fmt.Errorf("sync %q: read the bulk log for key %q: %w", in.Sync, in.Key, err)
	}
	return o, nil
}
