package workflows

import (
	"errors"
	"hash/fnv"
	"io"
	"slices"
	"sort"
	"strconv"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"tandem/activities"
	"tandem/connectors"
	"tandem/internal/config"
)

// maxFailures is how many failed records the state keeps (the newest); older ones are
// still counted in the totals.
const maxFailures = 100

// failedRunRetry is how soon a run that stopped on an error is tried again at most.
const failedRunRetry = 5 * time.Minute

// a is the nil receiver the workflow names activities through.
var a *activities.Activities

// SyncWorkflow runs one sync for ever: it sleeps on a durable timer until the next run,
// wakes early on sync-now, pulls changes page by page through the pipeline, and continues
// as new after every run (and mid-run when the server suggests it) carrying its state.
func SyncWorkflow(ctx workflow.Context, in SyncInput) error {
	s := newSyncer(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryStatus, s.status); err != nil {
		return err
	}
	return s.run(ctx)
}

type syncer struct {
	name   string
	st     *SyncState
	plan   *activities.SyncPlan
	logger log.Logger

	syncNow, pause, resume, resync, change workflow.ReceiveChannel
	// seen holds the ids of recent events (st.Seen as a set).
	seen map[string]bool
	// inFlight is the size of the micro-batch being synced.
	inFlight int
	// trigger says why the next run starts, for its summary.
	trigger string
	// rewound is set when a resync moved a cursor during a run, so a page fetched
	// ahead from the old position is not used.
	rewound bool
	// touched is the latest look-ahead's record of writes since it began (nil before
	// any); see lookAhead.
	touched map[string]map[string][]string
	// linked is set for two-way syncs that keep their pairs in the link store (every
	// run since the "link-store" version); see linked.go.
	linked bool
}

func newSyncer(ctx workflow.Context, in SyncInput) *syncer {
	st := in.State
	if st == nil {
		st = &SyncState{}
	}
	if st.Cursors == nil {
		st.Cursors = map[string]connectors.Cursor{}
	}
	return &syncer{
		name:    in.Sync,
		st:      st,
		logger:  log.With(workflow.GetLogger(ctx), "sync", in.Sync),
		syncNow: workflow.GetSignalChannel(ctx, SignalSyncNow),
		pause:   workflow.GetSignalChannel(ctx, SignalPause),
		resume:  workflow.GetSignalChannel(ctx, SignalResume),
		resync:  workflow.GetSignalChannel(ctx, SignalResync),
		change:  workflow.GetSignalChannel(ctx, SignalChange),
		trigger: "schedule",
		seen:    seenSet(st.Seen),
	}
}

func (s *syncer) run(ctx workflow.Context) error {
	for {
		s.drainSignals(ctx)
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			// Between two batches is a safe point, even mid-run or with events waiting:
			// all of it is in the state.
			return s.continueAsNew(ctx)
		}
		if s.heldDue(ctx) && !s.st.Paused {
			s.releaseHeld(ctx)
		}
		if s.hasPending() && !s.st.Paused {
			s.processEvents(ctx)
			continue
		}
		if s.st.Current == nil && !s.st.Paused && s.due(ctx) {
			s.startRun(ctx)
		}
		if s.st.Current != nil && !s.st.Paused {
			finished := s.runPages(ctx)
			if finished {
				s.finishRun(ctx)
				return s.continueAsNew(ctx)
			}
		}
		if s.st.Current == nil || s.st.Paused {
			s.wait(ctx)
		}
	}
}

func (s *syncer) due(ctx workflow.Context) bool {
	return s.st.SyncNowPending || !workflow.Now(ctx).Before(s.st.NextRunAt)
}

func (s *syncer) startRun(ctx workflow.Context) {
	s.st.Runs++
	trigger := s.trigger
	if s.st.SyncNowPending {
		trigger = "sync-now"
	}
	s.st.SyncNowPending = false
	s.trigger = "schedule"
	s.st.Current = &RunSummary{Number: s.st.Runs, Trigger: trigger, StartedAt: workflow.Now(ctx)}
	s.logger.Info("Run started", "run", s.st.Runs, "trigger", trigger)
}

func (s *syncer) finishRun(ctx workflow.Context) {
	run := s.st.Current
	run.FinishedAt = workflow.Now(ctx)
	s.st.LastRun, s.st.Current = run, nil
	every := time.Duration(0)
	if s.plan != nil {
		every = s.plan.Every
	}
	if run.Error != "" && (every == 0 || every > failedRunRetry) {
		every = failedRunRetry
	}
	s.st.NextRunAt = run.FinishedAt.Add(every)
	s.logger.Info("Run finished", "run", run.Number, "fetched", run.Fetched, "created", run.Created,
		"updated", run.Updated, "skipped", run.Skipped, "failed", run.Failed, "error", run.Error,
		"nextRunAt", s.st.NextRunAt)
}

// runPages pulls and writes pages until the run is done (true), or until it must pause
// or continue as new (false). A two-way sync pulls side a, then side b.
func (s *syncer) runPages(ctx workflow.Context) bool {
	if err := s.loadPlan(ctx); err != nil {
		s.st.Current.Error = errorText(err)
		return true
	}
	sides := []string{activities.SideA}
	if s.plan.Mode == config.TwoWay {
		sides = append(sides, activities.SideB)
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
	// Histories recorded before look-ahead finds replay without them.
	ahead := workflow.GetVersion(ctx, "find-ahead", workflow.DefaultVersion, 1) == 1
	fetch := s.fetch(ctx, side, s.st.Cursors[side])
	var next *lookAhead
	if ahead {
		next = s.lookAhead(ctx, side, fetch)
	}
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
		if page.More {
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

		s.drainSignals(ctx)
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
		if s.st.Paused || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return false
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
	// linked is set for two-way syncs that keep their pairs in the link store (every
	// run since the "link-store" version); see linked.go.
	linked bool
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
	la := &lookAhead{done: done, touched: map[string]map[string][]string{}}
	s.touched = la.touched
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
		return p, s.rereadPartners(ctx, other(side), &p.Partners, la.touched[other(side)])
	}
	err := s.reread(ctx, other(side), p.Page.UniqueKeys(), &p.Matches, la.touched[other(side)])
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

// maxWritten bounds the recent writes per side that the state keeps (see reread).
const maxWritten = 2_000

// noteWritten remembers, on a side whose Find lags its writes, the id written for a key
// and when, for reread.
func (s *syncer) noteWritten(side, key, id string, now time.Time) {
	lag := s.plan.Lag[side]
	if key == "" || id == "" || lag <= 0 {
		return
	}
	if s.st.Written == nil {
		s.st.Written = map[string]map[string]WrittenKey{}
	}
	w := s.st.Written[side]
	if w == nil {
		w = map[string]WrittenKey{}
		s.st.Written[side] = w
	}
	e := w[key]
	if !slices.Contains(e.IDs, id) {
		e.IDs = append(e.IDs, id)
	}
	e.At = now
	w[key] = e
	if len(w) > maxWritten {
		s.pruneWritten(now)
	}
}

// pruneWritten drops the writes Find has caught up with, and past maxWritten per side
// the oldest.
func (s *syncer) pruneWritten(now time.Time) {
	for _, side := range workflow.DeterministicKeys(s.st.Written) {
		w, lag := s.st.Written[side], s.plan.Lag[side]
		keys := workflow.DeterministicKeys(w)
		for _, k := range keys {
			if now.Sub(w[k].At) >= lag {
				delete(w, k)
			}
		}
		if len(w) > maxWritten {
			keys = workflow.DeterministicKeys(w)
			sort.SliceStable(keys, func(i, j int) bool { return w[keys[i]].At.Before(w[keys[j]].At) })
			for _, k := range keys[:len(w)-maxWritten*3/4] {
				delete(w, k)
			}
		}
		if len(w) == 0 {
			delete(s.st.Written, side)
		}
	}
	if len(s.st.Written) == 0 {
		s.st.Written = nil
	}
}

// reread replaces the matches of some keys on side by the records read again by id: keys
// in touched (written since the matches were looked up) and, where the side's Find
// trails its writes (HubSpot's search index does, by up to the plan's Lag), keys written
// on side less than Lag ago. Such a record may not be found yet, or be found with its
// old values, and would be created twice or compared stale; reads by id are not subject
// to the index. The ids read are those the look-up found and those written for the key.
func (s *syncer) reread(ctx workflow.Context, side string, keys []string, m *activities.Matches, touched map[string][]string) error {
	var stale, ids []string
	seen := map[string]bool{}
	now := workflow.Now(ctx)
	for _, k := range keys {
		written, isTouched := touched[k]
		e, ok := s.st.Written[side][k]
		if ok && now.Sub(e.At) < s.plan.Lag[side] {
			written = append(slices.Clone(written), e.IDs...)
		} else if !isTouched {
			continue
		}
		stale = append(stale, k)
		for _, r := range m.Matches[k] {
			written = append(written, r.ID)
		}
		for _, id := range written {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	if len(stale) == 0 {
		return nil
	}
	fresh := map[string][]connectors.Record{}
	for len(ids) > 0 {
		var recs activities.Records
		if err := workflow.ExecuteActivity(activityOptions(ctx), a.GetRecords, activities.GetRecordsInput{
			Sync: s.name, Side: side, IDs: ids, Counterparts: true,
		}).Get(ctx, &recs); err != nil {
			return err
		}
		for i, r := range recs.Records {
			fresh[recs.Keys[i]] = append(fresh[recs.Keys[i]], r)
		}
		if len(recs.Rest) >= len(ids) {
			break // nothing read: do not ask again for ever
		}
		ids = recs.Rest
	}
	if m.Matches == nil {
		m.Matches = map[string][]connectors.Record{}
	}
	for _, k := range stale {
		rs := fresh[k]
		if len(rs) == 0 {
			delete(m.Matches, k)
			continue
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
		m.Matches[k] = rs
	}
	return nil
}

// find looks keys of side's records up on the other side.
func (s *syncer) find(ctx workflow.Context, side string, keys []string, out *activities.Matches) error {
	if len(keys) == 0 {
		*out = activities.Matches{Matches: map[string][]connectors.Record{}}
		return nil
	}
	return workflow.ExecuteActivity(activityOptions(ctx), a.FindByIdentifier, activities.FindByIdentifierInput{
		Sync: s.name, Side: other(side), Values: keys,
	}).Get(ctx, out)
}

// countChanges adds the side's changes still to read to the run's known total, for
// progress.
func (s *syncer) countChanges(ctx workflow.Context, side string) {
	var n activities.Count
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 2},
	}), a.CountChanges, activities.CountChangesInput{Sync: s.name, Side: side, Cursor: s.st.Cursors[side]}).Get(ctx, &n)
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
	var plan activities.SyncPlan
	err := workflow.ExecuteLocalActivity(localOptions(ctx), a.LoadSync, activities.LoadSyncInput{Sync: s.name}).Get(ctx, &plan)
	if err != nil {
		return err
	}
	s.plan = &plan
	if plan.Mode == config.TwoWay && workflow.GetVersion(ctx, "link-store", workflow.DefaultVersion, 1) == 1 {
		s.linked = true
		// The link store remembers every pair: wave 1's bounded memory is dropped.
		s.st.Baselines, s.st.BaselineOrder, s.st.Loops = nil, nil, nil
	}
	return nil
}

func (s *syncer) fetch(ctx workflow.Context, side string, after connectors.Cursor) workflow.Future {
	return workflow.ExecuteActivity(activityOptions(ctx), a.FetchChanges, activities.FetchChangesInput{
		Sync: s.name, Side: side, Cursor: after, Limit: s.plan.PageSize,
	})
}

// process runs one batch of changed records of side from through the pipeline: find
// their counterparts (unless found, by a look-ahead), build and compare payloads, write
// what differs. Failed records are kept in the state under run (0 for real-time batches).
func (s *syncer) process(ctx workflow.Context, from string, batch activities.Records, run int, found *activities.Matches, partners *activities.Partners) (Counts, error) {
	if s.linked {
		return s.processLinked(ctx, from, batch, run, partners)
	}
	to := other(from)
	actx := activityOptions(ctx)
	lctx := localOptions(ctx)

	var matches activities.Matches
	if found != nil {
		matches = *found
	} else {
		// Not s.find: that skips the activity for no keys, and histories recorded before
		// it have the activity even then.
		if err := workflow.ExecuteActivity(actx, a.FindByIdentifier, activities.FindByIdentifierInput{
			Sync: s.name, Side: to, Values: batch.UniqueKeys(),
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
		Sync: s.name, From: from, Source: batch, Matches: matches.Matches,
	}).Get(ctx, &items); err != nil {
		return Counts{}, err
	}
	var decisions activities.Decisions
	if err := workflow.ExecuteLocalActivity(lctx, a.Compare, activities.CompareInput{
		Sync: s.name, From: from, Items: items.Items,
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
	s.count(ctx, c)
	if s.plan.Mode == config.TwoWay {
		for _, d := range decisions.Decisions {
			if key := items.Items[d.Item].Key; d.Baseline != "" && written[key] && !failed[key] {
				s.setBaseline(key, d.Baseline)
			}
		}
	}
	return c, nil
}

// setUsage keeps a side's latest quota use.
func (s *syncer) setUsage(side string, u map[string]string) {
	if len(u) == 0 {
		return
	}
	if s.st.Usage == nil {
		s.st.Usage = map[string]map[string]string{}
	}
	s.st.Usage[side] = u
}

// count adds a batch's outcomes to the sync's metrics (not emitted while replaying).
func (s *syncer) count(ctx workflow.Context, c Counts) {
	m := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"sync": s.name})
	for _, o := range []struct {
		outcome string
		n       int
	}{{"fetched", c.Fetched}, {"created", c.Created}, {"updated", c.Updated}, {"skipped", c.Skipped}, {"failed", c.Failed}, {"conflicts", c.Conflicts}} {
		if o.n > 0 {
			m.WithTags(map[string]string{"outcome": o.outcome}).Counter(MetricRecords).Inc(int64(o.n))
		}
	}
}

func (s *syncer) recordFailure(f FailedRecord) {
	s.logger.Warn("Record not synced", "side", f.Side, "record", f.RecordID, "key", f.Key, "reason", f.Reason)
	s.st.Failures = append(s.st.Failures, f)
	if n := len(s.st.Failures); n > maxFailures {
		s.st.Failures = append([]FailedRecord(nil), s.st.Failures[n-maxFailures:]...)
	}
}

// wait sleeps until the next run is due or a signal arrives.
func (s *syncer) wait(ctx workflow.Context) {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	sel := workflow.NewSelector(ctx)
	if !s.st.Paused && s.st.Current == nil {
		next := s.st.NextRunAt
		if !s.st.HeldNext.IsZero() && s.st.HeldNext.Before(next) {
			next = s.st.HeldNext
		}
		d := next.Sub(workflow.Now(ctx))
		if d <= 0 {
			return
		}
		sel.AddFuture(workflow.NewTimer(tctx, d), func(workflow.Future) {})
	}
	s.addSignals(ctx, sel)
	sel.Select(ctx)
}

func (s *syncer) addSignals(ctx workflow.Context, sel workflow.Selector) {
	sel.AddReceive(s.syncNow, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		s.onSyncNow(ctx)
	})
	sel.AddReceive(s.pause, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		s.onPause()
	})
	sel.AddReceive(s.resume, func(c workflow.ReceiveChannel, _ bool) {
		c.Receive(ctx, nil)
		s.onResume()
	})
	sel.AddReceive(s.resync, func(c workflow.ReceiveChannel, _ bool) {
		var sig ResyncSignal
		c.Receive(ctx, &sig)
		s.onResync(ctx, sig)
	})
	sel.AddReceive(s.change, func(c workflow.ReceiveChannel, _ bool) {
		var sig ChangeSignal
		c.Receive(ctx, &sig)
		s.onChange(ctx, sig)
	})
}

// drainSignals applies every signal already received, without blocking.
func (s *syncer) drainSignals(ctx workflow.Context) {
	for {
		sel := workflow.NewSelector(ctx)
		s.addSignals(ctx, sel)
		if !sel.HasPending() {
			return
		}
		sel.Select(ctx)
	}
}

func (s *syncer) onSyncNow(ctx workflow.Context) {
	s.logger.Info("Signal sync-now")
	if s.st.Current != nil {
		s.st.SyncNowPending = true
		return
	}
	s.trigger = "sync-now"
	s.st.NextRunAt = workflow.Now(ctx)
}

func (s *syncer) onPause() {
	s.logger.Info("Signal pause")
	s.st.Paused = true
}

func (s *syncer) onResume() {
	s.logger.Info("Signal resume")
	s.st.Paused = false
}

func (s *syncer) onResync(ctx workflow.Context, sig ResyncSignal) {
	side := sig.Side
	if side == "" {
		side = activities.SideA
	}
	if side != activities.SideA && side != activities.SideB {
		s.logger.Warn("Signal resync ignored: unknown side", "side", sig.Side)
		return
	}
	s.logger.Info("Signal resync", "side", side, "from", sig.From)
	s.st.Cursors[side] = connectors.Cursor{UpdatedAt: sig.From}
	if s.st.Current != nil {
		s.rewound = true
		return
	}
	s.trigger = "resync"
	s.st.NextRunAt = workflow.Now(ctx)
}

func (s *syncer) continueAsNew(ctx workflow.Context) error {
	s.drainSignals(ctx)
	if s.plan != nil {
		s.pruneWritten(workflow.Now(ctx))
	}
	return workflow.NewContinueAsNewError(ctx, SyncWorkflow, SyncInput{Sync: s.name, State: s.st})
}

func (s *syncer) status() (Status, error) {
	st := Status{
		Sync:       s.name,
		WorkflowID: WorkflowID(s.name),
		Paused:     s.st.Paused,
		Running:    s.st.Current != nil && !s.st.Paused,
		Cursors:    s.st.Cursors,
		NextRunAt:  s.st.NextRunAt,
		Current:    s.st.Current,
		LastRun:    s.st.LastRun,
		Runs:       s.st.Runs,
		Totals:     s.st.Totals,
		Failures:   s.st.Failures,
		Decisions:  s.st.Decisions,
		Realtime:   s.st.Realtime,
		Usage:      s.st.Usage,
		Events:     s.st.Events,
		Pending:    s.pendingCount(),
		Held:       s.st.Held,
		HeldCount:  s.st.HeldCount,
		Overflowed: s.st.Overflowed,
	}
	for _, side := range workflow.DeterministicKeys(s.st.Written) {
		if st.RecentlyWritten == nil {
			st.RecentlyWritten = map[string]int{}
		}
		st.RecentlyWritten[side] = len(s.st.Written[side])
	}
	return st, nil
}

func activityOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    10,
		},
	})
}

func localOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
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

// errorText is what the status says of a failed step: the activity's own message, not
// the layers of wrapping around it.
func errorText(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		return "timed out (" + timeout.TimeoutType().String() + ")"
	}
	return err.Error()
}

func other(side string) string {
	if side == activities.SideA {
		return activities.SideB
	}
	return activities.SideA
}

// writes are the outcomes of a batch's writes: by key (written: every write succeeded;
// failedKeys: one failed), and by the id of the batch's record (created: the id of the
// record created for it; failed: one of its writes failed).
type writes struct {
	keys, failedKeys map[string]bool
	created          map[string]string
	failed           map[string]bool
}

// write makes a batch's writes: to the other side, then (two-way) back to this side; both
// are futures so the two services are written at the same time.
func (s *syncer) write(ctx workflow.Context, from string, plan activities.Plan, run int, now time.Time, c *Counts) (writes, error) {
	to := other(from)
	actx := activityOptions(ctx)
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
		toOther = workflow.ExecuteActivity(actx, a.Upsert, activities.UpsertInput{
			Sync: s.name, Side: to, Ops: plan.Ops, Run: run, Batch: batchID, RunAt: runAt})
	}
	if len(plan.BackOps) > 0 {
		toThis = workflow.ExecuteActivity(actx, a.Upsert, activities.UpsertInput{
			Sync: s.name, Side: from, Ops: plan.BackOps, Run: run, Batch: batchID + "-back", RunAt: runAt})
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
		for i, r := range res.Results {
			op := w.ops[i]
			if op.Action == activities.ActionCreate && r.Action != activities.ActionFail {
				// A retried create may have found what its lost attempt created.
				out.created[op.SourceID] = r.TargetID
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
