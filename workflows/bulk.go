package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"tandem/activities"
	"tandem/definition"
)

// The bulk path (activities/chunk.go explains it): a side with a backlog it can count
// (more than bulkMin changes) is read in chunks from its first record, and one that cannot
// count goes on in chunks after a full first page: each chunk is one activity that reads, finds, compares and writes up to
// activities.ChunkRecords records and returns the cursor and the counts. Webhook
// micro-batches and small runs keep their per-step activities in history.

// bulkEligible says whether the rest of a run's side may go in chunks: not in histories
// from before chunks, nor, where a side's search trails its writes (HubSpot's index), in
// histories from before "lagged-chunks". Such a side went per step, the workflow reading
// by id what it had just written (reread). Since version 1 a one-way chunk into it does
// that itself (activities' chunklag.go); since version 2 a two-way chunk goes too, which
// reads what it wrote through the links (a key with no link is one Tandem has not
// written), and so does a sync whose source lags (the connector reads only the changes
// its search has caught up with). Since version 3 such a source's count does not keep it
// per step (below).
func (s *syncer) bulkEligible(ctx workflow.Context, side string) bool {
	lagged := s.plan.Lag[definition.Other(side)] > 0 || s.plan.Lag[side] > 0
	// Only a backlog worth it: more than bulkMin changes still to read where the side can
	// count them, pages of at least bulkMinPage where it cannot. A run of a few pages
	// keeps every step in history, for explain and replay.
	if r := s.st.Current; r.KnownOK {
		// A side whose search trails its writes counts only the changes the search had
		// caught up with when the pass began, and more reach it as the pass goes on (a
		// two-way sync's pass over HubSpot reads back what the other pass just wrote): it
		// goes on in chunks after a full page, as a side that cannot count does.
		if r.Known-r.Fetched <= bulkMin && (s.plan.Lag[side] <= 0 || s.plan.PageSize < bulkMinPage ||
			workflow.GetVersion(ctx, "lagged-chunks", workflow.DefaultVersion, 3) < 3) {
			return false
		}
	} else if s.plan.PageSize < bulkMinPage {
		return false
	}
	if lagged {
		v := workflow.GetVersion(ctx, "lagged-chunks", workflow.DefaultVersion, 3)
		wide := s.plan.Mode == definition.TwoWay || s.linked || s.plan.Lag[side] > 0
		if v == workflow.DefaultVersion || wide && v < 2 {
			return false
		}
	}
	return workflow.GetVersion(ctx, "bulk-chunks", workflow.DefaultVersion, 1) == 1
}

// bulkMin and bulkMinPage: see bulkEligible.
const (
	bulkMin     = 1000
	bulkMinPage = 100
)

// chunkOptions are a chunk's: it runs up to activities.ChunkTime plus its last page, and
// heartbeats throughout.
func chunkOptions(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    4 * activities.HeartbeatEvery,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    10,
		},
	})
}

// runChunks syncs the rest of a run's side in chunks; false when the run must pause or
// continue as new.
func (s *syncer) runChunks(ctx workflow.Context, side string) bool {
	to := definition.Other(side)
	for {
		now := workflow.Now(ctx)
		var res activities.ChunkResult
		err := workflow.ExecuteActivity(chunkOptions(ctx), a.SyncChunk, activities.SyncChunkInput{
			Ref: s.ref(), Side: side, Cursor: s.st.Cursors[side], TargetCursor: s.st.Cursors[to], PageSize: s.plan.PageSize,
			Run: s.st.Current.Number, RunAt: s.st.Current.StartedAt, Now: now, CoolDown: s.plan.CoolDown,
			Linked: s.linked, KeepLinks: s.deletesActive() && s.plan.Mode != definition.TwoWay,
			Remember: s.remembers(ctx), Written: s.recentWrites(to, now),
		}).Get(ctx, &res)
		if err != nil {
			s.st.Current.Error = errorText(err)
			return true
		}
		if s.plan.Lag[to] > 0 {
			// The chunk's writes within the lag, with those it was given.
			if s.st.Written == nil {
				s.st.Written = map[string]map[string]WrittenKey{}
			}
			s.st.Written[to] = res.Written
			s.pruneWritten(workflow.Now(ctx))
		}
		s.noteChunk(ctx, side, res, now)
		if res.Counts.Fetched == 0 {
			return true
		}
		// The chunk is written: only now does the cursor move past it.
		s.st.Cursors[side] = res.Cursor
		s.drainSignals(ctx)
		s.deleteControl(ctx)
		if s.hasPending() && !s.st.Paused {
			s.processEvents(ctx)
		}
		if s.rewound {
			s.rewound = false // the cursor was moved back: go on from there
		} else if !res.More {
			return true
		}
		if s.st.Paused || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return false
		}
	}
}

// noteChunk adds a chunk's outcomes to the run and the sync, as process does a page's.
func (s *syncer) noteChunk(ctx workflow.Context, side string, res activities.ChunkResult, now time.Time) {
	run := s.st.Current.Number
	k := res.Counts
	c := Counts{Fetched: k.Fetched, Created: k.Created, Updated: k.Updated, Skipped: k.Skipped, Failed: k.Failed,
		Conflicts: k.Conflicts, Held: k.Held, Stale: k.Stale}
	for _, f := range res.Failures {
		s.recordFailure(FailedRecord{Run: run, At: now, Side: f.Side, RecordID: f.RecordID, Key: f.Key, Reason: f.Reason})
	}
	for _, cf := range res.Conflicts {
		s.recordDecision(DecisionRecord{Run: run, At: now, Key: cf.Key, Kind: "conflict", Winner: cf.Winner, Lost: cf.Lost, Fields: cf.Fields})
	}
	for _, k := range res.Released {
		s.release(k)
	}
	for _, h := range res.Holds {
		s.hold(now, HeldPair{Key: h.Key, Side: side, RecordID: h.SourceID, Reason: h.Reason, Until: h.Until, Run: run})
	}
	for _, id := range res.Stale {
		s.enqueue(ctx, side, id)
	}
	s.setFailing(res.Failing)
	for _, sd := range workflow.DeterministicKeys(res.Usage) {
		s.setUsage(sd, res.Usage[sd])
	}
	s.st.Current.add(c)
	s.st.Totals.add(c)
	s.count(ctx, c)
	s.st.Current.Chunks++
}
