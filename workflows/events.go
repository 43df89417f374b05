package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"tandem/activities"
	"tandem/definition"
)

// maxPending bounds the record ids waiting for a micro-batch, per side. Past it, events are
// dropped and counted, and a run is started: the side's cursor reads their records anyway.
var maxPending = 10_000

// maxSeen is how many recent event ids a sync remembers to drop redeliveries. Senders
// redeliver within minutes to hours; this covers bursts far larger than that window.
const maxSeen = 5000

func seenSet(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// onChange queues the records of a webhook request, dropping events already seen. The
// record ids are only hints: each record is read fresh when its batch runs.
func (s *syncer) onChange(ctx workflow.Context, sig ChangeSignal) {
	side := sig.Side
	if side != activities.SideA && side != activities.SideB {
		s.reject(SignalChange, fmt.Sprintf("unknown side %q (want a or b)", sig.Side))
		return
	}
	if s.st.Pending == nil {
		s.st.Pending = map[string][]string{}
	}
	s.lastChange = workflow.Now(ctx)
	queued := map[string]bool{}
	for _, id := range s.st.Pending[side] {
		queued[id] = true
	}
	for _, e := range sig.Events {
		s.st.Events.Received++
		if e.ID != "" {
			if s.seen[e.ID] {
				s.st.Events.Duplicates++
				continue
			}
			s.remember(e.ID)
		}
		if e.Kind == "deleted" && e.RecordID != "" && workflow.GetVersion(ctx, "webhook-deletes", workflow.DefaultVersion, 1) == 1 {
			// Read in the micro-batch's delete detection (when the sync acts on deletes).
			s.queueDeleted(side, e.RecordID)
			continue
		}
		if e.RecordID != "" && !queued[e.RecordID] && s.push(ctx, side, e.RecordID) {
			queued[e.RecordID] = true
		}
	}
}

// overflow counts an event dropped for want of room and makes sure a run reads it.
func (s *syncer) overflow(ctx workflow.Context) {
	if s.st.Overflowed == 0 || s.st.Overflowed%1000 == 0 {
		s.logger.Warn("Too many pending webhook events; the next run reads their records", "pending", maxPending, "dropped", s.st.Overflowed+1)
	}
	s.st.Overflowed++
	if s.st.Current != nil {
		s.st.SyncNowPending = true
	} else if s.trigger == "schedule" {
		s.trigger = "overflow"
		s.st.NextRunAt = workflow.Now(ctx)
	}
}

// enqueue queues one record of side for the next micro-batch, unless it is queued already.
func (s *syncer) enqueue(ctx workflow.Context, side, id string) {
	if !slices.Contains(s.st.Pending[side], id) {
		s.push(ctx, side, id)
	}
}

// push appends a record not yet queued to side's pending ids, or counts it as overflow
// past maxPending (false).
func (s *syncer) push(ctx workflow.Context, side, id string) bool {
	if len(s.st.Pending[side]) >= maxPending {
		s.overflow(ctx)
		return false
	}
	if s.st.Pending == nil {
		s.st.Pending = map[string][]string{}
	}
	s.st.Pending[side] = append(s.st.Pending[side], id)
	return true
}

func (s *syncer) remember(id string) {
	s.seen[id] = true
	s.st.Seen = append(s.st.Seen, id)
	if n := len(s.st.Seen); n > maxSeen {
		for _, old := range s.st.Seen[:n-maxSeen] {
			delete(s.seen, old)
		}
		s.st.Seen = append([]string(nil), s.st.Seen[n-maxSeen:]...)
	}
}

// hasPending reports whether announced records (or deletes) wait for a micro-batch.
func (s *syncer) hasPending() bool {
	return len(s.st.Pending[activities.SideA])+len(s.st.Pending[activities.SideB]) > 0 || s.hasWebhookDeletes()
}

// pendingCount is how many announced records are not synced yet: queued, or in the
// micro-batch being written.
func (s *syncer) pendingCount() int {
	return s.inFlight + len(s.st.Pending[activities.SideA]) + len(s.st.Pending[activities.SideB])
}

// processEvents syncs one micro-batch per side from the records webhooks announced. Events
// that arrive while a batch is written gather into the next one, so a burst becomes few
// writes. A batch that fails is dropped with the error kept in the status: the webhook
// path only makes changes arrive sooner, and the next scheduled run reads them anyway.
func (s *syncer) processEvents(ctx workflow.Context) {
	if err := s.loadPlan(ctx); err != nil {
		s.st.Events.LastError = errorText(err)
		s.st.Pending = nil
		if s.st.Deletes != nil {
			s.st.Deletes.Webhook = nil
		}
		return
	}
	if s.hasWebhookDeletes() {
		s.processWebhookDeletes(ctx)
	}
	// Since "local-microbatches" the batch's steps are local activities: one workflow task
	// for the whole batch (see remote).
	s.local = workflow.GetVersion(ctx, "local-microbatches", workflow.DefaultVersion, 1) == 1
	defer func() { s.local = false }()
	var cycle time.Duration // since the batch before this one began, when events stream in
	if last := s.st.Events.LastBatchAt; s.local && !last.IsZero() && workflow.Now(ctx).Sub(last) < streamWindow {
		cycle = workflow.Now(ctx).Sub(last)
	}
	synced := 0
	for _, side := range []string{activities.SideA, activities.SideB} {
		ids := s.st.Pending[side]
		if len(ids) == 0 {
			continue
		}
		if side == activities.SideB && s.plan.Mode != definition.TwoWay {
			// A one-way sync never writes to its source.
			s.logger.Warn("Webhook events from the target of a one-way sync ignored", "records", len(ids))
			delete(s.st.Pending, side)
			continue
		}
		n := min(len(ids), s.plan.PageSize)
		batch := ids[:n]
		s.st.Pending[side] = append([]string(nil), ids[n:]...)
		s.inFlight = len(batch)
		synced += len(batch)
		err := s.syncRecords(ctx, side, batch)
		s.inFlight = 0
		if err != nil {
			s.logger.Warn("Webhook batch failed; the next run picks its records up", "side", side, "records", len(batch), "error", err)
			s.st.Events.LastError = errorText(err)
		}
		if len(s.st.Pending[side]) == 0 {
			delete(s.st.Pending, side)
		}
		s.st.Events.Batches++
		s.st.Events.LastBatchAt = workflow.Now(ctx)
	}
	prev := s.gathered
	s.gathered = 0
	if d := gatherTime(cycle, prev, synced); d > 0 && !s.hasPending() {
		// Events stream in faster than the batches carry them: wait with the workflow
		// task open, so the next batch carries those of the moment together (see
		// activities.Gather).
		if err := workflow.ExecuteLocalActivity(localOptions(ctx), a.Gather, activities.GatherInput{For: d}).Get(ctx, &s.gathered); err != nil {
			s.gathered = 0
		}
	}
}

// Adaptive micro-batches. Each micro-batch costs about nine history events of its own (a
// workflow task, a marker per step) and three service calls, whatever its size, so while
// webhooks stream in a batch should carry several events; but each event waits for the
// batch after the one it arrived during. A batch that follows the one before within
// streamWindow measures the rate events arrive at (its events arrived during the cycle
// since that batch began) and, after writing, waits with the workflow task open until
// about gatherTarget events are expected, at most gatherMax. At 100 events a second a
// cycle then lasts some 70 ms: a record reaches the target in about half a cycle plus the
// batch's own time. A lone event is never held; a burst carries more than gatherTarget
// events in the time of one batch, and is not held either.
const (
	gatherTarget = 7
	gatherMax    = 60 * time.Millisecond
	streamWindow = time.Second
)

// gatherTime is how long a micro-batch of n events waits for the next one's: cycle is the
// time since the batch before began (0: events are not streaming), gathered how long that
// batch waited.
func gatherTime(cycle, gathered time.Duration, n int) time.Duration {
	if cycle <= 0 || n <= 0 {
		return 0
	}
	perEvent := cycle / time.Duration(n) // between two events, at the rate measured
	if perEvent >= gatherMax {
		return 0 // fewer than one event expected while waiting: nothing to gather
	}
	work := max(cycle-gathered, 0) // the batch's own time, and the server's between batches
	return min(max(perEvent*gatherTarget-work, 0), gatherMax)
}

func (s *syncer) syncRecords(ctx workflow.Context, side string, ids []string) error {
	var recs activities.Records
	if err := s.remote(ctx, a.GetRecords, activities.GetRecordsInput{
		Ref: s.ref(), Side: side, IDs: ids,
	}).Get(ctx, &recs); err != nil {
		return err
	}
	if len(recs.Rest) > 0 {
		// Too large for one batch: the rest go first into the next one.
		s.st.Pending[side] = append(append([]string(nil), recs.Rest...), s.st.Pending[side]...)
	}
	if len(recs.Records) == 0 {
		return nil // deleted since: nothing to sync
	}
	c, err := s.process(ctx, side, recs, 0, nil, nil)
	if err != nil {
		return err
	}
	s.st.Realtime.add(c)
	s.st.Totals.add(c)
	return nil
}
