package activities

import (
	"context"
	"fmt"
	"time"

	"tandem/connectors"
	"tandem/definition"
	"tandem/pairs"
)

// Plan and verify (issue 16) run pages of records through the pipeline's own steps
// (FetchChanges, FindPartners or FindByIdentifier, BuildPayloads, Compare: the functions a
// run's activities call) inside one activity, and never write: a plan says what the next
// run would do, a verify compares both sides in full. One activity rather than one per
// step keeps the records out of history (a verify of 100,000 pairs reads every record of
// both sides), and pages are streamed, so memory stays flat.

// verdict is a page of from's records found, built and compared, as a run's batch is.
type verdict struct {
	items     []Item
	decisions Decisions
	// linked are the page's links (two-way), by the page's record ids, gone ones included;
	// partnerMissing the ids of page records whose linked partner no longer exists.
	linked         map[string]pairs.Link
	partnerMissing map[string]bool
	gone           map[string]string
	// behind counts the page's records read from before Tandem wrote them
	// (Partners.Behind).
	behind int
}

// judge runs one page of from's records through find, build and compare.
func (a *Activities) judge(ctx context.Context, ref Ref, s *definition.Sync, from string, page Records, targetCursor connectors.Cursor, now time.Time) (verdict, error) {
	to := definition.Other(from)
	var v verdict
	if s.Mode == definition.TwoWay {
		ids := make([]string, len(page.Records))
		for i, r := range page.Records {
			ids[i] = r.ID
		}
		p, err := a.FindPartners(ctx, FindPartnersInput{Ref: ref, Side: from, IDs: ids, Keys: page.Keys, Before: page.Before})
		if err != nil {
			return verdict{}, err
		}
		store, err := a.links()
		if err != nil {
			return verdict{}, err
		}
		if v.linked, err = store.Get(ctx, ref.Sync, from, ids); err != nil {
			return verdict{}, fmt.Errorf("sync %q: read links: %w", ref.Sync, err)
		}
		v.partnerMissing = map[string]bool{}
		for id, l := range v.linked {
			_, behind := p.Behind[id]
			if _, ok := p.Linked[id]; !ok && !behind && l.Gone == "" {
				v.partnerMissing[id] = true
			}
		}
		v.gone = p.Gone
		v.behind = len(p.Behind)
		page = page.Without(p.Gone).Without(p.Behind)
		items, err := a.BuildPayloads(ctx, BuildPayloadsInput{Ref: ref, From: from, Source: page, Partners: &p})
		if err != nil {
			return verdict{}, err
		}
		v.items = items.Items
		v.decisions, err = a.Compare(ctx, CompareInput{Ref: ref, From: from, Items: items.Items, TargetCursor: targetCursor,
			Linked: true, Now: now, CoolDown: a.CoolDown})
		return v, err
	}
	m, err := a.FindByIdentifier(ctx, FindByIdentifierInput{Ref: ref, Side: to, Values: page.UniqueKeys()})
	if err != nil {
		return verdict{}, err
	}
	items, err := a.BuildPayloads(ctx, BuildPayloadsInput{Ref: ref, From: from, Source: page, Matches: m.Matches})
	if err != nil {
		return verdict{}, err
	}
	v.items = items.Items
	v.decisions, err = a.Compare(ctx, CompareInput{Ref: ref, From: from, Items: items.Items, TargetCursor: targetCursor})
	return v, err
}

// FieldChange is a field's value now and what a write would make it.
type FieldChange struct {
	From any `json:"from"`
	To   any `json:"to"`
}

// PlanRecord is what the next run would do with one record.
type PlanRecord struct {
	// Side is the side written (create, update, conflict, delete), or the side read (skip,
	// fail).
	Side   string                 `json:"side"`
	Key    string                 `json:"key"`
	Action string                 `json:"action"`
	ID     string                 `json:"id,omitempty"`
	Fields map[string]FieldChange `json:"fields,omitempty"`
	Reason string                 `json:"reason,omitempty"`
}

// Plan actions.
const (
	PlanCreate   = "create"
	PlanUpdate   = "update"
	PlanDelete   = "delete"
	PlanSkip     = "skip"
	PlanConflict = "conflict"
	PlanFail     = "fail"
)

// PlanTotals count a plan's records by action.
type PlanTotals struct {
	Create   int `json:"create"`
	Update   int `json:"update"`
	Delete   int `json:"delete"`
	Skip     int `json:"skip"`
	Conflict int `json:"conflict"`
	Fail     int `json:"fail"`
}

func (t *PlanTotals) add(action string) {
	switch action {
	case PlanCreate:
		t.Create++
	case PlanUpdate:
		t.Update++
	case PlanDelete:
		t.Delete++
	case PlanSkip:
		t.Skip++
	case PlanConflict:
		t.Conflict++
	case PlanFail:
		t.Fail++
	}
}

// PlanSyncInput asks what the next run of a sync would do from its cursors.
type PlanSyncInput struct {
	Ref
	// Cursors and DeleteCursors are the sync's (missing: the run's start, start_from).
	Cursors       map[string]connectors.Cursor `json:",omitempty"`
	DeleteCursors map[string]connectors.Cursor `json:",omitempty"`
	// Limit bounds the records read per side (and the deletes listed); 0: 10,000.
	Limit int
	Now   time.Time
}

// PlanResult is a plan: totals by action and the records with something to say (every
// record but the skipped ones, which are only counted, unless there are few).
type PlanResult struct {
	Totals  PlanTotals   `json:"totals"`
	Records []PlanRecord `json:"records"`
	// Truncated is set when a side had more changes than Limit: the totals cover the
	// records read.
	Truncated bool `json:"truncated,omitempty"`
}

// DefaultPlanLimit is PlanSyncInput.Limit's default.
const DefaultPlanLimit = 10_000

// PlanSync runs the next run's pipeline (deletes, then each side's changes after its
// cursor) without writing anything, and says per record what the run would do, with a
// field-by-field diff. Nothing moves: not a cursor, not a link, not a pending delete.
func (a *Activities) PlanSync(ctx context.Context, in PlanSyncInput) (PlanResult, error) {
	defer keepAlive(ctx)()
	s, err := a.sync(in.Ref)
	if err != nil {
		return PlanResult{}, err
	}
	limit := in.Limit
	if limit <= 0 {
		limit = DefaultPlanLimit
	}
	var out PlanResult
	add := func(r PlanRecord) {
		out.Totals.add(r.Action)
		out.Records = append(out.Records, r)
	}
	sides := []string{SideA}
	if s.Mode == definition.TwoWay {
		sides = append(sides, SideB)
	}
	if s.Deletes.Active() {
		for _, side := range sides {
			cur, ok := in.DeleteCursors[side]
			if !ok {
				continue // the first run starts the delete log from then
			}
			det, err := a.detect(ctx, DetectDeletesInput{Ref: in.Ref, Side: side, Cursor: cur, Now: in.Now, Limit: s.PageSize}, true)
			if err != nil {
				return PlanResult{}, err
			}
			for _, d := range det.pending {
				add(PlanRecord{Side: definition.Other(side), Key: d.Key, Action: PlanDelete, ID: d.PartnerID,
					Reason: fmt.Sprintf("its partner %s was deleted on %s (found by %s); deletes.mode %s", d.ID, side, d.How, s.Deletes.Mode)})
			}
		}
	}
	planned := map[string]bool{} // keys planned from side a (two-way)
	for _, side := range sides {
		to := definition.Other(side)
		cur, ok := in.Cursors[side]
		if !ok {
			cur = connectors.Cursor{UpdatedAt: s.Schedule.StartFrom}
		}
		read := 0
		for {
			page, err := a.FetchChanges(ctx, FetchChangesInput{Ref: in.Ref, Side: side, Cursor: cur, Limit: min(s.PageSize, limit-read)})
			if err != nil {
				return PlanResult{}, err
			}
			if len(page.Records) == 0 {
				break
			}
			read += len(page.Records)
			cur = connectors.CursorOf(page.Records[len(page.Records)-1])
			if side == SideB {
				// A pair planned from side a is written by then: its side b record is
				// an echo of that write when the run reads it.
				page = skipPlanned(page, planned, func(id, key string) {
					add(PlanRecord{Side: side, Key: key, Action: PlanSkip, ID: id, Reason: "planned from side a"})
				})
			}
			v, err := a.judge(ctx, in.Ref, s, side, page, in.Cursors[to], in.Now)
			if err != nil {
				return PlanResult{}, err
			}
			// Pairs a delete ended, and records read from before Tandem's write to them:
			// not synced.
			out.Totals.Skip += len(v.gone) + v.behind
			describe(v, side, func(r PlanRecord) {
				if side == SideA {
					planned[r.Key] = true
				}
				add(r)
			})
			heartbeat(ctx, read)
			if !page.More {
				break
			}
			if read >= limit {
				out.Truncated = true
				break
			}
		}
	}
	// Skips are counted, and listed only while they are few.
	if out.Totals.Skip > 100 {
		kept := out.Records[:0]
		for _, r := range out.Records {
			if r.Action != PlanSkip {
				kept = append(kept, r)
			}
		}
		out.Records = kept
	}
	return out, nil
}

// skipPlanned takes the records whose key was planned already out of page, calling skip
// for each.
func skipPlanned(page Records, planned map[string]bool, skip func(id, key string)) Records {
	return page.Keep(func(r connectors.Record, k string) bool {
		if k != "" && planned[k] {
			skip(r.ID, k)
			return false
		}
		return true
	})
}

// describe turns a verdict into plan records: one per record read, and one more for a
// write back to the side read (two-way).
func describe(v verdict, from string, add func(PlanRecord)) {
	to := definition.Other(from)
	decided := map[int]bool{}
	for _, d := range v.decisions.Decisions {
		it := v.items[d.Item]
		decided[d.Item] = true
		target := ""
		if len(it.TargetIDs) == 1 {
			target = it.TargetIDs[0]
		}
		switch d.Action {
		case ActionCreate:
			add(PlanRecord{Side: to, Key: it.Key, Action: PlanCreate, Fields: changes(nil, it.Want), Reason: "no record on side " + to + " has this key"})
		case ActionUpdate:
			action, reason := PlanUpdate, "the payloads differ in these fields"
			if d.Winner != "" {
				action = PlanConflict
				reason = fmt.Sprintf("both sides changed since they were last in step; side %s wins", d.Winner)
			}
			if d.Fields != nil {
				add(PlanRecord{Side: to, Key: it.Key, Action: action, ID: target, Fields: changes(it.Have, d.Fields), Reason: reason})
			}
			if d.Back != nil {
				var have Payload
				if it.Pair != nil {
					have = it.Pair.BackHave
				}
				add(PlanRecord{Side: from, Key: it.Key, Action: action, ID: it.SourceID, Fields: changes(have, d.Back), Reason: reason})
			}
		case ActionLink:
			add(PlanRecord{Side: from, Key: it.Key, Action: PlanSkip, ID: it.SourceID, Reason: "in step with what was last synced"})
		case ActionHold:
			add(PlanRecord{Side: from, Key: it.Key, Action: PlanSkip, ID: it.SourceID, Reason: "held: " + d.Reason})
		case ActionSkip:
			add(PlanRecord{Side: from, Key: it.Key, Action: PlanSkip, ID: it.SourceID, Reason: d.Reason})
		default:
			add(PlanRecord{Side: from, Key: it.Key, Action: PlanFail, ID: it.SourceID, Reason: d.Reason})
		}
	}
	for i, it := range v.items {
		if !decided[i] {
			add(PlanRecord{Side: from, Key: it.Key, Action: PlanSkip, ID: it.SourceID, Reason: "both sides hold the same values"})
		}
	}
}

// changes pairs each field of to with its value in have.
func changes(have, to Payload) map[string]FieldChange {
	out := make(map[string]FieldChange, len(to))
	for k, v := range to {
		out[k] = FieldChange{From: have[k], To: v}
	}
	return out
}
