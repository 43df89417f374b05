package workflows

import (
	"errors"
	"hash/fnv"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"tandem/activities"
	"tandem/connectors"
	"tandem/definition"
)

// The page pipeline: read a side's changes page by page, find their counterparts, build,
// compare and write, with the next page read while one is written.

// runPages pulls and writes pages until the run is done (true), or until it must pause
// or continue as new (false). A two-way sync pulls side a, then side b.
func (s *syncer) runPages(ctx workflow.Context) bool {
	if err := s.loadPlan(ctx); err != nil {
		s.st.Current.Error = errorText(err)
		return true
	}
	if !s.st.Current.MappingChecked && workflow.GetVersion(ctx, "mapping-check", workflow.DefaultVersion, 1) == 1 {
		if err := s.checkMapping(ctx); err != nil {
			s.st.Current.Error = errorText(err)
			return true
		}
		s.st.Current.MappingChecked = true
		if s.st.Paused {
			return true
		}
	}
	if s.deletesActive() && !s.st.Current.DeletesDone {
		// Deletes first: a delete whose partner was edited since is decided (and the
		// partner, when it wins, unlinked) before the partner's change is read.
		if err := s.runDeletes(ctx); err != nil {
			s.st.Current.Error = errorText(err)
			return true
		}
		s.st.Current.DeletesDone = true
	}
	sides := []string{activities.SideA}
	if s.plan.Mode == definition.TwoWay {
		sides = append(sides, activities.SideB)
	}
	if !s.st.Current.FailuresRetried && s.remembers(ctx) {
		// Records services rejected before: their sources may not change again, and the
		// cursor has moved past them.
		if err := s.retryFailures(ctx, sides); err != nil {
			s.st.Current.Error = errorText(err)
			return true
		}
		s.st.Current.FailuresRetried = true
		if s.st.Paused {
			return false
		}
	}
	for _, side := range sides {
		if side < s.st.Current.Side {
			continue // pulled already in this run, before it continued as new
		}
		s.st.Current.Side = side
		if done := s.runSide(ctx, side); !done {
			return false
		}
		if s.st.Current.Error != "" {
			return true
		}
	}
	return true
}

// runSide pulls one side's pages; false when the run must pause or continue as new.
func (s *syncer) runSide(ctx workflow.Context, side string) bool {
	if _, ok := s.st.Cursors[side]; !ok {
		// The first run is backdated to start_from.
		s.st.Cursors[side] = connectors.Cursor{UpdatedAt: s.plan.StartFrom}
	}
	s.rewound = false
	// Histories recorded before progress counting existed replay without it.
	if workflow.GetVersion(ctx, "count-changes", workflow.DefaultVersion, 1) == 1 {
		s.countChanges(ctx, side)
	}
	if r := s.st.Current; r.KnownOK && r.Known-r.Fetched > bulkMin && s.bulkEligible(ctx, side) {
		// A backlog the side could count: in chunks from the first record.
		return s.runChunks(ctx, side)
	}
	// Histories recorded before look-ahead finds replay without them.
	ahead := workflow.GetVersion(ctx, "find-ahead", workflow.DefaultVersion, 1) == 1
	fetch := s.fetch(ctx, side, s.st.Cursors[side])
	var next *lookAhead
	if ahead {
		next = s.lookAhead(ctx, side, fetch)
	}
	// draining is set when the execution should continue as new while a page is read and
	// looked up ahead: that page is written first (its read and its searches are spent
	// already; on a rate-limited service they are what the run waits for), then it goes on
	// as new.
	draining := false
	for {
		var page activities.Records
		var matches *activities.Matches
		var partners *activities.Partners
		if ahead {
			p, err := s.takeAhead(ctx, side, next)
			if err != nil {
				s.st.Current.Error = errorText(err)
				return true
			}
			page, matches, partners = p.Page, &p.Matches, &p.Partners
		} else if err := fetch.Get(ctx, &page); err != nil {
			s.st.Current.Error = errorText(err)
			return true
		}
		s.setUsage(side, page.Usage)
		if len(page.Records) == 0 {
			return true
		}
		// A full page with more to come: after this one, the side goes on in chunks
		// (bulk.go), its records out of history.
		bulk := page.More && s.bulkEligible(ctx, side)
		if page.More && !bulk && !draining {
			// Read the next page (and, with look-ahead, find its counterparts) while this
			// one is written.
			fetch = s.fetch(ctx, side, connectors.CursorOf(page.Records[len(page.Records)-1]))
			if ahead {
				next = s.lookAhead(ctx, side, fetch)
			}
		}
		c, err := s.process(ctx, side, page, s.st.Current.Number, matches, partners)
		if err != nil {
			s.st.Current.Error = errorText(err)
			return true
		}
		s.st.Current.add(c)
		s.st.Totals.add(c)
		// The page is written: only now does the cursor move past it.
		s.st.Cursors[side] = connectors.CursorOf(page.Records[len(page.Records)-1])
		if bulk {
			return s.runChunks(ctx, side)
		}

		s.drainSignals(ctx)
		s.deleteControl(ctx)
		// Real-time changes do not wait behind a long backfill.
		if s.hasPending() && !s.st.Paused {
			s.processEvents(ctx)
		}
		if s.rewound {
			s.rewound = false
			fetch = s.fetch(ctx, side, s.st.Cursors[side])
			if ahead {
				next = s.lookAhead(ctx, side, fetch)
			}
		} else if !page.More {
			return true
		}
		if s.st.Paused || draining {
			return false
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			if !ahead || workflow.GetVersion(ctx, "drain-ahead", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
				return false
			}
			draining = true
		}
	}
}

// lookAhead is a page being read and its keys being looked up on the other side while the
// page before it is written, so that the other side's searches and writes overlap.
// touched collects, by side and key, the ids written from the moment the look-up may have
// started (a key with no id: its write failed or is under way): their matches may be
// stale and are read again by id before the page is used.
type lookAhead struct {
	done    workflow.Future // of aheadPage
	touched map[string]map[string][]string
	// dirty (linked two-way syncs) are, by side, the ids of records written or linked
	// since the look-up began: a link or partner read for one of them may be stale.
	dirty map[string]map[string]bool
}

type aheadPage struct {
	Page    activities.Records
	Matches activities.Matches
	// Partners replace Matches in two-way syncs with a link store.
	Partners activities.Partners
}

// lookAhead starts reading the page fetch brings and finding its keys on the other side.
// From now on process notes the keys it writes in the look-ahead's touched set.
func (s *syncer) lookAhead(ctx workflow.Context, side string, fetch workflow.Future) *lookAhead {
	done, settle := workflow.NewFuture(ctx)
	la := &lookAhead{done: done, touched: map[string]map[string][]string{}, dirty: map[string]map[string]bool{}}
	s.touched, s.dirty = la.touched, la.dirty
	workflow.Go(ctx, func(ctx workflow.Context) {
		var p aheadPage
		if err := fetch.Get(ctx, &p.Page); err != nil {
			settle.Set(p, err)
			return
		}
		var err error
		if s.linked {
			if len(p.Page.Records) > 0 {
				err = s.findPartners(ctx, side, p.Page).Get(ctx, &p.Partners)
			}
		} else {
			err = s.find(ctx, side, p.Page.UniqueKeys(), &p.Matches)
		}
		settle.Set(p, err)
	})
	return la
}

// takeAhead waits for a look-ahead and reads again, by id, what was written since its
// look-up may have started (a record created by the page before, say, which the look-up
// missed); see reread.
func (s *syncer) takeAhead(ctx workflow.Context, side string, la *lookAhead) (aheadPage, error) {
	var p aheadPage
	if err := la.done.Get(ctx, &p); err != nil {
		return p, err
	}
	if s.linked {
		// Histories recorded before the refresh replay without it.
		if s.staleAhead(side, p, la.dirty) && workflow.GetVersion(ctx, "link-refresh", workflow.DefaultVersion, 1) == 1 {
			// A record of the page, or its partner, was written or linked while the
			// look-up ran (a record edited again during the run comes back on a later
			// page): its link and partner are read again, or Tandem's own write would be
			// taken for a change of the partner's.
			p.Partners = activities.Partners{}
			if err := s.findPartners(ctx, side, p.Page).Get(ctx, &p.Partners); err != nil {
				return p, err
			}
		}
		return p, s.rereadPartners(ctx, definition.Other(side), &p.Partners, la.touched[definition.Other(side)])
	}
	err := s.reread(ctx, definition.Other(side), p.Page.UniqueKeys(), &p.Matches, la.touched[definition.Other(side)])
	return p, err
}

// touch notes in the latest look-ahead's record a key written on side, and the id
// written when known.
func (s *syncer) touch(side, key, id string) {
	if s.touched == nil || key == "" {
		return
	}
	t := s.touched[side]
	if t == nil {
		t = map[string][]string{}
		s.touched[side] = t
	}
	ids := t[key]
	if id != "" && !slices.Contains(ids, id) {
		ids = append(ids, id)
	}
	t[key] = ids
}

// reread replaces the matches of some keys on side by the records read again by id: keys
// in touched (written since the matches were looked up) and, where the side's Find
// trails its writes (HubSpot's search index does, by up to the plan's Lag), keys written
// on side less than Lag ago. Such a record may not be found yet, or be found with its
// old values, and would be created twice or compared stale; reads by id are not subject
// to the index. The ids read are those the look-up found and those written for the key.
func (s *syncer) reread(ctx workflow.Context, side string, keys []string, m *activities.Matches, touched map[string][]string) error {
	now := workflow.Now(ctx)
	stale, ids := activities.StaleMatches(keys, *m, func(k string) ([]string, bool) {
		written, isTouched := touched[k]
		if e, ok := s.st.Written[side][k]; ok && now.Sub(e.At) < s.plan.Lag[side] {
			return append(slices.Clone(written), e.IDs...), true
		}
		return written, isTouched
	})
	return activities.RereadMatches(m, stale, ids, func(ids []string) (activities.Records, error) {
		var recs activities.Records
		err := s.remote(ctx, a.GetRecords, activities.GetRecordsInput{
			Ref: s.ref(), Side: side, IDs: ids, Counterparts: true,
		}).Get(ctx, &recs)
		return recs, err
	})
}

// find looks keys of side's records up on the other side.
func (s *syncer) find(ctx workflow.Context, side string, keys []string, out *activities.Matches) error {
	if len(keys) == 0 {
		*out = activities.Matches{Matches: map[string][]connectors.Record{}}
		return nil
	}
	return s.remote(ctx, a.FindByIdentifier, activities.FindByIdentifierInput{
		Ref: s.ref(), Side: definition.Other(side), Values: keys,
	}).Get(ctx, out)
}

// countChanges adds the side's changes still to read to the run's known total, for
// progress.
func (s *syncer) countChanges(ctx workflow.Context, side string) {
	var n activities.Count
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 2},
	}), a.CountChanges, activities.CountChangesInput{Ref: s.ref(), Side: side, Cursor: s.st.Cursors[side]}).Get(ctx, &n)
	if err != nil || !n.Known {
		return
	}
	// Records already fetched in this run are done; the count is of what is left.
	s.st.Current.Known = s.st.Current.Fetched + n.N
	s.st.Current.KnownOK = true
}

func (s *syncer) loadPlan(ctx workflow.Context) error {
	if s.plan != nil {
		return nil
	}
	if s.st.Current != nil && s.st.Plan != nil {
		// A run that continued as new goes on with the definition it started with.
		s.plan = s.st.Plan
	} else {
		var plan activities.SyncPlan
		err := workflow.ExecuteLocalActivity(localOptions(ctx), a.LoadSync, activities.LoadSyncInput{
			Sync: s.name, Definition: s.st.Definition,
		}).Get(ctx, &plan)
		if err != nil {
			if s.neverLoaded() && isUnknown(err) {
				// Nothing was ever synced under this name: a sync no worker knows (a
				// misspelt name, say) fails its workflow now, not every five minutes.
				s.fatal = temporal.NewNonRetryableApplicationError(errorText(err), activities.ErrUnknownSync, nil)
			}
			return err
		}
		s.plan = &plan
		s.st.Loaded, s.st.Search, s.st.Every = true, plan.Search, plan.Every
	}
	if s.st.Current != nil && s.plan.Def != nil {
		s.st.Plan = s.plan
	}
	// Several runs can share an execution ("run-in-place"): each decides afresh.
	s.linked = false
	if s.plan.Mode == definition.TwoWay && workflow.GetVersion(ctx, "link-store", workflow.DefaultVersion, 1) == 1 {
		s.linked = true
		// The link store remembers every pair: wave 1's bounded memory is dropped.
		s.st.Baselines, s.st.BaselineOrder, s.st.Loops = nil, nil, nil
	}
	return nil
}

// neverLoaded is true while the sync has never loaded its definition nor read anything.
func (s *syncer) neverLoaded() bool {
	return !s.st.Loaded && s.st.LastRun == nil && s.st.Totals == (Counts{})
}

// isUnknown says whether err is an unknown sync or a bad inline definition.
func isUnknown(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && (app.Type() == activities.ErrUnknownSync || app.Type() == activities.ErrBadDefinition)
}

func (s *syncer) fetch(ctx workflow.Context, side string, after connectors.Cursor) workflow.Future {
	return workflow.ExecuteActivity(activityOptions(ctx), a.FetchChanges, activities.FetchChangesInput{
		Ref: s.ref(), Side: side, Cursor: after, Limit: s.plan.PageSize,
	})
}

// process runs one batch of changed records of side from through the pipeline: find
// their counterparts (unless found, by a look-ahead), build and compare payloads, write
// what differs. Failed records are kept in the state under run (0 for real-time batches).
func (s *syncer) process(ctx workflow.Context, from string, batch activities.Records, run int, found *activities.Matches, partners *activities.Partners) (Counts, error) {
	if s.linked {
		return s.processLinked(ctx, from, batch, run, partners)
	}
	to := definition.Other(from)
	lctx := localOptions(ctx)

	var matches activities.Matches
	if found != nil {
		matches = *found
	} else {
		// Not s.find: that skips the activity for no keys, and histories recorded before
		// it have the activity even then.
		if err := s.remote(ctx, a.FindByIdentifier, activities.FindByIdentifierInput{
			Ref: s.ref(), Side: to, Values: batch.UniqueKeys(),
		}).Get(ctx, &matches); err != nil {
			return Counts{}, err
		}
		// Histories recorded before reread replay without it.
		if workflow.GetVersion(ctx, "reread-written", workflow.DefaultVersion, 1) == 1 {
			if err := s.reread(ctx, to, batch.UniqueKeys(), &matches, nil); err != nil {
				return Counts{}, err
			}
		}
	}
	var items activities.Items
	if err := workflow.ExecuteLocalActivity(lctx, a.BuildPayloads, activities.BuildPayloadsInput{
		Ref: s.ref(), From: from, Source: batch, Matches: matches.Matches,
	}).Get(ctx, &items); err != nil {
		return Counts{}, err
	}
	var decisions activities.Decisions
	if err := workflow.ExecuteLocalActivity(lctx, a.Compare, activities.CompareInput{
		Ref: s.ref(), From: from, Items: items.Items,
		Baselines: s.baselinesFor(batch.Keys), TargetCursor: s.st.Cursors[to],
	}).Get(ctx, &decisions); err != nil {
		return Counts{}, err
	}
	plan := decisions.Plan(from, items.Items)
	now := workflow.Now(ctx)
	c := Counts{Fetched: len(batch.Records), Skipped: plan.Skipped}
	for _, f := range plan.Failures {
		c.Failed++
		s.recordFailure(FailedRecord{Run: run, At: now, Side: f.Side, RecordID: f.RecordID, Key: f.Key, Reason: f.Reason})
	}
	plan = s.breakLoops(now, from, plan, items.Items, run, &c)
	for _, k := range plan.Conflicts {
		c.Conflicts++
		s.recordDecision(DecisionRecord{Run: run, At: now, Key: k.Key, Kind: "conflict", Winner: k.Winner, Lost: k.Lost})
	}
	w, err := s.write(ctx, from, plan, run, now, &c)
	if err != nil {
		return Counts{}, err
	}
	written, failed := w.keys, w.failedKeys
	if s.deletesActive() && s.plan.Mode != definition.TwoWay {
		// A one-way sync that acts on deletes keeps its pairs, to find a deleted
		// record's partner.
		if links := activities.OneWayLinks(items.Items, w.created, w.failed, now); len(links) > 0 {
			if err := s.remote(ctx, a.SaveLinks, activities.SaveLinksInput{Ref: s.ref(), Links: links}).Get(ctx, nil); err != nil {
				return Counts{}, err
			}
		}
	}
	s.count(ctx, c)
	if s.plan.Mode == definition.TwoWay {
		for _, d := range decisions.Decisions {
			if key := items.Items[d.Item].Key; d.Baseline != "" && written[key] && !failed[key] {
				s.setBaseline(key, d.Baseline)
			}
		}
	}
	return c, nil
}

// batchName names a batch of writes from the ids and changes of its records.
func batchName(from string, plan activities.Plan) string {
	h := fnv.New64a()
	for _, ops := range [][]activities.WriteOp{plan.Ops, plan.BackOps} {
		for _, op := range ops {
			_, _ = io.WriteString(h, op.Action+"|"+op.SourceID+"|"+op.TargetID+"\x00")
			for _, k := range workflow.DeterministicKeys(op.Fields) {
				_, _ = io.WriteString(h, k+"="+connectors.KeyString(op.Fields[k])+"\x00")
			}
		}
	}
	return from + "-" + strconv.FormatUint(h.Sum64(), 16)
}

// writes are the outcomes of a batch's writes: by key (written: every write succeeded;
// failedKeys: one failed), and by the id of the batch's record (created: the id of the
// record created for it; failed: one of its writes failed).
type writes struct {
	keys, failedKeys map[string]bool
	created          map[string]string
	failed           map[string]bool
	// stale are the batch record ids with an update refused because its record changed
	// after it was read (also in failed).
	stale []string
}

// write makes a batch's writes: to the other side, then (two-way) back to this side; both
// are futures so the two services are written at the same time.
func (s *syncer) write(ctx workflow.Context, from string, plan activities.Plan, run int, now time.Time, c *Counts) (writes, error) {
	to := definition.Other(from)
	// Writes to the other side, then (two-way) back to this side; both are futures so the
	// two services are written at the same time.
	// The batch's name is the same on every retry (its ops are in history) and differs
	// between batches, even two that start with the same record.
	batchID := batchName(from, plan)
	for _, w := range []struct {
		ops  []activities.WriteOp
		side string
	}{{plan.Ops, to}, {plan.BackOps, from}} {
		for _, op := range w.ops {
			s.touch(w.side, op.Key, "")
		}
	}
	runAt := now
	if s.st.Current != nil && run != 0 {
		runAt = s.st.Current.StartedAt
	}
	var toOther, toThis workflow.Future
	if len(plan.Ops) > 0 {
		toOther = s.remote(ctx, a.Upsert, activities.UpsertInput{
			Ref: s.ref(), Side: to, Ops: plan.Ops, Run: run, Batch: batchID, RunAt: runAt, Remember: s.remembers(ctx)})
	}
	if len(plan.BackOps) > 0 {
		toThis = s.remote(ctx, a.Upsert, activities.UpsertInput{
			Ref: s.ref(), Side: from, Ops: plan.BackOps, Run: run, Batch: batchID + "-back", RunAt: runAt, Remember: s.remembers(ctx)})
	}
	out := writes{keys: map[string]bool{}, failedKeys: map[string]bool{}, created: map[string]string{}, failed: map[string]bool{}}
	for _, w := range []struct {
		f       workflow.Future
		ops     []activities.WriteOp
		side    string // of the records the ops came from
		written string // the side written
	}{{toOther, plan.Ops, from, to}, {toThis, plan.BackOps, to, from}} {
		if w.f == nil {
			continue
		}
		var res activities.Written
		if err := w.f.Get(ctx, &res); err != nil {
			return writes{}, err
		}
		s.setUsage(w.written, res.Usage)
		s.setFailing(res.Failing)
		for i, r := range res.Results {
			op := w.ops[i]
			if op.Action == activities.ActionCreate && r.Action != activities.ActionFail {
				// A retried create may have found what its lost attempt created.
				out.created[op.SourceID] = r.TargetID
			}
			if r.Action == activities.ActionCreate || r.Action == activities.ActionUpdate {
				s.markDirty(w.written, r.TargetID)
			}
			switch r.Action {
			case activities.ActionCreate:
				c.Created++
				out.keys[op.Key] = true
				s.noteWritten(w.written, op.Key, r.TargetID, now)
				s.touch(w.written, op.Key, r.TargetID)
			case activities.ActionUpdate:
				c.Updated++
				out.keys[op.Key] = true
				s.noteWritten(w.written, op.Key, r.TargetID, now)
				s.touch(w.written, op.Key, r.TargetID)
			case activities.ActionStale:
				c.Stale++
				out.failedKeys[op.Key] = true
				id := batchRecord(op, w.written == to)
				if !out.failed[id] {
					out.stale = append(out.stale, id)
				}
				out.failed[id] = true
				s.logger.Info("Write refused: the record changed after it was read; planned again", "side", w.written, "record", op.TargetID, "key", op.Key)
			default:
				c.Failed++
				out.failedKeys[op.Key] = true
				out.failed[batchRecord(op, w.written == to)] = true
				s.recordFailure(FailedRecord{Run: run, At: now, Side: w.side, RecordID: op.SourceID, Key: op.Key, Reason: r.Reason})
			}
		}
	}
	return out, nil
}

// batchRecord is the id of the batch record an op was made for: its source for a write to
// the other side, its target for a write back.
func batchRecord(op activities.WriteOp, toOther bool) string {
	if toOther {
		return op.SourceID
	}
	return op.TargetID
}

// ref names the sync to an activity, with the definition the run loaded: every activity
// of a run uses that one (see activities.Ref).
func (s *syncer) ref() activities.Ref {
	r := activities.Ref{Sync: s.name}
	if s.plan != nil {
		r.Def = s.plan.Def
	}
	return r
}

// checkMapping checks the run's mapping against the fields both services say their
// objects have. A field missing (or not writable where the sync writes it) pauses the sync
// before anything is read or written: a field read as empty would be written as empty.
// The sync stays paused, saying why, until an operator resumes it; the next run checks
// again.
func (s *syncer) checkMapping(ctx workflow.Context) error {
	var check activities.MappingCheck
	if err := workflow.ExecuteActivity(activityOptions(ctx), a.CheckMapping, activities.CheckMappingInput{Ref: s.ref()}).Get(ctx, &check); err != nil {
		return err
	}
	if len(check.Problems) == 0 {
		return nil
	}
	reason := "mapping invalid (" + strings.Join(check.Problems, "; ") + ")"
	s.logger.Error("Sync paused: its mapping names fields the services do not have", "problems", check.Problems)
	s.st.Current.Error = reason
	s.st.Paused, s.st.PausedFor = true, reason
	return nil
}
