package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"tandem/connectors"
	"tandem/definition"
	"tandem/pairs"
)

// Deletes (issue 15). A record deleted on one side is detected (DetectDeletes: from the
// side's delete log after a cursor, from webhook events, or by a full id diff against the
// link store), checked to be really gone (read by id: a restored record, or one a listing
// missed, is not), and added to the link store's pending deletes with its partner. The
// workflow then applies them (ApplyDeletes: the partner is deleted or archived per the
// sync's policy) or, when the mass-delete breaker trips, holds them until approved
// (ApplyDeletes) or discarded (DiscardDeletes). Only pairs the link store knows are acted
// on: a record Tandem never paired has no partner to delete.

// idPage is how many ids one listing or store read asks for, and readBatch how many
// records one read by id asks for (HubSpot's batch read takes 100).
const (
	idPage    = 1000
	readBatch = 100
)

// DetectDeletesInput asks for the records of Side deleted since Cursor (its delete log),
// or among IDs (webhook events said they were deleted), or, with Diff, by a full id diff.
type DetectDeletesInput struct {
	Ref
	Side string
	// Cursor is the side's delete-log cursor.
	Cursor connectors.Cursor
	// IDs are record ids that webhook events announced as deleted.
	IDs []string `json:",omitempty"`
	// Diff asks for a full id diff (no delete log, or its time has come).
	Diff bool `json:",omitempty"`
	// Now is the workflow's time: links saved after it are not diffed, and it stamps the
	// pending deletes.
	Now   time.Time
	Limit int
}

// DetectedDeletes is what DetectDeletes found and where the side's delete log now stands.
type DetectedDeletes struct {
	// Found is how many deletes of linked pairs were added as pending.
	Found int `json:"found"`
	// Cursor is the delete-log cursor to keep (unchanged when the log was not read).
	Cursor connectors.Cursor `json:"cursor"`
	// How is how they were found: "log", "webhook" or "diff".
	How string `json:"how"`
	// NoLog is set when the side has no delete log (the id diff is its only way);
	// Expired says why the log could not be used (its window no longer reaches the
	// cursor), when it could not.
	NoLog   bool   `json:"no_log,omitempty"`
	Expired string `json:"expired,omitempty"`
	// Restored counts records reported deleted that a read by id still found.
	Restored int `json:"restored,omitempty"`
	// Pending and Linked are the sync's pending deletes and live pairs after detection.
	Pending int `json:"pending"`
	Linked  int `json:"linked"`
	// Sample are the first deletes found (at most maxSample), for history and explain.
	Sample []pairs.PendingDelete `json:"sample,omitempty"`
}

// maxSample bounds DetectedDeletes.Sample.
const maxSample = 20

type candidate struct {
	id string
	at time.Time
}

// DetectDeletes finds records of a side that were deleted and adds those with a live link
// to the pending deletes.
func (a *Activities) DetectDeletes(ctx context.Context, in DetectDeletesInput) (DetectedDeletes, error) {
	defer keepAlive(ctx)()
	d, err := a.detect(ctx, in, false)
	return d.DetectedDeletes, err
}

// detection is what detect found: the summary, and the deletes themselves.
type detection struct {
	DetectedDeletes
	pending []pairs.PendingDelete
}

// detect is DetectDeletes; dry (a plan) only finds the deletes, keeping none pending.
func (a *Activities) detect(ctx context.Context, in DetectDeletesInput, dry bool) (detection, error) {
	store, err := a.links()
	if err != nil {
		return detection{}, err
	}
	_, sd, c, err := a.side(in.Ref, in.Side)
	if err != nil {
		return detection{}, err
	}
	limit := in.Limit
	if limit <= 0 {
		limit = idPage
	}
	out := DetectedDeletes{Cursor: in.Cursor}
	var cands []candidate
	diff := in.Diff
	switch {
	case len(in.IDs) > 0:
		out.How = "webhook"
		for _, id := range in.IDs {
			cands = append(cands, candidate{id: id})
		}
	case !diff:
		out.How = "log"
		dr, ok := c.(connectors.DeleteReader)
		if !ok {
			out.NoLog, diff = true, true
			break
		}
		cur := in.Cursor
		for {
			page, err := dr.Deletes(ctx, sd.Object, cur, limit)
			var expired *connectors.DeleteLogExpiredError
			if errors.As(err, &expired) {
				out.Expired, diff = expired.Error(), true
				break
			}
			if errors.Is(err, errors.ErrUnsupported) {
				out.NoLog, diff = true, true
				break
			}
			if err != nil {
				return detection{}, classifyFor(ctx, sd.Connection, fmt.Sprintf("read the delete log of %s %s", sd.Connection, sd.Object), err)
			}
			for _, t := range page.Tombstones {
				cands = append(cands, candidate{id: t.ID, at: t.DeletedAt})
				cur = connectors.CursorOfTombstone(t)
			}
			if !page.More {
				if page.CoveredUntil.After(cur.UpdatedAt) {
					cur = connectors.Cursor{UpdatedAt: page.CoveredUntil}
				}
				break
			}
			if len(page.Tombstones) == 0 {
				return detection{}, fmt.Errorf("the delete log of %s %s gave an empty page with more to come: the cursor cannot move", sd.Connection, sd.Object)
			}
			heartbeat(ctx, cur)
		}
		if !diff {
			out.Cursor = cur
		}
	}
	if diff {
		out.How = "diff"
		cands, err = a.diffIDs(ctx, in, sd, c, store)
		if err != nil {
			return detection{}, err
		}
		// The diff covers every delete before it began: the log, if any, goes on from here.
		out.Cursor = connectors.Cursor{UpdatedAt: in.Now}
	}
	pending, restored, err := a.confirm(ctx, in, sd, c, store, cands, out.How)
	if err != nil {
		return detection{}, err
	}
	out.Restored = restored
	if dry {
		return detection{DetectedDeletes: out, pending: pending}, nil
	}
	if err := store.AddDeletes(ctx, in.Sync, pending); err != nil {
		return detection{}, fmt.Errorf("sync %q: keep %d pending deletes: %w", in.Sync, len(pending), err)
	}
	out.Found = len(pending)
	out.Sample = pending[:min(len(pending), maxSample)]
	if out.Pending, err = store.CountDeletes(ctx, in.Sync); err != nil {
		return detection{}, err
	}
	if out.Linked, err = store.Count(ctx, in.Sync); err != nil {
		return detection{}, err
	}
	return detection{DetectedDeletes: out, pending: pending}, nil
}

// diffIDs lists every live id of the side and returns the side's linked records not among
// them (links saved after the diff began are left alone: their records may be newer than
// the listing).
func (a *Activities) diffIDs(ctx context.Context, in DetectDeletesInput, sd *definition.End, c connectors.Connector, store pairs.Store) ([]candidate, error) {
	lister, ok := c.(connectors.IDLister)
	if !ok {
		return nil, nonRetryable(fmt.Errorf("sync %q side %s: %s cannot list the ids of %s, and it has no delete log Tandem can read: deletes cannot be detected (set deletes.mode: ignore)",
			in.Sync, in.Side, sd.Connection, sd.Object))
	}
	live := map[string]bool{}
	token := ""
	for {
		ids, next, err := lister.ListIDs(ctx, sd.Object, token, idPage)
		if err != nil {
			return nil, classifyFor(ctx, sd.Connection, fmt.Sprintf("list the ids of %s %s", sd.Connection, sd.Object), err)
		}
		for _, id := range ids {
			live[id] = true
		}
		if next == "" {
			break
		}
		if next == token {
			return nil, fmt.Errorf("listing the ids of %s %s: the next page's token is the same as this one's (%q)", sd.Connection, sd.Object, next)
		}
		token = next
		heartbeat(ctx, len(live))
	}
	var out []candidate
	after := ""
	for {
		links, err := store.Scan(ctx, in.Sync, after, idPage)
		if err != nil {
			return nil, fmt.Errorf("sync %q: read links: %w", in.Sync, err)
		}
		for _, l := range links {
			id := l.Half(in.Side).ID
			if l.Gone == "" && !live[id] && !l.SyncedAt.After(in.Now) {
				out = append(out, candidate{id: id})
			}
		}
		if len(links) < idPage {
			return out, nil
		}
		after = links[len(links)-1].A.ID
		heartbeat(ctx, after)
	}
}

// confirm keeps the candidates that have a live link and that a read by id does not find,
// as pending deletes.
func (a *Activities) confirm(ctx context.Context, in DetectDeletesInput, sd *definition.End, c connectors.Connector, store pairs.Store, cands []candidate, how string) ([]pairs.PendingDelete, int, error) {
	other := definition.Other(in.Side)
	var out []pairs.PendingDelete
	restored := 0
	for start := 0; start < len(cands); start += readBatch {
		batch := cands[start:min(start+readBatch, len(cands))]
		ids := make([]string, 0, len(batch))
		for _, k := range batch {
			if !slices.Contains(ids, k.id) {
				ids = append(ids, k.id)
			}
		}
		links, err := store.Get(ctx, in.Sync, in.Side, ids)
		if err != nil {
			return nil, 0, fmt.Errorf("sync %q: read links: %w", in.Sync, err)
		}
		var linked []string
		for _, id := range ids {
			if l, ok := links[id]; ok && l.Gone == "" {
				linked = append(linked, id)
			}
		}
		if len(linked) == 0 {
			continue
		}
		recs, err := c.Get(ctx, sd.Object, linked)
		if err != nil {
			return nil, 0, classifyFor(ctx, sd.Connection, fmt.Sprintf("read %d deleted records of %s %s again", len(linked), sd.Connection, sd.Object), err)
		}
		exists := map[string]bool{}
		for _, r := range recs {
			exists[r.ID] = true
		}
		done := map[string]bool{}
		for _, k := range batch {
			l, ok := links[k.id]
			if !ok || l.Gone != "" || done[k.id] {
				continue
			}
			done[k.id] = true
			if exists[k.id] {
				restored++
				continue
			}
			out = append(out, pairs.PendingDelete{Side: in.Side, ID: k.id, Key: l.Key, PartnerID: l.Half(other).ID,
				DeletedAt: k.at, How: how, DetectedAt: in.Now})
		}
		heartbeat(ctx, start)
	}
	return out, restored, nil
}

// ApplyDeletesInput asks for up to Limit pending deletes to be done.
type ApplyDeletesInput struct {
	Ref
	Limit int
	Now   time.Time
}

// AppliedDeletes are the outcomes of the pending deletes done, one per pending delete.
type AppliedDeletes struct {
	Results []DeleteOutcome `json:"results"`
	// More is set when more deletes may be pending.
	More bool `json:"more,omitempty"`
}

// What ApplyDeletes did with a pending delete.
const (
	DeleteDone     = "deleted"  // the partner was deleted
	DeleteArchived = "archived" // the partner's archive field was set
	DeleteKept     = "kept"     // a conflict: the partner's newer edit won
	DeleteUnlinked = "unlinked" // nothing to do to the partner (gone too); the link is dropped
	DeleteFailed   = "failed"   // the partner's service refused; the pair stays linked
)

// DeleteOutcome is what was done about one deleted record's partner.
type DeleteOutcome struct {
	Side        string    `json:"side"`
	ID          string    `json:"id"`
	Key         string    `json:"key,omitempty"`
	PartnerSide string    `json:"partner_side"`
	PartnerID   string    `json:"partner_id"`
	Action      string    `json:"action"`
	Reason      string    `json:"reason"`
	How         string    `json:"how"`
	DeletedAt   time.Time `json:"deleted_at,omitzero"`
	// Conflict is set when the partner had been edited after the delete (two-way).
	Conflict bool `json:"conflict,omitempty"`
}

// ApplyDeletes does up to Limit pending deletes: each partner is deleted or archived, by
// the sync's policy, and the pending delete is dropped (also when the partner's service
// refused: the refusal is in the outcome, and the pair stays linked). In a two-way sync a
// partner edited after the delete (or, when the delete time is unknown, since the pair was
// last synced) is a conflict: the policy's winner decides (newest-wins and field-merge:
// the edit, being newer; a-wins or b-wins: that side), and a kept partner is unlinked, so
// it is created again on the deleting side.
func (a *Activities) ApplyDeletes(ctx context.Context, in ApplyDeletesInput) (AppliedDeletes, error) {
	defer keepAlive(ctx)()
	store, err := a.links()
	if err != nil {
		return AppliedDeletes{}, err
	}
	s, err := a.sync(in.Ref)
	if err != nil {
		return AppliedDeletes{}, err
	}
	limit := max(in.Limit, 1)
	ds, err := store.PendingDeletes(ctx, in.Sync, "", "", limit)
	if err != nil {
		return AppliedDeletes{}, fmt.Errorf("sync %q: read pending deletes: %w", in.Sync, err)
	}
	out := AppliedDeletes{More: len(ds) == limit}
	for _, side := range []string{SideA, SideB} {
		var group []pairs.PendingDelete
		for _, d := range ds {
			if d.Side == side {
				group = append(group, d)
			}
		}
		for start := 0; start < len(group); start += readBatch {
			res, err := a.applyBatch(ctx, in, s, store, side, group[start:min(start+readBatch, len(group))])
			if err != nil {
				return AppliedDeletes{}, err
			}
			out.Results = append(out.Results, res...)
			heartbeat(ctx, len(out.Results))
		}
	}
	return out, nil
}

// applyBatch applies the pending deletes of one side's records (at most readBatch).
func (a *Activities) applyBatch(ctx context.Context, in ApplyDeletesInput, s *definition.Sync, store pairs.Store, side string, ds []pairs.PendingDelete) ([]DeleteOutcome, error) {
	y := definition.Other(side)
	_, yd, yc, err := a.side(in.Ref, y)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	links, err := store.Get(ctx, in.Sync, side, ids)
	if err != nil {
		return nil, fmt.Errorf("sync %q: read links: %w", in.Sync, err)
	}
	var partnerIDs []string
	for _, d := range ds {
		if l, ok := links[d.ID]; ok && l.Gone == "" {
			partnerIDs = append(partnerIDs, l.Half(y).ID)
		}
	}
	partners := map[string]connectors.Record{}
	if len(partnerIDs) > 0 {
		recs, err := yc.Get(ctx, yd.Object, partnerIDs)
		if err != nil {
			return nil, classifyFor(ctx, yd.Connection, fmt.Sprintf("read %d partners of deleted records on %s %s", len(partnerIDs), yd.Connection, yd.Object), err)
		}
		for _, r := range recs {
			partners[r.ID] = r
		}
	}
	var (
		out     []DeleteOutcome
		act     []int // indexes into out of the partners to delete or archive
		unlink  []string
		records []connectors.Record
	)
	for _, d := range ds {
		o := DeleteOutcome{Side: side, ID: d.ID, Key: d.Key, PartnerSide: y, How: d.How, DeletedAt: d.DeletedAt}
		l, ok := links[d.ID]
		if !ok || l.Gone != "" {
			o.Action, o.PartnerID = DeleteUnlinked, d.PartnerID
			o.Reason = "the pair is no longer linked: nothing to do"
			out = append(out, o)
			continue
		}
		o.Key, o.PartnerID = l.Key, l.Half(y).ID
		p, ok := partners[o.PartnerID]
		if !ok {
			o.Action, o.Reason = DeleteUnlinked, fmt.Sprintf("the partner on %s is gone too", y)
			unlink = append(unlink, d.ID)
			out = append(out, o)
			continue
		}
		if s.Mode == definition.TwoWay {
			if keep, reason := deleteConflict(s, side, d, l, p); reason != "" {
				o.Conflict, o.Reason = true, reason
				if keep {
					o.Action = DeleteKept
					unlink = append(unlink, d.ID)
					out = append(out, o)
					continue
				}
			}
		}
		act = append(act, len(out))
		out = append(out, o)
		switch s.Deletes.Mode {
		case definition.DeleteArchive:
			records = append(records, connectors.Record{ID: o.PartnerID, Fields: map[string]any{s.Deletes.Field[y]: s.Deletes.Value}})
		default:
			records = append(records, connectors.Record{ID: o.PartnerID})
		}
	}
	if len(act) > 0 {
		results, err := a.deletePartners(ctx, s, yd, yc, records)
		if err != nil {
			return nil, err
		}
		var gone []pairs.Link
		for i, j := range act {
			o := &out[j]
			r := results[i]
			if r.Err != nil {
				o.Action = DeleteFailed
				o.Reason = fmt.Sprintf("%s refused: %v", yd.Connection, r.Err)
				continue
			}
			why := fmt.Sprintf("deleted on %s (found by %s)", side, o.How)
			if o.Conflict {
				why = o.Reason
			}
			if s.Deletes.Mode == definition.DeleteArchive {
				o.Action = DeleteArchived
				o.Reason = fmt.Sprintf("%s; %s set %s=%s on the partner", why, yd.Connection, s.Deletes.Field[y], s.Deletes.Value)
				l := links[o.ID]
				l.Gone, l.Decision, l.SyncedAt, l.HeldUntil, l.HeldReason = side, o.Reason, in.Now, time.Time{}, ""
				gone = append(gone, l)
			} else {
				o.Action = DeleteDone
				o.Reason = fmt.Sprintf("%s; the partner was deleted on %s", why, y)
				unlink = append(unlink, o.ID)
			}
		}
		if err := store.Save(ctx, in.Sync, gone); err != nil {
			return nil, fmt.Errorf("sync %q: mark %d archived pairs: %w", in.Sync, len(gone), err)
		}
	}
	if err := store.Delete(ctx, in.Sync, side, unlink); err != nil {
		return nil, fmt.Errorf("sync %q: drop %d links: %w", in.Sync, len(unlink), err)
	}
	if err := store.DropDeletes(ctx, in.Sync, side, ids); err != nil {
		return nil, fmt.Errorf("sync %q: drop %d pending deletes: %w", in.Sync, len(ids), err)
	}
	return out, nil
}

// deletePartners deletes (or, archiving, updates) the partners; one result per record.
func (a *Activities) deletePartners(ctx context.Context, s *definition.Sync, yd *definition.End, yc connectors.Connector, records []connectors.Record) ([]connectors.WriteResult, error) {
	var (
		results []connectors.WriteResult
		err     error
	)
	if s.Deletes.Mode == definition.DeleteArchive {
		results, err = yc.Update(ctx, yd.Object, records)
	} else {
		del, ok := yc.(connectors.Deleter)
		if !ok {
			return nil, nonRetryable(fmt.Errorf("sync %q: %s cannot delete %s records (use deletes.mode: archive)", s.Name, yd.Connection, yd.Object))
		}
		ids := make([]string, len(records))
		for i, r := range records {
			ids[i] = r.ID
		}
		results, err = del.Delete(ctx, yd.Object, ids)
	}
	if err != nil {
		return nil, classifyFor(ctx, yd.Connection, fmt.Sprintf("%s %d partners on %s %s", s.Deletes.Mode, len(records), yd.Connection, yd.Object), err)
	}
	if len(results) != len(records) {
		return nil, fmt.Errorf("%s answered %d results for %d records", yd.Connection, len(results), len(records))
	}
	return results, nil
}

// deleteConflict decides a two-way delete whose partner p was edited since the pair was
// last synced: reason is empty when it was not; keep says the partner's edit won.
func deleteConflict(s *definition.Sync, side string, d pairs.PendingDelete, l pairs.Link, p connectors.Record) (keep bool, reason string) {
	y := definition.Other(side)
	now := pairs.RecordValues(s, y, p, normalize)
	if h := l.Half(y); h.FP == "" || h.FP == pairs.Fingerprint(s, y, now) || h.FP == pairs.LegacyFingerprint(s, y, now) {
		return false, ""
	}
	if !d.DeletedAt.IsZero() && !p.UpdatedAt.After(d.DeletedAt) {
		return false, "" // edited before the delete: the delete is the newer change
	}
	winner := y
	switch s.Conflict {
	case definition.AWins:
		winner = definition.A
	case definition.BWins:
		winner = definition.B
	}
	when := "after the delete"
	if d.DeletedAt.IsZero() {
		when = "since the pair was last synced (the delete's time is unknown)"
	}
	if winner == y {
		return true, fmt.Sprintf("conflict: deleted on %s, but the partner on %s was edited %s; the edit wins by the policy %s: the pair is unlinked and the record is created on %s again",
			side, y, when, s.Conflict, side)
	}
	return false, fmt.Sprintf("conflict: deleted on %s, but the partner on %s was edited %s; the delete wins by the policy %s", side, y, when, s.Conflict)
}

// DiscardDeletesInput asks for every pending delete of a sync to be dropped.
type DiscardDeletesInput struct {
	Ref
}

// Discarded is how many pending deletes were dropped.
type Discarded struct {
	Dropped int `json:"dropped"`
}

// DiscardDeletes drops every pending delete of a sync without touching the partners, and
// unlinks the pairs (their deleted records are gone: kept linked, the next id diff would
// find them again). An unlinked partner of a two-way sync is matched by key, and created
// on the other side, when it next changes.
func (a *Activities) DiscardDeletes(ctx context.Context, in DiscardDeletesInput) (Discarded, error) {
	defer keepAlive(ctx)()
	store, err := a.links()
	if err != nil {
		return Discarded{}, err
	}
	out := Discarded{}
	for {
		ds, err := store.PendingDeletes(ctx, in.Sync, "", "", idPage)
		if err != nil {
			return Discarded{}, fmt.Errorf("sync %q: read pending deletes: %w", in.Sync, err)
		}
		if len(ds) == 0 {
			return out, nil
		}
		bySide := map[string][]string{}
		for _, d := range ds {
			bySide[d.Side] = append(bySide[d.Side], d.ID)
		}
		for _, side := range []string{SideA, SideB} {
			if err := store.Delete(ctx, in.Sync, side, bySide[side]); err != nil {
				return Discarded{}, fmt.Errorf("sync %q: drop links: %w", in.Sync, err)
			}
			if err := store.DropDeletes(ctx, in.Sync, side, bySide[side]); err != nil {
				return Discarded{}, fmt.Errorf("sync %q: drop pending deletes: %w", in.Sync, err)
			}
		}
		out.Dropped += len(ds)
		heartbeat(ctx, out.Dropped)
	}
}

// OneWayLinks are the links a one-way sync that acts on deletes keeps for a batch: each
// source record paired with the one target record it was written to or found in step
// with (created: the ids created, by source id; failed: source ids whose write failed).
func OneWayLinks(items []Item, created map[string]string, failed map[string]bool, now time.Time) []pairs.Link {
	return appendOneWayLinks(nil, items, created, failed, now)
}

// appendOneWayLinks appends OneWayLinks' links to out.
func appendOneWayLinks(out []pairs.Link, items []Item, created map[string]string, failed map[string]bool, now time.Time) []pairs.Link {
	for _, it := range items {
		if failed[it.SourceID] || it.Key == "" {
			continue
		}
		target := created[it.SourceID]
		if target == "" && len(it.TargetIDs) == 1 {
			target = it.TargetIDs[0]
		}
		if target == "" {
			continue
		}
		out = append(out, pairs.Link{Key: it.Key, A: pairs.Half{ID: it.SourceID}, B: pairs.Half{ID: target}, SyncedAt: now})
	}
	return out
}
